//! The built-in target in this process, for tests that need something to load.

use std::net::SocketAddr;

use meshbench_target::{TargetConfig, TargetServer};

/// The built-in target on 127.0.0.1 and a port the system chose, on a runtime of its own
/// (so synchronous tests can use it).
#[derive(Debug)]
pub struct Target {
    /// Kept alive for the server's tasks.
    pub runtime: tokio::runtime::Runtime,
    /// The server.
    pub server: TargetServer,
}

impl Target {
    /// Starts it.
    pub fn start() -> Target {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = runtime
            .block_on(TargetServer::start(TargetConfig::new(addr)))
            .unwrap_or_else(|e| panic!("cannot start the built-in target: {e}"));
        Target { runtime, server }
    }

    /// `scheme://addr` followed by `rest` (a path and query, or nothing).
    pub fn url(&self, scheme: &str, rest: &str) -> String {
        format!("{scheme}://{}{rest}", self.server.http_addr())
    }
}
