//! `/kubernetes/…`: the cluster's namespaces (each with the mesh serving it), a namespace's
//! pods and services, and its full mesh record. 503 when no cluster is configured; every
//! failure of the cluster a JSON error within the client's time bound.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use meshbench_core::{MeshKind, MeshStatus, NamespaceInfo, PodInfo, ServiceInfo};
use meshbench_k8s::Cluster;
use serde::{Deserialize, Serialize};

use crate::error::ErrorBody;
use crate::kubernetes::Kubernetes;
use crate::{ApiError, AppState};

/// What `/health` and the endpoints say when no cluster is configured.
pub(crate) const KUBERNETES_NOT_CONFIGURED: &str =
    "no Kubernetes cluster is configured (set KUBECONFIG)";

impl From<meshbench_k8s::Error> for ApiError {
    fn from(e: meshbench_k8s::Error) -> Self {
        use meshbench_k8s::Error as E;
        let (status, code) = match &e {
            E::NotConfigured => (StatusCode::SERVICE_UNAVAILABLE, "kubernetes_not_configured"),
            E::Config { .. } => (StatusCode::SERVICE_UNAVAILABLE, "kubernetes_misconfigured"),
            E::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "kubernetes_timeout"),
            E::Unreachable { .. } => (StatusCode::BAD_GATEWAY, "kubernetes_unreachable"),
            E::Unauthorized { .. } => (StatusCode::BAD_GATEWAY, "kubernetes_unauthorized"),
            E::Forbidden { .. } => (StatusCode::BAD_GATEWAY, "kubernetes_forbidden"),
            E::NamespaceNotFound(_) => (StatusCode::NOT_FOUND, "namespace_not_found"),
            _ => (StatusCode::BAD_GATEWAY, "kubernetes_error"),
        };
        ApiError::new(status, code, e.to_string())
    }
}

/// The cluster to ask, or the error every endpoint answers without one.
pub(crate) fn cluster(state: &AppState) -> Result<&Cluster, ApiError> {
    match &state.kubernetes {
        Kubernetes::Cluster(access) => Ok(&access.cluster),
        Kubernetes::NotConfigured => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kubernetes_not_configured",
            KUBERNETES_NOT_CONFIGURED,
        )),
        Kubernetes::Unusable(reason) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kubernetes_misconfigured",
            reason.as_str(),
        )),
    }
}

/// A 403 `namespace_forbidden` for a namespace outside `MESHBENCH_NAMESPACE_ALLOW`.
pub(crate) fn namespace_allowed(
    state: &AppState,
    field: &str,
    namespace: &str,
) -> Result<(), ApiError> {
    state
        .settings
        .namespace_policy
        .check(namespace)
        .map_err(|reason| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "namespace_forbidden",
                format!("{field}: {reason}"),
            )
        })
}

/// A namespace name as Kubernetes allows it (an RFC 1123 label) and the namespace policy
/// allows, or a 422 (403) naming the field.
fn allowed_namespace<'a>(state: &AppState, name: &'a str) -> Result<&'a str, ApiError> {
    let name = namespace_name(name)?;
    namespace_allowed(state, "namespace", name)?;
    Ok(name)
}

/// A namespace name as Kubernetes allows it (an RFC 1123 label), or a 422 naming the field.
fn namespace_name(name: &str) -> Result<&str, ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(name)
    } else {
        Err(ApiError::field(
            "namespace",
            format!(
                "`{name}` is not a namespace name (lowercase letters, digits and `-`, at most 63)"
            ),
        ))
    }
}

/// `GET /kubernetes/namespaces`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct NamespaceList {
    /// Every namespace (MESHBENCH_NAMESPACE_ALLOW allows), by name, with the mesh serving it.
    namespaces: Vec<NamespaceInfo>,
}

/// `GET /kubernetes/pods/{namespace}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct PodList {
    /// The namespace.
    namespace: String,
    /// Its pods, by name.
    pods: Vec<PodInfo>,
}

/// `GET /kubernetes/services/{namespace}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ServiceList {
    /// The namespace.
    namespace: String,
    /// Its services, by name.
    services: Vec<ServiceInfo>,
}

/// The query of `GET /kubernetes/mesh-status/{namespace}`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct MeshStatusQuery {
    /// The mesh the caller expects (`baseline`, `istio`, `istio_ambient`, `linkerd`,
    /// `cilium`); the answer says whether the detected one agrees.
    mesh_type: Option<String>,
}

