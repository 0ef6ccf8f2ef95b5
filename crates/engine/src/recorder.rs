//! Per-thread recording: lock-free because each load thread owns its recorder, lossless
//! because everything is an HDR histogram or a counter that merges by addition.

use hdrhistogram::Histogram;
use meshbench_core::histogram::{merge, new_histogram, record_us};
use meshbench_core::ErrorKind;

use crate::driver::{Exchange, Failure};

/// Status codes 0..=599 index an array; anything else is counted as 0 ("unknown").
const STATUS_SLOTS: usize = 600;

/// Everything one thread measured.
#[derive(Debug, Clone)]
pub struct Recorder {
    /// Latency from intended send time, µs (measured requests only).
    pub latency: Histogram<u64>,
    /// Service time from actual send, µs.
    pub service: Histogram<u64>,
    /// How late requests were sent against their schedule, µs (open model).
    pub send_lag: Histogram<u64>,
    /// Completed measured requests (successes and failures).
    pub requests: u64,
    /// Failed measured requests.
    pub errors: u64,
    /// Failures per kind, indexed by [`ErrorKind::index`].
    pub error_kinds: [u64; ErrorKind::ALL.len()],
    /// Responses per status code.
    pub statuses: Box<[u64; STATUS_SLOTS]>,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Completion time (ns from the run's base) of the last measured request.
    pub last_done_ns: u64,
    /// Measurement starts here (ns from the run's base); see [`Recorder::record`].
    measure_start_ns: u64,
    interval: Interval,
}

#[derive(Debug, Clone)]
struct Interval {
    latency: Histogram<u64>,
    requests: u64,
    errors: u64,
}

impl Interval {
    fn new() -> Self {
        Interval {
            latency: new_histogram(),
            requests: 0,
            errors: 0,
        }
    }
}

/// One thread's share of one second, sent to the coordinator to build the timeline.
#[derive(Debug)]
pub struct IntervalReport {
    /// Second relative to the start of measurement; negative during warm-up.
    pub second: i64,
    /// Requests completed in the second.
    pub requests: u64,
    /// Failures in the second.
    pub errors: u64,
    /// Latencies of the second, µs.
    pub latency: Histogram<u64>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// An empty recorder for a run whose measurement starts at `measure_start_ns`.
    pub fn starting_at(measure_start_ns: u64) -> Self {
        Recorder {
            measure_start_ns,
            ..Recorder::new()
        }
    }

    /// An empty recorder.
    pub fn new() -> Self {
        Recorder {
            latency: new_histogram(),
            service: new_histogram(),
            send_lag: new_histogram(),
            requests: 0,
            errors: 0,
            error_kinds: [0; ErrorKind::ALL.len()],
            statuses: Box::new([0; STATUS_SLOTS]),
            bytes_sent: 0,
            bytes_received: 0,
            last_done_ns: 0,
            measure_start_ns: 0,
            interval: Interval::new(),
        }
    }

    /// Records one finished request. `measured` is false for warm-up requests: those reach
    /// only the live interval (progress), and only while warm-up lasts, so the timeline's
    /// measured seconds hold exactly the measured requests.
    #[inline]
    pub fn record(
        &mut self,
        outcome: &Result<Exchange, Failure>,
        latency_ns: u64,
        service_ns: u64,
        done_ns: u64,
        measured: bool,
    ) {
        if !measured && done_ns >= self.measure_start_ns {
            return;
        }
        self.interval.requests += 1;
        match outcome {
            Ok(exchange) => {
                // An answer that is a failure is an error whose status is still counted.
                if exchange.failed {
                    self.interval.errors += 1;
                } else {
                    record_us(&mut self.interval.latency, latency_ns / 1000);
                }
                if !measured {
                    return;
                }
                if exchange.failed {
                    self.errors += 1;
                    self.error_kinds[ErrorKind::ServerError.index()] += 1;
                } else {
                    record_us(&mut self.latency, latency_ns / 1000);
                    record_us(&mut self.service, service_ns / 1000);
                }
                let slot = usize::from(exchange.status);
                self.statuses[if slot < STATUS_SLOTS { slot } else { 0 }] += 1;
                self.bytes_sent += exchange.bytes_sent;
                self.bytes_received += exchange.bytes_received;
            }
            Err(failure) => {
                self.interval.errors += 1;
                if !measured {
                    return;
                }
                self.errors += 1;
                self.error_kinds[failure.kind.index()] += 1;
                self.bytes_sent += failure.bytes_sent;
                self.bytes_received += failure.bytes_received;
            }
        }
        self.requests += 1;
        self.last_done_ns = self.last_done_ns.max(done_ns);
    }

