//! The eBPF and Kubernetes endpoints exist from the start and say why they cannot serve yet.

use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ErrorBody;
use crate::ApiError;

/// Why the eBPF probe cannot run: `/ebpf/probe/*` and `/health` give the same reason.
pub(crate) const PROBE_UNAVAILABLE: &str =
    "the eBPF latency probe is not built into this server yet";
/// Why the Kubernetes endpoints cannot answer: they and `/health` give the same reason.
pub(crate) const KUBERNETES_NOT_CONFIGURED: &str =
    "no Kubernetes cluster is configured (set KUBECONFIG)";

/// Start the eBPF latency probe (not available yet: answers 503 with the reason).
#[utoipa::path(post, path = "/ebpf/probe/start", tag = "ebpf",
    responses((status = 503, description = "Not available yet; the body says why", body = ErrorBody)))]
pub(crate) async fn probe_start() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "probe_unavailable",
        PROBE_UNAVAILABLE,
    )
}

/// Whether the eBPF probe is available, and why not.
#[utoipa::path(get, path = "/ebpf/probe/status", tag = "ebpf",
    responses((status = 200, description = "`available: false` and why", body = Object)))]
pub(crate) async fn probe_status() -> Json<Value> {
    Json(json!({
        "available": false,
        "reason": PROBE_UNAVAILABLE,
        "running": false,
    }))
}

/// Kubernetes namespaces, services, pods and mesh status (503 until a cluster is configured).
#[utoipa::path(get, path = "/kubernetes/namespaces", tag = "kubernetes",
    responses((status = 503, description = "No cluster configured", body = ErrorBody)))]
pub(crate) async fn kubernetes() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "kubernetes_not_configured",
        KUBERNETES_NOT_CONFIGURED,
    )
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}
