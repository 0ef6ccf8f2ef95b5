//! The lean HTTP/1.1 path.
//!
//! Per exchange on a plain connection: one `send` of the pre-serialised request, then one
//! `recv` once epoll (edge-triggered, through tokio's reactor) says the response arrived.
//! The driver clears the socket's cached readiness itself after a read that drained the
//! socket, so it never spends a syscall on a `recv` that would only say EAGAIN, and it never
//! re-arms interest with `epoll_ctl` as wrk does. TLS connections use the same parser over
//! tokio-rustls.

mod request;
pub(crate) mod response;

use std::io::{Read, Write};
use std::sync::Arc;

use meshbench_core::{BenchmarkSpec, ErrorKind};
use meshbench_engine::driver::Failure;
use meshbench_engine::{
    absorb, Driver, Exchange, FeedError, FramedProtocol, ReaderProgress, ResponseReader, Session,
};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::io_error::kind_of;
use crate::net::{self, Origin};
use request::SerializedRequest;
use response::ResponseParser;

/// Read buffer per connection; bodies stream through it, so it bounds memory, not size.
const READ_BUFFER: usize = 16 * 1024;

/// HTTP/1.1 with keep-alive, plain or over TLS.
#[derive(Debug, Clone)]
pub struct Http1Driver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Origin,
    requests: Vec<SerializedRequest>,
}

impl Http1Driver {
    /// Builds the driver for a validated spec: resolves the target and serialises every
    /// request of the mix once.
    pub fn new(spec: &BenchmarkSpec) -> crate::Result<Self> {
        let origin = Origin::for_spec(spec, b"http/1.1")?;
        let endpoint = &origin.endpoint;
        let requests = spec
            .requests
            .iter()
            .map(|r| SerializedRequest::new(r, endpoint))
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Http1Driver {
            shared: Arc::new(Shared { origin, requests }),
        })
    }

    fn session(&self) -> Http1Session {
        Http1Session {
            shared: Arc::clone(&self.shared),
            conn: None,
            buf: vec![0; READ_BUFFER].into_boxed_slice(),
            last_error: String::new(),
        }
    }
}

impl Driver for Http1Driver {
    type Session = Http1Session;

    type Error = crate::Error;

    async fn preflight(&self) -> crate::Result<()> {
        let mut session = self.session();
        match session.call(0).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(crate::Error::unreachable(
                &self.shared.origin.endpoint,
                failure.kind,
                session.last_error,
            )),
        }
    }

    fn open(&self, _connection: usize, streams: usize) -> Vec<Http1Session> {
        // HTTP/1.1 has no streams; the spec validator refuses streams > 1.
        (0..streams.max(1)).map(|_| self.session()).collect()
    }
}

impl Http1Driver {
    /// True when the lean event-loop path applies (plain TCP; TLS goes through rustls).
    pub fn is_plain(&self) -> bool {
        self.shared.origin.tls.is_none()
    }
}

impl FramedProtocol for Http1Driver {
    type Reader = Http1Reader;

    fn address(&self) -> std::net::SocketAddr {
        self.shared.origin.endpoint.addr
    }

    #[inline]
    fn request(&self, seq: u64) -> &[u8] {
        let requests = &self.shared.requests;
        requests[(seq % requests.len() as u64) as usize].bytes()
    }

    #[inline]
    fn reader(&self, seq: u64) -> Http1Reader {
        let requests = &self.shared.requests;
        Http1Reader(ResponseParser::new(
            requests[(seq % requests.len() as u64) as usize].is_head(),
        ))
    }
}

/// The HTTP/1.1 response parser as the engine's event loop drives it.
#[derive(Debug)]
pub struct Http1Reader(ResponseParser);

impl ResponseReader for Http1Reader {
    #[inline]
    fn feed(&mut self, data: &[u8]) -> Result<ReaderProgress, FeedError> {
        match self.0.feed(data) {
            Ok(feed) => Ok(ReaderProgress {
                consumed: feed.consumed,
                done: feed.done,
            }),
            Err(e) => Err(FeedError::protocol(e.0)),
        }
    }

    fn eof(&mut self) -> bool {
        self.0.eof()
    }

    fn status(&self) -> u16 {
        self.0.status
    }

    fn failed(&self) -> bool {
        meshbench_engine::is_http_failure(self.0.status)
    }

    fn keep_alive(&self) -> bool {
        self.0.keep_alive
    }
}

enum Conn {
    Plain(AsyncFd<std::net::TcpStream>),
    Tls(Box<TlsStream<TcpStream>>),
}

/// One HTTP/1.1 connection, reconnected whenever the last exchange left it unusable.
pub struct Http1Session {
    shared: Arc<Shared>,
    conn: Option<Conn>,
    buf: Box<[u8]>,
    last_error: String,
}

