//! The Kubernetes integration from the outside: `meshbench serve` and `meshbench k8s` as
//! real processes, with `KUBECONFIG` pointing at the test kit's fake API server (fixture
//! clusters shaped after Istio's, Linkerd's and Cilium's own objects; see
//! `crates/testkit/fixtures/kube/README.md`).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use meshbench_testkit::kube::FakeKube;
use meshbench_testkit::server::{command, Scratch, Server, Setup};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

fn setup(kubeconfig: &std::path::Path) -> Setup {
    let mut setup = Setup::sqlite(0);
    setup.env = vec![
        ("KUBECONFIG".into(), kubeconfig.display().to_string()),
        ("MESHBENCH_KUBE_TIMEOUT".into(), "2".into()),
    ];
    setup
}

#[test]
fn the_endpoints_answer_from_the_cluster() {
    let fake = FakeKube::start(&["istio-sidecar", "linkerd", "none"]);
    let scratch = Scratch::new(BIN, "k8s-api");
    let server = Server::start(&scratch, &setup(&fake.kubeconfig()));

    let health = server.get("/health").json();
    assert_eq!(health["kubernetes_connected"], true, "{health}");
    assert_eq!(health["kubernetes"]["configured"], true);
    assert_eq!(health["kubernetes"]["version"], "v1.31.2");
    assert_eq!(health["kubernetes"]["server"], format!("{}/", fake.url()));

    let namespaces = server.get("/kubernetes/namespaces");
    assert_eq!(namespaces.status, 200, "{}", namespaces.body);
    let namespaces = namespaces.json();
    let list = namespaces["namespaces"].as_array().unwrap();
    let bookinfo = list.iter().find(|n| n["name"] == "bookinfo").unwrap();
    assert_eq!(bookinfo["mesh"]["mesh"], "istio");
    assert_eq!(bookinfo["mesh"]["mode"], "sidecar");
    assert_eq!(bookinfo["mesh"]["version"], "1.24.2");
    assert_eq!(
        (
            bookinfo["mesh"]["pods_in_mesh"].as_u64(),
            bookinfo["mesh"]["pods"].as_u64()
        ),
        (Some(3), Some(4))
    );
    assert_eq!(bookinfo["phase"], "Active");
    let emojivoto = list.iter().find(|n| n["name"] == "emojivoto").unwrap();
    assert_eq!(emojivoto["mesh"]["mesh"], "linkerd");

    let pods = server.get("/kubernetes/pods/bookinfo").json();
    assert_eq!(pods["namespace"], "bookinfo");
    let pods = pods["pods"].as_array().unwrap();
    assert_eq!(pods.len(), 4);
    assert_eq!(
        pods.iter().filter(|p| p["proxy"] == "istio-proxy").count(),
        3
    );

    let services = server.get("/kubernetes/services/bookinfo").json();
    let names: Vec<&str> = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["details", "productpage", "reviews"]);

    let status = server
        .get("/kubernetes/mesh-status/bookinfo?mesh_type=istio")
        .json();
    assert_eq!(status["mesh"], "istio");
    assert_eq!(status["agrees"], true);
    assert_eq!(status["mtls"]["mode"], "STRICT");
    assert_eq!(status["control_plane"]["healthy"], true);
    assert_eq!(
        status["injection"]["without_proxy"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let status = server
        .get("/kubernetes/mesh-status/bookinfo?mesh_type=linkerd")
        .json();
    assert_eq!(
        (status["expected"].as_str(), status["agrees"].as_bool()),
        (Some("linkerd"), Some(false))
    );

    // Bad input is the caller's: 4xx with the field named.
    let unknown = server.get("/kubernetes/pods/nowhere");
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["code"], "namespace_not_found");
    let bad_name = server.get("/kubernetes/mesh-status/Not_A_Namespace");
    assert_eq!(bad_name.status, 422);
    assert_eq!(bad_name.json()["details"][0]["field"], "namespace");
    let bad_mesh = server.get("/kubernetes/mesh-status/bookinfo?mesh_type=consul");
    assert_eq!(bad_mesh.status, 422);
    assert_eq!(bad_mesh.json()["details"][0]["field"], "mesh_type");
}

