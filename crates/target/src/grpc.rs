//! The gRPC echo service (`proto/meshbench/echo/v1/echo.proto`) on the target's HTTP/2 port:
//! requests whose content type is `application/grpc` come here. Hand-written over hyper
//! rather than tonic, so the HTTP path keeps its plain body type and no code is generated.
//! The whole request is read before answering: a streaming client's messages all arrive
//! before the responses go out, which is what an echo needs.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::stream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use prost::Message;

use crate::handler::Shared;

/// The response body of a gRPC call: data frames, then the trailers (all at once, or as a
/// bidi stream's requests arrive).
pub(crate) type GrpcBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

fn boxed(frames: Vec<Result<Frame<Bytes>, Infallible>>) -> GrpcBody {
    http_body_util::combinators::UnsyncBoxBody::new(StreamBody::new(stream::iter(frames)))
}

/// `meshbench.echo.v1.EchoRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct EchoRequest {
    #[prost(bytes = "bytes", tag = "1")]
    payload: Bytes,
    #[prost(uint32, tag = "2")]
    responses: u32,
    #[prost(uint32, tag = "3")]
    response_size: u32,
    #[prost(uint32, tag = "4")]
    delay_us: u32,
    #[prost(uint32, tag = "5")]
    status: u32,
    #[prost(string, tag = "6")]
    message: String,
}

/// `meshbench.echo.v1.EchoResponse`.
#[derive(Clone, PartialEq, Message)]
pub struct EchoResponse {
    #[prost(bytes = "bytes", tag = "1")]
    payload: Bytes,
    #[prost(uint64, tag = "2")]
    received: u64,
    #[prost(string, tag = "3")]
    message: String,
}

/// Whether a request is a gRPC call.
pub(crate) fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Most messages in one call the echo accepts.
const MAX_MESSAGES: usize = 100_000;
/// Largest message the echo accepts (4 MiB, gRPC's usual default).
const MAX_MESSAGE: usize = 4 * 1024 * 1024;
/// Most responses a server-streaming call may ask for.
const MAX_RESPONSES: u32 = 100_000;

/// Answers one gRPC call. Never fails: problems become gRPC statuses.
pub(crate) async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<GrpcBody> {
    let path = req.uri().path().to_owned();
    let compute = req
        .headers()
        .get("x-meshbench-compute")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = path
        .strip_prefix("/meshbench.echo.v1.Echo/")
        .map(str::to_owned);
    if method.as_deref() == Some("Bidi") {
        return bidi(Arc::clone(shared), req.into_body());
    }
    let body = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return status_only(13, &format!("reading the request: {e}")),
    };
    if let Some(oip) = path.strip_prefix("/inference.GRPCInferenceService/") {
        return inference(shared, oip, compute.as_deref(), body).await;
    }
    let Some(method) = method else {
        return status_only(
            12,
            "unknown service (the built-in target serves meshbench.echo.v1.Echo)",
        );
    };
    let requests = match decode_all(body) {
        Ok(r) => r,
        Err(e) => return status_only(13, &meshbench_core::error_chain(&e)),
    };
    let Some(first) = requests.first() else {
        return status_only(3, "no request message");
    };
    if first.delay_us > 0 {
        shared
            .sleeper
            .sleep(Duration::from_micros(u64::from(first.delay_us)))
            .await;
    }
    shared.pause.wait().await;
    if first.status != 0 {
        return status_only(first.status.min(16), "status asked for by the request");
    }
    let respond = |r: &EchoRequest, received: u64| EchoResponse {
        payload: if r.response_size > 0 {
            Bytes::from(vec![b'x'; r.response_size as usize])
        } else {
            r.payload.clone()
        },
        received,
        message: r.message.clone(),
    };
    let responses: Vec<EchoResponse> = match method.as_str() {
        "Unary" if requests.len() == 1 => vec![respond(first, 1)],
        "Unary" => return status_only(13, "unary call with more than one request message"),
        "ServerStream" => {
            let n = first.responses.clamp(1, MAX_RESPONSES);
            (0..n).map(|_| respond(first, 1)).collect()
        }
        "ClientStream" => vec![respond(
            requests.last().unwrap_or(first),
            requests.len() as u64,
        )],
        _ => {
            return status_only(
                12,
                &format!("meshbench.echo.v1.Echo has no method `{method}`"),
            )
        }
    };
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = Vec::with_capacity(2);
    let mut data = BytesMut::new();
    for response in &responses {
        let len = response.encoded_len();
        data.reserve(5 + len);
        data.put_u8(0);
        data.put_u32(len as u32);
        // Encoding into a buffer with room reserved cannot fail.
        let _ = response.encode(&mut data);
    }
    frames.push(Ok(Frame::data(data.freeze())));
    frames.push(Ok(Frame::trailers(trailers(0, ""))));
    let mut resp = Response::new(boxed(frames));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// `inference.ModelReadyRequest` and `ModelMetadataRequest` (the fields the mock reads).
#[derive(Clone, PartialEq, Message)]
struct ModelReadyRequest {
    #[prost(string, tag = "1")]
    name: String,
}

