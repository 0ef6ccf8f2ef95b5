//! The floor under an HTTP/1.1 closed-model load generator on this kernel: N keep-alive
//! connections, each sending `GET /` again as soon as its response is complete, with nothing
//! else (no timing, no histogram, no parsing past Content-Length), in three ways:
//!
//! - `epoll`: edge-triggered epoll, one `recv` and one `send` per request (what meshbench's
//!   event loop does; wrk adds two `epoll_ctl` per request);
//! - `uring`: io_uring, a `recv` and a `send` submission per request, every submission of a
//!   loop turn in one `io_uring_enter` that also waits (no syscall per request);
//! - `uring-multishot`: io_uring with one multishot `recv` per connection reading into a
//!   provided-buffer ring, so a receive is never re-armed either.
//!
//! Usage: syscall-floor MODE HOST:PORT CONNECTIONS SECONDS; prints the requests completed.

use std::io::{self, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const READ_BUFFER: usize = 16 * 1024;
/// The deadline is checked every this many loop turns (a clock read per turn is a cost).
const CHECK_EVERY: u64 = 256;
const SEND_TAG: u64 = 1;

struct Conn {
    socket: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

/// The length of the complete response at the start of `buf`, if it is complete.
fn complete(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })?;
    (buf.len() >= head_end + length).then_some(head_end + length)
}

/// Takes `n` new bytes of connection `c`; true when they completed a response.
fn absorb(c: &mut Conn, n: usize) -> io::Result<bool> {
    c.filled += n;
    match complete(&c.buf[..c.filled]) {
        Some(len) if len == c.filled => {
            c.filled = 0;
            Ok(true)
        }
        Some(_) => Err(io::Error::other("a response with bytes after it")),
        None if c.filled == c.buf.len() => Err(io::Error::other("response too large")),
        None => Ok(false),
    }
}

fn send_entry(fd: i32, index: usize) -> squeue::Entry {
    opcode::Send::new(types::Fd(fd), REQUEST.as_ptr(), REQUEST.len() as u32)
        .build()
        .user_data((index as u64) << 1 | SEND_TAG)
        // Only a failed send posts a completion: a short send of 35 bytes into an empty
        // socket buffer does not happen on loopback, and is reported if it does.
        .flags(squeue::Flags::SKIP_SUCCESS)
}

fn ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_coop_taskrun()
        .build(4096)
}

fn push(ring: &mut IoUring, entry: &squeue::Entry) -> io::Result<()> {
    // SAFETY: every buffer an entry points at (REQUEST, a connection's buffer, the provided
    // buffers) lives until the ring is dropped at the end of the run.
    while unsafe { ring.submission().push(entry) }.is_err() {
        ring.submit()?;
    }
    Ok(())
}

fn run_epoll(conns: &mut [Conn], deadline: Instant) -> io::Result<u64> {
    // SAFETY: plain syscalls on descriptors this function owns or borrows.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epoll < 0 {
        return Err(io::Error::last_os_error());
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.socket.set_nonblocking(true)?;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: i as u64,
        };
        // SAFETY: as above.
        if unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, c.socket.as_raw_fd(), &mut event) }
            < 0
        {
            return Err(io::Error::last_os_error());
        }
        (&c.socket).write_all(REQUEST)?;
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 512];
    let (mut done, mut turn) = (0u64, 0u64);
    loop {
        // SAFETY: the kernel writes at most events.len() entries.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        turn += 1;
        if turn % CHECK_EVERY == 0 && Instant::now() >= deadline {
            return Ok(done);
        }
        for event in &events[..n as usize] {
            let c = &mut conns[event.u64 as usize];
            let fd = c.socket.as_raw_fd();
            let spare = &mut c.buf[c.filled..];
            // SAFETY: reading into the spare part of our buffer.
            let r = unsafe { libc::recv(fd, spare.as_mut_ptr().cast(), spare.len(), 0) };
            if r <= 0 {
                return Err(io::Error::other(format!("recv returned {r}")));
            }
            if absorb(c, r as usize)? {
                done += 1;
                // SAFETY: sending from a static buffer.
                let s = unsafe {
                    libc::send(
                        fd,
                        REQUEST.as_ptr().cast(),
                        REQUEST.len(),
                        libc::MSG_NOSIGNAL,
                    )
                };
                if s != REQUEST.len() as isize {
                    return Err(io::Error::other(format!("send returned {s}")));
                }
            }
        }
    }
}

fn run_uring(conns: &mut [Conn], deadline: Instant) -> io::Result<u64> {
    let mut ring = ring()?;
    let recv = |c: &mut Conn, i: usize| {
        let spare = &mut c.buf[c.filled..];
        opcode::Recv::new(
            types::Fd(c.socket.as_raw_fd()),
            spare.as_mut_ptr(),
            spare.len() as u32,
        )
        .build()
        .user_data((i as u64) << 1)
    };
    for (i, c) in conns.iter_mut().enumerate() {
        push(&mut ring, &send_entry(c.socket.as_raw_fd(), i))?;
        push(&mut ring, &recv(c, i))?;
    }
    let (mut done, mut turn) = (0u64, 0u64);
    let mut ready = Vec::new();
    loop {
        ring.submit_and_wait(1)?;
        turn += 1;
        if turn % CHECK_EVERY == 0 && Instant::now() >= deadline {
            return Ok(done);
        }
        ready.clear();
        ready.extend(ring.completion().map(|e| (e.user_data(), e.result())));
        for &(data, result) in &ready {
            if data & SEND_TAG != 0 || result <= 0 {
                return Err(io::Error::other(format!("completion {data:#x}: {result}")));
            }
            let i = (data >> 1) as usize;
            let c = &mut conns[i];
            if absorb(c, result as usize)? {
                done += 1;
                push(&mut ring, &send_entry(c.socket.as_raw_fd(), i))?;
            }
            push(&mut ring, &recv(c, i))?;
        }
    }
}

