//! gRPC over HTTP/2, with messages built at run time: the method's descriptor comes
//! from .proto files compiled in-process by protox (or the built-in echo service's, or the
//! server's own reflection service when no .proto is given), and each
//! request message from JSON through prost-reflect. No code generation, as ghz does it.
//! A lane is one HTTP/2 stream; `streams` lanes share a connection. A streaming call sends
//! all of the spec's messages and reads every response message; latency is the whole call.
//! Runs go through the lean HTTP/2 client ([`GrpcDriver::lean`]); the sessions here, on
//! hyper's client, do the preflight and runs with `MESHBENCH_H2_CLIENT=hyper`.

use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use http::{HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use meshbench_core::{BenchmarkSpec, ErrorKind, GrpcResult, GrpcSpec};
use meshbench_engine::driver::Failure;
use meshbench_engine::{Driver, Exchange, Session};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};

use crate::http2::{classify, forget, h2_sender, BodyFrame, ChannelBody, Connection, H2Body};
use crate::net::Origin;

/// The built-in echo service's .proto, as shipped in the repository.
pub const ECHO_PROTO: &str = include_str!("../../../proto/meshbench/echo/v1/echo.proto");

/// The built-in echo service's full name.
pub const ECHO_SERVICE: &str = "meshbench.echo.v1.Echo";

/// The Open Inference Protocol's gRPC service (a subset of KServe's grpc_predict_v2.proto).
pub const OIP_PROTO: &str = include_str!("../../../proto/kserve/v2/grpc_predict_v2.proto");
/// Its full service name.
pub const OIP_SERVICE: &str = "inference.GRPCInferenceService";

/// gRPC calls of one method.
#[derive(Debug, Clone)]
pub struct GrpcDriver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Origin,
    call: String,
    kind: &'static str,
    uri: Uri,
    headers: http::HeaderMap,
    /// Bodies, framed: one per message for single-request calls, one with every message
    /// for client-streaming and bidi calls.
    bodies: Vec<Bytes>,
    /// Message counts of the measured calls, shared with the lean HTTP/2 path.
    tally: Arc<GrpcTally>,
    server_streaming: bool,
    /// Bidi: each message framed on its own, sent one at a time, each waiting for its answer.
    bidi_frames: Option<Vec<Bytes>>,
}

/// gRPC message counts of the measured calls, kept beside the engine's figures.
#[derive(Debug)]
pub(crate) struct GrpcTally {
    /// Request messages sent.
    pub sent: AtomicU64,
    /// Response messages received.
    pub received: AtomicU64,
    /// Counts and stream timings cover the calls inside it.
    pub window: crate::window::MeasuredWindow,
    /// Request messages in one call.
    pub messages_per_call: u64,
    /// The method streams its response: each message's arrival is timed.
    pub server_streaming: bool,
    /// Streamed responses: time to the first message and gaps between messages, merged
    /// from the lanes (and lean connections) when they end.
    pub streams: std::sync::Mutex<(Histogram<u64>, Histogram<u64>)>,
    /// Bidi: each message's round trip, merged from the lanes when they end.
    pub round_trips: std::sync::Mutex<Histogram<u64>>,
}

