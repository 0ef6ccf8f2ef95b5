//! Where meshbench keeps its jobs: a SQLite file by default, so `meshbench serve` needs no
//! set-up, and PostgreSQL when `DATABASE_URL` says so, so many workers on many machines can
//! share one store.
//!
//! # Design
//!
//! - **One trait, two backends.** The server holds an `Arc<dyn Store>` and does not know which
//!   database is behind it. [`SqliteStore`] and [`PgStore`] share one generic implementation
//!   and the same SQL text (both accept `$N` parameters, `ON CONFLICT`, and `RETURNING`);
//!   only the connection set-up and the migration files differ. The `sqlx::Any` driver is
//!   not used: it erases types the two dialects disagree on.
//! - **Same logical schema on both.** `migrations/sqlite` and `migrations/postgres` create
//!   the same tables, columns and indexes, and the test suite runs the same bodies against
//!   both. Timestamps are integer nanoseconds since the Unix epoch in both databases: exact,
//!   sortable, cheap to compare in an index, and free of each dialect's date quirks.
//! - **Listing never reads results.** A finished run's full result (its HDR histograms and
//!   per-second timeline) can be hundreds of kilobytes. It lives in its own table,
//!   `benchmark_results`, keyed by `job_id`; the headline numbers ([`JobSummary`]) are
//!   copied into `benchmark_jobs` so that job lists and `/metrics/summary` read only small
//!   rows. Raw result files are also written under `RESULTS_DIR/<job_id>/`
//!   ([`write_result_files`]) for people and tools that want files.
//! - **Status changes are compare-and-set.** [`Store::transition`] moves a job only if its
//!   current status is one the caller expects, in a single `UPDATE … WHERE status IN (…)`
//!   statement, so two workers can never both take a job and a cancelled job is never
//!   marked completed. Every move is checked against [`JobStatus::can_become`].
//! - **One lifecycle for every kind.** A benchmark and an eBPF probe run keep their own
//!   tables (`benchmark_jobs`, `ebpf_probe_jobs`: the seed's contract), but their status,
//!   times, attempts, cancel flag and progress are the same columns, so one transition, one
//!   listing by status, one progress update and one cancel serve every [`JobKind`]; only the
//!   table and id column differ ([`JobState`] is what they share).
//! - **Starting is idempotent when asked.** A start may carry a key: the job rows and the key
//!   are written in one transaction, and the same key again returns the jobs it made
//!   ([`Inserted::replayed`]) instead of making more.
//! - **Indexes follow the filters.** `GET /benchmarks/jobs` filters by status, test type,
//!   mesh type, namespace and creation time and pages newest first; each of these has an
//!   index that also serves the ordering, so a listing stays fast with many thousands of
//!   jobs.
//!
//! Opening a store does not change its schema: `meshbench db init` and `meshbench serve`
//! call [`Store::migrate`] explicitly (it is idempotent).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use meshbench_core::{BenchmarkJob, JobFilter, JobKind, JobStatus, JobSummary, TestType};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

mod files;
mod postgres;
mod sql;
mod sqlite;

pub use files::{save_report_file, validate_job_id, write_report_file, write_result_files};
pub use postgres::PgStore;
pub use sql::{Dialect, SqlStore, AUDIT_START};
pub use sqlite::SqliteStore;

/// Page size of [`Store::list_jobs`] when the filter gives none.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// Largest page [`Store::list_jobs`] returns, whatever the filter asks for.
pub const MAX_LIST_LIMIT: u32 = 1000;
/// File name of the default SQLite database inside the data directory.
pub const SQLITE_FILE_NAME: &str = "meshbench.db";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database refused a query or could not be reached.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A row with this id already exists (a job; or a probe run or report, whose id is
    /// given here too).
    #[error("id `{job_id}` is already taken")]
    Conflict {
        /// The id that is taken.
        job_id: String,
    },
    /// The row an operation needs does not exist.
    #[error("{what} `{id}` not found")]
    NotFound {
        /// What was looked for: `job`, `probe job`, `report`.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// Reading or writing a file (result files, the SQLite directory) failed.
    #[error("I/O error on {}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `DATABASE_URL` is not one this store can open. Passwords are never included.
    #[error("invalid DATABASE_URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored row does not decode into the types it should hold.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A value given to the store cannot be stored (an id with a path separator, a count
    /// beyond the database's 64-bit signed range, a progress that is not a number).
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The argument or field at fault.
        field: &'static str,
        /// What is wrong with it, for a person to read.
        message: String,
    },
    /// [`Store::transition`] was asked for a move
    /// [`JobStatus::can_become`] forbids from every status given.
    #[error("a job cannot move from {} to {to}", display_statuses(from))]
    InvalidTransition {
        /// The statuses the caller expected.
        from: Vec<JobStatus>,
        /// The status asked for.
        to: JobStatus,
    },
}

