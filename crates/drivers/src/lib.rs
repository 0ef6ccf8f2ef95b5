//! Protocol drivers for the meshbench engine.
//!
//! HTTP/1.1 has a lean path of its own ([`http1`]): requests are serialised once, each
//! exchange is one `write` and (usually) one `read` on a socket whose readiness the driver
//! manages itself, and responses are parsed with `httparse` without being stored. That is
//! what lets the engine keep up with wrk, which hand-codes the same path. TLS and HTTP/2
//! go through rustls and hyper ([`http2`]), where a general library is the right tool, and
//! WebSocket through tokio-tungstenite ([`websocket`]).
#![deny(missing_docs)]

mod endpoint;
pub mod grpc;
pub mod http1;
pub mod http2;
mod io_error;
pub mod ml;
mod net;
mod reflection;
mod run;
mod tls;
pub mod websocket;
mod window;

pub use endpoint::Endpoint;
pub use grpc::GrpcDriver;
pub use http1::Http1Driver;
pub use http2::Http2Driver;
pub use ml::MlDriver;
pub use run::{run_spec, RunError};
pub use websocket::WebSocketDriver;

/// Why a driver could not be built from a spec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec itself is invalid.
    #[error(transparent)]
    Spec(#[from] meshbench_core::Error),
    /// The target's host name did not resolve.
    #[error("cannot resolve `{host}`: {reason}")]
    Dns {
        /// The host that did not resolve.
        host: String,
        /// What the resolver said.
        reason: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// The server is up but not ready for this run (a model that is not loaded).
    #[error("cannot reach the target: {0}")]
    Unready(String),
}

impl Error {
    /// A spec field that cannot be used, named as the user spelled it.
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Spec(meshbench_core::Error::invalid(field, message))
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
