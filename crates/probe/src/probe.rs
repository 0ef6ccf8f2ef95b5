//! Loading, attaching and reading the kernel side.

use std::cell::RefCell;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, PoisonError};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use libbpf_rs::skel::{OpenSkel as _, SkelBuilder as _};
use libbpf_rs::{
    Link, MapCore as _, MapFlags, OpenObject, PrintLevel, RingBuffer, RingBufferBuilder,
};
use meshbench_core::histogram::{self, MAX_US};
use time::OffsetDateTime;

use crate::error::{ProbeError, Result};
use crate::kernel::{self, skel, Counter, Hist, COUNTER_COUNT, HIST_BUCKETS};
use crate::report::{
    ClosedConnection, FilterReport, HandshakeReport, LifetimeReport, Percentiles, ProbeReport,
    ProbeTimelineEntry, Resets, SampleReport, PROBE_SCHEMA,
};
use crate::{availability, ProbeFilter, DEFAULT_NEW_CONNECTIONS, FILTER_MAX_PORTS};

/// What changed since the previous [`Probe::second`] (or since the start).
#[derive(Debug, Clone)]
pub struct ProbeSecond {
    /// Index of this interval: seconds since the start, 0 first.
    pub second: u64,
    /// How long the interval lasted (about a second when called once a second).
    pub interval: Duration,
    /// Connect latencies, µs.
    pub connects: Histogram<u64>,
    /// Accept-side handshake times, µs.
    pub accepts: Histogram<u64>,
    /// Lifetimes of the connections that closed, µs.
    pub lifetimes: Histogram<u64>,
    /// Smoothed RTT samples, µs.
    pub rtt: Histogram<u64>,
    /// Server times, µs.
    pub server_time: Histogram<u64>,
    /// Exchange times, µs.
    pub exchange_time: Histogram<u64>,
    /// Counters over the interval.
    pub counts: ProbeCounts,
    /// The connections that closed, as the ring buffer reported them.
    pub closed: Vec<ClosedConnection>,
}

impl ProbeSecond {
    /// This interval as a line of the report's timeline.
    pub fn timeline_entry(&self) -> ProbeTimelineEntry {
        let connect = Percentiles::of(&self.connects);
        ProbeTimelineEntry {
            second: self.second,
            connects: self.connects.len(),
            accepts: self.accepts.len(),
            closes: self.counts.active_closed + self.counts.passive_closed,
            connect_p50_us: connect.p50,
            connect_p99_us: connect.p99,
            rtt_p50_us: Percentiles::of(&self.rtt).p50,
            retransmits: self.counts.retransmits,
            resets: self.counts.resets_sent + self.counts.resets_received,
            bytes_sent: self.counts.bytes_sent,
            bytes_received: self.counts.bytes_received,
        }
    }
}

/// The kernel side's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeCounts {
    /// Retransmitted segments.
    pub retransmits: u64,
    /// Resets sent.
    pub resets_sent: u64,
    /// Resets received.
    pub resets_received: u64,
    /// Payload bytes acknowledged by peers, of connections that closed.
    pub bytes_sent: u64,
    /// Payload bytes received, of connections that closed.
    pub bytes_received: u64,
    /// Connects that failed before the handshake completed.
    pub connect_failures: u64,
    /// Closed connections this host opened.
    pub active_closed: u64,
    /// Closed connections this host accepted.
    pub passive_closed: u64,
    /// Close events lost to a full ring buffer.
    pub events_dropped: u64,
    /// Sockets not measured because the kernel's table of young sockets was full.
    pub untracked: u64,
}

impl ProbeCounts {
    fn from_array(c: &[u64; COUNTER_COUNT]) -> ProbeCounts {
        ProbeCounts {
            retransmits: c[Counter::Retransmits as usize],
            resets_sent: c[Counter::ResetsSent as usize],
            resets_received: c[Counter::ResetsReceived as usize],
            bytes_sent: c[Counter::BytesSent as usize],
            bytes_received: c[Counter::BytesReceived as usize],
            connect_failures: c[Counter::ConnectFailures as usize],
            active_closed: c[Counter::ActiveClosed as usize],
            passive_closed: c[Counter::PassiveClosed as usize],
            events_dropped: c[Counter::EventsDropped as usize],
            untracked: c[Counter::Untracked as usize],
        }
    }

