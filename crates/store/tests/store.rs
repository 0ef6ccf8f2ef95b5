//! The store's behaviour, with the same test bodies run against SQLite (a fresh file in a
//! temporary directory per test) and PostgreSQL (a fresh database per test on a real
//! server; the tests fail, never skip, when it is unreachable).
//!
//! PostgreSQL is found at `MESHBENCH_TEST_PG_URL` (a server URL without a database name),
//! by default `postgres://postgres@127.0.0.1:5432`; `meshbench-testkit` creates and drops the
//! databases.

// The shared bodies are plain async fns (the `#[test]` wrappers come from a macro), which
// clippy's allow-unwrap-in-tests does not recognise as test code.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use meshbench_core::histogram::{encode_base64, new_histogram, record_us, summarize};
use meshbench_core::user::{Role, User};
use meshbench_core::{
    BenchmarkJob, BenchmarkResult, BenchmarkSpec, JobFilter, JobKind, JobSort, JobStatus,
    JobSummary, LoadgenInfo, SortOrder, TestType, TimelineEntry, RESULT_SCHEMA,
};
use meshbench_store::{
    ApiToken, Error, JobState, JobUpdate, ProbeJob, Report, Session, SqliteStore, Store,
    StoredUser, UserUpdate, MAX_LIST_LIMIT,
};
use meshbench_testkit::{temp_dir, PgDatabase, StoreExt};
use serde_json::json;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

// ---------------------------------------------------------------------------------------
// Harness

/// Runs `body` on a migrated SQLite store in a fresh directory.
async fn with_sqlite<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = temp_dir("store");
    let store = meshbench_store::open(None, dir.path())
        .await
        .expect("open SQLite");
    assert_eq!(store.backend(), "sqlite");
    store.migrate().await.expect("migrate SQLite");
    body(store.clone()).await;
    store.close().await;
}

/// Runs `body` on a migrated PostgreSQL store in a database created for this test alone,
/// and drops the database afterwards (also when the body panics).
async fn with_postgres<F, Fut>(body: F)
where
    F: FnOnce(Arc<dyn Store>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let db = PgDatabase::create().await;
    let outcome = async {
        let store = meshbench_store::open(Some(&db.url()), Path::new("."))
            .await
            .expect("open PostgreSQL");
        assert_eq!(store.backend(), "postgres");
        store.migrate().await.expect("migrate PostgreSQL");
        // A task, so a panicking body still lets us drop the database below.
        let outcome = tokio::spawn(body(store.clone())).await;
        store.close().await;
        outcome
    }
    .await;

    db.remove().await;
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

/// Declares each named body as a test on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::with_sqlite(crate::$name).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::with_postgres(crate::$name).await;
                }
            )+
        }
    };
}

on_both_backends!(
    users_are_added_listed_and_changed,
    share_links_keep_their_expiry_and_revocation,
    tokens_and_sessions_round_trip_and_revoke,
    the_audit_log_lists_newest_first_and_filters,
    insert_and_get_round_trip_every_field,
    duplicate_insert_is_a_conflict,
    list_filters_newest_first_with_pagination,
    list_default_page_size,
    transition_is_compare_and_set,
    concurrent_takes_have_one_winner,
    result_round_trip_and_listing_without_it,
    set_progress_only_touches_unfinished_jobs,
    count_by_status_counts_every_status,
    completed_summaries_for_metrics,
    probe_jobs_and_reports,
    migrations_are_idempotent,
    list_sorts_by_every_key_both_ways,
    reports_list_newest_first_and_resolve_share_tokens,
    probe_request_round_trips,
    probe_result_is_kept_whatever_the_run_ends_as,
    probe_jobs_list_newest_first_and_by_status,
    cancel_is_a_flag_progress_reads,
    starts_with_a_key_are_stored_once,
    withdrawn_starts_leave_nothing_behind,
    a_transition_can_be_fenced_to_one_attempt,
    states_list_by_status_oldest_first,
    series_validity_and_kept_sums,
);

// ---------------------------------------------------------------------------------------
// Builders

const T0: OffsetDateTime = datetime!(2025-06-01 12:00:00 UTC);

fn job(id: &str, created_at: OffsetDateTime) -> BenchmarkJob {
    BenchmarkJob {
        job_id: id.to_string(),
        status: JobStatus::Pending,
        test_type: TestType::Http,
        mesh_type: "baseline".to_string(),
        namespace: "default".to_string(),
        created_at,
        started_at: None,
        completed_at: None,
        progress: 0.0,
        error: None,
        request: json!({"test_type": "http", "duration": 60}),
        summary: None,
        attempts: 0,
        parent_id: None,
        series: None,
        invalid_reasons: Vec::new(),
    }
}

fn summary(p50_us: u64, p99_us: u64, rps: f64) -> JobSummary {
    JobSummary {
        requests: 600_000,
        errors: 12,
        rps,
        p50_us,
        p90_us: p50_us * 2,
        p99_us,
        p999_us: p99_us * 3,
        max_us: p99_us * 10,
    }
}

fn ids(jobs: &[BenchmarkJob]) -> Vec<&str> {
    jobs.iter().map(|j| j.job_id.as_str()).collect()
}

/// A meshbench.result.v1 document as a run produces it: real HDR histograms (about ten
/// kilobytes of base64) and a per-second timeline.
fn realistic_result() -> (serde_json::Value, JobSummary) {
    let mut latency = new_histogram();
    let mut service = new_histogram();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = 80 + (x % 2_000) * (1 + (x >> 32) % 300);
        record_us(&mut latency, v);
        record_us(&mut service, v / 2 + 40);
    }
    let latency_us = summarize(&latency);
    let timeline = (0..60)
        .map(|second| TimelineEntry {
            second,
            requests: 3_333 + second,
            errors: second % 3,
            p50_us: 950 + second,
            p99_us: 8_000 + 7 * second,
            p90_us: 0,
            p999_us: 0,
            mean_us: 0.0,
            requested: None,
        })
        .collect();
    let result = BenchmarkResult {
        schema: RESULT_SCHEMA.to_string(),
        spec: BenchmarkSpec::closed_get("http://echo.bench.svc:8080/"),
        model: "closed".to_string(),
        started_at: datetime!(2025-06-01 12:00:05.250 UTC),
        ended_at: datetime!(2025-06-01 12:01:05.250 UTC),
        duration_s: 60.000_312,
        requests: 200_000,
        errors: 17,
        rps: 200_000.0 / 60.000_312,
        requested_rps: None,
        latency_us,
        service_time_us: summarize(&service),
        status_codes: BTreeMap::from([("200".to_string(), 199_983)]),
        error_kinds: BTreeMap::from([("timeout".to_string(), 17)]),
        bytes_sent: 21_400_000,
        bytes_received: 48_000_000,
        timeline,
        histogram: encode_base64(&latency).expect("encode"),
        service_histogram: encode_base64(&service).expect("encode"),
        loadgen: LoadgenInfo {
            threads: 2,
            connections: 50,
            cpu_s: 41.37,
            cpu_user_s: 30.1,
            cpu_system_s: 11.27,
            max_rss_bytes: 37_748_736,
            saturated: false,
            saturation_reasons: Vec::new(),
            send_lag_us: None,
            version: None,
            host: None,
            client: None,
        },
        websocket: None,
        grpc: None,
        ml: None,
        kernel: None,
        kernel_hops: Vec::new(),
        lab: None,
        cluster: None,
        generators: None,
        interval_histograms: Vec::new(),
    };
    let summary = JobSummary {
        requests: result.requests,
        errors: result.errors,
        rps: result.rps,
        p50_us: latency_us.p50,
        p90_us: latency_us.p90,
        p99_us: latency_us.p99,
        p999_us: latency_us.p999,
        max_us: latency_us.max,
    };
    (serde_json::to_value(&result).expect("serialize"), summary)
}

// ---------------------------------------------------------------------------------------
// Bodies, run on both backends

async fn insert_and_get_round_trip_every_field(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    let full = BenchmarkJob {
        job_id: "5b0c4c52-6a9e-4c59-9d1f-0d9f1f6a2b11".to_string(),
        status: JobStatus::Completed,
        test_type: TestType::Grpc,
        mesh_type: "istio_ambient".to_string(),
        namespace: "bench-ns".to_string(),
        // Nanoseconds and a non-UTC offset: the instant is what must survive.
        created_at: datetime!(2025-06-01 14:00:00.123456789 +02:00),
        started_at: Some(datetime!(2025-06-01 12:00:01.000001 UTC)),
        completed_at: Some(datetime!(2025-06-01 12:01:01.999999999 UTC)),
        progress: 0.75,
        error: Some("partial: 3 connections reset — ünïcödé kept".to_string()),
        request: json!({
            "test_type": "grpc",
            "mesh_type": "istio_ambient",
            "namespace": "bench-ns",
            "duration": 60,
            "concurrent_connections": 50,
            "headers": [["x-a", "1"]],
            "rate": 1234.5678,
            "nested": {"null": null, "list": [1, 2.5, "three", true]}
        }),
        summary: Some(summary(950, 8_100, 9_876.543_21)),
        attempts: 3,
        parent_id: None,
        series: None,
        invalid_reasons: Vec::new(),
    };
    store.insert_job(&full).await.expect("insert full");
    let got = store
        .get_job(&full.job_id)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, full);
    assert_eq!(
        got.created_at.unix_timestamp_nanos(),
        full.created_at.unix_timestamp_nanos()
    );

    let bare = job("job-bare", T0);
    store.insert_job(&bare).await.expect("insert bare");
    let got = store
        .get_job("job-bare")
        .await
        .expect("get")
        .expect("found");
    assert_eq!(got, bare);
    assert_eq!(got.summary, None);
    assert_eq!(got.started_at, None);

    assert_eq!(store.get_job("no-such-job").await.expect("get"), None);
}

