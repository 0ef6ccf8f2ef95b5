//! The job queue and live event bus of meshbench: in-process by default, Redis when
//! `REDIS_URL` is set so that any number of `meshbench worker` processes, on any host, can take
//! jobs and publish progress that reaches the API's WebSocket clients.
//!
//! # What the queue carries, and what it does not
//!
//! The job store (the database) is the source of truth for a job's status, request and result.
//! The queue only carries job **ids**, **leases** and **signals** (cancellation). That split is
//! what keeps the two simple: the store decides whether a job may change state (its
//! compare-and-set transitions such as `pending → running`), the queue decides who holds a job
//! right now.
//!
//! # Delivery guarantees
//!
//! - **Idempotent enqueue.** A job id enqueued while it is still queued or in flight is
//!   delivered once. It can be enqueued again after its lease was acked or reclaimed.
//! - **At-least-once with leases.** [`JobQueue::take`] hands a job out under a [`Lease`] that
//!   stays valid for the queue's `visibility` timeout; the worker extends it with
//!   [`JobQueue::heartbeat`] (every `visibility / 3` is a good rhythm) and ends it with
//!   [`JobQueue::ack`] whatever the outcome. A worker that dies stops heartbeating; once its
//!   lease is past its deadline, [`JobQueue::reclaim_expired`] removes it and returns it to
//!   **exactly one** caller (even with many reclaimers in many processes), which then either
//!   enqueues the job again (a retry, [`Lease::attempt`] grows) or marks it failed with a reason
//!   in the store. A job is therefore never lost and never left running forever.
//! - **Effectively once.** A job can be delivered twice (a worker that stalled past its lease
//!   while another took the retry), so the worker moves the job `pending → running` in the store
//!   with a compare-and-set before it starts and drops the job when that fails; a heartbeat that
//!   returns `false` tells the stalled worker that it lost the lease and must stop.
//! - **Kinds.** Each [`JobKind`] has its own line; a worker takes only the kinds it can run
//!   (a worker without BPF never leases a probe run).
//! - **The queue can be lost.** The store is the truth: a job the store holds as pending or
//!   running that the queue no longer [`holds`](JobQueue::holds) (Redis restarted empty, a
//!   take lost between queue and store) is put back or failed by the worker's reconciler.
//!   Cancellation is therefore a flag in the store, not here; a job still queued is only
//!   [`JobQueue::remove`]d so no worker wakes for it.
//! - **Workers announce themselves** ([`JobQueue::announce`]) with the kinds they run, so the
//!   API can say whether any live worker can run a kind (and why not) before accepting a job.
//!
//! # Events
//!
//! [`EventBus`] fans [`JobEvent`]s out to every subscriber, in publish order per publisher.
//! Events are live notifications, at most once: a subscriber that lags or reconnects may miss
//! some and re-reads the store for the truth. In Redis mode each bus holds one `SUBSCRIBE`d
//! connection (reconnecting on failure) that forwards into a local broadcast channel, so an event
//! published by a worker on one host reaches WebSocket clients of the API on another.
//!
//! # Time
//!
//! Redis leases are timed by the Redis server's clock (`TIME` inside the Lua scripts), so
//! workers and reclaimers on hosts with skewed clocks agree on which lease has expired.
#![deny(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use meshbench_core::{JobEvent, JobKind};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

mod in_process;
mod redis_backend;

pub use in_process::{InProcessBus, InProcessQueue};
pub use redis_backend::{RedisBus, RedisQueue};

/// The key prefix (and events channel prefix) used in Redis unless another is given.
pub const DEFAULT_PREFIX: &str = "meshbench:";

/// How long a worker's announcement stays live without being renewed.
pub const ANNOUNCE_TTL: Duration = Duration::from_secs(15);

/// How many events a subscriber may fall behind before it sees
/// [`broadcast::error::RecvError::Lagged`].
pub const EVENT_BUFFER: usize = 1024;

