//! Request-rate schedules for the open model: constant, stepped and linearly ramped.
//!
//! A schedule answers one question, "when should request *i* be sent?", as an offset from
//! the start of measurement. Computing each send time from its index (instead of adding a
//! period to the previous one) keeps the rate exact over long runs: no drift accumulates,
//! and a generator that fell behind knows precisely how late each request is.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::parse_duration;
use crate::{Error, Result};

/// How many requests per second the open model asks for, over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateSchedule {
    /// The same rate for the whole run.
    Constant {
        /// Requests per second.
        rps: f64,
    },
    /// `from`, `from + step`, … up to `to`, each held for `step_duration_s` (to find the knee).
    Steps {
        /// First rate, requests per second.
        from: f64,
        /// Last rate, requests per second.
        to: f64,
        /// Increment between steps (negative for a descending staircase).
        step: f64,
        /// How long each step lasts, seconds.
        step_duration_s: f64,
    },
    /// A straight line from `from` to `to` over `over_s` seconds.
    Ramp {
        /// Rate at the start, requests per second.
        from: f64,
        /// Rate at the end, requests per second.
        to: f64,
        /// Length of the ramp, seconds.
        over_s: f64,
    },
}

/// The highest rate a schedule may ask for, req/s: beyond it the scheduler's nanosecond
/// arithmetic and the box itself stop making sense.
pub const MAX_RATE: f64 = 100_000_000.0;

impl RateSchedule {
    /// Parses `2000` (constant), `1000:5000:1000` (steps of `step_duration`) or `1000..5000`
    /// (a ramp over `total`, which must then be given).
    pub fn parse(text: &str, step_duration: Duration, total: Option<Duration>) -> Result<Self> {
        let text = text.trim();
        let number = |s: &str| -> Result<f64> {
            let s = s.trim().trim_end_matches("/s");
            s.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::invalid(
                        "rate",
                        format!("`{s}` is not a number of requests per second"),
                    )
                })
        };
        let schedule = if let Some((from, to)) = text.split_once("..") {
            let over = total.ok_or_else(|| {
                Error::invalid(
                    "rate",
                    "a ramp (`from..to`) needs a duration (-d) to ramp over",
                )
            })?;
            RateSchedule::Ramp {
                from: number(from)?,
                to: number(to)?,
                over_s: over.as_secs_f64(),
            }
        } else if text.contains(':') {
            let parts: Vec<&str> = text.split(':').collect();
            let [from, to, step] = parts.as_slice() else {
                return Err(Error::invalid(
                    "rate",
                    format!("`{text}`: a stepped rate is from:to:step, e.g. 1000:5000:1000"),
                ));
            };
            RateSchedule::Steps {
                from: number(from)?,
                to: number(to)?,
                step: number(step)?,
                step_duration_s: step_duration.as_secs_f64(),
            }
        } else {
            RateSchedule::Constant { rps: number(text)? }
        };
        schedule.validate()?;
        Ok(schedule)
    }

    /// Checks that every rate is positive and finite and the steps lead from `from` to `to`.
    pub fn validate(&self) -> Result<()> {
        let rate_ok = |r: f64| r.is_finite() && r > 0.0 && r <= MAX_RATE;
        match *self {
            RateSchedule::Constant { rps } => {
                if !rate_ok(rps) {
                    return Err(Error::invalid(
                        "rate",
                        format!("{rps} must be above 0 and at most {MAX_RATE}"),
                    ));
                }
            }
            RateSchedule::Steps {
                from,
                to,
                step,
                step_duration_s,
            } => {
                if !rate_ok(from) || !rate_ok(to) {
                    return Err(Error::invalid("rate", "step rates must be above 0"));
                }
                if step == 0.0 || !step.is_finite() || (to - from) * step < 0.0 {
                    return Err(Error::invalid(
                        "rate",
                        "the step must move from `from` towards `to`",
                    ));
                }
                if self.step_count() > 10_000 {
                    return Err(Error::invalid("rate", "more than 10000 steps"));
                }
                if !(step_duration_s.is_finite() && step_duration_s > 0.0) {
                    return Err(Error::invalid("step_duration", "must be above zero"));
                }
            }
            RateSchedule::Ramp { from, to, over_s } => {
                if !(0.0..=MAX_RATE).contains(&from) || !rate_ok(to) {
                    return Err(Error::invalid(
                        "rate",
                        "a ramp goes from a rate of 0 or more to one above 0",
                    ));
                }
                if !(over_s.is_finite() && over_s > 0.0) {
                    return Err(Error::invalid(
                        "duration",
                        "a ramp needs a duration above zero",
                    ));
                }
            }
        }
        Ok(())
    }

    fn step_count(&self) -> u64 {
        match *self {
            RateSchedule::Steps { from, to, step, .. } => ((to - from) / step).floor() as u64 + 1,
            _ => 1,
        }
    }

    /// How long the schedule runs by itself; `None` for a constant rate.
    pub fn duration(&self) -> Option<Duration> {
        match *self {
            RateSchedule::Constant { .. } => None,
            RateSchedule::Steps {
                step_duration_s, ..
            } => Some(Duration::from_secs_f64(
                step_duration_s * self.step_count() as f64,
            )),
            RateSchedule::Ramp { over_s, .. } => Some(Duration::from_secs_f64(over_s)),
        }
    }

    /// The rate asked for at `t` seconds into the run.
    pub fn rate_at(&self, t: f64) -> f64 {
        match *self {
            RateSchedule::Constant { rps } => rps,
            RateSchedule::Steps {
                from,
                step,
                step_duration_s,
                ..
            } => {
                let k = ((t / step_duration_s).floor() as u64).min(self.step_count() - 1);
                from + step * k as f64
            }
            RateSchedule::Ramp { from, to, over_s } => {
                from + (to - from) * (t / over_s).clamp(0.0, 1.0)
            }
        }
    }

    /// How many requests the schedule asks for in its first `t` seconds.
    pub fn expected_requests(&self, t: f64) -> f64 {
        match *self {
            RateSchedule::Constant { rps } => rps * t,
            RateSchedule::Steps {
                from,
                step,
                step_duration_s,
                ..
            } => {
                let mut left = t;
                let mut total = 0.0;
                for k in 0..self.step_count() {
                    let span = left.min(step_duration_s);
                    total += (from + step * k as f64) * span;
                    left -= span;
                    if left <= 0.0 {
                        break;
                    }
                }
                total
            }
            RateSchedule::Ramp { from, to, over_s } => {
                let t = t.min(over_s);
                from * t + (to - from) * t * t / (2.0 * over_s)
            }
        }
    }

    /// Seconds from the start at which request `i` (0-based) is due, or `None` once the
    /// schedule has ended.
    pub fn offset_of(&self, i: u64) -> Option<f64> {
        let i = i as f64;
        match *self {
            RateSchedule::Constant { rps } => Some(i / rps),
            RateSchedule::Steps {
                from,
                step,
                step_duration_s,
                ..
            } => {
                let mut before = 0.0;
                for k in 0..self.step_count() {
                    let rate = from + step * k as f64;
                    let in_step = rate * step_duration_s;
                    if i < before + in_step {
                        return Some(k as f64 * step_duration_s + (i - before) / rate);
                    }
                    before += in_step;
                }
                None
            }
            RateSchedule::Ramp { from, to, over_s } => {
                if i == 0.0 {
                    return Some(0.0);
                }
                // Solve from·t + c·t² = i for t, c = (to-from)/(2·over); this form stays
                // stable when c is zero or negative.
                let c = (to - from) / (2.0 * over_s);
                let disc = from * from + 4.0 * c * i;
                if disc < 0.0 {
                    return None;
                }
                let t = 2.0 * i / (from + disc.sqrt());
                (t.is_finite() && t <= over_s).then_some(t)
            }
        }
    }

    /// A short human description, e.g. `2000/s` or `1000→5000/s step 1000 every 10s`.
    pub fn describe(&self) -> String {
        match *self {
            RateSchedule::Constant { rps } => format!("{rps}/s"),
            RateSchedule::Steps {
                from,
                to,
                step,
                step_duration_s,
            } => {
                format!("{from}→{to}/s step {step} every {step_duration_s}s")
            }
            RateSchedule::Ramp { from, to, over_s } => format!("{from}→{to}/s ramp over {over_s}s"),
        }
    }
}

