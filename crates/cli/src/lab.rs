//! `meshbench lab up|down|status|run`: the mesh lab on this machine (meshbench-lab).

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{bail, Context};
use meshbench_core::lab::{LabHops, ProxyCost};
use meshbench_lab::{Lab, Topology};

use crate::args::LabCommand;

/// Runs a `meshbench lab` command.
pub fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    let lab = Lab::from_env();
    let me = std::env::current_exe().context("cannot find the meshbench binary")?;
    match command {
        command @ LabCommand::Compare { .. } => return compare(command),
        LabCommand::Up { topology } => {
            let topology: Topology = topology.parse()?;
            let state = lab.up(topology, &me)?;
            println!(
                "lab up: {topology}{}; a client in netns {} sends to {}",
                state
                    .envoy_version
                    .as_deref()
                    .map(|v| format!(" (Envoy {v})"))
                    .unwrap_or_default(),
                meshbench_lab::CLIENT_NS,
                state.url
            );
            for p in &state.processes {
                println!("  {:<15} pid {:<8} netns {}", p.name, p.pid, p.namespace);
            }
        }
        LabCommand::Down => {
            lab.down()?;
            println!("lab down: no namespace, link, process or file left");
        }
        LabCommand::Status { json } => {
            let status = lab.status()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                match &status.state {
                    Some(state) => {
                        println!("lab up: {} → {}", state.topology, state.url);
                        for p in &state.processes {
                            let up = if meshbench_lab::alive(p.pid) {
                                "running"
                            } else {
                                "GONE"
                            };
                            println!("  {:<15} pid {:<8} {up}", p.name, p.pid);
                        }
                    }
                    None if status.namespaces.is_empty() => println!("lab down"),
                    None => println!(
                        "lab down, but namespaces are left: {} (meshbench lab down clears them)",
                        status.namespaces.join(", ")
                    ),
                }
            }
        }
        LabCommand::Run {
            topology,
            path,
            scheme,
            hops,
            store,
            run_args,
        } => {
            let topology: Topology = topology.parse()?;
            let (state, ours) = match lab.state()? {
                Some(state) if state.topology == topology => (state, false),
                Some(state) => bail!(
                    "the lab is up with topology `{}`: `meshbench lab down` first, or run that one",
                    state.topology
                ),
                None => (lab.up(topology, &me)?, true),
            };
            let url = target_url(&state, &scheme, &path)?;
            let mut args = vec!["run".to_string(), url];
            args.extend(run_args);
            if hops {
                args.extend(meshbench_lab::hop_args(topology));
            }
            if store {
                let stored = run_and_store(&state, &me, args);
                if ours {
                    lab.down()?;
                }
                return stored;
            }
            let status = Lab::client_command(&me, &args)
                .status()
                .context("running meshbench in the client host");
            if ours {
                lab.down()?;
            }
            let status = status?;
            return Ok(ExitCode::from(
                status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .unwrap_or(1),
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `lab run --store`: runs `args` in the client host for its JSON result, adds the lab
/// record (topology, Envoy version, proxies' cost, hops), stores it as a completed benchmark
/// of the platform's store, and prints it as the run's flags asked (JSON or the table).
fn run_and_store(
    state: &meshbench_lab::LabState,
    me: &std::path::Path,
    mut args: Vec<String>,
) -> anyhow::Result<ExitCode> {
    use meshbench_core::HttpVersion;
    let wants_json = args.iter().any(|a| a == "--json");
    if args.iter().any(|a| a == "--csv") {
        bail!("--store prints the table or --json, not --csv");
    }
    if !wants_json {
        args.push("--json".into());
    }
    let meter = meshbench_lab::ProxyMeter::start(state);
    let out = Lab::client_command(me, &args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running meshbench in the client host")?;
    let parsed: Option<meshbench_core::BenchmarkResult> = serde_json::from_slice(&out.stdout).ok();
    let proxies = meter.finish(parsed.as_ref().map_or(0.0, |r| r.rps));
    let Some(mut result) = parsed else {
        bail!("the run in the client host left no result ({})", out.status);
    };
    result.lab = Some(state.record(proxies, &result).0);
    let spec = &result.spec;
    let test_type = match spec.protocol {
        HttpVersion::Grpc => "grpc",
        HttpVersion::Websocket => "websocket",
        _ => "http",
    };
    let request: meshbench_core::StartRequest = serde_json::from_value(serde_json::json!({
        "test_type": test_type,
        "service_url": spec.requests.first().map(|r| r.url.clone()),
        "concurrent_connections": spec.connections,
        "duration": result.duration_s.round().max(1.0) as u32,
        "warmup": spec.warmup_s.round() as u32,
        "rate": result.requested_rps,
        "http2": spec.protocol == HttpVersion::Http2,
        "method": spec.requests.first().map_or("GET".to_string(), |r| r.method.clone()),
        "mesh_type": spec.mesh_type.as_str(),
        "lab_topology": state.topology,
    }))
    .context("describing the run for the store")?;
    let id = crate::platform::store_run(&request, &result)?;
    eprintln!("meshbench lab: stored as benchmark {id}");
    let mut stdout = std::io::stdout().lock();
    if wants_json {
        serde_json::to_writer_pretty(&mut stdout, &result)?;
        writeln!(stdout)?;
    } else {
        let latency = meshbench_core::histogram::decode_base64(&result.histogram)
            .unwrap_or_else(|_| meshbench_core::histogram::new_histogram());
        let color = std::io::IsTerminal::is_terminal(&std::io::stdout());
        write!(
            stdout,
            "{}",
            crate::output::table::render(&result, &latency, color)
        )?;
    }
    Ok(if out.status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(
            out.status
                .code()
                .and_then(|c| u8::try_from(c).ok())
                .unwrap_or(1),
        )
    })
}

/// One run of a lab comparison.
struct LabRun {
    topology: Topology,
    /// Its result, with its lab record (the proxies' cost).
    result: meshbench_core::BenchmarkResult,
}

/// The lab's entry spoken as `scheme`, which must be one the entry's port carries.
fn target_url(state: &meshbench_lab::LabState, scheme: &str, path: &str) -> anyhow::Result<String> {
    if !matches!(scheme, "http" | "ws" | "grpc") {
        bail!("--scheme: `{scheme}` is not one of http, ws, grpc");
    }
    Ok(state.url_with(scheme, path))
}

/// Brings `topology` up (taking down whatever else is up), runs the workload from the
/// client host, reads the proxies' cost over the run, and takes it down.
fn lab_run(
    lab: &Lab,
    me: &std::path::Path,
    topology: Topology,
    path: &str,
    scheme: &str,
    run_args: &[String],
    hops: bool,
) -> anyhow::Result<LabRun> {
    if lab.state()?.is_some() {
        lab.down()?;
    }
    let state = lab.up(topology, me)?;
    let mut args = vec!["run".to_string(), target_url(&state, scheme, path)?];
    args.extend(run_args.iter().cloned());
    args.extend(["--json".to_string(), "--no-progress".to_string()]);
    if hops {
        args.extend(meshbench_lab::hop_args(topology));
    }
    let meter = meshbench_lab::ProxyMeter::start(&state);
    let out = Lab::client_command(me, &args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running meshbench in the client host");
    // Read while the proxies run: their CPU and memory are in /proc until they go.
    let parsed = out
        .as_ref()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| serde_json::from_slice::<meshbench_core::BenchmarkResult>(&o.stdout));
    let proxies = meter.finish(
        parsed
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map_or(0.0, |r| r.rps),
    );
    lab.down()?;
    let out = out?;
    if !out.status.success() {
        bail!("the run through {topology} failed ({})", out.status);
    }
    let mut result = match parsed {
        Some(Ok(result)) => result,
        _ => bail!("the run through {topology} printed no result"),
    };
    result.lab = Some(state.record(proxies, &result).0);
    Ok(LabRun { topology, result })
}

/// `meshbench lab compare`: the topologies interleaved (rotated each round), each against
/// the first with the statistics of `meshbench compare`.
pub fn compare(command: LabCommand) -> anyhow::Result<ExitCode> {
    use meshbench_core::compare::{self as stats, Gates, Run};
    let LabCommand::Compare {
        topologies,
        repeats,
        path,
        scheme,
        max_regression,
        json,
        no_hops,
        run_args,
    } = command
    else {
        bail!("not a lab compare command");
    };
    let (scheme, hops) = (scheme.as_str(), !no_hops);
    let max_regression = max_regression.as_deref();
    let lab = Lab::from_env();
    let me = std::env::current_exe().context("cannot find the meshbench binary")?;
    let topologies: Vec<Topology> = topologies
        .split(',')
        .map(|t| t.trim().parse())
        .collect::<Result<_, _>>()?;
    if topologies.len() < 2 {
        bail!("--topologies: give at least two (the first is the baseline)");
    }
    let gates = Gates {
        max_regression: match max_regression {
            Some(text) => {
                stats::parse_max_regression(text).map_err(|e| anyhow::anyhow!("--{e}"))?
            }
            None => Vec::new(),
        },
        thresholds: Vec::new(),
    };
    let run_args = if run_args.is_empty() {
        ["-c", "4", "-R", "1000", "-d", "5s"]
            .map(String::from)
            .to_vec()
    } else {
        run_args
    };
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let mut runs: Vec<LabRun> = Vec::new();
    for (i, (t, round)) in stats::interleaved(topologies.len(), repeats as usize)
        .into_iter()
        .enumerate()
    {
        let topology = topologies[t];
        eprintln!(
            "meshbench lab: run {} of {}: {topology} (round {})",
            i + 1,
            topologies.len() * repeats as usize,
            round + 1
        );
        runs.push(lab_run(
            &lab, &me, topology, &path, scheme, &run_args, hops,
        )?);
    }
    let side = |t: Topology| -> Vec<Run> {
        runs.iter()
            .filter(|r| r.topology == t)
            .enumerate()
            .map(|(i, r)| Run {
                id: format!("{t}#{}", i + 1),
                result: r.result.clone(),
            })
            .collect()
    };
    let baseline = topologies[0];
    let base_runs = side(baseline);
    let mut comparisons = Vec::new();
    for t in &topologies[1..] {
        let label = t.as_str();
        let c = stats::compare(
            (baseline.as_str(), &base_runs),
            (label, &side(*t)),
            &gates,
            stats::DEFAULT_MAX_ERROR_RATE,
        )
        .map_err(|e| anyhow::anyhow!("{t}: {e}"))?;
        comparisons.push((*t, c));
    }
    // Each proxy's cost, averaged over its topology's runs.
    let cost = |t: Topology| -> Vec<ProxyCost> {
        let of: Vec<&[ProxyCost]> = runs
            .iter()
            .filter(|r| r.topology == t)
            .filter_map(|r| r.result.lab.as_ref().map(|l| l.proxies.as_slice()))
            .collect();
        ProxyCost::mean(&of)
    };
    let breakdowns: Vec<(Topology, Option<LabHops>)> = topologies
        .iter()
        .map(|t| {
            let of: Vec<&meshbench_core::BenchmarkResult> = runs
                .iter()
                .filter(|r| r.topology == *t)
                .map(|r| &r.result)
                .collect();
            LabHops::of(&of)
                .map(|h| (*t, h))
                .with_context(|| format!("{t}: the hop breakdown"))
        })
        .collect::<anyhow::Result<_>>()?;
    let passed = comparisons.iter().all(|(_, c)| c.passed);
    let envoy = meshbench_lab::envoy_binary()
        .ok()
        .and_then(|e| meshbench_lab::envoy_version(&e).ok());
    if json {
        let doc = serde_json::json!({
            "schema": "meshbench.lab-comparison.v1",
            "envoy_version": envoy,
            "baseline": baseline,
            "repeats": repeats,
            "run_args": run_args,
            "path": path,
            "scheme": scheme,
            "topologies": topologies.iter().map(|t| serde_json::json!({
                "topology": t,
                "runs": runs.iter().filter(|r| r.topology == *t).map(|r| &r.result).collect::<Vec<_>>(),
                "proxies": cost(*t),
                "hops": breakdowns.iter().find(|(b, _)| b == t).and_then(|(_, h)| h.as_ref()),
                "comparison": comparisons.iter().find(|(c, _)| c == t).map(|(_, c)| c),
            })).collect::<Vec<_>>(),
            "passed": passed,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} runs each, interleaved; Envoy {}; 95 % intervals against {baseline}",
            repeats,
            envoy.as_deref().unwrap_or("—")
        );
        println!(
            "{:<14} {:>10} {:>24} {:>10} {:>24} {:>10}  proxies (CPU millicores per 1k req/s, peak RSS)",
            "topology", "p50 µs", "p50 change [interval]", "p99 µs", "p99 change [interval]", "req/s"
        );
        for t in &topologies {
            let runs_of = side(*t);
            let mean = |f: fn(&meshbench_core::BenchmarkResult) -> f64| {
                runs_of.iter().map(|r| f(&r.result)).sum::<f64>() / runs_of.len().max(1) as f64
            };
            let change = |figure: &str| -> String {
                comparisons
                    .iter()
                    .find(|(c, _)| c == t)
                    .and_then(|(_, c)| c.figures.iter().find(|f| f.figure == figure))
                    .and_then(|f| f.difference.relative.map(|r| (r, f.verdict)))
                    .map_or("—".to_string(), |(r, v)| {
                        format!(
                            "{:+.1}% [{:+.1} … {:+.1}]{}",
                            r.estimate * 100.0,
                            r.low * 100.0,
                            r.high * 100.0,
                            if v == meshbench_core::compare::Verdict::NoSignificantDifference {
                                " ns"
                            } else {
                                ""
                            }
                        )
                    })
            };
            let proxies: Vec<String> = cost(*t)
                .iter()
                .map(|p| {
                    let connects = p.upstream_connects.as_ref().map_or(String::new(), |c| {
                        format!(
                            ", {} upstream connects p50 {:.0} µs{}",
                            c.connections,
                            c.p50_us,
                            if c.tls { " with TLS" } else { "" }
                        )
                    });
                    format!(
                        "{} {:.0} m, {:.1} MB{connects}",
                        p.name,
                        p.millicores_per_1k_rps,
                        p.peak_rss_bytes as f64 / 1e6
                    )
                })
                .collect();
            println!(
                "{:<14} {:>10.0} {:>24} {:>10.0} {:>24} {:>10.0}  {}",
                t.as_str(),
                mean(|r| r.latency_us.p50 as f64),
                change("p50"),
                mean(|r| r.latency_us.p99 as f64),
                change("p99"),
                mean(|r| r.rps),
                if proxies.is_empty() {
                    "—".to_string()
                } else {
                    proxies.join("; ")
                }
            );
        }
        if breakdowns.iter().any(|(_, h)| h.is_some()) {
            println!();
            println!("where the latency goes (eBPF on each hop's sockets; → is the wire and kernels to a hop, a name the time inside it):");
            for (t, h) in &breakdowns {
                if let Some(h) = h {
                    println!(
                        "{:<14} p50 {}  (client measured {:.0} µs)",
                        t.as_str(),
                        h.p50.line(),
                        h.client_p50_us
                    );
                    println!(
                        "{:<14} p99 {}  (client measured {:.0} µs)",
                        "",
                        h.p99.line(),
                        h.client_p99_us
                    );
                }
            }
        }
        for (t, c) in &comparisons {
            for left in &c.left_out {
                println!(
                    "{t}: left out, invalid: {}: {}",
                    left.id,
                    left.reasons.join("; ")
                );
            }
            for gate in &c.gates {
                let word = if gate.passed { "passed" } else { "GATE FAILED" };
                println!("{t}: {word}: {} — {}", gate.gate, gate.detail);
            }
        }
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::compare::GATE_FAILED)
    })
}
