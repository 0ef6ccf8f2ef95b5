//! Benchmark jobs as the platform keeps them: the seed's field names (`job_id`, `test_type`,
//! `mesh_type`, `namespace`, `status`, `started_at`, …), the status state machine, and the
//! filters the API and the store share.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Error, Result};

/// Where a job is in its life. `pending → running → completed | failed | cancelled`, and
/// `pending → cancelled | failed`; a finished job never changes again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobStatus {
    /// Stored and queued, not yet taken by a worker.
    Pending,
    /// A worker is running it.
    Running,
    /// Finished with a result.
    Completed,
    /// Ended with an error (the job's `error` says why).
    Failed,
    /// Cancelled by a user; a partial result may be kept.
    Cancelled,
}

impl JobStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    /// The snake_case name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// True once the job can no longer change.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }

    /// Whether a job may move from `self` to `next`.
    pub fn can_become(self, next: JobStatus) -> bool {
        use JobStatus::*;
        matches!(
            (self, next),
            (Pending, Running) | (Pending, Cancelled) | (Pending, Failed)
                | (Running, Completed) | (Running, Failed) | (Running, Cancelled)
                // A job whose worker died goes back to the queue.
                | (Running, Pending)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobStatus {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        JobStatus::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!(
                        "unknown status `{s}` (pending, running, completed, failed, cancelled)"
                    ),
                )
            })
    }
}

/// What a job is. Every kind has its own table, request and result, and the same
/// lifecycle: stored, queued, leased by a worker that can run its kind, moved by
/// compare-and-set, cancelled, retried or failed when its worker is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A load run through the engine (`benchmark_jobs`).
    Benchmark,
    /// An eBPF latency probe run on a worker's host (`ebpf_probe_jobs`).
    Probe,
}

impl JobKind {
    /// Every kind.
    pub const ALL: [JobKind; 2] = [JobKind::Benchmark, JobKind::Probe];

    /// The snake_case name used in queues, logs and worker announcements.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Benchmark => "benchmark",
            JobKind::Probe => "probe",
        }
    }
}

impl fmt::Display for JobKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("kind", format!("unknown job kind `{s}` (benchmark, probe)"))
            })
    }
}

/// The kind of workload, as the seed's `test_type` names it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TestType {
    /// HTTP/1.1 or HTTP/2 requests.
    #[default]
    Http,
    /// gRPC calls.
    Grpc,
    /// WebSocket messages.
    Websocket,
    /// ML inference requests.
    Ml,
}

impl TestType {
    /// Every type.
    pub const ALL: [TestType; 4] = [
        TestType::Http,
        TestType::Grpc,
        TestType::Websocket,
        TestType::Ml,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TestType::Http => "http",
            TestType::Grpc => "grpc",
            TestType::Websocket => "websocket",
            TestType::Ml => "ml",
        }
    }
}

impl fmt::Display for TestType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TestType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        TestType::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "test_type",
                    format!("unknown test type `{s}` (http, grpc, websocket, ml)"),
                )
            })
    }
}

/// The headline numbers of a finished run, kept beside the job so lists and summaries
/// never load the full result.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSummary {
    /// Requests completed.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Achieved requests per second.
    pub rps: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest latency, µs.
    pub max_us: u64,
}

/// One benchmark job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BenchmarkJob {
    /// Unique id (a UUID string).
    pub job_id: String,
    /// Lifecycle state.
    pub status: JobStatus,
    /// Workload kind.
    pub test_type: TestType,
    /// Mesh label: baseline, istio, linkerd, cilium, or any other name.
    pub mesh_type: String,
    /// Kubernetes namespace the target lives in.
    pub namespace: String,
    /// When the job was accepted.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a worker started it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Fraction done, 0–1.
    pub progress: f64,
    /// Why it failed (or was cancelled), for a person to read.
    pub error: Option<String>,
    /// The request the job was started with (the API's JSON, defaults filled in). Shown
    /// with secret header and metadata values redacted ([`crate::policy::redact_secrets`]);
    /// the stored request, which the worker sends, keeps them.
    #[serde(serialize_with = "crate::policy::serialize_redacted")]
    pub request: serde_json::Value,
    /// Headline numbers once finished.
    pub summary: Option<JobSummary>,
    /// How many times a worker has taken the job.
    pub attempts: u32,
    /// For one generator's part of a split run: the run's job id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    /// For a run of a series (`repeats`): the series and its place in the run order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<SeriesPlace>,
    /// Why the finished run cannot be compared (saturated generator, missed rate, errors,
    /// lost probe events); empty for a valid run or one not finished.
    #[serde(default)]
    pub invalid_reasons: Vec<String>,
}

