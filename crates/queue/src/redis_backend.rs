//! The Redis queue and bus, for workers in other processes and on other hosts.
//!
//! Keys, all under one prefix (default `meshbench:`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `queue` | list | queued benchmark job ids; pushed left, taken right (FIFO) |
//! | `queue:<kind>` | list | the same for the other kinds (`queue:probe`) |
//! | `known` | set | ids queued or in flight: makes enqueue idempotent |
//! | `processing` | sorted set | lease tokens scored by deadline (ms, Redis server clock) |
//! | `leases` | hash | token → JSON `{job_id, worker_id, attempt, kind}` |
//! | `lease_seq` | string | counter making tokens unique |
//! | `attempts:<job>` | string | times the job was taken (expires after a week if abandoned) |
//! | `workers` | hash | worker id → JSON [`WorkerInfo`] |
//! | `workers_seen` | sorted set | worker ids scored by announcement deadline (ms) |
//! | `events` | pub/sub channel | JSON [`JobEvent`]s |
//!
//! Every operation that touches more than one key is a Lua script, so it is atomic: two
//! reclaimers never both get a lease, a take never loses a job between list and lease.
//!
//! Waiting for a job uses `BLMOVE queue queue RIGHT RIGHT`, which blocks until the list is not
//! empty and moves the tail onto itself (the list is unchanged), on a connection of its own —
//! a blocking command would stall every other command sharing a multiplexed connection. The job
//! itself is then claimed by the atomic take script; losing that race just means waiting again.
//! `BLMOVE` watches one list: a worker taking several kinds waits on each line in turn, a
//! quarter of a second at a time.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use meshbench_core::{JobEvent, JobKind};
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection, PubSubStream};
use redis::{AsyncConnectionConfig, Client, RedisError, Script};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::{
    redact, Error, EventBus, Expired, JobQueue, Lease, QueueDepth, Result, WorkerInfo,
    ANNOUNCE_TTL, EVENT_BUFFER,
};

/// How long an attempts counter outlives the last take of its job when nobody acks or removes
/// it (the job was reclaimed and then marked failed).
const ATTEMPTS_TTL_SECS: u64 = 7 * 24 * 3600;
/// Leases reclaimed per script call; more are taken in further calls.
const RECLAIM_BATCH: usize = 500;
/// Idle blocking connections kept for the next `take`.
const MAX_IDLE_BLOCKING: usize = 8;
/// Connecting, and each ordinary command, gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The events subscriber reconnects after this long, doubling up to the maximum.
const RESUBSCRIBE_MIN: Duration = Duration::from_millis(100);
const RESUBSCRIBE_MAX: Duration = Duration::from_secs(5);
/// How long a worker taking several kinds waits on one kind's line before looking at the next.
const WAIT_SLICE: Duration = Duration::from_millis(250);

/// Redis server time in milliseconds, as a Lua prelude.
const NOW_MS: &str = "local t = redis.call('TIME')\n\
                      local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: known, queue. ARGV: job. 1 when queued, 0 when already known.
const ENQUEUE: &str = r"
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[1])
  return 1
end
return 0
";

/// KEYS: queue, processing, leases, lease_seq. ARGV: visibility ms, worker id, attempts key
/// prefix, attempts ttl s, kind. `{job, token, attempt}` or nil.
const TAKE: &str = r"
local job = redis.call('RPOP', KEYS[1])
if not job then return false end
local token = tostring(redis.call('INCR', KEYS[4]))
local akey = ARGV[3] .. job
local attempt = redis.call('INCR', akey)
redis.call('EXPIRE', akey, ARGV[4])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[1]), token)
redis.call('HSET', KEYS[3], token, cjson.encode({job_id = job, worker_id = ARGV[2], attempt = attempt, kind = ARGV[5]}))
return {job, token, attempt}
";

/// KEYS: processing. ARGV: token, visibility ms. 1 when extended, 0 when lost.
const HEARTBEAT: &str = r"
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  return 1
end
return 0
";

/// KEYS: processing, leases, known. ARGV: token, attempts key prefix. 1 when acked, 0 when
/// the lease was already gone.
const ACK: &str = r"
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
local raw = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
if raw then
  local lease = cjson.decode(raw)
  redis.call('SREM', KEYS[3], lease.job_id)
  redis.call('DEL', ARGV[2] .. lease.job_id)