    /// Records how late a measured request was sent against its schedule.
    #[inline]
    pub fn record_send_lag(&mut self, lag_ns: u64) {
        record_us(&mut self.send_lag, lag_ns / 1000);
    }

    /// Hands over the current interval and starts a new one.
    pub fn take_interval(&mut self, second: i64) -> IntervalReport {
        let interval = std::mem::replace(&mut self.interval, Interval::new());
        IntervalReport {
            second,
            requests: interval.requests,
            errors: interval.errors,
            latency: interval.latency,
        }
    }

    /// Adds another thread's totals into this one.
    pub fn merge(&mut self, other: &Recorder) {
        merge(&mut self.latency, &other.latency);
        merge(&mut self.service, &other.service);
        merge(&mut self.send_lag, &other.send_lag);
        self.requests += other.requests;
        self.errors += other.errors;
        for (a, b) in self.error_kinds.iter_mut().zip(other.error_kinds.iter()) {
            *a += b;
        }
        for (a, b) in self.statuses.iter_mut().zip(other.statuses.iter()) {
            *a += b;
        }
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.last_done_ns = self.last_done_ns.max(other.last_done_ns);
    }

    /// Status codes with at least one response, as (code, count).
    pub fn status_counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.statuses
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code as u16, *n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(status: u16) -> Result<Exchange, Failure> {
        Ok(Exchange::http(status, 10, 100))
    }

    #[test]
    fn warmup_samples_reach_only_the_interval() {
        let mut r = Recorder::starting_at(2);
        r.record(&ok(200), 5_000, 5_000, 1, false);
        // A warm-up request that ends after measurement started is counted nowhere.
        r.record(&ok(200), 5_000, 5_000, 2, false);
        r.record(&ok(200), 7_000, 6_000, 2, true);
        r.record(&Err(ErrorKind::Reset.into()), 1_000, 1_000, 3, true);
        assert_eq!(r.requests, 2);
        assert_eq!(r.errors, 1);
        assert_eq!(r.latency.len(), 1);
        assert_eq!(r.error_kinds[ErrorKind::Reset.index()], 1);
        assert_eq!(r.bytes_received, 100);
        let interval = r.take_interval(0);
        assert_eq!(interval.requests, 3);
        assert_eq!(interval.errors, 1);
        assert_eq!(interval.latency.len(), 2);
        assert_eq!(r.take_interval(1).requests, 0);
    }

    #[test]
    fn merging_adds_everything() {
        let mut a = Recorder::new();
        let mut b = Recorder::new();
        a.record(&ok(200), 1_000_000, 900_000, 10, true);
        b.record(&ok(503), 2_000_000, 2_000_000, 20, true);
        b.record(&ok(1000), 2_000_000, 2_000_000, 30, true);
        a.merge(&b);
        assert_eq!(a.requests, 3);
        // The 503 is an error, not a latency.
        assert_eq!(a.latency.len(), 2);
        assert_eq!(a.errors, 1);
        assert_eq!(a.error_kinds[ErrorKind::ServerError.index()], 1);
        assert_eq!(a.last_done_ns, 30);
        let statuses: Vec<_> = a.status_counts().collect();
        assert_eq!(statuses, vec![(0, 1), (200, 1), (503, 1)]);
    }
}
