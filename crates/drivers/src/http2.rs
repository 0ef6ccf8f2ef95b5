//! HTTP/2 through hyper: h2c with prior knowledge for `http://`, ALPN `h2` for `https://`.
//! Each connection carries `streams` lanes that share one hyper `SendRequest`; a lane that
//! finds the connection gone reconnects it for all of them.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use meshbench_core::{BenchmarkSpec, ErrorKind};
use meshbench_engine::driver::Failure;
use meshbench_engine::{Driver, Exchange, Session};

use crate::net::{self, Origin};

/// HTTP/2 over hyper's client connection.
#[derive(Debug, Clone)]
pub struct Http2Driver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Origin,
    requests: Vec<Template>,
}

#[derive(Debug, Clone)]
struct Template {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    /// Rough size of the request on the wire (HPACK makes the real size smaller).
    size: u64,
}

impl Http2Driver {
    /// Builds the driver for a validated spec.
    pub fn new(spec: &BenchmarkSpec) -> crate::Result<Self> {
        let origin = Origin::for_spec(spec, b"h2")?;
        let invalid = crate::Error::invalid;
        let requests = spec
            .requests
            .iter()
            .map(|r| {
                let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
                    .map_err(|e| invalid("method", e.to_string()))?;
                let uri: Uri = r
                    .url
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| invalid("url", e.to_string()))?;
                let mut headers = HeaderMap::new();
                let mut size = (r.method.len() + r.url.len()) as u64;
                for (name, value) in &r.headers {
                    // HTTP/2 carries the authority in :authority; a Host header is redundant.
                    if name.eq_ignore_ascii_case("host") {
                        continue;
                    }
                    let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|e| invalid("header", e.to_string()))?;
                    let value = HeaderValue::from_str(value)
                        .map_err(|e| invalid("header", e.to_string()))?;
                    size += (name.as_str().len() + value.len()) as u64;
                    headers.append(name, value);
                }
                let body = Bytes::from(r.body.clone().unwrap_or_default().into_bytes());
                size += body.len() as u64;
                Ok(Template {
                    method,
                    uri,
                    headers,
                    body,
                    size,
                })
            })
            .collect::<crate::Result<Vec<_>>>()?;
        Ok(Http2Driver {
            shared: Arc::new(Shared { origin, requests }),
        })
    }
}

impl Http2Driver {
    /// The lean HTTP/2 path for this driver's requests: h2c with prior knowledge, or TLS
    /// with ALPN h2.
    pub fn lean(&self) -> crate::lean_h2::LeanHttp2<Http2Driver> {
        let shared = &self.shared;
        let requests = shared
            .requests
            .iter()
            .map(|t| {
                crate::lean_h2::H2Request::new(
                    &t.method,
                    &t.uri,
                    &shared.origin.endpoint.authority,
                    &t.headers,
                    t.body.clone(),
                )
            })
            .collect();
        crate::lean_h2::LeanHttp2::new(
            shared.origin.endpoint.addr,
            requests,
            crate::lean_h2::Answers::Http,
            shared.origin.tls.clone(),
            Arc::new(self.clone()),
        )
    }
}

/// A request body: whole (every HTTP/2 request, most gRPC calls), or fed frame by frame
/// while the call is open (interactive gRPC bidi streams).
pub(crate) type H2Body = http_body_util::Either<Full<Bytes>, ChannelBody>;

/// Frames sent into an open request.
pub(crate) type BodyFrame = Result<hyper::body::Frame<Bytes>, std::convert::Infallible>;

/// A body whose frames arrive over a channel.
pub(crate) struct ChannelBody(pub(crate) tokio::sync::mpsc::Receiver<BodyFrame>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<BodyFrame>> {
        self.0.poll_recv(cx)
    }
}

/// One HTTP/2 connection shared by the lanes (streams) opened on it.
#[derive(Default)]
pub(crate) struct Connection {
    sender: RefCell<Option<SendRequest<H2Body>>>,
    connecting: tokio::sync::Mutex<()>,
}

/// One stream lane of an HTTP/2 connection.
pub struct Http2Session {
    shared: Arc<Shared>,
    connection: Rc<Connection>,
    last_error: String,
}

impl std::fmt::Debug for Http2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Session").finish_non_exhaustive()
    }
}

impl Driver for Http2Driver {
    type Session = Http2Session;

    type Error = crate::Error;

