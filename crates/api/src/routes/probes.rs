//! `/ebpf/probe/*`: start a probe run, see whether probes can run on this host and which are
//! running, cancel one, and read finished runs (the JSON document, its CSV or table form, and
//! its histograms as distributions for charts).
//!
//! The API loads no BPF itself: the binary hands it a [`ProbeRunner`]. A run is a row in
//! `ebpf_probe_jobs` that goes pending → running → completed (or failed, or cancelled with
//! what it had measured), and each second's figures go out on the live event bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use meshbench_core::distribution::distribution;
use meshbench_core::probe::{render_csv, render_table, ProbeReport, ProbeTimelineEntry};
use meshbench_core::{Distribution, JobEvent, JobEventBody, JobStatus, ProbeRequest};
use meshbench_store::{ProbeJob, ProbeUpdate};
use time::OffsetDateTime;

use super::body;
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Runs eBPF probes for the API on this host; the binary supplies one.
pub trait ProbeRunner: Send + Sync {
    /// `Ok` when a probe can run here; otherwise exactly why not (not root, no BTF,
    /// tracefs not mounted, a tracepoint missing, the verifier's refusal).
    fn availability(&self) -> Result<(), String>;

    /// Runs one probe for `request.duration` seconds or until `stop` turns true, telling
    /// `on_event` when it is attached and then each second's figures. Blocks; the API calls
    /// it on a blocking thread.
    fn run(
        &self,
        request: &ProbeRequest,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(ProbeEvent),
    ) -> Result<ProbeReport, String>;
}

/// What a running probe tells the API.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeEvent {
    /// The programs are attached: traffic counts from now.
    Attached,
    /// A second went by.
    Second(ProbeTimelineEntry),
}

/// The API's side of probing: the runner, if this server has one, and the runs in progress.
pub struct Probes {
    runner: Option<Arc<dyn ProbeRunner>>,
    running: Mutex<HashMap<String, Arc<AtomicBool>>>,
}

impl Probes {
    /// Probing through `runner`; `None` for a server built or started without it.
    pub fn new(runner: Option<Arc<dyn ProbeRunner>>) -> Self {
        Probes {
            runner,
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a probe can run here, and why not.
    pub fn availability(&self) -> Result<(), String> {
        match &self.runner {
            Some(runner) => runner.availability(),
            None => Err(NOT_BUILT_IN.into()),
        }
    }

    /// Marks failed the runs a previous server left pending or running: a probe lives in
    /// the server that started it, so after a restart nothing will finish them. Call at
    /// start-up, only when this server is the store's only one.
    pub async fn recover(store: &dyn meshbench_store::Store) -> meshbench_store::Result<usize> {
        let orphans = store
            .list_probe_jobs_in(&[JobStatus::Pending, JobStatus::Running])
            .await?;
        let update = ProbeUpdate {
            completed_at: Some(OffsetDateTime::now_utc()),
            error: Some("the server stopped before the probe finished".into()),
            ..ProbeUpdate::default()
        };
        let mut recovered = 0;
        for orphan in orphans {
            let from = [JobStatus::Pending, JobStatus::Running];
            if store
                .transition_probe_job(&orphan.probe_id, &from, JobStatus::Failed, &update)
                .await?
                .is_some()
            {
                recovered += 1;
            }
        }
        Ok(recovered)
    }

    fn stop_flag(&self, probe_id: &str) -> Option<Arc<AtomicBool>> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(probe_id)
            .cloned()
    }
}

impl std::fmt::Debug for Probes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probes")
            .field("runner", &self.runner.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a server without a runner cannot probe.
const NOT_BUILT_IN: &str = "this server was started without the eBPF probe";

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

/// Start the eBPF latency probe.
#[utoipa::path(post, path = "/ebpf/probe/start", tag = "ebpf", operation_id = "start_probe", request_body = ProbeRequest,
    responses((status = 202, description = "Started", body = ProbeStarted),
              (status = 400, description = "The body is empty, not JSON or not an object (`malformed_json`)", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB (`payload_too_large`)", body = ErrorBody),
              (status = 422, description = "A field broke a rule or is given twice; each is named", body = ErrorBody),
              (status = 503, description = "Probes cannot run on this host; the body says why", body = ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    raw: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let request: ProbeRequest = body::json(&raw)?;
    let errors = request.validate(false);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let Some(runner) = state.probes.runner.clone() else {
        return Err(unavailable(NOT_BUILT_IN.into()));
    };
    runner.availability().map_err(unavailable)?;
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
    };
    state.store.insert_probe_job(&job).await?;
    let stop = Arc::new(AtomicBool::new(false));
    state
        .probes
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job.probe_id.clone(), Arc::clone(&stop));
    tokio::spawn(run(
        state.clone(),
        runner,
        job.probe_id.clone(),
        request,
        stop,
    ));
    Ok((
        StatusCode::ACCEPTED,
        Json(ProbeStarted {
            message: format!("probe started for {} s", job.duration),
            probe_id: job.probe_id,
            status: JobStatus::Pending,
            created_at: now,
        }),
    ))
}

fn unavailable(reason: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "probe_unavailable", reason)
}

/// One run, start to end; its outcome always reaches the store. The run turns `running`
/// once the probe is attached, so "running" means "counting".
async fn run(
    state: AppState,
    runner: Arc<dyn ProbeRunner>,
    probe_id: String,
    request: ProbeRequest,
    stop: Arc<AtomicBool>,
) {
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<ProbeEvent>();
    let flag = Arc::clone(&stop);
    let mut work = tokio::task::spawn_blocking(move || {
        let mut forward = |event: ProbeEvent| {
            let _ = tx.send(event);
        };
        runner.run(&request, &flag, &mut forward)
    });
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            Some(event) = events.recv() => match event {
                ProbeEvent::Attached => {
                    let started = ProbeUpdate {
                        started_at: Some(OffsetDateTime::now_utc()),
                        ..ProbeUpdate::default()
                    };
                    match state
                        .store
                        .transition_probe_job(&probe_id, &[JobStatus::Pending], JobStatus::Running, &started)
                        .await
                    {
                        Ok(Some(_)) => publish_status(&state, &probe_id, JobStatus::Running, None).await,
                        Ok(None) => {}
                        Err(e) => tracing::error!(%probe_id, "cannot mark the probe running: {e}"),
                    }
                }
                ProbeEvent::Second(entry) => publish_second(&state, &probe_id, entry).await,
            },
        }
    };
    let cancelled = stop.load(Ordering::Relaxed);
    let now = Some(OffsetDateTime::now_utc());
    let (status, update) = match outcome {
        Ok(Ok(report)) => match serde_json::to_value(&report) {
            Ok(result) => (
                if cancelled {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Completed
                },
                ProbeUpdate {
                    completed_at: now,
                    result: Some(result),
                    error: cancelled.then(|| "cancelled; what was measured is kept".to_string()),
                    ..ProbeUpdate::default()
                },
            ),
            Err(e) => failed(now, format!("the report could not be stored: {e}")),
        },
        Ok(Err(reason)) => failed(now, reason),
        Err(e) => failed(now, format!("the probe thread ended abnormally: {e}")),
    };
    let error = update.error.clone();
    let from = [JobStatus::Pending, JobStatus::Running];
    match state
        .store
        .transition_probe_job(&probe_id, &from, status, &update)
        .await
    {
        Ok(_) => publish_status(&state, &probe_id, status, error).await,
        Err(e) => tracing::error!(%probe_id, "cannot store the probe's outcome: {e}"),
    }
    forget(&state, &probe_id);
}

