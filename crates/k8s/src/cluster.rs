//! A connection to a Kubernetes API server, every call bounded in time and every failure
//! turned into an [`Error`] that says what was asked and what went wrong.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::{Api, Client, Config};
use meshbench_core::{MeshKind, MeshStatus, NamespaceInfo, PodInfo, ServiceInfo};

use crate::detect::{self, Gateway, Inventory, NamespaceObjects, PeerAuthentication};
use crate::view;
use crate::Error;

/// How long one call to the API server may take before it is given up, unless the
/// configuration says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a cluster's configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A kubeconfig file (`KUBECONFIG`, or `~/.kube/config`).
    Kubeconfig(PathBuf),
    /// The service account of the pod meshbench runs in.
    InCluster,
}

impl Source {
    /// The configuration this process can see, if any: `kubeconfig` (the value of
    /// `KUBECONFIG`; its first path), else `~/.kube/config` when it exists, else in-cluster
    /// credentials when their token is mounted. `None` when there is none: no cluster is
    /// configured.
    pub fn find(kubeconfig: Option<&std::ffi::OsStr>) -> Option<Source> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let token = std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token");
        let in_cluster = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() && token.is_file();
        Source::choose(kubeconfig, home.as_deref(), in_cluster)
    }

    /// [`Source::find`]'s rule, given what it read from the environment.
    fn choose(
        kubeconfig: Option<&std::ffi::OsStr>,
        home: Option<&std::path::Path>,
        in_cluster: bool,
    ) -> Option<Source> {
        if let Some(paths) = kubeconfig.filter(|v| !v.is_empty()) {
            if let Some(first) = std::env::split_paths(paths).next() {
                return Some(Source::Kubeconfig(first));
            }
        }
        if let Some(path) = home.map(|h| h.join(".kube").join("config")) {
            if path.is_file() {
                return Some(Source::Kubeconfig(path));
            }
        }
        in_cluster.then_some(Source::InCluster)
    }

    /// For messages: the kubeconfig's path, or `in-cluster service account`.
    pub fn describe(&self) -> String {
        match self {
            Source::Kubeconfig(p) => format!("kubeconfig {}", p.display()),
            Source::InCluster => "in-cluster service account".to_string(),
        }
    }
}

/// An API a cluster may not serve: (group, version, kind, plural, resource as RBAC and
/// error messages name it).
type ServedApi = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const PEER_AUTHENTICATIONS: ServedApi = (
    "security.istio.io",
    "v1",
    "PeerAuthentication",
    "peerauthentications",
    "peerauthentications.security.istio.io",
);
const GATEWAYS: ServedApi = (
    "gateway.networking.k8s.io",
    "v1",
    "Gateway",
    "gateways",
    "gateways.gateway.networking.k8s.io",
);
const POD_METRICS: ServedApi = (
    "metrics.k8s.io",
    "v1beta1",
    "PodMetrics",
    "pods",
    "pods.metrics.k8s.io",
);

/// What a call asked for, for error messages: `list pods in namespace shop`.
#[derive(Debug, Clone, Copy)]
struct Action<'a> {
    verb: &'static str,
    resource: &'static str,
    namespace: Option<&'a str>,
}

impl Action<'_> {
    fn scope(&self) -> String {
        match self.namespace {
            Some(ns) => format!(" in namespace {ns}"),
            None => " cluster-wide".to_string(),
        }
    }
}

/// One pod's usage as the metrics API reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodUsage {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod.
    pub pod: String,
    /// Its labels (the metrics server copies the pod's).
    pub labels: std::collections::BTreeMap<String, String>,
    /// When the metrics server took the reading.
    pub timestamp: Option<String>,
    /// Its containers.
    pub containers: Vec<ContainerMetrics>,
}

/// One container's usage; `None` where the quantity could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerMetrics {
    /// The container.
    pub name: String,
    /// CPU, millicores.
    pub cpu_millicores: Option<f64>,
    /// Working-set memory, bytes.
    pub memory_bytes: Option<f64>,
}

/// A Kubernetes cluster meshbench reads (and, for deployments, writes).
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    server: String,
    source: Source,
    timeout: Duration,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .field("source", &self.source)
            .finish()
    }
}