fn display_statuses(statuses: &[JobStatus]) -> String {
    if statuses.is_empty() {
        return "no status".to_string();
    }
    statuses
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Database(e)
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Migrate(e)
    }
}

/// Which id [`Store::series_runs`] looks runs up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesColumn {
    /// A series: the repeats of one configuration.
    Series,
    /// The series started together, interleaved.
    Group,
}

/// Min, max, mean and sample standard deviation of one number over a group of runs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Moments {
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (0 for a single run).
    pub stdev: f64,
}

impl Moments {
    /// From `n` values' sum and sum of squares (and their extremes).
    pub fn from_sums(n: u64, sum: f64, sum_sq: f64, min: f64, max: f64) -> Moments {
        if n == 0 {
            return Moments::default();
        }
        let count = n as f64;
        let mean = sum / count;
        let variance = if n > 1 {
            ((sum_sq - count * mean * mean) / (count - 1.0)).max(0.0)
        } else {
            0.0
        };
        Moments {
            min,
            max,
            mean,
            stdev: variance.sqrt(),
        }
    }
}

/// Completed runs of one test type through one mesh, aggregated.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    /// Workload kind.
    pub test_type: TestType,
    /// Mesh label.
    pub mesh_type: String,
    /// The configuration label (`StartRequest::configuration`).
    pub config: String,
    /// Completed valid runs with a summary.
    pub runs: u64,
    /// Requests over all runs.
    pub requests: u64,
    /// Failed requests over all runs.
    pub errors: u64,
    /// Median latency across runs, µs.
    pub p50_us: Moments,
    /// 90th percentile across runs, µs.
    pub p90_us: Moments,
    /// 99th percentile across runs, µs.
    pub p99_us: Moments,
    /// 99.9th percentile across runs, µs.
    pub p999_us: Moments,
    /// Achieved requests per second across runs.
    pub rps: Moments,
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`Store::transition`] changes besides the status. `None` fields keep their stored
/// value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobUpdate {
    /// Set `started_at`.
    pub started_at: Option<OffsetDateTime>,
    /// Set `completed_at`.
    pub completed_at: Option<OffsetDateTime>,
    /// Set `error`.
    pub error: Option<String>,
    /// Set `progress` (clamped to 0–1).
    pub progress: Option<f64>,
    /// Add one to `attempts` (a worker took the job).
    pub increment_attempts: bool,
    /// Move the job only if it is on this attempt: a worker finishing, or a reconciler
    /// requeueing, the attempt it saw, never a later one another worker has taken since.
    pub on_attempt: Option<u32>,
}

/// The lifecycle part of a job of any kind: what workers, the reconciler and cancel read.
#[derive(Debug, Clone, PartialEq)]
pub struct JobState {
    /// Which kind (and so which table) it is.
    pub kind: JobKind,
    /// Its id (`job_id` or `probe_id`).
    pub id: String,
    /// Where it is in its life.
    pub status: JobStatus,
    /// When it was asked for.
    pub created_at: OffsetDateTime,
    /// When a worker started it.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub completed_at: Option<OffsetDateTime>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// How many times a worker took it.
    pub attempts: u32,
    /// A user asked it to stop.
    pub cancel_requested: bool,
    /// Fraction done, 0–1.
    pub progress: f64,
    /// The start request as JSON (`None` only for probe runs stored before requests were).
    pub request: Option<serde_json::Value>,
}

/// What a start stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inserted {
    /// The ids of the jobs the start made (the earlier ones when replayed).
    pub ids: Vec<String>,
    /// The idempotency key had been used: nothing new was stored.
    pub replayed: bool,
}

/// One run of the eBPF latency probe, as the `ebpf_probe_jobs` table keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeJob {
    /// Unique id (a UUID string).
    pub probe_id: String,
    /// Lifecycle state; probe runs follow the same state machine as benchmark jobs.
    pub status: JobStatus,
    /// Seconds the probe runs.
    pub duration: u64,
    /// `json` or another output format the probe supports.
    pub output_format: String,
    /// When the run was requested.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the probe started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Why it failed, for a person to read.
    pub error: Option<String>,
    /// What the probe measured, once finished.
    pub result: Option<serde_json::Value>,
    /// The start request as JSON (filters: ports, pid, cgroup, namespace, pod filter…).
    #[serde(default)]
    pub request: Option<serde_json::Value>,
    /// How many times a worker took it.
    #[serde(default)]
    pub attempts: u32,
    /// Fraction of its duration gone by, 0–1.
    #[serde(default)]
    pub progress: f64,
}

