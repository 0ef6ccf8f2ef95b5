//! `/benchmarks/*`: start, list, get, result, cancel.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use meshbench_core::compare;
use meshbench_core::distribution::{distribution as summarize, Distribution};
use meshbench_core::histogram;
use meshbench_core::policy::UrlRefusal;
use meshbench_core::split::{split_request, PartOf, PART_KEY};
use meshbench_core::{
    BenchmarkJob, FieldError, JobDistribution, JobFilter, JobKind, JobSort, JobStatus, SeriesPlace,
    SortOrder, StartRequest, TestType,
};
use meshbench_store::{Inserted, AUDIT_START};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::auth::Caller;
use super::body;
use super::jobs::{self, Cancel};
use super::kubernetes::namespace_allowed;
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Start a benchmark (one job per `repeats`).
#[utoipa::path(post, path = "/benchmarks/start", tag = "benchmarks", request_body = StartRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the start idempotent: a retry with the same key answers with the jobs the first made")),
    responses((status = 202, description = "Queued", body = StartResponse),
              (status = 200, description = "Already started with this Idempotency-Key", body = StartResponse),
              (status = 400, description = "The body is empty, not JSON or not an object (`malformed_json`)", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB (`payload_too_large`)", body = ErrorBody),
              (status = 403, description = "`target_forbidden`: the target is outside the target policy (MESHBENCH_TARGET_ALLOW); the message names the field, the address and the list. `role_limit`: more duration, connections, rate or runs at once than the caller's role may have; the message names the field and the limit. `namespace_forbidden`: an in-cluster run's namespace is outside MESHBENCH_NAMESPACE_ALLOW. `forbidden_role`: a viewer", body = ErrorBody),
              (status = 422, description = "A field broke a rule or is given twice; each is named", body = ErrorBody),
              (status = 429, description = "`rate_limited`: too many starts by this user this minute; `Retry-After` says when to try again", body = ErrorBody),
              (status = 503, description = "The queue is unreachable (`queue_unavailable`; nothing was started), or `ebpf` was asked for and no live worker can probe (`probe_unavailable`); the body says why", body = ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let mut request: StartRequest = body::json(&raw)?;
    if request.find_max_rate.is_some() && request.rate.is_none() {
        // A search steps through open-model rates from here.
        request.rate = Some(meshbench_core::capacity::DEFAULT_START_RATE);
    }
    let repeats = request.repeats;
    start_runs(&state, &caller, &headers, vec![request], repeats, None).await
}

/// Every rule `request` breaks on this server, each field named after `prefix`.
fn check(state: &AppState, request: &StartRequest, prefix: &str) -> Vec<FieldError> {
    let mut errors = request.validate(&state.settings.limits);
    if request.service_url.is_none() && !state.settings.has_default_target {
        errors.push(FieldError {
            field: "service_url".into(),
            message: "required: this server has no built-in target".into(),
        });
    }
    if request.in_cluster
        && matches!(
            state.kubernetes,
            crate::kubernetes::Kubernetes::NotConfigured
        )
    {
        errors.push(FieldError {
            field: "in_cluster".into(),
            message: "this server has no Kubernetes cluster configured (set KUBECONFIG)".into(),
        });
    }
    for e in &mut errors {
        e.field = format!("{prefix}{}", e.field);
    }
    errors
}

/// Refuses (403 `target_forbidden`) a request whose `service_url` the target policy does
/// not allow, after resolving its name here: every address it resolves to must be allowed,
/// so a name pointing into a forbidden range is refused. In-cluster runs are aimed at names
/// the cluster resolves, so only the policy's names (or an address written in the URL) can
/// allow them. Runs without a URL go to the built-in target; the lab's go to the targets
/// of namespaces it made.
async fn aimed_where_allowed(
    state: &AppState,
    request: &StartRequest,
    field: &str,
) -> Result<(), ApiError> {
    let (Some(url), None) = (&request.service_url, &request.lab_topology) else {
        return Ok(());
    };
    let policy = &state.settings.target_policy;
    let forbidden = |reason: String| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "target_forbidden",
            format!("{field}: {reason}"),
        )
    };
    if request.in_cluster {
        // The cluster resolves the name, not this host: a name entry or an address must
        // allow it as written.
        let Some((host, port)) = meshbench_core::policy::url_host_port(url) else {
            return Ok(());
        };
        if host.parse::<std::net::IpAddr>().is_err() && !policy.allows_name(&host, port) {
            return Err(forbidden(format!(
                "`{host}:{port}` (resolved in the cluster) is named by no entry of {} ({})",
                meshbench_core::policy::TARGET_ALLOW_VAR,
                policy.describe()
            )));
        }
    }
    let checked = policy
        .check_url(url, |host, port| async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
            .map_err(|_| format!("`{host}` did not resolve within 5 s"))?
            .map_err(|e| {
                format!("`{host}` does not resolve here ({e}), so it cannot be checked against the target policy")
            })
            .map(|found| found.map(|a| a.ip()).collect())
        })
        .await;
    match checked {
        Ok(()) => Ok(()),
        // validate() already named a URL that does not parse.
        Err(UrlRefusal::NoHost) => Ok(()),
        Err(UrlRefusal::Unresolved(why)) => Err(ApiError::field(field, why)),
        Err(UrlRefusal::Forbidden(why)) => Err(forbidden(why)),
    }
}

