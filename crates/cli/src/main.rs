//! The `meshbench` binary: parses the command line, sets up logging and hands over to the
//! subcommand. Everything with logic lives in the library crates; this is the edge where
//! errors become messages and exit codes.

mod args;
mod compare;
mod config;
mod k8s;
mod lab;
mod output;
mod platform;
mod probe;
mod run;
mod series;
mod target;
mod user;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    // The platform commands log what they do; `run` keeps stderr for its progress bar.
    let level = match &cli.command {
        args::Command::Serve | args::Command::Worker => {
            match config::Settings::from_env(&config::environment()) {
                Ok(settings) if settings.debug => "debug",
                _ => "info",
            }
        }
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESHBENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        args::Command::Run(run) => run::run(*run),
        args::Command::Target(target) => target::run(target),
        args::Command::Serve => platform::serve(),
        args::Command::Probe(probe) => probe::run(&probe),
        args::Command::Worker => platform::worker(),
        args::Command::K8s { command } => k8s::run(command),
        args::Command::Compare(compare) => compare::run(compare),
        args::Command::Lab { command } => lab::run(command),
        args::Command::Db {
            command: args::DbCommand::Init,
        } => platform::db_init(),
        args::Command::User { command } => user::run(command),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("meshbench: {error:#}");
            ExitCode::from(1)
        }
    }
}
