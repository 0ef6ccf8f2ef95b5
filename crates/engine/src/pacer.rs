//! Where each load thread gets its next slot: "now" in the closed model, the schedule's next
//! send time in the open model. All times are nanoseconds from the run's base instant.

use std::cell::Cell;

use meshbench_core::RateSchedule;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::clock::{secs_to_nanos, Nanos};
use crate::driver::{Exchange, Failure};
use crate::recorder::Recorder;

/// A slot handed to a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slot {
    /// When the request should go out.
    pub at: Nanos,
    /// Index in the request mix.
    pub seq: u64,
    /// False during warm-up.
    pub measured: bool,
}

/// The timing facts every thread shares.
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// Load (warm-up first) starts here; threads use the time before it to start up.
    pub load_start: Nanos,
    /// Measurement starts here (warm-up before it).
    pub measure_start: Nanos,
    /// No new request is started at or after this point; `None` runs until `quota` is met.
    pub deadline: Option<Nanos>,
}

pub(crate) enum Pacer {
    Closed {
        timing: Timing,
        /// Measured requests this thread may still start, when bounded by count.
        quota: Cell<Option<u64>>,
        seq: Cell<u64>,
    },
    Open {
        timing: Timing,
        schedule: RateSchedule,
        /// Slots in warm-up (at the schedule's first rate), across all threads.
        warmup_slots: u64,
        warmup_rate: f64,
        /// Measured slots allowed across all threads, when bounded by count.
        max_slots: Option<u64>,
        /// Global slot `k` belongs to connection `k % connections.total`, so every thread gets
        /// a share of the rate in proportion to the connections it owns.
        connections: Connections,
        /// Slots this thread has handed out (the shared cursor).
        next: Cell<u64>,
        /// Per-connection cursors when each connection keeps its own schedule.
        per_connection: Option<Vec<Cell<u64>>>,
        jitter: f64,
        rng: std::cell::RefCell<SmallRng>,
    },
}

/// The connections one thread owns, out of all the run's connections.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Connections {
    /// Global index of this thread's first connection.
    pub first: u64,
    /// How many this thread owns (at least one).
    pub owned: u64,
    /// All connections of the run.
    pub total: u64,
}

impl Connections {
    /// The global index of the `round`-th slot of this thread's connection `offset`.
    #[inline]
    fn global(&self, round: u64, offset: u64) -> u64 {
        round * self.total + self.first + offset
    }
}

