//! HTTP/2 frames as bytes (RFC 9113 §4 and §6): what the lean client writes, and the frame
//! header it reads. Payload parsing lives with the connection that acts on it.

/// The client connection preface.
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Size of a frame header.
pub(crate) const HEADER_LEN: usize = 9;
/// The largest frame the client accepts (it does not raise SETTINGS_MAX_FRAME_SIZE).
pub(crate) const MAX_FRAME: usize = 16_384;
/// The flow-control window every stream and the connection start with.
pub(crate) const DEFAULT_WINDOW: i64 = 65_535;
/// The receive window the client gives each stream and the connection: large, as h2load's
/// default (2^30 − 1), so responses never wait for a window update.
pub(crate) const RECEIVE_WINDOW: u32 = (1 << 30) - 1;
/// The largest stream id.
pub(crate) const MAX_STREAM_ID: u32 = (1 << 31) - 1;

pub(crate) const DATA: u8 = 0x0;
pub(crate) const HEADERS: u8 = 0x1;
pub(crate) const RST_STREAM: u8 = 0x3;
pub(crate) const SETTINGS: u8 = 0x4;
pub(crate) const PUSH_PROMISE: u8 = 0x5;
pub(crate) const PING: u8 = 0x6;
pub(crate) const GOAWAY: u8 = 0x7;
pub(crate) const WINDOW_UPDATE: u8 = 0x8;
pub(crate) const CONTINUATION: u8 = 0x9;

pub(crate) const END_STREAM: u8 = 0x1;
pub(crate) const ACK: u8 = 0x1;
pub(crate) const END_HEADERS: u8 = 0x4;
pub(crate) const PADDED: u8 = 0x8;
pub(crate) const PRIORITY: u8 = 0x20;

pub(crate) const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub(crate) const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub(crate) const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub(crate) const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub(crate) const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// RST_STREAM's CANCEL code.
pub(crate) const CANCEL: u32 = 0x8;

/// A frame header read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHeader {
    pub len: usize,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    /// Parses the 9 bytes at the front of `data`, if there are 9.
    #[inline]
    pub(crate) fn parse(data: &[u8]) -> Option<FrameHeader> {
        let h = data.get(..HEADER_LEN)?;
        Some(FrameHeader {
            len: (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]),
            kind: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & MAX_STREAM_ID,
        })
    }
}

/// Appends a frame header.
#[inline]
pub(crate) fn header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// Appends the client's opening: preface, SETTINGS (no push, large stream windows) and a
/// connection window update to the same size.
pub(crate) fn opening(out: &mut Vec<u8>) {
    out.extend_from_slice(PREFACE);
    header(out, 12, SETTINGS, 0, 0);
    out.extend_from_slice(&SETTINGS_ENABLE_PUSH.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&SETTINGS_INITIAL_WINDOW_SIZE.to_be_bytes());
    out.extend_from_slice(&RECEIVE_WINDOW.to_be_bytes());
    window_update(out, 0, RECEIVE_WINDOW - DEFAULT_WINDOW as u32);
}

/// Appends a WINDOW_UPDATE.
pub(crate) fn window_update(out: &mut Vec<u8>, stream: u32, increment: u32) {
    header(out, 4, WINDOW_UPDATE, 0, stream);
    out.extend_from_slice(&increment.to_be_bytes());
}

/// Appends a RST_STREAM.
pub(crate) fn rst_stream(out: &mut Vec<u8>, stream: u32, code: u32) {
    header(out, 4, RST_STREAM, 0, stream);
    out.extend_from_slice(&code.to_be_bytes());
}

/// Appends a SETTINGS acknowledgement.
pub(crate) fn settings_ack(out: &mut Vec<u8>) {
    header(out, 0, SETTINGS, ACK, 0);
}

/// Appends a PING acknowledgement carrying `payload`.
pub(crate) fn ping_ack(out: &mut Vec<u8>, payload: &[u8]) {
    header(out, payload.len(), PING, ACK, 0);
    out.extend_from_slice(payload);
}

/// Appends a header block as HEADERS and, past `max_frame`, CONTINUATION frames.
pub(crate) fn headers(
    out: &mut Vec<u8>,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame: usize,
) {
    let mut chunks = block.chunks(max_frame.max(1));
    let first = chunks.next().unwrap_or_default();
    let single = first.len() == block.len();
    let mut flags = if end_stream { END_STREAM } else { 0 };
    if single {
        flags |= END_HEADERS;
    }
    header(out, first.len(), HEADERS, flags, stream);
    out.extend_from_slice(first);
    let mut rest = chunks.peekable();
    while let Some(chunk) = rest.next() {
        let flags = if rest.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        header(out, chunk.len(), CONTINUATION, flags, stream);
        out.extend_from_slice(chunk);
    }
}

/// Appends one DATA frame.
#[inline]
pub(crate) fn data(out: &mut Vec<u8>, stream: u32, payload: &[u8], end_stream: bool) {
    header(
        out,
        payload.len(),
        DATA,
        if end_stream { END_STREAM } else { 0 },
        stream,
    );
    out.extend_from_slice(payload);
}

/// The payload of a frame without its padding (and, for HEADERS, its priority fields).
pub(crate) fn unpadded(payload: &[u8], flags: u8, priority: bool) -> Option<&[u8]> {
    let mut body = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        pad = usize::from(*body.first()?);
        body = &body[1..];
    }
    if priority && flags & PRIORITY != 0 {
        body = body.get(5..)?;
    }
    body.get(..body.len().checked_sub(pad)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_header_parses_back() {
        let mut out = Vec::new();
        header(&mut out, 70_000, HEADERS, END_HEADERS | END_STREAM, 7);
        let h = FrameHeader::parse(&out).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                len: 70_000,
                kind: HEADERS,
                flags: END_HEADERS | END_STREAM,
                stream: 7
            }
        );
        assert_eq!(FrameHeader::parse(&out[..8]), None);
    }

    #[test]
    fn long_header_blocks_continue_and_end_once() {
        let mut out = Vec::new();
        let block = vec![1u8; 25];
        headers(&mut out, 1, &block, true, 10);
        let first = FrameHeader::parse(&out).unwrap();
        assert_eq!(
            (first.kind, first.len, first.flags),
            (HEADERS, 10, END_STREAM)
        );
        let second = FrameHeader::parse(&out[19..]).unwrap();
        assert_eq!(
            (second.kind, second.len, second.flags),
            (CONTINUATION, 10, 0)
        );
        let third = FrameHeader::parse(&out[38..]).unwrap();
        assert_eq!(
            (third.kind, third.len, third.flags),
            (CONTINUATION, 5, END_HEADERS)
        );
        assert_eq!(out.len(), 3 * HEADER_LEN + 25);
    }

    #[test]
    fn padding_and_priority_are_stripped() {
        // Pad length 2, priority (5 bytes), "ab", two pad bytes.
        let payload = [2, 0, 0, 0, 0, 16, b'a', b'b', 0, 0];
        assert_eq!(
            unpadded(&payload, PADDED | PRIORITY, true),
            Some(&b"ab"[..])
        );
        assert_eq!(
            unpadded(&[9, 1], PADDED, false),
            None,
            "padding longer than the frame"
        );
    }
}
