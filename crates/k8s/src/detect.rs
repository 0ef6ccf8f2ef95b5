//! Which mesh serves a namespace, decided from the objects the cluster already has: the
//! namespace's labels, its pods' containers and annotations, and the meshes' control-plane
//! Deployments, node DaemonSets and configuration. Pure: no I/O, so every rule is tested
//! on fixtures shaped as real objects.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Container, Namespace, Pod};
use meshbench_core::{Component, ControlPlane, Injection, MeshKind, MeshStatus, MtlsInfo};

/// The cluster-wide objects detection reads once for every namespace it judges.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Every Deployment in the cluster (istiod, Linkerd's controllers, cilium-operator).
    pub deployments: Vec<Deployment>,
    /// Every DaemonSet in the cluster (ztunnel, istio-cni, cilium, cilium-envoy).
    pub daemonsets: Vec<DaemonSet>,
    /// Cilium's `cilium-config` ConfigMap, when Cilium is installed.
    pub cilium_config: Option<ConfigMap>,
    /// Istio's PeerAuthentications; `None` when their API is not served (no Istio CRDs).
    pub peer_authentications: Option<Vec<PeerAuthentication>>,
}

/// What detection needs of an Istio PeerAuthentication.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerAuthentication {
    /// Its namespace (the root namespace, `istio-system`, makes it mesh-wide).
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `spec.mtls.mode`: `STRICT`, `PERMISSIVE`, `DISABLE`, `UNSET` (absent = UNSET).
    pub mode: Option<String>,
    /// Whether it selects some workloads only (`spec.selector`).
    pub has_selector: bool,
}

/// What detection needs of a Gateway API Gateway in the namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    /// Its name.
    pub name: String,
    /// `spec.gatewayClassName`; `istio-waypoint` makes it an ambient waypoint.
    pub class: Option<String>,
}

/// The objects of one namespace that detection reads.
#[derive(Debug, Clone, Copy)]
pub struct NamespaceObjects<'a> {
    /// The namespace itself (labels and annotations).
    pub namespace: &'a Namespace,
    /// Its pods.
    pub pods: &'a [Pod],
    /// Its Gateways (empty when the Gateway API is not served).
    pub gateways: &'a [Gateway],
}

const ISTIO_PROXY: &str = "istio-proxy";
const LINKERD_PROXY: &str = "linkerd-proxy";
const ISTIO_SIDECAR_STATUS: &str = "sidecar.istio.io/status";
const AMBIENT_REDIRECTION: &str = "ambient.istio.io/redirection";
const DATAPLANE_MODE: &str = "istio.io/dataplane-mode";
const USE_WAYPOINT: &str = "istio.io/use-waypoint";
const WAYPOINT_CLASS: &str = "istio-waypoint";
const LINKERD_INJECT: &str = "linkerd.io/inject";
const LINKERD_PROXY_VERSION: &str = "linkerd.io/proxy-version";
const LINKERD_COMPONENT: &str = "linkerd.io/control-plane-component";

/// How a pod takes part in a mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PodMesh {
    IstioSidecar,
    LinkerdSidecar,
    Ambient,
    /// A mesh's own proxy pod (an ambient waypoint).
    Infrastructure,
    Outside,
}

/// The mesh proxy container of a pod (`istio-proxy`, `linkerd-proxy`), also when it runs as
/// a native sidecar (an init container with `restartPolicy: Always`).
pub fn proxy_container(pod: &Pod) -> Option<&Container> {
    let spec = pod.spec.as_ref()?;
    let native = spec
        .init_containers
        .iter()
        .flatten()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"));
    spec.containers
        .iter()
        .chain(native)
        .find(|c| c.name == ISTIO_PROXY || c.name == LINKERD_PROXY)
}

fn annotation<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn label<'a>(
    meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

