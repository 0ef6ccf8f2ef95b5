//! What a benchmark learns of its target's cluster: the namespace's mesh record when the
//! run starts, and the proxies' and the application's CPU and memory while it runs, read
//! from `metrics.k8s.io` every few seconds. Nothing here can fail a run: a cluster that
//! cannot answer leaves a reason in the record instead.

use std::time::{Duration, Instant};

use meshbench_core::cluster::{resource_cost, ContainerUsage, ResourceSample};
use meshbench_core::{ClusterRecord, MeshKind, MeshStatus};
use meshbench_k8s::{Cluster, PodUsage};
use tokio::sync::watch;
use tokio::task::JoinHandle;

const PROXY_CONTAINERS: [&str; 2] = ["istio-proxy", "linkerd-proxy"];
const WAYPOINT_LABEL: &str = "gateway.istio.io/managed";

/// The cluster side of one run, gathering in the background.
pub(crate) struct ClusterWatch {
    stop: watch::Sender<bool>,
    task: JoinHandle<(ClusterRecord, Vec<ResourceSample>)>,
}

impl ClusterWatch {
    /// Starts reading: the mesh record of `namespace` first, then a metrics sample every
    /// `interval` until [`ClusterWatch::finish`]. `mesh_type` is the run's label.
    pub(crate) fn start(
        cluster: Cluster,
        namespace: String,
        mesh_type: &str,
        interval: Duration,
    ) -> ClusterWatch {
        let expected = mesh_type.parse::<MeshKind>().ok();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let mut record = ClusterRecord {
                namespace: namespace.clone(),
                ..ClusterRecord::default()
            };
            match cluster.mesh_status(&namespace, expected).await {
                Ok(status) => {
                    record.mesh_mismatch = status.agrees == Some(false);
                    record.mesh = Some(status);
                }
                Err(e) => record.mesh_error = Some(e.to_string()),
            }
            let sources = sources(&namespace, record.mesh.as_ref());
            let mut samples = Vec::new();
            let mut ticker = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stopped.changed() => break,
                }
                match sample(&cluster, &sources, started).await {
                    Ok(Some(s)) => samples.push(s),
                    Ok(None) => {
                        record.resources_error = Some(
                            "no metrics server: the metrics.k8s.io API is not served".to_string(),
                        );
                        break;
                    }
                    Err(e) => record.resources_error = Some(e.to_string()),
                }
                if *stopped.borrow() {
                    break;
                }
            }
            (record, samples)
        });
        ClusterWatch { stop, task }
    }

    /// Stops sampling and summarises: the record, with the proxies' cost per 1,000
    /// requests per second of a run that achieved `rps`.
    pub(crate) async fn finish(self, rps: f64) -> ClusterRecord {
        let _ = self.stop.send(true);
        match self.task.await {
            Ok((mut record, samples)) => {
                if !samples.is_empty() {
                    // A failed sample among good ones costs that sample, not the figures.
                    record.resources_error = None;
                    record.resources = Some(resource_cost(samples, rps));
                }
                record
            }
            Err(e) => ClusterRecord {
                mesh_error: Some(format!("the cluster reader stopped abnormally: {e}")),
                ..ClusterRecord::default()
            },
        }
    }
}

/// Where the run's proxies live: the namespace itself (sidecars, waypoints), and the
/// node-level proxies its mesh uses (ztunnel for ambient, cilium-envoy for Cilium).
fn sources(namespace: &str, mesh: Option<&MeshStatus>) -> Vec<(String, &'static str)> {
    let mut sources = vec![(namespace.to_string(), "")];
    let node_proxy = match mesh.map(|m| m.mesh) {
        Some(MeshKind::IstioAmbient) => Some("app=ztunnel"),
        Some(MeshKind::Cilium) => Some("k8s-app=cilium-envoy"),
        _ => None,
    };
    if let (Some(selector), Some(cp)) = (node_proxy, mesh.and_then(|m| m.control_plane.as_ref())) {
        if cp.namespace != namespace {
            sources.push((cp.namespace.clone(), selector));
        }
    }
    sources
}

/// One reading of every source; `Ok(None)` when there is no metrics server.
async fn sample(
    cluster: &Cluster,
    sources: &[(String, &'static str)],
    started: Instant,
) -> Result<Option<ResourceSample>, meshbench_k8s::Error> {
    let t_s = started.elapsed().as_secs_f64();
    let mut containers = Vec::new();
    for (namespace, selector) in sources {
        let Some(pods) = cluster.pod_metrics(namespace, selector).await? else {
            return Ok(None);
        };
        // Pods picked by a selector elsewhere are node proxies: all of them is proxy.
        let node_proxies = !selector.is_empty();
        for pod in pods {
            containers.extend(usages(&pod, node_proxies));
        }
    }
    Ok(Some(ResourceSample { t_s, containers }))
}

fn usages(pod: &PodUsage, node_proxies: bool) -> impl Iterator<Item = ContainerUsage> + '_ {
    let waypoint = pod.labels.contains_key(WAYPOINT_LABEL);
    pod.containers.iter().map(move |c| {
        let proxy = node_proxies || waypoint || PROXY_CONTAINERS.contains(&c.name.as_str());
        ContainerUsage {
            namespace: pod.namespace.clone(),
            pod: pod.pod.clone(),
            container: c.name.clone(),
            role: if proxy { "proxy" } else { "app" }.to_string(),
            cpu_millicores: c.cpu_millicores.unwrap_or(0.0),
            memory_bytes: c.memory_bytes.unwrap_or(0.0),
        }
    })
}
