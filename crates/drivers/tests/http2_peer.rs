//! The HTTP/2 driver against a server no one here wrote: nghttpd (Debian's nghttp2-server,
//! installed by the test command), h2c with prior knowledge, serving a static file.
#![allow(clippy::unwrap_used)]

mod support;

use meshbench_core::{BenchmarkSpec, HttpVersion};
use meshbench_drivers::run_spec;
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
    let body = vec![b'm'; 1000];
    let server = Nghttpd::start(&body);
    let mut spec = BenchmarkSpec::closed_get(format!("http://127.0.0.1:{}/", server.peer.port));
    spec.protocol = HttpVersion::Http2;
    spec.connections = 2;
    spec.streams = 8;
    spec.duration_s = Some(1.0);
    let out = run_spec(&spec, StopHandle::new(), &mut ()).unwrap();
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
    let out = run_spec(&missing, StopHandle::new(), &mut ()).unwrap();
    assert_eq!(
        out.result.status_codes.get("404"),
        Some(&out.result.requests)
    );
}