/// A generated report over some benchmark jobs, as the `reports` table keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Unique id (a UUID string).
    pub report_id: String,
    /// Title shown to people.
    pub title: String,
    /// The jobs the report covers.
    pub job_ids: Vec<String>,
    /// `html`, `markdown`, `csv` or `json` (the store does not check).
    pub format: String,
    /// When it was generated.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Where the rendered file is, once written.
    pub path: Option<String>,
    /// Token of the share link, when one was made (unique).
    pub share_token: Option<String>,
    /// When the share link stops working.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub share_expires_at: Option<OffsetDateTime>,
    /// When the share link was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub share_revoked_at: Option<OffsetDateTime>,
}

/// A user with the hash of their password (the store never sees a password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUser {
    /// The user as listed.
    pub user: meshbench_core::user::User,
    /// The argon2id hash, a PHC string.
    pub password_hash: String,
}

/// What [`Store::update_user`] changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// A new password hash.
    pub password_hash: Option<String>,
    /// A new role.
    pub role: Option<meshbench_core::user::Role>,
    /// Disable (true) or enable (false).
    pub disabled: Option<bool>,
}

/// An API token as listed (never with its secret or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// Its id, for listing and revoking.
    pub token_id: String,
    /// Whose token it is: it acts with this user's role.
    pub username: String,
    /// What it is for, as its owner named it.
    pub name: String,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it stops working, if it does.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was last used.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// One line of the audit log: who did what, against what, from where, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, rising with time (assigned by the store; 0 before it is stored).
    pub audit_id: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who (`None` in development mode, or for a login with an unknown name).
    pub username: Option<String>,
    /// Their role then.
    pub role: Option<meshbench_core::user::Role>,
    /// What: `benchmark.start`, `benchmark.cancel`, `probe.start`, `login`, `user.add`, …
    pub action: String,
    /// What it was done to: a job, probe, report, token or user id.
    pub subject: Option<String>,
    /// Where load was aimed: a URL, a namespace, a probe's filter (credentials removed).
    pub target: Option<String>,
    /// The client's address.
    pub address: Option<String>,
    /// `ok`, or `refused` (a policy, role or rate limit said no).
    pub outcome: String,
    /// Why it was refused, or what else matters.
    pub detail: Option<String>,
}

/// Which audit entries a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this user's.
    pub username: Option<String>,
    /// Only this action (`benchmark.start`), or actions under a prefix (`benchmark.`).
    pub action: Option<String>,
}

/// A dashboard session, found by the hash of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// SHA-256 (hex) of the cookie's secret.
    pub session_hash: String,
    /// Who logged in.
    pub username: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// When it ends.
    pub expires_at: OffsetDateTime,
    /// When it was ended early (logout, revoke), if it was.
    pub revoked_at: Option<OffsetDateTime>,
}