/// Where a run stands among the runs started together to be compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesPlace {
    /// The series: the repeats of one configuration.
    pub series_id: String,
    /// The series started together (one per configuration compared); they run one run at a
    /// time, interleaved.
    pub group: String,
    /// This run's turn in the group, from 0.
    pub order: u32,
}

/// The column a job listing is ordered by (`sort=` in the API). A closed set, so the store
/// maps each to a fixed column name and never puts request text into SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobSort {
    /// When the job was accepted (the default).
    #[default]
    CreatedAt,
    /// When a worker started it; jobs not started yet come last.
    StartedAt,
    /// When it finished; unfinished jobs come last.
    CompletedAt,
    /// Status name, alphabetically.
    Status,
    /// Test type name, alphabetically.
    TestType,
    /// Mesh label.
    MeshType,
    /// Namespace.
    Namespace,
}

impl JobSort {
    /// Every sort key.
    pub const ALL: [JobSort; 7] = [
        JobSort::CreatedAt,
        JobSort::StartedAt,
        JobSort::CompletedAt,
        JobSort::Status,
        JobSort::TestType,
        JobSort::MeshType,
        JobSort::Namespace,
    ];

    /// The snake_case name used on the wire (also the column it sorts by).
    pub fn as_str(self) -> &'static str {
        match self {
            JobSort::CreatedAt => "created_at",
            JobSort::StartedAt => "started_at",
            JobSort::CompletedAt => "completed_at",
            JobSort::Status => "status",
            JobSort::TestType => "test_type",
            JobSort::MeshType => "mesh_type",
            JobSort::Namespace => "namespace",
        }
    }
}

impl fmt::Display for JobSort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobSort {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        JobSort::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = JobSort::ALL.iter().map(|k| k.as_str()).collect();
                Error::invalid(
                    "sort",
                    format!("unknown sort key `{s}` ({})", names.join(", ")),
                )
            })
    }
}

/// Direction of a listing's order (`order=` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum SortOrder {
    /// Smallest (oldest) first.
    Asc,
    /// Largest (newest) first (the default).
    #[default]
    Desc,
}

impl SortOrder {
    /// `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }
}

impl fmt::Display for SortOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SortOrder {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "asc" => Ok(SortOrder::Asc),
            "desc" => Ok(SortOrder::Desc),
            _ => Err(Error::invalid(
                "order",
                format!("unknown order `{s}` (asc, desc)"),
            )),
        }
    }
}

/// What a job listing may be narrowed to; every field is optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JobFilter {
    /// Only this status.
    pub status: Option<JobStatus>,
    /// Only this test type.
    pub test_type: Option<TestType>,
    /// Only this mesh label.
    pub mesh_type: Option<String>,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Created at or after.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub since: Option<OffsetDateTime>,
    /// Created before.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub until: Option<OffsetDateTime>,
    /// Page size.
    pub limit: Option<u32>,
    /// Jobs to skip.
    pub offset: Option<u32>,
    /// Column to order by; `created_at` when absent.
    #[serde(default)]
    pub sort: Option<JobSort>,
    /// Direction; `desc` (newest first) when absent.
    #[serde(default)]
    pub order: Option<SortOrder>,
}

/// Something that happened to a job, pushed to live subscribers (WebSocket, Redis pub/sub).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobEvent {
    /// The job it concerns.
    pub job_id: String,
    /// What happened.
    #[serde(flatten)]
    pub body: JobEventBody,
}

/// The upper bounds (µs) of the latency buckets progress events carry for `/metrics`:
/// 50 µs to 30 s, about three a decade.
pub const LIVE_BUCKETS_US: [u64; 18] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000, 30_000_000,
];

/// The schema of the native (exponential) latency histogram progress events carry for
/// `/metrics`: bucket `i` holds latencies in (2^((i-1)/8), 2^(i/8)] seconds, each about 9 %
/// wider than the one before (what Prometheus' default bucket factor of 1.1 picks).
pub const NATIVE_SCHEMA: i32 = 3;

/// The native bucket (schema [`NATIVE_SCHEMA`]) a latency of `us` µs falls in. The engine
/// records whole microseconds, so 0 µs means under 1 µs and counts in 1 µs's bucket.
pub fn native_bucket(us: u64) -> i32 {
    let seconds = us.max(1) as f64 / 1e6;
    let per_octave = f64::from(1 << NATIVE_SCHEMA);
    let upper = |index: i32| (f64::from(index) / per_octave).exp2();
    // Within a few billion seconds: the cast cannot saturate for any u64 µs.
    let mut index = (seconds.log2() * per_octave).ceil() as i32;
    // log2's rounding can land a value lying on a bound in the bucket beside it.
    if seconds > upper(index) {
        index += 1;
    } else if seconds <= upper(index - 1) {
        index -= 1;
    }
    index
}