end
return 1
";

/// KEYS: processing, leases, known. ARGV: batch size. Flat `{job, worker, attempts, kind, …}`.
const RECLAIM: &str = r"
local tokens = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for _, token in ipairs(tokens) do
  redis.call('ZREM', KEYS[1], token)
  local raw = redis.call('HGET', KEYS[2], token)
  redis.call('HDEL', KEYS[2], token)
  if raw then
    local lease = cjson.decode(raw)
    redis.call('SREM', KEYS[3], lease.job_id)
    table.insert(out, lease.job_id)
    table.insert(out, lease.worker_id)
    table.insert(out, tostring(lease.attempt))
    table.insert(out, lease.kind or 'benchmark')
  end
end
return out
";

/// KEYS: queue, known. ARGV: job, attempts key prefix. 1 when removed.
const REMOVE: &str = r"
if redis.call('LREM', KEYS[1], 0, ARGV[1]) > 0 then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('DEL', ARGV[2] .. ARGV[1])
  return 1
end
return 0
";

/// KEYS: workers, workers_seen. ARGV: worker id, JSON, ttl ms.
const ANNOUNCE: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
";

/// KEYS: workers, workers_seen. The JSON of every live worker; forgets the others.
const WORKERS: &str = r"
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
for _, id in ipairs(gone) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[1], id)
end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then table.insert(out, raw) end
end
return out
";

/// The key names under one prefix.
#[derive(Debug, Clone)]
struct Keys {
    /// The benchmark line keeps the name it had before there were other kinds.
    queue: String,
    probe_queue: String,
    known: String,
    processing: String,
    leases: String,
    lease_seq: String,
    attempts: String,
    workers: String,
    workers_seen: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Keys {
            queue: format!("{prefix}queue"),
            probe_queue: format!("{prefix}queue:probe"),
            known: format!("{prefix}known"),
            processing: format!("{prefix}processing"),
            leases: format!("{prefix}leases"),
            lease_seq: format!("{prefix}lease_seq"),
            attempts: format!("{prefix}attempts:"),
            workers: format!("{prefix}workers"),
            workers_seen: format!("{prefix}workers_seen"),
        }
    }

    /// The line `kind`'s jobs wait on.
    fn line(&self, kind: JobKind) -> &str {
        match kind {
            JobKind::Benchmark => &self.queue,
            JobKind::Probe => &self.probe_queue,
        }
    }
}

#[derive(Debug)]
struct Scripts {
    enqueue: Script,
    take: Script,
    heartbeat: Script,
    ack: Script,
    reclaim: Script,
    remove: Script,
    announce: Script,
    workers: Script,
}

impl Scripts {
    fn new() -> Self {
        let timed = |body: &str| Script::new(&format!("{NOW_MS}{body}"));
        Scripts {
            enqueue: Script::new(ENQUEUE),
            take: timed(TAKE),
            heartbeat: timed(HEARTBEAT),
            ack: Script::new(ACK),
            reclaim: timed(RECLAIM),
            remove: Script::new(REMOVE),
            announce: timed(ANNOUNCE),
            workers: timed(WORKERS),
        }
    }
}

/// A job queue in Redis, shared by every process that uses the same URL and prefix.
pub struct RedisQueue {
    client: Client,
    conn: ConnectionManager,
    /// Connections for `BLMOVE`, which must not share the multiplexed one.
    idle_blocking: Mutex<Vec<MultiplexedConnection>>,
    keys: Keys,
    scripts: Scripts,
    visibility: Duration,
    visibility_ms: u64,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("queue_key", &self.keys.queue)
            .field("visibility", &self.visibility)
            .finish_non_exhaustive()
    }
}

impl RedisQueue {
    /// Connects to `url` (`redis://…`), keeping keys under `prefix` (such as
    /// [`DEFAULT_PREFIX`](crate::DEFAULT_PREFIX)); leases last `visibility` without a heartbeat.
    pub async fn connect(url: &str, prefix: &str, visibility: Duration) -> Result<Self> {
        let (client, conn) = connect_client(url).await?;
        Ok(Self::from_parts(client, conn, prefix, visibility))
    }

