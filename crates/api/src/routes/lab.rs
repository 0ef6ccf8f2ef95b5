//! The mesh lab over HTTP: `GET /lab` (what is up, which topologies exist), `POST /lab/up`
//! and `POST /lab/down` (this host's lab, as `meshbench lab up|down`), `POST /lab/run` (a
//! benchmark through a topology, stored like any), `POST /lab/compare` (topologies
//! interleaved and repeated: a series group) and `GET /lab/compare/{group}` (each topology's
//! overhead against the first with intervals, its proxies' cost, where its latency goes).
//!
//! The lab is the API host's: in the embedded platform its worker runs the lab's jobs on the
//! same machine. Bringing it up needs root, and Envoy for the proxied topologies.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::{Extension, Json};
use bytes::Bytes;
use meshbench_core::compare::{self, Comparison, Gates, Run, SeriesStats};
use meshbench_core::lab::{LabHops, LabTopology, ProxyCost};
use meshbench_core::{BenchmarkJob, FieldError, StartRequest};
use meshbench_lab::{Lab, LabState};
use meshbench_store::SeriesColumn;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::benchmarks::start_runs;
use super::body;
use super::series::completed_runs;
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// One topology as the lab builds it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TopologyInfo {
    /// Its name.
    name: LabTopology,
    /// Whether it has proxies (and needs Envoy).
    proxies: bool,
    /// Its hops, client side first: each hop's server end and port.
    hops: Vec<HopInfo>,
}

/// A hop of a topology's path.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct HopInfo {
    /// The hop's server end.
    name: String,
    /// The port it listens on.
    port: u16,
}

/// The lab on this host.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LabView {
    /// Whether this server can bring the lab up (root, and the meshbench binary known).
    available: bool,
    /// Why not, when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The Envoy version the proxies run, when an Envoy is found.
    #[serde(skip_serializing_if = "Option::is_none")]
    envoy_version: Option<String>,
    /// Every topology.
    topologies: Vec<TopologyInfo>,
    /// What is up (`null` when the lab is down).
    #[schema(value_type = Option<Object>)]
    up: Option<LabState>,
    /// Lab namespaces that exist (left by a crash when nothing is up).
    namespaces: Vec<String>,
    /// The recorded processes that are alive.
    alive: Vec<String>,
}

fn lab_error(e: meshbench_lab::Error) -> ApiError {
    use meshbench_lab::Error as E;
    match e {
        E::AlreadyUp(_) | E::InUse(_) => {
            ApiError::new(StatusCode::CONFLICT, "lab_busy", e.to_string())
        }
        E::NotRoot | E::EnvoyMissing => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lab_unavailable",
            e.to_string(),
        ),
        other => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "lab_failed",
            other.to_string(),
        ),
    }
}

/// Runs a blocking lab operation off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, meshbench_lab::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&format!("the lab operation stopped abnormally: {e}")))?
        .map_err(lab_error)
}

/// The lab on this host: the topologies, what is up, whether it can come up.
#[utoipa::path(get, path = "/lab", tag = "lab",
    responses((status = 200, body = LabView)))]
pub(crate) async fn status(State(state): State<AppState>) -> Result<Json<LabView>, ApiError> {
    let binary = state.settings.lab_binary.clone();
    let (status, envoy_version) = blocking(|| {
        let status = Lab::from_env().status()?;
        let envoy = meshbench_lab::envoy_binary()
            .ok()
            .and_then(|e| meshbench_lab::envoy_version(&e).ok());
        Ok((status, envoy))
    })
    .await?;
    let reason = if binary.is_none() {
        Some("this server runs no lab: it is not root (the lab makes network namespaces)".into())
    } else if envoy_version.is_none() {
        Some("no Envoy: only baseline can come up (scripts/lab.sh installs Envoy)".into())
    } else {
        None
    };
    Ok(Json(LabView {
        available: binary.is_some(),
        reason,
        envoy_version,
        topologies: LabTopology::ALL
            .into_iter()
            .map(|t| TopologyInfo {
                name: t,
                proxies: t.has_proxies(),
                hops: t
                    .hops()
                    .into_iter()
                    .map(|(name, port)| HopInfo {
                        name: name.into(),
                        port,
                    })
                    .collect(),
            })
            .collect(),
        up: status.state,
        namespaces: status.namespaces,
        alive: status.alive,
    }))
}

/// Which topology to bring up.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpRequest {
    /// The topology.
    topology: LabTopology,
}

/// Bring a topology up on this host (409 when one is up; 503 when this server cannot).
#[utoipa::path(post, path = "/lab/up", tag = "lab", request_body = UpRequest,
    responses((status = 200, description = "Up: the lab's state", body = Object),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 409, description = "A topology is up already", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 422, description = "`topology` is not one of the lab's", body = ErrorBody),
              (status = 503, description = "This server runs no lab (not root, or MESHBENCH_NO_LAB=1), or no Envoy", body = ErrorBody)))]
