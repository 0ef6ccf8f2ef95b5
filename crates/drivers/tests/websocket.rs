//! The WebSocket driver against the built-in target's `/ws` echo and against a third-party
//! echo server (Python's `websockets` package, installed by the test command).
#![allow(clippy::unwrap_used)]

mod support;

use meshbench_core::{BenchmarkSpec, HttpVersion, LoadModel, RateSchedule, WebSocketSpec};
use meshbench_drivers::{run_spec, RunError};
use meshbench_engine::{RunOutput, StopHandle};
use meshbench_testkit::port::RefusingPort;
use support::{Peer, Target};

fn spec(url: String, connections: u32, seconds: f64, options: WebSocketSpec) -> BenchmarkSpec {
    let mut spec = BenchmarkSpec::closed_get(url);
    spec.protocol = HttpVersion::Websocket;
    spec.connections = connections;
    spec.duration_s = Some(seconds);
    spec.websocket = Some(options);
    spec
}

fn run(spec: &BenchmarkSpec) -> RunOutput {
    run_spec(spec, StopHandle::new(), &mut ()).unwrap()
}

#[test]
fn echoes_round_trip_on_every_connection() {
    let target = Target::start();
    let out = run(&spec(
        target.url("ws", "/ws"),
        4,
        1.0,
        WebSocketSpec::default(),
    ));
    let r = &out.result;
    assert!(r.requests > 100, "{} messages", r.requests);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert!(r.status_codes.is_empty(), "{:?}", r.status_codes);
    let ws = r.websocket.as_ref().unwrap();
    assert_eq!(ws.connections_opened, 4);
    assert_eq!(ws.connections_failed, 0);
    assert_eq!(ws.connections_alive, 4);
    // Messages count over the measured period, as requests do (give or take one in flight
    // per connection at its edges).
    assert!(
        ws.messages_received.abs_diff(r.requests) <= 4 && ws.messages_sent >= ws.messages_received,
        "{} sent, {} received for {} round trips",
        ws.messages_sent,
        ws.messages_received,
        r.requests
    );
    assert!(ws.connect_us.max > 0 && ws.connect_us.max < 1_000_000);
    // 64-byte text messages: 2-byte header (+4 mask on the way out).
    assert_eq!(r.bytes_received, r.requests * 66);
}

#[test]
fn a_fixed_delay_shows_in_the_round_trip() {
    let target = Target::start();
    let options = WebSocketSpec {
        binary: true,
        message_size: 1024,
        ..WebSocketSpec::default()
    };
    let out = run(&spec(target.url("ws", "/ws?delay=10ms"), 2, 1.0, options));
    let p50 = out.result.latency_us.p50;
    assert!((10_000..=12_000).contains(&p50), "p50 {p50} µs");
}

#[test]
fn a_message_rate_per_connection_is_held() {
    let target = Target::start();
    let mut s = spec(
        target.url("ws", "/ws"),
        4,
        2.0,
        WebSocketSpec {
            message_rate: Some(50.0),
            ..WebSocketSpec::default()
        },
    );
    s.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps: 200.0 },
        jitter: 0.0,
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    let out = run(&s);
    let r = &out.result;
    assert!(
        (r.rps - 200.0).abs() < 4.0,
        "{} msg/s for 200 asked ({} messages)",
        r.rps,
        r.requests
    );
}

/// A WebSocket echo server that counts the messages each connection sent it.
fn counting_echo() -> (String, std::sync::Arc<std::sync::Mutex<Vec<u64>>>) {
    use futures_util::{SinkExt, StreamExt};
    let counts = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let shared = std::sync::Arc::clone(&counts);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let counts = std::sync::Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let slot = {
                        let mut counts = counts.lock().unwrap();
                        counts.push(0);
                        counts.len() - 1
                    };
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_text() || message.is_binary() {
                            counts.lock().unwrap()[slot] += 1;
                            if ws.send(message).await.is_err() {
                                break;
                            }
                        }
                    }
                });
            }
        });
    });
    (url, counts)
}

