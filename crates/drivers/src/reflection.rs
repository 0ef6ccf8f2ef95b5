//! gRPC server reflection (`grpc.reflection.v1.ServerReflection`, falling back to
//! `v1alpha`): when no .proto file is given for a service other than the built-in echo, the
//! server is asked for the files that define it (and their imports), as grpcurl and ghz do.
//! Done once, before the run, on a runtime of its own.

use std::collections::{BTreeSet, VecDeque};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use prost::Message;
use prost_reflect::DescriptorPool;

use crate::grpc::{grpc_message, grpc_status};
use crate::http2::{classify, h2_sender, Connection, H2Body};
use crate::net::Origin;
use crate::{Error, Result};
use meshbench_core::ErrorKind;

#[derive(Clone, PartialEq, Message)]
struct ReflectionRequest {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(oneof = "RequestKind", tags = "3, 4")]
    kind: Option<RequestKind>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum RequestKind {
    #[prost(string, tag = "3")]
    FileByFilename(String),
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
}

#[derive(Clone, PartialEq, Message)]
struct ReflectionResponse {
    #[prost(message, optional, tag = "4")]
    file_descriptor_response: Option<FileDescriptorResponse>,
    #[prost(message, optional, tag = "7")]
    error_response: Option<ErrorResponse>,
}

#[derive(Clone, PartialEq, Message)]
struct FileDescriptorResponse {
    #[prost(bytes = "vec", repeated, tag = "1")]
    file_descriptor_proto: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// The descriptors of `service` and everything it imports, from the server's reflection.
pub(crate) fn descriptors(origin: &Origin, service: &str) -> Result<DescriptorPool> {
    block_on(fetch(origin, service))
}

/// Runs set-up I/O (before a run) on a current-thread runtime of its own.
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    tokio::task::LocalSet::new().block_on(&runtime, f)
}

async fn fetch(origin: &Origin, service: &str) -> Result<DescriptorPool> {
    let connection = Connection::default();
    let path =
        |version: &str| format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
    let mut outcome = walk(origin, &connection, &path("v1"), service).await;
    if outcome.is_err() {
        outcome = walk(origin, &connection, &path("v1alpha"), service).await;
    }
    // The older version's error is reported: a server with neither usually has no reflection.
    outcome.map_err(|e| Error::Reflection {
        service: service.to_string(),
        source: Box::new(e),
    })
}

/// Asks for the file holding `service`, then for every import not yet seen.
async fn walk(
    origin: &Origin,
    connection: &Connection,
    path: &str,
    service: &str,
) -> Result<DescriptorPool> {
    let mut files: Vec<prost_types::FileDescriptorProto> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<RequestKind> =
        VecDeque::from([RequestKind::FileContainingSymbol(service.to_string())]);
    while let Some(kind) = queue.pop_front() {
        for bytes in ask(origin, connection, path, kind).await? {
            let file =
                prost_types::FileDescriptorProto::decode(bytes.as_slice()).map_err(|source| {
                    Error::Decode {
                        what: "a descriptor the server sent",
                        source,
                    }
                })?;
            let name = file.name().to_string();
            if !seen.insert(name) {
                continue;
            }
            for dep in &file.dependency {
                if !seen.contains(dep) {
                    queue.push_back(RequestKind::FileByFilename(dep.clone()));
                }
            }
            files.push(file);
        }
        if seen.len() > 1000 {
            return Err(Error::unready(
                &origin.endpoint,
                "the server's descriptors import more than 1000 files",
            ));
        }
    }
    DescriptorPool::from_file_descriptor_set(prost_types::FileDescriptorSet { file: files })
        .map_err(|e| Error::Descriptors {
            from: "the server sent",
            source: Box::new(e),
        })
}

async fn ask(
    origin: &Origin,
    connection: &Connection,
    path: &str,
    kind: RequestKind,
) -> Result<Vec<Vec<u8>>> {
    let message = ReflectionRequest {
        host: String::new(),
        kind: Some(kind),
    }
    .encode_to_vec();
    let answer = unary(origin, connection, path, &message, &[]).await?;
    if answer.status != 0 {
        return Err(Error::unready(
            &origin.endpoint,
            format!(
                "reflection answered grpc-status {} {}",
                answer.status, answer.message
            ),
        ));
    }
    let mut out = Vec::new();
    for data in answer.messages {
        let response = ReflectionResponse::decode(data).map_err(|source| Error::Decode {
            what: "a reflection answer",
            source,
        })?;
        if let Some(err) = response.error_response {
            return Err(Error::unready(
                &origin.endpoint,
                format!("reflection error {}: {}", err.error_code, err.error_message),
            ));
        }
        if let Some(files) = response.file_descriptor_response {
            out.extend(files.file_descriptor_proto);
        }
    }
    Ok(out)
}

/// What one call answered.
pub(crate) struct Answer {
    /// The gRPC status code.
    pub status: u16,
    /// The grpc-message, if any.
    pub message: String,
    /// The response messages, unframed.
    pub messages: Vec<Bytes>,
}

/// One call with one request message, outside any run (reflection, readiness checks).
pub(crate) async fn unary(
    origin: &Origin,
    connection: &Connection,
    path: &str,
    message: &[u8],
    metadata: &[(String, String)],
) -> Result<Answer> {
    let unreachable =
        |(kind, detail): (ErrorKind, String)| Error::unreachable(&origin.endpoint, kind, detail);
    let mut body = BytesMut::with_capacity(5 + message.len());
    body.put_u8(0);
    body.put_u32(message.len() as u32);
    body.put_slice(message);
    let uri = Uri::builder()
        .scheme(if origin.tls.is_some() {
            "https"
        } else {
            "http"
        })
        .authority(origin.endpoint.authority.as_str())
        .path_and_query(path)
        .build()
        .map_err(|e| Error::invalid("url", format!("no gRPC path can be made of it: {e}")))?;
    let mut sender = h2_sender(origin, connection).await.map_err(unreachable)?;
    let mut request = Request::new(H2Body::Left(Full::new(body.freeze())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    *request.headers_mut() = crate::grpc::grpc_headers();
    let headers = request.headers_mut();
    for (k, v) in metadata {
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.append(k, v);
        }
    }
    sender.ready().await.map_err(|e| unreachable(classify(e)))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(classify(e)))?;
    let (parts, body) = response.into_parts();
    if let Some(code) = grpc_status(&parts.headers) {
        return Ok(Answer {
            status: code,
            message: grpc_message(&parts.headers).unwrap_or_default(),
            messages: Vec::new(),
        });
    }
    let collected = body.collect().await.map_err(|e| unreachable(classify(e)))?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let mut data: Bytes = collected.to_bytes();
    let mut messages = Vec::new();
    while data.remaining() >= 5 {
        let _compressed = data.get_u8();
        let len = data.get_u32() as usize;
        if len > data.remaining() {
            return Err(unreachable((
                ErrorKind::Protocol,
                "a truncated answer".into(),
            )));
        }
        messages.push(data.split_to(len));
    }
    Ok(Answer {
        status: grpc_status(&trailers).ok_or_else(|| {
            unreachable((
                ErrorKind::Protocol,
                "the answer ended without a grpc-status".into(),
            ))
        })?,
        message: grpc_message(&trailers).unwrap_or_default(),
        messages,
    })
}
