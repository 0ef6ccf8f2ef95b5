//! The seed's `POST /benchmarks/start` request: its field names, its defaults, the limits a
//! deployment sets, and how it becomes a [`BenchmarkSpec`] for the engine. Pure, so the
//! API validates with exactly the rules the worker later relies on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::job::TestType;
use crate::rate::RateSchedule;
use crate::spec::{
    BenchmarkSpec, GrpcSpec, HttpVersion, LoadModel, MlApi, MlSpec, RequestSpec, WebSocketSpec,
};

/// A start request as clients send it; every field but `test_type` and `mesh_type` has a
/// default, and the seed's own examples leave most of them out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StartRequest {
    /// Workload kind.
    #[serde(default)]
    pub test_type: TestType,
    /// Mesh label (baseline, istio, linkerd, cilium, or any other name).
    #[serde(default = "default_mesh")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._-]{1,63}$"))]
    pub mesh_type: String,
    /// Kubernetes namespace of the target.
    #[serde(default = "default_namespace")]
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9._-]{1,63}$"))]
    pub namespace: String,
    /// Measured seconds.
    #[serde(default = "default_duration")]
    pub duration: u32,
    /// Connections to keep open.
    #[serde(default = "default_connections")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub concurrent_connections: u32,
    /// The target URL; absent means the built-in target (embedded mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// Open model: requests per second; absent means closed model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Open model: how late (µs) a send may leave so that sends due close together leave in
    /// one wake (default 50; up to 10,000). Trades the generator's timing error for its CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_window_us: Option<f64>,
    /// Speak HTTP/2.
    #[serde(default)]
    pub http2: bool,
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Warm-up seconds, excluded from the result.
    #[serde(default)]
    pub warmup: u32,
    /// How many times to run the benchmark (each run is a job of its own).
    #[serde(default = "default_repeats")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10))]
    pub repeats: u32,
    /// WebSocket: payload bytes of each message (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_size: Option<u32>,
    /// WebSocket: messages per second per connection (open model); absent: as fast as the
    /// echoes come back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_rate: Option<f64>,
    /// WebSocket: binary frames rather than text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub binary: bool,
    /// WebSocket: hold mode (keep the connections open with a ping a second; count survivors).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// HTTP/2 and gRPC: concurrent streams per connection (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub streams: Option<u32>,
    /// gRPC: `package.Service/Method` (default: the built-in echo's Unary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<String>,
    /// gRPC: .proto files on the worker's host describing the service (default: the
    /// built-in echo service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<String>,
    /// gRPC: directories imports are resolved against, on the worker's host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_paths: Vec<String>,
    /// gRPC: request messages as JSON; calls rotate through them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<Object>>))]
    pub data: Option<Vec<serde_json::Value>>,
    /// gRPC: metadata sent with every call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// ML: `openai_chat` (default), `openai_completions` or `oip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub ml_api: Option<MlApi>,
    /// ML: the model name (default `mock`, the built-in target's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// ML (OpenAI): the most tokens per completion (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// ML (OpenAI): words in each synthetic prompt (default 32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_tokens: Option<u32>,
    /// ML (OpenAI): stream tokens (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// ML (OpenAI): prompts to rotate through (strings or chat message lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub prompts: Vec<serde_json::Value>,
    /// ML (OIP): shape of the generated input tensor (default [1, 16]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<u64>>,
    /// ML (OIP): datatype of the generated input tensor (default FP32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// Run the eBPF latency probe beside the benchmark, filtered on the target's port: the
    /// result then carries the kernel's figures (`kernel`) beside the application's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ebpf: bool,
    /// Load generators to split the run over (HTTP): each takes 1/N of the connections and
    /// of the rate, all start at one agreed instant, and their results are merged into one.
    /// Needs as many free workers (`meshbench worker` loops on the Redis queue).
    #[serde(default = "default_generators")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 64))]
    pub generators: u32,
    /// Run the load inside the cluster (HTTP): a Kubernetes Job of `meshbench run` pods in
    /// `namespace`, one per generator, against `service_url` as the cluster resolves it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_cluster: bool,
    /// In-cluster runs: the node the load pods run on (`kubernetes.io/hostname`), to put
    /// client and server on the same node or on different ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Search the highest open-model rate meeting `slo` with the generator valid, from
    /// `rate` (default 1000) doubling, then bisecting to 5 %: each step is a run of the
    /// series the start answers with; `GET /series/{id}` reports the capacity found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find_max_rate: Option<crate::capacity::CapacitySearch>,
    /// Run through the mesh lab on the worker's machine (the worker needs root and Envoy):
    /// the topology's hosts and proxies come up for the run (or are used when that topology
    /// is up already), the load runs from the lab's client host against the built-in target
    /// behind them, and the result records the topology, the Envoy version, the proxies'
    /// cost and where the latency went (`lab`). A `service_url` keeps only its path and
    /// query (e.g. `http://target/?delay=1ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lab_topology: Option<crate::lab::LabTopology>,
}

