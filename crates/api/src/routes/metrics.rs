//! `/metrics/results`, `/metrics/summary` (mesh overhead against baseline) and the
//! Prometheus exposition at `/metrics`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use meshbench_core::{JobStatus, JobSummary, TestType};
use serde::Serialize;
use serde_json::{json, Value};

use super::benchmarks::filter_from;
use crate::{ApiError, AppState};

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

/// Spread of one number over several runs.
#[derive(Debug, Clone, Serialize)]
struct Distribution {
    min: f64,
    mean: f64,
    median: f64,
    max: f64,
    stdev: f64,
}

fn distribution(values: &mut [f64]) -> Distribution {
    values.sort_by(f64::total_cmp);
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    let median = match values.len() {
        0 => 0.0,
        len if len % 2 == 1 => values[len / 2],
        len => (values[len / 2 - 1] + values[len / 2]) / 2.0,
    };
    Distribution {
        min: values.first().copied().unwrap_or(0.0),
        mean,
        median,
        max: values.last().copied().unwrap_or(0.0),
        stdev: variance.sqrt(),
    }
}

/// Reads one percentile of a run's summary.
type Percentile = fn(&JobSummary) -> u64;

const PERCENTILES: [(&str, Percentile); 4] = [
    ("p50", |s| s.p50_us),
    ("p90", |s| s.p90_us),
    ("p99", |s| s.p99_us),
    ("p999", |s| s.p999_us),
];

pub(crate) async fn summary(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut filter = filter_from(&query)?;
    let wanted_mesh = filter.mesh_type.take().filter(|m| !m.is_empty());
    filter.status = Some(JobStatus::Completed);
    let rows = state.store.completed_summaries(&filter).await?;
    let mut groups: BTreeMap<(TestType, String), Vec<JobSummary>> = BTreeMap::new();
    for (test_type, mesh, summary) in rows {
        groups.entry((test_type, mesh)).or_default().push(summary);
    }
    let mut meshes = Vec::new();
    let mut overhead = Vec::new();
    for ((test_type, mesh), runs) in &groups {
        if wanted_mesh.as_ref().is_some_and(|w| w != mesh) {
            continue;
        }
        let pick = |f: fn(&JobSummary) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        meshes.push(json!({
            "test_type": test_type,
            "mesh_type": mesh,
            "count": runs.len(),
            "requests": runs.iter().map(|r| r.requests).sum::<u64>(),
            "errors": runs.iter().map(|r| r.errors).sum::<u64>(),
            "p50_us": distribution(&mut pick(|r| r.p50_us as f64)),
            "p99_us": distribution(&mut pick(|r| r.p99_us as f64)),
            "rps": distribution(&mut pick(|r| r.rps)),
        }));
        if mesh == "baseline" {
            continue;
        }
        let Some(baseline) = groups.get(&(*test_type, "baseline".to_string())) else {
            continue;
        };
        let mut per_percentile = serde_json::Map::new();
        for (name, get) in PERCENTILES {
            let b = distribution(&mut baseline.iter().map(|r| get(r) as f64).collect::<Vec<_>>());
            let m = distribution(&mut runs.iter().map(|r| get(r) as f64).collect::<Vec<_>>());
            let diff = m.mean - b.mean;
            // Standard error of the difference of two means: the spread over repeated runs.
            let spread = (m.stdev.powi(2) / runs.len() as f64
                + b.stdev.powi(2) / baseline.len() as f64)
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
            "test_type": test_type,
            "mesh_type": mesh,
            "baseline_runs": baseline.len(),
            "mesh_runs": runs.len(),
            "latency": per_percentile,
        }));
    }
    Ok(Json(json!({
        "mesh_type": wanted_mesh,
        "meshes": meshes,
        "overhead": overhead,
    })))
}

/// Prometheus text exposition. It lives at `/metrics` itself; `/metrics/results` and
/// `/metrics/summary` are routed separately, so neither shadows the other.
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
    let summaries = state.store.completed_summaries(&Default::default()).await?;
    let _ = writeln!(
        out,
        "# HELP meshbench_requests_total Requests sent by completed benchmark jobs."
    );
    let _ = writeln!(out, "# TYPE meshbench_requests_total counter");
    let _ = writeln!(
        out,
        "meshbench_requests_total {}",
        summaries.iter().map(|(_, _, s)| s.requests).sum::<u64>()
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
