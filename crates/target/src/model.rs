//! A mock model server, so ML runs work out of the box: OpenAI-compatible completions
//! (`/v1/chat/completions`, `/v1/completions`, streamed as server-sent events or whole) and the
//! Open Inference Protocol v2 REST API (`/v2/...`, as KServe, Triton and MLServer speak it).
//! One model exists, `mock`; any other name is answered as the real servers do for a model
//! they do not have. The query string sets the timing: `ttft=` (time to first token, default
//! 20ms), `token_rate=` (tokens per second after the first, default 200) and `compute=` (the
//! OIP inference time, default 1ms).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::controls::{find_param, parse_bounded_duration, ParamError};
use crate::handler::Shared;

/// The one model served.
pub const MODEL: &str = "mock";
/// Most tokens one completion may ask for.
const MAX_TOKENS: u64 = 8192;
/// Largest request body read.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The body of every model answer (streamed or whole).
pub(crate) type ModelBody = UnsyncBoxBody<Bytes, Infallible>;

/// Whether a path belongs to the model server.
pub(crate) fn is_model_path(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/v2/") || path == "/v2"
}

struct Timing {
    ttft: Duration,
    token_gap: Duration,
    compute: Duration,
}

fn timing(query: &str) -> Result<Timing, ParamError> {
    let duration = |name: &'static str, default: Duration| -> Result<Duration, ParamError> {
        match find_param(query, name)? {
            Some(text) => parse_bounded_duration(name, &text),
            None => Ok(default),
        }
    };
    let rate = match find_param(query, "token_rate")? {
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|r| r.is_finite() && *r > 0.0 && *r <= 1_000_000.0)
            .ok_or_else(|| {
                ParamError::new("token_rate", format!("`{text}` is not a rate above 0"))
            })?,
        None => 200.0,
    };
    Ok(Timing {
        ttft: duration("ttft", Duration::from_millis(20))?,
        token_gap: Duration::from_secs_f64(1.0 / rate),
        compute: duration("compute", Duration::from_millis(1))?,
    })
}

/// Answers one model-server request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ModelBody> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let method = req.method().clone();
    let timing = match timing(&query) {
        Ok(t) => t,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
    };
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) => {
            return json_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("reading the request: {e}")}),
            )
        }
    };
    shared.pause.wait().await;
    match (method, path.as_str()) {
        (Method::GET, "/v1/models") => json_response(
            StatusCode::OK,
            json!({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "meshbench"}]}),
        ),
        (Method::POST, "/v1/chat/completions") => completion(shared, &body, timing, true).await,
        (Method::POST, "/v1/completions") => completion(shared, &body, timing, false).await,
        (Method::GET, "/v2/health/ready") | (Method::GET, "/v2/health/live") => {
            json_response(StatusCode::OK, json!({}))
        }
        (Method::GET, "/v2") => json_response(
            StatusCode::OK,
            json!({"name": "meshbench-mock", "version": env!("CARGO_PKG_VERSION"), "extensions": []}),
        ),
        (m, p) if p.starts_with("/v2/models/") => {
            let rest = &p["/v2/models/".len()..];
            let (name, action) = rest.split_once('/').unwrap_or((rest, ""));
            if name != MODEL {
                return json_response(
                    StatusCode::NOT_FOUND,
                    json!({"error": format!("model `{name}` not found (this server has `{MODEL}`)")}),
                );
            }
            match (m, action) {
                (Method::GET, "") => json_response(
                    StatusCode::OK,
                    json!({
                        "name": MODEL, "versions": ["1"], "platform": "meshbench",
                        "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, -1]}],
                        "outputs": [{"name": "output", "datatype": "FP32", "shape": [-1, -1]}]
                    }),
                ),
                (Method::GET, "ready") => json_response(StatusCode::OK, json!({})),
                (Method::POST, "infer") => infer(&shared, &body, timing).await,
                _ => json_response(StatusCode::NOT_FOUND, json!({"error": "no such endpoint"})),
            }
        }
        _ => json_response(
            StatusCode::NOT_FOUND,
            json!({"error": {"message": format!("no endpoint {path}"), "type": "invalid_request_error"}}),
        ),
    }
}

