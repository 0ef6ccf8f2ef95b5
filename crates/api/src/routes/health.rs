//! `GET /health`: is the server, its store and its queue alive, and how busy is it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use meshbench_core::JobStatus;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::AppState;

/// Liveness and readiness: store and queue reachability, active jobs, version.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Healthy: status, version, timestamp, store, queue, kubernetes_connected, active_jobs", body = Object),
              (status = 503, description = "The store or the queue is unreachable", body = Object)))]
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
    let body = json!({
        "status": if healthy { "healthy" } else { "degraded" },
        "version": state.settings.version,
        "timestamp": OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default(),
        "uptime_s": state.started.elapsed().as_secs_f64(),
        "store": if store_ok { "ok" } else { "unreachable" },
        "queue": if queue_ok { "ok" } else { "unreachable" },
        "kubernetes_connected": false,
        "active_jobs": active_jobs,
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
