//! WebSocket through tokio-tungstenite, over the same TCP and TLS set-up as the HTTP drivers.
//! A lane is one connection; each exchange sends one message (text or binary, of the spec's
//! size) and waits for its echo, so latency is the message round trip. In hold mode the
//! exchange is a ping and its pong: the connections are kept open and what counts is how many
//! survive. Handshake times go into a histogram of their own, beside the engine's.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use meshbench_core::{histogram, BenchmarkSpec, ErrorKind, WebSocketResult, WebSocketSpec};
use meshbench_engine::driver::Failure;
use meshbench_engine::{Driver, Exchange, Session};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use crate::net::{self, Origin, Stream};

/// WebSocket messages (or pings, in hold mode) over one connection per lane.
#[derive(Debug, Clone)]
pub struct WebSocketDriver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Origin,
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    options: WebSocketSpec,
    payload: Bytes,
    text: Option<tokio_tungstenite::tungstenite::Utf8Bytes>,
    stats: Stats,
    /// Message counts cover the round trips inside it.
    window: crate::window::MeasuredWindow,
}

#[derive(Debug)]
struct Stats {
    connect_us: Mutex<Histogram<u64>>,
    opened: AtomicU64,
    failed: AtomicU64,
    closed: AtomicU64,
    alive: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
}

impl WebSocketDriver {
    /// Builds the driver for a validated `websocket` spec.
    pub fn new(spec: &BenchmarkSpec) -> crate::Result<Self> {
        let origin = Origin::for_spec(spec, b"http/1.1")?;
        let invalid = crate::Error::invalid;
        let options = spec
            .websocket
            .clone()
            .ok_or_else(|| invalid("websocket", "WebSocket options are missing".into()))?;
        let request = spec
            .requests
            .first()
            .ok_or_else(|| invalid("url", "at least one URL is needed".into()))?;
        let mut headers = Vec::new();
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| invalid("header", e.to_string()))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| invalid("header", e.to_string()))?;
            headers.push((name, value));
        }
        // Printable ASCII, so the same bytes make a valid text message.
        let payload: Vec<u8> = (0..options.message_size as usize)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        // Built once: each send clones a reference-counted buffer, not the payload.
        let text = (!options.binary).then(|| {
            tokio_tungstenite::tungstenite::Utf8Bytes::from(
                String::from_utf8_lossy(&payload).into_owned(),
            )
        });
        Ok(WebSocketDriver {
            shared: Arc::new(Shared {
                origin,
                url: request.url.clone(),
                headers,
                options,
                payload: Bytes::from(payload),
                text,
                stats: Stats {
                    connect_us: Mutex::new(histogram::new_histogram()),
                    opened: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    closed: AtomicU64::new(0),
                    alive: AtomicU64::new(0),
                    sent: AtomicU64::new(0),
                    received: AtomicU64::new(0),
                },
                window: crate::window::MeasuredWindow::for_spec(spec),
            }),
        })
    }

    /// The WebSocket section of the result; call once the run is over (every lane dropped).
    pub fn report(&self) -> WebSocketResult {
        let stats = &self.shared.stats;
        let connect = stats
            .connect_us
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone());
        WebSocketResult {
            connections_opened: stats.opened.load(Relaxed),
            connections_failed: stats.failed.load(Relaxed),
            connections_alive: stats.alive.load(Relaxed),
            connections_closed: stats.closed.load(Relaxed),
            connect_us: histogram::summarize(&connect),
            connect_histogram: histogram::encode_base64(&connect).unwrap_or_default(),
            messages_sent: stats.sent.load(Relaxed),
            messages_received: stats.received.load(Relaxed),
            message_size: self.shared.options.message_size,
            binary: self.shared.options.binary,
            hold: self.shared.options.hold,
        }
    }
}

/// One connection's lane.
pub struct WebSocketSession {
    shared: Arc<Shared>,
    /// False for the pre-flight's session, whose messages are not the run's.
    record: bool,
    socket: Option<WebSocketStream<Stream>>,
    last_error: String,
}

impl std::fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketSession")
            .field("connected", &self.socket.is_some())
            .finish_non_exhaustive()
    }
}

impl Drop for WebSocketSession {
    fn drop(&mut self) {
        if self.socket.is_some() {
            self.shared.stats.alive.fetch_add(1, Relaxed);
        }
    }
}

impl Driver for WebSocketDriver {
    type Session = WebSocketSession;

    type Error = crate::Error;

    async fn preflight(&self) -> crate::Result<()> {
        let mut session = WebSocketSession {
            shared: Arc::clone(&self.shared),
            record: false,
            socket: None,
            last_error: String::new(),
        };
        let outcome = session.call(0).await;
        // The preflight's connection is not one of the run's.
        if let Some(mut socket) = session.socket.take() {
            let _ = socket.close(None).await;
        }
        let stats = &self.shared.stats;
        stats.opened.store(0, Relaxed);
        if let Ok(mut h) = stats.connect_us.lock() {
            h.reset();
        }
        match outcome {
            Ok(_) => Ok(()),
            Err(failure) => {
                stats.failed.store(0, Relaxed);
                Err(crate::Error::unreachable(
                    &self.shared.origin.endpoint,
                    failure.kind,
                    std::mem::take(&mut session.last_error),
                ))
            }
        }
    }

    fn open(&self, _connection: usize, _streams: usize) -> Vec<WebSocketSession> {
        vec![WebSocketSession {
            shared: Arc::clone(&self.shared),
            record: true,
            socket: None,
            last_error: String::new(),
        }]
    }
}

