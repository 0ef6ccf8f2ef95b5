//! What a benchmark asks for. A spec is plain data (the CLI builds one from flags, the API
//! from JSON) and [`BenchmarkSpec::validate`] is the single place that decides whether it
//! can run, naming the field at fault when it cannot.

use serde::{Deserialize, Serialize};

use crate::mesh::MeshKind;
use crate::rate::RateSchedule;
use crate::{Error, Result};

/// The wire protocol a benchmark speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.1 with keep-alive, one request in flight per connection.
    #[default]
    Http1,
    /// HTTP/2: h2c with prior knowledge for `http://`, ALPN `h2` for `https://`.
    Http2,
    /// WebSocket (`ws://`, `wss://`): each request is one message echoed back; its latency
    /// is the message round trip.
    Websocket,
    /// gRPC over HTTP/2 (`grpc://` h2c, `grpcs://` TLS): each request is one call.
    Grpc,
}

impl HttpVersion {
    /// The URL schemes this protocol is spoken over.
    pub fn schemes(self) -> [&'static str; 2] {
        match self {
            HttpVersion::Websocket => ["ws", "wss"],
            HttpVersion::Grpc => ["grpc", "grpcs"],
            _ => ["http", "https"],
        }
    }
}

/// What a WebSocket run sends (protocol `websocket`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebSocketSpec {
    /// Payload bytes of each message.
    #[serde(default = "default_message_size")]
    pub message_size: u32,
    /// Binary frames rather than text.
    #[serde(default)]
    pub binary: bool,
    /// Messages per second per connection, as asked for (the open model's schedule is this
    /// times the connections, and each connection keeps its own share of it); absent: as fast
    /// as each connection's echoes allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_rate: Option<f64>,
    /// Hold mode: open the connections and keep them alive with pings; what matters is how
    /// many survive and how long each took to open, not message throughput.
    #[serde(default)]
    pub hold: bool,
}

fn default_message_size() -> u32 {
    64
}

impl Default for WebSocketSpec {
    fn default() -> Self {
        WebSocketSpec {
            message_size: default_message_size(),
            binary: false,
            message_rate: None,
            hold: false,
        }
    }
}

/// What a gRPC run calls (protocol `grpc`). Messages are built at run time from JSON
/// against the method's descriptor: no code generation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrpcSpec {
    /// `package.Service/Method`.
    pub call: String,
    /// .proto files that describe the service; empty means the built-in echo service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<String>,
    /// Directories imports are resolved against (a file's own directory when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub import_paths: Vec<String>,
    /// Request messages as JSON; calls rotate through them (a streaming call sends them all).
    #[serde(default = "default_grpc_data")]
    pub data: Vec<serde_json::Value>,
    /// Metadata sent with every call, as `[key, value]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<(String, String)>,
}

fn default_grpc_data() -> Vec<serde_json::Value> {
    vec![serde_json::Value::Object(serde_json::Map::new())]
}

/// The built-in echo service's unary method.
pub const GRPC_ECHO_UNARY: &str = "meshbench.echo.v1.Echo/Unary";

impl Default for GrpcSpec {
    fn default() -> Self {
        GrpcSpec {
            call: GRPC_ECHO_UNARY.to_string(),
            proto: Vec::new(),
            import_paths: Vec::new(),
            data: default_grpc_data(),
            metadata: Vec::new(),
        }
    }
}

/// Which inference API an ML run speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MlApi {
    /// OpenAI-compatible `/v1/chat/completions` (vLLM, TGI, Ollama, LLM gateways).
    OpenaiChat,
    /// OpenAI-compatible `/v1/completions`.
    OpenaiCompletions,
    /// The Open Inference Protocol v2 over REST: `/v2/models/{model}/infer` (KServe, Triton,
    /// MLServer).
    Oip,
}

impl MlApi {
    /// The path the API's requests go to, below the base URL.
    pub fn path(self, model: &str) -> String {
        match self {
            MlApi::OpenaiChat => "/v1/chat/completions".into(),
            MlApi::OpenaiCompletions => "/v1/completions".into(),
            MlApi::Oip => format!("/v2/models/{model}/infer"),
        }
    }
}

