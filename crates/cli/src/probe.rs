//! `meshbench probe` (alias `latency-probe`): the eBPF TCP probe for a while, a line per
//! second on stderr, the report on stdout.

use std::process::ExitCode;

use crate::args::ProbeArgs;

/// Exit code for flags the user got wrong (EX_USAGE).
const EXIT_USAGE: u8 = 64;
/// Exit code when the probe cannot run on this machine (EX_UNAVAILABLE, as sysexits.h has it).
const EXIT_UNAVAILABLE: u8 = 69;

pub fn run(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use meshbench_core::duration::parse_duration;
    use meshbench_probe::{ProbeError, ProbeFilter, ProbeSecond};

    use crate::args::ProbeOutput;

    let duration = match parse_duration("duration", &args.duration) {
        Ok(d) if !d.is_zero() => d,
        Ok(_) => {
            eprintln!("meshbench probe: --duration must be more than zero");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
        Err(e) => {
            eprintln!("meshbench probe: {e}");
            return Ok(ExitCode::from(EXIT_USAGE));
        }
    };
    let filter = ProbeFilter {
        ports: args.ports.clone(),
        pid: args.pid,
        cgroup: args.cgroup.clone(),
        connection_events: false,
        max_new_connections: Some(args.max_new_connections),
    };
    let stop = Arc::new(AtomicBool::new(false));
    watch_ctrl_c(Arc::clone(&stop));

    let on_second = |s: &ProbeSecond| {
        let p99 = meshbench_probe::report::Percentiles::of(&s.connects).p99;
        let rtt = meshbench_probe::report::Percentiles::of(&s.rtt).p50;
        eprintln!(
            "[{:>4}s] connects {:>6}  accepts {:>6}  closes {:>6}  connect p99 {:>6} µs  rtt p50 {:>6} µs  retransmits {}",
            s.second + 1,
            s.connects.len(),
            s.accepts.len(),
            s.counts.active_closed + s.counts.passive_closed,
            p99,
            rtt,
            s.counts.retransmits,
        );
    };
    let report = match meshbench_probe::run_until(&filter, duration, &stop, on_second) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("meshbench probe: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            let code = match e {
                ProbeError::TooManyPorts { .. }
                | ProbeError::NoNewConnections
                | ProbeError::Cgroup { .. } => EXIT_USAGE,
                _ => EXIT_UNAVAILABLE,
            };
            return Ok(ExitCode::from(code));
        }
    };
    let mut stdout = std::io::stdout().lock();
    match args.output {
        ProbeOutput::Json => {
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
        }
        ProbeOutput::Csv => write!(stdout, "{}", meshbench_probe::render_csv(&report))?,
        ProbeOutput::Table => write!(stdout, "{}", meshbench_probe::render_table(&report))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The first Ctrl-C stops the probe (the report is still printed); a second one aborts.
fn watch_ctrl_c(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    let spawned = std::thread::Builder::new()
        .name("meshbench-signals".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\nmeshbench: stopping; reporting what was measured (Ctrl-C again to abort)");
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
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

/// The eBPF probe as the API runs it on this host, or `None` where there is none to run.
pub fn api_runner() -> Option<std::sync::Arc<dyn meshbench_api::ProbeRunner>> {
    let probes = std::sync::Arc::new(HostProbes::default());
    // The trial load takes a moment; done now, on a thread of its own, it does not hold up
    // the first request that asks (which waits for it only if it comes sooner).
    let warm = std::sync::Arc::clone(&probes);
    let spawned = std::thread::Builder::new()
        .name("meshbench-probe-check".into())
        .spawn(move || {
            use meshbench_api::ProbeRunner as _;
            if let Err(reason) = warm.availability() {
                tracing::info!("the eBPF probe is not available here: {reason}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot check the eBPF probe ahead of time: {e}");
    }
    Some(probes)
}

/// Probes on this host for the API: the cheap checks every time (a mount can appear later),
/// and one trial load, remembered, so the verifier's answer shows in `/ebpf/probe/status`
/// before anyone starts a probe.
#[derive(Default)]
struct HostProbes {
    trial: std::sync::OnceLock<Result<(), String>>,
}

impl meshbench_api::ProbeRunner for HostProbes {
    fn availability(&self) -> Result<(), String> {
        meshbench_probe::availability().map_err(|e| e.to_string())?;
        self.trial
            .get_or_init(|| {
                meshbench_probe::Probe::start(&meshbench_probe::ProbeFilter::default())
                    .map(drop)
                    .map_err(|e| e.to_string())
            })
            .clone()
    }

    fn run(
        &self,
        request: &meshbench_core::ProbeRequest,
        stop: &std::sync::atomic::AtomicBool,
        on_event: &mut dyn FnMut(meshbench_api::ProbeEvent),
    ) -> Result<meshbench_core::probe::ProbeReport, String> {
        use meshbench_api::ProbeEvent;
        let filter = meshbench_probe::ProbeFilter {
            ports: request.ports.clone(),
            pid: request.pid,
            cgroup: request.cgroup.as_ref().map(std::path::PathBuf::from),
            connection_events: false,
            max_new_connections: request.max_new_connections,
        };
        let duration = std::time::Duration::from_secs(u64::from(request.duration));
        // Both callbacks tell the same caller; a cell lets them share it.
        let on_event = std::cell::RefCell::new(on_event);
        meshbench_probe::run_attached(
            &filter,
            duration,
            stop,
            || (on_event.borrow_mut())(ProbeEvent::Attached),
            |second| (on_event.borrow_mut())(ProbeEvent::Second(second.timeline_entry())),
        )
        .map_err(|e| e.to_string())
    }
}
