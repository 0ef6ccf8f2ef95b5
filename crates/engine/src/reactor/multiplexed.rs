//! Lanes for a [`MultiplexedProtocol`]: `streams` lanes share each connection. Requests
//! started in one loop turn are written together, one `send` per connection; a `recv`
//! delivers every frame that arrived, however many streams they end.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use meshbench_core::ErrorKind;
use socket2::{SockAddr, Socket};

use super::{connect, connect_kind, recv, send, Core, Lanes};
use crate::clock::Nanos;
use crate::driver::{error_kind_of, Exchange, Failure};
use crate::multiplexed::{MultiplexedConnection, MultiplexedProtocol, StreamEnd};
use crate::pacer::Slot;

/// Per-connection read buffer: whole frames are parsed from it, so it holds at least one
/// of the largest frame the protocol allows (HTTP/2's default 16 KiB) and many small ones.
const READ_BUFFER: usize = 64 * 1024;

struct Stream {
    slot: Slot,
    sent: Nanos,
}

struct Conn<C> {
    socket: Option<Socket>,
    connecting: bool,
    opened_at: Nanos,
    state: Option<C>,
    out: Vec<u8>,
    written: usize,
    /// Waiting for EPOLLOUT: the socket's send buffer was full.
    blocked: bool,
    /// Listed in `dirty`.
    dirty: bool,
    buf: Box<[u8]>,
    filled: usize,
    /// In-flight exchanges by token.
    streams: Vec<Option<Stream>>,
    free_tokens: Vec<u32>,
    live: usize,
    /// Exchanges due while the connection drains after the peer said it is going away; they
    /// start on a new connection once the old one has no exchange left.
    waiting: Vec<Stream>,
}

impl<C> Conn<C> {
    fn reset(&mut self) {
        self.socket = None;
        self.connecting = false;
        self.state = None;
        self.out.clear();
        self.written = 0;
        self.blocked = false;
        self.filled = 0;
        self.streams.iter_mut().for_each(|s| *s = None);
        self.free_tokens = (0..self.streams.len() as u32).rev().collect();
        self.live = 0;
    }
}

/// One thread's connections of a [`MultiplexedProtocol`].
pub(crate) struct MultiplexedLanes<P: MultiplexedProtocol> {
    protocol: Arc<P>,
    conns: Vec<Conn<P::Connection>>,
    address: SockAddr,
    /// Connections with bytes to write.
    dirty: Vec<usize>,
    ended: Vec<StreamEnd>,
}

impl<P: MultiplexedProtocol> MultiplexedLanes<P> {
    /// `connections` idle connections of `streams` lanes each, and those lanes for
    /// [`Core::free`] (interleaved, so load spreads over the connections).
    pub(crate) fn new(protocol: Arc<P>, connections: usize, streams: usize) -> (Self, Vec<usize>) {
        let streams = streams.max(1);
        let conns = (0..connections)
            .map(|_| Conn {
                socket: None,
                connecting: false,
                opened_at: 0,
                state: None,
                out: Vec::with_capacity(16 * 1024),
                written: 0,
                blocked: false,
                dirty: false,
                buf: vec![0; READ_BUFFER].into_boxed_slice(),
                filled: 0,
                streams: (0..streams).map(|_| None).collect(),
                free_tokens: (0..streams as u32).rev().collect(),
                live: 0,
                waiting: Vec::new(),
            })
            .collect();
        let free = (0..streams).flat_map(|_| (0..connections).rev()).collect();
        let lanes = MultiplexedLanes {
            address: SockAddr::from(protocol.address()),
            protocol,
            conns,
            dirty: Vec::with_capacity(connections),
            ended: Vec::with_capacity(streams),
        };
        (lanes, free)
    }

