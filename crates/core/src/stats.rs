//! The statistics behind comparisons meshbench can be trusted with: which runs are valid at
//! all, which are outliers, and how sure a series' figure — and the difference between two
//! series — is, as a bootstrap (studentized) 95 % confidence interval. `docs/statistics.md` explains the
//! method; this module is its implementation, pure and seeded so that every interval can be
//! reproduced.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::BenchmarkResult;

/// Resamples drawn for every interval.
pub const BOOTSTRAP_RESAMPLES: usize = 4000;
/// The confidence of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Fewer runs than this and a series' interval is drawn from its runs' per-second values
/// instead (and says so): a bootstrap over three runs knows almost nothing of the spread.
pub const MIN_RUNS_FOR_RUN_BOOTSTRAP: usize = 5;
/// How far (in scaled median absolute deviations) a run's figure may lie from the series'
/// median before it is flagged as an outlier.
pub const OUTLIER_MADS: f64 = 3.0;
/// How far the achieved rate may miss the requested one before a run is invalid.
pub const MAX_RATE_MISS: f64 = 0.01;

/// A point estimate and its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Interval {
    /// The estimate from all the data.
    pub estimate: f64,
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether the interval holds `value`.
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

/// What an interval was resampled over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Method {
    /// The runs' own figures, one value a run.
    Runs,
    /// The per-second values within the runs (too few runs to resample runs).
    Seconds,
}

/// The difference between a baseline and a candidate, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Difference {
    /// Candidate minus baseline.
    pub absolute: Interval,
    /// (candidate − baseline) / baseline, as a fraction (0.1 is 10 %); `None` when the
    /// baseline's mean is zero (no errors, say), where a ratio means nothing.
    pub relative: Option<Interval>,
    /// The relative interval excludes zero: a real difference at 95 %.
    pub significant: bool,
    /// What the intervals were resampled over (seconds when either side had few runs).
    pub method: Method,
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// A resample (with replacement) of `values`: its mean and the variance of that mean.
fn resample(values: &[f64], rng: &mut SmallRng) -> (f64, f64) {
    let n = values.len();
    let draw: Vec<f64> = (0..n).map(|_| values[rng.random_range(0..n)]).collect();
    (mean(&draw), mean_variance(&draw))
}

/// The variance of the mean of `values` (sample variance over n).
fn mean_variance(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let m = mean(values);
    values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64 / n as f64
}

/// A bootstrap-t interval: `estimate` ∓ the resampled studentized statistics' quantiles
/// times `se`. Holds its confidence far better than the percentile method with the ten or
/// so runs a benchmark has.
fn studentized_interval(estimate: f64, se: f64, mut t: Vec<f64>) -> Interval {
    t.retain(|v| v.is_finite());
    t.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    if t.is_empty() || se == 0.0 {
        return Interval {
            estimate,
            low: estimate,
            high: estimate,
        };
    }
    Interval {
        estimate,
        low: estimate - quantile(&t, 1.0 - tail) * se,
        high: estimate - quantile(&t, tail) * se,
    }
}

/// The mean of `values` with its bootstrap-t interval (seeded: the same values and seed
/// give the same interval).
pub fn mean_interval(values: &[f64], seed: u64) -> Interval {
    if values.len() < MIN_RUNS_FOR_RUN_BOOTSTRAP {
        // Resamples of two or three values mostly repeat one value: the bootstrap-t then
        // collapses to a point. Student's t knows how little so few values say.
        let n = values.len() as u64;
        return moments_interval(mean(values), (mean_variance(values) * n as f64).sqrt(), n);
    }
    let mut rng = SmallRng::seed_from_u64(seed);
    let (m, se) = (mean(values), mean_variance(values).sqrt());
    let t = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| {
            let (rm, rv) = resample(values, &mut rng);
            (rm - m) / rv.sqrt()
        })
        .collect();
    studentized_interval(m, se, t)
}

