//! What meshbench's tests share, so that no test file carries its own copy: the real server
//! (the `meshbench` binary as a child process, or the API router in this process) on a port
//! the operating system chose, a fresh PostgreSQL database or Redis key space per test, an
//! HTTP and a WebSocket client, temporary directories and third-party servers.
//!
//! A dev-dependency only: helpers panic with a message saying what is missing instead of
//! returning errors, as a test would do with the error anyway. PostgreSQL and Redis helpers
//! fail, never skip, when their server is unreachable.

pub mod app;
pub mod dir;
pub mod http;
pub mod kube;
pub mod peer;
pub mod pg;
pub mod port;
pub mod process;
pub mod redis;
pub mod schema;
pub mod server;
pub mod target;
pub mod ws;

use meshbench_core::BenchmarkJob;
use meshbench_store::{ProbeJob, Store};

pub use dir::{temp_dir, TempDir};
pub use http::{curl, Client, Response};
pub use pg::PgDatabase;
pub use redis::{RedisDatabase, RedisPrefix};

/// One job stored without an idempotency key: what most store tests start from.
#[async_trait::async_trait]
pub trait StoreExt {
    /// Stores `job` alone, as a start without a key does.
    async fn insert_job(&self, job: &BenchmarkJob) -> meshbench_store::Result<()>;
    /// Stores probe run `job`, as a start without a key does.
    async fn insert_probe_job(&self, job: &ProbeJob) -> meshbench_store::Result<()>;
}

#[async_trait::async_trait]
impl<S: Store + ?Sized> StoreExt for S {
    async fn insert_job(&self, job: &BenchmarkJob) -> meshbench_store::Result<()> {
        self.insert_jobs(std::slice::from_ref(job), None)
            .await
            .map(drop)
    }

    async fn insert_probe_job(&self, job: &ProbeJob) -> meshbench_store::Result<()> {
        self.insert_probe_job_once(job, None).await.map(drop)
    }
}

/// The job statuses after which nothing changes.
pub const FINISHED: [&str; 3] = ["completed", "failed", "cancelled"];

/// A name no other test (in this process or another) will pick: 32 hex digits.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Runs `future` to completion on a runtime of its own, in a thread of its own, so that it
/// works from synchronous tests and from inside another runtime (as `Drop` impls must).
pub(crate) fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    std::thread::scope(|scope| {
        let thread = scope.spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
            runtime.block_on(future)
        });
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}
