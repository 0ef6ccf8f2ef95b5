//! The API's own numbers for `/metrics`: request latency as a Prometheus histogram and the
//! count of 5xx answers (prometheus-client metrics: atomics, no lock on the request path).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::AppState;

/// Upper bounds of the latency buckets, seconds.
const BOUNDS: [f64; 10] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// The metrics behind `meshbench_api_request_duration_seconds` and
/// `meshbench_api_server_errors_total`.
#[derive(Debug)]
pub struct ApiTelemetry {
    duration: Histogram,
    server_errors: Counter,
}

impl Default for ApiTelemetry {
    fn default() -> Self {
        ApiTelemetry {
            duration: Histogram::new(BOUNDS),
            server_errors: Counter::default(),
        }
    }
}

impl ApiTelemetry {
    fn record(&self, seconds: f64, server_error: bool) {
        self.duration.observe(seconds);
        if server_error {
            self.server_errors.inc();
        }
    }

    /// Adds the API's metrics to `registry` (they share their values with these).
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "meshbench_api_request_duration_seconds",
            "Time to answer API requests",
            self.duration.clone(),
        );
        registry.register(
            "meshbench_api_server_errors",
            "API answers with a 5xx status",
            self.server_errors.clone(),
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
