//! The store's queries, written once for every backend.
//!
//! SQLite and PostgreSQL agree on everything used here: `$N` parameters (sqlx numbers
//! SQLite's `$N` like PostgreSQL does), `INSERT … ON CONFLICT`, `UPDATE … RETURNING`,
//! `COALESCE`, `LIMIT`/`OFFSET`. So the SQL text is shared, and [`SqlStore`] is generic over
//! the sqlx database; the backends only add their connection set-up and migrations.
//! Values are bound through [`Arg`], so one loop binds for either database.

use meshbench_core::{
    BenchmarkJob, JobFilter, JobKind, JobSort, JobStatus, JobSummary, SeriesPlace, SortOrder,
    TestType,
};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use time::OffsetDateTime;

use crate::{
    validate_job_id, ApiToken, AuditEntry, AuditFilter, Error, GroupStats, Inserted, JobState,
    JobUpdate, Moments, ProbeJob, Report, Result, SeriesColumn, Session, StoredUser, UserUpdate,
    DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT,
};

/// The columns of `benchmark_jobs` a [`BenchmarkJob`] is written to, in insert order.
const JOB_COLUMNS: &str = "job_id, status, test_type, mesh_type, namespace, created_at, \
     started_at, completed_at, progress, error, request, attempts, \
     requests, errors, rps, p50_us, p90_us, p99_us, p999_us, max_us, parent_id, \
     series_id, series_group, series_order, config, invalid_reasons";
/// The identifying columns of `api_tokens`.
const TOKEN_COLUMNS: &str = "token_id, username, name";
/// The columns of `api_tokens` a listing reads (never the hash).
const TOKEN_READ: &str =
    "token_id, username, name, created_at, expires_at, last_used_at, revoked_at";
/// The columns of `sessions`.
const SESSION_COLUMNS: &str = "session_hash, username, created_at, expires_at, revoked_at";
/// The columns of `audit_log` an entry is written to (its id is assigned).
const AUDIT_COLUMNS: &str =
    "created_at, username, role, action, subject, target, address, outcome, detail";
/// The audit log's action for a run started (its subject is the run's job id).
pub const AUDIT_START: &str = "benchmark.start";
/// The columns of `users`.
const USER_COLUMNS: &str = "username, password_hash, role, disabled, created_at, updated_at";
/// The headline-number columns of `benchmark_jobs`, null until a result is saved.
const SUMMARY_COLUMNS: &str = "requests, errors, rps, p50_us, p90_us, p99_us, p999_us, max_us";
/// How many columns [`JOB_COLUMNS`] names.
const JOB_COLUMN_COUNT: usize = 26;

/// The columns of `ebpf_probe_jobs` a [`ProbeJob`] is written to, in insert order.
const PROBE_COLUMNS: &str = "probe_id, status, duration, output_format, created_at, \
     started_at, completed_at, error, result, request, attempts, progress";
/// The lifecycle columns every kind's table has (its id column is read as `id`).
const STATE_COLUMNS: &str =
    "status, created_at, started_at, completed_at, error, attempts, cancel_requested, request, \
     progress";

/// What a job of `kind` is read from: its id (as `id`), the lifecycle columns, and the
/// columns of its own kind.
fn columns(kind: JobKind) -> String {
    let (_, id) = table_of(kind);
    let own = match kind {
        JobKind::Benchmark => {
            format!(
                "test_type, mesh_type, namespace, parent_id, series_id, series_group, \
                 series_order, invalid_reasons, {SUMMARY_COLUMNS}"
            )
        }
        JobKind::Probe => "duration, output_format, result".to_string(),
    };
    format!("{id} AS id, {STATE_COLUMNS}, {own}")
}

/// Where a kind's jobs live: its table and id column (constants, never request text).
fn table_of(kind: JobKind) -> (&'static str, &'static str) {
    match kind {
        JobKind::Benchmark => ("benchmark_jobs", "job_id"),
        JobKind::Probe => ("ebpf_probe_jobs", "probe_id"),
    }
}

/// The error for a missing job of `kind`.
fn not_found(kind: JobKind, id: &str) -> Error {
    Error::NotFound {
        what: match kind {
            JobKind::Benchmark => "job",
            JobKind::Probe => "probe job",
        },
        id: id.to_string(),
    }
}
const REPORT_COLUMNS: &str = "report_id, title, job_ids, format, created_at, path, share_token, \
     share_expires_at, share_revoked_at";

/// A value to bind, typed the way the columns are.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `BIGINT` (SQLite `INTEGER`): counts and nanosecond timestamps.
    Int(Option<i64>),
    /// `INTEGER`: attempts.
    Int32(i32),
    /// `DOUBLE PRECISION` (SQLite `REAL`).
    Real(Option<f64>),
    /// `TEXT`, including JSON.
    Text(Option<String>),
}

impl Arg {
    fn text(s: impl Into<String>) -> Self {
        Arg::Text(Some(s.into()))
    }
}

/// `$start, $start+1, …` — `n` placeholders.
fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Nanoseconds since the Unix epoch, the stored form of every timestamp.
pub(crate) fn to_nanos(field: &'static str, t: OffsetDateTime) -> Result<i64> {
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| Error::Invalid {
        field,
        message: format!("{t} is outside 1677–2262, the range of a stored timestamp"),
    })
}

fn opt_nanos(field: &'static str, t: Option<OffsetDateTime>) -> Result<Option<i64>> {
    t.map(|t| to_nanos(field, t)).transpose()
}

fn from_nanos(what: &str, nanos: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| Error::Corrupt(format!("{what}: timestamp {nanos}: {e}")))
}

fn to_i64(field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::Invalid {
        field,
        message: format!("{v} is larger than a stored integer can hold"),
    })
}

fn to_i32(field: &'static str, v: u32) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Invalid {
        field,
        message: format!("{v} is too large"),
    })
}

fn to_u64(what: &str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::Corrupt(format!("{what}: negative count {v}")))
}

/// A progress fraction as stored: clamped to 0–1; NaN and infinities refused.
pub(crate) fn check_progress(progress: f64) -> Result<f64> {
    if progress.is_finite() {
        Ok(progress.clamp(0.0, 1.0))
    } else {
        Err(Error::Invalid {
            field: "progress",
            message: format!("{progress} is not a fraction between 0 and 1"),
        })
    }
}

fn json_text(field: &'static str, value: &serde_json::Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Invalid {
        field,
        message: format!("cannot serialize: {e}"),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{what}: invalid JSON: {e}")))
}

/// The statuses of `from` that may become `to`: the state machine is part of a transition's
/// compare, so a status that cannot become `to` is never matched. None of them gives
/// [`Error::InvalidTransition`].
fn allowed_from(from: &[JobStatus], to: JobStatus) -> Result<Vec<JobStatus>> {
    let allowed: Vec<JobStatus> = from.iter().copied().filter(|f| f.can_become(to)).collect();
    if allowed.is_empty() {
        return Err(Error::InvalidTransition {
            from: from.to_vec(),
            to,
        });
    }
    Ok(allowed)
}

/// An optional JSON value as stored: its text, or NULL.
fn opt_json_text(field: &'static str, value: Option<&serde_json::Value>) -> Result<Option<String>> {
    value.map(|v| json_text(field, v)).transpose()
}

