//! Which calls belong to the measurement, for figures a driver keeps beside the engine's
//! (token timings, stream timings, message counts).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use meshbench_core::BenchmarkSpec;

/// The measured period as a driver sees it: it starts with the run's first recorded call plus
/// the warm-up and lasts the measured duration. A call counts when it started inside and ended
/// before the end, as the engine counts requests.
#[derive(Debug)]
pub(crate) struct MeasuredWindow {
    begin: OnceLock<Instant>,
    warmup: Duration,
    measured: Option<Duration>,
}

impl MeasuredWindow {
    /// The window of a run of `spec`.
    pub(crate) fn for_spec(spec: &BenchmarkSpec) -> Self {
        MeasuredWindow {
            begin: OnceLock::new(),
            warmup: Duration::from_secs_f64(spec.warmup_s),
            measured: spec.duration_s.map(Duration::from_secs_f64),
        }
    }

    /// Whether a call that started at `started` and ends now belongs to the measurement. The
    /// first call asked about opens the window, so pre-flight calls must not ask.
    pub(crate) fn contains(&self, started: Instant) -> bool {
        let begin = *self.begin.get_or_init(|| started + self.warmup);
        started >= begin && self.measured.is_none_or(|d| Instant::now() <= begin + d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_in_the_warm_up_or_after_the_end_do_not_count() {
        let mut spec = BenchmarkSpec::closed_get("http://127.0.0.1:1/");
        spec.warmup_s = 0.05;
        spec.duration_s = Some(0.05);
        let window = MeasuredWindow::for_spec(&spec);
        let first = Instant::now();
        assert!(!window.contains(first), "the first call is in the warm-up");
        assert!(window.contains(first + Duration::from_millis(60)));
        std::thread::sleep(Duration::from_millis(120));
        assert!(
            !window.contains(first + Duration::from_millis(60)),
            "ended after the end"
        );
    }
}
