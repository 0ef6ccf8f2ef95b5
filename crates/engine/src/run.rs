//! Running a spec: threads, lanes, the per-second timeline and the final result.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use meshbench_core::histogram::{encode_base64, merge, new_histogram, summarize};
use meshbench_core::result::{LoadgenInfo, TimelineEntry, RESULT_SCHEMA};
use meshbench_core::{BenchmarkResult, BenchmarkSpec, ErrorKind, LoadModel};
use time::OffsetDateTime;

use crate::clock::{secs_to_nanos, Clock, Nanos, NANOS_PER_SEC};
use crate::driver::Driver;
use crate::framed::FramedProtocol;
use crate::lane::{drive, ThreadState};
use crate::multiplexed::MultiplexedProtocol;
use crate::pacer::{Connections, Pacer, Timing};
use crate::reactor::framed::FramedLanes;
use crate::reactor::multiplexed::MultiplexedLanes;
use crate::reactor::{self, Lanes, ReactorPlan};
use crate::recorder::{IntervalReport, Recorder};
use crate::usage::{usage, Usage};
use crate::{Error, Result};

/// Time given to threads to start and connect before the first scheduled request.
const LEAD: Duration = Duration::from_millis(20);
/// Longest wait for in-flight requests after the deadline before they are abandoned.
const MAX_DRAIN: Duration = Duration::from_secs(5);
/// A thread busier than this share of the run is treated as the bottleneck.
const BUSY_CPU_SHARE: f64 = 0.9;

/// Watches a run as it goes: progress and the per-second timeline.
pub trait Observer {
    /// Called about ten times a second: time since load started, and the planned total
    /// (warm-up included) when the run is bounded by time.
    fn tick(&mut self, _elapsed: Duration, _total: Option<Duration>) {}

    /// Called once for every finished second with every thread's interval merged. `second`
    /// is relative to the start of measurement, negative during warm-up.
    fn second(&mut self, _second: i64, _entry: &TimelineEntry, _latency: &Histogram<u64>) {}
}

/// An observer that watches nothing.
impl Observer for () {}

/// Stops a run early (Ctrl-C, a cancelled job). The run still reports what it measured.
#[derive(Debug, Clone, Default)]
pub struct StopHandle(Arc<AtomicBool>);

