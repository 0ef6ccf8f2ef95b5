//! The Helm chart, deploy/helm/meshbench: its templates keep to the documented subset of
//! Helm's template language; its values pass its schema; rendered with its default values
//! and with ci/external-values.yaml, every document parses strictly into its k8s-openapi
//! type and keeps meshbench's invariants; with default values it renders exactly the plain
//! manifests (less their Namespaces and Helm's own labels).

mod common;

use std::collections::BTreeMap;

use common::{assert_none, expect_chart};
use meshbench_deploy_check::chart::{check_subset, Chart, Release};
use meshbench_deploy_check::checks::check;
use meshbench_deploy_check::objects::{diff, parse_dir, Document, Object};
use meshbench_deploy_check::{deploy_dir, yaml, VERSION};
use serde_json::{json, Value};

fn chart() -> Chart {
    Chart::load(&deploy_dir().join("helm/meshbench")).unwrap_or_else(|e| panic!("{e}"))
}

fn ci_values() -> Value {
    let path = deploy_dir().join("helm/meshbench/ci/external-values.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml::document(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn app_version(chart: &Chart) -> String {
    chart.metadata["appVersion"]
        .as_str()
        .expect("Chart.yaml has appVersion")
        .to_string()
}

fn documents(chart: &Chart, release: &Release, values: &Value) -> Vec<Document> {
    chart.documents(release, values).unwrap_or_else(|errors| {
        assert_none(
            "the chart does not render into strict Kubernetes objects",
            &errors,
        );
        unreachable!()
    })
}

fn kinds(docs: &[Document]) -> BTreeMap<&'static str, usize> {
    let mut kinds = BTreeMap::new();
    for d in docs {
        *kinds.entry(d.object.kind()).or_default() += 1;
    }
    kinds
}