    fn from_parts(
        client: Client,
        conn: ConnectionManager,
        prefix: &str,
        visibility: Duration,
    ) -> Self {
        RedisQueue {
            client,
            conn,
            idle_blocking: Mutex::new(Vec::new()),
            keys: Keys::new(prefix),
            scripts: Scripts::new(),
            visibility,
            // At least 1 ms: a zero-length lease would be reclaimable before it is handed out.
            visibility_ms: u64::try_from(visibility.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
        }
    }

    async fn try_take(&self, worker_id: &str, kind: JobKind) -> Result<Option<Lease>> {
        let taken: Option<(String, String, u32)> = self
            .scripts
            .take
            .key(self.keys.line(kind))
            .key(&self.keys.processing)
            .key(&self.keys.leases)
            .key(&self.keys.lease_seq)
            .arg(self.visibility_ms)
            .arg(worker_id)
            .arg(&self.keys.attempts)
            .arg(ATTEMPTS_TTL_SECS)
            .arg(kind.as_str())
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(taken.map(|(job_id, token, attempt)| Lease {
            kind,
            job_id,
            worker_id: worker_id.to_owned(),
            token,
            attempt,
        }))
    }

    /// Blocks until `kind`'s line is not empty or `timeout` passes, without taking anything.
    async fn wait_for_job(&self, kind: JobKind, timeout: Duration) -> Result<()> {
        let idle = self
            .idle_blocking
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let mut conn = match idle {
            Some(conn) => conn,
            None => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    // The server answers when the timeout below passes; the guard below
                    // covers a connection that died silently.
                    .set_response_timeout(None);
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?
            }
        };
        // BLMOVE's timeout 0 means forever: never send less than 10 ms.
        let secs = format!("{:.3}", timeout.as_secs_f64().max(0.01));
        let mut blmove = redis::cmd("BLMOVE");
        blmove
            .arg(self.keys.line(kind))
            .arg(self.keys.line(kind))
            .arg("RIGHT")
            .arg("RIGHT")
            .arg(secs);
        let blmove = blmove.query_async::<Option<String>>(&mut conn);
        match tokio::time::timeout(timeout + Duration::from_secs(1), blmove).await {
            Ok(Ok(_)) => {
                let mut idle = self
                    .idle_blocking
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if idle.len() < MAX_IDLE_BLOCKING {
                    idle.push(conn);
                }
                Ok(())
            }
            Ok(Err(e)) => Err(e.into()),
            // The connection is dropped: it may still be blocked.
            Err(_) => Ok(()),
        }
    }
}

