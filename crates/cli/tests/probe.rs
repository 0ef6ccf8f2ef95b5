//! `meshbench probe` end to end: the binary, real loopback traffic, the report on stdout.
//! Needs root, kernel BTF and tracefs like the probe crate's tests; fails loudly without them
//! unless MESHBENCH_NO_BPF=1 declares the machine BPF-less.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};

use serde_json::Value;

fn bpf_required() -> bool {
    if std::env::var("MESHBENCH_NO_BPF").as_deref() == Ok("1") {
        eprintln!("BPF tests skipped: MESHBENCH_NO_BPF=1 declares this machine BPF-less");
        return false;
    }
    if let Err(e) = meshbench_probe::availability() {
        panic!("the eBPF probe cannot run here: {e}");
    }
    true
}

#[test]
fn latency_probe_reports_loopback_connections_as_json() {
    if !bpf_required() {
        return;
    }
    const N: usize = 10;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        for _ in 0..N {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 64];
            stream.read_exact(&mut request).unwrap();
            stream.write_all(&[b'a'; 32]).unwrap();
            let mut rest = Vec::new();
            stream.read_to_end(&mut rest).unwrap();
        }
    });
    // The seed's spelling of the command, with the alias.
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshbench"))
        .args(["latency-probe", "--duration", "3", "--output", "json"])
        .args(["--port", &port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Traffic once the probe reports its first second (it is attached by then).
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("connects"), "{first}");
    for _ in 0..N {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(&[b'q'; 64]).unwrap();
        let mut answer = [0u8; 32];
        stream.read_exact(&mut answer).unwrap();
    }
    server.join().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{rest:?}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema"], "meshbench.probe.v1");
    assert_eq!(report["filter"]["ports"][0], port);
    assert_eq!(report["connections"]["count"], N as u64, "{report:#}");
    assert_eq!(report["accepts"]["count"], N as u64);
    assert_eq!(report["lifetimes"]["count"], 2 * N as u64);
    assert_eq!(report["lifetimes"]["bytes_sent"], (N * 96) as u64);
    assert!(report["timeline"].as_array().unwrap().len() >= 3);
}

#[test]
fn without_root_the_probe_exits_with_the_reason() {
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_meshbench"))
        .args(["probe", "--duration", "1"])
        .output()
        .expect("setpriv (util-linux) is missing");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(69), "{stderr}");
    assert!(
        stderr.contains("must run as root") && stderr.contains("CAP_BPF"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());
}
