//! Series and comparisons: `POST /series/start` (several configurations, repeated and
//! interleaved), `GET /series/{series_id}` (a series' runs and statistics) and `POST
//! /metrics/compare` (two jobs or series, with intervals and CI gates).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use bytes::Bytes;
use meshbench_core::capacity::{self, Capacity};
use meshbench_core::compare::{self, Comparison, Gates, Run, SeriesStats};
use meshbench_core::stats::Threshold;
use meshbench_core::{BenchmarkJob, BenchmarkResult, FieldError, JobStatus, StartRequest};
use meshbench_store::SeriesColumn;
use serde::{Deserialize, Serialize};

use super::benchmarks::start_runs;
use super::body;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Most configurations one series start may compare.
const MAX_CONFIGURATIONS: usize = 8;

/// Several configurations to run side by side.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeriesStart {
    /// The configurations (2–8 start requests; their own `repeats` must be 1 or absent).
    configurations: Vec<StartRequest>,
    /// Runs of each configuration (1 to the server's most repeats).
    repeats: u32,
}

/// Start series of several configurations: `repeats` runs each, interleaved (A B, B A, …),
/// one at a time.
#[utoipa::path(post, path = "/series/start", tag = "benchmarks", request_body = SeriesStart,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the start idempotent")),
    responses((status = 202, description = "Queued; `series_ids` in configuration order", body = Object),
              (status = 200, description = "Already started with this Idempotency-Key", body = Object),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 403, description = "`target_forbidden`: a target is outside the target policy (MESHBENCH_TARGET_ALLOW); `role_limit`: more than the caller's role may start; `forbidden_role`: a viewer", body = ErrorBody),
              (status = 422, description = "A field broke a rule; each is named (`configurations[1].rate`)", body = ErrorBody),
              (status = 429, description = "`rate_limited`: too many starts by this user this minute", body = ErrorBody),
              (status = 503, description = "The queue is unreachable, or `ebpf` was asked for and no worker can probe", body = ErrorBody)))]
pub(crate) async fn start_series(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<super::auth::Caller>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let request: SeriesStart = body::json(&raw)?;
    let mut errors = Vec::new();
    if !(2..=MAX_CONFIGURATIONS).contains(&request.configurations.len()) {
        errors.push(FieldError {
            field: "configurations".into(),
            message: format!("give 2 to {MAX_CONFIGURATIONS} configurations (one repeats with POST /benchmarks/start)"),
        });
    }
    let max = state.settings.limits.max_repeats;
    if !(1..=max).contains(&request.repeats) {
        errors.push(FieldError {
            field: "repeats".into(),
            message: format!("must be between 1 and {max}"),
        });
    }
    for (i, c) in request.configurations.iter().enumerate() {
        if c.repeats != 1 {
            errors.push(FieldError {
                field: format!("configurations[{i}].repeats"),
                message: "set `repeats` beside `configurations`, not in one".into(),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    start_runs(
        &state,
        &caller,
        &headers,
        request.configurations,
        request.repeats,
        Some("configurations"),
    )
    .await
}

/// A series: its runs in order and what they say together.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct SeriesView {
    /// The series' id.
    series_id: String,
    /// The group of series it was started with.
    group: String,
    /// The other series of the group, in configuration order (empty for repeats alone).
    siblings: Vec<String>,
    /// Runs, in run order.
    runs: Vec<BenchmarkJob>,
    /// Runs not finished yet.
    unfinished: usize,
    /// Statistics over its completed runs (invalid ones left out and named).
    stats: SeriesStats,
    /// For a capacity search (`find_max_rate`): its steps and the highest rate meeting the
    /// objectives so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    capacity: Option<Capacity>,
}

/// A series' runs and statistics: each figure's mean with its 95 % interval, invalid runs
/// left out with their reasons, outliers flagged.
#[utoipa::path(get, path = "/series/{series_id}", tag = "benchmarks",
    params(("series_id" = String, Path, description = "A series id (`series_ids` of a start)")),
    responses((status = 200, body = SeriesView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_series(
    State(state): State<AppState>,
    Path(series_id): Path<String>,
) -> Result<Json<SeriesView>, ApiError> {
    let runs = state
        .store
        .series_runs(SeriesColumn::Series, &series_id)
        .await?;
    let Some(group) = runs
        .first()
        .and_then(|r| r.series.as_ref())
        .map(|p| p.group.clone())
    else {
        return Err(series_not_found(&series_id));
    };
    let mut siblings = Vec::new();
    for run in state.store.series_runs(SeriesColumn::Group, &group).await? {
        if let Some(place) = run.series {
            if place.series_id != series_id && !siblings.contains(&place.series_id) {
                siblings.push(place.series_id);
            }
        }
    }
    let results = completed_runs(&state, &runs).await?;
    let capacity = capacity_of(&runs, &results);
    Ok(Json(SeriesView {
        capacity,
        series_id,
        group,
        siblings,
        unfinished: runs.iter().filter(|r| !r.status.is_finished()).count(),
        stats: compare::series_stats(&results, compare::DEFAULT_MAX_ERROR_RATE),
        runs,
    }))
}

/// A search's standing, when the series is one: each completed run a step at its rate.
fn capacity_of(jobs: &[BenchmarkJob], runs: &[Run]) -> Option<Capacity> {
    let search = jobs
        .first()
        .and_then(|j| serde_json::from_value::<StartRequest>(j.request.clone()).ok())?
        .find_max_rate?;
    let slo = capacity::parse_slo(&search.slo).ok()?;
    let (steps, generator_limited) = capacity::steps_of(
        runs.iter().map(|run| {
            let rate = jobs
                .iter()
                .find(|j| j.job_id == run.id)
                .map_or(0.0, |j| capacity::requested_rate(&j.request));
            (run.id.as_str(), rate, &run.result)
        }),
        &slo,
    );
    let mut found = capacity::capacity(&search.slo, steps, generator_limited);
    // A step still running, or one that failed, also ends or holds the search.
    found.done = found.done
        || jobs
            .iter()
            .any(|j| matches!(j.status, JobStatus::Failed | JobStatus::Cancelled));
    if jobs.iter().any(|j| !j.status.is_finished()) {
        found.done = false;
    }
    Some(found)
}

fn series_not_found(id: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no series `{id}`"),
    )
}

/// The completed runs of `jobs` with their results.
pub(crate) async fn completed_runs(
    state: &AppState,
    jobs: &[BenchmarkJob],
) -> Result<Vec<Run>, ApiError> {
    let mut runs = Vec::new();
    for job in jobs {
        if job.status != JobStatus::Completed {
            continue;
        }
        let Some(value) = state.store.get_result(&job.job_id).await? else {
            continue;
        };
        let result: BenchmarkResult = serde_json::from_value(value)
            .map_err(|e| ApiError::internal(&format!("stored result of `{}`: {e}", job.job_id)))?;
        runs.push(Run {
            id: job.job_id.clone(),
            result,
        });
    }
    Ok(runs)
}

/// Two jobs or series to compare, and the gates to judge.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompareRequest {
    /// A job id or a series id.
    baseline: String,
    /// A job id or a series id.
    candidate: String,
    /// How much worse each figure may get: `p50=20%,p99=10%,rps=5%` (judged on significant
    /// differences only).
    #[serde(default)]
    max_regression: Option<String>,
    /// k6-style thresholds the candidate's mean must meet: `["p99<5ms", "errors<1%"]`.
    #[serde(default)]
    thresholds: Vec<String>,
    /// Runs with a larger share of failed requests (percent) are invalid; default 1.
    #[serde(default)]
    max_error_rate: Option<f64>,
}

/// Compare two jobs or series: each figure's difference with its 95 % interval and verdict,
/// invalid runs left out and named, differing settings listed, and every gate judged
/// (`passed` is false when one failed).
#[utoipa::path(post, path = "/metrics/compare", tag = "metrics", request_body = CompareRequest,
    responses((status = 200, body = Comparison),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 404, description = "No job or series with that id", body = ErrorBody),
              (status = 422, description = "A gate does not parse, or a side has no valid completed run; the field is named", body = ErrorBody)))]