    fn add(&mut self, o: &ProbeCounts) {
        self.retransmits += o.retransmits;
        self.resets_sent += o.resets_sent;
        self.resets_received += o.resets_received;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.connect_failures += o.connect_failures;
        self.active_closed += o.active_closed;
        self.passive_closed += o.passive_closed;
        self.events_dropped += o.events_dropped;
        self.untracked += o.untracked;
    }
}

/// The programs and the tracepoints they attach to (their SEC names say the same).
const TRACEPOINT_OF: [(&str, &str); 5] = [
    ("handle_set_state", "sock:inet_sock_set_state"),
    ("handle_retransmit", "tcp:tcp_retransmit_skb"),
    ("handle_send_reset", "tcp:tcp_send_reset"),
    ("handle_receive_reset", "tcp:tcp_receive_reset"),
    ("handle_recv", "sock:sock_recv_length"),
];

/// What borrows the BPF object; dropped field by field, in this order, before the object's
/// storage is freed.
struct Loaded {
    /// Attached while held; cleared (detached) before the final read.
    links: Vec<Link>,
    ring: RingBuffer<'static>,
    skel: skel::ProbeSkel<'static>,
}

/// The probe, loaded and attached. Dropping it detaches and unloads everything.
pub struct Probe {
    loaded: ManuallyDrop<Loaded>,
    /// The skeleton's `OpenObject`, boxed so `loaded` can borrow it for as long as it lives.
    storage: NonNull<MaybeUninit<OpenObject>>,
    closed: Rc<RefCell<Vec<ClosedConnection>>>,
    prev_hists: Vec<Vec<u64>>,
    prev_counters: [u64; COUNTER_COUNT],
    totals: Vec<Histogram<u64>>,
    total_counts: ProbeCounts,
    timeline: Vec<ProbeTimelineEntry>,
    filter: FilterReport,
    started_at: OffsetDateTime,
    started: Instant,
    last: Instant,
    seconds: u64,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("filter", &self.filter)
            .field("started_at", &self.started_at)
            .field("seconds", &self.seconds)
            .finish_non_exhaustive()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // SAFETY: `loaded` is dropped exactly once, here, and before the storage it borrows;
        // `storage` came from Box::into_raw in `start` and is freed only here.
        unsafe {
            ManuallyDrop::drop(&mut self.loaded);
            drop(Box::from_raw(self.storage.as_ptr()));
        }
    }
}

