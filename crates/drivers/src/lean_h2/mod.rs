//! The lean HTTP/2 client: frames written and parsed directly on the engine's own event loop
//! ([`meshbench_engine::run_multiplexed`]), as the HTTP/1.1 path does for its protocol, with
//! loona-hpack for header compression. h2c with prior knowledge; TLS and the calls this path
//! does not cover (gRPC streaming) stay on hyper.
//!
//! What it handles: many streams per connection without a task per stream; each request's
//! header block encoded once per connection once HPACK's dynamic table holds its fields;
//! receive windows of 2^30 − 1 (as h2load's default) topped up at half; send windows honoured
//! for request bodies; the peer's SETTINGS (concurrency limit, window, frame and table size),
//! PING, RST_STREAM and GOAWAY.

mod frame;
mod hpack;
mod tls;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use loona_hpack::Decoder;
use meshbench_core::ErrorKind;
use meshbench_engine::{
    is_http_failure, Answer, Driver, FeedError, MultiplexedConnection, MultiplexedProtocol,
    StreamEnd,
};

use crate::grpc::{Framing, GrpcTally, LazyHistogram, MessageTimes};
use frame::FrameHeader;
use hpack::RequestEncoder;

/// The dynamic table size HPACK starts with on both sides.
const DEFAULT_TABLE: usize = 4096;

/// One request of the mix, ready for the wire.
#[derive(Debug, Clone)]
pub(crate) struct H2Request {
    /// Header fields in order, pseudo-headers first, names in lower case.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body, sent in DATA frames.
    pub body: Bytes,
    /// An interactive call's message boundaries in `body` (cumulative ends): the first
    /// message goes with the request, each next one when an answer arrives. Empty: the whole
    /// body goes at once.
    pub steps: Vec<usize>,
}

impl H2Request {
    /// The request hyper's client would send: pseudo-headers from `uri` (`authority` when
    /// it has none), then `headers` without the connection-specific ones HTTP/2 forbids,
    /// and a content-length where hyper adds one.
    pub(crate) fn new(
        method: &http::Method,
        uri: &http::Uri,
        authority: &str,
        headers: &http::HeaderMap,
        body: Bytes,
    ) -> Self {
        let mut fields: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b":method".to_vec(), method.as_str().as_bytes().to_vec()),
            (
                b":scheme".to_vec(),
                uri.scheme_str().unwrap_or("http").as_bytes().to_vec(),
            ),
            (
                b":authority".to_vec(),
                uri.authority()
                    .map_or(authority, |a| a.as_str())
                    .as_bytes()
                    .to_vec(),
            ),
            (
                b":path".to_vec(),
                uri.path_and_query()
                    .map_or("/", |p| p.as_str())
                    .as_bytes()
                    .to_vec(),
            ),
        ];
        for (name, value) in headers {
            let forbidden = matches!(
                name.as_str(),
                "connection" | "keep-alive" | "proxy-connection" | "transfer-encoding" | "upgrade"
            ) || (name == http::header::TE && value != "trailers");
            if !forbidden {
                fields.push((name.as_str().as_bytes().to_vec(), value.as_bytes().to_vec()));
            }
        }
        let payload_method = !matches!(
            *method,
            http::Method::GET | http::Method::HEAD | http::Method::DELETE | http::Method::CONNECT
        );
        if (!body.is_empty() || payload_method)
            && !headers.contains_key(http::header::CONTENT_LENGTH)
        {
            fields.push((
                b"content-length".to_vec(),
                body.len().to_string().into_bytes(),
            ));
        }
        H2Request {
            headers: fields,
            body,
            steps: Vec::new(),
        }
    }

    /// The request as an interactive call of messages of `lengths` (its body is them, in
    /// order): without a content-length, as the size of what is to come is not announced.
    pub(crate) fn interactive(mut self, lengths: impl Iterator<Item = usize>) -> Self {
        self.headers.retain(|(n, _)| n != b"content-length");
        let mut end = 0;
        self.steps = lengths
            .map(|len| {
                end += len;
                end
            })
            .collect();
        self
    }
}

/// How answers are read.
#[derive(Debug)]
pub(crate) enum Answers {
    /// HTTP: the status is `:status`, a 5xx is a failure.
    Http,
    /// gRPC: an HTTP 200 whose `grpc-status` (trailers, or headers of a trailers-only
    /// answer) is the status; messages are counted for the gRPC section of the result.
    Grpc(Arc<GrpcTally>),
}

#[derive(Debug)]
struct Shared {
    address: SocketAddr,
    requests: Vec<H2Request>,
    answers: Answers,
    /// TLS (ALPN h2) settings; none for h2c.
    tls: Option<crate::net::TlsSetup>,
}

/// HTTP/2 (or gRPC unary calls) on the engine's event loop; `D` is the hyper driver of the
/// same spec, which does the preflight and everything this path does not cover.
#[derive(Debug)]
pub struct LeanHttp2<D> {
    shared: Arc<Shared>,
    fallback: Arc<D>,
}