    async fn preflight(&self) -> crate::Result<()> {
        let mut session = Http2Session {
            shared: Arc::clone(&self.shared),
            connection: Rc::new(Connection::default()),
            last_error: String::new(),
        };
        match session.call(0).await {
            Ok(_) => Ok(()),
            Err(failure) => Err(crate::Error::unreachable(
                &self.shared.origin.endpoint,
                failure.kind,
                session.last_error,
            )),
        }
    }

    fn open(&self, _connection: usize, streams: usize) -> Vec<Http2Session> {
        let connection = Rc::new(Connection::default());
        (0..streams.max(1))
            .map(|_| Http2Session {
                shared: Arc::clone(&self.shared),
                connection: Rc::clone(&connection),
                last_error: String::new(),
            })
            .collect()
    }
}

impl Http2Session {
    async fn sender(&self) -> Result<SendRequest<H2Body>, (ErrorKind, String)> {
        h2_sender(&self.shared.origin, &self.connection).await
    }

    async fn exchange(&self, index: usize) -> Result<Exchange, (ErrorKind, String)> {
        let template = &self.shared.requests[index];
        let mut sender = self.sender().await?;
        let mut request = Request::new(H2Body::Left(Full::new(template.body.clone())));
        *request.method_mut() = template.method.clone();
        *request.uri_mut() = template.uri.clone();
        *request.headers_mut() = template.headers.clone();
        sender.ready().await.map_err(classify)?;
        let response = sender.send_request(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let mut received: u64 = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().len() + v.len()) as u64)
            .sum();
        let mut body = response.into_body();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(classify)?;
            if let Some(data) = frame.data_ref() {
                received += data.len() as u64;
            }
        }
        Ok(Exchange::http(status, template.size, received))
    }
}

/// The live sender of `connection`, connecting (once, for all its lanes) when there is none.
pub(crate) async fn h2_sender(
    origin: &Origin,
    connection: &Connection,
) -> Result<SendRequest<H2Body>, (ErrorKind, String)> {
    if let Some(sender) = live_sender(connection) {
        return Ok(sender);
    }
    // One lane reconnects; the others wait for it and then share the new connection.
    let _guard = connection.connecting.lock().await;
    if let Some(sender) = live_sender(connection) {
        return Ok(sender);
    }
    let tcp = net::tcp(&origin.endpoint, origin.connect_timeout).await?;
    let handshake = |e: hyper::Error| (ErrorKind::Protocol, format!("HTTP/2 handshake: {e}"));
    let sender = match &origin.tls {
        Some(tls) => {
            let stream = tls.handshake(tcp, origin.connect_timeout).await?;
            let (sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                    .await
                    .map_err(handshake)?;
            tokio::spawn(conn);
            sender
        }
        None => {
            let (sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                    .await
                    .map_err(handshake)?;
            tokio::spawn(conn);
            sender
        }
    };
    *connection.sender.borrow_mut() = Some(sender.clone());
    Ok(sender)
}

fn live_sender(connection: &Connection) -> Option<SendRequest<H2Body>> {
    connection
        .sender
        .borrow()
        .as_ref()
        .filter(|s| !s.is_closed())
        .cloned()
}

/// Forgets a connection whose last exchange left it unusable.
pub(crate) fn forget(connection: &Connection) {
    *connection.sender.borrow_mut() = None;
}

/// The error kind of a hyper error, with its message.
pub(crate) fn classify(e: hyper::Error) -> (ErrorKind, String) {
    use std::error::Error as _;
    let mut source = e.source();
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return (crate::io_error::kind_of(io), e.to_string());
        }
        source = inner.source();
    }
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_canceled() || e.is_closed() || e.is_incomplete_message() {
        ErrorKind::Closed
    } else {
        ErrorKind::Protocol
    };
    (kind, e.to_string())
}

impl Session for Http2Session {
    async fn call(&mut self, seq: u64) -> Result<Exchange, Failure> {
        let index = (seq % self.shared.requests.len() as u64) as usize;
        match self.exchange(index).await {
            Ok(exchange) => Ok(exchange),
            Err((kind, message)) => {
                self.last_error = message;
                if matches!(
                    kind,
                    ErrorKind::Closed | ErrorKind::Reset | ErrorKind::Protocol | ErrorKind::Io
                ) {
                    *self.connection.sender.borrow_mut() = None;
                }
                Err(Failure::from(kind))
            }
        }
    }

    fn abandon(&mut self) {
        // The stream is reset when its future is dropped; the connection stays usable.
    }
}
