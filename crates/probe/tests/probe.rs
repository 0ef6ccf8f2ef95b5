//! The probe against real kernel traffic on loopback. These tests need root, kernel BTF and
//! tracefs (scripts/bpf.sh mounts it); where those are missing they fail loudly, unless the
//! machine is declared BPF-less with MESHBENCH_NO_BPF=1.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use meshbench_probe::{availability, Probe, ProbeError, ProbeFilter, ProbeReport};

/// Whether this machine runs the BPF tests: `false` only when declared BPF-less; panics with
/// the reason when it should run them but cannot.
fn bpf_required() -> bool {
    if std::env::var("MESHBENCH_NO_BPF").as_deref() == Ok("1") {
        eprintln!("BPF tests skipped: MESHBENCH_NO_BPF=1 declares this machine BPF-less");
        return false;
    }
    if let Err(e) = availability() {
        panic!(
            "the eBPF probe cannot run here: {e}\n(set MESHBENCH_NO_BPF=1 only on machines that \
             cannot run BPF at all)"
        );
    }
    true
}

const REQUEST: usize = 300;
const ANSWER: usize = 100;

/// A server on 127.0.0.1:0 answering `connections` clients, one after the other: it reads a
/// request of REQUEST bytes (none if `request` is 0), writes ANSWER bytes (likewise), and
/// closes once the client has.
fn server(connections: usize, request: usize, answer: usize) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = vec![0u8; request];
            stream.read_exact(&mut buf).unwrap();
            stream.write_all(&vec![b'a'; answer]).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
        }
    });
    (port, handle)
}

/// `n` clients, one after the other: connect, write REQUEST bytes, read ANSWER bytes, close.
fn clients(port: u16, n: usize) {
    for _ in 0..n {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&[b'q'; REQUEST]).unwrap();
        let mut answer = [0u8; ANSWER];
        stream.read_exact(&mut answer).unwrap();
    }
}

/// Lets the last FIN/ACKs land before the probe is read for the last time.
fn settle() {
    std::thread::sleep(Duration::from_millis(100));
}

/// `n` connections to `listener`, opened one after the other: (client end, server end).
fn connected_pairs(listener: &TcpListener, n: usize) -> Vec<(TcpStream, TcpStream)> {
    let addr = listener.local_addr().unwrap();
    (0..n)
        .map(|_| {
            let client = TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            (client, server)
        })
        .collect()
}

fn port_filter(port: u16) -> ProbeFilter {
    ProbeFilter {
        ports: vec![port],
        ..ProbeFilter::default()
    }
}

#[test]
fn loopback_connections_are_measured_exactly() {
    if !bpf_required() {
        return;
    }
    const N: usize = 20;
    let (port, handle) = server(N, REQUEST, ANSWER);
    let mut probe = Probe::start(&ProbeFilter {
        connection_events: true,
        ..port_filter(port)
    })
    .unwrap();
    clients(port, N);
    handle.join().unwrap();
    settle();
    let second = probe.second().unwrap();
    let r = probe.finish().unwrap();
    eprintln!("{}", meshbench_probe::render_table(&r));

    assert_eq!(r.connections.count, N as u64, "{r:#?}");
    let c = &r.connections.latency_us;
    assert!(
        (1..=10_000).contains(&c.p50) && c.max <= 10_000,
        "connect latency out of range: {c:?}"
    );
    assert_eq!(r.accepts.count, N as u64);
    assert!((1..=10_000).contains(&r.accepts.latency_us.p50));
    // Both ends are local and inside the port filter: each connection closes twice.
    assert_eq!(r.lifetimes.count, 2 * N as u64);
    assert_eq!(r.lifetimes.active, N as u64);
    assert_eq!(r.lifetimes.passive, N as u64);
    // Payload only: each end sent what the other received.
    assert_eq!(r.lifetimes.bytes_sent, (N * (REQUEST + ANSWER)) as u64);
    assert_eq!(r.lifetimes.bytes_received, (N * (REQUEST + ANSWER)) as u64);
    // One request/response per connection, seen from each side.
    assert_eq!(r.server_time_us.count, N as u64);
    assert_eq!(r.exchange_time_us.count, N as u64);
    assert!(r.server_time_us.summary.p50 >= 1);
    assert!(r.exchange_time_us.summary.p50 >= r.server_time_us.summary.p50);
    assert!(
        r.rtt_us.count > 0 && r.rtt_us.summary.p50 > 0,
        "{:?}",
        r.rtt_us
    );
    assert_eq!(r.retransmits, 0);
    assert_eq!((r.resets.sent, r.resets.received), (0, 0));
    assert_eq!(r.connect_failures, 0);

    // The ring buffer's events agree with the counters.
    assert_eq!(second.closed.len(), 2 * N);
    let mine = std::process::id();
    for c in &second.closed {
        assert_eq!(c.pid, Some(mine), "{c:?}");
        assert!(c.local.ip().is_loopback() && c.remote.ip().is_loopback());
        let (sent, received) = if c.active {
            assert_eq!(c.remote.port(), port);
            (REQUEST, ANSWER)
        } else {
            assert_eq!(c.local.port(), port);
            (ANSWER, REQUEST)
        };
        assert_eq!(
            (c.bytes_sent, c.bytes_received),
            (sent as u64, received as u64),
            "{c:?}"
        );
        assert!(c.duration_ns > 0);
    }

    // The timeline adds up to the totals, and the JSON has the documented shape.
    let connects: u64 = r.timeline.iter().map(|t| t.connects).sum();
    assert_eq!(connects, N as u64);
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema"], "meshbench.probe.v1");
    assert_eq!(json["connections"]["count"], N as u64);
    let back: ProbeReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, r);
}

