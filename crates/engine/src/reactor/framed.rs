//! Lanes for a [`FramedProtocol`]: a lane is a connection carrying one exchange at a time.
//! An exchange costs one `send` and, once epoll reports the response, one `recv` (a read
//! that returns less than the buffer drained the socket, so no second read to see EAGAIN).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use meshbench_core::ErrorKind;
use socket2::{SockAddr, Socket};

use super::{
    connect, connect_kind, enable_receive_timestamps, recv, recv_stamped, send, Core, Lanes,
};
use crate::clock::Nanos;
use crate::driver::{error_kind_of, Exchange, Failure};
use crate::framed::{absorb, FramedProtocol, ResponseReader};
use crate::pacer::Slot;

/// Per-connection read buffer. Bodies stream through it, so it bounds memory, not size.
const READ_BUFFER: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Writing,
    Reading,
}

struct Conn<R> {
    socket: Option<Socket>,
    phase: Phase,
    slot: Slot,
    sent: Nanos,
    reader: Option<R>,
    written: usize,
    received: u64,
    filled: usize,
    buf: Box<[u8]>,
}

/// How an exchange ended.
enum Outcome {
    Done {
        status: u16,
        failed: bool,
        keep_alive: bool,
    },
    Failed(ErrorKind),
}

/// One thread's connections of a [`FramedProtocol`].
pub(crate) struct FramedLanes<P: FramedProtocol> {
    protocol: Arc<P>,
    conns: Vec<Conn<P::Reader>>,
    address: SockAddr,
    /// Responses are timed by the kernel's receive timestamps (the open model's choice: it
    /// lets the loop sleep through readiness; the closed model skips their cost).
    stamps: bool,
    /// A socket that asked for stamps when the lanes were made: the kernel turns stamping
    /// on from a work queue, so asking before the first connection means its first answers
    /// are stamped too; holding it keeps stamping on between reconnects.
    _stamping: Option<Socket>,
}

impl<P: FramedProtocol> FramedLanes<P> {
    /// `connections` idle connections, and their lanes (one each) for [`Core::free`];
    /// `stamps` times responses by kernel receive timestamps.
    pub(crate) fn new(protocol: Arc<P>, connections: usize, stamps: bool) -> (Self, Vec<usize>) {
        let conns = (0..connections)
            .map(|_| Conn {
                socket: None,
                phase: Phase::Idle,
                slot: Slot {
                    at: 0,
                    seq: 0,
                    measured: false,
                },
                sent: 0,
                reader: None,
                written: 0,
                received: 0,
                filled: 0,
                buf: vec![0; READ_BUFFER].into_boxed_slice(),
            })
            .collect();
        let stamping = stamps
            .then(|| Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).ok())
            .flatten()
            .filter(|s| enable_receive_timestamps(s).is_ok());
        let lanes = FramedLanes {
            address: SockAddr::from(protocol.address()),
            protocol,
            conns,
            stamps: stamping.is_some(),
            _stamping: stamping,
        };
        (lanes, (0..connections).rev().collect())
    }
}

impl<P: FramedProtocol> Lanes for FramedLanes<P> {
    fn receive_timestamps(&self) -> bool {
        self.stamps
    }

    fn start(&mut self, core: &mut Core<'_>, index: usize, slot: Slot, now: Nanos) {
        let conn = &mut self.conns[index];
        conn.slot = slot;
        conn.sent = now;
        conn.written = 0;
        conn.received = 0;
        conn.filled = 0;
        conn.reader = Some(self.protocol.reader(slot.seq));
        if conn.socket.is_none() {
            match connect(&self.address, &core.epoll, index) {
                Ok(socket) => {
                    if self.stamps && enable_receive_timestamps(&socket).is_err() {
                        // Without stamps, reading late would make latencies late too.
                        self.stamps = false;
                    }
                    conn.socket = Some(socket);
                    conn.phase = Phase::Connecting;
                }
                Err(e) => self.finish(core, index, Outcome::Failed(connect_kind(&e)), now),
            }
            return;
        }
        self.write(core, index, now);
    }

