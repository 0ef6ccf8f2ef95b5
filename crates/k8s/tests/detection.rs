//! Mesh detection on clusters shaped as real ones: each fixture cluster under
//! `crates/testkit/fixtures/kube/` (its README names the real object every file follows —
//! Istio 1.24.2's injection test data and charts, Linkerd stable-2.14.10's, Cilium 1.16's
//! chart) served by the fake API server and read through the real kube-rs client.

use meshbench_core::{MeshKind, MeshStatus};
use meshbench_testkit::kube::{load_fixtures, FakeKube};
use serde_json::Value;

async fn status(clusters: &[&str], namespace: &str, expected: Option<MeshKind>) -> MeshStatus {
    let fake = FakeKube::start(clusters);
    fake.cluster()
        .await
        .mesh_status(namespace, expected)
        .await
        .expect("mesh status")
}

fn starts_with_all(names: &[String], prefixes: &[&str]) -> bool {
    names.len() == prefixes.len()
        && prefixes
            .iter()
            .all(|p| names.iter().any(|n| n.starts_with(p)))
}

#[tokio::test]
async fn istio_sidecar_with_one_pod_opted_out() {
    // bookinfo: istio-injection=enabled; productpage, details, reviews injected after
    // istio's pkg/kube/inject testdata; legacy-batch has sidecar.istio.io/inject: "false".
    let s = status(&["istio-sidecar"], "bookinfo", Some(MeshKind::Istio)).await;
    assert_eq!(s.mesh, MeshKind::Istio);
    assert_eq!(s.mode.as_deref(), Some("sidecar"));
    assert_eq!(s.version.as_deref(), Some("1.24.2"));
    assert_eq!(s.control_plane_version.as_deref(), Some("1.24.2"));
    assert_eq!(
        s.injection.enabled_by.as_deref(),
        Some("istio-injection=enabled")
    );
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (3, 4));
    assert!((s.injection.coverage - 0.75).abs() < 1e-9);
    assert!(starts_with_all(
        &s.injection.with_proxy,
        &["productpage-v1", "details-v1", "reviews-v1"]
    ));
    assert!(starts_with_all(
        &s.injection.without_proxy,
        &["legacy-batch"]
    ));
    let mtls = s
        .mtls
        .as_ref()
        .expect("mTLS read from the PeerAuthentication");
    assert_eq!(mtls.mode, "STRICT");
    assert_eq!(mtls.source, "PeerAuthentication istio-system/default");
    let cp = s.control_plane.as_ref().expect("istiod found");
    assert_eq!(cp.namespace, "istio-system");
    assert!(cp.healthy, "{cp:?}");
    assert!(cp
        .components
        .iter()
        .any(|c| c.name == "istiod" && c.ready == 1 && c.desired == 1));
    assert_eq!(s.agrees, Some(true));
    assert!(s.other_meshes.is_empty(), "{:?}", s.other_meshes);
}

#[tokio::test]
async fn istio_ambient_with_a_waypoint() {
    // ambient-demo: istio.io/dataplane-mode=ambient and istio.io/use-waypoint=waypoint;
    // app pods carry ambient.istio.io/redirection: enabled and no sidecar; the waypoint is
    // a Gateway of class istio-waypoint with its proxy Deployment (1.24.2 ambient profile,
    // hence the -distroless image variants).
    let s = status(&["istio-ambient"], "ambient-demo", Some(MeshKind::Istio)).await;
    assert_eq!(s.mesh, MeshKind::IstioAmbient);
    assert_eq!(s.mode.as_deref(), Some("ambient+waypoint"));
    assert_eq!(s.version.as_deref(), Some("1.24.2"));
    assert_eq!(s.waypoints, vec!["waypoint".to_string()]);
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (4, 4));
    assert!(s.injection.without_proxy.is_empty());
    let cp = s.control_plane.as_ref().expect("control plane");
    for name in ["istiod", "ztunnel", "istio-cni-node"] {
        assert!(
            cp.components.iter().any(|c| c.name == name),
            "{name} in {cp:?}"
        );
    }
    // Expected plain Istio: sidecar and ambient are different data planes.
    assert_eq!(s.agrees, Some(false));
    // Istio's own namespace is not "in a mesh" because ztunnel runs there.
    let system = status(&["istio-ambient"], "istio-system", None).await;
    assert_eq!(system.mesh, MeshKind::Baseline, "{system:?}");
}

