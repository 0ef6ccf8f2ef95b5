//! Black-box tests: a real server on 127.0.0.1:0, real clients (hyper's, and raw sockets for
//! the HTTP/1.1 framing details). Only lower bounds are asserted on time; upper bounds are
//! generous timeouts that turn a hang into a failure.

// The helpers below are test code too; a panic is how they report a broken server.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONNECTION, CONTENT_TYPE};
use hyper::{HeaderMap, Method, Request, StatusCode, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use meshbench_target::{Error, TargetConfig, TargetServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HANG: Duration = Duration::from_secs(20);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    version: Version,
}

async fn start() -> TargetServer {
    TargetServer::start(TargetConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))))
        .await
        .unwrap()
}

fn h1_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

fn h2_client() -> HttpClient {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

async fn send(client: &HttpClient, method: Method, url: String, body: Bytes) -> Answer {
    let req = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .unwrap();
    let resp = tokio::time::timeout(HANG, client.request(req))
        .await
        .expect("request hung")
        .unwrap();
    let (parts, body) = resp.into_parts();
    let body = tokio::time::timeout(HANG, body.collect())
        .await
        .expect("body hung")
        .unwrap()
        .to_bytes();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body,
        version: parts.version,
    }
}

async fn get(client: &HttpClient, server: &TargetServer, path_and_query: &str) -> Answer {
    let url = format!("http://{}{}", server.http_addr(), path_and_query);
    send(client, Method::GET, url, Bytes::new()).await
}

async fn post(client: &HttpClient, server: &TargetServer, path_and_query: &str) -> Answer {
    let url = format!("http://{}{}", server.http_addr(), path_and_query);
    send(client, Method::POST, url, Bytes::new()).await
}

/// Reads one HTTP/1.1 response with a Content-Length body from a raw stream; returns the head
/// (lower-cased) and the body.
async fn read_h1_response(stream: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(HANG, stream.read(&mut chunk))
            .await
            .expect("read hung")
            .unwrap();
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .expect("no content-length")
        .trim()
        .parse()
        .unwrap();
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; length - body.len()];
        let n = tokio::time::timeout(HANG, stream.read(&mut chunk))
            .await
            .expect("read hung")
            .unwrap();
        assert!(n > 0, "connection closed mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    (head, body)
}

#[tokio::test]
async fn default_answer_is_a_small_200() {
    let server = start().await;
    let a = get(&h1_client(), &server, "/anything/at/all").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.version, Version::HTTP_11);
    assert_eq!(a.headers[CONTENT_TYPE], "text/plain");
    assert!(!a.body.is_empty() && a.body.len() < 64);
    server.shutdown().await;
}

