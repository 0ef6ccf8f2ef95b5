//! Protocol drivers for the meshbench engine.
//!
//! HTTP/1.1 has a lean path of its own ([`http1`]): requests are serialised once, each
//! exchange is one `write` and (usually) one `read` on a socket whose readiness the driver
//! manages itself, and responses are parsed with `httparse` without being stored. That is
//! what lets the engine keep up with wrk, which hand-codes the same path. HTTP/2 and gRPC
//! have one too ([`lean_h2`]): frames written and parsed directly on the engine's loop, with
//! rustls driven inside it for TLS. hyper's HTTP/2 client ([`http2`], [`grpc`]) stays beside
//! it (the preflight, and every run with `MESHBENCH_H2_CLIENT=hyper`); TLS HTTP/1.1 goes
//! through rustls on tokio, and WebSocket through tokio-tungstenite ([`websocket`]).
#![deny(missing_docs)]

mod endpoint;
pub mod grpc;
pub mod http1;
pub mod http2;
mod io_error;
pub mod lean_h2;
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
pub use run::{run_spec, run_spec_with, H2Client, RunError};
pub use websocket::WebSocketDriver;

/// Why a driver could not be built from a spec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The spec itself is invalid.
    #[error(transparent)]
    Spec(#[from] meshbench_core::Error),
    /// The target's host name did not resolve.
    #[error("cannot resolve `{host}`")]
    Dns {
        /// The host that did not resolve.
        host: String,
        /// What the resolver said.
        #[source]
        source: std::io::Error,
    },
    /// The target's host name resolved to no address.
    #[error("cannot resolve `{host}`: no addresses")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// The TLS configuration could not be built.
    #[error("TLS setup failed")]
    Tls(#[source] rustls::Error),
    /// The host cannot be a TLS server name (for SNI and certificate checks).
    #[error("TLS setup failed: `{host}` is not a valid server name")]
    ServerName {
        /// The host.
        host: String,
        /// What rustls said.
        #[source]
        source: rustls::pki_types::InvalidDnsNameError,
    },
    /// A request sent before load (the preflight, a readiness or reflection call) got no
    /// usable answer: nothing listens, the connection broke, or the answer was not in the
    /// protocol. `detail` is what the session saw (sessions keep it as text, per lane).
    #[error("cannot reach the target: {target} ({kind}): {detail}{}", hint(.kind))]
    Unreachable {
        /// The target's `host:port`.
        target: String,
        /// How the exchange failed.
        kind: meshbench_core::ErrorKind,
        /// What the session saw.
        detail: String,
    },
    /// The server answered but is not ready for this run: a model that is not loaded, a
    /// method it does not implement, an error status for the request the run would repeat.
    #[error("cannot reach the target: {target}: {reason}")]
    Unready {
        /// The target's `host:port`.
        target: String,
        /// What it answered.
        reason: String,
    },
    /// .proto files (the spec's, or the built-in ones) do not compile.
    #[error("invalid proto: cannot compile {files}")]
    Proto {
        /// The files compiled.
        files: String,
        /// What protox found.
        #[source]
        source: Box<protox::Error>,
    },
    /// Compiled or reflected descriptors do not form one consistent set.
    #[error("invalid proto: the descriptors {from} do not fit together")]
    Descriptors {
        /// Where they came from.
        from: &'static str,
        /// What prost-reflect found.
        #[source]
        source: Box<prost_reflect::DescriptorError>,
    },
    /// A message the server sent before load (a reflection answer) does not decode.
    #[error("{what} does not decode")]
    Decode {
        /// What it was.
        what: &'static str,
        /// What prost found.
        #[source]
        source: prost::DecodeError,
    },
    /// No .proto was given and the server's reflection could not describe the service.
    #[error(
        "no .proto given and the server's reflection could not describe `{service}` (give --proto)"
    )]
    Reflection {
        /// The service asked about.
        service: String,
        /// Why the last reflection version tried failed.
        #[source]
        source: Box<Error>,
    },
    /// The OS would not give the calls made before load a runtime.
    #[error("cannot start a runtime for the calls before load")]
    Runtime(#[source] std::io::Error),
}

/// What to check for a failure of this kind, as a suffix of its message.
fn hint(kind: &meshbench_core::ErrorKind) -> &'static str {
    use meshbench_core::ErrorKind;
    match kind {
        ErrorKind::ConnectRefused => " (is the target running and listening on that port?)",
        ErrorKind::ConnectTimeout => " (is the host reachable?)",
        ErrorKind::Protocol => " (is it an HTTP server? for HTTPS use https://)",
        ErrorKind::Closed => " (the target closed the connection without answering)",
        _ => "",
    }
}

impl Error {
    /// A spec field that cannot be used, named as the user spelled it.
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Spec(meshbench_core::Error::invalid(field, message))
    }

    /// An [`Error::Unreachable`] of the target at `endpoint`.
    pub(crate) fn unreachable(
        endpoint: &Endpoint,
        kind: meshbench_core::ErrorKind,
        detail: impl Into<String>,
    ) -> Self {
        Error::Unreachable {
            target: endpoint.authority.clone(),
            kind,
            detail: detail.into(),
        }
    }

    /// An [`Error::Unready`] of the target at `endpoint`.
    pub(crate) fn unready(endpoint: &Endpoint, reason: impl Into<String>) -> Self {
        Error::Unready {
            target: endpoint.authority.clone(),
            reason: reason.into(),
        }
    }

    /// Whether the user's spec is at fault (the CLI's usage exit code), not the target.
    pub fn is_spec(&self) -> bool {
        matches!(
            self,
            Error::Spec(_)
                | Error::Proto { .. }
                | Error::Descriptors { .. }
                | Error::Reflection { .. }
        )
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
