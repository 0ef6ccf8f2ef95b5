//! `meshbench run --repeats N` (a series of runs with intervals) and `meshbench run
//! --find-max-rate --slo …` (the highest open-model rate that meets an SLO).

use std::io::Write;
use std::process::ExitCode;

use meshbench_core::compare::{self, Run, DEFAULT_MAX_ERROR_RATE};
use meshbench_core::stats::{self, Method, Threshold};
use meshbench_core::{BenchmarkResult, BenchmarkSpec, LoadModel, RateSchedule};
use meshbench_engine::StopHandle;

use crate::args::RunArgs;

/// Exit code of a series or a search whose gate failed (as `meshbench compare`).
const GATE_FAILED: u8 = 3;
/// Where a search starts without --rate.
const DEFAULT_START_RATE: f64 = 1000.0;
/// A search stops bisecting when the bracket is this narrow (relative to its low end).
const PRECISION: f64 = 0.05;
/// The most runs one search makes, doubling and bisecting together.
const MAX_STEPS: usize = 24;

/// One run, its result, or `None` when the spec was refused (already reported).
type Execute<'a> = dyn FnMut(&BenchmarkSpec) -> anyhow::Result<Option<BenchmarkResult>> + 'a;

/// Runs `spec` `args.repeats` times and prints the series.
pub fn repeated(
    spec: &BenchmarkSpec,
    args: &RunArgs,
    thresholds: &[Threshold],
    stop: &StopHandle,
    execute: &mut Execute<'_>,
) -> anyhow::Result<ExitCode> {
    let mut runs = Vec::new();
    for i in 0..args.repeats {
        if stop.is_stopped() {
            break;
        }
        let Some(result) = execute(spec)? else {
            return Ok(ExitCode::from(64));
        };
        eprintln!(
            "meshbench run: run {} of {}: {:.1} req/s, p50 {} µs, p99 {} µs{}",
            i + 1,
            args.repeats,
            result.rps,
            result.latency_us.p50,
            result.latency_us.p99,
            invalid_note(&result)
        );
        runs.push(Run {
            id: format!("run {}", i + 1),
            result,
        });
    }
    let series = compare::series_stats(&runs, DEFAULT_MAX_ERROR_RATE);
    let mut out = std::io::stdout().lock();
    if args.json {
        let results: Vec<&BenchmarkResult> = runs.iter().map(|r| &r.result).collect();
        serde_json::to_writer_pretty(&mut out, &results)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", series_table(&series))?;
    }
    let valid: Vec<&Run> = runs
        .iter()
        .filter(|r| stats::invalid_reasons(&r.result, DEFAULT_MAX_ERROR_RATE).is_empty())
        .collect();
    let mut failed = false;
    for t in thresholds {
        if valid.is_empty() {
            eprintln!("meshbench run: threshold {}: no valid run to judge", t.text);
            failed = true;
            continue;
        }
        let mean = valid.iter().map(|r| t.value(&r.result)).sum::<f64>() / valid.len() as f64;
        if !t.holds(mean) {
            eprintln!(
                "meshbench run: threshold {} failed: mean of {} valid runs {mean:.1} {}",
                t.text,
                valid.len(),
                t.unit()
            );
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::from(GATE_FAILED)
    } else {
        ExitCode::SUCCESS
    })
}

fn invalid_note(result: &BenchmarkResult) -> String {
    let reasons = stats::invalid_reasons(result, DEFAULT_MAX_ERROR_RATE);
    if reasons.is_empty() {
        String::new()
    } else {
        format!(" — INVALID: {}", reasons.join("; "))
    }
}

/// A series as a person reads it.
fn series_table(s: &compare::SeriesStats) -> String {
    let mut out = format!(
        "series: {} of {} runs valid; means with 95 % intervals\n",
        s.valid_runs, s.runs
    );
    for left in &s.left_out {
        out.push_str(&format!(
            "left out, invalid: {}: {}\n",
            left.id,
            left.reasons.join("; ")
        ));
    }
    for o in &s.outliers {
        out.push_str(&format!(
            "outlier (kept): {} {} = {:.1}\n",
            o.id, o.figure, o.value
        ));
    }
    for w in &s.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for f in &s.figures {
        let method = match f.method {
            Method::Runs => "over runs",
            Method::Seconds => "over seconds: few runs",
        };
        out.push_str(&format!(
            "{:<7} {:>12.1} {:<6} [{:.1} … {:.1}]  ({method})\n",
            f.figure, f.interval.estimate, f.unit, f.interval.low, f.interval.high
        ));
    }
    out
}

