//! `/ws`: live job events. A client receives every event, or only one job's when it
//! connects with `?job_id=` or sends `{"subscribe": "<job_id>"}` (`"all"` for everything).

use std::collections::HashMap;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;
use meshbench_core::JobEvent;

/// The largest message a `/ws` client may send, bytes.
const MAX_CLIENT_MESSAGE: usize = 4096;

/// WebSocket of job events (JobEvent JSON): all jobs, or one with `?job_id=` or
/// `{"subscribe": "<job_id>"}` (`"all"` for everything).
#[utoipa::path(get, path = "/ws", tag = "events",
    params(("job_id" = Option<String>, Query, description = "Only this job's events")),
    responses((status = 101, description = "Switching to WebSocket; messages are JobEvent", body = JobEvent),
              (status = 400, description = "Not a WebSocket handshake (`bad_request`: a header it needs is missing)", body = crate::error::ErrorBody)))]
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let job = query.get("job_id").cloned();
    // A client only ever sends `{"subscribe": "<id>"}`: bound what one may send (axum's
    // default is 64 MiB a message) so a connection cannot make the server buffer much.
    ws.max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, job))
}

async fn serve(mut socket: WebSocket, state: AppState, mut job: Option<String>) {
    let mut events = state.bus.subscribe();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if job.as_ref().is_some_and(|j| *j != event.job_id) {
                        continue;
                    }
                    let Ok(text) = serde_json::to_string(&event) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    let note = format!(r#"{{"type":"lagged","missed":{missed}}}"#);
                    if socket.send(Message::Text(note.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Closed) => return,
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
                        if let Some(target) = value.get("subscribe").and_then(|v| v.as_str()) {
                            job = (target != "all").then(|| target.to_string());
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
