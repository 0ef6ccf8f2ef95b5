//! One lane's loop: take a slot, wait for its time, call the driver, record.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use meshbench_core::ErrorKind;

use crate::clock::{Clock, Nanos};
use crate::driver::{Failure, Session};
use crate::pacer::Pacer;
use crate::precise_timer::PreciseTimer;
use crate::recorder::Recorder;

/// What the lanes of one thread share. Single-threaded, so plain cells suffice.
pub(crate) struct ThreadState {
    pub clock: Clock,
    pub pacer: Pacer,
    pub recorder: RefCell<Recorder>,
    pub stop: Arc<AtomicBool>,
    pub request_timeout: Nanos,
}

/// Runs one lane on the thread's connection `connection` (counted from the thread's first).
pub(crate) async fn drive<S: Session>(mut session: S, state: Rc<ThreadState>, connection: usize) {
    let clock = state.clock;
    let timeout = state.request_timeout;
    // One timer per lane, re-armed only when it fires early (see below), instead of a new
    // timer per request: the hot path then never touches the timer wheel.
    let watchdog = tokio::time::sleep_until(clock.tokio_instant(clock.now() + timeout));
    tokio::pin!(watchdog);
    // Created on the first scheduled wait: closed-model lanes never need one.
    let mut timer: Option<Option<PreciseTimer>> = None;
    let mut now = clock.now();
    loop {
        if state.stop.load(Ordering::Relaxed) {
            break;
        }
        let Some(slot) = state.pacer.next_on(now, connection) else {
            break;
        };
        if slot.at > now {
            let precise = match timer.get_or_insert_with(PreciseTimer::new) {
                Some(timer) => timer.sleep_until(&clock, slot.at).await.is_ok(),
                None => false,
            };
            if !precise {
                tokio::time::sleep_until(clock.tokio_instant(slot.at)).await;
            }
            now = clock.now();
            if state.stop.load(Ordering::Relaxed) {
                break;
            }
        }
        let sent = now;
        let outcome = {
            let call = session.call(slot.seq);
            tokio::pin!(call);
            loop {
                tokio::select! {
                    biased;
                    outcome = &mut call => break Some(outcome),
                    () = &mut watchdog => {
                        // The watchdog was armed for an earlier request; only a call that has
                        // really run for the whole timeout is abandoned.
                        let now = clock.now();
                        if now.saturating_sub(sent) >= timeout {
                            watchdog.as_mut().reset(clock.tokio_instant(now + timeout));
                            break None;
                        }
                        watchdog.as_mut().reset(clock.tokio_instant(sent + timeout));
                    }
                }
            }
        };
        let outcome = match outcome {
            Some(outcome) => outcome,
            None => {
                session.abandon();
                Err(Failure::from(ErrorKind::Timeout))
            }
        };
        now = clock.now();
        state
            .pacer
            .record(&mut state.recorder.borrow_mut(), slot, sent, now, &outcome);
    }
}
