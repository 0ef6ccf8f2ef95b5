//! The same test bodies run on the in-process queue and bus and on a real Redis at
//! 127.0.0.1:6379. Each Redis test uses a key prefix of its own and deletes its keys at the end.
//! Redis tests fail (never skip) when Redis is unreachable.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use meshbench_core::{JobEvent, JobEventBody, JobKind, JobStatus, JobSummary};
use meshbench_queue::{
    open, open_with_prefix, Error, EventBus, Expired, InProcessBus, InProcessQueue, JobQueue,
    QueueDepth, RedisBus, RedisQueue, WorkerInfo,
};
use meshbench_testkit::redis::REDIS_URL;
use meshbench_testkit::RedisPrefix;
use tokio::time::{sleep, timeout, Instant};

const VISIBILITY: Duration = Duration::from_millis(300);
/// Benchmarks only: what most of these tests take.
const BENCH: &[JobKind] = &[JobKind::Benchmark];
const B: JobKind = JobKind::Benchmark;

/// One backend under test. `queue` and `other_queue` are two handles on the same queue: for
/// Redis two separate connections, as an API and a worker on different hosts would hold.
struct Backend {
    queue: Arc<dyn JobQueue>,
    other_queue: Arc<dyn JobQueue>,
    bus: Arc<dyn EventBus>,
    other_bus: Arc<dyn EventBus>,
    /// The Redis key prefix, for cleanup; `None` in-process.
    prefix: Option<RedisPrefix>,
}

impl Backend {
    fn in_process() -> Self {
        let queue: Arc<dyn JobQueue> = Arc::new(InProcessQueue::new(VISIBILITY));
        let bus = InProcessBus::new();
        Backend {
            other_queue: queue.clone(),
            queue,
            other_bus: Arc::new(bus.clone()),
            bus: Arc::new(bus),
            prefix: None,
        }
    }

    async fn redis(test: &str) -> Self {
        let prefix = RedisPrefix::new(test);
        let key = prefix.as_str();
        Backend {
            queue: Arc::new(need_redis(
                RedisQueue::connect(REDIS_URL, key, VISIBILITY).await,
            )),
            other_queue: Arc::new(need_redis(
                RedisQueue::connect(REDIS_URL, key, VISIBILITY).await,
            )),
            bus: Arc::new(need_redis(RedisBus::connect(REDIS_URL, key).await)),
            other_bus: Arc::new(need_redis(RedisBus::connect(REDIS_URL, key).await)),
            prefix: Some(prefix),
        }
    }

    /// Deletes this test's Redis keys.
    async fn cleanup(self) {
        if let Some(prefix) = self.prefix {
            prefix.cleanup().await;
        }
    }
}

fn need_redis<T>(connected: meshbench_queue::Result<T>) -> T {
    connected.unwrap_or_else(|e| {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause.push_str(&format!(": {s}"));
            source = s.source();
        }
        panic!(
            "these tests need a real Redis at {REDIS_URL} and it is unreachable ({cause}); start \
             one with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\"`"
        )
    })
}

async fn depth(q: &Arc<dyn JobQueue>) -> (u64, u64) {
    let QueueDepth { queued, in_flight } = q.depth().await.unwrap();
    (queued, in_flight)
}

/// Runs each named body on both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod in_process {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::in_process()).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Backend::redis(stringify!($name)).await).await;
                }
            )*
        }
    };
}

on_both_backends!(
    enqueue_take_ack,
    enqueue_twice_is_delivered_once,
    take_wakes_when_a_job_arrives,
    take_times_out_with_none,
    jobs_are_taken_in_fifo_order,
    expired_lease_is_reclaimed_exactly_once,
    heartbeat_keeps_a_lease_alive,
    concurrent_enqueues_and_takers_take_each_job_once,
    kinds_wait_on_lines_of_their_own,
    holds_says_what_the_queue_has,
    workers_announce_themselves_and_withdraw,
    pending_job_can_be_removed,
    events_reach_a_subscriber_of_another_bus_in_order,
);