async fn duplicate_insert_is_a_conflict(store: Arc<dyn Store>) {
    let first = job("job-dup", T0);
    store.insert_job(&first).await.expect("insert");
    let mut second = job("job-dup", T0 + Duration::minutes(1));
    second.mesh_type = "linkerd".to_string();
    match store.insert_job(&second).await {
        Err(Error::Conflict { job_id }) => assert_eq!(job_id, "job-dup"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.get_job("job-dup").await.unwrap(), Some(first));
    assert_eq!(store.count_jobs(&JobFilter::default()).await.unwrap(), 1);

    for bad in ["../escape", "a/b", ""] {
        let err = store.insert_job(&job(bad, T0)).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    field: "job_id",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

async fn list_filters_newest_first_with_pagination(store: Arc<dyn Store>) {
    // (id, minutes after T0, status, test type, mesh, namespace)
    let specs = [
        (
            "j00",
            0,
            JobStatus::Completed,
            TestType::Http,
            "baseline",
            "ns-a",
        ),
        (
            "j01",
            1,
            JobStatus::Completed,
            TestType::Http,
            "istio",
            "ns-a",
        ),
        ("j02", 2, JobStatus::Failed, TestType::Grpc, "istio", "ns-b"),
        (
            "j03",
            3,
            JobStatus::Running,
            TestType::Http,
            "linkerd",
            "ns-a",
        ),
        (
            "j04",
            4,
            JobStatus::Pending,
            TestType::Websocket,
            "baseline",
            "ns-b",
        ),
        (
            "j05",
            5,
            JobStatus::Completed,
            TestType::Grpc,
            "baseline",
            "ns-b",
        ),
        (
            "j06",
            6,
            JobStatus::Cancelled,
            TestType::Ml,
            "cilium",
            "ns-c",
        ),
        (
            "j07",
            7,
            JobStatus::Completed,
            TestType::Http,
            "istio",
            "ns-c",
        ),
        (
            "j08",
            8,
            JobStatus::Pending,
            TestType::Http,
            "istio",
            "ns-a",
        ),
        (
            "j09",
            9,
            JobStatus::Completed,
            TestType::Http,
            "baseline",
            "ns-a",
        ),
    ];
    // Inserted out of order: the order of a listing comes from created_at.
    for &(id, minute, status, test_type, mesh, ns) in
        specs.iter().rev().step_by(2).chain(specs.iter().step_by(2))
    {
        let mut j = job(id, T0 + Duration::minutes(minute));
        j.status = status;
        j.test_type = test_type;
        j.mesh_type = mesh.to_string();
        j.namespace = ns.to_string();
        store.insert_job(&j).await.expect("insert");
    }

    let all = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(
        ids(&all),
        ["j09", "j08", "j07", "j06", "j05", "j04", "j03", "j02", "j01", "j00"]
    );

    let cases: Vec<(JobFilter, Vec<&str>)> = vec![
        (
            JobFilter {
                status: Some(JobStatus::Completed),
                ..Default::default()
            },
            vec!["j09", "j07", "j05", "j01", "j00"],
        ),
        (
            JobFilter {
                test_type: Some(TestType::Grpc),
                ..Default::default()
            },
            vec!["j05", "j02"],
        ),
        (
            JobFilter {
                mesh_type: Some("istio".into()),
                ..Default::default()
            },
            vec!["j08", "j07", "j02", "j01"],
        ),
        (
            JobFilter {
                namespace: Some("ns-b".into()),
                ..Default::default()
            },
            vec!["j05", "j04", "j02"],
        ),
        (
            // since is inclusive, until exclusive
            JobFilter {
                since: Some(T0 + Duration::minutes(3)),
                until: Some(T0 + Duration::minutes(6)),
                ..Default::default()
            },
            vec!["j05", "j04", "j03"],
        ),
        (
            JobFilter {
                status: Some(JobStatus::Completed),
                test_type: Some(TestType::Http),
                mesh_type: Some("baseline".into()),
                namespace: Some("ns-a".into()),
                since: Some(T0),
                until: Some(T0 + Duration::hours(1)),
                ..Default::default()
            },
            vec!["j09", "j00"],
        ),
        (
            JobFilter {
                mesh_type: Some("consul".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (filter, expected) in cases {
        let listed = store.list_jobs(&filter).await.unwrap();
        assert_eq!(ids(&listed), expected, "{filter:?}");
        let counted = store.count_jobs(&filter).await.unwrap();
        assert_eq!(counted, expected.len() as u64, "{filter:?}");
    }

    // Pages of 4 walk the whole list exactly once; count ignores limit and offset.
    let mut walked = Vec::new();
    for page in 0..3 {
        let filter = JobFilter {
            limit: Some(4),
            offset: Some(page * 4),
            ..Default::default()
        };
        let jobs = store.list_jobs(&filter).await.unwrap();
        assert_eq!(jobs.len(), if page < 2 { 4 } else { 2 });
        assert_eq!(store.count_jobs(&filter).await.unwrap(), 10);
        walked.extend(jobs.into_iter().map(|j| j.job_id));
    }
    assert_eq!(walked, ids(&all));

    let page = JobFilter {
        status: Some(JobStatus::Completed),
        limit: Some(2),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(&store.list_jobs(&page).await.unwrap()), ["j07", "j05"]);
    let past_the_end = JobFilter {
        offset: Some(50),
        ..Default::default()
    };
    assert!(store.list_jobs(&past_the_end).await.unwrap().is_empty());
}

async fn list_default_page_size(store: Arc<dyn Store>) {
    for i in 0..105 {
        store
            .insert_job(&job(&format!("job-{i:03}"), T0 + Duration::seconds(i)))
            .await
            .unwrap();
    }
    let page = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0].job_id, "job-104");
    assert_eq!(page[99].job_id, "job-005");
    let huge = JobFilter {
        limit: Some(u32::MAX),
        ..Default::default()
    };
    assert_eq!(store.list_jobs(&huge).await.unwrap().len(), 105);
    assert_eq!(store.count_jobs(&JobFilter::default()).await.unwrap(), 105);
}

/// Every kind of job moves through the same compare-and-set.
async fn transition_is_compare_and_set(store: Arc<dyn Store>) {
    for kind in JobKind::ALL {
        cas_of(&store, kind).await;
    }
}

/// Moves a pending job to running, as a worker's claim does with `update`.
async fn start_running(
    store: &Arc<dyn Store>,
    kind: JobKind,
    id: &str,
    update: &JobUpdate,
) -> JobState {
    let from = [JobStatus::Pending];
    let taken = store
        .transition(kind, id, &from, JobStatus::Running, update)
        .await;
    taken.unwrap().expect("pending -> running")
}

/// Stores a pending job of `kind` named `id`.
async fn insert_pending(store: &Arc<dyn Store>, kind: JobKind, id: &str) {
    match kind {
        JobKind::Benchmark => store.insert_job(&job(id, T0)).await.unwrap(),
        JobKind::Probe => store.insert_probe_job(&probe(id, T0)).await.unwrap(),
    }
}

async fn cas_of(store: &Arc<dyn Store>, kind: JobKind) {
    let id = |name: &str| format!("{kind}-{name}");
    insert_pending(store, kind, &id("job-cas")).await;
    let started = T0 + Duration::seconds(5);
    let take = JobUpdate {
        started_at: Some(started),
        progress: Some(0.0),
        increment_attempts: true,
        ..Default::default()
    };

    let running = store
        .transition(
            kind,
            &id("job-cas"),
            &[JobStatus::Pending],
            JobStatus::Running,
            &take,
        )
        .await
        .unwrap()
        .expect("pending -> running succeeds");
    assert_eq!(running.status, JobStatus::Running);
    assert_eq!(running.started_at, Some(started));
    assert_eq!(running.attempts, 1);
    assert_eq!(
        store.get_state(kind, &id("job-cas")).await.unwrap(),
        Some(running.clone())
    );

    // The same move again finds the job no longer pending.
    let again = store
        .transition(
            kind,
            &id("job-cas"),
            &[JobStatus::Pending],
            JobStatus::Running,
            &take,
        )
        .await
        .unwrap();
    assert_eq!(again, None);

    // A user cancels; the worker's completion then loses.
    let cancel = JobUpdate {
        completed_at: Some(T0 + Duration::seconds(20)),
        error: Some("cancelled by user".into()),
        ..Default::default()
    };
    let cancelled = store
        .transition(
            kind,
            &id("job-cas"),
            &[JobStatus::Pending, JobStatus::Running],
            JobStatus::Cancelled,
            &cancel,
        )
        .await
        .unwrap()
        .expect("running -> cancelled succeeds");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("cancelled by user"));
    // Fields not in the update keep their value.
    assert_eq!(cancelled.started_at, Some(started));
    assert_eq!(cancelled.attempts, 1);

    let complete = JobUpdate {
        completed_at: Some(T0 + Duration::seconds(65)),
        progress: Some(1.0),
        ..Default::default()
    };
    let late = store
        .transition(
            kind,
            &id("job-cas"),
            &[JobStatus::Running],
            JobStatus::Completed,
            &complete,
        )
        .await
        .unwrap();
    assert_eq!(late, None);
    let stored = store
        .get_state(kind, &id("job-cas"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, JobStatus::Cancelled);
    assert_eq!(stored.completed_at, Some(T0 + Duration::seconds(20)));

    // Moves the state machine forbids from every given status are refused without
    // touching the job.
    for (from, to) in [
        (vec![JobStatus::Cancelled], JobStatus::Running),
        (vec![JobStatus::Pending], JobStatus::Completed),
        (
            vec![JobStatus::Completed, JobStatus::Failed],
            JobStatus::Cancelled,
        ),
        (vec![], JobStatus::Running),
    ] {
        let err = store
            .transition(kind, &id("job-cas"), &from, to, &JobUpdate::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTransition { .. }), "{err:?}");
    }
    assert_eq!(
        store.get_state(kind, &id("job-cas")).await.unwrap(),
        Some(stored)
    );

    // Of several expected statuses only those that may become `to` match: a pending job
    // is never marked completed, while a running one is.
    insert_pending(store, kind, &id("job-mixed")).await;
    let from = [JobStatus::Running, JobStatus::Pending];
    let skipped = store
        .transition(
            kind,
            &id("job-mixed"),
            &from,
            JobStatus::Completed,
            &complete,
        )
        .await
        .unwrap();
    assert_eq!(skipped, None);
    assert_eq!(
        store
            .get_state(kind, &id("job-mixed"))
            .await
            .unwrap()
            .unwrap()
            .status,
        JobStatus::Pending
    );
    start_running(store, kind, &id("job-mixed"), &take).await;
    let completed = store
        .transition(
            kind,
            &id("job-mixed"),
            &from,
            JobStatus::Completed,
            &complete,
        )
        .await
        .unwrap()
        .expect("running -> completed");
    assert_eq!(completed.status, JobStatus::Completed);
    assert_eq!(completed.progress, 1.0);

    // A worker that died: running goes back to pending, and the next take counts.
    insert_pending(store, kind, &id("job-requeue")).await;
    start_running(store, kind, &id("job-requeue"), &take).await;
    store
        .transition(
            kind,
            &id("job-requeue"),
            &[JobStatus::Running],
            JobStatus::Pending,
            &JobUpdate::default(),
        )
        .await
        .unwrap()
        .unwrap();
    let retaken = start_running(store, kind, &id("job-requeue"), &take).await;
    assert_eq!(retaken.attempts, 2);

    // An unknown job matches no status.
    let missing = store
        .transition(
            kind,
            "no-such-job",
            &[JobStatus::Pending],
            JobStatus::Running,
            &take,
        )
        .await
        .unwrap();
    assert_eq!(missing, None);
}

async fn concurrent_takes_have_one_winner(store: Arc<dyn Store>) {
    store.insert_job(&job("job-race", T0)).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let take = JobUpdate {
                    started_at: Some(OffsetDateTime::now_utc()),
                    increment_attempts: true,
                    ..Default::default()
                };
                store
                    .transition(
                        JobKind::Benchmark,
                        "job-race",
                        &[JobStatus::Pending],
                        JobStatus::Running,
                        &take,
                    )
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task").expect("transition").is_some() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    let stored = store.get_job("job-race").await.unwrap().unwrap();
    assert_eq!(stored.status, JobStatus::Running);
    assert_eq!(stored.attempts, 1);
}

async fn result_round_trip_and_listing_without_it(store: Arc<dyn Store>) {
    let (result, summary) = realistic_result();
    let histogram_len = result["histogram"].as_str().unwrap().len();
    assert!(histogram_len > 5_000, "histogram is {histogram_len} bytes");

    let mut j = job("job-result", T0);
    j.status = JobStatus::Completed;
    store.insert_job(&j).await.unwrap();
    store
        .insert_job(&job("job-other", T0 + Duration::seconds(1)))
        .await
        .unwrap();
    assert_eq!(store.get_result("job-result").await.unwrap(), None);

    store
        .save_result("job-result", &result, &summary, &[])
        .await
        .unwrap();
    assert_eq!(
        store.get_result("job-result").await.unwrap(),
        Some(result.clone())
    );
    // The stored result is a valid meshbench.result.v1 document.
    let back: BenchmarkResult =
        serde_json::from_value(store.get_result("job-result").await.unwrap().unwrap()).unwrap();
    assert_eq!(serde_json::to_value(&back).unwrap(), result);

    // The job row carries the headline numbers, for lists and summaries.
    let listed = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(ids(&listed), ["job-other", "job-result"]);
    assert_eq!(listed[1].summary, Some(summary));
    assert_eq!(listed[0].summary, None);
    assert_eq!(
        store.get_job("job-result").await.unwrap().unwrap().summary,
        Some(summary)
    );

    // Saving again replaces both.
    let mut second = result.clone();
    second["errors"] = json!(18);
    let second_summary = JobSummary {
        errors: 18,
        ..summary
    };
    store
        .save_result("job-result", &second, &second_summary, &[])
        .await
        .unwrap();
    assert_eq!(store.get_result("job-result").await.unwrap(), Some(second));
    assert_eq!(
        store.get_job("job-result").await.unwrap().unwrap().summary,
        Some(second_summary)
    );

    let err = store
        .save_result("no-such-job", &result, &summary, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound { what: "job", .. }),
        "{err:?}"
    );
    assert_eq!(store.get_result("no-such-job").await.unwrap(), None);
}

async fn set_progress_only_touches_unfinished_jobs(store: Arc<dyn Store>) {
    let mut running = job("job-running", T0);
    running.status = JobStatus::Running;
    store.insert_job(&running).await.unwrap();
    let mut done = job("job-done", T0);
    done.status = JobStatus::Completed;
    done.progress = 1.0;
    store.insert_job(&done).await.unwrap();

    // Stored as given, clamped to 1.
    for (set, stored) in [(0.42, 0.42), (1.7, 1.0)] {
        let kind = JobKind::Benchmark;
        store.set_progress(kind, "job-running", set).await.unwrap();
        let running = store.get_job("job-running").await.unwrap().unwrap();
        assert_eq!(running.progress, stored);
    }
    store
        .set_progress(JobKind::Benchmark, "job-done", 0.5)
        .await
        .unwrap();
    assert_eq!(
        store.get_job("job-done").await.unwrap().unwrap().progress,
        1.0
    );

    let err = store
        .set_progress(JobKind::Benchmark, "no-such-job", 0.5)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    let err = store
        .set_progress(JobKind::Benchmark, "job-running", f64::NAN)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Invalid {
                field: "progress",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn count_by_status_counts_every_status(store: Arc<dyn Store>) {
    let empty = store.count_by_status().await.unwrap();
    assert_eq!(
        empty,
        JobStatus::ALL.iter().map(|&s| (s, 0)).collect::<Vec<_>>()
    );

    let statuses = [
        JobStatus::Pending,
        JobStatus::Pending,
        JobStatus::Pending,
        JobStatus::Running,
        JobStatus::Completed,
        JobStatus::Completed,
        JobStatus::Cancelled,
    ];
    for (i, status) in statuses.into_iter().enumerate() {
        let mut j = job(&format!("job-{i}"), T0 + Duration::seconds(i as i64));
        j.status = status;
        store.insert_job(&j).await.unwrap();
    }
    assert_eq!(
        store.count_by_status().await.unwrap(),
        vec![
            (JobStatus::Pending, 3),
            (JobStatus::Running, 1),
            (JobStatus::Completed, 2),
            (JobStatus::Failed, 0),
            (JobStatus::Cancelled, 1),
        ]
    );
}

async fn completed_summaries_for_metrics(store: Arc<dyn Store>) {
    let rows = [
        (
            "s0",
            JobStatus::Completed,
            TestType::Http,
            "baseline",
            Some(summary(900, 5_000, 10_000.0)),
        ),
        (
            "s1",
            JobStatus::Completed,
            TestType::Http,
            "istio",
            Some(summary(1_400, 9_000, 8_000.0)),
        ),
        (
            "s2",
            JobStatus::Completed,
            TestType::Grpc,
            "istio",
            Some(summary(1_100, 7_000, 9_000.0)),
        ),
        (
            "s3",
            JobStatus::Completed,
            TestType::Http,
            "baseline",
            Some(summary(950, 5_200, 9_900.5)),
        ),
        // Completed but no result saved yet: left out.
        ("s4", JobStatus::Completed, TestType::Http, "linkerd", None),
        // Has numbers but did not complete: left out.
        (
            "s5",
            JobStatus::Cancelled,
            TestType::Http,
            "istio",
            Some(summary(1, 2, 3.0)),
        ),
    ];
    for (i, (id, status, test_type, mesh, s)) in rows.iter().enumerate() {
        let mut j = job(id, T0 + Duration::seconds(i as i64));
        j.status = *status;
        j.test_type = *test_type;
        j.mesh_type = mesh.to_string();
        store.insert_job(&j).await.unwrap();
        if let Some(s) = s {
            store
                .save_result(id, &json!({"schema": RESULT_SCHEMA}), s, &[])
                .await
                .unwrap();
        }
    }

    let all = store
        .completed_summaries(&JobFilter::default())
        .await
        .unwrap();
    assert_eq!(
        all,
        vec![
            (TestType::Http, "baseline".to_string(), rows[0].4.unwrap()),
            (TestType::Http, "istio".to_string(), rows[1].4.unwrap()),
            (TestType::Grpc, "istio".to_string(), rows[2].4.unwrap()),
            (TestType::Http, "baseline".to_string(), rows[3].4.unwrap()),
        ]
    );

    // The filter narrows; its status, limit and offset do not apply.
    let istio = JobFilter {
        mesh_type: Some("istio".into()),
        status: Some(JobStatus::Cancelled),
        limit: Some(1),
        offset: Some(5),
        ..Default::default()
    };
    let got = store.completed_summaries(&istio).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|(_, mesh, _)| mesh == "istio"));
    let http_since = JobFilter {
        test_type: Some(TestType::Http),
        since: Some(T0 + Duration::seconds(1)),
        ..Default::default()
    };
    let got = store.completed_summaries(&http_since).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|(_, m, s)| (m.as_str(), s.p50_us))
            .collect::<Vec<_>>(),
        [("istio", 1_400), ("baseline", 950)]
    );

    // The same jobs aggregated by the database, per (test type, mesh type).
    let stats = store.completed_stats(&JobFilter::default()).await.unwrap();
    let keys: Vec<(TestType, &str, u64)> = stats
        .iter()
        .map(|g| (g.test_type, g.mesh_type.as_str(), g.runs))
        .collect();
    // Ordered by the stored names: "grpc" before "http".
    assert_eq!(
        keys,
        [
            (TestType::Grpc, "istio", 1),
            (TestType::Http, "baseline", 2),
            (TestType::Http, "istio", 1)
        ]
    );
    let baseline = stats
        .iter()
        .find(|g| g.test_type == TestType::Http && g.mesh_type == "baseline")
        .unwrap();
    assert_eq!(baseline.requests, 1_200_000);
    assert_eq!(baseline.errors, 24);
    assert_eq!((baseline.p50_us.min, baseline.p50_us.max), (900.0, 950.0));
    assert!((baseline.p50_us.mean - 925.0).abs() < 1e-6);
    // Sample stdev of {900, 950} is 35.355…
    assert!(
        (baseline.p50_us.stdev - 35.355_339).abs() < 1e-3,
        "{:?}",
        baseline.p50_us
    );
    assert!((baseline.rps.mean - 9_950.25).abs() < 1e-6);
    let istio_only = JobFilter {
        mesh_type: Some("istio".into()),
        test_type: Some(TestType::Http),
        ..Default::default()
    };
    let got = store.completed_stats(&istio_only).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].p50_us.stdev, 0.0);
    assert_eq!(got[0].p99_us.mean, 9_000.0);
}

