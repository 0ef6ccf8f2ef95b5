//! `meshbench serve`, `meshbench worker` and `meshbench db init`: the platform around the
//! engine, wired from [`Settings`].

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use meshbench_api::{ApiSettings, AppState};
use meshbench_core::user::Role;
use meshbench_core::JobKind;
use meshbench_target::{TargetConfig, TargetServer};
use meshbench_worker::{Worker, WorkerConfig};
use tokio::sync::watch;

use crate::config::{environment, vars, Settings};

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

pub(crate) fn settings() -> anyhow::Result<Settings> {
    Settings::from_env(&environment()).context("configuration")
}

/// The completed runs a stored series or job id names (the store as `meshbench serve`
/// opens it: DATABASE_URL, or SQLite under MESHBENCH_DATA_DIR); `None` when there is no
/// such series or job.
pub fn stored_runs(id: &str) -> anyhow::Result<Option<Vec<meshbench_core::compare::Run>>> {
    use meshbench_core::{BenchmarkResult, JobStatus};
    use meshbench_store::SeriesColumn;
    let settings = settings()?;
    runtime()?.block_on(async {
        let store = meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir)
            .await
            .context("opening the store")?;
        store.migrate().await.context("migrating the store")?;
        let mut jobs = store.series_runs(SeriesColumn::Series, id).await?;
        if jobs.is_empty() {
            match store.get_job(id).await? {
                Some(job) => jobs.push(job),
                None => return Ok(None),
            }
        }
        let mut runs = Vec::new();
        for job in jobs {
            if job.status != JobStatus::Completed {
                eprintln!(
                    "meshbench compare: {id}: run {} is {}, not counted",
                    job.job_id, job.status
                );
                continue;
            }
            let Some(value) = store.get_result(&job.job_id).await? else {
                continue;
            };
            let result: BenchmarkResult = serde_json::from_value(value)
                .with_context(|| format!("stored result of {}", job.job_id))?;
            runs.push(meshbench_core::compare::Run {
                id: job.job_id,
                result,
            });
        }
        store.close().await;
        Ok(Some(runs))
    })
}

/// Stores a run made outside the platform (`meshbench lab run --store`) as a completed
/// benchmark job of the store `meshbench serve` opens, with `request` as its request: the
/// dashboard, the API and `meshbench compare` then see it like any run. Returns its id.
pub fn store_run(
    request: &meshbench_core::StartRequest,
    result: &meshbench_core::BenchmarkResult,
) -> anyhow::Result<String> {
    use meshbench_core::{BenchmarkJob, JobKind, JobStatus};
    let settings = settings()?;
    let value = serde_json::to_value(result)?;
    let request_value = serde_json::to_value(request)?;
    runtime()?.block_on(async {
        let store = meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir)
            .await
            .context("opening the store")?;
        store.migrate().await.context("migrating the store")?;
        let id = uuid::Uuid::new_v4().to_string();
        let job = BenchmarkJob {
            job_id: id.clone(),
            status: JobStatus::Pending,
            test_type: request.test_type,
            mesh_type: request.mesh_type.clone(),
            namespace: request.namespace.clone(),
            created_at: result.started_at,
            started_at: None,
            completed_at: None,
            progress: 0.0,
            error: None,
            request: request_value,
            summary: None,
            attempts: 0,
            parent_id: None,
            series: None,
            invalid_reasons: Vec::new(),
        };
        store.insert_jobs(&[job], None).await?;
        let started = meshbench_store::JobUpdate {
            started_at: Some(result.started_at),
            increment_attempts: true,
            ..Default::default()
        };
        store
            .transition(
                JobKind::Benchmark,
                &id,
                &[JobStatus::Pending],
                JobStatus::Running,
                &started,
            )
            .await?;
        store
            .save_result(
                &id,
                &value,
                &meshbench_worker::summary_of(result),
                &meshbench_worker::invalid_reasons(result),
            )
            .await?;
        let done = meshbench_store::JobUpdate {
            completed_at: Some(result.ended_at),
            progress: Some(1.0),
            ..Default::default()
        };
        store
            .transition(
                JobKind::Benchmark,
                &id,
                &[JobStatus::Running],
                JobStatus::Completed,
                &done,
            )
            .await?;
        store.close().await;
        Ok(id)
    })
}

