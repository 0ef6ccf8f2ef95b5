//! Black-box tests of the `meshbench` binary: the real executable against the built-in target
//! on loopback, checking output formats (JSON against its schema, CSV, table, HdrHistogram
//! log), exit codes and error messages.
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use meshbench_core::histogram::{decode_base64, merge, new_histogram};
use meshbench_testkit::port::RefusingPort;
use meshbench_testkit::process::Proc;
use meshbench_testkit::server::addr_after_http;
use meshbench_testkit::target::Target;
use meshbench_testkit::{temp_dir, Client};
use serde_json::Value;

/// No run of the binary may take longer than this; a hung child is killed and the test fails.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Kills (and reaps) a child process when dropped, so no test leaves one behind.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

fn meshbench() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meshbench"));
    cmd.env_remove("MESHBENCH_LOG");
    cmd
}

/// Runs `meshbench ARGS…` to completion (killing it after [`RUN_TIMEOUT`]), capturing output.
fn run(args: &[&str]) -> Output {
    let mut child = meshbench()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + RUN_TIMEOUT;
    let mut guard = ChildGuard(child);
    let status = loop {
        if let Some(status) = guard.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let Some(status) = status else {
        drop(guard); // kills the child, which closes its pipes
        let stdout = out_reader.join().unwrap();
        let stderr = err_reader.join().unwrap();
        panic!(
            "meshbench {args:?} ran longer than {RUN_TIMEOUT:?} and was killed\n\
             stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "meshbench {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs and expects exit 0.
fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(out.status.success(), "{}", describe(args, &out));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("panicked"),
        "{}",
        describe(args, &out)
    );
    out
}

/// Runs with `--json` among `args`, expects exit 0, and checks the result against the schema.
fn run_json(args: &[&str]) -> Value {
    let out = run_ok(args);
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(args, &out)));
    assert_valid(&result);
    result
}

/// The schema violations of `result` against docs/result.v1.schema.json (draft 2020-12,
/// formats asserted), one line each.
fn schema_errors(result: &Value) -> Vec<String> {
    meshbench_testkit::schema::result_errors(result)
}

/// Asserts `result` validates against docs/result.v1.schema.json.
fn assert_valid(result: &Value) {
    let errors = schema_errors(result);
    assert!(
        errors.is_empty(),
        "the result violates result.v1.schema.json:\n{}\nresult:\n{}",
        errors.join("\n"),
        serde_json::to_string_pretty(result).unwrap()
    );
}

fn u64_field(result: &Value, name: &str) -> u64 {
    result[name]
        .as_u64()
        .unwrap_or_else(|| panic!("`{name}` is not an unsigned integer: {}", result[name]))
}

/// Requests that got a response: what the latency histograms hold.
fn successes(result: &Value) -> u64 {
    u64_field(result, "requests") - u64_field(result, "errors")
}

/// A fresh path in the system temp dir, unique per test process and call.
fn temp_path(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!(
        "meshbench-cli-test-{}-{n}-{name}",
        std::process::id()
    ))
}