fn pod_mesh(pod: &Pod, ambient_namespace: bool) -> PodMesh {
    if let Some(proxy) = proxy_container(pod) {
        // ztunnel, waypoints and gateways run Istio's proxy as their only container: they
        // are the mesh's own proxies, not workloads with a sidecar.
        let alone = pod.spec.as_ref().is_some_and(|s| s.containers.len() == 1);
        return match (proxy.name.as_str(), alone) {
            (ISTIO_PROXY, true) => PodMesh::Infrastructure,
            (ISTIO_PROXY, false) => PodMesh::IstioSidecar,
            _ => PodMesh::LinkerdSidecar,
        };
    }
    if annotation(&pod.metadata, ISTIO_SIDECAR_STATUS).is_some() {
        return PodMesh::IstioSidecar;
    }
    if label(&pod.metadata, "gateway.istio.io/managed").is_some() {
        return PodMesh::Infrastructure;
    }
    match annotation(&pod.metadata, AMBIENT_REDIRECTION) {
        Some("enabled") => PodMesh::Ambient,
        Some(_) => PodMesh::Outside,
        // The CNI agent annotates pods as it captures them; one not yet annotated in an
        // ambient namespace is in unless it opted out.
        None if ambient_namespace && label(&pod.metadata, DATAPLANE_MODE) != Some("none") => {
            PodMesh::Ambient
        }
        None => PodMesh::Outside,
    }
}

fn is_host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// The version in an image reference: `docker.io/istio/proxyv2:1.24.2` → `1.24.2`. A
/// digest (`@sha256:…`) is dropped, and so is the build variant Istio appends to its tags
/// (`1.24.2-distroless`, `-debug`): the same release. An image without a tag has none.
pub fn image_tag(image: &str) -> Option<String> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let (_, tag) = last.split_once(':')?;
    let tag = ["-distroless", "-debug"]
        .iter()
        .find_map(|variant| tag.strip_suffix(variant))
        .unwrap_or(tag);
    Some(tag.to_string())
}

/// The value met most often (ties go to the first seen), for versions read off many pods.
fn most_common(values: impl IntoIterator<Item = String>) -> Option<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for v in values {
        match counts.iter_mut().find(|(seen, _)| *seen == v) {
            Some((_, n)) => *n += 1,
            None => counts.push((v, 1)),
        }
    }
    let best = counts.iter().map(|(_, n)| *n).max()?;
    counts.into_iter().find(|(_, n)| *n == best).map(|(v, _)| v)
}

/// The image of a workload's own first container, passing over an injected proxy
/// (Linkerd's control-plane pods are themselves meshed, proxy first); a workload that is
/// only a proxy (ztunnel, a waypoint) has that image.
fn first_image(template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Option<String> {
    let containers = &template?.spec.as_ref()?.containers;
    containers
        .iter()
        .find(|c| c.name != LINKERD_PROXY && c.name != ISTIO_PROXY)
        .or_else(|| containers.first())?
        .image
        .clone()
}

fn deployment_component(d: &Deployment) -> Component {
    let status = d.status.as_ref();
    Component {
        name: d.metadata.name.clone().unwrap_or_default(),
        kind: "Deployment".to_string(),
        image: first_image(d.spec.as_ref().map(|s| &s.template)),
        desired: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as u32,
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0).max(0) as u32,
    }
}

fn daemonset_component(d: &DaemonSet) -> Component {
    let status = d.status.as_ref();
    Component {
        name: d.metadata.name.clone().unwrap_or_default(),
        kind: "DaemonSet".to_string(),
        image: first_image(d.spec.as_ref().map(|s| &s.template)),
        desired: status
            .map(|s| s.desired_number_scheduled)
            .unwrap_or(0)
            .max(0) as u32,
        ready: status.map(|s| s.number_ready).unwrap_or(0).max(0) as u32,
    }
}

/// The meshes' control planes and node agents found in an [`Inventory`].
#[derive(Debug, Default)]
struct Installed<'a> {
    istiod: Vec<&'a Deployment>,
    ztunnel: Vec<&'a DaemonSet>,
    istio_cni: Vec<&'a DaemonSet>,
    linkerd: Vec<&'a Deployment>,
    cilium: Vec<&'a DaemonSet>,
    cilium_envoy: Vec<&'a DaemonSet>,
    cilium_operator: Vec<&'a Deployment>,
}

fn name_or_label(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
    value: &str,
) -> bool {
    meta.name.as_deref() == Some(value) || label(meta, key) == Some(value)
}

