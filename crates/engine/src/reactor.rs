//! The engine's own event loop for [`FramedProtocol`]s: one per load thread, no async
//! runtime in between.
//!
//! Every socket is registered once with edge-triggered epoll for input, output and peer
//! close, and never re-armed. An exchange costs one `send` and, once epoll reports the
//! response, one `recv` (a read that returns less than the buffer drained the socket, so
//! no second read to see EAGAIN). The open model's next send time is a `timerfd` armed at
//! an absolute CLOCK_MONOTONIC deadline, so requests leave within microseconds of their
//! schedule instead of on a millisecond timer tick.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use meshbench_core::ErrorKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::clock::{arm_timerfd, Clock, Nanos, NANOS_PER_SEC};
use crate::driver::{error_kind_of, Exchange, Failure};
use crate::framed::{absorb, FramedProtocol, ResponseReader};
use crate::pacer::{Pacer, Slot};
use crate::recorder::{IntervalReport, Recorder};
use crate::{Error, Result};

/// Per-connection read buffer. Bodies stream through it, so it bounds memory, not size.
const READ_BUFFER: usize = 16 * 1024;
/// How often in-flight requests are checked against their timeouts.
const SWEEP_EVERY: Nanos = 50_000_000;
const TIMER_TOKEN: u64 = u64::MAX;
const PR_SET_TIMERSLACK: libc::c_int = 29;
/// How long past a slot's time the open model may wake when slots come closer together than
/// this: one wake then sends every slot due by then, instead of a wake per request. The send
/// lag this costs is reported (`loadgen.send_lag_us`); latency is still measured from each
/// slot's own time. Slower schedules wake on time.
const BATCH_SLACK: Nanos = 50_000;

/// What one reactor thread needs to know.
pub(crate) struct ReactorPlan {
    pub clock: Clock,
    pub measure_start: Nanos,
    /// Past this, in-flight requests are abandoned.
    pub give_up: Option<Nanos>,
    pub connect_timeout: Nanos,
    pub request_timeout: Nanos,
    pub connections: usize,
}

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

struct Reactor<'a, P: FramedProtocol> {
    protocol: &'a P,
    plan: &'a ReactorPlan,
    pacer: Pacer,
    recorder: Recorder,
    epoll: OwnedFd,
    timer: OwnedFd,
    timer_armed: Option<Nanos>,
    conns: Vec<Conn<P::Reader>>,
    free: Vec<usize>,
    pending: Option<Slot>,
    exhausted: bool,
    in_flight: usize,
    address: SockAddr,
    /// epoll_pwait2 (nanosecond timeouts, Linux 5.11+) is available; else the timerfd paces.
    precise_wait: bool,
    /// The schedule's recent gap between this thread's slots (exponential mean), ns.
    slot_gap: Nanos,
    /// The time of the last slot taken from the pacer.
    last_slot_at: Nanos,
}