async fn probe_jobs_and_reports(store: Arc<dyn Store>) {
    let probe = ProbeJob {
        probe_id: "probe-1".to_string(),
        status: JobStatus::Completed,
        duration: 60,
        output_format: "json".to_string(),
        created_at: T0,
        started_at: Some(T0 + Duration::milliseconds(1)),
        completed_at: Some(T0 + Duration::seconds(61)),
        error: None,
        result: Some(json!({"tcp_connect_us": {"p50": 31, "p99": 58}})),
        request: None,
        attempts: 1,
        progress: 1.0,
    };
    store.insert_probe_job(&probe).await.unwrap();
    assert_eq!(
        store.get_probe_job("probe-1").await.unwrap(),
        Some(probe.clone())
    );
    let bare = ProbeJob {
        probe_id: "probe-2".to_string(),
        status: JobStatus::Pending,
        started_at: None,
        completed_at: None,
        result: None,
        error: None,
        ..probe.clone()
    };
    store.insert_probe_job(&bare).await.unwrap();
    assert_eq!(store.get_probe_job("probe-2").await.unwrap(), Some(bare));
    assert!(matches!(
        store.insert_probe_job(&probe).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(store.get_probe_job("nope").await.unwrap(), None);

    let report = Report {
        report_id: "report-1".to_string(),
        title: "Istio vs baseline, June".to_string(),
        job_ids: vec!["j1".to_string(), "j2".to_string()],
        format: "html".to_string(),
        created_at: T0,
        path: Some("/var/lib/meshbench/reports/report-1.html".to_string()),
        share_token: Some("tok-abc".to_string()),
        share_expires_at: None,
        share_revoked_at: None,
    };
    store.insert_report(&report).await.unwrap();
    assert_eq!(
        store.get_report("report-1").await.unwrap(),
        Some(report.clone())
    );
    let unshared = Report {
        report_id: "report-2".to_string(),
        path: None,
        share_token: None,
        share_expires_at: None,
        share_revoked_at: None,
        job_ids: Vec::new(),
        ..report.clone()
    };
    store.insert_report(&unshared).await.unwrap();
    assert_eq!(store.get_report("report-2").await.unwrap(), Some(unshared));
    // Same id, then a new id reusing a share token: both refused.
    assert!(matches!(
        store.insert_report(&report).await,
        Err(Error::Conflict { .. })
    ));
    let stolen_token = Report {
        report_id: "report-3".to_string(),
        ..report
    };
    assert!(matches!(
        store.insert_report(&stolen_token).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(store.get_report("report-3").await.unwrap(), None);
}

async fn list_sorts_by_every_key_both_ways(store: Arc<dyn Store>) {
    let at = |minutes: i64| Some(T0 + Duration::minutes(minutes));
    // (id, created minute, started, completed, status, test type, mesh, namespace); s4 and
    // s5 share a creation time, so the tie-breaker shows.
    let specs = [
        (
            "s1",
            1,
            at(10),
            at(20),
            JobStatus::Completed,
            TestType::Http,
            "istio",
            "b",
        ),
        (
            "s2",
            2,
            None,
            None,
            JobStatus::Pending,
            TestType::Grpc,
            "baseline",
            "a",
        ),
        (
            "s3",
            3,
            at(5),
            None,
            JobStatus::Running,
            TestType::Http,
            "linkerd",
            "c",
        ),
        (
            "s4",
            4,
            at(6),
            at(7),
            JobStatus::Failed,
            TestType::Ml,
            "baseline",
            "b",
        ),
        (
            "s5",
            4,
            None,
            at(8),
            JobStatus::Cancelled,
            TestType::Websocket,
            "cilium",
            "a",
        ),
    ];
    for (id, created, started, completed, status, test_type, mesh, ns) in specs {
        let mut j = job(id, T0 + Duration::minutes(created));
        j.started_at = started;
        j.completed_at = completed;
        j.status = status;
        j.test_type = test_type;
        j.mesh_type = mesh.to_string();
        j.namespace = ns.to_string();
        store.insert_job(&j).await.unwrap();
    }
    use JobSort::{CompletedAt, CreatedAt, MeshType, Namespace, StartedAt, Status};
    use SortOrder::{Asc, Desc};
    let cases: [(Option<JobSort>, Option<SortOrder>, [&str; 5]); 14] = [
        (None, None, ["s5", "s4", "s3", "s2", "s1"]),
        (Some(CreatedAt), Some(Asc), ["s1", "s2", "s3", "s4", "s5"]),
        (None, Some(Asc), ["s1", "s2", "s3", "s4", "s5"]),
        // Unset times last in both directions.
        (Some(StartedAt), Some(Asc), ["s3", "s4", "s1", "s2", "s5"]),
        (Some(StartedAt), Some(Desc), ["s1", "s4", "s3", "s5", "s2"]),
        (Some(CompletedAt), Some(Asc), ["s4", "s5", "s1", "s2", "s3"]),
        (Some(CompletedAt), None, ["s1", "s5", "s4", "s3", "s2"]),
        (Some(Status), Some(Asc), ["s5", "s1", "s4", "s2", "s3"]),
        (Some(Status), Some(Desc), ["s3", "s2", "s4", "s1", "s5"]),
        (
            Some(JobSort::TestType),
            Some(Asc),
            ["s2", "s1", "s3", "s4", "s5"],
        ),
        (
            Some(JobSort::TestType),
            Some(Desc),
            ["s5", "s4", "s3", "s1", "s2"],
        ),
        (Some(MeshType), Some(Asc), ["s2", "s4", "s5", "s1", "s3"]),
        (Some(Namespace), Some(Asc), ["s2", "s5", "s1", "s4", "s3"]),
        (Some(Namespace), Some(Desc), ["s3", "s4", "s1", "s5", "s2"]),
    ];
    for (sort, order, expected) in cases {
        let filter = JobFilter {
            sort,
            order,
            ..Default::default()
        };
        let listed = store.list_jobs(&filter).await.unwrap();
        assert_eq!(ids(&listed), expected, "{sort:?} {order:?}");
    }

    // Sorting composes with filters and pages.
    let page = JobFilter {
        sort: Some(MeshType),
        order: Some(Asc),
        limit: Some(2),
        offset: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(&store.list_jobs(&page).await.unwrap()), ["s4", "s5"]);
    assert_eq!(store.count_jobs(&page).await.unwrap(), 5);
    let filtered = JobFilter {
        namespace: Some("a".into()),
        sort: Some(StartedAt),
        order: Some(Desc),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.list_jobs(&filtered).await.unwrap()),
        ["s5", "s2"]
    );
}

async fn reports_list_newest_first_and_resolve_share_tokens(store: Arc<dyn Store>) {
    assert_eq!(store.count_reports().await.unwrap(), 0);
    assert!(store.list_reports(10, 0).await.unwrap().is_empty());
    let report = |id: &str, minute: i64, token: Option<&str>| Report {
        report_id: id.to_string(),
        title: format!("report {id}"),
        job_ids: vec!["j1".to_string()],
        format: "csv".to_string(),
        created_at: T0 + Duration::minutes(minute),
        path: Some(format!("results/reports/{id}.csv")),
        share_token: token.map(str::to_string),
        share_expires_at: None,
        share_revoked_at: None,
    };
    let all = [
        report("r-a", 0, Some("tok-a")),
        report("r-b", 5, Some("tok-b")),
        report("r-c", 5, None),
        report("r-d", 2, Some("tok-d")),
    ];
    for r in &all {
        store.insert_report(r).await.unwrap();
    }
    let listed: Vec<String> = store
        .list_reports(10, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.report_id)
        .collect();
    // r-b and r-c share a time: the id breaks the tie, newest (largest) first.
    assert_eq!(listed, ["r-c", "r-b", "r-d", "r-a"]);
    let page = store.list_reports(2, 1).await.unwrap();
    assert_eq!(page, vec![all[1].clone(), all[3].clone()]);
    assert!(store.list_reports(10, 4).await.unwrap().is_empty());
    assert_eq!(store.list_reports(u32::MAX, 0).await.unwrap().len(), 4);
    assert_eq!(store.count_reports().await.unwrap(), 4);

    assert_eq!(
        store.get_report_by_share_token("tok-d").await.unwrap(),
        Some(all[3].clone())
    );
    assert_eq!(store.get_report_by_share_token("nope").await.unwrap(), None);
    assert_eq!(store.get_report_by_share_token("").await.unwrap(), None);
}

fn probe(id: &str, created_at: OffsetDateTime) -> ProbeJob {
    ProbeJob {
        probe_id: id.to_string(),
        status: JobStatus::Pending,
        duration: 30,
        output_format: "json".to_string(),
        created_at,
        started_at: None,
        completed_at: None,
        error: None,
        result: None,
        request: Some(json!({"duration": 30, "ports": [8080]})),
        attempts: 0,
        progress: 0.0,
    }
}

fn probe_ids(probes: &[ProbeJob]) -> Vec<&str> {
    probes.iter().map(|p| p.probe_id.as_str()).collect()
}

async fn probe_request_round_trips(store: Arc<dyn Store>) {
    let request = json!({
        "duration": 60,
        "output_format": "json",
        "ports": [8080, 9090],
        "pid": 4242,
        "cgroup": "/sys/fs/cgroup/kubepods.slice/pod-1",
        "namespace": "bench",
        "pod_filter": "app=fortio",
    });
    let with_request = ProbeJob {
        request: Some(request.clone()),
        ..probe("probe-req", T0)
    };
    store.insert_probe_job(&with_request).await.unwrap();
    let got = store.get_probe_job("probe-req").await.unwrap().unwrap();
    assert_eq!(got.request, Some(request));
    assert_eq!(got, with_request);

    let without = ProbeJob {
        request: None,
        ..probe("probe-noreq", T0)
    };
    store.insert_probe_job(&without).await.unwrap();
    assert_eq!(
        store.get_probe_job("probe-noreq").await.unwrap(),
        Some(without)
    );

    // A probe run serialised before `request` existed still deserialises.
    let mut old = serde_json::to_value(&with_request).unwrap();
    old.as_object_mut().unwrap().remove("request");
    let parsed: ProbeJob = serde_json::from_value(old).unwrap();
    assert_eq!(parsed.request, None);
}

async fn probe_result_is_kept_whatever_the_run_ends_as(store: Arc<dyn Store>) {
    let result = json!({"tcp_connect_us": {"p50": 31, "p99": 58}, "events": 1234});
    for (id, end) in [
        ("probe-done", JobStatus::Completed),
        ("probe-stopped", JobStatus::Cancelled),
    ] {
        store.insert_probe_job(&probe(id, T0)).await.unwrap();
        let start = JobUpdate {
            started_at: Some(T0 + Duration::seconds(1)),
            increment_attempts: true,
            ..Default::default()
        };
        start_running(&store, JobKind::Probe, id, &start).await;
        store.save_probe_result(id, &result).await.unwrap();
        let finish = JobUpdate {
            completed_at: Some(T0 + Duration::seconds(31)),
            ..Default::default()
        };
        store
            .transition(JobKind::Probe, id, &[JobStatus::Running], end, &finish)
            .await
            .unwrap()
            .unwrap();
        let stored = store.get_probe_job(id).await.unwrap().unwrap();
        assert_eq!(stored.status, end);
        assert_eq!(stored.result, Some(result.clone()));
        assert_eq!(stored.attempts, 1);
        assert_eq!(stored.request, probe(id, T0).request);
        assert_eq!(stored.completed_at, Some(T0 + Duration::seconds(31)));
    }
    let err = store
        .save_probe_result("no-such-probe", &result)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NotFound {
                what: "probe job",
                ..
            }
        ),
        "{err:?}"
    );
}

async fn cancel_is_a_flag_progress_reads(store: Arc<dyn Store>) {
    for kind in JobKind::ALL {
        let id = format!("{kind}-cancel");
        insert_pending(&store, kind, &id).await;
        assert!(!store.set_progress(kind, &id, 0.1).await.unwrap());
        let state = store.request_cancel(kind, &id).await.unwrap().unwrap();
        assert!(state.cancel_requested);
        assert_eq!(state.status, JobStatus::Pending);
        // The worker's next progress update hears it.
        assert!(store.set_progress(kind, &id, 0.2).await.unwrap());
        store
            .transition(
                kind,
                &id,
                &[JobStatus::Pending],
                JobStatus::Cancelled,
                &JobUpdate::default(),
            )
            .await
            .unwrap()
            .unwrap();
        // A finished job is not flagged again, but its state is still answered.
        let done = store.request_cancel(kind, &id).await.unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Cancelled);
        assert!(!store.set_progress(kind, &id, 0.3).await.unwrap());
        assert_eq!(
            store.request_cancel(kind, "no-such-job").await.unwrap(),
            None
        );
    }
}