impl<D> LeanHttp2<D> {
    /// The lean path for `requests` to `address`, with `fallback` for the preflight.
    pub(crate) fn new(
        address: SocketAddr,
        requests: Vec<H2Request>,
        answers: Answers,
        tls: Option<crate::net::TlsSetup>,
        fallback: Arc<D>,
    ) -> Self {
        LeanHttp2 {
            shared: Arc::new(Shared {
                address,
                requests,
                answers,
                tls,
            }),
            fallback,
        }
    }
}

impl<D: Driver> Driver for LeanHttp2<D> {
    type Session = D::Session;
    type Error = D::Error;

    fn preflight(&self) -> impl std::future::Future<Output = Result<(), Self::Error>> {
        self.fallback.preflight()
    }

    fn open(&self, connection: usize, streams: usize) -> Vec<Self::Session> {
        self.fallback.open(connection, streams)
    }
}

impl<D: Send + Sync + 'static> MultiplexedProtocol for LeanHttp2<D> {
    type Connection = tls::Link;

    fn address(&self) -> SocketAddr {
        self.shared.address
    }

    fn connection(&self) -> tls::Link {
        let h2 = H2Connection::new(Arc::clone(&self.shared));
        match &self.shared.tls {
            Some(setup) => tls::Link::tls(h2, setup),
            None => tls::Link::Plain(h2),
        }
    }
}

/// A stream in flight.
struct H2Stream {
    id: u32,
    token: u32,
    request: usize,
    status: u16,
    grpc_status: Option<u16>,
    bytes_sent: u64,
    bytes_received: u64,
    /// How far the request body has gone out.
    body_sent: usize,
    send_window: i64,
    /// Received and not yet given back in a stream WINDOW_UPDATE.
    unacked: u32,
    /// gRPC: when the call started (for the measured window) and its response framing.
    started: Option<Instant>,
    framing: Framing,
    /// Server streaming: each message's arrival time.
    times: MessageTimes,
    /// How much of the body may go out so far (all of it, unless the call is interactive).
    released: usize,
    /// Interactive: the next message to release, when the last one went, round trips (µs).
    step: usize,
    sent_at: Option<Instant>,
    round_trips: Vec<u64>,
}

/// One connection's HTTP/2 state.
pub struct H2Connection {
    shared: Arc<Shared>,
    encoder: RequestEncoder,
    decoder: Decoder<'static>,
    /// Per request, its last header block if encoding it left the table as it was: all
    /// indices, valid until the table changes again.
    blocks: Vec<Option<Vec<u8>>>,
    scratch: Vec<u8>,
    next_id: u32,
    streams: Vec<H2Stream>,
    /// Exchanges waiting for the peer's concurrency limit (token, request).
    queued: VecDeque<(u32, usize)>,
    peer_max_concurrent: usize,
    peer_initial_window: i64,
    peer_max_frame: usize,
    send_window: i64,
    /// Received on the connection and not yet given back.
    unacked: u32,
    /// A header block being continued: stream, END_STREAM, fragments so far.
    continuing: Option<(u32, bool)>,
    block: Vec<u8>,
    going_away: bool,
    /// gRPC messages of measured calls, handed to the tally when the connection ends.
    grpc_sent: u64,
    grpc_received: u64,
    /// Server streaming: time to the first message and gaps, handed over likewise.
    first_message: LazyHistogram,
    message_gap: LazyHistogram,
    /// Interactive calls: each message's round trip, handed over likewise.
    round_trips: LazyHistogram,
}

impl H2Connection {
    fn new(shared: Arc<Shared>) -> Self {
        let n = shared.requests.len();
        H2Connection {
            shared,
            encoder: RequestEncoder::new(DEFAULT_TABLE),
            decoder: Decoder::new(),
            blocks: vec![None; n],
            scratch: Vec::with_capacity(256),
            next_id: 1,
            streams: Vec::new(),
            queued: VecDeque::new(),
            peer_max_concurrent: usize::MAX,
            peer_initial_window: frame::DEFAULT_WINDOW,
            peer_max_frame: frame::MAX_FRAME,
            send_window: frame::DEFAULT_WINDOW,
            unacked: 0,
            continuing: None,
            block: Vec::new(),
            going_away: false,
            grpc_sent: 0,
            grpc_received: 0,
            first_message: LazyHistogram::default(),
            message_gap: LazyHistogram::default(),
            round_trips: LazyHistogram::default(),
        }
    }