fn find<'a>(docs: &'a [Document], kind: &str, name: &str) -> &'a Document {
    docs.iter()
        .find(|d| d.object.kind() == kind && d.object.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn templates_keep_to_the_documented_subset() {
    let chart = chart();
    assert!(chart.templates.len() >= 7, "{:?}", chart.templates.len());
    let mut actions = 0;
    for t in &chart.templates {
        assert_none(
            &format!("templates/{}", t.name),
            &check_subset(&t.name, &t.text),
        );
        actions += t.text.matches("{{").count();
    }
    eprintln!(
        "{} templates, {actions} template actions, all in the subset",
        chart.templates.len()
    );
}

#[test]
fn the_chart_is_this_version_of_meshbench() {
    let chart = chart();
    assert_eq!(chart.metadata["apiVersion"], "v2");
    assert_eq!(chart.metadata["name"], "meshbench");
    assert_eq!(
        app_version(&chart),
        VERSION,
        "Chart.yaml appVersion vs the workspace"
    );
    assert_eq!(
        chart.values["image"]["tag"], VERSION,
        "values.yaml image.tag"
    );
    let version = chart.metadata["version"]
        .as_str()
        .expect("Chart.yaml version");
    assert_eq!(
        version
            .split('.')
            .filter(|p| p.parse::<u32>().is_ok())
            .count(),
        3,
        "{version}"
    );
}

#[test]
fn values_files_pass_the_schema_and_typos_do_not() {
    let chart = chart();
    assert_none("values.yaml", &chart.validate_values(&chart.values));
    let ci = chart.values_with(&[&ci_values()]);
    assert_none(
        "values.yaml + ci/external-values.yaml",
        &chart.validate_values(&ci),
    );
    for (what, bad) in [
        ("an unknown key", json!({"workers": {"replica": 3}})),
        (
            "a boolean as a string",
            json!({"probeWorkers": {"enabled": "yes"}}),
        ),
        (
            "a number Helm would print as 1e+06",
            json!({"settings": {"maxRate": 1000000}}),
        ),
        ("a MySQL URL", json!({"database": {"url": "mysql://db/x"}})),
        (
            "a namespace that is not a DNS label",
            json!({"benchmarkNamespaces": ["Bench_1"]}),
        ),
        ("a value removed", json!({"redis": {"url": null}})),
    ] {
        let values = chart.values_with(&[&bad]);
        assert!(
            !chart.validate_values(&values).is_empty(),
            "the schema accepts {what}"
        );
        assert!(
            chart
                .render(&Release::new("meshbench", "meshbench"), &values)
                .is_err(),
            "the chart renders {what}"
        );
    }
}

#[test]
fn default_values_render_strict_objects_that_keep_the_invariants() {
    let chart = chart();
    let release = Release::new("meshbench", "meshbench");
    let docs = documents(&chart, &release, &chart.values);
    let kinds = kinds(&docs);
    eprintln!("chart, default values: {} documents: {kinds:?}", docs.len());
    assert_eq!(kinds.get("DaemonSet"), Some(&1));
    assert_eq!(kinds.get("Role"), Some(&2));
    assert_eq!(kinds.get("ServiceMonitor"), None, "off unless asked for");
    let expect = expect_chart(
        "meshbench",
        "meshbench",
        &app_version(&chart),
        &chart.values,
    );
    assert_none("chart with default values", &check(&docs, &expect));
}

#[test]
fn second_values_render_strict_objects_that_keep_the_invariants() {
    let chart = chart();
    let release = Release::new("perf", "perf-system");
    let values = chart.values_with(&[&ci_values()]);
    let docs = documents(&chart, &release, &values);
    let kinds = kinds(&docs);
    eprintln!(
        "chart, ci/external-values.yaml: {} documents: {kinds:?}",
        docs.len()
    );
    let expect = expect_chart("perf", "perf-system", &app_version(&chart), &values);
    assert!(!expect.probe_workers);
    assert_none("chart with ci/external-values.yaml", &check(&docs, &expect));

    // What the second values file changes, object by object.
    assert_eq!(kinds.get("DaemonSet"), None, "probe workers are off");
    let roles: Vec<(&str, &str)> = docs
        .iter()
        .filter(|d| d.object.kind() == "Role")
        .map(|d| (d.object.namespace(), d.object.name()))
        .collect();
    assert_eq!(
        roles,
        [
            ("bench-istio", "perf-benchmark"),
            ("bench-linkerd", "perf-benchmark"),
            ("cilium-system", "perf-cilium-config")
        ]
    );
    let Object::Secret(secret) = &find(&docs, "Secret", "perf-urls").object else {
        unreachable!()
    };
    let urls = secret.string_data.clone().unwrap_or_default();
    assert_eq!(
        urls.get("DATABASE_URL").map(String::as_str),
        Some("postgres://meshbench:s3cr%40t@db.example.com:5432/meshbench?sslmode=require")
    );
    assert_eq!(
        urls.get("REDIS_URL").map(String::as_str),
        Some("rediss://:token@cache.example.com:6380/2")
    );
    let Object::ConfigMap(config) = &find(&docs, "ConfigMap", "perf-settings").object else {
        unreachable!()
    };
    let data = config.data.clone().unwrap_or_default();
    assert_eq!(data["DEBUG"], "true");
    assert_eq!(data["MESHBENCH_MAX_RATE"], "2000000");
    assert_eq!(data["ALLOWED_ORIGINS"], "https://meshbench.example.com");
    assert_eq!(data["MESHBENCH_NAMESPACE_ALLOW"], "bench-*");
    assert_eq!(
        data["MESHBENCH_OPERATOR_LIMITS"],
        "duration=300,connections=500,jobs=10"
    );
    // The first admin's password is in a Secret of its own, which only the server reads.
    let Object::Secret(admin) = &find(&docs, "Secret", "perf-admin").object else {
        unreachable!()
    };
    let admin = admin.string_data.clone().unwrap_or_default();
    assert_eq!(admin["MESHBENCH_ADMIN_USER"], "platform-admin");
    assert_eq!(admin["MESHBENCH_ADMIN_PASSWORD"], "a long first password");
    let reads_admin = |name: &str| {
        find(&docs, "Deployment", name).object.to_value()["spec"]["template"]["spec"]["containers"]
            [0]["envFrom"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["secretRef"]["name"] == "perf-admin")
    };
    assert!(reads_admin("perf-server"));
    assert!(!reads_admin("perf-worker"));
    let workers = find(&docs, "Deployment", "perf-worker").object.to_value();
    assert_eq!(workers["spec"]["replicas"], 6);
    let container = &workers["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["image"],
        format!("registry.example.com/platform/meshbench:{VERSION}")
    );
    assert_eq!(container["imagePullPolicy"], "Always");
    assert_eq!(
        container["env"][0],
        json!({"name": "MESHBENCH_WORKERS", "value": "2"})
    );
    assert_eq!(
        container["resources"]["limits"],
        json!({"cpu": "2", "memory": "1Gi"})
    );
    let service = find(&docs, "Service", "perf").object.to_value();
    assert_eq!(service["spec"]["type"], "LoadBalancer");
    assert_eq!(service["spec"]["ports"][0]["port"], 80);
    // kube-prometheus-stack's Prometheus picks the ServiceMonitor by its release label; it
    // scrapes the Service's port with the token the values name.
    let monitor = find(&docs, "ServiceMonitor", "perf").object.to_value();
    assert_eq!(
        monitor["metadata"]["labels"]["release"],
        "kube-prometheus-stack"
    );
    let endpoint = &monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["interval"], "30s");
    assert_eq!(
        endpoint["authorization"],
        json!({"type": "Bearer", "credentials": {"name": "perf-prometheus-token", "key": "token"}})
    );
    let binding = find(&docs, "ClusterRoleBinding", "perf-detect")
        .object
        .to_value();
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "perf", "namespace": "perf-system"}])
    );
}