impl Pacer {
    pub(crate) fn closed(timing: Timing, quota: Option<u64>) -> Self {
        Pacer::Closed {
            timing,
            quota: Cell::new(quota),
            seq: Cell::new(0),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open(
        timing: Timing,
        schedule: RateSchedule,
        warmup_s: f64,
        max_slots: Option<u64>,
        connections: Connections,
        per_connection: bool,
        jitter: f64,
        seed: u64,
    ) -> Self {
        let warmup_rate = schedule.rate_at(0.0);
        let owned = connections.owned.max(1);
        let connections = Connections {
            owned,
            ..connections
        };
        Pacer::Open {
            timing,
            warmup_slots: (warmup_s * warmup_rate).floor() as u64,
            warmup_rate,
            schedule,
            max_slots,
            connections,
            next: Cell::new(0),
            per_connection: per_connection.then(|| (0..owned).map(|_| Cell::new(0)).collect()),
            jitter,
            rng: std::cell::RefCell::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// The next slot for a lane that is free at `now`, or `None` when this thread is done.
    #[inline]
    pub(crate) fn next(&self, now: Nanos) -> Option<Slot> {
        self.next_on(now, 0)
    }

    /// The next slot for a free lane on this thread's connection `connection` (counted from
    /// the thread's first). Only a per-connection schedule tells connections apart: there
    /// each connection takes its own slots (`connection, connection + total, …`) at the rate
    /// divided evenly; otherwise any free lane takes the thread's next slot.
    #[inline]
    pub(crate) fn next_on(&self, now: Nanos, connection: usize) -> Option<Slot> {
        match self {
            Pacer::Closed { timing, quota, seq } => {
                if timing.deadline.is_some_and(|d| now >= d) {
                    return None;
                }
                let now = now.max(timing.load_start);
                let measured = now >= timing.measure_start;
                if measured {
                    match quota.get() {
                        Some(0) => return None,
                        Some(n) => quota.set(Some(n - 1)),
                        None => {}
                    }
                }
                let s = seq.get();
                seq.set(s + 1);
                Some(Slot {
                    at: now,
                    seq: s,
                    measured,
                })
            }
            Pacer::Open {
                timing,
                schedule,
                warmup_slots,
                warmup_rate,
                max_slots,
                connections,
                next,
                per_connection,
                jitter,
                rng,
            } => {
                // A connection's own cursor counts its rounds; the shared one counts slots.
                let (cursor, own) = match per_connection {
                    Some(cursors) => {
                        let i = connection % cursors.len();
                        (&cursors[i], Some(i as u64))
                    }
                    None => (next, None),
                };
                let local = cursor.get();
                let global = match own {
                    Some(offset) => connections.global(local, offset),
                    None => {
                        connections.global(local / connections.owned, local % connections.owned)
                    }
                };
                let (offset_s, measured) = if global < *warmup_slots {
                    let warmup_s = *warmup_slots as f64 / warmup_rate;
                    (global as f64 / warmup_rate - warmup_s, false)
                } else {
                    let i = global - warmup_slots;
                    if max_slots.is_some_and(|m| i >= m) {
                        return None;
                    }
                    (schedule.offset_of(i)?, true)
                };
                let mut at_s = offset_s;
                if *jitter > 0.0 {
                    let gap = 1.0 / schedule.rate_at(offset_s.max(0.0));
                    let u: f64 = rng.borrow_mut().random::<f64>() - 0.5;
                    at_s += u * jitter * gap;
                }
                let at = (timing.measure_start as i64 + secs_to_nanos_signed(at_s)).max(0) as Nanos;
                if measured && timing.deadline.is_some_and(|d| at >= d) {
                    return None;
                }
                cursor.set(local + 1);
                Some(Slot {
                    at,
                    seq: global,
                    measured,
                })
            }
        }
    }

    /// Records an exchange of `slot`, sent at `sent` and ended at `done`. The open model's
    /// latency counts from the slot's intended time; the closed model has no schedule, so
    /// latency is the service time there, and only exchanges ending before the deadline
    /// count (as wrk counts). Every scheduled open-model request counts, however late.
    #[inline]
    pub(crate) fn record(
        &self,
        recorder: &mut Recorder,
        slot: Slot,
        sent: Nanos,
        done: Nanos,
        outcome: &Result<Exchange, Failure>,
    ) {
        let intended = match self {
            Pacer::Closed { timing, .. } => {
                if timing.deadline.is_some_and(|d| done > d) {
                    return;
                }
                sent
            }
            Pacer::Open { .. } => {
                if slot.measured {
                    recorder.record_send_lag(sent.saturating_sub(slot.at));
                }
                slot.at
            }
        };
        recorder.record(
            outcome,
            done.saturating_sub(intended),
            done.saturating_sub(sent),
            done,
            slot.measured,
        );
    }
}

fn secs_to_nanos_signed(s: f64) -> i64 {
    if s >= 0.0 {
        secs_to_nanos(s) as i64
    } else {
        -(secs_to_nanos(-s) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn open(thread: u64, threads: u64, warmup_s: f64, max: Option<u64>) -> Pacer {
        open_on(
            Connections {
                first: thread,
                owned: 1,
                total: threads,
            },
            false,
            warmup_s,
            max,
        )
    }

    fn open_on(
        connections: Connections,
        per_connection: bool,
        warmup_s: f64,
        max: Option<u64>,
    ) -> Pacer {
        Pacer::open(
            Timing {
                load_start: 0,
                measure_start: 2 * SEC,
                deadline: Some(3 * SEC),
            },
            RateSchedule::Constant { rps: 10.0 },
            warmup_s,
            max,
            connections,
            per_connection,
            0.0,
            1,
        )
    }

    #[test]
    fn threads_get_the_rate_in_proportion_to_their_connections() {
        // 3 connections on 2 threads: the first owns one, the second two.
        let a = open_on(
            Connections {
                first: 0,
                owned: 1,
                total: 3,
            },
            false,
            0.0,
            None,
        );
        let b = open_on(
            Connections {
                first: 1,
                owned: 2,
                total: 3,
            },
            false,
            0.0,
            None,
        );
        let a: Vec<_> = std::iter::from_fn(|| a.next(0)).map(|s| s.seq).collect();
        let b: Vec<_> = std::iter::from_fn(|| b.next(0)).map(|s| s.seq).collect();
        assert_eq!(a, [0, 3, 6, 9]);
        assert_eq!(b, [1, 2, 4, 5, 7, 8]);
    }

    #[test]
    fn per_connection_schedules_give_each_connection_its_own_slots() {
        let p = open_on(
            Connections {
                first: 1,
                owned: 2,
                total: 3,
            },
            true,
            0.0,
            None,
        );
        // Connection 1 (local 0) takes its slots whatever connection 2 does.
        let first: Vec<_> = std::iter::from_fn(|| p.next_on(0, 0))
            .map(|s| s.seq)
            .collect();
        assert_eq!(first, [1, 4, 7]);
        let second: Vec<_> = std::iter::from_fn(|| p.next_on(0, 1))
            .map(|s| s.seq)
            .collect();
        assert_eq!(second, [2, 5, 8]);
        // 10/s in all over 3 connections: each connection's slots are 0.3 s apart.
        let p = open_on(
            Connections {
                first: 0,
                owned: 3,
                total: 3,
            },
            true,
            0.0,
            None,
        );
        let at: Vec<_> = std::iter::from_fn(|| p.next_on(0, 2))
            .map(|s| s.at)
            .collect();
        assert_eq!(
            at,
            [
                2 * SEC + 2 * SEC / 10,
                2 * SEC + 5 * SEC / 10,
                2 * SEC + 8 * SEC / 10
            ]
        );
    }

    #[test]
    fn open_slots_follow_the_schedule_and_split_across_threads() {
        let p0 = open(0, 2, 0.0, None);
        let p1 = open(1, 2, 0.0, None);
        let a: Vec<_> = std::iter::from_fn(|| p0.next(0)).map(|s| s.at).collect();
        let b: Vec<_> = std::iter::from_fn(|| p1.next(0)).map(|s| s.at).collect();
        assert_eq!(
            a,
            (0..5)
                .map(|i| 2 * SEC + i * 2 * SEC / 10)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            b,
            (0..5)
                .map(|i| 2 * SEC + (2 * i + 1) * SEC / 10)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn warmup_slots_come_first_and_are_not_measured() {
        let p = open(0, 1, 1.0, None);
        let slots: Vec<_> = std::iter::from_fn(|| p.next(0)).collect();
        assert_eq!(slots.len(), 20);
        assert!(slots[..10].iter().all(|s| !s.measured && s.at < 2 * SEC));
        assert_eq!(slots[0].at, SEC);
        assert!(slots[10..].iter().all(|s| s.measured));
        assert_eq!(slots[10].at, 2 * SEC);
    }

    #[test]
    fn closed_slots_wait_for_the_load_to_start() {
        let c = Pacer::closed(
            Timing {
                load_start: 100,
                measure_start: 100,
                deadline: None,
            },
            None,
        );
        let slot = c.next(5).unwrap();
        assert_eq!(slot.at, 100);
        assert!(slot.measured);
    }

    #[test]
    fn count_bound_stops_open_and_closed() {
        let p = open(0, 1, 0.0, Some(3));
        assert_eq!(std::iter::from_fn(|| p.next(0)).count(), 3);
        let c = Pacer::closed(
            Timing {
                load_start: 0,
                measure_start: 0,
                deadline: None,
            },
            Some(4),
        );
        assert_eq!(std::iter::from_fn(|| c.next(5)).count(), 4);
        let d = Pacer::closed(
            Timing {
                load_start: 0,
                measure_start: 0,
                deadline: Some(10),
            },
            None,
        );
        assert!(d.next(9).is_some());
        assert!(d.next(10).is_none());
    }
}