async fn starts_with_a_key_are_stored_once(store: Arc<dyn Store>) {
    let first = [job("key-a", T0), job("key-b", T0)];
    let stored = store.insert_jobs(&first, Some("retry-1")).await.unwrap();
    assert_eq!(stored.ids, ["key-a", "key-b"]);
    assert!(!stored.replayed);
    // The retry makes nothing and names the first start's jobs.
    let again = store
        .insert_jobs(&[job("key-c", T0)], Some("retry-1"))
        .await
        .unwrap();
    assert_eq!(again.ids, ["key-a", "key-b"]);
    assert!(again.replayed);
    assert_eq!(store.get_job("key-c").await.unwrap(), None);
    // Keys are per kind; without a key nothing is remembered.
    let probe_start = store
        .insert_probe_job_once(&probe("key-p", T0), Some("retry-1"))
        .await
        .unwrap();
    assert!(!probe_start.replayed);
    let probe_again = store
        .insert_probe_job_once(&probe("key-q", T0), Some("retry-1"))
        .await
        .unwrap();
    assert_eq!(probe_again.ids, ["key-p"]);
    assert!(probe_again.replayed);
    // A conflicting id stores nothing, the key included.
    let err = store
        .insert_jobs(&[job("key-d", T0), job("key-a", T0)], Some("retry-2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err:?}");
    assert_eq!(store.get_job("key-d").await.unwrap(), None);
    let fresh = store
        .insert_jobs(&[job("key-e", T0)], Some("retry-2"))
        .await
        .unwrap();
    assert!(!fresh.replayed);
}

async fn withdrawn_starts_leave_nothing_behind(store: Arc<dyn Store>) {
    let ids = vec!["wd-a".to_string(), "wd-b".to_string()];
    store
        .insert_jobs(&[job("wd-a", T0), job("wd-b", T0)], Some("wd-key"))
        .await
        .unwrap();
    assert!(store
        .withdraw(JobKind::Benchmark, &ids, Some("wd-key"))
        .await
        .unwrap());
    assert_eq!(store.get_job("wd-a").await.unwrap(), None);
    assert_eq!(store.get_job("wd-b").await.unwrap(), None);
    // The key is free again: a retry starts afresh.
    let retry = store
        .insert_jobs(&[job("wd-c", T0), job("wd-d", T0)], Some("wd-key"))
        .await
        .unwrap();
    assert!(!retry.replayed);
    // One was taken meanwhile: the start stands, whole, and keeps its key.
    start_running(&store, JobKind::Benchmark, "wd-d", &JobUpdate::default()).await;
    let started = vec!["wd-c".to_string(), "wd-d".to_string()];
    assert!(!store
        .withdraw(JobKind::Benchmark, &started, Some("wd-key"))
        .await
        .unwrap());
    assert!(store.get_job("wd-c").await.unwrap().is_some());
    assert!(store.get_job("wd-d").await.unwrap().is_some());
    let replay = store
        .insert_jobs(&[job("wd-e", T0)], Some("wd-key"))
        .await
        .unwrap();
    assert!(replay.replayed);
    store.insert_probe_job(&probe("wd-p", T0)).await.unwrap();
    assert!(store
        .withdraw(JobKind::Probe, &["wd-p".to_string()], None)
        .await
        .unwrap());
    assert_eq!(store.get_probe_job("wd-p").await.unwrap(), None);
}

async fn a_transition_can_be_fenced_to_one_attempt(store: Arc<dyn Store>) {
    for kind in JobKind::ALL {
        let id = format!("{kind}-fenced");
        insert_pending(&store, kind, &id).await;
        let take = JobUpdate {
            increment_attempts: true,
            ..Default::default()
        };
        let from = [JobStatus::Pending];
        let first = store
            .transition(kind, &id, &from, JobStatus::Running, &take)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.attempts, 1);
        // Requeued and taken again by another worker: attempt 2.
        let back = JobUpdate {
            on_attempt: Some(1),
            ..Default::default()
        };
        store
            .transition(kind, &id, &[JobStatus::Running], JobStatus::Pending, &back)
            .await
            .unwrap()
            .unwrap();
        store
            .transition(kind, &id, &from, JobStatus::Running, &take)
            .await
            .unwrap()
            .unwrap();
        // The first worker's late finish no longer matches.
        let late = JobUpdate {
            on_attempt: Some(1),
            ..Default::default()
        };
        let running = [JobStatus::Running];
        assert_eq!(
            store
                .transition(kind, &id, &running, JobStatus::Completed, &late)
                .await
                .unwrap(),
            None
        );
        let current = JobUpdate {
            on_attempt: Some(2),
            ..Default::default()
        };
        let done = store
            .transition(kind, &id, &running, JobStatus::Completed, &current)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((done.status, done.attempts), (JobStatus::Completed, 2));
    }
}

