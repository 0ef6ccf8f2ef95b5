//! Kubernetes objects in the shapes the API answers with (meshbench-core's cluster types).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use meshbench_core::{
    ContainerInfo, MeshSummary, NamespaceInfo, PodInfo, ServiceInfo, ServicePortInfo,
};

use crate::detect::proxy_container;

fn timestamp(t: Option<&Time>) -> Option<String> {
    t.map(|t| t.0.to_string())
}

fn labels(l: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    l.cloned().unwrap_or_default()
}

/// A namespace with its mesh summary.
pub fn namespace_info(ns: &Namespace, mesh: MeshSummary) -> NamespaceInfo {
    NamespaceInfo {
        name: ns.metadata.name.clone().unwrap_or_default(),
        phase: ns.status.as_ref().and_then(|s| s.phase.clone()),
        created_at: timestamp(ns.metadata.creation_timestamp.as_ref()),
        labels: labels(ns.metadata.labels.as_ref()),
        mesh,
    }
}

/// A pod as listed: readiness as `ready/total`, restarts summed, its mesh proxy named.
pub fn pod_info(pod: &Pod) -> PodInfo {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or(&[]);
    let containers: Vec<ContainerInfo> = spec
        .map(|s| s.containers.as_slice())
        .unwrap_or(&[])
        .iter()
        .map(|c| ContainerInfo {
            name: c.name.clone(),
            image: c.image.clone(),
        })
        .collect();
    let proxy = proxy_container(pod).map(|c| c.name.clone());
    // A native sidecar proxy counts among the pod's containers, as kubectl counts it.
    let total = containers.len()
        + usize::from(
            proxy.is_some() && !containers.iter().any(|c| Some(&c.name) == proxy.as_ref()),
        );
    let ready = statuses.iter().filter(|s| s.ready).count()
        + status
            .and_then(|s| s.init_container_statuses.as_deref())
            .unwrap_or(&[])
            .iter()
            .filter(|s| s.ready && Some(&s.name) == proxy.as_ref())
            .count();
    PodInfo {
        name: pod.metadata.name.clone().unwrap_or_default(),
        namespace: pod.metadata.namespace.clone().unwrap_or_default(),
        phase: status.and_then(|s| s.phase.clone()),
        ready: format!("{ready}/{total}"),
        restarts: statuses.iter().map(|s| s.restart_count.max(0) as u32).sum(),
        node: spec.and_then(|s| s.node_name.clone()),
        pod_ip: status.and_then(|s| s.pod_ip.clone()),
        created_at: timestamp(pod.metadata.creation_timestamp.as_ref()),
        containers,
        proxy,
        labels: labels(pod.metadata.labels.as_ref()),
    }
}

/// A service with its ports.
pub fn service_info(svc: &Service) -> ServiceInfo {
    let spec = svc.spec.as_ref();
    ServiceInfo {
        name: svc.metadata.name.clone().unwrap_or_default(),
        namespace: svc.metadata.namespace.clone().unwrap_or_default(),
        service_type: spec.and_then(|s| s.type_.clone()),
        cluster_ip: spec
            .and_then(|s| s.cluster_ip.clone())
            .filter(|ip| ip != "None"),
        ports: spec
            .and_then(|s| s.ports.as_deref())
            .unwrap_or(&[])
            .iter()
            .map(|p| ServicePortInfo {
                name: p.name.clone(),
                port: p.port,
                target_port: p.target_port.as_ref().map(|t| match t {
                    IntOrString::Int(n) => n.to_string(),
                    IntOrString::String(s) => s.clone(),
                }),
                protocol: p.protocol.clone(),
                app_protocol: p.app_protocol.clone(),
            })
            .collect(),
        selector: labels(spec.and_then(|s| s.selector.as_ref())),
        labels: labels(svc.metadata.labels.as_ref()),
    }
}