/// The cluster's namespaces, each with the mesh serving it, its mode, version and coverage.
#[utoipa::path(get, path = "/kubernetes/namespaces", tag = "kubernetes",
    responses((status = 200, description = "Namespaces", body = NamespaceList),
              (status = 502, description = "The cluster refused or failed the request", body = ErrorBody),
              (status = 503, description = "No cluster configured", body = ErrorBody),
              (status = 504, description = "The cluster did not answer in time", body = ErrorBody)))]
pub(crate) async fn namespaces(
    State(state): State<AppState>,
) -> Result<Json<NamespaceList>, ApiError> {
    let policy = &state.settings.namespace_policy;
    let namespaces = cluster(&state)?
        .namespaces()
        .await?
        .into_iter()
        .filter(|n| policy.allows(&n.name))
        .collect();
    Ok(Json(NamespaceList { namespaces }))
}

/// A namespace's pods, with the mesh proxy each carries.
#[utoipa::path(get, path = "/kubernetes/pods/{namespace}", tag = "kubernetes",
    params(("namespace" = String, Path, description = "Namespace")),
    responses((status = 200, description = "Pods", body = PodList),
              (status = 403, description = "`namespace_forbidden`: outside MESHBENCH_NAMESPACE_ALLOW", body = ErrorBody),
              (status = 404, description = "No such namespace", body = ErrorBody),
              (status = 422, description = "Not a namespace name", body = ErrorBody),
              (status = 502, description = "The cluster refused or failed the request", body = ErrorBody),
              (status = 503, description = "No cluster configured", body = ErrorBody),
              (status = 504, description = "The cluster did not answer in time", body = ErrorBody)))]
pub(crate) async fn pods(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
) -> Result<Json<PodList>, ApiError> {
    let cluster = cluster(&state)?;
    let pods = cluster.pods(allowed_namespace(&state, &namespace)?).await?;
    Ok(Json(PodList { namespace, pods }))
}

/// A namespace's services.
#[utoipa::path(get, path = "/kubernetes/services/{namespace}", tag = "kubernetes",
    params(("namespace" = String, Path, description = "Namespace")),
    responses((status = 200, description = "Services", body = ServiceList),
              (status = 403, description = "`namespace_forbidden`: outside MESHBENCH_NAMESPACE_ALLOW", body = ErrorBody),
              (status = 404, description = "No such namespace", body = ErrorBody),
              (status = 422, description = "Not a namespace name", body = ErrorBody),
              (status = 502, description = "The cluster refused or failed the request", body = ErrorBody),
              (status = 503, description = "No cluster configured", body = ErrorBody),
              (status = 504, description = "The cluster did not answer in time", body = ErrorBody)))]
pub(crate) async fn services(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
) -> Result<Json<ServiceList>, ApiError> {
    let cluster = cluster(&state)?;
    let services = cluster
        .services(allowed_namespace(&state, &namespace)?)
        .await?;
    Ok(Json(ServiceList {
        namespace,
        services,
    }))
}

/// Which mesh serves a namespace: mode, version, injection coverage (pods listed), mTLS,
/// control-plane health, and whether it agrees with `mesh_type`.
#[utoipa::path(get, path = "/kubernetes/mesh-status/{namespace}", tag = "kubernetes",
    params(("namespace" = String, Path, description = "Namespace"), MeshStatusQuery),
    responses((status = 200, description = "The namespace's mesh record", body = MeshStatus),
              (status = 403, description = "`namespace_forbidden`: outside MESHBENCH_NAMESPACE_ALLOW", body = ErrorBody),
              (status = 404, description = "No such namespace", body = ErrorBody),
              (status = 422, description = "Not a namespace name, or an unknown mesh_type", body = ErrorBody),
              (status = 502, description = "The cluster refused or failed the request", body = ErrorBody),
              (status = 503, description = "No cluster configured", body = ErrorBody),
              (status = 504, description = "The cluster did not answer in time", body = ErrorBody)))]
pub(crate) async fn mesh_status(
    State(state): State<AppState>,
    Path(namespace): Path<String>,
    Query(query): Query<MeshStatusQuery>,
) -> Result<Json<MeshStatus>, ApiError> {
    let expected = match query.mesh_type.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Some(m.parse::<MeshKind>().map_err(|_| {
            ApiError::field(
                "mesh_type",
                format!("unknown mesh `{m}` (baseline, istio, istio_ambient, linkerd, cilium)"),
            )
        })?),
        None => None,
    };
    let cluster = cluster(&state)?;
    let status = cluster
        .mesh_status(allowed_namespace(&state, &namespace)?, expected)
        .await?;
    Ok(Json(status))
}
