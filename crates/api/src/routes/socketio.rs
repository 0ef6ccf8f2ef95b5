//! Socket.IO at `/socket.io/`, for the seed dashboard's client, which does
//! `io('http://host:8000')` then `socket.on('job:<job_id>', …)`.
//!
//! Every connected client receives every job's events: the seed's client joins no room and
//! tells the server nothing, it only listens for its job's event name, so a server that
//! filtered would have nothing to filter by. An event is emitted as `job:<job_id>` with the
//! JobEvent JSON `/ws` sends for it (probe runs' events under their probe id, as on `/ws`);
//! when the relay falls behind the bus, `lagged` carries `{"type":"lagged","missed":n}`.
//! A client that wants one job only filters in the browser or uses `/ws?job_id=`. At about
//! one event a second per running job, sending all of them to everyone costs little.
//!
//! The events come from the EventBus, which already reaches every API host (Redis
//! pub/sub), so the default local adapter suffices: each host emits to its own clients.
//! With several hosts behind a load balancer, long-polling needs sticky sessions, as for any
//! Socket.IO server. CORS is the API's own layer, outside this one; like `/ws`, the WebSocket
//! transport checks no `Origin`. `meshbench serve` closes every Socket.IO connection when it
//! shuts down ([`crate::LiveClients::close`]), so a client still long-polling does not hold
//! up the graceful shutdown until its poll ends.

use std::convert::Infallible;
use std::sync::{Arc, Once};

use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::SocketIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use crate::AppState;
use meshbench_core::JobEvent;
use meshbench_queue::EventBus;

/// The Socket.IO server as a layer: it answers `/socket.io/` and passes every other request
/// on. It is put outside the telemetry, so long-polls do not count as API requests. The
/// handle closes every connection (see [`crate::LiveClients`]).
pub(crate) fn layer(state: &AppState) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::new_layer();
    let relay = Arc::new(Relay {
        bus: Arc::clone(&state.bus),
        started: Once::new(),
    });
    // A connect middleware runs before the client is told it is connected, so once it is,
    // the relay is subscribed and misses nothing published after.
    let start = move |io: SocketIo| {
        relay.start(io);
        async { Ok::<(), Infallible>(()) }
    };
    io.ns("/", connected.with(start));
    (layer, io)
}

/// Nothing to do per client: it only listens.
async fn connected() {}

/// Copies bus events to Socket.IO clients. Started by the first client rather than when
/// the router is built, since building one needs no runtime and spawning does.
struct Relay {
    bus: Arc<dyn EventBus>,
    started: Once,
}

impl Relay {
    fn start(&self, io: SocketIo) {
        self.started.call_once(|| {
            tokio::spawn(relay(io, self.bus.subscribe()));
        });
    }
}

/// Emits each event to every client until the bus closes.
async fn relay(io: SocketIo, mut events: Receiver<JobEvent>) {
    loop {
        let sent = match events.recv().await {
            Ok(event) => io.emit(format!("job:{}", event.job_id), &event).await,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(missed, "the Socket.IO relay fell behind the event bus");
                let note = serde_json::json!({"type": "lagged", "missed": missed});
                io.emit("lagged", &note).await
            }
            Err(RecvError::Closed) => return,
        };
        // A client whose buffer is full or that has just gone misses this event; the
        // others have it.
        if let Err(error) = sent {
            tracing::debug!(%error, "a Socket.IO client missed an event");
        }
    }
}
