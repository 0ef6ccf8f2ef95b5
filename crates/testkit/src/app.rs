//! The API router in this process, on embedded backends (SQLite, in-process queue) or real
//! ones (PostgreSQL, Redis under a prefix of the test's own).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use meshbench_api::{ApiSettings, AppState};
use meshbench_core::StartLimits;
use meshbench_queue::{EventBus, JobQueue};
use meshbench_store::Store;
use tokio::task::JoinHandle;

use crate::redis::RedisPrefix;

/// The lease timeout of the queues the kit opens.
pub const VISIBILITY: Duration = Duration::from_secs(15);

/// A store, migrated, and a queue and event bus.
#[derive(Clone)]
pub struct Backends {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The queue.
    pub queue: Arc<dyn JobQueue>,
    /// The event bus.
    pub bus: Arc<dyn EventBus>,
}

impl Backends {
    /// Opens and migrates the store `database_url` names (`None`: SQLite in `data_dir`;
    /// `sqlite::memory:` works too), and the queue in Redis under `redis`'s prefix, or
    /// in-process when `None`.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &Path,
        redis: Option<&RedisPrefix>,
    ) -> Backends {
        let store = meshbench_store::open(database_url, data_dir)
            .await
            .unwrap_or_else(|e| panic!("cannot open the store {database_url:?}: {e}"));
        store
            .migrate()
            .await
            .unwrap_or_else(|e| panic!("cannot migrate the store: {e}"));
        let (queue, bus) = match redis {
            None => meshbench_queue::open(None, VISIBILITY).await,
            Some(prefix) => {
                meshbench_queue::open_with_prefix(Some(prefix.url()), prefix.as_str(), VISIBILITY)
                    .await
            }
        }
        .unwrap_or_else(|e| panic!("cannot open the queue: {e}"));
        Backends { store, queue, bus }
    }
}

/// The API's state on `backends`, as `serve` would build it, for tests: CORS for the dev
/// dashboard's origin, a built-in target assumed, no probe runner.
pub fn state(backends: &Backends, results_dir: &Path, dashboard_dir: Option<&Path>) -> AppState {
    AppState {
        store: Arc::clone(&backends.store),
        queue: Arc::clone(&backends.queue),
        bus: Arc::clone(&backends.bus),
        settings: Arc::new(ApiSettings {
            limits: StartLimits::default(),
            allowed_origins: vec!["http://localhost:5173".to_string()],
            has_default_target: true,
            version: "test".to_string(),
            results_dir: results_dir.to_path_buf(),
            dashboard_dir: dashboard_dir.map(Path::to_path_buf),
            lab_binary: None,
            target_policy: Default::default(),
            role_limits: Default::default(),
            namespace_policy: Default::default(),
        }),
        started: Instant::now(),
        telemetry: Default::default(),
        kubernetes: Default::default(),
        throttle: Default::default(),
        live: Default::default(),
    }
}

/// The API serving on 127.0.0.1 and a port the system chose, on the current runtime;
/// stopped on drop.
#[derive(Debug)]
pub struct App {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl App {
    /// Binds `127.0.0.1:0` and serves [`meshbench_api::router`] on it; the listener is bound
    /// before this returns, so requests may be sent at once.
    pub async fn serve(state: AppState) -> App {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        App::serve_on(listener, state)
    }

    /// Serves on a listener the test bound.
    pub fn serve_on(listener: tokio::net::TcpListener, state: AppState) -> App {
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(
                listener,
                meshbench_api::router(state)
                    .into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            {
                panic!("the in-process API stopped: {e}");
            }
        });
        App { addr, task }
    }

    /// `http://addr`, for [`crate::Client::new`].
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}