/// The job store. Object-safe: the server holds an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`, for `/health` and logs.
    fn backend(&self) -> &'static str;

    /// Creates or upgrades the schema; running it again is a no-op.
    async fn migrate(&self) -> Result<()>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    /// Closes every pooled connection (a SQLite database checkpoints its WAL).
    async fn close(&self);

    /// Stores a start's jobs in one transaction, once per `key` (a replay returns the first
    /// start's ids); a taken id ([`Error::Conflict`]) or a bad one stores nothing.
    async fn insert_jobs(&self, jobs: &[BenchmarkJob], key: Option<&str>) -> Result<Inserted>;

    /// One job, without its full result.
    async fn get_job(&self, job_id: &str) -> Result<Option<BenchmarkJob>>;

    /// Jobs matching `filter` in its order (default newest first; ties by id, unset times
    /// last, text by the database's collation), [`DEFAULT_LIST_LIMIT`] a page unless it says,
    /// at most [`MAX_LIST_LIMIT`]. Full results are never read.
    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<BenchmarkJob>>;

    /// The parts of split run `parent_id` (one job per generator), by index; listings and
    /// counts never show them.
    async fn parts_of(&self, parent_id: &str) -> Result<Vec<BenchmarkJob>>;

    /// Completed runs left out of statistics as invalid, per (test type, mesh type); the
    /// filter applies as for [`Store::completed_stats`].
    async fn invalid_counts(&self, filter: &JobFilter) -> Result<Vec<(TestType, String, u64)>>;

    /// The runs of a series (`Series`) or of the series started together (`Group`), in
    /// their run order; empty when there is none.
    async fn series_runs(&self, column: SeriesColumn, id: &str) -> Result<Vec<BenchmarkJob>>;

    /// How many jobs match `filter`, ignoring its `limit` and `offset`.
    async fn count_jobs(&self, filter: &JobFilter) -> Result<u64>;

    /// Compare-and-set on a job of any kind, in one statement: moves it to `to` (applying
    /// `update`) only if its status is one of `from` that may become `to`
    /// ([`JobStatus::can_become`]), and returns its new state; `None` when none matched. A
    /// move no status of `from` may make is [`Error::InvalidTransition`], before any query.
    async fn transition(
        &self,
        kind: JobKind,
        id: &str,
        from: &[JobStatus],
        to: JobStatus,
        update: &JobUpdate,
    ) -> Result<Option<JobState>>;

    /// The lifecycle state of one job of any kind.
    async fn get_state(&self, kind: JobKind, id: &str) -> Result<Option<JobState>>;

    /// Jobs of `kind` in any of `statuses`, oldest first, at most [`MAX_LIST_LIMIT`] a page.
    async fn states_in(
        &self,
        kind: JobKind,
        statuses: &[JobStatus],
        limit: u32,
        offset: u32,
    ) -> Result<Vec<JobState>>;

    /// Records an unfinished job's progress (clamped to 0–1) and answers whether it was asked
    /// to stop; a finished job is left alone (`false`), a missing one is [`Error::NotFound`].
    async fn set_progress(&self, kind: JobKind, id: &str, progress: f64) -> Result<bool>;

    /// Flags an unfinished job to stop (its worker reads the flag each second) and returns
    /// its state; `None` when there is no such job.
    async fn request_cancel(&self, kind: JobKind, id: &str) -> Result<Option<JobState>>;

    /// Deletes a start's jobs and key (its queue was down) so a retry starts afresh; all or
    /// nothing: `false` when a worker took one already, and the start stands.
    async fn withdraw(&self, kind: JobKind, ids: &[String], key: Option<&str>) -> Result<bool>;

    /// Stores (or replaces) a job's full result and its headline numbers, in one transaction.
    async fn save_result(
        &self,
        job_id: &str,
        result: &serde_json::Value,
        summary: &JobSummary,
        invalid_reasons: &[String],
    ) -> Result<()>;

    /// A job's full result, if one was saved.
    async fn get_result(&self, job_id: &str) -> Result<Option<serde_json::Value>>;

    /// How many jobs are in each status: every status, in lifecycle order, zeros included.
    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>>;

    /// Aggregates of completed valid runs per (test type, mesh type, configuration), kept by
    /// the database as runs complete (read from a time window's rows when the filter has
    /// one); the filter's test type, mesh type, namespace and time bounds apply.
    async fn completed_stats(&self, filter: &JobFilter) -> Result<Vec<GroupStats>>;

    /// `(test type, mesh type, summary)` of every completed job with a summary, oldest first
    /// (`/metrics/summary`); the filter applies but for status, limit and offset.
    async fn completed_summaries(
        &self,
        filter: &JobFilter,
    ) -> Result<Vec<(TestType, String, JobSummary)>>;

    /// Stores a new eBPF probe run, once per `key` (see [`Store::insert_jobs`]).
    async fn insert_probe_job_once(&self, job: &ProbeJob, key: Option<&str>) -> Result<Inserted>;

    /// One eBPF probe run.
    async fn get_probe_job(&self, probe_id: &str) -> Result<Option<ProbeJob>>;

    /// Stores what a probe run measured (kept whether it then completes or is cancelled).
    async fn save_probe_result(&self, probe_id: &str, result: &serde_json::Value) -> Result<()>;

    /// Probe runs in any of `statuses` (all when empty), newest first (ties by id), at most
    /// [`MAX_LIST_LIMIT`] a page.
    async fn list_probe_jobs(
        &self,
        statuses: &[JobStatus],
        limit: u32,
        offset: u32,
    ) -> Result<Vec<ProbeJob>>;

    /// How many probe runs there are.
    async fn count_probe_jobs(&self) -> Result<u64>;

    /// Stores a new report. A duplicate id or share token gives [`Error::Conflict`].
    async fn insert_report(&self, report: &Report) -> Result<()>;

    /// One report.
    async fn get_report(&self, report_id: &str) -> Result<Option<Report>>;

    /// The report a share link's token names.
    async fn get_report_by_share_token(&self, token: &str) -> Result<Option<Report>>;

    /// Reports newest first (ties by id), at most [`MAX_LIST_LIMIT`] a page.
    async fn list_reports(&self, limit: u32, offset: u32) -> Result<Vec<Report>>;

    /// How many reports there are.
    async fn count_reports(&self) -> Result<u64>;

    /// Adds a user; `Conflict` when the name is taken.
    async fn insert_user(&self, user: &StoredUser) -> Result<()>;

    /// One user with their password hash.
    async fn get_user(&self, username: &str) -> Result<Option<StoredUser>>;

    /// Revokes report `report_id`'s share link at `at` (once: a second revoke keeps the
    /// first time); `false` when there is no such report.
    async fn revoke_share(&self, report_id: &str, at: OffsetDateTime) -> Result<bool>;

    /// Whether any user exists (a server with none runs in development mode).
    async fn has_users(&self) -> Result<bool>;

    /// Stores a token under the hash of its secret.
    async fn insert_token(&self, token: &ApiToken, token_hash: &str) -> Result<()>;

    /// The token whose secret hashes to `token_hash`.
    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;

    /// One token by id.
    async fn get_token(&self, token_id: &str) -> Result<Option<ApiToken>>;

    /// Tokens, newest first: `username`'s, or everyone's.
    async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<ApiToken>>;

    /// Revokes a token at `at` (a second revoke keeps the first time); `false` if unknown.
    async fn revoke_token(&self, token_id: &str, at: OffsetDateTime) -> Result<bool>;

    /// Notes that a token was used at `at`.
    async fn touch_token(&self, token_id: &str, at: OffsetDateTime) -> Result<()>;

    /// Stores a new session.
    async fn insert_session(&self, session: &Session) -> Result<()>;

    /// The session whose cookie hashes to `session_hash`.
    async fn get_session(&self, session_hash: &str) -> Result<Option<Session>>;

    /// Ends a session at `at`; `false` if unknown.
    async fn revoke_session(&self, session_hash: &str, at: OffsetDateTime) -> Result<bool>;

    /// Adds a line to the audit log (its `audit_id` is assigned).
    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()>;

    /// Audit entries matching `filter`, newest first, at most [`MAX_LIST_LIMIT`] a page.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// How many audit entries match `filter`.
    async fn count_audit(&self, filter: &AuditFilter) -> Result<u64>;

    /// How many runs `username` started (by the audit log's `benchmark.start` lines) are
    /// pending or running now.
    async fn count_active_runs_of(&self, username: &str) -> Result<u64>;

    /// Every user, by name.
    async fn list_users(&self) -> Result<Vec<meshbench_core::user::User>>;

    /// Changes what `update` says and the update time; `false` when there is no such user.
    async fn update_user(&self, username: &str, update: &UserUpdate) -> Result<bool>;
}

