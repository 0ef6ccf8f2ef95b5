//! The plain manifests, deploy/kubernetes/*.yaml: every document parses strictly into its
//! k8s-openapi type and the set keeps meshbench's invariants.

mod common;

use std::collections::BTreeMap;

use common::{assert_none, expect_manifests};
use meshbench_deploy_check::checks::check;
use meshbench_deploy_check::objects::{parse_dir, Document};
use meshbench_deploy_check::{deploy_dir, yaml_files};

fn manifests() -> Vec<Document> {
    match parse_dir(&deploy_dir().join("kubernetes")) {
        Ok(docs) => docs,
        Err(errors) => {
            assert_none("deploy/kubernetes does not parse strictly", &errors);
            unreachable!()
        }
    }
}

#[test]
fn every_manifest_document_parses_strictly() {
    let files = yaml_files(&deploy_dir().join("kubernetes")).expect("deploy/kubernetes");
    assert!(files.len() >= 5, "{files:?}");
    let docs = manifests();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for d in &docs {
        *kinds.entry(d.object.kind()).or_default() += 1;
    }
    eprintln!(
        "deploy/kubernetes: {} files, {} documents: {kinds:?}",
        files.len(),
        docs.len()
    );
    let expected: BTreeMap<&str, usize> = [
        ("Namespace", 2),
        ("ServiceAccount", 1),
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("Role", 2),
        ("RoleBinding", 2),
        ("ConfigMap", 1),
        ("Secret", 2),
        ("Deployment", 2),
        ("Service", 1),
        ("DaemonSet", 1),
    ]
    .into();
    assert_eq!(kinds, expected);
}

#[test]
fn the_manifests_keep_the_invariants() {
    assert_none(
        "deploy/kubernetes breaks an invariant",
        &check(&manifests(), &expect_manifests()),
    );
}

#[test]
fn the_manifests_run_this_version_of_meshbench() {
    let image = format!("localhost/meshbench:{}", meshbench_deploy_check::VERSION);
    let text: String = yaml_files(&deploy_dir().join("kubernetes"))
        .expect("deploy/kubernetes")
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("readable"))
        .collect();
    let images: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("image:"))
        .map(|i| i.trim().trim_matches('"'))
        .collect();
    assert_eq!(images.len(), 3, "{images:?}");
    assert!(
        images.iter().all(|i| *i == image),
        "{images:?}, expected {image}"
    );
}
