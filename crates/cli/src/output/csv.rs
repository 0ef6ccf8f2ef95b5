//! `--csv`: one header row and one row per run, in the column order fixed by
//! `docs/result-schema.md`, so spreadsheets and scripts can rely on names and positions.

use meshbench_core::BenchmarkResult;
use time::format_description::well_known::Rfc3339;

/// The columns, in order. New columns are only ever appended (see the schema doc).
const COLUMNS: [&str; 21] = [
    "schema",
    "started_at",
    "duration_s",
    "requests",
    "errors",
    "rps",
    "requested_rps",
    "latency_p50_us",
    "latency_p75_us",
    "latency_p90_us",
    "latency_p95_us",
    "latency_p99_us",
    "latency_p999_us",
    "latency_p9999_us",
    "latency_max_us",
    "service_p50_us",
    "service_p99_us",
    "bytes_sent",
    "bytes_received",
    "cpu_s",
    "saturated",
];

/// `result` as CSV: the header line and one row, each ending in `\n`, written by
/// [`meshbench_core::csv`] (the formula guard and quoting of every meshbench CSV).
pub fn render(result: &BenchmarkResult) -> String {
    let lat = &result.latency_us;
    let svc = &result.service_time_us;
    let started_at = result
        .started_at
        .format(&Rfc3339)
        .unwrap_or_else(|_| result.started_at.to_string());
    // A fixed-size array: the compiler keeps it the same length as COLUMNS.
    let fields: [String; COLUMNS.len()] = [
        result.schema.clone(),
        started_at,
        decimal(result.duration_s, 6),
        result.requests.to_string(),
        result.errors.to_string(),
        decimal(result.rps, 3),
        result
            .requested_rps
            .map(|r| decimal(r, 3))
            .unwrap_or_default(),
        lat.p50.to_string(),
        lat.p75.to_string(),
        lat.p90.to_string(),
        lat.p95.to_string(),
        lat.p99.to_string(),
        lat.p999.to_string(),
        lat.p9999.to_string(),
        lat.max.to_string(),
        svc.p50.to_string(),
        svc.p99.to_string(),
        result.bytes_sent.to_string(),
        result.bytes_received.to_string(),
        decimal(result.loadgen.cpu_s, 3),
        result.loadgen.saturated.to_string(),
    ];
    meshbench_core::csv::to_string(&COLUMNS, [fields])
}

/// A plain decimal (never an exponent) with at most `places` decimals and no trailing
/// zeros: `2000.0` → `2000`, `0.910` → `0.91`. Non-finite values become an empty field.
fn decimal(v: f64, places: usize) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let mut s = format!("{v:.places$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example result of `docs/result-schema.md`, without its histogram strings.
    const EXAMPLE: &str = r#"{
      "schema": "meshbench.result.v1",
      "spec": {
        "requests": [{"method": "GET", "url": "http://echo.bench.svc.cluster.local:8080/echo",
                      "headers": [["x-request-source", "meshbench"]]}],
        "protocol": "http1", "connections": 32, "streams": 1, "threads": 2,
        "model": "open", "schedule": {"kind": "constant", "rps": 2000.0}, "jitter": 0.0,
        "duration_s": 3.0, "warmup_s": 1.0, "connect_timeout_s": 5.0,
        "request_timeout_s": 30.0, "insecure": false, "mesh_type": "linkerd"
      },
      "model": "open",
      "started_at": "2025-06-03T14:21:07.250311Z",
      "ended_at": "2025-06-03T14:21:10.250723Z",
      "duration_s": 3.000412, "requests": 5987, "errors": 2, "rps": 1995.4,
      "requested_rps": 2000.0,
      "latency_us": {"min": 700, "mean": 1109.1771094402675, "stdev": 703.1798775760736, "p50": 1000, "p75": 1200, "p90": 1300, "p95": 1500, "p99": 2501, "p999": 14807, "p9999": 21311, "max": 21311},
      "service_time_us": {"min": 600, "mean": 988.4521303258144, "stdev": 379.7252725710118, "p50": 900, "p75": 1100, "p90": 1200, "p95": 1400, "p99": 2401, "p999": 5203, "p9999": 9807, "max": 9807},
      "status_codes": {"200": 5982, "503": 3},
      "error_kinds": {"reset": 1, "timeout": 1},
      "bytes_sent": 670544, "bytes_received": 1226925,
      "timeline": [],
      "histogram": "HISTF", "service_histogram": "HISTF",
      "loadgen": {"threads": 2, "connections": 32, "cpu_s": 0.91, "cpu_user_s": 0.38,
                  "cpu_system_s": 0.53, "max_rss_bytes": 21954560, "saturated": false}
    }"#;

    fn example() -> BenchmarkResult {
        serde_json::from_str(EXAMPLE).unwrap()
    }

    /// The header line and the row line of [`render`].
    fn lines(result: &BenchmarkResult) -> (String, String) {
        let text = render(result);
        let (header, row) = text.split_once('\n').unwrap();
        let row = row.strip_suffix('\n').unwrap();
        assert!(!row.contains('\n'), "{text}");
        (header.to_string(), row.to_string())
    }

    #[test]
    fn header_and_row_have_the_same_number_of_columns() {
        let (h, r) = lines(&example());
        assert_eq!(h.split(',').count(), r.split(',').count());
        assert_eq!(h.split(',').count(), 21);
    }

    #[test]
    fn matches_the_documented_example() {
        let (header, row) = lines(&example());
        assert_eq!(
            header,
            "schema,started_at,duration_s,requests,errors,rps,requested_rps,latency_p50_us,\
             latency_p75_us,latency_p90_us,latency_p95_us,latency_p99_us,latency_p999_us,\
             latency_p9999_us,latency_max_us,service_p50_us,service_p99_us,bytes_sent,\
             bytes_received,cpu_s,saturated"
        );
        assert_eq!(
            row,
            "meshbench.result.v1,2025-06-03T14:21:07.250311Z,3.000412,5987,2,1995.4,2000,\
             1000,1200,1300,1500,2501,14807,21311,21311,900,2401,670544,1226925,0.91,false"
        );
    }

    #[test]
    fn closed_model_leaves_requested_rps_empty() {
        let mut result = example();
        result.requested_rps = None;
        result.rps = 1_234.567_891;
        let (_, r) = lines(&result);
        let fields: Vec<&str> = r.split(',').collect();
        assert_eq!(fields[5], "1234.568");
        assert_eq!(fields[6], "");
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(decimal(1e21, 3), "1000000000000000000000");
        assert_eq!(decimal(0.000_000_1, 6), "0");
        assert_eq!(decimal(-0.000_000_1, 6), "0");
        assert_eq!(decimal(f64::NAN, 3), "");
        assert_eq!(decimal(12.5, 3), "12.5");
    }

    #[test]
    fn a_schema_that_looks_like_a_formula_is_guarded() {
        let mut result = example();
        result.schema = "=1+1".to_string();
        assert!(lines(&result).1.starts_with("'=1+1,"));
    }
}
