//! One benchmark spread over several load generators (local workers on the Redis queue, or
//! load pods): how a request is divided into parts, and how the parts' results are merged
//! without loss into the one result the user asked for. HDR histograms add exactly, so the
//! merged histogram is the histogram of every sample of every part; per-second intervals
//! merge through the parts' per-second histograms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::histogram::{decode_base64, encode_base64, merge, new_histogram, summarize};
use crate::result::{BenchmarkResult, LoadgenInfo, TimelineEntry};
use crate::{Error, Result, StartRequest};

/// Most generators one run may be split over.
pub const MAX_GENERATORS: u32 = 64;

/// The key of a part's stored request that says which run it is part of.
pub const PART_KEY: &str = "part";

/// Which run a part belongs to, stored in the part's request under [`PART_KEY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOf {
    /// The run the user started.
    pub parent_id: String,
    /// This part's index, 0-based.
    pub index: u32,
    /// How many parts the run has.
    pub of: u32,
}

/// The parts of `request`, each with `1/of` of the connections (the first ones take the
/// remainder) and of the rate, and nothing split further.
pub fn split_request(request: &StartRequest, of: u32) -> Vec<StartRequest> {
    let of = of.max(1);
    (0..of)
        .map(|i| {
            let mut part = request.clone();
            let base = request.concurrent_connections / of;
            let extra = u32::from(i < request.concurrent_connections % of);
            part.concurrent_connections = (base + extra).max(1);
            part.rate = request.rate.map(|r| r / f64::from(of));
            part.generators = 1;
            part
        })
        .collect()
}

/// The `meshbench` command line one load pod of an in-cluster run executes: its share of
/// the connections and the rate, JSON out with per-second histograms (so the pods merge
/// exactly), starting at `start_at` (RFC 3339) with its siblings.
pub fn load_pod_args(request: &StartRequest, start_at: &str) -> Vec<String> {
    let of = request.generators.max(1);
    let mut args: Vec<String> = vec![
        "run".into(),
        request.service_url.clone().unwrap_or_default(),
        "-c".into(),
        (request.concurrent_connections / of).max(1).to_string(),
        "-d".into(),
        format!("{}s", request.duration),
        "--warmup".into(),
        format!("{}s", request.warmup),
        "-m".into(),
        request.method.clone(),
        "--mesh".into(),
        request.mesh_type.clone(),
        "--json".into(),
        "--interval-histograms".into(),
        "--no-progress".into(),
        "--start-at".into(),
        start_at.to_string(),
    ];
    if let Some(rate) = request.rate {
        args.extend(["-R".into(), format!("{}", rate / f64::from(of))]);
    }
    if request.http2 {
        args.extend([
            "--http2".into(),
            "--streams".into(),
            request.streams.unwrap_or(1).to_string(),
        ]);
    }
    for (name, value) in &request.headers {
        args.extend(["-H".into(), format!("{name}: {value}")]);
    }
    if let Some(body) = &request.body {
        args.extend(["-b".into(), body.clone()]);
    }
    args
}

/// How a split run's generators fared; present on merged results only.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeneratorsInfo {
    /// Generators the run was split over.
    pub count: u32,
    /// Generators whose results are merged here.
    pub completed: u32,
    /// The parts' job ids, by index.
    pub parts: Vec<String>,
    /// Parts that produced no result, and why.
    pub failed: Vec<GeneratorFailure>,
    /// Indexes of parts whose generator was the bottleneck (see each part's `loadgen`).
    pub saturated: Vec<u32>,
    /// Latest start minus earliest start of the parts' measurement, milliseconds: how
    /// closely they kept the agreed instant.
    pub start_spread_ms: f64,
    /// Indexes of parts that ran again after their first worker was lost: they measured
    /// other seconds than their siblings (and widen `start_spread_ms`).
    #[serde(default)]
    pub retried: Vec<u32>,
}

/// A part that produced no result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GeneratorFailure {
    /// The part's index.
    pub index: u32,
    /// Its job id.
    pub job_id: String,
    /// Why it failed.
    pub error: String,
}

/// One part as the merge sees it.
#[derive(Debug, Clone)]
pub struct PartOutcome {
    /// Its job id.
    pub job_id: String,
    /// Its result, when it completed.
    pub result: Option<BenchmarkResult>,
    /// Times a worker took it: above 1, its first worker was lost and it ran again, alone.
    pub attempts: u32,
    /// Why it has none.
    pub error: Option<String>,
}

