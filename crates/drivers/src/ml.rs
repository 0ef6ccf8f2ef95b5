//! ML inference over HTTP/1.1 (hyper): OpenAI-compatible completions, streamed as
//! server-sent events, with each token's arrival timestamped for time to first token,
//! inter-token latency and time per output token; and the Open Inference Protocol v2 REST
//! API, whose model readiness is checked before any load. Requests are built once from the
//! spec (synthetic prompts of a given length, prompts from a file, or OIP tensors).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use meshbench_core::{histogram, BenchmarkSpec, ErrorKind, MlApi, MlResult, MlSpec};
use meshbench_engine::driver::Failure;
use meshbench_engine::{Driver, Exchange, Session};
use serde_json::{json, Value};

use crate::http2::classify;
use crate::net::{self, Origin};

/// Requests to a model server.
#[derive(Debug, Clone)]
pub struct MlDriver {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    origin: Origin,
    options: MlSpec,
    uri: Uri,
    ready_uri: Uri,
    metadata_uri: Uri,
    host: HeaderValue,
    /// Set when the driver is built, or for OIP once the model's metadata has been read.
    bodies: OnceLock<Vec<Bytes>>,
    /// Token timings cover the requests inside it.
    window: crate::window::MeasuredWindow,
    stats: Mutex<Stats>,
    output_tokens: AtomicU64,
}

#[derive(Debug)]
struct Stats {
    ttft: Histogram<u64>,
    itl: Histogram<u64>,
    tpot: Histogram<u64>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            ttft: histogram::new_histogram(),
            itl: histogram::new_histogram(),
            tpot: histogram::new_histogram(),
        }
    }
}

impl Shared {
    /// The request bodies; empty only if an OIP run skipped its pre-flight, which the engine
    /// never does.
    fn bodies(&self) -> &[Bytes] {
        self.bodies.get().map_or(&[], Vec::as_slice)
    }
}

impl MlDriver {
    /// Builds the driver for a validated spec with `ml` options.
    pub fn new(spec: &BenchmarkSpec) -> crate::Result<Self> {
        let origin = Origin::for_spec(spec, b"http/1.1")?;
        let invalid = crate::Error::invalid;
        let options = spec
            .ml
            .clone()
            .ok_or_else(|| invalid("ml", "ML options are missing".into()))?;
        let base = spec
            .requests
            .first()
            .map(|r| r.url.as_str())
            .ok_or_else(|| invalid("url", "at least one URL is needed".into()))?;
        let parsed = url::Url::parse(base).map_err(|e| invalid("url", e.to_string()))?;
        let prefix = parsed.path().trim_end_matches('/');
        let query = parsed.query().map(|q| format!("?{q}")).unwrap_or_default();
        let path = format!("{prefix}{}{query}", options.api.path(&options.model));
        let ready = format!("{prefix}/v2/models/{}/ready{query}", options.model);
        let metadata = format!("{prefix}/v2/models/{}{query}", options.model);
        let uri = |p: &str| -> crate::Result<Uri> {
            p.parse::<Uri>().map_err(|e| invalid("url", e.to_string()))
        };
        let host = HeaderValue::from_str(&origin.endpoint.authority)
            .map_err(|e| invalid("url", e.to_string()))?;
        let bodies = OnceLock::new();
        if options.api != MlApi::Oip {
            let built = self::bodies(&options, None)?;
            let _ = bodies.set(built);
        }
        Ok(MlDriver {
            shared: Arc::new(Shared {
                uri: uri(&path)?,
                ready_uri: uri(&ready)?,
                metadata_uri: uri(&metadata)?,
                host,
                origin,
                options,
                bodies,
                window: crate::window::MeasuredWindow::for_spec(spec),
                stats: Mutex::new(Stats::new()),
                output_tokens: AtomicU64::new(0),
            }),
        })
    }

    /// The ML section of the result; `duration_s` is the measured time.
    pub fn report(&self, duration_s: f64) -> MlResult {
        let o = &self.shared.options;
        let stats = self
            .shared
            .stats
            .lock()
            .map(|s| (s.ttft.clone(), s.itl.clone(), s.tpot.clone()))
            .unwrap_or_else(|p| {
                let s = p.into_inner();
                (s.ttft.clone(), s.itl.clone(), s.tpot.clone())
            });
        let (ttft, itl, tpot) = stats;
        let openai = o.api != MlApi::Oip;
        let some = |h: &Histogram<u64>| (openai && !h.is_empty()).then(|| histogram::summarize(h));
        let encoded = |h: &Histogram<u64>| {
            (openai && !h.is_empty())
                .then(|| histogram::encode_base64(h).ok())
                .flatten()
        };
        let tokens = self.shared.output_tokens.load(Relaxed);
        MlResult {
            api: serde_json::to_value(o.api)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            model: o.model.clone(),
            stream: openai && o.stream,
            ttft_us: some(&ttft),
            itl_us: some(&itl),
            tpot_us: some(&tpot),
            ttft_histogram: encoded(&ttft),
            itl_histogram: encoded(&itl),
            output_tokens: tokens,
            output_tokens_per_s: if duration_s > 0.0 {
                tokens as f64 / duration_s
            } else {
                0.0
            },
        }
    }
}

