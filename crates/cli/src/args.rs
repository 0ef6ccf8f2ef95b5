//! Command-line arguments. Flags follow wrk, oha and wrk2 where they overlap (`-c`, `-t`,
//! `-d`, `-n`, `-H`, `-m`, `--rate`), so muscle memory carries over.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// meshbench: what does your service mesh cost?
#[derive(Debug, Parser)]
#[command(name = "meshbench", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one benchmark from the terminal (wrk/oha-style).
    Run(Box<RunArgs>),
    /// Serve the built-in target (HTTP/1.1 and h2c) for baselines, demos and tests.
    Target(TargetArgs),
    /// Run the platform: REST + WebSocket API, job store, queue, workers, built-in target.
    Serve,
    /// Take jobs from Redis (REDIS_URL) and run them; run as many as you like.
    Worker,
    /// Watch TCP in the kernel (eBPF): connect and accept latency, lifetimes, RTT,
    /// request/response timing, retransmits and resets. Needs root.
    #[command(visible_alias = "latency-probe")]
    Probe(ProbeArgs),
    /// Kubernetes: namespaces and the mesh serving each, pods, services, a namespace's
    /// mesh record (KUBECONFIG, ~/.kube/config or in-cluster credentials).
    K8s {
        #[command(subcommand)]
        command: K8sCommand,
    },
    /// Compare two series of runs (result JSON files) with 95 % intervals; exit 3 when a
    /// --max-regression gate fails.
    Compare(CompareArgs),
    /// The mesh lab: client and server hosts (network namespaces) on this machine with real
    /// Envoy proxies between them, per topology (root).
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Database tasks.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Users of the platform, in DATABASE_URL or the embedded SQLite file.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
#[command(
    after_help = "Passwords are read from the terminal without echo, or as one line from
standard input when it is not a terminal:
  meshbench user add alice --role admin
  printf '%s\n' \"$PASSWORD\" | meshbench user add ci-bot --role operator
  meshbench user list
  meshbench user passwd alice
  meshbench user role bob viewer
  meshbench user disable bob"
)]
pub enum UserCommand {
    /// Add a user (roles: viewer, operator, admin).
    Add {
        username: String,
        #[arg(long, default_value = "viewer")]
        role: String,
    },
    /// List users.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Set a user's password.
    Passwd { username: String },
    /// Change a user's role.
    Role { username: String, role: String },
    /// Disable a user: no logins, and their sessions and tokens stop working.
    Disable { username: String },
    /// Enable a disabled user.
    Enable { username: String },
}

#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:
  meshbench lab up --topology sidecar
  meshbench lab run --topology sidecar -- -c 10 -d 10s
  meshbench lab status
  meshbench lab down
  meshbench lab compare --topologies baseline,sidecar,sidecar-mtls --repeats 5 -- -c 4 -R 1000 -d 5s

