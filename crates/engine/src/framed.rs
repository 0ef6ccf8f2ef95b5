//! The seam for protocols simple enough to run on the engine's own epoll loop: a request is
//! a fixed byte string and a response is framed by a small parser. HTTP/1.1 over plain TCP
//! is one; the engine stays protocol-free because the framing lives behind these traits.

use std::net::SocketAddr;

use meshbench_core::ErrorKind;

/// How far one [`ResponseReader::feed`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderProgress {
    /// Bytes used; unused bytes are fed again with more data.
    pub consumed: usize,
    /// The response is complete.
    pub done: bool,
}

/// Why response bytes could not be used: the kind results count, and for a person to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedError {
    /// Counted as.
    pub kind: ErrorKind,
    /// What was wrong (built only when it goes wrong).
    pub message: String,
}

impl FeedError {
    /// A protocol violation.
    pub fn protocol(message: impl Into<String>) -> Self {
        FeedError {
            kind: ErrorKind::Protocol,
            message: message.into(),
        }
    }
}

/// Parses one response as its bytes arrive.
pub trait ResponseReader {
    /// Feeds everything received and not yet consumed.
    fn feed(&mut self, data: &[u8]) -> Result<ReaderProgress, FeedError>;
    /// The peer closed the connection; true when that ends the response normally.
    fn eof(&mut self) -> bool;
    /// The response's status.
    fn status(&self) -> u16;
    /// Whether the status is a failure (HTTP: 5xx), counted as an error of the run.
    fn failed(&self) -> bool;
    /// Whether the connection can carry another request.
    fn keep_alive(&self) -> bool;
}

/// A request/response protocol over plain TCP that the engine's event loop can drive.
pub trait FramedProtocol: Send + Sync + 'static {
    /// The per-response parser.
    type Reader: ResponseReader;
    /// Where connections go.
    fn address(&self) -> SocketAddr;
    /// The bytes of request `seq` of the mix.
    fn request(&self, seq: u64) -> &[u8];
    /// A parser for the response to request `seq`.
    fn reader(&self, seq: u64) -> Self::Reader;
}

/// Feeds the `filled` bytes of `buf` (the last read appended) to `reader`, keeping what it
/// did not consume at the front of `buf`. True once the response is complete. Every path
/// that reads responses into a fixed buffer (the event loop, the TLS path) shares this.
#[inline]
pub fn absorb<R: ResponseReader>(
    reader: &mut R,
    buf: &mut [u8],
    filled: &mut usize,
) -> Result<bool, FeedError> {
    let progress = reader.feed(&buf[..*filled])?;
    if progress.done {
        if progress.consumed != *filled {
            return Err(FeedError::protocol("bytes after the end of the response"));
        }
        return Ok(true);
    }
    if progress.consumed > 0 {
        buf.copy_within(progress.consumed..*filled, 0);
        *filled -= progress.consumed;
    }
    if *filled == buf.len() {
        // Only an unfinished head can fill the buffer.
        return Err(FeedError::protocol(format!(
            "response head longer than {} bytes",
            buf.len()
        )));
    }
    Ok(false)
}