/// The request bodies the run rotates through. OIP bodies need the model's input tensors,
/// which [`oip_inputs`] settles against the model's metadata first.
fn bodies(o: &MlSpec, oip_inputs: Option<Vec<Value>>) -> crate::Result<Vec<Bytes>> {
    let invalid = crate::Error::invalid;
    let body = |v: Value| Bytes::from(v.to_string());
    match o.api {
        MlApi::Oip => {
            let inputs = match oip_inputs {
                Some(inputs) => inputs,
                None => self::oip_inputs(o, None)?,
            };
            Ok(vec![body(json!({"inputs": inputs}))])
        }
        MlApi::OpenaiChat | MlApi::OpenaiCompletions => {
            let chat = o.api == MlApi::OpenaiChat;
            let synthetic = || {
                const WORDS: [&str; 6] = ["measure", "the", "mesh", "before", "you", "trust"];
                (0..o.prompt_tokens.max(1))
                    .map(|i| WORDS[i as usize % WORDS.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let prompts = if o.prompts.is_empty() {
                vec![Value::String(synthetic())]
            } else {
                o.prompts.clone()
            };
            prompts
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let mut request = json!({
                        "model": o.model, "max_tokens": o.max_tokens, "stream": o.stream,
                    });
                    if o.stream {
                        request["stream_options"] = json!({"include_usage": true});
                    }
                    match (chat, p) {
                        (true, Value::String(text)) => {
                            request["messages"] = json!([{"role": "user", "content": text}]);
                        }
                        (true, Value::Array(messages)) => request["messages"] = Value::Array(messages),
                        (true, Value::Object(obj)) if obj.contains_key("messages") => {
                            request["messages"] = obj["messages"].clone();
                        }
                        (false, Value::String(text)) => request["prompt"] = Value::String(text),
                        (false, Value::Object(obj)) if obj.contains_key("prompt") => {
                            request["prompt"] = obj["prompt"].clone();
                        }
                        (_, other) => {
                            return Err(invalid("prompts", format!(
                                "prompt {}: expected a string, a message list or an object with `{}`, got {other}",
                                i + 1,
                                if chat { "messages" } else { "prompt" }
                            )))
                        }
                    }
                    Ok(body(request))
                })
                .collect()
        }
    }
}

/// The OIP request's input tensors (`name`, `shape`, `datatype`, `data`), checked against the
/// model's metadata (`GET /v2/models/{name}` or gRPC `ModelMetadata`) when the server gave
/// it: given tensors must be inputs the model has, with its datatypes; a generated tensor
/// takes the model's input name, must have its datatype and rank, and fills the model's
/// variable dimensions (-1) from `shape`. Without metadata the tensor is named `input`.
pub fn oip_inputs(o: &MlSpec, metadata: Option<&Value>) -> crate::Result<Vec<Value>> {
    let invalid = |message: String| crate::Error::invalid("inputs", message);
    let model = &o.model;
    let declared: Option<&Vec<Value>> = metadata
        .and_then(|m| m["inputs"].as_array())
        .filter(|inputs| !inputs.is_empty());
    let names = |inputs: &Vec<Value>| {
        inputs
            .iter()
            .filter_map(|i| i["name"].as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(given) = &o.inputs {
        let Some(given) = given.as_array() else {
            return Err(invalid("the inputs must be a JSON list of tensors".into()));
        };
        if let Some(declared) = declared {
            for tensor in given {
                let name = tensor["name"].as_str().unwrap_or_default();
                let Some(input) = declared.iter().find(|i| i["name"] == name) else {
                    return Err(invalid(format!(
                        "model `{model}` has no input `{name}` (it has: {})",
                        names(declared)
                    )));
                };
                if let (Some(want), Some(got)) =
                    (input["datatype"].as_str(), tensor["datatype"].as_str())
                {
                    if want != got {
                        return Err(invalid(format!(
                            "input `{name}` of model `{model}` is {want}, not {got}"
                        )));
                    }
                }
            }
            if let Some(missing) = declared
                .iter()
                .filter_map(|i| i["name"].as_str())
                .find(|n| !given.iter().any(|t| t["name"] == *n))
            {
                return Err(invalid(format!(
                    "model `{model}` needs input `{missing}` as well"
                )));
            }
        }
        return Ok(given.clone());
    }
    let (name, shape) = match declared {
        None => ("input".to_string(), o.shape.clone()),
        Some(declared) if declared.len() > 1 => {
            return Err(invalid(format!(
                "model `{model}` takes {} inputs ({}): give them as tensors (--inputs-file, or `inputs` in the API)",
                declared.len(),
                names(declared)
            )))
        }
        Some(declared) => {
            let input = &declared[0];
            let name = input["name"].as_str().unwrap_or("input").to_string();
            if let Some(want) = input["datatype"].as_str() {
                if want != o.datatype {
                    return Err(invalid(format!(
                        "input `{name}` of model `{model}` is {want}, not {} (set the datatype to {want})",
                        o.datatype
                    )));
                }
            }
            let dims: Vec<i64> = input["shape"]
                .as_array()
                .map(|d| d.iter().filter_map(Value::as_i64).collect())
                .unwrap_or_default();
            let fits = dims.len() == o.shape.len()
                && dims
                    .iter()
                    .zip(&o.shape)
                    .all(|(&d, &s)| d < 0 || d as u64 == s);
            if !dims.is_empty() && !fits {
                return Err(invalid(format!(
                    "input `{name}` of model `{model}` has shape {dims:?} (-1: any size); the shape {:?} does not fit it",
                    o.shape
                )));
            }
            (name, o.shape.clone())
        }
    };
    let n: u64 = shape.iter().product();
    let data: Vec<Value> = (0..n)
        .map(|i| {
            if o.datatype.starts_with("FP") {
                json!((i % 100) as f64 / 100.0)
            } else if o.datatype == "BOOL" {
                json!(i % 2 == 0)
            } else if o.datatype == "BYTES" {
                json!("x")
            } else {
                json!(i % 100)
            }
        })
        .collect();
    Ok(vec![
        json!({"name": name, "shape": shape, "datatype": o.datatype, "data": data}),
    ])
}

/// One connection's lane.
pub struct MlSession {
    shared: Arc<Shared>,
    sender: Option<SendRequest<Full<Bytes>>>,
    local: Stats,
    last_error: String,
}

impl std::fmt::Debug for MlSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlSession").finish_non_exhaustive()
    }
}

impl Drop for MlSession {
    fn drop(&mut self) {
        // Lanes record on their own thread without a lock; their samples join at the end.
        if let Ok(mut shared) = self.shared.stats.lock() {
            histogram::merge(&mut shared.ttft, &self.local.ttft);
            histogram::merge(&mut shared.itl, &self.local.itl);
            histogram::merge(&mut shared.tpot, &self.local.tpot);
        }
    }
}

impl Driver for MlDriver {
    type Session = MlSession;

    type Error = crate::Error;

    async fn preflight(&self) -> crate::Result<()> {
        let mut session = self.session();
        let endpoint = &self.shared.origin.endpoint;
        if self.shared.options.api == MlApi::Oip {
            let (status, body) = session
                .get(self.shared.ready_uri.clone())
                .await
                .map_err(|(kind, m)| crate::Error::unreachable(endpoint, kind, m))?;
            if status != 200 {
                return Err(crate::Error::unready(
                    endpoint,
                    format!(
                        "model `{}` is not ready: HTTP {status}: {}",
                        self.shared.options.model,
                        body.trim()
                    ),
                ));
            }
            // The model's metadata names its inputs; a server without it gets the tensors
            // as given.
            let metadata = match session.get(self.shared.metadata_uri.clone()).await {
                Ok((200, body)) => serde_json::from_str::<Value>(&body).ok(),
                _ => None,
            };
            let inputs = oip_inputs(&self.shared.options, metadata.as_ref())?;
            let built = bodies(&self.shared.options, Some(inputs))?;
            let _ = self.shared.bodies.set(built);
        }
        let outcome = session.exchange(0, false).await;
        match outcome {
            Ok((200, _)) => Ok(()),
            Ok((status, body)) => Err(crate::Error::unready(
                endpoint,
                format!(
                    "{} answered HTTP {status}: {}",
                    self.shared.uri.path(),
                    body.trim()
                ),
            )),
            Err((kind, m)) => Err(crate::Error::unreachable(endpoint, kind, m)),
        }
        .inspect(|()| {
            // The preflight's own samples are not the run's.
            session.local = Stats::new();
            self.shared.output_tokens.store(0, Relaxed);
        })
    }

    fn open(&self, _connection: usize, _streams: usize) -> Vec<MlSession> {
        vec![self.session()]
    }
}

impl MlDriver {
    fn session(&self) -> MlSession {
        MlSession {
            shared: Arc::clone(&self.shared),
            sender: None,
            local: Stats::new(),
            last_error: String::new(),
        }
    }
}

impl Session for MlSession {
    async fn call(&mut self, seq: u64) -> Result<Exchange, Failure> {
        let bodies = self.shared.bodies();
        if bodies.is_empty() {
            self.last_error = "no request body: the pre-flight did not run".into();
            return Err(Failure::from(ErrorKind::Io));
        }
        let index = (seq % bodies.len() as u64) as usize;
        let sent = bodies[index].len() as u64;
        match self.exchange(index, true).await {
            Ok((status, body)) => Ok(Exchange::http(status, sent, body.len() as u64)),
            Err((kind, message)) => {
                self.last_error = message;
                self.sender = None;
                Err(Failure::from(kind))
            }
        }
    }

    fn abandon(&mut self) {
        // An HTTP/1.1 connection with an answer still coming cannot be reused.
        self.sender = None;
    }
}

impl MlSession {
    async fn sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, (ErrorKind, String)> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = net::connect(&self.shared.origin).await?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(classify)?;
            tokio::spawn(conn);
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| (ErrorKind::Io, "no connection".into()))
    }

    async fn get(&mut self, uri: Uri) -> Result<(u16, String), (ErrorKind, String)> {
        let host = self.shared.host.clone();
        let sender = self.sender().await?;
        let mut request = Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        request.headers_mut().insert(http::header::HOST, host);
        sender.ready().await.map_err(classify)?;
        let response = sender.send_request(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(classify)?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// One request; token timings are recorded when `record` and the warm-up is over.
    /// Returns the status and the body (the SSE text when streamed).
    async fn exchange(
        &mut self,
        index: usize,
        record: bool,
    ) -> Result<(u16, String), (ErrorKind, String)> {
        let shared = Arc::clone(&self.shared);
        let body = shared.bodies().get(index).cloned().unwrap_or_default();
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = shared.uri.clone();
        let headers = request.headers_mut();
        headers.insert(http::header::HOST, shared.host.clone());
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let sender = self.sender().await?;
        sender.ready().await.map_err(classify)?;
        let started = Instant::now();
        let response = sender.send_request(request).await.map_err(classify)?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut text = Vec::new();
        let mut tokens = TokenClock::default();
        let mut pending = Vec::new();
        let openai_stream = shared.options.api != MlApi::Oip && shared.options.stream;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(classify)?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            let now = Instant::now();
            text.extend_from_slice(data);
            if openai_stream && status == 200 {
                pending.extend_from_slice(data);
                while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    tokens.line(&line, now);
                }
            }
        }
        let text = String::from_utf8_lossy(&text).into_owned();
        if status == 200 && shared.options.api != MlApi::Oip {
            if !openai_stream {
                tokens.whole(&text, Instant::now());
            }
            // As the engine counts requests: those that finished inside the measured period,
            // which starts with the first call of the run (not the preflight's) plus warm-up.
            let inside = record && shared.window.contains(started);
            if inside {
                self.local_record(&tokens, started);
                shared.output_tokens.fetch_add(tokens.count(), Relaxed);
            }
        }
        Ok((status, text))
    }

    fn local_record(&mut self, t: &TokenClock, started: Instant) {
        let us = histogram::micros;
        let Some(first) = t.first else { return };
        histogram::record_us(&mut self.local.ttft, us(first - started));
        for gap in &t.gaps {
            histogram::record_us(&mut self.local.itl, us(*gap));
        }
        if let (Some(last), true) = (t.last, t.events > 1) {
            let per = (last - first) / (t.events as u32 - 1);
            histogram::record_us(&mut self.local.tpot, us(per));
        }
    }
}

