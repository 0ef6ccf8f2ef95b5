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

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use loona_hpack::{Decoder, Encoder};
use meshbench_core::ErrorKind;
use meshbench_engine::{
    is_http_failure, Answer, Driver, FeedError, MultiplexedConnection, MultiplexedProtocol,
    StreamEnd,
};

use crate::grpc::{Framing, GrpcTally};
use frame::FrameHeader;

/// The dynamic table size HPACK starts with on both sides.
const DEFAULT_TABLE: usize = 4096;

/// One request of the mix, ready for the wire.
#[derive(Debug, Clone)]
pub(crate) struct H2Request {
    /// Header fields in order, pseudo-headers first, names in lower case.
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    /// The body, sent in DATA frames.
    pub body: Bytes,
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
        }
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
    /// Every field of every request fits HPACK's default dynamic table at once, so after
    /// each request went once its header block no longer changes the table and is reused.
    reusable_blocks: bool,
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
        fallback: Arc<D>,
    ) -> Self {
        let table: usize = requests
            .iter()
            .flat_map(|r| r.headers.iter())
            .map(|(n, v)| n.len() + v.len() + 32)
            .sum();
        LeanHttp2 {
            shared: Arc::new(Shared {
                address,
                requests,
                answers,
                reusable_blocks: table <= DEFAULT_TABLE,
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
    type Connection = H2Connection;

    fn address(&self) -> SocketAddr {
        self.shared.address
    }

    fn connection(&self) -> H2Connection {
        H2Connection::new(Arc::clone(&self.shared))
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
}

/// One connection's HTTP/2 state.
pub struct H2Connection {
    shared: Arc<Shared>,
    encoder: Encoder<'static>,
    decoder: Decoder<'static>,
    /// Header blocks that no longer change the encoder's table, per request.
    blocks: Vec<Option<Vec<u8>>>,
    encoded: Vec<bool>,
    not_yet_encoded: usize,
    /// A dynamic table size update the next header block must start with.
    table_update: Option<usize>,
    /// Whether settled header blocks are kept for reuse (see `Shared::reusable_blocks`).
    reuse_blocks: bool,
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
}

impl H2Connection {
    fn new(shared: Arc<Shared>) -> Self {
        let n = shared.requests.len();
        H2Connection {
            reuse_blocks: shared.reusable_blocks,
            shared,
            encoder: Encoder::new(),
            decoder: Decoder::new(),
            blocks: vec![None; n],
            encoded: vec![false; n],
            not_yet_encoded: n,
            table_update: None,
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
        let shared = Arc::clone(&self.shared);
        let spec = &shared.requests[request];
        let before = out.len();
        match &self.blocks[request] {
            Some(block) => {
                frame::headers(out, id, block, spec.body.is_empty(), self.peer_max_frame)
            }
            None => {
                let settled = self.not_yet_encoded == 0;
                self.scratch.clear();
                if let Some(size) = self.table_update.take() {
                    // Writing into a Vec cannot fail.
                    let _ =
                        loona_hpack::encoder::encode_integer_into(size, 5, 0x20, &mut self.scratch);
                }
                let fields = spec
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_slice(), v.as_slice()));
                // Writing into a Vec cannot fail.
                let _ = self.encoder.encode_into(fields, &mut self.scratch);
                frame::headers(
                    out,
                    id,
                    &self.scratch,
                    spec.body.is_empty(),
                    self.peer_max_frame,
                );
                if !self.encoded[request] {
                    self.encoded[request] = true;
                    self.not_yet_encoded -= 1;
                }
                if settled && self.reuse_blocks {
                    self.blocks[request] = Some(self.scratch.clone());
                }
            }
        }
        let started = match &shared.answers {
            Answers::Grpc(_) => Some(Instant::now()),
            Answers::Http => None,
        };
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
        });
        if !spec.body.is_empty() {
            let last = self.streams.len() - 1;
            self.send_body(last, out);
        }
        Ok(())
    }

    /// Writes as much of stream `index`'s body as the windows allow.
    fn send_body(&mut self, index: usize, out: &mut Vec<u8>) {
        let shared = Arc::clone(&self.shared);
        let stream = &mut self.streams[index];
        let body = &shared.requests[stream.request].body;
        while stream.body_sent < body.len() {
            let allowed = self
                .send_window
                .min(stream.send_window)
                .min(self.peer_max_frame as i64);
            if allowed <= 0 {
                return;
            }
            let end = (stream.body_sent + allowed as usize).min(body.len());
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
            if stream.body_sent < self.shared.requests[stream.request].body.len() {
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
                    self.grpc_sent += tally.messages_per_call;
                    self.grpc_received += stream.framing.messages;
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
                    let size = (value as usize).min(DEFAULT_TABLE);
                    if size < DEFAULT_TABLE {
                        // The peer's decoder keeps less: shrink ours, say so in the next
                        // block, and stop reusing blocks (they may point past the table).
                        self.encoder.set_max_table_size(size);
                        self.table_update = Some(size);
                        self.blocks.iter_mut().for_each(|b| *b = None);
                        self.reuse_blocks = false;
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
                    let grpc = matches!(self.shared.answers, Answers::Grpc(_));
                    let stream = &mut self.streams[index];
                    stream.bytes_received += (frame::HEADER_LEN + payload.len()) as u64;
                    if grpc {
                        stream.framing.feed(data);
                    }
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
        }
    }
}

fn parse_u16(value: &[u8]) -> Option<u16> {
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}
