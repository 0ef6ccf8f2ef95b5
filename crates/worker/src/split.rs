//! Parts of a run split over several generators. Each part is a job like any other (leased,
//! heartbeated, retried); on top of that it waits for its siblings so that all start
//! measuring at one agreed instant, and the last part to end merges every part's result
//! into the run's ([`meshbench_core::split::merge_parts`]).

use std::time::Duration;

use meshbench_core::split::{merge_parts, PartOf, PartOutcome, PART_KEY};
use meshbench_core::{BenchmarkResult, JobEventBody, JobStatus, StartRequest};
use meshbench_store::JobUpdate;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{Result, Running, Verdict, Worker};

/// How long a part waits for its siblings to be taken by workers.
pub(crate) const START_WAIT: Duration = Duration::from_secs(60);
/// How far after the last sibling's start the agreed instant lies: time for every part to
/// see that all have started.
const START_MARGIN: Duration = Duration::from_secs(1);

/// Which run a stored request is a part of, if it is one.
pub(crate) fn part_of(request: &Value) -> Option<PartOf> {
    serde_json::from_value(request.get(PART_KEY)?.clone()).ok()
}

/// Whether a stored request is a split run's own (driven by its parts, never run itself).
pub(crate) fn is_split_run(request: &Value) -> bool {
    let generators = request
        .get("generators")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let in_cluster = request
        .get("in_cluster")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    request.get(PART_KEY).is_none() && generators > 1 && !in_cluster
}

/// The request a part runs: its stored request without the part marker.
pub(crate) fn part_request(request: &Value) -> std::result::Result<StartRequest, String> {
    let mut request = request.clone();
    if let Some(map) = request.as_object_mut() {
        map.remove(PART_KEY);
    }
    serde_json::from_value(request).map_err(|e| format!("stored request is unreadable: {e}"))
}

/// What waiting for the siblings came to.
pub(crate) enum Start {
    /// Start measuring at this instant.
    At(OffsetDateTime),
    /// Stop: cancelled, shut down or lost while waiting.
    Stop(Verdict),
    /// The siblings did not all start in time.
    TimedOut(String),
}