impl<'a> Installed<'a> {
    fn find(inv: &'a Inventory) -> Self {
        let mut found = Installed::default();
        for d in &inv.deployments {
            let m = &d.metadata;
            if name_or_label(m, "app", "istiod") {
                found.istiod.push(d);
            } else if label(m, LINKERD_COMPONENT).is_some() {
                found.linkerd.push(d);
            } else if name_or_label(m, "io.cilium/app", "operator")
                || m.name.as_deref() == Some("cilium-operator")
            {
                found.cilium_operator.push(d);
            }
        }
        for ds in &inv.daemonsets {
            let m = &ds.metadata;
            if name_or_label(m, "app", "ztunnel") {
                found.ztunnel.push(ds);
            } else if name_or_label(m, "k8s-app", "istio-cni-node") {
                found.istio_cni.push(ds);
            } else if name_or_label(m, "k8s-app", "cilium-envoy") {
                found.cilium_envoy.push(ds);
            } else if name_or_label(m, "k8s-app", "cilium") {
                found.cilium.push(ds);
            }
        }
        found
    }

    fn meshes(&self) -> Vec<MeshKind> {
        let mut meshes = Vec::new();
        if !self.istiod.is_empty() {
            meshes.push(MeshKind::Istio);
        }
        if !self.ztunnel.is_empty() {
            meshes.push(MeshKind::IstioAmbient);
        }
        if !self.linkerd.is_empty() {
            meshes.push(MeshKind::Linkerd);
        }
        if !self.cilium.is_empty() {
            meshes.push(MeshKind::Cilium);
        }
        meshes
    }

    fn control_plane(&self, mesh: MeshKind) -> Option<ControlPlane> {
        let (deployments, daemonsets): (Vec<&Deployment>, Vec<&DaemonSet>) = match mesh {
            MeshKind::Istio => (self.istiod.clone(), self.istio_cni.clone()),
            MeshKind::IstioAmbient => (
                self.istiod.clone(),
                self.ztunnel
                    .iter()
                    .chain(&self.istio_cni)
                    .copied()
                    .collect(),
            ),
            MeshKind::Linkerd => (self.linkerd.clone(), Vec::new()),
            MeshKind::Cilium => (
                self.cilium_operator.clone(),
                self.cilium
                    .iter()
                    .chain(&self.cilium_envoy)
                    .copied()
                    .collect(),
            ),
            _ => return None,
        };
        let namespace = deployments
            .first()
            .map(|d| &d.metadata)
            .or(daemonsets.first().map(|d| &d.metadata))
            .and_then(|m| m.namespace.clone())?;
        let components: Vec<Component> = deployments
            .iter()
            .map(|d| deployment_component(d))
            .chain(daemonsets.iter().map(|d| daemonset_component(d)))
            .collect();
        let healthy = !components.is_empty()
            && components
                .iter()
                .all(|c| c.desired > 0 && c.ready >= c.desired);
        Some(ControlPlane {
            namespace,
            healthy,
            components,
        })
    }

    fn control_plane_version(&self, mesh: MeshKind) -> Option<String> {
        let image = match mesh {
            MeshKind::Istio | MeshKind::IstioAmbient => first_image(
                self.istiod
                    .first()
                    .and_then(|d| d.spec.as_ref())
                    .map(|s| &s.template),
            ),
            MeshKind::Linkerd => self
                .linkerd
                .iter()
                .find_map(|d| first_image(d.spec.as_ref().map(|s| &s.template))),
            MeshKind::Cilium => self
                .cilium_operator
                .first()
                .and_then(|d| first_image(d.spec.as_ref().map(|s| &s.template))),
            _ => None,
        }?;
        image_tag(&image)
    }
}

fn cilium_setting<'a>(inv: &'a Inventory, key: &str) -> Option<&'a str> {
    inv.cilium_config
        .as_ref()?
        .data
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

fn cilium_config_source(inv: &Inventory) -> String {
    let meta = inv.cilium_config.as_ref().map(|c| &c.metadata);
    format!(
        "ConfigMap {}/{}",
        meta.and_then(|m| m.namespace.as_deref())
            .unwrap_or("kube-system"),
        meta.and_then(|m| m.name.as_deref())
            .unwrap_or("cilium-config")
    )
}

