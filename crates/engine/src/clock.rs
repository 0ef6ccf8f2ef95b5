//! One monotonic time base per run, as nanosecond offsets, so slots, deadlines and samples
//! from every thread are comparable integers.

use std::time::{Duration, Instant};

/// Nanoseconds since the run's base instant.
pub(crate) type Nanos = u64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
}

impl Clock {
    pub(crate) fn new(base: Instant) -> Self {
        Clock { base }
    }

    #[inline]
    pub(crate) fn now(&self) -> Nanos {
        self.base.elapsed().as_nanos() as Nanos
    }

    pub(crate) fn instant(&self, at: Nanos) -> Instant {
        self.base + Duration::from_nanos(at)
    }

    pub(crate) fn tokio_instant(&self, at: Nanos) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.instant(at))
    }
}

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

pub(crate) fn secs_to_nanos(s: f64) -> Nanos {
    (s * NANOS_PER_SEC as f64).round() as Nanos
}