/// What an ML-inference run sends (present with `ml` runs, over HTTP/1.1): the URL is the
/// server's base (`http://host:port`, with any path prefix and query kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlSpec {
    /// The API.
    pub api: MlApi,
    /// The model name.
    pub model: String,
    /// OpenAI: the most tokens each completion may produce.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// OpenAI: stream the answer (time to first token and inter-token latency need it).
    #[serde(default = "yes")]
    pub stream: bool,
    /// OpenAI: prompts to rotate through (strings, or chat message lists); empty means
    /// synthetic prompts of `prompt_tokens` words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<serde_json::Value>,
    /// OpenAI: words in each synthetic prompt.
    #[serde(default = "default_prompt_tokens")]
    pub prompt_tokens: u32,
    /// OIP: the request's `inputs` tensors as JSON; absent means one tensor generated from
    /// `shape` and `datatype`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<serde_json::Value>,
    /// OIP: shape of the generated tensor.
    #[serde(default = "default_shape")]
    pub shape: Vec<u64>,
    /// OIP: datatype of the generated tensor (FP32, FP16, INT64, …).
    #[serde(default = "default_datatype")]
    pub datatype: String,
}

fn default_max_tokens() -> u32 {
    64
}
fn yes() -> bool {
    true
}
fn default_prompt_tokens() -> u32 {
    32
}
fn default_shape() -> Vec<u64> {
    vec![1, 16]
}
fn default_datatype() -> String {
    "FP32".into()
}

impl MlSpec {
    /// A spec for `api` and `model` with every other field at its default.
    pub fn new(api: MlApi, model: impl Into<String>) -> Self {
        MlSpec {
            api,
            model: model.into(),
            max_tokens: default_max_tokens(),
            stream: true,
            prompts: Vec::new(),
            prompt_tokens: default_prompt_tokens(),
            inputs: None,
            shape: default_shape(),
            datatype: default_datatype(),
        }
    }
}

/// Largest WebSocket message the engine sends (16 MiB).
pub const MAX_MESSAGE_SIZE: u32 = 16 * 1024 * 1024;

/// One request of the mix: round-robin over the list gives mixed traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// HTTP method, e.g. `GET`.
    #[serde(default = "default_method")]
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    /// Extra headers, in order, as `[name, value]` pairs.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// Request body (text); sent with a Content-Length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn default_method() -> String {
    "GET".to_string()
}

impl RequestSpec {
    /// A plain GET of `url`.
    pub fn get(url: impl Into<String>) -> Self {
        RequestSpec {
            method: default_method(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }
}

/// How load is offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum LoadModel {
    /// Fixed concurrency, each connection sending its next request as soon as the last one
    /// answered. Latency here is service time: a stalled server sends fewer requests.
    Closed,
    /// Requests sent on a schedule whatever the server does; latency counts from each
    /// request's intended send time, so stalls are not hidden (coordinated omission).
    Open {
        /// The rate over time.
        schedule: RateSchedule,
        /// Random spread of send times, as a fraction (0–1) of the mean gap between requests.
        #[serde(default)]
        jitter: f64,
        /// How late (µs) a send may leave so that sends due close together leave in one
        /// wake: the generator's timing error traded for its CPU (each wake costs more than
        /// a request on a VM). Latency still counts from each request's own slot.
        #[serde(default = "default_send_window_us")]
        send_window_us: f64,
    },
}

/// The open model's default send window (µs): keeps the send lag's p99 near 100 µs.
pub const DEFAULT_SEND_WINDOW_US: f64 = 50.0;

/// The widest send window accepted (µs): wrk2's timer resolution is 1 ms.
pub const MAX_SEND_WINDOW_US: f64 = 10_000.0;

fn default_send_window_us() -> f64 {
    DEFAULT_SEND_WINDOW_US
}

/// Everything one benchmark run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkSpec {
    /// The requests to send, round-robin.
    pub requests: Vec<RequestSpec>,
    /// HTTP/1.1 or HTTP/2.
    #[serde(default)]
    pub protocol: HttpVersion,
    /// TCP connections kept open.
    #[serde(default = "default_connections")]
    pub connections: u32,
    /// Concurrent streams per HTTP/2 connection (1 for HTTP/1.1).
    #[serde(default = "one")]
    pub streams: u32,
    /// Load-generator threads; connections are spread over them.
    #[serde(default = "one")]
    pub threads: u32,
    /// Closed (as fast as possible) or open (scheduled rate).
    #[serde(flatten)]
    pub model: LoadModel,
    /// Measured duration in seconds (after warm-up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    /// Stop after this many measured requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u64>,
    /// Seconds of load before measurement starts; excluded from every figure.
    #[serde(default)]
    pub warmup_s: f64,
    /// Seconds allowed for a TCP (and TLS) connect.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_s: f64,
    /// Seconds allowed for one request, from send to the end of the response.
    #[serde(default = "default_request_timeout")]
    pub request_timeout_s: f64,
    /// Skip TLS certificate verification.
    #[serde(default)]
    pub insecure: bool,
    /// The mesh the traffic goes through, as a label for comparisons.
    #[serde(default)]
    pub mesh_type: MeshKind,
    /// WebSocket options; present exactly when `protocol` is `websocket`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<WebSocketSpec>,
    /// gRPC options; present exactly when `protocol` is `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcSpec>,
    /// ML-inference options (HTTP/1.1 runs against a model server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml: Option<MlSpec>,
}