fn parse_status(what: &str, s: &str) -> Result<JobStatus> {
    s.parse()
        .map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// The `WHERE` clause for `filter`'s status, test type, mesh type, namespace and time
/// bounds, appending the values to `args`. Empty when nothing is filtered.
fn filter_clause(filter: &JobFilter, args: &mut Vec<Arg>) -> Result<String> {
    // The parts of split runs are the workers' business; users see the runs.
    let mut conds: Vec<String> = vec!["parent_id IS NULL".to_string()];
    if let Some(status) = filter.status {
        args.push(Arg::text(status.as_str()));
        conds.push(format!("status = ${}", args.len()));
    }
    conds.extend(cell_conditions(filter, args));
    let mut add = |cond: &str, arg: Arg| {
        args.push(arg);
        conds.push(format!("{cond} ${}", args.len()));
    };
    if let Some(since) = filter.since {
        add("created_at >=", Arg::Int(Some(to_nanos("since", since)?)));
    }
    if let Some(until) = filter.until {
        add("created_at <", Arg::Int(Some(to_nanos("until", until)?)));
    }
    Ok(format!(" WHERE {}", conds.join(" AND ")))
}

/// The `ORDER BY` clause for `filter`'s sort key and direction. Every column name comes
/// from this match, never from the request. `job_id` breaks ties in the same direction, so
/// pages are stable; the nullable times sort unset values last either way (SQLite and
/// PostgreSQL disagree on where NULLs go by default).
fn order_clause(filter: &JobFilter) -> String {
    let column = match filter.sort.unwrap_or_default() {
        JobSort::CreatedAt => "created_at",
        JobSort::StartedAt => "started_at",
        JobSort::CompletedAt => "completed_at",
        JobSort::Status => "status",
        JobSort::TestType => "test_type",
        JobSort::MeshType => "mesh_type",
        JobSort::Namespace => "namespace",
    };
    let direction = match filter.order.unwrap_or_default() {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    let nulls = match filter.sort {
        Some(JobSort::StartedAt | JobSort::CompletedAt) => " NULLS LAST",
        _ => "",
    };
    format!(" ORDER BY {column} {direction}{nulls}, job_id {direction}")
}

/// The conditions of `filter` a kept cell (`overhead_cells`, `invalid_cells`) can answer —
/// test type, mesh type and namespace — each bound as the next of `args`; the job listings'
/// clause starts from them too.
fn cell_conditions(filter: &JobFilter, args: &mut Vec<Arg>) -> Vec<String> {
    let mut conds = Vec::new();
    let mut add = |cond: &str, arg: Arg| {
        args.push(arg);
        conds.push(format!("{cond} ${}", args.len()));
    };
    if let Some(test_type) = filter.test_type {
        add("test_type =", Arg::text(test_type.as_str()));
    }
    if let Some(mesh) = &filter.mesh_type {
        add("mesh_type =", Arg::text(mesh.as_str()));
    }
    if let Some(ns) = &filter.namespace {
        add("namespace =", Arg::text(ns.as_str()));
    }
    conds
}

/// Why a run is invalid, as stored: a JSON array, NULL for a valid run.
fn reasons_text(reasons: &[String]) -> Result<Option<String>> {
    if reasons.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(reasons)
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("invalid_reasons: {e}")))
}

/// A [`JobSummary`] as the eight summary columns, in [`JOB_COLUMNS`] order.
fn summary_args(summary: Option<&JobSummary>) -> Result<Vec<Arg>> {
    let Some(s) = summary else {
        return Ok(vec![
            Arg::Int(None),
            Arg::Int(None),
            Arg::Real(None),
            Arg::Int(None),
            Arg::Int(None),
            Arg::Int(None),
            Arg::Int(None),
            Arg::Int(None),
        ]);
    };
    let int = |field, v| to_i64(field, v).map(|v| Arg::Int(Some(v)));
    Ok(vec![
        int("requests", s.requests)?,
        int("errors", s.errors)?,
        Arg::Real(Some(s.rps)),
        int("p50_us", s.p50_us)?,
        int("p90_us", s.p90_us)?,
        int("p99_us", s.p99_us)?,
        int("p999_us", s.p999_us)?,
        int("max_us", s.max_us)?,
    ])
}

/// The `WHERE` clause (with a leading space, or empty) of an audit listing and its
/// arguments. An action ending in `.` matches every action under it.
fn audit_clause(filter: &AuditFilter) -> (String, Vec<Arg>) {
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    if let Some(name) = &filter.username {
        args.push(Arg::text(name.as_str()));
        conditions.push(format!("username = ${}", args.len()));
    }
    if let Some(action) = &filter.action {
        if let Some(prefix) = action.strip_suffix('.') {
            // Both ends of the range, so the index on (action, created_at) serves it and no
            // LIKE pattern needs escaping.
            args.push(Arg::text(format!("{prefix}.")));
            args.push(Arg::text(format!("{prefix}/")));
            conditions.push(format!(
                "action >= ${} AND action < ${}",
                args.len() - 1,
                args.len()
            ));
        } else {
            args.push(Arg::text(action.as_str()));
            conditions.push(format!("action = ${}", args.len()));
        }
    }
    if conditions.is_empty() {
        (String::new(), args)
    } else {
        (format!(" WHERE {}", conditions.join(" AND ")), args)
    }
}

/// The store over one sqlx database: [`crate::SqliteStore`] or [`crate::PgStore`].
pub struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
}

/// What differs between the databases behind [`SqlStore`]: a name and the migrations.
pub trait Dialect: Database {
    /// `sqlite` or `postgres`, for `/health` and logs.
    const BACKEND: &'static str;
    /// The migrations of this dialect's schema.
    fn migrator() -> &'static sqlx::migrate::Migrator;
}

