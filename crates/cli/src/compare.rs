//! `meshbench compare BASELINE CANDIDATE`: two series of runs side by side, each a result
//! JSON file (`meshbench run --json`, one result or an array of them) or a stored job or
//! series id; every difference with its 95 % interval (docs/statistics.md), invalid runs
//! left out and named, differing settings listed, and gates for CI: exit 3 when one fails.

use std::process::ExitCode;

use anyhow::{bail, Context};
use meshbench_core::compare::{self, Comparison, Gates, Run};
use meshbench_core::stats::{Method, Threshold};

use crate::args::CompareArgs;

/// Exit code when a gate fails (distinct from 1, an error, and 2, a usage error).
pub const GATE_FAILED: u8 = 3;

/// Reads a side: a file of one result or an array of them, else a stored job or series.
fn series(what: &str) -> anyhow::Result<Vec<Run>> {
    if !std::path::Path::new(what).exists() {
        return match crate::platform::stored_runs(what)? {
            Some(runs) => Ok(runs),
            None => bail!("`{what}` is neither a result file nor a stored job or series id"),
        };
    }
    let text = std::fs::read_to_string(what).with_context(|| format!("reading {what}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{what} is not JSON"))?;
    let values = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let result = serde_json::from_value(v)
                .with_context(|| format!("{what}: result {i} is not a meshbench result"))?;
            Ok(Run {
                id: format!("{what}#{i}"),
                result,
            })
        })
        .collect()
}

/// Runs `meshbench compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let max_regression = match args.max_regression.as_deref() {
        Some(text) => compare::parse_max_regression(text).map_err(|e| anyhow::anyhow!("--{e}"))?,
        None => Vec::new(),
    };
    let thresholds = args
        .threshold
        .iter()
        .map(|t| t.parse::<Threshold>().map_err(|e| anyhow::anyhow!("--{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let gates = Gates {
        max_regression,
        thresholds,
    };
    let baseline = series(&args.baseline)?;
    let candidate = series(&args.candidate)?;
    let comparison = compare::compare(
        (&args.baseline, &baseline),
        (&args.candidate, &candidate),
        &gates,
        args.max_error_rate / 100.0,
    )
    .map_err(|e| {
        anyhow::anyhow!("{e}; {}", {
            let all: Vec<String> = baseline
                .iter()
                .chain(&candidate)
                .filter_map(|r| {
                    let why = meshbench_core::stats::invalid_reasons(
                        &r.result,
                        args.max_error_rate / 100.0,
                    );
                    (!why.is_empty()).then(|| format!("{}: {}", r.id, why.join("; ")))
                })
                .collect();
            all.join(" | ")
        })
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&comparison)?);
    } else {
        print!("{}", table(&comparison));
    }
    Ok(if comparison.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_FAILED)
    })
}

/// The comparison as a person reads it.
fn table(c: &Comparison) -> String {
    let mut out = format!(
        "baseline: {} of {} run(s) valid, candidate: {} of {}; 95 % intervals\n",
        c.baseline.valid_runs, c.baseline.runs, c.candidate.valid_runs, c.candidate.runs
    );
    for left in &c.left_out {
        out.push_str(&format!(
            "left out, invalid: {}: {}\n",
            left.id,
            left.reasons.join("; ")
        ));
    }
    for warning in &c.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    for o in &c.outliers {
        out.push_str(&format!(
            "outlier (kept): {} {} = {:.1}\n",
            o.id, o.figure, o.value
        ));
    }
    out.push_str(&format!(
        "{:<7} {:>24} {:>24} {:>8} {:>19}  {}\n",
        "figure", "baseline", "candidate", "change", "interval of change", "verdict"
    ));
    for f in &c.figures {
        let d = &f.difference;
        let method = match d.method {
            Method::Runs => "runs",
            Method::Seconds => "seconds",
        };
        out.push_str(&format!(
            "{:<7} {:>24} {:>24} {:>8} {:>8} … {:>8}  {} ({method})\n",
            f.figure,
            with_interval(&f.baseline, &f.unit),
            with_interval(&f.candidate, &f.unit),
            d.relative.map_or("—".into(), |r| percent(r.estimate)),
            d.relative.map_or("—".into(), |r| percent(r.low)),
            d.relative.map_or("—".into(), |r| percent(r.high)),
            f.verdict,
        ));
    }
    for gate in &c.gates {
        let word = if gate.passed { "passed" } else { "GATE FAILED" };
        out.push_str(&format!("{word}: {} — {}\n", gate.gate, gate.detail));
    }
    out
}

/// `123.4 ±5.6 µs`: the estimate and the interval's half width.
fn with_interval(i: &meshbench_core::stats::Interval, unit: &str) -> String {
    if !i.estimate.is_finite() {
        return "—".to_string();
    }
    format!(
        "{:.1} ±{:.1} {unit}",
        i.estimate,
        (i.high - i.low).abs() / 2.0
    )
}

/// A fraction as a signed percentage; `—` where it is undefined (a baseline of zero).
fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:+.1}%", fraction * 100.0)
    } else {
        "—".to_string()
    }
}
