//! The worker: takes a job from the queue, runs it on the load engine, keeps the store and
//! the live event bus up to date, and acknowledges it.
//!
//! The store's compare-and-set transitions are what make delivery safe: the queue delivers
//! at least once (a lease that lapses is handed out again), but only the worker that moves
//! a job from `pending` to `running` runs it, and a job cancelled meanwhile is never marked
//! completed. A lease is renewed every second while the engine runs; a worker that dies
//! stops renewing, and whoever reclaims the lapsed lease requeues the job or, after
//! `max_attempts`, marks it failed with the reason — never left `running`.
#![deny(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use meshbench_core::result::TimelineEntry;
use meshbench_core::{
    BenchmarkResult, JobEvent, JobEventBody, JobStatus, JobSummary, StartRequest,
};
use meshbench_engine::{Observer, StopHandle};
use meshbench_queue::{EventBus, JobQueue, Lease};
use meshbench_store::{JobUpdate, Store};
use time::OffsetDateTime;
use tokio::sync::{mpsc, watch};

/// Why the worker could not do its part (the job itself failing is an outcome, not this).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] meshbench_store::Error),
    /// The queue failed.
    #[error("queue: {0}")]
    Queue(#[from] meshbench_queue::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases and logs.
    pub worker_id: String,
    /// Target for jobs without a `service_url` (the built-in target in embedded mode).
    pub default_target: Option<String>,
    /// Raw results go to `results_dir/<job_id>/`.
    pub results_dir: PathBuf,
    /// Takes of one job before a lost worker makes it fail instead of retrying.
    pub max_attempts: u32,
    /// How long one `take` waits for a job.
    pub poll: Duration,
}

/// What one step of the worker did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No job arrived within the poll time.
    Idle,
    /// A job ran and ended with this status.
    Ran {
        /// The job.
        job_id: String,
        /// How it ended.
        status: JobStatus,
    },
    /// A delivered job was no longer pending (cancelled, or taken by another worker).
    Skipped {
        /// The job.
        job_id: String,
    },
}

/// A worker bound to a store, a queue and an event bus.
#[derive(Clone)]
pub struct Worker {
    store: Arc<dyn Store>,
    queue: Arc<dyn JobQueue>,
    bus: Arc<dyn EventBus>,
    config: Arc<WorkerConfig>,
}

