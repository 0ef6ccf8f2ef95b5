//! The probe, loaded once, attached and detached on command: what bench/probe-overhead.sh
//! uses to compare throughput with and without it in one run, switching in milliseconds
//! instead of reloading (the verifier takes CPU of its own, and seconds).
//!
//! Usage: `probe_toggle PORT` (as root). Reads `on` / `off` lines on stdin and answers each
//! with `ok` once the programs are attached / detached; at the end of input prints what the
//! probe counted, as a table, on stderr.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use meshbench_probe::{render_table, Probe, ProbeFilter};

fn main() -> ExitCode {
    let Some(port) = std::env::args().nth(1).and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: probe_toggle PORT");
        return ExitCode::from(64);
    };
    match run(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("probe_toggle: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let mut probe = Probe::start(&ProbeFilter {
        ports: vec![port],
        ..ProbeFilter::default()
    })?;
    probe.detach();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        match line?.trim() {
            "on" => probe.attach()?,
            "off" => probe.detach(),
            other => return Err(format!("unknown command `{other}` (on, off)").into()),
        }
        writeln!(out, "ok")?;
        out.flush()?;
    }
    eprintln!("{}", render_table(&probe.finish()?));
    Ok(())
}
