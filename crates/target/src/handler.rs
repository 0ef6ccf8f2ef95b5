//! Answers one request: the health and control endpoints, then the fortio-style controls.
//!
//! The default path (no query string) reads no clock, takes no lock and builds its body from a
//! `'static` slice, because load generators are measured against this handler and every
//! nanosecond spent here is charged to them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::sync::Notify;

use crate::body;
use crate::controls::{self, Controls, ParamError};
use crate::delay::Sleeper;
use crate::pause::Pause;

// Functions rather than consts: `HeaderValue` holds `Bytes`, which clippy rightly refuses as a
// `const` (interior mutability); `from_static` is free either way.
fn text_plain() -> HeaderValue {
    HeaderValue::from_static("text/plain")
}
const HEALTH_BODY: &[u8] = br#"{"status":"ok"}"#;

/// State shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The pause switch behind `pause_for` and `/control/pause`.
    pub(crate) pause: Pause,
    /// Microsecond-accurate delays for `delay=`.
    pub(crate) sleeper: Sleeper,
}

/// State of one connection: the server's, plus a way for a handler to ask that the connection
/// be closed once its answer is out (HTTP/2 cannot say `Connection: close`; it needs GOAWAY).
#[derive(Debug)]
pub(crate) struct ConnState {
    /// The server-wide state.
    pub(crate) shared: Arc<Shared>,
    /// Notified by a request carrying `close=1` over HTTP/2.
    pub(crate) close: Notify,
}

/// The response type of every request.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A plain-text answer (for the WebSocket endpoint's refusals).
pub(crate) fn plain(status: StatusCode, message: &'static str) -> Resp {
    text(status, message)
}

/// Answers one request. Never fails: bad input becomes a 4xx.
pub(crate) async fn handle(
    conn: Arc<ConnState>,
    req: Request<Incoming>,
) -> Result<Resp, Infallible> {
    // The control plane is never paused and ignores the fault controls, so a test can always
    // observe and steer the target.
    let path = req.uri().path();
    if path == "/health" {
        drain(req.into_body()).await;
        return Ok(respond(
            StatusCode::OK,
            HeaderValue::from_static("application/json"),
            Bytes::from_static(HEALTH_BODY),
        ));
    }
    if path.starts_with("/control/") {
        return Ok(control(&conn.shared, req).await);
    }
    if path == "/ws" {
        return Ok(crate::websocket::accept(&conn.shared, req));
    }

    let controls = match req.uri().query() {
        None => Controls::default(),
        Some(query) => match Controls::parse(query) {
            Ok(controls) => controls,
            Err(e) => {
                drain(req.into_body()).await;
                conn.shared.pause.wait().await;
                return Ok(bad_request(&e));
            }
        },
    };
    let version = req.version();
    drain(req.into_body()).await;

    if let Some(delay) = &controls.delay {
        let d = delay.pick();
        if d > Duration::ZERO {
            conn.shared.sleeper.sleep(d).await;
        }
    }
    conn.shared.pause.wait().await;

    let status = controls.status.pick();
    let body = if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        Bytes::new()
    } else {
        match controls.size {
            None => Bytes::from_static(body::DEFAULT_BODY),
            Some(size) => body::sized(size),
        }
    };
    let mut resp = respond(status, text_plain(), body);
    if controls.close {
        if version >= Version::HTTP_2 {
            conn.close.notify_one();
        } else {
            resp.headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
    Ok(resp)
}

/// `/control/...`: only `POST /control/pause?duration=1s` so far.
async fn control(shared: &Shared, req: Request<Incoming>) -> Resp {
    if req.uri().path() != "/control/pause" {
        drain(req.into_body()).await;
        return text(
            StatusCode::NOT_FOUND,
            "unknown control (try POST /control/pause?duration=1s)\n",
        );
    }
    if req.method() != Method::POST {
        drain(req.into_body()).await;
        let mut resp = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST /control/pause?duration=1s\n",
        );
        resp.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    let duration = match controls::find_param(req.uri().query().unwrap_or(""), "duration") {
        Ok(Some(text)) => controls::parse_bounded_duration("duration", &text),
        Ok(None) => Err(ParamError {
            name: "duration",
            message: "missing (try /control/pause?duration=1s)".to_owned(),
        }),
        Err(e) => Err(e),
    };
    drain(req.into_body()).await;
    match duration {
        Ok(d) => {
            shared.pause.pause_for(d);
            tracing::info!(duration = ?d, "target paused");
            let message = format!(
                "paused for {}\n",
                meshbench_core::duration::format_duration(d)
            );
            respond(StatusCode::OK, text_plain(), Bytes::from(message))
        }
        Err(e) => bad_request(&e),
    }
}

/// Reads and discards a request body, so that HTTP/1.1 keep-alive survives uploads.
async fn drain(mut body: Incoming) {
    if body.is_end_stream() {
        return;
    }
    while let Some(frame) = body.frame().await {
        if frame.is_err() {
            // The client went away or broke framing; hyper reports it on the connection.
            return;
        }
    }
}

fn bad_request(e: &ParamError) -> Resp {
    respond(
        StatusCode::BAD_REQUEST,
        text_plain(),
        Bytes::from(format!("{e}\n")),
    )
}

fn text(status: StatusCode, message: &'static str) -> Resp {
    respond(status, text_plain(), Bytes::from_static(message.as_bytes()))
}

fn respond(status: StatusCode, content_type: HeaderValue, body: Bytes) -> Resp {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}
