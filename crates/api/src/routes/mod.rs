//! Handlers, one module per resource.

pub(crate) mod benchmarks;
mod body;
pub(crate) mod dashboard;
pub(crate) mod docs;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod reports;
pub(crate) mod unavailable;
pub(crate) mod ws;

use axum::routing::{get, post};
use axum::Router;

use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route("/benchmarks/start", post(benchmarks::start))
        .route("/benchmarks/jobs", get(benchmarks::list))
        .route(
            "/benchmarks/jobs/{job_id}",
            get(benchmarks::get_job).delete(benchmarks::cancel),
        )
        .route("/benchmarks/jobs/{job_id}/result", get(benchmarks::result))
        .route(
            "/benchmarks/jobs/{job_id}/distribution",
            get(benchmarks::distribution),
        )
        .route("/metrics/results", get(metrics::results))
        .route("/metrics/summary", get(metrics::summary))
        .route("/metrics", get(metrics::prometheus))
        .route("/reports", get(reports::list))
        .route("/reports/generate", post(reports::generate))
        .route("/reports/{report_id}", get(reports::get_report))
        .route("/reports/{report_id}/download", get(reports::download))
        .route("/reports/shared/{share_token}", get(reports::shared))
        .route("/ebpf/probe/start", post(unavailable::probe_start))
        .route("/ebpf/probe/status", get(unavailable::probe_status))
        .route("/kubernetes/namespaces", get(unavailable::kubernetes))
        .route(
            "/kubernetes/services/{namespace}",
            get(unavailable::kubernetes),
        )
        .route("/kubernetes/pods/{namespace}", get(unavailable::kubernetes))
        .route(
            "/kubernetes/mesh-status/{namespace}",
            get(unavailable::kubernetes),
        )
        .route("/ws", get(ws::upgrade))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/docs", get(docs::page))
        .fallback(unavailable::not_found)
}
