//! A benchmark job: the load engine on a blocking thread, with the eBPF probe beside it when
//! the request asks for kernel figures.

use std::time::Duration;

use hdrhistogram::Histogram;
use meshbench_core::result::TimelineEntry;
use meshbench_core::{
    native_bucket, BenchmarkResult, JobEventBody, JobKind, JobSummary, NativeBucket, StartRequest,
    LIVE_BUCKETS_US,
};
use meshbench_engine::{Observer, StopHandle};
use tokio::sync::mpsc;

use crate::{split, Ended, Result, Running, Verdict};

/// Runs the benchmark `job` names, from claim to stored result.
pub(crate) async fn run(job: &Running<'_>) -> Result<Ended> {
    let stored = job
        .store()
        .get_state(JobKind::Benchmark, job.id())
        .await?
        .and_then(|s| s.request);
    if stored.as_ref().is_some_and(split::is_split_run) {
        // Never queued by the API; its parts run it.
        tracing::warn!(id = %job.id(), "a split run's own job was delivered; its parts run it");
        return Ok(Ended::NotClaimed);
    }
    if let Some(reason) = &job.config().probe_unavailable {
        let wants_ebpf = stored
            .as_ref()
            .is_some_and(|r| r.get("ebpf") == Some(&serde_json::Value::Bool(true)));
        if wants_ebpf {
            // The kernel's figures must come from the host that runs the load.
            if job.any_worker_probes().await? {
                return Ok(Ended::Declined);
            }
            return Ok(Ended::Failed(format!(
                "ebpf: no live worker can probe; this one cannot: {reason}"
            )));
        }
    }
    if waits_its_turn(job).await? {
        return Ok(Ended::Declined);
    }
    let Some(state) = job.claim().await? else {
        return Ok(Ended::NotClaimed);
    };
    let Some(stored) = state.request else {
        return Ok(Ended::Failed("the job has no stored request".into()));
    };
    let part = split::part_of(&stored);
    let request: StartRequest = match split::part_request(&stored) {
        Ok(request) => request,
        Err(reason) => return Ok(Ended::Failed(reason)),
    };
    let target = match (&request.service_url, &job.config().default_target) {
        (Some(url), _) => url.clone(),
        (None, Some(default)) => default.clone(),
        (None, None) => {
            return Ok(Ended::Failed(
                "no service_url given and this worker has no built-in target".into(),
            ))
        }
    };
    if request.in_cluster {
        let Some(cluster) = job.config().kubernetes.clone() else {
            return Ok(Ended::Failed(
                "in_cluster: this worker has no Kubernetes cluster configured (KUBECONFIG)".into(),
            ));
        };
        return crate::in_cluster::run(job, &request, &cluster).await;
    }
    if let Some(topology) = request.lab_topology {
        return crate::lab::run(job, &request, topology).await;
    }
    if let (Some(policy), Some(url)) = (&job.config().target_policy, &request.service_url) {
        if let Err(reason) = aimed_where_allowed(policy, url).await {
            return Ok(Ended::Failed(format!("service_url: {reason}")));
        }
    }
    let spec = request.to_spec(&target);
    let planned = f64::from(request.duration) + f64::from(request.warmup);
    // The eBPF probe, when asked for, attaches before any load and counts the target's
    // port only; its seconds follow the engine's.
    let probe = if request.ebpf {
        match start_probe(&spec).await {
            Ok(probe) => Some(probe),
            Err(reason) => return Ok(Ended::Failed(format!("ebpf: {reason}"))),
        }
    } else {
        None
    };

    let cluster = job.config().kubernetes.clone().map(|c| {
        let interval = job.config().metrics_interval;
        crate::cluster::ClusterWatch::start(
            c,
            request.namespace.clone(),
            &request.mesh_type,
            interval,
        )
    });

    // A part starts measuring with its siblings, at the instant they all agree on.
    if let Some(part) = &part {
        match split::wait_for_siblings(job, part).await? {
            split::Start::At(at) => split::sleep_until(at).await,
            split::Start::Stop(Verdict::Lost) => return Ok(Ended::Lost),
            split::Start::Stop(_) => {
                return Ok(Ended::Finished {
                    cancelled: true,
                    note: None,
                })
            }
            split::Start::TimedOut(reason) => return Ok(Ended::Failed(reason)),
        }
    }
    let keep_intervals = part.is_some();
    let mut intervals: Vec<String> = Vec::new();

    let stop = StopHandle::new();
    let (tx, mut seconds) = mpsc::unbounded_channel();
    let engine_stop = stop.clone();
    let mut engine = tokio::task::spawn_blocking(move || {
        let mut observer = Forward { tx, keep_intervals };
        meshbench_drivers::run_spec(&spec, engine_stop, &mut observer)
    });
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut cancelled = false;
    let run = loop {
        tokio::select! {
            run = &mut engine => break run,
            Some((second, entry, interval, latency)) = seconds.recv() => {
                let (second, entry): (i64, TimelineEntry) = (second, entry);
                if let (Some(encoded), true) = (interval, second >= 0) {
                    intervals.push(encoded);
                }
                if let Some(probe) = &probe {
                    probe.engine_second(second);
                }
                let elapsed = (second + 1) as f64 + f64::from(request.warmup);
                let fraction = (elapsed / planned.max(1.0)).clamp(0.0, 1.0);
                job.progress(fraction).await;
                // The run's own row shows how far it is: its parts keep the same seconds,
                // so the first part's fraction is the run's.
                if let Some(part) = part.as_ref().filter(|p| p.index == 0) {
                    if let Err(e) = job.store().set_progress(JobKind::Benchmark, &part.parent_id, fraction).await {
                        tracing::warn!(run = %part.parent_id, "cannot record the run's progress: {e}");
                    }
                }
                job.publish(JobEventBody::Progress {
                    second,
                    elapsed_s: elapsed,
                    progress: fraction,
                    requests: entry.requests,
                    errors: entry.errors,
                    rps: entry.requests as f64,
                    p50_us: entry.p50_us,
                    p99_us: entry.p99_us,
                    latency_buckets: latency.buckets,
                    latency_sum_us: latency.sum_us,
                    latency_native: latency.native,
                    requested: entry.requested,
                }).await;
            }
            _ = ticker.tick() => match job.check().await {
                Verdict::Continue => {}
                Verdict::Stop => {
                    cancelled = true;
                    stop.stop();
                }
                Verdict::Lost => {
                    // Someone else holds the job now: stop, and report nothing.
                    stop.stop();
                    let _ = engine.await;
                    return Ok(Ended::Lost);
                }
            },
        }
    };
    // Seconds the engine sent as it ended, after the loop stopped reading.
    while let Ok((second, _, interval, _)) = seconds.try_recv() {
        if let (Some(encoded), true) = (interval, second >= 0) {
            intervals.push(encoded);
        }
    }
    let output = match run {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Ok(Ended::Failed(meshbench_core::error_chain(&e))),
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "the load engine stopped abnormally: {e}"
            )))
        }
    };
    let mut result = output.result;
    if keep_intervals {
        // Measured seconds only, one per timeline entry.
        intervals.truncate(result.timeline.len());
        result.interval_histograms = intervals;
    }
    if let Some(cluster) = cluster {
        result.cluster = Some(cluster.finish(result.rps).await);
    }
    let mut note = None;
    if let Some(probe) = probe {
        let seconds = result.timeline.len();
        match tokio::task::spawn_blocking(move || probe.finish(seconds)).await {
            Ok(Ok(report)) => result.kernel = Some(report),
            Ok(Err(e)) => note = Some(format!("ebpf: {e}")),
            Err(e) => note = Some(format!("ebpf: the probe stopped abnormally: {e}")),
        }
    }
    if let Some(failed) = store_result(job, &result).await? {
        return Ok(failed);
    }
    // A probe that failed after a good run costs the kernel figures, not the run.
    Ok(Ended::Finished { cancelled, note })
}

