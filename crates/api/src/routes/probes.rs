//! `/ebpf/probe/*`: start a probe run, see whether a live worker can probe and which runs
//! are going, cancel one, and read finished runs (the JSON document, its CSV or table form,
//! and its histograms as distributions for charts).
//!
//! A probe run is a job like a benchmark: a row in `ebpf_probe_jobs`, queued for a worker
//! that can probe (on the host to be probed), pending → running once attached → completed
//! (or failed, or cancelled with what it had measured), each second's figures on the live
//! event bus. The API runs nothing itself.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use meshbench_core::distribution::distribution;
use meshbench_core::probe::{render_csv, render_table, ProbeReport};
use meshbench_core::user::Role;
use meshbench_core::{Distribution, JobKind, JobStatus, ProbeRequest};
use meshbench_store::ProbeJob;
use time::OffsetDateTime;

use super::auth::Caller;
use super::body;
use super::jobs::{self, Cancel};
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// The answer to a start request.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProbeStarted {
    /// The run's id.
    probe_id: String,
    /// `pending` at first.
    #[schema(value_type = String)]
    status: JobStatus,
    /// For a person to read.
    message: String,
    /// When it was asked for.
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Whether probes can run here, and which are running.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProbeStatus {
    /// A probe can be started.
    available: bool,
    /// Why not, when it cannot.
    reason: Option<String>,
    /// Runs pending or in progress.
    #[schema(value_type = Vec<Object>)]
    running: Vec<ProbeJob>,
}

/// A finished run's histograms as distributions (spectrum and log buckets), for charts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct ProbeDistribution {
    /// The run.
    probe_id: String,
    /// Each histogram the report carries, by its name in the report.
    #[schema(value_type = Object)]
    histograms: HashMap<&'static str, Distribution>,
}

