//! Per-thread random numbers for the delay range and the status mix.
//!
//! A thread-local `SmallRng` keeps the hot path free of locks and shared atomics; the numbers
//! only shape synthetic load, so a fast non-cryptographic generator is the right trade.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

thread_local! {
    static RNG: RefCell<SmallRng> = RefCell::new(new_rng());
}

fn new_rng() -> SmallRng {
    SmallRng::try_from_os_rng().unwrap_or_else(|_| {
        // No OS entropy: the clock and this thread's stack address still give each thread its
        // own sequence, which is all the load shaping needs.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let marker = 0u8;
        SmallRng::seed_from_u64(nanos ^ (&marker as *const u8 as u64))
    })
}

/// A uniform integer in `[lo, hi]`; `lo` when the range is empty.
pub(crate) fn range_inclusive(lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        return lo;
    }
    RNG.with(|rng| rng.borrow_mut().random_range(lo..=hi))
}

/// A uniform number in `[0, 100)`.
pub(crate) fn percent() -> f64 {
    RNG.with(|rng| rng.borrow_mut().random::<f64>() * 100.0)
}
