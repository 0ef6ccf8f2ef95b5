//! Series of runs and comparisons between two of them, as `meshbench compare`, `POST
//! /metrics/compare` and `GET /series/{id}` report them: each figure's estimate with its
//! 95 % interval, every difference with its interval and verdict, invalid runs left out and
//! named, outliers flagged, settings that differ listed, and CI gates judged.
//! `docs/statistics.md` explains the method; [`crate::stats`] holds the arithmetic.

use serde::{Deserialize, Serialize};

use crate::histogram::decode_base64;
use crate::stats::{self, Difference, Interval, Method, Threshold};
use crate::{BenchmarkResult, LoadModel};

/// Name and version of a comparison document.
pub const COMPARISON_SCHEMA: &str = "meshbench.comparison.v1";
/// Seed of every resampling, so one comparison always prints the same intervals.
pub const SEED: u64 = 0x6d65_7368;
/// Failed requests (a fraction) above which a run is invalid, unless the caller says else.
pub const DEFAULT_MAX_ERROR_RATE: f64 = 0.01;

/// One figure a series reports and a comparison compares.
pub struct Figure {
    /// Its name in tables, gates and JSON: p50, p90, p99, p999, mean, rps, errors.
    pub name: &'static str,
    /// µs, req/s or %.
    pub unit: &'static str,
    /// Higher is worse (latency, errors) or better (throughput).
    pub higher_is_worse: bool,
    of_run: fn(&BenchmarkResult) -> f64,
    of_seconds: fn(&BenchmarkResult) -> Vec<f64>,
}

impl Figure {
    /// The run's value.
    pub fn of_run(&self, run: &BenchmarkResult) -> f64 {
        (self.of_run)(run)
    }
}

fn error_rate(r: &BenchmarkResult) -> f64 {
    if r.requests == 0 {
        0.0
    } else {
        r.errors as f64 / r.requests as f64 * 100.0
    }
}

/// `f` of every second of `r` that completed a request (an idle second has no latency).
fn busy_seconds(r: &BenchmarkResult, f: fn(&crate::TimelineEntry) -> f64) -> Vec<f64> {
    r.timeline
        .iter()
        .filter(|t| t.requests > 0)
        .map(f)
        .collect()
}

/// `f` of every second's own histogram, where the run kept them (`--interval-histograms`);
/// empty otherwise, and then the figure's interval rests on runs alone.
fn interval_seconds(r: &BenchmarkResult, f: fn(&hdrhistogram::Histogram<u64>) -> f64) -> Vec<f64> {
    r.interval_histograms
        .iter()
        .filter_map(|text| decode_base64(text).ok())
        .filter(|h| !h.is_empty())
        .map(|h| f(&h))
        .collect()
}

/// `f` of every busy second, where the timeline kept the figure; else from the per-second
/// histograms (results from before the timeline kept it).
fn seconds_or_intervals(
    r: &BenchmarkResult,
    f: fn(&crate::TimelineEntry) -> f64,
    h: fn(&hdrhistogram::Histogram<u64>) -> f64,
) -> Vec<f64> {
    let kept = busy_seconds(r, f);
    if kept.iter().any(|v| *v > 0.0) {
        kept
    } else {
        interval_seconds(r, h)
    }
}

