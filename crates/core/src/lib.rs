//! Pure types shared by every part of meshbench: what a benchmark asks for ([`spec`]), how
//! requests are paced ([`rate`]), how latencies are kept ([`histogram`]) and what a run
//! reports ([`result`]).
//!
//! Nothing here performs I/O or depends on an async runtime, so the API, the store and the
//! engine can all agree on these shapes without pulling each other in. Validation lives here
//! too: a [`spec::BenchmarkSpec`] that passed [`spec::BenchmarkSpec::validate`] is runnable.
#![deny(missing_docs)]

pub mod capacity;
pub mod cluster;
pub mod compare;
pub mod csv;
pub mod distribution;
pub mod duration;
pub mod error_kind;
pub mod histogram;
pub mod hops;
pub mod job;
pub mod lab;
pub mod mesh;
pub mod policy;
pub mod probe;
pub mod rate;
pub mod result;
pub mod smp;
pub mod spec;
pub mod split;
pub mod start;
pub mod stats;
pub mod user;

pub use cluster::{
    ClusterRecord, Component, ContainerInfo, ContainerUsage, ControlPlane, Injection, MeshStatus,
    MeshSummary, MtlsInfo, NamespaceInfo, PodInfo, ResourceCost, ResourceSample, ServiceInfo,
    ServicePortInfo,
};
pub use distribution::{Bucket, Distribution, JobDistribution, SpectrumPoint};
pub use error_kind::ErrorKind;
pub use job::{
    native_bucket, BenchmarkJob, JobEvent, JobEventBody, JobFilter, JobKind, JobSort, JobStatus,
    JobSummary, NativeBucket, SeriesPlace, SortOrder, TestType, LIVE_BUCKETS_US, NATIVE_SCHEMA,
};
pub use mesh::MeshKind;
pub use probe::ProbeRequest;
pub use rate::RateSchedule;
pub use result::{
    BenchmarkResult, GrpcResult, LatencySummary, LoadgenInfo, MlResult, TimelineEntry,
    WebSocketResult, RESULT_SCHEMA,
};
pub use spec::{
    BenchmarkSpec, GrpcSpec, HttpVersion, LoadModel, MlApi, MlSpec, RequestSpec, WebSocketSpec,
    GRPC_ECHO_UNARY,
};
pub use start::{FieldError, StartLimits, StartRequest};

/// Why a spec, a schedule or a stored histogram was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a spec or option has a value that cannot be used; `field` names it.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The field or option at fault, as the user spelled it.
        field: &'static str,
        /// What is wrong with it, for a person to read.
        message: String,
    },
    /// A histogram could not be decoded from its serialized form.
    #[error("cannot decode histogram: {0}")]
    HistogramDecode(String),
    /// A histogram could not be encoded.
    #[error("cannot encode histogram: {0}")]
    HistogramEncode(String),
}

impl Error {
    /// Shorthand for an [`Error::Invalid`].
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Error::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `error`'s message and those of its causes, `: `-separated (as anyhow's `{:#}` writes
/// them), for reports that keep only text, such as a failed job's `error`: error types keep
/// their causes in [`std::error::Error::source`], not in their own message.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_names_every_cause() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&e), "outer: inner");
        assert_eq!(error_chain(&std::io::Error::other("alone")), "alone");
    }
}