/// Turns on one kept-alive connection are timed from reads alone: the server's answer,
/// written in pieces after a pause, is timed at the next request's read (the last one as the
/// server closes first), the client's think time between turns counts nowhere, and reading a
/// message in small pieces does not start new turns.
#[test]
fn kept_alive_turns_are_timed_from_reads() {
    if !bpf_required() {
        return;
    }
    const TURNS: usize = 6;
    const PAUSE: Duration = Duration::from_millis(3);
    const THINK: Duration = Duration::from_millis(20);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = Probe::start(&port_filter(port)).unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        // As servers do: without it Nagle holds the pieces after the first for the client's
        // delayed ACK, and the answer would truly leave 40 ms late.
        stream.set_nodelay(true).unwrap();
        for _ in 0..TURNS {
            let mut request = [0u8; REQUEST];
            stream.read_exact(&mut request).unwrap();
            std::thread::sleep(PAUSE);
            for _ in 0..4 {
                stream.write_all(&[b'a'; ANSWER / 4]).unwrap();
            }
        }
        // Closes first: the last turn ends as the server's FIN is about to go.
    });
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    for _ in 0..TURNS {
        stream.write_all(&[b'q'; REQUEST]).unwrap();
        let mut answer = [0u8; ANSWER];
        for piece in answer.chunks_mut(10) {
            stream.read_exact(piece).unwrap();
        }
        std::thread::sleep(THINK);
    }
    server.join().unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    drop(stream);
    settle();
    let r = probe.finish().unwrap();
    eprintln!("{}", meshbench_probe::render_table(&r));

    assert_eq!(r.server_time_us.count, TURNS as u64, "{r:#?}");
    assert_eq!(r.exchange_time_us.count, TURNS as u64, "{r:#?}");
    let pause_us = PAUSE.as_micros() as u64;
    let think_us = THINK.as_micros() as u64;
    let server = &r.server_time_us.summary;
    // At least the pause; well under the client's think time, which must not count.
    assert!(
        server.p50 >= pause_us && server.max < think_us,
        "server time: {server:?}"
    );
    let exchange = &r.exchange_time_us.summary;
    assert!(
        exchange.p50 >= server.p50 && exchange.max < think_us,
        "exchange time: {exchange:?} (server {server:?})"
    );
    assert_eq!(
        r.rtt_us.count,
        2 * TURNS as u64,
        "one sample per message read"
    );
    // Payload only, also where the server's socket closed before the client's FIN came.
    let payload = (TURNS * (REQUEST + ANSWER)) as u64;
    assert_eq!(
        (r.lifetimes.bytes_sent, r.lifetimes.bytes_received),
        (payload, payload)
    );
}

