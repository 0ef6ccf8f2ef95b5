//! `/metrics/results`, `/metrics/summary` (mesh overhead against baseline) and the
//! Prometheus exposition at `/metrics`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use meshbench_core::stats;
use meshbench_core::{JobKind, JobStatus, LIVE_BUCKETS_US, NATIVE_SCHEMA};
use meshbench_store::{GroupStats, Moments};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_protobuf, prometheus_text, DescriptorEncoder, NativeHistogram,
    NativeHistogramBuckets, NoLabelSet,
};
use prometheus_client::metrics::histogram::DEFAULT_NATIVE_HISTOGRAM_ZERO_THRESHOLD;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
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
                    "invalid_reasons": job.invalid_reasons,
                    "series": job.series,
                })
            })
            .collect(),
    ))
}

/// Per mesh and configuration: valid runs, request totals and each figure's mean with its
/// 95 % interval; the overhead of each mesh against `baseline` of the same test type and
/// configuration, per figure, with Welch's 95 % interval (docs/statistics.md). Invalid runs
/// are left out and counted. Read from sums the database keeps as runs complete.
#[utoipa::path(get, path = "/metrics/summary", tag = "metrics", params(JobQuery),
    responses((status = 200, body = Object), (status = 422, body = ErrorBody)))]
pub(crate) async fn summary(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut filter = filter_from(&query)?;
    let wanted_mesh = filter.mesh_type.take().filter(|m| !m.is_empty());
    let groups = state.store.completed_stats(&filter).await?;
    let invalid = state.store.invalid_counts(&filter).await?;
    let baseline_of = |g: &GroupStats| {
        groups.iter().find(|b| {
            b.test_type == g.test_type && b.config == g.config && b.mesh_type == "baseline"
        })
    };
    let mut meshes = Vec::new();
    let mut overhead = Vec::new();
    for group in &groups {
        if wanted_mesh.as_ref().is_some_and(|w| *w != group.mesh_type) {
            continue;
        }
        let mut entry = json!({
            "test_type": group.test_type,
            "mesh_type": group.mesh_type,
            "config": group.config,
            "count": group.runs,
            "requests": group.requests,
            "errors": group.errors,
        });
        for (name, get) in FIGURES {
            let m = get(group);
            let i = stats::moments_interval(m.mean, m.stdev, group.runs);
            let key = if name == "rps" {
                name.to_string()
            } else {
                format!("{name}_us")
            };
            entry[key] = json!({
                "min": m.min, "max": m.max, "mean": m.mean, "stdev": m.stdev,
                // Every figure is a latency, a rate or a count: never below zero.
                "low": i.low.max(0.0), "high": i.high,
            });
        }
        meshes.push(entry);
        if group.mesh_type == "baseline" {
            continue;
        }
        let Some(baseline) = baseline_of(group) else {
            continue;
        };
        let mut per_figure = serde_json::Map::new();
        for (name, get) in FIGURES {
            let (b, m) = (get(baseline), get(group));
            let d = stats::welch_difference(
                (b.mean, b.stdev, baseline.runs),
                (m.mean, m.stdev, group.runs),
            );
            let pct = |v: f64| {
                if b.mean > 0.0 {
                    v / b.mean * 100.0
                } else {
                    0.0
                }
            };
            let spread = (m.stdev.powi(2) / group.runs.max(1) as f64
                + b.stdev.powi(2) / baseline.runs.max(1) as f64)
                .sqrt();
            let unit = if name == "rps" { "" } else { "_us" };
            per_figure.insert(
                name.to_string(),
                json!({
                    format!("baseline{unit}"): b.mean,
                    format!("mesh{unit}"): m.mean,
                    format!("overhead{unit}"): d.estimate,
                    "overhead_pct": pct(d.estimate),
                    format!("spread{unit}"): spread,
                    format!("low{unit}"): d.low,
                    format!("high{unit}"): d.high,
                    "low_pct": pct(d.low),
                    "high_pct": pct(d.high),
                    "significant": baseline.runs > 1 && group.runs > 1 && !d.contains(0.0),
                }),
            );
        }
        let rps = per_figure.remove("rps");
        overhead.push(json!({
            "test_type": group.test_type,
            "mesh_type": group.mesh_type,
            "config": group.config,
            "baseline_runs": baseline.runs,
            "mesh_runs": group.runs,
            "latency": per_figure,
            "throughput": rps,
        }));
    }
    let invalid_runs: Vec<Value> = invalid
        .iter()
        .filter(|(_, mesh, _)| wanted_mesh.as_ref().is_none_or(|w| w == mesh))
        .map(|(test_type, mesh, n)| json!({"test_type": test_type, "mesh_type": mesh, "count": n}))
        .collect();
    Ok(Json(json!({
        "mesh_type": wanted_mesh,
        "method": "welch",
        "confidence": stats::CONFIDENCE,
        "meshes": meshes,
        "overhead": overhead,
        "invalid_runs": invalid_runs,
    })))
}

