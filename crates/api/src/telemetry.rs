//! The API's own numbers for `/metrics`: request count and latency as a Prometheus histogram.
//! Atomics only, so recording costs a few nanoseconds and no lock.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// Upper bounds of the latency buckets, seconds.
const BOUNDS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Counters behind `meshbench_api_request_duration_seconds`.
#[derive(Debug, Default)]
pub struct ApiTelemetry {
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
    server_errors: AtomicU64,
}

impl ApiTelemetry {
    fn record(&self, seconds: f64, server_error: bool) {
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            if seconds <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos
            .fetch_add((seconds * 1e9) as u64, Ordering::Relaxed);
        if server_error {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Appends the exposition text.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP meshbench_api_request_duration_seconds Time to answer API requests."
        );
        let _ = writeln!(
            out,
            "# TYPE meshbench_api_request_duration_seconds histogram"
        );
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "meshbench_api_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "meshbench_api_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let _ = writeln!(out, "meshbench_api_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "meshbench_api_request_duration_seconds_count {count}");
        let _ = writeln!(
            out,
            "# HELP meshbench_api_server_errors_total API answers with a 5xx status."
        );
        let _ = writeln!(out, "# TYPE meshbench_api_server_errors_total counter");
        let _ = writeln!(
            out,
            "meshbench_api_server_errors_total {}",
            self.server_errors.load(Ordering::Relaxed)
        );
    }
}

/// Middleware timing every request.
pub(crate) async fn observe(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    state.telemetry.record(
        started.elapsed().as_secs_f64(),
        response.status().is_server_error(),
    );
    response
}
