//! A blocking WebSocket client for the API's `/ws` events.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;

use crate::http::IO_TIMEOUT;
use crate::FINISHED;

/// A connection to a WebSocket endpoint that sends JSON text messages.
#[derive(Debug)]
pub struct Ws(tungstenite::WebSocket<TcpStream>);

impl Ws {
    /// Connects to `addr` and completes the handshake for `path_and_query`.
    pub fn connect(addr: SocketAddr, path_and_query: &str) -> Ws {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        let set = |r: std::io::Result<()>| r.unwrap_or_else(|e| panic!("socket option: {e}"));
        set(stream.set_read_timeout(Some(IO_TIMEOUT)));
        set(stream.set_write_timeout(Some(IO_TIMEOUT)));
        let url = format!("ws://{addr}{path_and_query}");
        let (socket, response) = tungstenite::client::client(url.as_str(), stream)
            .unwrap_or_else(|e| panic!("WebSocket handshake with {url}: {e}"));
        assert_eq!(response.status().as_u16(), 101);
        // Short reads from now on, so waits stay bounded by their deadlines.
        set(socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(100))));
        Ws(socket)
    }

    /// Sends `value` as a text message.
    pub fn send(&mut self, value: &Value) {
        self.0
            .send(Message::text(value.to_string()))
            .unwrap_or_else(|e| panic!("WebSocket send failed: {e}"));
    }

    /// The next text message before `deadline`, with its arrival time.
    pub fn next(&mut self, deadline: Instant) -> Option<(Instant, Value)> {
        while Instant::now() < deadline {
            match self.0.read() {
                Ok(Message::Text(text)) => {
                    let value = serde_json::from_str(text.as_str())
                        .unwrap_or_else(|e| panic!("event is not JSON ({e}): {text}"));
                    return Some((Instant::now(), value));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("WebSocket read failed: {e}"),
            }
        }
        None
    }

    /// Whether the server closes the connection before `deadline` (a Close frame, or the
    /// connection ending); text messages meanwhile are skipped.
    pub fn closed_by(&mut self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            match self.0.read() {
                Ok(Message::Close(_)) => return true,
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(_) => return true,
            }
        }
        false
    }

    /// Every message until the status event that finishes `job_id` (included), at most
    /// `timeout`; panics when it does not arrive.
    pub fn until_finished(&mut self, job_id: &str, timeout: Duration) -> Vec<(Instant, Value)> {
        let deadline = Instant::now() + timeout;
        let mut events = Vec::new();
        loop {
            let Some((at, event)) = self.next(deadline) else {
                panic!(
                    "no finishing status for job {job_id} over the WebSocket within \
                     {timeout:?}; got {:?}",
                    events.iter().map(|(_, e)| e).collect::<Vec<_>>()
                );
            };
            let last = event["job_id"] == job_id
                && event["type"] == "status"
                && FINISHED.contains(&event["status"].as_str().unwrap_or(""));
            events.push((at, event));
            if last {
                return events;
            }
        }
    }
}