impl Probe {
    /// Loads the programs with `filter` baked in and attaches them to their tracepoints.
    pub fn start(filter: &ProbeFilter) -> Result<Probe> {
        // What was asked is checked first: it is wrong on any machine.
        if filter.ports.len() > FILTER_MAX_PORTS {
            return Err(ProbeError::TooManyPorts {
                given: filter.ports.len(),
                max: FILTER_MAX_PORTS,
            });
        }
        if filter.max_new_connections == Some(0) {
            return Err(ProbeError::NoNewConnections);
        }
        availability()?;
        let cgroup_id = filter.cgroup.as_deref().map(cgroup_id).transpose()?;
        let trees = cgroup_trees(&filter.cgroup_trees)?;
        let closed = Rc::new(RefCell::new(Vec::new()));

        let storage = NonNull::from(Box::leak(Box::new(MaybeUninit::<OpenObject>::uninit())));
        // SAFETY: the storage lives until Probe's Drop (or the error path below) frees it,
        // after everything borrowing it has been dropped; nothing else refers to it.
        let object: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *storage.as_ptr() };
        let loaded = load(object, filter, cgroup_id, &trees, &closed);
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                // SAFETY: whatever borrowed the storage was dropped inside `load`.
                unsafe { drop(Box::from_raw(storage.as_ptr())) };
                return Err(e);
            }
        };
        let now = Instant::now();
        Ok(Probe {
            loaded: ManuallyDrop::new(loaded),
            storage,
            closed,
            prev_hists: vec![vec![0; HIST_BUCKETS]; Hist::ALL.len()],
            prev_counters: [0; COUNTER_COUNT],
            totals: Hist::ALL
                .iter()
                .map(|_| histogram::new_histogram())
                .collect(),
            total_counts: ProbeCounts::default(),
            timeline: Vec::new(),
            filter: FilterReport {
                ports: filter.ports.clone(),
                pid: filter.pid.filter(|&p| p != 0),
                cgroup: filter.cgroup.as_ref().map(|p| p.display().to_string()),
                cgroup_id,
                cgroup_trees: filter
                    .cgroup_trees
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                pods: Vec::new(),
            },
            started_at: OffsetDateTime::now_utc(),
            started: now,
            last: now,
            seconds: 0,
        })
    }

    /// What was measured since the previous call (or the start): histogram deltas, counter
    /// deltas and the connections that closed. Also appends a line to the report's timeline.
    pub fn second(&mut self) -> Result<ProbeSecond> {
        let loaded = &*self.loaded;
        loaded.ring.consume().map_err(|source| ProbeError::Map {
            map: "events",
            source,
        })?;
        let mut deltas = Vec::with_capacity(Hist::ALL.len());
        for hist in Hist::ALL {
            let now = read_percpu(&loaded.skel.maps.hists, "hists", hist as u32, HIST_BUCKETS)?;
            let prev = &mut self.prev_hists[hist as usize];
            let mut h = histogram::new_histogram();
            for (bucket, (&n, p)) in now.iter().zip(prev.iter()).enumerate() {
                let count = n.wrapping_sub(*p);
                if count > 0 {
                    let ns = kernel::bucket_midpoint(bucket);
                    let us = (ns.saturating_add(500) / 1000).clamp(1, MAX_US);
                    h.saturating_record_n(us, count);
                }
            }
            *prev = now;
            histogram::merge(&mut self.totals[hist as usize], &h);
            deltas.push(h);
        }
        let mut counters = [0u64; COUNTER_COUNT];
        for (key, slot) in counters.iter_mut().enumerate() {
            let now = read_percpu(&loaded.skel.maps.counters, "counters", key as u32, 1)?;
            *slot = now[0].wrapping_sub(self.prev_counters[key]);
            self.prev_counters[key] = now[0];
        }
        let counts = ProbeCounts::from_array(&counters);
        self.total_counts.add(&counts);

        let now = Instant::now();
        let mut deltas = deltas.into_iter();
        let mut next = || deltas.next().unwrap_or_else(histogram::new_histogram);
        let second = ProbeSecond {
            second: self.seconds,
            interval: now - self.last,
            connects: next(),
            accepts: next(),
            lifetimes: next(),
            rtt: next(),
            server_time: next(),
            exchange_time: next(),
            counts,
            closed: std::mem::take(&mut *self.closed.borrow_mut()),
        };
        self.last = now;
        self.seconds += 1;
        self.timeline.push(second.timeline_entry());
        Ok(second)
    }

    /// Starts the measurement afresh: what was counted so far is read and left out of the
    /// report, whose start, timeline and totals begin now.
    pub fn restart(&mut self) -> Result<()> {
        self.second()?;
        for total in &mut self.totals {
            total.reset();
        }
        self.total_counts = ProbeCounts::default();
        self.timeline.clear();
        self.started_at = OffsetDateTime::now_utc();
        self.started = Instant::now();
        self.seconds = 0;
        Ok(())
    }

    /// Detaches the programs and leaves everything they counted in place: nothing is
    /// measured, and nothing costs, until [`Probe::attach`]. Loading is what takes time
    /// (the verifier), so toggling this way is how the probe's own cost is measured
    /// (bench/probe-overhead.sh).
    pub fn detach(&mut self) {
        self.loaded.links.clear();
    }

    /// Attaches the programs again after [`Probe::detach`]; does nothing while attached.
    /// Every socket then counts as older than the probe: what was begun before (a turn, a
    /// connect, a connection's life) is not timed.
    pub fn attach(&mut self) -> Result<()> {
        if self.loaded.links.is_empty() {
            // The kernel side forgets state of an older generation: a request read before the
            // detach and answered while detached would otherwise be timed with the detached
            // time in it, and a socket closed while detached would pass its start to a new
            // socket at its address.
            let Some(bss) = self.loaded.skel.maps.bss_data.as_deref_mut() else {
                return Err(ProbeError::Layout(
                    "no .bss section for the attach generation".into(),
                ));
            };
            bss.attach_generation = bss.attach_generation.wrapping_add(1);
            let capture = LogCapture::begin();
            self.loaded.links = attach_all(&self.loaded.skel, &capture)?;
        }
        Ok(())
    }

    /// Reads what is left, detaches, and returns the report of the whole run.
    pub fn finish(mut self) -> Result<ProbeReport> {
        // Detach first: the maps then hold still, so the last read of the histograms and of
        // the counters agree (read while attached, a close between the two reads would be
        // counted in one and not the other).
        self.loaded.links.clear();
        // The tail since the last `second()`; a sliver with nothing in it is no second.
        let sliver = self.seconds > 0 && self.last.elapsed() < Duration::from_millis(50);
        let tail = self.second()?;
        if sliver
            && tail.timeline_entry()
                == (ProbeTimelineEntry {
                    second: tail.second,
                    ..ProbeTimelineEntry::default()
                })
        {
            self.timeline.pop();
        }
        let duration_s = self.started.elapsed().as_secs_f64();
        let t = &self.totals;
        let c = self.total_counts;
        let handshake = |h: &Histogram<u64>| -> Result<HandshakeReport> {
            Ok(HandshakeReport {
                count: h.len(),
                latency_us: Percentiles::of(h),
                histogram: histogram::encode_base64(h)?,
            })
        };
        let sample = |h: &Histogram<u64>| -> Result<SampleReport> {
            Ok(SampleReport {
                count: h.len(),
                summary: Percentiles::of(h),
                histogram: histogram::encode_base64(h)?,
            })
        };
        let lifetimes = &t[Hist::Lifetime as usize];
        Ok(ProbeReport {
            schema: PROBE_SCHEMA.to_owned(),
            started_at: self.started_at,
            duration_s,
            filter: self.filter.clone(),
            connections: handshake(&t[Hist::Connect as usize])?,
            accepts: handshake(&t[Hist::Accept as usize])?,
            lifetimes: LifetimeReport {
                count: lifetimes.len(),
                active: c.active_closed,
                passive: c.passive_closed,
                duration_us: Percentiles::of(lifetimes),
                bytes_sent: c.bytes_sent,
                bytes_received: c.bytes_received,
                histogram: histogram::encode_base64(lifetimes)?,
            },
            rtt_us: sample(&t[Hist::Rtt as usize])?,
            server_time_us: sample(&t[Hist::Server as usize])?,
            exchange_time_us: sample(&t[Hist::Exchange as usize])?,
            retransmits: c.retransmits,
            resets: Resets {
                sent: c.resets_sent,
                received: c.resets_received,
            },
            connect_failures: c.connect_failures,
            events_dropped: c.events_dropped,
            sockets_untracked: c.untracked,
            timeline: std::mem::take(&mut self.timeline),
        })
    }
}

