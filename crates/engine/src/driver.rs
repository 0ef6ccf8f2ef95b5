//! The seam between the engine and a protocol. A [`Driver`] is shared by every load thread;
//! it opens [`Session`]s on the thread that uses them, so a session may hold `!Send` state
//! and never needs a lock.

use meshbench_core::ErrorKind;
use std::future::Future;

/// What one successful exchange produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Exchange {
    /// Protocol status (HTTP status code; 0 where a protocol has none).
    pub status: u16,
    /// Bytes written for this request.
    pub bytes_sent: u64,
    /// Bytes read for this response.
    pub bytes_received: u64,
    /// The peer answered, with a failure (an HTTP 5xx, a gRPC status other than OK): a
    /// proxy's 503 for a target that is down is an error of the run, not a fast answer.
    pub failed: bool,
}

impl Exchange {
    /// An HTTP answer: a 5xx is a failure, anything else an answer.
    #[inline]
    pub fn http(status: u16, bytes_sent: u64, bytes_received: u64) -> Exchange {
        Exchange {
            status,
            bytes_sent,
            bytes_received,
            failed: is_http_failure(status),
        }
    }
}

/// Whether an HTTP status is a failed request of the run (a 5xx).
#[inline]
pub fn is_http_failure(status: u16) -> bool {
    (500..600).contains(&status)
}

/// A failed exchange: why, and what crossed the wire before it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// Bytes written before the failure.
    pub bytes_sent: u64,
    /// Bytes read before the failure.
    pub bytes_received: u64,
}

impl From<ErrorKind> for Failure {
    fn from(kind: ErrorKind) -> Self {
        Failure {
            kind,
            bytes_sent: 0,
            bytes_received: 0,
        }
    }
}

/// A protocol the engine can drive.
pub trait Driver: Send + Sync + 'static {
    /// One lane of traffic: a connection, or one stream of a multiplexed connection.
    type Session: Session;

    /// Why [`Driver::preflight`] failed; the engine hands it on as
    /// [`crate::Error::Unreachable`], whose message is this error's.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Connects once (and sends one request) before load starts, so an unreachable,
    /// refusing or garbage-speaking target is reported as such instead of as a run of errors.
    fn preflight(&self) -> impl Future<Output = Result<(), Self::Error>>;

    /// Opens the `streams` lanes of connection number `connection`. Called on the load
    /// thread that will drive them; connecting may be deferred to the first call.
    fn open(&self, connection: usize, streams: usize) -> Vec<Self::Session>;
}

/// One lane: sends request number `seq` of the mix and waits for its response.
pub trait Session: 'static {
    /// Performs one exchange, connecting or reconnecting first when needed.
    fn call(&mut self, seq: u64) -> impl Future<Output = Result<Exchange, Failure>>;

    /// Forgets the connection after the engine abandoned a call (timeout or stop), since
    /// its state on the wire is then unknown.
    fn abandon(&mut self);
}

/// The error kind of an I/O error, for results: refused, reset, timed out, closed or other.
pub fn error_kind_of(error: &std::io::Error) -> ErrorKind {
    use std::io::ErrorKind as Io;
    match error.kind() {
        Io::ConnectionRefused => ErrorKind::ConnectRefused,
        Io::ConnectionReset | Io::BrokenPipe | Io::ConnectionAborted => ErrorKind::Reset,
        Io::TimedOut => ErrorKind::Timeout,
        Io::UnexpectedEof => ErrorKind::Closed,
        Io::InvalidData => ErrorKind::Protocol,
        _ => ErrorKind::Io,
    }
}