#[tokio::test]
async fn size_gives_exactly_that_many_bytes() {
    let server = start().await;
    let client = h1_client();
    for size in [0usize, 1000, 70_000, 1 << 20] {
        let a = get(&client, &server, &format!("/?size={size}")).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body.len(), size);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn fixed_status() {
    let server = start().await;
    let a = get(&h1_client(), &server, "/?status=418").await;
    assert_eq!(a.status, StatusCode::IM_A_TEAPOT);
    server.shutdown().await;
}

#[tokio::test]
async fn fixed_delay_is_honoured() {
    let server = start().await;
    let client = h1_client();
    let started = Instant::now();
    let a = get(&client, &server, "/?delay=50ms").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(50));
    let started = Instant::now();
    let a = get(&client, &server, "/?delay=20ms:40ms").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(20));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_mix_is_roughly_the_asked_percentage() {
    let server = start().await;
    let client = h1_client();
    let mut unavailable = 0;
    for _ in 0..400 {
        let a = get(&client, &server, "/?status=503:50").await;
        match a.status {
            StatusCode::SERVICE_UNAVAILABLE => unavailable += 1,
            StatusCode::OK => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!((100..=300).contains(&unavailable), "{unavailable} of 400");
    server.shutdown().await;
}

#[tokio::test]
async fn http1_keeps_alive_and_close_closes() {
    let server = start().await;
    let mut stream = TcpStream::connect(server.http_addr()).await.unwrap();

    stream
        .write_all(b"GET /?size=10 HTTP/1.1\r\nhost: target\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = read_h1_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    assert_eq!(body.len(), 10);

    // Same connection: it was kept alive.
    stream
        .write_all(b"GET /?close=1 HTTP/1.1\r\nhost: target\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_h1_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(HANG, stream.read_to_end(&mut rest))
        .await
        .expect("server did not close the connection")
        .unwrap();
    assert_eq!(n, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_values_get_400_naming_the_parameter() {
    let server = start().await;
    let client = h1_client();
    for (query, name) in [
        ("delay=soon", "delay"),
        ("size=big", "size"),
        ("status=700", "status"),
        ("close=perhaps", "close"),
    ] {
        let a = get(&client, &server, &format!("/?{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        let text = String::from_utf8(a.body.to_vec()).unwrap();
        assert!(text.contains(name), "{query}: {text}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn health_is_json() {
    let server = start().await;
    let a = get(&h1_client(), &server, "/health").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[CONTENT_TYPE], "application/json");
    assert_eq!(&a.body[..], br#"{"status":"ok"}"#);
    server.shutdown().await;
}

#[tokio::test]
async fn h2c_prior_knowledge_on_the_same_port() {
    let server = start().await;
    let client = h2_client();
    let a = get(&client, &server, "/?size=1000&status=201").await;
    assert_eq!(a.version, Version::HTTP_2);
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(a.body.len(), 1000);

    // close=1 over h2: answered, then GOAWAY; the client reconnects for the next request.
    let a = get(&client, &server, "/?close=1").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.headers.get(CONNECTION).is_none());
    let a = get(&client, &server, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.version, Version::HTTP_2);
    server.shutdown().await;
}

#[tokio::test]
async fn uploads_are_drained() {
    let server = start().await;
    let client = h1_client();
    for _ in 0..3 {
        let url = format!("http://{}/upload?size=5", server.http_addr());
        let a = send(&client, Method::POST, url, Bytes::from(vec![7u8; 200_000])).await;
        assert_eq!(a.status, StatusCode::OK);
        assert_eq!(a.body.len(), 5);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn pause_for_holds_back_new_requests() {
    let server = start().await;
    let client = h1_client();
    server.pause_for(Duration::from_millis(300));
    let started = Instant::now();
    let a = get(&client, &server, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_back_requests_already_in_progress() {
    let server = start().await;
    let client = h1_client();
    let started = Instant::now();
    let url = format!("http://{}/?delay=300ms", server.http_addr());
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move { send(&client, Method::GET, url, Bytes::new()).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.pause_for(Duration::from_millis(500));
    let a = in_flight.await.unwrap();
    assert_eq!(a.status, StatusCode::OK);
    // The pause began at least 50 ms in and lasted 500 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(550),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pause_over_http() {
    let server = start().await;
    let client = h1_client();
    let started = Instant::now();
    let a = post(&client, &server, "/control/pause?duration=300ms").await;
    assert_eq!(a.status, StatusCode::OK);
    // Health and control are never paused.
    assert_eq!(
        get(&client, &server, "/health").await.status,
        StatusCode::OK
    );
    let a = get(&client, &server, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pause_control_refuses_bad_requests() {
    let server = start().await;
    let client = h1_client();
    let a = get(&client, &server, "/control/pause?duration=1s").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    for query in ["", "?duration=later", "?duration=3h"] {
        let a = post(&client, &server, &format!("/control/pause{query}")).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(String::from_utf8_lossy(&a.body).contains("duration"));
    }
    let a = post(&client, &server, "/control/other").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // None of that paused anything.
    assert_eq!(get(&client, &server, "/").await.status, StatusCode::OK);
    server.shutdown().await;
}

#[tokio::test]
async fn address_in_use_is_a_clear_error() {
    let server = start().await;
    let err = TargetServer::start(TargetConfig::new(server.http_addr()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Bind { addr, .. } if addr == server.http_addr()));
    assert!(err.to_string().contains(&server.http_addr().to_string()));
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_ends_idle_connections_and_stops_accepting() {
    let server = start().await;
    let addr = server.http_addr();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: target\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_h1_response(&mut stream).await;
    assert!(head.starts_with("http/1.1 200"));

    tokio::time::timeout(HANG, server.shutdown())
        .await
        .expect("shutdown hung");
    let mut rest = Vec::new();
    let n = tokio::time::timeout(HANG, stream.read_to_end(&mut rest))
        .await
        .expect("idle connection was not closed")
        .unwrap_or(0);
    assert_eq!(n, 0);
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_slow_requests() {
    let server = start().await;
    let url = format!("http://{}/?delay=1h", server.http_addr());
    let client = h1_client();
    let slow = tokio::spawn(async move {
        let req = Request::get(url).body(Full::new(Bytes::new())).unwrap();
        client.request(req).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(HANG, server.shutdown())
        .await
        .expect("shutdown waited for a 1h delay");
    let outcome = tokio::time::timeout(HANG, slow).await.expect("client hung");
    assert!(
        outcome.unwrap().is_err(),
        "the aborted request cannot have succeeded"
    );
}