/// Runs the probe for `duration` (or until `stop` is set), calling `on_second` once a second.
pub fn run_until(
    filter: &ProbeFilter,
    duration: Duration,
    stop: &AtomicBool,
    on_second: impl FnMut(&ProbeSecond),
) -> Result<ProbeReport> {
    run_attached(filter, duration, stop, || {}, on_second)
}

/// [`run_until`], calling `on_attached` once the programs are attached, before the first
/// second is counted: the moment traffic starts to count.
pub fn run_attached(
    filter: &ProbeFilter,
    duration: Duration,
    stop: &AtomicBool,
    on_attached: impl FnOnce(),
    mut on_second: impl FnMut(&ProbeSecond),
) -> Result<ProbeReport> {
    let mut probe = Probe::start(filter)?;
    on_attached();
    let start = Instant::now();
    let end = start + duration;
    let mut next = start + Duration::from_secs(1);
    loop {
        let now = Instant::now();
        if now >= end || stop.load(Ordering::Relaxed) {
            // The last (possibly partial) second, so callers see every interval.
            let second = probe.second()?;
            on_second(&second);
            break;
        }
        if now >= next {
            let second = probe.second()?;
            on_second(&second);
            next += Duration::from_secs(1);
            continue;
        }
        // Short naps, so a stop request is noticed quickly.
        std::thread::sleep((next.min(end) - now).min(Duration::from_millis(100)));
    }
    probe.finish()
}