/// Reads one figure's moments of a group.
type Figure = fn(&GroupStats) -> &Moments;

const FIGURES: [(&str, Figure); 5] = [
    ("p50", |g| &g.p50_us),
    ("p90", |g| &g.p90_us),
    ("p99", |g| &g.p99_us),
    ("p999", |g| &g.p999_us),
    ("rps", |g| &g.rps),
];

// `/metrics` itself is routed apart from `/metrics/results` and `/metrics/summary`, so
// neither shadows the other.
/// Prometheus exposition: jobs by status, requests of completed runs, queue depth, live
/// workers, and per running job (labelled job id, test type, mesh, namespace) its requests,
/// errors and latency histogram, updated each second; the API's own request latency. Text,
/// or the delimited protobuf format (with native histograms) when `Accept` prefers it.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Prometheus exposition", content(
        ("text/plain"),
        ("application/vnd.google.protobuf"),
    ))))]
pub(crate) async fn prometheus(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let counts = state.store.count_by_status().await?;
    let groups = state.store.completed_stats(&Default::default()).await?;
    let snapshot = Snapshot {
        jobs: JobStatus::ALL
            .iter()
            .map(|status| {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == status)
                    .map_or(0, |(_, n)| *n);
                (status.as_str(), n)
            })
            .collect(),
        completed_requests: groups.iter().map(|g| g.requests).sum(),
        queue: state
            .queue
            .depth()
            .await
            .ok()
            .map(|d| (d.queued, d.in_flight)),
        workers: state.queue.workers().await.ok().map(|workers| {
            [JobKind::Benchmark, JobKind::Probe].map(|kind| {
                (
                    kind.as_str(),
                    workers.iter().filter(|w| w.takes(kind)).count() as u64,
                )
            })
        }),
        probe_runs: {
            let unfinished = state
                .store
                .states_in(
                    JobKind::Probe,
                    &[JobStatus::Pending, JobStatus::Running],
                    meshbench_store::MAX_LIST_LIMIT,
                    0,
                )
                .await?;
            [JobStatus::Pending, JobStatus::Running].map(|status| {
                let n = unfinished.iter().filter(|p| p.status == status).count() as u64;
                (status.as_str(), n)
            })
        },
        runs: state.live.snapshot(),
        uptime_s: state.started.elapsed().as_secs_f64(),
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    state.telemetry.register(&mut registry);
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    if accept.is_some_and(wants_protobuf) {
        let out = prometheus_protobuf::encode_to_vec(&registry)
            .map_err(|e| ApiError::internal(&format!("{e:?}")))?;
        return Ok(([(header::CONTENT_TYPE, PROTOBUF_TYPE)], out).into_response());
    }
    let mut out = String::new();
    prometheus_text::encode(&mut out, &registry).map_err(|e| ApiError::internal(&e))?;
    Ok(([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], out).into_response())
}