async fn states_list_by_status_oldest_first(store: Arc<dyn Store>) {
    for kind in JobKind::ALL {
        for (n, name) in ["s-a", "s-b", "s-c"].iter().enumerate() {
            let id = format!("{kind}-{name}");
            match kind {
                JobKind::Benchmark => store
                    .insert_job(&job(&id, T0 + Duration::seconds(n as i64)))
                    .await
                    .unwrap(),
                JobKind::Probe => store
                    .insert_probe_job(&probe(&id, T0 + Duration::seconds(n as i64)))
                    .await
                    .unwrap(),
            }
        }
        start_running(&store, kind, &format!("{kind}-s-b"), &JobUpdate::default()).await;
        let ids = |states: Vec<meshbench_store::JobState>| -> Vec<String> {
            states.into_iter().map(|s| s.id).collect()
        };
        let open = store
            .states_in(kind, &[JobStatus::Pending, JobStatus::Running], 10, 0)
            .await
            .unwrap();
        assert!(open.iter().all(|s| s.kind == kind && s.request.is_some()));
        assert_eq!(
            ids(open),
            [
                format!("{kind}-s-a"),
                format!("{kind}-s-b"),
                format!("{kind}-s-c")
            ]
        );
        let page = store
            .states_in(kind, &[JobStatus::Pending], 1, 1)
            .await
            .unwrap();
        assert_eq!(ids(page), [format!("{kind}-s-c")]);
        assert!(store.states_in(kind, &[], 10, 0).await.unwrap().is_empty());
    }
}