impl GrpcDriver {
    /// Builds the driver for a validated `grpc` spec: compiles the .proto files, finds the
    /// method and turns every JSON message into its protobuf bytes; each failure names the
    /// field at fault (`proto`, `call`, `data`).
    pub fn new(spec: &BenchmarkSpec) -> crate::Result<Self> {
        let origin = Origin::for_spec(spec, b"h2")?;
        let invalid = crate::Error::invalid;
        let grpc = spec
            .grpc
            .clone()
            .ok_or_else(|| invalid("call", "gRPC options are missing".into()))?;
        let service = grpc
            .call
            .split_once('/')
            .map(|(s, _)| s)
            .unwrap_or_default();
        // No .proto for a service other than the built-in echo: ask the server itself.
        let pool = if grpc.proto.is_empty() && service != ECHO_SERVICE && service != OIP_SERVICE {
            crate::reflection::descriptors(&origin, service)?
        } else {
            descriptor_pool(&grpc)?
        };
        let method = find_method(&pool, &grpc.call)?;
        let input = method.input();
        let mut messages = Vec::with_capacity(grpc.data.len());
        for (i, value) in grpc.data.iter().enumerate() {
            let message = DynamicMessage::deserialize(input.clone(), value).map_err(|e| {
                invalid(
                    "data",
                    format!("message {} does not fit {}: {e}", i + 1, input.full_name()),
                )
            })?;
            messages.push(message.encode_to_vec());
        }
        let streaming_request = method.is_client_streaming();
        let bodies = if streaming_request {
            vec![frame_all(messages.iter())]
        } else {
            messages
                .iter()
                .map(|m| frame_all(std::iter::once(m)))
                .collect()
        };
        let kind = match (method.is_client_streaming(), method.is_server_streaming()) {
            (false, false) => "unary",
            (false, true) => "server_streaming",
            (true, false) => "client_streaming",
            (true, true) => "bidi_streaming",
        };
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let uri = Uri::builder()
            .scheme(if origin.tls.is_some() {
                "https"
            } else {
                "http"
            })
            .authority(origin.endpoint.authority.as_str())
            .path_and_query(path.as_str())
            .build()
            .map_err(|e| invalid("call", e.to_string()))?;
        let mut headers = grpc_headers();
        // The deadline travels with the call, as gRPC clients send it.
        let timeout_ms = (spec.request_timeout_s * 1000.0)
            .ceil()
            .clamp(1.0, 99_999_999.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&format!("{timeout_ms}m")) {
            headers.insert("grpc-timeout", v);
        }
        for (key, value) in &grpc.metadata {
            let name = HeaderName::from_bytes(key.as_bytes())
                .map_err(|e| invalid("metadata", format!("`{key}`: {e}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|e| invalid("metadata", format!("`{key}`: {e}")))?;
            headers.append(name, value);
        }
        Ok(GrpcDriver {
            shared: Arc::new(Shared {
                origin,
                call: grpc.call.clone(),
                kind,
                uri,
                headers,
                bodies,
                tally: Arc::new(GrpcTally {
                    sent: AtomicU64::new(0),
                    received: AtomicU64::new(0),
                    window: crate::window::MeasuredWindow::for_spec(spec),
                    messages_per_call: if streaming_request {
                        messages.len() as u64
                    } else {
                        1
                    },
                    server_streaming: method.is_server_streaming(),
                    streams: std::sync::Mutex::new((
                        meshbench_core::histogram::new_histogram(),
                        meshbench_core::histogram::new_histogram(),
                    )),
                    round_trips: std::sync::Mutex::new(meshbench_core::histogram::new_histogram()),
                }),
                server_streaming: method.is_server_streaming(),
                bidi_frames: (method.is_client_streaming() && method.is_server_streaming()).then(
                    || {
                        messages
                            .iter()
                            .map(|m| frame_all(std::iter::once(m)))
                            .collect()
                    },
                ),
            }),
        })
    }

    /// The lean HTTP/2 path for this driver's calls: every kind (an interactive bidi call
    /// releases its next message when the answer to the last one arrives), h2c or TLS.
    pub fn lean(&self) -> crate::lean_h2::LeanHttp2<GrpcDriver> {
        let shared = &self.shared;
        let requests = shared
            .bodies
            .iter()
            .map(|body| {
                let request = crate::lean_h2::H2Request::new(
                    &Method::POST,
                    &shared.uri,
                    &shared.origin.endpoint.authority,
                    &shared.headers,
                    body.clone(),
                );
                match &shared.bidi_frames {
                    Some(frames) => request.interactive(frames.iter().map(Bytes::len)),
                    None => request,
                }
            })
            .collect();
        crate::lean_h2::LeanHttp2::new(
            shared.origin.endpoint.addr,
            requests,
            crate::lean_h2::Answers::Grpc(Arc::clone(&shared.tally)),
            shared.origin.tls.clone(),
            Arc::new(self.clone()),
        )
    }

    /// The gRPC section of the result, from the run's status counts (engine status slots
    /// hold gRPC codes for this driver).
    pub fn report(&self, status_codes: &std::collections::BTreeMap<String, u64>) -> GrpcResult {
        GrpcResult {
            call: self.shared.call.clone(),
            kind: self.shared.kind.to_string(),
            status_codes: status_codes
                .iter()
                .map(|(code, n)| {
                    let name = code
                        .parse::<u16>()
                        .map(meshbench_core::result::grpc_status_name)
                        .unwrap_or_else(|_| code.clone());
                    (name, *n)
                })
                .collect(),
            messages_sent: self.shared.tally.sent.load(Relaxed),
            messages_received: self.shared.tally.received.load(Relaxed),
            first_message_us: self.stream_summary(|h| &h.0),
            message_gap_us: self.stream_summary(|h| &h.1),
            message_rtt_us: self
                .shared
                .tally
                .round_trips
                .lock()
                .ok()
                .filter(|h| !h.is_empty())
                .map(|h| meshbench_core::histogram::summarize(&h)),
        }
    }

    fn stream_summary(
        &self,
        pick: impl Fn(&(Histogram<u64>, Histogram<u64>)) -> &Histogram<u64>,
    ) -> Option<meshbench_core::LatencySummary> {
        let guard = self.shared.tally.streams.lock().ok()?;
        let h = pick(&guard);
        (self.shared.server_streaming && !h.is_empty())
            .then(|| meshbench_core::histogram::summarize(h))
    }
}

/// The descriptors: the built-in echo service, or the spec's .proto files compiled by protox.
fn descriptor_pool(grpc: &GrpcSpec) -> crate::Result<DescriptorPool> {
    let proto = |files: String| {
        move |e: protox::Error| crate::Error::Proto {
            files,
            source: Box::new(e),
        }
    };
    if grpc.proto.is_empty() {
        let mut pool = DescriptorPool::new();
        for (name, source) in [
            ("meshbench/echo/v1/echo.proto", ECHO_PROTO),
            ("kserve/v2/grpc_predict_v2.proto", OIP_PROTO),
        ] {
            let file = protox::file::File::from_source(name, source)
                .map_err(proto(format!("the built-in {name}")))?;
            pool.add_file_descriptor_proto(file.file_descriptor_proto().clone())
                .map_err(|e| crate::Error::Descriptors {
                    from: "built in",
                    source: Box::new(e),
                })?;
        }
        return Ok(pool);
    }
    let includes: Vec<std::path::PathBuf> = if grpc.import_paths.is_empty() {
        grpc.proto
            .iter()
            .map(|p| {
                std::path::Path::new(p)
                    .parent()
                    .map(|d| {
                        if d.as_os_str().is_empty() {
                            std::path::Path::new(".")
                        } else {
                            d
                        }
                    })
                    .unwrap_or(std::path::Path::new("."))
                    .to_path_buf()
            })
            .collect()
    } else {
        grpc.import_paths.iter().map(Into::into).collect()
    };
    let set = protox::compile(&grpc.proto, &includes).map_err(|e| {
        // protox names the file only sometimes; always say which set was being compiled.
        let files = e
            .file()
            .map(str::to_string)
            .unwrap_or_else(|| grpc.proto.join(", "));
        proto(files)(e)
    })?;
    DescriptorPool::from_file_descriptor_set(set).map_err(|e| crate::Error::Descriptors {
        from: "of the .proto files",
        source: Box::new(e),
    })
}

/// `package.Service/Method` in the pool, or what it has instead.
fn find_method(pool: &DescriptorPool, call: &str) -> crate::Result<MethodDescriptor> {
    let invalid = |message: String| crate::Error::invalid("call", message);
    let (service_name, method_name) = call
        .split_once('/')
        .ok_or_else(|| invalid(format!("`{call}` is not `package.Service/Method`")))?;
    let Some(service) = pool.get_service_by_name(service_name) else {
        let known: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
        return Err(invalid(format!(
            "no service `{service_name}` (the .proto files define: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let found = service.methods().find(|m| m.name() == method_name);
    found.ok_or_else(|| {
        let known: Vec<String> = service.methods().map(|m| m.name().to_string()).collect();
        invalid(format!(
            "`{service_name}` has no method `{method_name}` (it has: {})",
            known.join(", ")
        ))
    })
}

/// Messages in gRPC's length-prefixed framing.
fn frame_all<'a>(messages: impl Iterator<Item = &'a Vec<u8>>) -> Bytes {
    let mut out = BytesMut::new();
    for m in messages {
        out.reserve(5 + m.len());
        out.put_u8(0);
        out.put_u32(m.len() as u32);
        out.put_slice(m);
    }
    out.freeze()
}

/// One stream lane of a gRPC connection.
pub struct GrpcSession {
    shared: Arc<Shared>,
    connection: Rc<Connection>,
    last_error: String,
    /// This lane's streamed-message timings (first message, gaps), merged on drop.
    first_message: LazyHistogram,
    message_gap: LazyHistogram,
    round_trips: LazyHistogram,
    record: bool,
}

impl Drop for GrpcSession {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.shared.tally.streams.lock() {
            self.first_message.merge_into(&mut shared.0);
            self.message_gap.merge_into(&mut shared.1);
        }
        if let Ok(mut shared) = self.shared.tally.round_trips.lock() {
            self.round_trips.merge_into(&mut shared);
        }
    }
}

impl GrpcSession {
    /// A lane on `connection`; `record` is false for the preflight's call, which is not the
    /// run's.
    fn new(shared: &Arc<Shared>, connection: Rc<Connection>, record: bool) -> GrpcSession {
        GrpcSession {
            shared: Arc::clone(shared),
            connection,
            last_error: String::new(),
            first_message: LazyHistogram::default(),
            message_gap: LazyHistogram::default(),
            round_trips: LazyHistogram::default(),
            record,
        }
    }
}

impl std::fmt::Debug for GrpcSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcSession").finish_non_exhaustive()
    }
}

impl Driver for GrpcDriver {
    type Session = GrpcSession;

    type Error = crate::Error;

    async fn preflight(&self) -> crate::Result<()> {
        let mut session = GrpcSession::new(&self.shared, Rc::new(Connection::default()), false);
        let outcome = session.exchange(0).await;
        let endpoint = &self.shared.origin.endpoint;
        match outcome {
            // A status such as UNIMPLEMENTED is an answer, and usually a mistake worth
            // stopping for: report it before any load.
            Ok(exchange) if exchange.status == 12 => Err(crate::Error::unready(
                endpoint,
                format!(
                    "{} answered UNIMPLEMENTED: {}",
                    self.shared.call, session.last_error
                ),
            )),
            Ok(_) => Ok(()),
            Err((kind, message)) => Err(crate::Error::unreachable(endpoint, kind, message)),
        }
    }

    fn open(&self, _connection: usize, streams: usize) -> Vec<GrpcSession> {
        let connection = Rc::new(Connection::default());
        (0..streams.max(1))
            .map(|_| GrpcSession::new(&self.shared, Rc::clone(&connection), true))
            .collect()
    }
}

impl Session for GrpcSession {
    async fn call(&mut self, seq: u64) -> Result<Exchange, Failure> {
        let index = (seq % self.shared.bodies.len() as u64) as usize;
        match self.exchange(index).await {
            Ok(exchange) => Ok(exchange),
            Err((kind, message)) => {
                self.last_error = message;
                if matches!(
                    kind,
                    ErrorKind::Closed | ErrorKind::Reset | ErrorKind::Protocol | ErrorKind::Io
                ) {
                    forget(&self.connection);
                }
                Err(Failure::from(kind))
            }
        }
    }

    fn abandon(&mut self) {
        // The stream is reset when its future is dropped; the connection stays usable.
    }
}

impl GrpcSession {
    async fn exchange(&mut self, index: usize) -> Result<Exchange, (ErrorKind, String)> {
        if self.shared.bidi_frames.is_some() {
            return self.exchange_bidi().await;
        }
        let shared = Arc::clone(&self.shared);
        let body = shared.bodies[index].clone();
        let bytes_sent = body.len() as u64;
        let mut sender = h2_sender(&shared.origin, &self.connection).await?;
        let call_started = std::time::Instant::now();
        let request = shared.request(H2Body::Left(Full::new(body)));
        sender.ready().await.map_err(classify)?;
        let response = sender.send_request(request).await.map_err(classify)?;
        let (parts, mut body) = grpc_answer(response)?.into_parts();
        // Trailers-only answers carry the status in the headers.
        let mut status = grpc_status(&parts.headers);
        let mut message = grpc_message(&parts.headers);
        let mut received = 0u64;
        let mut framing = Framing::default();
        let mut times = MessageTimes::default();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(classify)?;
            if let Some(data) = frame.data_ref() {
                received += data.len() as u64;
                let before = framing.messages;
                framing.feed(data);
                if shared.server_streaming && self.record && framing.messages > before {
                    times.arrived(call_started, framing.messages - before);
                }
            } else if let Some(trailers) = frame.trailers_ref() {
                status = grpc_status(trailers).or(status);
                message = grpc_message(trailers).or(message);
            }
        }
        if self.record && shared.tally.window.contains(call_started) {
            shared
                .tally
                .sent
                .fetch_add(shared.tally.messages_per_call, Relaxed);
            shared.tally.received.fetch_add(framing.messages, Relaxed);
            times.record_into(&mut self.first_message, &mut self.message_gap);
        }
        self.finish(status, message, bytes_sent, received)
    }
}

impl GrpcSession {
    /// The end of a call: its status (an answer without one is a protocol error) and bytes.
    fn finish(
        &mut self,
        status: Option<u16>,
        message: Option<String>,
        bytes_sent: u64,
        bytes_received: u64,
    ) -> Result<Exchange, (ErrorKind, String)> {
        let Some(code) = status else {
            return Err((
                ErrorKind::Protocol,
                "the answer ended without a grpc-status".into(),
            ));
        };
        self.last_error = message.unwrap_or_default();
        Ok(Exchange {
            status: code,
            bytes_sent,
            bytes_received,
            failed: code != 0,
        })
    }

    /// An interactive bidi call: one message out, wait for its answer, the next out; then the
    /// request stream ends and the trailers close the call. Each round trip is recorded.
    async fn exchange_bidi(&mut self) -> Result<Exchange, (ErrorKind, String)> {
        let shared = Arc::clone(&self.shared);
        let frames = shared.bidi_frames.as_deref().unwrap_or_default();
        let (tx, rx) = tokio::sync::mpsc::channel::<BodyFrame>(2);
        let mut sender = h2_sender(&shared.origin, &self.connection).await?;
        let request = shared.request(H2Body::Right(ChannelBody(rx)));
        sender.ready().await.map_err(classify)?;
        // The first message goes with the headers: some servers answer nothing before it.
        let call_started = std::time::Instant::now();
        let mut sent_at = call_started;
        let mut round_trips: Vec<u64> = Vec::new();
        let closed = || {
            (
                ErrorKind::Closed,
                "the call's request stream closed early".to_string(),
            )
        };
        let first = frames.first().cloned().unwrap_or_default();
        let mut bytes_sent = first.len() as u64;
        tx.send(Ok(hyper::body::Frame::data(first)))
            .await
            .map_err(|_| closed())?;
        let response = sender.send_request(request).await.map_err(classify)?;
        let mut messages_sent = 1;
        let (parts, mut body) = grpc_answer(response)?.into_parts();
        let mut status = grpc_status(&parts.headers);
        let mut message = grpc_message(&parts.headers);
        let mut received = 0u64;
        let mut framing = Framing::default();
        let mut next = 1;
        let mut tx = Some(tx);
        if frames.len() == 1 {
            tx = None;
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(classify)?;
            if let Some(trailers) = frame.trailers_ref() {
                status = grpc_status(trailers).or(status);
                message = grpc_message(trailers).or(message);
                continue;
            }
            let Some(data) = frame.data_ref() else {
                continue;
            };
            received += data.len() as u64;
            let before = framing.messages;
            framing.feed(data);
            for _ in before..framing.messages {
                if self.record {
                    round_trips.push(meshbench_core::histogram::micros(sent_at.elapsed()));
                }
                if let Some(open) = &tx {
                    if let Some(f) = frames.get(next) {
                        sent_at = std::time::Instant::now();
                        bytes_sent += f.len() as u64;
                        open.send(Ok(hyper::body::Frame::data(f.clone())))
                            .await
                            .map_err(|_| closed())?;
                        messages_sent += 1;
                        next += 1;
                    }
                    if next >= frames.len() {
                        // Every message is out: ending the request stream lets the server
                        // finish the call.
                        tx = None;
                    }
                }
            }
        }
        if self.record && shared.tally.window.contains(call_started) {
            shared.tally.sent.fetch_add(messages_sent, Relaxed);
            shared.tally.received.fetch_add(framing.messages, Relaxed);
            for rtt in round_trips {
                self.round_trips.record(rtt);
            }
        }
        self.finish(status, message, bytes_sent, received)
    }
}

impl Shared {
    /// A call of the method with `body`: POST to its path with the gRPC headers and metadata.
    fn request(&self, body: H2Body) -> Request<H2Body> {
        let mut request = Request::new(body);
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        request
    }
}

/// The answer, if it is a gRPC one (HTTP 200); anything else is a protocol error.
pub(crate) fn grpc_answer<B>(
    response: http::Response<B>,
) -> Result<http::Response<B>, (ErrorKind, String)> {
    if response.status() == http::StatusCode::OK {
        Ok(response)
    } else {
        Err((
            ErrorKind::Protocol,
            format!("HTTP {} instead of a gRPC answer", response.status()),
        ))
    }
}

/// The `content-type` and `te` every gRPC request carries.
pub(crate) fn grpc_headers() -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(http::header::TE, HeaderValue::from_static("trailers"));
    headers
}

/// The grpc-status of headers or trailers.
pub(crate) fn grpc_status(headers: &http::HeaderMap) -> Option<u16> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The grpc-message of headers or trailers.
pub(crate) fn grpc_message(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A histogram allocated on first use: most lanes (unary calls) never record one, and each
/// holds some 200 KB of counts.
#[derive(Default)]
pub(crate) struct LazyHistogram(Option<Histogram<u64>>);

impl LazyHistogram {
    /// Records `us` microseconds.
    pub(crate) fn record(&mut self, us: u64) {
        let h = self
            .0
            .get_or_insert_with(meshbench_core::histogram::new_histogram);
        meshbench_core::histogram::record_us(h, us);
    }

    /// Adds what was recorded to `into`.
    pub(crate) fn merge_into(&self, into: &mut Histogram<u64>) {
        if let Some(h) = &self.0 {
            meshbench_core::histogram::merge(into, h);
        }
    }
}

/// A streamed call's message arrival times, kept until the call ends and is known to be
/// measured: the first against the call's start, later ones against the one before (those
/// that came in the same frame 1 µs apart).
#[derive(Default)]
pub(crate) struct MessageTimes {
    last: Option<std::time::Instant>,
    /// (first message?, µs)
    samples: Vec<(bool, u64)>,
}

impl MessageTimes {
    /// `count` messages arrived now, in a call that started at `started`.
    pub(crate) fn arrived(&mut self, started: std::time::Instant, count: u64) {
        let now = std::time::Instant::now();
        let us = meshbench_core::histogram::micros;
        match self.last {
            None => self.samples.push((true, us(now - started))),
            Some(previous) => self.samples.push((false, us(now - previous))),
        }
        for _ in 1..count {
            self.samples.push((false, 1));
        }
        self.last = Some(now);
    }

    /// Records the call's times: the first message's into `first`, the gaps into `gap`.
    pub(crate) fn record_into(&self, first: &mut LazyHistogram, gap: &mut LazyHistogram) {
        for &(is_first, us) in &self.samples {
            if is_first {
                first.record(us);
            } else {
                gap.record(us);
            }
        }
    }
}

/// Counts length-prefixed messages across data frames without keeping them.
#[derive(Default)]
pub(crate) struct Framing {
    header: [u8; 5],
    header_len: usize,
    remaining: u64,
    pub(crate) messages: u64,
}

impl Framing {
    pub(crate) fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = (self.remaining as usize).min(data.len());
                self.remaining -= take as u64;
                data = &data[take..];
                continue;
            }
            let take = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 5 {
                self.header_len = 0;
                self.messages += 1;
                self.remaining = u64::from(u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]));
            }
        }
    }
}

