//! Series through the platform: two configurations (1 ms and 2 ms of delay) started
//! together run interleaved, one at a time; `GET /series/{id}` gives intervals; `POST
//! /metrics/compare` fails a p50 gate between them and passes it within one; a run whose
//! rate cannot be met is stored invalid, listed so, and left out of comparisons by name;
//! `meshbench compare` reads the same series from the store by id.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meshbench_testkit::server::{command, Scratch, Server, Setup};
use meshbench_testkit::target::Target;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

#[test]
fn interleaved_series_compare_with_intervals_and_invalid_runs_are_left_out() {
    let target = Target::start();
    let scratch = Scratch::new(BIN, "series");
    let setup = Setup::sqlite(1);
    let server = Server::start(&scratch, &setup);
    let config = |delay: &str| {
        json!({
            "test_type": "http",
            "service_url": target.url("http", &format!("/?delay={delay}")),
            "duration": 2,
            "warmup": 0,
            "concurrent_connections": 4,
            "rate": 400,
        })
    };
    let r = server.post(
        "/series/start",
        &json!({"configurations": [config("1ms"), config("2ms")], "repeats": 3}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let started = r.json();
    let series: Vec<String> = started["series_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(series.len(), 2);
    let runs: Vec<String> = started["job_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    assert_eq!(runs.len(), 6);
    let mut ended = Vec::new();
    for id in &runs {
        let (job, _) = server.wait_finished(id, Duration::from_secs(120));
        assert_eq!(job["status"], "completed", "{job}");
        ended.push((
            job["series"]["series_id"].as_str().unwrap().to_string(),
            job["started_at"].as_str().unwrap().to_string(),
            job["completed_at"].as_str().unwrap().to_string(),
        ));
    }
    // The rotated order: A B, B A, A B; and one run at a time.
    let order: Vec<usize> = ended
        .iter()
        .map(|(s, _, _)| series.iter().position(|x| x == s).unwrap())
        .collect();
    assert_eq!(order, [0, 1, 1, 0, 0, 1]);
    let mut by_start = ended.clone();
    by_start.sort_by(|a, b| a.1.cmp(&b.1));
    for pair in by_start.windows(2) {
        assert!(pair[0].2 <= pair[1].1, "runs overlapped: {pair:?}");
    }

    let one_ms = server.get(&format!("/series/{}", series[0])).json();
    assert_eq!(one_ms["stats"]["valid_runs"], 3, "{one_ms}");
    assert_eq!(one_ms["siblings"], json!([series[1]]));
    let p50 = &one_ms["stats"]["figures"][0];
    assert_eq!(p50["figure"], "p50");
    let interval = &p50["interval"];
    assert!(
        interval["low"].as_f64().unwrap() <= interval["estimate"].as_f64().unwrap()
            && interval["estimate"].as_f64().unwrap() <= interval["high"].as_f64().unwrap(),
        "{p50}"
    );
    assert!(server.get("/series/no-such-series").status == 404);

    let compare = |baseline: &str, candidate: &str| -> Value {
        let r = server.post(
            "/metrics/compare",
            &json!({"baseline": baseline, "candidate": candidate,
                    "max_regression": "p50=20%", "thresholds": ["errors<1%"]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let doubled = compare(&series[0], &series[1]);
    assert_eq!(doubled["passed"], false, "{doubled}");
    assert_eq!(doubled["figures"][0]["verdict"], "worse");
    let same = compare(&series[0], &series[0]);
    assert_eq!(same["passed"], true, "{same}");
    let r = server.post(
        "/metrics/compare",
        &json!({"baseline": series[0], "candidate": series[1], "max_regression": "p98=1%"}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["details"][0]["field"], "max_regression");

    // A target faster than the generator: 200,000 req/s asked over one connection cannot
    // be sent, so the generator, not the target, is measured: invalid.
    let invalid = server.start_job(&json!({
        "test_type": "http",
        "service_url": target.url("http", "/"),
        "duration": 1, "warmup": 0, "concurrent_connections": 1, "rate": 200000,
    }));
    let (job, _) = server.wait_finished(&invalid, Duration::from_secs(60));
    assert_eq!(job["status"], "completed", "{job}");
    let reasons = job["invalid_reasons"].as_array().unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().unwrap().contains("bottleneck")),
        "{job}"
    );
    let listed = server.get("/benchmarks/jobs?limit=1").json();
    assert_eq!(listed[0]["invalid_reasons"], job["invalid_reasons"]);
    let r = server.post(
        "/metrics/compare",
        &json!({"baseline": series[0], "candidate": invalid}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(r.json()["details"][0]["field"], "candidate");
    assert!(r.body.contains("left out as invalid"), "{}", r.body);

    // The overhead view reads valid runs only, and counts the invalid one.
    let summary = server.get("/metrics/summary").json();
    assert_eq!(summary["invalid_runs"][0]["count"], 1, "{summary}");
    assert_eq!(summary["meshes"][0]["count"], 6, "{summary}");

    // The CLI reads the same series from the store by id.
    let out = command(
        &scratch,
        &setup,
        &[
            "compare",
            &series[0],
            &series[1],
            "--max-regression",
            "p50=20%",
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("GATE FAILED: p50=20%"), "{text}");
}

#[test]
fn a_capacity_search_through_the_api_brackets_the_targets_limit() {
    let target = Target::start();
    let scratch = Scratch::new(BIN, "capacity");
    let server = Server::start(&scratch, &Setup::sqlite(1));
    // Four connections to a 5 ms target: at most 800 req/s, a little less in practice.
    let r = server.post(
        "/benchmarks/start",
        &json!({
            "test_type": "http",
            "service_url": target.url("http", "/?delay=5ms"),
            "duration": 1, "warmup": 0, "concurrent_connections": 4, "rate": 200,
            "find_max_rate": {"slo": ["p99<50ms"]},
        }),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let series = r.json()["series_ids"][0].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let view = loop {
        let view = server.get(&format!("/series/{series}")).json();
        if view["capacity"]["done"] == true {
            break view;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "search not done: {view}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let capacity = &view["capacity"];
    let max = capacity["max_rate"].as_f64().unwrap();
    let bad = capacity["first_failing_rate"].as_f64().unwrap();
    assert!((400.0..800.0).contains(&max), "{capacity}");
    assert!(bad > max && (bad - max) / max <= 0.05, "{capacity}");
    let steps = capacity["steps"].as_array().unwrap();
    assert!(steps.len() >= 4, "{capacity}");
    assert_eq!(steps.len(), view["runs"].as_array().unwrap().len());
    assert_eq!(steps[0]["rate"], 200.0);
    assert_eq!(steps[1]["rate"], 400.0);
    // A bad objective is refused, named.
    let r = server.post(
        "/benchmarks/start",
        &json!({"test_type": "http", "find_max_rate": {"slo": ["p99 about 5ms"]}}),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["details"][0]["field"], "find_max_rate.slo");
}
