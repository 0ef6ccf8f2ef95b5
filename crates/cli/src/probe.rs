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
        cgroup_trees: args.cgroup_tree.clone(),
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
