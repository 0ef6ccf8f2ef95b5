//! Black-box tests of the platform: `meshbench serve`, `meshbench worker` and
//! `meshbench db init` run as real processes (the binary Cargo built), each test in a
//! temporary working directory with its own environment, talking HTTP/1.1 and WebSocket to
//! 127.0.0.1 only. The processes, clients and backends come from `meshbench-testkit`:
//!
//! - The API binds port 0 and the kit reads the address `serve` prints.
//! - The store is the default SQLite file, or a PostgreSQL database created for the test
//!   alone (and dropped after it).
//! - Redis tests use the server at 127.0.0.1:6379, each in a logical database of its own
//!   (`meshbench` always uses the key prefix `meshbench:`), flushed afterwards. Pub/sub is not
//!   per database, so events of other deployments may reach the API; every check filters by
//!   job id.
//! - PostgreSQL and Redis tests fail, never skip, when their server is unreachable.
//!
//! Every child process is killed when its guard drops, and every wait is bounded.

// The shared bodies are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use meshbench_testkit::process::Proc;
use meshbench_testkit::server::{command, spawn_worker, Scratch, Server, Setup, POLL};
use meshbench_testkit::ws::Ws;
use meshbench_testkit::{curl, PgDatabase, RedisDatabase, Response, FINISHED};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// A working directory for one test, for this build's binary.
fn scratch(tag: &str) -> Scratch {
    Scratch::new(BIN, tag)
}

/// A light job: few connections, an open-model rate, so the 2-core box stays responsive.
fn light_job(duration: u32) -> Value {
    json!({
        "test_type": "http",
        "mesh_type": "baseline",
        "duration": duration,
        "concurrent_connections": 2,
        "rate": 200,
    })
}

/// Starts a job (asserting 202), waits until it finishes, asserts that it completed; the job
/// and its result.
fn completed_run(server: &Server, body: &Value) -> (Value, Value) {
    let id = server.start_job(body);
    let (job, _) = server.wait_finished(&id, Duration::from_secs(20));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    let result = server.get(&format!("/benchmarks/jobs/{id}/result")).json();
    (job, result)
}

/// A short label for an event: `status:running`, `progress:2`, `summary`.
fn label(event: &Value) -> String {
    match event["type"].as_str().unwrap_or("?") {
        "status" => format!("status:{}", event["status"].as_str().unwrap_or("?")),
        "progress" => format!("progress:{}", event["second"]),
        other => other.to_string(),
    }
}

/// Checks one job's events: `running`, then at least one progress (seconds increasing),
/// then the summary, then `completed`, and nothing after the summary but that status.
fn assert_run_events(events: &[&Value]) {
    let labels: Vec<String> = events.iter().map(|e| label(e)).collect();
    let pos = |l: &str| labels.iter().position(|x| x == l);
    let running = pos("status:running").unwrap_or_else(|| panic!("no running in {labels:?}"));
    let summary = pos("summary").unwrap_or_else(|| panic!("no summary in {labels:?}"));
    let completed = pos("status:completed").unwrap_or_else(|| panic!("no completed in {labels:?}"));
    let progress: Vec<usize> = (0..labels.len())
        .filter(|i| events[*i]["type"] == "progress")
        .collect();
    assert!(!progress.is_empty(), "no progress in {labels:?}");
    assert!(running < progress[0], "{labels:?}");
    assert!(*progress.last().unwrap() < summary, "{labels:?}");
    assert!(summary < completed, "{labels:?}");
    assert_eq!(completed, labels.len() - 1, "{labels:?}");
    let seconds: Vec<i64> = progress
        .iter()
        .map(|i| events[*i]["second"].as_i64().unwrap())
        .collect();
    assert!(
        seconds.windows(2).all(|w| w[0] < w[1]),
        "progress seconds not increasing: {seconds:?}"
    );
    let summary_requests = events[summary]["summary"]["requests"].as_u64().unwrap();
    assert!(summary_requests > 0, "{}", events[summary]);
}

// ---------------------------------------------------------------------------------------
// 1 & 2: the lifecycle of one job, on SQLite and on PostgreSQL

