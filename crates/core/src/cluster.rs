//! What meshbench reads from a Kubernetes cluster, as the API answers it and a result keeps
//! it: namespaces with the mesh that serves them, pods, services, and a namespace's full
//! mesh record ([`MeshStatus`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::MeshKind;

/// A namespace with a summary of the mesh that serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NamespaceInfo {
    /// Namespace name.
    pub name: String,
    /// `Active` or `Terminating`.
    pub phase: Option<String>,
    /// When the namespace was created, RFC 3339.
    pub created_at: Option<String>,
    /// The namespace's labels.
    pub labels: BTreeMap<String, String>,
    /// Which mesh serves it, in which mode, at which version, how completely.
    pub mesh: MeshSummary,
}

/// The short form of a namespace's mesh record, for lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeshSummary {
    /// The mesh serving the namespace; `baseline` when none does.
    pub mesh: MeshKind,
    /// `sidecar`, `ambient`, `ambient+waypoint`, `node-proxy`… (absent without a mesh).
    pub mode: Option<String>,
    /// The data plane's version, from the proxy's image tag.
    pub version: Option<String>,
    /// Pods in the namespace (system pods of the mesh itself included).
    pub pods: u32,
    /// Pods whose traffic goes through the mesh's data plane.
    pub pods_in_mesh: u32,
}

/// A namespace's mesh record: what serves it, how, how completely and how healthily.
/// Stored with a benchmark's result when the benchmark names a namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeshStatus {
    /// The namespace.
    pub namespace: String,
    /// The mesh serving it; `baseline` when none does.
    pub mesh: MeshKind,
    /// `sidecar`, `ambient`, `ambient+waypoint`, `node-proxy` (absent without a mesh).
    pub mode: Option<String>,
    /// The data plane's version (proxy image tag).
    pub version: Option<String>,
    /// The control plane's version (its image tag), when it has one.
    pub control_plane_version: Option<String>,
    /// Which pods have a proxy and which do not.
    pub injection: Injection,
    /// Mutual TLS, where it can be read.
    pub mtls: Option<MtlsInfo>,
    /// The control plane and whether it is healthy (absent without a mesh).
    pub control_plane: Option<ControlPlane>,
    /// Istio ambient waypoints serving the namespace.
    pub waypoints: Vec<String>,
    /// Cilium: whether L7 traffic goes through its per-node Envoy.
    pub l7_proxy: Option<bool>,
    /// Meshes installed in the cluster that do not serve this namespace.
    pub other_meshes: Vec<MeshKind>,
    /// The `mesh_type` the caller expected, when one was given.
    pub expected: Option<MeshKind>,
    /// Whether the detected mesh is the expected one (absent when none was expected).
    pub agrees: Option<bool>,
    /// What the detection is based on, one fact a line.
    pub evidence: Vec<String>,
}

impl MeshStatus {
    /// The short form, for lists.
    pub fn summary(&self) -> MeshSummary {
        MeshSummary {
            mesh: self.mesh,
            mode: self.mode.clone(),
            version: self.version.clone(),
            pods: self.injection.pods_total,
            pods_in_mesh: self.injection.pods_in_mesh,
        }
    }

    /// Whether two records describe the same set-up (mesh, mode, version, mTLS), so that
    /// runs made under them can be compared as like with like.
    pub fn same_setup(&self, other: &MeshStatus) -> bool {
        self.mesh == other.mesh
            && self.mode == other.mode
            && self.version == other.version
            && self.mtls.as_ref().map(|m| &m.mode) == other.mtls.as_ref().map(|m| &m.mode)
    }

    /// One line saying what serves the namespace, e.g. `istio sidecar 1.24.2, 3/4 pods`.
    pub fn describe(&self) -> String {
        if self.mesh == MeshKind::Baseline {
            return "no mesh".to_string();
        }
        let mut text = self.mesh.to_string();
        for part in [&self.mode, &self.version].into_iter().flatten() {
            text.push(' ');
            text.push_str(part);
        }
        text.push_str(&format!(
            ", {}/{} pods",
            self.injection.pods_in_mesh, self.injection.pods_total
        ));
        text
    }
}

/// How completely a namespace is in the mesh.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Injection {
    /// The namespace label or annotation that asks for the mesh, e.g.
    /// `istio-injection=enabled` (absent when none does).
    pub enabled_by: Option<String>,
    /// Pods in the namespace.
    pub pods_total: u32,
    /// Pods whose traffic goes through the data plane.
    pub pods_in_mesh: u32,
    /// Share of pods in the mesh, 0–1 (1 when the namespace has no pods).
    pub coverage: f64,
    /// Names of the pods in the mesh.
    pub with_proxy: Vec<String>,
    /// Names of the pods outside it.
    pub without_proxy: Vec<String>,
}

