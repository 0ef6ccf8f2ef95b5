//! `meshbench run`: flags → a validated spec → the engine with the right driver → output.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use meshbench_core::duration::parse_duration;
use meshbench_core::rate::parse_step_duration;
use meshbench_core::result::TimelineEntry;
use meshbench_core::{
    BenchmarkSpec, GrpcSpec, HttpVersion, LoadModel, MeshKind, MlApi, MlSpec, RateSchedule,
    RequestSpec, WebSocketSpec,
};
use meshbench_drivers::{run_spec, RunError};
use meshbench_engine::{Observer, RunOutput, StopHandle};

use crate::args::RunArgs;
use crate::output::hdrlog::HdrLogWriter;
use crate::output::{csv, table};

/// Exit code for a spec the user got wrong (EX_USAGE, as sysexits.h has it).
const EXIT_USAGE: u8 = 64;

/// Exit code of a run that failed a `--threshold` (distinct from 1, an error).
const THRESHOLD_FAILED: u8 = 3;

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let thresholds: Vec<meshbench_core::stats::Threshold> = match args
        .threshold
        .iter()
        .map(|t| t.parse())
        .collect::<Result<_, _>>()
    {
        Ok(thresholds) => thresholds,
        Err(e) => {
            eprintln!("meshbench run: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let spec = match build_spec(&args) {
        Ok(spec) => spec,
        Err(e) => {
            eprintln!("meshbench run: {e:#}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    if let Some(at) = &args.start_at {
        let at =
            match time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339) {
                Ok(at) => at,
                Err(e) => {
                    eprintln!("meshbench run: --start-at `{at}` is not an RFC 3339 instant: {e}");
                    return Ok(ExitCode::from(EXIT_USAGE));
                }
            };
        let wait = at - time::OffsetDateTime::now_utc();
        if wait.is_positive() {
            std::thread::sleep(wait.unsigned_abs());
        }
    }
    let stop = StopHandle::new();
    watch_ctrl_c(stop.clone());
    if args.repeats > 1 || args.find_max_rate {
        // Each run gets its own stop handle, tied to the session's: Ctrl-C ends the run in
        // progress and no other starts.
        let session = stop.clone();
        let mut one =
            |spec: &BenchmarkSpec| -> anyhow::Result<Option<meshbench_core::BenchmarkResult>> {
                Ok(execute(spec, session.clone(), &args)?.map(|o| o.result))
            };
        if args.find_max_rate {
            let slo: Vec<meshbench_core::stats::Threshold> =
                match args.slo.iter().map(|t| t.parse()).collect::<Result<_, _>>() {
                    Ok(slo) => slo,
                    Err(e) => {
                        eprintln!("meshbench run: --slo: {e}");
                        return Ok(ExitCode::from(EXIT_USAGE));
                    }
                };
            return crate::series::find_max_rate(&spec, &args, &slo, &stop, &mut one);
        }
        return crate::series::repeated(&spec, &args, &thresholds, &stop, &mut one);
    }
    let output = execute(&spec, stop, &args)?;
    let Some(output) = output else {
        return Ok(ExitCode::from(EXIT_USAGE));
    };
    if let Some(path) = &args.smp {
        let doc = meshbench_core::smp::to_smp(&output.result, &args.mesh);
        let text = serde_json::to_string_pretty(&doc)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("writing the SMP export to {}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &output.result)?;
        writeln!(stdout)?;
    } else if args.csv {
        write!(stdout, "{}", csv::render(&output.result))?;
    } else {
        let color = std::io::stdout().is_terminal();
        write!(
            stdout,
            "{}",
            table::render(&output.result, &output.latency, color)
        )?;
    }
    let failed: Vec<String> = thresholds
        .iter()
        .filter_map(|t| t.violation(&output.result))
        .collect();
    for f in &failed {
        eprintln!("meshbench run: threshold {f}");
    }
    if !failed.is_empty() {
        return Ok(ExitCode::from(THRESHOLD_FAILED));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the engine; `Ok(None)` when the driver refused the spec (already reported).
fn execute(
    spec: &BenchmarkSpec,
    stop: StopHandle,
    args: &RunArgs,
) -> anyhow::Result<Option<RunOutput>> {
    let mut observer = Progress::new(args, spec)?;
    if args.ebpf {
        let url = spec
            .requests
            .first()
            .map(|r| r.url.as_str())
            .unwrap_or_default();
        let filter = match meshbench_probe::ProbeFilter::for_target(url) {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!("meshbench run: --ebpf: {:#}", anyhow::Error::new(e));
                return Ok(None);
            }
        };
        match meshbench_probe::ProbeBeside::start(filter) {
            Ok(probe) => observer.probe = Some(probe),
            Err(e) => bail!("--ebpf: {e}"),
        }
    }
    for text in &args.ebpf_hop {
        let hop = match meshbench_core::hops::HopSpec::parse(text) {
            Ok(hop) => hop,
            Err(e) => {
                eprintln!("meshbench run: --ebpf-hop {e}");
                return Ok(None);
            }
        };
        let filter = meshbench_probe::ProbeFilter {
            ports: vec![hop.port],
            ..meshbench_probe::ProbeFilter::default()
        };
        match meshbench_probe::ProbeBeside::start(filter) {
            Ok(probe) => observer.hop_probes.push((hop, probe)),
            Err(e) => bail!("--ebpf-hop {}: {e}", hop.name),
        }
    }
    let output = match run_spec(spec, stop, &mut observer) {
        Ok(output) => output,
        Err(RunError::Driver(e)) if e.is_spec() => {
            eprintln!("meshbench run: {:#}", anyhow::Error::new(e));
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    let mut output = output;
    if args.interval_histograms {
        output.result.interval_histograms = std::mem::take(&mut observer.intervals);
        output
            .result
            .interval_histograms
            .truncate(output.result.timeline.len());
    }
    if let Some(probe) = observer.probe.take() {
        let seconds = output.result.timeline.len();
        output.result.kernel = Some(probe.finish(seconds).context("--ebpf")?);
    }
    for (hop, probe) in std::mem::take(&mut observer.hop_probes) {
        let seconds = output.result.timeline.len();
        let kernel = probe
            .finish(seconds)
            .with_context(|| format!("--ebpf-hop {}", hop.name))?;
        output
            .result
            .kernel_hops
            .push(meshbench_core::hops::KernelHop {
                name: hop.name,
                port: hop.port,
                kernel,
            });
    }
    observer.finish()?;
    Ok(Some(output))
}

fn watch_ctrl_c(stop: StopHandle) {
    // A tiny runtime of its own: the engine blocks this thread and runs its own threads.
    let spawned = std::thread::Builder::new().name("meshbench-signals".into()).spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nmeshbench: stopping; reporting what was measured (Ctrl-C again to abort)");
                stop.stop();
                if tokio::signal::ctrl_c().await.is_ok() {
                    std::process::exit(130);
                }
            }
        });
    });
    if let Err(e) = spawned {
        tracing::warn!("Ctrl-C will abort instead of stopping cleanly: {e}");
    }
}

fn build_spec(args: &RunArgs) -> anyhow::Result<BenchmarkSpec> {
    if let Some(path) = &args.spec {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --spec {}", path.display()))?;
        let spec: BenchmarkSpec = serde_json::from_str(&text)
            .with_context(|| format!("--spec {} is not a benchmark spec", path.display()))?;
        spec.validate()
            .with_context(|| format!("--spec {}", path.display()))?;
        return Ok(spec);
    }
    let mut requests = Vec::new();
    if let Some(path) = &args.request_file {
        requests = read_request_file(path)?;
    }
    let body = match (&args.body, &args.body_file) {
        (Some(body), _) => Some(body.clone()),
        (None, Some(path)) => {
            let bytes = std::fs::read(path)
                .with_context(|| format!("cannot read --body-file {}", path.display()))?;
            Some(String::from_utf8(bytes).map_err(|_| {
                anyhow::anyhow!(
                    "--body-file {}: only UTF-8 text bodies are supported",
                    path.display()
                )
            })?)
        }
        (None, None) => None,
    };
    let mut headers = Vec::new();
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("invalid header `{header}`: expected `Name: value`");
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    for url in &args.urls {
        requests.push(RequestSpec {
            method: args.method.to_ascii_uppercase(),
            url: url.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
    }
    let duration = args
        .duration
        .as_deref()
        .map(|d| parse_duration("duration", d))
        .transpose()?;
    if duration.is_some_and(|d| d.is_zero()) {
        bail!("invalid duration: must be above zero");
    }
    let websocket = requests
        .first()
        .is_some_and(|r| r.url.starts_with("ws://") || r.url.starts_with("wss://"));
    let grpc_run = requests
        .first()
        .is_some_and(|r| r.url.starts_with("grpc://") || r.url.starts_with("grpcs://"));
    let grpc = if grpc_run && args.ml.is_some() {
        // --ml oip over grpc:// builds its own calls (ModelInfer).
        if args.ml.as_deref() != Some("oip") {
            bail!("invalid ml: over grpc:// only oip is spoken (the OpenAI APIs are HTTP)");
        }
        None
    } else if grpc_run {
        Some(grpc_spec(args)?)
    } else {
        if args.call.is_some()
            || !args.proto.is_empty()
            || !args.import_paths.is_empty()
            || args.data.is_some()
            || args.data_file.is_some()
            || !args.metadata.is_empty()
        {
            bail!("--call, --proto, --import-path, --data, --data-file and --metadata apply to grpc:// and grpcs:// URLs");
        }
        None
    };
    if !websocket
        && (args.message_rate.is_some() || args.binary || args.hold || args.message_size != 64)
    {
        bail!("--message-size, --message-rate, --binary and --hold apply to ws:// and wss:// URLs");
    }
    // Per connection on the command line, as k6 and artillery put it; the schedule holds the
    // total and the engine gives each connection its share on its own schedule.
    let message_rate = args
        .message_rate
        .or(if args.hold { Some(1.0) } else { None });
    let rate = match (websocket, message_rate) {
        (true, Some(per_connection)) => {
            if !(per_connection.is_finite() && per_connection > 0.0) {
                bail!("invalid message_rate: must be above zero");
            }
            Some((per_connection * f64::from(args.connections)).to_string())
        }
        _ => args.rate.clone(),
    };
    let model = match &rate {
        None => LoadModel::Closed,
        Some(rate) => LoadModel::Open {
            schedule: RateSchedule::parse(
                rate,
                parse_step_duration(&args.step_duration)?,
                duration,
            )?,
            jitter: args.jitter,
            send_window_us: parse_duration("send-window", &args.send_window)?.as_secs_f64() * 1e6,
        },
    };
    let schedule_has_length =
        matches!(&model, LoadModel::Open { schedule, .. } if schedule.duration().is_some());
    let duration_s = match duration {
        Some(d) => Some(d.as_secs_f64()),
        None if args.requests.is_some() || schedule_has_length => None,
        None => Some(10.0),
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let spec = BenchmarkSpec {
        requests,
        protocol: if websocket {
            HttpVersion::Websocket
        } else if grpc_run {
            HttpVersion::Grpc
        } else if args.http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Http1
        },
        connections: args.connections,
        streams: args.streams,
        threads: args
            .threads
            .unwrap_or_else(|| cores.min(args.connections.max(1))),
        model,
        duration_s,
        max_requests: args.requests,
        warmup_s: parse_duration("warmup", &args.warmup)?.as_secs_f64(),
        connect_timeout_s: parse_duration("connect_timeout", &args.connect_timeout)?.as_secs_f64(),
        request_timeout_s: parse_duration("timeout", &args.timeout)?.as_secs_f64(),
        insecure: args.insecure,
        mesh_type: args.mesh.parse::<MeshKind>()?,
        websocket: websocket.then_some(WebSocketSpec {
            message_size: args.message_size,
            binary: args.binary,
            message_rate,
            hold: args.hold,
        }),
        grpc,
        ml: match &args.ml {
            None => None,
            Some(api) => Some(ml_spec(args, api)?),
        },
    };
    spec.validate()?;
    Ok(spec)
}

/// The ML options of a run.
fn ml_spec(args: &RunArgs, api: &str) -> anyhow::Result<MlSpec> {
    let api = match api {
        "openai" | "openai-chat" => MlApi::OpenaiChat,
        "openai-completions" => MlApi::OpenaiCompletions,
        "oip" => MlApi::Oip,
        other => bail!("invalid ml: `{other}` is not openai, openai-completions or oip"),
    };
    let mut ml = MlSpec::new(api, args.model.clone());
    ml.max_tokens = args.max_tokens;
    ml.prompt_tokens = args.prompt_tokens;
    ml.stream = !args.no_stream;
    ml.datatype = args.datatype.clone();
    ml.shape = args
        .shape
        .split(',')
        .map(|d| d.trim().parse::<u64>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("invalid shape: `{}` is not like 1,3,224,224", args.shape))?;
    if let Some(path) = &args.prompts {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --prompts {}", path.display()))?;
        ml.prompts = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    anyhow::anyhow!("invalid prompts: {} line {}: {e}", path.display(), i + 1)
                })
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(path) = &args.inputs_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --inputs-file {}", path.display()))?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid inputs: {}: {e}", path.display()))?;
        // Either the `inputs` list itself or a whole request holding it.
        ml.inputs = Some(match value.get("inputs") {
            Some(inputs) => inputs.clone(),
            None => value,
        });
    }
    Ok(ml)
}

