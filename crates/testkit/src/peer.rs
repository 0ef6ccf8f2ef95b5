//! Third-party servers (nghttpd, Python scripts) as child processes, told to listen on port
//! 0; the kit finds the port they got in `/proc` (Linux), so no port is raced for.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server in a child process, killed (and reaped) on drop.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    /// Where it listens, on 127.0.0.1 (or every IPv4 address).
    pub port: u16,
}

impl Peer {
    /// Runs `program args…`, which must listen on one IPv4 port the system chose, and waits
    /// until it does; `hint` says how to install the program when it is missing or does not
    /// come up.
    pub fn spawn(program: &str, args: &[&str], hint: &str) -> Peer {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program} ({e}): {hint}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ports = listening_ports(child.id());
            if let [port] = ports.iter().copied().collect::<Vec<_>>()[..] {
                return Peer { child, port };
            }
            assert!(
                ports.len() <= 1,
                "{program} listens on several IPv4 ports {ports:?}: which one to use?"
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{program} exited ({status}) before it listened: {hint}");
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{program} did not listen within 20 s: {hint}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A Python script as the server; it must listen on port 0 of 127.0.0.1.
    pub fn python(script: &str, hint: &str) -> Peer {
        Peer::spawn("python3", &["-c", script], hint)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The TCP ports process `pid` listens on for IPv4: its socket inodes (`/proc/<pid>/fd`)
/// matched with the listening sockets of its network namespace, IPv4 ones
/// (`/proc/<pid>/net/tcp`) and IPv6 ones bound to a v4-mapped address (`/proc/<pid>/net/tcp6`,
/// as gRPC's C core binds `127.0.0.1`). A separate IPv6-only listener (nghttpd opens one
/// beside its IPv4 one, on another port) is left out.
pub fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return BTreeSet::new();
    };
    let inodes: BTreeSet<String> = fds
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            let Some((ip, port)) = local.rsplit_once(':') else {
                continue;
            };
            // ::ffff:a.b.c.d, as four host-order words.
            let ipv4 = ip.len() == 8 || ip.starts_with("0000000000000000FFFF0000");
            if *state == "0A" && ipv4 && inodes.contains(*inode) {
                if let Ok(port) = u16::from_str_radix(port, 16) {
                    ports.insert(port);
                }
            }
        }
    }
    ports
}