fn run_uring_multishot(conns: &mut [Conn], deadline: Instant) -> io::Result<u64> {
    const ENTRIES: u16 = 1024;
    const SIZE: usize = 4096;
    const GROUP: u16 = 7;
    let mut ring = ring()?;
    let layout = std::alloc::Layout::from_size_align(usize::from(ENTRIES) * 16, 4096)
        .map_err(io::Error::other)?;
    // SAFETY: a non-zero size; freed never (the process ends with the run).
    let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
    if entries.is_null() {
        return Err(io::Error::other("out of memory"));
    }
    let mut buffers = vec![0u8; usize::from(ENTRIES) * SIZE];
    let base = buffers.as_mut_ptr();
    // SAFETY: the ring's tail lives in its first entry.
    let tail_at = unsafe { types::BufRingEntry::tail(entries) } as *mut u16;
    // SAFETY: an aligned u16 in memory only this thread and the kernel touch.
    let tail_atomic = unsafe { AtomicU16::from_ptr(tail_at) };
    let mut tail: u16 = 0;
    let give_back = |id: u16, tail: &mut u16| {
        // SAFETY: the slot at `tail` is one the kernel has consumed (or never had).
        let entry = unsafe { &mut *entries.add(usize::from(*tail & (ENTRIES - 1))) };
        // SAFETY: buffer `id` lies inside `buffers`.
        entry.set_addr(unsafe { base.add(usize::from(id) * SIZE) } as u64);
        entry.set_len(SIZE as u32);
        entry.set_bid(id);
        *tail = tail.wrapping_add(1);
    };
    for id in 0..ENTRIES {
        give_back(id, &mut tail);
    }
    tail_atomic.store(tail, Ordering::Release);
    // SAFETY: the ring memory stays valid for the ring's life.
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(entries as u64, ENTRIES, GROUP, 0)?
    };
    let recv = |fd: i32, i: usize| {
        opcode::RecvMulti::new(types::Fd(fd), GROUP)
            .build()
            .user_data((i as u64) << 1)
    };
    for (i, c) in conns.iter().enumerate() {
        push(&mut ring, &send_entry(c.socket.as_raw_fd(), i))?;
        push(&mut ring, &recv(c.socket.as_raw_fd(), i))?;
    }
    let (mut done, mut turn) = (0u64, 0u64);
    let mut ready = Vec::new();
    loop {
        ring.submit_and_wait(1)?;
        turn += 1;
        if turn % CHECK_EVERY == 0 && Instant::now() >= deadline {
            return Ok(done);
        }
        ready.clear();
        ready.extend(
            ring.completion()
                .map(|e| (e.user_data(), e.result(), e.flags())),
        );
        for &(data, result, flags) in &ready {
            if data & SEND_TAG != 0 || result <= 0 {
                return Err(io::Error::other(format!("completion {data:#x}: {result}")));
            }
            let id = cqueue::buffer_select(flags).ok_or_else(|| io::Error::other("no buffer"))?;
            let i = (data >> 1) as usize;
            let c = &mut conns[i];
            let n = result as usize;
            if c.filled + n > c.buf.len() {
                return Err(io::Error::other("response too large"));
            }
            // SAFETY: the kernel wrote `n` bytes into buffer `id`.
            let data = unsafe { std::slice::from_raw_parts(base.add(usize::from(id) * SIZE), n) };
            c.buf[c.filled..c.filled + n].copy_from_slice(data);
            give_back(id, &mut tail);
            if absorb(c, n)? {
                done += 1;
                push(&mut ring, &send_entry(c.socket.as_raw_fd(), i))?;
            }
            if !cqueue::more(flags) {
                push(&mut ring, &recv(c.socket.as_raw_fd(), i))?;
            }
        }
        tail_atomic.store(tail, Ordering::Release);
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        io::Error::other(
            "usage: syscall-floor epoll|uring|uring-multishot HOST:PORT CONNECTIONS SECONDS",
        )
    };
    let [_, mode, address, connections, seconds] = args.as_slice() else {
        return Err(usage());
    };
    let connections: usize = connections.parse().map_err(|_| usage())?;
    let seconds: u64 = seconds.parse().map_err(|_| usage())?;
    let address: std::net::SocketAddr = address.parse().map_err(|_| usage())?;
    if !address.ip().is_loopback() {
        return Err(io::Error::other("load goes to loopback only"));
    }
    let mut conns = (0..connections)
        .map(|_| {
            let socket = TcpStream::connect(address)?;
            socket.set_nodelay(true)?;
            Ok(Conn {
                socket,
                buf: vec![0; READ_BUFFER],
                filled: 0,
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let done = match mode.as_str() {
        "epoll" => run_epoll(&mut conns, deadline)?,
        "uring" => run_uring(&mut conns, deadline)?,
        "uring-multishot" => run_uring_multishot(&mut conns, deadline)?,
        _ => return Err(usage()),
    };
    println!("{done}");
    Ok(())
}