/// The gRPC options of a run: the method, the .proto files, the messages and the metadata.
fn grpc_spec(args: &RunArgs) -> anyhow::Result<GrpcSpec> {
    let text = match (&args.data, &args.data_file) {
        (Some(data), _) => Some(data.clone()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --data-file {}", path.display()))?,
        ),
        (None, None) => None,
    };
    let data = match text {
        None => GrpcSpec::default().data,
        Some(text) => parse_messages(&text)?,
    };
    let mut metadata = Vec::new();
    for entry in &args.metadata {
        let Some((key, value)) = entry.split_once(':') else {
            bail!("invalid metadata `{entry}`: expected `key:value`");
        };
        metadata.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    Ok(GrpcSpec {
        call: args
            .call
            .clone()
            .unwrap_or_else(|| meshbench_core::GRPC_ECHO_UNARY.to_string()),
        proto: args.proto.iter().map(|p| p.display().to_string()).collect(),
        import_paths: args
            .import_paths
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        data,
        metadata,
    })
}

/// Messages from --data / --data-file: one JSON object, a JSON array of them, or JSON Lines.
fn parse_messages(text: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(trimmed) {
        return match value {
            serde_json::Value::Array(items) if !items.is_empty() => Ok(items),
            serde_json::Value::Array(_) => bail!("invalid data: the list of messages is empty"),
            one => Ok(vec![one]),
        };
    }
    trimmed
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("invalid data: line {}: not JSON: {e}", i + 1))
        })
        .collect()
}