async fn probe_jobs_list_newest_first_and_by_status(store: Arc<dyn Store>) {
    assert_eq!(store.count_probe_jobs().await.unwrap(), 0);
    assert!(store.list_probe_jobs(&[], 10, 0).await.unwrap().is_empty());
    assert!(store
        .list_probe_jobs(&[JobStatus::Running], MAX_LIST_LIMIT, 0)
        .await
        .unwrap()
        .is_empty());

    // p-b and p-c share a creation time, so the tie-breaker shows.
    let all = [
        probe("p-a", T0),
        probe("p-b", T0 + Duration::minutes(5)),
        probe("p-c", T0 + Duration::minutes(5)),
        probe("p-d", T0 + Duration::minutes(2)),
        probe("p-e", T0 + Duration::minutes(1)),
    ];
    for p in &all {
        store.insert_probe_job(p).await.unwrap();
    }
    let start = JobUpdate {
        started_at: Some(T0 + Duration::minutes(6)),
        ..Default::default()
    };
    for id in ["p-a", "p-c", "p-d"] {
        start_running(&store, JobKind::Probe, id, &start).await;
    }
    store
        .save_probe_result("p-d", &json!({"events": 1}))
        .await
        .unwrap();
    store
        .transition(
            JobKind::Probe,
            "p-d",
            &[JobStatus::Running],
            JobStatus::Completed,
            &JobUpdate {
                completed_at: Some(T0 + Duration::minutes(7)),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();

    let listed = store.list_probe_jobs(&[], 10, 0).await.unwrap();
    // Newest first; the id breaks the tie, largest first.
    assert_eq!(probe_ids(&listed), ["p-c", "p-b", "p-d", "p-e", "p-a"]);
    assert_eq!(
        listed[0],
        store.get_probe_job("p-c").await.unwrap().unwrap()
    );
    let page = store.list_probe_jobs(&[], 2, 1).await.unwrap();
    assert_eq!(probe_ids(&page), ["p-b", "p-d"]);
    assert_eq!(page[0], all[1]);
    assert_eq!(
        probe_ids(&store.list_probe_jobs(&[], 10, 4).await.unwrap()),
        ["p-a"]
    );
    assert!(store.list_probe_jobs(&[], 10, 5).await.unwrap().is_empty());
    assert!(store.list_probe_jobs(&[], 0, 0).await.unwrap().is_empty());
    assert_eq!(
        store.list_probe_jobs(&[], u32::MAX, 0).await.unwrap().len(),
        5
    );
    assert_eq!(store.count_probe_jobs().await.unwrap(), 5);

    let running = store
        .list_probe_jobs(&[JobStatus::Running], MAX_LIST_LIMIT, 0)
        .await
        .unwrap();
    assert_eq!(probe_ids(&running), ["p-c", "p-a"]);
    assert!(running.iter().all(|p| p.status == JobStatus::Running));
    let active = store
        .list_probe_jobs(&[JobStatus::Pending, JobStatus::Running], MAX_LIST_LIMIT, 0)
        .await
        .unwrap();
    assert_eq!(probe_ids(&active), ["p-c", "p-b", "p-e", "p-a"]);
    let done = store
        .list_probe_jobs(&[JobStatus::Completed], MAX_LIST_LIMIT, 0)
        .await
        .unwrap();
    assert_eq!(probe_ids(&done), ["p-d"]);
    assert_eq!(done[0].result, Some(json!({"events": 1})));
    assert!(store
        .list_probe_jobs(&[JobStatus::Cancelled], MAX_LIST_LIMIT, 0)
        .await
        .unwrap()
        .is_empty());
}

/// Listing probe runs is capped at [`MAX_LIST_LIMIT`], whatever is asked for (SQLite
/// only: it inserts more than a thousand rows).
#[tokio::test]
async fn sqlite_probe_listings_are_capped() {
    let dir = temp_dir("store");
    let store = SqliteStore::open_file(&dir.path().join("x.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let n = MAX_LIST_LIMIT as usize + 5;
    let mut tx = store.pool().begin().await.unwrap();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO ebpf_probe_jobs (probe_id, status, duration, output_format, created_at) \
             VALUES ($1, 'running', 10, 'json', $2)",
        )
        .bind(format!("p-{i:05}"))
        .bind(i as i64)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(store.count_probe_jobs().await.unwrap(), n as u64);
    let page = store.list_probe_jobs(&[], u32::MAX, 0).await.unwrap();
    assert_eq!(page.len(), MAX_LIST_LIMIT as usize);
    assert_eq!(page[0].probe_id, format!("p-{:05}", n - 1));
    assert_eq!(page[0].request, None);
    let running = store
        .list_probe_jobs(&[JobStatus::Running], MAX_LIST_LIMIT, 0)
        .await
        .unwrap();
    assert_eq!(running.len(), MAX_LIST_LIMIT as usize);
    assert_eq!(running[0].probe_id, format!("p-{:05}", n - 1));
    store.close().await;
}

async fn migrations_are_idempotent(store: Arc<dyn Store>) {
    store.insert_job(&job("job-kept", T0)).await.unwrap();
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    assert!(store.get_job("job-kept").await.unwrap().is_some());
}

// ---------------------------------------------------------------------------------------
// Backend-independent and SQLite-only tests

#[test]
fn result_files_are_written_and_paths_checked() {
    let dir = temp_dir("store");
    let (result, _) = realistic_result();
    let job_dir = meshbench_store::write_result_files(dir.path(), "job-files-1", &result).unwrap();
    assert_eq!(job_dir, dir.path().join("job-files-1"));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(job_dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(written, result);
    let hdr = std::fs::read_to_string(job_dir.join("histogram.hdr")).unwrap();
    assert_eq!(hdr, result["histogram"].as_str().unwrap());
    assert!(meshbench_core::histogram::decode_base64(&hdr).is_ok());
    assert!(job_dir.join("service_histogram.hdr").exists());
    // Writing again replaces the files.
    meshbench_store::write_result_files(dir.path(), "job-files-1", &json!({"x": 1})).unwrap();
    assert_eq!(
        std::fs::read_to_string(job_dir.join("result.json")).unwrap(),
        "{\n  \"x\": 1\n}"
    );

    for bad in ["../outside", "a/b", "..", ".", "a\\b", ""] {
        let err = meshbench_store::write_result_files(dir.path(), bad, &result).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Invalid {
                    field: "job_id",
                    ..
                }
            ),
            "{bad}: {err:?}"
        );
    }
    assert!(!dir.path().join("outside").exists());
    assert!(!dir.path().parent().unwrap().join("outside").exists());
}

#[tokio::test]
async fn unknown_database_url_scheme_is_refused() {
    let dir = temp_dir("store");
    let err = meshbench_store::open(Some("mysql://me:hunter2@db/meshbench"), dir.path())
        .await
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err:?}");
    assert!(text.contains("DATABASE_URL"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn sqlite_default_file_persists_across_opens() {
    let dir = temp_dir("store");
    let data_dir = dir.path().join("nested").join("data");
    {
        let store = meshbench_store::open(None, &data_dir).await.unwrap();
        store.migrate().await.unwrap();
        store.insert_job(&job("job-persist", T0)).await.unwrap();
        store.close().await;
    }
    assert!(data_dir.join("meshbench.db").exists());
    let store = meshbench_store::open(None, &data_dir).await.unwrap();
    store.migrate().await.unwrap();
    assert!(store.get_job("job-persist").await.unwrap().is_some());
    store.close().await;

    // The same file through a sqlite:// URL.
    let url = format!("sqlite://{}", data_dir.join("meshbench.db").display());
    let store = meshbench_store::open(Some(&url), Path::new("/nonexistent"))
        .await
        .unwrap();
    assert!(store.get_job("job-persist").await.unwrap().is_some());
    store.close().await;
}

#[tokio::test]
async fn sqlite_in_memory_url_works() {
    let store = meshbench_store::open(Some("sqlite::memory:"), Path::new("/nonexistent"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.insert_job(&job("job-mem", T0)).await.unwrap();
    assert_eq!(store.count_jobs(&JobFilter::default()).await.unwrap(), 1);
}

/// The listing reads only `benchmark_jobs`: a result that no longer decodes does not
/// disturb it, and the query plans use the indexes.
#[tokio::test]
async fn sqlite_listing_never_reads_results_and_uses_indexes() {
    let dir = temp_dir("store");
    let store = SqliteStore::open_file(&dir.path().join("x.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let mut j = job("job-corrupt", T0);
    j.status = JobStatus::Completed;
    store.insert_job(&j).await.unwrap();
    let (result, summary) = realistic_result();
    store
        .save_result("job-corrupt", &result, &summary, &[])
        .await
        .unwrap();
    sqlx::query("UPDATE benchmark_results SET result = 'not json'")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(matches!(
        store.get_result("job-corrupt").await,
        Err(Error::Corrupt(_))
    ));
    let listed = store.list_jobs(&JobFilter::default()).await.unwrap();
    assert_eq!(listed[0].summary, Some(summary));
    assert_eq!(
        store
            .completed_summaries(&JobFilter::default())
            .await
            .unwrap()
            .len(),
        1
    );

    for (sql, index) in [
        (
            "SELECT * FROM benchmark_jobs ORDER BY created_at DESC, job_id DESC LIMIT 100",
            "benchmark_jobs_created_idx",
        ),
        (
            "SELECT * FROM benchmark_jobs WHERE status = 'completed' \
             ORDER BY created_at DESC, job_id DESC LIMIT 100",
            "benchmark_jobs_status_idx",
        ),
        (
            "SELECT * FROM benchmark_jobs WHERE namespace = 'a' \
             ORDER BY created_at DESC, job_id DESC LIMIT 100",
            "benchmark_jobs_namespace_idx",
        ),
        (
            "SELECT COUNT(*) FROM benchmark_jobs WHERE mesh_type = 'istio' AND test_type = 'http'",
            "benchmark_jobs_mesh_idx",
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .fetch_all(store.pool())
                .await
                .unwrap();
        let plan: Vec<String> = plan.into_iter().map(|row| row.3).collect();
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{sql}: {plan:?}"
        );
    }
    store.close().await;
}

/// Series are read back in run order; invalid runs are stored, listed and left out of the
/// sums the summary reads; the sums follow every way a run comes to count (completed after
/// its result, a result saved for a row already completed, a result saved again) and agree
/// with adding up the rows.
async fn series_validity_and_kept_sums(store: Arc<dyn Store>) {
    use meshbench_core::SeriesPlace;
    use meshbench_store::SeriesColumn;
    let mut jobs = Vec::new();
    for (i, (series, order)) in [("s-a", 0), ("s-b", 1), ("s-b", 2), ("s-a", 3)]
        .into_iter()
        .enumerate()
    {
        let mut j = job(&format!("run-{i}"), T0 + Duration::seconds(i as i64));
        j.series = Some(SeriesPlace {
            series_id: series.into(),
            group: "g".into(),
            order,
        });
        j.mesh_type = if series == "s-a" { "baseline" } else { "istio" }.into();
        jobs.push(j);
    }
    for j in &jobs {
        store.insert_job(j).await.unwrap();
    }
    let a = store
        .series_runs(SeriesColumn::Series, "s-a")
        .await
        .unwrap();
    assert_eq!(
        a.iter().map(|j| j.job_id.as_str()).collect::<Vec<_>>(),
        ["run-0", "run-3"]
    );
    assert_eq!(a[1].series.as_ref().unwrap().order, 3);
    let g = store.series_runs(SeriesColumn::Group, "g").await.unwrap();
    assert_eq!(g.len(), 4);
    assert!(store
        .series_runs(SeriesColumn::Series, "nope")
        .await
        .unwrap()
        .is_empty());

    // The usual way: result saved, then completed.
    for (id, p50) in [("run-0", 1000), ("run-3", 1100)] {
        store
            .save_result(
                id,
                &json!({"schema": RESULT_SCHEMA}),
                &summary(p50, 5000, 900.0),
                &[],
            )
            .await
            .unwrap();
        complete(&store, id).await;
    }
    // Invalid: stored, listed with its reasons, not summed.
    store
        .save_result(
            "run-1",
            &json!({"schema": RESULT_SCHEMA}),
            &summary(9000, 50_000, 100.0),
            &["the load generator was the bottleneck".to_string()],
        )
        .await
        .unwrap();
    complete(&store, "run-1").await;
    let listed = store.get_job("run-1").await.unwrap().unwrap();
    assert_eq!(
        listed.invalid_reasons,
        ["the load generator was the bottleneck"]
    );
    // Completed first, result after (imports); then the result saved again.
    complete(&store, "run-2").await;
    store
        .save_result(
            "run-2",
            &json!({"schema": RESULT_SCHEMA}),
            &summary(1500, 6000, 800.0),
            &[],
        )
        .await
        .unwrap();
    store
        .save_result(
            "run-2",
            &json!({"schema": RESULT_SCHEMA}),
            &summary(1300, 6000, 800.0),
            &[],
        )
        .await
        .unwrap();

    let kept = store.completed_stats(&JobFilter::default()).await.unwrap();
    // A time window adds the rows up instead: the two must agree.
    let window = JobFilter {
        since: Some(T0 - Duration::days(1)),
        ..JobFilter::default()
    };
    let summed = store.completed_stats(&window).await.unwrap();
    let key = |g: &meshbench_store::GroupStats| {
        (g.mesh_type.clone(), g.runs, g.p50_us.mean.round() as i64)
    };
    assert_eq!(
        kept.iter().map(key).collect::<Vec<_>>(),
        summed.iter().map(key).collect::<Vec<_>>()
    );
    let baseline = kept.iter().find(|g| g.mesh_type == "baseline").unwrap();
    assert_eq!(baseline.runs, 2);
    assert!((baseline.p50_us.mean - 1050.0).abs() < 1e-6);
    assert!((baseline.p50_us.stdev - 70.710_678).abs() < 1e-3);
    let istio = kept.iter().find(|g| g.mesh_type == "istio").unwrap();
    assert_eq!(istio.runs, 1, "the invalid run is left out: {istio:?}");
    assert!(
        (istio.p50_us.mean - 1300.0).abs() < 1e-6,
        "the result saved again counts once"
    );
    assert_eq!(istio.config, baseline.config);
    let invalid = store.invalid_counts(&JobFilter::default()).await.unwrap();
    assert_eq!(invalid, [(TestType::Http, "istio".to_string(), 1)]);
}

/// Takes a pending job through running to completed.
async fn complete(store: &Arc<dyn Store>, id: &str) {
    for (from, to) in [
        (JobStatus::Pending, JobStatus::Running),
        (JobStatus::Running, JobStatus::Completed),
    ] {
        store
            .transition(JobKind::Benchmark, id, &[from], to, &JobUpdate::default())
            .await
            .unwrap()
            .unwrap();
    }
}

async fn users_are_added_listed_and_changed(store: Arc<dyn Store>) {
    assert!(store.list_users().await.unwrap().is_empty());
    let user = |name: &str, role: Role| StoredUser {
        user: User {
            username: name.to_string(),
            role,
            disabled: false,
            created_at: T0,
            updated_at: T0,
        },
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$salt-of-{name}$hash"),
    };
    store.insert_user(&user("bob", Role::Viewer)).await.unwrap();
    store
        .insert_user(&user("alice", Role::Admin))
        .await
        .unwrap();
    assert!(matches!(
        store.insert_user(&user("bob", Role::Admin)).await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        store.get_user("bob").await.unwrap(),
        Some(user("bob", Role::Viewer))
    );
    assert_eq!(store.get_user("carol").await.unwrap(), None);
    let names: Vec<String> = store
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    let changed = UserUpdate {
        password_hash: Some("$argon2id$new".into()),
        role: Some(Role::Operator),
        disabled: Some(true),
    };
    assert!(store.update_user("bob", &changed).await.unwrap());
    let bob = store.get_user("bob").await.unwrap().unwrap();
    assert_eq!(bob.password_hash, "$argon2id$new");
    assert_eq!((bob.user.role, bob.user.disabled), (Role::Operator, true));
    assert_eq!(bob.user.created_at, T0);
    assert!(bob.user.updated_at > T0);
    let enable = UserUpdate {
        disabled: Some(false),
        ..UserUpdate::default()
    };
    assert!(store.update_user("bob", &enable).await.unwrap());
    let bob = store.get_user("bob").await.unwrap().unwrap();
    assert_eq!(
        (bob.password_hash.as_str(), bob.user.disabled),
        ("$argon2id$new", false)
    );
    assert!(!store.update_user("carol", &enable).await.unwrap());
}

async fn share_links_keep_their_expiry_and_revocation(store: Arc<dyn Store>) {
    let report = Report {
        report_id: "r-share".to_string(),
        title: "shared".to_string(),
        job_ids: vec!["j1".to_string()],
        format: "csv".to_string(),
        created_at: T0,
        path: None,
        share_token: Some("tok-share".to_string()),
        share_expires_at: Some(T0 + Duration::days(7)),
        share_revoked_at: None,
    };
    store.insert_report(&report).await.unwrap();
    assert_eq!(
        store.get_report_by_share_token("tok-share").await.unwrap(),
        Some(report.clone())
    );
    let first = T0 + Duration::hours(1);
    assert!(store.revoke_share("r-share", first).await.unwrap());
    // A second revoke keeps the first time.
    assert!(store
        .revoke_share("r-share", first + Duration::hours(1))
        .await
        .unwrap());
    let revoked = store.get_report("r-share").await.unwrap().unwrap();
    assert_eq!(revoked.share_revoked_at, Some(first));
    assert_eq!(revoked.share_expires_at, Some(T0 + Duration::days(7)));
    assert!(!store.revoke_share("nothing", first).await.unwrap());
}

async fn tokens_and_sessions_round_trip_and_revoke(store: Arc<dyn Store>) {
    assert!(!store.has_users().await.unwrap());
    let token = |id: &str, user: &str, minute: i64| ApiToken {
        token_id: id.to_string(),
        username: user.to_string(),
        name: format!("token {id}"),
        created_at: T0 + Duration::minutes(minute),
        expires_at: Some(T0 + Duration::days(30)),
        last_used_at: None,
        revoked_at: None,
    };
    store
        .insert_token(&token("t1", "alice", 0), "hash-1")
        .await
        .unwrap();
    store
        .insert_token(&token("t2", "alice", 1), "hash-2")
        .await
        .unwrap();
    store
        .insert_token(&token("t3", "bob", 2), "hash-3")
        .await
        .unwrap();
    assert!(matches!(
        store.insert_token(&token("t4", "bob", 3), "hash-3").await,
        Err(Error::Conflict { .. })
    ));
    assert_eq!(
        store.token_by_hash("hash-2").await.unwrap(),
        Some(token("t2", "alice", 1))
    );
    assert_eq!(store.token_by_hash("nope").await.unwrap(), None);
    let ids = |tokens: Vec<ApiToken>| tokens.into_iter().map(|t| t.token_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_tokens(Some("alice")).await.unwrap()),
        ["t2", "t1"]
    );
    assert_eq!(
        ids(store.list_tokens(None).await.unwrap()),
        ["t3", "t2", "t1"]
    );
    let used = T0 + Duration::hours(1);
    store.touch_token("t1", used).await.unwrap();
    assert!(store.revoke_token("t1", used).await.unwrap());
    assert!(store
        .revoke_token("t1", used + Duration::hours(1))
        .await
        .unwrap());
    let t1 = store.get_token("t1").await.unwrap().unwrap();
    assert_eq!((t1.last_used_at, t1.revoked_at), (Some(used), Some(used)));
    assert!(!store.revoke_token("t9", used).await.unwrap());

    let session = Session {
        session_hash: "s-hash".to_string(),
        username: "alice".to_string(),
        created_at: T0,
        expires_at: T0 + Duration::hours(12),
        revoked_at: None,
    };
    store.insert_session(&session).await.unwrap();
    assert_eq!(
        store.get_session("s-hash").await.unwrap(),
        Some(session.clone())
    );
    assert!(store.revoke_session("s-hash", used).await.unwrap());
    assert_eq!(
        store
            .get_session("s-hash")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(used)
    );
    assert!(!store.revoke_session("other", used).await.unwrap());
    assert_eq!(store.get_session("other").await.unwrap(), None);
}

async fn the_audit_log_lists_newest_first_and_filters(store: Arc<dyn Store>) {
    use meshbench_core::user::Role;
    use meshbench_store::{AuditEntry, AuditFilter};
    let entry = |minute: i64, user: Option<&str>, action: &str| AuditEntry {
        audit_id: 0,
        at: T0 + Duration::minutes(minute),
        username: user.map(str::to_string),
        role: user.map(|_| Role::Operator),
        action: action.to_string(),
        subject: Some(format!("job-{minute}")),
        target: Some("http://127.0.0.1:8080/".to_string()),
        address: Some("127.0.0.1".to_string()),
        outcome: if action.ends_with("refused") {
            "refused"
        } else {
            "ok"
        }
        .to_string(),
        detail: None,
    };
    let all = AuditFilter::default();
    assert_eq!(store.count_audit(&all).await.unwrap(), 0);
    store
        .insert_audit(&entry(0, Some("alice"), "benchmark.start"))
        .await
        .unwrap();
    store
        .insert_audit(&entry(1, Some("bob"), "benchmark.cancel"))
        .await
        .unwrap();
    store
        .insert_audit(&entry(2, None, "probe.start"))
        .await
        .unwrap();
    store
        .insert_audit(&entry(3, Some("alice"), "login"))
        .await
        .unwrap();
    let actions =
        |entries: Vec<AuditEntry>| entries.into_iter().map(|e| e.action).collect::<Vec<_>>();
    let listed = store.list_audit(&all, 10, 0).await.unwrap();
    assert!(
        listed[0].audit_id > listed[1].audit_id,
        "ids rise with time"
    );
    assert_eq!(listed[0].at, T0 + Duration::minutes(3));
    assert_eq!(listed[1].username, None);
    assert_eq!(listed[1].role, None);
    assert_eq!(listed[0].role, Some(Role::Operator));
    assert_eq!(
        actions(listed),
        [
            "login",
            "probe.start",
            "benchmark.cancel",
            "benchmark.start"
        ]
    );
    assert_eq!(
        actions(store.list_audit(&all, 2, 1).await.unwrap()),
        ["probe.start", "benchmark.cancel"]
    );
    let alice = AuditFilter {
        username: Some("alice".into()),
        action: None,
    };
    assert_eq!(
        actions(store.list_audit(&alice, 10, 0).await.unwrap()),
        ["login", "benchmark.start"]
    );
    assert_eq!(store.count_audit(&alice).await.unwrap(), 2);
    let benchmarks = AuditFilter {
        username: None,
        action: Some("benchmark.".into()),
    };
    assert_eq!(
        actions(store.list_audit(&benchmarks, 10, 0).await.unwrap()),
        ["benchmark.cancel", "benchmark.start"]
    );
    let exact = AuditFilter {
        username: Some("bob".into()),
        action: Some("benchmark.cancel".into()),
    };
    assert_eq!(store.count_audit(&exact).await.unwrap(), 1);
    assert_eq!(store.count_audit(&all).await.unwrap(), 4);

    // A user's active runs are those the log says they started and that have not ended.
    for id in ["run-a", "run-b"] {
        insert_pending(&store, JobKind::Benchmark, id).await;
        let mut started = entry(5, Some("alice"), meshbench_store::AUDIT_START);
        started.subject = Some(id.to_string());
        store.insert_audit(&started).await.unwrap();
    }
    assert_eq!(store.count_active_runs_of("alice").await.unwrap(), 2);
    assert_eq!(store.count_active_runs_of("bob").await.unwrap(), 0);
    complete(&store, "run-a").await;
    assert_eq!(store.count_active_runs_of("alice").await.unwrap(), 1);
}
