//! `meshbench compare` on real runs of the built-in target: a doubled delay fails a p50
//! gate, two runs of one delay pass it, and invalid runs are left out by name.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use meshbench_testkit::target::Target;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// `meshbench run` of `url` for 5 s at 400 req/s over 4 connections, its JSON written to
/// `dir/name`.
fn run_to(dir: &std::path::Path, name: &str, url: &str) -> String {
    let out = Command::new(BIN)
        .args(["run", url, "-c", "4", "-R", "400", "-d", "5s", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.join(name);
    std::fs::write(&path, &out.stdout).unwrap();
    path.display().to_string()
}

fn compare(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("compare")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_doubled_delay_fails_the_gate_and_the_same_delay_passes_it() {
    let target = Target::start();
    let dir = meshbench_testkit::temp_dir("compare");
    let one_ms = target.url("http", "/?delay=1ms");
    let two_ms = target.url("http", "/?delay=2ms");
    let a = run_to(dir.path(), "a.json", &one_ms);
    let b = run_to(dir.path(), "b.json", &two_ms);
    let c = run_to(dir.path(), "c.json", &one_ms);

    let slower = compare(&[&a, &b, "--max-regression", "p50=20%"]);
    let text = String::from_utf8_lossy(&slower.stdout);
    assert_eq!(slower.status.code(), Some(3), "{text}");
    assert!(
        text.contains("GATE FAILED: p50=20% — p50 worse by"),
        "{text}"
    );
    let p50 = text.lines().find(|l| l.starts_with("p50")).unwrap();
    assert!(p50.contains("worse (seconds)"), "{p50}");

    let same = compare(&[&a, &c, "--max-regression", "p50=20%"]);
    let text = String::from_utf8_lossy(&same.stdout);
    assert_eq!(same.status.code(), Some(0), "{text}");
    assert!(!text.contains("GATE FAILED"), "{text}");

    // JSON: the same verdicts, each difference with its interval and method.
    let json = compare(&[&a, &b, "--json"]);
    assert_eq!(json.status.code(), Some(0), "no gate, no failure");
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["schema"], "meshbench.comparison.v1");
    let p50 = doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["figure"] == "p50")
        .unwrap();
    assert_eq!(p50["difference"]["significant"], true);
    assert_eq!(p50["difference"]["method"], "seconds");
    // A few seconds a run make a wide interval on a busy host: it must exclude no change.
    let low = p50["difference"]["relative"]["low"].as_f64().unwrap();
    assert!(low > 0.0, "a doubled delay is slower: {p50}");

    // A run that missed its rate is invalid: left out, and said so.
    let mut missed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&c).unwrap()).unwrap();
    missed["rps"] = serde_json::json!(300.0);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        serde_json::to_vec(&serde_json::json!([missed])).unwrap(),
    )
    .unwrap();
    let out = compare(&[&a, &bad.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("#0: achieved 300.0 req/s"), "{err}");
    assert!(err.contains("no valid run on the candidate side"), "{err}");
}

#[test]
fn a_run_can_gate_itself_with_thresholds() {
    let target = Target::start();
    let url = target.url("http", "/?delay=1ms");
    let run = |threshold: &str| {
        Command::new(BIN)
            .args([
                "run",
                &url,
                "-c",
                "2",
                "-R",
                "200",
                "-d",
                "1s",
                "--json",
                "--threshold",
                threshold,
            ])
            .output()
            .unwrap()
    };
    let met = run("p50<500ms");
    assert_eq!(
        met.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&met.stderr)
    );
    let missed = run("p50<100us");
    assert_eq!(missed.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&missed.stderr).contains("threshold p50<100us failed: measured")
    );
    let result: serde_json::Value = serde_json::from_slice(&missed.stdout).unwrap();
    assert!(
        result["latency_us"]["p50"].as_u64().unwrap() >= 1000,
        "the result is printed all the same"
    );
    let nonsense = run("p50=1ms");
    assert_eq!(
        nonsense.status.code(),
        Some(64),
        "a usage error, not a failed gate"
    );
}