/// Istio's mTLS mode for a namespace: a namespace-wide PeerAuthentication wins over the
/// mesh-wide one in the root namespace; with neither, Istio's default is PERMISSIVE.
fn istio_mtls(inv: &Inventory, namespace: &str, root: &str) -> Option<MtlsInfo> {
    let all = inv.peer_authentications.as_ref()?;
    let wide = |ns: &str| {
        all.iter().find(|p| {
            p.namespace == ns && !p.has_selector && p.mode.as_deref().is_some_and(|m| m != "UNSET")
        })
    };
    let chosen = wide(namespace).or_else(|| wide(root));
    Some(match chosen {
        Some(p) => MtlsInfo {
            mode: p.mode.clone().unwrap_or_default(),
            source: format!("PeerAuthentication {}/{}", p.namespace, p.name),
        },
        None => MtlsInfo {
            mode: "PERMISSIVE".to_string(),
            source: "Istio default (no namespace- or mesh-wide PeerAuthentication)".to_string(),
        },
    })
}

/// Decides which mesh serves a namespace and fills in its record. `expected` is the
/// `mesh_type` the caller believes in; the record says whether they agree.
pub fn detect(
    objects: NamespaceObjects<'_>,
    inv: &Inventory,
    expected: Option<MeshKind>,
) -> MeshStatus {
    let ns_meta = &objects.namespace.metadata;
    let namespace = ns_meta.name.clone().unwrap_or_default();
    let installed = Installed::find(inv);
    let mut evidence = Vec::new();

    let ambient_label = label(ns_meta, DATAPLANE_MODE) == Some("ambient");
    let istio_label = match (
        label(ns_meta, "istio-injection"),
        label(ns_meta, "istio.io/rev"),
    ) {
        (Some("enabled"), _) => Some("istio-injection=enabled".to_string()),
        (Some("disabled"), _) => None,
        (_, Some(rev)) => Some(format!("istio.io/rev={rev}")),
        _ => None,
    };
    let linkerd_annotation = (annotation(ns_meta, LINKERD_INJECT) == Some("enabled"))
        .then(|| "linkerd.io/inject=enabled (annotation)".to_string());

    let pods: Vec<&Pod> = objects
        .pods
        .iter()
        .filter(|p| !finished(p) && !is_host_network(p))
        .collect();
    let kinds: Vec<(&Pod, PodMesh)> = pods
        .iter()
        .map(|p| (*p, pod_mesh(p, ambient_label)))
        .collect();
    let count = |k: PodMesh| kinds.iter().filter(|(_, m)| *m == k).count();
    let (istio_pods, linkerd_pods, ambient_pods) = (
        count(PodMesh::IstioSidecar),
        count(PodMesh::LinkerdSidecar),
        count(PodMesh::Ambient),
    );

    let cilium_mesh = !installed.cilium.is_empty();
    let mesh = if ambient_label || ambient_pods > 0 {
        MeshKind::IstioAmbient
    } else if istio_label.is_some() || linkerd_annotation.is_some() || istio_pods + linkerd_pods > 0
    {
        // Both sidecars in one namespace: the one most pods carry serves it.
        let istio_weight = istio_pods + usize::from(istio_label.is_some());
        let linkerd_weight = linkerd_pods + usize::from(linkerd_annotation.is_some());
        if istio_weight >= linkerd_weight {
            MeshKind::Istio
        } else {
            MeshKind::Linkerd
        }
    } else if cilium_mesh {
        MeshKind::Cilium
    } else {
        MeshKind::Baseline
    };

    let in_mesh = |k: PodMesh| match mesh {
        MeshKind::Istio => k == PodMesh::IstioSidecar || k == PodMesh::Infrastructure,
        MeshKind::Linkerd => k == PodMesh::LinkerdSidecar,
        MeshKind::IstioAmbient => {
            matches!(
                k,
                PodMesh::Ambient | PodMesh::Infrastructure | PodMesh::IstioSidecar
            )
        }
        // Cilium's data plane is in the kernel of every node its agent runs on.
        MeshKind::Cilium => true,
        _ => false,
    };
    let mut with_proxy = Vec::new();
    let mut without_proxy = Vec::new();
    for (pod, k) in &kinds {
        let name = pod.metadata.name.clone().unwrap_or_default();
        if in_mesh(*k) {
            with_proxy.push(name);
        } else {
            without_proxy.push(name);
        }
    }
    let pods_total = kinds.len() as u32;
    let pods_in_mesh = with_proxy.len() as u32;

    let enabled_by = match mesh {
        MeshKind::Istio => istio_label.clone(),
        MeshKind::IstioAmbient => ambient_label.then(|| format!("{DATAPLANE_MODE}=ambient")),
        MeshKind::Linkerd => linkerd_annotation.clone(),
        _ => None,
    };
    if let Some(by) = &enabled_by {
        evidence.push(format!("namespace {namespace} has {by}"));
    }
    match mesh {
        MeshKind::Istio | MeshKind::IstioAmbient if istio_pods > 0 => evidence.push(format!(
            "{istio_pods} pod(s) carry an {ISTIO_PROXY} sidecar"
        )),
        _ => {}
    }
    if ambient_pods > 0 {
        evidence.push(format!(
            "{ambient_pods} pod(s) are captured by ztunnel ({AMBIENT_REDIRECTION})"
        ));
    }
    if linkerd_pods > 0 {
        evidence.push(format!(
            "{linkerd_pods} pod(s) carry a {LINKERD_PROXY} sidecar"
        ));
    }
    if mesh == MeshKind::Istio && linkerd_pods > 0 || mesh == MeshKind::Linkerd && istio_pods > 0 {
        evidence.push("pods of both Istio and Linkerd share the namespace".to_string());
    }

    // The data plane's version: the proxies' image tags (Linkerd also writes it in an
    // annotation), ztunnel's for ambient, the agent's for Cilium.
    let version = match mesh {
        MeshKind::Istio => most_common(
            kinds
                .iter()
                .filter(|(_, k)| *k == PodMesh::IstioSidecar)
                .filter_map(|(p, _)| {
                    proxy_container(p)
                        .and_then(|c| c.image.as_deref())
                        .and_then(image_tag)
                }),
        ),
        MeshKind::Linkerd => most_common(
            kinds
                .iter()
                .filter(|(_, k)| *k == PodMesh::LinkerdSidecar)
                .filter_map(|(p, _)| {
                    annotation(&p.metadata, LINKERD_PROXY_VERSION)
                        .map(str::to_string)
                        .or_else(|| {
                            proxy_container(p)
                                .and_then(|c| c.image.as_deref())
                                .and_then(image_tag)
                        })
                }),
        ),
        MeshKind::IstioAmbient => most_common(installed.ztunnel.iter().filter_map(|d| {
            first_image(d.spec.as_ref().map(|s| &s.template)).and_then(|i| image_tag(&i))
        })),
        MeshKind::Cilium => most_common(installed.cilium.iter().filter_map(|d| {
            first_image(d.spec.as_ref().map(|s| &s.template)).and_then(|i| image_tag(&i))
        })),
        _ => None,
    };

    let waypoints: Vec<String> = objects
        .gateways
        .iter()
        .filter(|g| g.class.as_deref() == Some(WAYPOINT_CLASS))
        .map(|g| g.name.clone())
        .collect();
    let use_waypoint = label(ns_meta, USE_WAYPOINT);
    if let Some(w) = use_waypoint {
        evidence.push(format!("namespace {namespace} has {USE_WAYPOINT}={w}"));
    }

    let (mode, l7_proxy) = match mesh {
        MeshKind::Istio | MeshKind::Linkerd => (Some("sidecar".to_string()), None),
        MeshKind::IstioAmbient if use_waypoint.is_some() || !waypoints.is_empty() => {
            (Some("ambient+waypoint".to_string()), None)
        }
        MeshKind::IstioAmbient => (Some("ambient".to_string()), None),
        MeshKind::Cilium => {
            let l7 = cilium_setting(inv, "enable-l7-proxy").map(|v| v == "true");
            let external = !installed.cilium_envoy.is_empty()
                || cilium_setting(inv, "external-envoy-proxy") == Some("true");
            let mode = if external { "node-proxy" } else { "ebpf" };
            (Some(mode.to_string()), l7)
        }
        _ => (None, None),
    };

    let root = installed
        .istiod
        .first()
        .and_then(|d| d.metadata.namespace.clone())
        .unwrap_or_else(|| "istio-system".to_string());
    let mtls = match mesh {
        MeshKind::Istio | MeshKind::IstioAmbient => istio_mtls(inv, &namespace, &root),
        MeshKind::Linkerd => Some(MtlsInfo {
            mode: "automatic".to_string(),
            source: "Linkerd default: meshed pods always talk mTLS".to_string(),
        }),
        MeshKind::Cilium => {
            let encryption = if cilium_setting(inv, "enable-wireguard") == Some("true") {
                Some("wireguard")
            } else if cilium_setting(inv, "enable-ipsec") == Some("true") {
                Some("ipsec")
            } else {
                None
            };
            encryption.map(|mode| MtlsInfo {
                mode: mode.to_string(),
                source: cilium_config_source(inv),
            })
        }
        _ => None,
    };
    if mesh == MeshKind::Cilium {
        evidence.push("the cilium agent DaemonSet runs on the nodes".to_string());
        if !installed.cilium_envoy.is_empty() {
            evidence.push("the cilium-envoy DaemonSet proxies L7 traffic per node".to_string());
        }
    }

    let control_plane = installed.control_plane(mesh);
    if let Some(cp) = &control_plane {
        let names: Vec<&str> = cp.components.iter().map(|c| c.name.as_str()).collect();
        evidence.push(format!(
            "control plane in {}: {}",
            cp.namespace,
            names.join(", ")
        ));
    } else if mesh != MeshKind::Baseline {
        evidence.push(format!("no {mesh} control plane found in the cluster"));
    }
    let other_meshes = installed
        .meshes()
        .into_iter()
        .filter(|m| *m != mesh && !(mesh == MeshKind::IstioAmbient && *m == MeshKind::Istio))
        .collect();
    if mesh == MeshKind::Baseline {
        evidence.push(format!(
            "no pod of {namespace} has a mesh proxy and no label asks for one"
        ));
    }

    let coverage = if pods_total == 0 {
        1.0
    } else {
        f64::from(pods_in_mesh) / f64::from(pods_total)
    };
    MeshStatus {
        namespace,
        mesh,
        mode,
        version,
        control_plane_version: installed.control_plane_version(mesh),
        injection: Injection {
            enabled_by,
            pods_total,
            pods_in_mesh,
            coverage,
            with_proxy,
            without_proxy,
        },
        mtls,
        control_plane,
        waypoints,
        l7_proxy,
        other_meshes,
        expected,
        agrees: expected.map(|e| e == mesh),
        evidence,
    }
}

