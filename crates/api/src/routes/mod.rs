//! Handlers, one module per resource.

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod benchmarks;
mod body;
pub(crate) mod dashboard;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod jobs;
pub(crate) mod kubernetes;
pub(crate) mod lab;
pub(crate) mod metrics;
pub(crate) mod probes;
pub(crate) mod reports;
pub(crate) mod series;
pub(crate) mod socketio;
pub(crate) mod unavailable;
pub(crate) mod ws;

use std::collections::HashMap;

use axum::routing::{get, post};
use axum::Router;
use meshbench_core::FieldError;

use crate::{ApiError, AppState};

/// The `x-total-count` header of a paged listing: how many there are in all.
pub(crate) fn total_count(total: u64) -> axum::http::HeaderMap {
    let mut headers = axum::http::HeaderMap::new();
    headers.insert("x-total-count", axum::http::HeaderValue::from(total));
    headers
}

/// The largest `offset` of a paged listing: the API documents it as an int32, and client
/// generators type it so.
pub(crate) const MAX_OFFSET: u32 = i32::MAX as u32;

/// The message of an `offset` out of range.
pub(crate) fn offset_message() -> String {
    format!("must be a whole number from 0 to {MAX_OFFSET}")
}

/// `limit` (1–1000, default 20) and `offset` (0–2^31-1) of a paged listing, each named when
/// invalid.
pub(crate) fn paging(query: &HashMap<String, String>) -> Result<(u32, u32), ApiError> {
    let mut errors = Vec::new();
    let mut limit = meshbench_store::DEFAULT_LIST_LIMIT;
    let mut offset = 0;
    if let Some(v) = query.get("limit") {
        match v.parse::<u32>() {
            Ok(n) if (1..=meshbench_store::MAX_LIST_LIMIT).contains(&n) => limit = n,
            _ => errors.push(FieldError {
                field: "limit".into(),
                message: format!(
                    "must be a whole number from 1 to {}",
                    meshbench_store::MAX_LIST_LIMIT
                ),
            }),
        }
    }
    if let Some(v) = query.get("offset") {
        match v.parse::<u32>() {
            Ok(n) if n <= MAX_OFFSET => offset = n,
            _ => errors.push(FieldError {
                field: "offset".into(),
                message: offset_message(),
            }),
        }
    }
    if errors.is_empty() {
        Ok((limit, offset))
    } else {
        Err(ApiError::validation(errors))
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/auth/login", post(auth::login))
        .route("/auth/logout", post(auth::logout))
        .route("/auth/me", get(auth::me))
        .route(
            "/auth/tokens",
            get(auth::list_tokens).post(auth::create_token),
        )
        .route(
            "/auth/tokens/{token_id}",
            axum::routing::delete(auth::revoke_token),
        )
        .route("/users", get(admin::list_users).post(admin::add_user))
        .route(
            "/users/{username}",
            axum::routing::patch(admin::update_user),
        )
        .route("/audit", get(admin::audit_log))
        .route("/benchmarks/start", post(benchmarks::start))
        .route("/benchmarks/jobs", get(benchmarks::list))
        .route(
            "/benchmarks/jobs/{job_id}",
            get(benchmarks::get_job).delete(benchmarks::cancel),
        )
        .route("/benchmarks/jobs/{job_id}/result", get(benchmarks::result))
        .route("/benchmarks/jobs/{job_id}/smp", get(benchmarks::smp))
        .route(
            "/benchmarks/jobs/{job_id}/distribution",
            get(benchmarks::distribution),
        )
        .route("/metrics/results", get(metrics::results))
        .route("/metrics/summary", get(metrics::summary))
        .route("/metrics/compare", post(series::compare_runs))
        .route("/metrics", get(metrics::prometheus))
        .route("/series/start", post(series::start_series))
        .route("/series/{series_id}", get(series::get_series))
        .route("/reports", get(reports::list))
        .route("/reports/generate", post(reports::generate))
        .route("/reports/{report_id}", get(reports::get_report))
        .route("/reports/{report_id}/download", get(reports::download))
        .route(
            "/reports/{report_id}/share",
            axum::routing::delete(reports::revoke_share),
        )
        .route("/reports/shared/{share_token}", get(reports::shared))
        .route("/ebpf/probe/start", post(probes::start))
        .route("/ebpf/probe/status", get(probes::status))
        .route("/ebpf/probe/jobs", get(probes::list))
        .route(
            "/ebpf/probe/jobs/{probe_id}",
            get(probes::get_probe).delete(probes::cancel),
        )
        .route(
            "/ebpf/probe/jobs/{probe_id}/download",
            get(probes::download),
        )
        .route(
            "/ebpf/probe/jobs/{probe_id}/distribution",
            get(probes::distributions),
        )
        .route("/kubernetes/namespaces", get(kubernetes::namespaces))
        .route(
            "/kubernetes/services/{namespace}",
            get(kubernetes::services),
        )
        .route("/kubernetes/pods/{namespace}", get(kubernetes::pods))
        .route(
            "/kubernetes/mesh-status/{namespace}",
            get(kubernetes::mesh_status),
        )
        .route("/lab", get(lab::status))
        .route("/lab/up", post(lab::up))
        .route("/lab/down", post(lab::down))
        .route("/lab/run", post(lab::run))
        .route("/lab/compare", post(lab::compare_start))
        .route("/lab/compare/{group}", get(lab::compare_view))
        .route("/ws", get(ws::upgrade))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::page))
        .fallback(unavailable::not_found)
}