    /// Opens a stream for `request` as exchange `token` and writes its HEADERS and as much
    /// of its body as the windows allow.
    fn send_request(
        &mut self,
        token: u32,
        request: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), FeedError> {
        if self.next_id > frame::MAX_STREAM_ID {
            return Err(FeedError::protocol(
                "HTTP/2 stream ids used up on this connection",
            ));
        }
        let id = self.next_id;
        self.next_id += 2;
        // Borrowed field by field (no Arc clone: its count is one cache line every thread's
        // connections would write on every request).
        let spec = &self.shared.requests[request];
        let before = out.len();
        match &self.blocks[request] {
            Some(block) => {
                frame::headers(out, id, block, spec.body.is_empty(), self.peer_max_frame)
            }
            None => {
                self.scratch.clear();
                let fields = spec
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_slice(), v.as_slice()));
                if self.encoder.encode(fields, &mut self.scratch) {
                    // Indices moved: no earlier block is valid any more.
                    self.blocks.iter_mut().for_each(|b| *b = None);
                } else {
                    self.blocks[request] = Some(self.scratch.clone());
                }
                frame::headers(
                    out,
                    id,
                    &self.scratch,
                    spec.body.is_empty(),
                    self.peer_max_frame,
                );
            }
        }
        let started = match &self.shared.answers {
            Answers::Grpc(_) => Some(Instant::now()),
            Answers::Http => None,
        };
        let (has_body, released) = (
            !spec.body.is_empty(),
            spec.steps.first().copied().unwrap_or(spec.body.len()),
        );
        self.streams.push(H2Stream {
            id,
            token,
            request,
            status: 0,
            grpc_status: None,
            bytes_sent: (out.len() - before) as u64,
            bytes_received: 0,
            body_sent: 0,
            send_window: self.peer_initial_window,
            unacked: 0,
            started,
            framing: Framing::default(),
            times: MessageTimes::default(),
            released,
            step: 1,
            sent_at: started,
            round_trips: Vec::new(),
        });
        if has_body {
            let last = self.streams.len() - 1;
            self.send_body(last, out);
        }
        Ok(())
    }

    /// Writes as much of stream `index`'s body as the windows allow.
    fn send_body(&mut self, index: usize, out: &mut Vec<u8>) {
        let stream = &mut self.streams[index];
        let body = &self.shared.requests[stream.request].body;
        while stream.body_sent < stream.released {
            let allowed = self
                .send_window
                .min(stream.send_window)
                .min(self.peer_max_frame as i64);
            if allowed <= 0 {
                return;
            }
            let end = (stream.body_sent + allowed as usize).min(stream.released);
            let chunk = &body[stream.body_sent..end];
            let last = end == body.len();
            frame::data(out, stream.id, chunk, last);
            stream.bytes_sent += (frame::HEADER_LEN + chunk.len()) as u64;
            stream.body_sent = end;
            self.send_window -= chunk.len() as i64;
            stream.send_window -= chunk.len() as i64;
        }
    }

    /// Sends what waited for windows or for a stream slot.
    fn resume(&mut self, out: &mut Vec<u8>) -> Result<(), FeedError> {
        for index in 0..self.streams.len() {
            let stream = &self.streams[index];
            if stream.body_sent < stream.released {
                self.send_body(index, out);
            }
        }
        while self.streams.len() < self.peer_max_concurrent && !self.going_away {
            let Some((token, request)) = self.queued.pop_front() else {
                break;
            };
            self.send_request(token, request, out)?;
        }
        Ok(())
    }

    fn stream_index(&self, id: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == id)
    }

    /// Ends stream `index` normally (END_STREAM from the peer).
    fn finish(&mut self, index: usize, ended: &mut Vec<StreamEnd>) {
        let stream = self.streams.swap_remove(index);
        let outcome = match &self.shared.answers {
            Answers::Http if stream.status == 0 => Err(ErrorKind::Protocol),
            Answers::Http => Ok(Answer {
                status: stream.status,
                failed: is_http_failure(stream.status),
            }),
            Answers::Grpc(tally) => {
                if stream.started.is_some_and(|t| tally.window.contains(t)) {
                    let steps = self.shared.requests[stream.request].steps.len();
                    self.grpc_sent += if steps > 0 {
                        stream.step.min(steps) as u64
                    } else {
                        tally.messages_per_call
                    };
                    for &rtt in &stream.round_trips {
                        self.round_trips.record(rtt);
                    }
                    self.grpc_received += stream.framing.messages;
                    stream
                        .times
                        .record_into(&mut self.first_message, &mut self.message_gap);
                }
                match stream.grpc_status {
                    Some(code) if stream.status == 200 => Ok(Answer {
                        status: code,
                        failed: code != 0,
                    }),
                    _ => Err(ErrorKind::Protocol),
                }
            }
        };
        ended.push(StreamEnd {
            token: stream.token,
            outcome,
            bytes_sent: stream.bytes_sent,
            bytes_received: stream.bytes_received,
        });
    }

    /// Ends stream `index` without an answer.
    fn abort(&mut self, index: usize, kind: ErrorKind, ended: &mut Vec<StreamEnd>) {
        let stream = self.streams.swap_remove(index);
        ended.push(StreamEnd {
            token: stream.token,
            outcome: Err(kind),
            bytes_sent: stream.bytes_sent,
            bytes_received: stream.bytes_received,
        });
    }

    /// Decodes a complete header block of stream `id` (every block is decoded, even of a
    /// stream given up on, to keep HPACK's table in step with the peer's).
    fn on_header_block(
        &mut self,
        id: u32,
        end_stream: bool,
        block_len: usize,
        ended: &mut Vec<StreamEnd>,
    ) -> Result<(), FeedError> {
        let mut status = None;
        let mut grpc_status = None;
        let block = std::mem::take(&mut self.block);
        let decoded = self
            .decoder
            .decode_with_cb(&block, |name, value| match name.as_ref() {
                b":status" => status = parse_u16(&value),
                b"grpc-status" => grpc_status = parse_u16(&value),
                _ => {}
            });
        self.block = block;
        self.block.clear();
        decoded.map_err(|e| FeedError::protocol(format!("HPACK: {e}")))?;
        let Some(index) = self.stream_index(id) else {
            return Ok(());
        };
        let stream = &mut self.streams[index];
        stream.bytes_received += (frame::HEADER_LEN + block_len) as u64;
        match status {
            // An informational answer (100 Continue); the real one follows.
            Some(s) if s < 200 && !end_stream => return Ok(()),
            Some(s) if stream.status == 0 => stream.status = s,
            _ => {}
        }
        if grpc_status.is_some() {
            stream.grpc_status = grpc_status;
        }
        if end_stream {
            self.finish(index, ended);
        }
        Ok(())
    }

    fn on_settings(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FeedError> {
        if !payload.len().is_multiple_of(6) {
            return Err(FeedError::protocol(
                "a SETTINGS frame of a length not a multiple of 6",
            ));
        }
        for entry in payload.chunks_exact(6) {
            let id = u16::from_be_bytes([entry[0], entry[1]]);
            let value = u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]);
            match id {
                frame::SETTINGS_HEADER_TABLE_SIZE => {
                    let size = value as usize;
                    if size < self.encoder.max() {
                        // The peer's decoder keeps less: shrink the table (announced in the
                        // next block) and forget blocks that may point past it.
                        self.encoder.resize(size);
                        self.blocks.iter_mut().for_each(|b| *b = None);
                    }
                }
                frame::SETTINGS_MAX_CONCURRENT_STREAMS => {
                    self.peer_max_concurrent = (value as usize).max(1);
                }
                frame::SETTINGS_INITIAL_WINDOW_SIZE => {
                    if value > frame::MAX_STREAM_ID {
                        return Err(FeedError::protocol(
                            "SETTINGS_INITIAL_WINDOW_SIZE over 2^31 − 1",
                        ));
                    }
                    let delta = i64::from(value) - self.peer_initial_window;
                    self.peer_initial_window = i64::from(value);
                    self.streams.iter_mut().for_each(|s| s.send_window += delta);
                }
                frame::SETTINGS_MAX_FRAME_SIZE => {
                    self.peer_max_frame = (value as usize).clamp(frame::MAX_FRAME, (1 << 24) - 1);
                }
                _ => {}
            }
        }
        frame::settings_ack(out);
        self.resume(out)
    }

    /// Handles one whole frame.
    fn on_frame(
        &mut self,
        head: FrameHeader,
        payload: &[u8],
        out: &mut Vec<u8>,
        ended: &mut Vec<StreamEnd>,
    ) -> Result<(), FeedError> {
        if let Some((id, end_stream)) = self.continuing {
            if head.kind != frame::CONTINUATION || head.stream != id {
                return Err(FeedError::protocol(
                    "a header block interrupted by another frame",
                ));
            }
            self.block.extend_from_slice(payload);
            if head.flags & frame::END_HEADERS != 0 {
                self.continuing = None;
                let len = self.block.len();
                self.on_header_block(id, end_stream, len, ended)?;
            }
            return Ok(());
        }
        match head.kind {
            frame::DATA => {
                let data = frame::unpadded(payload, head.flags, false)
                    .ok_or_else(|| FeedError::protocol("DATA padding longer than the frame"))?;
                self.unacked += payload.len() as u32;
                if self.unacked >= frame::RECEIVE_WINDOW / 2 {
                    frame::window_update(out, 0, self.unacked);
                    self.unacked = 0;
                }
                if let Some(index) = self.stream_index(head.stream) {
                    let (grpc, timed) = match &self.shared.answers {
                        Answers::Grpc(tally) => (true, tally.server_streaming),
                        Answers::Http => (false, false),
                    };
                    let steps = &self.shared.requests[self.streams[index].request].steps;
                    let interactive = steps.len();
                    let stream = &mut self.streams[index];
                    stream.bytes_received += (frame::HEADER_LEN + payload.len()) as u64;
                    if grpc {
                        let before = stream.framing.messages;
                        stream.framing.feed(data);
                        let arrived = stream.framing.messages - before;
                        if interactive > 0 && arrived > 0 {
                            // Each answer releases the next message.
                            let now = Instant::now();
                            for _ in 0..arrived {
                                if let Some(sent) = stream.sent_at {
                                    let us = meshbench_core::histogram::micros(now - sent);
                                    stream.round_trips.push(us);
                                }
                                if let Some(&end) = steps.get(stream.step) {
                                    stream.released = end;
                                    stream.step += 1;
                                    stream.sent_at = Some(now);
                                }
                            }
                            self.send_body(index, out);
                        } else if let Some(started) = stream.started.filter(|_| timed) {
                            if arrived > 0 {
                                stream.times.arrived(started, arrived);
                            }
                        }
                    }
                    let stream = &mut self.streams[index];
                    if head.flags & frame::END_STREAM != 0 {
                        self.finish(index, ended);
                    } else {
                        stream.unacked += payload.len() as u32;
                        if stream.unacked >= frame::RECEIVE_WINDOW / 2 {
                            frame::window_update(out, stream.id, stream.unacked);
                            stream.unacked = 0;
                        }
                    }
                }
            }
            frame::HEADERS => {
                let fragment = frame::unpadded(payload, head.flags, true)
                    .ok_or_else(|| FeedError::protocol("HEADERS padding longer than the frame"))?;
                self.block.clear();
                self.block.extend_from_slice(fragment);
                let end_stream = head.flags & frame::END_STREAM != 0;
                if head.flags & frame::END_HEADERS != 0 {
                    self.on_header_block(head.stream, end_stream, payload.len(), ended)?;
                } else {
                    self.continuing = Some((head.stream, end_stream));
                }
            }
            frame::RST_STREAM => {
                if let Some(index) = self.stream_index(head.stream) {
                    self.abort(index, ErrorKind::Reset, ended);
                    self.resume(out)?;
                }
            }
            frame::SETTINGS if head.flags & frame::ACK == 0 => self.on_settings(payload, out)?,
            frame::PING if head.flags & frame::ACK == 0 => frame::ping_ack(out, payload),
            frame::GOAWAY => {
                let last = payload
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & frame::MAX_STREAM_ID)
                    .ok_or_else(|| FeedError::protocol("a GOAWAY frame shorter than 8 bytes"))?;
                self.going_away = true;
                // Streams past the last one the peer took were never processed, and queued
                // exchanges will not start here.
                while let Some(index) = self.streams.iter().position(|s| s.id > last) {
                    self.abort(index, ErrorKind::Closed, ended);
                }
                for (token, _) in self.queued.drain(..) {
                    ended.push(StreamEnd {
                        token,
                        outcome: Err(ErrorKind::Closed),
                        bytes_sent: 0,
                        bytes_received: 0,
                    });
                }
            }
            frame::WINDOW_UPDATE => {
                let increment = payload
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & frame::MAX_STREAM_ID)
                    .ok_or_else(|| {
                        FeedError::protocol("a WINDOW_UPDATE frame shorter than 4 bytes")
                    })?;
                if head.stream == 0 {
                    self.send_window += i64::from(increment);
                } else if let Some(index) = self.stream_index(head.stream) {
                    self.streams[index].send_window += i64::from(increment);
                }
                self.resume(out)?;
            }
            frame::PUSH_PROMISE => {
                return Err(FeedError::protocol(
                    "PUSH_PROMISE, though push was disabled",
                ));
            }
            // PRIORITY and extension frames carry nothing a client must act on.
            _ => {}
        }
        Ok(())
    }
}