/// Loads the skeleton into `object` and attaches it; on error everything borrowing `object`
/// has been dropped when this returns.
fn load(
    object: &'static mut MaybeUninit<OpenObject>,
    filter: &ProbeFilter,
    cgroup_id: Option<u64>,
    trees: &CgroupTrees,
    closed: &Rc<RefCell<Vec<ClosedConnection>>>,
) -> Result<Loaded> {
    let capture = LogCapture::begin();
    let mut open = skel::ProbeSkelBuilder::default()
        .open(object)
        .map_err(|source| ProbeError::Open { source })?;
    let Some(rodata) = open.maps.rodata_data.as_deref_mut() else {
        return Err(ProbeError::Layout(
            "no .rodata section for the filters".into(),
        ));
    };
    rodata.filter_ports[..filter.ports.len()].copy_from_slice(&filter.ports);
    rodata.filter_port_count = filter.ports.len() as u32;
    rodata.filter_pid = filter.pid.unwrap_or(0);
    rodata.filter_cgroup = cgroup_id.unwrap_or(0);
    rodata.filter_tree_levels[..trees.levels.len()].copy_from_slice(&trees.levels);
    rodata.emit_events = u8::from(filter.connection_events);
    open.maps
        .young
        .set_max_entries(
            filter
                .max_new_connections
                .unwrap_or(DEFAULT_NEW_CONNECTIONS),
        )
        .map_err(|source| ProbeError::Map {
            map: "young",
            source,
        })?;
    let skel = open.load().map_err(|source| capture.load_error(source))?;
    for id in &trees.ids {
        skel.maps
            .cgroup_trees
            .update(&id.to_ne_bytes(), &[1], MapFlags::ANY)
            .map_err(|source| ProbeError::Map {
                map: "cgroup_trees",
                source,
            })?;
    }

    let hist_size = skel.maps.hists.value_size() as usize;
    if hist_size != HIST_BUCKETS * 8 {
        return Err(ProbeError::Layout(format!(
            "histogram values are {hist_size} bytes, this build expects {}",
            HIST_BUCKETS * 8
        )));
    }
    let links = attach_all(&skel, &capture)?;

    let sink = Rc::clone(closed);
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&skel.maps.events, move |data: &[u8]| {
            if let Some(event) = kernel::parse_event(data) {
                sink.borrow_mut().push(event);
            }
            0
        })
        .map_err(|source| ProbeError::Map {
            map: "events",
            source,
        })?;
    let ring = builder.build().map_err(|source| ProbeError::Map {
        map: "events",
        source,
    })?;
    Ok(Loaded { links, ring, skel })
}

/// Attaches every program to its tracepoint; the links detach when dropped.
fn attach_all(skel: &skel::ProbeSkel<'static>, capture: &LogCapture) -> Result<Vec<Link>> {
    let progs = &skel.progs;
    let mut links = Vec::with_capacity(TRACEPOINT_OF.len());
    for prog in [
        &progs.handle_set_state,
        &progs.handle_retransmit,
        &progs.handle_send_reset,
        &progs.handle_receive_reset,
        &progs.handle_recv,
    ] {
        let name = prog.name().to_string_lossy().into_owned();
        let tracepoint = TRACEPOINT_OF
            .iter()
            .find(|(p, _)| *p == name)
            .map_or("?", |(_, tp)| tp);
        let link = prog.attach().map_err(|source| ProbeError::Attach {
            program: name.clone(),
            tracepoint,
            log: capture.tail_suffix(),
            source,
        })?;
        links.push(link);
    }
    Ok(links)
}

/// Sums a per-CPU map entry of `len` u64 over all CPUs.
fn read_percpu(
    map: &libbpf_rs::MapMut<'_>,
    name: &'static str,
    key: u32,
    len: usize,
) -> Result<Vec<u64>> {
    let per_cpu = map
        .lookup_percpu(&key.to_ne_bytes(), MapFlags::ANY)
        .map_err(|source| ProbeError::Map { map: name, source })?;
    let mut total = vec![0u64; len];
    for cpu in per_cpu.unwrap_or_default() {
        kernel::add_u64s(&mut total, &cpu);
    }
    Ok(total)
}

