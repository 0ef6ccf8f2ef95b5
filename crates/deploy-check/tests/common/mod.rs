//! What the tests share: the variables meshbench reads and the expectations for a deployment.

#![allow(dead_code)]

use std::collections::BTreeSet;

use meshbench_deploy_check::checks::Expect;
use meshbench_deploy_check::{env_example_names, env_example_value, repo_root, VERSION};
use serde_json::Value;

/// Variables meshbench reads that `.env.example` leaves out on purpose; each must be
/// documented in the README.
pub const DOCUMENTED_EXTRAS: &[&str] = &["MESHBENCH_NO_BPF"];

/// `.env.example`'s text.
pub fn env_example() -> String {
    let path = repo_root().join(".env.example");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every variable meshbench reads: `.env.example`'s and the documented extras.
pub fn env_names() -> BTreeSet<String> {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let mut names: BTreeSet<String> = env_example_names(&env_example()).into_iter().collect();
    assert!(
        names.len() >= 10,
        ".env.example lists too few variables: {names:?}"
    );
    for extra in DOCUMENTED_EXTRAS {
        assert!(
            readme.contains(extra),
            "README.md does not document {extra}"
        );
        names.insert(extra.to_string());
    }
    names
}

/// `API_PORT` as `.env.example` sets it.
pub fn api_port() -> i32 {
    env_example_value(&env_example(), "API_PORT")
        .and_then(|p| p.parse().ok())
        .expect(".env.example sets API_PORT to a number")
}

/// The plain manifests' deployment: release `meshbench` in `meshbench`, benchmarking in
/// `bench`, the probe DaemonSet included.
pub fn expect_manifests() -> Expect {
    Expect {
        name: "meshbench".into(),
        namespace: "meshbench".into(),
        version: VERSION.into(),
        image: format!("localhost/meshbench:{VERSION}"),
        benchmark_namespaces: vec!["bench".into()],
        cilium_namespace: "kube-system".into(),
        probe_workers: true,
        env_names: env_names(),
        api_port: api_port(),
    }
}

/// What the chart must render for `name` in `namespace` with `values`.
pub fn expect_chart(name: &str, namespace: &str, app_version: &str, values: &Value) -> Expect {
    let s = |pointer: &str| {
        values
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("values lack {pointer}"))
            .to_string()
    };
    Expect {
        name: name.into(),
        namespace: namespace.into(),
        version: app_version.into(),
        image: format!("{}:{}", s("/image/repository"), s("/image/tag")),
        benchmark_namespaces: values["benchmarkNamespaces"]
            .as_array()
            .expect("benchmarkNamespaces is a list")
            .iter()
            .map(|n| n.as_str().expect("a namespace name").to_string())
            .collect(),
        cilium_namespace: s("/cilium/namespace"),
        probe_workers: values
            .pointer("/probeWorkers/enabled")
            .and_then(Value::as_bool)
            .expect("probeWorkers.enabled is a boolean"),
        env_names: env_names(),
        api_port: api_port(),
    }
}

/// Panics listing `errors` under `what`, unless there are none.
pub fn assert_none(what: &str, errors: &[String]) {
    assert!(
        errors.is_empty(),
        "{what}: {} problem(s):\n  {}",
        errors.len(),
        errors.join("\n  ")
    );
}