/// Removes a file when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(temp_path(name))
    }

    fn with_contents(name: &str, contents: &str) -> TempFile {
        let file = TempFile::new(name);
        std::fs::write(&file.0, contents).unwrap();
        file
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn closed_model_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/");
    let result = run_json(&["run", &url, "-c", "4", "-d", "1s", "--json"]);
    assert_eq!(result["schema"], "meshbench.result.v1");
    assert_eq!(result["model"], "closed");
    assert!(result["requested_rps"].is_null());
    assert!(u64_field(&result, "requests") > 0, "{result}");
    assert_eq!(u64_field(&result, "errors"), 0, "{result}");
    assert_eq!(result["spec"]["connections"], 4);
    assert_eq!(result["spec"]["requests"][0]["url"], url.as_str());

    let histogram = decode_base64(result["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(histogram.len(), successes(&result));
    let service = decode_base64(result["service_histogram"].as_str().unwrap()).unwrap();
    assert_eq!(service.len(), successes(&result));
    let codes = result["status_codes"].as_object().unwrap();
    let answered: u64 = codes.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(answered, successes(&result));
    assert_eq!(codes["200"].as_u64().unwrap(), successes(&result));

    // The check above is not vacuous: the schema does catch a broken result.
    let mut broken = result.clone();
    broken["requests"] = Value::from(-1);
    broken["surprise"] = Value::from(true);
    broken["started_at"] = Value::from("yesterday");
    broken["histogram"] = Value::from("not base64!");
    assert_eq!(
        schema_errors(&broken).len(),
        4,
        "{:?}",
        schema_errors(&broken)
    );
}

#[test]
fn open_model_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/");
    let result = run_json(&["run", &url, "--rate", "200", "-d", "1s", "--json"]);
    assert_eq!(result["schema"], "meshbench.result.v1");
    assert_eq!(result["model"], "open");
    assert_eq!(result["spec"]["model"], "open");
    assert_eq!(result["requested_rps"].as_f64(), Some(200.0), "{result}");
    assert_eq!(result["spec"]["schedule"]["kind"], "constant");
    assert_eq!(result["spec"]["schedule"]["rps"].as_f64(), Some(200.0));
    let requests = u64_field(&result, "requests");
    // 200/s for a second; generous bounds, the machine may be busy with other tests.
    assert!(
        (100..=260).contains(&requests),
        "{requests} requests: {result}"
    );
    let histogram = decode_base64(result["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(histogram.len(), successes(&result));
}

#[test]
fn stepped_and_ramped_rates_match_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/");
    let steps = run_json(&[
        "run",
        &url,
        "--rate",
        "100:300:100",
        "--step-duration",
        "300ms",
        "-c",
        "4",
        "--json",
    ]);
    assert_eq!(steps["model"], "open");
    assert_eq!(steps["spec"]["schedule"]["kind"], "steps", "{steps}");
    assert!(u64_field(&steps, "requests") > 0, "{steps}");
    let ramp = run_json(&[
        "run", &url, "--rate", "100..300", "-d", "1s", "-c", "4", "--json",
    ]);
    assert_eq!(ramp["model"], "open");
    assert_eq!(ramp["spec"]["schedule"]["kind"], "ramp", "{ramp}");
    assert!(u64_field(&ramp, "requests") > 0, "{ramp}");
}

#[test]
fn transport_errors_are_counted_and_match_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/?delay=300ms");
    let result = run_json(&[
        "run",
        &url,
        "--timeout",
        "50ms",
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
    ]);
    let errors = u64_field(&result, "errors");
    assert!(errors > 0, "{result}");
    assert_eq!(errors, u64_field(&result, "requests"), "{result}");
    assert_eq!(result["error_kinds"]["timeout"].as_u64(), Some(errors));
    let histogram = decode_base64(result["histogram"].as_str().unwrap()).unwrap();
    assert_eq!(histogram.len(), 0);
}

#[test]
fn http2_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/");
    let result = run_json(&[
        "run",
        &url,
        "--http2",
        "--streams",
        "4",
        "-c",
        "2",
        "-n",
        "200",
        "--json",
    ]);
    assert_eq!(result["spec"]["protocol"], "http2");
    assert_eq!(result["spec"]["streams"], 4);
    assert_eq!(u64_field(&result, "requests"), 200, "{result}");
    assert_eq!(result["status_codes"]["200"], 200, "{result}");
}

#[test]
fn websocket_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/ws").replacen("http://", "ws://", 1);
    let result = run_json(&[
        "run",
        &url,
        "-c",
        "4",
        "-d",
        "1s",
        "--message-size",
        "256",
        "--message-rate",
        "50",
        "--binary",
        "--json",
    ]);
    assert_eq!(result["spec"]["protocol"], "websocket");
    assert_eq!(result["spec"]["websocket"]["message_size"], 256);
    assert_eq!(result["websocket"]["connections_opened"], 4, "{result}");
    assert_eq!(result["websocket"]["connections_alive"], 4, "{result}");
    assert_eq!(result["websocket"]["binary"], true);
    // 50 messages a second on each of 4 connections.
    assert_eq!(result["requested_rps"], 200.0, "{result}");
    assert_eq!(u64_field(&result, "errors"), 0, "{result}");

    let hold = run_json(&["run", &url, "-c", "20", "-d", "1s", "--hold", "--json"]);
    assert_eq!(hold["websocket"]["hold"], true);
    assert_eq!(hold["websocket"]["connections_alive"], 20, "{hold}");
}

#[test]
fn grpc_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "").replacen("http://", "grpc://", 1);
    let result = run_json(&[
        "run",
        &url,
        "-c",
        "2",
        "--streams",
        "4",
        "-n",
        "300",
        "--call",
        "meshbench.echo.v1.Echo/Bidi",
        "--data",
        r#"[{"message":"a"},{"message":"b"}]"#,
        "--metadata",
        "x-run:cli-test",
        "--json",
    ]);
    assert_eq!(result["spec"]["protocol"], "grpc");
    assert_eq!(result["grpc"]["kind"], "bidi_streaming", "{result}");
    assert_eq!(result["grpc"]["status_codes"]["OK"], 300, "{result}");
    assert_eq!(
        result["grpc"]["messages_sent"], result["grpc"]["messages_received"],
        "{result}"
    );
}