fn read_request_file(path: &std::path::Path) -> anyhow::Result<Vec<RequestSpec>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read --request-file {}", path.display()))?;
    let trimmed = text.trim_start();
    let requests: Vec<RequestSpec> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed)
            .with_context(|| format!("{}: not a JSON array of requests", path.display()))?
    } else {
        trimmed
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str(line).with_context(|| {
                    format!("{} line {}: not a request object", path.display(), i + 1)
                })
            })
            .collect::<anyhow::Result<_>>()?
    };
    if requests.is_empty() {
        bail!("{}: no requests", path.display());
    }
    Ok(requests)
}

/// The live view: a progress bar on a terminal, and the HdrHistogram log when asked for.
struct Progress {
    bar: Option<ProgressBar>,
    /// The eBPF probe beside the load (`--ebpf`), ticked with the engine's seconds.
    probe: Option<meshbench_probe::ProbeBeside>,
    /// `--ebpf-hop`: a probe per hop of the path, ticked alike.
    hop_probes: Vec<(meshbench_core::hops::HopSpec, meshbench_probe::ProbeBeside)>,
    hdr: Option<HdrLogWriter<BufWriter<File>>>,
    hdr_path: Option<std::path::PathBuf>,
    hdr_error: Option<std::io::Error>,
    /// `--interval-histograms`: each measured second's histogram, encoded.
    keep_intervals: bool,
    intervals: Vec<String>,
}