/// Every figure, in table order.
pub const FIGURES: [Figure; 7] = [
    Figure {
        name: "p50",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p50 as f64,
        of_seconds: |r| busy_seconds(r, |t| t.p50_us as f64),
    },
    Figure {
        name: "p90",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p90 as f64,
        of_seconds: |r| {
            seconds_or_intervals(r, |t| t.p90_us as f64, |h| h.value_at_quantile(0.90) as f64)
        },
    },
    Figure {
        name: "p99",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p99 as f64,
        of_seconds: |r| busy_seconds(r, |t| t.p99_us as f64),
    },
    Figure {
        name: "p999",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.p999 as f64,
        of_seconds: |r| {
            seconds_or_intervals(
                r,
                |t| t.p999_us as f64,
                |h| h.value_at_quantile(0.999) as f64,
            )
        },
    },
    Figure {
        name: "mean",
        unit: "µs",
        higher_is_worse: true,
        of_run: |r| r.latency_us.mean,
        of_seconds: |r| seconds_or_intervals(r, |t| t.mean_us, |h| h.mean()),
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

/// A difference in percent of the baseline; infinite (with the change's sign) from a zero
/// baseline.
fn relative_pct(d: &Difference) -> f64 {
    match d.relative {
        Some(r) => r.estimate * 100.0,
        None if d.absolute.estimate == 0.0 => 0.0,
        None => d.absolute.estimate.signum() * f64::INFINITY,
    }
}

/// The figure called `name`, if there is one.
pub fn figure(name: &str) -> Option<&'static Figure> {
    FIGURES.iter().find(|f| f.name == name)
}

/// One run of a series: an id (job id, or file and position) and its result.
#[derive(Debug, Clone)]
pub struct Run {
    /// How the run is named in messages.
    pub id: String,
    /// What it measured.
    pub result: BenchmarkResult,
}

/// A run left out of a series' statistics, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeftOut {
    /// The run.
    pub id: String,
    /// Why it is invalid, one reason each.
    pub reasons: Vec<String>,
}

/// A run flagged (never dropped) as an outlier on one figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outlier {
    /// The run.
    pub id: String,
    /// The figure on which it lies beyond 3 MADs of the series' median.
    pub figure: String,
    /// Its value of that figure.
    pub value: f64,
}

/// One figure of a series: its estimate and interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesFigure {
    /// p50, p90, p99, p999, mean, rps or errors.
    pub figure: String,
    /// µs, req/s or %.
    pub unit: String,
    /// Mean over the valid runs, with its 95 % interval.
    pub interval: Interval,
    /// What the interval was resampled over.
    pub method: Method,
}

/// What a series of runs says: its valid runs' figures with intervals, and the runs it
/// could not use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesStats {
    /// Runs in the series.
    pub runs: usize,
    /// Runs the statistics rest on.
    pub valid_runs: usize,
    /// Invalid runs, left out.
    pub left_out: Vec<LeftOut>,
    /// Runs flagged as outliers (still counted).
    pub outliers: Vec<Outlier>,
    /// Each figure; empty when no run is valid.
    pub figures: Vec<SeriesFigure>,
    /// The settings in which the series' own runs differ, one line each.
    pub warnings: Vec<String>,
}

/// Splits runs into valid ones and those left out.
fn partition(runs: &[Run], max_error_rate: f64) -> (Vec<&Run>, Vec<LeftOut>) {
    let mut valid = Vec::new();
    let mut left_out = Vec::new();
    for run in runs {
        let reasons = stats::invalid_reasons(&run.result, max_error_rate);
        if reasons.is_empty() {
            valid.push(run);
        } else {
            left_out.push(LeftOut {
                id: run.id.clone(),
                reasons,
            });
        }
    }
    (valid, left_out)
}

/// The values to resample for `figure` over `runs`, and what they are.
fn samples_of(figure: &Figure, runs: &[&Run]) -> (Vec<f64>, Method) {
    let per_run: Vec<f64> = runs.iter().map(|r| figure.of_run(&r.result)).collect();
    let per_second: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| (figure.of_seconds)(&r.result))
        .collect();
    stats::samples(&per_run, &per_second)
}

/// The mean of `figure` over `runs`, one value a run: what a series' figure is, whatever
/// its interval was resampled over.
fn run_mean(figure: &Figure, runs: &[&Run]) -> f64 {
    runs.iter().map(|r| figure.of_run(&r.result)).sum::<f64>() / runs.len().max(1) as f64
}

/// A series' figure with its interval: the run-level mean, the interval's width from what
/// was resampled (runs, or seconds when runs are few, moved onto the run-level mean), never
/// below zero (every figure is a count, a rate or a latency).
fn figure_interval(figure: &Figure, runs: &[&Run]) -> (Interval, Method) {
    let (values, method) = samples_of(figure, runs);
    let interval = stats::mean_interval(&values, SEED);
    let estimate = run_mean(figure, runs);
    let shift = estimate - interval.estimate;
    (
        Interval {
            estimate,
            low: (interval.low + shift).max(0.0),
            high: interval.high + shift,
        },
        method,
    )
}