/// Start the eBPF latency probe on a worker that can probe.
#[utoipa::path(post, path = "/ebpf/probe/start", tag = "ebpf", operation_id = "start_probe", request_body = ProbeRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the start idempotent: a retry with the same key answers with the run the first made")),
    responses((status = 202, description = "Queued", body = ProbeStarted),
              (status = 200, description = "Already started with this Idempotency-Key", body = ProbeStarted),
              (status = 400, description = "The body is empty, not JSON or not an object (`malformed_json`)", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB (`payload_too_large`)", body = ErrorBody),
              (status = 403, description = "`namespace_forbidden`: `namespace` is outside MESHBENCH_NAMESPACE_ALLOW; `role_limit`: a probe of every connection on the host (no filter) by a non-admin; `forbidden_role`: a viewer", body = ErrorBody),
              (status = 422, description = "A field broke a rule or is given twice; each is named", body = ErrorBody),
              (status = 503, description = "No live worker can probe, or the queue is unreachable; the body says why", body = ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let request: ProbeRequest = body::json(&raw)?;
    let cluster = matches!(state.kubernetes, crate::kubernetes::Kubernetes::Cluster(_));
    let errors = request.validate(cluster);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if let Err(e) = allowed(&state, &caller, &request) {
        let event =
            Event::refused("probe.start", e.message().to_string()).target(probe_scope(&request));
        audit::record(&state, &caller, event).await;
        return Err(e);
    }
    let key = jobs::idempotency_key(&headers)?;
    jobs::probe_capability(&state)
        .await
        .map_err(jobs::probe_unavailable)?;
    let now = OffsetDateTime::now_utc();
    let job = ProbeJob {
        probe_id: uuid::Uuid::new_v4().to_string(),
        status: JobStatus::Pending,
        duration: u64::from(request.duration),
        output_format: request.output_format.clone(),
        created_at: now,
        started_at: None,
        completed_at: None,
        error: None,
        result: None,
        request: Some(serde_json::to_value(&request).map_err(|e| ApiError::internal(&e))?),
        attempts: 0,
        progress: 0.0,
    };
    let stored = state
        .store
        .insert_probe_job_once(&job, key.as_deref())
        .await?;
    if let Some(earlier) =
        jobs::queue_start(&state, JobKind::Probe, &stored, key.as_deref()).await?
    {
        let body = ProbeStarted {
            message: "already started with this Idempotency-Key".into(),
            probe_id: earlier.id,
            status: earlier.status,
            created_at: earlier.created_at,
        };
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    let event = Event::ok("probe.start")
        .subject(job.probe_id.clone())
        .target(probe_scope(&request))
        .detail(format!("{} s", job.duration));
    audit::record(&state, &caller, event).await;
    let body = ProbeStarted {
        message: format!("probe queued for {} s", job.duration),
        probe_id: job.probe_id,
        status: JobStatus::Pending,
        created_at: now,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// Refuses a probe of a namespace outside the namespace policy (403 `namespace_forbidden`),
/// and one of every connection on the host unless an admin asks (403 `role_limit`): an
/// operator's probe names what it watches.
fn allowed(state: &AppState, caller: &Caller, request: &ProbeRequest) -> Result<(), ApiError> {
    if let Some(namespace) = &request.namespace {
        super::kubernetes::namespace_allowed(state, "namespace", namespace)?;
    }
    let whole_host = request.namespace.is_none()
        && request.ports.is_empty()
        && request.pid.is_none()
        && request.cgroup.is_none();
    if whole_host && caller.username.is_some() && caller.role < Role::Admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_limit",
            format!(
                "a probe of every connection on the host needs the admin role ({} is {}); \
                 give `ports`, `pid`, `cgroup` or `namespace`",
                caller.username.as_deref().unwrap_or("?"),
                caller.role
            ),
        ));
    }
    Ok(())
}

/// What a probe watches, as the audit log shows it.
fn probe_scope(request: &ProbeRequest) -> String {
    let mut parts = Vec::new();
    if let Some(ns) = &request.namespace {
        parts.push(format!("namespace {ns}"));
    }
    if let Some(pods) = &request.pod_filter {
        parts.push(format!("pods {pods}*"));
    }
    if !request.ports.is_empty() {
        let ports: Vec<String> = request.ports.iter().map(u16::to_string).collect();
        parts.push(format!("ports {}", ports.join(",")));
    }
    if let Some(pid) = request.pid {
        parts.push(format!("pid {pid}"));
    }
    if let Some(cgroup) = &request.cgroup {
        parts.push(format!("cgroup {cgroup}"));
    }
    if parts.is_empty() {
        "every connection of the host".to_string()
    } else {
        parts.join(", ")
    }
}

/// Whether a live worker can probe (and exactly why not), and the runs in progress.
#[utoipa::path(get, path = "/ebpf/probe/status", tag = "ebpf", operation_id = "probe_status",
    responses((status = 200, body = ProbeStatus)))]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<ProbeStatus>, ApiError> {
    let availability = jobs::probe_capability(&state).await;
    let running = state
        .store
        .list_probe_jobs(
            &[JobStatus::Pending, JobStatus::Running],
            meshbench_store::MAX_LIST_LIMIT,
            0,
        )
        .await?;
    Ok(Json(ProbeStatus {
        available: availability.is_ok(),
        reason: availability.err(),
        running,
    }))
}

/// Probe runs, newest first, without their reports; the total is in `x-total-count`.
#[utoipa::path(get, path = "/ebpf/probe/jobs", tag = "ebpf", operation_id = "list_probes",
    params(("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "1–1000, default 100"),
           ("offset" = Option<u32>, Query, maximum = 2147483647, description = "Runs to skip")),
    responses((status = 200, body = [Object]),
              (status = 422, description = "`limit` or `offset` is invalid", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let (limit, offset) = super::paging(&query)?;
    let total = state.store.count_probe_jobs().await?;
    let jobs: Vec<ProbeJob> = state
        .store
        .list_probe_jobs(&[], limit, offset)
        .await?
        .into_iter()
        .map(|job| ProbeJob {
            result: None,
            ..job
        })
        .collect();
    Ok((super::total_count(total), Json(jobs)))
}

/// One probe run, with its report (`meshbench.probe.v1`) once it has one.
#[utoipa::path(get, path = "/ebpf/probe/jobs/{probe_id}", tag = "ebpf", operation_id = "get_probe",
    params(("probe_id" = String, Path, description = "The run's id")),
    responses((status = 200, body = Object),
              (status = 404, description = "`probe_not_found`", body = ErrorBody)))]
pub(crate) async fn get_probe(
    State(state): State<AppState>,
    Path(probe_id): Path<String>,
) -> Result<Json<ProbeJob>, ApiError> {
    load(&state, &probe_id).await.map(Json)
}