#[test]
fn grpc_input_that_does_not_fit_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "").replacen("http://", "grpc://", 1);
    assert_fails(
        &[
            "run",
            &url,
            "--call",
            "meshbench.echo.v1.Echo/Nope",
            "-d",
            "1s",
        ],
        64,
        &["has no method `Nope`"],
    );
    assert_fails(
        &["run", &url, "--data", r#"{"bogus":1}"#, "-d", "1s"],
        64,
        &["does not fit meshbench.echo.v1.EchoRequest"],
    );
    assert_fails(
        &["run", "http://127.0.0.1:9/", "--call", "a.B/C", "-d", "1s"],
        64,
        &["apply to grpc://"],
    );
}

#[test]
fn ml_json_matches_the_schema() {
    let target = Target::start();
    let url = target.url("http", "/?ttft=10ms&token_rate=1000");
    let result = run_json(&[
        "run",
        &url,
        "--ml",
        "openai",
        "--max-tokens",
        "8",
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
    ]);
    assert_eq!(result["spec"]["ml"]["api"], "openai_chat");
    assert!(
        result["ml"]["ttft_us"]["p50"].as_u64().unwrap() >= 10_000,
        "{result}"
    );
    assert!(
        result["ml"]["output_tokens"].as_u64().unwrap() > 0,
        "{result}"
    );
    let oip = run_json(&[
        "run", &url, "--ml", "oip", "--shape", "2,4", "-c", "1", "-n", "20", "--json",
    ]);
    assert_eq!(oip["ml"]["api"], "oip");
    assert_eq!(oip["status_codes"]["200"], 20, "{oip}");

    // The same protocol over gRPC, when the URL says grpc://.
    let grpc_url = target.url("http", "").replacen("http://", "grpc://", 1);
    let over_grpc = run_json(&[
        "run", &grpc_url, "--ml", "oip", "--shape", "1,8", "-c", "1", "-n", "20", "--json",
    ]);
    assert_eq!(
        over_grpc["grpc"]["call"], "inference.GRPCInferenceService/ModelInfer",
        "{over_grpc}"
    );
    assert_eq!(over_grpc["grpc"]["status_codes"]["OK"], 20, "{over_grpc}");
}

#[test]
fn a_missing_model_is_a_runtime_failure() {
    let target = Target::start();
    assert_fails(
        &[
            "run",
            &target.url("http", "/"),
            "--ml",
            "openai",
            "--model",
            "gpt-nope",
            "-d",
            "1s",
        ],
        1,
        &["does not exist"],
    );
}

#[test]
fn websocket_options_on_an_http_url_are_a_usage_error() {
    assert_fails(
        &["run", "http://127.0.0.1:9/", "--hold", "-d", "1s"],
        64,
        &["apply to ws:// and wss://"],
    );
}

#[test]
fn a_refused_websocket_upgrade_is_a_runtime_failure() {
    let target = Target::start();
    let url = target.url("http", "/").replacen("http://", "ws://", 1);
    assert_fails(
        &["run", &url, "-d", "1s"],
        1,
        &["refused the WebSocket upgrade: HTTP 200"],
    );
}

#[test]
fn csv_is_a_header_and_one_row_of_the_same_width() {
    let target = Target::start();
    let url = target.url("http", "/");
    let args = ["run", &url, "-c", "2", "-n", "200", "--csv"];
    let out = run_ok(&args);
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{}", describe(&args, &out));
    let header: Vec<&str> = lines[0].split(',').collect();
    let row: Vec<&str> = lines[1].split(',').collect();
    assert!(lines[0].starts_with("schema,"), "{}", lines[0]);
    assert_eq!(header.len(), row.len(), "{text}");
    assert_eq!(row[0], "meshbench.result.v1");
    let requests = header.iter().position(|c| *c == "requests").unwrap();
    assert_eq!(row[requests], "200", "{text}");
}

#[test]
fn json_and_csv_together_are_refused_by_the_parser() {
    let args = ["run", "http://127.0.0.1:9/", "-n", "10", "--json", "--csv"];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&args, &out));
    assert!(out.stdout.is_empty(), "{}", describe(&args, &out));
}

