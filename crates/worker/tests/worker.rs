//! The worker's lifecycle for both kinds of job, on the embedded backends (SQLite and the
//! in-process queue) and on the production ones (a fresh PostgreSQL database and a fresh
//! Redis key prefix per test): a job is leased and run, a cancel flag stops it, a lost
//! lease is retried and then failed with the reason, and whatever the queue loses the
//! reconciler puts back in motion. Probe runs attach the real eBPF probe (as root).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use meshbench_core::{BenchmarkJob, JobKind, JobStatus, TestType};
use meshbench_queue::{EventBus, JobQueue};
use meshbench_store::{JobUpdate, ProbeJob, Store};
use meshbench_target::{TargetConfig, TargetServer};
use meshbench_testkit::{temp_dir, PgDatabase, RedisPrefix, StoreExt, TempDir};
use meshbench_worker::{Outcome, Worker, WorkerConfig};
use serde_json::json;
use time::OffsetDateTime;

const VISIBILITY: Duration = Duration::from_millis(600);

/// A store, queue and bus for one test, and what to clean up after it.
struct Backends {
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
    bus: Arc<dyn EventBus>,
    dir: TempDir,
    pg: Option<PgDatabase>,
    redis: Option<RedisPrefix>,
}

impl Backends {
    async fn embedded(tag: &str) -> Backends {
        let dir = temp_dir(tag);
        let store = meshbench_store::open(None, dir.path()).await.unwrap();
        store.migrate().await.unwrap();
        let (queue, bus) = meshbench_queue::open(None, VISIBILITY).await.unwrap();
        let (pg, redis) = (None, None);
        Backends {
            store,
            queue,
            bus,
            dir,
            pg,
            redis,
        }
    }

    async fn production(tag: &str) -> Backends {
        let dir = temp_dir(tag);
        let pg = PgDatabase::create().await;
        let store = meshbench_store::open(Some(&pg.url()), dir.path())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let redis = RedisPrefix::new(tag);
        let (queue, bus) =
            meshbench_queue::open_with_prefix(Some(redis.url()), redis.as_str(), VISIBILITY)
                .await
                .unwrap_or_else(|e| panic!("these tests need Redis at {}: {e}", redis.url()));
        Backends {
            store,
            queue,
            bus,
            dir,
            pg: Some(pg),
            redis: Some(redis),
        }
    }

    fn worker(
        &self,
        id: &str,
        kinds: &[JobKind],
        target: Option<&TargetServer>,
        max_attempts: u32,
    ) -> Worker {
        Worker::new(
            Arc::clone(&self.store),
            Arc::clone(&self.queue),
            Arc::clone(&self.bus),
            WorkerConfig {
                worker_id: id.into(),
                host: "localhost".into(),
                kinds: kinds.to_vec(),
                probe_unavailable: None,
                default_target: target.map(|t| format!("http://{}/", t.http_addr())),
                results_dir: self.dir.path().join("results"),
                max_attempts,
                poll: Duration::from_millis(300),
                kubernetes: None,
                metrics_interval: Duration::from_secs(1),
                image: "meshbench:test".into(),
                load_start_delay: Duration::from_secs(1),
                lab_client: None,
                target_policy: None,
            },
        )
    }

    async fn insert(&self, kind: JobKind, id: &str, duration: u32) {
        match kind {
            JobKind::Benchmark => self
                .store
                .insert_job(&benchmark(id, duration))
                .await
                .unwrap(),
            JobKind::Probe => self
                .store
                .insert_probe_job(&probe(id, duration))
                .await
                .unwrap(),
        }
    }

    /// Moves a pending job to running as a worker's claim does, counting the attempt.
    async fn claim(&self, kind: JobKind, id: &str) {
        let claim = JobUpdate {
            increment_attempts: true,
            ..JobUpdate::default()
        };
        self.store
            .transition(kind, id, &[JobStatus::Pending], JobStatus::Running, &claim)
            .await
            .unwrap()
            .unwrap();
    }

    async fn status(&self, kind: JobKind, id: &str) -> meshbench_store::JobState {
        self.store.get_state(kind, id).await.unwrap().unwrap()
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some(pg) = self.pg {
            pg.remove().await;
        }
        if let Some(redis) = self.redis {
            redis.cleanup().await;
        }
    }
}

fn benchmark(id: &str, duration: u32) -> BenchmarkJob {
    BenchmarkJob {
        job_id: id.into(),
        status: JobStatus::Pending,
        test_type: TestType::Http,
        mesh_type: "baseline".into(),
        namespace: "default".into(),
        created_at: OffsetDateTime::now_utc(),
        started_at: None,
        completed_at: None,
        progress: 0.0,
        error: None,
        request: json!({"test_type": "http", "duration": duration, "concurrent_connections": 2, "rate": 100}),
        summary: None,
        attempts: 0,
        parent_id: None,
        series: None,
        invalid_reasons: Vec::new(),
    }
}

