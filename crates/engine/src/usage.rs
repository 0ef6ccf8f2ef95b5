//! The generator's own CPU time and peak memory, from getrusage(2).

/// CPU seconds (user, system) and peak RSS in bytes of this process so far.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Usage {
    pub user_s: f64,
    pub system_s: f64,
    pub max_rss_bytes: u64,
}

pub(crate) fn usage() -> Usage {
    // SAFETY: getrusage only writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    if rc != 0 {
        return Usage::default();
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        user_s: secs(ru.ru_utime),
        system_s: secs(ru.ru_stime),
        // Linux reports kilobytes.
        max_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
    }
}