/// Marks the run running, then waits until every part has been taken; the agreed instant
/// is the same for every part: the latest part's start plus a margin.
pub(crate) async fn wait_for_siblings(job: &Running<'_>, part: &PartOf) -> Result<Start> {
    let started = JobUpdate {
        started_at: Some(OffsetDateTime::now_utc()),
        ..JobUpdate::default()
    };
    let store = job.store();
    let run = &part.parent_id;
    if store
        .transition(
            meshbench_core::JobKind::Benchmark,
            run,
            &[JobStatus::Pending],
            JobStatus::Running,
            &started,
        )
        .await?
        .is_some()
    {
        job.worker
            .publish_status(run, JobStatus::Running, None)
            .await;
    }
    let deadline = tokio::time::Instant::now() + START_WAIT;
    let mut next_check = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        let parts = store.parts_of(run).await?;
        let starts: Vec<Option<OffsetDateTime>> = parts.iter().map(|p| p.started_at).collect();
        if parts.len() as u32 >= part.of && starts.iter().all(Option::is_some) {
            let last = starts
                .into_iter()
                .flatten()
                .max()
                .unwrap_or_else(OffsetDateTime::now_utc);
            return Ok(Start::At(last + START_MARGIN));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            let taken = starts.iter().filter(|s| s.is_some()).count();
            return Ok(Start::TimedOut(format!(
                "only {taken} of {} generators were taken by a worker within {} s: the run needs \
                 that many free workers",
                part.of,
                START_WAIT.as_secs()
            )));
        }
        if now >= next_check {
            next_check = now + Duration::from_secs(1);
            match job.check().await {
                Verdict::Continue => {}
                other => return Ok(Start::Stop(other)),
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sleeps until wall-clock instant `at` (at once when it has passed).
pub(crate) async fn sleep_until(at: OffsetDateTime) {
    let wait = at - OffsetDateTime::now_utc();
    if wait.is_positive() {
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

impl Worker {
    /// After job `id` ended: when it is part of a split run and every part has ended, merges
    /// their results into the run's and ends the run. Whichever part ends last does it (two
    /// at once both merge the same parts, and the upsert makes that harmless); the
    /// reconciler does it for a run whose last part's worker died first.
    pub(crate) async fn settle_split(&self, run_id: &str) -> Result<()> {
        let Some(run) = self.store.get_job(run_id).await? else {
            return Ok(());
        };
        if run.status.is_finished() {
            return Ok(());
        }
        let parts = self.store.parts_of(run_id).await?;
        if parts.is_empty() || parts.iter().any(|p| !p.status.is_finished()) {
            return Ok(());
        }
        let mut outcomes = Vec::with_capacity(parts.len());
        for p in &parts {
            let result = match self.store.get_result(&p.job_id).await? {
                Some(value) => match serde_json::from_value::<BenchmarkResult>(value) {
                    Ok(result) => Some(result),
                    Err(e) => {
                        tracing::warn!(part = %p.job_id, "unreadable part result: {e}");
                        None
                    }
                },
                None => None,
            };
            outcomes.push(PartOutcome {
                job_id: p.job_id.clone(),
                attempts: p.attempts,
                error: match (&result, &p.error) {
                    (None, Some(e)) => Some(format!("{}: {e}", p.status)),
                    (None, None) => Some(format!("{} without a result", p.status)),
                    _ => None,
                },
                result,
            });
        }
        let request: Option<StartRequest> = serde_json::from_value(run.request.clone()).ok();
        let target = outcomes
            .iter()
            .find_map(|o| o.result.as_ref())
            .and_then(|r| r.spec.requests.first().map(|q| q.url.clone()));
        let all_cancelled = parts.iter().all(|p| p.status == JobStatus::Cancelled);
        let (status, error, summary) = match (request, target) {
            (Some(request), Some(target)) => match merge_parts(request.to_spec(&target), &outcomes)
            {
                Ok(merged) => {
                    let summary = crate::benchmark::summary_of(&merged);
                    let value = match serde_json::to_value(&merged) {
                        Ok(value) => value,
                        Err(e) => {
                            return self
                                .end_split(
                                    run_id,
                                    JobStatus::Failed,
                                    Some(format!("cannot encode the merged result: {e}")),
                                    None,
                                )
                                .await
                        }
                    };
                    let invalid = crate::benchmark::invalid_reasons(&merged);
                    self.store
                        .save_result(run_id, &value, &summary, &invalid)
                        .await?;
                    let failed = outcomes.iter().filter(|o| o.result.is_none()).count();
                    let note = (failed > 0).then(|| {
                        format!(
                            "{failed} of {} generators produced no result",
                            outcomes.len()
                        )
                    });
                    let status = if parts.iter().any(|p| p.status == JobStatus::Cancelled) {
                        JobStatus::Cancelled
                    } else {
                        JobStatus::Completed
                    };
                    (status, note, Some(summary))
                }
                Err(e) => (JobStatus::Failed, Some(e.to_string()), None),
            },
            _ => {
                let causes: Vec<String> = outcomes
                    .iter()
                    .enumerate()
                    .map(|(i, o)| format!("generator {i}: {}", o.error.clone().unwrap_or_default()))
                    .collect();
                let status = if all_cancelled {
                    JobStatus::Cancelled
                } else {
                    JobStatus::Failed
                };
                (
                    status,
                    Some(format!(
                        "no generator produced a result ({})",
                        causes.join("; ")
                    )),
                    None,
                )
            }
        };
        self.end_split(run_id, status, error, summary).await
    }

    /// Ends split run `run_id` with `status`, and says so.
    async fn end_split(
        &self,
        run_id: &str,
        status: JobStatus,
        error: Option<String>,
        summary: Option<meshbench_core::JobSummary>,
    ) -> Result<()> {
        let update = JobUpdate {
            completed_at: Some(OffsetDateTime::now_utc()),
            progress: (status == JobStatus::Completed).then_some(1.0),
            error: error.clone(),
            ..JobUpdate::default()
        };
        let from = [JobStatus::Pending, JobStatus::Running];
        let moved = self
            .store
            .transition(
                meshbench_core::JobKind::Benchmark,
                run_id,
                &from,
                status,
                &update,
            )
            .await?;
        if moved.is_some() {
            if let Some(summary) = summary {
                self.publish(run_id, JobEventBody::Summary { summary })
                    .await;
            }
            self.publish_status(run_id, status, error).await;
        }
        Ok(())
    }
}