fn lifecycle(scratch: &Scratch, setup: &Setup) -> (Server, String) {
    let server = Server::start(scratch, setup);
    let r = server.post(
        "/benchmarks/start",
        &json!({"test_type":"http","mesh_type":"baseline","duration":1,"concurrent_connections":4}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let started = r.json();
    let id = started["job_id"].as_str().unwrap().to_string();
    assert_eq!(started["status"], "pending", "{started}");
    assert!(
        !started["message"].as_str().unwrap().is_empty(),
        "{started}"
    );
    assert!(
        started["started_at"].as_str().unwrap().contains('T'),
        "{started}"
    );

    let (job, seen) = server.wait_finished(&id, Duration::from_secs(20));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    let running = seen.iter().position(|s| s == "running");
    assert!(running.is_some(), "never saw running: {seen:?}");
    assert_eq!(seen.last().unwrap(), "completed", "{seen:?}");
    assert_eq!(job["progress"].as_f64(), Some(1.0), "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert!(job["error"].is_null(), "{job}");
    assert!(job["started_at"].is_string() && job["completed_at"].is_string());
    assert!(job["summary"]["requests"].as_u64().unwrap() > 0, "{job}");

    let r = server.get(&format!("/benchmarks/jobs/{id}/result"));
    assert_eq!(r.status, 200, "{}", r.body);
    let result = r.json();
    assert_eq!(result["schema"], "meshbench.result.v1");
    assert!(result["requests"].as_u64().unwrap() > 0);
    assert_eq!(result["requests"], job["summary"]["requests"]);

    let file = scratch.results().join(&id).join("result.json");
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", file.display(), server.proc.tail()));
    let on_disk: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(on_disk["schema"], "meshbench.result.v1");
    assert_eq!(on_disk["requests"], result["requests"]);

    for listing in ["/benchmarks/jobs", "/metrics/results"] {
        let r = server.get(listing);
        assert_eq!(r.status, 200, "{listing}");
        assert!(
            r.json()
                .as_array()
                .unwrap()
                .iter()
                .any(|j| j["job_id"] == id),
            "{listing}"
        );
    }
    let health = server.get("/health").json();
    assert_eq!(health["active_jobs"], 0, "{health}");
    (server, id)
}

#[test]
fn lifecycle_on_sqlite_in_process() {
    let scratch = scratch("life-sqlite");
    let (_server, _id) = lifecycle(&scratch, &Setup::sqlite(1));
    assert!(
        scratch.data().join("meshbench.db").exists(),
        "no SQLite file in MESHBENCH_DATA_DIR"
    );
}

#[test]
fn websocket_grpc_and_ml_jobs_run_their_drivers() {
    let scratch = scratch("ws-job");
    let server = Server::start(&scratch, &Setup::sqlite(1));
    let (job, result) = completed_run(
        &server,
        &json!({"test_type":"websocket","mesh_type":"baseline","duration":1,
                "concurrent_connections":3,"message_size":128,"message_rate":20}),
    );
    assert_eq!(job["test_type"], "websocket");
    assert_eq!(result["spec"]["protocol"], "websocket", "{result}");
    assert!(result["spec"]["requests"][0]["url"]
        .as_str()
        .unwrap()
        .starts_with("ws://"));
    assert_eq!(result["websocket"]["connections_opened"], 3, "{result}");
    assert_eq!(result["websocket"]["message_size"], 128, "{result}");
    assert_eq!(result["requested_rps"], 60.0, "{result}");

    // gRPC through the API: the built-in echo service, streams on each connection.
    let (_, result) = completed_run(
        &server,
        &json!({"test_type":"grpc","duration":1,"concurrent_connections":2,"streams":4,
                "call":"meshbench.echo.v1.Echo/ServerStream","data":[{"responses":2}],
                "metadata":{"x-run":"platform"}}),
    );
    assert_eq!(result["spec"]["protocol"], "grpc", "{result}");
    assert_eq!(result["spec"]["streams"], 4, "{result}");
    assert_eq!(result["grpc"]["kind"], "server_streaming", "{result}");
    assert!(
        result["grpc"]["status_codes"]["OK"].as_u64().unwrap() > 0,
        "{result}"
    );

    // ML through the API: streamed chat completions from the target's mock model.
    let (_, result) = completed_run(
        &server,
        &json!({"test_type":"ml","duration":1,"concurrent_connections":2,"max_tokens":6}),
    );
    assert_eq!(result["ml"]["api"], "openai_chat", "{result}");
    assert!(
        result["ml"]["ttft_us"]["p50"].as_u64().unwrap() > 0,
        "{result}"
    );
    assert!(
        result["ml"]["output_tokens"].as_u64().unwrap() > 0,
        "{result}"
    );

    // A method the echo service lacks fails the job with the reason.
    let r = server.post(
        "/benchmarks/start",
        &json!({"test_type":"grpc","duration":1,"call":"meshbench.echo.v1.Echo/Nope"}),
    );
    let id = r.json()["job_id"].as_str().unwrap().to_string();
    let (job, _) = server.wait_finished(&id, Duration::from_secs(20));
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("has no method `Nope`"),
        "{job}"
    );

    // Options of one workload are refused on another, naming the field.
    let r = server.post(
        "/benchmarks/start",
        &json!({"test_type":"http","duration":1,"hold":true}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_fields(), ["hold"]);
    let r = server.post(
        "/benchmarks/start",
        &json!({"test_type":"websocket","duration":1,"service_url":"http://127.0.0.1:9/"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_fields(), ["service_url"]);
}

#[test]
fn lifecycle_on_postgres_in_process() {
    let scratch = scratch("life-pg");
    let pg = PgDatabase::create_blocking();
    let setup = Setup {
        database_url: Some(pg.url()),
        ..Setup::sqlite(1)
    };
    let (server, id) = lifecycle(&scratch, &setup);
    drop(server);
    let rows = pg.column_blocking(&format!(
        "SELECT status FROM benchmark_jobs WHERE job_id = '{id}'"
    ));
    assert_eq!(
        rows,
        ["completed"],
        "the job is not in the PostgreSQL database"
    );
    assert!(
        !scratch.data().join("meshbench.db").exists(),
        "a SQLite file was created although DATABASE_URL names PostgreSQL"
    );
}

// ---------------------------------------------------------------------------------------
// 3 & 4: Redis with separate worker processes

fn redis_setup(pg: &PgDatabase, redis: &RedisDatabase) -> Setup {
    Setup {
        database_url: Some(pg.url()),
        redis_url: Some(redis.url()),
        workers: 0,
        env: Vec::new(),
    }
}

#[test]
fn redis_worker_runs_jobs_and_events_reach_the_api() {
    let scratch = scratch("redis-worker");
    let pg = PgDatabase::create_blocking();
    let redis = RedisDatabase::claim();
    let setup = redis_setup(&pg, &redis);
    let server = Server::start(&scratch, &setup);
    let worker = spawn_worker(&scratch, &setup, "worker");
    let mut ws = Ws::connect(server.addr, "/ws");
    // The server subscribes to the bus just after the handshake.
    std::thread::sleep(Duration::from_millis(300));

    let id = server.start_job(&light_job(2));
    let events = ws.until_finished(&id, Duration::from_secs(25));
    let mine: Vec<&Value> = events
        .iter()
        .map(|(_, e)| e)
        .filter(|e| e["job_id"] == id)
        .collect();
    assert_eq!(label(mine[0]), "status:pending", "{mine:?}");
    assert_run_events(&mine[1..]);

    let job = server.wait_status(&id, &FINISHED, Duration::from_secs(5));
    assert_eq!(
        job["status"],
        "completed",
        "{job}\n{}\n{}",
        server.proc.tail(),
        worker.tail()
    );
    assert_eq!(job["attempts"], 1);
    assert!(scratch.results().join(&id).join("result.json").exists());
    assert_eq!(
        server.get(&format!("/benchmarks/jobs/{id}/result")).status,
        200
    );
    // The queue's keys are in the logical database REDIS_URL names, not in database 0.
    assert!(
        redis.dbsize() > 0,
        "no keys in Redis database {}",
        redis.number()
    );

    // Cancelling reaches a worker in another process (through Redis).
    let id = server.start_job(&light_job(10));
    server.wait_running_with_progress(&id);
    let asked = Instant::now();
    let r = server.delete(&format!("/benchmarks/jobs/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let job = server.wait_status(&id, &FINISHED, Duration::from_secs(5));
    assert_eq!(job["status"], "cancelled", "{job}\n{}", worker.tail());
    assert!(
        asked.elapsed() <= Duration::from_millis(3500),
        "{:?}",
        asked.elapsed()
    );
    assert!(job["summary"]["requests"].as_u64().unwrap() > 0, "{job}");
}

#[test]
fn killed_worker_mid_job_is_retried_or_failed_never_stuck() {
    let scratch = scratch("redis-kill");
    let pg = PgDatabase::create_blocking();
    let redis = RedisDatabase::claim();
    let setup = redis_setup(&pg, &redis);
    let server = Server::start(&scratch, &setup);
    let mut first = spawn_worker(&scratch, &setup, "worker-1");

    let id = server.start_job(&light_job(6));
    server.wait_running_with_progress(&id);
    first.sigkill();
    let second = spawn_worker(&scratch, &setup, "worker-2");

    let (job, seen) = server.wait_finished(&id, Duration::from_secs(30));
    let context = format!("{job} (seen {seen:?})\n{}", second.tail());
    eprintln!("after the worker was killed: {context}");
    match job["status"].as_str().unwrap() {
        "completed" => {
            assert_eq!(job["attempts"], 2, "{context}");
            assert!(
                job["summary"]["requests"].as_u64().unwrap() > 0,
                "{context}"
            );
            assert_eq!(
                server.get(&format!("/benchmarks/jobs/{id}/result")).status,
                200
            );
        }
        "failed" => {
            let error = job["error"].as_str().unwrap_or("");
            assert!(error.contains("worker lost"), "{context}");
        }
        _ => panic!("unexpected outcome: {context}"),
    }
}

/// A probe run started through the API runs on a worker that can probe, not in the server
/// (issue 13); killing that worker mid-run ends it retried or failed with the reason, never
/// stuck `running`.
#[test]
fn probe_runs_on_a_worker_and_survives_its_death() {
    let scratch = scratch("redis-probe");
    let pg = PgDatabase::create_blocking();
    let redis = RedisDatabase::claim();
    // The server cannot probe: whatever runs the probe is one of the workers.
    let mut server_setup = redis_setup(&pg, &redis);
    server_setup
        .env
        .push(("MESHBENCH_NO_BPF".into(), "1".into()));
    let server = Server::start(&scratch, &server_setup);
    let setup = redis_setup(&pg, &redis);
    let mut workers = [
        spawn_worker(&scratch, &setup, "worker-a"),
        spawn_worker(&scratch, &setup, "worker-b"),
    ];
    if declared_bpf_less() {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = server.get("/ebpf/probe/status").json();
        if status["available"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no worker announced it can probe: {status}"
        );
        std::thread::sleep(POLL);
    }
    let r = server.post("/ebpf/probe/start", &json!({"duration": 20}));
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["probe_id"].as_str().unwrap().to_string();
    let path = format!("/ebpf/probe/jobs/{id}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.get(&path).json()["status"] != "running" {
        assert!(Instant::now() < deadline, "{}", server.get(&path).body);
        std::thread::sleep(POLL);
    }
    let holder = workers
        .iter()
        .position(|w| w.output().contains(&id))
        .unwrap_or_else(|| panic!("no worker says it took {id}"));
    assert!(
        !server.proc.output().contains("took a job"),
        "the server ran something: {}",
        server.proc.tail()
    );
    std::thread::sleep(Duration::from_secs(2));
    workers[holder].sigkill();

    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let job = server.get(&path).json();
        if FINISHED.contains(&job["status"].as_str().unwrap_or_default()) {
            break job;
        }
        assert!(Instant::now() < deadline, "left {}: {job}", job["status"]);
        std::thread::sleep(POLL);
    };
    let survivor = &workers[1 - holder];
    let context = format!("{job}\n{}", survivor.tail());
    match job["status"].as_str().unwrap() {
        "completed" => {
            assert_eq!(job["attempts"], 2, "{context}");
            assert_eq!(job["result"]["schema"], "meshbench.probe.v1", "{context}");
            assert!(survivor.output().contains(&id), "{context}");
        }
        "failed" => assert!(
            job["error"].as_str().unwrap_or("").contains("lost"),
            "{context}"
        ),
        _ => panic!("unexpected outcome: {context}"),
    }
}

// ---------------------------------------------------------------------------------------
// 5: cancellation

#[test]
fn cancel_running_and_pending_jobs() {
    let scratch = scratch("cancel");
    // One in-process worker: while it runs the first job, the second stays pending.
    let server = Server::start(&scratch, &Setup::sqlite(1));
    let running = server.start_job(&light_job(10));
    server.wait_running_with_progress(&running);

    let pending = server.start_job(&light_job(1));
    assert_eq!(server.job(&pending)["status"], "pending");
    let r = server.delete(&format!("/benchmarks/jobs/{pending}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "cancelled", "{}", r.body);
    let job = server.job(&pending);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(job["completed_at"].is_string(), "{job}");
    assert_eq!(job["attempts"], 0, "{job}");
    let r = server.get(&format!("/benchmarks/jobs/{pending}/result"));
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["code"], "result_not_ready");

    let asked = Instant::now();
    let r = server.delete(&format!("/benchmarks/jobs/{running}"));
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cancellation requested"),
        "{body}"
    );
    let job = server.wait_status(&running, &FINISHED, Duration::from_secs(5));
    let took = asked.elapsed();
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(took <= Duration::from_millis(3500), "cancel took {took:?}");
    assert!(job["summary"]["requests"].as_u64().unwrap() > 0, "{job}");
    assert!(job["error"].as_str().unwrap().contains("cancel"), "{job}");
    let r = server.get(&format!("/benchmarks/jobs/{running}/result"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["schema"], "meshbench.result.v1");

    for id in [&running, &pending] {
        let r = server.delete(&format!("/benchmarks/jobs/{id}"));
        assert_eq!(r.status, 409, "{}", r.body);
        assert_eq!(r.json()["code"], "job_finished");
    }
    let r = server.delete("/benchmarks/jobs/00000000-0000-4000-8000-000000000000");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["code"], "job_not_found");

    // The worker, free again, must not resurrect the cancelled pending job.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.job(&pending)["status"], "cancelled");
}

// ---------------------------------------------------------------------------------------
// 6 & 7: listing, filters, concurrency

fn ids_of(r: &Response) -> Vec<String> {
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect()
}

fn total(r: &Response) -> u64 {
    r.header("x-total-count")
        .unwrap_or_else(|| panic!("no x-total-count: {:?}", r.headers))
        .parse()
        .unwrap()
}

#[test]
fn list_and_filter_jobs() {
    let scratch = scratch("list");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let specs = [
        ("baseline", "default"),
        ("istio", "default"),
        ("istio", "ns-a"),
        ("linkerd", "ns-a"),
        ("baseline", "ns-b"),
    ];
    for (mesh, namespace) in specs {
        let mut body = light_job(1);
        body["mesh_type"] = json!(mesh);
        body["namespace"] = json!(namespace);
        server.start_job(&body);
    }

    let all = server.get("/benchmarks/jobs");
    assert_eq!(all.status, 200);
    let all_ids = ids_of(&all);
    assert_eq!(all_ids.len(), 5);
    assert_eq!(total(&all), 5);

    let check = |query: &str, want: usize, field: &str, value: &str| {
        let r = server.get(&format!("/benchmarks/jobs?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.body);
        let jobs = r.json();
        let jobs = jobs.as_array().unwrap();
        assert_eq!(jobs.len(), want, "{query}: {}", r.body);
        assert_eq!(total(&r), want as u64, "{query}");
        for job in jobs {
            assert_eq!(job[field], value, "{query}: {job}");
        }
    };
    check("mesh_type=istio", 2, "mesh_type", "istio");
    check("namespace=ns-a", 2, "namespace", "ns-a");
    check("mesh_type=istio&namespace=ns-a", 1, "namespace", "ns-a");
    check("status=pending", 5, "status", "pending");
    check("status=completed", 0, "status", "completed");
    check("test_type=http", 5, "test_type", "http");

    let page = server.get("/benchmarks/jobs?limit=2&offset=1");
    assert_eq!(page.status, 200);
    assert_eq!(ids_of(&page), all_ids[1..3].to_vec());
    assert_eq!(total(&page), 5);
    let page = server.get("/benchmarks/jobs?limit=2&offset=4");
    assert_eq!(ids_of(&page), all_ids[4..].to_vec());

    // Sorted by a whitelisted column, either way; the job id breaks ties, so the two
    // orders are exact reverses.
    let asc = server.get("/benchmarks/jobs?sort=namespace&order=asc");
    assert_eq!(asc.status, 200, "{}", asc.body);
    let namespaces: Vec<String> = asc
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["namespace"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(namespaces, ["default", "default", "ns-a", "ns-a", "ns-b"]);
    let mut desc = ids_of(&server.get("/benchmarks/jobs?sort=namespace&order=desc"));
    desc.reverse();
    assert_eq!(desc, ids_of(&asc));
    let oldest_first = ids_of(&server.get("/benchmarks/jobs?order=asc"));
    assert_eq!(
        oldest_first,
        all_ids.iter().rev().cloned().collect::<Vec<_>>()
    );

    for (query, field) in [
        ("status=bogus", "status"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("test_type=ftp", "test_type"),
        ("since=yesterday", "since"),
        ("sort=progress", "sort"),
        ("order=sideways", "order"),
    ] {
        let r = server.get(&format!("/benchmarks/jobs?{query}"));
        assert_eq!(r.status, 422, "{query}: {}", r.body);
        assert_eq!(
            r.error_fields(),
            vec![field.to_string()],
            "{query}: {}",
            r.body
        );
        assert!(
            r.json()["message"].as_str().unwrap().contains(field),
            "{}",
            r.body
        );
    }
}

#[test]
fn fifty_concurrent_starts() {
    const N: usize = 50;
    let scratch = scratch("concurrent");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let barrier = Arc::new(Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let client = server.client.clone();
            std::thread::spawn(move || {
                barrier.wait();
                client.post("/benchmarks/start", &light_job(1))
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.status, 202, "{}\n{}", r.body, server.proc.tail());
        ids.insert(r.json()["job_id"].as_str().unwrap().to_string());
    }
    assert_eq!(ids.len(), N);
    let r = server.get("/benchmarks/jobs?limit=1000");
    assert_eq!(ids_of(&r).into_iter().collect::<HashSet<_>>(), ids);
    assert_eq!(total(&r), N as u64);
    assert_eq!(server.get("/health").json()["active_jobs"], N as u64);
}

// ---------------------------------------------------------------------------------------
// 8: WebSocket progress

#[test]
fn websocket_streams_progress_once_a_second() {
    let scratch = scratch("ws");
    let server = Server::start(&scratch, &Setup::sqlite(1));
    let mut everything = Ws::connect(server.addr, "/ws");
    std::thread::sleep(Duration::from_millis(300));
    let id = server.start_job(&json!({
        "test_type": "http", "mesh_type": "baseline", "duration": 3,
        "concurrent_connections": 2, "rate": 200,
    }));
    let mut by_query = Ws::connect(server.addr, &format!("/ws?job_id={id}"));
    let mut by_message = Ws::connect(server.addr, "/ws");
    by_message.send(&json!({ "subscribe": id }));
    std::thread::sleep(Duration::from_millis(300));
    // Another job (pending behind the first): only the unfiltered client may see it.
    let other = server.start_job(&light_job(1));
    assert_eq!(
        server.delete(&format!("/benchmarks/jobs/{other}")).status,
        200
    );

    let events = everything.until_finished(&id, Duration::from_secs(20));
    assert!(
        events.iter().any(|(_, e)| e["job_id"] == other),
        "the unfiltered client missed the other job's events"
    );
    let mine: Vec<&(Instant, Value)> = events.iter().filter(|(_, e)| e["job_id"] == id).collect();
    let values: Vec<&Value> = mine.iter().map(|(_, e)| e).collect();
    assert_eq!(label(values[0]), "status:pending");
    assert_run_events(&values[1..]);
    let arrivals: Vec<Instant> = mine
        .iter()
        .filter(|(_, e)| e["type"] == "progress")
        .map(|(at, _)| *at)
        .collect();
    assert!(arrivals.len() >= 2, "{values:?}");
    for pair in arrivals.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(300) && gap <= Duration::from_millis(2500),
            "progress events {gap:?} apart: {values:?}"
        );
    }
    for e in values.iter().filter(|e| e["type"] == "progress") {
        let p = e["progress"].as_f64().unwrap();
        // Seconds before measurement (the engine's lead-in) report 0; measured ones more.
        let measured = e["second"].as_i64().unwrap() >= 0;
        assert!(p <= 1.0 && (p > 0.0 || !measured), "{e}");
    }
    for (name, ws) in [("?job_id=", &mut by_query), ("subscribe", &mut by_message)] {
        let events = ws.until_finished(&id, Duration::from_secs(5));
        assert!(
            events.iter().all(|(_, e)| e["job_id"] == id),
            "{name}: events of other jobs leaked: {:?}",
            events.iter().map(|(_, e)| e).collect::<Vec<_>>()
        );
        assert!(
            events.iter().any(|(_, e)| e["type"] == "summary"),
            "{name}: no summary"
        );
        assert_eq!(label(&events.last().unwrap().1), "status:completed");
    }
}

// ---------------------------------------------------------------------------------------
// 9: the seed's curl commands as written

/// curl's status code and its body as JSON.
fn curl_json(args: &[&str]) -> (u16, Value) {
    let (code, body) = curl(args);
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("curl {args:?}: not JSON ({e}): {body:?}"));
    (code, json)
}

#[test]
fn seed_curl_commands_work_as_written() {
    let scratch = scratch("curl");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let base = format!("http://localhost:{}", server.port());

    let (code, health) = curl_json(&[&format!("{base}/health")]);
    assert_eq!(code, 200, "{health}");
    assert_eq!(health["status"], "healthy", "{health}");

    let start = format!("{base}/benchmarks/start");
    let (code, started) = curl_json(&[
        "-X",
        "POST",
        &start,
        "-H",
        "Content-Type: application/json",
        "-d",
        "{\n    \"test_type\": \"http\",\n    \"mesh_type\": \"baseline\",\n    \"duration\": 30\n  }",
    ]);
    assert_eq!(code, 202, "{started}");
    let id = started["job_id"].as_str().unwrap();
    assert_eq!(started["status"], "pending");
    let job = server.job(id);
    assert_eq!(job["request"]["duration"], 30, "{job}");
    assert_eq!(job["request"]["concurrent_connections"], 100, "{job}");
    assert_eq!(server.delete(&format!("/benchmarks/jobs/{id}")).status, 200);
    assert_eq!(server.job(id)["status"], "cancelled");

    // As written: -d without a Content-Type (curl then claims form encoding).
    let (probe_code, probe) = curl_json(&[
        "-X",
        "POST",
        &format!("{base}/ebpf/probe/start"),
        "-d",
        "{\"duration\": 60, \"output_format\": \"json\"}",
    ]);
    let (code, status) = curl_json(&[&format!("{base}/ebpf/probe/status")]);
    assert_eq!(code, 200, "{status}");
    if declared_bpf_less() {
        assert_eq!(probe_code, 503, "{probe}");
        assert!(probe["code"].is_string(), "{probe}");
        assert!(!probe["message"].as_str().unwrap().is_empty(), "{probe}");
        assert_eq!(status["available"], false, "{status}");
        assert!(status["reason"].is_string(), "{status}");
    } else {
        // The seed's probe runs (as root here); it is stopped rather than waited for.
        assert_eq!(probe_code, 202, "{probe}");
        let id = probe["probe_id"].as_str().unwrap();
        assert_eq!(status["available"], true, "{status}");
        assert_eq!(status["running"][0]["probe_id"], id, "{status}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let stop = server.delete(&format!("/ebpf/probe/jobs/{id}"));
            if stop.status == 202 {
                break;
            }
            // Still loading: not yet stoppable as a run in progress.
            assert!(
                Instant::now() < deadline,
                "cannot stop the probe: {}",
                stop.body
            );
            std::thread::sleep(POLL);
        }
    }

    let (code, k8s) = curl_json(&[&format!("{base}/kubernetes/namespaces")]);
    assert_eq!(code, 503, "{k8s}");
    assert!(!k8s["message"].as_str().unwrap().is_empty(), "{k8s}");
}

// ---------------------------------------------------------------------------------------
// 10: bad input

#[test]
fn bad_requests_get_precise_errors() {
    let scratch = scratch("bad");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let start = |body: &str| {
        server
            .client
            .request("POST", "/benchmarks/start", &[], Some(body))
    };

    for body in ["{\"test_type\": ", "not json", "[1, 2]"] {
        let r = start(body);
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(r.json()["code"], "malformed_json", "{}", r.body);
    }
    for (body, field) in [
        (r#"{"test_type":"http","durration":5}"#, "durration"),
        (r#"{"test_type":"http","duration":0}"#, "duration"),
        (
            r#"{"test_type":"http","duration":1,"concurrent_connections":20000}"#,
            "concurrent_connections",
        ),
        (r#"{"test_type":"ftp","duration":1}"#, "test_type"),
        (
            r#"{"test_type":"grpc","duration":1,"call":"no-slash"}"#,
            "call",
        ),
        (
            r#"{"test_type":"http","duration":1,"max_tokens":5}"#,
            "max_tokens",
        ),
        (
            r#"{"test_type":"websocket","duration":1,"service_url":"http://x/"}"#,
            "service_url",
        ),
        (r#"{"test_type":"http","duration":"ten"}"#, "duration"),
        (
            r#"{"test_type":"http","duration":1,"mesh_type":7}"#,
            "mesh_type",
        ),
        (
            r#"{"test_type":"http","duration":1,"mesh_type":"a b"}"#,
            "mesh_type",
        ),
        (
            r#"{"test_type":"http","duration":1,"service_url":"ftp://x"}"#,
            "service_url",
        ),
    ] {
        let r = start(body);
        assert_eq!(r.status, 422, "{body}: {}", r.body);
        let json = r.json();
        assert_eq!(json["code"], "validation_error", "{json}");
        assert!(
            r.error_fields().iter().any(|f| f == field),
            "{body}: 422 does not name {field}: {json}"
        );
        assert!(
            json["message"].as_str().unwrap().contains(field),
            "{body}: {json}"
        );
    }
    // Nothing bad was stored.
    assert_eq!(total(&server.get("/benchmarks/jobs")), 0);

    let r = server.get("/no/such/endpoint");
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.json()["code"], "not_found");
    let r = server.get("/benchmarks/jobs/00000000-0000-4000-8000-000000000000");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "job_not_found");
}

// ---------------------------------------------------------------------------------------
// 11: db init

fn db_init(scratch: &Scratch, setup: &Setup) {
    let mut proc = Proc::spawn(
        scratch.path(),
        "db-init",
        command(scratch, setup, &["db", "init"]),
    );
    let status = proc
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("db init did not finish\n{}", proc.tail()));
    assert!(status.success(), "db init: {status}\n{}", proc.tail());
    assert!(proc.tail().contains("schema ready"), "{}", proc.tail());
}

#[test]
fn db_init_creates_the_schema() {
    let scratch = scratch("dbinit");
    let pg = PgDatabase::create_blocking();
    let setup = Setup {
        database_url: Some(pg.url()),
        ..Setup::default()
    };
    db_init(&scratch, &setup);
    let tables =
        pg.column_blocking("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'");
    assert!(tables.iter().any(|t| t == "benchmark_jobs"), "{tables:?}");
    // Again: migrations are idempotent.
    db_init(&scratch, &setup);

    db_init(&scratch, &Setup::default());
    assert!(scratch.data().join("meshbench.db").exists());
}

// ---------------------------------------------------------------------------------------
// 12 & 13: shutdown and restart

#[test]
fn sigterm_stops_running_jobs_and_keeps_them() {
    let scratch = scratch("sigterm");
    let setup = Setup::sqlite(1);
    let mut server = Server::start(&scratch, &setup);
    let id = server.start_job(&light_job(10));
    server.wait_running_with_progress(&id);
    // An open WebSocket must not hold the shutdown up.
    let _ws = Ws::connect(server.addr, &format!("/ws?job_id={id}"));

    server.proc.sigterm();
    let asked = Instant::now();
    let status = server.proc.wait_exit(Duration::from_secs(6));
    let took = asked.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "serve still running 6 s after SIGTERM\n{}",
            server.proc.tail()
        )
    });
    assert!(
        status.success(),
        "serve exited with {status}\n{}",
        server.proc.tail()
    );
    assert!(took <= Duration::from_secs(5), "shutdown took {took:?}");
    drop(server);

    let server = Server::start(&scratch, &setup);
    let job = server.job(&id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(job["summary"]["requests"].as_u64().unwrap() > 0, "{job}");
    assert!(job["completed_at"].is_string(), "{job}");
    assert_eq!(
        server.get(&format!("/benchmarks/jobs/{id}/result")).status,
        200
    );
}

/// Regression: in-process `serve` used to leave jobs of a killed process running/pending forever.
#[test]
fn restart_after_crash_leaves_no_job_stuck() {
    let scratch = scratch("crash");
    let setup = Setup::sqlite(1);
    let mut server = Server::start(&scratch, &setup);
    let running = server.start_job(&light_job(3));
    let pending = server.start_job(&light_job(1));
    server.wait_status(&running, &["running"], Duration::from_secs(10));
    assert_eq!(server.job(&pending)["status"], "pending");
    server.proc.sigkill();
    drop(server);

    let server = Server::start(&scratch, &setup);
    // The lost run may be retried or failed (with a reason); the pending job must run.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let jobs = [server.job(&running), server.job(&pending)];
        let status = |j: &Value| j["status"].as_str().unwrap().to_string();
        if jobs.iter().all(|j| FINISHED.contains(&status(j).as_str())) {
            assert_ne!(status(&jobs[0]), "cancelled", "{}", jobs[0]);
            assert_eq!(status(&jobs[1]), "completed", "{}", jobs[1]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20 s after the restart: job that was running is {}, job that was pending is {}\n\
             {}\n{}",
            status(&jobs[0]),
            status(&jobs[1]),
            jobs[0],
            jobs[1]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.get("/health").json()["active_jobs"], 0);
}

#[test]
fn openapi_document_and_docs_page_describe_every_endpoint() {
    let scratch = scratch("docs");
    let setup = Setup::sqlite(0);
    let server = Server::start(&scratch, &setup);
    let spec = server.get("/openapi.json");
    assert_eq!(spec.status, 200);
    let spec = spec.json();
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3."),
        "{spec}"
    );
    let paths = spec["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/benchmarks/start",
        "/benchmarks/jobs",
        "/benchmarks/jobs/{job_id}",
        "/benchmarks/jobs/{job_id}/result",
        "/metrics/results",
        "/metrics/summary",
        "/metrics",
        "/ebpf/probe/start",
        "/ebpf/probe/status",
        "/ebpf/probe/jobs",
        "/ebpf/probe/jobs/{probe_id}",
        "/ebpf/probe/jobs/{probe_id}/download",
        "/ebpf/probe/jobs/{probe_id}/distribution",
        "/ws",
        "/benchmarks/jobs/{job_id}/distribution",
        "/reports",
        "/reports/generate",
        "/reports/{report_id}",
        "/reports/{report_id}/download",
        "/reports/shared/{share_token}",
    ] {
        assert!(
            paths.contains_key(path),
            "{path} missing from {:?}",
            paths.keys()
        );
    }
    assert!(paths["/benchmarks/jobs/{job_id}"]["delete"].is_object());
    // The start request's schema carries the seed's field names.
    let start = &spec["components"]["schemas"]["StartRequest"]["properties"];
    for field in [
        "test_type",
        "mesh_type",
        "namespace",
        "duration",
        "concurrent_connections",
        "service_url",
    ] {
        assert!(
            start[field].is_object(),
            "{field} missing from StartRequest: {start}"
        );
    }
    let page = server.get("/docs");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("/openapi.json"),
        "the docs page loads the generated document"
    );
}

// ---------------------------------------------------------------------------------------
// Distributions and reports from real runs

fn reports_from_real_runs(scratch: &Scratch, setup: &Setup) {
    let server = Server::start(scratch, setup);
    let baseline = server.start_job(&light_job(1));
    let mut body = light_job(1);
    body["mesh_type"] = json!("istio");
    let mesh = server.start_job(&body);
    for id in [&baseline, &mesh] {
        let job = server.wait_status(id, &FINISHED, Duration::from_secs(20));
        assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    }

    let r = server.get(&format!("/benchmarks/jobs/{mesh}/distribution"));
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    assert_eq!(d["job_id"], mesh.as_str());
    let result = server
        .get(&format!("/benchmarks/jobs/{mesh}/result"))
        .json();
    for (key, summary) in [
        ("latency", "latency_us"),
        ("service_time", "service_time_us"),
    ] {
        let dist = &d[key];
        let total = dist["total_count"].as_u64().unwrap();
        assert!(total > 0, "{dist}");
        assert_eq!(dist["max_us"], result[summary]["max"], "{key}");
        let spectrum = dist["spectrum"].as_array().unwrap();
        let last = spectrum.last().unwrap();
        assert_eq!(last["percentile"], 100.0);
        assert_eq!(last["value_us"], dist["max_us"]);
        assert_eq!(last["count"].as_u64(), Some(total));
        let p50 = spectrum.iter().find(|p| p["percentile"] == 50.0).unwrap();
        assert_eq!(p50["value_us"], result[summary]["p50"], "{key}");
        let buckets = dist["buckets"].as_array().unwrap();
        let sum: u64 = buckets.iter().map(|b| b["count"].as_u64().unwrap()).sum();
        assert_eq!(sum, total, "{key}");
    }
    let r = server.get("/benchmarks/jobs/00000000-0000-4000-8000-000000000000/distribution");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "job_not_found");

    let r = server.post(
        "/reports/generate",
        &json!({"job_ids": [baseline, mesh], "title": "Istio vs <b>baseline</b>"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let report = r.json();
    let id = report["report_id"].as_str().unwrap().to_string();
    assert_eq!(report["format"], "html");
    assert_eq!(report["job_ids"], json!([baseline, mesh]));
    let file = scratch.results().join("reports").join(format!("{id}.html"));
    assert!(file.exists(), "{} missing", file.display());

    let download = server.get(report["download_url"].as_str().unwrap());
    assert_eq!(download.status, 200, "{}", download.body);
    assert_eq!(
        download.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        download.header("content-disposition"),
        Some(
            format!(
                "attachment; filename=\"meshbench-report-{}.html\"",
                &id[..8]
            )
            .as_str()
        )
    );
    assert!(download
        .body
        .contains("Istio vs &lt;b&gt;baseline&lt;/b&gt;"));
    assert!(download.body.contains(&mesh));
    assert!(download.body.contains("Overhead vs baseline"));
    let shared = server.get(report["share_url"].as_str().unwrap());
    assert_eq!(shared.status, 200);
    assert!(shared
        .header("content-disposition")
        .unwrap()
        .starts_with("inline;"));
    assert_eq!(shared.body, download.body);

    let r = server.post(
        "/reports/generate",
        &json!({"job_ids": [mesh], "format": "json"}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let json_report = server.get(r.json()["download_url"].as_str().unwrap());
    assert_eq!(json_report.header("content-type"), Some("application/json"));
    let doc = json_report.json();
    assert_eq!(doc["schema"], "meshbench.report.v1");
    assert_eq!(doc["jobs"][0]["p50_us"], result["latency_us"]["p50"]);
    assert_eq!(doc["jobs"][0]["requests"], result["requests"]);
    assert!(doc["jobs"][0]["config"]["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));

    let list = server.get("/reports");
    assert_eq!(list.status, 200);
    assert_eq!(total(&list), 2);
    assert_eq!(list.json()[1]["report_id"], id.as_str());
    let r = server.get(&format!("/reports/{id}"));
    assert_eq!(r.json()["title"], "Istio vs <b>baseline</b>");

    let r = server.post(
        "/reports/generate",
        &json!({"job_ids": [mesh, "nope"], "format": "docx"}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.error_fields(), ["format", "job_ids[1]"]);
    let r = server.get("/reports/nope");
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["code"], "report_not_found");
}

#[test]
fn distribution_and_reports_on_sqlite() {
    let scratch = scratch("reports-sqlite");
    reports_from_real_runs(&scratch, &Setup::sqlite(1));
}

#[test]
fn distribution_and_reports_on_postgres() {
    let scratch = scratch("reports-pg");
    let pg = PgDatabase::create_blocking();
    let setup = Setup {
        database_url: Some(pg.url()),
        ..Setup::sqlite(1)
    };
    reports_from_real_runs(&scratch, &setup);
}

// ---------------------------------------------------------------------------------------
// The dashboard, served from a build folder (MESHBENCH_DASHBOARD_DIR; the real build may
// not exist where the tests run)

const BROWSER_ACCEPT: (&str, &str) = (
    "Accept",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
);

#[test]
fn dashboard_is_served_beside_the_api() {
    let scratch = scratch("dashboard");
    let build = scratch.path().join("build");
    for (rel, text) in [
        ("index.html", "<!doctype html><title>meshbench home</title>"),
        ("200.html", "<!doctype html><title>meshbench spa</title>"),
        (
            "benchmarks.html",
            "<!doctype html><title>meshbench benchmarks</title>",
        ),
        (
            "_app/immutable/chunks/app.B1x2.js",
            "export const answer = 42;",
        ),
        ("favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
    ] {
        let path = build.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let setup = Setup {
        env: vec![(
            "MESHBENCH_DASHBOARD_DIR".to_string(),
            build.display().to_string(),
        )],
        ..Setup::sqlite(0)
    };
    let server = Server::start(&scratch, &setup);
    let client = &server.client;

    let home = server.get("/");
    assert_eq!(home.status, 200, "{}", home.body);
    assert_eq!(
        home.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(home.body.contains("meshbench home"));

    let asset = server.get("/_app/immutable/chunks/app.B1x2.js");
    assert_eq!(asset.status, 200);
    assert!(asset.header("content-type").unwrap().contains("javascript"));
    assert_eq!(
        asset.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(asset.body, "export const answer = 42;");
    let etag = asset.header("etag").unwrap().to_string();
    let cached = client.request(
        "GET",
        "/_app/immutable/chunks/app.B1x2.js",
        &[("If-None-Match", &etag)],
        None,
    );
    assert_eq!(cached.status, 304);
    assert_eq!(
        server.get("/favicon.svg").header("cache-control"),
        Some("no-cache")
    );

    // /metrics: the page for a browser, the exposition for everyone else.
    let page = client.request("GET", "/metrics", &[BROWSER_ACCEPT], None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("meshbench spa"), "{}", page.body);
    let exposition = server.get("/metrics");
    assert_eq!(exposition.status, 200);
    assert!(exposition
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(exposition
        .body
        .contains("meshbench_jobs{status=\"pending\"}"));
    assert!(
        exposition
            .body
            .contains("meshbench_probe_runs{status=\"running\"} 0"),
        "{}",
        exposition.body
    );
    // No in-process worker here, and none elsewhere.
    assert!(
        exposition
            .body
            .contains("meshbench_workers{kind=\"benchmark\"} 0"),
        "{}",
        exposition.body
    );

    // Prerendered page; a job's page falls back to the SPA shell.
    let page = client.request("GET", "/benchmarks", &[BROWSER_ACCEPT], None);
    assert!(page.body.contains("meshbench benchmarks"), "{}", page.body);
    let page = client.request(
        "GET",
        "/benchmarks/3f2b8c1e-9d4a-4b7e-8f00-1234567890ab",
        &[BROWSER_ACCEPT],
        None,
    );
    assert_eq!(page.status, 200);
    assert!(page.body.contains("meshbench spa"), "{}", page.body);

    // The API under the same prefixes is untouched, even for a browser.
    let jobs = client.request("GET", "/benchmarks/jobs", &[BROWSER_ACCEPT], None);
    assert_eq!(jobs.status, 200);
    assert_eq!(jobs.json(), json!([]));
    assert_eq!(total(&jobs), 0);
    let health = server.get("/health").json();
    assert_eq!(health["ebpf"]["available"], !declared_bpf_less());
    assert_eq!(health["kubernetes"]["configured"], false);
    assert_eq!(
        health["kubernetes"]["reason"],
        "no Kubernetes cluster is configured (set KUBECONFIG)"
    );
    assert_eq!(
        health["ebpf"]["reason"],
        server.get("/ebpf/probe/status").json()["reason"]
    );
    drop(server);

    // No build: `/` says how to make one; the API works as before.
    std::fs::remove_dir_all(&build).unwrap();
    let server = Server::start(&scratch, &setup);
    let home = server.client.request("GET", "/", &[BROWSER_ACCEPT], None);
    assert_eq!(home.status, 503);
    assert!(
        home.body.contains("npm --prefix frontend ci"),
        "{}",
        home.body
    );
    let metrics = server
        .client
        .request("GET", "/metrics", &[BROWSER_ACCEPT], None);
    assert_eq!(metrics.status, 200);
    assert!(metrics.body.contains("meshbench_jobs"));
}

/// Whether this machine was declared BPF-less (`MESHBENCH_NO_BPF=1`, see the README): the
/// probe's endpoints then answer 503 with that reason, and that is what is tested.
fn declared_bpf_less() -> bool {
    std::env::var("MESHBENCH_NO_BPF").is_ok_and(|v| v == "1")
}

/// A loopback server of the test's own: answers each connection's request and closes.
fn answering_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut buf = [0u8; 512];
            if conn.read(&mut buf).is_ok() {
                let _ = conn.write_all(&[b'a'; 200]);
            }
        }
    });
    port
}

/// `n` connections to `port`, each sending 300 bytes, reading the answer, closing.
fn connections(port: u16, n: usize) {
    for _ in 0..n {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(&[b'q'; 300]).unwrap();
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).unwrap();
        assert_eq!(answer.len(), 200);
    }
}

#[test]
fn ebpf_probes_run_through_the_api_and_beside_benchmarks() {
    let scratch = scratch("ebpf");
    let server = Server::start(&scratch, &Setup::sqlite(1));
    let status = server.get("/ebpf/probe/status").json();
    if declared_bpf_less() {
        assert_eq!(status["available"], false, "{status}");
        let r = server.post("/ebpf/probe/start", &json!({"duration": 2}));
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("BPF-less"), "{}", r.body);
        return;
    }
    assert_eq!(status["available"], true, "{status}");
    assert!(status["reason"].is_null(), "{status}");
    assert_eq!(
        server.get("/health").json()["ebpf"]["available"],
        true,
        "the health check agrees"
    );

    // Bad requests name their fields.
    let r = server.post(
        "/ebpf/probe/start",
        &json!({"duration": 0, "pod_filter": "web", "ports": [1,2,3,4,5,6,7,8,9],
                "max_new_connections": 0}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        r.error_fields(),
        ["duration", "ports", "max_new_connections", "pod_filter"]
    );

    // A probe on a port of our own sees exactly the connections made to it, and not those
    // to another port.
    let port = answering_listener();
    let other = answering_listener();
    let r = server.post(
        "/ebpf/probe/start",
        &json!({"duration": 3, "ports": [port], "output_format": "csv"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let started = r.json();
    assert_eq!(started["status"], "pending");
    let id = started["probe_id"].as_str().unwrap().to_string();
    let job = |id: &str| server.get(&format!("/ebpf/probe/jobs/{id}")).json();
    // A probe run once its programs are attached, and once it has ended (its last state).
    let wait_running = |id: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while job(id)["status"] != "running" {
            assert!(Instant::now() < deadline, "not running: {}", job(id));
            std::thread::sleep(POLL);
        }
    };
    let wait_finished = |id: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let j = job(id);
            if FINISHED.contains(&j["status"].as_str().unwrap()) {
                return j;
            }
            assert!(Instant::now() < deadline, "not finished: {j}");
            std::thread::sleep(POLL);
        }
    };
    wait_running(&id);
    let running = server.get("/ebpf/probe/status").json();
    assert_eq!(running["running"][0]["probe_id"], id.as_str(), "{running}");
    connections(port, 12);
    connections(other, 5);
    let finished = wait_finished(&id);
    assert_eq!(finished["status"], "completed", "{finished}");
    let report = &finished["result"];
    assert_eq!(report["schema"], "meshbench.probe.v1", "{report}");
    assert_eq!(report["connections"]["count"], 12, "{report}");
    assert_eq!(report["accepts"]["count"], 12, "{report}");
    // Each loopback connection closes at both of its ends.
    assert_eq!(report["lifetimes"]["count"], 24, "{report}");
    assert_eq!(report["lifetimes"]["bytes_sent"], 12 * 500, "{report}");
    let p50 = report["connections"]["latency_us"]["p50"].as_u64().unwrap();
    assert!((1..10_000).contains(&p50), "connect p50 {p50} µs");
    assert_eq!(report["filter"]["ports"], json!([port]));
    assert!(!report["timeline"].as_array().unwrap().is_empty());
    assert_eq!(finished["request"]["ports"], json!([port]));

    // The same report as CSV (the run's format), as a table, and as distributions.
    let csv = server.get(&format!("/ebpf/probe/jobs/{id}/download"));
    assert_eq!(csv.status, 200);
    assert!(csv.body.starts_with("started_at,"), "{}", csv.body);
    let table = server.get(&format!("/ebpf/probe/jobs/{id}/download?format=table"));
    assert!(table.body.contains("connect"), "{}", table.body);
    let bad = server.get(&format!("/ebpf/probe/jobs/{id}/download?format=xml"));
    assert_eq!(bad.status, 422);
    let dist = server
        .get(&format!("/ebpf/probe/jobs/{id}/distribution"))
        .json();
    assert_eq!(
        dist["histograms"]["connections"]["total_count"], 12,
        "{dist}"
    );
    let listed = server.get("/ebpf/probe/jobs");
    assert_eq!(total(&listed), 1);
    assert!(
        listed.json()[0]["result"].is_null(),
        "listings leave the report out"
    );

    // A probe stopped early keeps what it measured.
    let r = server.post(
        "/ebpf/probe/start",
        &json!({"duration": 60, "ports": [port]}),
    );
    let long = r.json()["probe_id"].as_str().unwrap().to_string();
    wait_running(&long);
    connections(port, 3);
    assert_eq!(
        server.delete(&format!("/ebpf/probe/jobs/{long}")).status,
        202
    );
    let stopped = wait_finished(&long);
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    assert_eq!(stopped["result"]["connections"]["count"], 3, "{stopped}");
    assert_eq!(
        server.delete(&format!("/ebpf/probe/jobs/{long}")).status,
        409
    );

    // A probe with room for one new connection: three connections open at once (the
    // listener answers one at a time, but the kernel completes every handshake) leave one
    // end measured, and the other five sockets counted as not measured.
    let r = server.post(
        "/ebpf/probe/start",
        &json!({"duration": 2, "ports": [port], "max_new_connections": 1}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let small = r.json()["probe_id"].as_str().unwrap().to_string();
    wait_running(&small);
    let mut open: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    for c in &mut open {
        c.write_all(&[b'q'; 300]).unwrap();
        let mut answer = Vec::new();
        c.read_to_end(&mut answer).unwrap();
        assert_eq!(answer.len(), 200);
    }
    drop(open);
    let crowded = wait_finished(&small);
    assert_eq!(crowded["status"], "completed", "{crowded}");
    assert_eq!(crowded["request"]["max_new_connections"], 1, "{crowded}");
    let report = &crowded["result"];
    assert_eq!(report["connections"]["count"], 1, "{report}");
    assert_eq!(report["accepts"]["count"], 0, "{report}");
    let untracked = report["sockets_untracked"].as_u64().unwrap();
    assert!(untracked >= 5, "{report}");

    // A benchmark with the probe beside it: the kernel's figures for the measured period,
    // second by second with the result's.
    // Closed model: every connection is busy from the first instant, so all open in the
    // warm-up (an open model at a low rate opens a connection only when one is needed,
    // which can be after the warm-up on a slow run).
    let id = server.start_job(&json!({
        "test_type": "http", "duration": 2, "warmup": 1, "concurrent_connections": 4,
        "ebpf": true
    }));
    let (job, _) = server.wait_finished(&id, Duration::from_secs(30));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    let result = server.get(&format!("/benchmarks/jobs/{id}/result")).json();
    let kernel = &result["kernel"];
    assert_eq!(kernel["schema"], "meshbench.probe.v1", "{result}");
    let requests = result["requests"].as_u64().unwrap();
    // Every request is one read and one write on the target's socket: the kernel counts
    // about as many as the load generator (the edges of the period differ by a few).
    let served = kernel["server_time_us"]["count"].as_u64().unwrap();
    assert!(
        served.abs_diff(requests) <= requests / 20 + 8,
        "kernel saw {served} requests, the load generator {requests}"
    );
    let app_seconds: Vec<u64> = result["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["second"].as_u64().unwrap())
        .collect();
    let kernel_seconds: Vec<u64> = kernel["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["second"].as_u64().unwrap())
        .collect();
    assert!(
        kernel_seconds.starts_with(&app_seconds),
        "kernel seconds {kernel_seconds:?}, result seconds {app_seconds:?}"
    );
    // Connections opened in the warm-up are not the measured period's.
    assert_eq!(kernel["connections"]["count"], 0, "{kernel}");
}

/// The value of the exposition line for `metric` whose labels name `job_id` (and contain
/// `extra`, e.g. `le="+Inf"`), if there is one.
fn sample(exposition: &str, metric: &str, job_id: &str, extra: &str) -> Option<f64> {
    let job = format!("job_id=\"{job_id}\"");
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .find(|l| l.contains(&job) && l.contains(extra))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// While a run goes, /metrics has its requests, errors and latency histogram (labelled with
/// its job id, test type, mesh and namespace), growing each second; once it ends the run is
/// still there, inactive, with the counts its result has.
#[test]
fn metrics_follow_a_running_job() {
    let scratch = Scratch::new(BIN, "live-metrics");
    let server = Server::start(&scratch, &Setup::sqlite(1));
    let id = server.start_job(&json!({"test_type": "http", "mesh_type": "istio",
        "namespace": "shop", "duration": 4, "concurrent_connections": 2, "rate": 300}));
    server.wait_running_with_progress(&id);
    // The first measured second reaches the API a moment after the job's progress does.
    let deadline = Instant::now() + Duration::from_secs(10);
    let running = loop {
        let body = server.get("/metrics").body;
        if sample(&body, "meshbench_run_requests_total", &id, "").is_some_and(|n| n > 0.0) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "no live series for {id}:\n{body}"
        );
        std::thread::sleep(POLL);
    };
    let line = running
        .lines()
        .find(|l| l.starts_with("meshbench_run_active{") && l.contains(&id))
        .unwrap();
    for label in ["test_type=\"http\"", "mesh=\"istio\"", "namespace=\"shop\""] {
        assert!(line.contains(label), "{line}");
    }
    assert_eq!(sample(&running, "meshbench_run_active", &id, ""), Some(1.0));
    let inf = sample(
        &running,
        "meshbench_run_latency_seconds_bucket",
        &id,
        "le=\"+Inf\"",
    );
    let count = sample(&running, "meshbench_run_latency_seconds_count", &id, "");
    assert!(inf.is_some_and(|n| n > 0.0), "{running}");
    assert_eq!(inf, count);
    // Buckets are cumulative.
    let le = |bound: &str| {
        sample(
            &running,
            "meshbench_run_latency_seconds_bucket",
            &id,
            &format!("le=\"{bound}\""),
        )
        .unwrap()
    };
    assert!(le("0.001") <= le("0.01") && le("0.01") <= le("+Inf"));

    let (job, _) = server.wait_finished(&id, Duration::from_secs(30));
    assert_eq!(job["status"], "completed", "{job}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let ended = loop {
        let body = server.get("/metrics").body;
        if sample(&body, "meshbench_run_active", &id, "") == Some(0.0) {
            break body;
        }
        assert!(Instant::now() < deadline, "{id} still active:\n{body}");
        std::thread::sleep(POLL);
    };
    let total = job["summary"]["requests"].as_f64().unwrap();
    let counted = sample(&ended, "meshbench_run_requests_total", &id, "").unwrap();
    assert_eq!(
        counted, total,
        "the seconds' requests add up to the result's"
    );
    let latencies = sample(&ended, "meshbench_run_latency_seconds_count", &id, "").unwrap();
    assert!(
        latencies > 0.0 && latencies <= total,
        "{latencies} of {total}"
    );
    let sum = sample(&ended, "meshbench_run_latency_seconds_sum", &id, "").unwrap();
    assert!(
        sum > 0.0 && sum / latencies < 0.1,
        "mean latency {} s",
        sum / latencies
    );
    // An open-model run: what its schedule asked for, 300 a second, beside what it did.
    let scheduled = sample(&ended, "meshbench_run_scheduled_requests_total", &id, "").unwrap();
    assert!(
        (scheduled - 1200.0).abs() <= 30.0,
        "{scheduled} scheduled in 4 s at 300/s"
    );
    assert!(
        counted >= 0.9 * scheduled,
        "{counted} of {scheduled}: behind schedule"
    );

    // Asked for protobuf as Prometheus does when it ingests native histograms, the same
    // latencies come as a native histogram too, and its median is the run's.
    let families = scrape_protobuf(&server);
    let latency = families
        .iter()
        .find(|f| f.name == "meshbench_run_latency_seconds")
        .expect("the latency family");
    let metric = latency
        .metric
        .iter()
        .find(|m| m.label.iter().any(|l| l.name == "job_id" && l.value == id))
        .expect("the run's histogram");
    let histogram = metric.histogram.as_ref().expect("a histogram");
    assert_eq!(histogram.schema, meshbench_core::NATIVE_SCHEMA);
    assert_eq!(histogram.sample_count as f64, latencies);
    assert!((histogram.sample_sum - sum).abs() < 1e-9 * sum.max(1.0));
    // Spans and deltas back to (upper bound, count) pairs.
    let mut native = Vec::new();
    let (mut index, mut count, mut deltas) = (0, 0_i64, histogram.positive_delta.iter());
    for (n, span) in histogram.positive_span.iter().enumerate() {
        index += span.offset + i32::from(n > 0);
        for k in 0..span.length {
            count += deltas.next().expect("a delta per bucket");
            let at = index + i32::try_from(k).unwrap();
            native.push(((f64::from(at) / 8.0).exp2(), u64::try_from(count).unwrap()));
        }
        index += i32::try_from(span.length).unwrap() - 1;
    }
    assert!(deltas.next().is_none(), "a delta per bucket, no more");
    assert_eq!(
        native.iter().map(|(_, n)| n).sum::<u64>(),
        histogram.sample_count,
        "{histogram:?}"
    );
    // The native bucket holding the middle latency bounds the run's p50 from above, within
    // one bucket's width (9 %) and the engine's 3 significant digits.
    let mut seen = 0;
    let (median_bound, _) = native
        .iter()
        .find(|(_, n)| {
            seen += n;
            2 * seen >= histogram.sample_count
        })
        .unwrap();
    let p50 = job["summary"]["p50_us"].as_f64().unwrap() / 1e6;
    assert!(
        p50 <= median_bound * 1.002 && p50 > median_bound / 1.0905 / 1.002,
        "p50 {p50} s, native median bucket up to {median_bound} s"
    );
}

/// `/metrics` in the delimited protobuf format, as Prometheus asks for it.
fn scrape_protobuf(
    server: &Server,
) -> Vec<prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily> {
    use prost::Message;
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // HTTP/1.0, so the body is the rest of the stream (no chunks).
    write!(
        stream,
        "GET /metrics HTTP/1.0\r\nAccept: application/vnd.google.protobuf;\
         proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,\
         text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.0 200"), "{head}");
    assert!(
        head.contains("content-type: application/vnd.google.protobuf; proto=io.prometheus.client.metricfamily; encoding=delimited"),
        "{head}"
    );
    let mut body = &answer[split + 4..];
    let mut families = Vec::new();
    while !body.is_empty() {
        families.push(
            prometheus_client::encoding::prometheus_protobuf::prometheus_data_model::MetricFamily::decode_length_delimited(&mut body)
                .unwrap(),
        );
    }
    families
}
