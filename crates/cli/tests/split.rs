//! A run split over several load generators: four worker loops of one `meshbench worker`
//! on the Redis queue each take a part, start measuring at one agreed instant, and the
//! parts' results merge without loss into the run's.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meshbench_core::histogram::{decode_base64, merge, new_histogram};
use meshbench_testkit::server::{spawn_worker, Scratch, Server, Setup};
use meshbench_testkit::{PgDatabase, RedisDatabase};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

#[test]
fn a_run_split_over_four_workers_is_one_lossless_result_at_the_requested_rate() {
    let scratch = Scratch::new(BIN, "split");
    let pg = PgDatabase::create_blocking();
    let redis = RedisDatabase::claim();
    let setup = Setup {
        database_url: Some(pg.url()),
        redis_url: Some(redis.url()),
        workers: 0,
        env: Vec::new(),
    };
    let server = Server::start(&scratch, &setup);
    let workers = Setup {
        workers: 4,
        ..setup.clone()
    };
    let _worker = spawn_worker(&scratch, &workers, "worker");

    let requested = 2000.0;
    let id = server.start_job(&json!({
        "test_type": "http",
        "duration": 3,
        "concurrent_connections": 8,
        "rate": requested,
        "generators": 4,
    }));
    // The run's own row shows its progress while its parts run.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut seen_running_progress = 0.0f64;
    loop {
        let job = server.get(&format!("/benchmarks/jobs/{id}")).json();
        if job["status"] == "running" {
            seen_running_progress = seen_running_progress.max(job["progress"].as_f64().unwrap());
        }
        if meshbench_testkit::FINISHED.contains(&job["status"].as_str().unwrap()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not finished: {job}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        seen_running_progress > 0.0,
        "the run's progress moved while it ran"
    );
    let (job, _) = server.wait_finished(&id, Duration::from_secs(90));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    let result = server.get(&format!("/benchmarks/jobs/{id}/result")).json();
    meshbench_testkit::schema::assert_valid_result(&result);

    let generators = &result["generators"];
    assert_eq!(generators["count"], 4, "{generators}");
    assert_eq!(generators["completed"], 4);
    assert_eq!(generators["failed"], json!([]));
    let spread = generators["start_spread_ms"].as_f64().unwrap();
    assert!(spread < 250.0, "parts started {spread} ms apart");

    // The merged histogram is the histogram of every part's samples together.
    let parts: Vec<Value> = generators["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            server
                .get(&format!("/benchmarks/jobs/{}/result", p.as_str().unwrap()))
                .json()
        })
        .collect();
    let mut all = new_histogram();
    let mut requests = 0;
    for part in &parts {
        merge(
            &mut all,
            &decode_base64(part["histogram"].as_str().unwrap()).unwrap(),
        );
        requests += part["requests"].as_u64().unwrap();
        assert_eq!(part["spec"]["connections"], 2);
        assert_eq!(
            part["interval_histograms"].as_array().unwrap().len(),
            part["timeline"].as_array().unwrap().len()
        );
    }
    let merged = decode_base64(result["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(merged, all);
    assert_eq!(result["requests"].as_u64().unwrap(), requests);
    assert_eq!(merged.len(), requests - result["errors"].as_u64().unwrap());
    // Each second of the run is the sum of the parts' same second.
    for (second, entry) in result["timeline"].as_array().unwrap().iter().enumerate() {
        let sum: u64 = parts
            .iter()
            .map(|p| {
                p["timeline"]
                    .get(second)
                    .map_or(0, |e| e["requests"].as_u64().unwrap())
            })
            .sum();
        assert_eq!(entry["requests"].as_u64().unwrap(), sum, "second {second}");
    }

    // The requested total rate, within 1 %.
    let rps = result["rps"].as_f64().unwrap();
    eprintln!("split run: {rps:.1} req/s of {requested}, {requests} requests, starts {spread:.1} ms apart, p99 {} us", result["latency_us"]["p99"]);
    assert!(
        (rps - requested).abs() / requested < 0.01,
        "achieved {rps} req/s of {requested}"
    );
    assert_eq!(result["requested_rps"].as_f64().unwrap(), requested);
    assert_eq!(result["spec"]["connections"], 8);
    assert_eq!(result["loadgen"]["connections"], 8);

    // The parts are the workers' business: listings show the run alone.
    let listed = server.get("/benchmarks/jobs").json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()]);
}

#[test]
fn runs_that_cannot_be_split_are_refused() {
    let scratch = Scratch::new(BIN, "split-refused");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    for (body, why) in [
        (
            json!({"test_type": "websocket", "generators": 2}),
            "only http",
        ),
        (
            json!({"test_type": "http", "generators": 4, "concurrent_connections": 2}),
            "concurrent_connections",
        ),
        (
            json!({"test_type": "http", "generators": 65}),
            "between 1 and 64",
        ),
    ] {
        let answer = server.post("/benchmarks/start", &body);
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        let details = &answer.json()["details"];
        assert_eq!(details[0]["field"], "generators", "{details}");
        assert!(
            details[0]["message"].as_str().unwrap().contains(why),
            "{details}"
        );
    }
}