#[test]
fn no_benchmark_namespaces_means_no_benchmark_roles() {
    let chart = chart();
    let values = chart.values_with(&[&json!({"benchmarkNamespaces": []})]);
    let docs = documents(&chart, &Release::new("meshbench", "meshbench"), &values);
    assert_eq!(kinds(&docs).get("Role"), Some(&1), "only Cilium's");
    let expect = expect_chart("meshbench", "meshbench", &app_version(&chart), &values);
    assert_none("chart without benchmark namespaces", &check(&docs, &expect));
}

/// Helm's own labels, which the plain manifests do not carry.
const HELM_LABELS: [&str; 2] = ["helm.sh/chart", "app.kubernetes.io/managed-by"];

fn comparable(docs: &[Document]) -> BTreeMap<(String, String, String), Value> {
    docs.iter()
        .filter(|d| d.object.kind() != "Namespace")
        .map(|d| {
            let mut value = d.object.to_value();
            if let Some(labels) = value
                .pointer_mut("/metadata/labels")
                .and_then(Value::as_object_mut)
            {
                for l in HELM_LABELS {
                    labels.remove(l);
                }
            }
            let key = (
                d.object.kind().to_string(),
                d.object.namespace().to_string(),
                d.object.name().to_string(),
            );
            (key, value)
        })
        .collect()
}

#[test]
fn default_values_render_the_plain_manifests() {
    let chart = chart();
    let rendered = documents(
        &chart,
        &Release::new("meshbench", "meshbench"),
        &chart.values,
    );
    for d in &rendered {
        let labels = d.object.metadata().labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("app.kubernetes.io/managed-by")
                .map(String::as_str),
            Some("Helm"),
            "{d}"
        );
        let chart_label = format!(
            "meshbench-{}",
            chart.metadata["version"].as_str().unwrap_or("")
        );
        assert_eq!(labels.get("helm.sh/chart"), Some(&chart_label), "{d}");
    }
    let plain = parse_dir(&deploy_dir().join("kubernetes")).unwrap_or_else(|e| {
        assert_none("deploy/kubernetes", &e);
        unreachable!()
    });
    let (rendered, plain) = (comparable(&rendered), comparable(&plain));
    let mut problems = Vec::new();
    for key in plain.keys().filter(|k| !rendered.contains_key(*k)) {
        problems.push(format!("{key:?} is in deploy/kubernetes, not in the chart"));
    }
    for (key, value) in &rendered {
        match plain.get(key) {
            None => problems.push(format!("{key:?} is in the chart, not in deploy/kubernetes")),
            Some(p) => {
                let mut differences = Vec::new();
                diff("", p, value, &mut differences);
                problems.extend(differences.into_iter().map(|d| format!("{key:?}: {d}")));
            }
        }
    }
    eprintln!(
        "chart (default values) vs deploy/kubernetes: {} objects compared",
        rendered.len()
    );
    assert_none("the chart and the plain manifests differ", &problems);
}

#[test]
fn notes_render_for_both_values_files() {
    let chart = chart();
    let release = Release::new("meshbench", "meshbench");
    let notes = chart
        .render(&release, &chart.values)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .notes
        .expect("NOTES.txt");
    assert!(
        notes.contains("port-forward service/meshbench 8000:8000"),
        "{notes}"
    );
    assert!(notes.contains("privileged DaemonSet"), "{notes}");
    assert!(notes.contains("  - bench\n"), "{notes}");
    let values = chart.values_with(&[&ci_values()]);
    let notes = chart
        .render(&release, &values)
        .unwrap_or_else(|e| panic!("{e:?}"))
        .notes
        .expect("NOTES.txt");
    assert!(!notes.contains("privileged"), "{notes}");
    assert!(
        notes.contains("  - bench-istio\n  - bench-linkerd"),
        "{notes}"
    );
}
