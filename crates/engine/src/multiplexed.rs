//! The seam for multiplexed protocols on the engine's own epoll loop: many exchanges in
//! flight on one connection, each named by a token the engine hands out. HTTP/2 (and gRPC
//! over it) is one. The protocol turns requests into bytes and bytes into ended exchanges;
//! the engine owns the sockets, the schedule, the timeouts and the recording, and writes
//! everything queued in one loop turn with one `send` per connection.

use std::net::SocketAddr;

use meshbench_core::ErrorKind;

use crate::framed::FeedError;

/// How an exchange on a multiplexed connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEnd {
    /// The token the exchange was started with.
    pub token: u32,
    /// Its status and whether it failed, or why no answer came.
    pub outcome: Result<Answer, ErrorKind>,
    /// Bytes written for it.
    pub bytes_sent: u64,
    /// Bytes read for it.
    pub bytes_received: u64,
}

/// An answer to one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Protocol status (HTTP status, or gRPC status code).
    pub status: u16,
    /// The answer is a failure (HTTP 5xx, a gRPC status other than OK).
    pub failed: bool,
}

/// A request/response protocol that multiplexes exchanges over one TCP connection.
pub trait MultiplexedProtocol: Send + Sync + 'static {
    /// The state of one connection.
    type Connection: MultiplexedConnection;
    /// Where connections go.
    fn address(&self) -> SocketAddr;
    /// The state for a new connection (every reconnect starts afresh).
    fn connection(&self) -> Self::Connection;
}

/// One connection's protocol state: it writes into the engine's output buffer and reads
/// from its input buffer, and never touches the socket.
pub trait MultiplexedConnection {
    /// Appends what opens the connection (HTTP/2: the preface and SETTINGS).
    fn open(&mut self, out: &mut Vec<u8>);
    /// Starts request `seq` of the mix as exchange `token`, appending what can be sent now.
    fn start(&mut self, token: u32, seq: u64, out: &mut Vec<u8>) -> Result<(), FeedError>;
    /// Feeds received bytes, returning how many were used (whole frames); unused bytes are
    /// fed again with more. Answers the connection owes (acknowledgements, window updates,
    /// requests that may now go) are appended to `out`, ended exchanges to `ended`. An error
    /// fails the connection and every exchange on it.
    fn feed(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
        ended: &mut Vec<StreamEnd>,
    ) -> Result<usize, FeedError>;
    /// Gives up on exchange `token` (it timed out), appending what tells the peer.
    fn cancel(&mut self, token: u32, out: &mut Vec<u8>);
    /// Whether new exchanges may start here (false once the peer said it is going away).
    fn accepts_exchanges(&self) -> bool;
}