fn outliers_of(runs: &[&Run]) -> Vec<Outlier> {
    let mut found = Vec::new();
    for figure in &FIGURES {
        let values: Vec<f64> = runs.iter().map(|r| figure.of_run(&r.result)).collect();
        for i in stats::outliers(&values) {
            found.push(Outlier {
                id: runs[i].id.clone(),
                figure: figure.name.to_string(),
                value: values[i],
            });
        }
    }
    found
}

/// A series' statistics: invalid runs (by [`stats::invalid_reasons`], `max_error_rate` a
/// fraction) left out, outliers flagged, each figure's mean with its interval.
pub fn series_stats(runs: &[Run], max_error_rate: f64) -> SeriesStats {
    let (valid, left_out) = partition(runs, max_error_rate);
    let figures = if valid.is_empty() {
        Vec::new()
    } else {
        FIGURES
            .iter()
            .map(|figure| {
                let (interval, method) = figure_interval(figure, &valid);
                SeriesFigure {
                    figure: figure.name.to_string(),
                    unit: figure.unit.to_string(),
                    interval,
                    method,
                }
            })
            .collect()
    };
    SeriesStats {
        runs: runs.len(),
        valid_runs: valid.len(),
        left_out,
        outliers: outliers_of(&valid),
        figures,
        warnings: within_differences(runs),
    }
}

/// A `--max-regression` gate: `figure` may get worse by at most `percent`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Regression {
    /// p50, p90, p99, p999, mean, rps or errors.
    pub figure: String,
    /// How much worse it may get, percent.
    pub percent: f64,
}

/// Parses `p99=10%,rps=5%`.
pub fn parse_max_regression(text: &str) -> crate::Result<Vec<Regression>> {
    text.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(|gate| {
            let (name, limit) = gate.split_once('=').ok_or_else(|| {
                crate::Error::invalid(
                    "max_regression",
                    format!("`{gate}`: write FIGURE=PERCENT%, e.g. p99=10%"),
                )
            })?;
            let name = name.trim().to_ascii_lowercase();
            if figure(&name).is_none() {
                return Err(crate::Error::invalid(
                    "max_regression",
                    format!("unknown figure `{name}` (p50, p90, p99, p999, mean, rps, errors)"),
                ));
            }
            let percent: f64 = limit
                .trim()
                .trim_end_matches('%')
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| {
                    crate::Error::invalid(
                        "max_regression",
                        format!("{name}: `{limit}` is not a percentage"),
                    )
                })?;
            Ok(Regression {
                figure: name,
                percent,
            })
        })
        .collect()
}

/// Gates a comparison is judged by.
#[derive(Debug, Clone, Default)]
pub struct Gates {
    /// How much worse each figure may get (judged only on significant differences).
    pub max_regression: Vec<Regression>,
    /// Thresholds the candidate series must meet (on the mean of its valid runs).
    pub thresholds: Vec<Threshold>,
}

/// How a figure moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Verdict {
    /// The interval of the difference spans zero.
    NoSignificantDifference,
    /// Significantly better.
    Better,
    /// Significantly worse.
    Worse,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::NoSignificantDifference => "no significant difference",
            Verdict::Better => "better",
            Verdict::Worse => "worse",
        })
    }
}

/// One figure of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComparedFigure {
    /// p50, p90, p99, p999, mean, rps or errors.
    pub figure: String,
    /// µs, req/s or %.
    pub unit: String,
    /// The baseline's mean over its valid runs, with its interval.
    pub baseline: Interval,
    /// The candidate's.
    pub candidate: Interval,
    /// Candidate against baseline.
    pub difference: Difference,
    /// Better, worse, or no significant difference.
    pub verdict: Verdict,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Side {
    /// What the side is (a job or series id, a file).
    pub label: String,
    /// Runs given.
    pub runs: usize,
    /// Runs compared.
    pub valid_runs: usize,
}

/// A gate's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GateOutcome {
    /// The gate as written (`p99=10%`, `p99<5ms`).
    pub gate: String,
    /// Whether it held.
    pub passed: bool,
    /// What was measured against it.
    pub detail: String,
}

