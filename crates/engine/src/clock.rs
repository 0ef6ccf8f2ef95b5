//! One monotonic time base per run, as nanosecond offsets, so slots, deadlines and samples
//! from every thread are comparable integers.

use std::time::{Duration, Instant};

/// Nanoseconds since the run's base instant.
pub(crate) type Nanos = u64;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
    /// The base as CLOCK_MONOTONIC nanoseconds, for absolute timerfd deadlines. `Instant`
    /// reads the same clock, so the two agree to within the few ns between the reads.
    base_monotonic: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let base = Instant::now();
        Clock {
            base,
            base_monotonic: monotonic_now(),
        }
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

    /// `at` as an absolute CLOCK_MONOTONIC time in nanoseconds.
    pub(crate) fn monotonic(&self, at: Nanos) -> u64 {
        self.base_monotonic + at
    }
}

/// Arms the timerfd `fd` to fire once at `at` on `clock` (absolute, so no drift).
pub(crate) fn arm_timerfd(fd: std::os::fd::RawFd, clock: &Clock, at: Nanos) -> std::io::Result<()> {
    let abs = clock.monotonic(at);
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (abs / NANOS_PER_SEC) as libc::time_t,
            tv_nsec: (abs % NANOS_PER_SEC) as libc::c_long,
        },
    };
    // SAFETY: the caller passes a timerfd; the itimerspec is fully initialised.
    let rc =
        unsafe { libc::timerfd_settime(fd, libc::TFD_TIMER_ABSTIME, &spec, std::ptr::null_mut()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn monotonic_now() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// `clock` now, in nanoseconds.
pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * NANOS_PER_SEC + ts.tv_nsec as u64
}

/// Sleeps until `at` on `clock`, whatever else becomes ready meanwhile.
pub(crate) fn sleep_until(clock: &Clock, at: Nanos) {
    let abs = clock.monotonic(at);
    let ts = libc::timespec {
        tv_sec: (abs / NANOS_PER_SEC) as libc::time_t,
        tv_nsec: (abs % NANOS_PER_SEC) as libc::c_long,
    };
    // SAFETY: an absolute sleep on CLOCK_MONOTONIC with a valid timespec and no remainder
    // pointer; an interruption only wakes us early, which the loop handles.
    unsafe {
        libc::clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &ts,
            std::ptr::null_mut(),
        )
    };
}

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

pub(crate) fn secs_to_nanos(s: f64) -> Nanos {
    (s * NANOS_PER_SEC as f64).round() as Nanos
}
