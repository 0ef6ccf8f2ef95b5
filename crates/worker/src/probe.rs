//! An eBPF probe run: the probe on a blocking thread of the worker's host, counting for the
//! run's duration or until stopped. The run turns `running` once the programs are attached,
//! so "running" means "counting".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meshbench_core::probe::ProbeTimelineEntry;
use meshbench_core::{JobEventBody, JobKind, JobStatus, ProbeRequest};
use meshbench_probe::{ProbeError, ProbeFilter};
use tokio::sync::mpsc;

use crate::{Ended, Result, Running, Verdict};

/// Whether this host can run probes: the cheap checks (root, BTF, tracefs, each
/// tracepoint), then one trial load so the verifier's answer is known before a run is taken.
pub fn can_probe() -> std::result::Result<(), ProbeError> {
    meshbench_probe::availability()?;
    meshbench_probe::Probe::start(&ProbeFilter::default()).map(drop)
}

/// What the probe's thread tells the worker.
enum Event {
    Attached,
    Second(ProbeTimelineEntry),
}

/// Runs the probe run `job` names, from attach to stored report.
pub(crate) async fn run(job: &Running<'_>) -> Result<Ended> {
    let Some(state) = job.store().get_state(JobKind::Probe, job.id()).await? else {
        return Ok(Ended::NotClaimed);
    };
    if state.status != JobStatus::Pending {
        return Ok(Ended::NotClaimed);
    }
    let request: ProbeRequest = match state.request.map(serde_json::from_value).transpose() {
        Ok(request) => request.unwrap_or_default(),
        Err(e) => return Ok(Ended::Failed(format!("stored request is unreadable: {e}"))),
    };
    let filter = ProbeFilter {
        ports: request.ports.clone(),
        pid: request.pid,
        cgroup: request.cgroup.as_ref().map(std::path::PathBuf::from),
        connection_events: false,
        max_new_connections: request.max_new_connections,
    };
    let duration = Duration::from_secs(u64::from(request.duration));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, mut events) = mpsc::unbounded_channel();
    let flag = Arc::clone(&stop);
    let mut probe = tokio::task::spawn_blocking(move || {
        let seconds = tx.clone();
        meshbench_probe::run_attached(
            &filter,
            duration,
            &flag,
            // A closed channel means the run was abandoned; nothing to tell.
            || drop(tx.send(Event::Attached)),
            |second| drop(seconds.send(Event::Second(second.timeline_entry()))),
        )
    });
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut claimed = false;
    let mut stopped = false;
    let mut elapsed = 0u64;
    let outcome = loop {
        // Events first: the probe's last seconds, and its attachment, must be seen before
        // its end is.
        tokio::select! {
            biased;
            Some(event) = events.recv() => match event {
                Event::Attached => {
                    // Stopped while attaching (a shutdown): leave the run for another worker.
                    let claim = if stopped { Ok(None) } else { job.claim().await };
                    match claim {
                        Ok(Some(_)) => claimed = true,
                        not_ours => {
                            // Cancelled, taken elsewhere, or the store failed: never leave
                            // the programs attached behind us.
                            stop.store(true, Ordering::Relaxed);
                            let _ = probe.await;
                            return not_ours.map(|_| Ended::NotClaimed);
                        }
                    }
                }
                Event::Second(entry) => {
                    elapsed += 1;
                    job.progress(elapsed as f64 / duration.as_secs_f64().max(1.0)).await;
                    job.publish(JobEventBody::ProbeProgress { entry }).await;
                }
            },
            _ = ticker.tick() => match job.check().await {
                Verdict::Continue => {}
                Verdict::Stop => {
                    stopped = true;
                    stop.store(true, Ordering::Relaxed);
                }
                Verdict::Lost => {
                    stop.store(true, Ordering::Relaxed);
                    let _ = probe.await;
                    return Ok(Ended::Lost);
                }
            },
            outcome = &mut probe => break outcome,
        }
    };
    if !claimed {
        // Ended before it attached; a failure to attach is reported below.
        if let Ok(Ok(_)) = &outcome {
            return Ok(Ended::NotClaimed);
        }
    }
    let report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return Ok(Ended::Failed(meshbench_core::error_chain(&e))),
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "the probe thread ended abnormally: {e}"
            )))
        }
    };
    let value = match serde_json::to_value(&report) {
        Ok(value) => value,
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "the report could not be stored: {e}"
            )))
        }
    };
    job.store().save_probe_result(job.id(), &value).await?;
    Ok(Ended::Finished {
        cancelled: stopped,
        note: None,
    })
}
