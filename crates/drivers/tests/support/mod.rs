//! What the driver tests share: the built-in target on loopback, free ports, third-party
//! servers run as child processes, and a TLS server configuration with a self-signed
//! certificate. Each test file uses part of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshbench_target::{TargetConfig, TargetServer};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The built-in target on a loopback port, on a runtime of its own.
pub struct Target {
    /// Kept alive for the server's tasks.
    pub runtime: tokio::runtime::Runtime,
    /// The server.
    pub server: TargetServer,
}

impl Target {
    /// Starts it.
    pub fn start() -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let server = runtime
            .block_on(TargetServer::start(TargetConfig::new(addr)))
            .unwrap();
        Target { runtime, server }
    }

    /// `scheme://addr` followed by `rest` (a path and query, or nothing).
    pub fn url(&self, scheme: &str, rest: &str) -> String {
        format!("{scheme}://{}{rest}", self.server.http_addr())
    }
}

/// A port nothing listens on (just now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A third-party server in a child process, killed (and reaped) on drop.
pub struct Peer {
    child: Child,
    /// Where it listens.
    pub port: u16,
}

impl Peer {
    /// Runs `program args…` and waits until `port` accepts; `hint` says how to install the
    /// program when it is missing or does not come up.
    pub fn spawn(program: &str, args: &[&str], port: u16, hint: &str) -> Peer {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {hint}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{program} did not start: {hint}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Peer { child, port }
    }

    /// A Python script as the server.
    pub fn python(script: &str, port: u16, hint: &str) -> Peer {
        Peer::spawn("python3", &["-c", script], port, hint)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TLS server configuration with a fresh self-signed certificate for 127.0.0.1, offering
/// `h2` and `http/1.1`.
pub fn self_signed_tls() -> tokio_rustls::TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