/// Token arrivals of one answer.
#[derive(Debug, Default)]
struct TokenClock {
    first: Option<Instant>,
    last: Option<Instant>,
    gaps: Vec<Duration>,
    events: u64,
    /// `usage.completion_tokens`, when the server sent it.
    usage: Option<u64>,
}

impl TokenClock {
    /// One line of a server-sent event stream.
    fn line(&mut self, line: &[u8], at: Instant) {
        let line = String::from_utf8_lossy(line);
        let Some(data) = line.trim().strip_prefix("data:") else {
            return;
        };
        let data = data.trim();
        if data.is_empty() || data == "[DONE]" {
            return;
        }
        let Ok(event) = serde_json::from_str::<Value>(data) else {
            return;
        };
        if let Some(n) = event["usage"]["completion_tokens"].as_u64() {
            self.usage = Some(n);
        }
        let choice = &event["choices"][0];
        let content = choice["delta"]["content"]
            .as_str()
            .or_else(|| choice["text"].as_str())
            .unwrap_or("");
        if content.is_empty() {
            return;
        }
        if let Some(last) = self.last {
            self.gaps.push(at - last);
        }
        self.first.get_or_insert(at);
        self.last = Some(at);
        self.events += 1;
    }

    /// A whole (unstreamed) answer: the first token is the whole answer's arrival.
    fn whole(&mut self, body: &str, at: Instant) {
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            self.usage = v["usage"]["completion_tokens"].as_u64();
        }
        self.first = Some(at);
        self.last = Some(at);
        self.events = 1;
    }

    fn count(&self) -> u64 {
        self.usage.unwrap_or(self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_events_split_across_lines_and_usage_wins() {
        let t0 = Instant::now();
        let mut clock = TokenClock::default();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        clock.line(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n",
            ms(1),
        );
        clock.line(
            b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n",
            ms(10),
        );
        clock.line(b": keep-alive comment\n", ms(11));
        clock.line(b"data: {\"choices\":[{\"text\":\"b\"}]}\n", ms(30));
        clock.line(
            b"data: {\"choices\":[],\"usage\":{\"completion_tokens\":7}}\n",
            ms(31),
        );
        clock.line(b"data: [DONE]\n", ms(32));
        assert_eq!(clock.events, 2);
        assert_eq!(clock.first, Some(ms(10)));
        assert_eq!(clock.gaps, vec![Duration::from_millis(20)]);
        assert_eq!(clock.count(), 7);
    }

    #[test]
    fn oip_tensors_follow_the_model_metadata() {
        let metadata = json!({"name": "resnet", "inputs": [
            {"name": "pixels", "datatype": "FP32", "shape": [-1, 3, 2]}
        ]});
        let mut o = MlSpec::new(MlApi::Oip, "resnet");
        o.shape = vec![4, 3, 2];
        let inputs = oip_inputs(&o, Some(&metadata)).unwrap();
        assert_eq!(inputs[0]["name"], "pixels");
        assert_eq!(inputs[0]["shape"], json!([4, 3, 2]));
        assert_eq!(inputs[0]["data"].as_array().unwrap().len(), 24);
        // A fixed dimension that differs does not fit.
        o.shape = vec![4, 4, 2];
        let e = oip_inputs(&o, Some(&metadata)).unwrap_err().to_string();
        assert!(e.contains("has shape [-1, 3, 2]"), "{e}");
        // Without metadata the tensor is the one asked for.
        assert_eq!(oip_inputs(&o, None).unwrap()[0]["name"], "input");
        // Two inputs cannot be generated from one shape.
        let two = json!({"inputs": [
            {"name": "a", "datatype": "FP32", "shape": [-1]},
            {"name": "b", "datatype": "FP32", "shape": [-1]}
        ]});
        let e = oip_inputs(&o, Some(&two)).unwrap_err().to_string();
        assert!(e.contains("takes 2 inputs (a, b)"), "{e}");
        // Given tensors must cover the model's inputs.
        o.inputs = Some(json!([{"name": "a", "datatype": "FP32", "shape": [1], "data": [1.0]}]));
        let e = oip_inputs(&o, Some(&two)).unwrap_err().to_string();
        assert!(e.contains("needs input `b`"), "{e}");
    }

    #[test]
    fn prompts_become_requests_or_name_what_is_wrong() {
        let mut o = MlSpec::new(MlApi::OpenaiChat, "m");
        o.prompt_tokens = 4;
        let b = bodies(&o, None).unwrap();
        let v: Value = serde_json::from_slice(&b[0]).unwrap();
        assert_eq!(v["messages"][0]["content"], "measure the mesh before");
        assert_eq!(v["stream"], true);
        o.prompts = vec![json!(42)];
        assert!(bodies(&o, None)
            .unwrap_err()
            .to_string()
            .contains("prompt 1"));
        let oip = bodies(&MlSpec::new(MlApi::Oip, "m"), None).unwrap();
        let v: Value = serde_json::from_slice(&oip[0]).unwrap();
        assert_eq!(v["inputs"][0]["data"].as_array().unwrap().len(), 16);
    }
}
