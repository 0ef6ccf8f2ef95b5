//! `meshbench lab up|down|status|run`: the mesh lab on this machine (meshbench-lab).

use std::process::ExitCode;

use anyhow::{bail, Context};
use meshbench_lab::{Lab, Topology};

use crate::args::LabCommand;

/// Runs a `meshbench lab` command.
pub fn run(command: LabCommand) -> anyhow::Result<ExitCode> {
    let lab = Lab::from_env();
    let me = std::env::current_exe().context("cannot find the meshbench binary")?;
    match command {
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
            let url = format!(
                "{}{}",
                state.url.trim_end_matches('/'),
                if path.starts_with('/') {
                    path
                } else {
                    format!("/{path}")
                }
            );
            let mut args = vec!["run".to_string(), url];
            args.extend(run_args);
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
