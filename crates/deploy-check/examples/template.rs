//! `helm template` for meshbench's chart, without Helm: prints the rendered manifests.
//!
//! ```sh
//! cargo run -p meshbench-deploy-check --example template -- \
//!     [--name RELEASE] [--namespace NS] [-f values.yaml]... [--chart DIR]
//! ```
//!
//! Every document is checked strictly (k8s-openapi types) before anything is printed.

use std::path::PathBuf;
use std::process::ExitCode;

use meshbench_deploy_check::chart::{Chart, Release};
use meshbench_deploy_check::{deploy_dir, objects, yaml};

fn main() -> ExitCode {
    let mut name = "meshbench".to_string();
    let mut namespace = "meshbench".to_string();
    let mut chart_dir = deploy_dir().join("helm/meshbench");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("{flag} needs a value");
                std::process::exit(64)
            })
        };
        match arg.as_str() {
            "--name" => name = value("--name"),
            "--namespace" | "-n" => namespace = value("--namespace"),
            "--chart" => chart_dir = PathBuf::from(value("--chart")),
            "-f" | "--values" => files.push(PathBuf::from(value("-f"))),
            other => {
                eprintln!("unknown argument {other}; usage: [--name R] [--namespace NS] [-f values.yaml]... [--chart DIR]");
                return ExitCode::from(64);
            }
        }
    }
    let chart = match Chart::load(&chart_dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut overrides = Vec::new();
    for f in &files {
        let parsed = std::fs::read_to_string(f)
            .map_err(|e| e.to_string())
            .and_then(|t| yaml::document(&t));
        match parsed {
            Ok(v) => overrides.push(v),
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let values = chart.values_with(&overrides.iter().collect::<Vec<_>>());
    let release = Release::new(&name, &namespace);
    let rendered = match chart.render(&release, &values) {
        Ok(r) => r,
        Err(errors) => {
            eprintln!("{}", errors.join("\n"));
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for m in &rendered.manifests {
        let source = format!("templates/{}", m.name);
        if let Err(errors) = objects::parse_all(&source, &m.text) {
            eprintln!("{}", errors.join("\n"));
            failed = true;
        }
        if !yaml::documents(&m.text).is_ok_and(|d| d.is_empty()) {
            println!(
                "---\n# Source: meshbench/{source}\n{}",
                m.text.trim_start_matches("---\n")
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
