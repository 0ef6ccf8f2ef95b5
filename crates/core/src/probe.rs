//! The eBPF latency probe's request (`POST /ebpf/probe/start`, `meshbench probe`): what to
//! watch and for how long, validated here so the API and the command line refuse the same
//! things with the same words; and its report, the `meshbench.probe.v1` document, with its
//! CSV and table forms.
//!
//! All latencies are microseconds. The kernel keeps nanoseconds in log-linear buckets (~3 %
//! wide); each bucket's count is recorded into an HdrHistogram at the bucket's midpoint,
//! rounded to the nearest microsecond with 1 µs as the floor (the histogram range of
//! [`crate::histogram`], 1 µs to 1 h), so every percentile comes from the same HdrHistogram
//! code path as the rest of meshbench and the encoded histograms merge with theirs.
//! Sub-microsecond values (a server answering from cache in 400 ns) therefore show as 1 µs.

use std::fmt::Write as _;
use std::net::SocketAddr;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::start::FieldError;

/// Ports one probe can filter on (the kernel side keeps a fixed-size list).
pub const MAX_PROBE_PORTS: usize = 8;
/// The longest probe run, in seconds.
pub const MAX_PROBE_DURATION: u32 = 3600;
/// How many connections a probe's table of new connections holds unless asked otherwise.
pub const DEFAULT_PROBE_NEW_CONNECTIONS: u32 = 65_536;
/// The most connections a probe's table of new connections can be asked to hold (each place
/// costs about 120 bytes of kernel memory, preallocated: 4,194,304 is about 500 MB).
pub const MAX_PROBE_NEW_CONNECTIONS: u32 = 4_194_304;
/// The output formats a probe's report can be given in.
pub const PROBE_OUTPUT_FORMATS: [&str; 3] = ["json", "csv", "table"];

/// The forms a probe's report downloads in: json, csv or table.
// The values of PROBE_OUTPUT_FORMATS, for the API documentation only: requests carry a
// string, so the 422 for a wrong one can name its field.
#[cfg(feature = "openapi")]
#[derive(Debug, Clone, Copy, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ProbeOutputFormat {
    /// The `meshbench.probe.v1` document.
    Json,
    /// One row per histogram and figure.
    Csv,
    /// A text table for a person.
    Table,
}

/// The schema of `ports`: up to [`MAX_PROBE_PORTS`] ports, each 1–65535.
#[cfg(feature = "openapi")]
fn ports_schema() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let port = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(u16::MAX));
    ArrayBuilder::new()
        .items(port)
        .max_items(Some(MAX_PROBE_PORTS))
        .description(Some(
            "Only connections with one of these local or remote ports (at most 8).",
        ))
        .build()
}

/// A probe run as clients ask for it: the seed's `duration` and `output_format`, and filters.
/// Every filter is optional; none means every TCP connection on the host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeRequest {
    /// Seconds to watch (1–3600).
    #[serde(default = "default_duration")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3600))]
    pub duration: u32,
    /// `json`, `csv` or `table`: the form the report downloads in.
    #[serde(default = "default_output_format")]
    #[cfg_attr(feature = "openapi", schema(value_type = ProbeOutputFormat))]
    pub output_format: String,
    /// Kubernetes namespace of the pods to watch; needs a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pod name prefix within `namespace`; needs a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_filter: Option<String>,
    /// Only connections with one of these local or remote ports (at most 8).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(schema_with = ports_schema))]
    pub ports: Vec<u16>,
    /// Only connections of this process (its thread group id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub pid: Option<u32>,
    /// Only connections of processes in this cgroup v2 directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// How many connections the probe holds before their second request (each local end
    /// counts; 65,536 when absent). Sockets beyond it are not measured, and counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 4194304))]
    pub max_new_connections: Option<u32>,
}

fn default_duration() -> u32 {
    60
}

fn default_output_format() -> String {
    "json".into()
}

impl Default for ProbeRequest {
    fn default() -> Self {
        ProbeRequest {
            duration: default_duration(),
            output_format: default_output_format(),
            namespace: None,
            pod_filter: None,
            ports: Vec::new(),
            pid: None,
            cgroup: None,
            max_new_connections: None,
        }
    }
}

