//! Platform configuration from the environment and `.env` (the seed's variables), read once
//! here and validated into [`Settings`]. The process environment wins over `.env`, and
//! nothing is written back into the environment.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use meshbench_core::policy::{NamespacePolicy, TargetPolicy};
use meshbench_core::user::{LimitsByRole, RoleLimits};
use meshbench_core::StartLimits;

/// Every variable meshbench reads, documented in `.env.example`.
pub mod vars {
    /// Store URL: `postgres://…` or `sqlite://…`; unset means a SQLite file in the data dir.
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// Queue and event bus: `redis://…`; unset means in-process.
    pub const REDIS_URL: &str = "REDIS_URL";
    /// `true` for debug logging.
    pub const DEBUG: &str = "DEBUG";
    /// API listen address.
    pub const API_HOST: &str = "API_HOST";
    /// API listen port.
    pub const API_PORT: &str = "API_PORT";
    /// Comma-separated CORS origins, or `*`.
    pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
    /// Raw results go to `RESULTS_DIR/<job_id>/`.
    pub const RESULTS_DIR: &str = "RESULTS_DIR";
    /// Where the embedded SQLite file lives.
    pub const DATA_DIR: &str = "MESHBENCH_DATA_DIR";
    /// Address of the built-in target the embedded server starts.
    pub const TARGET_ADDR: &str = "MESHBENCH_TARGET_ADDR";
    /// Where load may be aimed: comma-separated `host[:port]` / `CIDR[:port]` entries.
    pub const TARGET_ALLOW: &str = meshbench_core::policy::TARGET_ALLOW_VAR;
    /// Namespaces runs, probes and the cluster views may use: `team-a,bench-*`, or `*`.
    pub const NAMESPACE_ALLOW: &str = meshbench_core::policy::NAMESPACE_ALLOW_VAR;
    /// An operator's limits: `duration=600,connections=1000,rate=50000,jobs=50`, or `none`.
    pub const OPERATOR_LIMITS: &str = meshbench_core::user::OPERATOR_LIMITS_VAR;
    /// An admin's limits, in the same form (default `none`: the server's limits alone).
    pub const ADMIN_LIMITS: &str = meshbench_core::user::ADMIN_LIMITS_VAR;
    /// The first admin's name, made at start when no user exists (default `admin`).
    pub const ADMIN_USER: &str = "MESHBENCH_ADMIN_USER";
    /// The first admin's password: with it, a server with no users makes the first admin
    /// at start (a container or a chart has no terminal to run `meshbench user add` in).
    pub const ADMIN_PASSWORD: &str = "MESHBENCH_ADMIN_PASSWORD";
    /// Worker loops (one job each at a time) in `serve` (0 leaves the work to `meshbench
    /// worker`) and in each `meshbench worker` process (at least 1).
    pub const WORKERS: &str = "MESHBENCH_WORKERS";
    /// Seconds without a heartbeat before a job's worker counts as lost.
    pub const LEASE_SECONDS: &str = "MESHBENCH_LEASE_SECONDS";
    /// Longest benchmark duration accepted, seconds.
    pub const MAX_DURATION: &str = "MESHBENCH_MAX_DURATION";
    /// Shortest benchmark duration accepted, seconds.
    pub const MIN_DURATION: &str = "MESHBENCH_MIN_DURATION";
    /// Most connections accepted.
    pub const MAX_CONNECTIONS: &str = "MESHBENCH_MAX_CONNECTIONS";
    /// Highest open-model rate accepted.
    pub const MAX_RATE: &str = "MESHBENCH_MAX_RATE";
    /// Largest request body accepted, bytes.
    pub const MAX_BODY_BYTES: &str = "MESHBENCH_MAX_BODY_BYTES";
    /// Serve the dashboard from this directory (a `frontend/build`) instead of the files
    /// built into the binary.
    pub const DASHBOARD_DIR: &str = "MESHBENCH_DASHBOARD_DIR";
    /// The Kubernetes cluster's kubeconfig; unset means `~/.kube/config`, then in-cluster
    /// credentials, then no cluster.
    pub const KUBECONFIG: &str = "KUBECONFIG";
    /// Seconds one call to the Kubernetes API may take.
    pub const KUBE_TIMEOUT: &str = "MESHBENCH_KUBE_TIMEOUT";
    /// Seconds between a run's readings of proxy CPU and memory (metrics.k8s.io).
    pub const METRICS_INTERVAL: &str = "MESHBENCH_METRICS_INTERVAL";
    /// The meshbench image in-cluster runs' load pods run.
    pub const IMAGE: &str = "MESHBENCH_IMAGE";
    /// Seconds between creating an in-cluster run's Job and its pods starting to measure.
    pub const LOAD_START_DELAY: &str = "MESHBENCH_LOAD_START_DELAY";
}

/// Resolved platform settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<String>,
    pub redis_url: Option<String>,
    pub debug: bool,
    pub api_addr: SocketAddr,
    pub allowed_origins: Vec<String>,
    pub results_dir: PathBuf,
    pub data_dir: PathBuf,
    pub dashboard_dir: Option<PathBuf>,
    pub target_addr: SocketAddr,
    pub target_policy: TargetPolicy,
    pub role_limits: meshbench_core::user::LimitsByRole,
    pub namespace_policy: NamespacePolicy,
    /// The first admin to make when no user exists: name and password.
    pub first_admin: Option<(String, String)>,
    pub workers: usize,
    pub lease: Duration,
    pub limits: StartLimits,
    pub kubeconfig: Option<PathBuf>,
    pub kube_timeout: Duration,
    pub metrics_interval: Duration,
    pub image: String,
    pub load_start_delay: Duration,
}

