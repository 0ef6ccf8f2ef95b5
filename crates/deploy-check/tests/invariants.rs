//! The invariant checks themselves catch what they exist to catch: each test breaks one
//! rule in an otherwise good deployment (the chart rendered with default values).

mod common;

use common::expect_chart;
use meshbench_deploy_check::chart::{Chart, Release};
use meshbench_deploy_check::checks::{check, Expect};
use meshbench_deploy_check::deploy_dir;
use meshbench_deploy_check::objects::{Document, Object};
use serde_json::{json, Value};

fn good() -> (Vec<Document>, Expect) {
    let chart = Chart::load(&deploy_dir().join("helm/meshbench")).expect("chart");
    let docs = chart
        .documents(&Release::new("meshbench", "meshbench"), &chart.values)
        .expect("renders");
    let version = chart.metadata["appVersion"]
        .as_str()
        .expect("appVersion")
        .to_string();
    let expect = expect_chart("meshbench", "meshbench", &version, &chart.values);
    assert_eq!(check(&docs, &expect), Vec::<String>::new());
    (docs, expect)
}

/// The violations after `edit` changes the JSON of the object `kind`/`name`.
fn violations(kind: &str, name: &str, edit: impl Fn(&mut Value)) -> Vec<String> {
    let (mut docs, expect) = good();
    let doc = docs
        .iter_mut()
        .find(|d| d.object.kind() == kind && d.object.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"));
    let mut value = doc.object.to_value();
    edit(&mut value);
    doc.object = Object::parse(&value).expect("still a valid object");
    check(&docs, &expect)
}

fn assert_caught(errors: &[String], needle: &str) {
    assert!(
        errors.iter().any(|e| e.contains(needle)),
        "expected a violation mentioning `{needle}`, got {errors:#?}"
    );
}

#[test]
fn wildcards_secrets_and_cluster_wide_writes_are_caught() {
    let e = violations("ClusterRole", "meshbench-detect", |v| {
        v["rules"][0]["verbs"] = json!(["*"]);
    });
    assert_caught(&e, "wildcard `*`");
    let e = violations("ClusterRole", "meshbench-detect", |v| {
        v["rules"][0]["resources"] = json!(["namespaces", "pods", "services", "secrets"]);
    });
    assert_caught(&e, "on secrets");
    let e = violations("ClusterRole", "meshbench-detect", |v| {
        v["rules"][1]["verbs"] = json!(["get", "list", "watch", "create"]);
    });
    assert_caught(&e, "cluster-wide create on apps/deployments");
    let e = violations("Role", "meshbench-cilium-config", |v| {
        v["rules"][0]
            .as_object_mut()
            .expect("rule")
            .remove("resourceNames");
    });
    assert_caught(&e, "grants more than needed: get core/configmaps");
    let e = violations("Role", "meshbench-benchmark", |v| {
        v["rules"][3]["verbs"] = json!(["get", "list"]);
    });
    assert_caught(&e, "lacks a needed grant: watch core/pods");
}

#[test]
fn bindings_to_other_roles_or_subjects_are_caught() {
    let e = violations("ClusterRoleBinding", "meshbench-detect", |v| {
        v["roleRef"]["name"] = json!("cluster-admin");
    });
    assert_caught(&e, "not defined here");
    let e = violations("RoleBinding", "meshbench-benchmark", |v| {
        v["subjects"][0]["name"] = json!("default");
    });
    assert_caught(&e, "subjects must be exactly");
}

#[test]
fn a_privileged_workload_other_than_the_probe_is_caught() {
    let e = violations("Deployment", "meshbench-worker", |v| {
        v["spec"]["template"]["spec"]["hostPID"] = json!(true);
    });
    assert_caught(&e, "only the probe DaemonSet may be: hostPID");
    let e = violations("Deployment", "meshbench-server", |v| {
        v["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] =
            json!(["NET_ADMIN"]);
    });
    assert_caught(&e, "adds capabilities");
    let e = violations("DaemonSet", "meshbench-probe-worker", |v| {
        v["spec"]["template"]["spec"]["volumes"][0]["hostPath"]["path"] = json!("/");
    });
    assert_caught(&e, "hostPath volumes");
}

#[test]
fn environment_images_and_ports_that_disagree_are_caught() {
    let e = violations("ConfigMap", "meshbench-settings", |v| {
        v["data"]["MESHBENCH_WORKER"] = json!("2");
    });
    assert_caught(&e, "MESHBENCH_WORKER is not a variable meshbench reads");
    let e = violations("ConfigMap", "meshbench-settings", |v| {
        v["data"]["API_PORT"] = json!("8080");
    });
    assert_caught(&e, "API_PORT=`8080`");
    let e = violations("Deployment", "meshbench-worker", |v| {
        v["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = json!("0");
    });
    assert_caught(&e, "MESHBENCH_NO_BPF");
    let e = violations("Deployment", "meshbench-worker", |v| {
        v["spec"]["template"]["spec"]["containers"][0]["image"] = json!("meshbench:latest");
    });
    assert_caught(&e, "runs Some(\"meshbench:latest\")");
    let e = violations("Service", "meshbench", |v| {
        v["spec"]["ports"][0]["targetPort"] = json!(8080);
    });
    assert_caught(&e, "expected API_PORT 8000");
    let e = violations("Deployment", "meshbench-server", |v| {
        v["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] =
            json!("/");
    });
    assert_caught(&e, "readiness probe must GET /health");
}

#[test]
fn missing_labels_are_caught() {
    let e = violations("Secret", "meshbench-urls", |v| {
        v["metadata"]["labels"]
            .as_object_mut()
            .expect("labels")
            .remove("app.kubernetes.io/part-of");
    });
    assert_caught(&e, "label app.kubernetes.io/part-of is not `meshbench`");
}

#[test]
fn a_service_monitor_that_misses_the_service_or_its_token_is_caught() {
    let chart = Chart::load(&deploy_dir().join("helm/meshbench")).expect("chart");
    let values = chart.values_with(&[&json!({"metrics": {"serviceMonitor": {"enabled": true}}})]);
    assert_eq!(chart.validate_values(&values), Vec::<String>::new());
    let docs = chart
        .documents(&Release::new("meshbench", "meshbench"), &values)
        .expect("renders");
    let version = chart.metadata["appVersion"].as_str().unwrap().to_string();
    let expect = expect_chart("meshbench", "meshbench", &version, &values);
    assert_eq!(check(&docs, &expect), Vec::<String>::new());
    let at = docs
        .iter()
        .position(|d| d.object.kind() == "ServiceMonitor")
        .expect("a ServiceMonitor");
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut docs = docs.clone();
        let mut value = docs[at].object.to_value();
        edit(&mut value);
        docs[at].object = Object::parse(&value).expect("still a valid object");
        check(&docs, &expect)
    };
    assert_caught(
        &broken(&|v| v["spec"]["endpoints"][0]["port"] = json!("metrics")),
        "not a port the Service names",
    );
    assert_caught(
        &broken(&|v| {
            v["spec"]["endpoints"][0]
                .as_object_mut()
                .unwrap()
                .remove("authorization");
        }),
        "without a bearer token",
    );
    assert_caught(
        &broken(&|v| {
            v["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] = json!("worker");
        }),
        "does not match the Service",
    );
    assert_caught(
        &broken(&|v| v["spec"]["namespaceSelector"]["matchNames"] = json!(["default"])),
        "scrapes in",
    );
    // A field the operator's CRD does not have (here, a misplaced one) is refused.
    let mut value = docs[at].object.to_value();
    value["spec"]["endpoints"][0]["bearerToken"] = json!("mbt_inline");
    let refused = Object::parse(&value).expect_err("an unknown field");
    assert!(refused.contains("bearerToken"), "{refused}");
}
