//! The store is the truth and the queue can be lost (issue 13). A real API, a real worker
//! and a Redis of the test's own (on a Unix socket, so it can be killed and brought back
//! empty without touching the machine's Redis): a run whose Redis dies mid-run ends
//! completed (re-run) or failed with the reason, a start during the outage gets a 503 naming
//! the queue and leaves nothing behind, and retried with its idempotency key it makes
//! exactly one run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshbench_api::ApiSettings;
use meshbench_core::{JobKind, StartLimits};
use meshbench_target::{TargetConfig, TargetServer};
use meshbench_worker::{Worker, WorkerConfig};
use serde_json::{json, Value};
use tokio::sync::watch;

/// A redis-server of this test's own, listening on a Unix socket only.
struct PrivateRedis {
    dir: PathBuf,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start(dir: &Path) -> PrivateRedis {
        let mut redis = PrivateRedis {
            dir: dir.to_path_buf(),
            child: None,
        };
        redis.restart();
        redis
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("redis.sock")
    }

    fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Starts it (again), empty: nothing is kept on disk.
    fn restart(&mut self) {
        let _ = std::fs::remove_file(self.socket());
        let child = Command::new("redis-server")
            .args(["--port", "0", "--save", "", "--appendonly", "no"])
            .arg("--unixsocket")
            .arg(self.socket())
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("this test needs redis-server on PATH (Debian: redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.socket().exists() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not open its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `POST /benchmarks/start` with `body`, and an `Idempotency-Key` when given.
async fn start(
    client: &reqwest::Client,
    base: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = client.post(format!("{base}/benchmarks/start")).json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    request.send().await.unwrap()
}

/// Every stored benchmark job.
async fn jobs(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let listed = client.get(format!("{base}/benchmarks/jobs")).send().await;
    listed.unwrap().json().await.unwrap()
}

async fn job(client: &reqwest::Client, base: &str, id: &str) -> Value {
    client
        .get(format!("{base}/benchmarks/jobs/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until job `id` has status `status` or ends; returns the job.
async fn wait_for(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    done: impl Fn(&Value) -> bool,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job = job(client, base, id).await;
        if done(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} did not get there in {within:?}: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn finished(job: &Value) -> bool {
    matches!(
        job["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_lost_mid_run_and_brought_back_empty() {
    let scratch = meshbench_testkit::temp_dir("lifecycle");
    let dir = scratch.path().to_path_buf();
    let mut redis = PrivateRedis::start(&dir);

    let store = meshbench_store::open(None, &dir).await.unwrap();
    store.migrate().await.unwrap();
    let (queue, bus) = meshbench_queue::open(Some(&redis.url()), Duration::from_secs(3))
        .await
        .unwrap();
    let target = TargetServer::start(TargetConfig::new("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let worker = Worker::new(
        Arc::clone(&store),
        Arc::clone(&queue),
        Arc::clone(&bus),
        WorkerConfig {
            worker_id: "lifecycle-worker".into(),
            host: "localhost".into(),
            kinds: vec![JobKind::Benchmark],
            probe_unavailable: Some("not asked for in this test".into()),
            default_target: Some(format!("http://{}/", target.http_addr())),
            results_dir: dir.join("results"),
            max_attempts: 3,
            poll: Duration::from_secs(1),
            kubernetes: None,
            metrics_interval: Duration::from_secs(1),
            image: "meshbench:test".into(),
            load_start_delay: Duration::from_secs(1),
            lab_client: None,
            target_policy: None,
        },
    );
    let (stop, stopped) = watch::channel(false);
    let worker_task = tokio::spawn(async move { worker.run(stopped).await });

    let backends = meshbench_testkit::app::Backends {
        store: Arc::clone(&store),
        queue,
        bus,
    };
    let mut state = meshbench_testkit::app::state(&backends, &dir.join("results"), None);
    // Runs of a few seconds, so the trial fits in a test.
    state.settings = Arc::new(ApiSettings {
        limits: StartLimits {
            min_duration: 1,
            ..StartLimits::default()
        },
        ..(*state.settings).clone()
    });
    let app = meshbench_testkit::app::App::serve(state).await;
    let base = app.base_url();
    let client = reqwest::Client::new();
    let light = json!({"test_type": "http", "mesh_type": "baseline", "duration": 8,
        "concurrent_connections": 2, "rate": 200});

    // A run starts, and Redis dies 2 s into it.
    let started: Value = start(&client, &base, None, &light)
        .await
        .json()
        .await
        .unwrap();
    let first = started["job_id"].as_str().unwrap().to_string();
    wait_for(
        &client,
        &base,
        &first,
        |j| j["status"] == "running",
        Duration::from_secs(20),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.kill();

    // A start during the outage: 503 naming the queue, and no row left behind.
    let asked = Instant::now();
    let refused = start(&client, &base, Some("outage-retry-1"), &light).await;
    assert_eq!(refused.status(), 503);
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "the 503 took {:?}",
        asked.elapsed()
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "queue_unavailable", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("queue"),
        "{body}"
    );
    let listed = jobs(&client, &base).await;
    assert_eq!(listed.len(), 1, "the refused start left a row: {listed:?}");

    // Redis comes back with nothing in it. The first run ends, re-run or failed with why.
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart();
    let ended = wait_for(&client, &base, &first, finished, Duration::from_secs(60)).await;
    match ended["status"].as_str() {
        Some("completed") => {}
        Some("failed") => assert!(
            ended["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{ended}"
        ),
        other => panic!("the run ended {other:?}: {ended}"),
    }

    // The client retries its refused start with the same key: exactly one run.
    let retried = start(&client, &base, Some("outage-retry-1"), &light).await;
    assert_eq!(retried.status(), 202);
    let retried: Value = retried.json().await.unwrap();
    let again = start(&client, &base, Some("outage-retry-1"), &light).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["job_id"], retried["job_id"]);
    let second = retried["job_id"].as_str().unwrap();
    let done = wait_for(&client, &base, second, finished, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let listed = jobs(&client, &base).await;
    assert_eq!(listed.len(), 2, "{listed:?}");

    stop.send(true).unwrap();
    worker_task.await.unwrap();
    target.shutdown().await;
    store.close().await;
}
