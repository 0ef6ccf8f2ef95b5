//! Child processes that cannot outlive their test, with their output in a log file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed and reaped on drop; stdout and stderr go to a log file.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    label: String,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd`, logging to `<dir>/<label>-<unique>.log`.
    pub fn spawn(dir: &Path, label: &str, mut cmd: Command) -> Proc {
        let log = dir.join(format!("{label}-{}.log", crate::unique()));
        let out = File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {:?} for {label}: {e}", cmd.get_program()));
        Proc {
            child,
            label: label.to_string(),
            log,
        }
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether it has not exited yet.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills it (SIGKILL) and reaps it.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Asks it to stop (SIGTERM), without waiting.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill(1): {e}"));
        assert!(status.success(), "kill -TERM {} failed", self.child.id());
    }

    /// Waits up to `timeout` for it to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything it has written so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first line of its output containing `needle`, waiting up to `timeout` for it;
    /// panics, showing the output, when it exits or the time is up first.
    pub fn wait_for_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let output = self.output();
            // Only whole lines: the last one may still be being written.
            if let Some(line) = output
                .split_inclusive('\n')
                .find(|l| l.ends_with('\n') && l.contains(needle))
            {
                return line.trim_end().to_string();
            }
            assert!(
                self.is_running(),
                "{} exited before it wrote {needle:?}\n{}",
                self.label,
                self.tail()
            );
            assert!(
                Instant::now() < deadline,
                "{} did not write {needle:?} within {timeout:?}\n{}",
                self.label,
                self.tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of its output, labelled, for failure messages.
    pub fn tail(&self) -> String {
        let text = self.output();
        let start = text.len().saturating_sub(4000);
        let start = (start..text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        format!("--- {} output ---\n{}", self.label, &text[start..])
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