fn probe(id: &str, duration: u32) -> ProbeJob {
    ProbeJob {
        probe_id: id.into(),
        status: JobStatus::Pending,
        duration: u64::from(duration),
        output_format: "json".into(),
        created_at: OffsetDateTime::now_utc(),
        started_at: None,
        completed_at: None,
        error: None,
        result: None,
        request: Some(json!({"duration": duration, "ports": [1]})),
        attempts: 0,
        progress: 0.0,
    }
}

async fn target() -> TargetServer {
    TargetServer::start(TargetConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap()
}

/// Runs each body on both pairs of backends.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backends::embedded(stringify!($name)).await).await;
                }
            )*
        }
        mod postgres_and_redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backends::production(stringify!($name)).await).await;
                }
            )*
        }
    };
}

on_both!(
    both_kinds_run_to_completion_on_workers_that_take_them,
    a_cancel_flag_stops_a_running_job_of_either_kind,
    a_lost_lease_is_retried_then_failed_with_the_reason,
    the_reconciler_puts_back_what_the_queue_lost,
    a_worker_whose_job_was_taken_again_walks_away,
    an_ebpf_benchmark_waits_for_a_host_that_can_probe,
    a_worker_checks_the_target_policy_again_before_connecting,
);

async fn both_kinds_run_to_completion_on_workers_that_take_them(b: Backends) {
    let target = target().await;
    b.insert(JobKind::Benchmark, "bench-1", 1).await;
    b.queue
        .enqueue(JobKind::Benchmark, "bench-1")
        .await
        .unwrap();
    b.insert(JobKind::Probe, "probe-1", 1).await;
    b.queue.enqueue(JobKind::Probe, "probe-1").await.unwrap();

    // A worker that cannot probe never takes the probe run.
    let plain = b.worker("plain", &[JobKind::Benchmark], Some(&target), 3);
    let ran = plain.try_execute_one().await.unwrap();
    assert_eq!(
        ran,
        Outcome::Ran {
            kind: JobKind::Benchmark,
            job_id: "bench-1".into(),
            status: JobStatus::Completed
        }
    );
    assert_eq!(plain.try_execute_one().await.unwrap(), Outcome::Idle);
    let done = b.store.get_job("bench-1").await.unwrap().unwrap();
    assert_eq!((done.attempts, done.progress), (1, 1.0));
    assert!(done.summary.unwrap().requests > 0);
    assert!(b.store.get_result("bench-1").await.unwrap().is_some());

    let prober = b.worker("prober", &[JobKind::Probe], None, 3);
    let ran = prober.try_execute_one().await.unwrap();
    assert_eq!(
        ran,
        Outcome::Ran {
            kind: JobKind::Probe,
            job_id: "probe-1".into(),
            status: JobStatus::Completed
        }
    );
    let probed = b.store.get_probe_job("probe-1").await.unwrap().unwrap();
    assert_eq!(probed.attempts, 1);
    let report = probed.result.expect("the probe's report is stored");
    assert_eq!(report["schema"], "meshbench.probe.v1", "{report}");
    target.shutdown().await;
    b.finish().await;
}

