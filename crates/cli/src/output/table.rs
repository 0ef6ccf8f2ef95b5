//! The human report of `meshbench run`, in the spirit of wrk and oha: what was run, what it
//! achieved, the latency percentiles (with the open model's uncorrected service time
//! beside them), a latency distribution, and a loud warning when the load generator itself
//! was the bottleneck, because then the numbers describe meshbench more than the target.

use hdrhistogram::Histogram;
use meshbench_core::{
    BenchmarkResult, HttpVersion, LatencySummary, LoadModel, RateSchedule, WebSocketResult,
};

/// Buckets of the latency distribution (fewer when the values span too little range).
const BUCKETS: usize = 16;
/// Width of the longest distribution bar, in characters.
const BAR_WIDTH: usize = 40;
/// The character a distribution bar is drawn with.
const BAR: char = '■';

/// Renders the human report of `result`; `latency` is its full (corrected) latency
/// histogram, in µs. `color` adds ANSI colours; without it the text is plain.
pub fn render(result: &BenchmarkResult, latency: &Histogram<u64>, color: bool) -> String {
    let style = Style { color };
    let mut out = Vec::new();
    header(&mut out, result, &style);
    out.push(String::new());
    summary(&mut out, result, &style);
    out.push(String::new());
    latency_table(&mut out, result, &style);
    out.push(String::new());
    distribution(&mut out, latency, &style);
    if !result.status_codes.is_empty() {
        out.push(String::new());
        status_codes(&mut out, result, &style);
    }
    if let Some(grpc) = &result.grpc {
        out.push(String::new());
        out.push(style.bold(&format!(
            "gRPC {} ({})",
            grpc.call,
            grpc.kind.replace('_', " ")
        )));
        for (name, n) in &grpc.status_codes {
            let line = format!("  {name:<20} {}", fmt_count(*n));
            out.push(if name == "OK" {
                line
            } else {
                style.yellow(&line)
            });
        }
        out.push(format!(
            "  messages             {} sent, {} received",
            fmt_count(grpc.messages_sent),
            fmt_count(grpc.messages_received)
        ));
    }
    if let Some(ml) = &result.ml {
        out.push(String::new());
        let us =
            |v: u64| meshbench_core::duration::format_duration(std::time::Duration::from_micros(v));
        out.push(style.bold(&format!("ML {} model {}", ml.api, ml.model)));
        for (label, summary) in [
            ("time to first token", &ml.ttft_us),
            ("inter-token latency", &ml.itl_us),
            ("time per output token", &ml.tpot_us),
        ] {
            if let Some(s) = summary {
                out.push(format!(
                    "  {label:<22} p50 {}  p90 {}  p99 {}  max {}",
                    us(s.p50),
                    us(s.p90),
                    us(s.p99),
                    us(s.max)
                ));
            }
        }
        if ml.api != "oip" {
            out.push(format!(
                "  output tokens          {} ({:.1}/s)",
                fmt_count(ml.output_tokens),
                ml.output_tokens_per_s
            ));
        }
    }
    if let Some(kernel) = &result.kernel {
        out.push(String::new());
        out.push(style.bold("Kernel (eBPF probe, target port)"));
        // The probe's own table, indented under the heading, without its first line.
        for line in meshbench_core::probe::render_table(kernel).lines().skip(1) {
            out.push(line.to_string());
        }
    }
    if !result.kernel_hops.is_empty() {
        use meshbench_core::hops::{breakdown, HopPercentile};
        out.push(String::new());
        out.push(style.bold(
            "Where the latency goes (eBPF on each hop: → the wire to a hop, a name its inside)",
        ));
        for q in [HopPercentile::P50, HopPercentile::P99] {
            let label = if q == HopPercentile::P50 {
                "p50"
            } else {
                "p99"
            };
            match breakdown(&result.kernel_hops, q) {
                Ok(b) => out.push(format!("  {label}  {}", b.line())),
                Err(e) => out.push(format!("  {label}  {e}")),
            }
        }
    }
    if let Some(ws) = &result.websocket {
        out.push(String::new());
        websocket(&mut out, ws, &style);
    }
    if !result.error_kinds.is_empty() || result.errors > 0 {
        out.push(String::new());
        error_kinds(&mut out, result, &style);
    }
    out.push(String::new());
    loadgen(&mut out, result, &style);
    if result.loadgen.saturated {
        out.push(String::new());
        saturation_warning(&mut out, result, &style);
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// ANSI styling that is a no-op when colours are off.
struct Style {
    color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }
    fn dim(&self, text: &str) -> String {
        self.paint("2", text)
    }
    fn red(&self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn yellow(&self, text: &str) -> String {
        self.paint("33", text)
    }
    fn green(&self, text: &str) -> String {
        self.paint("32", text)
    }
    fn cyan(&self, text: &str) -> String {
        self.paint("36", text)
    }
}

fn websocket(out: &mut Vec<String>, ws: &WebSocketResult, style: &Style) {
    let us =
        |v: u64| meshbench_core::duration::format_duration(std::time::Duration::from_micros(v));
    out.push(style.bold(if ws.hold {
        "WebSocket connections (hold)"
    } else {
        "WebSocket"
    }));
    out.push(format!(
        "  connections  {} opened, {} alive at the end, {} closed, {} failed",
        fmt_count(ws.connections_opened),
        fmt_count(ws.connections_alive),
        fmt_count(ws.connections_closed),
        fmt_count(ws.connections_failed)
    ));
    out.push(format!(
        "  handshake    p50 {}  p90 {}  p99 {}  max {}",
        us(ws.connect_us.p50),
        us(ws.connect_us.p90),
        us(ws.connect_us.p99),
        us(ws.connect_us.max)
    ));
    out.push(format!(
        "  messages     {} sent, {} echoed, {} bytes {}",
        fmt_count(ws.messages_sent),
        fmt_count(ws.messages_received),
        ws.message_size,
        if ws.hold {
            "(pings)"
        } else if ws.binary {
            "binary"
        } else {
            "text"
        }
    ));
}

fn header(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    let spec = &result.spec;
    match spec.requests.as_slice() {
        [one] => out.push(format!(
            "{} {} {}",
            style.bold("meshbench"),
            one.method,
            style.cyan(&one.url)
        )),
        many => {
            out.push(format!(
                "{} {} requests, round-robin:",
                style.bold("meshbench"),
                many.len()
            ));
            for r in many {
                out.push(format!("  {} {}", r.method, style.cyan(&r.url)));
            }
        }
    }

    let protocol = match spec.protocol {
        HttpVersion::Http1 => "HTTP/1.1",
        HttpVersion::Http2 => "HTTP/2",
        HttpVersion::Websocket => "WebSocket",
        HttpVersion::Grpc => "gRPC",
        _ => "HTTP",
    };
    let mut parts = Vec::new();
    let model = match &spec.model {
        LoadModel::Open {
            schedule,
            jitter,
            send_window_us,
        } => {
            let mut m = format!(
                "open model, requested {}",
                describe_rate(schedule, result.requested_rps)
            );
            if *jitter > 0.0 {
                m.push_str(&format!(" (jitter {jitter})"));
            }
            if *send_window_us != meshbench_core::spec::DEFAULT_SEND_WINDOW_US {
                m.push_str(&format!(" (send window {send_window_us} µs)"));
            }
            m
        }
        LoadModel::Closed => format!("{} model", result.model),
    };
    parts.push(model);
    let mut conns = format!(
        "{} connection{}",
        fmt_count(spec.connections as u64),
        plural(spec.connections as u64)
    );
    if matches!(spec.protocol, HttpVersion::Http2 | HttpVersion::Grpc) || spec.streams > 1 {
        conns.push_str(&format!(
            " × {} stream{}",
            spec.streams,
            plural(spec.streams as u64)
        ));
    }
    parts.push(conns);
    parts.push(format!(
        "{} thread{}",
        spec.threads,
        plural(spec.threads as u64)
    ));
    parts.push(protocol.to_string());
    parts.push(format!("mesh {}", spec.mesh_type));
    let mut duration = format!("{} measured", fmt_seconds(result.duration_s));
    if spec.warmup_s > 0.0 {
        duration.push_str(&format!(" after {} warm-up", fmt_seconds(spec.warmup_s)));
    }
    parts.push(duration);
    out.push(format!("  {}", parts.join(", ")));
}

/// `2000/s`, or the schedule with its average for stepped and ramped rates.
fn describe_rate(schedule: &RateSchedule, requested: Option<f64>) -> String {
    match (schedule, requested) {
        (RateSchedule::Constant { rps }, _) => format!("{}/s", fmt_rate(*rps)),
        (other, Some(avg)) => format!("{} (average {}/s)", other.describe(), fmt_rate(avg)),
        (other, None) => other.describe(),
    }
}

fn summary(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    out.push(style.bold("Summary"));
    let mut requests = format!(
        "{} in {}",
        fmt_count(result.requests),
        fmt_seconds(result.duration_s)
    );
    let errors = format!(
        "{} error{} ({})",
        fmt_count(result.errors),
        plural(result.errors),
        fmt_percent(result.errors as f64, result.requests as f64)
    );
    requests.push_str(", ");
    requests.push_str(&if result.errors > 0 {
        style.red(&errors)
    } else {
        errors
    });
    out.push(format!("  {:<13}{requests}", "Requests"));

    let mut rate = format!("{} req/s", fmt_rate(result.rps));
    if let Some(requested) = result.requested_rps {
        let share = if requested > 0.0 {
            result.rps / requested
        } else {
            1.0
        };
        let note = format!(
            "(requested {} req/s: {} achieved)",
            fmt_rate(requested),
            fmt_percent(result.rps, requested)
        );
        let note = if share < 0.95 {
            style.yellow(&note)
        } else {
            note
        };
        rate = format!("{rate} {note}");
    }
    out.push(format!("  {:<13}{rate}", "Throughput"));

    out.push(format!(
        "  {:<13}sent {} ({}/s), received {} ({}/s)",
        "Transfer",
        fmt_bytes(result.bytes_sent as f64),
        fmt_bytes(per_second(result.bytes_sent as f64, result.duration_s)),
        fmt_bytes(result.bytes_received as f64),
        fmt_bytes(per_second(result.bytes_received as f64, result.duration_s)),
    ));
}

fn latency_table(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    let open = matches!(result.spec.model, LoadModel::Open { .. }) || result.model == "open";
    let lat = &result.latency_us;
    let svc = &result.service_time_us;
    if *lat == LatencySummary::default() && *svc == LatencySummary::default() {
        out.push(style.bold("Latency"));
        out.push("  no responses".to_string());
        return;
    }
    let rows = |s: &LatencySummary| -> Vec<String> {
        vec![
            fmt_us(s.min as f64),
            fmt_us(s.p50 as f64),
            fmt_us(s.p75 as f64),
            fmt_us(s.p90 as f64),
            fmt_us(s.p95 as f64),
            fmt_us(s.p99 as f64),
            fmt_us(s.p999 as f64),
            fmt_us(s.p9999 as f64),
            fmt_us(s.max as f64),
            fmt_us(s.mean),
            fmt_us(s.stdev),
        ]
    };
    let labels = [
        "min", "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean", "stdev",
    ];
    let lat_rows = rows(lat);
    if open {
        // Pad before painting: escape codes would count towards the width.
        out.push(format!(
            "{}{:>17}{:>15}",
            style.bold("Latency"),
            "latency",
            "service time"
        ));
        let svc_rows = rows(svc);
        for ((label, l), s) in labels.iter().zip(&lat_rows).zip(&svc_rows) {
            out.push(format!("  {label:<10}{l:>12}{s:>15}"));
        }
        out.push(style.dim(
            "  latency: from the scheduled send (corrected for coordinated omission); \
             service time: from the actual send",
        ));
    } else {
        out.push(style.bold("Latency"));
        for (label, l) in labels.iter().zip(&lat_rows) {
            out.push(format!("  {label:<10}{l:>12}"));
        }
    }
}

/// Log-spaced buckets over the histogram's actual range: `(upper bound µs, count)`.
fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    let lo = h.min().max(1);
    let hi = h.max().max(lo);
    let mut bounds: Vec<u64> = Vec::with_capacity(BUCKETS);
    if hi > lo {
        let ratio = hi as f64 / lo as f64;
        for i in 1..BUCKETS {
            let raw = (lo as f64 * ratio.powf(i as f64 / BUCKETS as f64)).ceil() as u64;
            // Snap to the histogram's own bucket edges so every count lands exactly.
            let bound = h.highest_equivalent(raw).min(hi);
            if bounds.last().is_none_or(|&last| bound > last) && bound < hi {
                bounds.push(bound);
            }
        }
    }
    bounds.push(hi);

    let mut counts = vec![0u64; bounds.len()];
    let mut idx = 0;
    for v in h.iter_recorded() {
        let value = v.value_iterated_to();
        while idx + 1 < bounds.len() && value > bounds[idx] {
            idx += 1;
        }
        counts[idx] += v.count_at_value();
    }
    bounds.into_iter().zip(counts).collect()
}

fn distribution(out: &mut Vec<String>, h: &Histogram<u64>, style: &Style) {
    out.push(style.bold("Latency distribution (log-spaced buckets, upper bound)"));
    if h.is_empty() {
        out.push("  no responses".to_string());
        return;
    }
    let rows = buckets(h);
    let most = rows.iter().map(|&(_, c)| c).max().unwrap_or(0).max(1);
    let labels: Vec<String> = rows.iter().map(|&(b, _)| fmt_us(b as f64)).collect();
    let label_width = labels.iter().map(|l| l.len()).max().unwrap_or(0);
    let count_width = rows
        .iter()
        .map(|&(_, c)| fmt_count(c).len())
        .max()
        .unwrap_or(1);
    for ((_, count), label) in rows.iter().zip(&labels) {
        let len = ((*count as f64 / most as f64) * BAR_WIDTH as f64).round() as usize;
        let bar: String = std::iter::repeat_n(BAR, len).collect();
        out.push(format!(
            "  ≤ {label:>label_width$} [{:>count_width$}] |{}",
            fmt_count(*count),
            style.green(&bar)
        ));
    }
}

fn status_codes(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    out.push(style.bold("Status codes"));
    let responses: u64 = result.status_codes.values().sum();
    let width = result
        .status_codes
        .values()
        .map(|&c| fmt_count(c).len())
        .max()
        .unwrap_or(1);
    for (code, &count) in &result.status_codes {
        let line = format!(
            "  {code:<5}{:>width$}  ({})",
            fmt_count(count),
            fmt_percent(count as f64, responses as f64)
        );
        out.push(match code.as_bytes().first() {
            Some(b'2') => line,
            Some(b'3') => style.cyan(&line),
            Some(b'4') => style.yellow(&line),
            _ => style.red(&line),
        });
    }
}

fn error_kinds(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    out.push(style.bold("Errors"));
    if result.error_kinds.is_empty() {
        out.push(format!(
            "  {} (kind not recorded)",
            fmt_count(result.errors)
        ));
        return;
    }
    let name_width = result
        .error_kinds
        .keys()
        .map(|k| k.len())
        .max()
        .unwrap_or(0);
    for (kind, &count) in &result.error_kinds {
        out.push(style.red(&format!("  {kind:<name_width$}  {}", fmt_count(count))));
    }
}

fn loadgen(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    let lg = &result.loadgen;
    let mut cpu = format!(
        "cpu {} (user {}, system {})",
        fmt_seconds(lg.cpu_s),
        fmt_seconds(lg.cpu_user_s),
        fmt_seconds(lg.cpu_system_s)
    );
    if result.duration_s > 0.0 && lg.cpu_s.is_finite() {
        cpu.push_str(&format!(
            " = {:.0}% of one core",
            lg.cpu_s / result.duration_s * 100.0
        ));
    }
    let client = lg
        .client
        .as_deref()
        .map(|c| format!(", {c} client"))
        .unwrap_or_default();
    out.push(format!(
        "{}  {cpu}, max RSS {:.1} MiB, {} thread{}, {} connection{}{client}",
        style.bold("Load generator"),
        lg.max_rss_bytes as f64 / MIB,
        lg.threads,
        plural(lg.threads as u64),
        fmt_count(lg.connections as u64),
        plural(lg.connections as u64)
    ));
    if let Some(lag) = &lg.send_lag_us {
        out.push(format!(
            "  send lag behind schedule: p50 {}, p99 {}, max {}",
            fmt_us(lag.p50 as f64),
            fmt_us(lag.p99 as f64),
            fmt_us(lag.max as f64)
        ));
    }
}

fn saturation_warning(out: &mut Vec<String>, result: &BenchmarkResult, style: &Style) {
    out.push(style.red(
        "WARNING: the load generator was saturated; these numbers describe meshbench more than \
         the target. Do not compare them with other runs.",
    ));
    if result.loadgen.saturation_reasons.is_empty() {
        out.push(style.yellow("  - no reason was recorded"));
    }
    for reason in &result.loadgen.saturation_reasons {
        out.push(style.yellow(&format!("  - {reason}")));
    }
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A latency in µs as `812us`, `10.23ms` or `1.50s`.
fn fmt_us(us: f64) -> String {
    if !us.is_finite() {
        "-".to_string()
    } else if us < 999.5 {
        format!("{us:.0}us")
    } else if us < 999_995.0 {
        format!("{:.2}ms", us / 1e3)
    } else {
        format!("{:.2}s", us / 1e6)
    }
}

/// Seconds as `10.00s`.
fn fmt_seconds(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.2}s")
    } else {
        "-".to_string()
    }
}