/// Opens the store `database_url` names, or the default SQLite file
/// `data_dir/meshbench.db` when it is `None` (the directory is created).
///
/// `sqlite:` URLs open SQLite (the file and its directory are created when missing);
/// `postgres://` and `postgresql://` open PostgreSQL; with a URL, `data_dir` is not used.
/// SQLite runs in WAL mode with a busy timeout, so readers and the writer do not block each
/// other. Any other scheme gives [`Error::InvalidUrl`]. An empty `database_url` counts as
/// `None`. The schema is not touched: call [`Store::migrate`].
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>> {
    let Some(url) = database_url.map(str::trim).filter(|u| !u.is_empty()) else {
        let store = SqliteStore::open_file(&data_dir.join(SQLITE_FILE_NAME)).await?;
        return Ok(Arc::new(store));
    };
    let scheme = url
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    match scheme.as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::connect(url).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::connect(url).await?)),
        _ => Err(Error::InvalidUrl {
            url: redact_url(url),
            reason: "unsupported scheme; use sqlite://PATH or postgres://USER@HOST/DB, or leave \
                     DATABASE_URL unset for the default SQLite file"
                .to_string(),
        }),
    }
}

/// `url` with the password of its user-info part replaced by `***`, for error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://me:secret@db:5432/x?sslmode=require"),
            "postgres://me:***@db:5432/x?sslmode=require"
        );
        assert_eq!(redact_url("postgres://me@db/x"), "postgres://me@db/x");
        assert_eq!(redact_url("sqlite://a/b.db"), "sqlite://a/b.db");
        assert_eq!(redact_url("mysql://u:p@h/d"), "mysql://u:***@h/d");
    }

    #[test]
    fn transition_error_names_the_statuses() {
        let e = Error::InvalidTransition {
            from: vec![JobStatus::Completed, JobStatus::Failed],
            to: JobStatus::Running,
        };
        assert_eq!(
            e.to_string(),
            "a job cannot move from completed or failed to running"
        );
    }
}