/// The difference of means between `baseline` and `candidate` (each one value a run, or a
/// second when `method` says so), with a bootstrap-t interval: both sides are resampled
/// independently, `BOOTSTRAP_RESAMPLES` times. The relative difference is the absolute one
/// over the baseline's mean.
pub fn difference(baseline: &[f64], candidate: &[f64], method: Method, seed: u64) -> Difference {
    let mut rng = SmallRng::seed_from_u64(seed);
    let (a, b) = (mean(baseline), mean(candidate));
    let se = (mean_variance(baseline) + mean_variance(candidate)).sqrt();
    let absolute = if baseline.len().min(candidate.len()) < MIN_RUNS_FOR_RUN_BOOTSTRAP {
        // As in [`mean_interval`]: too few values to resample; Welch's t instead.
        let sd = |v: &[f64]| (mean_variance(v) * v.len() as f64).sqrt();
        welch_difference(
            (a, sd(baseline), baseline.len() as u64),
            (b, sd(candidate), candidate.len() as u64),
        )
    } else {
        let t = (0..BOOTSTRAP_RESAMPLES)
            .map(|_| {
                let (ra, va) = resample(baseline, &mut rng);
                let (rb, vb) = resample(candidate, &mut rng);
                ((rb - ra) - (b - a)) / (va + vb).sqrt()
            })
            .collect();
        studentized_interval(b - a, se, t)
    };
    // One value a side says nothing of spread: the interval would be a point, and any
    // difference "significant". Never call it so.
    let knowable = baseline.len() >= 2 && candidate.len() >= 2;
    let relative = relative_to(&absolute, a);
    Difference {
        absolute,
        significant: knowable && !absolute.contains(0.0),
        relative,
        method,
    }
}

/// `absolute` as a fraction of `base`; `None` for a zero (or undefined) base, where a ratio
/// means nothing.
pub fn relative_to(absolute: &Interval, base: f64) -> Option<Interval> {
    (base != 0.0 && base.is_finite()).then(|| Interval {
        estimate: absolute.estimate / base,
        low: absolute.low / base,
        high: absolute.high / base,
    })
}

/// The values to resample for one side of a comparison: the runs' figures when there are
/// enough runs, else every run's per-second figures pooled (and the method says so).
pub fn samples(per_run: &[f64], per_second: &[Vec<f64>]) -> (Vec<f64>, Method) {
    if per_run.len() >= MIN_RUNS_FOR_RUN_BOOTSTRAP || per_second.iter().all(Vec::is_empty) {
        (per_run.to_vec(), Method::Runs)
    } else {
        (per_second.concat(), Method::Seconds)
    }
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom (two-sided 95 %), by
/// the Cornish–Fisher expansion around the normal's 1.96 (within 0.2 % from df = 5; the
/// table's values below).
pub fn t_975(df: f64) -> f64 {
    const TABLE: [f64; 4] = [12.706, 4.303, 3.182, 2.776];
    if df < 4.5 {
        let i = (df.round().max(1.0) as usize).min(4) - 1;
        return TABLE[i];
    }
    let z: f64 = 1.959_964;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * df)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * df * df)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * df.powi(3))
}

/// Welch's 95 % interval of the difference of two means known by their moments (mean,
/// sample standard deviation, count): what `/metrics/summary` reports, from sums the
/// database keeps, where resampling every stored run on each call would not scale.
pub fn welch_difference(a: (f64, f64, u64), b: (f64, f64, u64)) -> Interval {
    let (ma, sa, na) = a;
    let (mb, sb, nb) = b;
    let estimate = mb - ma;
    let (va, vb) = (sa * sa / na.max(1) as f64, sb * sb / nb.max(1) as f64);
    let se = (va + vb).sqrt();
    if se == 0.0 || na < 2 || nb < 2 {
        return Interval {
            estimate,
            low: estimate,
            high: estimate,
        };
    }
    // Welch–Satterthwaite degrees of freedom.
    let df = (va + vb).powi(2) / (va * va / (na - 1) as f64 + vb * vb / (nb - 1) as f64);
    let half = t_975(df) * se;
    Interval {
        estimate,
        low: estimate - half,
        high: estimate + half,
    }
}

/// The 95 % t interval of a mean known by its moments.
pub fn moments_interval(mean: f64, stdev: f64, n: u64) -> Interval {
    if n < 2 {
        return Interval {
            estimate: mean,
            low: mean,
            high: mean,
        };
    }
    let half = t_975((n - 1) as f64) * stdev / (n as f64).sqrt();
    Interval {
        estimate: mean,
        low: mean - half,
        high: mean + half,
    }
}