/// A comparison of two series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Comparison {
    /// Always [`COMPARISON_SCHEMA`].
    pub schema: String,
    /// The baseline series.
    pub baseline: Side,
    /// The candidate series.
    pub candidate: Side,
    /// Invalid runs left out of both sides.
    pub left_out: Vec<LeftOut>,
    /// Outliers on either side (flagged, still counted).
    pub outliers: Vec<Outlier>,
    /// Every setting in which the runs compared differ.
    pub warnings: Vec<String>,
    /// Each figure.
    pub figures: Vec<ComparedFigure>,
    /// Every gate's outcome.
    pub gates: Vec<GateOutcome>,
    /// No gate failed.
    pub passed: bool,
}

/// Why two series cannot be compared at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("no valid run on the {side} side to compare ({left_out} left out as invalid)")]
pub struct NothingToCompare {
    /// baseline or candidate.
    pub side: &'static str,
    /// Its runs left out.
    pub left_out: usize,
}

/// Compares `candidate` with `baseline`: invalid runs left out, every figure's difference
/// with its interval, the gates judged (a regression gate fails only on a significant
/// difference beyond its limit; thresholds are met by the candidate's mean).
pub fn compare(
    baseline: (&str, &[Run]),
    candidate: (&str, &[Run]),
    gates: &Gates,
    max_error_rate: f64,
) -> Result<Comparison, NothingToCompare> {
    let (a_valid, mut left_out) = partition(baseline.1, max_error_rate);
    let (b_valid, b_left_out) = partition(candidate.1, max_error_rate);
    if a_valid.is_empty() {
        return Err(NothingToCompare {
            side: "baseline",
            left_out: left_out.len(),
        });
    }
    if b_valid.is_empty() {
        return Err(NothingToCompare {
            side: "candidate",
            left_out: b_left_out.len(),
        });
    }
    left_out.extend(b_left_out);
    let mut figures = Vec::new();
    for figure in &FIGURES {
        let (a, method_a) = samples_of(figure, &a_valid);
        let (b, method_b) = samples_of(figure, &b_valid);
        let method = if method_a == Method::Seconds || method_b == Method::Seconds {
            Method::Seconds
        } else {
            Method::Runs
        };
        let mut difference = stats::difference(&a, &b, method, SEED);
        // Seconds pool to a mean of their own; the difference is of the runs' figures (as
        // each side's estimate is), with the seconds' spread.
        let (mean_a, mean_b) = (run_mean(figure, &a_valid), run_mean(figure, &b_valid));
        let shift = (mean_b - mean_a) - difference.absolute.estimate;
        difference.absolute = Interval {
            estimate: mean_b - mean_a,
            low: difference.absolute.low + shift,
            high: difference.absolute.high + shift,
        };
        difference.significant = a.len() >= 2 && b.len() >= 2 && !difference.absolute.contains(0.0);
        difference.relative = stats::relative_to(&difference.absolute, mean_a);
        let worse = if figure.higher_is_worse {
            difference.absolute.estimate > 0.0
        } else {
            difference.absolute.estimate < 0.0
        };
        let verdict = match (difference.significant, worse) {
            (false, _) => Verdict::NoSignificantDifference,
            (true, true) => Verdict::Worse,
            (true, false) => Verdict::Better,
        };
        figures.push(ComparedFigure {
            figure: figure.name.to_string(),
            unit: figure.unit.to_string(),
            baseline: figure_interval(figure, &a_valid).0,
            candidate: figure_interval(figure, &b_valid).0,
            difference,
            verdict,
        });
    }
    let mut outcomes = Vec::new();
    for gate in &gates.max_regression {
        let Some(found) = figures.iter().find(|f| f.figure == gate.figure) else {
            continue;
        };
        let higher_is_worse = figure(&gate.figure).is_none_or(|f| f.higher_is_worse);
        let worse_pct = relative_pct(&found.difference) * if higher_is_worse { 1.0 } else { -1.0 };
        let failed = found.verdict == Verdict::Worse && worse_pct > gate.percent;
        let detail = if found.verdict == Verdict::NoSignificantDifference {
            format!(
                "{} changed {:+.1} %, not significant",
                gate.figure,
                relative_pct(&found.difference)
            )
        } else {
            format!(
                "{} {} by {:.1} % (at most {} % worse allowed)",
                gate.figure,
                found.verdict,
                worse_pct.abs(),
                gate.percent
            )
        };
        outcomes.push(GateOutcome {
            gate: format!("{}={}%", gate.figure, gate.percent),
            passed: !failed,
            detail,
        });
    }
    for threshold in &gates.thresholds {
        let mean = b_valid
            .iter()
            .map(|r| threshold.value(&r.result))
            .sum::<f64>()
            / b_valid.len() as f64;
        let passed = threshold.holds(mean);
        outcomes.push(GateOutcome {
            gate: threshold.text.clone(),
            passed,
            detail: format!(
                "candidate measured {mean:.1} {} (mean of {} runs)",
                threshold.unit(),
                b_valid.len()
            ),
        });
    }
    let mut warnings = within_differences(baseline.1);
    warnings.extend(within_differences(candidate.1));
    warnings.extend(between_differences(&a_valid[0].result, &b_valid[0].result));
    let mut outliers = outliers_of(&a_valid);
    outliers.extend(outliers_of(&b_valid));
    Ok(Comparison {
        schema: COMPARISON_SCHEMA.to_string(),
        baseline: Side {
            label: baseline.0.to_string(),
            runs: baseline.1.len(),
            valid_runs: a_valid.len(),
        },
        candidate: Side {
            label: candidate.0.to_string(),
            runs: candidate.1.len(),
            valid_runs: b_valid.len(),
        },
        left_out,
        outliers,
        warnings,
        passed: outcomes.iter().all(|g| g.passed),
        figures,
        gates: outcomes,
    })
}

