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

    // Deploy the target, then take away what meshbench made.
    let deployed = run(&[
        "k8s",
        "deploy",
        "-n",
        "plain-app",
        "--mesh",
        "none",
        "--node",
        "node-a",
    ]);
    assert!(
        deployed.status.success(),
        "{}",
        String::from_utf8_lossy(&deployed.stderr)
    );
    let text = String::from_utf8_lossy(&deployed.stdout);
    assert!(
        text.contains("applied deployment/meshbench-target in plain-app"),
        "{text}"
    );
    assert!(
        text.contains("target: http://meshbench-target.plain-app.svc:8080/"),
        "{text}"
    );
    let removed = run(&["k8s", "teardown", "-n", "plain-app"]);
    let text = String::from_utf8_lossy(&removed.stdout);
    assert!(
        text.contains("deleted service/meshbench-target in plain-app"),
        "{text}"
    );
    let again = run(&["k8s", "teardown", "-n", "plain-app"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing of meshbench's in plain-app"));
    let bad = run(&["k8s", "deploy", "-n", "plain-app", "--mesh", "consul"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--mesh: unknown mesh `consul`"));

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

/// `serve` with one worker, reading `fake`'s cluster and sampling its metrics every second.
fn sampling_server(scratch: &Scratch, fake: &FakeKube) -> Server {
    let mut setup = setup(&fake.kubeconfig());
    setup.workers = 1;
    setup
        .env
        .push(("MESHBENCH_METRICS_INTERVAL".into(), "1".into()));
    Server::start(scratch, &setup)
}

#[test]
fn a_benchmark_for_a_namespace_carries_its_mesh_record_and_proxy_cost() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let scratch = Scratch::new(BIN, "k8s-run");
    let server = sampling_server(&scratch, &fake);

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
    let server = sampling_server(&scratch, &fake);
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

/// A stand-in for the kubelet and the Job controller: for the first load Job the fake API
/// server receives, runs what its pods would — the real `meshbench run` command line of
/// the Job's container, one process per completion index, all at once — then writes the
/// pods (Succeeded, with their completion index) with their output as logs, and the Job's
/// status Complete, as a cluster would. Returns the Job as created.
fn run_load_job_like_a_cluster(fake: &FakeKube) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        if let Some(job) = fake.objects().into_iter().find(|o| o["kind"] == "Job") {
            break job;
        }
        assert!(Instant::now() < deadline, "no load Job was created");
        std::thread::sleep(Duration::from_millis(50));
    };
    let name = job["metadata"]["name"].as_str().unwrap().to_string();
    let namespace = job["metadata"]["namespace"].as_str().unwrap().to_string();
    let completions = job["spec"]["completions"].as_u64().unwrap();
    let args: Vec<String> = job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let outputs: Vec<std::process::Output> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..completions)
            .map(|_| {
                s.spawn(|| {
                    std::process::Command::new(BIN)
                        .args(&args)
                        .output()
                        .unwrap()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (index, output) in outputs.into_iter().enumerate() {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let pod = format!("{name}-{index}-x7k2p");
        fake.put(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": pod, "namespace": namespace,
                "labels": {"batch.kubernetes.io/job-name": name, "job-name": name,
                           "batch.kubernetes.io/job-completion-index": index.to_string()},
                "annotations": {"batch.kubernetes.io/job-completion-index": index.to_string()}
            },
            "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "meshbench:test"}]},
            "status": {"phase": "Succeeded"}
        }));
        fake.set_log(&namespace, &pod, String::from_utf8(output.stdout).unwrap());
    }
    let mut done = job.clone();
    done["status"] = serde_json::json!({
        "succeeded": completions, "completedIndexes": format!("0-{}", completions - 1),
        "conditions": [{"type": "Complete", "status": "True", "lastProbeTime": "2026-12-06T12:00:00Z",
                        "lastTransitionTime": "2026-12-06T12:00:00Z"}]
    });
    fake.put(done);
    job
}

#[test]
fn an_in_cluster_run_is_a_job_of_meshbench_run_pods_whose_results_come_back() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let target = meshbench_testkit::target::Target::start();
    let scratch = Scratch::new(BIN, "k8s-in-cluster");
    let mut setup = setup(&fake.kubeconfig());
    setup.workers = 1;
    setup.env.extend([
        ("MESHBENCH_LOAD_START_DELAY".to_string(), "2".to_string()),
        ("MESHBENCH_METRICS_INTERVAL".to_string(), "1".to_string()),
        (
            "MESHBENCH_IMAGE".to_string(),
            "registry.example/meshbench:0.1.0".to_string(),
        ),
    ]);
    let server = Server::start(&scratch, &setup);
    let url = target.url("http", "/");
    let id = server.start_job(&serde_json::json!({
        "test_type": "http", "mesh_type": "istio", "namespace": "bookinfo",
        "duration": 2, "concurrent_connections": 4, "rate": 400, "generators": 2,
        "in_cluster": true, "node": "node-b", "service_url": url,
    }));
    let job = run_load_job_like_a_cluster(&fake);
    let (finished, _) = server.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(
        finished["status"],
        "completed",
        "{finished}\n{}",
        server.proc.tail()
    );

    // The Job as the cluster received it.
    assert_eq!(job["metadata"]["namespace"], "bookinfo");
    assert_eq!(
        job["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "meshbench"
    );
    assert_eq!(
        job["metadata"]["labels"]["meshbench.io/run-id"],
        id.as_str()
    );
    let spec = &job["spec"];
    assert_eq!(
        (
            spec["completionMode"].as_str(),
            spec["completions"].as_u64(),
            spec["parallelism"].as_u64()
        ),
        (Some("Indexed"), Some(2), Some(2))
    );
    assert_eq!(spec["backoffLimit"], 0);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["nodeSelector"]["kubernetes.io/hostname"], "node-b");
    assert_eq!(pod["restartPolicy"], "Never");
    let annotations = &spec["template"]["metadata"]["annotations"];
    assert_eq!(
        annotations["sidecar.istio.io/nativeSidecar"], "true",
        "{annotations}"
    );
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "registry.example/meshbench:0.1.0");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(&args[..2], ["run", url.as_str()]);
    for pair in [["-c", "2"], ["-R", "200"], ["-d", "2s"]] {
        assert!(args.windows(2).any(|w| w == pair), "{pair:?} in {args:?}");
    }
    assert!(args.contains(&"--start-at") && args.contains(&"--interval-histograms"));
    let created: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].path, "/apis/batch/v1/namespaces/bookinfo/jobs");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.param("watch").as_deref() == Some("true")),
        "the Job was watched"
    );

    // The pods' results, merged, are the run's.
    let result = server.get(&format!("/benchmarks/jobs/{id}/result")).json();
    meshbench_testkit::schema::assert_valid_result(&result);
    assert_eq!(result["generators"]["count"], 2);
    assert_eq!(result["generators"]["completed"], 2);
    let rps = result["rps"].as_f64().unwrap();
    assert!((rps - 400.0).abs() / 400.0 < 0.02, "{rps} req/s");
    assert_eq!(result["cluster"]["mesh"]["mesh"], "istio");
}

