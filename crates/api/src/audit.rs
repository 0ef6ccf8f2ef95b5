//! The audit log: who started, cancelled or deleted what, against which target, from which
//! address, when — kept in the store, read by admins at `GET /audit`.
//!
//! Handlers record what they did (or what a policy refused); the authentication layer
//! records refused writes. A failed write to the log is logged and does not fail the
//! request: the action already happened, and a half-done answer would be worse.

use meshbench_store::AuditEntry;
use time::OffsetDateTime;

use crate::routes::auth::Caller;
use crate::AppState;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It was done.
    Ok,
    /// A policy, role or rate limit said no.
    Refused,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
        }
    }
}

/// One line to write: what, to what, where, and how it ended.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    action: &'static str,
    subject: Option<String>,
    target: Option<String>,
    outcome: Outcome,
    detail: Option<String>,
}

impl Event {
    /// `action` done (outcome `ok`).
    pub(crate) fn ok(action: &'static str) -> Event {
        Event {
            action,
            subject: None,
            target: None,
            outcome: Outcome::Ok,
            detail: None,
        }
    }

    /// `action` refused, `why`.
    pub(crate) fn refused(action: &'static str, why: impl Into<String>) -> Event {
        Event {
            outcome: Outcome::Refused,
            detail: Some(why.into()),
            ..Event::ok(action)
        }
    }

    /// What it was done to (a job, probe, report, token or user).
    pub(crate) fn subject(mut self, subject: impl Into<String>) -> Event {
        self.subject = Some(subject.into());
        self
    }

    /// Where load was aimed.
    pub(crate) fn target(mut self, target: impl Into<String>) -> Event {
        self.target = Some(target.into());
        self
    }

    /// Anything else worth keeping.
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }
}

/// Writes `event` as done by `caller`.
pub(crate) async fn record(state: &AppState, caller: &Caller, event: Event) {
    write(
        state,
        caller.username.clone(),
        Some(caller.role),
        caller.address.clone(),
        event,
    )
    .await;
}

/// Writes `event` for someone not (yet) known as a caller: a login, a refused request.
pub(crate) async fn record_as(
    state: &AppState,
    username: Option<String>,
    address: Option<String>,
    event: Event,
) {
    write(state, username, None, address, event).await;
}

async fn write(
    state: &AppState,
    username: Option<String>,
    role: Option<meshbench_core::user::Role>,
    address: Option<String>,
    event: Event,
) {
    let entry = AuditEntry {
        audit_id: 0,
        at: OffsetDateTime::now_utc(),
        username,
        role,
        action: event.action.to_string(),
        subject: event.subject,
        target: event.target,
        address,
        outcome: event.outcome.as_str().to_string(),
        detail: event.detail,
    };
    if let Err(e) = state.store.insert_audit(&entry).await {
        tracing::error!(action = %entry.action, error = %e, "cannot write to the audit log");
    }
}
