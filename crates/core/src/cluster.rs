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
