//! meshbench's REST + WebSocket API. It speaks the seed's contract (paths, field names,
//! defaults) so a client written for the seed works unchanged, and it never runs load
//! itself: it stores jobs, queues them and relays their events. Workers (in-process or
//! `meshbench worker` elsewhere) do the running.
#![deny(missing_docs)]

mod audit;
mod error;
mod html;
pub mod kubernetes;
mod live;
mod origin;
pub mod password;
mod pdf;
mod report;
mod routes;
mod telemetry;
mod throttle;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderName, HeaderValue, Method};
use axum::Router;
use meshbench_core::StartLimits;
use meshbench_queue::{EventBus, JobQueue};
use meshbench_store::Store;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::ApiError;
pub use live::LiveRuns;
pub use telemetry::ApiTelemetry;
pub use throttle::Throttle;

/// What the API is configured with.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Bounds on start requests.
    pub limits: StartLimits,
    /// Origins allowed by CORS (`ALLOWED_ORIGINS`); `*` allows any.
    pub allowed_origins: Vec<String>,
    /// Whether jobs without `service_url` can run (a built-in target is served).
    pub has_default_target: bool,
    /// Reported by `/health`.
    pub version: String,
    /// `RESULTS_DIR`: generated reports are written to its `reports/` directory.
    pub results_dir: PathBuf,
    /// Serve the dashboard from this directory instead of the files built into the binary
    /// (`MESHBENCH_DASHBOARD_DIR`).
    pub dashboard_dir: Option<PathBuf>,
    /// The meshbench binary the mesh lab starts as its target, when this server may bring
    /// the lab up (it runs as root); `None`: `/lab/up` and `/lab/down` answer 503.
    pub lab_binary: Option<PathBuf>,
    /// Where load may be aimed (`MESHBENCH_TARGET_ALLOW`; default loopback only).
    pub target_policy: meshbench_core::policy::TargetPolicy,
    /// Which Kubernetes namespaces runs, probes and the cluster views may use
    /// (`MESHBENCH_NAMESPACE_ALLOW`; default every one).
    pub namespace_policy: meshbench_core::policy::NamespacePolicy,
    /// What each role may start at most (`MESHBENCH_OPERATOR_LIMITS`, `MESHBENCH_ADMIN_LIMITS`).
    pub role_limits: meshbench_core::user::LimitsByRole,
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The job store.
    pub store: Arc<dyn Store>,
    /// The job queue.
    pub queue: Arc<dyn JobQueue>,
    /// Live events.
    pub bus: Arc<dyn EventBus>,
    /// Configuration.
    pub settings: Arc<ApiSettings>,
    /// When the server started (uptime in `/health`).
    pub started: Instant,
    /// The API's own request counters.
    pub telemetry: Arc<ApiTelemetry>,
    /// The Kubernetes cluster, if one is configured.
    pub kubernetes: kubernetes::Kubernetes,
    /// Rate limits on logins and starts.
    pub throttle: Arc<Throttle>,
    /// Runs as `/metrics` reports them, followed from the event bus.
    pub live: Arc<LiveRuns>,
}

/// The whole API as an axum router, with the dashboard served in front of it.
pub fn router(state: AppState) -> Router {
    router_with_clients(state).0
}

/// The live clients of a router: Socket.IO connections, which a server shutting down closes
/// so that long-polls do not hold up its graceful shutdown.
#[derive(Clone)]
pub struct LiveClients(socketioxide::SocketIo);

impl LiveClients {
    /// Closes every Socket.IO connection.
    pub async fn close(&self) {
        self.0.close().await;
    }
}

impl std::fmt::Debug for LiveClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveClients").finish_non_exhaustive()
    }
}

/// [`router`], and a handle on its live clients for a graceful shutdown.
pub fn router_with_clients(state: AppState) -> (Router, LiveClients) {
    // /metrics sums the runs' progress events from now on (a router built outside a
    // runtime follows nothing; every server builds it inside one).
    if tokio::runtime::Handle::try_current().is_ok() {
        state.live.follow(&state.bus, &state.store);
    }
    let cors = cors(&state.settings.allowed_origins);
    let (socketio, io) = routes::socketio::layer(&state);
    let router = routes::routes()
        // Innermost, so the telemetry counts the status the client gets.
        .layer(axum::middleware::from_fn(error::json_rejections))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        // Who is calling: inside the dashboard's layer, whose pages and files are public.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::auth::authenticate,
        ))
        // Outside the telemetry: dashboard files are not API requests.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::dashboard::serve,
        ))
        // `/socket.io/`, inside CORS; its long-polls are neither API requests nor pages.
        .layer(socketio)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            routes::auth::authenticate_live,
        ))
        // Around everything that can change state or open a socket, Socket.IO included.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            origin::guard,
        ))
        .layer(cors)
        .with_state(state);
    (router, LiveClients(io))
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            axum::http::header::CONTENT_TYPE,
            axum::http::header::AUTHORIZATION,
            HeaderName::from_static(routes::jobs::IDEMPOTENCY_KEY),
        ])
        // A dashboard served from another origin (the Vite dev server) reads the listing
        // total and a download's file name; browsers hide every other header from it.
        .expose_headers([
            HeaderName::from_static("x-total-count"),
            axum::http::header::CONTENT_DISPOSITION,
        ]);
    if origins.iter().any(|o| o == "*") {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let list: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        layer.allow_origin(AllowOrigin::list(list))
    }
}