/// Why a queue or bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Redis answered with an error or the connection failed.
    #[error("Redis command failed")]
    Redis(#[source] redis::RedisError),
    /// `REDIS_URL` cannot be used. `url` has any password replaced by `***`.
    #[error("invalid REDIS_URL `{url}`: expected redis://[user:password@]host[:port][/db]")]
    InvalidUrl {
        /// The URL as given, password redacted.
        url: String,
        /// Why the redis client refused it.
        #[source]
        source: redis::RedisError,
    },
    /// Redis at `REDIS_URL` could not be reached when the queue was opened.
    #[error("cannot connect to Redis at REDIS_URL `{url}`")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// The connection error.
        #[source]
        source: redis::RedisError,
    },
    /// An event could not be encoded as JSON.
    #[error("cannot encode a job event or a worker announcement")]
    Encode(#[source] serde_json::Error),
    /// A message on the events channel is not a job event.
    #[error("cannot decode a job event or a worker announcement")]
    Decode(#[source] serde_json::Error),
    /// A background task the operation relies on (the event subscriber) has stopped.
    #[error("the event bus has shut down")]
    Closed,
    /// Redis returned data this crate did not write (another program shares the key prefix?).
    #[error("unexpected data in Redis: {0}")]
    Corrupt(String),
}

impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Error::Redis(e)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A job handed to one worker, valid until its deadline unless extended by
/// [`JobQueue::heartbeat`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// What kind of job it is.
    pub kind: JobKind,
    /// The job taken.
    pub job_id: String,
    /// The worker that took it.
    pub worker_id: String,
    /// Unique per take: a stale lease (expired, reclaimed, re-delivered) never matches the
    /// current one.
    pub token: String,
    /// How many times this job has been taken, this one included (1 on first delivery).
    pub attempt: u32,
}

/// A lease that passed its deadline and was removed by [`JobQueue::reclaim_expired`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expired {
    /// What kind of job it is.
    pub kind: JobKind,
    /// The job whose worker stopped heartbeating.
    pub job_id: String,
    /// The worker that held it.
    pub worker_id: String,
    /// How many times the job has been taken so far.
    pub attempts: u32,
}

/// How much work the queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Jobs waiting to be taken.
    pub queued: u64,
    /// Jobs taken and not yet acked or reclaimed (leases outstanding).
    pub in_flight: u64,
}

/// A live worker as it announced itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    /// Its id (host, process, loop).
    pub worker_id: String,
    /// The host it runs on.
    pub host: String,
    /// The kinds of job it takes.
    pub kinds: Vec<JobKind>,
    /// Why it does not take probe runs, when it does not (not root, no BTF…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe_unavailable: Option<String>,
}

impl WorkerInfo {
    /// Whether it takes jobs of `kind`.
    pub fn takes(&self, kind: JobKind) -> bool {
        self.kinds.contains(&kind)
    }
}

