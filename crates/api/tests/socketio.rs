//! Socket.IO at `/socket.io/` with the real `socket.io-client` from npm, used as the seed's
//! dashboard uses it (`io(url)`, then `socket.on('job:<id>', …)`): the API is served on a
//! port, `node tests/socketio/client.mjs` connects, and events published on the bus must
//! reach it as `job:<id>` with `/ws`'s JSON, in order. Needs Node.js 20+ and
//! `npm ci` in `crates/api/tests/socketio` (scripts/test runs it).

// The helpers are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use meshbench_api::{ApiSettings, AppState};
use meshbench_core::{JobEvent, JobEventBody, JobStatus};
use meshbench_queue::{EventBus, InProcessBus, InProcessQueue};
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;

const ALLOWED_ORIGIN: &str = "http://localhost:5173";

async fn app() -> (Router, Arc<dyn EventBus>) {
    let store = meshbench_store::open(Some("sqlite::memory:"), Path::new("."))
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::new());
    let state = AppState {
        store,
        queue: Arc::new(InProcessQueue::new(Duration::from_secs(15))),
        bus: Arc::clone(&bus),
        settings: Arc::new(ApiSettings {
            limits: Default::default(),
            allowed_origins: vec![ALLOWED_ORIGIN.to_string()],
            has_default_target: true,
            version: "test".to_string(),
            results_dir: std::env::temp_dir(),
            dashboard_dir: None,
            lab_binary: None,
            target_policy: Default::default(),
            role_limits: Default::default(),
            namespace_policy: Default::default(),
        }),
        started: Instant::now(),
        telemetry: Default::default(),
        kubernetes: Default::default(),
        throttle: Default::default(),
        live: Default::default(),
    };
    (meshbench_api::router(state), bus)
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/socketio")
}

/// Fails the test, saying what to install, when node or the npm packages are missing.
fn require_node() {
    match Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`node --version` failed ({}): this test runs socket.io-client on Node.js 20+",
            out.status
        ),
        Err(e) => panic!("node is missing ({e}): this test runs socket.io-client on Node.js 20+"),
    }
    let installed = client_dir().join("node_modules/socket.io-client/package.json");
    assert!(
        installed.exists(),
        "socket.io-client is not installed: run `npm ci` in {} (scripts/test does)",
        client_dir().display()
    );
}

/// A running `node client.mjs`, its stdout lines parsed as JSON.
struct NodeClient {
    child: Child,
    lines: mpsc::UnboundedReceiver<Value>,
    stderr: std::thread::JoinHandle<String>,
}

impl NodeClient {
    /// `only`: the one transport to use; both, as the seed does, when `None`.
    fn start(addr: SocketAddr, job_id: &str, count: usize, only: Option<&str>) -> NodeClient {
        let mut command = Command::new("node");
        command
            .current_dir(client_dir())
            .arg("client.mjs")
            .arg(format!("http://{addr}"))
            .arg(job_id)
            .arg(count.to_string());
        command.args(only);
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("client printed non-JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        NodeClient {
            child,
            lines,
            stderr,
        }
    }

    /// The next line, or a panic with the client's stderr if none comes in time.
    async fn next(&mut self) -> Value {
        match tokio::time::timeout(Duration::from_secs(25), self.lines.recv()).await {
            Ok(Some(value)) => value,
            Ok(None) | Err(_) => {
                let _ = self.child.kill();
                let status = self.child.wait().unwrap();
                let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
                panic!(
                    "socket.io-client stopped or went quiet ({status}); its stderr:\n{}",
                    stderr.join().unwrap()
                );
            }
        }
    }

    /// Waits for `{"connected": transport}` and returns the transport.
    async fn connected(&mut self) -> String {
        let line = self.next().await;
        line["connected"]
            .as_str()
            .unwrap_or_else(|| panic!("expected a connect first, got {line}"))
            .to_string()
    }