async fn enqueue_take_ack(b: Backend) {
    let q = &b.queue;
    assert_eq!(depth(q).await, (0, 0));
    q.enqueue(B, "job-1").await.unwrap();
    assert_eq!(depth(q).await, (1, 0));

    let lease = q
        .take("worker-a", BENCH, Duration::from_secs(1))
        .await
        .unwrap()
        .expect("a queued job is taken");
    assert_eq!(lease.job_id, "job-1");
    assert_eq!(lease.worker_id, "worker-a");
    assert_eq!(lease.attempt, 1);
    assert!(!lease.token.is_empty());
    assert_eq!(depth(q).await, (0, 1));

    q.ack(&lease).await.unwrap();
    assert_eq!(depth(q).await, (0, 0));
    assert!(q
        .take("worker-a", BENCH, Duration::from_millis(50))
        .await
        .unwrap()
        .is_none());
    // Acking twice is harmless.
    q.ack(&lease).await.unwrap();

    // Once acked, the id may be queued again; it is a fresh delivery.
    q.enqueue(B, "job-1").await.unwrap();
    let again = q
        .take("worker-b", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.job_id.as_str(), again.attempt), ("job-1", 1));
    assert_ne!(again.token, lease.token, "tokens are unique per take");
    q.ack(&again).await.unwrap();
    q.ping().await.unwrap();
    assert_eq!(q.visibility(), VISIBILITY);
    b.cleanup().await;
}