impl Cluster {
    /// Loads the configuration `source` names and builds a client; no request is made yet.
    /// Each later call is given up after `timeout`.
    pub async fn connect(source: Source, timeout: Duration) -> Result<Cluster, Error> {
        let config_error = |message: String| Error::Config {
            source_name: source.describe(),
            message,
        };
        let mut config = match &source {
            Source::Kubeconfig(path) => {
                let kubeconfig = kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| config_error(meshbench_core::error_chain(&e)))?;
                Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                    .await
                    .map_err(|e| config_error(meshbench_core::error_chain(&e)))?
            }
            Source::InCluster => {
                Config::incluster().map_err(|e| config_error(meshbench_core::error_chain(&e)))?
            }
        };
        config.connect_timeout = Some(timeout);
        let server = config.cluster_url.to_string();
        let client =
            Client::try_from(config).map_err(|e| config_error(meshbench_core::error_chain(&e)))?;
        Ok(Cluster {
            client,
            server,
            source,
            timeout,
        })
    }

    /// The cluster `kubeconfig` (the value of `KUBECONFIG`) or the defaults lead to
    /// ([`Source::find`]), or [`Error::NotConfigured`].
    pub async fn find(
        kubeconfig: Option<&std::ffi::OsStr>,
        timeout: Duration,
    ) -> Result<Cluster, Error> {
        let source = Source::find(kubeconfig).ok_or(Error::NotConfigured)?;
        Cluster::connect(source, timeout).await
    }

    /// The API server's address.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Where the configuration came from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The kube-rs client, for calls this type does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Runs one call, bounded by the timeout, with its failure described.
    async fn call<T>(
        &self,
        action: Action<'_>,
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.describe(action, e)),
            Err(_) => Err(Error::Timeout {
                server: self.server.clone(),
                action: format!("{} {}{}", action.verb, action.resource, action.scope()),
                after: self.timeout,
            }),
        }
    }

    /// [`Cluster::call`] for the other modules: (verb, resource, namespace) names the call.
    pub(crate) async fn bounded<T>(
        &self,
        (verb, resource, namespace): (&'static str, &'static str, Option<&str>),
        call: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Error> {
        let action = Action {
            verb,
            resource,
            namespace,
        };
        self.call(action, call).await
    }

    /// `Ok` when namespace `name` exists, else [`Error::NamespaceNotFound`].
    pub(crate) async fn namespace_exists(&self, name: &str) -> Result<(), Error> {
        self.namespace(name).await.map(drop)
    }

    fn describe(&self, action: Action<'_>, error: kube::Error) -> Error {
        let what = format!("{} {}{}", action.verb, action.resource, action.scope());
        match error {
            kube::Error::Api(status) => match status.code {
                401 => Error::Unauthorized {
                    server: self.server.clone(),
                    message: status.message,
                },
                403 => Error::Forbidden {
                    verb: action.verb,
                    resource: action.resource,
                    scope: action.scope(),
                    message: status.message,
                },
                404 => Error::NotFound {
                    what,
                    message: status.message,
                },
                code => Error::Api {
                    code,
                    action: what,
                    message: status.message,
                },
            },
            other => Error::Unreachable {
                server: self.server.clone(),
                action: what,
                message: meshbench_core::error_chain(&other),
            },
        }
    }

    /// The API server's version, e.g. `v1.31.2`: a cheap check that the cluster answers.
    pub async fn version(&self) -> Result<String, Error> {
        let action = Action {
            verb: "get",
            resource: "version",
            namespace: None,
        };
        let info = self.call(action, self.client.apiserver_version()).await?;
        Ok(info.git_version)
    }

    async fn list<K>(&self, api: Api<K>, action: Action<'_>) -> Result<Vec<K>, Error>
    where
        K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let list = self.call(action, api.list(&ListParams::default())).await?;
        Ok(list.items)
    }

    async fn namespace(&self, name: &str) -> Result<Namespace, Error> {
        let action = Action {
            verb: "get",
            resource: "namespaces",
            namespace: None,
        };
        let api: Api<Namespace> = Api::all(self.client.clone());
        match self.call(action, api.get_opt(name)).await? {
            Some(ns) => Ok(ns),
            None => Err(Error::NamespaceNotFound(name.to_string())),
        }
    }

    async fn pods_of(&self, namespace: Option<&str>) -> Result<Vec<Pod>, Error> {
        let action = Action {
            verb: "list",
            resource: "pods",
            namespace,
        };
        let api: Api<Pod> = match namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        self.list(api, action).await
    }

    /// The cluster-wide objects mesh detection reads: Deployments, DaemonSets, Cilium's
    /// configuration and Istio's PeerAuthentications (absent when Istio's API is not served).
    pub async fn inventory(&self) -> Result<Inventory, Error> {
        let all = |resource| Action {
            verb: "list",
            resource,
            namespace: None,
        };
        let deployments = self.list(
            Api::<Deployment>::all(self.client.clone()),
            all("deployments"),
        );
        let daemonsets = self.list(
            Api::<DaemonSet>::all(self.client.clone()),
            all("daemonsets"),
        );
        let peer_authentications = self.peer_authentications();
        let (deployments, daemonsets, peer_authentications) =
            tokio::try_join!(deployments, daemonsets, peer_authentications)?;
        let mut inventory = Inventory {
            deployments,
            daemonsets,
            cilium_config: None,
            peer_authentications,
        };
        let cilium_namespace = inventory
            .daemonsets
            .iter()
            .find(|d| d.metadata.name.as_deref() == Some("cilium"))
            .and_then(|d| d.metadata.namespace.clone());
        if let Some(ns) = cilium_namespace {
            let action = Action {
                verb: "get",
                resource: "configmaps",
                namespace: Some(&ns),
            };
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &ns);
            inventory.cilium_config = self.call(action, api.get_opt("cilium-config")).await?;
        }
        Ok(inventory)
    }

    /// The objects of an API a cluster may not serve (a mesh's CRDs, the metrics API), in
    /// `namespace` or everywhere, picked by `selector`; `None` when the API is not served.
    async fn list_if_served(
        &self,
        api: ServedApi,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Option<Vec<DynamicObject>>, Error> {
        let (group, version, kind, plural, resource) = api;
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let objects: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &ar),
            None => Api::all_with(self.client.clone(), &ar),
        };
        let action = Action {
            verb: "list",
            resource,
            namespace,
        };
        let params = ListParams::default().labels(selector);
        match self.call(action, objects.list(&params)).await {
            Ok(list) => Ok(Some(list.items)),
            Err(Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn peer_authentications(&self) -> Result<Option<Vec<PeerAuthentication>>, Error> {
        // None: Istio's CRDs are not installed.
        let Some(objects) = self.list_if_served(PEER_AUTHENTICATIONS, None, "").await? else {
            return Ok(None);
        };
        Ok(Some(
            objects
                .into_iter()
                .map(|o| {
                    let spec = o.data.get("spec");
                    PeerAuthentication {
                        namespace: o.metadata.namespace.clone().unwrap_or_default(),
                        name: o.metadata.name.clone().unwrap_or_default(),
                        mode: spec
                            .and_then(|s| s.pointer("/mtls/mode"))
                            .and_then(|m| m.as_str())
                            .map(str::to_string),
                        has_selector: spec.is_some_and(|s| s.get("selector").is_some()),
                    }
                })
                .collect(),
        ))
    }

    async fn gateways(&self, namespace: &str) -> Result<Vec<Gateway>, Error> {
        let objects = self
            .list_if_served(GATEWAYS, Some(namespace), "")
            .await?
            .unwrap_or_default();
        Ok(objects
            .into_iter()
            .map(|o| Gateway {
                name: o.metadata.name.clone().unwrap_or_default(),
                class: o
                    .data
                    .pointer("/spec/gatewayClassName")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
            })
            .collect())
    }

    /// Every namespace, with a summary of the mesh serving it.
    pub async fn namespaces(&self) -> Result<Vec<NamespaceInfo>, Error> {
        let action = Action {
            verb: "list",
            resource: "namespaces",
            namespace: None,
        };
        let namespaces = self.list(Api::<Namespace>::all(self.client.clone()), action);
        let (namespaces, pods, inventory) =
            tokio::try_join!(namespaces, self.pods_of(None), self.inventory())?;
        let mut pods = detect::pods_by_namespace(pods);
        let mut infos: Vec<NamespaceInfo> = namespaces
            .iter()
            .map(|ns| {
                let name = ns.metadata.name.clone().unwrap_or_default();
                let pods = pods.remove(&name).unwrap_or_default();
                // Gateways are not listed per namespace here: the summary's mode may say
                // `ambient` where the full status says `ambient+waypoint` only when a
                // waypoint exists without the namespace's use-waypoint label.
                let status = detect::detect(
                    NamespaceObjects {
                        namespace: ns,
                        pods: &pods,
                        gateways: &[],
                    },
                    &inventory,
                    None,
                );
                view::namespace_info(ns, status.summary())
            })
            .collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// The pods of `namespace` on `node` (name starting with `prefix`, when given), as
    /// (name, uid): what the probe needs to find their cgroups.
    pub async fn pods_on_node(
        &self,
        namespace: &str,
        prefix: Option<&str>,
        node: &str,
    ) -> Result<Vec<(String, String)>, Error> {
        let (_, pods) = tokio::try_join!(self.namespace(namespace), self.pods_of(Some(namespace)))?;
        Ok(pods
            .into_iter()
            .filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(node))
            .filter_map(|p| Some((p.metadata.name?, p.metadata.uid?)))
            .filter(|(name, _)| prefix.is_none_or(|pre| name.starts_with(pre)))
            .collect())
    }

    /// The pods of a namespace.
    pub async fn pods(&self, namespace: &str) -> Result<Vec<PodInfo>, Error> {
        let (_, pods) = tokio::try_join!(self.namespace(namespace), self.pods_of(Some(namespace)))?;
        let mut infos: Vec<PodInfo> = pods.iter().map(view::pod_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// The services of a namespace.
    pub async fn services(&self, namespace: &str) -> Result<Vec<ServiceInfo>, Error> {
        let action = Action {
            verb: "list",
            resource: "services",
            namespace: Some(namespace),
        };
        let api: Api<Service> = Api::namespaced(self.client.clone(), namespace);
        let (_, services) = tokio::try_join!(self.namespace(namespace), self.list(api, action))?;
        let mut infos: Vec<ServiceInfo> = services.iter().map(view::service_info).collect();
        infos.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(infos)
    }

    /// CPU and memory of every container of the pods in `namespace` that `selector` (a
    /// label selector, empty for all) picks, from `metrics.k8s.io`. `Ok(None)` when the
    /// metrics API is not served (no metrics server).
    pub async fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> Result<Option<Vec<PodUsage>>, Error> {
        let Some(objects) = self
            .list_if_served(POD_METRICS, Some(namespace), selector)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(
            objects
                .into_iter()
                .map(|o| PodUsage {
                    namespace: o
                        .metadata
                        .namespace
                        .clone()
                        .unwrap_or_else(|| namespace.to_string()),
                    pod: o.metadata.name.clone().unwrap_or_default(),
                    labels: o.metadata.labels.clone().unwrap_or_default(),
                    timestamp: o
                        .data
                        .get("timestamp")
                        .and_then(|t| t.as_str())
                        .map(str::to_string),
                    containers: o
                        .data
                        .get("containers")
                        .and_then(|c| c.as_array())
                        .map(|cs| {
                            cs.iter()
                                .map(|c| {
                                    let usage = |k: &str| {
                                        c.pointer(&format!("/usage/{k}")).and_then(|v| v.as_str())
                                    };
                                    ContainerMetrics {
                                        name: c
                                            .get("name")
                                            .and_then(|n| n.as_str())
                                            .unwrap_or_default()
                                            .to_string(),
                                        cpu_millicores: usage("cpu")
                                            .and_then(meshbench_core::cluster::cpu_millicores),
                                        memory_bytes: usage("memory")
                                            .and_then(meshbench_core::cluster::memory_bytes),
                                    }
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect(),
        ))
    }

    /// The mesh record of a namespace; `expected` is the `mesh_type` the caller believes in.
    pub async fn mesh_status(
        &self,
        namespace: &str,
        expected: Option<MeshKind>,
    ) -> Result<MeshStatus, Error> {
        let (ns, pods, gateways, inventory) = tokio::try_join!(
            self.namespace(namespace),
            self.pods_of(Some(namespace)),
            self.gateways(namespace),
            self.inventory()
        )?;
        Ok(detect::detect(
            NamespaceObjects {
                namespace: &ns,
                pods: &pods,
                gateways: &gateways,
            },
            &inventory,
            expected,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn kubeconfig_then_home_then_in_cluster_then_nothing() {
        let home = std::env::temp_dir().join(format!("meshbench-k8s-home-{}", std::process::id()));
        std::fs::create_dir_all(home.join(".kube")).expect("mkdir");
        let default = home.join(".kube").join("config");
        let _ = std::fs::remove_file(&default);
        assert_eq!(Source::choose(None, Some(&home), false), None);
        assert_eq!(
            Source::choose(Some(OsStr::new("")), Some(&home), true),
            Some(Source::InCluster)
        );
        std::fs::write(&default, "").expect("write");
        assert_eq!(
            Source::choose(None, Some(&home), true),
            Some(Source::Kubeconfig(default.clone()))
        );
        assert_eq!(
            Source::choose(Some(OsStr::new("/a/one:/b/two")), Some(&home), true),
            Some(Source::Kubeconfig(PathBuf::from("/a/one")))
        );
        let _ = std::fs::remove_dir_all(&home);
    }
}