impl Worker {
    /// A worker; nothing runs until [`Worker::run`] or [`Worker::try_execute_one`].
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        bus: Arc<dyn EventBus>,
        config: WorkerConfig,
    ) -> Self {
        Worker {
            store,
            queue,
            bus,
            config: Arc::new(config),
        }
    }

    /// Takes and runs jobs until `shutdown` turns true. A job running at shutdown is
    /// stopped and stored as it stands (cancelled, with its partial result).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        // Idle waits last one poll at most, so shutdown is seen within a second.
        while !*shutdown.borrow() {
            if let Err(e) = self.try_execute_one_until(shutdown.clone()).await {
                tracing::warn!(worker = %self.config.worker_id, "worker step failed: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Puts the store's unfinished jobs back in motion after a (re)start: pending jobs are
    /// queued again (enqueue is idempotent), and with `orphaned_running` — an in-process
    /// queue, whose leases died with the old process — running jobs are requeued, or failed
    /// once they used up their attempts. Returns how many jobs it touched.
    pub async fn recover_after_restart(&self, orphaned_running: bool) -> Result<usize> {
        let mut touched = 0;
        let mut statuses = vec![JobStatus::Pending];
        if orphaned_running {
            statuses.push(JobStatus::Running);
        }
        for status in statuses {
            let mut offset = 0;
            loop {
                let filter = meshbench_core::JobFilter {
                    status: Some(status),
                    limit: Some(meshbench_store::MAX_LIST_LIMIT),
                    offset: Some(offset),
                    ..Default::default()
                };
                let page = self.store.list_jobs(&filter).await?;
                if page.is_empty() {
                    break;
                }
                offset += page.len() as u32;
                for job in page {
                    touched += 1;
                    if job.status == JobStatus::Pending {
                        self.queue.enqueue(&job.job_id).await?;
                    } else {
                        let reason = format!(
                            "the server stopped while the job ran (attempt {})",
                            job.attempts
                        );
                        self.requeue_or_fail(&job, reason).await?;
                    }
                }
                if status == JobStatus::Running {
                    // Requeued jobs left the running set, so the next page starts at 0 again.
                    offset = 0;
                }
            }
        }
        Ok(touched)
    }

    /// A running job whose worker is gone: back to the queue while it has attempts left,
    /// else failed with `reason`.
    async fn requeue_or_fail(
        &self,
        job: &meshbench_core::BenchmarkJob,
        reason: String,
    ) -> Result<()> {
        if job.attempts >= self.config.max_attempts {
            return self
                .finish(&job.job_id, JobStatus::Failed, Some(reason))
                .await;
        }
        let requeued = self
            .store
            .transition(
                &job.job_id,
                &[JobStatus::Running],
                JobStatus::Pending,
                &JobUpdate::default(),
            )
            .await?;
        if requeued.is_some() {
            tracing::warn!(job_id = %job.job_id, attempts = job.attempts, "{reason}; job requeued");
            self.queue.enqueue(&job.job_id).await?;
            self.publish(
                &job.job_id,
                JobEventBody::Status {
                    status: JobStatus::Pending,
                    error: None,
                },
            )
            .await;
        }
        Ok(())
    }

    /// One step: reclaim lapsed leases, then take and run at most one job.
    pub async fn try_execute_one(&self) -> Result<Outcome> {
        let (_never, rx) = watch::channel(false);
        self.try_execute_one_until(rx).await
    }

    async fn try_execute_one_until(&self, shutdown: watch::Receiver<bool>) -> Result<Outcome> {
        self.reclaim().await?;
        let Some(lease) = self
            .queue
            .take(&self.config.worker_id, self.config.poll)
            .await?
        else {
            return Ok(Outcome::Idle);
        };
        let outcome = self.execute(&lease, shutdown).await;
        self.queue.ack(&lease).await?;
        outcome
    }

    /// Requeues (or fails) jobs whose worker stopped renewing its lease.
    async fn reclaim(&self) -> Result<()> {
        for expired in self.queue.reclaim_expired().await? {
            let job_id = expired.job_id;
            let Some(job) = self.store.get_job(&job_id).await? else {
                continue;
            };
            if job.status != JobStatus::Running {
                if job.status == JobStatus::Pending {
                    // Lost between take and start: deliver it again.
                    self.queue.enqueue(&job_id).await?;
                }
                continue;
            }
            let reason = format!(
                "worker lost (no heartbeat for {:.0} s) on attempt {} of {}",
                self.queue.visibility().as_secs_f64(),
                job.attempts,
                self.config.max_attempts
            );
            self.requeue_or_fail(&job, reason).await?;
        }
        Ok(())
    }

    async fn execute(&self, lease: &Lease, mut shutdown: watch::Receiver<bool>) -> Result<Outcome> {
        let job_id = lease.job_id.clone();
        let started = JobUpdate {
            started_at: Some(OffsetDateTime::now_utc()),
            increment_attempts: true,
            ..JobUpdate::default()
        };
        let Some(job) = self
            .store
            .transition(&job_id, &[JobStatus::Pending], JobStatus::Running, &started)
            .await?
        else {
            return Ok(Outcome::Skipped { job_id });
        };
        self.publish(
            &job_id,
            JobEventBody::Status {
                status: JobStatus::Running,
                error: None,
            },
        )
        .await;

        let request: StartRequest = match serde_json::from_value(job.request.clone()) {
            Ok(request) => request,
            Err(e) => {
                return self
                    .fail(&job_id, format!("stored request is unreadable: {e}"))
                    .await
            }
        };
        let target = match (&request.service_url, &self.config.default_target) {
            (Some(url), _) => url.clone(),
            (None, Some(default)) => default.clone(),
            (None, None) => {
                return self
                    .fail(
                        &job_id,
                        "no service_url given and this worker has no built-in target".into(),
                    )
                    .await
            }
        };
        let spec = request.to_spec(&target);
        let planned = f64::from(request.duration) + f64::from(request.warmup);
        // The eBPF probe, when asked for, attaches before any load and counts the target's
        // port only; its seconds follow the engine's.
        let probe = if request.ebpf {
            match start_probe(&spec).await {
                Ok(probe) => Some(probe),
                Err(reason) => return self.fail(&job_id, format!("ebpf: {reason}")).await,
            }
        } else {
            None
        };

        let stop = StopHandle::new();
        let (tx, mut progress) = mpsc::unbounded_channel();
        let engine_stop = stop.clone();
        let mut engine = tokio::task::spawn_blocking(move || {
            let mut observer = Forward { tx };
            meshbench_drivers::run_spec(&spec, engine_stop, &mut observer)
        });
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        let mut cancelled = false;
        let mut lost = false;
        let mut shutdown_live = true;
        let run = loop {
            tokio::select! {
                run = &mut engine => break run,
                Some((second, entry)) = progress.recv() => {
                    let second: i64 = second;
                    let entry: TimelineEntry = entry;
                    if let Some(probe) = &probe {
                        probe.engine_second(second);
                    }
                    let fraction = ((second + 1) as f64 + f64::from(request.warmup)) / planned.max(1.0);
                    let fraction = fraction.clamp(0.0, 1.0);
                    let _ = self.store.set_progress(&job_id, fraction).await;
                    self.publish(&job_id, JobEventBody::Progress {
                        second,
                        elapsed_s: (second + 1) as f64 + f64::from(request.warmup),
                        progress: fraction,
                        requests: entry.requests,
                        errors: entry.errors,
                        rps: entry.requests as f64,
                        p50_us: entry.p50_us,
                        p99_us: entry.p99_us,
                    }).await;
                }
                _ = ticker.tick() => {
                    match self.queue.heartbeat(lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            // Someone reclaimed the lease: the job is theirs now.
                            lost = true;
                            stop.stop();
                        }
                        Err(e) => tracing::warn!(%job_id, "heartbeat failed: {e}"),
                    }
                    if !cancelled && self.queue.is_cancel_requested(&job_id).await.unwrap_or(false) {
                        cancelled = true;
                        stop.stop();
                    }
                }
                changed = shutdown.changed(), if shutdown_live => {
                    // A dropped sender means nobody will ask for shutdown any more.
                    shutdown_live = changed.is_ok();
                    if shutdown_live && *shutdown.borrow() {
                        cancelled = true;
                        stop.stop();
                    }
                }
            }
        };
        if lost {
            return Ok(Outcome::Skipped { job_id });
        }
        let output = match run {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => return self.fail(&job_id, meshbench_core::error_chain(&e)).await,
            Err(e) => {
                return self
                    .fail(&job_id, format!("the load engine stopped abnormally: {e}"))
                    .await
            }
        };
        let mut result = output.result;
        let mut note = None;
        if let Some(probe) = probe {
            let seconds = result.timeline.len();
            match tokio::task::spawn_blocking(move || probe.finish(seconds)).await {
                Ok(Ok(report)) => result.kernel = Some(report),
                Ok(Err(e)) => note = Some(format!("ebpf: {e}")),
                Err(e) => note = Some(format!("ebpf: the probe stopped abnormally: {e}")),
            }
        }
        let summary = summary_of(&result);
        let value = match serde_json::to_value(&result) {
            Ok(value) => value,
            Err(e) => {
                return self
                    .fail(&job_id, format!("cannot encode the result: {e}"))
                    .await
            }
        };
        self.store.save_result(&job_id, &value, &summary).await?;
        let (dir, id, raw) = (
            self.config.results_dir.clone(),
            job_id.clone(),
            value.clone(),
        );
        match tokio::task::spawn_blocking(move || {
            meshbench_store::write_result_files(&dir, &id, &raw)
        })
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(%job_id, "cannot write raw result files: {e}"),
            Err(e) => tracing::warn!(%job_id, "cannot write raw result files: {e}"),
        }
        self.publish(&job_id, JobEventBody::Summary { summary })
            .await;
        let (status, error) = if cancelled {
            (
                JobStatus::Cancelled,
                Some("cancelled; the partial result is kept".to_string()),
            )
        } else {
            // A probe that failed after a good run costs the kernel figures, not the run.
            (JobStatus::Completed, note)
        };
        self.finish(&job_id, status, error).await?;
        Ok(Outcome::Ran { job_id, status })
    }

    async fn fail(&self, job_id: &str, error: String) -> Result<Outcome> {
        tracing::warn!(%job_id, "job failed: {error}");
        self.finish(job_id, JobStatus::Failed, Some(error)).await?;
        Ok(Outcome::Ran {
            job_id: job_id.to_string(),
            status: JobStatus::Failed,
        })
    }

    async fn finish(&self, job_id: &str, status: JobStatus, error: Option<String>) -> Result<()> {
        let update = JobUpdate {
            completed_at: Some(OffsetDateTime::now_utc()),
            progress: (status == JobStatus::Completed).then_some(1.0),
            error: error.clone(),
            ..JobUpdate::default()
        };
        let from = [JobStatus::Running, JobStatus::Pending];
        if self
            .store
            .transition(job_id, &from, status, &update)
            .await?
            .is_some()
        {
            self.publish(job_id, JobEventBody::Status { status, error })
                .await;
        }
        Ok(())
    }

    async fn publish(&self, job_id: &str, body: JobEventBody) {
        let event = JobEvent {
            job_id: job_id.to_string(),
            body,
        };
        if let Err(e) = self.bus.publish(&event).await {
            tracing::warn!(%job_id, "cannot publish an event: {e}");
        }
    }
}

/// Attaches the eBPF probe for a run of `spec`, filtered on its target's port.
async fn start_probe(
    spec: &meshbench_core::BenchmarkSpec,
) -> Result<meshbench_probe::ProbeBeside, String> {
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
        .map_err(|e| e.to_string())
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
struct Forward {
    tx: mpsc::UnboundedSender<(i64, TimelineEntry)>,
}

impl Observer for Forward {
    fn second(&mut self, second: i64, entry: &TimelineEntry, _latency: &Histogram<u64>) {
        let _ = self.tx.send((second, entry.clone()));
    }
}