pub(crate) async fn compare_runs(
    State(state): State<AppState>,
    raw: Bytes,
) -> Result<Json<Comparison>, ApiError> {
    let request: CompareRequest = body::json(&raw)?;
    let mut errors = Vec::new();
    let max_regression = match request.max_regression.as_deref() {
        Some(text) => compare::parse_max_regression(text).unwrap_or_else(|e| {
            errors.push(FieldError {
                field: "max_regression".into(),
                message: error_message(&e),
            });
            Vec::new()
        }),
        None => Vec::new(),
    };
    let mut thresholds = Vec::new();
    for (i, text) in request.thresholds.iter().enumerate() {
        match text.parse::<Threshold>() {
            Ok(t) => thresholds.push(t),
            Err(e) => errors.push(FieldError {
                field: format!("thresholds[{i}]"),
                message: error_message(&e),
            }),
        }
    }
    let max_error_rate = match request.max_error_rate {
        None => compare::DEFAULT_MAX_ERROR_RATE,
        Some(p) if (0.0..=100.0).contains(&p) => p / 100.0,
        Some(_) => {
            errors.push(FieldError {
                field: "max_error_rate".into(),
                message: "must be a percentage from 0 to 100".into(),
            });
            0.0
        }
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let baseline = side(&state, &request.baseline).await?;
    let candidate = side(&state, &request.candidate).await?;
    let gates = Gates {
        max_regression,
        thresholds,
    };
    compare::compare(
        (&request.baseline, &baseline),
        (&request.candidate, &candidate),
        &gates,
        max_error_rate,
    )
    .map(Json)
    .map_err(|e| ApiError::field(e.side, e.to_string()))
}

/// The message of a core error without its field prefix (the field is named apart).
fn error_message(e: &meshbench_core::Error) -> String {
    match e {
        meshbench_core::Error::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// The completed runs `id` names: a series' runs, or one job.
async fn side(state: &AppState, id: &str) -> Result<Vec<Run>, ApiError> {
    let jobs = state.store.series_runs(SeriesColumn::Series, id).await?;
    if !jobs.is_empty() {
        return completed_runs(state, &jobs).await;
    }
    match state.store.get_job(id).await? {
        Some(job) => completed_runs(state, &[job]).await,
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("no job or series `{id}`"),
        )),
    }
}