impl MultiplexedConnection for H2Connection {
    fn open(&mut self, out: &mut Vec<u8>) {
        frame::opening(out);
    }

    #[inline]
    fn start(&mut self, token: u32, seq: u64, out: &mut Vec<u8>) -> Result<(), FeedError> {
        let request = (seq % self.shared.requests.len() as u64) as usize;
        if self.streams.len() >= self.peer_max_concurrent {
            self.queued.push_back((token, request));
            return Ok(());
        }
        self.send_request(token, request, out)
    }

    fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        ended: &mut Vec<StreamEnd>,
    ) -> Result<usize, FeedError> {
        let mut pos = 0;
        while let Some(head) = FrameHeader::parse(&data[pos..]) {
            if head.len > frame::MAX_FRAME {
                return Err(FeedError::protocol(format!(
                    "a frame of {} bytes, over the {} allowed",
                    head.len,
                    frame::MAX_FRAME
                )));
            }
            let start = pos + frame::HEADER_LEN;
            let Some(payload) = data.get(start..start + head.len) else {
                break;
            };
            self.on_frame(head, payload, out, ended)?;
            pos = start + head.len;
        }
        if !self.queued.is_empty() {
            self.resume(out)?;
        }
        Ok(pos)
    }

    fn cancel(&mut self, token: u32, out: &mut Vec<u8>) {
        if let Some(index) = self.streams.iter().position(|s| s.token == token) {
            let stream = self.streams.swap_remove(index);
            frame::rst_stream(out, stream.id, frame::CANCEL);
            let _ = self.resume(out);
        } else {
            self.queued.retain(|(t, _)| *t != token);
        }
    }

    fn accepts_exchanges(&self) -> bool {
        !self.going_away
    }
}