async fn enqueue_twice_is_delivered_once(b: Backend) {
    let (q, other) = (&b.queue, &b.other_queue);
    q.enqueue(B, "dup").await.unwrap();
    other.enqueue(B, "dup").await.unwrap();
    assert_eq!(depth(q).await, (1, 0));

    let lease = q.take("w", BENCH, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(lease.job_id, "dup");
    // Still in flight: enqueueing again does not deliver it a second time.
    other.enqueue(B, "dup").await.unwrap();
    assert_eq!(depth(q).await, (0, 1));
    assert!(other
        .take("w2", BENCH, Duration::from_millis(100))
        .await
        .unwrap()
        .is_none());
    q.ack(&lease).await.unwrap();
    assert_eq!(depth(q).await, (0, 0));
    b.cleanup().await;
}

async fn take_wakes_when_a_job_arrives(b: Backend) {
    let producer = b.other_queue.clone();
    let started = Instant::now();
    let enqueue = tokio::spawn(async move {
        sleep(Duration::from_millis(100)).await;
        producer.enqueue(B, "late").await.unwrap();
    });
    let lease = b
        .queue
        .take("w", BENCH, Duration::from_secs(2))
        .await
        .unwrap()
        .expect("woken by the enqueue");
    let waited = started.elapsed();
    assert_eq!(lease.job_id, "late");
    assert!(
        waited >= Duration::from_millis(90) && waited < Duration::from_millis(800),
        "take returned after {waited:?}, expected soon after the 100 ms enqueue"
    );
    enqueue.await.unwrap();
    b.queue.ack(&lease).await.unwrap();
    b.cleanup().await;
}

async fn take_times_out_with_none(b: Backend) {
    let started = Instant::now();
    let taken = b
        .queue
        .take("w", BENCH, Duration::from_millis(300))
        .await
        .unwrap();
    let waited = started.elapsed();
    assert!(taken.is_none());
    assert!(
        waited >= Duration::from_millis(280) && waited < Duration::from_millis(1500),
        "take waited {waited:?} for a 300 ms timeout"
    );
    // A zero wait answers at once.
    let started = Instant::now();
    assert!(b
        .queue
        .take("w", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .is_none());
    assert!(started.elapsed() < Duration::from_millis(200));
    b.cleanup().await;
}

async fn jobs_are_taken_in_fifo_order(b: Backend) {
    let ids: Vec<String> = (0..10).map(|i| format!("fifo-{i}")).collect();
    for id in &ids {
        b.queue.enqueue(B, id).await.unwrap();
    }
    let mut taken = Vec::new();
    for _ in &ids {
        let lease = b
            .other_queue
            .take("w", BENCH, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        taken.push(lease.job_id.clone());
        b.other_queue.ack(&lease).await.unwrap();
    }
    assert_eq!(taken, ids);
    b.cleanup().await;
}

async fn expired_lease_is_reclaimed_exactly_once(b: Backend) {
    let (q, other) = (&b.queue, &b.other_queue);
    q.enqueue(B, "crashy").await.unwrap();
    let lease = q
        .take("dead-worker", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert!(
        q.reclaim_expired().await.unwrap().is_empty(),
        "a fresh lease is not reclaimed"
    );

    // The worker dies: no heartbeat. Past the deadline, two reclaimers race.
    sleep(VISIBILITY + Duration::from_millis(150)).await;
    let (first, second) = tokio::join!(q.reclaim_expired(), other.reclaim_expired());
    let mut all = first.unwrap();
    all.extend(second.unwrap());
    assert_eq!(
        all,
        vec![Expired {
            kind: B,
            job_id: "crashy".into(),
            worker_id: "dead-worker".into(),
            attempts: 1,
        }],
        "the expired lease goes to exactly one reclaimer"
    );
    assert!(q.reclaim_expired().await.unwrap().is_empty());
    assert_eq!(depth(q).await, (0, 0));

    // The stalled worker learns that it lost the lease; its late ack changes nothing.
    assert!(!q.heartbeat(&lease).await.unwrap());
    q.ack(&lease).await.unwrap();

    // The reclaimer retries the job: it is delivered again as attempt 2.
    other.enqueue(B, "crashy").await.unwrap();
    let retry = q
        .take("live-worker", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((retry.job_id.as_str(), retry.attempt), ("crashy", 2));
    // The old lease's ack must not end the new one.
    q.ack(&lease).await.unwrap();
    assert!(q.heartbeat(&retry).await.unwrap());
    q.ack(&retry).await.unwrap();
    assert_eq!(depth(q).await, (0, 0));
    b.cleanup().await;
}

async fn heartbeat_keeps_a_lease_alive(b: Backend) {
    let q = &b.queue;
    q.enqueue(B, "long").await.unwrap();
    let lease = q.take("w", BENCH, Duration::ZERO).await.unwrap().unwrap();
    // Well past the visibility timeout in total, heartbeating every half of it.
    for _ in 0..5 {
        sleep(VISIBILITY / 2).await;
        assert!(q.heartbeat(&lease).await.unwrap(), "lease still held");
        assert!(b.other_queue.reclaim_expired().await.unwrap().is_empty());
    }
    assert_eq!(depth(q).await, (0, 1));
    q.ack(&lease).await.unwrap();
    assert!(
        !q.heartbeat(&lease).await.unwrap(),
        "an acked lease is gone"
    );
    b.cleanup().await;
}

async fn concurrent_enqueues_and_takers_take_each_job_once(b: Backend) {
    const JOBS: usize = 50;
    let mut producers = Vec::new();
    for i in 0..JOBS {
        let q = if i % 2 == 0 {
            b.queue.clone()
        } else {
            b.other_queue.clone()
        };
        producers.push(tokio::spawn(async move {
            q.enqueue(B, &format!("job-{i}")).await.unwrap();
        }));
    }
    let mut takers = Vec::new();
    for t in 0..4 {
        let q = if t % 2 == 0 {
            b.queue.clone()
        } else {
            b.other_queue.clone()
        };
        takers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while let Some(lease) = q
                .take(&format!("taker-{t}"), BENCH, Duration::from_millis(500))
                .await
                .unwrap()
            {
                mine.push(lease.job_id.clone());
                q.ack(&lease).await.unwrap();
            }
            mine
        }));
    }
    for p in producers {
        p.await.unwrap();
    }
    let mut taken = Vec::new();
    for t in takers {
        taken.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), JOBS, "taken: {taken:?}");
    assert_eq!(unique.len(), JOBS, "a job was taken twice: {taken:?}");
    for i in 0..JOBS {
        assert!(unique.contains(&format!("job-{i}")));
    }
    assert_eq!(depth(&b.queue).await, (0, 0));
    b.cleanup().await;
}

async fn kinds_wait_on_lines_of_their_own(b: Backend) {
    let q = &b.queue;
    q.enqueue(JobKind::Probe, "p1").await.unwrap();
    q.enqueue(B, "b1").await.unwrap();
    // A worker without BPF never sees the probe run.
    let lease = q
        .take("plain", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((lease.kind, lease.job_id.as_str()), (B, "b1"));
    assert!(q
        .take("plain", BENCH, Duration::from_millis(50))
        .await
        .unwrap()
        .is_none());
    q.ack(&lease).await.unwrap();
    // One that probes takes it, in the order it lists its kinds.
    let both = [JobKind::Probe, JobKind::Benchmark];
    let lease = q.take("bpf", &both, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!((lease.kind, lease.job_id.as_str()), (JobKind::Probe, "p1"));
    q.ack(&lease).await.unwrap();
    // A taker of several kinds is woken by a job of its second kind.
    let producer = b.other_queue.clone();
    let late = tokio::spawn(async move {
        sleep(Duration::from_millis(100)).await;
        producer.enqueue(B, "b2").await.unwrap();
    });
    let lease = q
        .take("bpf", &both, Duration::from_secs(3))
        .await
        .unwrap()
        .expect("woken by a benchmark");
    assert_eq!((lease.kind, lease.job_id.as_str()), (B, "b2"));
    late.await.unwrap();
    q.ack(&lease).await.unwrap();
    // Expired leases say their kind, so the store row can be found.
    q.enqueue(JobKind::Probe, "p2").await.unwrap();
    let _lost = q
        .take("dies", &both, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    sleep(VISIBILITY + Duration::from_millis(100)).await;
    let expired = q.reclaim_expired().await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].kind, expired[0].job_id.as_str()),
        (JobKind::Probe, "p2")
    );
    assert!(!q.remove(JobKind::Probe, "p2").await.unwrap());
    b.cleanup().await;
}

async fn holds_says_what_the_queue_has(b: Backend) {
    let q = &b.queue;
    assert!(!q.holds("h").await.unwrap());
    q.enqueue(B, "h").await.unwrap();
    assert!(b.other_queue.holds("h").await.unwrap(), "queued");
    let lease = q.take("w", BENCH, Duration::ZERO).await.unwrap().unwrap();
    assert!(q.holds("h").await.unwrap(), "in flight");
    q.ack(&lease).await.unwrap();
    assert!(!q.holds("h").await.unwrap(), "acked");
    b.cleanup().await;
}

async fn workers_announce_themselves_and_withdraw(b: Backend) {
    assert!(b.queue.workers().await.unwrap().is_empty());
    let plain = WorkerInfo {
        worker_id: "w-plain".into(),
        host: "h1".into(),
        kinds: vec![B],
        probe_unavailable: Some("must run as root".into()),
    };
    let bpf = WorkerInfo {
        worker_id: "w-bpf".into(),
        host: "h2".into(),
        kinds: vec![JobKind::Probe, B],
        probe_unavailable: None,
    };
    b.queue.announce(&plain).await.unwrap();
    b.other_queue.announce(&bpf).await.unwrap();
    // Announcing again renews, it does not duplicate.
    b.queue.announce(&plain).await.unwrap();
    assert_eq!(
        b.other_queue.workers().await.unwrap(),
        vec![bpf.clone(), plain.clone()]
    );
    b.other_queue.withdraw("w-bpf").await.unwrap();
    assert_eq!(b.queue.workers().await.unwrap(), vec![plain]);
    b.cleanup().await;
}

async fn pending_job_can_be_removed(b: Backend) {
    let q = &b.queue;
    q.enqueue(B, "a").await.unwrap();
    q.enqueue(B, "b").await.unwrap();
    assert!(b.other_queue.remove(B, "a").await.unwrap());
    assert!(!q.remove(B, "a").await.unwrap(), "already removed");
    assert!(!q.remove(B, "never-queued").await.unwrap());
    assert_eq!(depth(q).await, (1, 0));

    let lease = q.take("w", BENCH, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!(lease.job_id, "b");
    assert!(
        !q.remove(B, "b").await.unwrap(),
        "a taken job is not removable"
    );
    q.ack(&lease).await.unwrap();

    // A removed id may be queued again.
    q.enqueue(B, "a").await.unwrap();
    let lease = q.take("w", BENCH, Duration::ZERO).await.unwrap().unwrap();
    assert_eq!((lease.job_id.as_str(), lease.attempt), ("a", 1));
    q.ack(&lease).await.unwrap();
    b.cleanup().await;
}

async fn events_reach_a_subscriber_of_another_bus_in_order(b: Backend) {
    let mut far = b.other_bus.subscribe();
    let mut near = b.bus.subscribe();
    let mut sent = vec![JobEvent {
        job_id: "ev".into(),
        body: JobEventBody::Status {
            status: JobStatus::Running,
            error: None,
        },
    }];
    for second in 0..20 {
        sent.push(JobEvent {
            job_id: "ev".into(),
            body: JobEventBody::Progress {
                second,
                elapsed_s: (second + 1) as f64,
                progress: f64::from(second as i32) / 20.0,
                requests: 1000 + second as u64,
                errors: 0,
                rps: 1000.0,
                p50_us: 250,
                p99_us: 900,
                latency_buckets: Vec::new(),
                latency_native: Vec::new(),
                latency_sum_us: 0.0,
                requested: None,
            },
        });
    }
    sent.push(JobEvent {
        job_id: "ev".into(),
        body: JobEventBody::Summary {
            summary: JobSummary {
                requests: 20_000,
                rps: 1000.0,
                ..JobSummary::default()
            },
        },
    });
    sent.push(JobEvent {
        job_id: "ev".into(),
        body: JobEventBody::Status {
            status: JobStatus::Completed,
            error: None,
        },
    });
    for event in &sent {
        b.bus.publish(event).await.unwrap();
    }
    for rx in [&mut far, &mut near] {
        for expected in &sent {
            let got = timeout(Duration::from_secs(2), rx.recv())
                .await
                .expect("event arrives within 2 s")
                .unwrap();
            assert_eq!(&got, expected);
        }
    }
    b.cleanup().await;
}

#[tokio::test]
async fn open_without_url_is_in_process() {
    for url in [None, Some(""), Some("  ")] {
        let (queue, bus) = open(url, VISIBILITY).await.unwrap();
        queue.ping().await.unwrap();
        let mut rx = bus.subscribe();
        let event = JobEvent {
            job_id: "x".into(),
            body: JobEventBody::Status {
                status: JobStatus::Cancelled,
                error: Some("by user".into()),
            },
        };
        bus.publish(&event).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), event);
    }
}