pub(crate) async fn up(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    raw: Bytes,
) -> Result<Json<LabState>, ApiError> {
    let request: UpRequest = body::json(&raw)?;
    let Some(binary) = state.settings.lab_binary.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lab_unavailable",
            "this server runs no lab: it is not root (the lab makes network namespaces)",
        ));
    };
    let topology = request.topology;
    let up = blocking(move || Lab::from_env().up(topology, &binary)).await?;
    audit::record(
        &state,
        &caller,
        Event::ok("lab.up").subject(topology.to_string()),
    )
    .await;
    Ok(Json(up))
}

/// Take the lab down: every namespace, link, process and file it made.
#[utoipa::path(post, path = "/lab/down", tag = "lab",
    responses((status = 200, description = "Down", body = Object),
              (status = 503, description = "This server runs no lab (not root, or MESHBENCH_NO_LAB=1)", body = ErrorBody)))]
pub(crate) async fn down(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if state.settings.lab_binary.is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "lab_unavailable",
            "this server runs no lab: it is not root",
        ));
    }
    blocking(|| Lab::from_env().down()).await?;
    audit::record(&state, &caller, Event::ok("lab.down")).await;
    Ok(Json(serde_json::json!({"down": true})))
}

/// Start a benchmark through a topology: a start request with `lab_topology` (required
/// here), stored like any benchmark with its lab record.
#[utoipa::path(post, path = "/lab/run", tag = "lab", request_body = StartRequest,
    responses((status = 202, description = "Queued", body = Object),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 403, description = "`target_forbidden`, `role_limit` or `forbidden_role`: see POST /benchmarks/start", body = ErrorBody),
              (status = 422, description = "A field broke a rule (`lab_topology` is required)", body = ErrorBody),
              (status = 429, description = "`rate_limited`: too many starts by this user this minute", body = ErrorBody),
              (status = 503, description = "The queue is unreachable", body = ErrorBody)))]
pub(crate) async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let request: StartRequest = body::json(&raw)?;
    if request.lab_topology.is_none() {
        return Err(ApiError::field(
            "lab_topology",
            "required: the topology to run through (GET /lab lists them)",
        ));
    }
    let repeats = request.repeats;
    start_runs(&state, &caller, &headers, vec![request], repeats, None).await
}

/// Topologies to compare.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LabCompareRequest {
    /// 2–5 topologies; the first is the baseline of the others.
    topologies: Vec<LabTopology>,
    /// Runs of each (1 to the server's most repeats).
    repeats: u32,
    /// The workload, as a start request without `lab_topology` (`{}` takes every default;
    /// `service_url`'s path and query are kept, e.g. `http://target/?delay=1ms`).
    #[serde(default)]
    configuration: Option<StartRequest>,
}

/// Run the same workload through several topologies, interleaved and repeated: a series
/// group whose id (`series_group`) `GET /lab/compare/{group}` reads.
#[utoipa::path(post, path = "/lab/compare", tag = "lab", request_body = LabCompareRequest,
    responses((status = 202, description = "Queued; `series_group` and `series_ids` in topology order", body = Object),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 403, description = "`target_forbidden`, `role_limit` or `forbidden_role`: see POST /benchmarks/start", body = ErrorBody),
              (status = 422, description = "A field broke a rule, named (`topologies[1]`)", body = ErrorBody),
              (status = 429, description = "`rate_limited`: too many starts by this user this minute", body = ErrorBody),
              (status = 503, description = "The queue is unreachable", body = ErrorBody)))]
pub(crate) async fn compare_start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let request: LabCompareRequest = body::json(&raw)?;
    let mut errors = Vec::new();
    if !(2..=LabTopology::ALL.len()).contains(&request.topologies.len()) {
        errors.push(FieldError {
            field: "topologies".into(),
            message: format!("give 2 to {} topologies", LabTopology::ALL.len()),
        });
    }
    for (i, t) in request.topologies.iter().enumerate() {
        if request.topologies[..i].contains(t) {
            errors.push(FieldError {
                field: format!("topologies[{i}]"),
                message: format!("`{t}` is given twice"),
            });
        }
    }
    let base = match request.configuration {
        Some(c) => c,
        None => body::json(&Bytes::from_static(b"{}"))?,
    };
    if base.lab_topology.is_some() {
        errors.push(FieldError {
            field: "configuration.lab_topology".into(),
            message: "set the topologies in `topologies`".into(),
        });
    }
    if base.repeats != 1 {
        errors.push(FieldError {
            field: "configuration.repeats".into(),
            message: "set `repeats` beside `configuration`".into(),
        });
    }
    let max = state.settings.limits.max_repeats;
    if !(1..=max).contains(&request.repeats) {
        errors.push(FieldError {
            field: "repeats".into(),
            message: format!("must be between 1 and {max}"),
        });
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let configurations = request
        .topologies
        .iter()
        .map(|t| {
            let mut c = base.clone();
            c.lab_topology = Some(*t);
            c
        })
        .collect();
    start_runs(
        &state,
        &caller,
        &headers,
        configurations,
        request.repeats,
        Some("configurations"),
    )
    .await
}