#[test]
fn table_output_without_a_terminal_has_no_escape_codes() {
    let target = Target::start();
    let url = target.url("http", "/");
    let args = ["run", &url, "-c", "2", "-d", "1s"];
    let out = run_ok(&args);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("p99"), "{}", describe(&args, &out));
    assert!(stdout.contains("Requests"), "{}", describe(&args, &out));
    assert!(
        !stderr.contains("\x1b["),
        "progress bar drawn without a terminal: {stderr:?}"
    );
    assert!(
        !stdout.contains("\x1b["),
        "colours written to a pipe: {stdout:?}"
    );
}

#[test]
fn hdr_out_log_reads_back_and_matches_the_json() {
    let target = Target::start();
    let url = target.url("http", "/");
    let log = TempFile::new("latency.hlog");
    let result = run_json(&[
        "run",
        &url,
        "-c",
        "2",
        "-d",
        "1s",
        "--json",
        "--hdr-out",
        log.path(),
    ]);
    let bytes = std::fs::read(&log.0).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 3, "{text}");
    assert!(lines[0].starts_with('#'), "{text}");
    assert!(lines[1].starts_with('#'), "{text}");
    let legend =
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"";
    let legend_at = lines
        .iter()
        .position(|l| *l == legend)
        .unwrap_or_else(|| panic!("no legend line in\n{text}"));
    assert!(
        lines[..legend_at].iter().all(|l| l.starts_with('#')),
        "{text}"
    );
    let data = &lines[legend_at + 1..];
    assert!(!data.is_empty(), "no interval lines in\n{text}");
    assert!(data.iter().all(|l| l.contains(",HISTF")), "{text}");

    let (intervals, logged) = read_hdr_log(&bytes);
    assert_eq!(intervals, data.len());
    assert_logged_about(logged, &result, 2, &text);
}

/// Reads an interval log back with hdrhistogram's own reader: (intervals, summed count).
fn read_hdr_log(bytes: &[u8]) -> (usize, u64) {
    let mut merged = new_histogram();
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(bytes) {
        match entry.unwrap_or_else(|e| {
            panic!(
                "unreadable log ({e:?}):\n{}",
                String::from_utf8_lossy(bytes)
            )
        }) {
            LogEntry::Interval(ilh) => {
                intervals += 1;
                merge(
                    &mut merged,
                    &decode_base64(ilh.encoded_histogram()).unwrap(),
                );
            }
            LogEntry::StartTime(_) | LogEntry::BaseTime(_) => {}
        }
    }
    (intervals, merged.len())
}

/// The log holds exactly the measured latencies: `requests - errors` of the JSON result.
fn assert_logged_about(logged: u64, result: &Value, _connections: u64, text: &str) {
    let measured = successes(result);
    assert_eq!(
        logged, measured,
        "log holds {logged} latencies, JSON {measured}:\n{text}\n{result}"
    );
}

#[test]
fn hdr_out_leaves_the_warm_up_out() {
    let target = Target::start();
    let url = target.url("http", "/");
    let log = TempFile::new("warmup.hlog");
    let result = run_json(&[
        "run",
        &url,
        "-c",
        "2",
        "--warmup",
        "500ms",
        "-d",
        "1s",
        "--json",
        "--hdr-out",
        log.path(),
    ]);
    assert_eq!(result["spec"]["warmup_s"].as_f64(), Some(0.5));
    let bytes = std::fs::read(&log.0).unwrap();
    let (_, logged) = read_hdr_log(&bytes);
    assert_logged_about(logged, &result, 2, &String::from_utf8_lossy(&bytes));
}

/// Regression: requests in flight when measurement started used to be counted in
/// `timeline[0]` and the `--hdr-out` log (88 of `-n 80` with 8 slow connections).
#[test]
fn timeline_and_hdr_log_count_only_measured_requests() {
    let target = Target::start();
    let url = target.url("http", "/?delay=50ms");
    let log = TempFile::new("strict.hlog");
    let result = run_json(&[
        "run",
        &url,
        "-c",
        "8",
        "-n",
        "80",
        "--json",
        "--hdr-out",
        log.path(),
    ]);
    assert_eq!(u64_field(&result, "requests"), 80, "{result}");
    let timeline: u64 = result["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["requests"].as_u64().unwrap())
        .sum();
    let bytes = std::fs::read(&log.0).unwrap();
    let (_, logged) = read_hdr_log(&bytes);
    assert_eq!(
        (timeline, logged),
        (80, successes(&result)),
        "timeline / log disagree with the result:\n{}\n{result}",
        String::from_utf8_lossy(&bytes)
    );
}

/// Runs ARGS expecting failure with exit code `code`; stderr must mention every one of
/// `needles` (case-insensitively) and must not show a panic.
fn assert_fails(args: &[&str], code: i32, needles: &[&str]) {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert_eq!(out.status.code(), Some(code), "{}", describe(args, &out));
    assert!(!stderr.contains("panicked"), "{}", describe(args, &out));
    for needle in needles {
        assert!(
            stderr.contains(&needle.to_lowercase()),
            "stderr does not mention {needle:?}: {}",
            describe(args, &out)
        );
    }
    assert!(out.stdout.is_empty(), "{}", describe(args, &out));
}

#[test]
fn unparsable_url_is_a_usage_error() {
    assert_fails(&["run", "http//nope", "-d", "1s"], 64, &["http//nope"]);
}

#[test]
fn non_numeric_connections_is_a_parse_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(
        &["run", &url, "-c", "abc", "-d", "1s"],
        2,
        &["abc", "--connections"],
    );
}