impl Settings {
    /// The cluster these settings lead to, or why there is none.
    pub async fn cluster(&self) -> Result<meshbench_k8s::Cluster, meshbench_k8s::Error> {
        let kubeconfig = self.kubeconfig.as_ref().map(|p| p.as_os_str());
        meshbench_k8s::Cluster::find(kubeconfig, self.kube_timeout).await
    }
}

/// The environment merged over `.env` (when present in the working directory).
pub fn environment() -> HashMap<String, String> {
    let mut env: HashMap<String, String> = HashMap::new();
    if let Ok(iter) = dotenvy::dotenv_iter() {
        for (key, value) in iter.flatten() {
            env.insert(key, value);
        }
    }
    env.extend(std::env::vars());
    env
}

impl Settings {
    /// Reads and checks every variable; the error names the variable at fault.
    pub fn from_env(env: &HashMap<String, String>) -> anyhow::Result<Settings> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let number = |k: &str, default: u64| -> anyhow::Result<u64> {
            match get(k) {
                None => Ok(default),
                Some(v) => v
                    .parse::<u64>()
                    .with_context(|| format!("{k}=`{v}` is not a whole number")),
            }
        };
        // Loopback unless asked: a server reachable from elsewhere needs users (see serve).
        let host: IpAddr = get(vars::API_HOST)
            .unwrap_or_else(|| "127.0.0.1".into())
            .parse()
            .with_context(|| format!("{} is not an IP address", vars::API_HOST))?;
        let port =
            u16::try_from(number(vars::API_PORT, 8000)?).context("API_PORT must be 0–65535")?;
        let target_addr: SocketAddr = get(vars::TARGET_ADDR)
            .unwrap_or_else(|| "127.0.0.1:0".into())
            .parse()
            .with_context(|| format!("{} is not host:port", vars::TARGET_ADDR))?;
        let debug = matches!(
            get(vars::DEBUG).as_deref(),
            Some("1" | "true" | "yes" | "on" | "TRUE" | "True")
        );
        let limits = StartLimits {
            min_duration: number(vars::MIN_DURATION, 10)? as u32,
            max_duration: number(vars::MAX_DURATION, 3600)? as u32,
            max_connections: number(vars::MAX_CONNECTIONS, 10_000)? as u32,
            max_rate: number(vars::MAX_RATE, 1_000_000)? as f64,
            max_body_bytes: number(vars::MAX_BODY_BYTES, 1024 * 1024)? as usize,
            ..StartLimits::default()
        };
        if limits.min_duration > limits.max_duration {
            bail!("{} is above {}", vars::MIN_DURATION, vars::MAX_DURATION);
        }
        let lease = Duration::from_secs(number(vars::LEASE_SECONDS, 15)?.max(2));
        Ok(Settings {
            database_url: get(vars::DATABASE_URL),
            redis_url: get(vars::REDIS_URL),
            debug,
            api_addr: SocketAddr::new(host, port),
            allowed_origins: get(vars::ALLOWED_ORIGINS)
                .unwrap_or_else(|| "http://localhost:5173,http://localhost:3000".into())
                .split(',')
                .map(|o| o.trim().to_string())
                .filter(|o| !o.is_empty())
                .collect(),
            results_dir: get(vars::RESULTS_DIR)
                .unwrap_or_else(|| "results".into())
                .into(),
            data_dir: get(vars::DATA_DIR).unwrap_or_else(|| "data".into()).into(),
            dashboard_dir: get(vars::DASHBOARD_DIR).map(PathBuf::from),
            target_addr,
            target_policy: match get(vars::TARGET_ALLOW) {
                Some(list) => TargetPolicy::parse(&list).map_err(|e| anyhow::anyhow!("{e}"))?,
                None => TargetPolicy::loopback(),
            },
            namespace_policy: match get(vars::NAMESPACE_ALLOW) {
                Some(list) => NamespacePolicy::parse(&list)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", vars::NAMESPACE_ALLOW))?,
                None => NamespacePolicy::any(),
            },
            role_limits: {
                let read = |var: &str, default: RoleLimits| -> anyhow::Result<RoleLimits> {
                    match get(var) {
                        Some(text) => {
                            RoleLimits::parse(&text).map_err(|e| anyhow::anyhow!("{var}: {e}"))
                        }
                        None => Ok(default),
                    }
                };
                LimitsByRole {
                    operator: read(vars::OPERATOR_LIMITS, RoleLimits::operator_default())?,
                    admin: read(vars::ADMIN_LIMITS, RoleLimits::default())?,
                }
            },
            first_admin: get(vars::ADMIN_PASSWORD).map(|password| {
                (
                    get(vars::ADMIN_USER).unwrap_or_else(|| "admin".into()),
                    password,
                )
            }),
            workers: number(vars::WORKERS, 1)? as usize,
            lease,
            limits,
            kubeconfig: get(vars::KUBECONFIG).map(PathBuf::from),
            image: get(vars::IMAGE)
                .unwrap_or_else(|| concat!("meshbench:", env!("CARGO_PKG_VERSION")).into()),
            load_start_delay: Duration::from_secs(number(vars::LOAD_START_DELAY, 20)?),
            metrics_interval: match number(vars::METRICS_INTERVAL, 5)? {
                0 => bail!("{}=0: sample at least every second", vars::METRICS_INTERVAL),
                s => Duration::from_secs(s),
            },
            kube_timeout: match number(
                vars::KUBE_TIMEOUT,
                meshbench_k8s::DEFAULT_TIMEOUT.as_secs(),
            )? {
                0 => bail!(
                    "{}=0: the Kubernetes timeout must be at least 1 second",
                    vars::KUBE_TIMEOUT
                ),
                s => Duration::from_secs(s),
            },
        })
    }
}