impl Progress {
    fn new(args: &RunArgs, spec: &BenchmarkSpec) -> anyhow::Result<Self> {
        let started = time::OffsetDateTime::now_utc() + Duration::from_secs_f64(spec.warmup_s);
        let hdr = match &args.hdr_out {
            Some(path) => {
                let file = File::create(path)
                    .with_context(|| format!("cannot create --hdr-out {}", path.display()))?;
                Some(HdrLogWriter::new(BufWriter::new(file), started)?)
            }
            None => None,
        };
        let bar = (!args.no_progress && std::io::stderr().is_terminal()).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {percent:>3}% {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Ok(Progress {
            bar,
            probe: None,
            hop_probes: Vec::new(),
            hdr,
            hdr_path: args.hdr_out.clone(),
            hdr_error: None,
            keep_intervals: args.interval_histograms,
            intervals: Vec::new(),
        })
    }

    fn finish(mut self) -> anyhow::Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(e) = self.hdr_error.take() {
            bail!("writing --hdr-out: {e}");
        }
        if let Some(hdr) = self.hdr.take() {
            let path = self
                .hdr_path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            hdr.finish()
                .with_context(|| format!("writing --hdr-out {path}"))?;
        }
        Ok(())
    }
}

impl Observer for Progress {
    fn tick(&mut self, elapsed: Duration, total: Option<Duration>) {
        if let Some(bar) = &self.bar {
            match total {
                Some(total) if !total.is_zero() => bar.set_position(
                    (elapsed.as_secs_f64() / total.as_secs_f64() * 1000.0).min(1000.0) as u64,
                ),
                _ => bar.tick(),
            }
        }
    }

    fn second(&mut self, second: i64, entry: &TimelineEntry, latency: &Histogram<u64>) {
        if let Some(probe) = &self.probe {
            probe.engine_second(second);
        }
        for (_, probe) in &self.hop_probes {
            probe.engine_second(second);
        }
        if let Some(bar) = &self.bar {
            let phase = if second < 0 { "warm-up " } else { "" };
            bar.set_message(format!(
                "{phase}{} req/s  p50 {}  p99 {}  errors {}",
                entry.requests,
                meshbench_core::duration::format_duration(Duration::from_micros(entry.p50_us)),
                meshbench_core::duration::format_duration(Duration::from_micros(entry.p99_us)),
                entry.errors
            ));
        }
        if second >= 0 && self.keep_intervals {
            if let Ok(encoded) = meshbench_core::histogram::encode_base64(latency) {
                self.intervals.push(encoded);
            }
        }
        if second >= 0 && self.hdr_error.is_none() {
            if let Some(hdr) = &mut self.hdr {
                if let Err(e) = hdr.interval(second as f64, 1.0, latency) {
                    self.hdr_error = Some(e);
                }
            }
        }
    }
}