async fn a_cancel_flag_stops_a_running_job_of_either_kind(b: Backends) {
    let target = target().await;
    for kind in JobKind::ALL {
        let id = format!("{kind}-cancel");
        b.insert(kind, &id, 30).await;
        b.queue.enqueue(kind, &id).await.unwrap();
        let worker = b.worker("w", &[kind], Some(&target), 3);
        let run = tokio::spawn(async move { worker.try_execute_one().await });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while b.status(kind, &id).await.status != JobStatus::Running {
            assert!(tokio::time::Instant::now() < deadline, "{id} never ran");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let asked = tokio::time::Instant::now();
        b.store.request_cancel(kind, &id).await.unwrap();
        let outcome = run.await.unwrap().unwrap();
        assert!(
            asked.elapsed() < Duration::from_secs(5),
            "{kind} took {:?} to stop",
            asked.elapsed()
        );
        assert_eq!(
            outcome,
            Outcome::Ran {
                kind,
                job_id: id.clone(),
                status: JobStatus::Cancelled
            }
        );
        let state = b.status(kind, &id).await;
        assert!(
            state.error.as_deref().unwrap().contains("kept"),
            "{state:?}"
        );
        // What was measured before the cancel is kept.
        match kind {
            JobKind::Benchmark => assert!(b.store.get_result(&id).await.unwrap().is_some()),
            JobKind::Probe => assert!(b
                .store
                .get_probe_job(&id)
                .await
                .unwrap()
                .unwrap()
                .result
                .is_some()),
        }
    }
    target.shutdown().await;
    b.finish().await;
}

/// A worker that took the job and died: leased and claimed, never renewed.
async fn die_holding(b: &Backends, kind: JobKind, id: &str) {
    let lease = b
        .queue
        .take("dead", &[kind], Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lease.job_id, id);
    b.claim(kind, id).await;
    tokio::time::sleep(VISIBILITY + Duration::from_millis(300)).await;
}

async fn a_lost_lease_is_retried_then_failed_with_the_reason(b: Backends) {
    let target = target().await;
    for kind in JobKind::ALL {
        // Two attempts allowed: the first worker dies, the retry runs it.
        let id = format!("{kind}-retry");
        b.insert(kind, &id, 1).await;
        b.queue.enqueue(kind, &id).await.unwrap();
        die_holding(&b, kind, &id).await;
        let worker = b.worker("live", &[kind], Some(&target), 2);
        let outcome = worker.try_execute_one().await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Ran {
                kind,
                job_id: id.clone(),
                status: JobStatus::Completed
            }
        );
        assert_eq!(b.status(kind, &id).await.attempts, 2);

        // One attempt allowed: the lost run fails, saying why.
        let id = format!("{kind}-fail");
        b.insert(kind, &id, 1).await;
        b.queue.enqueue(kind, &id).await.unwrap();
        die_holding(&b, kind, &id).await;
        let worker = b.worker("live", &[kind], Some(&target), 1);
        assert_eq!(worker.try_execute_one().await.unwrap(), Outcome::Idle);
        let state = b.status(kind, &id).await;
        assert_eq!(state.status, JobStatus::Failed);
        let error = state.error.unwrap();
        assert!(
            error.contains("worker dead lost") && error.contains("attempt 1 of 1"),
            "{error}"
        );
    }
    target.shutdown().await;
    b.finish().await;
}

async fn the_reconciler_puts_back_what_the_queue_lost(b: Backends) {
    let target = target().await;
    for kind in JobKind::ALL {
        // Stored but never queued (the queue lost it): queued again, then run.
        let pending = format!("{kind}-unqueued");
        b.insert(kind, &pending, 1).await;
        // Running with no lease anywhere (Redis restarted empty): requeued.
        let orphan = format!("{kind}-orphan");
        b.insert(kind, &orphan, 1).await;
        b.claim(kind, &orphan).await;
        // The same, out of attempts: failed with the reason.
        let spent = format!("{kind}-spent");
        b.insert(kind, &spent, 1).await;
        for _ in 0..2 {
            b.claim(kind, &spent).await;
            let back = JobUpdate::default();
            let from = [JobStatus::Running];
            b.store
                .transition(kind, &spent, &from, JobStatus::Pending, &back)
                .await
                .unwrap()
                .unwrap();
        }
        b.claim(kind, &spent).await;
        // Pending, unqueued and cancelled meanwhile: cancelled, never run.
        let dropped = format!("{kind}-dropped");
        b.insert(kind, &dropped, 1).await;
        b.store.request_cancel(kind, &dropped).await.unwrap();

        let worker = b.worker("reconciler", &[kind], Some(&target), 3);
        assert_eq!(worker.reconcile().await.unwrap(), 4);
        assert!(b.queue.holds(&pending).await.unwrap());
        assert!(b.queue.holds(&orphan).await.unwrap());
        assert_eq!(b.status(kind, &orphan).await.status, JobStatus::Pending);
        let spent_state = b.status(kind, &spent).await;
        assert_eq!(spent_state.status, JobStatus::Failed);
        assert!(spent_state.error.unwrap().contains("lost it while it ran"));
        assert_eq!(b.status(kind, &dropped).await.status, JobStatus::Cancelled);
        // Nothing is queued twice: a second pass finds everything in place.
        assert_eq!(worker.reconcile().await.unwrap(), 0);
        for id in [&pending, &orphan] {
            match worker.try_execute_one().await.unwrap() {
                Outcome::Ran { status, .. } => assert_eq!(status, JobStatus::Completed, "{id}"),
                other => panic!("{id}: {other:?}"),
            }
        }
        assert_eq!(worker.try_execute_one().await.unwrap(), Outcome::Idle);
    }
    target.shutdown().await;
    b.finish().await;
}

