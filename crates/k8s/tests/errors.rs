//! Every way a cluster can fail meshbench gives a clear error within the time bound: no
//! configuration, a broken kubeconfig, nothing listening, wrong credentials, RBAC's 403, a
//! slow API server, an unknown namespace. All through the real kube-rs client against the
//! test kit's fake API server.

use std::time::{Duration, Instant};

use meshbench_k8s::{Cluster, Error, Source};
use meshbench_testkit::kube::FakeKube;

const BOUND: Duration = Duration::from_secs(2);

async fn connect(fake: &FakeKube) -> Cluster {
    Cluster::connect(Source::Kubeconfig(fake.kubeconfig()), BOUND)
        .await
        .expect("the fake server's kubeconfig loads")
}

#[tokio::test]
async fn an_empty_kubeconfig_variable_is_no_configuration_of_its_own() {
    // With KUBECONFIG empty, what decides is ~/.kube/config or in-cluster credentials,
    // neither of which this test machine has.
    let outcome = Cluster::find(Some(std::ffi::OsStr::new("")), BOUND).await;
    match Source::find(None) {
        None => assert!(matches!(outcome, Err(Error::NotConfigured)), "{outcome:?}"),
        Some(source) => eprintln!("this machine has a cluster configured: {source:?}"),
    }
}

#[tokio::test]
async fn a_broken_kubeconfig_names_its_path() {
    let dir = meshbench_testkit::temp_dir("k8s-broken");
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, "clusters: [this is not: a kubeconfig").expect("write");
    let err = Cluster::connect(Source::Kubeconfig(path.clone()), BOUND)
        .await
        .expect_err("a broken kubeconfig is refused");
    assert!(matches!(err, Error::Config { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn a_server_that_is_not_there_is_unreachable_quickly() {
    let fake = FakeKube::with_objects(Vec::new());
    let kubeconfig = fake.kubeconfig();
    let url = fake.url();
    let copy = meshbench_testkit::temp_dir("k8s-gone");
    let path = copy.path().join("kubeconfig");
    std::fs::copy(&kubeconfig, &path).expect("copy kubeconfig");
    drop(fake); // nothing listens on its port any more
    let cluster = Cluster::connect(Source::Kubeconfig(path), BOUND)
        .await
        .expect("config loads");
    let started = Instant::now();
    let err = cluster.namespaces().await.expect_err("nobody answers");
    assert!(
        started.elapsed() < BOUND + Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Unreachable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&url.replace("http://", "")),
        "{err}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_named() {
    let fake = FakeKube::with_objects(Vec::new());
    let dir = meshbench_testkit::temp_dir("k8s-token");
    let path = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&path, "not-the-token");
    let cluster = Cluster::connect(Source::Kubeconfig(path), BOUND)
        .await
        .expect("config loads");
    let err = cluster.namespaces().await.expect_err("401");
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(err.to_string().contains("credentials"), "{err}");
}

#[tokio::test]
async fn rbac_refusal_names_the_verb_and_the_resource() {
    let fake = FakeKube::with_objects(Vec::new());
    fake.forbid("list", "daemonsets", None);
    let err = connect(&fake).await.namespaces().await.expect_err("403");
    match &err {
        Error::Forbidden {
            verb,
            resource,
            scope,
            message,
        } => {
            assert_eq!(
                (*verb, *resource, scope.as_str()),
                ("list", "daemonsets", " cluster-wide")
            );
            assert!(
                message.contains("cannot list resource \"daemonsets\""),
                "{message}"
            );
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(
        err.to_string().starts_with(
            "Kubernetes RBAC does not allow meshbench to list daemonsets cluster-wide"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_api_server_is_given_up_within_the_bound() {
    let fake = FakeKube::with_objects(Vec::new());
    fake.slow("/api/v1/pods", Duration::from_secs(30));
    let cluster = connect(&fake).await;
    let started = Instant::now();
    let err = cluster.namespaces().await.expect_err("too slow");
    let took = started.elapsed();
    assert!(
        took >= BOUND && took < BOUND + Duration::from_secs(1),
        "{took:?}"
    );
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("list pods cluster-wide"), "{err}");
}

#[tokio::test]
async fn an_unknown_namespace_is_not_found() {
    let fake = FakeKube::with_objects(Vec::new());
    let cluster = connect(&fake).await;
    for err in [
        cluster.pods("nowhere").await.expect_err("pods"),
        cluster
            .mesh_status("nowhere", None)
            .await
            .expect_err("mesh status"),
    ] {
        assert!(
            matches!(&err, Error::NamespaceNotFound(ns) if ns == "nowhere"),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn every_request_carries_the_kubeconfig_token() {
    let fake = FakeKube::with_objects(Vec::new());
    let version = connect(&fake).await.version().await.expect("version");
    assert_eq!(version, "v1.31.2");
    let requests = fake.requests();
    assert!(!requests.is_empty());
    for r in requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer meshbench-test-token"),
            "{}",
            r.path
        );
    }
}
