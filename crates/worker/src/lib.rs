//! The worker: takes jobs of the kinds it can run from the queue, runs them, keeps the store
//! and the live event bus up to date, and acknowledges them.
//!
//! Every kind of job lives the same life, written once here: taken under a lease, moved
//! `pending → running` by compare-and-set, watched once a second (lease renewed, cancel flag
//! and shutdown checked), then finished `completed | failed | cancelled`. Only the work in
//! the middle differs: [`benchmark`] runs the load engine, [`probe`] the eBPF probe.
//!
//! The store is the truth and the queue can be lost. The queue delivers at least once (a
//! lease that lapses is handed out again), but only the worker that moves a job from
//! `pending` to `running` runs it, and a job cancelled meanwhile is never marked completed.
//! A worker that dies stops renewing its lease; whoever reclaims the lapsed lease requeues
//! the job or, after `max_attempts`, fails it with the reason. And whatever the queue loses
//! (Redis restarted empty, a take lost between queue and store), [`Worker::reconcile`] finds
//! every pending or running job the queue no longer holds and queues it again or fails it —
//! never left `running`.
#![deny(missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use meshbench_core::{JobEvent, JobEventBody, JobKind, JobStatus};
use meshbench_queue::{EventBus, JobQueue, Lease, WorkerInfo};
use meshbench_store::{JobState, JobUpdate, Store};
use time::OffsetDateTime;
use tokio::sync::watch;

mod benchmark;
mod capacity;
mod cluster;
mod in_cluster;
mod lab;
mod probe;
mod split;

pub use benchmark::{invalid_reasons, summary_of};
pub use probe::can_probe;