impl ProbeRequest {
    /// Every field that cannot be used, each with the rule it breaks; empty when runnable.
    /// `kubernetes` says whether a cluster is configured (pod filters need one).
    pub fn validate(&self, kubernetes: bool) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                message,
            })
        };
        if !(1..=MAX_PROBE_DURATION).contains(&self.duration) {
            fail(
                "duration",
                format!("must be between 1 and {MAX_PROBE_DURATION} seconds"),
            );
        }
        if !PROBE_OUTPUT_FORMATS.contains(&self.output_format.as_str()) {
            fail(
                "output_format",
                format!("must be one of {}", PROBE_OUTPUT_FORMATS.join(", ")),
            );
        }
        if self.ports.len() > MAX_PROBE_PORTS {
            fail("ports", format!("at most {MAX_PROBE_PORTS} ports"));
        }
        if self.ports.contains(&0) {
            fail("ports", "port 0 is not a port".into());
        }
        if self.pid == Some(0) {
            fail("pid", "must be a process id above 0".into());
        }
        if let Some(cgroup) = &self.cgroup {
            if !cgroup.starts_with('/') || cgroup.split('/').any(|part| part == "..") {
                fail(
                    "cgroup",
                    "must be an absolute cgroup v2 directory path without `..`".into(),
                );
            }
        }
        if let Some(n) = self.max_new_connections {
            if !(1..=MAX_PROBE_NEW_CONNECTIONS).contains(&n) {
                fail(
                    "max_new_connections",
                    format!("must be between 1 and {MAX_PROBE_NEW_CONNECTIONS}"),
                );
            }
        }
        for (field, value) in [
            ("namespace", &self.namespace),
            ("pod_filter", &self.pod_filter),
        ] {
            if value.is_some() && !kubernetes {
                fail(
                    field,
                    "filtering by pod needs a Kubernetes cluster, and none is configured; filter by ports, pid or cgroup".into(),
                );
            }
        }
        if kubernetes {
            if self.pod_filter.is_some() && self.namespace.is_none() {
                fail(
                    "pod_filter",
                    "needs namespace: pods are found by namespace, then by name prefix".into(),
                );
            }
            if let Some(ns) = &self.namespace {
                let label = |s: &str| {
                    !s.is_empty()
                        && s.len() <= 63
                        && s.bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                };
                if !label(ns) {
                    fail(
                        "namespace",
                        "must be a namespace name (lowercase letters, digits and '-')".into(),
                    );
                }
            }
        }
        errors
    }
}

/// The `schema` of a [`ProbeReport`].
pub const PROBE_SCHEMA: &str = "meshbench.probe.v1";

/// What the probe measured over one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Always [`PROBE_SCHEMA`].
    pub schema: String,
    /// When the probe was attached.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Seconds the probe was attached.
    pub duration_s: f64,
    /// Which traffic was counted.
    pub filter: FilterReport,
    /// Active opens (this host connected): SYN sent -> SYN-ACK processed.
    pub connections: HandshakeReport,
    /// Passive opens (this host accepted): SYN-ACK sent -> the final ACK received.
    pub accepts: HandshakeReport,
    /// Connections that opened and closed while the probe ran (each local end counts once).
    pub lifetimes: LifetimeReport,
    /// Smoothed RTT, sampled as each burst of reads on a socket begins (once per turn).
    pub rtt_us: SampleReport,
    /// Per request, this host's time inside: request read -> response sent (server's socket).
    pub server_time_us: SampleReport,
    /// Per request, the client's socket's view: request sent -> response read.
    pub exchange_time_us: SampleReport,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Resets sent and received.
    pub resets: Resets,
    /// Connects that ended before the handshake completed (SYN_SENT -> CLOSE).
    pub connect_failures: u64,
    /// Close events lost because the ring buffer was full (the counts above still hold).
    pub events_dropped: u64,
    /// Sockets left unmeasured because the probe's table of new connections was full (absent
    /// from reports made before it was counted).
    #[serde(default)]
    pub sockets_untracked: u64,
    /// One entry per second of the run.
    pub timeline: Vec<ProbeTimelineEntry>,
}