    fn event(&mut self, core: &mut Core<'_>, index: usize, mask: u32, now: Nanos) {
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        let closed = mask & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32 != 0;
        match conn.phase {
            Phase::Connecting => {
                if mask & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                    return;
                }
                let error = conn.socket.as_ref().map(|s| s.take_error());
                match error {
                    Some(Ok(None)) if mask & libc::EPOLLERR as u32 == 0 => {
                        self.write(core, index, now)
                    }
                    Some(Ok(Some(e))) | Some(Err(e)) => {
                        self.finish(core, index, Outcome::Failed(connect_kind(&e)), now)
                    }
                    _ => self.finish(core, index, Outcome::Failed(ErrorKind::ConnectRefused), now),
                }
            }
            Phase::Writing => {
                if mask & libc::EPOLLOUT as u32 != 0 || closed {
                    self.write(core, index, now);
                }
            }
            Phase::Reading => {
                if mask & libc::EPOLLIN as u32 != 0 || closed {
                    self.read(core, index, closed, now);
                }
            }
            Phase::Idle => {
                // The server closed (or wrote to) a connection between requests, as
                // servers do with idle keep-alive connections: drop it now so the next
                // request reconnects instead of failing.
                if closed || mask & libc::EPOLLIN as u32 != 0 {
                    conn.socket = None;
                }
            }
        }
    }

    fn sweep(&mut self, core: &mut Core<'_>, now: Nanos) {
        for index in 0..self.conns.len() {
            let conn = &self.conns[index];
            let limit = match conn.phase {
                Phase::Idle => continue,
                Phase::Connecting => core.plan.connect_timeout,
                Phase::Writing | Phase::Reading => core.plan.request_timeout,
            };
            if now.saturating_sub(conn.sent) >= limit {
                let kind = if conn.phase == Phase::Connecting {
                    ErrorKind::ConnectTimeout
                } else {
                    ErrorKind::Timeout
                };
                self.finish(core, index, Outcome::Failed(kind), now);
            }
        }
    }

    fn abandon_all(&mut self, core: &mut Core<'_>) {
        for (index, conn) in self.conns.iter_mut().enumerate() {
            if conn.phase != Phase::Idle {
                conn.phase = Phase::Idle;
                conn.socket = None;
                conn.reader = None;
                core.forget(index);
            }
        }
    }
}

impl<P: FramedProtocol> FramedLanes<P> {
    fn write(&mut self, core: &mut Core<'_>, index: usize, now: Nanos) {
        let protocol = &*self.protocol;
        let conn = &mut self.conns[index];
        let request = protocol.request(conn.slot.seq);
        let Some(fd) = conn.socket.as_ref().map(|s| s.as_raw_fd()) else {
            return self.finish(core, index, Outcome::Failed(ErrorKind::Io), now);
        };
        let failure = loop {
            if conn.written >= request.len() {
                conn.phase = Phase::Reading;
                return;
            }
            match send(fd, &request[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // Edge-triggered EPOLLOUT reports when the send buffer has room again.
                    conn.phase = Phase::Writing;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break error_kind_of(&e),
            }
        };
        self.finish(core, index, Outcome::Failed(failure), now);
    }

    /// Reads what arrived. `peer_closed` (RDHUP/HUP in the event) means the FIN came with
    /// this edge: no later edge will report it, so reading goes on until `recv` says EOF.
    #[inline]
    fn read(&mut self, core: &mut Core<'_>, index: usize, peer_closed: bool, now: Nanos) {
        let stamps = self.stamps;
        let mut stamp = None;
        let outcome = {
            let conn = &mut self.conns[index];
            let (Some(socket), Some(reader)) = (conn.socket.as_ref(), conn.reader.as_mut()) else {
                return;
            };
            let fd = socket.as_raw_fd();
            loop {
                let spare = conn.buf.len() - conn.filled;
                let read = if stamps {
                    recv_stamped(fd, &mut conn.buf[conn.filled..]).map(|(n, s)| {
                        stamp = s.or(stamp);
                        n
                    })
                } else {
                    recv(fd, &mut conn.buf[conn.filled..])
                };
                match read {
                    Ok(0) => {
                        break if reader.eof() {
                            Outcome::Done {
                                status: reader.status(),
                                failed: reader.failed(),
                                keep_alive: false,
                            }
                        } else {
                            Outcome::Failed(ErrorKind::Closed)
                        };
                    }
                    Ok(n) => {
                        conn.received += n as u64;
                        conn.filled += n;
                        match absorb(reader, &mut conn.buf, &mut conn.filled) {
                            Ok(true) => {
                                break Outcome::Done {
                                    status: reader.status(),
                                    failed: reader.failed(),
                                    keep_alive: reader.keep_alive(),
                                }
                            }
                            Ok(false) => {}
                            Err(e) => break Outcome::Failed(e.kind),
                        }
                        if n < spare && !peer_closed {
                            // Drained: the next edge says when more arrives.
                            return;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => break Outcome::Failed(error_kind_of(&e)),
                }
            }
        };
        let done = match outcome {
            // The response ended when its last bytes reached this host, however much later
            // the loop read them.
            Outcome::Done { .. } => core.arrival(stamp, self.conns[index].sent, now),
            Outcome::Failed(_) => now,
        };
        self.finish(core, index, outcome, done);
    }

    /// Records an ended exchange and frees its connection.
    fn finish(&mut self, core: &mut Core<'_>, index: usize, outcome: Outcome, now: Nanos) {
        let conn = &mut self.conns[index];
        let result = match outcome {
            Outcome::Done {
                status,
                failed,
                keep_alive,
            } => {
                if !keep_alive {
                    conn.socket = None;
                }
                Ok(Exchange {
                    status,
                    bytes_sent: conn.written as u64,
                    bytes_received: conn.received,
                    failed,
                })
            }
            Outcome::Failed(kind) => {
                conn.socket = None;
                Err(Failure {
                    kind,
                    bytes_sent: conn.written as u64,
                    bytes_received: conn.received,
                })
            }
        };
        conn.phase = Phase::Idle;
        conn.reader = None;
        core.complete(index, conn.slot, conn.sent, now, &result);
    }
}
