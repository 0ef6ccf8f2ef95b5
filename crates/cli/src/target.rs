//! `meshbench target`: the built-in target server in the foreground.

use std::process::ExitCode;

use anyhow::Context;
use meshbench_target::TargetConfig;

use crate::args::TargetArgs;

pub fn run(args: TargetArgs) -> anyhow::Result<ExitCode> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.enable_all();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads.max(1));
    }
    let runtime = builder
        .build()
        .context("cannot start the target's runtime")?;
    // The address bound, not the one asked for: with port 0 it tells the port.
    let ready = |addr| {
        eprintln!("meshbench target: serving HTTP/1.1 and h2c on http://{addr} (Ctrl-C stops)")
    };
    runtime.block_on(meshbench_target::serve_until_ctrl_c(
        TargetConfig::new(args.http),
        ready,
    ))?;
    Ok(ExitCode::SUCCESS)
}