/// The settings a comparison must hold equal, each as (name, value) for one run.
fn settings(r: &BenchmarkResult) -> Vec<(&'static str, String)> {
    let spec = &r.spec;
    let rate = match &spec.model {
        LoadModel::Closed => "closed (as fast as possible)".to_string(),
        LoadModel::Open { schedule, .. } => {
            serde_json::to_string(schedule).unwrap_or_else(|_| "open".into())
        }
    };
    let payload: usize = spec
        .requests
        .iter()
        .map(|q| q.body.as_ref().map_or(0, String::len))
        .sum();
    let methods: Vec<&str> = spec.requests.iter().map(|q| q.method.as_str()).collect();
    vec![
        (
            "duration",
            spec.duration_s
                .map_or_else(|| "by request count".into(), |d| format!("{d} s")),
        ),
        ("warm-up", format!("{} s", spec.warmup_s)),
        ("connections", spec.connections.to_string()),
        ("streams", spec.streams.to_string()),
        ("threads", spec.threads.to_string()),
        ("rate", rate),
        ("payload bytes", payload.to_string()),
        ("methods", methods.join(",")),
        (
            "protocol",
            serde_json::to_string(&spec.protocol).unwrap_or_default(),
        ),
        (
            "meshbench version",
            r.loadgen
                .version
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
        (
            "host",
            r.loadgen.host.clone().unwrap_or_else(|| "unknown".into()),
        ),
    ]
}

/// The mesh record of a run: what the cluster showed, not what the user labelled it.
fn mesh_record(r: &BenchmarkResult) -> Option<String> {
    let mesh = r.cluster.as_ref()?.mesh.as_ref()?;
    Some(format!(
        "{} {}{}",
        serde_json::to_string(&mesh.mesh)
            .unwrap_or_default()
            .trim_matches('"'),
        mesh.mode.as_deref().unwrap_or(""),
        mesh.version
            .as_deref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
    ))
}

/// Settings in which runs of one series differ from its first run.
fn within_differences(runs: &[Run]) -> Vec<String> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let base = settings(&first.result);
    for run in &runs[1..] {
        for ((name, a), (_, b)) in base.iter().zip(settings(&run.result)) {
            if *a != b {
                out.push(format!("{name}: {} has {b}, {} has {a}", run.id, first.id));
            }
        }
        if mesh_record(&first.result) != mesh_record(&run.result) {
            out.push(format!(
                "mesh record: {} saw {}, {} saw {}",
                run.id,
                mesh_record(&run.result).unwrap_or_else(|| "none".into()),
                first.id,
                mesh_record(&first.result).unwrap_or_else(|| "none".into())
            ));
        }
    }
    out
}