async fn a_worker_whose_job_was_taken_again_walks_away(b: Backends) {
    let target = target().await;
    b.insert(JobKind::Benchmark, "taken-twice", 30).await;
    b.queue
        .enqueue(JobKind::Benchmark, "taken-twice")
        .await
        .unwrap();
    let stalled = b.worker("stalled", &[JobKind::Benchmark], Some(&target), 3);
    let run = tokio::spawn(async move { stalled.try_execute_one().await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while b.status(JobKind::Benchmark, "taken-twice").await.status != JobStatus::Running {
        assert!(tokio::time::Instant::now() < deadline, "never ran");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its lease lapsed meanwhile and another worker took the job: attempt 2 is theirs.
    let back = JobUpdate {
        on_attempt: Some(1),
        ..JobUpdate::default()
    };
    let running = [JobStatus::Running];
    b.store
        .transition(
            JobKind::Benchmark,
            "taken-twice",
            &running,
            JobStatus::Pending,
            &back,
        )
        .await
        .unwrap()
        .unwrap();
    b.claim(JobKind::Benchmark, "taken-twice").await;
    let outcome = tokio::time::timeout(Duration::from_secs(5), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Skipped {
            kind: JobKind::Benchmark,
            job_id: "taken-twice".into()
        }
    );
    // The first worker reported nothing over the second's run.
    let state = b.status(JobKind::Benchmark, "taken-twice").await;
    assert_eq!((state.status, state.attempts), (JobStatus::Running, 2));
    assert_eq!(b.store.get_result("taken-twice").await.unwrap(), None);
    target.shutdown().await;
    b.finish().await;
}

async fn an_ebpf_benchmark_waits_for_a_host_that_can_probe(b: Backends) {
    let target = target().await;
    let mut job = benchmark("needs-bpf", 1);
    job.request["ebpf"] = json!(true);
    b.store.insert_job(&job).await.unwrap();
    b.queue
        .enqueue(JobKind::Benchmark, "needs-bpf")
        .await
        .unwrap();
    let mut plain = b.worker("plain", &[JobKind::Benchmark], Some(&target), 3);
    plain = {
        // A host without BPF says why in its announcement and its failures.
        let mut config = plain.config().clone();
        config.probe_unavailable = Some("must run as root".into());
        Worker::new(
            Arc::clone(&b.store),
            Arc::clone(&b.queue),
            Arc::clone(&b.bus),
            config,
        )
    };
    // A live worker can probe: the plain one puts the job back for it.
    let prober = b.worker("prober", &[JobKind::Probe], None, 3);
    b.queue.announce(&prober.info()).await.unwrap();
    let outcome = plain.try_execute_one().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Skipped {
            kind: JobKind::Benchmark,
            job_id: "needs-bpf".into()
        }
    );
    assert!(b.queue.holds("needs-bpf").await.unwrap());
    assert_eq!(
        b.status(JobKind::Benchmark, "needs-bpf").await.status,
        JobStatus::Pending
    );
    // None can: it fails, saying why, instead of waiting for ever.
    b.queue.withdraw("prober").await.unwrap();
    let outcome = plain.try_execute_one().await.unwrap();
    assert_eq!(
        outcome,
        Outcome::Ran {
            kind: JobKind::Benchmark,
            job_id: "needs-bpf".into(),
            status: JobStatus::Failed
        }
    );
    let error = b
        .status(JobKind::Benchmark, "needs-bpf")
        .await
        .error
        .unwrap();
    assert!(
        error.contains("no live worker can probe") && error.contains("must run as root"),
        "{error}"
    );
    target.shutdown().await;
    b.finish().await;
}

/// A job stored with a target the policy forbids (the API would have refused it; a name can
/// also resolve elsewhere by the time the job runs) fails on the worker, naming the address
/// and the list, before a connection is made: the target must see no request.
async fn a_worker_checks_the_target_policy_again_before_connecting(b: Backends) {
    let forbidden = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = forbidden.local_addr().unwrap().port();
    let mut job = benchmark("aimed-away", 1);
    job.request["service_url"] = json!(format!("http://localhost:{port}/"));
    b.store.insert_job(&job).await.unwrap();
    b.queue
        .enqueue(JobKind::Benchmark, "aimed-away")
        .await
        .unwrap();
    let plain = b.worker("careful", &[JobKind::Benchmark], None, 3);
    let worker = Worker::new(
        Arc::clone(&b.store),
        Arc::clone(&b.queue),
        Arc::clone(&b.bus),
        WorkerConfig {
            target_policy: Some(meshbench_core::policy::TargetPolicy::parse("127.0.0.2").unwrap()),
            ..plain.config().clone()
        },
    );
    let ran = worker.try_execute_one().await.unwrap();
    assert_eq!(
        ran,
        Outcome::Ran {
            kind: JobKind::Benchmark,
            job_id: "aimed-away".into(),
            status: JobStatus::Failed
        }
    );
    let failed = b.store.get_job("aimed-away").await.unwrap().unwrap();
    let error = failed.error.unwrap_or_default();
    assert!(
        error.contains("service_url: ") && error.contains("MESHBENCH_TARGET_ALLOW (127.0.0.2)"),
        "{error}"
    );
    forbidden.set_nonblocking(true).unwrap();
    assert!(
        matches!(forbidden.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the forbidden target saw a connection"
    );
}