impl ProbeReport {
    /// Folds the timeline's seconds from `seconds` on into the second before, so a probe beside
    /// a benchmark has the benchmark's seconds: the engine reports requests still in flight at
    /// the end as an extra second (and adds them to its last), and the probe's last read adds
    /// the sliver after it. Counts add up; the folded seconds' percentiles are dropped.
    pub fn fit_timeline(&mut self, seconds: usize) {
        if seconds == 0 || self.timeline.len() <= seconds {
            return;
        }
        let extra = self.timeline.split_off(seconds);
        if let Some(last) = self.timeline.last_mut() {
            for e in extra {
                last.connects += e.connects;
                last.accepts += e.accepts;
                last.closes += e.closes;
                last.retransmits += e.retransmits;
                last.resets += e.resets;
                last.bytes_sent += e.bytes_sent;
                last.bytes_received += e.bytes_received;
            }
        }
    }

    /// Every histogram the report carries, by its name in the document.
    pub fn histograms(&self) -> [(&'static str, &str); 6] {
        [
            ("connections", &self.connections.histogram),
            ("accepts", &self.accepts.histogram),
            ("lifetimes", &self.lifetimes.histogram),
            ("rtt_us", &self.rtt_us.histogram),
            ("server_time_us", &self.server_time_us.histogram),
            ("exchange_time_us", &self.exchange_time_us.histogram),
        ]
    }
}

/// The filter a report was taken with.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FilterReport {
    /// Local or remote ports counted; empty means all.
    pub ports: Vec<u16>,
    /// The process (tgid) counted; none means all.
    pub pid: Option<u32>,
    /// The cgroup v2 directory counted; none means all.
    pub cgroup: Option<String>,
    /// That cgroup's id (its directory's inode number).
    pub cgroup_id: Option<u64>,
    /// Cgroup v2 trees counted, descendants included (pods' cgroups, their containers
    /// below them); empty means none asked for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroup_trees: Vec<String>,
    /// The pods those trees are, as `namespace/pod` (probe runs filtered by pod).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<String>,
}

/// The summary every latency in the report carries, microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest value.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Percentiles {
    /// The summary of a histogram in microseconds; all zero when it is empty.
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// Handshake times of one side.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct HandshakeReport {
    /// Handshakes measured.
    pub count: u64,
    /// Their durations.
    pub latency_us: Percentiles,
    /// The HdrHistogram (µs), base64 of its compressed V2 encoding.
    pub histogram: String,
}

/// Connection lifetimes and the payload they carried.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LifetimeReport {
    /// Closed connections. A loopback connection inside the filter closes twice: once for
    /// each local end.
    pub count: u64,
    /// Of those, the ends this host opened (connect).
    pub active: u64,
    /// Of those, the ends this host accepted.
    pub passive: u64,
    /// First state change (SYN sent, or SYN received) -> CLOSE.
    pub duration_us: Percentiles,
    /// Payload bytes the peers acknowledged (SYN and FIN not counted).
    pub bytes_sent: u64,
    /// Payload bytes received (FIN not counted).
    pub bytes_received: u64,
    /// The HdrHistogram (µs), base64 of its compressed V2 encoding.
    pub histogram: String,
}

/// A count of samples and their summary.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SampleReport {
    /// Samples taken.
    pub count: u64,
    /// Their summary, flattened into this object.
    #[serde(flatten)]
    pub summary: Percentiles,
    /// The HdrHistogram (µs), base64 of its compressed V2 encoding.
    pub histogram: String,
}

/// Resets seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resets {
    /// Resets this host sent.
    pub sent: u64,
    /// Resets this host received.
    pub received: u64,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProbeTimelineEntry {
    /// Seconds since the probe was attached (0 is the first second).
    pub second: u64,
    /// Active opens completed.
    pub connects: u64,
    /// Passive opens measured.
    pub accepts: u64,
    /// Connections closed.
    pub closes: u64,
    /// Median connect latency, µs (0 without connects).
    pub connect_p50_us: u64,
    /// 99th percentile connect latency, µs.
    pub connect_p99_us: u64,
    /// Median smoothed RTT, µs.
    pub rtt_p50_us: u64,
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Resets sent and received.
    pub resets: u64,
    /// Payload bytes sent by connections that closed in this second.
    pub bytes_sent: u64,
    /// Payload bytes received by connections that closed in this second.
    pub bytes_received: u64,
}