pub(crate) fn run_thread<P: FramedProtocol>(
    protocol: &P,
    plan: &ReactorPlan,
    pacer: Pacer,
    stop: &AtomicBool,
    tx: &mpsc::Sender<IntervalReport>,
) -> Result<Recorder> {
    let epoll = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).map_err(Error::Runtime)?;
    // SAFETY: epoll_create1 returned a new descriptor that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
    let timer = cvt(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
        )
    })
    .map_err(Error::Runtime)?;
    // SAFETY: as above, a fresh descriptor.
    let timer = unsafe { OwnedFd::from_raw_fd(timer) };
    epoll_add(&epoll, timer.as_raw_fd(), TIMER_TOKEN, libc::EPOLLIN as u32)
        .map_err(Error::Runtime)?;
    let conns = (0..plan.connections)
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
    let mut reactor = Reactor {
        protocol,
        plan,
        pacer,
        recorder: Recorder::starting_at(plan.measure_start),
        epoll,
        timer,
        timer_armed: None,
        conns,
        free: (0..plan.connections).rev().collect(),
        pending: None,
        exhausted: false,
        in_flight: 0,
        address: SockAddr::from(protocol.address()),
        precise_wait: false,
        slot_gap: Nanos::MAX,
        last_slot_at: 0,
    };
    // Waking on time needs a timer slack of ~0 (the default 50 µs would add to every send).
    // SAFETY: prctl with integer arguments only changes this thread's timer slack.
    unsafe { libc::prctl(PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    reactor.precise_wait = epoll_pwait2(
        &reactor.epoll,
        &mut [libc::epoll_event { events: 0, u64: 0 }],
        0,
    )
    .is_ok();
    reactor.run(stop, tx)?;
    Ok(reactor.recorder)
}

impl<P: FramedProtocol> Reactor<'_, P> {
    fn run(&mut self, stop: &AtomicBool, tx: &mpsc::Sender<IntervalReport>) -> Result<()> {
        let clock = self.plan.clock;
        let mut events: Vec<libc::epoll_event> = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
        let mut now = clock.now();
        let mut second =
            (now as i64 - self.plan.measure_start as i64).div_euclid(NANOS_PER_SEC as i64);
        let mut next_boundary = self.boundary(second);
        let mut next_sweep = now + SWEEP_EVERY;
        loop {
            if stop.load(Ordering::Relaxed) {
                self.exhausted = true;
                self.pending = None;
                self.abandon_in_flight();
            }
            self.dispatch(now);
            if self.exhausted && self.in_flight == 0 {
                break;
            }
            if self.plan.give_up.is_some_and(|g| now >= g) {
                self.abandon_in_flight();
                break;
            }
            let mut wake_at = next_boundary.min(next_sweep);
            if let Some(g) = self.plan.give_up {
                wake_at = wake_at.min(g);
            }
            let n = if self.precise_wait {
                if let Some(slot) = self.pending.filter(|_| !self.free.is_empty()) {
                    let slack = if self.slot_gap < BATCH_SLACK {
                        BATCH_SLACK
                    } else {
                        0
                    };
                    wake_at = wake_at.min(slot.at + slack);
                    // Handling events and sends took time since `now` was read; a stale
                    // `now` would make the wait, and so the send, late by that much.
                    now = clock.now();
                }
                epoll_pwait2(&self.epoll, &mut events, wake_at.saturating_sub(now))
            } else {
                // Millisecond resolution is fine here: the timerfd wakes us for sends.
                let timeout_ms = (wake_at.saturating_sub(now)).div_ceil(1_000_000).min(1000) as i32;
                epoll_wait(&self.epoll, &mut events, timeout_ms)
            }
            .map_err(Error::Runtime)?;
            now = clock.now();
            for event in &events[..n] {
                let (token, mask) = (event.u64, event.events);
                if token == TIMER_TOKEN {
                    let mut expirations = [0u8; 8];
                    // SAFETY: reading 8 bytes into our buffer; EAGAIN (already drained) is fine.
                    let _ = unsafe {
                        libc::read(self.timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8)
                    };
                    self.timer_armed = None;
                } else {
                    self.on_event(token as usize, mask, now);
                }
            }
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + SWEEP_EVERY;
            }
            while now >= next_boundary {
                let _ = tx.send(self.recorder.take_interval(second));
                second += 1;
                next_boundary = self.boundary(second);
            }
        }
        let _ = tx.send(self.recorder.take_interval(second));
        Ok(())
    }

    fn boundary(&self, second: i64) -> Nanos {
        (self.plan.measure_start as i64 + (second + 1) * NANOS_PER_SEC as i64).max(0) as Nanos
    }

    /// Starts every request that is due and has a free connection. Each free connection is
    /// used at most once per call, so connects that fail at once (a target gone away) go
    /// back through the loop, its clock and its deadline, instead of spinning here.
    #[inline]
    fn dispatch(&mut self, now: Nanos) {
        let mut budget = self.free.len();
        while budget > 0 && !self.free.is_empty() {
            budget -= 1;
            let slot = match self.pending.take() {
                Some(slot) => slot,
                None if self.exhausted => return,
                None => match self.pacer.next(now) {
                    Some(slot) => {
                        let gap = slot.at.saturating_sub(self.last_slot_at);
                        self.last_slot_at = slot.at;
                        self.slot_gap = if self.slot_gap == Nanos::MAX {
                            gap
                        } else {
                            (self.slot_gap * 7 + gap) / 8
                        };
                        slot
                    }
                    None => {
                        self.exhausted = true;
                        return;
                    }
                },
            };
            if slot.at > now {
                self.pending = Some(slot);
                if !self.precise_wait {
                    self.arm_timer(slot.at);
                }
                return;
            }
            if let Some(index) = self.free.pop() {
                self.start(index, slot, now);
            }
        }
    }

    fn arm_timer(&mut self, at: Nanos) {
        if self.timer_armed != Some(at)
            && arm_timerfd(self.timer.as_raw_fd(), &self.plan.clock, at).is_ok()
        {
            self.timer_armed = Some(at);
        }
    }

    fn start(&mut self, index: usize, slot: Slot, now: Nanos) {
        self.in_flight += 1;
        let conn = &mut self.conns[index];
        conn.slot = slot;
        conn.sent = now;
        conn.written = 0;
        conn.received = 0;
        conn.filled = 0;
        conn.reader = Some(self.protocol.reader(slot.seq));
        if conn.socket.is_none() {
            match connect(&self.address, &self.epoll, index) {
                Ok(socket) => {
                    conn.socket = Some(socket);
                    conn.phase = Phase::Connecting;
                }
                Err(e) => self.finish(index, Outcome::Failed(connect_kind(&e)), now),
            }
            return;
        }
        self.write(index, now);
    }

    fn write(&mut self, index: usize, now: Nanos) {
        let protocol = self.protocol;
        let conn = &mut self.conns[index];
        let request = protocol.request(conn.slot.seq);
        let Some(fd) = conn.socket.as_ref().map(|s| s.as_raw_fd()) else {
            return self.finish(index, Outcome::Failed(ErrorKind::Io), now);
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
        self.finish(index, Outcome::Failed(failure), now);
    }

    fn on_event(&mut self, index: usize, mask: u32, now: Nanos) {
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
                    Some(Ok(None)) if mask & libc::EPOLLERR as u32 == 0 => self.write(index, now),
                    Some(Ok(Some(e))) | Some(Err(e)) => {
                        self.finish(index, Outcome::Failed(connect_kind(&e)), now)
                    }
                    _ => self.finish(index, Outcome::Failed(ErrorKind::ConnectRefused), now),
                }
            }
            Phase::Writing => {
                if mask & libc::EPOLLOUT as u32 != 0 || closed {
                    self.write(index, now);
                }
            }
            Phase::Reading => {
                if mask & libc::EPOLLIN as u32 != 0 || closed {
                    self.read(index, closed, now);
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

    /// Reads what arrived. `peer_closed` (RDHUP/HUP in the event) means the FIN came with
    /// this edge: no later edge will report it, so reading goes on until `recv` says EOF.
    #[inline]
    fn read(&mut self, index: usize, peer_closed: bool, now: Nanos) {
        let outcome = {
            let conn = &mut self.conns[index];
            let (Some(socket), Some(reader)) = (conn.socket.as_ref(), conn.reader.as_mut()) else {
                return;
            };
            let fd = socket.as_raw_fd();
            loop {
                let spare = conn.buf.len() - conn.filled;
                match recv(fd, &mut conn.buf[conn.filled..]) {
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
        self.finish(index, outcome, now);
    }

    /// Records an ended exchange and frees its connection.
    fn finish(&mut self, index: usize, outcome: Outcome, now: Nanos) {
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
        let (slot, sent) = (conn.slot, conn.sent);
        self.in_flight -= 1;
        self.free.push(index);
        self.pacer
            .record(&mut self.recorder, slot, sent, now, &result);
    }

    fn sweep(&mut self, now: Nanos) {
        for index in 0..self.conns.len() {
            let conn = &self.conns[index];
            let limit = match conn.phase {
                Phase::Idle => continue,
                Phase::Connecting => self.plan.connect_timeout,
                Phase::Writing | Phase::Reading => self.plan.request_timeout,
            };
            if now.saturating_sub(conn.sent) >= limit {
                let kind = if conn.phase == Phase::Connecting {
                    ErrorKind::ConnectTimeout
                } else {
                    ErrorKind::Timeout
                };
                self.finish(index, Outcome::Failed(kind), now);
            }
        }
    }

    /// Drops in-flight requests without recording them (stop, or the drain limit).
    fn abandon_in_flight(&mut self) {
        for (index, conn) in self.conns.iter_mut().enumerate() {
            if conn.phase != Phase::Idle {
                conn.phase = Phase::Idle;
                conn.socket = None;
                conn.reader = None;
                self.free.push(index);
            }
        }
        self.in_flight = 0;
    }
}

fn connect_kind(e: &io::Error) -> ErrorKind {
    match error_kind_of(e) {
        ErrorKind::Timeout => ErrorKind::ConnectTimeout,
        kind => kind,
    }
}

fn connect(address: &SockAddr, epoll: &OwnedFd, index: usize) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::from(address.family() as i32),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    // Latency is what is measured: never let Nagle hold a request back.
    socket.set_tcp_nodelay(true)?;
    match socket.connect(address) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let events = (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32;
    epoll_add(epoll, socket.as_raw_fd(), index as u64, events)?;
    Ok(socket)
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn epoll_add(epoll: &OwnedFd, fd: RawFd, token: u64, events: u32) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: valid descriptors and an initialised event.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) })
        .map(|_| ())
}

fn epoll_wait(
    epoll: &OwnedFd,
    events: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `events.len()` entries into our buffer.
    let n = unsafe {
        libc::epoll_wait(
            epoll.as_raw_fd(),
            events.as_mut_ptr(),
            events.len() as i32,
            timeout_ms,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(n as usize)
}

/// epoll_wait with a nanosecond timeout (epoll_pwait2, Linux 5.11+).
fn epoll_pwait2(
    epoll: &OwnedFd,
    events: &mut [libc::epoll_event],
    timeout_ns: u64,
) -> io::Result<usize> {
    let timeout = libc::timespec {
        tv_sec: (timeout_ns / NANOS_PER_SEC) as libc::time_t,
        tv_nsec: (timeout_ns % NANOS_PER_SEC) as libc::c_long,
    };
    // SAFETY: the kernel writes at most `events.len()` entries; timeout and a null sigmask
    // are valid arguments.
    let n = unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epoll.as_raw_fd(),
            events.as_mut_ptr(),
            events.len() as libc::c_int,
            &timeout as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(0)
        } else {
            Err(e)
        };
    }
    Ok(n as usize)
}

/// `send` without SIGPIPE; a raw syscall skips libc's cancellation-point bookkeeping.
#[inline]
fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is valid for `data.len()` bytes.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            data.as_ptr(),
            data.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[inline]
fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let buf: &mut [MaybeUninit<u8>] =
        // SAFETY: u8 and MaybeUninit<u8> share layout; the kernel only writes into it.
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast(), buf.len()) };
    // SAFETY: the buffer is valid for `buf.len()` bytes.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr(),
            buf.len(),
            0,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
