//! A timerfd per lane for the async backend, so scheduled sends leave within microseconds
//! of their time; tokio's own timer wheel rounds every sleep up to a whole millisecond.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;

use crate::clock::{arm_timerfd, Clock, Nanos};

pub(crate) struct PreciseTimer {
    fd: AsyncFd<OwnedFd>,
}

impl PreciseTimer {
    /// A timer registered with the current runtime; `None` when the OS refuses one.
    pub(crate) fn new() -> Option<Self> {
        // SAFETY: plain syscall; the result is checked before use.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: a fresh descriptor that nothing else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the OwnedFd keeps the descriptor open and unchanged for the AsyncFd's life.
        let fd = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .ok()?;
        Some(PreciseTimer { fd })
    }

    /// Waits until `at` on `clock`.
    pub(crate) async fn sleep_until(&self, clock: &Clock, at: Nanos) -> io::Result<()> {
        let raw = self.fd.get_ref().as_raw_fd();
        arm_timerfd(raw, clock, at)?;
        loop {
            if clock.now() >= at {
                return Ok(());
            }
            let mut guard = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads at most 8 bytes into our buffer.
            let n = unsafe { libc::read(raw, expirations.as_mut_ptr().cast(), 8) };
            guard.clear_ready();
            if n == 8 {
                return Ok(());
            }
        }
    }
}