/// Stop a run early; it keeps what it measured, as `cancelled`.
#[utoipa::path(delete, path = "/ebpf/probe/jobs/{probe_id}", tag = "ebpf", operation_id = "cancel_probe",
    params(("probe_id" = String, Path, description = "The run's id")),
    responses((status = 202, description = "Stopping", body = Object),
              (status = 404, description = "`probe_not_found`", body = ErrorBody),
              (status = 409, description = "`probe_finished`: it has already ended", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(probe_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    match jobs::cancel(&state, JobKind::Probe, &probe_id).await? {
        Cancel::Now | Cancel::Requested => {
            audit::record(
                &state,
                &caller,
                Event::ok("probe.cancel").subject(probe_id.clone()),
            )
            .await;
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"probe_id": probe_id, "status": "stopping"})),
            ))
        }
        Cancel::Finished(status) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "probe_finished",
            format!("probe `{probe_id}` is {status} and cannot be stopped"),
        )),
        Cancel::Missing => Err(not_found(&probe_id)),
    }
}

/// A finished run's report as a file: JSON, CSV or a text table (`format`, default the run's
/// `output_format`).
#[utoipa::path(get, path = "/ebpf/probe/jobs/{probe_id}/download", tag = "ebpf", operation_id = "download_probe",
    params(("probe_id" = String, Path, description = "The run's id"),
           ("format" = Option<meshbench_core::probe::ProbeOutputFormat>, Query, description = "json, csv or table")),
    responses((status = 200, description = "The report file"),
              (status = 404, description = "`probe_not_found`", body = ErrorBody),
              (status = 409, description = "`probe_not_finished`: no report yet", body = ErrorBody),
              (status = 422, description = "`format` is not one of json, csv, table", body = ErrorBody)))]
pub(crate) async fn download(
    State(state): State<AppState>,
    Path(probe_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let job = load(&state, &probe_id).await?;
    let format = query
        .get("format")
        .cloned()
        .unwrap_or_else(|| job.output_format.clone());
    let report = report_of(&job)?;
    let (text, content_type, extension) = match format.as_str() {
        "json" => (
            serde_json::to_string_pretty(&report).map_err(|e| ApiError::internal(&e))?,
            "application/json",
            "json",
        ),
        "csv" => (render_csv(&report), "text/csv; charset=utf-8", "csv"),
        "table" => (render_table(&report), "text/plain; charset=utf-8", "txt"),
        _ => return Err(ApiError::field("format", "must be one of json, csv, table")),
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"meshbench-probe-{probe_id}.{extension}\""
    )) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok((headers, text).into_response())
}

/// A finished run's histograms as distributions: percentile spectrum and log buckets.
#[utoipa::path(get, path = "/ebpf/probe/jobs/{probe_id}/distribution", tag = "ebpf", operation_id = "probe_distribution",
    params(("probe_id" = String, Path, description = "The run's id")),
    responses((status = 200, body = ProbeDistribution),
              (status = 404, description = "`probe_not_found`", body = ErrorBody),
              (status = 409, description = "`probe_not_finished`: no report yet", body = ErrorBody)))]
pub(crate) async fn distributions(
    State(state): State<AppState>,
    Path(probe_id): Path<String>,
) -> Result<Json<ProbeDistribution>, ApiError> {
    let job = load(&state, &probe_id).await?;
    let report = report_of(&job)?;
    let mut histograms = HashMap::new();
    for (name, encoded) in report.histograms() {
        let histogram = meshbench_core::histogram::decode_base64(encoded).map_err(|e| {
            ApiError::internal(&format!("probe `{probe_id}`: histogram `{name}`: {e}"))
        })?;
        histograms.insert(name, distribution(&histogram));
    }
    Ok(Json(ProbeDistribution {
        probe_id,
        histograms,
    }))
}

async fn load(state: &AppState, probe_id: &str) -> Result<ProbeJob, ApiError> {
    state
        .store
        .get_probe_job(probe_id)
        .await?
        .ok_or_else(|| not_found(probe_id))
}

fn not_found(probe_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "probe_not_found",
        format!("no probe run `{probe_id}`"),
    )
}

fn report_of(job: &ProbeJob) -> Result<ProbeReport, ApiError> {
    let Some(result) = &job.result else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "probe_not_finished",
            format!(
                "probe `{}` is {} and has no report yet",
                job.probe_id, job.status
            ),
        ));
    };
    <ProbeReport as serde::Deserialize>::deserialize(result)
        .map_err(|e| ApiError::internal(&format!("probe `{}`: stored report: {e}", job.probe_id)))
}