    fn mark_dirty(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(index);
        }
    }

    /// Writes what is queued on connection `index`, until done or the socket is full.
    fn write_out(&mut self, core: &mut Core<'_>, index: usize, now: Nanos) {
        let conn = &mut self.conns[index];
        if conn.connecting || conn.blocked {
            return;
        }
        let Some(fd) = conn.socket.as_ref().map(|s| s.as_raw_fd()) else {
            return;
        };
        let failure = loop {
            if conn.written >= conn.out.len() {
                conn.out.clear();
                conn.written = 0;
                return;
            }
            match send(fd, &conn.out[conn.written..]) {
                Ok(n) => conn.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    conn.blocked = true;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break error_kind_of(&e),
            }
        };
        self.fail(core, index, failure, now);
    }

    /// Reads and feeds everything that arrived on connection `index`.
    fn read(&mut self, core: &mut Core<'_>, index: usize, peer_closed: bool, now: Nanos) {
        loop {
            let conn = &mut self.conns[index];
            let (Some(socket), Some(state)) = (conn.socket.as_ref(), conn.state.as_mut()) else {
                return;
            };
            let spare = conn.buf.len() - conn.filled;
            match recv(socket.as_raw_fd(), &mut conn.buf[conn.filled..]) {
                Ok(0) => {
                    if conn.live == 0 {
                        // An idle connection closed by the server: the next request
                        // reconnects instead of failing.
                        conn.reset();
                        self.restart_waiting(core, index, now);
                    } else {
                        self.fail(core, index, ErrorKind::Closed, now);
                    }
                    return;
                }
                Ok(n) => {
                    conn.filled += n;
                    let fed = state.feed(&conn.buf[..conn.filled], &mut conn.out, &mut self.ended);
                    match fed {
                        Ok(consumed) => {
                            if consumed > 0 {
                                conn.buf.copy_within(consumed..conn.filled, 0);
                                conn.filled -= consumed;
                            } else if conn.filled == conn.buf.len() {
                                self.ended.clear();
                                self.fail(core, index, ErrorKind::Protocol, now);
                                return;
                            }
                        }
                        Err(e) => {
                            self.ended.clear();
                            self.fail(core, index, e.kind, now);
                            return;
                        }
                    }
                    let has_output = !conn.out.is_empty();
                    self.end_streams(core, index, now);
                    if has_output {
                        self.mark_dirty(index);
                    }
                    if self.restart_waiting(core, index, now) {
                        return;
                    }
                    if n < spare && !peer_closed {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(core, index, error_kind_of(&e), now);
                    return;
                }
            }
        }
    }

    /// Records the exchanges the protocol reported ended on connection `index`.
    fn end_streams(&mut self, core: &mut Core<'_>, index: usize, now: Nanos) {
        let conn = &mut self.conns[index];
        for end in self.ended.drain(..) {
            let Some(stream) = conn
                .streams
                .get_mut(end.token as usize)
                .and_then(Option::take)
            else {
                continue;
            };
            conn.live -= 1;
            conn.free_tokens.push(end.token);
            let result = match end.outcome {
                Ok(answer) => Ok(Exchange {
                    status: answer.status,
                    bytes_sent: end.bytes_sent,
                    bytes_received: end.bytes_received,
                    failed: answer.failed,
                }),
                Err(kind) => Err(Failure {
                    kind,
                    bytes_sent: end.bytes_sent,
                    bytes_received: end.bytes_received,
                }),
            };
            core.complete(index, stream.slot, stream.sent, now, &result);
        }
    }

    /// Fails every exchange on connection `index` with `kind` and drops the connection.
    fn fail(&mut self, core: &mut Core<'_>, index: usize, kind: ErrorKind, now: Nanos) {
        let conn = &mut self.conns[index];
        let waiting = conn.waiting.drain(..);
        for stream in conn
            .streams
            .iter_mut()
            .filter_map(Option::take)
            .chain(waiting)
        {
            core.complete(
                index,
                stream.slot,
                stream.sent,
                now,
                &Err(Failure::from(kind)),
            );
        }
        conn.reset();
    }

    /// Once a connection the peer is leaving has no exchange left, starts what waited for
    /// it on a new connection. True when it did (the old socket is gone).
    fn restart_waiting(&mut self, core: &mut Core<'_>, index: usize, now: Nanos) -> bool {
        let conn = &mut self.conns[index];
        if conn.waiting.is_empty() || conn.live > 0 {
            return false;
        }
        let waiting = std::mem::take(&mut conn.waiting);
        if let Err(e) = self.connect_with(core, index, now) {
            let result = Err(Failure::from(connect_kind(&e)));
            for stream in waiting {
                core.complete(index, stream.slot, stream.sent, now, &result);
            }
            return true;
        }
        for stream in waiting {
            self.begin(core, index, stream, now);
        }
        true
    }
}

impl<P: MultiplexedProtocol> Lanes for MultiplexedLanes<P> {
    fn start(&mut self, core: &mut Core<'_>, index: usize, slot: Slot, now: Nanos) {
        let fresh = {
            let conn = &self.conns[index];
            conn.socket.is_none()
                || (conn.live == 0 && !conn.state.as_ref().is_some_and(|s| s.accepts_exchanges()))
        };
        if fresh {
            if let Err(e) = self.connect_with(core, index, now) {
                let result = Err(Failure::from(connect_kind(&e)));
                core.complete(index, slot, now, now, &result);
                return;
            }
        }
        self.begin(core, index, Stream { slot, sent: now }, now);
    }