/// A turn begun before a detach is not timed across it once the probe is attached again:
/// the answer that left while detached would add the detached time to the server time.
#[test]
fn a_turn_begun_before_a_detach_is_not_timed_across_it() {
    if !bpf_required() {
        return;
    }
    const DETACHED: Duration = Duration::from_millis(150);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probe = Probe::start(&port_filter(port)).unwrap();
    let (read_tx, read_rx) = mpsc::channel();
    let (answer_tx, answer_rx) = mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        for _ in 0..2 {
            let mut request = [0u8; REQUEST];
            stream.read_exact(&mut request).unwrap();
            read_tx.send(()).unwrap();
            answer_rx.recv().unwrap();
            stream.write_all(&[b'a'; ANSWER]).unwrap();
        }
    });
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut answer = [0u8; ANSWER];
    // Turn 1: the request is read with the probe attached, answered and read without it.
    stream.write_all(&[b'q'; REQUEST]).unwrap();
    read_rx.recv().unwrap();
    probe.detach();
    std::thread::sleep(DETACHED);
    answer_tx.send(()).unwrap();
    stream.read_exact(&mut answer).unwrap();
    probe.attach().unwrap();
    // Turn 2, attached throughout.
    stream.write_all(&[b'q'; REQUEST]).unwrap();
    read_rx.recv().unwrap();
    answer_tx.send(()).unwrap();
    stream.read_exact(&mut answer).unwrap();
    server.join().unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).unwrap();
    drop(stream);
    settle();
    let r = probe.finish().unwrap();
    assert_eq!(r.server_time_us.count, 1, "turn 2 only: {r:#?}");
    assert!(
        r.server_time_us.summary.max < DETACHED.as_micros() as u64 / 2,
        "the detached time counted: {:?}",
        r.server_time_us.summary
    );
    // Turn 1's answer was read detached. After re-attaching, each socket counts as older than
    // the probe (it may be a new socket at a closed one's address): its first read begins a
    // turn without ending one, so turn 2 is timed on the server's side only.
    assert_eq!(r.exchange_time_us.count, 0, "{r:#?}");
}

/// Connections that close while the probe is detached leave state the probe never cleared, at
/// socket addresses the kernel hands to new sockets; those must count as older than the probe
/// (no lifetime, no connect time), not inherit the old sockets' start.
#[test]
fn sockets_reborn_while_detached_count_as_older_than_the_probe() {
    if !bpf_required() {
        return;
    }
    const N: usize = 20;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut probe = Probe::start(&port_filter(port)).unwrap();
    let first = connected_pairs(&listener, N);
    probe.detach();
    drop(first);
    std::thread::sleep(Duration::from_millis(50));
    let second = connected_pairs(&listener, N);
    probe.attach().unwrap();
    for (mut client, mut server) in second {
        client.write_all(&[b'q'; REQUEST]).unwrap();
        let mut request = [0u8; REQUEST];
        server.read_exact(&mut request).unwrap();
        server.write_all(&[b'a'; ANSWER]).unwrap();
        let mut answer = [0u8; ANSWER];
        client.read_exact(&mut answer).unwrap();
    }
    settle();
    let r = probe.finish().unwrap();
    assert_eq!(r.connections.count, N as u64, "{r:#?}");
    assert_eq!(r.lifetimes.count, 0, "{r:#?}");
}

/// When the table of new connections is full, further sockets are not measured, and the
/// report counts them; those already in it are measured exactly.
#[test]
fn sockets_beyond_the_table_are_counted_as_untracked() {
    if !bpf_required() {
        return;
    }
    const ROOM: u32 = 8;
    const PAIRS: usize = 12;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let probe = Probe::start(&ProbeFilter {
        max_new_connections: Some(ROOM),
        ..port_filter(port)
    })
    .unwrap();
    // Opened one after the other and held open: each end takes a place as its connection
    // opens (the client at connect, the server's at the handshake's end).
    drop(connected_pairs(&listener, PAIRS));
    settle();
    let r = probe.finish().unwrap();
    let tracked = ROOM as u64 / 2;
    assert_eq!(
        r.sockets_untracked,
        2 * PAIRS as u64 - ROOM as u64,
        "{r:#?}"
    );
    assert_eq!(r.connections.count, tracked, "{r:#?}");
    assert_eq!(r.accepts.count, tracked);
    assert_eq!(r.lifetimes.count, 2 * tracked);
}

