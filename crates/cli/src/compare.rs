//! `meshbench compare BASELINE CANDIDATE`: two series of runs (result JSON files of
//! `meshbench run --json`, one result or an array of them each) side by side, every
//! difference with its 95 % interval (docs/statistics.md), invalid runs left out and named,
//! and gates for CI: exit 3 when a `--max-regression` gate fails.

use std::process::ExitCode;

use anyhow::{bail, Context};
use meshbench_core::stats::{self, Difference, Method};
use meshbench_core::BenchmarkResult;

use crate::args::CompareArgs;

/// Exit code when a gate fails (distinct from 1, an error, and 2, a usage error).
const GATE_FAILED: u8 = 3;
/// Seed of every resampling, so a comparison always prints the same intervals.
const SEED: u64 = 0x6d65_7368;

/// A figure compared, and how it is read from a run and from each of its seconds.
struct Figure {
    name: &'static str,
    unit: &'static str,
    /// Higher is worse (latency, errors) or better (throughput).
    higher_is_worse: bool,
    of_run: fn(&BenchmarkResult) -> f64,
    of_seconds: fn(&BenchmarkResult) -> Vec<f64>,
}

fn error_rate(r: &BenchmarkResult) -> f64 {
    if r.requests == 0 {
        0.0
    } else {
        r.errors as f64 / r.requests as f64 * 100.0
    }
}

/// `f` of every second of `r` that completed a request (an idle second has no latency).
fn busy_seconds(
    r: &BenchmarkResult,
    f: fn(&meshbench_core::result::TimelineEntry) -> f64,
) -> Vec<f64> {
    r.timeline
        .iter()
        .filter(|t| t.requests > 0)
        .map(f)
        .collect()
}

const FIGURES: [Figure; 4] = [
    Figure {
        name: "p50",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p50 as f64,
        of_seconds: |r| busy_seconds(r, |t| t.p50_us as f64),
    },
    Figure {
        name: "p99",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p99 as f64,
        of_seconds: |r| busy_seconds(r, |t| t.p99_us as f64),
    },
    Figure {
        name: "rps",
        unit: "req/s",
        higher_is_worse: false,
        of_run: |r| r.rps,
        of_seconds: |r| r.timeline.iter().map(|t| t.requests as f64).collect(),
    },
    Figure {
        name: "errors",
        unit: "%",
        higher_is_worse: true,
        of_run: error_rate,
        of_seconds: |r| busy_seconds(r, |t| t.errors as f64 / t.requests as f64 * 100.0),
    },
];

/// Reads a series: a result, or an array of results, from `path`.
fn series(path: &str) -> anyhow::Result<Vec<BenchmarkResult>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{path} is not JSON"))?;
    let values = match value {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v)
                .with_context(|| format!("{path}: result {i} is not a meshbench result"))
        })
        .collect()
}

/// A `--max-regression` gate: the figure may get worse by at most `percent`.
fn parse_gates(text: Option<&str>) -> anyhow::Result<Vec<(&'static str, f64)>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|gate| {
            let (name, limit) = gate.split_once('=').with_context(|| {
                format!("--max-regression `{gate}`: write FIGURE=PERCENT%, e.g. p99=10%")
            })?;
            let figure = FIGURES
                .iter()
                .find(|f| f.name == name.trim())
                .with_context(|| {
                    format!("--max-regression: unknown figure `{name}` (p50, p99, rps, errors)")
                })?;
            let percent: f64 = limit
                .trim()
                .trim_end_matches('%')
                .parse()
                .with_context(|| {
                    format!("--max-regression {name}: `{limit}` is not a percentage")
                })?;
            Ok((figure.name, percent))
        })
        .collect()
}

/// Splits a series into valid runs and the reasons the others are not.
fn valid(
    runs: Vec<BenchmarkResult>,
    max_error_rate: f64,
    side: &str,
) -> (Vec<BenchmarkResult>, Vec<String>) {
    let mut kept = Vec::new();
    let mut left_out = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        let reasons = stats::invalid_reasons(&run, max_error_rate);
        if reasons.is_empty() {
            kept.push(run);
        } else {
            left_out.push(format!("{side} run {i}: {}", reasons.join("; ")));
        }
    }
    (kept, left_out)
}