impl Session for WebSocketSession {
    async fn call(&mut self, _seq: u64) -> Result<Exchange, Failure> {
        match self.exchange().await {
            Ok(exchange) => Ok(exchange),
            Err((kind, message)) => {
                self.last_error = message;
                Err(Failure::from(kind))
            }
        }
    }

    fn abandon(&mut self) {
        if self.socket.take().is_some() {
            self.shared.stats.closed.fetch_add(1, Relaxed);
        }
    }
}

impl WebSocketSession {
    async fn exchange(&mut self) -> Result<Exchange, (ErrorKind, String)> {
        if self.socket.is_none() {
            self.socket = Some(self.connect().await?);
        }
        let shared = Arc::clone(&self.shared);
        let Some(socket) = self.socket.as_mut() else {
            return Err((ErrorKind::Io, "no connection".into()));
        };
        let size = shared.payload.len() as u64;
        let message = if shared.options.hold {
            Message::Ping(shared.payload.slice(..shared.payload.len().min(125)))
        } else if let Some(text) = &shared.text {
            Message::Text(text.clone())
        } else {
            Message::Binary(shared.payload.clone())
        };
        let sent_len = match &message {
            Message::Ping(p) => p.len() as u64,
            _ => size,
        };
        let started = std::time::Instant::now();
        if let Err(e) = socket.send(message).await {
            return Err(self.lost(e));
        }
        // Messages count when sent inside the measured period; echoes when they also arrive
        // before its end.
        let counted = self.record && shared.window.contains(started);
        if counted {
            shared.stats.sent.fetch_add(1, Relaxed);
        }
        loop {
            let Some(socket) = self.socket.as_mut() else {
                return Err((ErrorKind::Io, "no connection".into()));
            };
            let next = socket.next().await;
            let reply = match next {
                Some(Ok(m)) => m,
                Some(Err(e)) => return Err(self.lost(e)),
                None => return Err(self.lost(WsError::ConnectionClosed)),
            };
            let got = match reply {
                Message::Pong(p) if shared.options.hold => p.len() as u64,
                Message::Text(t) if !shared.options.hold => t.len() as u64,
                Message::Binary(b) if !shared.options.hold => b.len() as u64,
                Message::Close(_) => return Err(self.lost(WsError::ConnectionClosed)),
                // Server pings are answered by tungstenite; anything else is not our echo.
                _ => continue,
            };
            if got != sent_len {
                self.drop_connection();
                return Err((
                    ErrorKind::Protocol,
                    format!("the echo had {got} bytes, {sent_len} were sent"),
                ));
            }
            if counted && shared.window.contains(started) {
                shared.stats.received.fetch_add(1, Relaxed);
            }
            return Ok(Exchange {
                status: 0,
                // Client frames carry a 4-byte mask; both ways add the frame header.
                bytes_sent: sent_len + frame_header(sent_len) + 4,
                bytes_received: got + frame_header(got),
                failed: false,
            });
        }
    }

    async fn connect(&mut self) -> Result<WebSocketStream<Stream>, (ErrorKind, String)> {
        let shared = Arc::clone(&self.shared);
        let result = self.handshake(&shared).await;
        match &result {
            Ok(_) => shared.stats.opened.fetch_add(1, Relaxed),
            Err(_) => shared.stats.failed.fetch_add(1, Relaxed),
        };
        result
    }

    async fn handshake(
        &self,
        shared: &Shared,
    ) -> Result<WebSocketStream<Stream>, (ErrorKind, String)> {
        let started = Instant::now();
        let timeout = shared.origin.connect_timeout;
        let stream = net::connect(&shared.origin).await?;
        let mut request = shared
            .url
            .as_str()
            .into_client_request()
            .map_err(|e| (ErrorKind::Protocol, format!("bad WebSocket URL: {e}")))?;
        for (name, value) in &shared.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        let upgraded =
            tokio::time::timeout(timeout, tokio_tungstenite::client_async(request, stream))
                .await
                .map_err(|_| {
                    (
                        ErrorKind::ConnectTimeout,
                        "the WebSocket upgrade timed out".to_string(),
                    )
                })?;
        let (socket, _response) = upgraded.map_err(|e| match e {
            WsError::Http(response) => (
                ErrorKind::Protocol,
                format!(
                    "the server refused the WebSocket upgrade: HTTP {}",
                    response.status()
                ),
            ),
            other => classify(other),
        })?;
        let micros = histogram::micros(started.elapsed());
        if let Ok(mut h) = shared.stats.connect_us.lock() {
            histogram::record_us(&mut h, micros);
        }
        Ok(socket)
    }

    fn lost(&mut self, e: WsError) -> (ErrorKind, String) {
        self.drop_connection();
        classify(e)
    }

    fn drop_connection(&mut self) {
        if self.socket.take().is_some() {
            self.shared.stats.closed.fetch_add(1, Relaxed);
        }
    }
}

/// The header bytes of a frame carrying `len` payload bytes.
fn frame_header(len: u64) -> u64 {
    match len {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    }
}

fn classify(e: WsError) -> (ErrorKind, String) {
    let kind = match &e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => ErrorKind::Closed,
        WsError::Io(io) => crate::io_error::kind_of(io),
        WsError::Tls(_) => ErrorKind::Tls,
        _ => ErrorKind::Protocol,
    };
    (kind, format!("WebSocket: {e}"))
}