impl Drop for H2Connection {
    fn drop(&mut self) {
        if let Answers::Grpc(tally) = &self.shared.answers {
            tally.sent.fetch_add(self.grpc_sent, Relaxed);
            tally.received.fetch_add(self.grpc_received, Relaxed);
            if let Ok(mut streams) = tally.streams.lock() {
                self.first_message.merge_into(&mut streams.0);
                self.message_gap.merge_into(&mut streams.1);
            }
            if let Ok(mut round_trips) = tally.round_trips.lock() {
                self.round_trips.merge_into(&mut round_trips);
            }
        }
    }
}

fn parse_u16(value: &[u8]) -> Option<u16> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use loona_hpack::Encoder;
    use std::sync::atomic::AtomicU64;

    fn get(path: &str) -> H2Request {
        H2Request::new(
            &http::Method::GET,
            &format!("http://127.0.0.1:9/{path}").parse().unwrap(),
            "127.0.0.1:9",
            &http::HeaderMap::new(),
            Bytes::new(),
        )
    }

    fn protocol(requests: Vec<H2Request>, answers: Answers) -> LeanHttp2<()> {
        LeanHttp2::new(
            "127.0.0.1:9".parse().unwrap(),
            requests,
            answers,
            None,
            Arc::new(()),
        )
    }

    fn grpc_tally() -> Arc<GrpcTally> {
        Arc::new(GrpcTally {
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            window: crate::window::MeasuredWindow::for_spec(
                &meshbench_core::BenchmarkSpec::closed_get("http://127.0.0.1:9/"),
            ),
            messages_per_call: 1,
            server_streaming: false,
            streams: std::sync::Mutex::new((
                meshbench_core::histogram::new_histogram(),
                meshbench_core::histogram::new_histogram(),
            )),
            round_trips: std::sync::Mutex::new(meshbench_core::histogram::new_histogram()),
        })
    }

    /// Frames in `bytes`: (header, payload).
    fn frames(bytes: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
        let mut pos = 0;
        let mut found = Vec::new();
        while let Some(h) = FrameHeader::parse(&bytes[pos..]) {
            let start = pos + frame::HEADER_LEN;
            found.push((h, bytes[start..start + h.len].to_vec()));
            pos = start + h.len;
        }
        assert_eq!(pos, bytes.len(), "whole frames only");
        found
    }

    /// The server's side: an HPACK encoder and frame writers.
    struct Server(Encoder<'static>);

    impl Server {
        fn headers(&mut self, stream: u32, fields: &[(&str, &str)], flags: u8) -> Vec<u8> {
            let block = self
                .0
                .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            let mut out = Vec::new();
            frame::header(&mut out, block.len(), frame::HEADERS, flags, stream);
            out.extend_from_slice(&block);
            out
        }
    }

    fn frame_of(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::header(&mut out, payload.len(), kind, flags, stream);
        out.extend_from_slice(payload);
        out
    }

    fn feed(conn: &mut H2Connection, bytes: &[u8]) -> (Vec<u8>, Vec<StreamEnd>) {
        let (mut out, mut ended) = (Vec::new(), Vec::new());
        let used = conn.feed(bytes, &mut out, &mut ended).unwrap();
        assert_eq!(used, bytes.len());
        (out, ended)
    }

    #[test]
    fn an_answer_ends_its_exchange_with_status_and_bytes() {
        let p = protocol(vec![get("a")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut out = Vec::new();
        conn.open(&mut out);
        assert!(out.starts_with(frame::PREFACE));
        out.clear();
        conn.start(7, 0, &mut out).unwrap();
        let sent = frames(&out);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.kind, frame::HEADERS);
        assert_eq!(sent[0].0.stream, 1);
        assert_eq!(sent[0].0.flags, frame::END_HEADERS | frame::END_STREAM);

        let mut server = Server(Encoder::new());
        let mut answer = server.headers(1, &[(":status", "503")], frame::END_HEADERS);
        answer.extend(frame_of(frame::DATA, frame::END_STREAM, 1, b"down"));
        // Fed in two pieces: a frame cut short waits for the rest.
        let (mut o, mut ended) = (Vec::new(), Vec::new());
        let used = conn
            .feed(&answer[..answer.len() - 2], &mut o, &mut ended)
            .unwrap();
        assert!(ended.is_empty());
        let (_, ended) = feed(&mut conn, &answer[used..]);
        assert_eq!(ended.len(), 1);
        let end = ended[0];
        assert_eq!(end.token, 7);
        assert_eq!(
            end.outcome,
            Ok(Answer {
                status: 503,
                failed: true
            })
        );
        assert_eq!(end.bytes_received, answer.len() as u64);
        assert_eq!(end.bytes_sent, out.len() as u64);
    }

    #[test]
    fn header_blocks_are_reused_once_the_table_holds_them() {
        let p = protocol(vec![get("a"), get("b")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut blocks = Vec::new();
        for seq in 0..6 {
            let mut out = Vec::new();
            conn.start(seq as u32, seq, &mut out).unwrap();
            blocks.push(frames(&out)[0].1.clone());
        }
        // Each request's first block fills the table; then every field is an index.
        assert!(blocks[2].len() < blocks[0].len());
        assert_eq!(blocks[2].len(), 4);
        assert_eq!(blocks[2], blocks[4]);
        assert_eq!(blocks[3], blocks[5]);
        assert!(conn.blocks.iter().all(Option::is_some));
        // The blocks decode to the request each time.
        let mut decoder = Decoder::new();
        for block in &blocks {
            let fields = decoder.decode(block).unwrap();
            assert_eq!(fields[0], (b":method".to_vec(), b"GET".to_vec()));
            assert_eq!(fields[2], (b":authority".to_vec(), b"127.0.0.1:9".to_vec()));
        }
    }

    #[test]
    fn settings_are_acknowledged_and_the_concurrency_limit_queues() {
        let p = protocol(vec![get("")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut settings = Vec::new();
        settings.extend_from_slice(&frame::SETTINGS_MAX_CONCURRENT_STREAMS.to_be_bytes());
        settings.extend_from_slice(&1u32.to_be_bytes());
        let (out, _) = feed(&mut conn, &frame_of(frame::SETTINGS, 0, 0, &settings));
        assert_eq!(
            frames(&out)[0].0,
            FrameHeader {
                len: 0,
                kind: frame::SETTINGS,
                flags: frame::ACK,
                stream: 0
            }
        );

        let mut out = Vec::new();
        conn.start(0, 0, &mut out).unwrap();
        conn.start(1, 0, &mut out).unwrap();
        assert_eq!(frames(&out).len(), 1, "the second waits for the first");
        let mut server = Server(Encoder::new());
        let answer = server.headers(
            1,
            &[(":status", "200")],
            frame::END_HEADERS | frame::END_STREAM,
        );
        let (out, ended) = feed(&mut conn, &answer);
        assert_eq!(ended[0].token, 0);
        let sent = frames(&out);
        assert_eq!((sent[0].0.kind, sent[0].0.stream), (frame::HEADERS, 3));
    }

    #[test]
    fn ping_reset_and_goaway() {
        let p = protocol(vec![get("")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let (out, _) = feed(&mut conn, &frame_of(frame::PING, 0, 0, b"12345678"));
        assert_eq!(
            frames(&out),
            vec![(
                FrameHeader {
                    len: 8,
                    kind: frame::PING,
                    flags: frame::ACK,
                    stream: 0
                },
                b"12345678".to_vec()
            )]
        );

        let mut out = Vec::new();
        for token in 0..3 {
            conn.start(token, 0, &mut out).unwrap();
        }
        let (_, ended) = feed(
            &mut conn,
            &frame_of(frame::RST_STREAM, 0, 1, &7u32.to_be_bytes()),
        );
        assert_eq!(
            (ended[0].token, ended[0].outcome),
            (0, Err(ErrorKind::Reset))
        );
        // The peer took stream 3, not 5.
        let mut goaway = 3u32.to_be_bytes().to_vec();
        goaway.extend_from_slice(&0u32.to_be_bytes());
        let (_, ended) = feed(&mut conn, &frame_of(frame::GOAWAY, 0, 0, &goaway));
        assert_eq!(
            (ended[0].token, ended[0].outcome),
            (2, Err(ErrorKind::Closed))
        );
        assert!(!conn.accepts_exchanges());
        assert_eq!(conn.streams.len(), 1, "stream 3 still ends normally");
    }

    #[test]
    fn header_blocks_continue_across_frames() {
        let p = protocol(vec![get("")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        conn.start(0, 0, &mut Vec::new()).unwrap();
        let block =
            Encoder::new().encode([(&b":status"[..], &b"204"[..]), (b"x-long", &[b'v'; 40][..])]);
        let mut bytes = frame_of(frame::HEADERS, frame::END_STREAM, 1, &block[..10]);
        bytes.extend(frame_of(
            frame::CONTINUATION,
            frame::END_HEADERS,
            1,
            &block[10..],
        ));
        let (_, ended) = feed(&mut conn, &bytes);
        assert_eq!(
            ended[0].outcome,
            Ok(Answer {
                status: 204,
                failed: false
            })
        );
        // Another frame inside a header block is a protocol error.
        conn.start(1, 0, &mut Vec::new()).unwrap();
        let mut bad = frame_of(frame::HEADERS, 0, 3, &block[..10]);
        bad.extend(frame_of(frame::PING, 0, 0, b"12345678"));
        assert!(conn.feed(&bad, &mut Vec::new(), &mut Vec::new()).is_err());
    }

    #[test]
    fn request_bodies_respect_the_peers_windows() {
        let body = Bytes::from(vec![b'x'; 100_000]);
        let post = H2Request::new(
            &http::Method::POST,
            &"http://127.0.0.1:9/".parse().unwrap(),
            "127.0.0.1:9",
            &http::HeaderMap::new(),
            body,
        );
        assert!(post
            .headers
            .iter()
            .any(|(n, v)| n == b"content-length" && v == b"100000"));
        let p = protocol(vec![post], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut out = Vec::new();
        conn.start(0, 0, &mut out).unwrap();
        let data: usize = frames(&out)
            .iter()
            .filter(|(h, _)| h.kind == frame::DATA)
            .map(|(h, _)| h.len)
            .sum();
        assert_eq!(data, 65_535, "the default window, no more");
        // The stream's window opens first: still held by the connection's.
        let (out, _) = feed(
            &mut conn,
            &frame_of(frame::WINDOW_UPDATE, 0, 1, &100_000u32.to_be_bytes()),
        );
        assert!(out.is_empty());
        let (out, _) = feed(
            &mut conn,
            &frame_of(frame::WINDOW_UPDATE, 0, 0, &100_000u32.to_be_bytes()),
        );
        let sent = frames(&out);
        let rest: usize = sent.iter().map(|(h, _)| h.len).sum();
        assert_eq!(rest, 100_000 - 65_535);
        assert_eq!(sent.last().unwrap().0.flags, frame::END_STREAM);
    }

    #[test]
    fn a_smaller_peer_table_is_announced_in_the_next_block() {
        let p = protocol(vec![get("")], Answers::Http);
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut settings = frame::SETTINGS_HEADER_TABLE_SIZE.to_be_bytes().to_vec();
        settings.extend_from_slice(&0u32.to_be_bytes());
        feed(&mut conn, &frame_of(frame::SETTINGS, 0, 0, &settings));
        for seq in 0..3 {
            let mut out = Vec::new();
            conn.start(seq, 0, &mut out).unwrap();
            let block = &frames(&out)[0].1;
            // A size update to 0 leads the first block only; the peer's decoder agrees.
            assert_eq!(block[0] == 0x20, seq == 0);
        }
        assert!(conn.blocks.iter().all(Option::is_none));
    }

    #[test]
    fn grpc_status_comes_from_trailers_and_counts_messages() {
        let tally = grpc_tally();
        let call = H2Request::new(
            &http::Method::POST,
            &"http://127.0.0.1:9/pkg.S/M".parse().unwrap(),
            "127.0.0.1:9",
            &crate::grpc::grpc_headers(),
            Bytes::from_static(&[0, 0, 0, 0, 0]),
        );
        let p = protocol(vec![call], Answers::Grpc(Arc::clone(&tally)));
        let mut conn = H2Connection::new(Arc::clone(&p.shared));
        let mut server = Server(Encoder::new());
        conn.start(0, 0, &mut Vec::new()).unwrap();
        let mut answer = server.headers(
            1,
            &[(":status", "200"), ("content-type", "application/grpc")],
            frame::END_HEADERS,
        );
        answer.extend(frame_of(frame::DATA, 0, 1, &[0, 0, 0, 0, 2, 8]));
        answer.extend(frame_of(frame::DATA, 0, 1, &[1]));
        answer.extend(server.headers(
            1,
            &[("grpc-status", "14")],
            frame::END_HEADERS | frame::END_STREAM,
        ));
        let (_, ended) = feed(&mut conn, &answer);
        assert_eq!(
            ended[0].outcome,
            Ok(Answer {
                status: 14,
                failed: true
            })
        );
        assert_eq!(conn.streams.len(), 0);
        // An answer that ends without a grpc-status is not a gRPC answer.
        conn.start(1, 0, &mut Vec::new()).unwrap();
        let bare = server.headers(
            3,
            &[(":status", "200")],
            frame::END_HEADERS | frame::END_STREAM,
        );
        let (_, ended) = feed(&mut conn, &bare);
        assert_eq!(ended[0].outcome, Err(ErrorKind::Protocol));
        drop(conn);
        // Both calls are counted (no warm-up), as hyper's path counts them; the message
        // split over two DATA frames is one.
        assert_eq!(tally.sent.load(Relaxed), 2);
        assert_eq!(tally.received.load(Relaxed), 1);
    }
}