/// Runs `meshbench compare`.
pub fn run(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let gates = parse_gates(args.max_regression.as_deref())?;
    let max_error_rate = args.max_error_rate / 100.0;
    let (baseline, mut left_out) = valid(series(&args.baseline)?, max_error_rate, "baseline");
    let (candidate, more) = valid(series(&args.candidate)?, max_error_rate, "candidate");
    left_out.extend(more);
    for line in &left_out {
        eprintln!("meshbench compare: left out, invalid: {line}");
    }
    if baseline.is_empty() || candidate.is_empty() {
        bail!("no valid run on one side to compare (see the runs left out above)");
    }
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for figure in &FIGURES {
        let side = |runs: &[BenchmarkResult]| {
            let per_run: Vec<f64> = runs.iter().map(figure.of_run).collect();
            let per_second: Vec<Vec<f64>> = runs.iter().map(figure.of_seconds).collect();
            stats::samples(&per_run, &per_second)
        };
        let (a, method_a) = side(&baseline);
        let (b, method_b) = side(&candidate);
        let method = if method_a == Method::Seconds || method_b == Method::Seconds {
            Method::Seconds
        } else {
            Method::Runs
        };
        let d = stats::difference(&a, &b, method, SEED);
        let worse_pct = if figure.higher_is_worse {
            d.relative.estimate * 100.0
        } else {
            -d.relative.estimate * 100.0
        };
        let verdict = if !d.significant {
            "no significant difference".to_string()
        } else if worse_pct > 0.0 {
            "worse".to_string()
        } else {
            "better".to_string()
        };
        if let Some((_, limit)) = gates.iter().find(|(name, _)| *name == figure.name) {
            if d.significant && worse_pct > *limit {
                failed.push(format!(
                    "{} worse by {worse_pct:.1} % (gate {limit} %)",
                    figure.name
                ));
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        rows.push(Row {
            figure,
            baseline: mean(&a),
            candidate: mean(&b),
            difference: d,
            verdict,
        });
    }
    if args.json {
        let doc = serde_json::json!({
            "schema": "meshbench.comparison.v1",
            "baseline_runs": baseline.len(),
            "candidate_runs": candidate.len(),
            "left_out": left_out,
            "figures": rows.iter().map(|r| serde_json::json!({
                "figure": r.figure.name, "unit": r.figure.unit, "baseline": r.baseline,
                "candidate": r.candidate, "difference": r.difference, "verdict": r.verdict,
            })).collect::<Vec<_>>(),
            "gates_failed": failed,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", table(&rows, baseline.len(), candidate.len()));
        for f in &failed {
            println!("GATE FAILED: {f}");
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_FAILED)
    })
}

/// One figure's line of the comparison.
struct Row<'a> {
    figure: &'a Figure,
    baseline: f64,
    candidate: f64,
    difference: Difference,
    verdict: String,
}

fn table(rows: &[Row<'_>], a_runs: usize, b_runs: usize) -> String {
    let mut out =
        format!("baseline: {a_runs} run(s), candidate: {b_runs} run(s); 95 % intervals\n");
    out.push_str(&format!(
        "{:<8} {:>12} {:>12} {:>10} {:>22}  {}\n",
        "figure", "baseline", "candidate", "change", "interval of change", "verdict"
    ));
    for row in rows {
        let (f, d, verdict) = (row.figure, &row.difference, &row.verdict);
        let method = match d.method {
            Method::Runs => "runs",
            Method::Seconds => "seconds",
        };
        out.push_str(&format!(
            "{:<8} {:>12} {:>12} {:>10} {:>11} … {:>7}  {verdict} ({method})\n",
            f.name,
            show(row.baseline, f.unit),
            show(row.candidate, f.unit),
            percent(d.relative.estimate),
            percent(d.relative.low),
            percent(d.relative.high),
        ));
    }
    out
}

/// A fraction as a signed percentage; `—` where it is undefined (a baseline of zero).
fn percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:+.1}%", fraction * 100.0)
    } else {
        "—".to_string()
    }
}

fn show(value: f64, unit: &str) -> String {
    if value.is_finite() {
        format!("{value:.1} {unit}")
    } else {
        "—".to_string()
    }
}