async fn completion(
    shared: Arc<Shared>,
    body: &[u8],
    timing: Timing,
    chat: bool,
) -> Response<ModelBody> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not JSON: {e}"),
                "invalid_request_error",
            )
        }
    };
    let model = request["model"].as_str().unwrap_or("");
    if model != MODEL {
        return openai_error(
            StatusCode::NOT_FOUND,
            &format!("The model `{model}` does not exist"),
            "model_not_found",
        );
    }
    let tokens = request["max_tokens"]
        .as_u64()
        .or_else(|| request["max_completion_tokens"].as_u64())
        .unwrap_or(16)
        .clamp(1, MAX_TOKENS);
    let prompt_tokens = if chat {
        request["messages"]
            .as_array()
            .map(|m| {
                m.iter()
                    .map(|x| words(x["content"].as_str().unwrap_or("")))
                    .sum()
            })
            .unwrap_or(0)
    } else {
        words(request["prompt"].as_str().unwrap_or(""))
    };
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens});
    if !request["stream"].as_bool().unwrap_or(false) {
        let total = timing.ttft + timing.token_gap * (tokens.saturating_sub(1) as u32);
        shared.sleeper.sleep(total).await;
        let text = (0..tokens).map(token).collect::<String>();
        let choice = if chat {
            json!({"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "length"})
        } else {
            json!({"index": 0, "text": text, "finish_reason": "length"})
        };
        return json_response(
            StatusCode::OK,
            json!({"id": "cmpl-mock", "object": if chat {"chat.completion"} else {"text_completion"},
                   "created": 0, "model": MODEL, "choices": [choice], "usage": usage}),
        );
    }
    let include_usage = request["stream_options"]["include_usage"]
        .as_bool()
        .unwrap_or(false);
    // One event per token, the first after ttft and the rest token_gap apart; then [DONE].
    let events = stream::unfold(0u64, move |i| {
        let shared = Arc::clone(&shared);
        let usage = usage.clone();
        async move {
            if i > tokens + 1 {
                return None;
            }
            let data = if i < tokens {
                shared
                    .sleeper
                    .sleep(if i == 0 {
                        timing.ttft
                    } else {
                        timing.token_gap
                    })
                    .await;
                let finish = if i + 1 == tokens {
                    json!("length")
                } else {
                    Value::Null
                };
                let choice = if chat {
                    json!({"index": 0, "delta": {"content": token(i)}, "finish_reason": finish})
                } else {
                    json!({"index": 0, "text": token(i), "finish_reason": finish})
                };
                format!(
                    "data: {}\n\n",
                    json!({"id": "cmpl-mock", "object": if chat {"chat.completion.chunk"} else {"text_completion"},
                           "created": 0, "model": MODEL, "choices": [choice]})
                )
            } else if i == tokens {
                if include_usage {
                    format!(
                        "data: {}\n\n",
                        json!({"id": "cmpl-mock", "object": "chat.completion.chunk", "created": 0, "model": MODEL, "choices": [], "usage": usage})
                    )
                } else {
                    String::new()
                }
            } else {
                "data: [DONE]\n\n".to_string()
            };
            Some((Ok::<_, Infallible>(Frame::data(Bytes::from(data))), i + 1))
        }
    });
    let mut resp = Response::new(UnsyncBoxBody::new(StreamBody::new(events)));
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    resp
}

async fn infer(shared: &Shared, body: &[u8], timing: Timing) -> Response<ModelBody> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("the body is not JSON: {e}")}),
            )
        }
    };
    let Some(inputs) = request["inputs"].as_array().filter(|i| !i.is_empty()) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": "`inputs` must be a non-empty list of tensors"}),
        );
    };
    let mut outputs = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let shape: Vec<u64> = input["shape"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        let expected: u64 = shape.iter().product();
        let data_len = input["data"].as_array().map(|d| d.len() as u64);
        if shape.is_empty() || input["datatype"].as_str().is_none() || data_len != Some(expected) {
            return json_response(
                StatusCode::BAD_REQUEST,
                json!({"error": format!("input {i}: needs a name, a shape, a datatype and as many data elements as the shape holds")}),
            );
        }
        outputs.push(json!({"name": format!("output{i}"), "shape": input["shape"], "datatype": input["datatype"], "data": input["data"]}));
    }
    shared.sleeper.sleep(timing.compute).await;
    json_response(
        StatusCode::OK,
        json!({"model_name": MODEL, "model_version": "1", "id": request["id"], "outputs": outputs}),
    )
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The mock's i-th output token.
fn token(i: u64) -> String {
    const WORDS: [&str; 8] = [
        "mesh ", "bench ", "latency ", "proxy ", "sidecar ", "token ", "stream ", "model ",
    ];
    WORDS[(i % 8) as usize].to_string()
}

fn openai_error(status: StatusCode, message: &str, code: &str) -> Response<ModelBody> {
    json_response(
        status,
        json!({"error": {"message": message, "type": "invalid_request_error", "code": code}}),
    )
}

fn json_response(status: StatusCode, value: Value) -> Response<ModelBody> {
    let mut resp = Response::new(UnsyncBoxBody::new(Full::new(Bytes::from(
        value.to_string(),
    ))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