/// One connection end that closed, from the kernel's ring buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedConnection {
    /// The owning process (tgid), when it was seen in one of its syscalls.
    pub pid: Option<u32>,
    /// The owning process' command name.
    pub comm: Option<String>,
    /// The owning process' cgroup v2 id.
    pub cgroup_id: Option<u64>,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port.
    pub remote: SocketAddr,
    /// Whether this host opened it (connect) rather than accepted it.
    pub active: bool,
    /// First state change -> CLOSE, nanoseconds.
    pub duration_ns: u64,
    /// Payload bytes the peer acknowledged.
    pub bytes_sent: u64,
    /// Payload bytes received.
    pub bytes_received: u64,
}

/// Columns of [`render_csv`], a line per measure.
#[rustfmt::skip]
const CSV_HEADER: [&str; 51] = [
    "started_at", "duration_s", "ports", "pid", "cgroup",
    "connects", "connect_p50_us", "connect_p90_us", "connect_p99_us", "connect_max_us", "connect_mean_us",
    "accepts", "accept_p50_us", "accept_p90_us", "accept_p99_us", "accept_max_us", "accept_mean_us",
    "closes", "closes_active", "closes_passive",
    "lifetime_p50_us", "lifetime_p90_us", "lifetime_p99_us", "lifetime_max_us", "lifetime_mean_us",
    "bytes_sent", "bytes_received",
    "rtt_samples", "rtt_p50_us", "rtt_p90_us", "rtt_p99_us", "rtt_max_us", "rtt_mean_us",
    "server_samples", "server_p50_us", "server_p90_us", "server_p99_us", "server_max_us", "server_mean_us",
    "exchange_samples", "exchange_p50_us", "exchange_p90_us", "exchange_p99_us", "exchange_max_us", "exchange_mean_us",
    "retransmits", "resets_sent", "resets_received", "connect_failures", "events_dropped", "sockets_untracked",
];

/// The report as CSV: a header line and one row (the timeline is left to the JSON form).
pub fn render_csv(r: &ProbeReport) -> String {
    let started = r
        .started_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let ports = r
        .filter
        .ports
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let mut row = vec![
        started,
        format!("{:.3}", r.duration_s),
        ports,
        r.filter.pid.map(|p| p.to_string()).unwrap_or_default(),
        r.filter.cgroup.clone().unwrap_or_default(),
    ];
    let mut summary = |count: u64, p: &Percentiles| {
        row.push(count.to_string());
        for v in [p.p50, p.p90, p.p99, p.max] {
            row.push(v.to_string());
        }
        row.push(format!("{:.1}", p.mean));
    };
    summary(r.connections.count, &r.connections.latency_us);
    summary(r.accepts.count, &r.accepts.latency_us);
    let l = &r.lifetimes;
    row.push(l.count.to_string());
    row.push(l.active.to_string());
    row.push(l.passive.to_string());
    let p = &l.duration_us;
    for v in [p.p50, p.p90, p.p99, p.max] {
        row.push(v.to_string());
    }
    row.push(format!("{:.1}", p.mean));
    row.push(l.bytes_sent.to_string());
    row.push(l.bytes_received.to_string());
    let mut summary = |s: &SampleReport| {
        row.push(s.count.to_string());
        let p = &s.summary;
        for v in [p.p50, p.p90, p.p99, p.max] {
            row.push(v.to_string());
        }
        row.push(format!("{:.1}", p.mean));
    };
    summary(&r.rtt_us);
    summary(&r.server_time_us);
    summary(&r.exchange_time_us);
    for v in [
        r.retransmits,
        r.resets.sent,
        r.resets.received,
        r.connect_failures,
        r.events_dropped,
        r.sockets_untracked,
    ] {
        row.push(v.to_string());
    }
    crate::csv::to_string(&CSV_HEADER, [row])
}