/// `meshbench db init`: creates (or migrates) the schema.
pub fn db_init() -> anyhow::Result<ExitCode> {
    let settings = settings()?;
    runtime()?.block_on(async {
        let store =
            meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir).await?;
        store.migrate().await?;
        eprintln!("meshbench: schema ready");
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// `meshbench serve`: API, store, queue, in-process workers and the built-in target.
pub fn serve() -> anyhow::Result<ExitCode> {
    let settings = settings()?;
    runtime()?.block_on(async move {
        let store = meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir)
            .await
            .context("opening the store")?;
        store.migrate().await.context("migrating the store")?;
        let mut has_users = store.has_users().await;
        if let (Ok(false), Some((name, password))) = (&has_users, &settings.first_admin) {
            crate::user::add(&store, name, Role::Admin, password, "serve")
                .await
                .with_context(|| format!("making the first admin from {}", vars::ADMIN_PASSWORD))?;
            eprintln!("meshbench serve: no users: made the first admin `{name}` ({} set)", vars::ADMIN_PASSWORD);
            has_users = Ok(true);
        }
        if matches!(has_users, Ok(false)) && !settings.api_addr.ip().is_loopback() {
            bail!(
                "refusing to serve on {} without users: anyone who can reach it could start load. \
                 Add an admin first (`meshbench user add NAME --role admin`, or set {} for the \
                 first admin), or bind to loopback (API_HOST=127.0.0.1) for development mode",
                settings.api_addr,
                vars::ADMIN_PASSWORD
            );
        }
        let (queue, bus) = meshbench_queue::open(settings.redis_url.as_deref(), settings.lease)
            .await
            .context("opening the queue")?;
        let target = TargetServer::start(TargetConfig::new(settings.target_addr))
            .await
            .context("starting the built-in target")?;
        let default_target = format!("http://{}/", target.http_addr());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // Jobs the last run of this server left unfinished (with an in-process queue, all of
        // them: its leases died with it) are put back in motion by the workers' first
        // reconcile, before the API takes a request.
        let capability = probe_capability().await;
        let mut workers = Vec::new();
        let base_id = format!("serve-{}", std::process::id());
        // A cluster whose configuration cannot be used is reported by /health and the
        // Kubernetes endpoints; runs simply carry no cluster record.
        let loaded = settings.cluster().await;
        let cluster = loaded.as_ref().ok().cloned();
        let kubernetes = meshbench_api::kubernetes::Kubernetes::from_result(loaded);
        let configs = worker_configs(&settings, &base_id, settings.workers, &default_target, &capability, cluster.as_ref());
        for (n, config) in configs.into_iter().enumerate() {
            let worker = Worker::new(Arc::clone(&store), Arc::clone(&queue), Arc::clone(&bus), config);
            if n == 0 {
                let touched = worker.reconcile().await.context("recovering unfinished jobs")?;
                if touched > 0 {
                    tracing::info!(touched, "jobs left unfinished by the previous run put back in motion");
                }
            }
            let rx = shutdown_rx.clone();
            workers.push(tokio::spawn(async move { worker.run(rx).await }));
        }
        let state = AppState {
            store,
            queue,
            bus,
            settings: Arc::new(ApiSettings {
                limits: settings.limits.clone(),
                allowed_origins: settings.allowed_origins.clone(),
                has_default_target: true,
                version: env!("CARGO_PKG_VERSION").to_string(),
                results_dir: settings.results_dir.clone(),
                dashboard_dir: settings.dashboard_dir.clone(),
                lab_binary: crate::platform::lab_client(),
                target_policy: settings.target_policy.clone(),
                role_limits: settings.role_limits.clone(),
                namespace_policy: settings.namespace_policy.clone(),
            }),
            started: Instant::now(),
            telemetry: Default::default(),
            kubernetes,
            throttle: Default::default(),
            live: Default::default(),
        };
        let listener = tokio::net::TcpListener::bind(settings.api_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.api_addr))?;
        let addr = listener.local_addr()?;
        eprintln!("meshbench serve: API on http://{addr} (built-in target {default_target}; Ctrl-C stops)");
        // Said at start, since it decides who may do what (see `routes::auth`).
        match has_users {
            Ok(false) => eprintln!(
                "meshbench serve: development mode: no users, so nobody logs in and every \
                 caller may do everything (add one with `meshbench user add NAME --role admin`)"
            ),
            Ok(true) => eprintln!("meshbench serve: users exist: every API request needs a login or a token"),
            Err(e) => eprintln!("meshbench serve: cannot tell whether users exist: {e}"),
        }
        let (router, clients) = meshbench_api::router_with_clients(state);
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move {
                shutdown_signal().await;
                // A long-polling Socket.IO client would hold the shutdown for up to 25 s.
                clients.close().await;
            })
            .await
            .context("serving the API")?;
        eprintln!("meshbench serve: stopping; running jobs are stopped and stored");
        let _ = shutdown_tx.send(true);
        for worker in workers {
            let _ = worker.await;
        }
        target.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// `meshbench worker`: takes jobs from Redis and runs them; many may run on many hosts.
pub fn worker() -> anyhow::Result<ExitCode> {
    let settings = settings()?;
    let Some(redis_url) = settings.redis_url.clone() else {
        anyhow::bail!("meshbench worker takes jobs from Redis: set REDIS_URL (and DATABASE_URL to the API's store)");
    };
    runtime()?.block_on(async move {
        let store = meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir)
            .await
            .context("opening the store")?;
        let (queue, bus) = meshbench_queue::open(Some(&redis_url), settings.lease)
            .await
            .context("opening the queue")?;
        // A built-in target of its own, for jobs that name no service_url.
        let target = TargetServer::start(TargetConfig::new(settings.target_addr))
            .await
            .context("starting the built-in target")?;
        let base_id = format!("worker-{}-{}", hostname(), std::process::id());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let capability = probe_capability().await;
        if let Err(reason) = &capability {
            eprintln!("meshbench worker {base_id}: takes no probe runs: {reason}");
        }
        // One job at a time per worker loop: a load generator must not share its CPU.
        // MESHBENCH_WORKERS runs more loops in this process when the host has the cores.
        let loops = settings.workers.max(1);
        let mut handles = Vec::new();
        let default_target = format!("http://{}/", target.http_addr());
        let cluster = match settings.cluster().await {
            Ok(cluster) => Some(cluster),
            Err(meshbench_k8s::Error::NotConfigured) => None,
            Err(e) => {
                eprintln!("meshbench worker {base_id}: runs will carry no cluster record: {e}");
                None
            }
        };
        for config in worker_configs(
            &settings,
            &base_id,
            loops,
            &default_target,
            &capability,
            cluster.as_ref(),
        ) {
            let worker = Worker::new(
                Arc::clone(&store),
                Arc::clone(&queue),
                Arc::clone(&bus),
                config,
            );
            let rx = shutdown_rx.clone();
            handles.push(tokio::spawn(async move { worker.run(rx).await }));
        }
        eprintln!("meshbench worker {base_id}: {loops} loop(s) waiting for jobs (Ctrl-C stops)");
        shutdown_signal().await;
        let _ = shutdown_tx.send(true);
        for handle in handles {
            let _ = handle.await;
        }
        target.shutdown().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

/// Whether this host can run probe runs, and why not; checked once, as it loads BPF.
async fn probe_capability() -> Result<(), String> {
    match tokio::task::spawn_blocking(meshbench_worker::can_probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the probe check stopped abnormally: {e}")),
    }
}

/// The worker loops of one process: `loops` taking benchmarks (one job at a time each: a
/// load generator must not share its CPU) and, when this host can probe, one more taking
/// probe runs only — a probe costs no CPU to speak of, and must not wait behind a
/// benchmark nor hold one up.
fn worker_configs(
    settings: &Settings,
    base_id: &str,
    loops: usize,
    default_target: &str,
    probe: &Result<(), String>,
    cluster: Option<&meshbench_k8s::Cluster>,
) -> Vec<WorkerConfig> {
    let mut configs: Vec<WorkerConfig> = (0..loops)
        .map(|n| {
            worker_config(
                settings,
                format!("{base_id}-{n}"),
                vec![JobKind::Benchmark],
                Some(default_target.to_string()),
                probe.clone().err(),
                cluster,
            )
        })
        .collect();
    // `loops` counts load generators; a probe loop is extra (MESHBENCH_NO_BPF=1 leaves it
    // out, e.g. for a server whose probes should run on the hosts of its workers).
    if probe.is_ok() {
        configs.push(worker_config(
            settings,
            format!("{base_id}-probe"),
            vec![JobKind::Probe],
            None,
            None,
            // Probe runs filtered by pod find the pods through the cluster.
            cluster,
        ));
    }
    configs
}

fn worker_config(
    settings: &Settings,
    worker_id: String,
    kinds: Vec<JobKind>,
    default_target: Option<String>,
    probe_unavailable: Option<String>,
    cluster: Option<&meshbench_k8s::Cluster>,
) -> WorkerConfig {
    WorkerConfig {
        worker_id,
        host: hostname(),
        kinds,
        probe_unavailable,
        default_target,
        results_dir: settings.results_dir.clone(),
        max_attempts: 3,
        poll: std::time::Duration::from_secs(1),
        kubernetes: cluster.cloned(),
        metrics_interval: settings.metrics_interval,
        image: settings.image.clone(),
        load_start_delay: settings.load_start_delay,
        lab_client: lab_client(),
        target_policy: Some(settings.target_policy.clone()),
    }
}

/// This binary, when it can run the mesh lab (root, and an Envoy for the proxied
/// topologies: a lab job through a proxied topology without one fails saying so).
pub(crate) fn lab_client() -> Option<std::path::PathBuf> {
    // MESHBENCH_NO_LAB=1 declares the lab off (the API contract run fuzzes /lab/up and
    // must not build real namespaces).
    if !meshbench_lab::is_root() || std::env::var("MESHBENCH_NO_LAB").is_ok_and(|v| v == "1") {
        return None;
    }
    std::env::current_exe().ok()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
