//! A latency histogram turned into what a chart draws: the percentile spectrum exactly as
//! HdrHistogram's `outputPercentileDistribution` prints it (so the numbers can be checked
//! against HdrHistogram's own tools), and log-spaced buckets for a bar chart.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Ticks per half-distance to 100 %, as in HdrHistogram's `outputPercentileDistribution`
/// default (5 points between 0 % and 50 %, 5 more up to 75 %, and so on).
pub const SPECTRUM_TICKS: u32 = 5;
/// Buckets [`distribution`] aims for between the smallest and the largest value.
pub const BUCKETS: usize = 50;

/// The latency and service-time distributions of one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobDistribution {
    /// The job.
    pub job_id: String,
    /// Latency (in the open model, from each request's intended send time).
    pub latency: Distribution,
    /// Service time (from the actual send; equals `latency` in the closed model).
    pub service_time: Distribution,
}

/// One histogram, summarised for charts. All zero and empty for an empty histogram.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Distribution {
    /// Values recorded.
    pub total_count: u64,
    /// Smallest value, µs (lowest value of its HDR bucket).
    pub min_us: u64,
    /// Largest value, µs (highest value of its HDR bucket).
    pub max_us: u64,
    /// Arithmetic mean, µs.
    pub mean_us: f64,
    /// Percentile spectrum, ascending, ending with the 100 % point at `max_us`.
    pub spectrum: Vec<SpectrumPoint>,
    /// Contiguous log-spaced buckets from `min_us` to `max_us`, empty ones included (so a
    /// bar chart keeps a uniform log axis); their counts add up to `total_count`.
    pub buckets: Vec<Bucket>,
}

/// One line of HdrHistogram's percentile distribution output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpectrumPoint {
    /// Percentile iterated to, 0–100 (10 decimals, as HdrHistogram prints it).
    pub percentile: f64,
    /// Highest value of the HDR bucket holding that percentile, µs.
    pub value_us: u64,
    /// Values at or below `value_us` (cumulative).
    pub count: u64,
}

/// Values between `low_us` and `high_us`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Bucket {
    /// Lowest value of the bucket, µs.
    pub low_us: u64,
    /// Highest value of the bucket, µs (the next bucket starts one above).
    pub high_us: u64,
    /// Values in the bucket.
    pub count: u64,
}

/// The spectrum and buckets of `h`.
pub fn distribution(h: &Histogram<u64>) -> Distribution {
    if h.is_empty() {
        return Distribution::default();
    }
    let min_us = h.min();
    let max_us = h.max();
    Distribution {
        total_count: h.len(),
        min_us,
        max_us,
        mean_us: h.mean(),
        spectrum: spectrum(h),
        buckets: buckets(h, min_us, max_us),
    }
}

/// `iter_quantiles(5)`: the points `outputPercentileDistribution` prints, with the running
/// total of values up to each.
fn spectrum(h: &Histogram<u64>) -> Vec<SpectrumPoint> {
    let mut count = 0u64;
    let mut points: Vec<SpectrumPoint> = h
        .iter_quantiles(SPECTRUM_TICKS)
        .map(|v| {
            count += v.count_since_last_iteration();
            SpectrumPoint {
                percentile: percent(v.quantile_iterated_to()),
                value_us: v.value_iterated_to(),
                count,
            }
        })
        .collect();
    // hdrhistogram always ends at quantile 1.0 on the largest bucket; this only guards the
    // contract that the last point is the maximum should that ever change.
    if points
        .last()
        .is_none_or(|p| p.percentile < 100.0 || p.value_us != h.max())
    {
        points.push(SpectrumPoint {
            percentile: 100.0,
            value_us: h.max(),
            count: h.len(),
        });
    }
    points
}

/// A quantile as a percentage to the 10 decimals HdrHistogram prints (its 12-decimal
/// quantile), so that the summed tick steps read 30 rather than 30.000000000000004.
fn percent(quantile: f64) -> f64 {
    (quantile * 1e12).round() / 1e10
}

