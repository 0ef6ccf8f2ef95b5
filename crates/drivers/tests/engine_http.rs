//! The engine and the HTTP drivers against the real built-in target on loopback: the
//! measurement-correctness checks the load engine is held to.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use meshbench_core::{BenchmarkSpec, HttpVersion, LoadModel, RateSchedule};
use meshbench_drivers::{Http1Driver, Http2Driver};
use meshbench_engine::{run, run_framed, run_multiplexed, Error, RunOutput, StopHandle};
use support::Target;

/// These tests time requests and check rates: run them one at a time, so that two of them
/// never share a small box's cores (two throughput runs in parallel starve the rate tests).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CPU: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CPU.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lean path: HTTP/1.1 on the engine's own event loop.
fn run_http1(spec: &BenchmarkSpec) -> RunOutput {
    let driver = Arc::new(Http1Driver::new(spec).unwrap());
    run_framed(spec, driver, StopHandle::new(), &mut ()).unwrap()
}

/// The same driver on the async (tokio) backend, as TLS connections use it.
fn run_http1_async(spec: &BenchmarkSpec) -> RunOutput {
    let driver = Arc::new(Http1Driver::new(spec).unwrap());
    run(spec, driver, StopHandle::new(), &mut ()).unwrap()
}

/// HTTP/2 on hyper's client, on the async backend.
fn run_http2_hyper(spec: &BenchmarkSpec) -> RunOutput {
    let driver = Arc::new(Http2Driver::new(spec).unwrap());
    run(spec, driver, StopHandle::new(), &mut ()).unwrap()
}

/// HTTP/2 on the engine's own event loop (the lean client).
fn run_http2_lean(spec: &BenchmarkSpec) -> RunOutput {
    let lean = Http2Driver::new(spec).unwrap().lean();
    run_multiplexed(spec, Arc::new(lean), StopHandle::new(), &mut ()).unwrap()
}

/// A way to run a spec.
type Runner = fn(&BenchmarkSpec) -> RunOutput;

/// Both HTTP/2 clients, named.
const HTTP2_CLIENTS: [(&str, Runner); 2] = [("lean", run_http2_lean), ("hyper", run_http2_hyper)];

fn open(url: String, rps: f64, seconds: f64) -> BenchmarkSpec {
    let mut spec = BenchmarkSpec::closed_get(url);
    spec.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps },
        jitter: 0.0,
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    spec.duration_s = Some(seconds);
    spec
}

#[test]
fn fixed_delay_shows_as_the_median() {
    let _cpu = one_at_a_time();
    median_is_the_delay(run_http1);
}

#[test]
fn fixed_delay_shows_as_the_median_on_the_async_backend() {
    let _cpu = one_at_a_time();
    median_is_the_delay(run_http1_async);
}

fn median_is_the_delay(run_http1: fn(&BenchmarkSpec) -> RunOutput) {
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?delay=10ms"));
    spec.connections = 10;
    spec.duration_s = Some(2.0);
    let out = run_http1(&spec);
    let r = &out.result;
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert!(r.requests > 500, "only {} requests", r.requests);
    assert!(
        (10_000..=12_000).contains(&r.latency_us.p50),
        "p50 {} µs not in [10 ms, 12 ms]",
        r.latency_us.p50
    );
    assert_eq!(r.status_codes.get("200"), Some(&r.requests));
    assert_eq!(r.model, "closed");
    assert_eq!(r.requested_rps, None);
    assert_eq!(
        r.latency_us, r.service_time_us,
        "closed model: latency is service time"
    );
    assert_eq!(out.latency.len(), r.requests);
}

#[test]
fn open_model_does_not_hide_a_stall() {
    let _cpu = one_at_a_time();
    stall_is_visible(run_http1);
}

#[test]
fn open_model_does_not_hide_a_stall_on_the_async_backend() {
    let _cpu = one_at_a_time();
    stall_is_visible(run_http1_async);
}