#[tokio::test]
async fn linkerd_with_one_pod_not_injected() {
    // emojivoto: linkerd.io/inject: enabled annotation; web, emoji, voting injected after
    // linkerd2's proxy-injector test data; vote-bot annotated linkerd.io/inject: disabled.
    let s = status(&["linkerd"], "emojivoto", Some(MeshKind::Linkerd)).await;
    assert_eq!(s.mesh, MeshKind::Linkerd);
    assert_eq!(s.mode.as_deref(), Some("sidecar"));
    assert_eq!(s.version.as_deref(), Some("stable-2.14.10"));
    assert_eq!(s.control_plane_version.as_deref(), Some("stable-2.14.10"));
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (3, 4));
    assert!(starts_with_all(&s.injection.without_proxy, &["vote-bot"]));
    assert_eq!(s.mtls.as_ref().map(|m| m.mode.as_str()), Some("automatic"));
    let cp = s.control_plane.as_ref().expect("control plane");
    assert_eq!(cp.namespace, "linkerd");
    assert!(cp.healthy);
    assert_eq!(cp.components.len(), 3, "{cp:?}");
    assert_eq!(s.agrees, Some(true));
}

#[tokio::test]
async fn cilium_with_wireguard_and_its_node_envoy() {
    // shop: plain pods; kube-system has the cilium and cilium-envoy DaemonSets and the
    // cilium-config ConfigMap (enable-wireguard, enable-l7-proxy, external-envoy-proxy).
    let s = status(&["cilium"], "shop", Some(MeshKind::Cilium)).await;
    assert_eq!(s.mesh, MeshKind::Cilium);
    assert_eq!(s.mode.as_deref(), Some("node-proxy"));
    assert_eq!(s.version.as_deref(), Some("v1.16.1"));
    assert_eq!(s.l7_proxy, Some(true));
    let mtls = s.mtls.as_ref().expect("encryption read from cilium-config");
    assert_eq!(mtls.mode, "wireguard");
    assert_eq!(mtls.source, "ConfigMap kube-system/cilium-config");
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (3, 3));
    let cp = s.control_plane.as_ref().expect("control plane");
    assert!(cp
        .components
        .iter()
        .any(|c| c.name == "cilium" && c.kind == "DaemonSet"));
    assert!(cp.components.iter().any(|c| c.name == "cilium-envoy"));
    assert_eq!(s.agrees, Some(true));
}

#[tokio::test]
async fn no_mesh_is_the_baseline() {
    let s = status(&["none"], "plain-app", Some(MeshKind::Baseline)).await;
    assert_eq!(s.mesh, MeshKind::Baseline);
    assert_eq!(
        (s.mode.as_ref(), s.version.as_ref(), s.mtls.as_ref()),
        (None, None, None)
    );
    assert!(s.control_plane.is_none());
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (0, 2));
    assert_eq!(s.agrees, Some(true));
    let s = status(&["none"], "plain-app", Some(MeshKind::Istio)).await;
    assert_eq!(s.agrees, Some(false));
}

#[tokio::test]
async fn a_namespace_with_pods_of_both_sidecars_goes_to_the_majority() {
    // Linkerd's emojivoto pods and one of bookinfo's Istio-injected pods in one namespace:
    // mixed injection, as during a migration from one mesh to the other.
    let mut objects = load_fixtures(&["istio-sidecar", "linkerd"]);
    for o in objects.iter_mut() {
        let kind = o["kind"].as_str().unwrap_or_default().to_string();
        let name = o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if kind == "Pod" && name.starts_with("productpage-v1") {
            o["metadata"]["namespace"] = Value::from("emojivoto");
        }
    }
    let fake = FakeKube::with_objects(objects);
    let s = fake
        .cluster()
        .await
        .mesh_status("emojivoto", None)
        .await
        .expect("status");
    assert_eq!(s.mesh, MeshKind::Linkerd);
    assert_eq!((s.injection.pods_in_mesh, s.injection.pods_total), (3, 5));
    assert!(s
        .injection
        .without_proxy
        .iter()
        .any(|p| p.starts_with("productpage-v1")));
    assert!(
        s.evidence
            .iter()
            .any(|e| e.contains("both Istio and Linkerd")),
        "{:?}",
        s.evidence
    );
    assert_eq!(s.other_meshes, vec![MeshKind::Istio]);
}

