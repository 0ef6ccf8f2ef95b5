//! wss:// and grpcs://: the WebSocket and gRPC drivers over TLS (rustls, ALPN), through a
//! TLS-terminating proxy with a self-signed certificate in front of the built-in target.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use meshbench_core::{BenchmarkSpec, GrpcSpec, HttpVersion, WebSocketSpec};
use meshbench_drivers::{run_spec, run_spec_with, H2Client};
use meshbench_engine::StopHandle;

struct Setup {
    target: support::Target,
    tls_addr: SocketAddr,
}

/// The built-in target, and a TLS proxy to it that offers `h2` and `http/1.1`.
fn setup() -> Setup {
    let target = support::Target::start();
    let runtime = &target.runtime;
    let backend = target.server.http_addr();
    let acceptor = support::self_signed_tls();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let tls_addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    Setup { target, tls_addr }
}

#[test]
fn websocket_over_tls() {
    let s = setup();
    let mut spec = BenchmarkSpec::closed_get(format!("wss://{}/ws", s.tls_addr));
    spec.protocol = HttpVersion::Websocket;
    spec.connections = 3;
    spec.duration_s = None;
    spec.max_requests = Some(300);
    spec.insecure = true;
    spec.websocket = Some(WebSocketSpec::default());
    let out = run_spec(&spec, StopHandle::new(), &mut ()).unwrap();
    assert_eq!(out.result.requests, 300);
    assert_eq!(out.result.errors, 0, "{:?}", out.result.error_kinds);
    assert_eq!(out.result.websocket.unwrap().connections_opened, 3);

    // Without --insecure the self-signed certificate is refused, clearly.
    spec.insecure = false;
    let text = run_spec(&spec, StopHandle::new(), &mut ())
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("tls") || text.contains("certificate"),
        "{text}"
    );
    drop(s.target);
}

#[test]
fn grpc_over_tls() {
    let s = setup();
    let mut spec = BenchmarkSpec::closed_get(format!("grpcs://{}", s.tls_addr));
    spec.protocol = HttpVersion::Grpc;
    spec.connections = 2;
    spec.streams = 4;
    spec.duration_s = None;
    spec.max_requests = Some(400);
    spec.insecure = true;
    spec.grpc = Some(GrpcSpec::default());
    for (client, name) in [(H2Client::Lean, "event-loop"), (H2Client::Hyper, "hyper")] {
        let out = run_spec_with(&spec, client, StopHandle::new(), &mut ()).unwrap();
        assert_eq!(out.result.loadgen.client.as_deref(), Some(name));
        assert_eq!(out.result.requests, 400, "{name}");
        assert_eq!(out.result.errors, 0, "{name}: {:?}", out.result.error_kinds);
        let g = out.result.grpc.unwrap();
        assert_eq!(g.status_codes.get("OK"), Some(&400), "{name}");
    }
    drop(s.target);
}