/// Saves `result` as the job's (store, raw files under RESULTS_DIR, summary event);
/// `Some(Ended::Failed)` when it cannot be encoded.
pub(crate) async fn store_result(
    job: &Running<'_>,
    result: &BenchmarkResult,
) -> Result<Option<Ended>> {
    let summary = summary_of(result);
    let value = match serde_json::to_value(result) {
        Ok(value) => value,
        Err(e) => {
            return Ok(Some(Ended::Failed(format!(
                "cannot encode the result: {e}"
            ))))
        }
    };
    let invalid = invalid_reasons(result);
    job.store()
        .save_result(job.id(), &value, &summary, &invalid)
        .await?;
    let (dir, id) = (job.config().results_dir.clone(), job.id().to_string());
    let written =
        tokio::task::spawn_blocking(move || meshbench_store::write_result_files(&dir, &id, &value))
            .await;
    match written {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(
            job_id = %job.id(),
            error = &e as &dyn std::error::Error,
            "cannot write raw result files"
        ),
        Err(e) => tracing::warn!(job_id = %job.id(), "cannot write raw result files: {e}"),
    }
    job.publish(JobEventBody::Summary { summary }).await;
    Ok(None)
}

/// Attaches the eBPF probe for a run of `spec`, filtered on its target's port.
async fn start_probe(
    spec: &meshbench_core::BenchmarkSpec,
) -> std::result::Result<meshbench_probe::ProbeBeside, String> {
    let url = spec
        .requests
        .first()
        .map(|r| r.url.as_str())
        .unwrap_or_default();
    let filter = meshbench_probe::ProbeFilter::for_target(url)
        .map_err(|e| meshbench_core::error_chain(&e))?;
    tokio::task::spawn_blocking(move || meshbench_probe::ProbeBeside::start(filter))
        .await
        .map_err(|e| format!("the probe could not start: {e}"))?
        .map_err(|e| meshbench_core::error_chain(&e))
}