/// Where a start aims its load, as the audit log shows it.
fn target_of(request: &StartRequest) -> String {
    let url = match (&request.lab_topology, &request.service_url) {
        (Some(topology), _) => format!("lab:{topology}"),
        (None, Some(url)) => url.clone(),
        (None, None) => "built-in target".to_string(),
    };
    if request.in_cluster {
        format!("{url} (in cluster, namespace {})", request.namespace)
    } else {
        url
    }
}

/// Every distinct target of `configurations`, comma-separated.
fn targets_of(configurations: &[StartRequest]) -> String {
    let mut all: Vec<String> = Vec::new();
    for target in configurations.iter().map(target_of) {
        if !all.contains(&target) {
            all.push(target);
        }
    }
    all.join(", ")
}

/// Refuses (403 `role_limit`) a run asking for more than the caller's role may: the
/// server's own limits were checked before, as 422s.
fn within_role_limits(
    state: &AppState,
    caller: &Caller,
    request: &StartRequest,
    prefix: &str,
) -> Result<(), ApiError> {
    if caller.username.is_none() {
        // Development mode: one person on their own machine.
        return Ok(());
    }
    let limits = state.settings.role_limits.of(caller.role);
    let broken = limits.check(
        caller.role,
        request.duration,
        request.concurrent_connections,
        request.rate,
    );
    match broken.first() {
        None => Ok(()),
        Some((field, message)) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_limit",
            format!(
                "{prefix}{field}: {message} ({} or {})",
                meshbench_core::user::OPERATOR_LIMITS_VAR,
                meshbench_core::user::ADMIN_LIMITS_VAR
            ),
        )),
    }
}

/// Refuses (403 `role_limit`) a start that would leave the caller more runs pending or
/// running than their role may have.
async fn within_job_limit(
    state: &AppState,
    caller: &Caller,
    configurations: &[StartRequest],
    repeats: u32,
) -> Result<(), ApiError> {
    let Some(username) = &caller.username else {
        return Ok(());
    };
    let Some(max) = state.settings.role_limits.of(caller.role).max_jobs else {
        return Ok(());
    };
    let active = state.store.count_active_runs_of(username).await?;
    let adding = configurations.len() as u64 * u64::from(repeats.max(1));
    if active + adding > u64::from(max) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_limit",
            format!(
                "{username} has {active} runs pending or running and asks for {adding} more; \
                 the {} limit is {max} at once",
                caller.role
            ),
        ));
    }
    Ok(())
}

