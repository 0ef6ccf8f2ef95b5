//! The `meshbench` binary: parses the command line, sets up logging and hands over to the
//! subcommand. Everything with logic lives in the library crates; this is the edge where
//! errors become messages and exit codes.

mod args;
mod output;
mod run;
mod target;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MESHBENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let outcome = match cli.command {
        args::Command::Run(run) => run::run(*run),
        args::Command::Target(target) => target::run(target),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("meshbench: {error:#}");
            ExitCode::from(1)
        }
    }
}