/// A byte count in binary units: `512 B`, `654.83 KiB`, `1.17 MiB`.
fn fmt_bytes(b: f64) -> String {
    if !b.is_finite() {
        "-".to_string()
    } else if b < KIB {
        format!("{b:.0} B")
    } else if b < MIB {
        format!("{:.2} KiB", b / KIB)
    } else if b < GIB {
        format!("{:.2} MiB", b / MIB)
    } else {
        format!("{:.2} GiB", b / GIB)
    }
}

/// A rate with two decimals and thousands separators: `1,995.40`.
fn fmt_rate(r: f64) -> String {
    if !r.is_finite() {
        return "-".to_string();
    }
    let text = format!("{:.2}", r.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, "00"));
    let sign = if r < 0.0 && text != "0.00" { "-" } else { "" };
    let int = group_digits(int);
    format!("{sign}{int}.{frac}")
}

/// A count with thousands separators: `5,987`.
fn fmt_count(n: u64) -> String {
    group_digits(&n.to_string())
}

fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `part` as a percentage of `whole`, e.g. `99.8%`; `-` when `whole` is zero.
fn fmt_percent(part: f64, whole: f64) -> String {
    if whole > 0.0 && part.is_finite() && whole.is_finite() {
        let p = part / whole * 100.0;
        if p > 0.0 && p < 0.01 {
            "<0.01%".to_string()
        } else if p < 10.0 {
            format!("{p:.2}%")
        } else {
            format!("{p:.1}%")
        }
    } else {
        "-".to_string()
    }
}