/// One step of a capacity search.
#[derive(Debug, serde::Serialize)]
struct Step {
    /// The rate asked for, req/s.
    rate: f64,
    /// What it achieved.
    achieved: f64,
    /// Median and 99th percentile latency, µs.
    p50_us: u64,
    p99_us: u64,
    /// Met every SLO with a valid generator.
    ok: bool,
    /// Why not.
    reasons: Vec<String>,
}

/// `spec` at a constant open-model `rate`.
fn at_rate(spec: &BenchmarkSpec, rate: f64) -> BenchmarkSpec {
    let jitter = match &spec.model {
        LoadModel::Open { jitter, .. } => *jitter,
        LoadModel::Closed => 0.0,
    };
    let mut spec = spec.clone();
    spec.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps: rate },
        jitter,
    };
    spec
}

/// Searches the highest rate that meets `slo`: doubling from the start rate until a step
/// fails, then bisecting between the last good and the first bad rate until they are within
/// [`PRECISION`]. Prints every step and the answer; exits 3 when even the first step failed.
pub fn find_max_rate(
    spec: &BenchmarkSpec,
    args: &RunArgs,
    slo: &[Threshold],
    stop: &StopHandle,
    execute: &mut Execute<'_>,
) -> anyhow::Result<ExitCode> {
    let start = match &spec.model {
        LoadModel::Open {
            schedule: RateSchedule::Constant { rps },
            ..
        } => *rps,
        _ => DEFAULT_START_RATE,
    };
    let mut steps: Vec<(Step, BenchmarkResult)> = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    let mut rate = start;
    let mut generator_limit = false;
    while steps.len() < MAX_STEPS && !stop.is_stopped() {
        let Some(result) = execute(&at_rate(spec, rate))? else {
            return Ok(ExitCode::from(64));
        };
        let mut reasons = stats::invalid_reasons(&result, DEFAULT_MAX_ERROR_RATE);
        generator_limit |= result.loadgen.saturated;
        reasons.extend(slo.iter().filter_map(|t| t.violation(&result)));
        let ok = reasons.is_empty();
        eprintln!(
            "meshbench run: {rate:.0} req/s → {:.0} achieved, p99 {} µs: {}",
            result.rps,
            result.latency_us.p99,
            if ok {
                "meets the SLO".to_string()
            } else {
                reasons.join("; ")
            }
        );
        steps.push((
            Step {
                rate,
                achieved: result.rps,
                p50_us: result.latency_us.p50,
                p99_us: result.latency_us.p99,
                ok,
                reasons,
            },
            result,
        ));
        if ok {
            good = Some(good.map_or(rate, |g: f64| g.max(rate)));
        } else {
            bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
        }
        rate = match (good, bad) {
            (Some(g), None) => g * 2.0,
            (None, Some(b)) => b / 2.0,
            (Some(g), Some(b)) if (b - g) / g > PRECISION => (g + b) / 2.0,
            _ => break,
        };
        if !(1.0..=meshbench_core::rate::MAX_RATE).contains(&rate) {
            break;
        }
    }
    let mut out = std::io::stdout().lock();
    let slo_text: Vec<&str> = slo.iter().map(|t| t.text.as_str()).collect();
    if args.json {
        let doc = serde_json::json!({
            "schema": "meshbench.capacity.v1",
            "slo": slo_text,
            "max_rate": good,
            "first_failing_rate": bad,
            "generator_limited": generator_limit,
            "steps": steps.iter().map(|(s, _)| s).collect::<Vec<_>>(),
            "results": steps.iter().map(|(_, r)| r).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "{:>12} {:>12} {:>10} {:>10}  verdict",
            "rate", "achieved", "p50 µs", "p99 µs"
        )?;
        let mut sorted: Vec<&Step> = steps.iter().map(|(s, _)| s).collect();
        sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        for s in sorted {
            writeln!(
                out,
                "{:>12.0} {:>12.1} {:>10} {:>10}  {}",
                s.rate,
                s.achieved,
                s.p50_us,
                s.p99_us,
                if s.ok {
                    "ok".to_string()
                } else {
                    s.reasons.join("; ")
                }
            )?;
        }
        match good {
            Some(g) => writeln!(
                out,
                "max rate meeting {}: {g:.0} req/s (first failing: {})",
                slo_text.join(", "),
                bad.map_or("none within the search".to_string(), |b| format!(
                    "{b:.0} req/s"
                ))
            )?,
            None => writeln!(
                out,
                "no rate from {:.0} req/s down met {}",
                steps.last().map_or(start, |(s, _)| s.rate),
                slo_text.join(", ")
            )?,
        }
        if generator_limit {
            writeln!(
                out,
                "note: the generator itself saturated at some steps; the capacity found may be the generator's"
            )?;
        }
    }
    Ok(if good.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_FAILED)
    })
}
