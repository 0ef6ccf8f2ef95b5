//! What `/metrics` says about runs while they go: per run (labelled with its job id, test
//! type, mesh and namespace), requests and errors as counters and latency as a histogram
//! (classic buckets, and native ones for a scraper that asks for protobuf),
//! summed from the progress events workers publish each second (which reach every API host
//! through the event bus), and whether it still runs.
//!
//! A run's series stay for [`KEEP_ENDED`] after it ends, so a scrape after its last second
//! sees its final counts; then they go, so the series do not grow without bound.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use meshbench_core::{JobEvent, JobEventBody, LIVE_BUCKETS_US};
use meshbench_queue::EventBus;
use meshbench_store::Store;
use tokio::sync::broadcast::error::RecvError;

/// How long an ended run's series stay on `/metrics`.
const KEEP_ENDED: Duration = Duration::from_secs(300);

/// What names a run's series.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct RunLabels {
    /// The job.
    pub job_id: String,
    /// `http`, `grpc`, `websocket`, `ml`.
    pub test_type: String,
    /// The mesh label.
    pub mesh: String,
    /// The namespace label.
    pub namespace: String,
}

/// One run's sums so far.
#[derive(Debug, Clone)]
pub(crate) struct RunSums {
    /// What names it.
    pub labels: RunLabels,
    /// Requests completed.
    pub requests: u64,
    /// Requests failed.
    pub errors: u64,
    /// Latencies in each bucket of [`LIVE_BUCKETS_US`], then above the last.
    pub buckets: Vec<u64>,
    /// The latencies' sum, µs.
    pub sum_us: f64,
    /// Latencies in each native bucket (schema [`meshbench_core::NATIVE_SCHEMA`]), by index.
    pub native: BTreeMap<i32, u64>,
    /// Requests the schedule asked for so far (open-model runs only).
    pub scheduled: Option<f64>,
    /// When it ended, if it has.
    pub ended: Option<Instant>,
}

impl RunSums {
    /// A run nothing has been counted of yet.
    fn new(labels: RunLabels) -> RunSums {
        RunSums {
            labels,
            requests: 0,
            errors: 0,
            buckets: vec![0; LIVE_BUCKETS_US.len() + 1],
            sum_us: 0.0,
            native: BTreeMap::new(),
            scheduled: None,
            ended: None,
        }
    }

    /// How many latencies were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// The runs `/metrics` reports, kept up to date from the event bus (one per server).
#[derive(Debug)]
pub struct LiveRuns {
    runs: Mutex<HashMap<String, RunSums>>,
    started: Once,
}

impl Default for LiveRuns {
    fn default() -> Self {
        LiveRuns {
            runs: Mutex::default(),
            started: Once::new(),
        }
    }
}

impl LiveRuns {
    /// Starts following `bus` (once; later calls do nothing). Needs a Tokio runtime.
    pub(crate) fn follow(self: &Arc<Self>, bus: &Arc<dyn EventBus>, store: &Arc<dyn Store>) {
        self.started.call_once(|| {
            let events = bus.subscribe();
            let live = Arc::clone(self);
            let store = Arc::clone(store);
            tokio::spawn(async move { live.run(events, store).await });
        });
    }

    async fn run(
        self: Arc<Self>,
        mut events: tokio::sync::broadcast::Receiver<JobEvent>,
        store: Arc<dyn Store>,
    ) {
        loop {
            match events.recv().await {
                Ok(event) => self.apply(&event, store.as_ref()).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "/metrics fell behind the event bus: some seconds are not counted"
                    );
                }
                Err(RecvError::Closed) => return,
            }
        }
    }

    async fn apply(&self, event: &JobEvent, store: &dyn Store) {
        match &event.body {
            JobEventBody::Progress {
                second,
                requests,
                errors,
                latency_buckets,
                latency_sum_us,
                latency_native,
                requested,
                ..
            } if *second >= 0 => {
                // Probe runs publish no progress of this kind; an unknown id is a job. The
                // store is asked with the lock released.
                let labels = if self.lock().contains_key(&event.job_id) {
                    None
                } else {
                    let Ok(Some(job)) = store.get_job(&event.job_id).await else {
                        return;
                    };
                    Some(RunLabels {
                        job_id: job.job_id,
                        test_type: job.test_type.as_str().to_string(),
                        mesh: job.mesh_type,
                        namespace: job.namespace,
                    })
                };
                let mut runs = self.lock();
                let run = match (runs.get_mut(&event.job_id), labels) {
                    (Some(run), _) => run,
                    (None, Some(labels)) => runs
                        .entry(event.job_id.clone())
                        .or_insert_with(|| RunSums::new(labels)),
                    // Gone (kept long enough after it ended) between the two locks.
                    (None, None) => return,
                };
                run.requests += requests;
                run.errors += errors;
                for (total, n) in run.buckets.iter_mut().zip(latency_buckets) {
                    *total += n;
                }
                run.sum_us += latency_sum_us;
                for bucket in latency_native {
                    *run.native.entry(bucket.index).or_default() += bucket.count;
                }
                if let Some(asked) = requested {
                    *run.scheduled.get_or_insert(0.0) += asked;
                }
            }
            JobEventBody::Status { status, .. } if status.is_finished() => {
                if let Some(run) = self.lock().get_mut(&event.job_id) {
                    run.ended.get_or_insert_with(Instant::now);
                }
            }
            _ => {}
        }
    }

    /// Every run to report now (ended ones for [`KEEP_ENDED`]), by job id.
    pub(crate) fn snapshot(&self) -> Vec<RunSums> {
        let mut runs = self.lock();
        runs.retain(|_, r| r.ended.is_none_or(|at| at.elapsed() < KEEP_ENDED));
        let mut all: Vec<RunSums> = runs.values().cloned().collect();
        all.sort_by(|a, b| a.labels.job_id.cmp(&b.labels.job_id));
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RunSums>> {
        // A panic while holding the lock leaves plain sums behind: still usable.
        self.runs.lock().unwrap_or_else(|e| e.into_inner())
    }
}