#[test]
fn cluster_failures_are_clear_and_bounded() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let scratch = Scratch::new(BIN, "k8s-faults");
    let server = Server::start(&scratch, &setup(&fake.kubeconfig()));

    fake.forbid("list", "pods", Some("bookinfo"));
    let refused = server.get("/kubernetes/pods/bookinfo");
    assert_eq!(refused.status, 502, "{}", refused.body);
    let body = refused.json();
    assert_eq!(body["code"], "kubernetes_forbidden");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("list pods in namespace bookinfo"),
        "{message}"
    );
    assert!(
        message.contains("system:serviceaccount:meshbench:meshbench"),
        "{message}"
    );

    fake.slow(
        "/api/v1/namespaces/istio-system/services",
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let slow = server.get("/kubernetes/services/istio-system");
    let took = started.elapsed();
    assert_eq!(slow.status, 504, "{}", slow.body);
    assert_eq!(slow.json()["code"], "kubernetes_timeout");
    assert!(took < Duration::from_secs(4), "answered after {took:?}");
}

#[test]
fn an_unusable_kubeconfig_is_reported_not_fatal() {
    let scratch = Scratch::new(BIN, "k8s-broken");
    let path = scratch.path().join("kubeconfig");
    std::fs::write(&path, "apiVersion: v1\nkind: Config\nclusters: {}\n").unwrap();
    let server = Server::start(&scratch, &setup(&path));
    let health = server.get("/health");
    assert_eq!(health.status, 200, "the rest of the platform works");
    let health = health.json();
    assert_eq!(health["kubernetes_connected"], false);
    assert_eq!(health["kubernetes"]["configured"], true);
    let reason = health["kubernetes"]["reason"].as_str().unwrap();
    assert!(reason.contains(&path.display().to_string()), "{reason}");
    let answer = server.get("/kubernetes/namespaces");
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json()["code"], "kubernetes_misconfigured");
}

#[test]
fn the_k8s_command_prints_tables_json_and_judges_the_mesh() {
    let fake = FakeKube::start(&["istio-sidecar", "linkerd", "none"]);
    let scratch = Scratch::new(BIN, "k8s-cli");
    let setup = setup(&fake.kubeconfig());
    let run = |args: &[&str]| command(&scratch, &setup, args).output().unwrap();

    let table = run(&["k8s", "namespaces"]);
    assert!(
        table.status.success(),
        "{}",
        String::from_utf8_lossy(&table.stderr)
    );
    let text = String::from_utf8_lossy(&table.stdout);
    let header = text.lines().next().unwrap();
    assert!(
        header.starts_with("NAMESPACE") && header.contains("IN MESH"),
        "{text}"
    );
    let bookinfo = text.lines().find(|l| l.starts_with("bookinfo ")).unwrap();
    let cells: Vec<&str> = bookinfo.split_whitespace().collect();
    assert_eq!(cells, ["bookinfo", "istio", "sidecar", "1.24.2", "3/4"]);
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["plain-app", "none", "-", "-", "0/2"]),
        "{text}"
    );

    let agrees = run(&[
        "k8s",
        "mesh-status",
        "emojivoto",
        "--mesh-type",
        "linkerd",
        "--json",
    ]);
    assert_eq!(agrees.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&agrees.stdout).unwrap();
    assert_eq!(
        (json["mesh"].as_str(), json["version"].as_str()),
        (Some("linkerd"), Some("stable-2.14.10"))
    );

    let disagrees = run(&["k8s", "mesh-status", "emojivoto", "--mesh-type", "istio"]);
    assert_eq!(
        disagrees.status.code(),
        Some(3),
        "a disagreement is an exit code scripts can test"
    );
    assert!(String::from_utf8_lossy(&disagrees.stdout).contains("DISAGREES with --mesh-type istio"));

    let pods = run(&["k8s", "pods", "emojivoto"]);
    let text = String::from_utf8_lossy(&pods.stdout);
    let vote_bot = text.lines().find(|l| l.starts_with("vote-bot")).unwrap();
    assert!(vote_bot.trim_end().ends_with('-'), "no proxy: {vote_bot}");

    let missing = run(&["k8s", "pods", "nowhere"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("namespace `nowhere` does not exist"));

    // No configuration at all: one clear line, exit 1.
    let unconfigured = command(&scratch, &Setup::sqlite(0), &["k8s", "namespaces"])
        .output()
        .unwrap();
    assert_eq!(unconfigured.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unconfigured.stderr)
        .contains("no Kubernetes cluster is configured"));
}

