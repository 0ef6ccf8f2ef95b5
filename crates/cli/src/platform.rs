//! `meshbench serve`, `meshbench worker` and `meshbench db init`: the platform around the
//! engine, wired from [`Settings`].

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use meshbench_api::{ApiSettings, AppState};
use meshbench_target::{TargetConfig, TargetServer};
use meshbench_worker::{Worker, WorkerConfig};
use tokio::sync::watch;

use crate::config::{environment, Settings};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn settings() -> anyhow::Result<Settings> {
    Settings::from_env(&environment()).context("configuration")
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
        let (queue, bus) = meshbench_queue::open(settings.redis_url.as_deref(), settings.lease)
            .await
            .context("opening the queue")?;
        let target = TargetServer::start(TargetConfig::new(settings.target_addr))
            .await
            .context("starting the built-in target")?;
        let default_target = format!("http://{}/", target.http_addr());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        // Jobs the last run of this server left unfinished. With an in-process queue their
        // leases died with it, so running ones are requeued too; Redis leases expire and
        // are reclaimed by whichever worker sees them.
        let recovery = Worker::new(
            Arc::clone(&store),
            Arc::clone(&queue),
            Arc::clone(&bus),
            worker_config(&settings, format!("serve-{}-recovery", std::process::id()), None),
        );
        let recovered = recovery
            .recover_after_restart(settings.redis_url.is_none())
            .await
            .context("recovering unfinished jobs")?;
        if recovered > 0 {
            tracing::info!(recovered, "requeued jobs left unfinished by the previous run");
        }
        if settings.redis_url.is_none() {
            let orphans = meshbench_api::Probes::recover(store.as_ref())
                .await
                .context("recovering unfinished probe runs")?;
            if orphans > 0 {
                tracing::info!(orphans, "probe runs left unfinished by the previous run marked failed");
            }
        }
        let mut workers = Vec::new();
        for n in 0..settings.workers {
            let worker = Worker::new(
                Arc::clone(&store),
                Arc::clone(&queue),
                Arc::clone(&bus),
                worker_config(&settings, format!("serve-{}-{n}", std::process::id()), Some(default_target.clone())),
            );
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
            }),
            started: Instant::now(),
            telemetry: Default::default(),
            probes: Arc::new(meshbench_api::Probes::new(crate::probe::api_runner())),
        };
        let listener = tokio::net::TcpListener::bind(settings.api_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.api_addr))?;
        let addr = listener.local_addr()?;
        eprintln!("meshbench serve: API on http://{addr} (built-in target {default_target}; Ctrl-C stops)");
        axum::serve(listener, meshbench_api::router(state))
            .with_graceful_shutdown(shutdown_signal())
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
        // One job at a time per worker loop: a load generator must not share its CPU.
        // MESHBENCH_WORKERS runs more loops in this process when the host has the cores.
        let loops = settings.workers.max(1);
        let mut handles = Vec::new();
        for n in 0..loops {
            let worker = Worker::new(
                Arc::clone(&store),
                Arc::clone(&queue),
                Arc::clone(&bus),
                worker_config(
                    &settings,
                    format!("{base_id}-{n}"),
                    Some(format!("http://{}/", target.http_addr())),
                ),
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

fn worker_config(
    settings: &Settings,
    worker_id: String,
    default_target: Option<String>,
) -> WorkerConfig {
    WorkerConfig {
        worker_id,
        default_target,
        results_dir: settings.results_dir.clone(),
        max_attempts: 3,
        poll: std::time::Duration::from_secs(1),
    }
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
