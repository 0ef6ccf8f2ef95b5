//! `GET /ws`: the WebSocket echo. Each text or binary message comes back unchanged, after the
//! `delay=` control when the upgrade request carried one; pings are answered (tungstenite
//! queues the pong and the next read flushes it); a close is returned and ends the socket.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Message, Role};
use tokio_tungstenite::WebSocketStream;

use crate::controls::Controls;
use crate::handler::{plain, Resp, Shared};

/// Answers the upgrade request and, once hyper hands the connection over, echoes on it.
pub(crate) fn accept(shared: &Arc<Shared>, mut req: Request<Incoming>) -> Resp {
    let wants_upgrade = req
        .headers()
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket: send an upgrade request\n",
        );
    };
    if !wants_upgrade {
        return plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket: send an upgrade request\n",
        );
    }
    let controls = match req.uri().query().map(Controls::parse) {
        None => Controls::default(),
        Some(Ok(c)) => c,
        Some(Err(_)) => {
            return plain(StatusCode::BAD_REQUEST, "invalid control in the query\n");
        }
    };
    let delay = controls.delay;
    let upgrade = hyper::upgrade::on(&mut req);
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let socket =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                echo(socket, &shared, delay).await;
            }
            Err(e) => tracing::debug!("target: WebSocket upgrade failed: {e}"),
        }
    });
    let mut resp = Response::new(Default::default());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = resp.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    resp
}

async fn echo<S>(
    mut socket: WebSocketStream<S>,
    shared: &Shared,
    delay: Option<crate::controls::DelaySpec>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = socket.next().await {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!("target: WebSocket read failed: {e}");
                return;
            }
        };
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if let Some(delay) = &delay {
                    let d = delay.pick();
                    if d > Duration::ZERO {
                        shared.sleeper.sleep(d).await;
                    }
                }
                shared.pause.wait().await;
                if socket.send(message).await.is_err() {
                    return;
                }
            }
            Message::Close(_) => return,
            // Pings are answered by tungstenite itself; pongs and raw frames need nothing.
            _ => {}
        }
    }
}
