//! Why the probe cannot run, in words an operator can act on.

use std::path::PathBuf;

/// Everything that stops the probe from loading, attaching or being read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// The machine has been declared BPF-less (`MESHBENCH_NO_BPF=1`).
    #[error(
        "this machine is declared BPF-less (MESHBENCH_NO_BPF=1): the eBPF probe does not run here"
    )]
    DeclaredBpfLess,
    /// Loading BPF programs needs root here (CAP_BPF + CAP_PERFMON would do, but are not
    /// checked separately).
    #[error(
        "the eBPF probe must run as root (it needs CAP_BPF and CAP_PERFMON to load BPF programs \
         and attach them to tracepoints); it is running as uid {euid}"
    )]
    NotRoot {
        /// The effective uid the process runs as.
        euid: u32,
    },
    /// The kernel exposes no BTF, which the CO-RE programs need for their field offsets.
    #[error(
        "the kernel has no BTF (/sys/kernel/btf/vmlinux is missing): the probe's CO-RE programs \
         need a kernel built with CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf,
    /// The tracepoints are found through tracefs, which is not mounted.
    #[error(
        "tracefs is not mounted at /sys/kernel/tracing, where the probe finds its tracepoints: run \
         scripts/bpf.sh (or `mount -t tracefs nodev /sys/kernel/tracing`)"
    )]
    NoTracefs,
    /// A tracepoint the probe attaches to does not exist in this kernel.
    #[error("the kernel has no tracepoint {name} (no /sys/kernel/tracing/events/{path})")]
    MissingTracepoint {
        /// `category:name`.
        name: &'static str,
        /// Its directory under tracefs' `events/`.
        path: String,
    },
    /// More ports than the kernel-side filter holds.
    #[error("the probe filters on at most {max} ports; {given} were given")]
    TooManyPorts {
        /// Ports given.
        given: usize,
        /// The kernel side's limit.
        max: usize,
    },
    /// `max_new_connections` of 0: nothing could be measured.
    #[error(
        "the probe must be able to hold at least one new connection (max_new_connections is 0)"
    )]
    NoNewConnections,
    /// The cgroup given as a filter could not be resolved to its id.
    #[error("cannot use cgroup {path} as a filter (give a cgroup v2 directory, e.g. under /sys/fs/cgroup/unified)")]
    Cgroup {
        /// The path given.
        path: PathBuf,
        /// Why it could not be read.
        #[source]
        source: std::io::Error,
    },
    /// libbpf could not open the embedded BPF object.
    #[error("opening the embedded BPF object failed")]
    Open {
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// The kernel refused to load a program; `log` is the tail of the verifier's output.
    #[error("the kernel refused to load BPF program `{program}`; the verifier said:\n{log}")]
    Load {
        /// The program's name (its C function).
        program: String,
        /// The last lines of the verifier log (or of libbpf's messages when there is none).
        log: String,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// A program loaded but could not be attached to its tracepoint.
    #[error("attaching BPF program `{program}` to tracepoint {tracepoint} failed{log}")]
    Attach {
        /// The program's name.
        program: String,
        /// The tracepoint, `category:name`.
        tracepoint: &'static str,
        /// libbpf's messages, if it printed any (starts with a separator).
        log: String,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// Reading a map or the ring buffer failed.
    #[error("reading BPF map `{map}` failed")]
    Map {
        /// The map's name.
        map: &'static str,
        /// libbpf's error.
        #[source]
        source: libbpf_rs::Error,
    },
    /// A histogram could not be encoded for the report.
    #[error("encoding a histogram for the report failed")]
    Histogram(#[from] meshbench_core::Error),
    /// The loaded object does not have the layout this build expects (a stale build).
    #[error("the BPF object does not match this build: {0}")]
    Layout(String),
    /// A benchmark's target is not a URL, so there is no port to filter on.
    #[error("`{url}` is not a URL")]
    TargetUrl {
        /// The target as given.
        url: String,
        /// Why it does not parse.
        #[source]
        source: url::ParseError,
    },
    /// A benchmark's target URL has no port and a scheme without a known default.
    #[error("`{url}` has no port to filter on")]
    TargetPort {
        /// The target as given.
        url: String,
    },
    /// The thread a probe beside a benchmark runs on failed.
    #[error("the probe beside the benchmark failed: {0}")]
    Thread(String),
}

/// Results of the probe.
pub type Result<T, E = ProbeError> = std::result::Result<T, E>;