/// A queue of job ids with leases; see the crate docs for the guarantees.
#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Queues `job_id` on its kind's line (FIFO). Idempotent: a job id that is already queued
    /// or in flight is not queued again, so it is delivered once.
    async fn enqueue(&self, kind: JobKind, job_id: &str) -> Result<()>;

    /// Takes the oldest queued job of one of `kinds` (earlier kinds first) for `worker_id`,
    /// waiting up to `wait` for one to arrive. `None` when nothing arrived in time. The
    /// returned lease lasts [`visibility`](JobQueue::visibility) unless extended.
    async fn take(
        &self,
        worker_id: &str,
        kinds: &[JobKind],
        wait: Duration,
    ) -> Result<Option<Lease>>;

    /// Extends `lease` by the visibility timeout from now. `false` when the lease was lost
    /// (expired and reclaimed, or acked): the worker must stop working on the job.
    async fn heartbeat(&self, lease: &Lease) -> Result<bool>;

    /// Ends `lease` whatever the outcome (completed, failed, cancelled). Acking a lost lease
    /// does nothing.
    async fn ack(&self, lease: &Lease) -> Result<()>;

    /// Removes every lease past its deadline and returns them, each to exactly one caller even
    /// when many processes call this at once. The caller decides: [`enqueue`](JobQueue::enqueue)
    /// the job again (a retry) or mark it failed in the store.
    async fn reclaim_expired(&self) -> Result<Vec<Expired>>;

    /// Drops `job_id` from its kind's line if it is still queued (cancel while pending).
    /// `false` when it was not queued (already taken, or unknown).
    async fn remove(&self, kind: JobKind, job_id: &str) -> Result<bool>;

    /// Whether `job_id` is queued or leased right now. `false` means the queue has lost it
    /// (or never had it): the reconciler decides from the store what to do.
    async fn holds(&self, job_id: &str) -> Result<bool>;

    /// Says `worker` is alive and what it runs, for [`ANNOUNCE_TTL`]; renew well within it.
    async fn announce(&self, worker: &WorkerInfo) -> Result<()>;

    /// Withdraws an announcement (a worker shutting down).
    async fn withdraw(&self, worker_id: &str) -> Result<()>;

    /// The workers whose announcement is live, sorted by id.
    async fn workers(&self) -> Result<Vec<WorkerInfo>>;

    /// How many jobs are queued and in flight.
    async fn depth(&self) -> Result<QueueDepth>;

    /// Checks that the backend answers (for `/health`).
    async fn ping(&self) -> Result<()>;

    /// How long a lease lasts without a heartbeat.
    fn visibility(&self) -> Duration;
}

/// Fans job events out to every subscriber (WebSocket clients, the CLI).
#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Sends `event` to every current subscriber, on every host. Having no subscriber is not
    /// an error.
    async fn publish(&self, event: &JobEvent) -> Result<()>;

    /// A receiver of every event published from now on; callers filter by `job_id`.
    fn subscribe(&self) -> broadcast::Receiver<JobEvent>;
}

/// Opens the queue and bus the environment asks for: in-process when `redis_url` is `None`
/// (or empty), Redis under [`DEFAULT_PREFIX`] otherwise. `visibility` is the lease timeout.
///
/// A malformed URL is [`Error::InvalidUrl`] and an unreachable server [`Error::Connect`], both
/// naming `REDIS_URL`.
pub async fn open(
    redis_url: Option<&str>,
    visibility: Duration,
) -> Result<(Arc<dyn JobQueue>, Arc<dyn EventBus>)> {
    open_with_prefix(redis_url, DEFAULT_PREFIX, visibility).await
}

/// [`open`] with the Redis keys and events channel under `prefix` instead of
/// [`DEFAULT_PREFIX`] (ignored in-process); several deployments or tests can share one Redis.
pub async fn open_with_prefix(
    redis_url: Option<&str>,
    prefix: &str,
    visibility: Duration,
) -> Result<(Arc<dyn JobQueue>, Arc<dyn EventBus>)> {
    match redis_url.map(str::trim).filter(|u| !u.is_empty()) {
        None => Ok((
            Arc::new(InProcessQueue::new(visibility)),
            Arc::new(InProcessBus::new()),
        )),
        Some(url) => {
            let (queue, bus) = redis_backend::connect_pair(url, prefix, visibility).await?;
            Ok((Arc::new(queue), Arc::new(bus)))
        }
    }
}

/// `url` with the password (anything between `://` and `@`) replaced, for messages and logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end + 3 => {
            let userinfo = &url[scheme_end + 3..at];
            let user = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".to_owned(),
            };
            format!("{}{user}{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("redis://user:s3cret@host:6379/0"),
            "redis://user:***@host:6379/0"
        );
        assert_eq!(redact("redis://:s3cret@host"), "redis://:***@host");
        assert_eq!(redact("redis://token@host"), "redis://***@host");
    }
}