/// Why a finished run cannot be compared (empty when it can): stored with the run, so
/// listings mark it and summaries leave it out.
pub fn invalid_reasons(result: &BenchmarkResult) -> Vec<String> {
    meshbench_core::stats::invalid_reasons(result, meshbench_core::compare::DEFAULT_MAX_ERROR_RATE)
}

/// Whether runs of the same series group come before this one and are not finished: a
/// series' runs go one at a time, in their interleaved order, whatever the worker count.
async fn waits_its_turn(job: &Running<'_>) -> Result<bool> {
    let Some(me) = job.store().get_job(job.id()).await? else {
        return Ok(false);
    };
    let Some(place) = me.series else {
        return Ok(false);
    };
    let group = job
        .store()
        .series_runs(meshbench_store::SeriesColumn::Group, &place.group)
        .await?;
    Ok(group.iter().any(|run| {
        run.series.as_ref().is_some_and(|p| p.order < place.order) && !run.status.is_finished()
    }))
}

/// The headline numbers of a result.
pub fn summary_of(result: &BenchmarkResult) -> JobSummary {
    let l = &result.latency_us;
    JobSummary {
        requests: result.requests,
        errors: result.errors,
        rps: result.rps,
        p50_us: l.p50,
        p90_us: l.p90,
        p99_us: l.p99,
        p999_us: l.p999,
        max_us: l.max,
    }
}

/// Sends each finished second from the engine's thread to the worker's task.
/// One second as the engine reported it: its timeline entry, its histogram encoded (when
/// kept), and its latencies as `/metrics` counts them.
type Second = (i64, TimelineEntry, Option<String>, LiveLatency);

struct Forward {
    tx: mpsc::UnboundedSender<Second>,
    /// Send each measured second's histogram too (parts of split runs: their seconds
    /// merge exactly).
    keep_intervals: bool,
}