#[tokio::test]
async fn open_with_redis_url_uses_redis() {
    let prefix = RedisPrefix::new("open");
    let (queue, bus) =
        need_redis(open_with_prefix(Some(REDIS_URL), prefix.as_str(), VISIBILITY).await);
    queue.ping().await.unwrap();
    queue.enqueue(B, "opened").await.unwrap();
    let lease = queue
        .take("w", BENCH, Duration::ZERO)
        .await
        .unwrap()
        .unwrap();
    queue.ack(&lease).await.unwrap();
    let mut rx = bus.subscribe();
    let event = JobEvent {
        job_id: "opened".into(),
        body: JobEventBody::Status {
            status: JobStatus::Completed,
            error: None,
        },
    };
    bus.publish(&event).await.unwrap();
    assert_eq!(
        timeout(Duration::from_secs(2), rx.recv())
            .await
            .unwrap()
            .unwrap(),
        event
    );
    Backend {
        queue: queue.clone(),
        other_queue: queue,
        other_bus: bus.clone(),
        bus,
        prefix: Some(prefix),
    }
    .cleanup()
    .await;
}

#[tokio::test]
async fn bad_redis_urls_are_refused_clearly() {
    for url in [
        "http://127.0.0.1:6379",
        "not a url",
        "redis://user:s3cret@[::1",
    ] {
        let err = open(Some(url), VISIBILITY).await.err().expect("refused");
        assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("REDIS_URL"), "{message}");
        assert!(!message.contains("s3cret"), "password leaked: {message}");
    }
    // Nothing listens on port 1: a connection error naming REDIS_URL, quickly.
    let started = Instant::now();
    let err = open(Some("redis://:s3cret@127.0.0.1:1"), VISIBILITY)
        .await
        .err()
        .expect("unreachable");
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.to_string().contains("REDIS_URL"), "{err}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
}