fn failed(now: Option<OffsetDateTime>, reason: String) -> (JobStatus, ProbeUpdate) {
    (
        JobStatus::Failed,
        ProbeUpdate {
            completed_at: now,
            error: Some(reason),
            ..ProbeUpdate::default()
        },
    )
}

fn forget(state: &AppState, probe_id: &str) {
    state
        .probes
        .running
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(probe_id);
}

async fn publish_status(
    state: &AppState,
    probe_id: &str,
    status: JobStatus,
    error: Option<String>,
) {
    publish(state, probe_id, JobEventBody::Status { status, error }).await;
}

async fn publish_second(state: &AppState, probe_id: &str, entry: ProbeTimelineEntry) {
    publish(state, probe_id, JobEventBody::ProbeProgress { entry }).await;
}

async fn publish(state: &AppState, probe_id: &str, body: JobEventBody) {
    let event = JobEvent {
        job_id: probe_id.to_string(),
        body,
    };
    if let Err(e) = state.bus.publish(&event).await {
        tracing::warn!(%probe_id, "cannot publish a probe event: {e}");
    }
}

/// Whether probes can run on this host (and exactly why not), and the runs in progress.
#[utoipa::path(get, path = "/ebpf/probe/status", tag = "ebpf", operation_id = "probe_status",
    responses((status = 200, body = ProbeStatus)))]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<ProbeStatus>, ApiError> {
    let availability = state.probes.availability();
    let running = state
        .store
        .list_probe_jobs_in(&[JobStatus::Pending, JobStatus::Running])
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
        .list_probe_jobs(limit, offset)
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
    Path(probe_id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let job = load(&state, &probe_id).await?;
    match state.probes.stop_flag(&probe_id) {
        Some(stop) if !job.status.is_finished() => {
            stop.store(true, Ordering::Relaxed);
            Ok((
                StatusCode::ACCEPTED,
                Json(serde_json::json!({"probe_id": probe_id, "status": "stopping"})),
            ))
        }
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "probe_finished",
            format!("probe `{probe_id}` is {} and cannot be stopped", job.status),
        )),
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
    state.store.get_probe_job(probe_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "probe_not_found",
            format!("no probe run `{probe_id}`"),
        )
    })
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
