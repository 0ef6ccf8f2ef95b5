//! `meshbench serve`, `meshbench worker` and other subcommands as real processes, each test in
//! a temporary working directory with its own environment.
//!
//! The API binds port 0 (`API_PORT=0`) and the kit reads the address it prints, so no port
//! is picked by the test and then raced for.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{Client, Response};
use crate::process::Proc;
use crate::TempDir;

/// Longest wait for a fresh server to print its address and answer `/health` with 200.
pub const STARTUP: Duration = Duration::from_secs(20);
/// How often job status is polled.
pub const POLL: Duration = Duration::from_millis(50);

/// A working directory for one test (data dir, results dir, process logs), removed on drop,
/// and the `meshbench` binary its processes run.
#[derive(Debug)]
pub struct Scratch {
    dir: TempDir,
    bin: PathBuf,
}

impl Scratch {
    /// A fresh directory named after `tag`, for `bin` (`env!("CARGO_BIN_EXE_meshbench")`).
    pub fn new(bin: impl Into<PathBuf>, tag: &str) -> Scratch {
        let dir = crate::temp_dir(&format!("platform-{tag}"));
        for sub in ["data", "results"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .unwrap_or_else(|e| panic!("cannot create {sub}: {e}"));
        }
        Scratch {
            dir,
            bin: bin.into(),
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `MESHBENCH_DATA_DIR`.
    pub fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    /// `RESULTS_DIR`.
    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }
}

/// Where the store and the queue live, and how many workers `serve` runs.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// `DATABASE_URL`; the SQLite file in the data dir when `None`.
    pub database_url: Option<String>,
    /// `REDIS_URL`; the in-process queue when `None`.
    pub redis_url: Option<String>,
    /// `MESHBENCH_WORKERS`: in-process workers of `serve`, loops of `worker`.
    pub workers: u32,
    /// More environment variables.
    pub env: Vec<(String, String)>,
}

impl Setup {
    /// The embedded backends (SQLite, in-process queue) with `workers` in-process workers.
    pub fn sqlite(workers: u32) -> Setup {
        Setup {
            workers,
            ..Setup::default()
        }
    }
}

/// `meshbench args…` with a clean environment: only what `setup` asks for, every listener on
/// 127.0.0.1 and port 0, short leases and a one-second shortest job.
pub fn command(scratch: &Scratch, setup: &Setup, args: &[&str]) -> Command {
    let mut cmd = Command::new(&scratch.bin);
    cmd.args(args)
        .current_dir(scratch.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("API_HOST", "127.0.0.1")
        .env("API_PORT", "0")
        .env("MESHBENCH_DATA_DIR", scratch.data())
        .env("RESULTS_DIR", scratch.results())
        .env("MESHBENCH_TARGET_ADDR", "127.0.0.1:0")
        .env("MESHBENCH_WORKERS", setup.workers.to_string())
        .env("MESHBENCH_LEASE_SECONDS", "2")
        .env("MESHBENCH_MIN_DURATION", "1")
        .stdin(Stdio::null());
    // A machine declared BPF-less stays so for the servers the tests start.
    if let Ok(v) = std::env::var("MESHBENCH_NO_BPF") {
        cmd.env("MESHBENCH_NO_BPF", v);
    }
    if let Some(url) = &setup.database_url {
        cmd.env("DATABASE_URL", url);
    }
    if let Some(url) = &setup.redis_url {
        cmd.env("REDIS_URL", url);
    }
    for (key, value) in &setup.env {
        cmd.env(key, value);
    }
    cmd
}

/// The address in a line such as `… on http://127.0.0.1:43127 (…)`.
pub fn addr_after_http(line: &str) -> SocketAddr {
    line.split_once("http://")
        .and_then(|(_, rest)| rest.split(|c: char| c == '/' || c.is_whitespace()).next())
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("no http://address in {line:?}"))
}

/// `meshbench worker`, logging into the scratch directory.
pub fn spawn_worker(scratch: &Scratch, setup: &Setup, label: &str) -> Proc {
    Proc::spawn(scratch.path(), label, command(scratch, setup, &["worker"]))
}

/// A running `meshbench serve`.
#[derive(Debug)]
pub struct Server {
    /// The process.
    pub proc: Proc,
    /// Where its API listens.
    pub addr: SocketAddr,
    /// A client for its API.
    pub client: Client,
}

impl Server {
    /// Starts `serve` and waits until it prints its address and `/health` answers 200.
    pub fn start(scratch: &Scratch, setup: &Setup) -> Server {
        let started = Instant::now();
        let mut proc = Proc::spawn(scratch.path(), "serve", command(scratch, setup, &["serve"]));
        let addr = addr_after_http(&proc.wait_for_line("API on http://", STARTUP));
        let client = Client::new(format!("http://{addr}"));
        loop {
            if let Ok(r) = client.try_request("GET", "/health", &[], None) {
                if r.status == 200 {
                    return Server { proc, addr, client };
                }
            }
            assert!(
                proc.is_running(),
                "meshbench serve exited before it was healthy\n{}",
                proc.tail()
            );
            assert!(
                started.elapsed() < STARTUP,
                "meshbench serve not healthy within {STARTUP:?}\n{}",
                proc.tail()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Its API's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.client.get(path)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.client.post(path, body)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Response {
        self.client.delete(path)
    }

    /// Starts a job; asserts 202 and returns its id.
    pub fn start_job(&self, body: &Value) -> String {
        let r = self.post("/benchmarks/start", body);
        assert_eq!(
            r.status,
            202,
            "start {body}: {}\n{}",
            r.body,
            self.proc.tail()
        );
        r.json()["job_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no job_id in {}", r.body))
            .to_string()
    }

    /// The job as `GET /benchmarks/jobs/{id}` has it; asserts 200.
    pub fn job(&self, id: &str) -> Value {
        let r = self.get(&format!("/benchmarks/jobs/{id}"));
        assert_eq!(r.status, 200, "GET job {id}: {}", r.body);
        r.json()
    }

    /// Polls the job until `done` holds, at most `timeout`; returns the job and every
    /// status seen on the way, in order, without repeats.
    pub fn wait_job(
        &self,
        id: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> (Value, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut seen: Vec<String> = Vec::new();
        loop {
            let job = self.job(id);
            let status = job["status"].as_str().unwrap_or("?").to_string();
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            if done(&job) {
                return (job, seen);
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not {what} within {timeout:?} (statuses seen {seen:?}): {job}\n{}",
                self.proc.tail()
            );
            std::thread::sleep(POLL);
        }
    }

    /// Waits until the job has one of `statuses`.
    pub fn wait_status(&self, id: &str, statuses: &[&str], timeout: Duration) -> Value {
        self.wait_job(id, timeout, &statuses.join("/"), |j| {
            statuses.contains(&j["status"].as_str().unwrap_or("?"))
        })
        .0
    }

    /// Waits until the job has finished (completed, failed or cancelled); returns it and
    /// the statuses seen.
    pub fn wait_finished(&self, id: &str, timeout: Duration) -> (Value, Vec<String>) {
        self.wait_job(id, timeout, "finished", |j| {
            crate::FINISHED.contains(&j["status"].as_str().unwrap_or("?"))
        })
    }

    /// Waits until the job runs and has measured at least one second.
    pub fn wait_running_with_progress(&self, id: &str) -> Value {
        self.wait_job(id, Duration::from_secs(15), "running with progress", |j| {
            j["status"] == "running" && j["progress"].as_f64().is_some_and(|p| p > 0.0)
        })
        .0
    }
}