fn default_mesh() -> String {
    "baseline".into()
}
fn default_namespace() -> String {
    "default".into()
}
fn default_duration() -> u32 {
    60
}
fn default_connections() -> u32 {
    100
}
fn default_method() -> String {
    "GET".into()
}
fn default_repeats() -> u32 {
    1
}
fn default_generators() -> u32 {
    1
}

/// The bounds a deployment accepts; configuration, not code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartLimits {
    /// Shortest duration, seconds.
    pub min_duration: u32,
    /// Longest duration, seconds.
    pub max_duration: u32,
    /// Most connections.
    pub max_connections: u32,
    /// Highest open-model rate, requests per second.
    pub max_rate: f64,
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Most repeats of one request.
    pub max_repeats: u32,
}

impl Default for StartLimits {
    fn default() -> Self {
        StartLimits {
            min_duration: 10,
            max_duration: 3600,
            max_connections: 10_000,
            max_rate: 1_000_000.0,
            max_body_bytes: 1024 * 1024,
            max_repeats: 10,
        }
    }
}

/// One rule a field broke, for a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// The field, as the client spelled it.
    pub field: String,
    /// The rule, for a person to read.
    pub message: String,
}

impl StartRequest {
    /// Every rule this request breaks (empty when it is acceptable).
    pub fn validate(&self, limits: &StartLimits) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                message,
            })
        };
        if !(limits.min_duration..=limits.max_duration).contains(&self.duration) {
            fail(
                "duration",
                format!(
                    "must be between {} and {} seconds",
                    limits.min_duration, limits.max_duration
                ),
            );
        }
        if !(1..=limits.max_connections).contains(&self.concurrent_connections) {
            fail(
                "concurrent_connections",
                format!("must be between 1 and {}", limits.max_connections),
            );
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= limits.max_rate) {
                fail(
                    "rate",
                    format!("must be above 0 and at most {}", limits.max_rate),
                );
            }
        }
        if let Some(window) = self.send_window_us {
            if !(window.is_finite() && (0.0..=crate::spec::MAX_SEND_WINDOW_US).contains(&window)) {
                fail(
                    "send_window_us",
                    format!(
                        "must be between 0 and {} µs",
                        crate::spec::MAX_SEND_WINDOW_US
                    ),
                );
            }
        }
        let label_ok = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        };
        if !label_ok(&self.mesh_type) {
            fail(
                "mesh_type",
                "must be 1–63 letters, digits, '-', '_' or '.'".into(),
            );
        }
        if !label_ok(&self.namespace) {
            fail(
                "namespace",
                "must be 1–63 letters, digits, '-', '_' or '.'".into(),
            );
        }
        if !(1..=crate::split::MAX_GENERATORS).contains(&self.generators) {
            fail(
                "generators",
                format!("must be between 1 and {}", crate::split::MAX_GENERATORS),
            );
        } else if self.generators > 1 {
            if self.test_type != TestType::Http {
                fail(
                    "generators",
                    "only http runs can be split over generators yet".into(),
                );
            }
            if self.ebpf {
                fail(
                    "generators",
                    "a run with ebpf cannot be split: the probe watches one host".into(),
                );
            }
            if self.generators > self.concurrent_connections {
                fail(
                    "generators",
                    "must not exceed concurrent_connections: each generator needs a connection"
                        .into(),
                );
            }
        }
        if let Some(search) = &self.find_max_rate {
            if let Err(e) = crate::capacity::parse_slo(&search.slo) {
                let message = match e {
                    crate::Error::Invalid { message, .. } => message,
                    other => other.to_string(),
                };
                fail("find_max_rate.slo", message);
            }
            if self.repeats != 1 {
                fail(
                    "find_max_rate",
                    "a search makes its own runs: leave repeats at 1".into(),
                );
            }
            if self.generators != 1 || self.in_cluster {
                fail(
                    "find_max_rate",
                    "a search runs on one generator, outside the cluster".into(),
                );
            }
        }
        if self.in_cluster {
            if self.test_type != TestType::Http {
                fail(
                    "in_cluster",
                    "only http runs can run inside the cluster yet".into(),
                );
            }
            if self.service_url.is_none() {
                fail(
                    "service_url",
                    "required with in_cluster: the target as the cluster reaches it, e.g. \
                     http://svc.namespace.svc:8080/"
                        .into(),
                );
            }
            if self.ebpf {
                fail(
                    "in_cluster",
                    "the eBPF probe watches a worker's host, not a pod".into(),
                );
            }
        }
        if self.lab_topology.is_some() {
            if self.in_cluster || self.generators != 1 {
                fail(
                    "lab_topology",
                    "a lab run has one generator, in the lab's client host (not in_cluster)".into(),
                );
            }
            if self.ebpf {
                fail(
                    "lab_topology",
                    "a lab run probes each of its hops already; leave ebpf off".into(),
                );
            }
            if self.test_type == TestType::Ml {
                fail(
                    "lab_topology",
                    "the lab's target serves http, grpc and websocket, not ml".into(),
                );
            }
        }
        if let Some(node) = &self.node {
            if !self.in_cluster {
                fail("node", "only applies with in_cluster".into());
            } else if node.is_empty()
                || node.len() > 253
                || !node
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
            {
                fail(
                    "node",
                    "must be a node name (lowercase letters, digits, '-' and '.')".into(),
                );
            }
        }
        let websocket = self.test_type == TestType::Websocket;
        let grpc = self.test_type == TestType::Grpc;
        // The Open Inference Protocol is spoken over HTTP or gRPC; the URL's scheme says which.
        let oip_over_grpc = self.oip_over_grpc();
        let [plain, secure] = if websocket {
            ["ws", "wss"]
        } else if grpc || oip_over_grpc {
            ["grpc", "grpcs"]
        } else {
            ["http", "https"]
        };
        if let Some(url) = &self.service_url {
            match url::Url::parse(url) {
                // Credentials in the URL would be stored with the job and shown in every
                // listing and result; the engine would not send them anyway.
                Ok(u) if !u.username().is_empty() || u.password().is_some() => fail(
                    "service_url",
                    "must not carry credentials (user:password@): they would be stored and \
                     shown with the job; send them in `headers` (e.g. authorization) instead"
                        .to_string(),
                ),
                Ok(u)
                    if (u.scheme() == plain || u.scheme() == secure) && u.host_str().is_some() => {}
                _ => fail(
                    "service_url",
                    format!("`{url}` is not a {plain}:// or {secure}:// URL"),
                ),
            }
        }
        if websocket {
            if let Some(size) = self.message_size {
                if size > crate::spec::MAX_MESSAGE_SIZE {
                    fail(
                        "message_size",
                        format!("must be at most {} bytes", crate::spec::MAX_MESSAGE_SIZE),
                    );
                }
            }
            if let Some(rate) = self.message_rate {
                if !(rate.is_finite() && rate > 0.0)
                    || rate * f64::from(self.concurrent_connections.max(1)) > limits.max_rate
                {
                    fail(
                        "message_rate",
                        format!(
                            "must be above 0, and times the connections at most {}",
                            limits.max_rate
                        ),
                    );
                }
                if self.rate.is_some() {
                    fail(
                        "rate",
                        "give message_rate (per connection) or rate (in all), not both".into(),
                    );
                }
            }
        } else {
            for (field, given) in [
                ("message_size", self.message_size.is_some()),
                ("message_rate", self.message_rate.is_some()),
                ("binary", self.binary),
                ("hold", self.hold),
            ] {
                if given {
                    fail(field, "only applies to websocket runs".into());
                }
            }
        }
        if self
            .body
            .as_ref()
            .is_some_and(|b| b.len() > limits.max_body_bytes)
        {
            fail(
                "body",
                format!("must be at most {} bytes", limits.max_body_bytes),
            );
        }
        if !(1..=limits.max_repeats).contains(&self.repeats) {
            fail(
                "repeats",
                format!("must be between 1 and {}", limits.max_repeats),
            );
        }
        if self.warmup > limits.max_duration {
            fail(
                "warmup",
                format!("must be at most {} seconds", limits.max_duration),
            );
        }
        if !grpc {
            for (field, given) in [
                ("call", self.call.is_some()),
                ("proto", !self.proto.is_empty()),
                ("import_paths", !self.import_paths.is_empty()),
                ("data", self.data.is_some()),
                ("metadata", !self.metadata.is_empty()),
            ] {
                if given {
                    fail(field, "only applies to grpc runs".into());
                }
            }
        }
        if let Some(streams) = self.streams {
            if !(grpc || self.http2) {
                fail("streams", "only applies to HTTP/2 and gRPC runs".into());
            } else if !(1..=1000).contains(&streams) {
                fail("streams", "must be between 1 and 1000".into());
            }
        }
        if grpc && self.data.as_ref().is_some_and(Vec::is_empty) {
            fail("data", "give at least one message".into());
        }
        if self.test_type != TestType::Ml {
            for (field, given) in [
                ("ml_api", self.ml_api.is_some()),
                ("model", self.model.is_some()),
                ("max_tokens", self.max_tokens.is_some()),
                ("prompt_tokens", self.prompt_tokens.is_some()),
                ("stream", self.stream.is_some()),
                ("prompts", !self.prompts.is_empty()),
                ("shape", self.shape.is_some()),
                ("datatype", self.datatype.is_some()),
            ] {
                if given {
                    fail(field, "only applies to ml runs".into());
                }
            }
        }
        // Method and headers get the engine's own checks (on the default target, so a bad
        // service_url, reported above, does not hide them).
        let probe = StartRequest {
            service_url: None,
            ..self.clone()
        };
        if let Err(crate::Error::Invalid { field, message }) =
            probe.to_spec("http://127.0.0.1/").validate()
        {
            if matches!(
                field,
                "method"
                    | "header"
                    | "call"
                    | "metadata"
                    | "data"
                    | "model"
                    | "max_tokens"
                    | "shape"
            ) {
                let field = if field == "header" { "headers" } else { field };
                fail(field, message);
            }
        }
        errors
    }

    /// Whether this is an Open Inference Protocol run against a `grpc://` or `grpcs://` URL.
    fn oip_over_grpc(&self) -> bool {
        self.test_type == TestType::Ml
            && self.ml_api == Some(MlApi::Oip)
            && self
                .service_url
                .as_deref()
                .is_some_and(|u| u.starts_with("grpc://") || u.starts_with("grpcs://"))
    }

    /// The settings that shape latency, as a short label (`c=50 closed h1 body=0B`):
    /// /metrics/summary compares meshes only within one configuration.
    pub fn configuration(&self) -> String {
        let rate = match self.rate {
            Some(r) => format!("{r}/s"),
            None => "closed".to_string(),
        };
        let protocol = match self.test_type {
            TestType::Grpc => format!("grpc {}", self.call.as_deref().unwrap_or("echo")),
            TestType::Websocket => format!("ws msg={}B", self.message_size.unwrap_or(0)),
            TestType::Ml => format!("ml {}", self.model.as_deref().unwrap_or("")),
            TestType::Http if self.http2 => "h2".to_string(),
            TestType::Http => "h1".to_string(),
        };
        let body = self.body.as_ref().map_or(0, String::len);
        let lab = self
            .lab_topology
            .map(|t| format!(" lab={t}"))
            .unwrap_or_default();
        format!(
            "c={} {rate} {protocol} {} body={body}B{lab}",
            self.concurrent_connections, self.method
        )
    }

    /// The engine spec for this request; `default_target` (the built-in target's
    /// `http://host:port/`) is used without a `service_url`, at `ws://host:port/ws` for
    /// WebSocket runs.
    pub fn to_spec(&self, default_target: &str) -> BenchmarkSpec {
        let websocket = self.test_type == TestType::Websocket;
        let grpc = self.test_type == TestType::Grpc;
        let url = self.service_url.clone().unwrap_or_else(|| {
            let rest = default_target
                .strip_prefix("http://")
                .unwrap_or(default_target)
                .trim_end_matches('/');
            if websocket {
                format!("ws://{rest}/ws")
            } else if grpc {
                format!("grpc://{rest}")
            } else {
                default_target.to_string()
            }
        });
        let connections = self.concurrent_connections.max(1);
        // Hold mode pings each connection once a second unless told otherwise.
        let message_rate = self
            .message_rate
            .or(if self.hold { Some(1.0) } else { None });
        let rate = match (websocket, message_rate) {
            (true, Some(per_connection)) => Some(per_connection * f64::from(connections)),
            _ => self.rate,
        };
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        BenchmarkSpec {
            requests: vec![RequestSpec {
                method: self.method.to_ascii_uppercase(),
                url,
                headers: self
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                body: self.body.clone(),
            }],
            protocol: if websocket {
                HttpVersion::Websocket
            } else if grpc || self.oip_over_grpc() {
                HttpVersion::Grpc
            } else if self.http2 {
                HttpVersion::Http2
            } else {
                HttpVersion::Http1
            },
            connections,
            streams: self.streams.unwrap_or(1).max(1),
            threads: cores.min(connections),
            model: match rate {
                Some(rps) => LoadModel::Open {
                    schedule: RateSchedule::Constant { rps },
                    jitter: 0.0,
                    send_window_us: self
                        .send_window_us
                        .unwrap_or(crate::spec::DEFAULT_SEND_WINDOW_US),
                },
                None => LoadModel::Closed,
            },
            duration_s: Some(f64::from(self.duration)),
            max_requests: None,
            warmup_s: f64::from(self.warmup),
            connect_timeout_s: 5.0,
            request_timeout_s: 30.0,
            insecure: false,
            mesh_type: self.mesh_type.parse().unwrap_or_default(),
            websocket: websocket.then(|| WebSocketSpec {
                message_size: self
                    .message_size
                    .unwrap_or(WebSocketSpec::default().message_size),
                binary: self.binary,
                message_rate,
                hold: self.hold,
            }),
            grpc: grpc.then(|| GrpcSpec {
                call: self
                    .call
                    .clone()
                    .unwrap_or_else(|| crate::spec::GRPC_ECHO_UNARY.to_string()),
                proto: self.proto.clone(),
                import_paths: self.import_paths.clone(),
                data: self
                    .data
                    .clone()
                    .unwrap_or_else(|| GrpcSpec::default().data),
                metadata: self
                    .metadata
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            }),
            ml: (self.test_type == TestType::Ml).then(|| {
                let mut ml = MlSpec::new(
                    self.ml_api.unwrap_or(MlApi::OpenaiChat),
                    self.model.clone().unwrap_or_else(|| "mock".into()),
                );
                if let Some(n) = self.max_tokens {
                    ml.max_tokens = n;
                }
                if let Some(n) = self.prompt_tokens {
                    ml.prompt_tokens = n;
                }
                if let Some(stream) = self.stream {
                    ml.stream = stream;
                }
                ml.prompts = self.prompts.clone();
                if let Some(shape) = &self.shape {
                    ml.shape = shape.clone();
                }
                if let Some(datatype) = &self.datatype {
                    ml.datatype = datatype.clone();
                }
                ml
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seeds_minimal_request_gets_defaults() {
        let r: StartRequest =
            serde_json::from_str(r#"{"test_type":"http","mesh_type":"baseline","duration":30}"#)
                .unwrap();
        assert_eq!(r.namespace, "default");
        assert_eq!(r.concurrent_connections, 100);
        assert!(r.validate(&StartLimits::default()).is_empty());
        let spec = r.to_spec("http://127.0.0.1:8081/");
        spec.validate().unwrap();
        assert_eq!(spec.duration_s, Some(30.0));
    }

    #[test]
    fn every_broken_rule_names_its_field() {
        let r: StartRequest = serde_json::from_str(
            r#"{"test_type":"http","mesh_type":"bad mesh","duration":5,"concurrent_connections":0,
                "rate":-1,"service_url":"ftp://x","method":"GE T","repeats":0}"#,
        )
        .unwrap();
        let fields: Vec<String> = r
            .validate(&StartLimits::default())
            .into_iter()
            .map(|e| e.field)
            .collect();
        for f in [
            "duration",
            "concurrent_connections",
            "rate",
            "mesh_type",
            "service_url",
            "method",
            "repeats",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn websocket_requests_become_websocket_specs() {
        let r: StartRequest = serde_json::from_str(
            r#"{"test_type":"websocket","duration":10,"concurrent_connections":20,
                "message_size":256,"message_rate":5,"binary":true}"#,
        )
        .unwrap();
        assert!(r.validate(&StartLimits::default()).is_empty());
        let spec = r.to_spec("http://127.0.0.1:8081/");
        spec.validate().unwrap();
        assert_eq!(spec.protocol, HttpVersion::Websocket);
        assert_eq!(spec.requests[0].url, "ws://127.0.0.1:8081/ws");
        assert_eq!(
            spec.model,
            LoadModel::Open {
                schedule: RateSchedule::Constant { rps: 100.0 },
                jitter: 0.0,
                send_window_us: crate::spec::DEFAULT_SEND_WINDOW_US,
            }
        );
        let ws = spec.websocket.unwrap();
        assert_eq!((ws.message_size, ws.binary, ws.hold), (256, true, false));

        let hold: StartRequest = serde_json::from_str(
            r#"{"test_type":"websocket","hold":true,"concurrent_connections":3}"#,
        )
        .unwrap();
        let spec = hold.to_spec("http://127.0.0.1:8081/");
        assert!(
            matches!(spec.model, LoadModel::Open { schedule: RateSchedule::Constant { rps }, .. } if rps == 3.0)
        );
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        for url in [
            "http://alice:s3cret@127.0.0.1:8080/",
            "http://alice@127.0.0.1:8080/",
        ] {
            let r: StartRequest = serde_json::from_value(serde_json::json!({
                "test_type": "http", "service_url": url,
            }))
            .unwrap();
            let errors = r.validate(&StartLimits::default());
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(errors[0].field, "service_url");
            assert!(!errors[0].message.contains("s3cret"), "{errors:?}");
        }
    }

    #[test]
    fn a_send_window_reaches_the_open_model_and_a_wild_one_is_refused() {
        let r: StartRequest =
            serde_json::from_str(r#"{"test_type":"http","rate":5000,"send_window_us":1000}"#)
                .unwrap();
        assert!(r.validate(&StartLimits::default()).is_empty());
        let spec = r.to_spec("http://127.0.0.1:8081/");
        spec.validate().unwrap();
        assert!(matches!(
            spec.model,
            LoadModel::Open { send_window_us, .. } if send_window_us == 1000.0
        ));
        let wild: StartRequest =
            serde_json::from_str(r#"{"test_type":"http","rate":5000,"send_window_us":1e9}"#)
                .unwrap();
        let errors = wild.validate(&StartLimits::default());
        assert!(
            errors.iter().any(|e| e.field == "send_window_us"),
            "{errors:?}"
        );
    }

    #[test]
    fn grpc_requests_become_grpc_specs() {
        let r: StartRequest = serde_json::from_str(
            r#"{"test_type":"grpc","duration":10,"concurrent_connections":2,"streams":8,
                "call":"meshbench.echo.v1.Echo/ServerStream","data":[{"responses":3}],
                "metadata":{"x-team":"core"}}"#,
        )
        .unwrap();
        assert!(r.validate(&StartLimits::default()).is_empty());
        let spec = r.to_spec("http://127.0.0.1:8081/");
        spec.validate().unwrap();
        assert_eq!(spec.protocol, HttpVersion::Grpc);
        assert_eq!(spec.requests[0].url, "grpc://127.0.0.1:8081");
        assert_eq!(spec.streams, 8);
        let g = spec.grpc.unwrap();
        assert_eq!(g.call, "meshbench.echo.v1.Echo/ServerStream");
        assert_eq!(g.metadata, vec![("x-team".to_string(), "core".to_string())]);
    }

    #[test]
    fn websocket_options_are_refused_elsewhere_and_checked_there() {
        let fields = |json: &str| -> Vec<String> {
            serde_json::from_str::<StartRequest>(json)
                .unwrap()
                .validate(&StartLimits::default())
                .into_iter()
                .map(|e| e.field)
                .collect()
        };
        assert_eq!(fields(r#"{"test_type":"http","hold":true}"#), ["hold"]);
        assert_eq!(
            fields(r#"{"test_type":"websocket","service_url":"http://x/"}"#),
            ["service_url"]
        );
        assert_eq!(
            fields(r#"{"test_type":"websocket","message_rate":0}"#),
            ["message_rate"]
        );
        assert_eq!(
            fields(r#"{"test_type":"websocket","message_size":999999999}"#),
            ["message_size"]
        );
        assert!(fields(r#"{"test_type":"ml"}"#).is_empty());
        assert!(
            fields(r#"{"test_type":"ml","ml_api":"oip","service_url":"grpc://triton:8001"}"#)
                .is_empty()
        );
        assert_eq!(
            fields(r#"{"test_type":"ml","service_url":"grpc://triton:8001"}"#),
            ["service_url"]
        );
        assert_eq!(fields(r#"{"test_type":"http","model":"x"}"#), ["model"]);
        assert_eq!(
            fields(r#"{"test_type":"ml","max_tokens":0}"#),
            ["max_tokens"]
        );
        assert_eq!(fields(r#"{"test_type":"http","call":"a.B/C"}"#), ["call"]);
        assert_eq!(fields(r#"{"test_type":"grpc","call":"nope"}"#), ["call"]);
        assert_eq!(fields(r#"{"test_type":"http","streams":4}"#), ["streams"]);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<StartRequest>(r#"{"test_type":"http","durration":5}"#).is_err()
        );
    }
}