/// `inference.ModelMetadataResponse.TensorMetadata`.
#[derive(Clone, PartialEq, Message)]
struct TensorMetadata {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    datatype: String,
    #[prost(int64, repeated, tag = "3")]
    shape: Vec<i64>,
}

/// `inference.ModelMetadataResponse`: the mock's one input and output, any 2-D FP32.
#[derive(Clone, PartialEq, Message)]
struct ModelMetadata {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, repeated, tag = "2")]
    versions: Vec<String>,
    #[prost(string, tag = "3")]
    platform: String,
    #[prost(message, repeated, tag = "4")]
    inputs: Vec<TensorMetadata>,
    #[prost(message, repeated, tag = "5")]
    outputs: Vec<TensorMetadata>,
}

/// `ServerLiveResponse`, `ServerReadyResponse` and `ModelReadyResponse` share one shape.
#[derive(Clone, PartialEq, Message)]
struct Flag {
    #[prost(bool, tag = "1")]
    value: bool,
}

/// `inference.InferTensorContents`.
#[derive(Clone, PartialEq, Message)]
struct Contents {
    #[prost(bool, repeated, tag = "1")]
    bools: Vec<bool>,
    #[prost(int32, repeated, tag = "2")]
    ints: Vec<i32>,
    #[prost(int64, repeated, tag = "3")]
    int64s: Vec<i64>,
    #[prost(uint32, repeated, tag = "4")]
    uints: Vec<u32>,
    #[prost(uint64, repeated, tag = "5")]
    uint64s: Vec<u64>,
    #[prost(float, repeated, tag = "6")]
    fp32s: Vec<f32>,
    #[prost(double, repeated, tag = "7")]
    fp64s: Vec<f64>,
    #[prost(bytes = "bytes", repeated, tag = "8")]
    bytes: Vec<Bytes>,
}

/// An input or output tensor (the two messages share their fields).
#[derive(Clone, PartialEq, Message)]
struct Tensor {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    datatype: String,
    #[prost(int64, repeated, tag = "3")]
    shape: Vec<i64>,
    #[prost(message, optional, tag = "5")]
    contents: Option<Contents>,
}

/// `inference.ModelInferRequest` / `ModelInferResponse` (the fields the mock uses).
#[derive(Clone, PartialEq, Message)]
struct Infer {
    #[prost(string, tag = "1")]
    model_name: String,
    #[prost(string, tag = "2")]
    model_version: String,
    #[prost(string, tag = "3")]
    id: String,
    #[prost(message, repeated, tag = "5")]
    tensors: Vec<Tensor>,
}

/// The mock model (`mock`) over the Open Inference Protocol's gRPC service: readiness, and
/// inference that answers each input tensor back as an output after the compute time
/// (`x-meshbench-compute` metadata, default 1ms).
async fn inference(
    shared: &Shared,
    method: &str,
    compute: Option<&str>,
    body: Bytes,
) -> Response<GrpcBody> {
    let mut body = body;
    let message = if body.len() >= 5 {
        body.advance(5);
        body
    } else {
        Bytes::new()
    };
    let reply = |m: &dyn Fn(&mut BytesMut)| {
        let mut data = BytesMut::new();
        m(&mut data);
        let len = data.len();
        let mut framed = BytesMut::with_capacity(5 + len);
        framed.put_u8(0);
        framed.put_u32(len as u32);
        framed.put_slice(&data);
        let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
            Ok(Frame::data(framed.freeze())),
            Ok(Frame::trailers(trailers(0, ""))),
        ];
        let mut resp = Response::new(boxed(frames));
        resp.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        resp
    };
    let flag = |value: bool| {
        reply(&|b: &mut BytesMut| {
            let _ = Flag { value }.encode(b);
        })
    };
    match method {
        "ServerLive" | "ServerReady" => flag(true),
        "ModelReady" => match ModelReadyRequest::decode(message) {
            Ok(r) if r.name == crate::model::MODEL => flag(true),
            Ok(r) => status_only(
                5,
                &format!(
                    "model `{}` not found (this server has `{}`)",
                    r.name,
                    crate::model::MODEL
                ),
            ),
            Err(e) => status_only(3, &format!("bad ModelReadyRequest: {e}")),
        },
        "ModelMetadata" => match ModelReadyRequest::decode(message) {
            Ok(r) if r.name == crate::model::MODEL => {
                let tensor = |name: &str| TensorMetadata {
                    name: name.into(),
                    datatype: "FP32".into(),
                    shape: vec![-1, -1],
                };
                let metadata = ModelMetadata {
                    name: r.name,
                    versions: vec!["1".into()],
                    platform: "meshbench".into(),
                    inputs: vec![tensor("input")],
                    outputs: vec![tensor("output")],
                };
                reply(&|b: &mut BytesMut| {
                    let _ = metadata.encode(b);
                })
            }
            Ok(r) => status_only(5, &format!("model `{}` not found", r.name)),
            Err(e) => status_only(3, &format!("bad ModelMetadataRequest: {e}")),
        },
        "ModelInfer" => {
            let request = match Infer::decode(message) {
                Ok(r) => r,
                Err(e) => return status_only(3, &format!("bad ModelInferRequest: {e}")),
            };
            if request.model_name != crate::model::MODEL {
                return status_only(5, &format!("model `{}` not found", request.model_name));
            }
            if request.tensors.is_empty() {
                return status_only(3, "no input tensors");
            }
            let delay = match compute {
                Some(text) => match crate::controls::parse_bounded_duration("compute", text) {
                    Ok(d) => d,
                    Err(e) => return status_only(3, &e.to_string()),
                },
                None => Duration::from_millis(1),
            };
            shared.sleeper.sleep(delay).await;
            shared.pause.wait().await;
            let response = Infer {
                model_name: request.model_name,
                model_version: "1".into(),
                id: request.id,
                tensors: request
                    .tensors
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| Tensor {
                        name: format!("output{i}"),
                        ..t
                    })
                    .collect(),
            };
            reply(&|b: &mut BytesMut| {
                let _ = response.encode(b);
            })
        }
        other => status_only(
            12,
            &format!("inference.GRPCInferenceService has no method `{other}` here"),
        ),
    }
}