/// Mutual TLS as the mesh's own objects declare it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MtlsInfo {
    /// `STRICT`, `PERMISSIVE`, `DISABLE`, `automatic` (Linkerd), `wireguard`, `ipsec`…
    pub mode: String,
    /// Where the mode was read, e.g. `PeerAuthentication istio-system/default`.
    pub source: String,
}

/// A mesh's control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ControlPlane {
    /// The namespace it runs in.
    pub namespace: String,
    /// Every replica of every component is ready.
    pub healthy: bool,
    /// Its Deployments and DaemonSets.
    pub components: Vec<Component>,
}

/// One Deployment or DaemonSet of a control plane or node-level data plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Component {
    /// Its name.
    pub name: String,
    /// `Deployment` or `DaemonSet`.
    pub kind: String,
    /// The image of its first container.
    pub image: Option<String>,
    /// Replicas (or scheduled pods) wanted.
    pub desired: u32,
    /// Replicas (or pods) ready.
    pub ready: u32,
}

/// A pod, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PodInfo {
    /// Pod name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: Option<String>,
    /// Ready containers / containers, e.g. `2/2`.
    pub ready: String,
    /// Container restarts, summed.
    pub restarts: u32,
    /// The node it runs on.
    pub node: Option<String>,
    /// Its IP address.
    pub pod_ip: Option<String>,
    /// When it was created, RFC 3339.
    pub created_at: Option<String>,
    /// Its containers (init containers not included).
    pub containers: Vec<ContainerInfo>,
    /// The mesh proxy container serving it (`istio-proxy`, `linkerd-proxy`), if any.
    pub proxy: Option<String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// A container of a pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerInfo {
    /// Container name.
    pub name: String,
    /// Its image.
    pub image: Option<String>,
}

/// A service, as the dashboard lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceInfo {
    /// Service name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    pub service_type: Option<String>,
    /// Its cluster IP (`None` for a headless service).
    pub cluster_ip: Option<String>,
    /// Its ports.
    pub ports: Vec<ServicePortInfo>,
    /// The pod labels it selects.
    pub selector: BTreeMap<String, String>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// One port of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServicePortInfo {
    /// Port name.
    pub name: Option<String>,
    /// The service's port.
    pub port: i32,
    /// The pods' port, a number or a name.
    pub target_port: Option<String>,
    /// `TCP`, `UDP`, `SCTP`.
    pub protocol: Option<String>,
    /// `http`, `http2`, `grpc`… when declared.
    pub app_protocol: Option<String>,
}

/// What a benchmark run learned of the cluster its target lives in: the namespace's mesh
/// record when the run started, and what the mesh's proxies and the application cost
/// while it ran. Stored with the result.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterRecord {
    /// The namespace the run named.
    pub namespace: String,
    /// The mesh serving it when the run started (absent when it could not be read).
    pub mesh: Option<MeshStatus>,
    /// Why the mesh could not be read.
    pub mesh_error: Option<String>,
    /// The `mesh_type` the run was started with disagrees with the detected mesh.
    pub mesh_mismatch: bool,
    /// CPU and memory of the proxies and the application during the run (absent when
    /// they could not be read; `resources_error` says why).
    pub resources: Option<ResourceCost>,
    /// Why there are no resource figures, e.g. no metrics server.
    pub resources_error: Option<String>,
}

/// CPU and memory during a run, from `metrics.k8s.io`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceCost {
    /// Mean CPU of every mesh proxy serving the namespace, millicores (sidecars, ztunnel,
    /// waypoints, cilium-envoy).
    pub proxy_cpu_millicores: f64,
    /// Mean memory of those proxies, bytes.
    pub proxy_memory_bytes: f64,
    /// Mean CPU of the application's own containers, millicores.
    pub app_cpu_millicores: f64,
    /// Mean memory of the application's containers, bytes.
    pub app_memory_bytes: f64,
    /// Proxy CPU per 1,000 requests per second of the run, millicores (absent when the run
    /// achieved no requests).
    pub proxy_cpu_millicores_per_1k_rps: Option<f64>,
    /// Proxy memory per 1,000 requests per second, bytes.
    pub proxy_memory_bytes_per_1k_rps: Option<f64>,
    /// Proxies read, as `namespace/pod/container`.
    pub proxies: Vec<String>,
    /// The samples, in the order taken.
    pub samples: Vec<ResourceSample>,
}

/// One reading of the metrics API during a run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceSample {
    /// Seconds since the run started when the sample was taken.
    pub t_s: f64,
    /// Every container read.
    pub containers: Vec<ContainerUsage>,
}

/// One container's usage in a sample.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContainerUsage {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// The container.
    pub container: String,
    /// `proxy` or `app`.
    pub role: String,
    /// CPU, millicores (averaged by the metrics server over its window).
    pub cpu_millicores: f64,
    /// Working-set memory, bytes.
    pub memory_bytes: f64,
}

