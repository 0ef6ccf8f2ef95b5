//! Deploying the benchmark target and tearing it down, checked as the objects the fake API
//! server received: server-side apply under meshbench's field manager, every object
//! labelled, the mesh's injection labels, node pinning; teardown removes exactly what
//! meshbench made.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use meshbench_k8s::deploy::{Injection, TargetPlan, FIELD_MANAGER, TARGET_NAME};
use meshbench_k8s::Error;
use meshbench_testkit::kube::FakeKube;
use serde_json::Value;

fn plan(namespace: &str, mesh: Injection) -> TargetPlan {
    TargetPlan {
        namespace: namespace.into(),
        mesh,
        node: Some("node-b".into()),
        image: "registry.example/meshbench:0.1.0".into(),
        replicas: 2,
    }
}

fn stored(fake: &FakeKube, kind: &str, namespace: &str) -> Value {
    fake.objects()
        .into_iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"] == TARGET_NAME
                && o["metadata"]["namespace"] == namespace
        })
        .unwrap_or_else(|| panic!("no {kind} {namespace}/{TARGET_NAME} on the server"))
}

#[tokio::test]
async fn the_target_is_applied_server_side_with_the_meshs_labels() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let cluster = fake.cluster().await;
    let touched = cluster
        .deploy_target(&plan("bookinfo", Injection::Istio))
        .await
        .expect("deploy");
    assert_eq!(
        touched,
        [
            format!("deployment/{TARGET_NAME}"),
            format!("service/{TARGET_NAME}")
        ]
    );

    let patches: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 2);
    for r in &patches {
        assert_eq!(
            r.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{}",
            r.path
        );
        assert_eq!(r.param("fieldManager").as_deref(), Some(FIELD_MANAGER));
        assert_eq!(r.param("force").as_deref(), Some("true"));
    }
    assert_eq!(
        patches[0].path,
        format!("/apis/apps/v1/namespaces/bookinfo/deployments/{TARGET_NAME}")
    );
    assert_eq!(
        patches[1].path,
        format!("/api/v1/namespaces/bookinfo/services/{TARGET_NAME}")
    );

    // What the server holds parses as the Kubernetes types, and says what was asked.
    let deployment: Deployment =
        serde_json::from_value(stored(&fake, "Deployment", "bookinfo")).expect("a Deployment");
    let labels = deployment.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels
            .get("app.kubernetes.io/managed-by")
            .map(String::as_str),
        Some("meshbench")
    );
    let managers: Vec<String> = deployment
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|m| m.manager.clone())
        .collect();
    assert_eq!(managers, [FIELD_MANAGER]);
    let spec = deployment.spec.expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let template = spec.template;
    let pod_labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
    assert_eq!(
        pod_labels
            .get("sidecar.istio.io/inject")
            .map(String::as_str),
        Some("true")
    );
    assert_eq!(pod_labels.get("app").map(String::as_str), Some(TARGET_NAME));
    let pod = template.spec.expect("pod spec");
    assert_eq!(
        pod.node_selector
            .unwrap_or_default()
            .get("kubernetes.io/hostname")
            .map(String::as_str),
        Some("node-b")
    );
    let container = &pod.containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("registry.example/meshbench:0.1.0")
    );
    assert_eq!(
        container.args.clone().unwrap_or_default(),
        ["target", "--http", "0.0.0.0:8080"]
    );
    let service: Service =
        serde_json::from_value(stored(&fake, "Service", "bookinfo")).expect("a Service");
    let ports = service.spec.and_then(|s| s.ports).unwrap_or_default();
    assert_eq!(ports[0].port, 8080);

    // Applying again changes nothing but the resource version: one object of each.
    cluster
        .deploy_target(&plan("bookinfo", Injection::Istio))
        .await
        .expect("again");
    let count = fake
        .objects()
        .iter()
        .filter(|o| o["metadata"]["name"] == TARGET_NAME)
        .count();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn linkerd_and_no_mesh_ask_their_own_way() {
    let fake = FakeKube::start(&["linkerd"]);
    let cluster = fake.cluster().await;
    cluster
        .deploy_target(&plan("emojivoto", Injection::Linkerd))
        .await
        .expect("deploy");
    let d = stored(&fake, "Deployment", "emojivoto");
    assert_eq!(
        d.pointer("/spec/template/metadata/annotations/linkerd.io~1inject")
            .and_then(Value::as_str),
        Some("enabled")
    );
    cluster
        .deploy_target(&plan("emojivoto", Injection::None))
        .await
        .expect("redeploy");
    let d = stored(&fake, "Deployment", "emojivoto");
    assert_eq!(
        d.pointer("/spec/template/metadata/annotations/linkerd.io~1inject")
            .and_then(Value::as_str),
        Some("disabled")
    );
    assert_eq!(
        d.pointer("/spec/template/metadata/labels/sidecar.istio.io~1inject")
            .and_then(Value::as_str),
        Some("false")
    );
}

#[tokio::test]
async fn teardown_removes_exactly_what_meshbench_made() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let cluster = fake.cluster().await;
    let before = fake.objects().len();
    cluster
        .deploy_target(&plan("bookinfo", Injection::Istio))
        .await
        .expect("deploy");
    assert_eq!(fake.objects().len(), before + 2);
    let deleted = cluster.teardown("bookinfo").await.expect("teardown");
    assert_eq!(
        deleted,
        [
            format!("deployment/{TARGET_NAME}"),
            format!("service/{TARGET_NAME}")
        ]
    );
    assert_eq!(
        fake.objects().len(),
        before,
        "the fixtures' own objects stay"
    );
    let lists: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/deployments"))
        .collect();
    assert_eq!(
        lists[0].param("labelSelector").as_deref(),
        Some("app.kubernetes.io/managed-by=meshbench")
    );
    assert!(cluster
        .teardown("bookinfo")
        .await
        .expect("idempotent")
        .is_empty());
}

#[tokio::test]
async fn refusals_and_missing_namespaces_are_named() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let cluster = fake.cluster().await;
    let err = cluster
        .deploy_target(&plan("nowhere", Injection::None))
        .await
        .expect_err("no namespace");
    assert!(
        matches!(&err, Error::NamespaceNotFound(ns) if ns == "nowhere"),
        "{err:?}"
    );
    fake.forbid("patch", "deployments", Some("bookinfo"));
    let err = cluster
        .deploy_target(&plan("bookinfo", Injection::Istio))
        .await
        .expect_err("403");
    assert!(
        err.to_string().starts_with(
            "Kubernetes RBAC does not allow meshbench to patch deployments in namespace bookinfo"
        ),
        "{err}"
    );
}