/// The gRPC options that carry an Open Inference Protocol run over `grpc://`: ModelInfer
/// with `inputs` (the REST form [`crate::ml::oip_inputs`] settles) in the protocol's JSON
/// mapping, where a tensor's data goes in the `contents` field of its datatype.
pub fn oip_grpc_spec(ml: &meshbench_core::MlSpec, inputs: &[serde_json::Value]) -> GrpcSpec {
    use base64::Engine as _;
    let tensor = |t: &serde_json::Value| {
        let datatype = t["datatype"].as_str().unwrap_or("FP32").to_string();
        let field = match datatype.as_str() {
            "BOOL" => "bool_contents",
            "INT8" | "INT16" | "INT32" => "int_contents",
            "INT64" => "int64_contents",
            "UINT8" | "UINT16" | "UINT32" => "uint_contents",
            "UINT64" => "uint64_contents",
            "FP64" => "fp64_contents",
            "BYTES" => "bytes_contents",
            _ => "fp32_contents",
        };
        let mut data = t["data"].clone();
        if field == "bytes_contents" {
            // REST carries BYTES elements as strings; the JSON mapping of `bytes` is base64.
            if let Some(items) = data.as_array_mut() {
                for item in items {
                    if let Some(text) = item.as_str() {
                        *item = serde_json::Value::String(
                            base64::engine::general_purpose::STANDARD.encode(text),
                        );
                    }
                }
            }
        }
        serde_json::json!({
            "name": t["name"], "datatype": datatype, "shape": t["shape"],
            "contents": { field: data },
        })
    };
    let inputs: Vec<serde_json::Value> = inputs.iter().map(tensor).collect();
    GrpcSpec {
        call: format!("{OIP_SERVICE}/ModelInfer"),
        data: vec![serde_json::json!({"model_name": ml.model, "inputs": inputs})],
        ..GrpcSpec::default()
    }
}