/// The istio-proxy CPU (millicores) and memory (bytes) the bookinfo fixtures' PodMetrics
/// report, summed: what one sample of the run's proxies must read.
fn bookinfo_proxy_usage() -> (f64, f64) {
    let mut cpu = 0.0;
    let mut memory = 0.0;
    for o in meshbench_testkit::kube::load_fixtures(&["istio-sidecar"]) {
        if o["kind"] != "PodMetrics" || o["metadata"]["namespace"] != "bookinfo" {
            continue;
        }
        for c in o["containers"].as_array().unwrap() {
            if c["name"] == "istio-proxy" {
                cpu += meshbench_core::cluster::cpu_millicores(c["usage"]["cpu"].as_str().unwrap())
                    .unwrap();
                memory +=
                    meshbench_core::cluster::memory_bytes(c["usage"]["memory"].as_str().unwrap())
                        .unwrap();
            }
        }
    }
    (cpu, memory)
}

fn run_in(server: &Server, namespace: &str, mesh_type: &str) -> Value {
    let id = server.start_job(&serde_json::json!({
        "test_type": "http",
        "mesh_type": mesh_type,
        "namespace": namespace,
        "duration": 2,
        "concurrent_connections": 2,
        "rate": 200,
    }));
    let (job, _) = server.wait_finished(&id, Duration::from_secs(30));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.proc.tail());
    let result = server.get(&format!("/benchmarks/jobs/{id}/result")).json();
    meshbench_testkit::schema::assert_valid_result(&result);
    result
}

#[test]
fn a_benchmark_for_a_namespace_carries_its_mesh_record_and_proxy_cost() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let scratch = Scratch::new(BIN, "k8s-run");
    let mut setup = setup(&fake.kubeconfig());
    setup.workers = 1;
    setup
        .env
        .push(("MESHBENCH_METRICS_INTERVAL".into(), "1".into()));
    let server = Server::start(&scratch, &setup);

    let result = run_in(&server, "bookinfo", "istio");
    let cluster = &result["cluster"];
    assert_eq!(cluster["namespace"], "bookinfo");
    assert_eq!(cluster["mesh"]["mesh"], "istio", "{cluster}");
    assert_eq!(cluster["mesh"]["version"], "1.24.2");
    assert_eq!(cluster["mesh_mismatch"], false);
    let resources = &cluster["resources"];
    let samples = resources["samples"].as_array().unwrap();
    assert!(samples.len() >= 2, "sampled through the run: {resources}");
    let (cpu, memory) = bookinfo_proxy_usage();
    let read = resources["proxy_cpu_millicores"].as_f64().unwrap();
    assert!((read - cpu).abs() < 1e-6, "{read} vs {cpu}");
    assert!((resources["proxy_memory_bytes"].as_f64().unwrap() - memory).abs() < 1e-3);
    let rps = result["rps"].as_f64().unwrap();
    let per_1k = resources["proxy_cpu_millicores_per_1k_rps"]
        .as_f64()
        .unwrap();
    assert!((per_1k - cpu / (rps / 1000.0)).abs() < 1e-6, "{per_1k}");
    assert!(resources["app_cpu_millicores"].as_f64().unwrap() > 0.0);
    assert_eq!(
        resources["proxies"].as_array().unwrap().len(),
        3,
        "{resources}"
    );

    // Started as Linkerd, behind Istio: flagged.
    let result = run_in(&server, "bookinfo", "linkerd");
    assert_eq!(result["cluster"]["mesh_mismatch"], true);
    assert_eq!(result["cluster"]["mesh"]["agrees"], false);
}

#[test]
fn without_a_metrics_server_the_result_says_so() {
    let objects: Vec<Value> = meshbench_testkit::kube::load_fixtures(&["none"])
        .into_iter()
        .filter(|o| o["kind"] != "PodMetrics")
        .collect();
    let fake = FakeKube::with_objects(objects);
    let scratch = Scratch::new(BIN, "k8s-nometrics");
    let mut setup = setup(&fake.kubeconfig());
    setup.workers = 1;
    setup
        .env
        .push(("MESHBENCH_METRICS_INTERVAL".into(), "1".into()));
    let server = Server::start(&scratch, &setup);
    let result = run_in(&server, "plain-app", "baseline");
    let cluster = &result["cluster"];
    assert_eq!(cluster["mesh"]["mesh"], "baseline");
    assert_eq!(cluster["mesh_mismatch"], false);
    assert!(cluster["resources"].is_null());
    assert_eq!(
        cluster["resources_error"],
        "no metrics server: the metrics.k8s.io API is not served"
    );
    // A namespace the cluster does not have: the run still runs, the record says why.
    let result = run_in(&server, "nowhere", "baseline");
    assert_eq!(
        result["cluster"]["mesh_error"],
        "namespace `nowhere` does not exist"
    );
}