impl Observer for Forward {
    fn second(&mut self, second: i64, entry: &TimelineEntry, latency: &Histogram<u64>) {
        let interval = (self.keep_intervals && second >= 0)
            .then(|| meshbench_core::histogram::encode_base64(latency).ok())
            .flatten();
        // `/metrics` counts measured seconds only: warm-up latencies are not walked.
        let live = if second >= 0 {
            live_buckets(latency)
        } else {
            LiveLatency::default()
        };
        // The receiver is gone only when the job was abandoned (lease lost).
        let _ = self.tx.send((second, entry.clone(), interval, live));
    }
}

/// A second's latencies as `/metrics` shows them while a job runs (all empty for a warm-up
/// second).
#[derive(Debug, Default)]
struct LiveLatency {
    /// Counted in each bucket of [`LIVE_BUCKETS_US`] (at most its bound, above the one
    /// before), then above the last.
    buckets: Vec<u64>,
    /// Their sum, µs.
    sum_us: f64,
    /// Counted in native buckets, by rising index.
    native: Vec<NativeBucket>,
}

/// Counts a second's latencies for `/metrics`. It runs on the engine's thread once a
/// second, so it walks the recorded values once (a few thousand at most) rather than
/// counting a range per bucket.
fn live_buckets(latency: &Histogram<u64>) -> LiveLatency {
    let mut live = LiveLatency {
        buckets: vec![0; LIVE_BUCKETS_US.len() + 1],
        sum_us: 0.0,
        native: Vec::new(),
    };
    for v in latency.iter_recorded() {
        let value = v.value_iterated_to();
        let n = v.count_since_last_iteration();
        let bucket = LIVE_BUCKETS_US.partition_point(|bound| *bound < value);
        live.buckets[bucket] += n;
        // The value an hdrhistogram bucket stands for, as its percentiles report it.
        let median = latency.median_equivalent(value);
        live.sum_us += median as f64 * n as f64;
        // Values come in rising order, so equal native buckets are neighbours.
        let index = native_bucket(median);
        match live.native.last_mut() {
            Some(last) if last.index == index => last.count += n,
            _ => live.native.push(NativeBucket { index, count: n }),
        }
    }
    live
}

/// Resolves `url`'s host now and checks it against `policy`: the API did at the start, but
/// a name may resolve elsewhere by the time the job runs (DNS rebinding).
async fn aimed_where_allowed(
    policy: &meshbench_core::policy::TargetPolicy,
    url: &str,
) -> std::result::Result<(), String> {
    policy
        .check_url(url, |host, port| async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                tokio::net::lookup_host((host.as_str(), port)),
            )
            .await
            .map_err(|_| format!("`{host}` did not resolve within 5 s"))?
            .map_err(|e| format!("`{host}` does not resolve ({e})"))
            .map(|found| found.map(|a| a.ip()).collect())
        })
        .await
        .map_err(|refusal| refusal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_buckets_count_each_latency_once() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in [40, 50, 51, 100, 900, 1_000, 40_000_000] {
            h.record(v).unwrap();
        }
        let LiveLatency {
            buckets,
            sum_us: sum,
            native,
        } = live_buckets(&h);
        assert_eq!(buckets.len(), LIVE_BUCKETS_US.len() + 1);
        assert_eq!(buckets.iter().sum::<u64>(), 7);
        assert_eq!(&buckets[..5], &[2, 2, 0, 0, 2]);
        assert_eq!(
            buckets[LIVE_BUCKETS_US.len()],
            1,
            "40 s is above the last bound"
        );
        assert!((sum - 40_002_142.0).abs() / 40_002_142.0 < 0.01, "{sum}");
        // 50 and 51 µs share a native bucket; 900 µs lies below 1 ms's (976.6–1064.3 µs).
        // Every latency counted once, indices rising.
        assert_eq!(native.iter().map(|b| b.count).sum::<u64>(), 7);
        assert!(native.windows(2).all(|w| w[0].index < w[1].index));
        let of = |us| {
            native
                .iter()
                .find(|b| b.index == native_bucket(us))
                .map(|b| b.count)
        };
        assert_eq!(of(50), Some(2));
        assert_eq!(of(1_000), Some(1));
        assert_eq!(of(40_000_000), Some(1));
    }
}