/// Starts `repeats` runs of each of `configurations`: one job each (and one per generator
/// of a split run). Repeats form a series per configuration; several configurations are
/// interleaved, order rotated each round, and run one at a time (errors name configuration
/// i's fields `list_field[i].…`; `None` for a plain start).
pub(crate) async fn start_runs(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    configurations: Vec<StartRequest>,
    repeats: u32,
    list_field: Option<&str>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    for (i, request) in configurations.iter().enumerate() {
        let prefix = list_field
            .map(|field| format!("{field}[{i}]."))
            .unwrap_or_default();
        errors.extend(check(state, request, &prefix));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let targets = targets_of(&configurations);
    let refuse = |error: ApiError| async {
        let event =
            Event::refused(AUDIT_START, error.message().to_string()).target(targets.clone());
        audit::record(state, caller, event).await;
        Err(error)
    };
    if let Some(username) = &caller.username {
        if let Err(limited) = state.throttle.start(username) {
            let event = Event::refused(AUDIT_START, "rate limited").target(targets.clone());
            audit::record(state, caller, event).await;
            return Ok(limited.into_response());
        }
    }
    for (i, request) in configurations.iter().enumerate() {
        let field = match list_field {
            Some(list) => format!("{list}[{i}].service_url"),
            None => "service_url".to_string(),
        };
        if let Err(e) = aimed_where_allowed(state, request, &field).await {
            return refuse(e).await;
        }
        let prefix = list_field
            .map(|list| format!("{list}[{i}]."))
            .unwrap_or_default();
        if let Err(e) = within_role_limits(state, caller, request, &prefix) {
            return refuse(e).await;
        }
        if request.in_cluster {
            let field = format!("{prefix}namespace");
            if let Err(e) = namespace_allowed(state, &field, &request.namespace) {
                return refuse(e).await;
            }
        }
    }
    if let Err(e) = within_job_limit(state, caller, &configurations, repeats).await {
        return refuse(e).await;
    }
    let key = jobs::idempotency_key(headers)?;
    if configurations.iter().any(|r| r.ebpf) {
        // Better told now than after the job failed on a worker that cannot probe.
        if let Err(reason) = jobs::probe_capability(state).await {
            return Err(jobs::probe_unavailable(format!("ebpf: {reason}")));
        }
    }
    let now = OffsetDateTime::now_utc();
    let job = |start: &StartRequest,
               request: serde_json::Value,
               parent_id: Option<String>,
               series: Option<SeriesPlace>| BenchmarkJob {
        job_id: uuid::Uuid::new_v4().to_string(),
        status: JobStatus::Pending,
        test_type: start.test_type,
        mesh_type: start.mesh_type.clone(),
        namespace: start.namespace.clone(),
        created_at: now,
        started_at: None,
        completed_at: None,
        progress: 0.0,
        error: None,
        request,
        summary: None,
        attempts: 0,
        parent_id,
        series,
        invalid_reasons: Vec::new(),
    };
    // Repeats (or several configurations) make series: one per configuration, run in
    // the group's interleaved order.
    let in_series = repeats > 1
        || configurations.len() > 1
        || configurations.iter().any(|c| c.find_max_rate.is_some());
    let series_ids: Vec<String> = if in_series {
        configurations
            .iter()
            .map(|_| uuid::Uuid::new_v4().to_string())
            .collect()
    } else {
        Vec::new()
    };
    let group = match series_ids.as_slice() {
        [one] => Some(one.clone()),
        [] => None,
        _ => Some(uuid::Uuid::new_v4().to_string()),
    };
    let stored: Vec<serde_json::Value> = configurations
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| ApiError::internal(&e))?;
    // A run split over generators is a job the user sees and one job per generator,
    // which alone are queued; the run is driven, and merged, by its parts.
    let mut new_jobs = Vec::new();
    // Each run's line in the audit log: id, target, workload.
    let mut audited = Vec::new();
    let mut queued = Vec::new();
    for (order, (config, _)) in compare::interleaved(configurations.len(), repeats as usize)
        .into_iter()
        .enumerate()
    {
        let request = &configurations[config];
        let series = group.as_ref().map(|group| SeriesPlace {
            series_id: series_ids[config].clone(),
            group: group.clone(),
            order: order as u32,
        });
        let mut run = job(request, stored[config].clone(), None, series);
        // Runs started together list in their run order.
        run.created_at = now + time::Duration::microseconds(order as i64);
        let run_id = run.job_id.clone();
        audited.push((
            run_id.clone(),
            target_of(request),
            format!("{} through {}", request.test_type, request.mesh_type),
        ));
        new_jobs.push(run);
        // In the cluster, one Job's pods are the generators: nothing to split here.
        if request.generators <= 1 || request.in_cluster {
            queued.push(run_id);
            continue;
        }
        for (index, part) in split_request(request, request.generators)
            .iter()
            .enumerate()
        {
            let mut value = serde_json::to_value(part).map_err(|e| ApiError::internal(&e))?;
            let of = PartOf {
                parent_id: run_id.clone(),
                index: index as u32,
                of: request.generators,
            };
            if let Some(map) = value.as_object_mut() {
                map.insert(
                    PART_KEY.into(),
                    serde_json::to_value(of).map_err(|e| ApiError::internal(&e))?,
                );
            }
            let part = job(request, value, Some(run_id.clone()), None);
            queued.push(part.job_id.clone());
            new_jobs.push(part);
        }
    }
    let inserted = state.store.insert_jobs(&new_jobs, key.as_deref()).await?;
    let runs: Vec<BenchmarkJob> = if inserted.replayed {
        let mut runs = Vec::new();
        for id in &inserted.ids {
            if let Some(job) = state.store.get_job(id).await? {
                if job.parent_id.is_none() {
                    runs.push(job);
                }
            }
        }
        runs
    } else {
        new_jobs
            .iter()
            .filter(|j| j.parent_id.is_none())
            .cloned()
            .collect()
    };
    let mut series_of_runs: Vec<String> = Vec::new();
    for run in &runs {
        if let Some(place) = &run.series {
            if !series_of_runs.contains(&place.series_id) {
                series_of_runs.push(place.series_id.clone());
            }
        }
    }
    let run_ids: Vec<String> = runs.iter().map(|j| j.job_id.clone()).collect();
    let series_group = runs
        .first()
        .and_then(|j| j.series.as_ref())
        .map(|p| p.group.clone());
    let to_queue = Inserted {
        ids: if inserted.replayed {
            inserted.ids.clone()
        } else {
            queued
        },
        replayed: inserted.replayed,
    };
    if let Some(earlier) =
        jobs::queue_start(state, JobKind::Benchmark, &to_queue, key.as_deref()).await?
    {
        let body = StartResponse {
            job_id: earlier.id,
            job_ids: run_ids,
            series_ids: series_of_runs,
            series_group,
            status: earlier.status,
            message: "already started with this Idempotency-Key".into(),
            started_at: earlier.created_at,
        };
        return Ok((StatusCode::OK, Json(body)).into_response());
    }
    if !inserted.replayed {
        for (run_id, target, workload) in audited {
            let event = Event::ok(AUDIT_START)
                .subject(run_id)
                .target(target)
                .detail(workload);
            audit::record(state, caller, event).await;
        }
    }
    let first = &configurations[0];
    let message = if configurations.len() > 1 {
        format!(
            "{} configurations × {repeats} runs queued, interleaved",
            configurations.len()
        )
    } else {
        format!(
            "{} benchmark queued: {} through {}",
            first.test_type, first.mesh_type, first.namespace
        )
    };
    let body = StartResponse {
        job_id: run_ids.first().cloned().unwrap_or_default(),
        job_ids: run_ids,
        series_ids: series_of_runs,
        series_group,
        status: JobStatus::Pending,
        message,
        started_at: now,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

/// The answer to a start request, as the seed's clients read it.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct StartResponse {
    /// The (first) job's id.
    job_id: String,
    /// Every run created (one per `repeats` and configuration), in run order.
    job_ids: Vec<String>,
    /// The series the runs form (one per configuration), when `repeats` is over 1 or
    /// several configurations were started together; `GET /series/{id}` reads one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    series_ids: Vec<String>,
    /// The group of series started together (the series' id when there is one).
    #[serde(skip_serializing_if = "Option::is_none")]
    series_group: Option<String>,
    /// `pending`; for a start replayed by its `Idempotency-Key`, the first job's status now.
    status: JobStatus,
    /// What was queued, for a person to read.
    message: String,
    /// When the request was accepted.
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
}

/// The listing filters, for the API documentation (handlers read them by name so every bad
/// value can be reported with its field).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct JobQuery {
    /// pending, running, completed, failed or cancelled.
    status: Option<JobStatus>,
    /// http, grpc, websocket or ml.
    test_type: Option<TestType>,
    /// Mesh label.
    mesh_type: Option<String>,
    /// Kubernetes namespace.
    namespace: Option<String>,
    /// Created at or after (RFC 3339).
    since: Option<String>,
    /// Created before (RFC 3339).
    until: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Jobs to skip.
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
    /// Order by created_at (default), started_at, completed_at, status, test_type, mesh_type
    /// or namespace. Unset start/completion times come last; ties are broken by job_id, so
    /// pages are stable.
    sort: Option<JobSort>,
    /// asc or desc (default desc: newest first).
    order: Option<SortOrder>,
}