/// Pods grouped by namespace, for judging many namespaces from one cluster-wide list.
pub fn pods_by_namespace(pods: Vec<Pod>) -> BTreeMap<String, Vec<Pod>> {
    let mut grouped: BTreeMap<String, Vec<Pod>> = BTreeMap::new();
    for pod in pods {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        grouped.entry(ns).or_default().push(pod);
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_tags_drop_registry_ports_and_digests() {
        assert_eq!(
            image_tag("docker.io/istio/proxyv2:1.24.2").as_deref(),
            Some("1.24.2")
        );
        assert_eq!(
            image_tag("quay.io/cilium/cilium:v1.16.5@sha256:758ca0793f5995bb938a2fa219dcce63dc0b3fa7fc4ce5cc851125281fb7361d").as_deref(),
            Some("v1.16.5")
        );
        assert_eq!(image_tag("localhost:5000/meshbench").as_deref(), None);
        assert_eq!(
            image_tag("docker.io/istio/pilot:1.24.2-distroless").as_deref(),
            Some("1.24.2")
        );
        assert_eq!(
            image_tag("localhost:5000/meshbench:dev").as_deref(),
            Some("dev")
        );
    }

    #[test]
    fn most_common_prefers_the_majority_then_the_first() {
        let v = |s: &[&str]| most_common(s.iter().map(|s| s.to_string()));
        assert_eq!(v(&["a", "b", "b"]).as_deref(), Some("b"));
        assert_eq!(v(&["a", "b"]).as_deref(), Some("a"));
        assert_eq!(v(&[]), None);
    }
}