fn stall_is_visible(run_http1: fn(&BenchmarkSpec) -> RunOutput) {
    let target = Target::start();
    let spec = open(target.url("http", "/"), 1000.0, 6.0);
    let pause = {
        let handle = target.runtime.handle().clone();
        let server = &target.server;
        // Freeze the target for one second in the middle of the run.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(2500));
                let _guard = handle.enter();
                server.pause_for(Duration::from_secs(1));
            });
            run_http1(&spec)
        })
    };
    let r = &pause.result;
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert!(
        r.latency_us.p99 >= 500_000,
        "p99 {} µs: a one-second stall must show (coordinated omission)",
        r.latency_us.p99
    );
    assert!(r.latency_us.max >= 900_000, "max {} µs", r.latency_us.max);
    // The uncorrected service time is reported beside it and hides most of the stall.
    assert!(r.service_time_us.p50 < r.latency_us.p99);
    assert!(
        r.service_time_us.p90 < 100_000,
        "service p90 {} µs",
        r.service_time_us.p90
    );
    // Requests due during the stall were sent late, not dropped.
    assert!(r.requests >= 5_990, "only {} requests of 6000", r.requests);
}

#[test]
fn open_model_keeps_the_requested_rate() {
    let _cpu = one_at_a_time();
    keeps_rate(run_http1);
}

#[test]
fn open_model_keeps_the_requested_rate_on_the_async_backend() {
    let _cpu = one_at_a_time();
    keeps_rate(run_http1_async);
}

fn keeps_rate(run_http1: fn(&BenchmarkSpec) -> RunOutput) {
    let target = Target::start();
    let mut spec = open(target.url("http", "/"), 2000.0, 3.0);
    spec.connections = 20;
    let r = run_http1(&spec).result;
    assert_eq!(r.requested_rps, Some(2000.0));
    let achieved = r.rps;
    assert!(
        (achieved - 2000.0).abs() <= 20.0,
        "achieved {achieved} req/s for 2000 requested"
    );
    assert_eq!(r.timeline.len(), 3, "{:?}", r.timeline);
    for second in &r.timeline {
        assert!((1900..=2100).contains(&second.requests), "{second:?}");
    }
    assert!(!r.loadgen.saturated, "{:?}", r.loadgen.saturation_reasons);
}

/// A wide send window batches the schedule: sends due within it leave in one wake, so
/// most leave late by a good part of the window (each slot 500 µs after the last, so a
/// batch's sends lag 0, 0.5, 1, … ms), and the rate is still exact. Without the window's
/// effect, the lag's p75 would be tens of microseconds.
#[test]
fn a_wide_send_window_sends_in_batches_at_the_exact_rate() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = open(target.url("http", "/"), 2000.0, 2.0);
    spec.connections = 20;
    if let LoadModel::Open { send_window_us, .. } = &mut spec.model {
        *send_window_us = 5_000.0;
    }
    let r = run_http1(&spec).result;
    assert!(
        (r.rps - 2000.0).abs() <= 20.0,
        "achieved {} req/s for 2000 requested",
        r.rps
    );
    let lag = r
        .loadgen
        .send_lag_us
        .expect("an open model reports its send lag");
    assert!(lag.p75 >= 1_000, "send lag {lag:?}");
    assert!(!r.loadgen.saturated, "{:?}", r.loadgen.saturation_reasons);
}

#[test]
fn count_bound_and_threads_and_mixed_urls() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?status=201"));
    spec.requests.push(meshbench_core::RequestSpec::get(
        target.url("http", "/?status=404"),
    ));
    spec.connections = 4;
    spec.threads = 2;
    spec.duration_s = None;
    spec.max_requests = Some(1000);
    let r = run_http1(&spec).result;
    assert_eq!(r.requests, 1000);
    let created = r.status_codes.get("201").copied().unwrap_or(0);
    let missing = r.status_codes.get("404").copied().unwrap_or(0);
    assert_eq!(created + missing, 1000);
    assert!(
        (400..=600).contains(&created),
        "round-robin mix: {:?}",
        r.status_codes
    );
}