/// Reads the listing filters shared by `/benchmarks/jobs` and `/metrics/results`.
pub(crate) fn filter_from(query: &HashMap<String, String>) -> Result<JobFilter, ApiError> {
    let mut errors = Vec::new();
    let mut filter = JobFilter::default();
    for (key, value) in query {
        let mut bad = |message: String| {
            errors.push(FieldError {
                field: key.clone(),
                message,
            })
        };
        match key.as_str() {
            "status" => match value.parse::<JobStatus>() {
                Ok(s) => filter.status = Some(s),
                Err(e) => bad(e.to_string()),
            },
            "test_type" => match value.parse::<TestType>() {
                Ok(t) => filter.test_type = Some(t),
                Err(e) => bad(e.to_string()),
            },
            "mesh_type" => filter.mesh_type = Some(value.clone()),
            "namespace" => filter.namespace = Some(value.clone()),
            "since" | "until" => match OffsetDateTime::parse(value, &Rfc3339) {
                Ok(t) if key == "since" => filter.since = Some(t),
                Ok(t) => filter.until = Some(t),
                Err(_) => bad(format!(
                    "`{value}` is not an RFC 3339 time, e.g. 2026-01-31T12:00:00Z"
                )),
            },
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=1000).contains(&n) => filter.limit = Some(n),
                _ => bad("must be a whole number from 1 to 1000".into()),
            },
            "offset" => match value.parse::<u32>() {
                Ok(n) if n <= super::MAX_OFFSET => filter.offset = Some(n),
                _ => bad(super::offset_message()),
            },
            "sort" => match value.parse::<JobSort>() {
                Ok(k) => filter.sort = Some(k),
                Err(e) => bad(e.to_string()),
            },
            "order" => match value.parse::<SortOrder>() {
                Ok(o) => filter.order = Some(o),
                Err(e) => bad(e.to_string()),
            },
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(filter)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// List jobs, newest first unless `sort` / `order` say otherwise; the total is in
/// `x-total-count`.
#[utoipa::path(get, path = "/benchmarks/jobs", tag = "benchmarks", params(JobQuery),
    responses((status = 200, description = "Jobs (full results are never included)", body = [BenchmarkJob]),
              (status = 422, description = "A filter is invalid", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = filter_from(&query)?;
    let total = state.store.count_jobs(&filter).await?;
    let jobs = state.store.list_jobs(&filter).await?;
    Ok((super::total_count(total), Json(jobs)))
}

/// One job.
#[utoipa::path(get, path = "/benchmarks/jobs/{job_id}", tag = "benchmarks",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = BenchmarkJob), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Json<BenchmarkJob>, ApiError> {
    load(&state, &job_id).await.map(Json)
}

/// The job, or a 404 naming it.
async fn load(state: &AppState, job_id: &str) -> Result<BenchmarkJob, ApiError> {
    state
        .store
        .get_job(job_id)
        .await?
        .ok_or_else(|| ApiError::job_not_found(job_id))
}

/// The job's full `meshbench.result.v1` document (docs/result-schema.md).
#[utoipa::path(get, path = "/benchmarks/jobs/{job_id}/result", tag = "benchmarks",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "meshbench.result.v1", body = Object),
              (status = 404, description = "Unknown job, or no result yet", body = ErrorBody)))]
