//! The result of one run, in the stable, versioned `meshbench.result.v1` shape documented in
//! `docs/result-schema.md` and `docs/result.v1.schema.json`. Fields are only ever added to
//! a version; a change of meaning gets a new schema name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::spec::BenchmarkSpec;

/// The schema name every v1 result carries in its `schema` field.
pub const RESULT_SCHEMA: &str = "meshbench.result.v1";

/// Percentiles and moments of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Smallest value.
    pub min: u64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Median.
    pub p50: u64,
    /// 75th percentile.
    pub p75: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest value.
    pub max: u64,
}

/// One second of the run.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// Seconds since measurement started (0 is the first second).
    pub second: u64,
    /// Requests completed in this second (successes and errors).
    pub requests: u64,
    /// Requests that failed in this second.
    pub errors: u64,
    /// Median latency of this second, µs.
    pub p50_us: u64,
    /// 99th percentile latency of this second, µs.
    pub p99_us: u64,
    /// 90th percentile latency of this second, µs (0 in results from before it was kept).
    #[serde(default)]
    pub p90_us: u64,
    /// 99.9th percentile latency of this second, µs (0 in results from before it was kept).
    #[serde(default)]
    pub p999_us: u64,
    /// Mean latency of this second, µs (0 in results from before it was kept).
    #[serde(default)]
    pub mean_us: f64,
    /// Requests per second the schedule asked for in this second (open model only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<f64>,
}

/// What the load generator itself cost, and whether it kept up.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LoadgenInfo {
    /// Worker threads used.
    pub threads: u32,
    /// Connections used.
    pub connections: u32,
    /// CPU seconds (user + system) the generator process spent during the run.
    pub cpu_s: f64,
    /// User-space part of `cpu_s`.
    pub cpu_user_s: f64,
    /// Kernel part of `cpu_s`.
    pub cpu_system_s: f64,
    /// Peak resident memory of the generator process, bytes.
    pub max_rss_bytes: u64,
    /// True when the numbers describe the generator more than the target: it could not
    /// keep the requested rate, or its own CPU was the bottleneck.
    pub saturated: bool,
    /// Why `saturated` is set, for a person to read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saturation_reasons: Vec<String>,
    /// How late the generator sent requests against their schedule (open model), µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_lag_us: Option<LatencySummary>,
    /// The meshbench version that generated the load (comparisons warn when it differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The host the generator ran on (comparisons warn when it differs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The client that carried the load: `event-loop` (the engine's own HTTP/1.1 or HTTP/2
    /// path), `hyper` (HTTP/2 and gRPC with `MESHBENCH_H2_CLIENT=hyper`) or `async` (TLS
    /// HTTP/1.1, WebSocket, LLM APIs on per-thread tokio runtimes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    /// Always [`RESULT_SCHEMA`] for this shape.
    pub schema: String,
    /// The spec that was run.
    pub spec: BenchmarkSpec,
    /// `closed` or `open`.
    pub model: String,
    /// When measurement started (after warm-up), RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// When measurement ended, RFC 3339.
    #[serde(with = "time::serde::rfc3339")]
    pub ended_at: OffsetDateTime,
    /// Measured seconds.
    pub duration_s: f64,
    /// Requests completed after warm-up, successes and errors alike.
    pub requests: u64,
    /// Requests that failed: transport errors, and answers that were failures (HTTP 5xx,
    /// gRPC statuses other than OK; their statuses are still counted in `status_codes`).
    /// Failed requests are not in the latency figures.
    pub errors: u64,
    /// Requests per second achieved.
    pub rps: f64,
    /// Requests per second asked for (open model); `null` in the closed model.
    pub requested_rps: Option<f64>,
    /// Latency, µs; in the open model measured from each request's intended send time.
    pub latency_us: LatencySummary,
    /// Service time, µs: from the actual send to the response, not corrected for
    /// coordinated omission. Equals `latency_us` in the closed model.
    pub service_time_us: LatencySummary,
    /// Responses per status code.
    pub status_codes: BTreeMap<String, u64>,
    /// Failures per [`crate::ErrorKind`] name.
    pub error_kinds: BTreeMap<String, u64>,
    /// Request bytes written, headers included.
    pub bytes_sent: u64,
    /// Response bytes read, headers included.
    pub bytes_received: u64,
    /// One entry per second of measurement.
    pub timeline: Vec<TimelineEntry>,
    /// The full latency histogram: base64 of HdrHistogram's compressed V2 encoding.
    pub histogram: String,
    /// The service-time histogram, same encoding.
    pub service_histogram: String,
    /// The generator's own cost and health.
    pub loadgen: LoadgenInfo,
    /// WebSocket figures (protocol `websocket` only): handshakes, messages, survivors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketResult>,
    /// gRPC figures (protocol `grpc` only): status codes by name, messages each way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcResult>,
    /// ML-inference figures (`ml` runs): time to first token, inter-token latency, tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<MlResult>,
    /// The eBPF probe's figures for the same period, when the run asked for them: connect
    /// latency, RTT, server time and the rest as the kernel saw them, with a timeline whose
    /// seconds are this result's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<crate::probe::ProbeReport>,
    /// The eBPF probe on each hop of the path, client side first (`--ebpf-hop`): what the
    /// kernel saw on that hop's sockets, to split the latency (crate::hops).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kernel_hops: Vec<crate::hops::KernelHop>,
    /// Runs through the mesh lab: the topology, the Envoy version, what each proxy cost
    /// and where the latency went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab: Option<crate::lab::LabRecord>,
    /// The cluster the target lives in, when the worker has one configured: the
    /// namespace's mesh record and what its proxies cost during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<crate::cluster::ClusterRecord>,
    /// Runs split over several generators: how many, which failed or saturated. The
    /// histograms, counts and timeline above are the parts' merged without loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generators: Option<crate::split::GeneratorsInfo>,
    /// One part of a split run only: each second's latency histogram (same encoding as
    /// `histogram`), so that the parts' per-second percentiles merge exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interval_histograms: Vec<String>,
}

