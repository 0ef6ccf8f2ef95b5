//! `GET /health`: is the server, its store and its queue alive, how busy is it, and which
//! optional parts (eBPF probe, Kubernetes) it can use and why not.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use meshbench_core::JobStatus;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::kubernetes::KUBERNETES_NOT_CONFIGURED;
use crate::kubernetes::Kubernetes;
use crate::AppState;

/// The answer of `/health`, healthy or not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// `healthy`, or `degraded` when the store or the queue is unreachable.
    status: &'static str,
    /// Server version.
    version: String,
    /// Server time, RFC 3339.
    timestamp: String,
    /// Seconds since the server started.
    uptime_s: f64,
    /// `ok` or `unreachable`.
    store: &'static str,
    /// `ok` or `unreachable`.
    queue: &'static str,
    /// Whether a Kubernetes cluster is configured and answered (`kubernetes.connected`).
    kubernetes_connected: bool,
    /// The eBPF latency probe: whether a live worker can probe.
    ebpf: Capability,
    /// The Kubernetes integration.
    kubernetes: KubernetesCapability,
    /// Jobs pending or running.
    active_jobs: u64,
}

/// Whether an optional part can be used, and why not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Capability {
    /// Usable now.
    available: bool,
    /// Why not, for a person to read (absent when available).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

/// Whether a Kubernetes cluster is configured and answers, and why not.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KubernetesCapability {
    /// A cluster is configured.
    configured: bool,
    /// It answered its last check (absent when not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    connected: Option<bool>,
    /// Its API server (absent when not configured).
    #[serde(skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    /// Its Kubernetes version, e.g. `v1.31.2` (absent unless connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// Why it cannot be used, for a person to read (absent when connected).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

async fn kubernetes_capability(kubernetes: &Kubernetes) -> KubernetesCapability {
    match kubernetes {
        Kubernetes::NotConfigured => KubernetesCapability {
            configured: false,
            connected: None,
            server: None,
            version: None,
            reason: Some(KUBERNETES_NOT_CONFIGURED.to_string()),
        },
        Kubernetes::Unusable(reason) => KubernetesCapability {
            configured: true,
            connected: Some(false),
            server: None,
            version: None,
            reason: Some(reason.to_string()),
        },
        Kubernetes::Cluster(access) => {
            let checked = access.reachable().await;
            KubernetesCapability {
                configured: true,
                connected: Some(checked.is_ok()),
                server: Some(access.cluster.server().to_string()),
                version: checked.as_ref().ok().cloned(),
                reason: checked.err(),
            }
        }
    }
}

/// Liveness and readiness: store and queue reachability, active jobs, version, and whether
/// the eBPF probe and Kubernetes can be used (with the reason when not).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy", body = Health),
              (status = 503, description = "The store or the queue is unreachable (`status: degraded`)", body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let store_ok = state.store.ping().await.is_ok();
    let queue_ok = state.queue.ping().await.is_ok();
    let active_jobs = match state.store.count_by_status().await {
        Ok(counts) => counts
            .iter()
            .filter(|(s, _)| matches!(s, JobStatus::Pending | JobStatus::Running))
            .map(|(_, n)| n)
            .sum::<u64>(),
        Err(_) => 0,
    };
    let healthy = store_ok && queue_ok;
    let kubernetes = kubernetes_capability(&state.kubernetes).await;
    let reachable = |ok: bool| if ok { "ok" } else { "unreachable" };
    let body = Health {
        status: if healthy { "healthy" } else { "degraded" },
        version: state.settings.version.clone(),
        timestamp: OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
        uptime_s: state.started.elapsed().as_secs_f64(),
        store: reachable(store_ok),
        queue: reachable(queue_ok),
        kubernetes_connected: kubernetes.connected == Some(true),
        ebpf: match super::jobs::probe_capability(&state).await {
            Ok(()) => Capability {
                available: true,
                reason: None,
            },
            Err(reason) => Capability {
                available: false,
                reason: Some(reason),
            },
        },
        kubernetes,
        active_jobs,
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