pub(crate) async fn result(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = load(&state, &job_id).await?;
    stored_result(&state, &job).await.map(Json)
}

/// The job's result in the Service Mesh Performance format (SMP v0.6.1, the CNCF spec
/// Meshery uses): its test config, result, mesh config and environment (docs/smp.md).
#[utoipa::path(get, path = "/benchmarks/jobs/{job_id}/smp", tag = "benchmarks",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "SMP documents", body = Object),
              (status = 404, description = "Unknown job, or no result yet", body = ErrorBody)))]
pub(crate) async fn smp(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let job = load(&state, &job_id).await?;
    let value = stored_result(&state, &job).await?;
    let result: meshbench_core::BenchmarkResult = serde_json::from_value(value)
        .map_err(|e| ApiError::internal(&format!("stored result of `{job_id}`: {e}")))?;
    Ok(Json(meshbench_core::smp::to_smp(&result, &job.mesh_type)))
}

/// The job's stored result, or a 404 `result_not_ready` saying what state the job is in.
async fn stored_result(state: &AppState, job: &BenchmarkJob) -> Result<Value, ApiError> {
    state.store.get_result(&job.job_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "result_not_ready",
            format!("job `{}` is {} and has no result", job.job_id, job.status),
        )
    })
}

/// The latency and service-time distributions of a job's result, for charts: HdrHistogram's
/// percentile spectrum (as `outputPercentileDistribution` prints it, ending at 100 %) and
/// about 50 log-spaced buckets from min to max (empty buckets included).
#[utoipa::path(get, path = "/benchmarks/jobs/{job_id}/distribution", tag = "benchmarks",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, body = JobDistribution),
              (status = 404, description = "Unknown job (`job_not_found`) or no result yet (`result_not_ready`)", body = ErrorBody),
              (status = 500, description = "The stored histogram cannot be decoded (`histogram_unreadable`)", body = ErrorBody)))]