#[test]
fn every_connection_keeps_its_own_message_rate() {
    // 3 connections on 2 threads: one thread owns one connection, the other two; each
    // connection still sends 20 messages a second.
    let (url, counts) = counting_echo();
    let mut s = spec(
        url,
        3,
        3.0,
        WebSocketSpec {
            message_rate: Some(20.0),
            ..WebSocketSpec::default()
        },
    );
    s.threads = 2;
    s.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps: 60.0 },
        jitter: 0.0,
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    let out = run(&s);
    assert_eq!(out.result.errors, 0, "{:?}", out.result.error_kinds);
    // The first connection is the pre-flight check's, with its one message.
    let counts = counts.lock().unwrap()[1..].to_vec();
    assert_eq!(counts.len(), 3, "{counts:?}");
    for count in &counts {
        assert!(
            (57..=63).contains(count),
            "messages per connection: {counts:?}"
        );
    }
}

#[test]
fn hold_mode_keeps_connections_and_counts_survivors() {
    let target = Target::start();
    let mut s = spec(
        target.url("ws", "/ws"),
        50,
        2.0,
        WebSocketSpec {
            hold: true,
            message_rate: Some(1.0),
            ..WebSocketSpec::default()
        },
    );
    s.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps: 50.0 },
        jitter: 0.0,
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    let out = run(&s);
    let ws = out.result.websocket.unwrap();
    assert_eq!(ws.connections_opened, 50);
    assert_eq!(ws.connections_alive, 50);
    assert_eq!(ws.connections_closed, 0);
    assert!(ws.hold);
    assert!(out.result.requests >= 90, "{} pings", out.result.requests);
}

#[test]
fn a_refused_upgrade_is_a_clear_error() {
    let target = Target::start();
    // Any other path of the target answers 200 with a body, not 101.
    let s = spec(target.url("ws", "/plain"), 1, 1.0, WebSocketSpec::default());
    let err = run_spec(&s, StopHandle::new(), &mut ()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, RunError::Engine(_)), "{text}");
    assert!(
        text.contains("refused the WebSocket upgrade: HTTP 200"),
        "{text}"
    );
}

#[test]
fn nothing_listening_is_a_clear_error() {
    let port = RefusingPort::new();
    let s = spec(
        format!("ws://127.0.0.1:{}/", port.port()),
        1,
        1.0,
        WebSocketSpec::default(),
    );
    let text = run_spec(&s, StopHandle::new(), &mut ())
        .unwrap_err()
        .to_string();
    assert!(text.contains("connect_refused"), "{text}");
}

/// Python's `websockets` echo server, on a port the system chose.
fn python_echo() -> Peer {
    let script = "import asyncio, websockets\n\
         async def echo(ws):\n    async for m in ws:\n        await ws.send(m)\n\
         async def main():\n    async with websockets.serve(echo, '127.0.0.1', 0, max_size=None):\n        await asyncio.Future()\n\
         asyncio.run(main())\n";
    Peer::python(script, "run `pip install websockets` (scripts/test does)")
}

#[test]
fn a_third_party_echo_server_python_websockets() {
    let peer = python_echo();
    for binary in [false, true] {
        let out = run(&spec(
            format!("ws://127.0.0.1:{}/", peer.port),
            2,
            1.0,
            WebSocketSpec {
                binary,
                message_size: 4096,
                ..WebSocketSpec::default()
            },
        ));
        let r = &out.result;
        assert!(r.requests > 50, "binary={binary}: {} messages", r.requests);
        assert_eq!(r.errors, 0, "binary={binary}: {:?}", r.error_kinds);
        assert_eq!(r.websocket.as_ref().unwrap().connections_alive, 2);
    }
    // Hold mode: the peer answers pings by itself.
    let mut s = spec(
        format!("ws://127.0.0.1:{}/", peer.port),
        10,
        1.5,
        WebSocketSpec {
            hold: true,
            ..WebSocketSpec::default()
        },
    );
    s.model = LoadModel::Open {
        schedule: RateSchedule::Constant { rps: 10.0 },
        jitter: 0.0,
        send_window_us: meshbench_core::spec::DEFAULT_SEND_WINDOW_US,
    };
    let out = run(&s);
    assert_eq!(out.result.errors, 0);
    assert_eq!(out.result.websocket.unwrap().connections_alive, 10);
}
