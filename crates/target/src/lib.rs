//! The built-in HTTP target of meshbench: a deliberately simple server to measure meshes
//! against, for baselines, demos and the load engine's integration tests.
//!
//! Why a target of our own rather than any echo server: a mesh comparison is only fair if the
//! backend costs the same every time and can be told, per request, to misbehave in known ways.
//! Like fortio's, this target takes its faults from the query string, so one URL describes the
//! workload and no redeploy is needed to change it:
//!
//! | parameter | effect |
//! | --- | --- |
//! | `delay=10ms`, `delay=5ms:50ms` | wait a fixed or uniformly random time before answering |
//! | `size=1024` | answer with exactly that many body bytes (at most 64 MiB) |
//! | `status=503`, `status=503:5,500:1` | a fixed status, or statuses for a percentage of requests (200 otherwise) |
//! | `close=1` | answer, then close the connection |
//!
//! A bad value is answered with 400 naming the parameter. `GET /ws` upgrades to a WebSocket
//! that echoes every text or binary message (after `delay=`, if given), answers pings, and
//! closes when asked. gRPC calls (`application/grpc`, over h2c) reach the echo service of
//! `proto/meshbench/echo/v1/echo.proto`. `/v1/...` and `/v2/...` are a mock model server
//! (OpenAI-compatible completions with streaming, and the Open Inference Protocol v2) with
//! `ttft=`, `token_rate=` and `compute=` controls. `GET /health` answers
//! `{"status":"ok"}`; `POST /control/pause?duration=1s` (or [`TargetServer::pause_for`]) holds
//! back every answer for a while, which is how tests check that a load generator accounts for
//! coordinated omission. The control endpoints are never paused themselves.
//!
//! HTTP/1.1 (keep-alive) and HTTP/2 without TLS (h2c, prior knowledge) share one port. The
//! handler is kept lean — no query parsing, clock reads or allocation of the body when no
//! control is given — because a load generator's own numbers are measured against it.

mod body;
mod controls;
mod delay;
mod grpc;
mod handler;
mod model;
mod pause;
mod random;
mod server;
mod websocket;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

pub use server::TargetServer;

/// Why the target could not start or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The HTTP listener could not be set up on `addr` (in use, not permitted, not local…).
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Waiting for a shutdown signal (ctrl-c, SIGTERM) failed.
    #[error("cannot listen for the shutdown signal")]
    Signal(#[source] io::Error),
    /// The OS would not start the delay thread.
    #[error("cannot start the delay thread")]
    Thread(#[source] io::Error),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where and how the target serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetConfig {
    /// Address of the HTTP/1.1 + h2c listener; port 0 picks a free port.
    pub http_addr: SocketAddr,
}

impl TargetConfig {
    /// A config serving HTTP on `http_addr`.
    pub fn new(http_addr: SocketAddr) -> Self {
        TargetConfig { http_addr }
    }
}

impl Default for TargetConfig {
    /// `127.0.0.1:8080`, the address the docs use.
    fn default() -> Self {
        TargetConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)))
    }
}

/// Runs until ctrl-c: used by `meshbench target --http 127.0.0.1:8080`.
///
/// SIGTERM is honoured too on Unix, so the target stops gracefully in a container. `ready` is
/// given the address bound (the real port when the config asked for port 0) once it serves.
pub async fn serve_until_ctrl_c(
    config: TargetConfig,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let server = TargetServer::start(config).await?;
    tracing::info!(addr = %server.http_addr(), "target running; ctrl-c to stop");
    ready(server.http_addr());
    let signal = shutdown_signal().await;
    server.shutdown().await;
    signal
}

#[cfg(unix)]
async fn shutdown_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(Error::Signal)?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.map_err(Error::Signal),
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() -> Result<()> {
    tokio::signal::ctrl_c().await.map_err(Error::Signal)
}