/// Summarises samples: per-role means over samples (summing containers within a sample),
/// and the proxies' cost per 1,000 requests per second of a run that achieved `rps`.
pub fn resource_cost(samples: Vec<ResourceSample>, rps: f64) -> ResourceCost {
    let n = samples.len().max(1) as f64;
    let total = |role: &str, f: fn(&ContainerUsage) -> f64| {
        samples
            .iter()
            .flat_map(|s| s.containers.iter())
            .filter(|c| c.role == role)
            .map(f)
            .sum::<f64>()
            / n
    };
    let proxy_cpu = total("proxy", |c| c.cpu_millicores);
    let proxy_memory = total("proxy", |c| c.memory_bytes);
    let per_1k = |v: f64| (rps > 0.0).then(|| v / (rps / 1000.0));
    let mut proxies: Vec<String> = samples
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.role == "proxy")
        .map(|c| format!("{}/{}/{}", c.namespace, c.pod, c.container))
        .collect();
    proxies.sort();
    proxies.dedup();
    ResourceCost {
        proxy_cpu_millicores: proxy_cpu,
        proxy_memory_bytes: proxy_memory,
        app_cpu_millicores: total("app", |c| c.cpu_millicores),
        app_memory_bytes: total("app", |c| c.memory_bytes),
        proxy_cpu_millicores_per_1k_rps: per_1k(proxy_cpu),
        proxy_memory_bytes_per_1k_rps: per_1k(proxy_memory),
        proxies,
        samples,
    }
}

/// A CPU quantity as Kubernetes writes it (`8251033n`, `250m`, `1500u`, `2`, `0.5`) in
/// millicores; `None` when it is not one.
pub fn cpu_millicores(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    let (number, scale) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], 1e-6),
        (i, 'u') => (&q[..i], 1e-3),
        (i, 'm') => (&q[..i], 1.0),
        (i, 'k') => (&q[..i], 1e6),
        _ => (q, 1e3),
    };
    let v: f64 = number.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

/// A memory quantity (`46396Ki`, `45Mi`, `1Gi`, `128974848`, `129M`, `1e3`) in bytes;
/// `None` when it is not one.
pub fn memory_bytes(quantity: &str) -> Option<f64> {
    let q = quantity.trim();
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(s, scale)| q.strip_suffix(s).map(|n| (n, *scale)))
        .unwrap_or((q, 1.0));
    let v: f64 = number.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_the_metrics_server_writes_them() {
        assert_eq!(cpu_millicores("8251033n"), Some(8.251033));
        assert_eq!(cpu_millicores("250m"), Some(250.0));
        assert_eq!(cpu_millicores("1500u"), Some(1.5));
        assert_eq!(cpu_millicores("2"), Some(2000.0));
        assert_eq!(cpu_millicores("0.5"), Some(500.0));
        assert_eq!(cpu_millicores("lots"), None);
        assert_eq!(cpu_millicores("-1"), None);
        assert_eq!(memory_bytes("46396Ki"), Some(46396.0 * 1024.0));
        assert_eq!(memory_bytes("45Mi"), Some(45.0 * 1048576.0));
        assert_eq!(memory_bytes("128974848"), Some(128974848.0));
        assert_eq!(memory_bytes("129M"), Some(129e6));
        assert_eq!(memory_bytes("1e3"), Some(1000.0));
        assert_eq!(memory_bytes("Ki"), None);
    }

    #[test]
    fn cost_is_per_role_means_and_per_thousand_rps() {
        let usage = |role: &str, cpu: f64, mem: f64| ContainerUsage {
            namespace: "ns".into(),
            pod: "p".into(),
            container: role.into(),
            role: role.into(),
            cpu_millicores: cpu,
            memory_bytes: mem,
        };
        let samples = vec![
            ResourceSample {
                t_s: 0.0,
                containers: vec![usage("proxy", 10.0, 100.0), usage("app", 40.0, 1000.0)],
            },
            ResourceSample {
                t_s: 5.0,
                containers: vec![usage("proxy", 30.0, 300.0), usage("app", 60.0, 3000.0)],
            },
        ];
        let cost = resource_cost(samples, 2000.0);
        assert_eq!(cost.proxy_cpu_millicores, 20.0);
        assert_eq!(cost.proxy_memory_bytes, 200.0);
        assert_eq!(cost.app_cpu_millicores, 50.0);
        assert_eq!(cost.proxy_cpu_millicores_per_1k_rps, Some(10.0));
        assert_eq!(cost.proxy_memory_bytes_per_1k_rps, Some(100.0));
        assert_eq!(cost.proxies, vec!["ns/p/proxy".to_string()]);
        assert_eq!(
            resource_cost(Vec::new(), 0.0).proxy_cpu_millicores_per_1k_rps,
            None
        );
    }
}