    fn event(&mut self, core: &mut Core<'_>, index: usize, mask: u32, now: Nanos) {
        let Some(conn) = self.conns.get_mut(index) else {
            return;
        };
        if conn.socket.is_none() {
            return;
        }
        let closed = mask & (libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32 != 0;
        if conn.connecting {
            if mask & (libc::EPOLLOUT | libc::EPOLLERR | libc::EPOLLHUP) as u32 == 0 {
                return;
            }
            match conn.socket.as_ref().map(|s| s.take_error()) {
                Some(Ok(None)) if mask & libc::EPOLLERR as u32 == 0 => {
                    conn.connecting = false;
                    self.write_out(core, index, now);
                }
                Some(Ok(Some(e))) | Some(Err(e)) => {
                    return self.fail(core, index, connect_kind(&e), now)
                }
                _ => return self.fail(core, index, ErrorKind::ConnectRefused, now),
            }
        } else if conn.blocked && mask & libc::EPOLLOUT as u32 != 0 {
            conn.blocked = false;
            self.write_out(core, index, now);
        }
        if mask & libc::EPOLLIN as u32 != 0 || closed {
            self.read(core, index, closed, now);
        }
    }

    fn flush(&mut self, core: &mut Core<'_>, now: Nanos) {
        while let Some(index) = self.dirty.pop() {
            self.conns[index].dirty = false;
            self.write_out(core, index, now);
        }
    }

    fn sweep(&mut self, core: &mut Core<'_>, now: Nanos) {
        for index in 0..self.conns.len() {
            let conn = &mut self.conns[index];
            if conn.connecting && now.saturating_sub(conn.opened_at) >= core.plan.connect_timeout {
                self.fail(core, index, ErrorKind::ConnectTimeout, now);
                continue;
            }
            let limit = core.plan.request_timeout;
            let mut i = 0;
            while i < conn.waiting.len() {
                if now.saturating_sub(conn.waiting[i].sent) >= limit {
                    let stream = conn.waiting.swap_remove(i);
                    let result = Err(Failure::from(ErrorKind::Timeout));
                    core.complete(index, stream.slot, stream.sent, now, &result);
                } else {
                    i += 1;
                }
            }
            let Some(state) = conn.state.as_mut() else {
                continue;
            };
            let mut cancelled = false;
            for (token, entry) in conn.streams.iter_mut().enumerate() {
                let expired = entry
                    .as_ref()
                    .is_some_and(|s| now.saturating_sub(s.sent) >= core.plan.request_timeout);
                if let Some(stream) = entry.take_if(|_| expired) {
                    state.cancel(token as u32, &mut conn.out);
                    conn.live -= 1;
                    conn.free_tokens.push(token as u32);
                    cancelled = true;
                    let result = Err(Failure::from(ErrorKind::Timeout));
                    core.complete(index, stream.slot, stream.sent, now, &result);
                }
            }
            if cancelled {
                self.mark_dirty(index);
            }
        }
    }

    fn abandon_all(&mut self, core: &mut Core<'_>) {
        for (index, conn) in self.conns.iter_mut().enumerate() {
            for _ in 0..conn.live + conn.waiting.len() {
                core.forget(index);
            }
            conn.waiting.clear();
            if conn.live > 0 {
                conn.reset();
            }
        }
    }
}

impl<P: MultiplexedProtocol> MultiplexedLanes<P> {
    /// Starts `stream` on connection `index`, which has a socket.
    fn begin(&mut self, core: &mut Core<'_>, index: usize, stream: Stream, now: Nanos) {
        let conn = &mut self.conns[index];
        let (Some(state), Some(token)) = (conn.state.as_mut(), conn.free_tokens.pop()) else {
            core.complete(
                index,
                stream.slot,
                now,
                now,
                &Err(Failure::from(ErrorKind::Io)),
            );
            return;
        };
        if !state.accepts_exchanges() {
            // The peer is going away with exchanges still open: this one starts on the next
            // connection, once they are done.
            conn.free_tokens.push(token);
            conn.waiting.push(stream);
            return;
        }
        let seq = stream.slot.seq;
        conn.streams[token as usize] = Some(stream);
        conn.live += 1;
        match state.start(token, seq, &mut conn.out) {
            Ok(()) => self.mark_dirty(index),
            Err(e) => self.fail(core, index, e.kind, now),
        }
    }

    fn connect_with(&mut self, core: &Core<'_>, index: usize, now: Nanos) -> io::Result<()> {
        let socket = connect(&self.address, &core.epoll, index)?;
        let conn = &mut self.conns[index];
        conn.reset();
        conn.socket = Some(socket);
        conn.connecting = true;
        conn.opened_at = now;
        let mut state = self.protocol.connection();
        state.open(&mut conn.out);
        conn.state = Some(state);
        self.mark_dirty(index);
        Ok(())
    }
}
