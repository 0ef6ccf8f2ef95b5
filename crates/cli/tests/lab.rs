//! The mesh lab as root: each topology comes up (namespaces, veth link, the built-in
//! target, real Envoy sidecars), carries a short load from the client host, and goes down
//! leaving no namespace, link, process or file behind — checked, not assumed.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

fn lab(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("lab")
        .args(args)
        .env("MESHBENCH_LAB_DIR", dir)
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn each_topology_comes_up_carries_load_and_leaves_nothing_behind() {
    assert!(
        meshbench_lab::is_root(),
        "the lab test needs root (network namespaces, veth links); .ci/run runs as root"
    );
    meshbench_lab::envoy_binary().expect("Envoy: run scripts/lab.sh (scripts/test does)");
    let scratch = meshbench_testkit::temp_dir("lab");
    let dir = scratch.path().join("lab");
    for topology in meshbench_lab::Topology::ALL {
        let name = topology.as_str();
        ok(&lab(&dir, &["up", "--topology", name]));
        let status: Value = serde_json::from_str(&ok(&lab(&dir, &["status", "--json"]))).unwrap();
        let pids: Vec<u32> = status["state"]["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap() as u32)
            .collect();
        let expected = if name == "baseline" { 1 } else { 3 };
        assert_eq!(pids.len(), expected, "{status}");
        assert_eq!(
            status["alive"].as_array().unwrap().len(),
            expected,
            "{status}"
        );
        if name != "baseline" {
            assert_eq!(status["state"]["envoy_version"], "1.40.0", "{status}");
        }
        // A second up is refused while one is up.
        assert!(!lab(&dir, &["up", "--topology", name]).status.success());

        let run = ok(&lab(
            &dir,
            &[
                "run",
                "--topology",
                name,
                "--path",
                "/?delay=1ms",
                "--",
                "-c",
                "2",
                "-R",
                "200",
                "-d",
                "1s",
                "--json",
                "--no-progress",
            ],
        ));
        let result: Value = serde_json::from_str(&run).unwrap();
        assert!(
            result["requests"].as_u64().unwrap() >= 150,
            "{name}: {result}"
        );
        assert_eq!(result["errors"], 0, "{name}");
        assert_eq!(
            result["status_codes"]["200"], result["requests"],
            "{name}: every answer came from the target"
        );
        assert!(
            result["latency_us"]["p50"].as_u64().unwrap() >= 1000,
            "{name}: the target's 1 ms delay is in every answer"
        );

        ok(&lab(&dir, &["down"]));
        assert!(
            meshbench_lab::namespaces().unwrap().is_empty(),
            "{name}: namespaces left"
        );
        let link = Command::new("ip")
            .args(["link", "show", meshbench_lab::CLIENT_LINK])
            .output()
            .unwrap();
        assert!(!link.status.success(), "{name}: the veth link is left");
        for pid in &pids {
            assert!(!meshbench_lab::alive(*pid), "{name}: process {pid} is left");
        }
        assert!(!dir.exists(), "{name}: the state directory is left");
    }
    // `lab run` with nothing up brings its topology up and takes it down again.
    ok(&lab(
        &dir,
        &[
            "run",
            "--topology",
            "sidecar",
            "--",
            "-c",
            "1",
            "-R",
            "50",
            "-d",
            "1s",
            "--no-progress",
        ],
    ));
    assert!(meshbench_lab::namespaces().unwrap().is_empty());
    assert!(!dir.exists());
}
