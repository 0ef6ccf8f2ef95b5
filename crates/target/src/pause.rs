//! The pause switch used to test coordinated-omission handling in load generators.
//!
//! A pause is one atomic deadline (nanoseconds after a base instant; 0 means "not paused").
//! Answering checks it with a single relaxed load, so the unpaused hot path shares nothing
//! but a read-mostly cache line. A paused request sleeps until the deadline, then looks
//! again, because the deadline may have been pushed further meanwhile; nothing spins.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Holds answers back until a deadline.
#[derive(Debug)]
pub(crate) struct Pause {
    base: Instant,
    /// Nanoseconds after `base` at which the pause ends, plus one; 0 when not paused.
    deadline: AtomicU64,
}

impl Pause {
    /// A switch that is not paused.
    pub(crate) fn new() -> Self {
        Pause {
            base: Instant::now(),
            deadline: AtomicU64::new(0),
        }
    }

    /// Pauses until `duration` from now, or longer if an earlier call already asked for that.
    pub(crate) fn pause_for(&self, duration: Duration) {
        let until = Instant::now() + duration;
        let nanos = u64::try_from(until.duration_since(self.base).as_nanos())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1);
        self.deadline.fetch_max(nanos, Ordering::AcqRel);
    }

    /// Waits until no pause is in force. Returns at once when not paused.
    pub(crate) async fn wait(&self) {
        loop {
            let raw = self.deadline.load(Ordering::Acquire);
            if raw == 0 {
                return;
            }
            let deadline = self.base + Duration::from_nanos(raw - 1);
            if Instant::now() >= deadline {
                // Over: clear it so later requests skip the clock read, unless it was extended.
                let _ = self
                    .deadline
                    .compare_exchange(raw, 0, Ordering::AcqRel, Ordering::Acquire);
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn unpaused_returns_at_once() {
        let pause = Pause::new();
        let start = Instant::now();
        pause.wait().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_the_deadline_then_clears() {
        let pause = Pause::new();
        pause.pause_for(Duration::from_secs(1));
        let start = Instant::now();
        pause.wait().await;
        assert!(start.elapsed() >= Duration::from_secs(1));
        pause.wait().await;
        assert_eq!(pause.deadline.load(Ordering::Acquire), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_longer_pause_extends_and_a_shorter_one_does_not_cut() {
        let pause = std::sync::Arc::new(Pause::new());
        pause.pause_for(Duration::from_secs(1));
        let start = Instant::now();
        let waiter = tokio::spawn({
            let pause = pause.clone();
            async move { pause.wait().await }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        pause.pause_for(Duration::from_secs(2));
        pause.pause_for(Duration::from_millis(10));
        waiter.await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(2500));
    }
}