#[test]
fn in_cluster_runs_need_a_cluster_and_a_reachable_target() {
    let scratch = Scratch::new(BIN, "k8s-in-cluster-refused");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let answer = server.post(
        "/benchmarks/start",
        &serde_json::json!({"test_type": "http", "in_cluster": true, "node": "Bad_Node"}),
    );
    assert_eq!(answer.status, 422, "{}", answer.body);
    let fields: Vec<String> = answer.json()["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        ["service_url", "node", "in_cluster"],
        "{}",
        answer.body
    );
}

/// Where cgroup v2 is mounted on this host.
fn cgroup2_mount() -> std::path::PathBuf {
    meshbench_probe_mount()
        .expect("no cgroup v2 mount in /proc/mounts: pod filtering cannot be tested")
}

fn meshbench_probe_mount() -> Option<std::path::PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| std::path::PathBuf::from(f[1]))
}

#[test]
fn a_probe_run_filtered_by_pod_counts_that_pods_containers_only() {
    if std::env::var("MESHBENCH_NO_BPF").is_ok_and(|v| v == "1") {
        eprintln!("MESHBENCH_NO_BPF=1: this host declares it has no eBPF; probe runs are tested elsewhere");
        return;
    }
    // bookinfo's productpage pod (Istio's injected fixture), running on this host: its uid
    // names its cgroup, as the kubelet's systemd driver names it.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let uid = "7d3e9a51-2c4b-4f8e-9a10-b6c2d4e8f013";
    let mut objects = meshbench_testkit::kube::load_fixtures(&["istio-sidecar"]);
    let mut named = String::new();
    for o in objects.iter_mut() {
        let name = o["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if o["kind"] == "Pod" && name.starts_with("productpage-v1") {
            o["metadata"]["uid"] = Value::from(uid);
            o["spec"]["nodeName"] = Value::from(host.clone());
            named = name;
        }
    }
    let fake = FakeKube::with_objects(objects);
    let root = cgroup2_mount();
    let pod = root
        .join(format!("meshbench-kubepods-{}.slice", std::process::id()))
        .join(format!(
            "kubepods-burstable-pod{}.slice",
            uid.replace('-', "_")
        ));
    let container = pod.join("cri-containerd-5e1f.scope");
    std::fs::create_dir_all(&container).unwrap();
    let cleanup = || {
        let _ = std::fs::remove_dir(&container);
        let _ = std::fs::remove_dir(&pod);
        let _ = std::fs::remove_dir(pod.parent().unwrap());
    };

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let scratch = Scratch::new(BIN, "k8s-probe-pod");
    let mut setup = setup(&fake.kubeconfig());
    setup.workers = 1;
    let server = Server::start(&scratch, &setup);
    let r = server.post(
        "/ebpf/probe/start",
        &serde_json::json!({"duration": 3, "ports": [port], "namespace": "bookinfo", "pod_filter": "productpage"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["probe_id"].as_str().unwrap().to_string();
    let job = || server.get(&format!("/ebpf/probe/jobs/{id}")).json();
    let deadline = Instant::now() + Duration::from_secs(15);
    while job()["status"] != "running" {
        assert!(
            Instant::now() < deadline,
            "not running: {}\n{}",
            job(),
            server.proc.tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Three connections from inside the pod's container cgroup, two from outside it.
    let inside = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs || exit 1; \
             for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; done",
            container.display()
        ))
        .status()
        .unwrap();
    for _ in 0..2 {
        drop(std::net::TcpStream::connect(("127.0.0.1", port)).unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let finished = loop {
        let j = job();
        if j["status"] == "completed" || j["status"] == "failed" {
            break j;
        }
        assert!(Instant::now() < deadline, "not finished: {j}");
        std::thread::sleep(Duration::from_millis(50));
    };
    cleanup();
    assert!(inside.success(), "bash could not join the pod's cgroup");
    assert_eq!(finished["status"], "completed", "{finished}");
    let report = &finished["result"];
    assert_eq!(report["connections"]["count"], 3, "{report}");
    assert_eq!(
        report["filter"]["pods"],
        serde_json::json!([format!("bookinfo/{named}")])
    );
    assert_eq!(
        report["filter"]["cgroup_trees"],
        serde_json::json!([pod.display().to_string()])
    );

    // A prefix no pod on this node has: the run fails and says why.
    let r = server.post(
        "/ebpf/probe/start",
        &serde_json::json!({"duration": 1, "namespace": "bookinfo", "pod_filter": "reviews"}),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let id = r.json()["probe_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(15);
    let failed = loop {
        let j = server.get(&format!("/ebpf/probe/jobs/{id}")).json();
        if j["status"] == "failed" || j["status"] == "completed" {
            break j;
        }
        assert!(Instant::now() < deadline, "not finished: {j}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("no pod of namespace bookinfo named reviews"),
        "{error}"
    );
}

#[test]
fn a_slow_cluster_does_not_make_the_server_look_unready() {
    let fake = FakeKube::start(&["none"]);
    fake.slow("/version", Duration::from_secs(30));
    let scratch = Scratch::new(BIN, "k8s-slow-health");
    let server = Server::start(&scratch, &setup(&fake.kubeconfig()));
    let started = Instant::now();
    let health = server.get("/health");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        health.status, 200,
        "the store and the queue are fine: {}",
        health.body
    );
    let health = health.json();
    assert_eq!(health["kubernetes_connected"], false);
    let reason = health["kubernetes"]["reason"].as_str().unwrap();
    assert!(reason.contains("did not answer"), "{reason}");
}

/// With `MESHBENCH_NAMESPACE_ALLOW`, the cluster views show and open only those namespaces,
/// an in-cluster run and a probe may use no other (403 naming the variable), and nothing is
/// deployed for a refused run.
#[test]
fn the_namespace_policy_limits_views_runs_and_probes() {
    let fake = FakeKube::start(&["istio-sidecar", "linkerd", "none"]);
    let scratch = Scratch::new(BIN, "k8s-namespaces");
    let mut setup = setup(&fake.kubeconfig());
    setup
        .env
        .push(("MESHBENCH_NAMESPACE_ALLOW".into(), "book*,default".into()));
    setup.env.push((
        "MESHBENCH_TARGET_ALLOW".into(),
        "*.svc.cluster.local".into(),
    ));
    let server = Server::start(&scratch, &setup);

    let listed = server.get("/kubernetes/namespaces").json();
    let names: Vec<&str> = listed["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"bookinfo"), "{names:?}");
    assert!(!names.contains(&"emojivoto"), "{names:?}");
    assert!(!names.contains(&"istio-system"), "{names:?}");
    assert_eq!(server.get("/kubernetes/pods/bookinfo").status, 200);
    for path in [
        "/kubernetes/pods/emojivoto",
        "/kubernetes/services/kube-system",
        "/kubernetes/mesh-status/emojivoto",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert_eq!(r.json()["code"], "namespace_forbidden");
        assert!(r.body.contains("MESHBENCH_NAMESPACE_ALLOW"), "{}", r.body);
    }

    let before = fake.objects().len();
    let run = serde_json::json!({"test_type": "http", "duration": 5, "in_cluster": true,
        "namespace": "emojivoto", "service_url": "http://web-svc.emojivoto.svc.cluster.local/"});
    let r = server.post("/benchmarks/start", &run);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "namespace_forbidden");
    assert!(r.body.contains("namespace"), "{}", r.body);
    let probe = serde_json::json!({"duration": 5, "namespace": "emojivoto"});
    let r = server.post("/ebpf/probe/start", &probe);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["code"], "namespace_forbidden");
    assert_eq!(
        fake.objects().len(),
        before,
        "a refused run deployed something"
    );
    let jobs = server.get("/benchmarks/jobs").json();
    assert_eq!(jobs.as_array().unwrap().len(), 0, "{jobs}");
}