Topologies: baseline (no proxy), sidecar (an Envoy beside the client, outbound on 15001, and
one beside the server, inbound on 15006, as Istio's sidecar mode places them; reached through
explicit listeners), sidecar-mtls (the same with mutual TLS between the proxies: a CA and
workload certificates with SPIFFE IDs the lab issues), node-proxy (one shared L4 Envoy per
host, mutual TLS between them on 15008, no HTTP processing: ambient's ztunnel shape),
node-proxy-waypoint (the same plus an L7 Envoy waypoint on a third host, 15009, in front of
the server: client node proxy → waypoint → server node proxy, mutual TLS on each). Envoy
comes from MESHBENCH_ENVOY, PATH, or scripts/lab.sh.")]
pub enum LabCommand {
    /// Build the hosts and start a topology's processes.
    Up {
        /// baseline, sidecar, sidecar-mtls, node-proxy or node-proxy-waypoint.
        #[arg(long, short = 't')]
        topology: String,
    },
    /// Take down every namespace, link, process and file the lab made.
    Down,
    /// What is up.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a `meshbench run` workload from the client host through a topology (brought up,
    /// and down after, when the lab is not up already).
    Run {
        /// baseline, sidecar, sidecar-mtls, node-proxy or node-proxy-waypoint.
        #[arg(long, short = 't')]
        topology: String,
        /// The path (and query) to request on the target, e.g. `/?delay=1ms`.
        #[arg(long, default_value = "/")]
        path: String,
        /// http, ws (WebSocket: `--path /ws`) or grpc: the protocol `meshbench run` speaks
        /// to the topology's entry (HTTP/2: `http` with `-- --http2`).
        #[arg(long, default_value = "http")]
        scheme: String,
        /// Split the latency into the path's hops with the eBPF probe on each hop's port
        /// (`--ebpf-hop` for every hop of the topology).
        #[arg(long)]
        hops: bool,
        /// Also store the run in the platform's store (DATABASE_URL, else SQLite under
        /// MESHBENCH_DATA_DIR) as a completed benchmark with its lab record (topology, Envoy
        /// version, proxies' cost, hops): the dashboard and `meshbench compare` see it.
        #[arg(long)]
        store: bool,
        /// `meshbench run` options, after `--`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        run_args: Vec<String>,
    },
    /// Run the same workload through several topologies, interleaved and repeated, and give
    /// each one's overhead against baseline with 95 % intervals and its proxies' CPU and
    /// memory. Exit 3 when a --max-regression gate fails.
    Compare {
        /// Comma-separated topologies; the first is the baseline of the others.
        #[arg(long, default_value = "baseline,sidecar,sidecar-mtls")]
        topologies: String,
        /// Runs of each topology.
        #[arg(long, default_value_t = 5,
              value_parser = clap::value_parser!(u32).range(1..=50))]
        repeats: u32,
        /// The path (and query) to request on the target.
        #[arg(long, default_value = "/")]
        path: String,
        /// http, ws (WebSocket: `--path /ws`) or grpc: the protocol `meshbench run` speaks
        /// to the topology's entry (HTTP/2: `http` with `-- --http2`).
        #[arg(long, default_value = "http")]
        scheme: String,
        /// Gates against the baseline, as `meshbench compare` takes them.
        #[arg(long, value_name = "FIGURE=PERCENT,…")]
        max_regression: Option<String>,
        /// Print JSON (`meshbench.lab-comparison.v1`) instead of the table.
        #[arg(long)]
        json: bool,
        /// Leave out the hop breakdown (the eBPF probe on each hop's port, on by default).
        #[arg(long)]
        no_hops: bool,
        /// `meshbench run` options, after `--` (default `-c 4 -R 1000 -d 5s`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        run_args: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
#[command(after_help = "Examples:
  meshbench k8s namespaces
  meshbench k8s mesh-status bookinfo --mesh-type istio
  meshbench k8s pods emojivoto --json
  meshbench k8s deploy --namespace bench --mesh istio --node worker-1
  meshbench k8s teardown --namespace bench")]
pub enum K8sCommand {
    /// Every namespace with the mesh serving it, its mode, version and coverage.
    Namespaces(K8sOutput),
    /// A namespace's pods and the mesh proxy each carries.
    Pods {
        /// The namespace.
        namespace: String,
        #[command(flatten)]
        output: K8sOutput,
    },
    /// A namespace's services.
    Services {
        /// The namespace.
        namespace: String,
        #[command(flatten)]
        output: K8sOutput,
    },
    /// Deploy the benchmark target (meshbench target: Deployment + Service, with the
    /// mesh's injection labels) by server-side apply.
    Deploy(DeployArgs),
    /// Remove everything meshbench made in a namespace (by its managed-by label).
    Teardown {
        /// The namespace.
        #[arg(long, short = 'n')]
        namespace: String,
    },
    /// Which mesh serves a namespace: mode, version, injection coverage, mTLS, control
    /// plane; exits 3 when it disagrees with --mesh-type.
    MeshStatus {
        /// The namespace.
        namespace: String,
        /// The mesh you expect (baseline, istio, istio_ambient, linkerd, cilium).
        #[arg(long)]
        mesh_type: Option<String>,
        #[command(flatten)]
        output: K8sOutput,
    },
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The namespace to deploy into (it must exist).
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// Which sidecar the target's pods ask for: istio, linkerd or none.
    #[arg(long, default_value = "none")]
    pub mesh: String,
    /// Pin the target's pods to this node (kubernetes.io/hostname).
    #[arg(long)]
    pub node: Option<String>,
    /// The meshbench image to run.
    #[arg(long, default_value = concat!("meshbench:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Target pods.
    #[arg(long, default_value_t = 1)]
    pub replicas: i32,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshbench run http://svc/ -R 1000 -d 30s --json > baseline.json
  meshbench run http://svc/ -R 1000 -d 30s --json > candidate.json
  meshbench compare baseline.json candidate.json --max-regression p99=10%,rps=5%
  meshbench compare SERIES_ID SERIES_ID --threshold 'p99<5ms'   (ids from a server's store)

Exit codes: 0 no gate failed, 3 a gate failed, 1 an error (no valid run, unreadable file,
unknown id), 2 a usage error.
The method (bootstrap-t intervals, validity, outliers) is in docs/statistics.md.")]
pub struct CompareArgs {
    /// The baseline: a result JSON file (`meshbench run --json`), a JSON array of results,
    /// or a stored job or series id (the store `meshbench serve` uses: DATABASE_URL or
    /// MESHBENCH_DATA_DIR).
    pub baseline: String,
    /// The candidate, the same way.
    pub candidate: String,
    /// k6-style thresholds the candidate's mean must meet (repeatable): `p99<5ms`,
    /// `rps>=1000`, `errors<1%`.
    #[arg(long, value_name = "FIGURE<BOUND")]
    pub threshold: Vec<String>,
    /// Gates: how much worse each figure may get, e.g. `p50=20%,p99=10%,rps=5%,errors=1%`
    /// (p50, p90, p99, p999, mean, rps, errors).
    /// A gate fails only on a significant change.
    #[arg(long, value_name = "FIGURE=PERCENT,…")]
    pub max_regression: Option<String>,
    /// Runs with more failed requests than this percentage are invalid and left out.
    #[arg(long, default_value_t = 1.0, value_name = "PERCENT")]
    pub max_error_rate: f64,
    /// Print JSON (`meshbench.comparison.v1`) instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct K8sOutput {
    /// Print JSON (the API's shapes) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create (or migrate) the schema in DATABASE_URL, or the embedded SQLite file.
    Init,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  meshbench run http://127.0.0.1:8080/ -c 50 -d 10s
  meshbench run http://127.0.0.1:8080/?delay=10ms --rate 2000 -d 30s --json
  meshbench run http://127.0.0.1:8080/ --rate 1000:5000:1000 --step-duration 10s
  meshbench run https://example.test/ --http2 --streams 10 -c 4 --insecure
  meshbench run ws://127.0.0.1:8080/ws --message-size 1024 --message-rate 10 -c 100 -d 30s
  meshbench run wss://example.test/socket --hold -c 1000 -d 5m
  meshbench run grpc://127.0.0.1:8080 --streams 10 -c 4 -d 30s
  meshbench run http://vllm:8000 --ml openai --model llama-3-8b --max-tokens 128 -c 8 -d 1m
  meshbench run http://triton:8000 --ml oip --model resnet --shape 1,3,224,224 -c 4
  meshbench run grpc://svc:50051 --proto api/greeter.proto --import-path api \
      --call helloworld.Greeter/SayHello --data '{\"name\":\"mesh\"}' --metadata 'x-team:core'")]
pub struct RunArgs {
    /// Target URL(s); several URLs are sent round-robin (they must share scheme, host and port).
    #[arg(required_unless_present_any = ["request_file", "spec"])]
    pub urls: Vec<String>,

    /// Run this benchmark spec (JSON, as a result's `spec` holds it) instead of one built
    /// from the flags; output and eBPF flags still apply. The platform's lab runs use it.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["urls", "request_file"])]
    pub spec: Option<PathBuf>,

    /// Connections to keep open.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub connections: u32,

    /// gRPC (grpc:// and grpcs:// URLs): the method, `package.Service/Method` [default: the
    /// built-in echo service's meshbench.echo.v1.Echo/Unary].
    #[arg(long, help_heading = "gRPC")]
    pub call: Option<String>,

    /// gRPC: a .proto file describing the service (repeatable); without it, the built-in
    /// echo service's.
    #[arg(long, help_heading = "gRPC")]
    pub proto: Vec<PathBuf>,

    /// gRPC: a directory imports are resolved against (repeatable) [default: each .proto's
    /// own directory].
    #[arg(long = "import-path", help_heading = "gRPC")]
    pub import_paths: Vec<PathBuf>,

    /// gRPC: the request message as JSON; a JSON array is a list of messages calls rotate
    /// through (a streaming call sends them all).
    #[arg(long, help_heading = "gRPC", conflicts_with = "data_file")]
    pub data: Option<String>,

    /// gRPC: read --data from a file (JSON, or JSON Lines with one message per line).
    #[arg(long, help_heading = "gRPC")]
    pub data_file: Option<PathBuf>,

    /// gRPC: metadata sent with every call, `key:value` (repeatable).
    #[arg(long, help_heading = "gRPC")]
    pub metadata: Vec<String>,

    /// ML inference against the model server at the URL: `openai` (chat completions),
    /// `openai-completions`, or `oip` (Open Inference Protocol v2, KServe / Triton).
    #[arg(long, value_name = "API", help_heading = "ML inference")]
    pub ml: Option<String>,

    /// ML: the model name.
    #[arg(long, default_value = "mock", help_heading = "ML inference")]
    pub model: String,

    /// ML (OpenAI): the most tokens each completion may produce.
    #[arg(long, default_value_t = 64, help_heading = "ML inference")]
    pub max_tokens: u32,

    /// ML (OpenAI): words in each synthetic prompt (when --prompts is not given).
    #[arg(long, default_value_t = 32, help_heading = "ML inference")]
    pub prompt_tokens: u32,

    /// ML (OpenAI): prompts, JSON Lines: a string, a chat message list, or an object with
    /// `prompt` or `messages` per line; requests rotate through them.
    #[arg(long, value_name = "FILE", help_heading = "ML inference")]
    pub prompts: Option<PathBuf>,

    /// ML (OpenAI): ask for whole answers instead of streamed tokens.
    #[arg(long, help_heading = "ML inference")]
    pub no_stream: bool,

    /// ML (OIP): shape of the generated input tensor, e.g. 1,3,224,224.
    #[arg(long, default_value = "1,16", help_heading = "ML inference")]
    pub shape: String,

    /// ML (OIP): datatype of the generated input tensor (FP32, FP16, INT64, BOOL, BYTES, …).
    #[arg(long, default_value = "FP32", help_heading = "ML inference")]
    pub datatype: String,

    /// ML (OIP): the request's `inputs` tensors as a JSON file instead of a generated one.
    #[arg(long, value_name = "FILE", help_heading = "ML inference")]
    pub inputs_file: Option<PathBuf>,

    /// WebSocket (ws:// and wss:// URLs): payload bytes of each message.
    #[arg(long, default_value_t = 64, help_heading = "WebSocket")]
    pub message_size: u32,

    /// WebSocket: messages per second per connection (open model) [default: as fast as the
    /// echoes come back; 1/s with --hold].
    #[arg(long, help_heading = "WebSocket", conflicts_with = "rate")]
    pub message_rate: Option<f64>,

    /// WebSocket: send binary frames instead of text.
    #[arg(long, help_heading = "WebSocket")]
    pub binary: bool,

    /// WebSocket: hold mode: open the connections, keep them alive with pings, and report how
    /// many survive and how long each took to open.
    #[arg(long, help_heading = "WebSocket")]
    pub hold: bool,

    /// Run the eBPF probe beside the load, on the target's port, and report the kernel's
    /// figures (connect latency, RTT, server time, retransmits) beside the application's.
    /// Needs root.
    #[arg(long, help_heading = "eBPF")]
    pub ebpf: bool,

    /// Also run the probe on each hop of the path, `NAME=PORT` (the port the hop's server
    /// end listens on; repeatable, client side first), and split the latency into the hops
    /// and the time inside each (`kernel_hops`; the mesh lab passes these). Needs root.
    #[arg(long, value_name = "NAME=PORT", help_heading = "eBPF")]
    pub ebpf_hop: Vec<String>,

    /// Load-generator threads [default: CPU cores, at most one per connection].
    #[arg(short = 't', long)]
    pub threads: Option<u32>,

    /// Measured duration, e.g. 10s, 1m, 500ms [default: 10s unless -n or a stepped rate is given].
    #[arg(short = 'd', long)]
    pub duration: Option<String>,

    /// Stop after this many measured requests.
    #[arg(short = 'n', long = "requests")]
    pub requests: Option<u64>,

    /// Open model: requests per second (`2000`), steps (`1000:5000:1000`) or a ramp (`1000..5000`).
    #[arg(short = 'R', long)]
    pub rate: Option<String>,

    /// How long each step of a stepped --rate lasts.
    #[arg(long, default_value = "10s")]
    pub step_duration: String,

    /// Spread send times randomly by this fraction (0–1) of the gap between requests.
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,

    /// Open model: how late a send may leave so that sends due close together leave in one
    /// wake (e.g. 50us, 1ms). Wider costs less CPU per request and more send lag (reported).
    #[arg(long, default_value = "50us")]
    pub send_window: String,

    /// Warm-up before measurement; excluded from every figure.
    #[arg(long, default_value = "0s")]
    pub warmup: String,

    /// Use HTTP/2 (h2c prior knowledge for http://, ALPN for https://).
    #[arg(long, conflicts_with = "http1")]
    pub http2: bool,

    /// Use HTTP/1.1 (the default).
    #[arg(long)]
    pub http1: bool,

    /// Concurrent streams per HTTP/2 connection.
    #[arg(long, default_value_t = 1)]
    pub streams: u32,

    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,

    /// Extra header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,

    /// Request body.
    #[arg(short = 'b', long, conflicts_with = "body_file")]
    pub body: Option<String>,

    /// Read the request body from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,

    /// Requests for mixed traffic: a JSON array (or JSON lines) of
    /// {"method","url","headers":[["name","value"]],"body"}.
    #[arg(long)]
    pub request_file: Option<PathBuf>,

    /// Time allowed for a connect (and TLS handshake).
    #[arg(long, default_value = "5s")]
    pub connect_timeout: String,

    /// Time allowed for one request.
    #[arg(long, default_value = "30s")]
    pub timeout: String,

    /// Skip TLS certificate verification.
    #[arg(short = 'k', long)]
    pub insecure: bool,

    /// Label the run with the mesh it went through (baseline, istio, istio_ambient, linkerd, cilium).
    #[arg(long, default_value = "baseline")]
    pub mesh: String,

    /// Print the result as JSON (schema meshbench.result.v1) instead of the table.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,

    /// With --json: add each measured second's latency histogram (`interval_histograms`),
    /// so that results of several generators merge exactly.
    #[arg(long, requires = "json")]
    pub interval_histograms: bool,

    /// Wait until this instant (RFC 3339) before starting: generators that share an
    /// instant measure the same seconds. An instant already past starts at once.
    #[arg(long, value_name = "RFC3339")]
    pub start_at: Option<String>,

    /// Print the result as CSV (header and one row) instead of the table.
    #[arg(long)]
    pub csv: bool,

    /// Also write the result to FILE in the Service Mesh Performance format (SMP, the CNCF
    /// spec Meshery reads; docs/smp.md).
    #[arg(long, value_name = "FILE")]
    pub smp: Option<PathBuf>,

    /// Also write per-second latency histograms to FILE in HdrHistogram's interval log format.
    #[arg(long, value_name = "FILE")]
    pub hdr_out: Option<PathBuf>,

    /// Never show the live progress bar.
    #[arg(long)]
    pub no_progress: bool,

    /// Gate the run, k6-style: `p99<5ms`, `p50<=800us`, `rps>=1000`, `errors<1%`;
    /// repeatable. Exit 3 when one fails (after printing the result). With --repeats, the
    /// mean over the valid runs is gated.
    #[arg(long, value_name = "FIGURE<BOUND")]
    pub threshold: Vec<String>,

    /// Run N times, one after another, and report the series: each figure's mean with its
    /// 95 % interval, invalid runs left out (docs/statistics.md). With --json, an array of
    /// the results (what `meshbench compare` reads).
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeats: u32,

    /// Search the highest open-model rate whose runs meet every --slo with the generator
    /// valid: from --rate (default 1000) doubling, then bisecting to 5 %; each step runs -d.
    #[arg(long, requires = "slo", conflicts_with_all = ["repeats", "csv"])]
    pub find_max_rate: bool,

    /// With --find-max-rate: what a rate must meet, k6-style (`p99<10ms`); repeatable.
    #[arg(long, value_name = "FIGURE<BOUND")]
    pub slo: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  sudo meshbench probe --duration 60
  sudo meshbench probe -d 30s --port 8080 --port 9090 --output json
  sudo meshbench probe -d 1m --cgroup /sys/fs/cgroup/unified/mesh.slice --output csv")]
pub struct ProbeArgs {
    /// How long to watch: seconds, or 30s, 5m, … (Ctrl-C ends early and still reports).
    #[arg(short = 'd', long, default_value = "60")]
    pub duration: String,

    /// Count only connections with this local or remote port (repeatable, at most 8).
    #[arg(short = 'p', long = "port", value_name = "PORT")]
    pub ports: Vec<u16>,

    /// Count only sockets of this process (tgid): the one seen in their connect, recv or
    /// close calls.
    #[arg(long)]
    pub pid: Option<u32>,

    /// Count only sockets of processes in this cgroup v2 directory (e.g. under
    /// /sys/fs/cgroup/unified).
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,

    /// Count only sockets of processes in this cgroup v2 directory or below it (a pod's
    /// cgroup holds its containers'); repeatable.
    #[arg(long, value_name = "PATH")]
    pub cgroup_tree: Vec<PathBuf>,

    /// How many connections the probe can hold before their second request (each end
    /// counts; idle ones stay until they close). Beyond it, new sockets are not measured
    /// and the report counts them as sockets_untracked. Each place costs about 120 bytes of kernel memory.
    #[arg(long, value_name = "N", default_value_t = meshbench_probe::DEFAULT_NEW_CONNECTIONS,
          value_parser = clap::value_parser!(u32)
              .range(1..=i64::from(meshbench_core::probe::MAX_PROBE_NEW_CONNECTIONS)))]
    pub max_new_connections: u32,

    /// Report format on stdout.
    #[arg(short = 'o', long, value_enum, default_value_t = ProbeOutput::Table)]
    pub output: ProbeOutput,
}

/// Formats of `meshbench probe`'s report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeOutput {
    /// JSON, schema meshbench.probe.v1.
    Json,
    /// A header line and one row.
    Csv,
    /// A table for the terminal.
    Table,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address for HTTP/1.1 and h2c.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: SocketAddr,

    /// Worker threads of the target [default: CPU cores].
    #[arg(long)]
    pub threads: Option<usize>,
}