// The bounds below say "this sqlx database can bind and decode the column types the schema
// uses"; SQLite and PostgreSQL both satisfy them.
impl<DB> SqlStore<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<f64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// Runs an `INSERT … ON CONFLICT DO NOTHING RETURNING …` on `conn`; no row back means
    /// the id (or another unique column) was taken.
    async fn insert_unique<'c, E>(conn: E, sql: &str, args: Vec<Arg>, id: &str) -> Result<()>
    where
        E: Executor<'c, Database = DB>,
    {
        match Self::query(sql, args).fetch_optional(conn).await? {
            Some(_) => Ok(()),
            None => Err(Error::Conflict {
                job_id: id.to_string(),
            }),
        }
    }

    /// Stores `key` for `ids` of `kind` in `tx`, or — when an earlier start holds it —
    /// returns that start's ids.
    async fn claim_key(
        tx: &mut sqlx::Transaction<'_, DB>,
        kind: JobKind,
        key: &str,
        ids: &[String],
    ) -> Result<Option<Vec<String>>> {
        let ids_text = serde_json::to_string(ids).map_err(|e| Error::Invalid {
            field: "job_ids",
            message: format!("cannot serialize: {e}"),
        })?;
        let claimed = Self::query(
            "INSERT INTO idempotency_keys (kind, key, job_ids, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING key",
            vec![
                Arg::text(kind.as_str()),
                Arg::text(key),
                Arg::text(ids_text),
                Arg::Int(Some(to_nanos("created_at", OffsetDateTime::now_utc())?)),
            ],
        )
        .fetch_optional(&mut **tx)
        .await?;
        if claimed.is_some() {
            return Ok(None);
        }
        let row = Self::query(
            "SELECT job_ids FROM idempotency_keys WHERE kind = $1 AND key = $2",
            vec![Arg::text(kind.as_str()), Arg::text(key)],
        )
        .fetch_one(&mut **tx)
        .await?;
        let text: String = row.try_get("job_ids")?;
        parse_json(&format!("idempotency key `{key}`"), &text).map(Some)
    }

    /// `sql` with `args` bound in order.
    fn query(sql: &str, args: Vec<Arg>) -> Query<'_, DB, DB::Arguments<'_>> {
        let mut q = sqlx::query::<DB>(sql);
        for arg in args {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::Int32(v) => q.bind(v),
                Arg::Real(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
            };
        }
        q
    }

    /// A [`BenchmarkJob`] from a row of [`columns`]`(Benchmark)`.
    fn job_from_row(row: &DB::Row) -> Result<BenchmarkJob> {
        let state = Self::state_from_row(JobKind::Benchmark, row)?;
        let what = format!("job `{}`", state.id);
        let test_type: String = row.try_get("test_type")?;
        Ok(BenchmarkJob {
            test_type: test_type
                .parse()
                .map_err(|e| Error::Corrupt(format!("{what}: {e}")))?,
            mesh_type: row.try_get("mesh_type")?,
            namespace: row.try_get("namespace")?,
            parent_id: row.try_get("parent_id")?,
            series: match (
                row.try_get::<Option<String>, _>("series_id")?,
                row.try_get::<Option<String>, _>("series_group")?,
                row.try_get::<Option<i64>, _>("series_order")?,
            ) {
                (Some(series_id), Some(group), Some(order)) => Some(SeriesPlace {
                    series_id,
                    group,
                    order: u32::try_from(order).unwrap_or(0),
                }),
                _ => None,
            },
            invalid_reasons: match row.try_get::<Option<String>, _>("invalid_reasons")? {
                Some(text) => serde_json::from_str(&text)
                    .map_err(|e| Error::Corrupt(format!("{what}: invalid_reasons: {e}")))?,
                None => Vec::new(),
            },
            summary: Self::summary_from_row(row, &what)?,
            request: state
                .request
                .ok_or_else(|| Error::Corrupt(format!("{what}: no request")))?,
            status: state.status,
            created_at: state.created_at,
            started_at: state.started_at,
            completed_at: state.completed_at,
            progress: state.progress,
            error: state.error,
            attempts: state.attempts,
            job_id: state.id,
        })
    }

    /// The eight summary columns: all null (no summary yet) or all set.
    fn summary_from_row(row: &DB::Row, what: &str) -> Result<Option<JobSummary>> {
        match (
            row.try_get::<Option<i64>, _>("requests")?,
            row.try_get::<Option<i64>, _>("errors")?,
            row.try_get::<Option<f64>, _>("rps")?,
            row.try_get::<Option<i64>, _>("p50_us")?,
            row.try_get::<Option<i64>, _>("p90_us")?,
            row.try_get::<Option<i64>, _>("p99_us")?,
            row.try_get::<Option<i64>, _>("p999_us")?,
            row.try_get::<Option<i64>, _>("max_us")?,
        ) {
            (None, None, None, None, None, None, None, None) => Ok(None),
            (
                Some(requests),
                Some(errors),
                Some(rps),
                Some(p50),
                Some(p90),
                Some(p99),
                Some(p999),
                Some(max),
            ) => Ok(Some(JobSummary {
                requests: to_u64(what, requests)?,
                errors: to_u64(what, errors)?,
                rps,
                p50_us: to_u64(what, p50)?,
                p90_us: to_u64(what, p90)?,
                p99_us: to_u64(what, p99)?,
                p999_us: to_u64(what, p999)?,
                max_us: to_u64(what, max)?,
            })),
            _ => Err(Error::Corrupt(format!(
                "{what}: summary columns are partly null"
            ))),
        }
    }

    fn opt_time(row: &DB::Row, column: &str, what: &str) -> Result<Option<OffsetDateTime>> {
        row.try_get::<Option<i64>, _>(column)?
            .map(|n| from_nanos(what, n))
            .transpose()
    }

    /// Stores new rows of `kind` — each an `INSERT` with its arguments, and the id it
    /// stores — in one transaction, once per idempotency `key` (see
    /// [`crate::Store::insert_jobs`]).
    async fn insert_once(
        &self,
        kind: JobKind,
        rows: Vec<(String, Vec<Arg>, String)>,
        key: Option<&str>,
    ) -> Result<Inserted> {
        let ids: Vec<String> = rows.iter().map(|(_, _, id)| id.clone()).collect();
        let mut tx = self.pool.begin().await?;
        if let Some(key) = key {
            if let Some(earlier) = Self::claim_key(&mut tx, kind, key, &ids).await? {
                return Ok(Inserted {
                    ids: earlier,
                    replayed: true,
                });
            }
        }
        for (sql, args, id) in rows {
            Self::insert_unique(&mut *tx, &sql, args, &id).await?;
        }
        tx.commit().await?;
        Ok(Inserted {
            ids,
            replayed: false,
        })
    }

    /// The job of `kind` whose id is `id`, read from its row by `from_row`.
    async fn get_one<T>(
        &self,
        kind: JobKind,
        id: &str,
        from_row: impl Fn(&DB::Row) -> Result<T> + Send,
    ) -> Result<Option<T>> {
        let (table, id_column) = table_of(kind);
        let sql = format!(
            "SELECT {} FROM {table} WHERE {id_column} = $1",
            columns(kind)
        );
        Self::query(&sql, vec![Arg::text(id)])
            .fetch_optional(&self.pool)
            .await?
            .map(|row| from_row(&row))
            .transpose()
    }

    /// The `INSERT` that stores `job`, its arguments and its id.
    fn job_insert(job: &BenchmarkJob) -> Result<(String, Vec<Arg>, String)> {
        validate_job_id(&job.job_id)?;
        let mut args = vec![
            Arg::text(job.job_id.as_str()),
            Arg::text(job.status.as_str()),
            Arg::text(job.test_type.as_str()),
            Arg::text(job.mesh_type.as_str()),
            Arg::text(job.namespace.as_str()),
            Arg::Int(Some(to_nanos("created_at", job.created_at)?)),
            Arg::Int(opt_nanos("started_at", job.started_at)?),
            Arg::Int(opt_nanos("completed_at", job.completed_at)?),
            Arg::Real(Some(check_progress(job.progress)?)),
            Arg::Text(job.error.clone()),
            Arg::text(json_text("request", &job.request)?),
            Arg::Int32(to_i32("attempts", job.attempts)?),
        ];
        args.extend(summary_args(job.summary.as_ref())?);
        args.push(Arg::Text(job.parent_id.clone()));
        let series = job.series.as_ref();
        args.push(Arg::Text(series.map(|s| s.series_id.clone())));
        args.push(Arg::Text(series.map(|s| s.group.clone())));
        args.push(Arg::Int(series.map(|s| i64::from(s.order))));
        // The configuration label of a user's request; a split run's part (whose request
        // carries its place) has none, and is never summarised anyway.
        let config = serde_json::from_value::<meshbench_core::StartRequest>(job.request.clone())
            .map(|r| r.configuration())
            .unwrap_or_default();
        args.push(Arg::text(config));
        args.push(Arg::Text(reasons_text(&job.invalid_reasons)?));
        let sql = format!(
            "INSERT INTO benchmark_jobs ({JOB_COLUMNS}) VALUES ({}) \
             ON CONFLICT (job_id) DO NOTHING RETURNING job_id",
            placeholders(1, JOB_COLUMN_COUNT)
        );
        Ok((sql, args, job.job_id.clone()))
    }

    fn state_from_row(kind: JobKind, row: &DB::Row) -> Result<JobState> {
        let id: String = row.try_get("id")?;
        let what = format!("{kind} `{id}`");
        let status: String = row.try_get("status")?;
        let attempts: i32 = row.try_get("attempts")?;
        let cancel: i32 = row.try_get("cancel_requested")?;
        let request: Option<String> = row.try_get("request")?;
        Ok(JobState {
            kind,
            status: parse_status(&what, &status)?,
            created_at: from_nanos(&what, row.try_get("created_at")?)?,
            started_at: Self::opt_time(row, "started_at", &what)?,
            completed_at: Self::opt_time(row, "completed_at", &what)?,
            error: row.try_get("error")?,
            attempts: u32::try_from(attempts)
                .map_err(|_| Error::Corrupt(format!("{what}: negative attempts {attempts}")))?,
            cancel_requested: cancel != 0,
            progress: row.try_get("progress")?,
            request: request.map(|r| parse_json(&what, &r)).transpose()?,
            id,
        })
    }

    /// A [`ProbeJob`] from a row of [`columns`]`(Probe)`.
    fn probe_from_row(row: &DB::Row) -> Result<ProbeJob> {
        let state = Self::state_from_row(JobKind::Probe, row)?;
        let what = format!("probe job `{}`", state.id);
        let result: Option<String> = row.try_get("result")?;
        Ok(ProbeJob {
            duration: to_u64(&what, row.try_get("duration")?)?,
            output_format: row.try_get("output_format")?,
            result: result.map(|r| parse_json(&what, &r)).transpose()?,
            status: state.status,
            created_at: state.created_at,
            started_at: state.started_at,
            completed_at: state.completed_at,
            error: state.error,
            request: state.request,
            attempts: state.attempts,
            progress: state.progress,
            probe_id: state.id,
        })
    }

    /// The report whose `column` (a constant of this module, never request text) equals
    /// `value`; both columns are unique.
    async fn report_where(&self, column: &'static str, value: &str) -> Result<Option<Report>> {
        let sql = format!("SELECT {REPORT_COLUMNS} FROM reports WHERE {column} = $1");
        Self::query(&sql, vec![Arg::text(value)])
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Self::report_from_row(&row))
            .transpose()
    }

    /// A page of `table`'s rows matching `filter` (a `WHERE` clause of this module and its
    /// arguments), newest first with ties broken by `id` so pages are stable, at most
    /// [`MAX_LIST_LIMIT`] long. Table and column names are constants of this module.
    #[allow(clippy::too_many_arguments)]
    async fn newest_first<T>(
        &self,
        columns: &str,
        table: &'static str,
        id: &'static str,
        filter: (&str, Vec<Arg>),
        limit: u32,
        offset: u32,
        from_row: fn(&DB::Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let (clause, mut args) = filter;
        args.push(Arg::Int(Some(i64::from(limit.min(MAX_LIST_LIMIT)))));
        args.push(Arg::Int(Some(i64::from(offset))));
        let sql = format!(
            "SELECT {columns} FROM {table}{clause} \
             ORDER BY created_at DESC, {id} DESC LIMIT ${} OFFSET ${}",
            args.len() - 1,
            args.len()
        );
        Self::query(&sql, args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(from_row)
            .collect()
    }

    /// How many rows `table` (a constant of this module) holds; `what` names the count in
    /// errors.
    async fn count_rows(&self, table: &'static str, what: &str) -> Result<u64> {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let row = Self::query(&sql, Vec::new()).fetch_one(&self.pool).await?;
        to_u64(what, row.try_get("n")?)
    }

    async fn token_where(&self, column: &'static str, value: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_READ} FROM api_tokens WHERE {column} = $1");
        Self::query(&sql, vec![Arg::text(value)])
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Self::token_from_row(&row))
            .transpose()
    }

    fn token_from_row(row: &DB::Row) -> Result<ApiToken> {
        let token_id: String = row.try_get("token_id")?;
        let what = format!("token `{token_id}`");
        Ok(ApiToken {
            username: row.try_get("username")?,
            name: row.try_get("name")?,
            created_at: from_nanos(&what, row.try_get("created_at")?)?,
            expires_at: Self::opt_time(row, "expires_at", &what)?,
            last_used_at: Self::opt_time(row, "last_used_at", &what)?,
            revoked_at: Self::opt_time(row, "revoked_at", &what)?,
            token_id,
        })
    }

    fn audit_from_row(row: &DB::Row) -> Result<AuditEntry> {
        let audit_id: i64 = row.try_get("audit_id")?;
        let what = format!("audit entry {audit_id}");
        let role: Option<String> = row.try_get("role")?;
        Ok(AuditEntry {
            audit_id,
            at: from_nanos(&what, row.try_get("created_at")?)?,
            username: row.try_get("username")?,
            role: role
                .map(|r| {
                    r.parse()
                        .map_err(|_| Error::Corrupt(format!("{what}: role `{r}`")))
                })
                .transpose()?,
            action: row.try_get("action")?,
            subject: row.try_get("subject")?,
            target: row.try_get("target")?,
            address: row.try_get("address")?,
            outcome: row.try_get("outcome")?,
            detail: row.try_get("detail")?,
        })
    }

    fn user_from_row(row: &DB::Row) -> Result<StoredUser> {
        let username: String = row.try_get("username")?;
        let what = format!("user `{username}`");
        let role: String = row.try_get("role")?;
        let disabled: i64 = row.try_get("disabled")?;
        Ok(StoredUser {
            password_hash: row.try_get("password_hash")?,
            user: meshbench_core::user::User {
                role: role
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("{what}: role `{role}`")))?,
                disabled: disabled != 0,
                created_at: from_nanos(&what, row.try_get("created_at")?)?,
                updated_at: from_nanos(&what, row.try_get("updated_at")?)?,
                username,
            },
        })
    }

    fn report_from_row(row: &DB::Row) -> Result<Report> {
        let report_id: String = row.try_get("report_id")?;
        let what = format!("report `{report_id}`");
        let job_ids: String = row.try_get("job_ids")?;
        Ok(Report {
            title: row.try_get("title")?,
            job_ids: parse_json(&what, &job_ids)?,
            format: row.try_get("format")?,
            created_at: from_nanos(&what, row.try_get("created_at")?)?,
            path: row.try_get("path")?,
            share_token: row.try_get("share_token")?,
            share_expires_at: Self::opt_time(row, "share_expires_at", &what)?,
            share_revoked_at: Self::opt_time(row, "share_revoked_at", &what)?,
            report_id,
        })
    }
}

