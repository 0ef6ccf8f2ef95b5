//! A benchmark whose load runs inside the cluster: the worker creates a Job of
//! `meshbench run` pods (one per generator, all starting at one agreed instant), watches it
//! to its end (cancel deletes it), reads each pod's JSON result from its log and stores
//! their merge as the run's result, like any other run's.

use std::time::Duration;

use meshbench_core::split::{load_pod_args, merge_parts, PartOutcome};
use meshbench_core::{BenchmarkResult, StartRequest};
use meshbench_k8s::load::{JobState, LoadPlan};
use meshbench_k8s::Cluster;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::{Ended, Result, Running, Verdict};

/// How long one watch of the Job lasts before the worker checks its own lease and cancel.
const WATCH: Duration = Duration::from_secs(2);
/// Time allowed, past the run's own length and the start delay, before Kubernetes stops
/// the Job.
const DEADLINE_SLACK_S: i64 = 120;

/// Runs `request`'s load in `cluster`, from Job to stored result.
pub(crate) async fn run(
    job: &Running<'_>,
    request: &StartRequest,
    cluster: &Cluster,
) -> Result<Ended> {
    let config = job.config();
    let start_at = OffsetDateTime::now_utc() + config.load_start_delay;
    let Ok(start_text) = start_at.format(&Rfc3339) else {
        return Ok(Ended::Failed("cannot format the start instant".into()));
    };
    let plan = LoadPlan {
        namespace: request.namespace.clone(),
        run_id: job.id().to_string(),
        generators: request.generators.max(1),
        image: config.image.clone(),
        node: request.node.clone(),
        args: load_pod_args(request, &start_text),
        deadline_s: i64::from(request.duration)
            + i64::from(request.warmup)
            + config.load_start_delay.as_secs() as i64
            + DEADLINE_SLACK_S,
    };
    let watch = crate::cluster::ClusterWatch::start(
        cluster.clone(),
        request.namespace.clone(),
        &request.mesh_type,
        config.metrics_interval,
    );
    let name = match cluster.create_load_job(&plan).await {
        Ok(name) => name,
        Err(e) => return Ok(Ended::Failed(format!("in_cluster: {e}"))),
    };
    tracing::info!(id = %job.id(), job = %name, namespace = %plan.namespace, "load Job created");
    let planned =
        (request.duration + request.warmup) as f64 + config.load_start_delay.as_secs_f64();
    let began = tokio::time::Instant::now();
    let deadline = began + Duration::from_secs(plan.deadline_s as u64 + 30);
    loop {
        match cluster.watch_load_job(&plan.namespace, &name, WATCH).await {
            Ok(JobState::Complete) => break,
            Ok(JobState::Failed(why)) => {
                return Ok(Ended::Failed(format!(
                    "in_cluster: the load Job {name} failed: {why}"
                )))
            }
            Ok(JobState::Running(_)) => {}
            // A watch that failed is retried on the next turn, bounded by the deadline.
            Err(e) => tracing::warn!(id = %job.id(), "watching load Job {name}: {e}"),
        }
        if tokio::time::Instant::now() > deadline {
            let _ = cluster.delete_load_job(&plan.namespace, &name).await;
            return Ok(Ended::Failed(format!(
                "in_cluster: the load Job {name} did not finish within {} s; deleted",
                plan.deadline_s + 30
            )));
        }
        let fraction = (began.elapsed().as_secs_f64() / planned.max(1.0)).clamp(0.0, 0.99);
        job.progress(fraction).await;
        match job.check().await {
            Verdict::Continue => {}
            Verdict::Lost => {
                // Someone else holds the job now; its Job stays theirs to watch.
                return Ok(Ended::Lost);
            }
            Verdict::Stop => {
                // What the pods measured goes with their Job: a cancelled in-cluster run
                // keeps no result.
                if let Err(e) = cluster.delete_load_job(&plan.namespace, &name).await {
                    tracing::warn!(id = %job.id(), "cannot delete load Job {name}: {e}");
                }
                return Ok(Ended::Finished {
                    cancelled: true,
                    note: None,
                });
            }
        }
    }
    let outputs = match cluster.load_job_logs(&plan.namespace, &name).await {
        Ok(outputs) => outputs,
        Err(e) => {
            return Ok(Ended::Failed(format!(
                "in_cluster: reading the load pods' results: {e}"
            )))
        }
    };
    let mut parts: Vec<PartOutcome> = (0..plan.generators)
        .map(|i| PartOutcome {
            job_id: format!("{name}/{i}"),
            result: None,
            error: Some("no pod of this index succeeded".into()),
            attempts: 1,
        })
        .collect();
    for output in outputs {
        let Some(part) = parts.get_mut(output.index as usize) else {
            continue;
        };
        part.job_id = format!("{}/{}", plan.namespace, output.pod);
        match serde_json::from_str::<BenchmarkResult>(output.log.trim()) {
            Ok(result) => {
                part.result = Some(result);
                part.error = None;
            }
            Err(e) => part.error = Some(format!("its log is not a meshbench result: {e}")),
        }
    }
    let mut result = if plan.generators == 1 {
        match parts.pop().and_then(|p| p.result) {
            Some(result) => result,
            None => {
                return Ok(Ended::Failed(format!(
                    "in_cluster: the load pod of {name} left no result"
                )))
            }
        }
    } else {
        match merge_parts(
            request.to_spec(request.service_url.as_deref().unwrap_or_default()),
            &parts,
        ) {
            Ok(merged) => merged,
            Err(e) => return Ok(Ended::Failed(format!("in_cluster: {e}"))),
        }
    };
    result.interval_histograms = Vec::new();
    result.cluster = Some(watch.finish(result.rps).await);
    if let Some(failed) = crate::benchmark::store_result(job, &result).await? {
        return Ok(failed);
    }
    let failed = parts.iter().filter(|p| p.result.is_none()).count();
    let note =
        (failed > 0).then(|| format!("{failed} of {} load pods produced no result", parts.len()));
    Ok(Ended::Finished {
        cancelled: false,
        note,
    })
}
