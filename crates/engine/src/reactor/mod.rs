//! The engine's own event loop: one per load thread, no async runtime in between.
//!
//! Every socket is registered once with edge-triggered epoll for input, output and peer
//! close, and never re-armed. The loop (this module) owns the schedule, the free lanes,
//! the clock and the per-second reports; what a lane is and how its bytes move is a
//! [`Lanes`] implementation: one exchange per connection for a [`crate::FramedProtocol`]
//! ([`framed`]), many streams per connection for a [`crate::MultiplexedProtocol`]
//! ([`multiplexed`]). The open model's next send time is an absolute deadline (epoll_pwait2
//! with nanosecond timeouts, or a `timerfd` on older kernels), so requests leave within
//! microseconds of their schedule instead of on a millisecond timer tick.

pub(crate) mod framed;
pub(crate) mod multiplexed;

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use meshbench_core::ErrorKind;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::clock::{arm_timerfd, clock_ns, sleep_until, Clock, Nanos, NANOS_PER_SEC};
use crate::driver::{error_kind_of, Exchange, Failure};
use crate::pacer::{Pacer, Slot};
use crate::recorder::{IntervalReport, Recorder};
use crate::{Error, Result};

/// How often in-flight requests are checked against their timeouts.
const SWEEP_EVERY: Nanos = 50_000_000;
const TIMER_TOKEN: u64 = u64::MAX;
const PR_SET_TIMERSLACK: libc::c_int = 29;

/// The open model sleeps through readiness (reading responses at the next send, timed by
/// their kernel receive stamps) when its slots come closer together than this: a response
/// then waits at most this long to be read, and a wake per response is saved.
const SLEEP_THROUGH_GAP: Nanos = 1_000_000;

/// What one reactor thread needs to know.
pub(crate) struct ReactorPlan {
    pub clock: Clock,
    pub measure_start: Nanos,
    /// Past this, in-flight requests are abandoned.
    pub give_up: Option<Nanos>,
    pub connect_timeout: Nanos,
    pub request_timeout: Nanos,
    pub connections: usize,
    /// How far past a slot's time the open model may wake when slots come closer together
    /// than this, so that one wake sends every slot due by then instead of a wake per
    /// request (the spec's `send_window_us`). The send lag this costs is reported
    /// (`loadgen.send_lag_us`); latency is still measured from each slot's own time. 50 µs
    /// keeps the lag's p99 near 100 µs on a quiet VM; 1 ms (wrk2's timer resolution) costs
    /// a third of the CPU per request at 10k req/s.
    pub send_window: Nanos,
}