/// One implementation of [`crate::Store`] for every dialect: only [`Dialect`] differs.
#[async_trait::async_trait]
impl<DB> crate::Store for SqlStore<DB>
where
    DB: Dialect,
    DB::Connection: sqlx::migrate::Migrate,
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> i32: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> f64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<f64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    fn backend(&self) -> &'static str {
        DB::BACKEND
    }

    async fn migrate(&self) -> Result<()> {
        DB::migrator().run(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await
    }

    async fn ping(&self) -> Result<()> {
        Self::query("SELECT 1", Vec::new())
            .fetch_one(&self.pool)
            .await?;
        Ok(())
    }

    async fn insert_jobs(&self, jobs: &[BenchmarkJob], key: Option<&str>) -> Result<Inserted> {
        let rows = jobs.iter().map(Self::job_insert).collect::<Result<_>>()?;
        self.insert_once(JobKind::Benchmark, rows, key).await
    }

    async fn get_job(&self, job_id: &str) -> Result<Option<BenchmarkJob>> {
        self.get_one(JobKind::Benchmark, job_id, Self::job_from_row)
            .await
    }

    async fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<BenchmarkJob>> {
        let mut args = Vec::new();
        let clause = filter_clause(filter, &mut args)?;
        let limit = filter
            .limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .min(MAX_LIST_LIMIT);
        args.push(Arg::Int(Some(i64::from(limit))));
        args.push(Arg::Int(Some(i64::from(filter.offset.unwrap_or(0)))));
        let order = order_clause(filter);
        let sql = format!(
            "SELECT {} FROM benchmark_jobs{clause}{order} LIMIT ${} OFFSET ${}",
            columns(JobKind::Benchmark),
            args.len() - 1,
            args.len()
        );
        Self::query(&sql, args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(Self::job_from_row)
            .collect()
    }

    async fn parts_of(&self, parent_id: &str) -> Result<Vec<BenchmarkJob>> {
        let sql = format!(
            "SELECT {} FROM benchmark_jobs WHERE parent_id = $1 ORDER BY job_id",
            columns(JobKind::Benchmark)
        );
        let rows = Self::query(&sql, vec![Arg::text(parent_id)])
            .fetch_all(&self.pool)
            .await?;
        let mut parts = rows
            .iter()
            .map(Self::job_from_row)
            .collect::<Result<Vec<_>>>()?;
        // By index, which each part's request records; ids are random.
        parts.sort_by_key(|j| {
            j.request
                .pointer("/part/index")
                .and_then(|i| i.as_u64())
                .unwrap_or(u64::MAX)
        });
        Ok(parts)
    }

    async fn invalid_counts(&self, filter: &JobFilter) -> Result<Vec<(TestType, String, u64)>> {
        let mut args = Vec::new();
        let sql = if filter.since.is_none() && filter.until.is_none() {
            // Kept by the triggers of migration 0006, as the sums are.
            let mut conds = vec!["runs > 0".to_string()];
            conds.extend(cell_conditions(filter, &mut args));
            format!(
                "SELECT test_type, mesh_type, CAST(SUM(runs) AS BIGINT) AS n FROM invalid_cells \
                 WHERE {} GROUP BY test_type, mesh_type ORDER BY test_type, mesh_type",
                conds.join(" AND ")
            )
        } else {
            let filter = JobFilter {
                status: Some(JobStatus::Completed),
                limit: None,
                offset: None,
                ..filter.clone()
            };
            let clause = filter_clause(&filter, &mut args)?;
            format!(
                "SELECT test_type, mesh_type, COUNT(*) AS n FROM benchmark_jobs{clause} \
                 AND invalid_reasons IS NOT NULL GROUP BY test_type, mesh_type \
                 ORDER BY test_type, mesh_type"
            )
        };
        let rows = Self::query(&sql, args).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let test_type: String = row.try_get("test_type")?;
            let test_type = test_type
                .parse()
                .map_err(|e| Error::Corrupt(format!("stored test type: {e}")))?;
            let n: i64 = row.try_get("n")?;
            out.push((
                test_type,
                row.try_get("mesh_type")?,
                to_u64("invalid runs", n)?,
            ));
        }
        Ok(out)
    }

    async fn series_runs(&self, column: SeriesColumn, id: &str) -> Result<Vec<BenchmarkJob>> {
        let column = match column {
            SeriesColumn::Series => "series_id",
            SeriesColumn::Group => "series_group",
        };
        let sql = format!(
            "SELECT {} FROM benchmark_jobs WHERE {column} = $1 ORDER BY series_order, job_id",
            columns(JobKind::Benchmark)
        );
        let rows = Self::query(&sql, vec![Arg::text(id)])
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(Self::job_from_row).collect()
    }

    async fn count_jobs(&self, filter: &JobFilter) -> Result<u64> {
        let mut args = Vec::new();
        let clause = filter_clause(filter, &mut args)?;
        let sql = format!("SELECT COUNT(*) AS n FROM benchmark_jobs{clause}");
        let row = Self::query(&sql, args).fetch_one(&self.pool).await?;
        to_u64("job count", row.try_get("n")?)
    }

    async fn transition(
        &self,
        kind: JobKind,
        id: &str,
        from: &[JobStatus],
        to: JobStatus,
        update: &JobUpdate,
    ) -> Result<Option<JobState>> {
        let allowed = allowed_from(from, to)?;
        let (table, id_column) = table_of(kind);
        let mut args = vec![
            Arg::text(to.as_str()),
            Arg::Int(opt_nanos("started_at", update.started_at)?),
            Arg::Int(opt_nanos("completed_at", update.completed_at)?),
            Arg::Text(update.error.clone()),
            Arg::Real(update.progress.map(check_progress).transpose()?),
            Arg::Int32(i32::from(update.increment_attempts)),
            Arg::text(id),
        ];
        let attempt = match update.on_attempt {
            Some(n) => {
                args.push(Arg::Int32(to_i32("on_attempt", n)?));
                format!(" AND attempts = ${}", args.len())
            }
            None => String::new(),
        };
        let first_from = args.len() + 1;
        args.extend(allowed.iter().map(|s| Arg::text(s.as_str())));
        // One statement: the status check and the change are atomic in both databases
        // (PostgreSQL re-checks the WHERE clause after waiting for a concurrent writer's
        // row lock; SQLite runs one writer at a time).
        let sql = format!(
            "UPDATE {table} SET status = $1, \
             started_at = COALESCE($2, started_at), \
             completed_at = COALESCE($3, completed_at), \
             error = COALESCE($4, error), \
             progress = COALESCE($5, progress), \
             attempts = attempts + $6 \
             WHERE {id_column} = $7{attempt} AND status IN ({}) \
             RETURNING {id_column} AS id, {STATE_COLUMNS}",
            placeholders(first_from, allowed.len())
        );
        Self::query(&sql, args)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Self::state_from_row(kind, &row))
            .transpose()
    }

    async fn get_state(&self, kind: JobKind, id: &str) -> Result<Option<JobState>> {
        self.get_one(kind, id, |row| Self::state_from_row(kind, row))
            .await
    }

    async fn states_in(
        &self,
        kind: JobKind,
        statuses: &[JobStatus],
        limit: u32,
        offset: u32,
    ) -> Result<Vec<JobState>> {
        // `IN ()` is not valid SQL: no status, no rows.
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let (table, id_column) = table_of(kind);
        let mut args: Vec<Arg> = statuses.iter().map(|s| Arg::text(s.as_str())).collect();
        args.push(Arg::Int(Some(i64::from(limit.min(MAX_LIST_LIMIT)))));
        args.push(Arg::Int(Some(i64::from(offset))));
        let sql = format!(
            "SELECT {id_column} AS id, {STATE_COLUMNS} FROM {table} WHERE status IN ({}) \
             ORDER BY created_at, {id_column} LIMIT ${} OFFSET ${}",
            placeholders(1, statuses.len()),
            args.len() - 1,
            args.len()
        );
        Self::query(&sql, args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Self::state_from_row(kind, row))
            .collect()
    }

    async fn set_progress(&self, kind: JobKind, id: &str, progress: f64) -> Result<bool> {
        let progress = check_progress(progress)?;
        let (table, id_column) = table_of(kind);
        let sql = format!(
            "UPDATE {table} SET progress = $1 \
             WHERE {id_column} = $2 AND status IN ('pending', 'running') \
             RETURNING cancel_requested"
        );
        let updated = Self::query(&sql, vec![Arg::Real(Some(progress)), Arg::text(id)])
            .fetch_optional(&self.pool)
            .await?;
        match updated {
            Some(row) => Ok(row.try_get::<i32, _>("cancel_requested")? != 0),
            None if self.get_state(kind, id).await?.is_some() => Ok(false),
            None => Err(not_found(kind, id)),
        }
    }

    async fn request_cancel(&self, kind: JobKind, id: &str) -> Result<Option<JobState>> {
        let (table, id_column) = table_of(kind);
        let sql = format!(
            "UPDATE {table} SET cancel_requested = 1 \
             WHERE {id_column} = $1 AND status IN ('pending', 'running') \
             RETURNING {id_column} AS id, {STATE_COLUMNS}"
        );
        match Self::query(&sql, vec![Arg::text(id)])
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => Self::state_from_row(kind, &row).map(Some),
            None => self.get_state(kind, id).await,
        }
    }

    async fn withdraw(&self, kind: JobKind, ids: &[String], key: Option<&str>) -> Result<bool> {
        if ids.is_empty() {
            return Ok(true);
        }
        let (table, id_column) = table_of(kind);
        let args: Vec<Arg> = ids.iter().map(|id| Arg::text(id.as_str())).collect();
        let listed = placeholders(1, ids.len());
        let mut tx = self.pool.begin().await?;
        // Deleting first takes the write lock at once (SQLite); a row a worker took since is
        // then seen by the count and the whole withdrawal rolls back.
        let sql = format!(
            "DELETE FROM {table} WHERE {id_column} IN ({listed}) AND status = 'pending' \
             RETURNING {id_column}"
        );
        let deleted = Self::query(&sql, args).fetch_all(&mut *tx).await?;
        if deleted.len() != ids.len() {
            // Dropping the transaction rolls the deletions back.
            return Ok(false);
        }
        if let Some(key) = key {
            Self::query(
                "DELETE FROM idempotency_keys WHERE kind = $1 AND key = $2",
                vec![Arg::text(kind.as_str()), Arg::text(key)],
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn save_result(
        &self,
        job_id: &str,
        result: &serde_json::Value,
        summary: &JobSummary,
        invalid_reasons: &[String],
    ) -> Result<()> {
        let text = json_text("result", result)?;
        let mut args = vec![Arg::text(job_id)];
        args.extend(summary_args(Some(summary))?);
        args.push(Arg::Text(reasons_text(invalid_reasons)?));
        let now = to_nanos("saved_at", OffsetDateTime::now_utc())?;

        let mut tx = self.pool.begin().await?;
        // The job row is written first, so SQLite takes its write lock at once rather than
        // upgrading a read lock (which could fail under concurrent writers).
        let updated = Self::query(
            "UPDATE benchmark_jobs SET requests = $2, errors = $3, rps = $4, p50_us = $5, \
             p90_us = $6, p99_us = $7, p999_us = $8, max_us = $9, invalid_reasons = $10 \
             WHERE job_id = $1 RETURNING job_id",
            args,
        )
        .fetch_optional(&mut *tx)
        .await?;
        if updated.is_none() {
            // Dropping the transaction rolls it back.
            return Err(not_found(JobKind::Benchmark, job_id));
        }
        Self::query(
            "INSERT INTO benchmark_results (job_id, result, saved_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job_id) DO UPDATE \
             SET result = excluded.result, saved_at = excluded.saved_at",
            vec![Arg::text(job_id), Arg::text(text), Arg::Int(Some(now))],
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_result(&self, job_id: &str) -> Result<Option<serde_json::Value>> {
        let row = Self::query(
            "SELECT result FROM benchmark_results WHERE job_id = $1",
            vec![Arg::text(job_id)],
        )
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => {
                let text: String = row.try_get("result")?;
                parse_json(&format!("result of job `{job_id}`"), &text).map(Some)
            }
        }
    }

    async fn count_by_status(&self) -> Result<Vec<(JobStatus, u64)>> {
        let rows = Self::query(
            "SELECT status, COUNT(*) AS n FROM benchmark_jobs WHERE parent_id IS NULL GROUP BY status",
            Vec::new(),
        )
        .fetch_all(&self.pool)
        .await?;
        let mut counts: Vec<(JobStatus, u64)> = JobStatus::ALL.iter().map(|&s| (s, 0)).collect();
        for row in rows {
            let status: String = row.try_get("status")?;
            let status = parse_status("benchmark_jobs.status", &status)?;
            let n = to_u64("job count", row.try_get("n")?)?;
            if let Some(slot) = counts.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = n;
            }
        }
        Ok(counts)
    }

    /// Per (test type, mesh type): how many completed runs, their request and error totals,
    /// and min / max / mean / standard deviation of p50, p90, p99, p99.9 and rps — computed
    /// by the database in one grouped scan, so the summary costs the same at 10 or 10,000
    /// stored jobs on the API side.
    async fn completed_stats(&self, filter: &JobFilter) -> Result<Vec<GroupStats>> {
        let mut args = Vec::new();
        let sums = |c: &str, column: &str| {
            format!(
                "CAST(SUM({c}_sum) AS DOUBLE PRECISION) AS {column}_sum, \
                 CAST(SUM({c}_sq) AS DOUBLE PRECISION) AS {column}_sq, \
                 CAST(MIN({c}_min) AS DOUBLE PRECISION) AS {column}_min, \
                 CAST(MAX({c}_max) AS DOUBLE PRECISION) AS {column}_max"
            )
        };
        let sql = if filter.since.is_none() && filter.until.is_none() {
            // The triggers of migration 0006 keep these sums as runs complete: a few rows
            // to read, however many jobs are stored.
            let conds = cell_conditions(filter, &mut args);
            let clause = if conds.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", conds.join(" AND "))
            };
            format!(
                "SELECT test_type, mesh_type, config, CAST(SUM(runs) AS BIGINT) AS runs, \
                 CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(errors) AS BIGINT) AS errors, \
                 {}, {}, {}, {}, {} FROM overhead_cells{clause} \
                 GROUP BY test_type, mesh_type, config ORDER BY test_type, config, mesh_type",
                sums("p50", "p50_us"),
                sums("p90", "p90_us"),
                sums("p99", "p99_us"),
                sums("p999", "p999_us"),
                sums("rps", "rps"),
            )
        } else {
            // A time window: the sums are not kept per instant, so add up the rows.
            let filter = JobFilter {
                status: Some(JobStatus::Completed),
                limit: None,
                offset: None,
                ..filter.clone()
            };
            let clause = filter_clause(&filter, &mut args)?;
            let metric = |c: &str| {
                let x = format!("CAST({c} AS DOUBLE PRECISION)");
                format!(
                    "SUM({x}) AS {c}_sum, SUM({x} * {x}) AS {c}_sq, \
                     CAST(MIN({c}) AS DOUBLE PRECISION) AS {c}_min, \
                     CAST(MAX({c}) AS DOUBLE PRECISION) AS {c}_max"
                )
            };
            format!(
                "SELECT test_type, mesh_type, config, COUNT(*) AS runs, \
                 CAST(SUM(requests) AS BIGINT) AS requests, CAST(SUM(errors) AS BIGINT) AS errors, \
                 {}, {}, {}, {}, {} \
                 FROM benchmark_jobs{clause} AND requests IS NOT NULL AND invalid_reasons IS NULL \
                 GROUP BY test_type, mesh_type, config ORDER BY test_type, config, mesh_type",
                metric("p50_us"),
                metric("p90_us"),
                metric("p99_us"),
                metric("p999_us"),
                metric("rps"),
            )
        };
        let rows = Self::query(&sql, args).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let test_type: String = row.try_get("test_type")?;
            let test_type = test_type
                .parse()
                .map_err(|e| Error::Corrupt(format!("stored test type: {e}")))?;
            let runs: i64 = row.try_get("runs")?;
            let moments = |c: &str| -> Result<Moments> {
                let sum: f64 = row.try_get(format!("{c}_sum").as_str())?;
                let sq: f64 = row.try_get(format!("{c}_sq").as_str())?;
                Ok(Moments::from_sums(
                    runs.max(0) as u64,
                    sum,
                    sq,
                    row.try_get(format!("{c}_min").as_str())?,
                    row.try_get(format!("{c}_max").as_str())?,
                ))
            };
            out.push(GroupStats {
                test_type,
                mesh_type: row.try_get("mesh_type")?,
                config: row.try_get("config")?,
                runs: runs.max(0) as u64,
                requests: row.try_get::<i64, _>("requests")?.max(0) as u64,
                errors: row.try_get::<i64, _>("errors")?.max(0) as u64,
                p50_us: moments("p50_us")?,
                p90_us: moments("p90_us")?,
                p99_us: moments("p99_us")?,
                p999_us: moments("p999_us")?,
                rps: moments("rps")?,
            });
        }
        Ok(out)
    }

    async fn completed_summaries(
        &self,
        filter: &JobFilter,
    ) -> Result<Vec<(TestType, String, JobSummary)>> {
        let filter = JobFilter {
            status: Some(JobStatus::Completed),
            limit: None,
            offset: None,
            ..filter.clone()
        };
        let mut args = Vec::new();
        let clause = filter_clause(&filter, &mut args)?;
        let sql = format!(
            "SELECT job_id, test_type, mesh_type, {SUMMARY_COLUMNS} \
             FROM benchmark_jobs{clause} AND requests IS NOT NULL \
             ORDER BY created_at, job_id"
        );
        let rows = Self::query(&sql, args).fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let job_id: String = row.try_get("job_id")?;
            let what = format!("job `{job_id}`");
            let test_type: String = row.try_get("test_type")?;
            let test_type = test_type
                .parse()
                .map_err(|e| Error::Corrupt(format!("{what}: {e}")))?;
            if let Some(summary) = Self::summary_from_row(row, &what)? {
                out.push((test_type, row.try_get("mesh_type")?, summary));
            }
        }
        Ok(out)
    }

    async fn insert_probe_job_once(&self, job: &ProbeJob, key: Option<&str>) -> Result<Inserted> {
        let args = vec![
            Arg::text(job.probe_id.as_str()),
            Arg::text(job.status.as_str()),
            Arg::Int(Some(to_i64("duration", job.duration)?)),
            Arg::text(job.output_format.as_str()),
            Arg::Int(Some(to_nanos("created_at", job.created_at)?)),
            Arg::Int(opt_nanos("started_at", job.started_at)?),
            Arg::Int(opt_nanos("completed_at", job.completed_at)?),
            Arg::Text(job.error.clone()),
            Arg::Text(opt_json_text("result", job.result.as_ref())?),
            Arg::Text(opt_json_text("request", job.request.as_ref())?),
            Arg::Int32(to_i32("attempts", job.attempts)?),
            Arg::Real(Some(check_progress(job.progress)?)),
        ];
        let sql = format!(
            "INSERT INTO ebpf_probe_jobs ({PROBE_COLUMNS}) VALUES ({}) \
             ON CONFLICT (probe_id) DO NOTHING RETURNING probe_id",
            placeholders(1, args.len())
        );
        let rows = vec![(sql, args, job.probe_id.clone())];
        self.insert_once(JobKind::Probe, rows, key).await
    }

    async fn get_probe_job(&self, probe_id: &str) -> Result<Option<ProbeJob>> {
        self.get_one(JobKind::Probe, probe_id, Self::probe_from_row)
            .await
    }

    async fn save_probe_result(&self, probe_id: &str, result: &serde_json::Value) -> Result<()> {
        let updated = Self::query(
            "UPDATE ebpf_probe_jobs SET result = $1 WHERE probe_id = $2 RETURNING probe_id",
            vec![Arg::text(json_text("result", result)?), Arg::text(probe_id)],
        )
        .fetch_optional(&self.pool)
        .await?;
        match updated {
            Some(_) => Ok(()),
            None => Err(not_found(JobKind::Probe, probe_id)),
        }
    }

    async fn list_probe_jobs(
        &self,
        statuses: &[JobStatus],
        limit: u32,
        offset: u32,
    ) -> Result<Vec<ProbeJob>> {
        let args: Vec<Arg> = statuses.iter().map(|s| Arg::text(s.as_str())).collect();
        let clause = if statuses.is_empty() {
            String::new()
        } else {
            format!(" WHERE status IN ({})", placeholders(1, statuses.len()))
        };
        self.newest_first(
            &columns(JobKind::Probe),
            "ebpf_probe_jobs",
            "probe_id",
            (&clause, args),
            limit,
            offset,
            Self::probe_from_row,
        )
        .await
    }

    async fn count_probe_jobs(&self) -> Result<u64> {
        self.count_rows("ebpf_probe_jobs", "probe job count").await
    }

    async fn insert_report(&self, report: &Report) -> Result<()> {
        let job_ids = serde_json::to_string(&report.job_ids).map_err(|e| Error::Invalid {
            field: "job_ids",
            message: format!("cannot serialize: {e}"),
        })?;
        let args = vec![
            Arg::text(report.report_id.as_str()),
            Arg::text(report.title.as_str()),
            Arg::text(job_ids),
            Arg::text(report.format.as_str()),
            Arg::Int(Some(to_nanos("created_at", report.created_at)?)),
            Arg::Text(report.path.clone()),
            Arg::Text(report.share_token.clone()),
            Arg::Int(opt_nanos("share_expires_at", report.share_expires_at)?),
            Arg::Int(opt_nanos("share_revoked_at", report.share_revoked_at)?),
        ];
        // `DO NOTHING` without a target also covers the unique share token.
        let sql = format!(
            "INSERT INTO reports ({REPORT_COLUMNS}) VALUES ({}) \
             ON CONFLICT DO NOTHING RETURNING report_id",
            placeholders(1, args.len())
        );
        Self::insert_unique(&self.pool, &sql, args, &report.report_id).await
    }

    async fn get_report(&self, report_id: &str) -> Result<Option<Report>> {
        self.report_where("report_id", report_id).await
    }

    async fn get_report_by_share_token(&self, token: &str) -> Result<Option<Report>> {
        self.report_where("share_token", token).await
    }

    async fn list_reports(&self, limit: u32, offset: u32) -> Result<Vec<Report>> {
        self.newest_first(
            REPORT_COLUMNS,
            "reports",
            "report_id",
            ("", Vec::new()),
            limit,
            offset,
            Self::report_from_row,
        )
        .await
    }

    async fn count_reports(&self) -> Result<u64> {
        self.count_rows("reports", "report count").await
    }

    async fn revoke_share(&self, report_id: &str, at: OffsetDateTime) -> Result<bool> {
        Ok(Self::query(
            "UPDATE reports SET share_revoked_at = COALESCE(share_revoked_at, $1) \
             WHERE report_id = $2 RETURNING report_id",
            vec![
                Arg::Int(Some(to_nanos("revoked_at", at)?)),
                Arg::text(report_id),
            ],
        )
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    async fn has_users(&self) -> Result<bool> {
        Ok(
            Self::query("SELECT username FROM users LIMIT 1", Vec::new())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    async fn insert_token(&self, token: &ApiToken, token_hash: &str) -> Result<()> {
        let args = vec![
            Arg::text(token.token_id.as_str()),
            Arg::text(token.username.as_str()),
            Arg::text(token.name.as_str()),
            Arg::text(token_hash),
            Arg::Int(Some(to_nanos("created_at", token.created_at)?)),
            Arg::Int(opt_nanos("expires_at", token.expires_at)?),
            Arg::Int(opt_nanos("last_used_at", token.last_used_at)?),
            Arg::Int(opt_nanos("revoked_at", token.revoked_at)?),
        ];
        let sql = format!(
            "INSERT INTO api_tokens ({TOKEN_COLUMNS}, token_hash, created_at, expires_at, \
             last_used_at, revoked_at) VALUES ({}) ON CONFLICT DO NOTHING RETURNING token_id",
            placeholders(1, args.len())
        );
        Self::insert_unique(&self.pool, &sql, args, &token.token_id).await
    }

    async fn token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
        self.token_where("token_hash", token_hash).await
    }

    async fn get_token(&self, token_id: &str) -> Result<Option<ApiToken>> {
        self.token_where("token_id", token_id).await
    }

    async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<ApiToken>> {
        let (clause, args) = match username {
            Some(name) => ("WHERE username = $1", vec![Arg::text(name)]),
            None => ("", Vec::new()),
        };
        let sql = format!(
            "SELECT {TOKEN_READ} FROM api_tokens {clause} ORDER BY created_at DESC, token_id"
        );
        Self::query(&sql, args)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Self::token_from_row(row))
            .collect()
    }

    async fn revoke_token(&self, token_id: &str, at: OffsetDateTime) -> Result<bool> {
        Ok(Self::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE token_id = $2 RETURNING token_id",
            vec![
                Arg::Int(Some(to_nanos("revoked_at", at)?)),
                Arg::text(token_id),
            ],
        )
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    async fn touch_token(&self, token_id: &str, at: OffsetDateTime) -> Result<()> {
        Self::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE token_id = $2",
            vec![
                Arg::Int(Some(to_nanos("last_used_at", at)?)),
                Arg::text(token_id),
            ],
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn insert_session(&self, session: &Session) -> Result<()> {
        let args = vec![
            Arg::text(session.session_hash.as_str()),
            Arg::text(session.username.as_str()),
            Arg::Int(Some(to_nanos("created_at", session.created_at)?)),
            Arg::Int(Some(to_nanos("expires_at", session.expires_at)?)),
            Arg::Int(opt_nanos("revoked_at", session.revoked_at)?),
        ];
        let sql = format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ({}) \
             ON CONFLICT DO NOTHING RETURNING session_hash",
            placeholders(1, args.len())
        );
        Self::insert_unique(&self.pool, &sql, args, "session").await
    }

    async fn get_session(&self, session_hash: &str) -> Result<Option<Session>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_hash = $1");
        let Some(row) = Self::query(&sql, vec![Arg::text(session_hash)])
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let what = "a session";
        Ok(Some(Session {
            session_hash: row.try_get("session_hash")?,
            username: row.try_get("username")?,
            created_at: from_nanos(what, row.try_get("created_at")?)?,
            expires_at: from_nanos(what, row.try_get("expires_at")?)?,
            revoked_at: Self::opt_time(&row, "revoked_at", what)?,
        }))
    }

    async fn revoke_session(&self, session_hash: &str, at: OffsetDateTime) -> Result<bool> {
        Ok(Self::query(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $1) \
             WHERE session_hash = $2 RETURNING session_hash",
            vec![
                Arg::Int(Some(to_nanos("revoked_at", at)?)),
                Arg::text(session_hash),
            ],
        )
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    async fn insert_user(&self, user: &StoredUser) -> Result<()> {
        let u = &user.user;
        let args = vec![
            Arg::text(u.username.as_str()),
            Arg::text(user.password_hash.as_str()),
            Arg::text(u.role.as_str()),
            Arg::Int(Some(i64::from(u.disabled))),
            Arg::Int(Some(to_nanos("created_at", u.created_at)?)),
            Arg::Int(Some(to_nanos("updated_at", u.updated_at)?)),
        ];
        let sql = format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ({}) \
             ON CONFLICT DO NOTHING RETURNING username",
            placeholders(1, args.len())
        );
        Self::insert_unique(&self.pool, &sql, args, &u.username).await
    }

    async fn get_user(&self, username: &str) -> Result<Option<StoredUser>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Self::query(&sql, vec![Arg::text(username)])
            .fetch_optional(&self.pool)
            .await?
            .map(|row| Self::user_from_row(&row))
            .transpose()
    }

    async fn insert_audit(&self, entry: &AuditEntry) -> Result<()> {
        let args = vec![
            Arg::Int(Some(to_nanos("at", entry.at)?)),
            Arg::Text(entry.username.clone()),
            Arg::Text(entry.role.map(|r| r.as_str().to_string())),
            Arg::text(entry.action.as_str()),
            Arg::Text(entry.subject.clone()),
            Arg::Text(entry.target.clone()),
            Arg::Text(entry.address.clone()),
            Arg::text(entry.outcome.as_str()),
            Arg::Text(entry.detail.clone()),
        ];
        let sql = format!(
            "INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({})",
            placeholders(1, args.len())
        );
        Self::query(&sql, args).execute(&self.pool).await?;
        Ok(())
    }

    async fn list_audit(
        &self,
        filter: &AuditFilter,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<AuditEntry>> {
        let (clause, args) = audit_clause(filter);
        self.newest_first(
            &format!("audit_id, {AUDIT_COLUMNS}"),
            "audit_log",
            "audit_id",
            (&clause, args),
            limit,
            offset,
            Self::audit_from_row,
        )
        .await
    }

    async fn count_audit(&self, filter: &AuditFilter) -> Result<u64> {
        let (clause, args) = audit_clause(filter);
        let sql = format!("SELECT COUNT(*) AS n FROM audit_log{clause}");
        let row = Self::query(&sql, args).fetch_one(&self.pool).await?;
        to_u64("audit entry count", row.try_get("n")?)
    }

    async fn count_active_runs_of(&self, username: &str) -> Result<u64> {
        let row = Self::query(
            "SELECT COUNT(*) AS n FROM benchmark_jobs WHERE status IN ($1, $2) \
             AND parent_id IS NULL AND job_id IN (SELECT subject FROM audit_log \
             WHERE username = $3 AND action = $4 AND outcome = $5)",
            vec![
                Arg::text(JobStatus::Pending.as_str()),
                Arg::text(JobStatus::Running.as_str()),
                Arg::text(username),
                Arg::text(AUDIT_START),
                Arg::text("ok"),
            ],
        )
        .fetch_one(&self.pool)
        .await?;
        to_u64("active run count", row.try_get("n")?)
    }

    async fn list_users(&self) -> Result<Vec<meshbench_core::user::User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        Self::query(&sql, Vec::new())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|row| Self::user_from_row(row).map(|u| u.user))
            .collect()
    }

    async fn update_user(&self, username: &str, update: &UserUpdate) -> Result<bool> {
        let mut sets = vec!["updated_at = $1".to_string()];
        let mut args = vec![Arg::Int(Some(to_nanos(
            "updated_at",
            OffsetDateTime::now_utc(),
        )?))];
        let mut set = |column: &str, arg: Arg| {
            args.push(arg);
            sets.push(format!("{column} = ${}", args.len()));
        };
        if let Some(hash) = &update.password_hash {
            set("password_hash", Arg::text(hash.as_str()));
        }
        if let Some(role) = update.role {
            set("role", Arg::text(role.as_str()));
        }
        if let Some(disabled) = update.disabled {
            set("disabled", Arg::Int(Some(i64::from(disabled))));
        }
        args.push(Arg::text(username));
        let sql = format!(
            "UPDATE users SET {} WHERE username = ${} RETURNING username",
            sets.join(", "),
            args.len()
        );
        Ok(Self::query(&sql, args)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered() {
        assert_eq!(placeholders(3, 3), "$3, $4, $5");
        assert_eq!(placeholders(1, 0), "");
    }

    #[test]
    fn filter_clause_numbers_its_arguments() {
        let filter = JobFilter {
            status: Some(JobStatus::Running),
            namespace: Some("bench".into()),
            since: Some(OffsetDateTime::UNIX_EPOCH),
            ..JobFilter::default()
        };
        let mut args = Vec::new();
        let clause = filter_clause(&filter, &mut args).unwrap();
        assert_eq!(
            clause,
            " WHERE parent_id IS NULL AND status = $1 AND namespace = $2 AND created_at >= $3"
        );
        assert_eq!(args.len(), 3);
        assert_eq!(
            filter_clause(&JobFilter::default(), &mut args).unwrap(),
            " WHERE parent_id IS NULL"
        );
    }

    #[test]
    fn order_clause_is_whitelisted_with_a_stable_tie_breaker() {
        assert_eq!(
            order_clause(&JobFilter::default()),
            " ORDER BY created_at DESC, job_id DESC"
        );
        let filter = JobFilter {
            sort: Some(JobSort::CompletedAt),
            order: Some(SortOrder::Asc),
            ..JobFilter::default()
        };
        assert_eq!(
            order_clause(&filter),
            " ORDER BY completed_at ASC NULLS LAST, job_id ASC"
        );
        for sort in JobSort::ALL {
            let filter = JobFilter {
                sort: Some(sort),
                ..JobFilter::default()
            };
            assert!(order_clause(&filter).contains(sort.as_str()));
        }
    }

    #[test]
    fn progress_is_clamped_and_nan_refused() {
        assert_eq!(check_progress(1.5).unwrap(), 1.0);
        assert_eq!(check_progress(-0.1).unwrap(), 0.0);
        assert!(check_progress(f64::NAN).is_err());
    }
}
