//! The API's view of the cluster: configured or not (and why), and whether it answers,
//! checked at most every few seconds so that `/health` stays cheap.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meshbench_k8s::{Cluster, Error};
use tokio::sync::Mutex;

/// How long a reachability check is reused by `/health`.
const CHECK_REUSED_FOR: Duration = Duration::from_secs(5);
/// How long `/health` waits for the cluster: a slow cluster must not make the server look
/// unready to its own readiness probe (3 s in deploy/).
const CHECK_TIMEOUT: Duration = Duration::from_millis(1500);

/// The Kubernetes integration as the server was configured.
#[derive(Clone, Debug, Default)]
pub enum Kubernetes {
    /// No kubeconfig and no in-cluster credentials: the endpoints answer 503.
    #[default]
    NotConfigured,
    /// A configuration exists but cannot be used; the reason is what every endpoint says.
    Unusable(Arc<String>),
    /// A cluster to ask.
    Cluster(Arc<ClusterAccess>),
}

impl Kubernetes {
    /// From what loading the configuration gave: a cluster, none, or an error.
    pub fn from_result(loaded: Result<Cluster, Error>) -> Kubernetes {
        match loaded {
            Ok(cluster) => Kubernetes::Cluster(Arc::new(ClusterAccess {
                cluster,
                last_check: Mutex::new(None),
            })),
            Err(Error::NotConfigured) => Kubernetes::NotConfigured,
            Err(e) => Kubernetes::Unusable(Arc::new(e.to_string())),
        }
    }
}

/// A configured cluster and its last reachability check.
#[derive(Debug)]
pub struct ClusterAccess {
    /// The cluster.
    pub cluster: Cluster,
    last_check: Mutex<Option<(Instant, Result<String, String>)>>,
}

impl ClusterAccess {
    /// The API server's version, or why it did not answer; reused for a few seconds.
    pub async fn reachable(&self) -> Result<String, String> {
        let mut last = self.last_check.lock().await;
        if let Some((at, outcome)) = last.as_ref() {
            if at.elapsed() < CHECK_REUSED_FOR {
                return outcome.clone();
            }
        }
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, self.cluster.version()).await {
            Ok(answer) => answer.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "the Kubernetes API at {} did not answer within {:?}",
                self.cluster.server(),
                CHECK_TIMEOUT
            )),
        };
        *last = Some((Instant::now(), outcome.clone()));
        outcome
    }
}