/// How many of a second's latencies fell in one native bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NativeBucket {
    /// The bucket (see [`native_bucket`]).
    pub index: i32,
    /// Latencies in it.
    pub count: u64,
}

/// The kinds of [`JobEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum JobEventBody {
    /// The job changed status.
    Status {
        /// The new status.
        status: JobStatus,
        /// Why, when it failed or was cancelled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Once a second while the job runs.
    Progress {
        /// Seconds since measurement started (negative during warm-up).
        second: i64,
        /// Seconds since the job's load started (warm-up included).
        elapsed_s: f64,
        /// Fraction done, 0–1.
        progress: f64,
        /// Requests completed in that second.
        requests: u64,
        /// Failures in that second.
        errors: u64,
        /// Requests per second in that second.
        rps: f64,
        /// Median latency of that second, µs.
        p50_us: u64,
        /// 99th percentile of that second, µs.
        p99_us: u64,
        /// How many of that second's latencies fell in each bucket of [`LIVE_BUCKETS_US`]
        /// (at most its bound, above the one before), then how many above the last bound;
        /// empty from a worker that does not send them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        latency_buckets: Vec<u64>,
        /// The sum of that second's latencies, µs.
        #[serde(default)]
        latency_sum_us: f64,
        /// That second's latencies in native buckets (schema [`NATIVE_SCHEMA`]), by rising
        /// index, empty buckets left out; empty from a worker that does not send them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        latency_native: Vec<NativeBucket>,
        /// Requests the schedule asked for in that second (open model only): a run that
        /// completes fewer is behind, and its numbers describe its generator or target
        /// saturating.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested: Option<f64>,
    },
    /// The final headline numbers.
    Summary {
        /// The numbers.
        summary: JobSummary,
    },
    /// Once a second while an eBPF probe run goes (its `job_id` is the probe's id).
    ProbeProgress {
        /// That second's kernel figures.
        entry: crate::probe::ProbeTimelineEntry,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_buckets_hold_what_their_bounds_say() {
        // Exact powers of two are upper bounds: 1 s closes bucket 0, 2 s bucket 8.
        assert_eq!(native_bucket(1_000_000), 0);
        assert_eq!(native_bucket(1_000_001), 1);
        assert_eq!(native_bucket(2_000_000), 8);
        // 2^(1/8) s = 1.0905 s.
        assert_eq!(native_bucket(1_090_507), 1);
        assert_eq!(native_bucket(1_090_508), 2);
        // 1 ms lies in (2^-10, 2^(-79/8)] s = (976.6 µs, 1064.3 µs].
        assert_eq!(native_bucket(1_000), -79);
        assert_eq!(native_bucket(976), -80);
        assert_eq!(native_bucket(0), native_bucket(1));
        for us in [1, 7, 50, 999, 1_000, 123_456, 30_000_000, u64::MAX / 2] {
            let index = native_bucket(us);
            let seconds = us as f64 / 1e6;
            let upper = |i: i32| (f64::from(i) / 8.0).exp2();
            assert!(
                upper(index - 1) < seconds && seconds <= upper(index),
                "{us} µs in {index}"
            );
        }
    }

    #[test]
    fn finished_jobs_never_change() {
        for from in JobStatus::ALL.into_iter().filter(|s| s.is_finished()) {
            for to in JobStatus::ALL {
                assert!(!from.can_become(to), "{from} -> {to}");
            }
        }
        assert!(JobStatus::Pending.can_become(JobStatus::Running));
        assert!(JobStatus::Running.can_become(JobStatus::Cancelled));
        assert!(!JobStatus::Pending.can_become(JobStatus::Completed));
    }

    #[test]
    fn names_round_trip() {
        for s in JobStatus::ALL {
            assert_eq!(s.as_str().parse::<JobStatus>().unwrap(), s);
        }
        for t in TestType::ALL {
            assert_eq!(t.as_str().parse::<TestType>().unwrap(), t);
        }
        for k in JobKind::ALL {
            assert_eq!(k.as_str().parse::<JobKind>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        assert!("ftp".parse::<TestType>().is_err());
        for k in JobSort::ALL {
            assert_eq!(k.as_str().parse::<JobSort>().unwrap(), k);
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for o in [SortOrder::Asc, SortOrder::Desc] {
            assert_eq!(o.as_str().parse::<SortOrder>().unwrap(), o);
        }
    }

    #[test]
    fn bad_sort_and_order_name_their_field() {
        let e = "progress".parse::<JobSort>().unwrap_err().to_string();
        assert!(e.starts_with("invalid sort:"), "{e}");
        assert!(e.contains("created_at") && e.contains("namespace"), "{e}");
        let e = "DESC".parse::<SortOrder>().unwrap_err().to_string();
        assert!(e.starts_with("invalid order:"), "{e}");
    }
}