#[test]
fn http2_with_streams() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?size=100"));
    spec.protocol = HttpVersion::Http2;
    spec.connections = 2;
    spec.streams = 8;
    spec.duration_s = None;
    spec.max_requests = Some(2000);
    for (client, run) in HTTP2_CLIENTS {
        let r = run(&spec).result;
        assert_eq!(r.requests, 2000, "{client}");
        assert_eq!(r.errors, 0, "{client}: {:?}", r.error_kinds);
        assert!(r.bytes_received >= 200_000, "{client}");
    }
}

/// Request bodies larger than every window the server grants (hyper's 1 MiB): they go out
/// as the server opens its windows, and each request counts all of its bytes.
#[test]
fn http2_request_bodies_wait_for_flow_control() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/"));
    spec.protocol = HttpVersion::Http2;
    spec.requests[0].method = "POST".into();
    spec.requests[0].body = Some("x".repeat(3 << 20));
    spec.connections = 1;
    spec.streams = 4;
    spec.duration_s = None;
    spec.max_requests = Some(24);
    for (client, run) in HTTP2_CLIENTS {
        let r = run(&spec).result;
        assert_eq!(r.requests, 24, "{client}");
        assert_eq!(r.errors, 0, "{client}: {:?}", r.error_kinds);
        assert!(
            r.bytes_sent >= 24 * (3 << 20),
            "{client}: {} bytes sent",
            r.bytes_sent
        );
    }
}

/// A server that shuts each connection down after one answer (GOAWAY): exchanges due
/// meanwhile wait for the next connection instead of failing, and the run ends on count.
#[test]
fn http2_goaway_moves_exchanges_to_a_new_connection() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?close=1"));
    spec.protocol = HttpVersion::Http2;
    spec.connections = 2;
    spec.streams = 1;
    spec.duration_s = None;
    spec.max_requests = Some(200);
    let r = run_http2_lean(&spec).result;
    assert_eq!(r.requests, 200);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert_eq!(r.status_codes.get("200"), Some(&200));
}

#[test]
fn closing_target_is_counted_not_fatal() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?close=1"));
    spec.connections = 2;
    spec.duration_s = None;
    spec.max_requests = Some(200);
    let r = run_http1(&spec).result;
    assert_eq!(r.requests, 200);
    assert_eq!(
        r.errors, 0,
        "reconnects after Connection: close: {:?}",
        r.error_kinds
    );
}

#[test]
fn refusing_target_is_reported_before_load() {
    let _cpu = one_at_a_time();
    // Bind then drop: the port is (almost certainly) closed now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = BenchmarkSpec::closed_get(format!("http://127.0.0.1:{port}/"));
    let err = run_framed(
        &spec,
        Arc::new(Http1Driver::new(&spec).unwrap()),
        StopHandle::new(),
        &mut (),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Unreachable(_)), "{err}");
    assert!(err.to_string().contains("connect_refused"), "{err}");
}

#[test]
fn garbage_answering_target_is_a_protocol_error() {
    let _cpu = one_at_a_time();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\n");
        }
    });
    let spec = BenchmarkSpec::closed_get(format!("http://{addr}/"));
    let err = run_framed(
        &spec,
        Arc::new(Http1Driver::new(&spec).unwrap()),
        StopHandle::new(),
        &mut (),
    )
    .unwrap_err();
    assert!(err.to_string().contains("protocol"), "{err}");
}

