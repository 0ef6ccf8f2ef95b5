//! Delays to the microsecond. tokio's timer wheel has millisecond ticks and rounds every
//! sleep up to the next one, so `delay=2ms` would answer after about 3 ms; a target whose
//! delay is off by a millisecond would be what a benchmark measures. One sleeper thread
//! per server keeps the pending deadlines in a heap and waits on a condvar with no timer
//! slack, waking each request's oneshot on time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

#[derive(Debug, Default)]
struct Queue {
    /// Deadlines with their wakers; ties broken by insertion order.
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    wakers: std::collections::HashMap<u64, oneshot::Sender<()>>,
    next_id: u64,
}

/// The sleeper shared by a server's handlers.
#[derive(Debug, Clone)]
pub(crate) struct Sleeper {
    inner: Arc<(Mutex<Queue>, Condvar)>,
}

impl Sleeper {
    /// Starts the sleeper thread; it ends when the last `Sleeper` handle is dropped.
    pub(crate) fn start() -> std::io::Result<Sleeper> {
        let inner = Arc::new((Mutex::new(Queue::default()), Condvar::new()));
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("meshbench-target-delay".into())
            .spawn(move || run(weak))?;
        Ok(Sleeper { inner })
    }

    /// Waits for `d`, to within tens of microseconds.
    pub(crate) async fn sleep(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let (tx, rx) = oneshot::channel();
        {
            let (lock, condvar) = &*self.inner;
            let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
            let id = queue.next_id;
            queue.next_id += 1;
            let earliest = queue
                .heap
                .peek()
                .is_none_or(|Reverse((at, _))| deadline < *at);
            queue.heap.push(Reverse((deadline, id)));
            queue.wakers.insert(id, tx);
            if earliest {
                condvar.notify_one();
            }
        }
        if rx.await.is_err() {
            // The sleeper is gone (server shutting down): fall back to tokio's timer.
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

fn run(inner: std::sync::Weak<(Mutex<Queue>, Condvar)>) {
    // Wake on the deadline, not up to 50 µs after it (the default timer slack).
    // SAFETY: prctl with integer arguments only changes this thread's timer slack.
    unsafe {
        libc::prctl(29 /* PR_SET_TIMERSLACK */, 1 as libc::c_ulong, 0, 0, 0)
    };
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let (lock, condvar) = &*inner;
        let mut queue = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        while let Some(Reverse((at, id))) = queue.heap.peek().copied() {
            if at > now {
                break;
            }
            queue.heap.pop();
            if let Some(tx) = queue.wakers.remove(&id) {
                let _ = tx.send(());
            }
        }
        // Wait at most 100 ms so a dropped server is noticed (the Weak stops upgrading).
        let wait = queue
            .heap
            .peek()
            .map(|Reverse((at, _))| at.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(100))
            .min(Duration::from_millis(100));
        let _unused = condvar.wait_timeout(queue, wait);
    }
}