fn per_second(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbench_core::histogram::{encode_base64, new_histogram, record_us, summarize};
    use meshbench_core::{BenchmarkSpec, LoadgenInfo, TimelineEntry, RESULT_SCHEMA};
    use std::collections::BTreeMap;
    use time::macros::datetime;

    /// A closed-model result over `h` as the engine would build it.
    fn result_from(h: &Histogram<u64>, errors: u64) -> BenchmarkResult {
        let responses = h.len();
        let requests = responses + errors;
        let summary = summarize(h);
        let encoded = encode_base64(h).unwrap();
        let mut status_codes = BTreeMap::new();
        if responses > 0 {
            status_codes.insert("200".to_string(), responses - responses / 100);
            if responses / 100 > 0 {
                status_codes.insert("503".to_string(), responses / 100);
            }
        }
        let mut error_kinds = BTreeMap::new();
        if errors > 0 {
            error_kinds.insert("reset".to_string(), errors);
        }
        BenchmarkResult {
            schema: RESULT_SCHEMA.to_string(),
            spec: BenchmarkSpec::closed_get("http://127.0.0.1:8080/"),
            model: "closed".to_string(),
            started_at: datetime!(2025-06-03 14:21:07.25 UTC),
            ended_at: datetime!(2025-06-03 14:21:17.25 UTC),
            duration_s: 10.0,
            requests,
            errors,
            rps: requests as f64 / 10.0,
            requested_rps: None,
            latency_us: summary,
            service_time_us: summary,
            status_codes,
            error_kinds,
            bytes_sent: requests * 80,
            bytes_received: requests * 190,
            timeline: vec![TimelineEntry {
                second: 0,
                requests,
                errors,
                p50_us: summary.p50,
                p99_us: summary.p99,
                p90_us: 0,
                p999_us: 0,
                mean_us: 0.0,
                requested: None,
            }],
            histogram: encoded.clone(),
            service_histogram: encoded,
            loadgen: LoadgenInfo {
                threads: 1,
                connections: 50,
                cpu_s: 3.2,
                cpu_user_s: 1.2,
                cpu_system_s: 2.0,
                max_rss_bytes: 21_954_560,
                saturated: false,
                saturation_reasons: Vec::new(),
                send_lag_us: None,
                version: None,
                host: None,
                client: None,
            },
            websocket: None,
            grpc: None,
            ml: None,
            kernel: None,
            kernel_hops: Vec::new(),
            lab: None,
            cluster: None,
            generators: None,
            interval_histograms: Vec::new(),
        }
    }

    fn realistic_histogram() -> Histogram<u64> {
        let mut h = new_histogram();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly ~0.5-2ms with a tail out to ~40ms.
            let v = if x.is_multiple_of(100) {
                5_000 + x % 35_000
            } else {
                500 + x % 1_500
            };
            record_us(&mut h, v);
        }
        h
    }

    #[test]
    fn realistic_result_shows_percentiles_and_a_distribution() {
        let h = realistic_histogram();
        let result = result_from(&h, 3);
        let text = render(&result, &h, false);
        for label in [
            "p50", "p75", "p90", "p95", "p99", "p99.9", "p99.99", "max", "mean", "stdev",
        ] {
            assert!(
                text.contains(&format!("  {label} ")),
                "missing {label}:\n{text}"
            );
        }
        assert!(
            text.contains(&fmt_us(result.latency_us.p99 as f64)),
            "{text}"
        );
        assert!(text.contains("http://127.0.0.1:8080/"));
        assert!(text.contains("closed model"));
        assert!(text.contains("50 connections"));
        assert!(text.contains("Latency distribution"));
        assert!(
            text.contains(&BAR.to_string().repeat(BAR_WIDTH)),
            "no full bar:\n{text}"
        );
        assert!(text.contains("503"));
        assert!(text.contains("reset"));
        assert!(text.contains("max RSS 20.9 MiB"));
        assert!(!text.contains("WARNING"));
        assert!(!text.contains('\x1b'), "colour without asking:\n{text}");
        assert!(
            !text.contains("service time"),
            "closed model has one column"
        );

        // The distribution adds up to the histogram.
        let rows = buckets(&h);
        assert!(rows.len() >= 10 && rows.len() <= BUCKETS, "{rows:?}");
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), h.len());
        assert_eq!(rows.last().map(|r| r.0), Some(h.max()));
        assert!(rows.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn open_model_shows_service_time_and_requested_rate() {
        let h = realistic_histogram();
        let mut result = result_from(&h, 0);
        result.spec.model = LoadModel::Open {
            schedule: RateSchedule::Constant { rps: 5000.0 },
            jitter: 0.0,
            send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
        };
        result.model = "open".to_string();
        result.requested_rps = Some(5000.0);
        result.service_time_us.p99 = 1_234;
        result.loadgen.send_lag_us = Some(LatencySummary {
            p50: 8,
            p99: 38,
            max: 655,
            ..LatencySummary::default()
        });
        let text = render(&result, &h, false);
        assert!(text.contains("service time"), "{text}");
        assert!(text.contains("1.23ms"), "{text}");
        assert!(text.contains("requested 5,000.00/s"), "{text}");
        assert!(text.contains("requested 5,000.00 req/s"), "{text}");
        assert!(text.contains("send lag"), "{text}");
    }

    #[test]
    fn empty_result_does_not_panic() {
        let h = new_histogram();
        let mut result = result_from(&h, 0);
        result.duration_s = 0.0;
        result.rps = 0.0;
        let text = render(&result, &h, true);
        assert!(text.contains("no responses"), "{text}");
        assert!(buckets(&h).iter().all(|r| r.1 == 0));
    }

    #[test]
    fn a_single_value_gives_one_bucket() {
        let mut h = new_histogram();
        for _ in 0..10 {
            record_us(&mut h, 812);
        }
        assert_eq!(buckets(&h), vec![(h.max(), 10)]);
        let text = render(&result_from(&h, 0), &h, false);
        assert!(text.contains("812us"), "{text}");
    }

    #[test]
    fn saturated_result_shows_a_warning_with_reasons() {
        let h = realistic_histogram();
        let mut result = result_from(&h, 0);
        result.loadgen.saturated = true;
        result.loadgen.saturation_reasons = vec![
            "sent 20% fewer requests than scheduled".to_string(),
            "generator CPU at 99% of its threads".to_string(),
        ];
        let plain = render(&result, &h, false);
        assert!(plain.contains("WARNING"), "{plain}");
        assert!(plain.contains("  - sent 20% fewer requests than scheduled"));
        assert!(plain.contains("  - generator CPU at 99% of its threads"));
        let coloured = render(&result, &h, true);
        assert!(coloured.contains("\x1b[1;31mWARNING"), "{coloured}");
    }

    #[test]
    fn units_read_like_wrk() {
        assert_eq!(fmt_us(812.0), "812us");
        assert_eq!(fmt_us(10_234.0), "10.23ms");
        assert_eq!(fmt_us(1_500_000.0), "1.50s");
        assert_eq!(fmt_us(999.7), "1.00ms");
        assert_eq!(fmt_us(f64::NAN), "-");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(1_226_925.0), "1.17 MiB");
        assert_eq!(fmt_count(1_234_567), "1,234,567");
        assert_eq!(fmt_count(999), "999");
        assert_eq!(fmt_rate(1995.4), "1,995.40");
        assert_eq!(fmt_percent(1.0, 0.0), "-");
    }
}