/// One topology of a lab comparison.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LabTopologyView {
    /// The topology (`null` when a run of the group is not a lab run).
    #[schema(value_type = Option<String>)]
    topology: Option<LabTopology>,
    /// Its series.
    series_id: String,
    /// Its runs, in run order.
    runs: Vec<BenchmarkJob>,
    /// Runs not finished yet.
    unfinished: usize,
    /// Statistics over its completed runs.
    stats: SeriesStats,
    /// Against the first topology (absent for the first, and until both have runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<Comparison>,
    /// Each proxy's mean CPU per 1k req/s and peak memory over the runs.
    #[schema(value_type = Vec<Object>)]
    proxies: Vec<ProxyCost>,
    /// Where the latency goes (p50 and p99), mean over the runs that probed their hops.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    hops: Option<LabHops>,
    /// The Envoy version of its runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    envoy_version: Option<String>,
}

/// A lab comparison: its topologies in order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct LabComparisonView {
    /// The group id.
    group: String,
    /// Topologies, in the order they were given.
    topologies: Vec<LabTopologyView>,
}

/// A lab comparison's standing: each topology's overhead against the first with 95 %
/// intervals, its proxies' cost, where its latency goes.
#[utoipa::path(get, path = "/lab/compare/{group}", tag = "lab",
    params(("group" = String, Path, description = "The `group` a lab compare start answered with")),
    responses((status = 200, body = LabComparisonView), (status = 404, body = ErrorBody)))]
pub(crate) async fn compare_view(
    State(state): State<AppState>,
    Path(group): Path<String>,
) -> Result<Json<LabComparisonView>, ApiError> {
    let jobs = state.store.series_runs(SeriesColumn::Group, &group).await?;
    if jobs.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no lab comparison `{group}`"),
        ));
    }
    // Series in configuration order: each run's place says which.
    let mut series: Vec<(String, Vec<BenchmarkJob>)> = Vec::new();
    let mut ordered = jobs;
    ordered.sort_by_key(|j| j.series.as_ref().map_or(0, |p| p.order));
    for job in ordered {
        let Some(id) = job.series.as_ref().map(|p| p.series_id.clone()) else {
            continue;
        };
        match series.iter_mut().find(|(s, _)| *s == id) {
            Some((_, runs)) => runs.push(job),
            None => series.push((id, vec![job])),
        }
    }
    let mut views = Vec::new();
    let mut baseline: Option<(String, Vec<Run>)> = None;
    for (series_id, runs) in series {
        let topology = runs.first().and_then(|j| {
            j.request
                .get("lab_topology")
                .and_then(|v| serde_json::from_value::<LabTopology>(v.clone()).ok())
        });
        let results = completed_runs(&state, &runs).await?;
        let label = topology.map_or_else(|| series_id.clone(), |t| t.to_string());
        let comparison = match &baseline {
            Some((base_label, base)) if !base.is_empty() && !results.is_empty() => {
                compare::compare(
                    (base_label.as_str(), base),
                    (&label, &results),
                    &Gates::default(),
                    compare::DEFAULT_MAX_ERROR_RATE,
                )
                .ok()
            }
            _ => None,
        };
        let records: Vec<&meshbench_core::lab::LabRecord> = results
            .iter()
            .filter_map(|r| r.result.lab.as_ref())
            .collect();
        let proxies = ProxyCost::mean(
            &records
                .iter()
                .map(|r| r.proxies.as_slice())
                .collect::<Vec<_>>(),
        );
        let plain: Vec<&meshbench_core::BenchmarkResult> =
            results.iter().map(|r| &r.result).collect();
        let hops = LabHops::of(&plain).ok().flatten();
        let envoy_version = records.iter().find_map(|r| r.envoy_version.clone());
        views.push(LabTopologyView {
            topology,
            series_id,
            unfinished: runs.iter().filter(|r| !r.status.is_finished()).count(),
            stats: compare::series_stats(&results, compare::DEFAULT_MAX_ERROR_RATE),
            comparison,
            proxies,
            hops,
            envoy_version,
            runs,
        });
        if baseline.is_none() {
            baseline = Some((label, results));
        }
    }
    Ok(Json(LabComparisonView {
        group,
        topologies: views,
    }))
}
