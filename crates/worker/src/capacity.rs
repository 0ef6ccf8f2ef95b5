//! A capacity search through the platform (`find_max_rate` in a start request): each step
//! is a run of one series; when a step completes, the worker that ran it judges the steps so
//! far and queues the next rate, until the search is over (`meshbench_core::capacity`).

use meshbench_core::capacity::{self, Step};
use meshbench_core::stats::Threshold;
use meshbench_core::{
    BenchmarkJob, BenchmarkResult, JobKind, JobStatus, SeriesPlace, StartRequest,
};
use meshbench_store::{SeriesColumn, Store};
use time::OffsetDateTime;

use crate::{Result, Worker};

/// The search a run belongs to: its objectives, when its request asks for one.
fn search_of(job: &BenchmarkJob) -> Option<(StartRequest, Vec<Threshold>)> {
    let request: StartRequest = serde_json::from_value(job.request.clone()).ok()?;
    let slo = capacity::parse_slo(&request.find_max_rate.as_ref()?.slo).ok()?;
    Some((request, slo))
}

/// The steps a search's completed runs make, in run order.
pub(crate) async fn steps(
    store: &dyn Store,
    runs: &[BenchmarkJob],
    slo: &[Threshold],
) -> Result<(Vec<Step>, bool)> {
    let mut done = Vec::new();
    for run in runs.iter().filter(|r| r.status == JobStatus::Completed) {
        let Some(value) = store.get_result(&run.job_id).await? else {
            continue;
        };
        let Ok(result) = serde_json::from_value::<BenchmarkResult>(value) else {
            continue;
        };
        done.push((
            run.job_id.as_str(),
            capacity::requested_rate(&run.request),
            result,
        ));
    }
    Ok(capacity::steps_of(
        done.iter().map(|(id, rate, result)| (*id, *rate, result)),
        slo,
    ))
}

impl Worker {
    /// After run `id` ended: when it is a completed step of a search, queue the next step
    /// (a failed or cancelled step ends the search: halving past a broken target would
    /// measure nothing).
    pub(crate) async fn continue_search(&self, id: &str) -> Result<()> {
        let Some(job) = self.store.get_job(id).await? else {
            return Ok(());
        };
        let (Some(place), Some((request, slo))) = (job.series.clone(), search_of(&job)) else {
            return Ok(());
        };
        if job.status != JobStatus::Completed {
            return Ok(());
        }
        let runs = self
            .store
            .series_runs(SeriesColumn::Series, &place.series_id)
            .await?;
        if runs.iter().any(|r| !r.status.is_finished()) {
            return Ok(());
        }
        let (steps, _) = steps(self.store.as_ref(), &runs, &slo).await?;
        let Some(next) = capacity::next_rate(&steps) else {
            tracing::info!(series = %place.series_id, "capacity search done");
            return Ok(());
        };
        let mut next_request = request;
        next_request.rate = Some(next);
        let stored =
            serde_json::to_value(&next_request).map_err(|e| crate::Error::Encode(e.to_string()))?;
        let order = runs
            .iter()
            .filter_map(|r| r.series.as_ref().map(|p| p.order))
            .max()
            .unwrap_or(0)
            + 1;
        let step = BenchmarkJob {
            job_id: uuid::Uuid::new_v4().to_string(),
            status: JobStatus::Pending,
            created_at: OffsetDateTime::now_utc(),
            started_at: None,
            completed_at: None,
            progress: 0.0,
            error: None,
            request: stored,
            summary: None,
            attempts: 0,
            parent_id: None,
            series: Some(SeriesPlace { order, ..place }),
            invalid_reasons: Vec::new(),
            ..job
        };
        self.store
            .insert_jobs(std::slice::from_ref(&step), None)
            .await?;
        tracing::info!(series = ?step.series, rate = next, "capacity search: next step");
        self.queue.enqueue(JobKind::Benchmark, &step.job_id).await?;
        Ok(())
    }
}