/// Asks the server whether `model` is ready (ModelReady), then for its metadata
/// (ModelMetadata, in the JSON form REST serves), before any load. A server without
/// ModelMetadata gives `None`.
pub fn oip_model(spec: &BenchmarkSpec, model: &str) -> crate::Result<Option<serde_json::Value>> {
    let origin = Origin::for_spec(spec, b"h2")?;
    let pool = descriptor_pool(&GrpcSpec::default())?;
    let request = |method: &str| -> crate::Result<(MethodDescriptor, Vec<u8>)> {
        let method = find_method(&pool, &format!("{OIP_SERVICE}/{method}"))?;
        let message =
            DynamicMessage::deserialize(method.input(), &serde_json::json!({"name": model}))
                .map_err(|e| crate::Error::invalid("model", e.to_string()))?;
        Ok((method, message.encode_to_vec()))
    };
    let connection = Connection::default();
    let call = |method: &str, body: &[u8]| {
        let path = format!("/{OIP_SERVICE}/{method}");
        crate::reflection::block_on(crate::reflection::unary(
            &origin,
            &connection,
            &path,
            body,
            &[],
        ))
    };
    let (_, body) = request("ModelReady")?;
    let answer = call("ModelReady", &body)?;
    // ModelReadyResponse { bool ready = 1 } is the single byte pair 0x08 0x01 when true.
    let ready = answer
        .messages
        .first()
        .is_some_and(|m| m.as_ref() == [0x08, 0x01]);
    if answer.status != 0 || !ready {
        return Err(crate::Error::unready(
            &origin.endpoint,
            format!(
                "model `{model}` is not ready: {}",
                if answer.status != 0 {
                    format!(
                        "{} {}",
                        meshbench_core::result::grpc_status_name(answer.status),
                        answer.message
                    )
                } else {
                    "the server says not ready".to_string()
                }
            ),
        ));
    }
    let (method, body) = request("ModelMetadata")?;
    let answer = call("ModelMetadata", &body)?;
    let Some(message) = answer.messages.first().filter(|_| answer.status == 0) else {
        return Ok(None);
    };
    let Ok(metadata) = DynamicMessage::decode(method.output(), message.as_ref()) else {
        return Ok(None);
    };
    // Shapes as numbers, as REST gives them (the JSON mapping writes int64 as strings).
    let options = prost_reflect::SerializeOptions::new().stringify_64_bit_integers(false);
    Ok(metadata
        .serialize_with_options(serde_json::value::Serializer, &options)
        .ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_counts_messages_split_anywhere() {
        let body = frame_all([vec![1u8; 3], vec![], vec![2u8; 300]].iter());
        for split in 0..body.len() {
            let mut f = Framing::default();
            f.feed(&body[..split]);
            f.feed(&body[split..]);
            assert_eq!(f.messages, 3, "split at {split}");
            assert_eq!(f.remaining, 0);
        }
    }

    #[test]
    fn the_builtin_echo_service_resolves() {
        let pool = descriptor_pool(&GrpcSpec::default()).unwrap();
        let m = find_method(&pool, "meshbench.echo.v1.Echo/Bidi").unwrap();
        assert!(m.is_client_streaming() && m.is_server_streaming());
        let err = find_method(&pool, "meshbench.echo.v1.Echo/Nope")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("it has: Unary, ServerStream, ClientStream, Bidi"),
            "{err}"
        );
        let err = find_method(&pool, "x.Y/Z").unwrap_err().to_string();
        assert!(err.contains("meshbench.echo.v1.Echo"), "{err}");
    }
}