/// What a protocol's lanes do on the shared loop. A lane is named by the `usize` it was
/// put into [`Core::free`] with; the loop pops one for every slot that is due.
pub(crate) trait Lanes {
    /// Whether the lanes take each response's arrival time from the kernel's receive
    /// timestamp (`SO_TIMESTAMPNS`) rather than from when they read it. Only then may the
    /// loop sleep through readiness in a dense open-model schedule (see [`Core::run`]).
    fn receive_timestamps(&self) -> bool {
        false
    }
    /// Starts `slot` on free lane `lane` (connecting first when needed).
    fn start(&mut self, core: &mut Core<'_>, lane: usize, slot: Slot, now: Nanos);
    /// Handles readiness `mask` of the socket registered with `token`.
    fn event(&mut self, core: &mut Core<'_>, token: usize, mask: u32, now: Nanos);
    /// Sends what was queued since the last call; called once per loop turn, so requests
    /// started together leave in one write.
    fn flush(&mut self, _core: &mut Core<'_>, _now: Nanos) {}
    /// Ends what has outlived its connect or request timeout.
    fn sweep(&mut self, core: &mut Core<'_>, now: Nanos);
    /// Drops every in-flight exchange without recording it (stop, the drain limit),
    /// returning its lanes to [`Core::free`].
    fn abandon_all(&mut self, core: &mut Core<'_>);
}

/// The state every kind of lane shares: schedule, recorder, epoll and the free lanes.
pub(crate) struct Core<'a> {
    pub plan: &'a ReactorPlan,
    pacer: Pacer,
    recorder: Recorder,
    pub epoll: OwnedFd,
    timer: OwnedFd,
    timer_armed: Option<Nanos>,
    /// Lanes that can take a slot now.
    pub free: Vec<usize>,
    pending: Option<Slot>,
    exhausted: bool,
    /// Exchanges started and not yet ended.
    pub in_flight: usize,
    /// epoll_pwait2 (nanosecond timeouts, Linux 5.11+) is available; else the timerfd paces.
    precise_wait: bool,
    /// The schedule's recent gap between this thread's slots (exponential mean), ns.
    slot_gap: Nanos,
    /// The time of the last slot taken from the pacer.
    last_slot_at: Nanos,
    /// CLOCK_REALTIME minus the run's clock, ns: turns kernel receive timestamps into run
    /// time. Refreshed every second, so a clock step moves it for at most a second.
    realtime_offset: i64,
}

/// Runs one load thread's loop over `lanes`, whose free lanes are `free`.
pub(crate) fn run_thread<L: Lanes>(
    lanes: &mut L,
    free: Vec<usize>,
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
    let mut core = Core {
        plan,
        pacer,
        recorder: Recorder::starting_at(plan.measure_start),
        epoll,
        timer,
        timer_armed: None,
        free,
        pending: None,
        exhausted: false,
        in_flight: 0,
        precise_wait: false,
        slot_gap: Nanos::MAX,
        last_slot_at: 0,
        realtime_offset: 0,
    };
    core.sync_realtime();
    // Waking on time needs a timer slack of ~0 (the default 50 µs would add to every send).
    // SAFETY: prctl with integer arguments only changes this thread's timer slack.
    unsafe { libc::prctl(PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
    core.precise_wait = epoll_pwait2(
        &core.epoll,
        &mut [libc::epoll_event { events: 0, u64: 0 }],
        0,
    )
    .is_ok();
    core.run(lanes, stop, tx)?;
    Ok(core.recorder)
}

impl Core<'_> {
    fn run<L: Lanes>(
        &mut self,
        lanes: &mut L,
        stop: &AtomicBool,
        tx: &mpsc::Sender<IntervalReport>,
    ) -> Result<()> {
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
                lanes.abandon_all(self);
            }
            self.dispatch(lanes, now);
            lanes.flush(self, now);
            if self.exhausted && self.in_flight == 0 {
                break;
            }
            if self.plan.give_up.is_some_and(|g| now >= g) {
                lanes.abandon_all(self);
                break;
            }
            let mut wake_at = next_boundary.min(next_sweep);
            if let Some(g) = self.plan.give_up {
                wake_at = wake_at.min(g);
            }
            let n = if self.precise_wait {
                match self.pending.filter(|_| !self.free.is_empty()) {
                    Some(slot) => {
                        let slack = if self.slot_gap < self.plan.send_window {
                            self.plan.send_window
                        } else {
                            0
                        };
                        wake_at = wake_at.min(slot.at + slack);
                        // Handling events and sends took time since `now` was read; a stale
                        // `now` would make the wait, and so the send, late by that much.
                        now = clock.now();
                        // A dense open-model schedule (slots closer than SLEEP_THROUGH_GAP)
                        // with lanes that read arrival times from the kernel sleeps through
                        // readiness: each wake sends what is due and reads every response
                        // that came meanwhile, so there is one wake per send (per send
                        // window, when slots come closer than that) instead of two per
                        // request (a send and its response).
                        if self.slot_gap < SLEEP_THROUGH_GAP && lanes.receive_timestamps() {
                            sleep_until(&clock, wake_at);
                            epoll_pwait2(&self.epoll, &mut events, 0)
                        } else {
                            epoll_pwait2(&self.epoll, &mut events, wake_at.saturating_sub(now))
                        }
                    }
                    None => {
                        // Nothing to send until a response frees a lane (the closed model's
                        // steady state): the timerfd keeps the second boundaries and sweeps,
                        // re-armed ~20 times a second, so a wait arms no timer of its own (a
                        // timed wait arms and cancels an hrtimer on every sleep).
                        self.arm_timer(wake_at);
                        epoll_wait(&self.epoll, &mut events, -1)
                    }
                }
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
                    lanes.event(self, token as usize, mask, now);
                }
            }
            if now >= next_sweep {
                lanes.sweep(self, now);
                next_sweep = now + SWEEP_EVERY;
            }
            while now >= next_boundary {
                let _ = tx.send(self.recorder.take_interval(second));
                second += 1;
                next_boundary = self.boundary(second);
                self.sync_realtime();
            }
        }
        let _ = tx.send(self.recorder.take_interval(second));
        Ok(())
    }

    fn boundary(&self, second: i64) -> Nanos {
        (self.plan.measure_start as i64 + (second + 1) * NANOS_PER_SEC as i64).max(0) as Nanos
    }

    /// Starts every request that is due and has a free lane. Each free lane is used at most
    /// once per call, so connects that fail at once (a target gone away) go back through
    /// the loop, its clock and its deadline, instead of spinning here.
    #[inline]
    fn dispatch<L: Lanes>(&mut self, lanes: &mut L, now: Nanos) {
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
            if let Some(lane) = self.free.pop() {
                self.in_flight += 1;
                lanes.start(self, lane, slot, now);
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

    /// Records the end of the exchange of `slot` (sent at `sent`) and frees `lane`.
    #[inline]
    pub fn complete(
        &mut self,
        lane: usize,
        slot: Slot,
        sent: Nanos,
        now: Nanos,
        result: &Result<Exchange, Failure>,
    ) {
        self.in_flight -= 1;
        self.free.push(lane);
        self.pacer
            .record(&mut self.recorder, slot, sent, now, result);
    }

    fn sync_realtime(&mut self) {
        self.realtime_offset = clock_ns(libc::CLOCK_REALTIME) as i64 - self.plan.clock.now() as i64;
    }

    /// When a response with kernel receive timestamp `stamp` (CLOCK_REALTIME ns) arrived, in
    /// run time, kept between `sent` and `now` (a clock step must not make it impossible).
    #[inline]
    pub fn arrival(&self, stamp: Option<u64>, sent: Nanos, now: Nanos) -> Nanos {
        match stamp {
            Some(ns) => ((ns as i64 - self.realtime_offset).max(0) as Nanos).clamp(sent, now),
            None => now,
        }
    }

    /// Frees `lane` of an exchange dropped without a record (stop, the drain limit).
    pub fn forget(&mut self, lane: usize) {
        self.in_flight -= 1;
        self.free.push(lane);
    }
}

pub(crate) fn connect_kind(e: &io::Error) -> ErrorKind {
    match error_kind_of(e) {
        ErrorKind::Timeout => ErrorKind::ConnectTimeout,
        kind => kind,
    }
}

pub(crate) fn connect(address: &SockAddr, epoll: &OwnedFd, index: usize) -> io::Result<Socket> {
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
    ready_events(i64::from(n))
}

/// A wait's result: how many events, none when a signal cut it short, or the error.
fn ready_events(n: i64) -> io::Result<usize> {
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
    ready_events(n)
}

/// `send` without SIGPIPE; a raw syscall skips libc's cancellation-point bookkeeping.
#[inline]
pub(crate) fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
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

/// Asks the kernel to stamp every packet `socket` receives with its arrival time.
pub(crate) fn enable_receive_timestamps(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with a valid descriptor and an int option value.
    cvt(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

/// `recv` that also returns the kernel's receive timestamp of the data (CLOCK_REALTIME ns),
/// on a socket with [`enable_receive_timestamps`].
#[inline]
pub(crate) fn recv_stamped(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    // Room for one SCM_TIMESTAMPNS control message (a timespec), aligned for cmsghdr.
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: an all-zero msghdr is a valid empty one; the pointers set below outlive it.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg points at our iovec and control buffer, valid for the call.
    let n = unsafe { libc::syscall(libc::SYS_recvmsg, fd, &mut msg as *mut libc::msghdr, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut stamp = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled, within
    // msg_controllen; the timespec is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS
            {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                let ns = ts.tv_sec as u64 * NANOS_PER_SEC + ts.tv_nsec as u64;
                stamp = (ns > 0).then_some(ns);
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, stamp))
}

#[inline]
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    #[test]
    fn received_data_carries_the_kernels_arrival_time() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let socket = Socket::from(client);
        enable_receive_timestamps(&socket).unwrap();
        // The kernel turns stamping on from a work queue: the first packets after the first
        // socket asks may go unstamped (and are then timed when read).
        std::thread::sleep(std::time::Duration::from_millis(100));
        let before = clock_ns(libc::CLOCK_REALTIME);
        server.write_all(b"answer").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let mut buf = [0u8; 64];
        let (n, stamp) = recv_stamped(socket.as_raw_fd(), &mut buf).unwrap();
        let read_at = clock_ns(libc::CLOCK_REALTIME);
        assert_eq!(&buf[..n], b"answer");
        let stamp = stamp.unwrap();
        // Stamped on arrival, not when read 30 ms later.
        assert!(
            stamp >= before && stamp + 20_000_000 < read_at,
            "{before} {stamp} {read_at}"
        );
    }
}