    /// Every event until `{"done": transport}`, as (name, payload), and that transport; the
    /// client must then exit cleanly.
    async fn events_until_done(mut self) -> (Vec<(String, Value)>, String) {
        let mut events = Vec::new();
        let transport = loop {
            let line = self.next().await;
            if let Some(done) = line["done"].as_str() {
                break done.to_string();
            }
            let name = line["event"]
                .as_str()
                .unwrap_or_else(|| panic!("not an event: {line}"));
            events.push((name.to_string(), line["data"].clone()));
        };
        let status = tokio::task::spawn_blocking(move || self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "client exited with {status}");
        (events, transport)
    }
}

fn status(job_id: &str, status: JobStatus) -> JobEvent {
    JobEvent {
        job_id: job_id.to_string(),
        body: JobEventBody::Status {
            status,
            error: None,
        },
    }
}

fn progress(job_id: &str, second: i64, progress: f64) -> JobEvent {
    JobEvent {
        job_id: job_id.to_string(),
        body: JobEventBody::Progress {
            second,
            elapsed_s: second as f64 + 1.0,
            progress,
            requests: 1_000 + second as u64,
            errors: 2,
            rps: 1_000.0,
            p50_us: 850,
            p99_us: 4_200,
            latency_buckets: Vec::new(),
            latency_native: Vec::new(),
            latency_sum_us: 0.0,
            requested: None,
        },
    }
}

/// `value` after a trip through JavaScript, which has one number type: `1.0` comes back `1`.
fn as_javascript_reads_it(value: Value) -> Value {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 2f64.powi(53) => Value::from(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(items) => items.into_iter().map(as_javascript_reads_it).collect(),
        Value::Object(fields) => fields
            .into_iter()
            .map(|(k, v)| (k, as_javascript_reads_it(v)))
            .collect(),
        other => other,
    }
}

#[tokio::test]
async fn the_seeds_client_receives_every_jobs_events_in_order() {
    require_node();
    let (router, bus) = app().await;
    let addr = serve(router).await;
    let job = "job-socketio-1";
    let other = "job-socketio-2";
    // As the seed connects (long-polling, then the upgrade when it succeeds), and over
    // each transport alone.
    let mut seed = NodeClient::start(addr, job, 4, None);
    let mut polling = NodeClient::start(addr, job, 4, Some("polling"));
    let mut websocket = NodeClient::start(addr, job, 4, Some("websocket"));
    let first = seed.connected().await;
    assert!(
        ["polling", "websocket"].contains(&first.as_str()),
        "{first}"
    );
    assert_eq!(polling.connected().await, "polling");
    assert_eq!(websocket.connected().await, "websocket");

    let published = [
        status(job, JobStatus::Running),
        progress(job, 0, 0.5),
        status(other, JobStatus::Running),
        progress(job, 1, 1.0),
        status(job, JobStatus::Completed),
    ];
    for event in &published {
        bus.publish(event).await.unwrap();
    }

    // What /ws would have sent, named `job:<id>`, other jobs' included.
    let expected: Vec<(String, Value)> = published
        .iter()
        .map(|e| {
            let json = as_javascript_reads_it(serde_json::to_value(e).unwrap());
            (format!("job:{}", e.job_id), json)
        })
        .collect();
    assert_eq!(expected[1].1["type"], "progress");
    assert_eq!(expected[1].1["progress"], 0.5);
    assert_eq!(expected[4].1["status"], "completed");
    for client in [seed, polling, websocket] {
        let (events, transport) = client.events_until_done().await;
        assert_eq!(events, expected, "over {transport}");
    }
}

#[tokio::test]
async fn the_handshake_answers_allowed_origins_only_and_other_paths_pass_through() {
    let (router, _bus) = app().await;
    let handshake = |origin: &str| {
        Request::get("/socket.io/?EIO=4&transport=polling")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };

    let allowed = router
        .clone()
        .oneshot(handshake(ALLOWED_ORIGIN))
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        ALLOWED_ORIGIN
    );
    let body = allowed.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    // Engine.IO's open packet: `0` then the session as JSON.
    assert!(body.starts_with("0{\"sid\":"), "{body}");

    let foreign = router
        .clone()
        .oneshot(handshake("http://elsewhere.example"))
        .await
        .unwrap();
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin"),
        "{:?}",
        foreign.headers()
    );

    let health = router
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