pub(crate) async fn distribution(
    State(state): State<AppState>,
    Path(job_id): Path<String>,
) -> Result<Json<JobDistribution>, ApiError> {
    let job = load(&state, &job_id).await?;
    let result = stored_result(&state, &job).await?;
    Ok(Json(JobDistribution {
        latency: stored_distribution(&job_id, &result, "histogram")?,
        service_time: stored_distribution(&job_id, &result, "service_histogram")?,
        job_id,
    }))
}

/// The distribution of the base64 HDR histogram in `result[field]`; a 500 naming the field
/// when it cannot be decoded (the data is the server's own, so not the client's fault).
fn stored_distribution(
    job_id: &str,
    result: &Value,
    field: &str,
) -> Result<Distribution, ApiError> {
    let decoded = match result.get(field).and_then(Value::as_str) {
        Some(text) => histogram::decode_base64(text)
            .map(|h| summarize(&h))
            .map_err(|e| e.to_string()),
        None => Err("it is missing".to_string()),
    };
    decoded.map_err(|cause| {
        tracing::error!(%job_id, field, "stored histogram unreadable: {cause}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "histogram_unreadable",
            format!("the stored result of job `{job_id}` has no readable `{field}`: {cause}"),
        )
    })
}

/// Cancels a pending job at once; asks the worker of a running job to stop (it does within
/// a second and stores the partial result as `cancelled`).
#[utoipa::path(delete, path = "/benchmarks/jobs/{job_id}", tag = "benchmarks",
    params(("job_id" = String, Path, description = "The job's id")),
    responses((status = 200, description = "Cancelled (pending) or cancellation requested (running)", body = Object),
              (status = 404, body = ErrorBody), (status = 409, description = "Already finished", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let outcome = jobs::cancel(&state, JobKind::Benchmark, &job_id).await?;
    if matches!(outcome, Cancel::Now | Cancel::Requested) {
        let target = match state.store.get_job(&job_id).await {
            Ok(Some(job)) => serde_json::from_value::<StartRequest>(job.request)
                .ok()
                .map(|r| target_of(&r)),
            _ => None,
        };
        let mut event = Event::ok("benchmark.cancel").subject(job_id.clone());
        if let Some(target) = target {
            event = event.target(target);
        }
        audit::record(&state, &caller, event).await;
    }
    match outcome {
        Cancel::Now => Ok(Json(
            json!({"job_id": job_id, "status": JobStatus::Cancelled, "message": "cancelled"}),
        )),
        Cancel::Requested => Ok(Json(
            json!({"job_id": job_id, "status": JobStatus::Running, "message": "cancellation requested; the worker stops within a second"}),
        )),
        Cancel::Finished(finished) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "job_finished",
            format!("job `{job_id}` is already {finished}"),
        )),
        Cancel::Missing => Err(ApiError::job_not_found(&job_id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sort_and_order_are_read_and_default_to_none() {
        let filter = filter_from(&query(&[("sort", "completed_at"), ("order", "asc")])).unwrap();
        assert_eq!(filter.sort, Some(JobSort::CompletedAt));
        assert_eq!(filter.order, Some(SortOrder::Asc));
        let filter = filter_from(&query(&[])).unwrap();
        assert_eq!((filter.sort, filter.order), (None, None));
    }

    #[test]
    fn bad_sort_and_order_are_422s_naming_the_field() {
        for (key, value) in [
            ("sort", "progress"),
            ("sort", "job_id; DROP"),
            ("order", "up"),
        ] {
            let response = filter_from(&query(&[(key, value)]))
                .unwrap_err()
                .into_response();
            assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
}
