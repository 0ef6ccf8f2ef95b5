//! A Redis event bus whose subscription connection is killed resubscribes by itself. Its own
//! test binary: it kills a pub/sub connection on the shared Redis at 127.0.0.1:6379, which must
//! not race with the other tests' buses. Fails (never skips) when Redis is unreachable.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::time::Duration;

use meshbench_core::{JobEvent, JobEventBody, JobStatus};
use meshbench_queue::{EventBus, RedisBus};
use meshbench_testkit::redis::REDIS_URL;
use meshbench_testkit::RedisPrefix;
use tokio::time::{timeout, Instant};

async fn pubsub_client_ids(conn: &mut redis::aio::MultiplexedConnection) -> HashSet<String> {
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(conn)
        .await
        .unwrap();
    list.lines()
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_resubscribes_after_its_connection_is_killed() {
    let client = redis::Client::open(REDIS_URL).unwrap();
    let mut admin = client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("this test needs a real Redis at {REDIS_URL} and it is unreachable: {e}")
        });
    let prefix = RedisPrefix::new("reconnect");

    let before = pubsub_client_ids(&mut admin).await;
    let subscriber = RedisBus::connect(REDIS_URL, prefix.as_str()).await.unwrap();
    let ours: Vec<String> = pubsub_client_ids(&mut admin)
        .await
        .difference(&before)
        .cloned()
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "expected one new pub/sub connection: {ours:?}"
    );
    let mut rx = subscriber.subscribe();
    let publisher = RedisBus::connect(REDIS_URL, prefix.as_str()).await.unwrap();

    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(&ours[0])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);

    // Events published while the subscriber reconnects may be lost (pub/sub is at most once);
    // keep publishing until one gets through.
    let event = JobEvent {
        job_id: "reconnect".into(),
        body: JobEventBody::Status {
            status: JobStatus::Running,
            error: None,
        },
    };
    let started = Instant::now();
    loop {
        publisher.publish(&event).await.unwrap();
        if let Ok(got) = timeout(Duration::from_millis(100), rx.recv()).await {
            assert_eq!(got.unwrap(), event);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no event after the subscription was killed"
        );
    }
    let after = pubsub_client_ids(&mut admin).await;
    assert!(!after.contains(&ours[0]), "the killed connection is gone");
}
