//! HDR histograms as meshbench keeps them: microseconds from 1 µs to 1 h at 3 significant
//! digits, summarised into the percentile set every result reports, and serialised as
//! base64 of the compressed HdrHistogram V2 encoding, the form HdrHistogram's own tools
//! (HistogramLogProcessor, the log readers in Java, Go, Python and Rust) read.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;

use crate::result::LatencySummary;
use crate::{Error, Result};

/// Highest value kept: one hour in microseconds. Larger values are clamped to it.
pub const MAX_US: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGFIG: u8 = 3;

/// A new, empty latency histogram with meshbench's range and precision.
pub fn new_histogram() -> Histogram<u64> {
    match Histogram::new_with_bounds(1, MAX_US, SIGFIG) {
        Ok(h) => h,
        // The bounds are constants that hdrhistogram accepts; this arm cannot be reached.
        Err(e) => unreachable!("constant histogram bounds rejected: {e}"),
    }
}

/// Records one latency in microseconds, clamping it into the histogram's range so an
/// absurd value is counted at the edge instead of lost.
#[inline]
pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, MAX_US));
}

/// A duration in whole microseconds, the unit every histogram here records (saturating).
#[inline]
pub fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The percentile summary every result reports; all zero for an empty histogram.
pub fn summarize(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    let q = |quantile: f64| h.value_at_quantile(quantile);
    LatencySummary {
        min: h.min(),
        mean: h.mean(),
        stdev: h.stdev(),
        p50: q(0.50),
        p75: q(0.75),
        p90: q(0.90),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
        p9999: q(0.9999),
        max: h.max(),
    }
}

/// The histogram as base64 of its compressed V2 encoding.
pub fn encode_base64(h: &Histogram<u64>) -> Result<String> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .map_err(|e| Error::HistogramEncode(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Reads a histogram written by [`encode_base64`] (or any V2 / V2-compressed writer).
pub fn decode_base64(text: &str) -> Result<Histogram<u64>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| Error::HistogramDecode(e.to_string()))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| Error::HistogramDecode(format!("{e:?}")))
}

/// Adds `from` into `into`. Both come from [`new_histogram`], so this cannot lose values.
pub fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    if let Err(e) = into.add(from) {
        // Same bounds on both sides make this unreachable; keep going rather than abort a run.
        debug_assert!(false, "histogram merge failed: {e:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_of_known_samples() {
        let mut h = new_histogram();
        for v in 1..=10_000u64 {
            record_us(&mut h, v);
        }
        let s = summarize(&h);
        assert_eq!(s.min, 1);
        assert!((s.p50 as i64 - 5000).abs() <= 5, "{}", s.p50);
        assert!((s.p99 as i64 - 9900).abs() <= 10, "{}", s.p99);
        assert!((s.max as i64 - 10_000).abs() <= 10);
        assert!((s.mean - 5000.5).abs() < 5.0);
    }

    #[test]
    fn values_out_of_range_are_clamped_not_lost() {
        let mut h = new_histogram();
        record_us(&mut h, 0);
        record_us(&mut h, u64::MAX);
        assert_eq!(h.len(), 2);
        assert_eq!(h.min(), 1);
        assert!(h.max() >= MAX_US);
    }

    #[test]
    fn base64_round_trip_is_lossless() {
        let mut h = new_histogram();
        for v in [3u64, 70, 900, 12_000, 1_500_000] {
            for _ in 0..v % 7 + 1 {
                record_us(&mut h, v);
            }
        }
        let text = encode_base64(&h).unwrap();
        let back = decode_base64(&text).unwrap();
        assert_eq!(back, h);
        assert!(decode_base64("not base64!").is_err());
    }

    #[test]
    fn merged_thread_histograms_equal_one_recorded_in_one_place() {
        let mut whole = new_histogram();
        let mut parts = [new_histogram(), new_histogram(), new_histogram()];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for i in 0..100_000u64 {
            // xorshift: a spread of latencies from microseconds to seconds.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = x % 2_000_000 + 1;
            record_us(&mut whole, v);
            record_us(&mut parts[(i % 3) as usize], v);
        }
        let mut merged = new_histogram();
        for p in &parts {
            merge(&mut merged, p);
        }
        assert_eq!(merged, whole);
        assert_eq!(summarize(&merged), summarize(&whole));
    }
}