/// Refused before anything is loaded, also on a machine without BPF.
#[test]
fn no_room_for_new_connections_is_refused() {
    let err = Probe::start(&ProbeFilter {
        max_new_connections: Some(0),
        ..ProbeFilter::default()
    })
    .err()
    .unwrap();
    assert!(matches!(err, ProbeError::NoNewConnections), "{err}");
}

#[test]
fn traffic_on_other_ports_is_not_counted() {
    if !bpf_required() {
        return;
    }
    let (watched, watched_server) = server(5, REQUEST, ANSWER);
    let (other, other_server) = server(7, REQUEST, ANSWER);
    let probe = Probe::start(&port_filter(watched)).unwrap();
    clients(other, 7);
    clients(watched, 5);
    watched_server.join().unwrap();
    other_server.join().unwrap();
    settle();
    let r = probe.finish().unwrap();
    assert_eq!(r.connections.count, 5, "{r:#?}");
    assert_eq!(r.accepts.count, 5);
    assert_eq!(r.lifetimes.count, 10);
    assert_eq!(r.server_time_us.count, 5);
    assert_eq!(r.lifetimes.bytes_sent, (5 * (REQUEST + ANSWER)) as u64);
}

#[test]
fn the_pid_filter_counts_only_that_process() {
    if !bpf_required() {
        return;
    }
    const N: usize = 3;
    let (port, handle) = server(N, 0, 0);
    // Connects when told to (a line on stdin), so the probes can be given its pid first.
    let mut bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "read go; for i in $(seq {N}); do exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; done"
        ))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut bystander = Command::new("sleep").arg("30").spawn().unwrap();
    let filter = |pid: u32| ProbeFilter {
        ports: vec![port],
        pid: Some(pid),
        ..ProbeFilter::default()
    };
    let with_bash = Probe::start(&filter(bash.id())).unwrap();
    let with_bystander = Probe::start(&filter(bystander.id())).unwrap();
    bash.stdin.take().unwrap().write_all(b"go\n").unwrap();
    assert!(bash.wait().unwrap().success());
    handle.join().unwrap();
    settle();
    let counted = with_bash.finish().unwrap();
    let ignored = with_bystander.finish().unwrap();
    let _ = bystander.kill();
    let _ = bystander.wait();

    assert_eq!(counted.connections.count, N as u64, "{counted:#?}");
    assert_eq!(counted.lifetimes.active, N as u64);
    // The accepting ends belong to this test's process, not to bash.
    assert_eq!(counted.accepts.count, 0);
    assert_eq!(counted.lifetimes.passive, 0);
    assert_eq!(counted.filter.pid, Some(bash.id()));

    assert_eq!(ignored.connections.count, 0, "{ignored:#?}");
    assert_eq!(ignored.accepts.count, 0);
    assert_eq!(ignored.lifetimes.count, 0);
}

