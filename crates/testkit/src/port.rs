//! A port nothing answers on, without the race of binding a port and releasing it.

use std::net::SocketAddr;

/// A loopback port bound but never listened on: connecting to it is refused for as long as
/// this lives, and no other socket can take the port meanwhile.
#[derive(Debug)]
pub struct RefusingPort {
    /// Held, unused, so the port stays taken.
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl RefusingPort {
    /// Binds `127.0.0.1:0`.
    pub fn new() -> RefusingPort {
        let socket = tokio::net::TcpSocket::new_v4()
            .unwrap_or_else(|e| panic!("cannot open a TCP socket: {e}"));
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"));
        let addr = socket
            .local_addr()
            .unwrap_or_else(|e| panic!("no local address: {e}"));
        RefusingPort {
            _socket: socket,
            addr,
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for RefusingPort {
    fn default() -> Self {
        RefusingPort::new()
    }
}