/// Edges `min · (max+1 / min)^(i/BUCKETS)` rounded to whole µs; edges that round to the
/// same µs merge, so a narrow range gets fewer, one-µs-wide buckets.
fn buckets(h: &Histogram<u64>, min_us: u64, max_us: u64) -> Vec<Bucket> {
    let low = min_us.max(1) as f64;
    let end = max_us as f64 + 1.0;
    let mut starts: Vec<u64> = vec![min_us];
    for i in 1..BUCKETS {
        let edge = (low * (end / low).powf(i as f64 / BUCKETS as f64)).round() as u64;
        if edge > *starts.last().unwrap_or(&min_us) && edge <= max_us {
            starts.push(edge);
        }
    }
    let mut out: Vec<Bucket> = starts
        .iter()
        .enumerate()
        .map(|(i, &low_us)| Bucket {
            low_us,
            high_us: starts.get(i + 1).map_or(max_us, |next| next - 1),
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        // The value a recorded HDR bucket reports lies within [min_us, max_us].
        let value = v.value_iterated_to();
        let last = out.len().saturating_sub(1);
        let index = out.partition_point(|b| b.high_us < value).min(last);
        if let Some(bucket) = out.get_mut(index) {
            bucket.count += v.count_at_value();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{new_histogram, record_us};

    fn uniform_1_to_10_000() -> Histogram<u64> {
        let mut h = new_histogram();
        for v in 1..=10_000u64 {
            record_us(&mut h, v);
        }
        h
    }

    #[test]
    fn spectrum_matches_hdrhistogram_points() {
        let h = uniform_1_to_10_000();
        let d = distribution(&h);
        assert_eq!(d.total_count, 10_000);
        assert_eq!(d.min_us, 1);
        assert_eq!(d.max_us, h.max());
        assert_eq!(d.max_us, 10_007);
        let at = |p: f64| {
            d.spectrum
                .iter()
                .find(|s| s.percentile == p)
                .unwrap_or_else(|| panic!("no {p} % point in {:?}", d.spectrum))
        };
        // The first point is the lowest bucket; steps of 10 % up to 50 %, then 2.5 %...
        assert_eq!(d.spectrum[0].percentile, 0.0);
        assert_eq!(d.spectrum[0].value_us, 1);
        assert_eq!(d.spectrum[0].count, 1);
        let percentiles: Vec<f64> = d.spectrum.iter().map(|s| s.percentile).collect();
        assert_eq!(
            percentiles[..10],
            [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0]
        );
        // Values are the highest of their HDR bucket (3 significant digits: 8 µs wide at
        // 5,000, 16 µs wide near 10,000 — as `value_at_quantile` and HdrHistogram print).
        let p50 = at(50.0);
        assert_eq!(p50.value_us, 5_003);
        assert_eq!(p50.value_us, h.value_at_quantile(0.5));
        assert_eq!(p50.count, 5_003);
        let p90 = at(90.0);
        assert_eq!((p90.value_us, p90.count), (9_007, 9_007));
        // Past 90 % the ticks halve (1.25 %, 0.625 %, …): 99 % itself is not a tick, the
        // first point at or above it is 99.0625 %, as HdrHistogram prints it.
        let p99 = d.spectrum.iter().find(|s| s.percentile >= 99.0).unwrap();
        assert_eq!(p99.percentile, 99.0625);
        assert_eq!((p99.value_us, p99.count), (9_911, 9_911));
        // Every point is `value_at_quantile` of its percentile, or (where the summed tick
        // steps land a hair above it, as in HdrHistogram itself) the next HDR bucket.
        for s in &d.spectrum {
            let exact = h.value_at_quantile(s.percentile / 100.0);
            assert!(
                s.value_us == exact || h.lowest_equivalent(s.value_us) == exact + 1,
                "{s:?} vs {exact}"
            );
        }
        let last = d.spectrum.last().unwrap();
        assert_eq!(last.percentile, 100.0);
        assert_eq!(last.value_us, 10_007);
        assert_eq!(last.count, 10_000);
        // Ascending in every column.
        for pair in d.spectrum.windows(2) {
            assert!(pair[0].percentile < pair[1].percentile, "{pair:?}");
            assert!(pair[0].value_us <= pair[1].value_us, "{pair:?}");
            assert!(pair[0].count <= pair[1].count, "{pair:?}");
        }
        assert!((d.mean_us - h.mean()).abs() < 1e-9);
    }

    #[test]
    fn buckets_are_log_spaced_contiguous_and_count_everything() {
        let h = uniform_1_to_10_000();
        let d = distribution(&h);
        assert!(
            (40..=BUCKETS).contains(&d.buckets.len()),
            "{}",
            d.buckets.len()
        );
        assert_eq!(d.buckets[0].low_us, d.min_us);
        assert_eq!(d.buckets.last().unwrap().high_us, d.max_us);
        for pair in d.buckets.windows(2) {
            assert_eq!(pair[0].high_us + 1, pair[1].low_us, "{pair:?}");
        }
        for b in &d.buckets {
            assert!(b.low_us <= b.high_us, "{b:?}");
        }
        assert_eq!(d.buckets.iter().map(|b| b.count).sum::<u64>(), 10_000);
        // Log spacing: the last bucket is far wider than the first.
        let width = |b: &Bucket| b.high_us - b.low_us + 1;
        assert!(width(d.buckets.last().unwrap()) > 100 * width(&d.buckets[0]));
    }

    #[test]
    fn narrow_and_single_value_histograms() {
        let mut h = new_histogram();
        for _ in 0..7 {
            record_us(&mut h, 250);
        }
        let d = distribution(&h);
        assert_eq!(d.total_count, 7);
        assert_eq!((d.min_us, d.max_us), (250, 250));
        assert_eq!(
            d.buckets,
            vec![Bucket {
                low_us: 250,
                high_us: 250,
                count: 7
            }]
        );
        let last = d.spectrum.last().unwrap();
        assert_eq!(
            (last.percentile, last.value_us, last.count),
            (100.0, 250, 7)
        );

        let mut h = new_histogram();
        for v in 100..=110 {
            record_us(&mut h, v);
        }
        let d = distribution(&h);
        assert_eq!(d.buckets.len(), 11, "{:?}", d.buckets);
        assert!(d.buckets.iter().all(|b| b.count == 1));
    }

    #[test]
    fn empty_histogram_is_all_zero() {
        let d = distribution(&new_histogram());
        assert_eq!(d, Distribution::default());
        assert!(d.spectrum.is_empty() && d.buckets.is_empty());
    }

    #[test]
    fn serialises_with_the_documented_field_names() {
        let mut h = new_histogram();
        record_us(&mut h, 42);
        let json = serde_json::to_value(JobDistribution {
            job_id: "j".into(),
            latency: distribution(&h),
            service_time: distribution(&h),
        })
        .unwrap();
        for key in [
            "total_count",
            "min_us",
            "max_us",
            "mean_us",
            "spectrum",
            "buckets",
        ] {
            assert!(json["latency"].get(key).is_some(), "{key}: {json}");
        }
        assert_eq!(json["latency"]["spectrum"][0]["value_us"], 42);
        assert_eq!(json["service_time"]["buckets"][0]["low_us"], 42);
    }
}
