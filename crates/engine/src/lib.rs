//! The load engine: it decides *when* requests go out and records *how long* they took; the
//! drivers (HTTP/1.1, HTTP/2, later gRPC and WebSocket) decide *what* goes on the wire.
//!
//! Shape of a run: `threads` OS threads, each with its own single-threaded tokio runtime and
//! its own recorder, so the hot path takes no lock and shares no cache line. Each thread
//! owns a slice of the connections; each connection (or HTTP/2 stream) is a *lane* that
//! loops: take the next slot from the pacer, call the driver, record. Once a second every
//! thread ships its interval histogram to the coordinator, which merges them into the
//! timeline and the live progress; at the end the thread totals are merged losslessly.
//!
//! In the open model a slot's time comes from the rate schedule, not from when the lane got
//! free, and latency counts from that intended time: a stall shows up in full
//! (coordinated omission, as wrk2 and HdrHistogram define it). The uncorrected service time
//! is recorded beside it.
#![deny(missing_docs)]

mod clock;
pub mod driver;
pub mod framed;
mod lane;
pub mod multiplexed;
mod pacer;
mod precise_timer;
mod reactor;
pub mod recorder;
mod run;
mod usage;

pub use driver::{error_kind_of, is_http_failure, Driver, Exchange, Session};
pub use framed::{absorb, FeedError, FramedProtocol, ReaderProgress, ResponseReader};
pub use multiplexed::{Answer, MultiplexedConnection, MultiplexedProtocol, StreamEnd};
pub use recorder::IntervalReport;
pub use run::{run, run_framed, run_multiplexed, Observer, RunOutput, StopHandle};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec was refused before anything was sent.
    #[error(transparent)]
    Spec(#[from] meshbench_core::Error),
    /// The target could not be reached before load started; nothing was measured. The
    /// driver's error says why: it is this error's message and cause chain.
    #[error(transparent)]
    Unreachable(Box<dyn std::error::Error + Send + Sync>),
    /// The request sent before load got no answer within the connect and request timeouts.
    #[error(
        "cannot reach the target: no answer within {seconds:.1}s (connect and request timeouts)"
    )]
    NoAnswer {
        /// The time allowed, in seconds.
        seconds: f64,
    },
    /// The OS would not give the engine a thread or a runtime.
    #[error("cannot start load threads: {0}")]
    Runtime(#[source] std::io::Error),
    /// A load thread died unexpectedly.
    #[error("a load thread failed: {0}")]
    Thread(String),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