impl std::fmt::Debug for Http1Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Session")
            .field("connected", &self.conn.is_some())
            .finish()
    }
}

impl Http1Session {
    async fn connect(&mut self) -> Result<(), Failure> {
        let shared = Arc::clone(&self.shared);
        let stream = net::tcp(&shared.origin.endpoint, shared.origin.connect_timeout)
            .await
            .map_err(|(kind, message)| self.fail(kind, message))?;
        let conn = match &shared.origin.tls {
            Some(tls) => Conn::Tls(Box::new(
                tls.handshake(stream, shared.origin.connect_timeout)
                    .await
                    .map_err(|(kind, message)| self.fail(kind, message))?,
            )),
            None => {
                let std = stream
                    .into_std()
                    .map_err(|e| self.fail(kind_of(&e), e.to_string()))?;
                // SAFETY: the std stream owns its descriptor, which stays open and unchanged
                // until the AsyncFd (and the stream inside it) is dropped.
                let fd = unsafe { AsyncFd::register(std) }
                    .map_err(|e| self.fail(ErrorKind::Io, e.to_string()))?;
                Conn::Plain(fd)
            }
        };
        self.conn = Some(conn);
        Ok(())
    }

    #[cold]
    fn fail(&mut self, kind: ErrorKind, message: String) -> Failure {
        self.last_error = message;
        Failure::from(kind)
    }

    async fn exchange(
        &mut self,
        index: usize,
    ) -> Result<(Exchange, bool), (ErrorKind, String, u64, u64)> {
        let Http1Session {
            shared, conn, buf, ..
        } = self;
        let request = &shared.requests[index];
        let Some(conn) = conn.as_mut() else {
            return Err((ErrorKind::Io, "not connected".into(), 0, 0));
        };
        let bytes = request.bytes();
        let sent = bytes.len() as u64;
        let mut received = 0u64;
        let io_fail =
            |e: std::io::Error, received: u64| (kind_of(&e), e.to_string(), sent, received);

        match conn {
            Conn::Plain(fd) => write_plain(fd, bytes).await.map_err(|e| io_fail(e, 0))?,
            Conn::Tls(tls) => {
                tls.write_all(bytes).await.map_err(|e| io_fail(e, 0))?;
                tls.flush().await.map_err(|e| io_fail(e, 0))?;
            }
        }

        let mut reader = Http1Reader(ResponseParser::new(request.is_head()));
        let mut filled = 0usize;
        loop {
            let n = match conn {
                Conn::Plain(fd) => read_plain(fd, &mut buf[filled..]).await,
                Conn::Tls(tls) => tls.read(&mut buf[filled..]).await,
            }
            .map_err(|e| io_fail(e, received))?;
            if n == 0 {
                if reader.eof() {
                    break;
                }
                let why = if reader.0.started() {
                    "the connection closed in the middle of a response"
                } else {
                    "the connection closed before a response"
                };
                return Err((ErrorKind::Closed, why.into(), sent, received));
            }
            received += n as u64;
            filled += n;
            match absorb(&mut reader, buf, &mut filled) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err((e.kind, e.message, sent, received)),
            }
        }
        let exchange = Exchange::http(reader.0.status, sent, received);
        Ok((exchange, reader.0.keep_alive))
    }
}

/// Writes the whole request; one `send` unless the socket buffer is full.
async fn write_plain(fd: &AsyncFd<std::net::TcpStream>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match fd.get_ref().write(bytes) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                fd.writable().await?.clear_ready();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived, waiting for readiness first. A read that returns less than it
/// asked for emptied the socket, so readiness is cleared at once: the next wait goes
/// straight to epoll instead of through a `recv` that would fail with EAGAIN.
#[inline]
async fn read_plain(fd: &AsyncFd<std::net::TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        let mut guard = fd.readable().await?;
        match guard.get_inner().read(buf) {
            Ok(n) => {
                if n < buf.len() && n > 0 {
                    guard.clear_ready();
                }
                return Ok(n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => guard.clear_ready(),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Session for Http1Session {
    async fn call(&mut self, seq: u64) -> Result<Exchange, Failure> {
        if self.conn.is_none() {
            self.connect().await?;
        }
        let index = (seq % self.shared.requests.len() as u64) as usize;
        match self.exchange(index).await {
            Ok((exchange, keep_alive)) => {
                if !keep_alive {
                    self.conn = None;
                }
                Ok(exchange)
            }
            Err((kind, message, bytes_sent, bytes_received)) => {
                self.conn = None;
                self.last_error = message;
                Err(Failure {
                    kind,
                    bytes_sent,
                    bytes_received,
                })
            }
        }
    }

    fn abandon(&mut self) {
        self.conn = None;
    }
}