#[test]
fn silent_target_times_out_within_bounds() {
    let _cpu = one_at_a_time();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2).flatten() {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    let mut spec = BenchmarkSpec::closed_get(format!("http://{addr}/"));
    spec.request_timeout_s = 0.5;
    spec.connect_timeout_s = 0.5;
    let err = run_framed(
        &spec,
        Arc::new(Http1Driver::new(&spec).unwrap()),
        StopHandle::new(),
        &mut (),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no answer"), "{err}");
    drop(keep);
}

#[test]
fn truncated_responses_during_the_run_are_counted_as_closed() {
    let _cpu = one_at_a_time();
    // The first connection (the preflight) gets whole answers; every later one gets a
    // response cut short, then the server hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().take(400).enumerate() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    if i == 0 {
                        let _ =
                            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
                    } else {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe");
                        return;
                    }
                }
            });
        }
    });
    let mut spec = BenchmarkSpec::closed_get(format!("http://{addr}/"));
    spec.connections = 2;
    spec.duration_s = None;
    spec.max_requests = Some(100);
    // A hang would end in timeouts; keep it short so the assertion names it quickly.
    spec.request_timeout_s = 2.0;
    let r = run_http1(&spec).result;
    assert_eq!(r.requests, 100);
    assert_eq!(r.errors, 100, "{:?} {:?}", r.status_codes, r.error_kinds);
    // A close with the request still unread on the server side arrives as a reset.
    let closed = r.error_kinds.get("closed").copied().unwrap_or(0);
    let reset = r.error_kinds.get("reset").copied().unwrap_or(0);
    assert_eq!(closed + reset, 100, "{:?}", r.error_kinds);
    assert!(closed > 0, "{:?}", r.error_kinds);
}

#[test]
fn close_delimited_bodies_end_at_eof() {
    let _cpu = one_at_a_time();
    // HTTP/1.0 style: no Content-Length, the body ends when the server closes.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            if stream.read(&mut buf).is_ok() {
                let _ = stream
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
            }
        }
    });
    let mut spec = BenchmarkSpec::closed_get(format!("http://{addr}/"));
    spec.connections = 2;
    spec.duration_s = None;
    spec.max_requests = Some(50);
    spec.request_timeout_s = 2.0;
    let r = run_http1(&spec).result;
    assert_eq!(r.requests, 50);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert_eq!(r.status_codes.get("200"), Some(&50));
}

#[test]
fn target_going_away_mid_run_is_counted_and_the_run_ends_on_time() {
    let _cpu = one_at_a_time();
    let Target { runtime, server } = Target::start();
    let mut spec = BenchmarkSpec::closed_get(format!("http://{}/", server.http_addr()));
    spec.connections = 4;
    spec.duration_s = Some(2.0);
    let started = std::time::Instant::now();
    let r = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            runtime.block_on(server.shutdown());
        });
        run_http1(&spec).result
    });
    assert!(r.requests > 0);
    assert!(
        r.errors > 0,
        "refused connects must be counted: {:?}",
        r.error_kinds
    );
    assert!(
        r.error_kinds.contains_key("connect_refused"),
        "{:?}",
        r.error_kinds
    );
    // Bounded: the run stops at its deadline (plus a little drain), however it fails.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// A 5xx answer (a proxy's 503 for a target that is down behind it) is a failed request:
/// counted in errors and in its status, never in the latency figures.
#[test]
fn server_errors_are_failures_not_fast_answers() {
    let _cpu = one_at_a_time();
    let target = Target::start();
    let mut spec = BenchmarkSpec::closed_get(target.url("http", "/?status=503:50"));
    spec.connections = 2;
    spec.duration_s = None;
    spec.max_requests = Some(400);
    let mut h2 = spec.clone();
    h2.protocol = HttpVersion::Http2;
    for (backend, out) in [
        ("lean", run_http1(&spec)),
        ("async", run_http1_async(&spec)),
        ("http2 lean", run_http2_lean(&h2)),
        ("http2 hyper", run_http2_hyper(&h2)),
    ] {
        let r = &out.result;
        let failed = r.status_codes.get("503").copied().unwrap_or(0);
        let ok = r.status_codes.get("200").copied().unwrap_or(0);
        assert!(failed > 0 && ok > 0, "{backend}: {:?}", r.status_codes);
        assert_eq!(r.errors, failed, "{backend}: {:?}", r.error_kinds);
        assert_eq!(r.error_kinds["server_error"], failed, "{backend}");
        assert_eq!(r.requests, failed + ok, "{backend}");
        let in_latency = hdr_count(&r.histogram);
        assert_eq!(
            in_latency, ok,
            "{backend}: only answers that succeeded are latencies"
        );
    }
}

fn hdr_count(encoded: &str) -> u64 {
    meshbench_core::histogram::decode_base64(encoded)
        .map(|h| h.len())
        .unwrap_or(0)
}
