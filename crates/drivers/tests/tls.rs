//! HTTP/1.1 and HTTP/2 over TLS (rustls, ALPN) against a real TLS server with a
//! self-signed certificate on loopback.
#![allow(clippy::unwrap_used)]

mod support;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use meshbench_core::{BenchmarkSpec, HttpVersion};
use meshbench_drivers::{Http1Driver, Http2Driver};
use meshbench_engine::{run, run_multiplexed, StopHandle};

struct TlsServer {
    _runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
}

/// Answers every request with 200 and the protocol it was spoken in, so a test can tell
/// that ALPN chose what it asked for.
fn start_tls_server() -> TlsServer {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let acceptor = support::self_signed_tls();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service = service_fn(|request: Request<hyper::body::Incoming>| async move {
                    let version = format!("{:?}", request.version());
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(version))))
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    TlsServer {
        _runtime: runtime,
        addr,
    }
}

fn spec(server: &TlsServer, protocol: HttpVersion) -> BenchmarkSpec {
    let mut spec = BenchmarkSpec::closed_get(format!("https://{}/", server.addr));
    spec.protocol = protocol;
    spec.connections = 4;
    spec.duration_s = None;
    spec.max_requests = Some(300);
    spec.insecure = true;
    spec
}

#[test]
fn http1_over_tls() {
    let server = start_tls_server();
    let spec = spec(&server, HttpVersion::Http1);
    let driver = Http1Driver::new(&spec).unwrap();
    assert!(!driver.is_plain());
    let r = run(&spec, Arc::new(driver), StopHandle::new(), &mut ())
        .unwrap()
        .result;
    assert_eq!(r.requests, 300);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert_eq!(r.status_codes.get("200"), Some(&300));
    // The body names the version the server saw: "HTTP/1.1" is 8 bytes.
    assert!(r.bytes_received >= 300 * 8);
}

#[test]
fn http2_over_tls_negotiates_h2() {
    let server = start_tls_server();
    let mut spec = spec(&server, HttpVersion::Http2);
    spec.streams = 4;
    let driver = Http2Driver::new(&spec).unwrap();
    // Both clients: the lean one (rustls driven on the engine's loop) and hyper's.
    let lean = run_multiplexed(&spec, Arc::new(driver.lean()), StopHandle::new(), &mut ());
    let hyper = run(&spec, Arc::new(driver), StopHandle::new(), &mut ());
    for (client, out) in [("lean", lean), ("hyper", hyper)] {
        let r = out.unwrap().result;
        assert_eq!(r.requests, 300, "{client}");
        assert_eq!(r.errors, 0, "{client}: {:?}", r.error_kinds);
        assert_eq!(r.status_codes.get("200"), Some(&300), "{client}");
    }
}

#[test]
fn untrusted_certificate_is_a_tls_error_without_insecure() {
    let server = start_tls_server();
    let mut spec = spec(&server, HttpVersion::Http1);
    spec.insecure = false;
    let err = run(
        &spec,
        Arc::new(Http1Driver::new(&spec).unwrap()),
        StopHandle::new(),
        &mut (),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("tls"), "{message}");
}
