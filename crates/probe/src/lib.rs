//! meshbench's eBPF TCP latency probe: what the kernel sees of the connections a benchmark
//! makes, measured in the kernel rather than in the load generator, so mesh sidecars and
//! proxies on the same host show up as they are.
//!
//! The kernel side (`src/bpf/probe.bpf.c`, whose header comment says exactly what each figure
//! measures) attaches to tracepoints only, as typed raw tracepoints — the target kernels have
//! no kprobes and refuse fentry/fexit — keeps per-socket state in a preallocated hash until a
//! connection's second request, then in socket-local storage, and keeps its results in
//! per-CPU maps: log-linear histograms of nanoseconds (~3 % buckets) and
//! counters, plus, when asked for, a ring buffer with one event per closed connection. User space reads the maps once a second ([`Probe::second`]), turns bucket
//! counts into HdrHistograms (µs, see [`report`]) and builds a [`ProbeReport`].
//!
//! Running it needs root, kernel BTF and tracefs; [`availability`] checks those cheaply and
//! says what is missing. Building it needs clang (scripts/bpf.sh installs it).

mod beside;
mod error;
mod kernel;
mod probe;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

pub use beside::ProbeBeside;
pub use error::{ProbeError, Result};
pub use probe::{
    cgroup2_mount, find_pod_cgroup, run_attached, run_until, Probe, ProbeCounts, ProbeSecond,
};
pub use report::{render_csv, render_table, ProbeReport};

/// Most ports the kernel-side filter holds (`FILTER_MAX_PORTS` in probe.h).
pub const FILTER_MAX_PORTS: usize = 8;

/// Where kernel BTF lives; CO-RE relocations need it.
const BTF_PATH: &str = "/sys/kernel/btf/vmlinux";
/// Where classic tracepoints are listed.
const TRACEFS_EVENTS: &str = "/sys/kernel/tracing/events";

/// The tracepoints the probe attaches to, as typed raw tracepoints (all must exist).
pub const TRACEPOINTS: [&str; 5] = [
    "sock:inet_sock_set_state",
    "tcp:tcp_retransmit_skb",
    "tcp:tcp_send_reset",
    "tcp:tcp_receive_reset",
    "sock:sock_recv_length",
];

/// Which traffic the probe counts. Filters combine: a connection must pass all that are set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeFilter {
    /// Up to [`FILTER_MAX_PORTS`] ports, each matched against the local OR the remote port;
    /// empty counts every port.
    pub ports: Vec<u16>,
    /// Only sockets owned by this process (tgid); `None` (or 0) counts every process. A
    /// socket's owner is the process seen in its connect, recv or close syscalls.
    pub pid: Option<u32>,
    /// Only sockets owned by processes in this cgroup v2 directory (e.g. under
    /// `/sys/fs/cgroup/unified`); not its descendants.
    pub cgroup: Option<PathBuf>,
    /// Only sockets owned by processes in one of these cgroup v2 directories or below them
    /// (a pod's cgroup holds its containers' cgroups); at most 256, at no more than 4
    /// depths.
    pub cgroup_trees: Vec<PathBuf>,
    /// Also report each closed connection (owner, addresses, duration, bytes) in
    /// [`ProbeSecond::closed`]; costs a ring buffer record per connection, so off unless
    /// wanted (the report needs only the in-kernel counts and histograms).
    pub connection_events: bool,
    /// How many connections the kernel side holds before their second request (each local
    /// end counts, and idle ones stay until they close); `None` is
    /// [`DEFAULT_NEW_CONNECTIONS`]. Sockets beyond it are not measured, and counted.
    pub max_new_connections: Option<u32>,
}

/// The default of [`ProbeFilter::max_new_connections`].
pub const DEFAULT_NEW_CONNECTIONS: u32 = meshbench_core::probe::DEFAULT_PROBE_NEW_CONNECTIONS;

impl ProbeFilter {
    /// The filter for a benchmark of `url`: its target's port (80 and 443 when the URL
    /// names none, gRPC included), or why there is none.
    pub fn for_target(url: &str) -> Result<ProbeFilter> {
        let parsed = url::Url::parse(url).map_err(|source| ProbeError::TargetUrl {
            url: url.to_string(),
            source,
        })?;
        let port = parsed
            .port_or_known_default()
            .or(match parsed.scheme() {
                "grpc" => Some(80),
                "grpcs" => Some(443),
                _ => None,
            })
            .ok_or_else(|| ProbeError::TargetPort {
                url: url.to_string(),
            })?;
        Ok(ProbeFilter {
            ports: vec![port],
            ..ProbeFilter::default()
        })
    }
}

/// Whether the probe can run here: root, kernel BTF, tracefs, and every tracepoint it uses.
/// Cheap (a few `stat`s); loading can still fail, with a [`ProbeError::Load`] saying why.
pub fn availability() -> Result<()> {
    if std::env::var("MESHBENCH_NO_BPF").is_ok_and(|v| v == "1") {
        return Err(ProbeError::DeclaredBpfLess);
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(ProbeError::NotRoot { euid });
    }
    if !Path::new(BTF_PATH).exists() {
        return Err(ProbeError::NoBtf);
    }
    // Without tracefs mounted, /sys/kernel/tracing is an empty directory.
    if !Path::new(TRACEFS_EVENTS).is_dir() {
        return Err(ProbeError::NoTracefs);
    }
    for name in TRACEPOINTS {
        let path = name.replace(':', "/");
        if !Path::new(TRACEFS_EVENTS).join(&path).is_dir() {
            return Err(ProbeError::MissingTracepoint { name, path });
        }
    }
    Ok(())
}

/// Runs the probe for `duration`, calling `on_second` with each second's figures, and returns
/// the report. See [`run_until`] to stop it early.
pub fn run(
    filter: &ProbeFilter,
    duration: Duration,
    on_second: impl FnMut(&ProbeSecond),
) -> Result<ProbeReport> {
    run_until(filter, duration, &AtomicBool::new(false), on_second)
}

/// Loads `src/bpf/rejected.bpf.c`, which the verifier must refuse, and returns the error:
/// lets tests check that a verifier rejection reaches the user intact.
#[doc(hidden)]
pub fn load_rejected_for_test() -> Result<()> {
    use libbpf_rs::skel::{OpenSkel as _, SkelBuilder as _};

    availability()?;
    let capture = probe::LogCapture::begin();
    let mut object = std::mem::MaybeUninit::uninit();
    let open = kernel::rejected_skel::RejectedSkelBuilder::default()
        .open(&mut object)
        .map_err(|source| ProbeError::Open { source })?;
    let _loaded = open.load().map_err(|source| capture.load_error(source))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_gives_its_port_or_says_why_not() {
        assert_eq!(
            ProbeFilter::for_target("http://x:8080/").unwrap().ports,
            [8080]
        );
        assert_eq!(ProbeFilter::for_target("https://x/").unwrap().ports, [443]);
        assert_eq!(ProbeFilter::for_target("grpc://x").unwrap().ports, [80]);
        let e = ProbeFilter::for_target("not a url").unwrap_err();
        assert!(matches!(e, ProbeError::TargetUrl { .. }), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let e = ProbeFilter::for_target("unix:/run/x.sock").unwrap_err();
        assert!(matches!(e, ProbeError::TargetPort { .. }), "{e}");
    }
}