/// Parses the step length option of a stepped rate.
pub fn parse_step_duration(text: &str) -> Result<Duration> {
    let d = parse_duration("step_duration", text)?;
    if d.is_zero() {
        return Err(Error::invalid("step_duration", "must be above zero"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN: Duration = Duration::from_secs(10);

    #[test]
    fn constant_offsets_are_exact() {
        let s = RateSchedule::parse("2000", TEN, None).unwrap();
        assert_eq!(s.offset_of(0), Some(0.0));
        assert_eq!(s.offset_of(2000), Some(1.0));
        assert_eq!(s.offset_of(1_000_000_000), Some(500_000.0));
        assert_eq!(s.duration(), None);
    }

    #[test]
    fn steps_hold_each_rate_for_the_step_duration() {
        let s = RateSchedule::parse("1000:3000:1000", Duration::from_secs(2), None).unwrap();
        assert_eq!(s.duration(), Some(Duration::from_secs(6)));
        assert_eq!(s.offset_of(1000), Some(1.0));
        // 2000 requests in the first step, then 2000/s.
        assert_eq!(s.offset_of(2000), Some(2.0));
        assert_eq!(s.offset_of(3000), Some(2.5));
        assert_eq!(s.offset_of(2000 + 4000 + 6000), None);
        assert_eq!(s.expected_requests(6.0), 12_000.0);
        assert_eq!(s.rate_at(5.9), 3000.0);
    }

    #[test]
    fn descending_steps_are_allowed() {
        let s = RateSchedule::parse("3000:1000:-1000", TEN, None).unwrap();
        assert_eq!(s.rate_at(0.0), 3000.0);
        assert_eq!(s.rate_at(25.0), 1000.0);
    }

    #[test]
    fn ramp_offsets_invert_the_expected_count() {
        let s = RateSchedule::parse("1000..5000", TEN, Some(TEN)).unwrap();
        for i in [1u64, 10, 999, 12_345, 29_999] {
            let t = s.offset_of(i).unwrap();
            let n = s.expected_requests(t);
            assert!((n - i as f64).abs() < 1e-6, "i={i} t={t} n={n}");
        }
        assert_eq!(s.offset_of(30_001), None);
        let from_zero = RateSchedule::parse("0..100", TEN, Some(TEN)).unwrap();
        assert!(from_zero.offset_of(5).unwrap() > 0.0);
    }

    #[test]
    fn bad_rates_are_refused_with_the_field_named() {
        for bad in [
            "0",
            "-5",
            "abc",
            "1:2",
            "5000:1000:1000",
            "1000:5000:0",
            "nan",
        ] {
            let err = RateSchedule::parse(bad, TEN, Some(TEN)).unwrap_err();
            assert!(
                err.to_string().contains("rate") || err.to_string().contains("step"),
                "{bad}: {err}"
            );
        }
        assert!(RateSchedule::parse("1..5", TEN, None).is_err());
    }
}
