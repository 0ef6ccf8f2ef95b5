//! `/metrics/results`, `/metrics/summary` (mesh overhead against baseline) and the
//! Prometheus exposition at `/metrics`.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use meshbench_core::{JobStatus, TestType};
use meshbench_store::{GroupStats, Moments};
use serde_json::{json, Value};

use super::benchmarks::filter_from;
use super::benchmarks::JobQuery;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Completed jobs with their headline numbers (same filters, sort and order as the job list).
#[utoipa::path(get, path = "/metrics/results", tag = "metrics", params(JobQuery),
    responses((status = 200, body = [Object]), (status = 422, body = ErrorBody)))]
pub(crate) async fn results(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let mut filter = filter_from(&query)?;
    filter.status.get_or_insert(JobStatus::Completed);
    let jobs = state.store.list_jobs(&filter).await?;
    Ok(Json(
        jobs.into_iter()
            .map(|job| {
                json!({
                    "job_id": job.job_id,
                    "test_type": job.test_type,
                    "mesh_type": job.mesh_type,
                    "namespace": job.namespace,
                    "status": job.status,
                    "completed_at": job.completed_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
                    "summary": job.summary,
                })
            })
            .collect(),
    ))
}

/// Per mesh: runs, request totals and the spread of p50/p90/p99/p99.9/rps; the overhead of
/// each mesh against `baseline` per percentile (absolute, percent, spread).
#[utoipa::path(get, path = "/metrics/summary", tag = "metrics", params(JobQuery),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut filter = filter_from(&query)?;
    let wanted_mesh = filter.mesh_type.take().filter(|m| !m.is_empty());
    let groups = state.store.completed_stats(&filter).await?;
    let baseline_of = |test_type: TestType| {
        groups
            .iter()
            .find(|g| g.test_type == test_type && g.mesh_type == "baseline")
    };
    let mut meshes = Vec::new();
    let mut overhead = Vec::new();
    for group in &groups {
        if wanted_mesh.as_ref().is_some_and(|w| *w != group.mesh_type) {
            continue;
        }
        meshes.push(json!({
            "test_type": group.test_type,
            "mesh_type": group.mesh_type,
            "count": group.runs,
            "requests": group.requests,
            "errors": group.errors,
            "p50_us": group.p50_us,
            "p90_us": group.p90_us,
            "p99_us": group.p99_us,
            "p999_us": group.p999_us,
            "rps": group.rps,
        }));
        if group.mesh_type == "baseline" {
            continue;
        }
        let Some(baseline) = baseline_of(group.test_type) else {
            continue;
        };
        let mut per_percentile = serde_json::Map::new();
        for (name, get) in PERCENTILES {
            let (b, m) = (get(baseline), get(group));
            let diff = m.mean - b.mean;
            // Standard error of the difference of two means: the spread over repeated runs.
            let spread = (m.stdev.powi(2) / group.runs.max(1) as f64
                + b.stdev.powi(2) / baseline.runs.max(1) as f64)
                .sqrt();
            per_percentile.insert(
                name.to_string(),
                json!({
                    "baseline_us": b.mean,
                    "mesh_us": m.mean,
                    "overhead_us": diff,
                    "overhead_pct": if b.mean > 0.0 { diff / b.mean * 100.0 } else { 0.0 },
                    "spread_us": spread,
                }),
            );
        }
        overhead.push(json!({
            "test_type": group.test_type,
            "mesh_type": group.mesh_type,
            "baseline_runs": baseline.runs,
            "mesh_runs": group.runs,
            "latency": per_percentile,
        }));
    }
    Ok(Json(json!({
        "mesh_type": wanted_mesh,
        "meshes": meshes,
        "overhead": overhead,
    })))
}

/// Reads one percentile's moments of a group.
type Percentile = fn(&GroupStats) -> &Moments;

const PERCENTILES: [(&str, Percentile); 4] = [
    ("p50", |g| &g.p50_us),
    ("p90", |g| &g.p90_us),
    ("p99", |g| &g.p99_us),
    ("p999", |g| &g.p999_us),
];

// `/metrics` itself is routed apart from `/metrics/results` and `/metrics/summary`, so
// neither shadows the other.
/// Prometheus text exposition: jobs by status, requests sent, queue depth, API latency.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub(crate) async fn prometheus(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP meshbench_jobs Benchmark jobs by status.");
    let _ = writeln!(out, "# TYPE meshbench_jobs gauge");
    let counts = state.store.count_by_status().await?;
    for status in JobStatus::ALL {
        let n = counts
            .iter()
            .find(|(s, _)| *s == status)
            .map(|(_, n)| *n)
            .unwrap_or(0);
        let _ = writeln!(out, "meshbench_jobs{{status=\"{status}\"}} {n}");
    }
    let groups = state.store.completed_stats(&Default::default()).await?;
    let _ = writeln!(
        out,
        "# HELP meshbench_requests_total Requests sent by completed benchmark jobs."
    );
    let _ = writeln!(out, "# TYPE meshbench_requests_total counter");
    let _ = writeln!(
        out,
        "meshbench_requests_total {}",
        groups.iter().map(|g| g.requests).sum::<u64>()
    );
    if let Ok(depth) = state.queue.depth().await {
        let _ = writeln!(out, "# HELP meshbench_queue_jobs Jobs in the queue.");
        let _ = writeln!(out, "# TYPE meshbench_queue_jobs gauge");
        let _ = writeln!(
            out,
            "meshbench_queue_jobs{{state=\"queued\"}} {}",
            depth.queued
        );
        let _ = writeln!(
            out,
            "meshbench_queue_jobs{{state=\"in_flight\"}} {}",
            depth.in_flight
        );
    }
    state.telemetry.render(&mut out);
    let _ = writeln!(
        out,
        "# HELP meshbench_uptime_seconds Seconds since the server started."
    );
    let _ = writeln!(out, "# TYPE meshbench_uptime_seconds gauge");
    let _ = writeln!(
        out,
        "meshbench_uptime_seconds {}",
        state.started.elapsed().as_secs_f64()
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}
