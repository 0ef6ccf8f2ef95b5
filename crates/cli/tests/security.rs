//! Who may start load, through the real `meshbench serve`: what a page on another web site
//! can make a browser do to a local meshbench, and what it cannot.

// The shared bodies are plain fns, which clippy's allow-unwrap-in-tests does not cover.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

use meshbench_testkit::server::{Scratch, Server, Setup};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_meshbench");

/// Runs curl with `args` (and a time limit); returns the status code and the body.
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(args)
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (these tests need it installed): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = stdout.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

fn jobs(server: &Server) -> u64 {
    let r = server.get("/benchmarks/jobs");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json().as_array().map_or(0, |a| a.len() as u64)
}

/// What a form or `fetch(…, {mode: "no-cors"})` on another site sends: a `text/plain` POST,
/// which needs no CORS preflight, with the page's origin.
#[test]
fn a_page_on_another_site_cannot_start_load_or_listen() {
    let scratch = Scratch::new(BIN, "cross-site");
    let server = Server::start(&scratch, &Setup::sqlite(0));
    let base = format!("http://127.0.0.1:{}", server.port());
    let body = r#"{"test_type":"http","duration":5,"service_url":"http://127.0.0.1:9/"}"#;
    let post = |origin: &str, extra: &[&str]| {
        let header = format!("Origin: {origin}");
        let start = format!("{base}/benchmarks/start");
        let mut args = vec!["-X", "POST", &start, "-H", "Content-Type: text/plain", "-H"];
        args.push(&header);
        args.extend_from_slice(extra);
        args.extend_from_slice(&["-d", body]);
        curl(&args)
    };

    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let (code, answer) = post(origin, &[]);
        assert_eq!(code, 403, "{origin}: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(answer["code"], "cross_site_request", "{answer}");
    }
    // No Origin, but the browser's own word that the request is cross-site.
    let start = format!("{base}/benchmarks/start");
    let (code, answer) = curl(&[
        "-X",
        "POST",
        &start,
        "-H",
        "Sec-Fetch-Site: cross-site",
        "-d",
        body,
    ]);
    assert_eq!(code, 403, "{answer}");
    // Deleting is a state change too.
    let (code, answer) = curl(&[
        "-X",
        "DELETE",
        &format!("{base}/benchmarks/jobs/anything"),
        "-H",
        "Origin: https://evil.example",
    ]);
    assert_eq!(code, 403, "{answer}");
    assert_eq!(jobs(&server), 0, "a refused request left a job behind");

    // A WebSocket handshake from another site: refused before the upgrade.
    let ws = format!("{base}/ws");
    let (code, answer) = curl(&[
        "--http1.1",
        &ws,
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "-H",
        "Origin: https://evil.example",
    ]);
    assert_eq!(code, 403, "{answer}");

    // The server's own pages (at either name it is reached by) and clients that are not
    // browsers pass.
    let (code, answer) = post(&base, &[]);
    assert_eq!(code, 202, "{answer}");
    let own = format!("http://localhost:{}", server.port());
    let host = format!("Host: localhost:{}", server.port());
    let (code, answer) = post(&own, &["-H", &host]);
    assert_eq!(code, 202, "{answer}");
    let (code, answer) = curl(&["-X", "POST", &start, "-d", body]);
    assert_eq!(code, 202, "{answer}");
    assert_eq!(jobs(&server), 3);
}