/// Settings in which the two sides differ. The mesh record counts only when both sides
/// carry the same mesh label: comparing meshes is the point of a mesh-against-baseline run,
/// while a release-against-release one must see the same mesh.
fn between_differences(a: &BenchmarkResult, b: &BenchmarkResult) -> Vec<String> {
    let mut out: Vec<String> = settings(a)
        .into_iter()
        .zip(settings(b))
        .filter(|((_, x), (_, y))| x != y)
        .map(|((name, x), (_, y))| format!("{name} differs: baseline {x}, candidate {y}"))
        .collect();
    if a.spec.mesh_type == b.spec.mesh_type && mesh_record(a) != mesh_record(b) {
        out.push(format!(
            "mesh record differs: baseline {}, candidate {}",
            mesh_record(a).unwrap_or_else(|| "none".into()),
            mesh_record(b).unwrap_or_else(|| "none".into())
        ));
    }
    out
}

/// The order of `repeats` runs of each of `configurations` configurations, interleaved
/// and rotated — round r starts with configuration r mod k (A B, B A, A B … for two) — so
/// that drift over time (thermal, neighbours, caches) falls on every configuration alike.
/// Each entry is (configuration, repeat).
pub fn interleaved(configurations: usize, repeats: usize) -> Vec<(usize, usize)> {
    let mut order = Vec::with_capacity(configurations * repeats);
    for round in 0..repeats {
        for step in 0..configurations {
            order.push(((round + step) % configurations, round));
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A valid run with the given p50 and p99 (µs), and a timeline of five seconds around them.
    pub(crate) fn run(id: &str, p50: u64, p99: u64) -> Run {
        let mut result: BenchmarkResult = serde_json::from_value(serde_json::json!({
            "schema": crate::RESULT_SCHEMA,
            "spec": serde_json::from_value::<crate::StartRequest>(serde_json::json!({"test_type": "http"}))
                .unwrap()
                .to_spec("http://127.0.0.1/"),
            "model": "closed", "started_at": "2026-12-06T12:00:00Z", "ended_at": "2026-12-06T12:00:05Z",
            "duration_s": 5.0, "requests": 5000, "errors": 0, "rps": 1000.0,
            "latency_us": crate::LatencySummary::default(), "service_time_us": crate::LatencySummary::default(),
            "status_codes": {}, "error_kinds": {}, "bytes_sent": 0, "bytes_received": 0, "timeline": [],
            "histogram": "", "service_histogram": "", "loadgen": crate::LoadgenInfo::default()
        }))
        .unwrap();
        result.latency_us.p50 = p50;
        result.latency_us.p90 = p50 * 3 / 2;
        result.latency_us.p99 = p99;
        result.latency_us.p999 = p99 * 2;
        result.latency_us.mean = p50 as f64 * 1.1;
        result.timeline = (0..5)
            .map(|s| crate::TimelineEntry {
                second: s,
                requests: 1000,
                errors: 0,
                p50_us: p50 + s % 2,
                p99_us: p99 + s % 3,
                p90_us: p50 * 3 / 2,
                p999_us: p99 * 2,
                mean_us: p50 as f64 * 1.1,
                requested: None,
            })
            .collect();
        Run {
            id: id.to_string(),
            result,
        }
    }

    fn noisy(center: u64, n: usize, rng: &mut SmallRng, prefix: &str) -> Vec<Run> {
        (0..n)
            .map(|i| {
                let noise: f64 = (0..6).map(|_| rng.random::<f64>() - 0.5).sum::<f64>() * 0.04;
                let p99 = (center as f64 * (1.0 + noise)) as u64;
                run(&format!("{prefix}{i}"), center / 10, p99)
            })
            .collect()
    }

    #[test]
    fn a_ten_percent_p99_shift_fails_a_five_percent_gate_and_passes_a_twenty() {
        let mut rng = SmallRng::seed_from_u64(3);
        let a = noisy(10_000, 10, &mut rng, "a");
        let b = noisy(11_000, 10, &mut rng, "b");
        let gates = |p: f64| Gates {
            max_regression: vec![Regression {
                figure: "p99".into(),
                percent: p,
            }],
            thresholds: vec!["p99<20ms".parse().unwrap()],
        };
        let c = compare(("a", &a), ("b", &b), &gates(5.0), 0.01).unwrap();
        let p99 = c.figures.iter().find(|f| f.figure == "p99").unwrap();
        assert_eq!(p99.verdict, Verdict::Worse);
        assert!(p99.difference.relative.unwrap().contains(0.10), "{p99:?}");
        assert_eq!(p99.difference.method, Method::Runs);
        assert!(!c.passed, "{:?}", c.gates);
        assert!(c.gates[1].passed, "p99<20ms holds: {:?}", c.gates[1]);
        let c = compare(("a", &a), ("b", &b), &gates(20.0), 0.01).unwrap();
        assert!(c.passed, "{:?}", c.gates);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn invalid_runs_are_left_out_and_named() {
        let a = vec![run("a0", 100, 1000), run("a1", 101, 1010)];
        let mut b = vec![run("b0", 100, 1000), run("b1", 100, 1000)];
        b[1].result.loadgen.saturated = true;
        let c = compare(("a", &a), ("b", &b), &Gates::default(), 0.01).unwrap();
        assert_eq!(c.candidate.valid_runs, 1);
        assert_eq!(c.left_out.len(), 1);
        assert_eq!(c.left_out[0].id, "b1");
        assert!(c.left_out[0].reasons[0].contains("bottleneck"));
        // Two runs a side: the intervals rest on their seconds, and say so.
        assert_eq!(c.figures[0].difference.method, Method::Seconds);
        b[0].result.loadgen.saturated = true;
        let err = compare(("a", &a), ("b", &b), &Gates::default(), 0.01).unwrap_err();
        assert_eq!(err.side, "candidate");
    }

    #[test]
    fn differing_settings_are_listed() {
        let a = vec![run("a0", 100, 1000)];
        let mut b = vec![run("b0", 100, 1000)];
        b[0].result.spec.connections = 10;
        b[0].result.loadgen.host = Some("other".into());
        let c = compare(("a", &a), ("b", &b), &Gates::default(), 0.01).unwrap();
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("connections differs")),
            "{:?}",
            c.warnings
        );
        assert!(c.warnings.iter().any(|w| w.starts_with("host differs")));
    }

    #[test]
    fn a_series_flags_outliers_and_gives_intervals() {
        let mut runs: Vec<Run> = (0..6)
            .map(|i| run(&format!("r{i}"), 100 + i, 1000))
            .collect();
        runs.push(run("slow", 400, 1000));
        let s = series_stats(&runs, 0.01);
        assert_eq!((s.runs, s.valid_runs), (7, 7));
        assert!(s
            .outliers
            .iter()
            .any(|o| o.id == "slow" && o.figure == "p50"));
        let p50 = &s.figures[0];
        assert_eq!(p50.method, Method::Runs);
        assert!(
            p50.interval.low < p50.interval.estimate && p50.interval.estimate < p50.interval.high
        );
    }

    #[test]
    fn gates_parse_and_refuse_nonsense() {
        let g = parse_max_regression("p99=10%, rps=5").unwrap();
        assert_eq!(
            g[1],
            Regression {
                figure: "rps".into(),
                percent: 5.0
            }
        );
        assert!(parse_max_regression("p98=10%").is_err());
        assert!(parse_max_regression("p99").is_err());
        assert!(parse_max_regression("p99=-3%").is_err());
    }

    #[test]
    fn interleaving_rotates_the_order() {
        assert_eq!(
            interleaved(2, 3),
            [(0, 0), (1, 0), (1, 1), (0, 1), (0, 2), (1, 2)]
        );
        assert_eq!(interleaved(1, 2), [(0, 0), (0, 1)]);
    }
}
