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
    let (cgroup_trees, pods) = match &request.namespace {
        Some(namespace) => match pod_cgroups(job, namespace, request.pod_filter.as_deref()).await {
            Ok(found) => found.into_iter().unzip(),
            Err(reason) => return Ok(Ended::Failed(reason)),
        },
        None => (Vec::new(), Vec::new()),
    };
    let filter = ProbeFilter {
        ports: request.ports.clone(),
        pid: request.pid,
        cgroup: request.cgroup.as_ref().map(std::path::PathBuf::from),
        cgroup_trees,
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
    let mut report = match outcome {
        Ok(Ok(report)) => report,
        Ok(Err(e)) => return Ok(Ended::Failed(meshbench_core::error_chain(&e))),
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "the probe thread ended abnormally: {e}"
            )))
        }
    };
    report.filter.pods = pods;
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

/// The cgroups of `namespace`'s pods on this worker's node (those whose name starts with
/// `prefix`, when given), each with its `namespace/pod`; or why there are none.
async fn pod_cgroups(
    job: &Running<'_>,
    namespace: &str,
    prefix: Option<&str>,
) -> std::result::Result<Vec<(std::path::PathBuf, String)>, String> {
    let Some(cluster) = job.config().kubernetes.as_ref() else {
        return Err(
            "filtering by pod needs a Kubernetes cluster, and this worker has none configured"
                .into(),
        );
    };
    // In a DaemonSet the node's name comes from the downward API; else the host's name.
    let node = std::env::var("NODE_NAME").unwrap_or_else(|_| job.config().host.clone());
    let pods = cluster
        .pods_on_node(namespace, prefix, &node)
        .await
        .map_err(|e| e.to_string())?;
    let Some(mount) = meshbench_probe::cgroup2_mount() else {
        return Err("no cgroup v2 mount on this host: pods cannot be told apart".into());
    };
    let found: Vec<(std::path::PathBuf, String)> = tokio::task::spawn_blocking(move || {
        pods.into_iter()
            .filter_map(|(name, uid)| {
                meshbench_probe::find_pod_cgroup(&mount, &uid).map(|dir| (dir, name))
            })
            .collect()
    })
    .await
    .map_err(|e| format!("looking for the pods' cgroups stopped abnormally: {e}"))?;
    if found.is_empty() {
        let which = prefix.map(|p| format!(" named {p}…")).unwrap_or_default();
        return Err(format!(
            "no pod of namespace {namespace}{which} runs on node {node} with a cgroup on this host"
        ));
    }
    Ok(found
        .into_iter()
        .map(|(dir, name)| (dir, format!("{namespace}/{name}")))
        .collect())
}