/// Indexes of the runs whose figure lies more than [`OUTLIER_MADS`] scaled median absolute
/// deviations from the series' median. Flagged, never dropped: an outlier may be the news.
pub fn outliers(values: &[f64]) -> Vec<usize> {
    if values.len() < 3 {
        return Vec::new();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = quantile(&sorted, 0.5);
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - median).abs()).collect();
    deviations.sort_by(f64::total_cmp);
    // 1.4826 makes the MAD estimate a normal distribution's standard deviation.
    let mad = 1.4826 * quantile(&deviations, 0.5);
    if mad == 0.0 {
        return values
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != median)
            .map(|(i, _)| i)
            .collect();
    }
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| (*v - median).abs() > OUTLIER_MADS * mad)
        .map(|(i, _)| i)
        .collect()
}

/// Why a run's figures cannot be compared, one reason a line; empty when it is valid. A
/// run is invalid when its generator saturated, its achieved rate missed the requested one
/// by more than [`MAX_RATE_MISS`], its failed requests exceed `max_error_rate` (a
/// fraction), or its eBPF probe lost events.
pub fn invalid_reasons(result: &BenchmarkResult, max_error_rate: f64) -> Vec<String> {
    let mut reasons = Vec::new();
    if result.loadgen.saturated {
        let why = if result.loadgen.saturation_reasons.is_empty() {
            String::new()
        } else {
            format!(": {}", result.loadgen.saturation_reasons.join("; "))
        };
        reasons.push(format!("the load generator was the bottleneck{why}"));
    }
    // A saturated generator already says it missed the rate.
    let requested = result
        .requested_rps
        .filter(|r| *r > 0.0 && !result.loadgen.saturated);
    if let Some(requested) = requested {
        let miss = (requested - result.rps) / requested;
        if miss > MAX_RATE_MISS {
            reasons.push(format!(
                "achieved {:.1} req/s of the {:.1} requested ({:.1} % short; at most {:.0} % allowed)",
                result.rps,
                requested,
                miss * 100.0,
                MAX_RATE_MISS * 100.0
            ));
        }
    }
    if result.requests > 0 {
        let rate = result.errors as f64 / result.requests as f64;
        if rate > max_error_rate {
            reasons.push(format!(
                "{:.2} % of requests failed (at most {:.2} % allowed)",
                rate * 100.0,
                max_error_rate * 100.0
            ));
        }
    }
    if let Some(kernel) = &result.kernel {
        if kernel.events_dropped > 0 {
            reasons.push(format!(
                "the eBPF probe lost {} events",
                kernel.events_dropped
            ));
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` runs' figures around `center`, spread like repeated runs of one configuration
    /// (a few per cent, a little skewed, as latency percentiles are).
    fn series(center: f64, n: usize, rng: &mut SmallRng) -> Vec<f64> {
        (0..n)
            .map(|_| {
                // Sum of uniforms: near-normal; plus a small exponential tail.
                let noise: f64 = (0..6).map(|_| rng.random::<f64>() - 0.5).sum::<f64>() * 0.04;
                let tail = -rng.random::<f64>().max(1e-12).ln() * 0.005;
                center * (1.0 + noise + tail)
            })
            .collect()
    }

    #[test]
    fn a_ten_percent_shift_is_found_with_an_interval_holding_it() {
        let mut rng = SmallRng::seed_from_u64(7);
        let baseline = series(1000.0, 10, &mut rng);
        let candidate = series(1100.0, 10, &mut rng);
        let d = difference(&baseline, &candidate, Method::Runs, 1);
        let relative = d.relative.unwrap();
        eprintln!("10 % shift: relative {relative:?}");
        assert!(d.significant, "{d:?}");
        assert!(relative.contains(0.10), "{relative:?}");
        assert!(relative.low > 0.0);
        assert!((relative.estimate - 0.10).abs() < 0.03, "{relative:?}");
        assert!(d.absolute.contains(100.0), "{:?}", d.absolute);
    }

    #[test]
    fn one_distribution_shows_no_difference_in_at_least_ninety_percent_of_trials() {
        let mut significant = 0;
        for trial in 0..50u64 {
            let mut rng = SmallRng::seed_from_u64(1000 + trial);
            let a = series(1000.0, 10, &mut rng);
            let b = series(1000.0, 10, &mut rng);
            if difference(&a, &b, Method::Runs, trial).significant {
                significant += 1;
            }
        }
        eprintln!("one distribution: {significant} of 50 trials significant");
        assert!(
            significant <= 5,
            "{significant} of 50 trials called one distribution different"
        );
    }

    #[test]
    fn intervals_are_reproducible_and_hold_the_estimate() {
        let values = [10.0, 12.0, 11.0, 13.0, 9.0, 10.5];
        let a = mean_interval(&values, 42);
        assert_eq!(a, mean_interval(&values, 42));
        assert!(a.low <= a.estimate && a.estimate <= a.high, "{a:?}");
        assert!((a.estimate - 10.916_666).abs() < 1e-3);
    }

    #[test]
    fn t_quantiles_match_tables() {
        for (df, table) in [
            (3.0, 3.182),
            (5.0, 2.571),
            (10.0, 2.228),
            (30.0, 2.042),
            (1e6, 1.960),
        ] {
            let t = t_975(df);
            assert!((t - table).abs() / table < 0.003, "df {df}: {t} vs {table}");
        }
        let d = welch_difference((100.0, 10.0, 10), (110.0, 10.0, 10));
        assert!(d.low > 0.0 && d.contains(10.0), "{d:?}");
        let d = welch_difference((100.0, 10.0, 10), (101.0, 10.0, 10));
        assert!(d.contains(0.0), "{d:?}");
    }

    #[test]
    fn few_runs_resample_seconds() {
        let (values, method) = samples(&[1.0, 2.0], &[vec![1.0, 1.1], vec![2.0, 2.1]]);
        assert_eq!(method, Method::Seconds);
        assert_eq!(values, [1.0, 1.1, 2.0, 2.1]);
        let (values, method) = samples(&[1.0, 2.0, 3.0, 4.0, 5.0], &[]);
        assert_eq!((values.len(), method), (5, Method::Runs));
    }

    #[test]
    fn outliers_are_beyond_three_mads() {
        assert_eq!(outliers(&[100.0, 101.0, 99.0, 100.5, 99.5, 140.0]), [5]);
        assert!(outliers(&[100.0, 101.0, 99.0, 100.5]).is_empty());
        assert!(
            outliers(&[1.0, 500.0]).is_empty(),
            "two runs say nothing of spread"
        );
    }

    #[test]
    fn invalid_runs_say_why() {
        let mut r: BenchmarkResult = serde_json::from_value(serde_json::json!({
            "schema": crate::RESULT_SCHEMA,
            "spec": serde_json::from_value::<crate::StartRequest>(serde_json::json!({"test_type": "http"}))
                .unwrap()
                .to_spec("http://127.0.0.1/"),
            "model": "open", "started_at": "2026-12-06T12:00:00Z", "ended_at": "2026-12-06T12:00:10Z",
            "duration_s": 10.0, "requests": 9800, "errors": 0, "rps": 980.0, "requested_rps": 1000.0,
            "latency_us": crate::LatencySummary::default(), "service_time_us": crate::LatencySummary::default(),
            "status_codes": {}, "error_kinds": {}, "bytes_sent": 0, "bytes_received": 0, "timeline": [],
            "histogram": "", "service_histogram": "", "loadgen": crate::LoadgenInfo::default()
        }))
        .unwrap();
        let reasons = invalid_reasons(&r, 0.01);
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].contains("2.0 % short"), "{reasons:?}");
        r.rps = 995.0;
        assert!(invalid_reasons(&r, 0.01).is_empty());
        r.loadgen.saturated = true;
        r.loadgen.saturation_reasons = vec!["CPU 99 %".into()];
        r.errors = 500;
        let reasons = invalid_reasons(&r, 0.01);
        assert!(reasons[0].contains("bottleneck: CPU 99 %"), "{reasons:?}");
        assert!(
            reasons[1].contains("5.10 % of requests failed"),
            "{reasons:?}"
        );
    }
}

/// A k6-style threshold on one run: `p99<5ms`, `p50<=800us`, `rps>=1000`, `errors<1%`.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// The figure: p50, p75, p90, p95, p99, p999, max, mean (latency), rps, errors (%).
    pub figure: String,
    /// `<`, `<=`, `>` or `>=`.
    pub op: String,
    /// The bound, in µs for latencies, req/s for rps, percent for errors.
    pub bound: f64,
    /// As written, for messages.
    pub text: String,
}

const LATENCY_FIGURES: [&str; 8] = ["p50", "p75", "p90", "p95", "p99", "p999", "max", "mean"];

impl std::str::FromStr for Threshold {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Threshold> {
        let text = text.trim();
        let at = text.find(['<', '>']).ok_or_else(|| {
            crate::Error::invalid(
                "threshold",
                format!("`{text}`: write FIGURE<BOUND, e.g. p99<5ms"),
            )
        })?;
        let figure = text[..at].trim().to_ascii_lowercase();
        let rest = &text[at..];
        let op = if rest.starts_with("<=") || rest.starts_with(">=") {
            &rest[..2]
        } else {
            &rest[..1]
        };
        let value = rest[op.len()..].trim();
        let bound = if LATENCY_FIGURES.contains(&figure.as_str()) {
            crate::duration::parse_duration("threshold", value)?.as_secs_f64() * 1e6
        } else if figure == "rps" {
            value.parse::<f64>().map_err(|_| {
                crate::Error::invalid("threshold", format!("`{text}`: `{value}` is not a rate"))
            })?
        } else if figure == "errors" {
            value.trim_end_matches('%').parse::<f64>().map_err(|_| {
                crate::Error::invalid(
                    "threshold",
                    format!("`{text}`: `{value}` is not a percentage"),
                )
            })?
        } else {
            return Err(crate::Error::invalid(
                "threshold",
                format!("`{text}`: unknown figure `{figure}` (p50 … p999, max, mean, rps, errors)"),
            ));
        };
        Ok(Threshold {
            figure,
            op: op.to_string(),
            bound,
            text: text.to_string(),
        })
    }
}

impl Threshold {
    /// The run's value of the figure (µs, req/s or percent).
    pub fn value(&self, r: &BenchmarkResult) -> f64 {
        let l = &r.latency_us;
        match self.figure.as_str() {
            "p50" => l.p50 as f64,
            "p75" => l.p75 as f64,
            "p90" => l.p90 as f64,
            "p95" => l.p95 as f64,
            "p99" => l.p99 as f64,
            "p999" => l.p999 as f64,
            "max" => l.max as f64,
            "mean" => l.mean,
            "rps" => r.rps,
            _ => {
                if r.requests == 0 {
                    0.0
                } else {
                    r.errors as f64 / r.requests as f64 * 100.0
                }
            }
        }
    }

    /// Whether `value` (in the figure's unit) meets the threshold.
    pub fn holds(&self, value: f64) -> bool {
        match self.op.as_str() {
            "<" => value < self.bound,
            "<=" => value <= self.bound,
            ">" => value > self.bound,
            _ => value >= self.bound,
        }
    }

    /// The figure's unit: µs, req/s or %.
    pub fn unit(&self) -> &'static str {
        match self.figure.as_str() {
            "rps" => "req/s",
            "errors" => "%",
            _ => "µs",
        }
    }

    /// `None` when the run meets the threshold, else what it measured instead.
    pub fn violation(&self, r: &BenchmarkResult) -> Option<String> {
        let v = self.value(r);
        (!self.holds(v)).then(|| format!("{} failed: measured {v:.1} {}", self.text, self.unit()))
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::*;

    #[test]
    fn thresholds_parse_with_units_and_refuse_nonsense() {
        let t: Threshold = "p99<5ms".parse().unwrap();
        assert_eq!(
            (t.figure.as_str(), t.op.as_str(), t.bound),
            ("p99", "<", 5000.0)
        );
        let t: Threshold = "rps >= 1000".parse().unwrap();
        assert_eq!((t.op.as_str(), t.bound), (">=", 1000.0));
        let t: Threshold = "errors<1%".parse().unwrap();
        assert_eq!(t.bound, 1.0);
        assert!("p99=5ms".parse::<Threshold>().is_err());
        assert!("latency<5ms".parse::<Threshold>().is_err());
        assert!("p99<fast".parse::<Threshold>().is_err());
    }
}