/// What an ML-inference run adds. The token figures are present for OpenAI-compatible runs
/// (time to first token and inter-token latency only when streamed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlResult {
    /// `openai_chat`, `openai_completions` or `oip`.
    pub api: String,
    /// The model.
    pub model: String,
    /// Whether answers were streamed.
    pub stream: bool,
    /// Time to first token, µs (the whole answer's time when not streamed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_us: Option<LatencySummary>,
    /// Gaps between consecutive tokens, µs (streamed answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_us: Option<LatencySummary>,
    /// Time per output token after the first, per request, µs (streamed answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpot_us: Option<LatencySummary>,
    /// The time-to-first-token histogram, encoded like `histogram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_histogram: Option<String>,
    /// The inter-token histogram, encoded like `histogram`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub itl_histogram: Option<String>,
    /// Output tokens of measured requests.
    pub output_tokens: u64,
    /// Output tokens per second over the measured time.
    pub output_tokens_per_s: f64,
}

/// What a gRPC run adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpcResult {
    /// The method called, `package.Service/Method`.
    pub call: String,
    /// `unary`, `server_streaming`, `client_streaming` or `bidi_streaming`.
    pub kind: String,
    /// Calls per gRPC status name (`OK`, `UNAVAILABLE`, …), measured calls only.
    pub status_codes: BTreeMap<String, u64>,
    /// Request messages of the calls the engine counts (after the warm-up, in the period).
    pub messages_sent: u64,
    /// Response messages of those calls.
    pub messages_received: u64,
    /// Server-streaming and bidi calls: time from sending the call to its first response
    /// message, µs (measured calls only, as `latency_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_message_us: Option<LatencySummary>,
    /// Server-streaming and bidi calls: gaps between consecutive response messages, µs
    /// (messages arriving in the same read count as 1 µs apart; measured calls only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_gap_us: Option<LatencySummary>,
    /// Bidi calls: each message's round trip (sent, then its answer received, before the
    /// next is sent), µs (measured calls only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_rtt_us: Option<LatencySummary>,
}

/// The canonical name of a gRPC status code (`0` → `OK`).
pub fn grpc_status_name(code: u16) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES
        .get(usize::from(code))
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("CODE_{code}"))
}

/// What a WebSocket run adds: each connection's opening handshake, and how many
/// connections were still open at the end (the figure hold mode is for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSocketResult {
    /// Connections that completed the opening handshake (reconnects included).
    pub connections_opened: u64,
    /// Connection attempts that failed (refused, timed out, upgrade refused).
    pub connections_failed: u64,
    /// Connections still open when the run ended.
    pub connections_alive: u64,
    /// Connections the server closed (or that broke) during the run.
    pub connections_closed: u64,
    /// Time from the TCP connect to the end of the upgrade handshake (TLS included), µs.
    pub connect_us: LatencySummary,
    /// The full handshake histogram, encoded like `histogram`.
    pub connect_histogram: String,
    /// Messages sent in the measured period (pings, in hold mode).
    pub messages_sent: u64,
    /// Echoes of those received before the period ended (pongs, in hold mode).
    pub messages_received: u64,
    /// Payload bytes of each message.
    pub message_size: u32,
    /// `true` for binary frames, `false` for text.
    pub binary: bool,
    /// Whether this was a hold run.
    pub hold: bool,
}