/// Bidi: each request is answered as soon as it has arrived (after its `delay_us`), while
/// the client keeps the stream open; the trailers follow the end of the request stream.
fn bidi(shared: Arc<Shared>, mut body: Incoming) -> Response<GrpcBody> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    tokio::spawn(async move {
        let mut buf = BytesMut::new();
        let mut received = 0u64;
        let (code, message) = 'call: loop {
            while buf.len() >= 5 {
                let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
                if buf[0] != 0 || len > MAX_MESSAGE {
                    break 'call (13, "compressed or oversized message".to_string());
                }
                if buf.len() < 5 + len {
                    break;
                }
                let _ = buf.split_to(5);
                let request = match EchoRequest::decode(buf.split_to(len).freeze()) {
                    Ok(r) => r,
                    Err(e) => break 'call (13, format!("bad EchoRequest: {e}")),
                };
                received += 1;
                if request.delay_us > 0 {
                    shared
                        .sleeper
                        .sleep(Duration::from_micros(u64::from(request.delay_us)))
                        .await;
                }
                shared.pause.wait().await;
                if request.status != 0 {
                    break 'call (
                        request.status.min(16),
                        "status asked for by the request".into(),
                    );
                }
                let response = EchoResponse {
                    payload: if request.response_size > 0 {
                        Bytes::from(vec![b'x'; request.response_size as usize])
                    } else {
                        request.payload.clone()
                    },
                    received,
                    message: request.message.clone(),
                };
                let mut data = BytesMut::with_capacity(5 + response.encoded_len());
                data.put_u8(0);
                data.put_u32(response.encoded_len() as u32);
                let _ = response.encode(&mut data);
                if tx.send(Ok(Frame::data(data.freeze()))).await.is_err() {
                    return;
                }
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                }
                Some(Err(_)) => return,
                None if buf.is_empty() => break (0, String::new()),
                None => break (13, "the request stream ended inside a message".into()),
            }
        };
        let _ = tx.send(Ok(Frame::trailers(trailers(code, &message)))).await;
    });
    let frames = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
    let mut resp = Response::new(http_body_util::combinators::UnsyncBoxBody::new(
        StreamBody::new(frames),
    ));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    resp
}

/// Why a gRPC request body is refused (the call's INTERNAL status says it).
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("truncated message header")]
    TruncatedHeader,
    #[error("compressed messages are not supported")]
    Compressed,
    #[error("message of {0} bytes is truncated or too large")]
    Length(usize),
    #[error("too many messages in one call")]
    TooMany,
    #[error("bad EchoRequest")]
    Message(#[source] prost::DecodeError),
}

/// Splits a gRPC request body into its messages.
fn decode_all(mut body: Bytes) -> Result<Vec<EchoRequest>, BodyError> {
    let mut out = Vec::new();
    while body.has_remaining() {
        if body.remaining() < 5 {
            return Err(BodyError::TruncatedHeader);
        }
        let compressed = body.get_u8();
        let len = body.get_u32() as usize;
        if compressed != 0 {
            return Err(BodyError::Compressed);
        }
        if len > MAX_MESSAGE || len > body.remaining() {
            return Err(BodyError::Length(len));
        }
        if out.len() >= MAX_MESSAGES {
            return Err(BodyError::TooMany);
        }
        let message = body.split_to(len);
        out.push(EchoRequest::decode(message).map_err(BodyError::Message)?);
    }
    Ok(out)
}

/// A trailers-only answer: HTTP 200 with the gRPC status in the headers.
fn status_only(code: u32, message: &str) -> Response<GrpcBody> {
    let mut resp = Response::new(boxed(Vec::new()));
    *resp.status_mut() = StatusCode::OK;
    let headers = resp.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.extend(trailers(code, message));
    resp
}

fn trailers(code: u32, message: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from(code));
    if !message.is_empty() {
        // grpc-message is percent-encoded; keep to what needs no encoding.
        let safe: String = message
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&safe.replace('%', "%25")) {
            map.insert("grpc-message", v);
        }
    }
    map
}