#[test]
fn zero_duration_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(&["run", &url, "-d", "0s"], 64, &["duration"]);
}

#[test]
fn zero_rate_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(&["run", &url, "--rate", "0", "-d", "1s"], 64, &["rate"]);
}

#[test]
fn non_numeric_rate_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(
        &["run", &url, "--rate", "abc", "-d", "1s"],
        64,
        &["rate", "abc"],
    );
}

#[test]
fn header_without_colon_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(
        &["run", &url, "-H", "nocolon", "-d", "1s"],
        64,
        &["header", "nocolon"],
    );
}

#[test]
fn streams_without_http2_is_a_usage_error() {
    let target = Target::start();
    let url = target.url("http", "/");
    assert_fails(
        &["run", &url, "--streams", "4", "-d", "1s"],
        64,
        &["streams"],
    );
}

#[test]
fn refusing_target_is_a_runtime_failure() {
    let port = RefusingPort::new();
    let url = format!("http://127.0.0.1:{}/", port.port());
    assert_fails(&["run", &url, "-c", "2", "-d", "1s"], 1, &["refused"]);
}

#[test]
fn request_file_that_is_not_json_is_a_usage_error() {
    let file = TempFile::with_contents("requests.txt", "this is not json\n");
    assert_fails(
        &["run", "--request-file", file.path(), "-d", "1s"],
        64,
        &[file.path(), "request"],
    );
    let file = TempFile::with_contents("requests.json", "[{\"url\": ");
    assert_fails(
        &["run", "--request-file", file.path(), "-d", "1s"],
        64,
        &[file.path(), "json"],
    );
}

#[test]
fn request_file_mixes_requests_round_robin() {
    let target = Target::start();
    let requests = serde_json::json!([
        {"method": "GET", "url": target.url("http", "/?status=201"), "headers": []},
        {"url": target.url("http", "/?status=202"), "headers": [["x-test", "mix"]]},
    ]);
    let file = TempFile::with_contents("mix.json", &requests.to_string());
    let result = run_json(&[
        "run",
        "--request-file",
        file.path(),
        "-c",
        "2",
        "-n",
        "100",
        "--json",
    ]);
    assert_eq!(u64_field(&result, "requests"), 100, "{result}");
    assert_eq!(u64_field(&result, "errors"), 0, "{result}");
    let codes = result["status_codes"].as_object().unwrap();
    let created = codes.get("201").and_then(Value::as_u64).unwrap_or(0);
    let accepted = codes.get("202").and_then(Value::as_u64).unwrap_or(0);
    assert!(created > 0 && accepted > 0, "{result}");
    assert_eq!(created + accepted, 100, "{result}");
    assert_eq!(codes.len(), 2, "{result}");
    assert_eq!(result["spec"]["requests"].as_array().unwrap().len(), 2);
}

#[test]
fn target_subcommand_serves_a_run() {
    let dir = temp_dir("cli-target");
    let mut cmd = meshbench();
    cmd.args(["target", "--http", "127.0.0.1:0", "--threads", "1"])
        .stdin(Stdio::null());
    let mut target = Proc::spawn(dir.path(), "target", cmd);
    // Port 0: the target says which port it got.
    let addr = addr_after_http(&target.wait_for_line(
        "serving HTTP/1.1 and h2c on http://",
        Duration::from_secs(5),
    ));
    let health = Client::new(format!("http://{addr}")).get("/health");
    assert_eq!(health.status, 200, "{}\n{}", health.body, target.tail());
    let url = format!("http://{addr}/");
    let result = run_json(&["run", &url, "-c", "2", "-n", "200", "--json"]);
    assert_eq!(u64_field(&result, "requests"), 200, "{result}");
    assert_eq!(u64_field(&result, "errors"), 0, "{result}");
    assert_eq!(result["status_codes"]["200"], 200, "{result}");
    assert!(target.is_running(), "the target died during the run");
}
