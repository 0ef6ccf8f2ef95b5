//! The HTTP/2 driver against a server no one here wrote: nghttpd (Debian's nghttp2-server,
//! installed by the test command), h2c with prior knowledge, serving a static file.
#![allow(clippy::unwrap_used)]

mod support;

use meshbench_core::{BenchmarkSpec, HttpVersion};
use meshbench_drivers::{run_spec_with, H2Client};
use meshbench_engine::StopHandle;
use meshbench_testkit::{temp_dir, TempDir};
use support::Peer;

/// nghttpd serving `body` as /index.html from a directory removed on drop.
struct Nghttpd {
    peer: Peer,
    _dir: TempDir,
}

impl Nghttpd {
    fn start(body: &[u8]) -> Nghttpd {
        let dir = temp_dir("nghttpd");
        std::fs::write(dir.path().join("index.html"), body).unwrap();
        let dir_arg = dir.path().display().to_string();
        // Port 0: the kit finds the IPv4 port it got.
        let peer = Peer::spawn(
            "nghttpd",
            &["--no-tls", "-n", "1", "-d", &dir_arg, "0"],
            "Debian's nghttp2-server is needed; scripts/peers.sh installs it",
        );
        Nghttpd { peer, _dir: dir }
    }
}

#[test]
fn http2_streams_against_nghttpd() {
    for client in [(H2Client::Lean, "event-loop"), (H2Client::Hyper, "hyper")] {
        streams_against_nghttpd(client);
    }
}

fn run_spec(spec: &BenchmarkSpec, client: (H2Client, &str)) -> meshbench_engine::RunOutput {
    let out = run_spec_with(spec, client.0, StopHandle::new(), &mut ()).unwrap();
    assert_eq!(out.result.loadgen.client.as_deref(), Some(client.1));
    out
}

fn streams_against_nghttpd(client: (H2Client, &str)) {
    // Bodies of 1000 bytes and, past the 64 KiB every window starts with, 300 KB.
    let body = vec![b'm'; 1000];
    let server = Nghttpd::start(&body);
    let mut spec = BenchmarkSpec::closed_get(format!("http://127.0.0.1:{}/", server.peer.port));
    spec.protocol = HttpVersion::Http2;
    spec.connections = 2;
    spec.streams = 8;
    spec.duration_s = Some(1.0);
    let out = run_spec(&spec, client);
    let r = &out.result;
    assert!(r.requests > 500, "{} requests", r.requests);
    assert_eq!(r.errors, 0, "{:?}", r.error_kinds);
    assert_eq!(r.status_codes.get("200"), Some(&r.requests));
    // Every answer carried the whole file.
    assert!(
        r.bytes_received >= r.requests * 1000,
        "{} bytes",
        r.bytes_received
    );

    let mut missing = spec.clone();
    missing.requests[0].url = format!("http://127.0.0.1:{}/nope", server.peer.port);
    let out = run_spec(&missing, client);
    assert_eq!(
        out.result.status_codes.get("404"),
        Some(&out.result.requests)
    );

    std::fs::write(server._dir.path().join("big.html"), vec![b'b'; 300_000]).unwrap();
    let mut big = spec.clone();
    big.requests[0].url = format!("http://127.0.0.1:{}/big.html", server.peer.port);
    let out = run_spec(&big, client);
    let r = &out.result;
    assert!(r.requests > 20, "{}: {} requests", client.1, r.requests);
    assert_eq!(r.errors, 0, "{}: {:?}", client.1, r.error_kinds);
    assert!(
        r.bytes_received >= r.requests * 300_000,
        "{}: {} bytes for {} requests",
        client.1,
        r.bytes_received,
        r.requests
    );
}
