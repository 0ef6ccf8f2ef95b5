//! The part of a job's life the API handles, the same for every kind: store the start
//! (once, when it carries an `Idempotency-Key`), queue it or take it back, cancel it, and
//! say whether a live worker can run it. Workers do all the running.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use meshbench_core::{JobEvent, JobEventBody, JobKind, JobStatus};
use meshbench_store::{Inserted, JobState, JobUpdate};
use time::OffsetDateTime;

use crate::{ApiError, AppState};

/// The request header that makes a start idempotent.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest idempotency key accepted.
const MAX_KEY_LEN: usize = 255;
/// How long a start waits for the queue before answering 503: long enough for a Redis
/// under load, short enough that a client is not left hanging on a dead one.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(3);

/// The start's `Idempotency-Key`, if it sent one: 1–255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_KEY_LEN
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key.to_string()))
        }
        _ => Err(ApiError::field(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        )),
    }
}

/// Puts a stored start in motion: a replay (its key was used before) answers with the first
/// job's state as it is now, without queueing anything again; a new start is queued (see
/// [`enqueue_or_withdraw`]) and each job announced as pending.
pub(crate) async fn queue_start(
    state: &AppState,
    kind: JobKind,
    stored: &Inserted,
    key: Option<&str>,
) -> Result<Option<JobState>, ApiError> {
    if stored.replayed {
        let first = stored.ids.first().map(String::as_str).unwrap_or_default();
        let earlier = state.store.get_state(kind, first).await?;
        return earlier.map(Some).ok_or_else(|| {
            ApiError::internal(&format!("the {kind} `{first}` of a replayed start is gone"))
        });
    }
    // Said before the jobs are queued: a worker that takes one at once says `running`,
    // and a client must not see `pending` after that.
    for id in &stored.ids {
        let pending = JobEventBody::Status {
            status: JobStatus::Pending,
            error: None,
        };
        publish(state, id, pending).await;
    }
    enqueue_or_withdraw(state, kind, &stored.ids, key).await?;
    Ok(None)
}

/// The 503 for a start that needs a worker able to probe, saying why there is none.
pub(crate) fn probe_unavailable(reason: String) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "probe_unavailable", reason)
}

/// Queues the jobs a start stored. When the queue cannot take them, the rows (and the key)
/// are withdrawn so nothing is left that no worker will see, and the client gets a 503
/// naming the queue; retrying later (with the same key) starts exactly once. When a worker
/// took one of them meanwhile (the queue had it after all), the start stands instead.
async fn enqueue_or_withdraw(
    state: &AppState,
    kind: JobKind,
    ids: &[String],
    key: Option<&str>,
) -> Result<(), ApiError> {
    for id in ids {
        let queued = tokio::time::timeout(QUEUE_TIMEOUT, state.queue.enqueue(kind, id)).await;
        let cause = match queued {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => meshbench_core::error_chain(&e),
            Err(_) => format!("no answer within {} s", QUEUE_TIMEOUT.as_secs()),
        };
        tracing::error!(%kind, %id, "cannot queue a job: {cause}");
        let message = match state.store.withdraw(kind, ids, key).await {
            Ok(true) => format!(
                "the job queue is unreachable ({cause}); nothing was started — retry later, \
                 with the same Idempotency-Key to be sure it starts once"
            ),
            // A worker took one already (the queue had it after all): the start stands,
            // and the reconciler queues the rest when the queue answers.
            Ok(false) => {
                tracing::warn!(%kind, "the queue failed mid-start but a worker took a job; the start stands");
                return Ok(());
            }
            Err(e) => {
                tracing::error!(%kind, error = &e as &dyn std::error::Error, "cannot withdraw a start the queue refused");
                format!(
                    "the job queue is unreachable ({cause}); the start is stored and will be \
                     queued when the queue answers — retry only with the same Idempotency-Key"
                )
            }
        };
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_unavailable",
            message,
        ));
    }
    Ok(())
}

/// What a cancel did.
pub(crate) enum Cancel {
    /// It was pending: it is cancelled now and will not run.
    Now,
    /// It is running: its worker stops within a second and keeps what it measured.
    Requested,
    /// It had already ended.
    Finished(JobStatus),
    /// There is no such job.
    Missing,
}

/// Cancels job `id` of `kind` through the store, so it reaches the job whatever state the
/// queue is in: a pending job is cancelled at once (and dropped from the queue if it can
/// be), a running one is flagged for its worker.
pub(crate) async fn cancel(state: &AppState, kind: JobKind, id: &str) -> Result<Cancel, ApiError> {
    let answer = cancel_one(state, kind, id).await?;
    if kind == JobKind::Benchmark && matches!(answer, Cancel::Now | Cancel::Requested) {
        // A split run stops with its generators: each is a job of its own.
        for part in state.store.parts_of(id).await? {
            cancel_one(state, kind, &part.job_id).await?;
        }
    }
    Ok(answer)
}

async fn cancel_one(state: &AppState, kind: JobKind, id: &str) -> Result<Cancel, ApiError> {
    let update = JobUpdate {
        completed_at: Some(OffsetDateTime::now_utc()),
        error: Some("cancelled before it started".into()),
        ..JobUpdate::default()
    };
    let pending = [JobStatus::Pending];
    if let Some(job) = state
        .store
        .transition(kind, id, &pending, JobStatus::Cancelled, &update)
        .await?
    {
        // Best effort: a worker that takes it anyway finds it no longer pending.
        if let Err(e) = state.queue.remove(kind, id).await {
            tracing::warn!(%kind, %id, error = &e as &dyn std::error::Error, "cannot drop a cancelled job from the queue");
        }
        publish(
            state,
            id,
            JobEventBody::Status {
                status: JobStatus::Cancelled,
                error: job.error,
            },
        )
        .await;
        return Ok(Cancel::Now);
    }
    Ok(match state.store.request_cancel(kind, id).await? {
        None => Cancel::Missing,
        Some(JobState { status, .. }) if status.is_finished() => Cancel::Finished(status),
        Some(_) => Cancel::Requested,
    })
}

/// `Ok` when a live worker takes probe runs; otherwise why none can, for a person to read.
pub(crate) async fn probe_capability(state: &AppState) -> Result<(), String> {
    let workers = state
        .queue
        .workers()
        .await
        .map_err(|e| format!("cannot ask the queue which workers are alive: {e}"))?;
    if workers.iter().any(|w| w.takes(JobKind::Probe)) {
        return Ok(());
    }
    match workers.iter().find(|w| w.probe_unavailable.is_some()) {
        Some(w) => Err(format!(
            "no live worker can probe; worker {} on {}: {}",
            w.worker_id,
            w.host,
            w.probe_unavailable.as_deref().unwrap_or_default()
        )),
        None if workers.is_empty() => Err(
            "no worker is running: probe runs are taken by `meshbench worker` on the host to \
             probe, or by `meshbench serve`'s own workers"
                .into(),
        ),
        None => Err("no live worker takes probe runs".into()),
    }
}

/// Publishes an event about job `id`; a bus that cannot take it is logged, not fatal.
pub(crate) async fn publish(state: &AppState, id: &str, body: JobEventBody) {
    let event = JobEvent {
        job_id: id.to_string(),
        body,
    };
    // A live notification, at most once: a bus that is down must not hold up the answer.
    match tokio::time::timeout(Duration::from_millis(500), state.bus.publish(&event)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(%id, error = &e as &dyn std::error::Error, "cannot publish an event")
        }
        Err(_) => tracing::warn!(%id, "the event bus did not take an event in time"),
    }
}