fn default_connections() -> u32 {
    50
}
fn one() -> u32 {
    1
}
fn default_connect_timeout() -> f64 {
    5.0
}
fn default_request_timeout() -> f64 {
    30.0
}

/// Limits that keep a typo from asking the box for something absurd.
const MAX_CONNECTIONS: u32 = 100_000;
const MAX_THREADS: u32 = 1024;
const MAX_STREAMS: u32 = 10_000;

impl BenchmarkSpec {
    /// A closed-model spec for one GET of `url` with the defaults for everything else.
    pub fn closed_get(url: impl Into<String>) -> Self {
        BenchmarkSpec {
            requests: vec![RequestSpec::get(url)],
            protocol: HttpVersion::Http1,
            connections: default_connections(),
            streams: 1,
            threads: 1,
            model: LoadModel::Closed,
            duration_s: Some(10.0),
            max_requests: None,
            warmup_s: 0.0,
            connect_timeout_s: default_connect_timeout(),
            request_timeout_s: default_request_timeout(),
            insecure: false,
            mesh_type: MeshKind::Baseline,
            websocket: None,
            grpc: None,
            ml: None,
        }
    }

    /// Whether the open model's rate is a per-connection rate spread evenly over the
    /// connections (WebSocket's `message_rate`), so each connection keeps its own schedule
    /// instead of any free connection taking the next send.
    pub fn paces_each_connection(&self) -> bool {
        matches!(self.model, LoadModel::Open { .. })
            && self
                .websocket
                .as_ref()
                .is_some_and(|ws| ws.message_rate.is_some())
    }

    /// The measured duration: the one given, or else the rate schedule's own length.
    pub fn measured_duration_s(&self) -> Option<f64> {
        self.duration_s.or_else(|| match &self.model {
            LoadModel::Open { schedule, .. } => schedule.duration().map(|d| d.as_secs_f64()),
            LoadModel::Closed => None,
        })
    }

