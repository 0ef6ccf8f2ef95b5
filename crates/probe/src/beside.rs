//! The probe beside a benchmark: on a thread of its own (a loaded probe stays on the thread
//! that loaded it), driven by the benchmark's clock, so its timeline's seconds are the
//! benchmark's seconds.

use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::{ProbeError, Result};
use crate::probe::Probe;
use crate::report::ProbeReport;
use crate::ProbeFilter;

enum Command {
    Restart,
    Second,
    Finish,
}

/// A probe attached beside a benchmark. Measurement runs from [`ProbeBeside::start`] until
/// [`ProbeBeside::restart`] (the end of a warm-up) starts it afresh; each
/// [`ProbeBeside::second`] closes a second of the timeline.
#[derive(Debug)]
pub struct ProbeBeside {
    commands: mpsc::Sender<Command>,
    thread: JoinHandle<Result<ProbeReport>>,
}

impl ProbeBeside {
    /// Loads and attaches the probe with `filter`; returns once it is attached, or why not.
    pub fn start(filter: ProbeFilter) -> Result<ProbeBeside> {
        let (commands, inbox) = mpsc::channel::<Command>();
        let (ready_tx, ready) = mpsc::channel::<Result<()>>();
        let thread = std::thread::Builder::new()
            .name("meshbench-probe".into())
            .spawn(move || {
                let mut probe = match Probe::start(&filter) {
                    Ok(probe) => {
                        let _ = ready_tx.send(Ok(()));
                        probe
                    }
                    Err(e) => {
                        let reason = e.to_string();
                        let _ = ready_tx.send(Err(e));
                        return Err(ProbeError::Thread(reason));
                    }
                };
                // A benchmark that goes away without saying so still ends the probe.
                while let Ok(command) = inbox.recv() {
                    match command {
                        Command::Restart => {
                            probe.restart()?;
                        }
                        Command::Second => {
                            probe.second()?;
                        }
                        Command::Finish => break,
                    }
                }
                probe.finish()
            })
            .map_err(|e| ProbeError::Thread(format!("cannot start the probe's thread: {e}")))?;
        match ready.recv() {
            Ok(Ok(())) => Ok(ProbeBeside { commands, thread }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => Err(ProbeError::Thread(
                "the probe's thread ended before attaching".into(),
            )),
        }
    }

    /// Follows the benchmark's clock: the end of its second -1 (the warm-up's last) starts
    /// the measurement afresh, and the end of each measured second closes one of the
    /// timeline's, so the two timelines have the same seconds.
    pub fn engine_second(&self, second: i64) {
        match second {
            -1 => self.restart(),
            s if s >= 0 => self.second(),
            _ => {}
        }
    }

    /// Starts measuring afresh from now: what came before (a warm-up) is left out.
    pub fn restart(&self) {
        let _ = self.commands.send(Command::Restart);
    }

    /// Closes the current second of the timeline.
    pub fn second(&self) {
        let _ = self.commands.send(Command::Second);
    }

    /// Detaches and returns what was measured since the start or the last restart, its
    /// timeline fitted to the benchmark's `seconds` (see [`ProbeReport::fit_timeline`]).
    pub fn finish(self, seconds: usize) -> Result<ProbeReport> {
        let _ = self.commands.send(Command::Finish);
        let mut report = self
            .thread
            .join()
            .map_err(|_| ProbeError::Thread("the probe's thread panicked".into()))??;
        report.fit_timeline(seconds);
        Ok(report)
    }
}