/// Writes gauge family `name` (with its help text), one series per `(label value, count)`.
fn gauges(
    encoder: &mut DescriptorEncoder,
    (name, help): (&str, &str),
    label: &str,
    values: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (value, n) in values {
        family.encode_family(&[(label, *value)])?.encode_gauge(n)?;
    }
    Ok(())
}

/// The Prometheus protobuf exposition: the only one that carries native histograms.
const PROTOBUF_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// Whether an `Accept` header prefers the delimited protobuf exposition to text: Prometheus
/// asks for it (with text as a fallback at a lower `q`) when it ingests native histograms.
fn wants_protobuf(accept: &str) -> bool {
    let (mut protobuf, mut text) = (0.0_f64, 0.0_f64);
    for range in accept.split(',') {
        let mut params = range.split(';').map(str::trim);
        let media = params.next().unwrap_or_default().to_ascii_lowercase();
        let mut q = 1.0;
        let (mut proto, mut delimited) = (None, false);
        for param in params {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.trim().parse().unwrap_or(0.0),
                "proto" => proto = Some(value.trim().to_string()),
                "encoding" => delimited = value.trim() == "delimited",
                _ => {}
            }
        }
        match media.as_str() {
            "application/vnd.google.protobuf"
                if proto.as_deref() == Some("io.prometheus.client.MetricFamily") && delimited =>
            {
                protobuf = protobuf.max(q);
            }
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    protobuf > 0.0 && protobuf > text
}

/// A run's native buckets as Prometheus encodes them: spans of neighbouring buckets (the
/// first's offset is its index, each later one's the gap since the span before) and each
/// bucket's count as the change from the bucket before.
fn native_spans(buckets: &std::collections::BTreeMap<i32, u64>) -> (Vec<(i32, u32)>, Vec<i64>) {
    let mut spans: Vec<(i32, u32)> = Vec::new();
    let mut deltas = Vec::with_capacity(buckets.len());
    let (mut next, mut before) = (None, 0_i64);
    for (&index, &count) in buckets {
        match (next, spans.last_mut()) {
            (Some(expected), Some(span)) if expected == index => span.1 += 1,
            (Some(expected), _) => spans.push((index - expected, 1)),
            (None, _) => spans.push((index, 1)),
        }
        let count = i64::try_from(count).unwrap_or(i64::MAX);
        deltas.push(count - before);
        before = count;
        next = Some(index + 1);
    }
    (spans, deltas)
}

/// What one scrape reports, gathered before encoding (the store and queue are async; an
/// encoder is not).
#[derive(Debug)]
struct Snapshot {
    jobs: Vec<(&'static str, u64)>,
    completed_requests: u64,
    queue: Option<(u64, u64)>,
    workers: Option<[(&'static str, u64); 2]>,
    probe_runs: [(&'static str, u64); 2],
    runs: Vec<crate::live::RunSums>,
    uptime_s: f64,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauges(
            &mut encoder,
            ("meshbench_jobs", "Benchmark jobs by status"),
            "status",
            &self.jobs,
        )?;
        encoder
            .encode_descriptor(
                "meshbench_requests",
                "Requests sent by completed benchmark jobs",
                None,
                MetricType::Counter,
            )?
            .encode_counter::<NoLabelSet, u64, u64>(&self.completed_requests, None)?;
        if let Some((queued, in_flight)) = self.queue {
            gauges(
                &mut encoder,
                (
                    "meshbench_queue_jobs",
                    "Jobs in the queue: waiting for a worker, or taken and not yet done",
                ),
                "state",
                &[("queued", queued), ("in_flight", in_flight)],
            )?;
        }
        if let Some(workers) = &self.workers {
            gauges(
                &mut encoder,
                (
                    "meshbench_workers",
                    "Live workers (heartbeat within a lease) taking each kind of job",
                ),
                "kind",
                workers,
            )?;
        }
        gauges(
            &mut encoder,
            (
                "meshbench_probe_runs",
                "eBPF probe runs waiting for a worker or running (up to 1,000 counted)",
            ),
            "status",
            &self.probe_runs,
        )?;
        let labels = |r: &crate::live::RunSums| {
            [
                ("job_id", r.labels.job_id.clone()),
                ("test_type", r.labels.test_type.clone()),
                ("mesh", r.labels.mesh.clone()),
                ("namespace", r.labels.namespace.clone()),
            ]
        };
        let mut family = encoder.encode_descriptor(
            "meshbench_run_active",
            "1 while a run goes, 0 for a while after it ended",
            None,
            MetricType::Gauge,
        )?;
        for r in &self.runs {
            let active = i64::from(r.ended.is_none());
            family.encode_family(&labels(r))?.encode_gauge(&active)?;
        }
        type Count = fn(&crate::live::RunSums) -> u64;
        let counters: [(&str, &str, Count); 2] = [
            (
                "meshbench_run_requests",
                "Requests a run has completed so far",
                |r| r.requests,
            ),
            (
                "meshbench_run_errors",
                "Requests of a run that failed so far",
                |r| r.errors,
            ),
        ];
        for (name, help, count) in counters {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for r in &self.runs {
                family
                    .encode_family(&labels(r))?
                    .encode_counter::<NoLabelSet, u64, u64>(&count(r), None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "meshbench_run_scheduled_requests",
            "Requests an open-model run's schedule has asked for so far; a run completing \
             fewer is behind (its generator or target saturated)",
            None,
            MetricType::Counter,
        )?;
        for r in &self.runs {
            if let Some(scheduled) = r.scheduled {
                family
                    .encode_family(&labels(r))?
                    .encode_counter::<NoLabelSet, f64, f64>(&scheduled, None)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "meshbench_run_latency_seconds",
            "Latency of a run's requests so far, from the engine's per-second histograms",
            None,
            MetricType::Histogram,
        )?;
        for r in &self.runs {
            let buckets: Vec<(f64, u64)> = LIVE_BUCKETS_US
                .iter()
                .map(|us| *us as f64 / 1e6)
                .chain([f64::INFINITY])
                .zip(r.buckets.iter().copied())
                .collect();
            let (spans, deltas) = native_spans(&r.native);
            let native = NativeHistogram {
                schema: NATIVE_SCHEMA,
                zero_threshold: DEFAULT_NATIVE_HISTOGRAM_ZERO_THRESHOLD,
                zero_count: 0,
                negative: NativeHistogramBuckets {
                    spans: &[],
                    deltas: &[],
                },
                positive: NativeHistogramBuckets {
                    spans: &spans,
                    deltas: &deltas,
                },
                created: None,
            };
            family
                .encode_family(&labels(r))?
                .encode_histogram_with_native::<NoLabelSet>(
                    r.sum_us / 1e6,
                    r.count(),
                    &buckets,
                    None,
                    native,
                )?;
        }
        encoder
            .encode_descriptor(
                "meshbench_uptime_seconds",
                "Seconds since the server started",
                None,
                MetricType::Gauge,
            )?
            .encode_gauge(&self.uptime_s)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_only_when_preferred() {
        // Prometheus with native histograms on, and without.
        assert!(wants_protobuf(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
             encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        ));
        assert!(!wants_protobuf(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_protobuf("*/*"));
        assert!(!wants_protobuf(""));
        // Text preferred, or a protobuf this server does not write.
        assert!(!wants_protobuf(
            "text/plain,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5"
        ));
        assert!(!wants_protobuf(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
        ));
        assert!(!wants_protobuf(
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0"
        ));
    }

    #[test]
    fn native_spans_join_neighbours_and_count_changes() {
        let buckets = [(-80, 3), (-79, 5), (-78, 5), (-70, 1), (-68, 2)]
            .into_iter()
            .collect();
        let (spans, deltas) = native_spans(&buckets);
        assert_eq!(spans, vec![(-80, 3), (7, 1), (1, 1)]);
        assert_eq!(deltas, vec![3, 2, 0, -4, 1]);
        assert_eq!(native_spans(&Default::default()), (vec![], vec![]));
    }
}