/// The cgroup trees of a filter as the kernel side takes them: the roots' ids, and the
/// distinct depths they sit at.
#[derive(Debug, Default)]
struct CgroupTrees {
    ids: Vec<u64>,
    levels: Vec<u32>,
}

/// Most trees, and most distinct depths, one filter may name (the BPF map's and array's
/// sizes).
const MAX_TREES: usize = 256;
const MAX_TREE_LEVELS: usize = 4;

/// Resolves cgroup tree roots to ids and depths below the cgroup v2 mount (the root is
/// depth 0 and is refused: it would be everything).
fn cgroup_trees(paths: &[PathBuf]) -> Result<CgroupTrees> {
    let mut trees = CgroupTrees::default();
    if paths.is_empty() {
        return Ok(trees);
    }
    let invalid = |path: &Path, why: String| ProbeError::Cgroup {
        path: path.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why),
    };
    if paths.len() > MAX_TREES {
        return Err(invalid(
            &paths[0],
            format!("at most {MAX_TREES} cgroup trees, {} given", paths.len()),
        ));
    }
    let mount = cgroup2_mount()
        .ok_or_else(|| invalid(&paths[0], "no cgroup v2 mount in /proc/mounts".into()))?;
    for path in paths {
        let id = cgroup_id(path)?;
        let below = path.strip_prefix(&mount).map_err(|_| {
            invalid(
                path,
                format!("not under the cgroup v2 mount {}", mount.display()),
            )
        })?;
        let level = below.components().count() as u32;
        if level == 0 {
            return Err(invalid(
                path,
                "the root cgroup is everything; name a pod's".into(),
            ));
        }
        if !trees.levels.contains(&level) {
            if trees.levels.len() == MAX_TREE_LEVELS {
                return Err(invalid(
                    path,
                    format!("trees at more than {MAX_TREE_LEVELS} depths"),
                ));
            }
            trees.levels.push(level);
        }
        trees.ids.push(id);
    }
    Ok(trees)
}

/// The cgroup v2 directory of the pod with `uid` under `mount`, as the kubelet names it
/// with either cgroup driver: systemd's `kubepods-burstable-pod<uid, '-' as '_'>.slice`
/// or cgroupfs' `pod<uid>`; searched four levels deep.
pub fn find_pod_cgroup(mount: &Path, uid: &str) -> Option<PathBuf> {
    let names = [format!("pod{uid}"), format!("pod{}", uid.replace('-', "_"))];
    let matches = |dir: &Path| {
        dir.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
            names.iter().any(|want| {
                n == want || n.ends_with(&format!("-{want}.slice")) || n == format!("{want}.slice")
            })
        })
    };
    let mut level = vec![mount.to_path_buf()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for dir in level {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if matches(&path) {
                    return Some(path);
                }
                next.push(path);
            }
        }
        level = next;
    }
    None
}

/// Where cgroup v2 is mounted (`/sys/fs/cgroup/unified` on hybrid hosts).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    mounts
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 2 && f[2] == "cgroup2")
        .map(|f| PathBuf::from(f[1]))
}

