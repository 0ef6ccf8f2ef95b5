//! meshbench's Kubernetes integration: which namespaces, pods and services a cluster has,
//! which mesh serves a namespace (Istio sidecar or ambient, Linkerd, Cilium, none), from the
//! objects the cluster already holds.
//!
//! Configuration comes from `KUBECONFIG` (or `~/.kube/config`) or in-cluster service
//! account credentials ([`Source::find`]); with none, [`Error::NotConfigured`]. Every
//! call is bounded in time, and every failure names what was asked ([`Error`]).

pub mod cluster;
pub mod deploy;
pub mod detect;
pub mod load;
pub mod view;

use std::time::Duration;

pub use cluster::{Cluster, ContainerMetrics, PodUsage, Source, DEFAULT_TIMEOUT};
pub use detect::{detect, Inventory};

/// Why a question to the cluster got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No kubeconfig and no in-cluster credentials.
    #[error("no Kubernetes cluster is configured (set KUBECONFIG)")]
    NotConfigured,
    /// The configuration exists but cannot be used.
    #[error("cannot use the Kubernetes configuration ({source_name}): {message}")]
    Config {
        /// Where it came from: the kubeconfig's path or the in-cluster account.
        source_name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The API server did not answer in time.
    #[error("the Kubernetes API at {server} did not answer `{action}` within {after:?}")]
    Timeout {
        /// The API server.
        server: String,
        /// What was asked.
        action: String,
        /// How long meshbench waited.
        after: Duration,
    },
    /// The API server could not be reached (connection refused, TLS, DNS…).
    #[error("cannot reach the Kubernetes API at {server} to {action}: {message}")]
    Unreachable {
        /// The API server.
        server: String,
        /// What was asked.
        action: String,
        /// The cause.
        message: String,
    },
    /// The credentials were rejected (401).
    #[error("the Kubernetes API at {server} rejected meshbench's credentials: {message}")]
    Unauthorized {
        /// The API server.
        server: String,
        /// The API server's message.
        message: String,
    },
    /// RBAC refused a verb on a resource (403).
    #[error("Kubernetes RBAC does not allow meshbench to {verb} {resource}{scope}: {message}")]
    Forbidden {
        /// The refused verb (`list`, `get`, `create`…).
        verb: &'static str,
        /// The refused resource (`pods`, `peerauthentications.security.istio.io`…).
        resource: &'static str,
        /// ` in namespace X` or ` cluster-wide`.
        scope: String,
        /// The API server's message.
        message: String,
    },
    /// The namespace does not exist.
    #[error("namespace `{0}` does not exist")]
    NamespaceNotFound(String),
    /// A resource or API is not served (404).
    #[error("not found: {what}: {message}")]
    NotFound {
        /// What was asked.
        what: String,
        /// The API server's message.
        message: String,
    },
    /// Any other error status from the API server.
    #[error("the Kubernetes API answered {code} to `{action}`: {message}")]
    Api {
        /// The HTTP status.
        code: u16,
        /// What was asked.
        action: String,
        /// The API server's message.
        message: String,
    },
}
