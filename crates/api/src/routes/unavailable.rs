//! The Kubernetes endpoints exist from the start and say why they cannot serve yet.

use axum::http::StatusCode;

use crate::error::ErrorBody;
use crate::ApiError;

/// Why the Kubernetes endpoints cannot answer: they and `/health` give the same reason.
pub(crate) const KUBERNETES_NOT_CONFIGURED: &str =
    "no Kubernetes cluster is configured (set KUBECONFIG)";

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