    /// Checks everything a run depends on; the error names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.requests.is_empty() {
            return Err(Error::invalid("url", "at least one URL is needed"));
        }
        let mut origin: Option<(String, String, u16)> = None;
        for request in &self.requests {
            let url = url::Url::parse(&request.url)
                .map_err(|e| Error::invalid("url", format!("`{}`: {e}", request.url)))?;
            let scheme = url.scheme().to_string();
            let [plain, secure] = self.protocol.schemes();
            if scheme != plain && scheme != secure {
                return Err(Error::invalid(
                    "url",
                    format!("`{}`: scheme must be {plain} or {secure}", request.url),
                ));
            }
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| Error::invalid("url", format!("`{}` has no host", request.url)))?
                .to_string();
            let port = url.port_or_known_default().unwrap_or(80);
            let this = (scheme, host, port);
            match &origin {
                None => origin = Some(this),
                Some(first) if *first != this => {
                    return Err(Error::invalid(
                        "url",
                        "every URL of one run must share scheme, host and port (connections are reused across the mix)",
                    ))
                }
                Some(_) => {}
            }
            if request.method.is_empty()
                || !request
                    .method
                    .bytes()
                    .all(|b| b.is_ascii_alphabetic() || b == b'-')
            {
                return Err(Error::invalid(
                    "method",
                    format!("`{}` is not an HTTP method", request.method),
                ));
            }
            for (name, value) in &request.headers {
                if name.is_empty()
                    || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
                    || value.bytes().any(|b| b == b'\r' || b == b'\n')
                {
                    return Err(Error::invalid(
                        "header",
                        format!("`{name}: {value}` is not a valid header"),
                    ));
                }
            }
        }
        if self.connections == 0 || self.connections > MAX_CONNECTIONS {
            return Err(Error::invalid(
                "connections",
                format!("must be 1 to {MAX_CONNECTIONS}"),
            ));
        }
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(Error::invalid(
                "threads",
                format!("must be 1 to {MAX_THREADS}"),
            ));
        }
        if self.threads > self.connections {
            return Err(Error::invalid(
                "threads",
                format!(
                    "{} threads need at least as many connections (got {})",
                    self.threads, self.connections
                ),
            ));
        }
        if self.streams == 0 || self.streams > MAX_STREAMS {
            return Err(Error::invalid(
                "streams",
                format!("must be 1 to {MAX_STREAMS}"),
            ));
        }
        if self.streams > 1 && self.protocol == HttpVersion::Http1 {
            return Err(Error::invalid(
                "streams",
                "HTTP/1.1 carries one request at a time; use --http2 for streams",
            ));
        }
        match (&self.websocket, self.protocol) {
            (Some(ws), HttpVersion::Websocket) => {
                if ws.message_size > MAX_MESSAGE_SIZE {
                    return Err(Error::invalid(
                        "message_size",
                        format!("must be at most {MAX_MESSAGE_SIZE} bytes"),
                    ));
                }
                if let Some(rate) = ws.message_rate {
                    if !(rate.is_finite() && rate > 0.0) {
                        return Err(Error::invalid("message_rate", "must be above zero"));
                    }
                }
                if self.streams > 1 {
                    return Err(Error::invalid(
                        "streams",
                        "a WebSocket connection carries one message exchange at a time",
                    ));
                }
            }
            (None, HttpVersion::Websocket) => {
                return Err(Error::invalid(
                    "websocket",
                    "WebSocket runs need their message options",
                ))
            }
            (Some(_), _) => {
                return Err(Error::invalid(
                    "websocket",
                    "message options only apply to ws:// and wss:// runs",
                ))
            }
            (None, _) => {}
        }
        match (&self.grpc, self.protocol) {
            (Some(grpc), HttpVersion::Grpc) => {
                let valid = grpc.call.split_once('/').is_some_and(|(service, method)| {
                    !service.is_empty() && !method.is_empty() && !method.contains('/')
                });
                if !valid {
                    return Err(Error::invalid(
                        "call",
                        format!("`{}` is not `package.Service/Method`", grpc.call),
                    ));
                }
                if grpc.data.is_empty() {
                    return Err(Error::invalid("data", "give at least one message"));
                }
                for (key, value) in &grpc.metadata {
                    if key.is_empty()
                        || !key.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b)
                        })
                        || value.bytes().any(|b| b == b'\r' || b == b'\n')
                    {
                        return Err(Error::invalid(
                            "metadata",
                            format!("`{key}: {value}`: keys are lower-case letters, digits, '-', '_' or '.'"),
                        ));
                    }
                }
            }
            (None, HttpVersion::Grpc)
                if self.ml.as_ref().is_some_and(|ml| ml.api == MlApi::Oip) => {}
            (None, HttpVersion::Grpc) => {
                return Err(Error::invalid("call", "gRPC runs need a method to call"))
            }
            (Some(_), _) => {
                return Err(Error::invalid(
                    "call",
                    "gRPC options only apply to grpc:// and grpcs:// runs",
                ))
            }
            (None, _) => {}
        }
        if let Some(ml) = &self.ml {
            let grpc_oip = self.protocol == HttpVersion::Grpc && ml.api == MlApi::Oip;
            if self.protocol != HttpVersion::Http1 && !grpc_oip {
                return Err(Error::invalid(
                    "ml",
                    "ML runs speak HTTP/1.1 (http://, https://), or gRPC for oip (grpc://, grpcs://)",
                ));
            }
            let name_ok = !ml.model.is_empty()
                && ml.model.len() <= 256
                && ml
                    .model
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'?');
            if !name_ok {
                return Err(Error::invalid(
                    "model",
                    format!("`{}` is not a model name", ml.model),
                ));
            }
            if ml.max_tokens == 0 || ml.max_tokens > 1_000_000 {
                return Err(Error::invalid("max_tokens", "must be 1 to 1000000"));
            }
            if ml.shape.is_empty() || ml.shape.iter().product::<u64>() > 16 * 1024 * 1024 {
                return Err(Error::invalid("shape", "must have 1 to 16M elements"));
            }
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if let Some(d) = self.duration_s {
            if !positive(d) {
                return Err(Error::invalid("duration", "must be above zero"));
            }
        }
        if self.max_requests == Some(0) {
            return Err(Error::invalid("requests", "must be above zero"));
        }
        if self.measured_duration_s().is_none() && self.max_requests.is_none() {
            return Err(Error::invalid(
                "duration",
                "give a duration or a number of requests",
            ));
        }
        if !(self.warmup_s.is_finite() && self.warmup_s >= 0.0) {
            return Err(Error::invalid("warmup", "must be zero or more"));
        }
        if !positive(self.connect_timeout_s) {
            return Err(Error::invalid("connect_timeout", "must be above zero"));
        }
        if !positive(self.request_timeout_s) {
            return Err(Error::invalid("timeout", "must be above zero"));
        }
        if let LoadModel::Open {
            schedule,
            jitter,
            send_window_us,
        } = &self.model
        {
            schedule.validate()?;
            if !(jitter.is_finite() && (0.0..=1.0).contains(jitter)) {
                return Err(Error::invalid("jitter", "must be between 0 and 1"));
            }
            if !(send_window_us.is_finite() && (0.0..=MAX_SEND_WINDOW_US).contains(send_window_us))
            {
                return Err(Error::invalid(
                    "send_window_us",
                    format!("must be between 0 and {MAX_SEND_WINDOW_US} µs"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        BenchmarkSpec::closed_get("http://127.0.0.1:8080/")
            .validate()
            .unwrap();
    }

    #[test]
    fn each_bad_field_is_named() {
        let base = BenchmarkSpec::closed_get("http://127.0.0.1:8080/");
        type Mutation = Box<dyn Fn(&mut BenchmarkSpec)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("url", Box::new(|s| s.requests[0].url = "not a url".into())),
            ("url", Box::new(|s| s.requests[0].url = "ftp://x/".into())),
            (
                "url",
                Box::new(|s| s.requests.push(RequestSpec::get("http://127.0.0.2:1/"))),
            ),
            ("connections", Box::new(|s| s.connections = 0)),
            ("threads", Box::new(|s| s.threads = 100)),
            ("streams", Box::new(|s| s.streams = 4)),
            ("duration", Box::new(|s| s.duration_s = Some(0.0))),
            ("duration", Box::new(|s| s.duration_s = None)),
            (
                "header",
                Box::new(|s| s.requests[0].headers.push(("a\r\n".into(), "b".into()))),
            ),
            ("method", Box::new(|s| s.requests[0].method = "GE T".into())),
            (
                "jitter",
                Box::new(|s| {
                    s.model = LoadModel::Open {
                        schedule: RateSchedule::Constant { rps: 10.0 },
                        jitter: 2.0,
                        send_window_us: DEFAULT_SEND_WINDOW_US,
                    }
                }),
            ),
            (
                "send_window_us",
                Box::new(|s| {
                    s.model = LoadModel::Open {
                        schedule: RateSchedule::Constant { rps: 10.0 },
                        jitter: 0.0,
                        send_window_us: 20_000.0,
                    }
                }),
            ),
        ];
        for (field, mutate) in cases {
            let mut spec = base.clone();
            mutate(&mut spec);
            let err = spec.validate().unwrap_err();
            assert!(
                err.to_string().contains(field),
                "expected `{field}` in `{err}`"
            );
        }
    }

    #[test]
    fn json_round_trip_keeps_the_model() {
        let mut spec = BenchmarkSpec::closed_get("http://127.0.0.1:8080/");
        spec.model = LoadModel::Open {
            schedule: RateSchedule::Constant { rps: 2000.0 },
            jitter: 0.1,
            send_window_us: DEFAULT_SEND_WINDOW_US,
        };
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains("\"model\":\"open\""), "{json}");
        let back: BenchmarkSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn a_spec_without_a_send_window_gets_the_default() {
        let spec: BenchmarkSpec = serde_json::from_value(serde_json::json!({
            "requests": [{"url": "http://127.0.0.1:8080/"}],
            "model": "open",
            "schedule": {"kind": "constant", "rps": 100.0},
            "duration_s": 1.0,
        }))
        .unwrap();
        assert!(matches!(
            spec.model,
            LoadModel::Open { send_window_us, .. } if send_window_us == DEFAULT_SEND_WINDOW_US
        ));
    }
}