/// bpftrace's view of the same connects, as an independent check of the kernel side: its own
/// compiler, its own maps, the same tracepoint.
#[test]
fn connect_latency_agrees_with_bpftrace() {
    if !bpf_required() {
        return;
    }
    const N: usize = 20;
    let (port, handle) = server(N, REQUEST, ANSWER);
    let script = format!(
        "tracepoint:sock:inet_sock_set_state \
           /args->protocol == 6 && args->newstate == 2 && args->dport == {port}/ \
           {{ @start[args->skaddr] = nsecs; }}
         tracepoint:sock:inet_sock_set_state \
           /args->protocol == 6 && args->oldstate == 2 && args->newstate == 1 && @start[args->skaddr]/ \
           {{ printf(\"connect_ns %d\\n\", nsecs - @start[args->skaddr]); delete(@start[args->skaddr]); }}"
    );
    let mut bpftrace = Command::new("bpftrace")
        .args(["-B", "line", "-e", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bpftrace is missing: run scripts/bpf.sh");
    let (lines, received) = mpsc::channel();
    let stdout = bpftrace.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) if line.starts_with("Attaching") => break,
            Ok(_) => {}
            Err(e) => panic!("bpftrace did not attach within 60 s: {e}"),
        }
    }
    // bpftrace attaches right after printing that line.
    std::thread::sleep(Duration::from_millis(500));

    let probe = Probe::start(&port_filter(port)).unwrap();
    clients(port, N);
    handle.join().unwrap();
    settle();
    let r = probe.finish().unwrap();
    let status = Command::new("kill")
        .args(["-INT", &bpftrace.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let _ = bpftrace.wait();
    reader.join().unwrap();
    let mut theirs: Vec<u64> = received
        .try_iter()
        .filter_map(|l| {
            l.strip_prefix("connect_ns ")
                .and_then(|v| v.trim().parse().ok())
        })
        .collect();
    theirs.sort_unstable();

    assert_eq!(theirs.len(), N, "bpftrace saw {theirs:?}");
    assert_eq!(r.connections.count, N as u64);
    let their_p50 = theirs[N / 2] as f64 / 1000.0;
    let our_p50 = r.connections.latency_us.p50 as f64;
    eprintln!("connect p50: probe {our_p50} µs, bpftrace {their_p50:.1} µs");
    let gap = (our_p50 - their_p50).abs();
    assert!(
        gap <= 20.0 || gap <= 0.5 * our_p50.max(their_p50),
        "medians disagree: probe {our_p50} µs, bpftrace {their_p50} µs ({theirs:?})"
    );
}

#[test]
fn a_verifier_rejection_names_the_program_and_quotes_the_verifier() {
    if !bpf_required() {
        return;
    }
    let err = meshbench_probe::load_rejected_for_test().unwrap_err();
    let message = err.to_string();
    eprintln!("{message}");
    assert!(matches!(err, ProbeError::Load { .. }), "{err:?}");
    assert!(message.contains("`unbounded_read`"), "{message}");
    assert!(
        message.contains("R0") || message.contains("R1") || message.contains("invalid access"),
        "no verifier text in: {message}"
    );
    assert!(
        message.contains("unbounded memory access") || message.contains("invalid access"),
        "{message}"
    );
}

/// Set in the environment of the unprivileged copy of this test binary.
const UNPRIVILEGED_CHILD: &str = "MESHBENCH_PROBE_UNPRIVILEGED_CHILD";

#[test]
fn without_root_the_error_says_so() {
    // Runs this binary again as nobody, for the test below only.
    let exe = std::env::current_exe().unwrap();
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args([
            "--exact",
            "unprivileged_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(UNPRIVILEGED_CHILD, "1")
        .output()
        .expect("setpriv (util-linux) is missing");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "the unprivileged run failed:\n{text}"
    );
    assert!(
        text.contains("1 passed"),
        "the child test did not run:\n{text}"
    );
    assert!(text.contains("root") && text.contains("CAP_BPF"), "{text}");
}

#[test]
fn unprivileged_child() {
    if std::env::var_os(UNPRIVILEGED_CHILD).is_none() {
        return; // only meaningful as the child of without_root_the_error_says_so
    }
    let err = Probe::start(&ProbeFilter::default()).unwrap_err();
    println!("probe error as nobody: {err}");
    assert!(
        matches!(err, ProbeError::NotRoot { euid: 65534 }),
        "{err:?}"
    );
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup/unified` on hybrid hosts, `/sys/fs/cgroup`
/// on unified ones).
fn cgroup2_mount() -> std::path::PathBuf {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| std::path::PathBuf::from(f[1]))
        .expect("no cgroup v2 mount in /proc/mounts: the cgroup filter cannot be tested")
}

/// A bash that moves itself into cgroup `dir`, then, once told `go` on its stdin, makes `n`
/// connections to `port`.
fn connecting_from(dir: &std::path::Path, port: u16, n: usize) -> std::process::Child {
    Command::new("bash")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs || exit 1; read go; \
             for i in $(seq {n}); do exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-; done",
            dir.display()
        ))
        .stdin(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn the_cgroup_filter_counts_only_that_cgroup() {
    if !bpf_required() {
        return;
    }
    const N: usize = 3;
    let root = cgroup2_mount();
    let dir = root.join(format!("meshbench-probe-test-{}", std::process::id()));
    std::fs::create_dir(&dir).unwrap();
    let (port, handle) = server(N, 0, 0);
    let mut bash = connecting_from(&dir, port, N);
    let filter = |cgroup: &std::path::Path| ProbeFilter {
        ports: vec![port],
        cgroup: Some(cgroup.to_owned()),
        ..ProbeFilter::default()
    };
    let in_child = Probe::start(&filter(&dir)).unwrap();
    // This test process (the accepting side) stays in the root cgroup.
    let in_root = Probe::start(&filter(&root)).unwrap();
    bash.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = bash.wait().unwrap();
    handle.join().unwrap();
    settle();
    let child = in_child.finish().unwrap();
    let rooted = in_root.finish().unwrap();
    let _ = std::fs::remove_dir(&dir);
    assert!(status.success(), "bash could not join {}", dir.display());

    assert_eq!(child.connections.count, N as u64, "{child:#?}");
    assert_eq!(child.accepts.count, 0);
    assert_eq!(
        (child.lifetimes.active, child.lifetimes.passive),
        (N as u64, 0)
    );
    assert!(child.filter.cgroup_id.is_some());

    assert_eq!(rooted.connections.count, 0, "{rooted:#?}");
    assert_eq!(rooted.accepts.count, N as u64);
    assert_eq!(
        (rooted.lifetimes.active, rooted.lifetimes.passive),
        (0, N as u64)
    );
}

#[test]
fn the_cgroup_tree_filter_counts_a_pods_containers() {
    if !bpf_required() {
        return;
    }
    const N: usize = 3;
    let root = cgroup2_mount();
    // Shaped as the kubelet's systemd driver makes them: a pod's slice, its container's
    // scope below it; the processes live in the container's.
    let uid = "4f1c2b7e-9d3a-4e21-8b6f-0c5a7d9e1f23";
    let pod = root
        .join(format!("meshbench-test-{}.slice", std::process::id()))
        .join(format!(
            "kubepods-burstable-pod{}.slice",
            uid.replace('-', "_")
        ));
    let container = pod.join("cri-containerd-0123abcd.scope");
    std::fs::create_dir_all(&container).unwrap();
    assert_eq!(
        meshbench_probe::find_pod_cgroup(&root, uid).as_deref(),
        Some(pod.as_path())
    );
    let (port, handle) = server(N, 0, 0);
    let mut bash = connecting_from(&container, port, N);
    let filter = |tree: &std::path::Path| ProbeFilter {
        ports: vec![port],
        cgroup_trees: vec![tree.to_owned()],
        ..ProbeFilter::default()
    };
    let in_pod = Probe::start(&filter(&pod)).unwrap();
    let missing = Probe::start(&filter(&container.with_file_name("other.scope"))).unwrap_err();
    assert!(matches!(missing, ProbeError::Cgroup { .. }), "{missing:?}");
    let sibling = pod.with_file_name("kubepods-besteffort-podother.slice");
    std::fs::create_dir_all(&sibling).unwrap();
    let in_sibling = Probe::start(&filter(&sibling)).unwrap();
    bash.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let status = bash.wait().unwrap();
    handle.join().unwrap();
    settle();
    let counted = in_pod.finish().unwrap();
    let other = in_sibling.finish().unwrap();
    let _ = std::fs::remove_dir(&container);
    let _ = std::fs::remove_dir(&pod);
    let _ = std::fs::remove_dir(&sibling);
    let _ = std::fs::remove_dir(pod.parent().unwrap());
    assert!(
        status.success(),
        "bash could not join {}",
        container.display()
    );
    assert_eq!(counted.connections.count, N as u64, "{counted:#?}");
    assert_eq!(
        counted.accepts.count, 0,
        "the accepting side is not in the pod"
    );
    assert_eq!(counted.filter.cgroup_trees, vec![pod.display().to_string()]);
    assert_eq!(other.connections.count, 0, "{other:#?}");

    let refused = Probe::start(&filter(&root)).unwrap_err();
    assert!(refused.to_string().contains("cgroup"), "{refused}");
}
