//! `--hdr-out`: per-interval latency histograms as a standard HdrHistogram interval log,
//! so HdrHistogram's own tools (HistogramLogProcessor, the plotters, the log readers of
//! every port) can re-slice and plot a run. The lines follow Java's `HistogramLogWriter`.

use std::io::{self, Write};

use hdrhistogram::Histogram;
use meshbench_core::histogram::encode_base64;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

/// The log format version Java's `HistogramLogWriter` writes: compressed V2 histograms.
const LOG_FORMAT_VERSION: &str = "1.3";
/// Values are µs; dividing the max by 1000 gives the conventional milliseconds column.
const MAX_VALUE_DIVISOR: f64 = 1000.0;
/// The column legend every HdrHistogram interval log carries.
const LEGEND: &str =
    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";

/// Writes latency histograms (µs) as an HdrHistogram interval log, one line per interval.
pub struct HdrLogWriter<W: Write> {
    out: W,
}

impl<W: Write> HdrLogWriter<W> {
    /// Writes the log header (comment, format version, StartTime, BaseTime, MaxValueDivisor,
    /// legend) for a measurement that started at `start`; interval offsets count from it.
    pub fn new(mut out: W, start: OffsetDateTime) -> io::Result<Self> {
        let seconds = epoch_seconds(start);
        let header = format!(
            "#meshbench {version} --hdr-out: latency in µs, one interval per second\n\
             #[Histogram log format version {LOG_FORMAT_VERSION}]\n\
             #[StartTime: {seconds:.3} (seconds since epoch), {date}]\n\
             #[BaseTime: {seconds:.3} (seconds since epoch)]\n\
             #[MaxValueDivisor: {MAX_VALUE_DIVISOR:.3}]\n\
             {LEGEND}\n",
            version = env!("CARGO_PKG_VERSION"),
            date = java_date(start),
        );
        out.write_all(header.as_bytes())?;
        Ok(HdrLogWriter { out })
    }

    /// Writes one interval: `start_offset_s` seconds after the start, `length_s` long, with
    /// histogram `h` (µs). Write empty intervals too, so the log's time stays continuous.
    pub fn interval(
        &mut self,
        start_offset_s: f64,
        length_s: f64,
        h: &Histogram<u64>,
    ) -> io::Result<()> {
        for (name, v) in [
            ("start offset", start_offset_s),
            ("interval length", length_s),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("hdr log: {name} must be a finite number of seconds ≥ 0, got {v}"),
                ));
            }
        }
        let encoded = encode_base64(h)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        // An empty histogram's max() is 0, which is what Java writes for it too.
        let max = h.max() as f64 / MAX_VALUE_DIVISOR;
        let line = format!("{start_offset_s:.3},{length_s:.3},{max:.3},{encoded}\n");
        self.out.write_all(line.as_bytes())
    }

    /// Flushes the log and hands back the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Seconds since the Unix epoch, rounded to the millisecond like Java's log writer.
fn epoch_seconds(t: OffsetDateTime) -> f64 {
    let millis = (t.unix_timestamp_nanos() + 500_000).div_euclid(1_000_000);
    millis as f64 / 1000.0
}

/// The instant as Java's `Date.toString()` prints it, in UTC: `Tue Jun 03 14:21:07 UTC 2025`.
fn java_date(t: OffsetDateTime) -> String {
    let format = format_description!(
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] UTC [year]"
    );
    t.checked_to_offset(UtcOffset::UTC)
        .and_then(|utc| utc.format(&format).ok())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use meshbench_core::histogram::{decode_base64, merge, new_histogram, record_us};
    use std::time::Duration;
    use time::macros::datetime;

    #[test]
    fn three_intervals_read_back_with_the_rust_log_reader() {
        let start = datetime!(2025-06-03 14:21:07.250311 UTC);
        let mut writer = HdrLogWriter::new(Vec::new(), start).unwrap();

        let mut written = new_histogram();
        let mut first = new_histogram();
        for v in [700u64, 1000, 1000, 1200, 2500] {
            record_us(&mut first, v);
        }
        let empty = new_histogram();
        let mut third = new_histogram();
        for v in 1..=1000u64 {
            record_us(&mut third, v * 20);
        }
        for (i, h) in [&first, &empty, &third].into_iter().enumerate() {
            writer.interval(i as f64, 1.0, h).unwrap();
            merge(&mut written, h);
        }
        let bytes = writer.finish().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1748960467.250 (seconds since epoch), Tue Jun 03 14:21:07 UTC 2025]\n"), "{text}");
        assert!(
            text.contains("#[BaseTime: 1748960467.250 (seconds since epoch)]\n"),
            "{text}"
        );
        assert!(text.contains("#[MaxValueDivisor: 1000.000]\n"));
        assert!(text.contains(&format!("\n{LEGEND}\n")));
        assert!(text.contains("\n1.000,1.000,0.000,HISTF"), "{text}");

        let mut merged = new_histogram();
        let mut intervals = Vec::new();
        let mut base = None;
        for entry in IntervalLogIterator::new(&bytes) {
            match entry.unwrap() {
                LogEntry::BaseTime(t) => base = Some(t),
                LogEntry::StartTime(t) => assert_eq!(t, Duration::from_millis(1_748_960_467_250)),
                LogEntry::Interval(ilh) => {
                    let h = decode_base64(ilh.encoded_histogram()).unwrap();
                    merge(&mut merged, &h);
                    intervals.push((ilh.start_timestamp(), ilh.duration(), ilh.max(), h));
                }
            }
        }
        assert_eq!(base, Some(Duration::from_millis(1_748_960_467_250)));
        assert_eq!(intervals.len(), 3);
        assert_eq!(merged.len(), written.len());
        assert_eq!(merged, written);
        assert_eq!(intervals[0].0, Duration::from_secs(0));
        assert_eq!(intervals[2].0, Duration::from_secs(2));
        assert_eq!(intervals[1].1, Duration::from_secs(1));
        assert!(intervals[1].3.is_empty());
        assert!((intervals[0].2 - first.max() as f64 / 1000.0).abs() < 0.001);
        assert_eq!(intervals[2].3, third);
    }

    #[test]
    fn bad_offsets_are_refused_not_written() {
        let mut writer = HdrLogWriter::new(Vec::new(), OffsetDateTime::UNIX_EPOCH).unwrap();
        let h = new_histogram();
        assert!(writer.interval(-1.0, 1.0, &h).is_err());
        assert!(writer.interval(0.0, f64::NAN, &h).is_err());
        let text = String::from_utf8(writer.finish().unwrap()).unwrap();
        assert!(text.ends_with(&format!("{LEGEND}\n")));
        assert!(text
            .contains("#[StartTime: 0.000 (seconds since epoch), Thu Jan 01 00:00:00 UTC 1970]"));
    }
}