/// The report as a table for the terminal.
pub fn render_table(r: &ProbeReport) -> String {
    let mut out = String::new();
    let ports = if r.filter.ports.is_empty() {
        "all".to_owned()
    } else {
        r.filter
            .ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",")
    };
    let pid = r.filter.pid.map_or("all".to_owned(), |p| p.to_string());
    let cgroup = r.filter.cgroup.clone().unwrap_or_else(|| "all".to_owned());
    let _ = writeln!(
        out,
        "eBPF TCP probe: {:.1} s, ports {ports}, pid {pid}, cgroup {cgroup}",
        r.duration_s
    );
    let _ = writeln!(
        out,
        "  {:<26} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "µs", "count", "p50", "p90", "p99", "max", "mean"
    );
    let mut line = |name: &str, count: u64, p: &Percentiles| {
        let _ = writeln!(
            out,
            "  {name:<26} {count:>8} {:>9} {:>9} {:>9} {:>9} {:>9.1}",
            p.p50, p.p90, p.p99, p.max, p.mean
        );
    };
    line(
        "connect (SYN -> SYN-ACK)",
        r.connections.count,
        &r.connections.latency_us,
    );
    line(
        "accept (SYN-ACK -> ACK)",
        r.accepts.count,
        &r.accepts.latency_us,
    );
    line("lifetime", r.lifetimes.count, &r.lifetimes.duration_us);
    line("rtt (srtt)", r.rtt_us.count, &r.rtt_us.summary);
    line(
        "server time",
        r.server_time_us.count,
        &r.server_time_us.summary,
    );
    line(
        "exchange time",
        r.exchange_time_us.count,
        &r.exchange_time_us.summary,
    );
    let l = &r.lifetimes;
    let _ = writeln!(
        out,
        "  closed {} ({} opened here, {} accepted); payload sent {} B, received {} B",
        l.count, l.active, l.passive, l.bytes_sent, l.bytes_received
    );
    let _ = writeln!(
        out,
        "  retransmits {}, resets sent {} / received {}, failed connects {}",
        r.retransmits, r.resets.sent, r.resets.received, r.connect_failures
    );
    if r.events_dropped > 0 {
        let _ = writeln!(
            out,
            "  {} close events lost (ring buffer full); counts above are complete",
            r.events_dropped
        );
    }
    if r.sockets_untracked > 0 {
        let _ = writeln!(
            out,
            "  {} sockets not measured: the probe's table of new connections was full",
            r.sockets_untracked
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str, kubernetes: bool) -> Vec<String> {
        let request: ProbeRequest = serde_json::from_str(json).unwrap();
        request
            .validate(kubernetes)
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_seed_request_is_valid_and_defaults_fill_in() {
        let request: ProbeRequest =
            serde_json::from_str(r#"{"duration": 60, "output_format": "json"}"#).unwrap();
        assert_eq!(request, ProbeRequest::default());
        assert!(request.validate(false).is_empty());
    }

    #[test]
    fn each_bad_field_is_named() {
        assert_eq!(fields(r#"{"duration": 0}"#, false), ["duration"]);
        assert_eq!(
            fields(r#"{"output_format": "xml"}"#, false),
            ["output_format"]
        );
        assert_eq!(
            fields(r#"{"ports": [1,2,3,4,5,6,7,8,9]}"#, false),
            ["ports"]
        );
        assert_eq!(fields(r#"{"ports": [0]}"#, false), ["ports"]);
        assert_eq!(fields(r#"{"pid": 0}"#, false), ["pid"]);
        assert_eq!(fields(r#"{"cgroup": "user.slice"}"#, false), ["cgroup"]);
        assert_eq!(fields(r#"{"cgroup": "/a/../b"}"#, false), ["cgroup"]);
        assert_eq!(fields(r#"{"namespace": "default"}"#, false), ["namespace"]);
        assert_eq!(
            fields(r#"{"max_new_connections": 0}"#, false),
            ["max_new_connections"]
        );
        assert_eq!(
            fields(r#"{"max_new_connections": 4194305}"#, false),
            ["max_new_connections"]
        );
        assert!(fields(r#"{"max_new_connections": 4194304}"#, false).is_empty());
        assert!(fields(r#"{"namespace": "default", "pod_filter": "web"}"#, true).is_empty());
        assert_eq!(fields(r#"{"pod_filter": "web"}"#, true), ["pod_filter"]);
        assert_eq!(fields(r#"{"namespace": "Bad_Name"}"#, true), ["namespace"]);
        assert!(serde_json::from_str::<ProbeRequest>(r#"{"port": 80}"#).is_err());
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    fn example() -> ProbeReport {
        let p = Percentiles {
            p50: 20,
            p90: 30,
            p99: 40,
            max: 50,
            mean: 22.5,
        };
        let sample = SampleReport {
            count: 3,
            summary: p,
            histogram: String::new(),
        };
        ProbeReport {
            schema: PROBE_SCHEMA.to_owned(),
            started_at: OffsetDateTime::UNIX_EPOCH,
            duration_s: 3.0,
            filter: FilterReport {
                ports: vec![8080, 9090],
                pid: None,
                cgroup: Some("/sys/fs/cgroup/unified/a,b".into()),
                cgroup_id: Some(7),
                cgroup_trees: Vec::new(),
                pods: Vec::new(),
            },
            connections: HandshakeReport {
                count: 20,
                latency_us: p,
                histogram: String::new(),
            },
            accepts: HandshakeReport {
                count: 20,
                latency_us: p,
                histogram: String::new(),
            },
            lifetimes: LifetimeReport {
                count: 40,
                active: 20,
                passive: 20,
                duration_us: p,
                bytes_sent: 8000,
                bytes_received: 8000,
                histogram: String::new(),
            },
            rtt_us: sample.clone(),
            server_time_us: sample.clone(),
            exchange_time_us: sample,
            retransmits: 1,
            resets: Resets {
                sent: 2,
                received: 3,
            },
            connect_failures: 0,
            events_dropped: 0,
            sockets_untracked: 0,
            timeline: vec![ProbeTimelineEntry {
                second: 0,
                connects: 20,
                ..ProbeTimelineEntry::default()
            }],
        }
    }

    #[test]
    fn seconds_past_the_benchmark_fold_into_its_last() {
        let mut r = example();
        let second = |n: u64, connects: u64| ProbeTimelineEntry {
            second: n,
            connects,
            closes: n,
            rtt_p50_us: 100 + n,
            ..ProbeTimelineEntry::default()
        };
        r.timeline = (0..12).map(|n| second(n, 1)).collect();
        r.fit_timeline(10);
        assert_eq!(r.timeline.len(), 10);
        let last = &r.timeline[9];
        assert_eq!(
            (last.second, last.connects, last.closes),
            (9, 3, 9 + 10 + 11)
        );
        assert_eq!(last.rtt_p50_us, 109, "percentiles stay the second's own");
        // Shorter or equal timelines, and an empty benchmark, are left alone.
        r.fit_timeline(10);
        r.fit_timeline(0);
        assert_eq!(r.timeline.len(), 10);
    }

    #[test]
    fn json_has_the_documented_shape_and_round_trips() {
        let r = example();
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["schema"], "meshbench.probe.v1");
        assert_eq!(json["connections"]["latency_us"]["p99"], 40);
        assert_eq!(json["rtt_us"]["p50"], 20);
        assert_eq!(json["rtt_us"]["count"], 3);
        assert_eq!(json["resets"]["received"], 3);
        assert_eq!(json["timeline"][0]["connects"], 20);
        assert_eq!(json["started_at"], "1970-01-01T00:00:00Z");
        let back: ProbeReport = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn csv_header_and_row_have_the_same_columns() {
        let csv = render_csv(&example());
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        // The quoted cgroup holds one comma.
        assert_eq!(lines[0].split(',').count() + 1, lines[1].split(',').count());
        assert!(lines[1].contains("\"/sys/fs/cgroup/unified/a,b\""));
        assert!(lines[1].contains(",8080 9090,"));
    }

    #[test]
    fn table_names_every_measure() {
        let t = render_table(&example());
        for word in [
            "connect", "accept", "lifetime", "rtt", "server", "exchange", "8000",
        ] {
            assert!(t.contains(word), "{word} missing from\n{t}");
        }
    }
}