#[async_trait]
impl JobQueue for RedisQueue {
    async fn enqueue(&self, kind: JobKind, job_id: &str) -> Result<()> {
        let _queued: i64 = self
            .scripts
            .enqueue
            .key(&self.keys.known)
            .key(self.keys.line(kind))
            .arg(job_id)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn take(
        &self,
        worker_id: &str,
        kinds: &[JobKind],
        wait: Duration,
    ) -> Result<Option<Lease>> {
        let deadline = Instant::now() + wait;
        let mut next_wait = 0;
        loop {
            for kind in kinds {
                if let Some(lease) = self.try_take(worker_id, *kind).await? {
                    return Ok(Some(lease));
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(kind) = kinds.get(next_wait % kinds.len().max(1)) else {
                return Ok(None);
            };
            if left < Duration::from_millis(1) {
                return Ok(None);
            }
            next_wait += 1;
            let slice = if kinds.len() > 1 {
                left.min(WAIT_SLICE)
            } else {
                left
            };
            self.wait_for_job(*kind, slice).await?;
        }
    }

    async fn heartbeat(&self, lease: &Lease) -> Result<bool> {
        let extended: i64 = self
            .scripts
            .heartbeat
            .key(&self.keys.processing)
            .arg(&lease.token)
            .arg(self.visibility_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(extended == 1)
    }

    async fn ack(&self, lease: &Lease) -> Result<()> {
        let acked: i64 = self
            .scripts
            .ack
            .key(&self.keys.processing)
            .key(&self.keys.leases)
            .key(&self.keys.known)
            .arg(&lease.token)
            .arg(&self.keys.attempts)
            .invoke_async(&mut self.conn.clone())
            .await?;
        if acked == 0 {
            tracing::debug!(job_id = %lease.job_id, "ack of a lease that was already lost");
        }
        Ok(())
    }

    async fn reclaim_expired(&self) -> Result<Vec<Expired>> {
        let mut expired = Vec::new();
        loop {
            let flat: Vec<String> = self
                .scripts
                .reclaim
                .key(&self.keys.processing)
                .key(&self.keys.leases)
                .key(&self.keys.known)
                .arg(RECLAIM_BATCH)
                .invoke_async(&mut self.conn.clone())
                .await?;
            let batch = flat.len() / 4;
            let mut fields = flat.into_iter();
            while let (Some(job_id), Some(worker_id), Some(attempts), Some(kind)) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            {
                let attempts = attempts.parse().map_err(|_| {
                    Error::Corrupt(format!("attempt count `{attempts}` of job {job_id}"))
                })?;
                let kind = kind
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("kind `{kind}` of job {job_id}")))?;
                expired.push(Expired {
                    kind,
                    job_id,
                    worker_id,
                    attempts,
                });
            }
            if batch < RECLAIM_BATCH {
                return Ok(expired);
            }
        }
    }

    async fn remove(&self, kind: JobKind, job_id: &str) -> Result<bool> {
        let removed: i64 = self
            .scripts
            .remove
            .key(self.keys.line(kind))
            .key(&self.keys.known)
            .arg(job_id)
            .arg(&self.keys.attempts)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(removed == 1)
    }

    async fn holds(&self, job_id: &str) -> Result<bool> {
        let member: i64 = redis::cmd("SISMEMBER")
            .arg(&self.keys.known)
            .arg(job_id)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(member == 1)
    }

    async fn announce(&self, worker: &WorkerInfo) -> Result<()> {
        let json = serde_json::to_string(worker).map_err(Error::Encode)?;
        let _: i64 = self
            .scripts
            .announce
            .key(&self.keys.workers)
            .key(&self.keys.workers_seen)
            .arg(&worker.worker_id)
            .arg(json)
            .arg(ANNOUNCE_TTL.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn withdraw(&self, worker_id: &str) -> Result<()> {
        redis::pipe()
            .cmd("ZREM")
            .arg(&self.keys.workers_seen)
            .arg(worker_id)
            .cmd("HDEL")
            .arg(&self.keys.workers)
            .arg(worker_id)
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>> {
        let raw: Vec<String> = self
            .scripts
            .workers
            .key(&self.keys.workers)
            .key(&self.keys.workers_seen)
            .invoke_async(&mut self.conn.clone())
            .await?;
        let mut live = raw
            .iter()
            .map(|json| serde_json::from_str::<WorkerInfo>(json).map_err(Error::Decode))
            .collect::<Result<Vec<_>>>()?;
        live.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        Ok(live)
    }

    async fn depth(&self) -> Result<QueueDepth> {
        let (benchmarks, probes, in_flight): (u64, u64, u64) = redis::pipe()
            .cmd("LLEN")
            .arg(&self.keys.queue)
            .cmd("LLEN")
            .arg(&self.keys.probe_queue)
            .cmd("ZCARD")
            .arg(&self.keys.processing)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(QueueDepth {
            queued: benchmarks + probes,
            in_flight,
        })
    }

    async fn ping(&self) -> Result<()> {
        redis::cmd("PING")
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    fn visibility(&self) -> Duration {
        self.visibility
    }
}

/// An event bus over Redis pub/sub: events published by any process reach the subscribers of
/// every `RedisBus` on the same URL and prefix.
pub struct RedisBus {
    conn: ConnectionManager,
    channel: String,
    sender: broadcast::Sender<JobEvent>,
    /// Reads the subscribed connection into `sender`; stopped when the bus is dropped.
    forwarder: JoinHandle<()>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus")
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl RedisBus {
    /// Connects to `url` and subscribes to the channel `<prefix>events`; returns once the
    /// subscription is active, so nothing published afterwards is missed.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self> {
        let (client, conn) = connect_client(url).await?;
        Self::from_parts(client, conn, prefix, url).await
    }

    async fn from_parts(
        client: Client,
        conn: ConnectionManager,
        prefix: &str,
        url: &str,
    ) -> Result<Self> {
        let channel = format!("{prefix}events");
        let stream = subscribe(&client, &channel)
            .await
            .map_err(|source| Error::Connect {
                url: redact(url),
                source,
            })?;
        let sender = broadcast::channel(EVENT_BUFFER).0;
        let forwarder = tokio::spawn(forward(client, channel.clone(), sender.clone(), stream));
        Ok(RedisBus {
            conn,
            channel,
            sender,
            forwarder,
        })
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.forwarder.abort();
    }
}

#[async_trait]
impl EventBus for RedisBus {
    async fn publish(&self, event: &JobEvent) -> Result<()> {
        if self.forwarder.is_finished() {
            return Err(Error::Closed);
        }
        let payload = serde_json::to_string(event).map_err(Error::Encode)?;
        redis::cmd("PUBLISH")
            .arg(&self.channel)
            .arg(payload)
            .query_async::<i64>(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.sender.subscribe()
    }
}

/// Opens the queue and the bus on one shared connection (what [`crate::open`] uses).
pub(crate) async fn connect_pair(
    url: &str,
    prefix: &str,
    visibility: Duration,
) -> Result<(RedisQueue, RedisBus)> {
    let (client, conn) = connect_client(url).await?;
    let bus = RedisBus::from_parts(client.clone(), conn.clone(), prefix, url).await?;
    Ok((
        RedisQueue::from_parts(client, conn, prefix, visibility),
        bus,
    ))
}

/// Parses `url` and connects, failing fast (a couple of seconds) when Redis is unreachable.
async fn connect_client(url: &str) -> Result<(Client, ConnectionManager)> {
    let client = Client::open(url).map_err(|source| Error::InvalidUrl {
        url: redact(url),
        source,
    })?;
    let connect_error = |source: RedisError| Error::Connect {
        url: redact(url),
        source,
    };
    // One direct attempt first: the manager would retry for several seconds before failing.
    let mut probe = client
        .get_multiplexed_async_connection_with_config(
            &AsyncConnectionConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                .set_response_timeout(Some(RESPONSE_TIMEOUT)),
        )
        .await
        .map_err(connect_error)?;
    redis::cmd("PING")
        .query_async::<()>(&mut probe)
        .await
        .map_err(connect_error)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_max_delay(Duration::from_secs(2));
    let conn = ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(connect_error)?;
    Ok((client, conn))
}

async fn subscribe(client: &Client, channel: &str) -> Result<PubSubStream, RedisError> {
    let connect = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok(pubsub.into_on_message())
    };
    match tokio::time::timeout(CONNECT_TIMEOUT + RESPONSE_TIMEOUT, connect).await {
        Ok(subscribed) => subscribed,
        Err(_) => Err(RedisError::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "subscribing to the events channel timed out",
        ))),
    }
}

/// Forwards events from the subscribed `stream` into `sender`, resubscribing whenever the
/// connection is lost. Runs until aborted.
async fn forward(
    client: Client,
    channel: String,
    sender: broadcast::Sender<JobEvent>,
    mut stream: PubSubStream,
) {
    loop {
        while let Some(msg) = stream.next().await {
            match serde_json::from_slice::<JobEvent>(msg.get_payload_bytes()) {
                // An error only means nobody listens right now.
                Ok(event) => {
                    let _ = sender.send(event);
                }
                Err(e) => {
                    let error = Error::Decode(e);
                    tracing::warn!(
                        channel = %channel,
                        error = &error as &dyn std::error::Error,
                        "ignoring a message that is not a job event"
                    );
                }
            }
        }
        let mut delay = RESUBSCRIBE_MIN;
        tracing::warn!(channel = %channel, "lost the Redis events subscription; reconnecting");
        stream = loop {
            tokio::time::sleep(delay).await;
            match subscribe(&client, &channel).await {
                Ok(stream) => {
                    tracing::info!(channel = %channel, "resubscribed to Redis events");
                    break stream;
                }
                Err(e) => {
                    tracing::warn!(
                        channel = %channel,
                        error = &e as &dyn std::error::Error,
                        retry_in_ms = delay.as_millis() as u64,
                        "cannot resubscribe to Redis events"
                    );
                    delay = (delay * 2).min(RESUBSCRIBE_MAX);
                }
            }
        };
    }
}