fn add_maps(into: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

/// Merges the parts (in index order) of a run whose spec is `spec` into one result. Fails
/// only when no part completed, or a part's histograms cannot be read.
pub fn merge_parts(spec: crate::BenchmarkSpec, parts: &[PartOutcome]) -> Result<BenchmarkResult> {
    let done: Vec<(u32, &BenchmarkResult)> = parts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.result.as_ref().map(|r| (i as u32, r)))
        .collect();
    let Some((_, first)) = done.first() else {
        return Err(Error::invalid(
            "generators",
            "no generator of the run completed",
        ));
    };
    let mut merged = (*first).clone();
    merged.spec = spec;
    let (mut latency, mut service) = (new_histogram(), new_histogram());
    let mut intervals: Vec<hdrhistogram::Histogram<u64>> = Vec::new();
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    let mut loadgen = LoadgenInfo::default();
    let (mut status_codes, mut error_kinds) = (BTreeMap::new(), BTreeMap::new());
    let mut info = GeneratorsInfo {
        count: parts.len() as u32,
        completed: done.len() as u32,
        parts: parts.iter().map(|p| p.job_id.clone()).collect(),
        ..GeneratorsInfo::default()
    };
    let (mut requests, mut errors, mut sent, mut received) = (0u64, 0u64, 0u64, 0u64);
    let mut requested: Option<f64> = None;
    let mut duration_s: f64 = 0.0;
    for (index, r) in &done {
        merge(&mut latency, &decode_base64(&r.histogram)?);
        merge(&mut service, &decode_base64(&r.service_histogram)?);
        requests += r.requests;
        errors += r.errors;
        sent += r.bytes_sent;
        received += r.bytes_received;
        add_maps(&mut status_codes, &r.status_codes);
        add_maps(&mut error_kinds, &r.error_kinds);
        if let Some(rps) = r.requested_rps {
            requested = Some(requested.unwrap_or(0.0) + rps);
        }
        duration_s = duration_s.max(r.duration_s);
        merged.started_at = merged.started_at.min(r.started_at);
        merged.ended_at = merged.ended_at.max(r.ended_at);
        loadgen.threads += r.loadgen.threads;
        loadgen.connections += r.loadgen.connections;
        loadgen.cpu_s += r.loadgen.cpu_s;
        loadgen.cpu_user_s += r.loadgen.cpu_user_s;
        loadgen.cpu_system_s += r.loadgen.cpu_system_s;
        loadgen.max_rss_bytes = loadgen.max_rss_bytes.max(r.loadgen.max_rss_bytes);
        if r.loadgen.saturated {
            info.saturated.push(*index);
            loadgen.saturated = true;
            loadgen.saturation_reasons.extend(
                r.loadgen
                    .saturation_reasons
                    .iter()
                    .map(|why| format!("generator {index}: {why}")),
            );
        }
        for (second, entry) in r.timeline.iter().enumerate() {
            if timeline.len() <= second {
                timeline.push(TimelineEntry {
                    second: second as u64,
                    ..TimelineEntry::default()
                });
                intervals.push(new_histogram());
            }
            let t = &mut timeline[second];
            t.requests += entry.requests;
            t.errors += entry.errors;
            if let Some(rps) = entry.requested {
                t.requested = Some(t.requested.unwrap_or(0.0) + rps);
            }
            if let Some(encoded) = r.interval_histograms.get(second) {
                merge(&mut intervals[second], &decode_base64(encoded)?);
            }
        }
    }
    let starts: Vec<i128> = done
        .iter()
        .map(|(_, r)| r.started_at.unix_timestamp_nanos())
        .collect();
    let spread = starts.iter().max().unwrap_or(&0) - starts.iter().min().unwrap_or(&0);
    info.start_spread_ms = spread as f64 / 1e6;
    for (t, h) in timeline.iter_mut().zip(&intervals) {
        if !h.is_empty() {
            t.p50_us = h.value_at_quantile(0.5);
            t.p99_us = h.value_at_quantile(0.99);
            t.p90_us = h.value_at_quantile(0.90);
            t.p999_us = h.value_at_quantile(0.999);
            t.mean_us = h.mean();
        }
    }
    info.retried = parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.attempts > 1 && p.result.is_some())
        .map(|(i, _)| i as u32)
        .collect();
    for (index, p) in parts.iter().enumerate() {
        if p.result.is_none() {
            info.failed.push(GeneratorFailure {
                index: index as u32,
                job_id: p.job_id.clone(),
                error: p.error.clone().unwrap_or_else(|| "no result".to_string()),
            });
        }
    }
    loadgen.send_lag_us = None;
    merged.requests = requests;
    merged.errors = errors;
    merged.bytes_sent = sent;
    merged.bytes_received = received;
    merged.status_codes = status_codes;
    merged.error_kinds = error_kinds;
    merged.duration_s = duration_s;
    merged.rps = if duration_s > 0.0 {
        requests as f64 / duration_s
    } else {
        0.0
    };
    merged.requested_rps = requested;
    merged.latency_us = summarize(&latency);
    merged.service_time_us = summarize(&service);
    merged.histogram = encode_base64(&latency)?;
    merged.service_histogram = encode_base64(&service)?;
    merged.timeline = timeline;
    merged.interval_histograms = Vec::new();
    merged.loadgen = loadgen;
    merged.kernel = None;
    merged.generators = Some(info);
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::record_us;

    fn spec() -> crate::BenchmarkSpec {
        request(1, None).to_spec("http://127.0.0.1/")
    }

    fn request(connections: u32, rate: Option<f64>) -> StartRequest {
        let mut r: StartRequest =
            serde_json::from_value(serde_json::json!({"test_type": "http"})).unwrap();
        r.concurrent_connections = connections;
        r.rate = rate;
        r.generators = 4;
        r
    }

    #[test]
    fn parts_share_connections_and_rate() {
        let parts = split_request(&request(10, Some(2000.0)), 4);
        let connections: Vec<u32> = parts.iter().map(|p| p.concurrent_connections).collect();
        assert_eq!(connections, [3, 3, 2, 2]);
        assert!(parts
            .iter()
            .all(|p| p.rate == Some(500.0) && p.generators == 1));
        assert_eq!(split_request(&request(4, None), 4)[3].rate, None);
    }

    fn part(samples: &[u64], seconds: &[&[u64]]) -> BenchmarkResult {
        let mut h = new_histogram();
        for s in samples {
            record_us(&mut h, *s);
        }
        let mut result: BenchmarkResult = serde_json::from_value(serde_json::json!({
            "schema": crate::RESULT_SCHEMA, "spec": spec(), "model": "open",
            "started_at": "2026-12-06T12:00:00Z", "ended_at": "2026-12-06T12:00:02Z",
            "duration_s": 2.0, "requests": samples.len(), "errors": 0, "rps": 0.0,
            "requested_rps": 100.0, "latency_us": crate::LatencySummary::default(),
            "service_time_us": crate::LatencySummary::default(), "status_codes": {"200": samples.len()},
            "error_kinds": {}, "bytes_sent": 10, "bytes_received": 20, "timeline": [],
            "histogram": "", "service_histogram": "", "loadgen": LoadgenInfo::default()
        }))
        .unwrap();
        result.histogram = encode_base64(&h).unwrap();
        result.service_histogram = result.histogram.clone();
        for (i, second) in seconds.iter().enumerate() {
            let mut s = new_histogram();
            for v in *second {
                record_us(&mut s, *v);
            }
            result.timeline.push(TimelineEntry {
                second: i as u64,
                requests: second.len() as u64,
                requested: Some(50.0),
                ..TimelineEntry::default()
            });
            result.interval_histograms.push(encode_base64(&s).unwrap());
        }
        result
    }

    #[test]
    fn the_merge_is_the_histogram_of_every_sample() {
        let a = part(&[100, 200, 300], &[&[100, 200], &[300]]);
        let b = part(&[1000, 2000], &[&[1000], &[2000]]);
        let outcome = |id: &str, r: Option<BenchmarkResult>| PartOutcome {
            job_id: id.into(),
            error: r.is_none().then(|| "lost".to_string()),
            attempts: if id == "b" { 2 } else { 1 },
            result: r,
        };
        let merged = merge_parts(
            spec(),
            &[
                outcome("a", Some(a)),
                outcome("b", Some(b)),
                outcome("c", None),
            ],
        )
        .unwrap();
        let mut all = new_histogram();
        for v in [100, 200, 300, 1000, 2000] {
            record_us(&mut all, v);
        }
        assert_eq!(decode_base64(&merged.histogram).unwrap(), all);
        assert_eq!(merged.requests, 5);
        assert_eq!(merged.status_codes["200"], 5);
        assert_eq!(merged.requested_rps, Some(200.0));
        assert!((merged.rps - 2.5).abs() < 1e-9);
        assert_eq!(merged.timeline.len(), 2);
        assert_eq!(merged.timeline[1].requests, 2);
        let mut second = new_histogram();
        record_us(&mut second, 300);
        record_us(&mut second, 2000);
        assert_eq!(merged.timeline[1].p99_us, second.value_at_quantile(0.99));
        assert_eq!(merged.timeline[0].requested, Some(100.0));
        let info = merged.generators.unwrap();
        assert_eq!((info.count, info.completed), (3, 2));
        assert_eq!(info.failed[0].job_id, "c");
        assert_eq!(info.retried, [1], "b ran again, alone");
        assert!(merged.interval_histograms.is_empty());
        assert!(merge_parts(spec(), &[outcome("c", None)]).is_err());
    }
}