/// How often a running worker renews its announcement, reclaims lapsed leases and
/// reconciles the store with the queue.
pub const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// How long a worker that declined a job waits before taking the next.
const DECLINED_PAUSE: Duration = Duration::from_secs(1);
/// How long publishing one event may take before it is given up.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a running job's check waits for the queue to renew its lease.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the worker could not do its part (the job itself failing is an outcome, not this).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed.
    #[error("store")]
    Store(#[from] meshbench_store::Error),
    /// The queue failed.
    #[error("queue")]
    Queue(#[from] meshbench_queue::Error),
    /// A job the worker makes could not be encoded.
    #[error("cannot encode a job: {0}")]
    Encode(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Names this worker in leases, announcements and logs.
    pub worker_id: String,
    /// The host it runs on (probe runs measure this host).
    pub host: String,
    /// The kinds of job it takes, in the order it prefers them.
    pub kinds: Vec<JobKind>,
    /// Why it does not take probe runs, when it does not; told to the API.
    pub probe_unavailable: Option<String>,
    /// Target for jobs without a `service_url` (the built-in target in embedded mode).
    pub default_target: Option<String>,
    /// Raw results go to `results_dir/<job_id>/`.
    pub results_dir: PathBuf,
    /// Takes of one job before a lost worker makes it fail instead of retrying.
    pub max_attempts: u32,
    /// How long one `take` waits for a job.
    pub poll: Duration,
    /// The Kubernetes cluster benchmarks' targets live in: each run reads its namespace's
    /// mesh record and samples proxy CPU and memory. `None`: no cluster configured.
    pub kubernetes: Option<meshbench_k8s::Cluster>,
    /// How often a run samples `metrics.k8s.io`.
    pub metrics_interval: Duration,
    /// The meshbench image in-cluster runs' load pods run.
    pub image: String,
    /// How long after creating an in-cluster run's Job its pods start measuring: time for
    /// them to be scheduled and pulled, so that all start at once.
    pub load_start_delay: Duration,
    /// The meshbench binary that runs lab jobs (`lab_topology`) in the lab's client host
    /// and serves as the lab's target; `None`: this worker runs no lab jobs (it is not
    /// root, or has no Envoy).
    pub lab_client: Option<PathBuf>,
    /// Where load may be aimed, checked again here just before a run (the API checked at
    /// the start, but a name may resolve elsewhere since); `None`: not checked.
    pub target_policy: Option<meshbench_core::policy::TargetPolicy>,
}

/// What one step of the worker did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No job arrived within the poll time.
    Idle,
    /// A job ran and ended with this status.
    Ran {
        /// What kind of job.
        kind: JobKind,
        /// The job.
        job_id: String,
        /// How it ended.
        status: JobStatus,
    },
    /// A delivered job was not run: no longer pending (cancelled, taken by another worker,
    /// withdrawn), its lease was lost while it ran, or it was put back for a worker that can
    /// run it.
    Skipped {
        /// What kind of job.
        kind: JobKind,
        /// The job.
        job_id: String,
    },
}

/// How the work in the middle of a job ended.
#[derive(Debug)]
pub(crate) enum Ended {
    /// It ran to its end or was stopped; its result is stored.
    Finished {
        /// Stopped early by a cancel or a shutdown.
        cancelled: bool,
        /// Said alongside a completed status (e.g. a probe that failed beside a good run).
        note: Option<String>,
    },
    /// It failed, for this reason.
    Failed(String),
    /// Its lease was lost: the job is someone else's now, or the reconciler's.
    Lost,
    /// It never left `pending` (cancelled or taken elsewhere first).
    NotClaimed,
    /// This worker cannot run it (an eBPF benchmark on a host that cannot probe) and
    /// another live worker can: back to the queue for one of them.
    Declined,
}

/// What the once-a-second check of a running job found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Keep going.
    Continue,
    /// Stop and keep what was measured (cancel requested, or the worker shuts down).
    Stop,
    /// Stop and walk away: the lease is gone.
    Lost,
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

    /// Takes and runs jobs until `shutdown` turns true, announcing itself and reconciling
    /// the store with the queue every [`HOUSEKEEPING_EVERY`] meanwhile (also while a job
    /// runs). A job running at shutdown is stopped and stored as it stands (cancelled, with
    /// its partial result).
    pub async fn run(&self, shutdown: watch::Receiver<bool>) {
        let housekeeper = tokio::spawn(self.clone().housekeep_until(shutdown.clone()));
        // Idle waits last one poll at most, so shutdown is seen within a second.
        while !*shutdown.borrow() {
            if let Err(e) = self.try_execute_one_until(shutdown.clone()).await {
                tracing::warn!(
                    worker = %self.config.worker_id,
                    error = &e as &dyn std::error::Error,
                    "worker step failed"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        let _ = housekeeper.await;
        if let Err(e) = self.queue.withdraw(&self.config.worker_id).await {
            tracing::debug!(error = &e as &dyn std::error::Error, "cannot withdraw");
        }
    }

    async fn housekeep_until(self, mut shutdown: watch::Receiver<bool>) {
        let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
        while !*shutdown.borrow() {
            tokio::select! {
                _ = every.tick() => {}
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
            }
            if let Err(e) = self.housekeep().await {
                tracing::warn!(
                    worker = %self.config.worker_id,
                    error = &e as &dyn std::error::Error,
                    "housekeeping failed; trying again in {} s",
                    HOUSEKEEPING_EVERY.as_secs()
                );
            }
        }
    }

    /// Announces this worker, reclaims lapsed leases and reconciles, once.
    pub async fn housekeep(&self) -> Result<()> {
        self.queue.announce(&self.info()).await?;
        self.reclaim().await?;
        self.reconcile().await?;
        Ok(())
    }

    /// How this worker is configured.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// What this worker announces.
    pub fn info(&self) -> WorkerInfo {
        WorkerInfo {
            worker_id: self.config.worker_id.clone(),
            host: self.config.host.clone(),
            kinds: self.config.kinds.clone(),
            probe_unavailable: self.config.probe_unavailable.clone(),
        }
    }

    /// Puts every unfinished job the queue does not hold back in motion: a pending one is
    /// queued again (or cancelled, when that was asked), a running one is requeued while it
    /// has attempts left and failed with the reason otherwise. Covers a restart with an
    /// in-process queue (its leases died with the process) and a Redis that lost its data.
    /// Returns how many jobs it touched.
    pub async fn reconcile(&self) -> Result<usize> {
        let mut touched = 0;
        for kind in JobKind::ALL {
            let mut offset = 0;
            loop {
                let open = [JobStatus::Pending, JobStatus::Running];
                let page = self
                    .store
                    .states_in(kind, &open, meshbench_store::MAX_LIST_LIMIT, offset)
                    .await?;
                let Some(len) = u32::try_from(page.len()).ok().filter(|n| *n > 0) else {
                    break;
                };
                offset += len;
                for seen in page {
                    if self.queue.holds(&seen.id).await? {
                        continue;
                    }
                    // Read again: the page may be stale (a reclaimer requeued it, a worker
                    // took it since), and what is done next is fenced to this attempt.
                    let Some(state) = self.store.get_state(kind, &seen.id).await? else {
                        continue;
                    };
                    if state.status.is_finished() || self.queue.holds(&state.id).await? {
                        continue;
                    }
                    if state.request.as_ref().is_some_and(split::is_split_run) {
                        // Driven by its parts: ended here when they all have.
                        self.settle_split(&state.id).await?;
                        continue;
                    }
                    touched += 1;
                    match state.status {
                        JobStatus::Pending if state.cancel_requested => {
                            self.finish(&state, JobStatus::Cancelled, Some(CANCELLED_EARLY.into()))
                                .await?;
                        }
                        JobStatus::Pending => self.queue.enqueue(kind, &state.id).await?,
                        _ => {
                            let reason = format!(
                                "its worker or the queue lost it while it ran (attempt {} of {})",
                                state.attempts, self.config.max_attempts
                            );
                            self.requeue_or_fail(&state, reason).await?;
                        }
                    }
                }
            }
        }
        if touched > 0 {
            tracing::info!(touched, "reconciled jobs the queue did not hold");
        }
        Ok(touched)
    }

    /// A running job whose worker is gone: back to the queue while it has attempts left,
    /// else failed with `reason`.
    async fn requeue_or_fail(&self, state: &JobState, reason: String) -> Result<()> {
        if state.attempts >= self.config.max_attempts || state.cancel_requested {
            let (status, reason) = if state.cancel_requested {
                (JobStatus::Cancelled, format!("cancelled; {reason}"))
            } else {
                (JobStatus::Failed, reason)
            };
            return self.finish(state, status, Some(reason)).await;
        }
        let back = JobUpdate {
            on_attempt: Some(state.attempts),
            ..JobUpdate::default()
        };
        let requeued = self
            .store
            .transition(
                state.kind,
                &state.id,
                &[JobStatus::Running],
                JobStatus::Pending,
                &back,
            )
            .await?;
        if requeued.is_some() {
            tracing::warn!(kind = %state.kind, id = %state.id, attempts = state.attempts, "{reason}; requeued");
            self.queue.enqueue(state.kind, &state.id).await?;
            self.publish_status(&state.id, JobStatus::Pending, None)
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
            .take(&self.config.worker_id, &self.config.kinds, self.config.poll)
            .await?
        else {
            return Ok(Outcome::Idle);
        };
        tracing::info!(worker = %self.config.worker_id, kind = %lease.kind, id = %lease.job_id, attempt = lease.attempt, "took a job");
        let ran = self.execute(&lease, shutdown).await;
        // The lease goes first: the queue holds the job until then, so a put-back before it
        // would do nothing.
        self.queue.ack(&lease).await?;
        let (outcome, declined) = ran?;
        if let Outcome::Skipped { kind, job_id } = &outcome {
            // Declined or not claimed: a job still pending goes back in line (a cancelled or
            // finished one stays out).
            if let Some(state) = self.store.get_state(*kind, job_id).await? {
                if state.status == JobStatus::Pending && !state.cancel_requested {
                    self.queue.enqueue(*kind, job_id).await?;
                }
            }
        }
        if declined {
            // So this worker does not take it again at once while one that can run it is
            // still busy.
            tokio::time::sleep(DECLINED_PAUSE).await;
        }
        Ok(outcome)
    }

    /// Requeues (or fails) jobs whose worker stopped renewing its lease.
    async fn reclaim(&self) -> Result<()> {
        for expired in self.queue.reclaim_expired().await? {
            let Some(state) = self.store.get_state(expired.kind, &expired.job_id).await? else {
                continue;
            };
            match state.status {
                // Lost between take and start: deliver it again.
                JobStatus::Pending => self.queue.enqueue(state.kind, &state.id).await?,
                JobStatus::Running => {
                    let reason = format!(
                        "worker {} lost (no heartbeat for {:.0} s) on attempt {} of {}",
                        expired.worker_id,
                        self.queue.visibility().as_secs_f64(),
                        state.attempts,
                        self.config.max_attempts
                    );
                    self.requeue_or_fail(&state, reason).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs the leased job to its end; the outcome, and whether this worker declined it.
    async fn execute(
        &self,
        lease: &Lease,
        shutdown: watch::Receiver<bool>,
    ) -> Result<(Outcome, bool)> {
        let job = Running {
            worker: self,
            lease,
            shutdown,
            claimed: std::sync::OnceLock::new(),
            renewed: std::sync::Mutex::new(tokio::time::Instant::now()),
        };
        let ran = match lease.kind {
            JobKind::Benchmark => benchmark::run(&job).await,
            JobKind::Probe => probe::run(&job).await,
        };
        // A store that failed mid-run (saving the result, say) fails the job with that
        // cause, rather than leaving it to be re-run as if its worker were lost.
        let ended = match ran {
            Ok(ended) => ended,
            Err(e) if job.claimed.get().is_some() => Ended::Failed(meshbench_core::error_chain(&e)),
            Err(e) => return Err(e),
        };
        let (kind, job_id) = (lease.kind, lease.job_id.clone());
        let (status, error) = match ended {
            Ended::NotClaimed | Ended::Lost => {
                return Ok((Outcome::Skipped { kind, job_id }, false))
            }
            Ended::Declined => return Ok((Outcome::Skipped { kind, job_id }, true)),
            Ended::Failed(reason) => {
                tracing::warn!(%kind, %job_id, "failed: {reason}");
                (JobStatus::Failed, Some(reason))
            }
            Ended::Finished {
                cancelled: true, ..
            } => (JobStatus::Cancelled, Some(CANCELLED_KEPT.to_string())),
            Ended::Finished { note, .. } => (JobStatus::Completed, note),
        };
        let update = JobUpdate {
            on_attempt: job.claimed.get().copied(),
            ..JobUpdate::default()
        };
        self.finish_with(kind, &job_id, status, error, update)
            .await?;
        let ran = Outcome::Ran {
            kind,
            job_id,
            status,
        };
        Ok((ran, false))
    }

    /// Ends a job the worker no longer runs (lost, cancelled before it ran), fenced to the
    /// attempt `state` saw.
    async fn finish(
        &self,
        state: &JobState,
        status: JobStatus,
        error: Option<String>,
    ) -> Result<()> {
        let update = JobUpdate {
            on_attempt: Some(state.attempts),
            ..JobUpdate::default()
        };
        self.finish_with(state.kind, &state.id, status, error, update)
            .await
    }

    /// Moves job `id` to the final `status` (from running, or pending for a job that never
    /// ran), with `update`'s fence, and says so.
    async fn finish_with(
        &self,
        kind: JobKind,
        id: &str,
        status: JobStatus,
        error: Option<String>,
        update: JobUpdate,
    ) -> Result<()> {
        let update = JobUpdate {
            completed_at: Some(OffsetDateTime::now_utc()),
            progress: (status == JobStatus::Completed).then_some(1.0),
            error: error.clone(),
            ..update
        };
        let from = [JobStatus::Running, JobStatus::Pending];
        if self
            .store
            .transition(kind, id, &from, status, &update)
            .await?
            .is_some()
        {
            self.publish_status(id, status, error).await;
            // Only the worker that ended the step takes the search on.
            if kind == JobKind::Benchmark {
                self.continue_search(id).await?;
            }
        }
        if kind == JobKind::Benchmark {
            if let Some(run) = self.store.get_job(id).await?.and_then(|j| j.parent_id) {
                self.settle_split(&run).await?;
            }
        }
        Ok(())
    }

    async fn publish_status(&self, id: &str, status: JobStatus, error: Option<String>) {
        self.publish(id, JobEventBody::Status { status, error })
            .await;
    }

    pub(crate) async fn publish(&self, id: &str, body: JobEventBody) {
        let event = JobEvent {
            job_id: id.to_string(),
            body,
        };
        // Events are live notifications, at most once; a bus that is down must not hold up
        // the job (the store has the truth).
        match tokio::time::timeout(PUBLISH_TIMEOUT, self.bus.publish(&event)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(%id, error = &e as &dyn std::error::Error, "cannot publish an event")
            }
            Err(_) => tracing::warn!(%id, "the event bus did not take an event in time"),
        }
    }
}

/// Why a job cancelled before it ran has no result.
const CANCELLED_EARLY: &str = "cancelled before it started";
/// Why a cancelled job has a partial result.
const CANCELLED_KEPT: &str = "cancelled; what was measured is kept";

/// One job in a worker's hands: what the kind-specific runs need of the lifecycle.
pub(crate) struct Running<'a> {
    worker: &'a Worker,
    lease: &'a Lease,
    shutdown: watch::Receiver<bool>,
    /// The attempt this worker claimed, once it has: the fence of every later move.
    claimed: std::sync::OnceLock<u32>,
    /// When the lease was last renewed.
    renewed: std::sync::Mutex<tokio::time::Instant>,
}

impl Running<'_> {
    /// The job's id.
    pub(crate) fn id(&self) -> &str {
        &self.lease.job_id
    }

    /// The worker's configuration.
    pub(crate) fn config(&self) -> &WorkerConfig {
        &self.worker.config
    }

    /// Moves the job `pending → running` (counting the attempt) and says so; `None` when it
    /// was no longer pending, so it must not run.
    pub(crate) async fn claim(&self) -> Result<Option<JobState>> {
        let started = JobUpdate {
            started_at: Some(OffsetDateTime::now_utc()),
            increment_attempts: true,
            ..JobUpdate::default()
        };
        let claimed = self
            .worker
            .store
            .transition(
                self.lease.kind,
                self.id(),
                &[JobStatus::Pending],
                JobStatus::Running,
                &started,
            )
            .await?;
        if let Some(state) = &claimed {
            let _ = self.claimed.set(state.attempts);
            self.worker
                .publish_status(self.id(), JobStatus::Running, None)
                .await;
        }
        Ok(claimed)
    }

    /// The once-a-second check: the shutdown signal and the cancel flag first (the store
    /// is the truth, so a cancel lands within a second whatever the queue is doing), then
    /// the lease is renewed. Store and queue errors are logged and the job goes on: the store
    /// is read again next second, and a queue that lost the lease says so when it is back.
    pub(crate) async fn check(&self) -> Verdict {
        if *self.shutdown.borrow() {
            return Verdict::Stop;
        }
        match self
            .worker
            .store
            .get_state(self.lease.kind, self.id())
            .await
        {
            // Taken again by another worker after this one's lease lapsed: theirs now.
            Ok(Some(state)) if self.claimed.get().is_some_and(|n| *n != state.attempts) => {
                return Verdict::Lost;
            }
            Ok(Some(state)) if state.cancel_requested || state.status.is_finished() => {
                return Verdict::Stop;
            }
            Ok(Some(_)) => {}
            // Withdrawn or deleted under us: nothing to report to.
            Ok(None) => return Verdict::Lost,
            Err(e) => tracing::warn!(
                id = %self.id(),
                error = &e as &dyn std::error::Error,
                "cannot read the cancel flag"
            ),
        }
        // An unreachable queue can take seconds to say so; the next check must not wait.
        let renewed =
            tokio::time::timeout(HEARTBEAT_TIMEOUT, self.worker.queue.heartbeat(self.lease)).await;
        let now = tokio::time::Instant::now();
        let mut last = self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(renewed, Ok(Ok(true))) {
            *last = now;
        } else if now.duration_since(*last) > self.worker.queue.visibility() {
            // Unrenewed past its deadline, the lease is surely someone else's by now.
            tracing::warn!(id = %self.id(), "the lease could not be renewed in time; giving the job up");
            return Verdict::Lost;
        }
        drop(last);
        match renewed {
            Ok(Ok(true)) => Verdict::Continue,
            Ok(Ok(false)) => Verdict::Lost,
            Ok(Err(e)) => {
                tracing::warn!(
                    id = %self.id(),
                    error = &e as &dyn std::error::Error,
                    "cannot renew the lease; the job goes on"
                );
                Verdict::Continue
            }
            Err(_) => {
                tracing::warn!(id = %self.id(), "the queue did not answer a lease renewal in time; the job goes on");
                Verdict::Continue
            }
        }
    }

    /// Records progress (0–1); a store error is logged, not fatal.
    pub(crate) async fn progress(&self, fraction: f64) {
        if let Err(e) = self
            .worker
            .store
            .set_progress(self.lease.kind, self.id(), fraction)
            .await
        {
            tracing::warn!(
                id = %self.id(),
                error = &e as &dyn std::error::Error,
                "cannot record progress"
            );
        }
    }

    /// Whether a live worker takes probe runs (so can run an eBPF benchmark).
    pub(crate) async fn any_worker_probes(&self) -> Result<bool> {
        let workers = self.worker.queue.workers().await?;
        Ok(workers.iter().any(|w| w.takes(JobKind::Probe)))
    }

    /// Publishes an event about this job.
    pub(crate) async fn publish(&self, body: JobEventBody) {
        self.worker.publish(self.id(), body).await;
    }

    /// The store.
    pub(crate) fn store(&self) -> &dyn Store {
        self.worker.store.as_ref()
    }
}
