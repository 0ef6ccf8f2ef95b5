//! Capacity under an SLO: the search for the highest open-model rate whose runs meet every
//! objective with the generator valid — doubling from a start rate until a step fails, then
//! bisecting between the last good and the first bad rate. `meshbench run --find-max-rate`
//! and the API's `find_max_rate` both step through [`next_rate`].

use serde::{Deserialize, Serialize};

use crate::stats::{self, Threshold};
use crate::BenchmarkResult;

/// Where a search starts when no rate is given, req/s.
pub const DEFAULT_START_RATE: f64 = 1000.0;
/// A search stops when the bracket is this narrow, relative to its low end.
pub const PRECISION: f64 = 0.05;
/// The most runs one search makes, doubling and bisecting together.
pub const MAX_STEPS: usize = 24;

/// A capacity search, as a start request asks for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CapacitySearch {
    /// What every step must meet, k6-style (`p99<10ms`, `errors<1%`); at least one.
    pub slo: Vec<String>,
}

/// One step of a search: the rate asked, and whether it met the SLO with a valid generator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Step {
    /// The run (a job id, or the step's number).
    pub id: String,
    /// Requested rate, req/s.
    pub rate: f64,
    /// Achieved rate, req/s.
    pub achieved: f64,
    /// Median latency, µs.
    pub p50_us: u64,
    /// 99th-percentile latency, µs.
    pub p99_us: u64,
    /// Met every objective with the generator valid.
    pub ok: bool,
    /// Why not: invalid-run reasons and failed objectives.
    pub reasons: Vec<String>,
}

/// Where a search stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capacity {
    /// The objectives.
    pub slo: Vec<String>,
    /// The highest rate that met them, req/s.
    pub max_rate: Option<f64>,
    /// The lowest rate that did not.
    pub first_failing_rate: Option<f64>,
    /// Some step's generator saturated: the capacity found may be the generator's.
    pub generator_limited: bool,
    /// No further step is due.
    pub done: bool,
    /// Every step, in the order run.
    pub steps: Vec<Step>,
}

/// Judges one run against the objectives.
pub fn step(id: &str, result: &BenchmarkResult, slo: &[Threshold], rate: f64) -> Step {
    let mut reasons = stats::invalid_reasons(result, crate::compare::DEFAULT_MAX_ERROR_RATE);
    reasons.extend(slo.iter().filter_map(|t| t.violation(result)));
    Step {
        id: id.to_string(),
        rate,
        achieved: result.rps,
        p50_us: result.latency_us.p50,
        p99_us: result.latency_us.p99,
        ok: reasons.is_empty(),
        reasons,
    }
}

/// The steps a search's completed runs make — each `(id, requested rate, result)` — and
/// whether any step's generator saturated.
pub fn steps_of<'a>(
    runs: impl IntoIterator<Item = (&'a str, f64, &'a BenchmarkResult)>,
    slo: &[Threshold],
) -> (Vec<Step>, bool) {
    let mut generator_limited = false;
    let steps = runs
        .into_iter()
        .map(|(id, rate, result)| {
            generator_limited |= result.loadgen.saturated;
            step(id, result, slo, rate)
        })
        .collect();
    (steps, generator_limited)
}

/// The open-model rate a stored start request asked for (0 without one).
pub fn requested_rate(request: &serde_json::Value) -> f64 {
    request
        .get("rate")
        .and_then(|r| r.as_f64())
        .unwrap_or_default()
}

/// The highest good and the lowest bad rate of `steps`.
fn bracket(steps: &[Step]) -> (Option<f64>, Option<f64>) {
    let good = steps
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let bad = steps
        .iter()
        .filter(|s| !s.ok)
        .map(|s| s.rate)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    (good, bad)
}

/// The rate of the next step, or `None` when the search is over: double while every step
/// met the SLO, halve while none did, then bisect until the bracket is within
/// [`PRECISION`]; never more than [`MAX_STEPS`] steps, nor outside 1 req/s …
/// [`crate::rate::MAX_RATE`].
pub fn next_rate(steps: &[Step]) -> Option<f64> {
    if steps.is_empty() || steps.len() >= MAX_STEPS {
        return None;
    }
    let next = match bracket(steps) {
        (Some(g), None) => g * 2.0,
        (None, Some(b)) => b / 2.0,
        (Some(g), Some(b)) if g < b && (b - g) / g > PRECISION => (g + b) / 2.0,
        _ => return None,
    };
    (1.0..=crate::rate::MAX_RATE)
        .contains(&next)
        .then_some(next)
}

/// A search's standing from its steps.
pub fn capacity(slo: &[String], steps: Vec<Step>, generator_limited: bool) -> Capacity {
    let (good, bad) = bracket(&steps);
    Capacity {
        slo: slo.to_vec(),
        max_rate: good.filter(|g| bad.is_none_or(|b| *g < b)),
        first_failing_rate: bad,
        generator_limited,
        done: next_rate(&steps).is_none(),
        steps,
    }
}

/// The objectives of a search, each parsed; the first that does not parse is the error.
pub fn parse_slo(slo: &[String]) -> crate::Result<Vec<Threshold>> {
    if slo.is_empty() {
        return Err(crate::Error::invalid(
            "find_max_rate.slo",
            "give at least one objective, e.g. p99<10ms".to_string(),
        ));
    }
    slo.iter().map(|t| t.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rate: f64, ok: bool) -> Step {
        Step {
            id: String::new(),
            rate,
            achieved: rate,
            p50_us: 0,
            p99_us: 0,
            ok,
            reasons: Vec::new(),
        }
    }

    #[test]
    fn doubles_then_bisects_to_the_precision() {
        // A target whose true capacity is 5,300 req/s.
        let capacity = 5300.0;
        let mut steps = vec![s(1000.0, true)];
        while let Some(rate) = next_rate(&steps) {
            steps.push(s(rate, rate <= capacity));
        }
        let rates: Vec<f64> = steps.iter().map(|s| s.rate).collect();
        assert_eq!(&rates[..5], [1000.0, 2000.0, 4000.0, 8000.0, 6000.0]);
        let c = super::capacity(&["p99<10ms".into()], steps, false);
        let max = c.max_rate.unwrap();
        let bad = c.first_failing_rate.unwrap();
        assert!(max <= capacity && capacity < bad, "{max} {bad}");
        assert!((bad - max) / max <= PRECISION);
        assert!(c.done);
    }

    #[test]
    fn halves_when_the_start_already_fails_and_stops_at_the_bounds() {
        let mut steps = vec![s(1000.0, false)];
        while let Some(rate) = next_rate(&steps) {
            steps.push(s(rate, false));
        }
        assert!(steps.len() <= MAX_STEPS);
        assert!(steps.last().unwrap().rate >= 1.0);
        assert_eq!(super::capacity(&[], steps, false).max_rate, None);
        assert!(parse_slo(&[]).is_err());
        assert!(parse_slo(&["p99<1ms".into(), "bogus".into()]).is_err());
    }
}