#[tokio::test]
async fn namespaces_list_each_with_its_mesh() {
    let fake = FakeKube::start(&["istio-sidecar", "linkerd", "none"]);
    let namespaces = fake.cluster().await.namespaces().await.expect("namespaces");
    let find = |name: &str| {
        namespaces
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("{name} listed"))
    };
    let bookinfo = find("bookinfo");
    assert_eq!(
        (
            bookinfo.mesh.mesh,
            bookinfo.mesh.mode.as_deref(),
            bookinfo.mesh.version.as_deref()
        ),
        (MeshKind::Istio, Some("sidecar"), Some("1.24.2"))
    );
    assert_eq!((bookinfo.mesh.pods_in_mesh, bookinfo.mesh.pods), (3, 4));
    assert_eq!(find("emojivoto").mesh.mesh, MeshKind::Linkerd);
    assert_eq!(find("plain-app").mesh.mesh, MeshKind::Baseline);
    assert_eq!(find("kube-system").mesh.mesh, MeshKind::Baseline);
    assert_eq!(
        bookinfo.labels.get("istio-injection").map(String::as_str),
        Some("enabled")
    );
    let mut names: Vec<&str> = namespaces.iter().map(|n| n.name.as_str()).collect();
    let sorted = {
        let mut s = names.clone();
        s.sort();
        s
    };
    assert_eq!(names, sorted);
    names.dedup();
    assert_eq!(names.len(), namespaces.len());
}

#[tokio::test]
async fn pods_and_services_as_listed() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    let cluster = fake.cluster().await;
    let pods = cluster.pods("bookinfo").await.expect("pods");
    assert_eq!(pods.len(), 4);
    let productpage = pods
        .iter()
        .find(|p| p.name.starts_with("productpage-v1"))
        .expect("productpage");
    assert_eq!(productpage.proxy.as_deref(), Some("istio-proxy"));
    assert_eq!(productpage.ready, "2/2");
    assert_eq!(productpage.phase.as_deref(), Some("Running"));
    assert!(productpage.node.is_some() && productpage.pod_ip.is_some());
    let legacy = pods
        .iter()
        .find(|p| p.name.starts_with("legacy-batch"))
        .expect("legacy");
    assert_eq!(legacy.proxy, None);
    let services = cluster.services("bookinfo").await.expect("services");
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["details", "productpage", "reviews"]);
    let productpage = &services[1];
    assert_eq!(productpage.service_type.as_deref(), Some("ClusterIP"));
    assert_eq!(productpage.ports[0].port, 9080);
    assert_eq!(
        productpage.selector.get("app").map(String::as_str),
        Some("productpage")
    );
}

#[tokio::test]
async fn without_istio_apis_mtls_is_unknown_not_an_error() {
    // A cluster whose sidecars were injected but whose PeerAuthentication API is not
    // served (CRDs removed): detection still answers, without an mTLS mode.
    let objects: Vec<Value> = load_fixtures(&["istio-sidecar"])
        .into_iter()
        .filter(|o| o["kind"] != "PeerAuthentication")
        .collect();
    let fake = FakeKube::with_objects(objects);
    let s = fake
        .cluster()
        .await
        .mesh_status("bookinfo", None)
        .await
        .expect("status");
    assert_eq!(s.mesh, MeshKind::Istio);
    assert_eq!(s.mtls, None);
}

#[tokio::test]
async fn rbac_refusing_pods_in_one_namespace_is_named() {
    let fake = FakeKube::start(&["istio-sidecar"]);
    fake.forbid("list", "pods", Some("bookinfo"));
    let cluster = fake.cluster().await;
    let err = cluster
        .mesh_status("bookinfo", None)
        .await
        .expect_err("403");
    assert_eq!(
        err.to_string().split(':').next(),
        Some("Kubernetes RBAC does not allow meshbench to list pods in namespace bookinfo")
    );
    // Other namespaces are unaffected.
    cluster
        .mesh_status("istio-system", None)
        .await
        .expect("istio-system");
}
