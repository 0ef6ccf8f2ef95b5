//! The default queue and bus: plain memory behind one mutex, for `meshbench serve` with its
//! in-process worker. Same semantics as Redis, so the worker and the API cannot tell them apart.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use meshbench_core::{JobEvent, JobKind};
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

use crate::{
    EventBus, Expired, JobQueue, Lease, QueueDepth, Result, WorkerInfo, ANNOUNCE_TTL, EVENT_BUFFER,
};

/// How long an attempts counter is kept for a job that was reclaimed and never acked or
/// removed afterwards (the caller marked it failed instead of enqueueing it again).
const ATTEMPTS_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A job queue in this process's memory. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct InProcessQueue {
    state: Mutex<State>,
    /// Woken on every enqueue (and requeue), so waiting takers look again.
    arrived: Notify,
    next_token: AtomicU64,
    visibility: Duration,
}

#[derive(Debug, Default)]
struct State {
    /// Each kind's line, oldest at the front.
    queued: HashMap<JobKind, VecDeque<String>>,
    /// Queued or in flight: what makes enqueue idempotent.
    known: HashSet<String>,
    /// Outstanding leases by token.
    leases: HashMap<String, LeaseEntry>,
    /// Times taken, and when last touched (to forget abandoned counters).
    attempts: HashMap<String, (u32, Instant)>,
    /// Live workers and when they last announced themselves.
    workers: HashMap<String, (WorkerInfo, Instant)>,
}

#[derive(Debug)]
struct LeaseEntry {
    kind: JobKind,
    job_id: String,
    worker_id: String,
    attempt: u32,
    deadline: Instant,
}

impl InProcessQueue {
    /// An empty queue whose leases last `visibility` without a heartbeat.
    pub fn new(visibility: Duration) -> Self {
        InProcessQueue {
            state: Mutex::new(State::default()),
            arrived: Notify::new(),
            next_token: AtomicU64::new(1),
            visibility,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything can panic, so a
        // poisoned lock still guards valid data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn try_take(&self, worker_id: &str, kinds: &[JobKind]) -> Option<Lease> {
        let mut state = self.lock();
        let (kind, job_id) = kinds.iter().find_map(|kind| {
            let job_id = state.queued.get_mut(kind)?.pop_front()?;
            Some((*kind, job_id))
        })?;
        let now = Instant::now();
        let counter = state.attempts.entry(job_id.clone()).or_insert((0, now));
        counter.0 = counter.0.saturating_add(1);
        counter.1 = now;
        let attempt = counter.0;
        let token = format!("{}", self.next_token.fetch_add(1, Ordering::Relaxed));
        state.leases.insert(
            token.clone(),
            LeaseEntry {
                kind,
                job_id: job_id.clone(),
                worker_id: worker_id.to_owned(),
                attempt,
                deadline: now + self.visibility,
            },
        );
        Some(Lease {
            kind,
            job_id,
            worker_id: worker_id.to_owned(),
            token,
            attempt,
        })
    }
}

#[async_trait]
impl JobQueue for InProcessQueue {
    async fn enqueue(&self, kind: JobKind, job_id: &str) -> Result<()> {
        {
            let mut state = self.lock();
            if !state.known.insert(job_id.to_owned()) {
                return Ok(());
            }
            state
                .queued
                .entry(kind)
                .or_default()
                .push_back(job_id.to_owned());
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn take(
        &self,
        worker_id: &str,
        kinds: &[JobKind],
        wait: Duration,
    ) -> Result<Option<Lease>> {
        let deadline = Instant::now() + wait;
        loop {
            // Register interest before looking, so an enqueue between the look and the wait
            // still wakes us.
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(lease) = self.try_take(worker_id, kinds) {
                return Ok(Some(lease));
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn heartbeat(&self, lease: &Lease) -> Result<bool> {
        let mut state = self.lock();
        match state.leases.get_mut(&lease.token) {
            Some(entry) => {
                entry.deadline = Instant::now() + self.visibility;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        let mut state = self.lock();
        if let Some(entry) = state.leases.remove(&lease.token) {
            state.known.remove(&entry.job_id);
            state.attempts.remove(&entry.job_id);
        }
        Ok(())
    }

    async fn reclaim_expired(&self) -> Result<Vec<Expired>> {
        let now = Instant::now();
        let mut state = self.lock();
        let tokens: Vec<String> = state
            .leases
            .iter()
            .filter(|(_, e)| e.deadline < now)
            .map(|(t, _)| t.clone())
            .collect();
        let mut expired = Vec::with_capacity(tokens.len());
        for token in tokens {
            if let Some(entry) = state.leases.remove(&token) {
                state.known.remove(&entry.job_id);
                expired.push(Expired {
                    kind: entry.kind,
                    job_id: entry.job_id,
                    worker_id: entry.worker_id,
                    attempts: entry.attempt,
                });
            }
        }
        // Forget abandoned attempt counters.
        state
            .attempts
            .retain(|_, (_, touched)| now.duration_since(*touched) < ATTEMPTS_TTL);
        Ok(expired)
    }

    async fn remove(&self, kind: JobKind, job_id: &str) -> Result<bool> {
        let mut state = self.lock();
        let Some(line) = state.queued.get_mut(&kind) else {
            return Ok(false);
        };
        let before = line.len();
        line.retain(|j| j != job_id);
        if line.len() == before {
            return Ok(false);
        }
        state.known.remove(job_id);
        state.attempts.remove(job_id);
        Ok(true)
    }

    async fn holds(&self, job_id: &str) -> Result<bool> {
        Ok(self.lock().known.contains(job_id))
    }

    async fn announce(&self, worker: &WorkerInfo) -> Result<()> {
        self.lock()
            .workers
            .insert(worker.worker_id.clone(), (worker.clone(), Instant::now()));
        Ok(())
    }

    async fn withdraw(&self, worker_id: &str) -> Result<()> {
        self.lock().workers.remove(worker_id);
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let mut state = self.lock();
        state
            .workers
            .retain(|_, (_, at)| at.elapsed() < ANNOUNCE_TTL);
        let mut live: Vec<WorkerInfo> = state.workers.values().map(|(w, _)| w.clone()).collect();
        live.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(live)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        let state = self.lock();
        Ok(QueueDepth {
            queued: state.queued.values().map(|line| line.len() as u64).sum(),
            in_flight: state.leases.len() as u64,
        })
    }

    async fn ping(&self) -> Result<()> {
        Ok(())
    }

    fn visibility(&self) -> Duration {
        self.visibility
    }
}

/// An event bus in this process's memory. Clones share one channel, so the API and an
/// in-process worker hold clones of the same bus.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    sender: broadcast::Sender<JobEvent>,
}

impl InProcessBus {
    /// A bus with room for [`EVENT_BUFFER`] unread events per subscriber.
    pub fn new() -> Self {
        InProcessBus {
            sender: broadcast::channel(EVENT_BUFFER).0,
        }
    }
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for InProcessBus {
    async fn publish(&self, event: &JobEvent) -> Result<()> {
        // An error only means nobody listens right now.
        let _ = self.sender.send(event.clone());
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.sender.subscribe()
    }
}