impl StopHandle {
    /// A handle that has not been triggered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every lane to stop after its current request.
    pub fn stop(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`StopHandle::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a run produced: the result and the full histograms behind it.
#[derive(Debug)]
pub struct RunOutput {
    /// The result document.
    pub result: BenchmarkResult,
    /// Latency histogram, µs.
    pub latency: Histogram<u64>,
    /// Service-time histogram, µs.
    pub service: Histogram<u64>,
}

struct Plan {
    clock: Clock,
    timing: Timing,
    threads: usize,
    warmup_s: f64,
    duration_s: Option<f64>,
    request_timeout: Nanos,
    drain: Nanos,
}

/// Runs `spec` through `driver` on per-thread async runtimes, blocking the calling thread
/// until the run is over. For TLS, HTTP/2 and anything built on a general library.
pub fn run<D: Driver>(
    spec: &BenchmarkSpec,
    driver: Arc<D>,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput> {
    spec.validate()?;
    preflight(spec, driver.as_ref())?;
    execute(spec, stop, observer, |thread, spec, plan, stop, tx| {
        let driver = Arc::clone(&driver);
        std::thread::Builder::new()
            .name(format!("meshbench-load-{thread}"))
            .spawn(move || load_thread(thread, &spec, driver, &plan, stop, tx))
    })
}

/// Runs `spec` on the engine's own edge-triggered epoll loop, one per thread: the lean path
/// for protocols a [`FramedProtocol`] describes (plain HTTP/1.1). Blocks until the run is over.
pub fn run_framed<P: FramedProtocol + Driver>(
    spec: &BenchmarkSpec,
    protocol: Arc<P>,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput> {
    run_on_reactor(spec, protocol, stop, observer, |protocol, spec, plan| {
        // The open model times responses by kernel receive timestamps.
        let open = matches!(spec.model, LoadModel::Open { .. });
        FramedLanes::new(protocol, plan.connections, open)
    })
}

/// Runs `spec` on the engine's own epoll loop with `streams` multiplexed lanes on every
/// connection: the lean path for protocols a [`MultiplexedProtocol`] describes (HTTP/2 and
/// gRPC). Blocks until the run is over.
pub fn run_multiplexed<P: MultiplexedProtocol + Driver>(
    spec: &BenchmarkSpec,
    protocol: Arc<P>,
    stop: StopHandle,
    observer: &mut dyn Observer,
) -> Result<RunOutput> {
    run_on_reactor(spec, protocol, stop, observer, |protocol, spec, plan| {
        MultiplexedLanes::new(protocol, plan.connections, spec.streams as usize)
    })
}

/// Makes one thread's lanes (and the list of its free ones) for its share of connections.
type LanesFor<P, L> = fn(Arc<P>, &BenchmarkSpec, &ReactorPlan) -> (L, Vec<usize>);

/// The reactor backends' shared part: a preflight, then one thread per `spec.threads`, each
/// running the loop over the lanes `lanes` makes for its connections.
fn run_on_reactor<P: Driver, L: Lanes + 'static>(
    spec: &BenchmarkSpec,
    protocol: Arc<P>,
    stop: StopHandle,
    observer: &mut dyn Observer,
    lanes: LanesFor<P, L>,
) -> Result<RunOutput> {
    spec.validate()?;
    preflight(spec, protocol.as_ref())?;
    execute(spec, stop, observer, |thread, spec, plan, stop, tx| {
        let protocol = Arc::clone(&protocol);
        std::thread::Builder::new()
            .name(format!("meshbench-load-{thread}"))
            .spawn(move || {
                let (reactor_plan, pacer) = reactor_plan(thread, &spec, &plan);
                let (mut lanes, free) = lanes(protocol, &spec, &reactor_plan);
                reactor::run_thread(&mut lanes, free, &reactor_plan, pacer, &stop, &tx)
            })
    })
}

/// One reactor thread's share of the connections and its pacer.
fn reactor_plan(thread: usize, spec: &BenchmarkSpec, plan: &Plan) -> (ReactorPlan, Pacer) {
    let (first, last) = plan.connection_range(thread, spec.connections as usize);
    let reactor_plan = ReactorPlan {
        clock: plan.clock,
        measure_start: plan.timing.measure_start,
        give_up: plan.timing.deadline.map(|d| d + plan.drain),
        connect_timeout: secs_to_nanos(spec.connect_timeout_s),
        request_timeout: plan.request_timeout,
        connections: last - first,
        send_window: match &spec.model {
            LoadModel::Open { send_window_us, .. } => (send_window_us * 1_000.0) as Nanos,
            LoadModel::Closed => 0,
        },
    };
    (reactor_plan, pacer_for(thread, spec, plan))
}

type Spawned = std::io::Result<std::thread::JoinHandle<Result<Recorder>>>;

/// The part every backend shares: plan the timing, start the threads, build the timeline
/// while they run, merge what they recorded.
fn execute(
    spec: &BenchmarkSpec,
    stop: StopHandle,
    observer: &mut dyn Observer,
    mut spawn: impl FnMut(
        usize,
        BenchmarkSpec,
        Arc<Plan>,
        Arc<AtomicBool>,
        mpsc::Sender<IntervalReport>,
    ) -> Spawned,
) -> Result<RunOutput> {
    let threads = spec.threads as usize;
    let duration_s = spec.measured_duration_s();
    let request_timeout = Duration::from_secs_f64(spec.request_timeout_s);
    let measure_start = secs_to_nanos(LEAD.as_secs_f64() + spec.warmup_s);
    let plan = Arc::new(Plan {
        clock: Clock::new(),
        timing: Timing {
            load_start: secs_to_nanos(LEAD.as_secs_f64()),
            measure_start,
            deadline: duration_s.map(|d| measure_start + secs_to_nanos(d)),
        },
        threads,
        warmup_s: spec.warmup_s,
        duration_s,
        request_timeout: request_timeout.as_nanos() as Nanos,
        drain: request_timeout.min(MAX_DRAIN).as_nanos() as Nanos,
    });
    let wall_at_base = OffsetDateTime::now_utc();

    let (tx, rx) = mpsc::channel::<IntervalReport>();
    let mut handles = Vec::with_capacity(threads);
    for thread in 0..threads {
        let handle = spawn(
            thread,
            spec.clone(),
            Arc::clone(&plan),
            stop.0.clone(),
            tx.clone(),
        )
        .map_err(Error::Runtime)?;
        handles.push(handle);
    }
    drop(tx);

    let timeline = coordinate(&plan, spec, &rx, observer);
    let usage_start = timeline.usage_at_measure_start;

    let mut total = Recorder::new();
    for handle in handles {
        let recorder = handle
            .join()
            .map_err(|_| Error::Thread("a load thread panicked".into()))??;
        total.merge(&recorder);
    }
    let usage_end = usage();
    Ok(assemble(
        spec,
        &plan,
        stop.is_stopped(),
        wall_at_base,
        total,
        timeline.entries,
        usage_start,
        usage_end,
    ))
}

impl Plan {
    /// The connections thread `thread` owns: an even split, remainder spread over the first.
    fn connection_range(&self, thread: usize, connections: usize) -> (usize, usize) {
        (
            thread * connections / self.threads,
            (thread + 1) * connections / self.threads,
        )
    }
}

fn pacer_for(thread: usize, spec: &BenchmarkSpec, plan: &Plan) -> Pacer {
    let threads = plan.threads as u64;
    let (first, last) = plan.connection_range(thread, spec.connections as usize);
    match &spec.model {
        LoadModel::Closed => {
            let quota = spec
                .max_requests
                .map(|n| n / threads + u64::from((thread as u64) < n % threads));
            Pacer::closed(plan.timing.clone(), quota)
        }
        LoadModel::Open {
            schedule, jitter, ..
        } => Pacer::open(
            plan.timing.clone(),
            schedule.clone(),
            plan.warmup_s,
            spec.max_requests,
            Connections {
                first: first as u64,
                owned: (last - first) as u64,
                total: u64::from(spec.connections),
            },
            spec.paces_each_connection(),
            *jitter,
            0x6d65_7368 ^ thread as u64,
        ),
    }
}

fn preflight<D: Driver>(spec: &BenchmarkSpec, driver: &D) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let limit = Duration::from_secs_f64(spec.connect_timeout_s + spec.request_timeout_s);
    runtime.block_on(async {
        match tokio::time::timeout(limit, driver.preflight()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Unreachable(Box::new(e))),
            Err(_) => Err(Error::NoAnswer {
                seconds: limit.as_secs_f64(),
            }),
        }
    })
}

fn load_thread<D: Driver>(
    thread: usize,
    spec: &BenchmarkSpec,
    driver: Arc<D>,
    plan: &Plan,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<IntervalReport>,
) -> Result<Recorder> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let pacer = pacer_for(thread, spec, plan);
    let state = Rc::new(ThreadState {
        clock: plan.clock,
        pacer,
        recorder: std::cell::RefCell::new(Recorder::starting_at(plan.timing.measure_start)),
        stop,
        request_timeout: plan.request_timeout,
    });
    let (first, last) = plan.connection_range(thread, spec.connections as usize);
    let local = tokio::task::LocalSet::new();
    // The first second the ticker has not reported yet. The last interval carries that
    // label, not the second the lanes ended in: tokio's timer may not yet have woken the
    // ticker for a boundary the lanes ended just past, and that second's requests would
    // then be labelled as the next second's.
    let unreported = Rc::new(Cell::new(current_second(
        plan.clock.now(),
        plan.timing.measure_start,
    )));
    local.block_on(&runtime, async {
        let mut lanes = Vec::new();
        for connection in first..last {
            for session in driver.open(connection, spec.streams as usize) {
                lanes.push(tokio::task::spawn_local(drive(
                    session,
                    Rc::clone(&state),
                    connection - first,
                )));
            }
        }
        let ticker = tokio::task::spawn_local(tick_intervals(
            Rc::clone(&state),
            plan.timing.measure_start,
            Rc::clone(&unreported),
            tx.clone(),
        ));
        let all_lanes = async {
            for lane in lanes {
                let _ = lane.await;
            }
        };
        match plan.timing.deadline {
            Some(deadline) => {
                let give_up = plan.clock.tokio_instant(deadline + plan.drain);
                if tokio::time::timeout_at(give_up, all_lanes).await.is_err() {
                    // Abandon what is still in flight; lanes are dropped with the LocalSet.
                    state.stop.store(true, Ordering::Relaxed);
                }
            }
            None => all_lanes.await,
        }
        ticker.abort();
    });
    let mut recorder = state.recorder.borrow_mut();
    let _ = tx.send(recorder.take_interval(unreported.get()));
    Ok(std::mem::take(&mut *recorder))
}

/// The second (relative to measurement start) that contains `now`.
fn current_second(now: Nanos, measure_start: Nanos) -> i64 {
    (now as i64 - measure_start as i64).div_euclid(NANOS_PER_SEC as i64)
}

async fn tick_intervals(
    state: Rc<ThreadState>,
    measure_start: Nanos,
    unreported: Rc<Cell<i64>>,
    tx: mpsc::Sender<IntervalReport>,
) {
    loop {
        let second = unreported.get();
        let boundary = measure_start as i64 + (second + 1) * NANOS_PER_SEC as i64;
        tokio::time::sleep_until(state.clock.tokio_instant(boundary.max(0) as Nanos)).await;
        let report = state.recorder.borrow_mut().take_interval(second);
        unreported.set(second + 1);
        if tx.send(report).is_err() {
            return;
        }
    }
}

struct Timeline {
    entries: Vec<TimelineEntry>,
    usage_at_measure_start: Usage,
}

struct PendingSecond {
    reports: usize,
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
}

/// Merges the threads' interval reports into whole seconds as they arrive, feeding the
/// observer; memory stays flat because a second is dropped once every thread reported it.
fn coordinate(
    plan: &Plan,
    spec: &BenchmarkSpec,
    rx: &mpsc::Receiver<IntervalReport>,
    observer: &mut dyn Observer,
) -> Timeline {
    let mut pending: BTreeMap<i64, PendingSecond> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut usage_at_measure_start = None;
    let total = plan.timing.deadline.map(Duration::from_nanos);
    let last_second = plan.duration_s.map(|d| (d.ceil() as i64 - 1).max(0));
    let warmup = plan.warmup_s > 0.0;
    let schedule = match &spec.model {
        LoadModel::Open { schedule, .. } => Some(schedule.clone()),
        LoadModel::Closed => None,
    };
    let finish = |second: i64,
                  p: PendingSecond,
                  entries: &mut Vec<TimelineEntry>,
                  observer: &mut dyn Observer| {
        let summary = summarize(&p.latency);
        let entry = TimelineEntry {
            second: second.max(0) as u64,
            requests: p.requests,
            errors: p.errors,
            p50_us: summary.p50,
            p99_us: summary.p99,
            p90_us: summary.p90,
            p999_us: summary.p999,
            mean_us: summary.mean,
            requested: schedule.as_ref().filter(|_| second >= 0).map(|s| {
                s.expected_requests((second + 1) as f64) - s.expected_requests(second as f64)
            }),
        };
        // Without warm-up, the start-up lead before measurement is no second of its own.
        if second >= 0 || warmup {
            observer.second(second, &entry, &p.latency);
        }
        if second >= 0 {
            match entries.last_mut() {
                // Stragglers finishing after the last planned second join that second.
                Some(last) if last_second.is_some_and(|l| second > l) => {
                    last.requests += entry.requests;
                    last.errors += entry.errors;
                }
                _ => entries.push(entry),
            }
        }
    };
    loop {
        let now = plan.clock.now();
        if usage_at_measure_start.is_none() && now >= plan.timing.measure_start {
            usage_at_measure_start = Some(usage());
        }
        let mut wait = Duration::from_millis(100);
        if usage_at_measure_start.is_none() {
            wait = wait.min(Duration::from_nanos(plan.timing.measure_start - now));
        }
        match rx.recv_timeout(wait) {
            Ok(report) => {
                let p = pending
                    .entry(report.second)
                    .or_insert_with(|| PendingSecond {
                        reports: 0,
                        requests: 0,
                        errors: 0,
                        latency: new_histogram(),
                    });
                p.reports += 1;
                p.requests += report.requests;
                p.errors += report.errors;
                merge(&mut p.latency, &report.latency);
                // Seconds complete in order; emit every leading second all threads reported.
                while let Some(entry) = pending.first_entry() {
                    if entry.get().reports < plan.threads {
                        break;
                    }
                    let (second, p) = entry.remove_entry();
                    finish(second, p, &mut entries, observer);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        observer.tick(Duration::from_nanos(plan.clock.now()), total);
    }
    // Threads ended at different moments: their last, partial seconds complete here.
    while let Some((second, p)) = pending.pop_first() {
        finish(second, p, &mut entries, observer);
    }
    Timeline {
        entries,
        usage_at_measure_start: usage_at_measure_start.unwrap_or_default(),
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    spec: &BenchmarkSpec,
    plan: &Plan,
    stopped_early: bool,
    wall_at_base: OffsetDateTime,
    total: Recorder,
    timeline: Vec<TimelineEntry>,
    usage_start: Usage,
    usage_end: Usage,
) -> RunOutput {
    let measure_start = plan.timing.measure_start;
    let elapsed_s = total.last_done_ns.saturating_sub(measure_start) as f64 / 1e9;
    let open = matches!(spec.model, LoadModel::Open { .. });
    let duration_s = match plan.duration_s {
        // A generator (or target) that fell behind sends its backlog after the deadline;
        // the run then took longer than planned, and the achieved rate says so.
        Some(d) if !stopped_early && open => d.max(elapsed_s),
        Some(d) if !stopped_early => d,
        Some(d) => elapsed_s.min(d),
        None => elapsed_s,
    };
    let started_at = wall_at_base + Duration::from_nanos(measure_start);
    let ended_at = started_at + Duration::from_secs_f64(duration_s);
    let rps = if duration_s > 0.0 {
        total.requests as f64 / duration_s
    } else {
        0.0
    };
    let requested_rps = match &spec.model {
        // A constant rate is reported as asked, not as a float round trip through the count.
        LoadModel::Open {
            schedule: meshbench_core::RateSchedule::Constant { rps },
            ..
        } => Some(*rps),
        LoadModel::Open { schedule, .. } if duration_s > 0.0 => {
            Some(schedule.expected_requests(duration_s) / duration_s)
        }
        _ => None,
    };
    let cpu_user_s = (usage_end.user_s - usage_start.user_s).max(0.0);
    let cpu_system_s = (usage_end.system_s - usage_start.system_s).max(0.0);
    let cpu_s = cpu_user_s + cpu_system_s;
    let mut saturation_reasons = Vec::new();
    if duration_s > 0.0 {
        let busy = cpu_s / duration_s / plan.threads as f64;
        if busy > BUSY_CPU_SHARE {
            saturation_reasons.push(format!(
                "load threads were busy {:.0}% of the time: the generator's CPU was the bottleneck (add --threads if cores are free)",
                busy * 100.0
            ));
        }
    }
    if let Some(requested) = requested_rps {
        if rps < requested * 0.99 {
            saturation_reasons.push(format!(
                "achieved {rps:.0} req/s of the {requested:.0} requested"
            ));
        }
    }
    let error_kinds = ErrorKind::ALL
        .into_iter()
        .filter(|k| total.error_kinds[k.index()] > 0)
        .map(|k| (k.as_str().to_string(), total.error_kinds[k.index()]))
        .collect();
    let status_codes = total
        .status_counts()
        .map(|(code, n)| (code.to_string(), n))
        .collect();
    let result = BenchmarkResult {
        schema: RESULT_SCHEMA.to_string(),
        spec: spec.clone(),
        model: if open { "open" } else { "closed" }.to_string(),
        started_at,
        ended_at,
        duration_s,
        requests: total.requests,
        errors: total.errors,
        rps,
        requested_rps,
        latency_us: summarize(&total.latency),
        service_time_us: summarize(&total.service),
        status_codes,
        error_kinds,
        bytes_sent: total.bytes_sent,
        bytes_received: total.bytes_received,
        timeline,
        histogram: encode_base64(&total.latency).unwrap_or_default(),
        service_histogram: encode_base64(&total.service).unwrap_or_default(),
        loadgen: LoadgenInfo {
            threads: spec.threads,
            connections: spec.connections,
            cpu_s,
            cpu_user_s,
            cpu_system_s,
            max_rss_bytes: usage_end.max_rss_bytes,
            saturated: !saturation_reasons.is_empty(),
            saturation_reasons,
            send_lag_us: open.then(|| summarize(&total.send_lag)),
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            host: host_name(),
            client: None,
        },
        websocket: None,
        grpc: None,
        ml: None,
        kernel: None,
        kernel_hops: Vec::new(),
        lab: None,
        cluster: None,
        generators: None,
        interval_histograms: Vec::new(),
    };
    RunOutput {
        result,
        latency: total.latency,
        service: total.service,
    }
}

/// This machine's host name, for telling results from different hosts apart.
fn host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}