/// A cgroup's id as `bpf_get_current_cgroup_id()` reports it: its directory's inode number.
fn cgroup_id(path: &Path) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|source| ProbeError::Cgroup {
        path: path.to_owned(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ProbeError::Cgroup {
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    Ok(meta.ino())
}

/// libbpf's messages while a load is under way; `None` outside one.
///
/// libbpf reports the verifier log only through its process-wide print callback, which takes a
/// plain function, so the capture has to be process-wide too. [`LOAD_LOCK`] makes sure only
/// one load at a time writes into it, so each error carries its own program's log.
static CAPTURE: Mutex<Option<String>> = Mutex::new(None);
/// Serialises loads, see [`CAPTURE`].
static LOAD_LOCK: Mutex<()> = Mutex::new(());
static INSTALL_PRINT: Once = Once::new();

fn on_libbpf_print(level: PrintLevel, message: String) {
    let mut capture = CAPTURE.lock().unwrap_or_else(PoisonError::into_inner);
    match capture.as_mut() {
        Some(buffer) => buffer.push_str(&message),
        // Outside a load, only warnings are worth the terminal (as libbpf does by default).
        None if matches!(level, PrintLevel::Warn) => eprint!("{message}"),
        None => {}
    }
}

/// Captures libbpf's messages from creation to drop, holding the load lock meanwhile.
pub(crate) struct LogCapture {
    _lock: std::sync::MutexGuard<'static, ()>,
}

impl LogCapture {
    /// Starts capturing; waits for any other load to finish first.
    pub(crate) fn begin() -> LogCapture {
        INSTALL_PRINT.call_once(|| {
            libbpf_rs::set_print(Some((PrintLevel::Info, on_libbpf_print)));
        });
        let lock = LOAD_LOCK.lock().unwrap_or_else(PoisonError::into_inner);
        *CAPTURE.lock().unwrap_or_else(PoisonError::into_inner) = Some(String::new());
        LogCapture { _lock: lock }
    }

    fn text(&self) -> String {
        CAPTURE
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }

    /// The error for a failed load: the program libbpf names, and the verifier log's tail.
    pub(crate) fn load_error(&self, source: libbpf_rs::Error) -> ProbeError {
        let text = self.text();
        ProbeError::Load {
            program: failed_program(&text).unwrap_or_else(|| "?".to_owned()),
            log: log_tail(&text),
            source,
        }
    }

    /// libbpf's messages so far, as a suffix for an error message ("" when there are none).
    fn tail_suffix(&self) -> String {
        let tail = log_tail(&self.text());
        if tail.is_empty() {
            String::new()
        } else {
            format!("; libbpf said:\n{tail}")
        }
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        *CAPTURE.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Lines kept from the end of a verifier log: the reason is at the end, after the trace.
const LOG_TAIL_LINES: usize = 20;

/// The program whose load failed, from libbpf's "prog 'NAME': BPF program load failed".
fn failed_program(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("load failed") || l.contains("failed to load"))
        .and_then(|l| l.split_once("prog '"))
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(name, _)| name.to_owned())
}

/// The end of the verifier log when libbpf printed one, else the end of all its messages.
fn log_tail(log: &str) -> String {
    let body = match (
        log.find("-- BEGIN PROG LOAD LOG --"),
        log.find("-- END PROG LOAD LOG --"),
    ) {
        (Some(begin), Some(end)) if begin < end => {
            let from = log[begin..].find('\n').map_or(end, |i| begin + i + 1);
            &log[from.min(end)..end]
        }
        _ => log,
    };
    let lines: Vec<&str> = body.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIBBPF_OUTPUT: &str = "libbpf: prog 'unbounded_read': BPF program load failed: -EACCES
libbpf: prog 'unbounded_read': -- BEGIN PROG LOAD LOG --
0: R1=ctx() R10=fp0
; int unbounded_read(struct trace_event_raw_inet_sock_set_state *ctx)
7: (79) r0 = *(u64 *)(r0 +0)
R0 unbounded memory access, make sure to bounds check any such access
processed 9 insns (limit 1000000)
-- END PROG LOAD LOG --
libbpf: prog 'unbounded_read': failed to load: -13
libbpf: failed to load object 'rejected_bpf'
";

    #[test]
    fn the_failing_program_and_the_verifier_reason_are_found() {
        assert_eq!(
            failed_program(LIBBPF_OUTPUT).as_deref(),
            Some("unbounded_read")
        );
        let tail = log_tail(LIBBPF_OUTPUT);
        assert!(tail.starts_with("0: R1=ctx()"), "{tail}");
        assert!(
            tail.ends_with("processed 9 insns (limit 1000000)"),
            "{tail}"
        );
        assert!(!tail.contains("END PROG LOAD LOG"));
    }

    #[test]
    fn without_a_verifier_log_the_last_messages_are_kept() {
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&text);
        assert_eq!(tail.lines().count(), LOG_TAIL_LINES);
        assert!(tail.ends_with("line 49"));
        assert_eq!(failed_program(&text), None);
    }
}
