//! `meshbench run --repeats N` (a series of runs with intervals) and `meshbench run
//! --find-max-rate --slo …` (the highest open-model rate that meets an SLO).

use std::io::Write;
use std::process::ExitCode;

use meshbench_core::capacity;
use meshbench_core::compare::{self, Run, DEFAULT_MAX_ERROR_RATE};
use meshbench_core::stats::{self, Method, Threshold};
use meshbench_core::{BenchmarkResult, BenchmarkSpec, LoadModel, RateSchedule};
use meshbench_engine::StopHandle;

use crate::args::RunArgs;

/// Exit code of a series or a search whose gate failed (as `meshbench compare`).
const GATE_FAILED: u8 = 3;

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
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    spec
}

/// Searches the highest rate that meets `slo` ([`capacity::next_rate`]: doubling from the
/// start rate until a step fails, then bisecting to 5 %). Prints every step and the answer;
/// exits 3 when no rate met it.
pub fn find_max_rate(
    spec: &BenchmarkSpec,
    args: &RunArgs,
    slo: &[Threshold],
    stop: &StopHandle,
    execute: &mut Execute<'_>,
) -> anyhow::Result<ExitCode> {
    let mut rate = match &spec.model {
        LoadModel::Open {
            schedule: RateSchedule::Constant { rps },
            ..
        } => *rps,
        _ => capacity::DEFAULT_START_RATE,
    };
    let mut steps = Vec::new();
    let mut results = Vec::new();
    let mut generator_limited = false;
    while !stop.is_stopped() {
        let Some(result) = execute(&at_rate(spec, rate))? else {
            return Ok(ExitCode::from(64));
        };
        generator_limited |= result.loadgen.saturated;
        let step = capacity::step(&format!("step {}", steps.len() + 1), &result, slo, rate);
        eprintln!(
            "meshbench run: {rate:.0} req/s → {:.0} achieved, p99 {} µs: {}",
            step.achieved,
            step.p99_us,
            if step.ok {
                "meets the SLO".to_string()
            } else {
                step.reasons.join("; ")
            }
        );
        steps.push(step);
        results.push(result);
        match capacity::next_rate(&steps) {
            Some(next) => rate = next,
            None => break,
        }
    }
    let slo_text: Vec<String> = slo.iter().map(|t| t.text.clone()).collect();
    let found = capacity::capacity(&slo_text, steps, generator_limited);
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "schema": "meshbench.capacity.v1",
            "capacity": found,
            "results": results,
        });
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", capacity_table(&found))?;
    }
    Ok(if found.max_rate.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(GATE_FAILED)
    })
}

/// A search's steps by rate, and its answer.
pub fn capacity_table(c: &capacity::Capacity) -> String {
    let mut out = format!(
        "{:>12} {:>12} {:>10} {:>10}  verdict\n",
        "rate", "achieved", "p50 µs", "p99 µs"
    );
    let mut sorted: Vec<&capacity::Step> = c.steps.iter().collect();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    for s in sorted {
        out.push_str(&format!(
            "{:>12.0} {:>12.1} {:>10} {:>10}  {}\n",
            s.rate,
            s.achieved,
            s.p50_us,
            s.p99_us,
            if s.ok {
                "ok".to_string()
            } else {
                s.reasons.join("; ")
            }
        ));
    }
    let slo = c.slo.join(", ");
    match c.max_rate {
        Some(g) => out.push_str(&format!(
            "max rate meeting {slo}: {g:.0} req/s (first failing: {})\n",
            c.first_failing_rate
                .map_or("none within the search".to_string(), |b| format!(
                    "{b:.0} req/s"
                ))
        )),
        None => out.push_str(&format!("no rate tried met {slo}\n")),
    }
    if c.generator_limited {
        out.push_str(
            "note: the generator saturated at some steps; the capacity found may be the generator's\n",
        );
    }
    out
}
