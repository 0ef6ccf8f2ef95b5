//! Listening, accepting and serving connections; the running-server handle.
//!
//! One accept loop per server hands each connection to its own task, which runs hyper-util's
//! auto builder: it reads the first bytes and serves HTTP/1.1 or HTTP/2 (h2c, prior knowledge)
//! on the same port. Shutdown is a `watch` flag: the accept loop stops, every connection is
//! asked to finish gracefully, and whatever is still busy after [`SHUTDOWN_GRACE`] is aborted.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Either;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

use crate::delay::Sleeper;
use crate::handler::{self, ConnState, Shared};
use crate::pause::Pause;
use crate::{Error, Result, TargetConfig};

/// How long in-flight requests may take to finish once shutdown starts.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Listen backlog: load generators open hundreds of connections at once at the start of a run.
const BACKLOG: u32 = 4096;

/// Concurrent HTTP/2 streams per connection; above hyper's 200 so h2 load generators with many
/// streams per connection are not throttled by the target.
const MAX_CONCURRENT_STREAMS: u32 = 1024;

type Builder = auto::Builder<TokioExecutor>;

/// A running target server. Dropping it stops the server too, less politely than
/// [`TargetServer::shutdown`] (which also waits for connections to end).
#[derive(Debug)]
pub struct TargetServer {
    http_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    accept_task: JoinHandle<()>,
}

impl TargetServer {
    /// Binds (port 0 allowed) and starts serving on the current tokio runtime (multi-thread or current-thread).
    pub async fn start(config: TargetConfig) -> Result<TargetServer> {
        let listener = bind(config.http_addr)?;
        let http_addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.http_addr,
            source,
        })?;
        let shared = Arc::new(Shared {
            pause: Pause::new(),
            sleeper: Sleeper::start().map_err(Error::Thread)?,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http2()
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS);
        let accept_task = tokio::spawn(accept_loop(
            listener,
            Arc::new(builder),
            shared.clone(),
            shutdown_rx,
        ));
        tracing::info!(%http_addr, "target serving HTTP/1.1 and h2c");
        Ok(TargetServer {
            http_addr,
            shared,
            shutdown,
            accept_task,
        })
    }

    /// The address actually bound (with the real port when the config asked for port 0).
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Holds back every answer, including those already in progress, until `d` from now.
    pub fn pause_for(&self, d: Duration) {
        self.shared.pause.pause_for(d);
    }

    /// Stops accepting, lets in-flight requests finish (up to a short grace), then ends all
    /// connections.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        if let Err(e) = self.accept_task.await {
            if e.is_panic() {
                tracing::error!("target accept loop panicked: {e}");
            }
        }
    }
}

/// Binds a listener with `SO_REUSEADDR` and a deep backlog.
fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let bind_error = |source| Error::Bind { addr, source };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(bind_error)?;
    socket.set_reuseaddr(true).map_err(bind_error)?;
    socket.bind(addr).map_err(bind_error)?;
    socket.listen(BACKLOG).map_err(bind_error)
}

async fn accept_loop(
    listener: TcpListener,
    builder: Arc<Builder>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            // Ok: shutdown() was called; Err: the handle was dropped. Either way, stop.
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    connections.spawn(serve_connection(
                        stream,
                        builder.clone(),
                        shared.clone(),
                        shutdown.clone(),
                    ));
                }
                Err(e) => accept_error(e).await,
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::debug!(
            remaining = connections.len(),
            "target connections still busy after the grace period; closing them"
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}

/// Per-connection accept failures are skipped; resource exhaustion (out of file descriptors)
/// backs off briefly rather than spinning on a listener that cannot make progress.
async fn accept_error(e: io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => tracing::debug!("target accept: {e}"),
        _ => {
            tracing::warn!("target accept failed: {e}; retrying in 100ms");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    builder: Arc<Builder>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("target: cannot set TCP_NODELAY: {e}");
    }
    let state = Arc::new(ConnState {
        shared,
        close: Notify::new(),
    });
    let service = {
        let state = state.clone();
        service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let state = state.clone();
            async move {
                // gRPC calls get their own body type (trailers); HTTP keeps its plain one.
                if crate::grpc::is_grpc(&req) {
                    let resp = crate::grpc::handle(&state.shared, req).await;
                    Ok::<_, std::convert::Infallible>(resp.map(|b| Either::Right(Either::Left(b))))
                } else if crate::model::is_model_path(req.uri().path()) {
                    let resp = crate::model::handle(Arc::clone(&state.shared), req).await;
                    Ok(resp.map(|b| Either::Right(Either::Right(b))))
                } else {
                    let resp = handler::handle(state, req).await?;
                    Ok(resp.map(Either::Left))
                }
            }
        })
    };
    // With upgrades, so `/ws` can switch the connection to WebSocket.
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("target connection ended with an error: {e}");
                }
                return;
            }
            _ = state.close.notified(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = shutdown.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
