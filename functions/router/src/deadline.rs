//! Request deadlines without a timer per request.
//!
//! Every request gets the same timeout from its start (`SWITCHYARD_TIMEOUT_MS`), so deadlines
//! expire in the order they are set: a FIFO queue holds them, and one task sleeps until the oldest
//! live one and wakes the requests whose deadline has passed. A tokio timer per request
//! (`timeout_at`) registers in the runtime's timer wheel on its first poll and leaves it on drop,
//! each under a lock: ~2–3 µs per request in `benches/router.rs`, about 3 % of a loopback round
//! trip. A push onto this queue is one short lock and one allocation.
//!
//! The sweeping task wakes at most once per [`TICK`], so a deadline fires up to one tick late;
//! with timeouts of seconds that does not matter. Requests that finish leave their entry behind
//! (a dead `Weak`); the sweep drops dead entries at the front, and a push compacts the queue when
//! it has doubled, so memory follows the requests in flight, not the request rate.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::Poll;
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The sweep's granularity: the most a deadline can fire late.
pub const TICK: Duration = Duration::from_millis(10);

/// Compaction starts above this many entries.
const MIN_COMPACT: usize = 256;

/// The deadlines of one router's requests, swept by one task (started by the first request).
#[derive(Debug)]
pub struct Deadlines {
    queue: Arc<Mutex<Queue>>,
    /// Wakes the sweeper when an empty queue gets an entry, or when `Deadlines` is dropped.
    wake: Arc<Notify>,
    started: AtomicBool,
}

#[derive(Debug)]
struct Queue {
    entries: VecDeque<(Instant, Weak<Slot>)>,
    /// Compact when `entries` grows past this.
    compact_at: usize,
}

/// One request's deadline: [`Deadline::expired`] completes once it has passed. Dropping it (the
/// request finished) retires its entry.
#[derive(Debug)]
pub struct Deadline {
    slot: Arc<Slot>,
}

/// Where the sweeper marks a deadline as passed and wakes its request. An atomic flag and one
/// waker, not a `Notify`: a request's attempts wait one after another, never together, and
/// `Notify` links each waiter into a list under a lock (and unlinks it again when the answer wins).
#[derive(Debug, Default)]
struct Slot {
    fired: AtomicBool,
    waker: AtomicWaker,
}

impl Slot {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.waker.wake();
    }
}

impl Deadline {
    /// Completes once the deadline has passed (within [`TICK`]), also when it passed before the
    /// call (between two attempts). One waiter at a time: the attempts of a request run one after
    /// another.
    pub fn expired(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| {
            if self.slot.fired.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.slot.waker.register(cx.waker());
            // Fired between the check and the registration: its wake found no waker.
            if self.slot.fired.load(Ordering::Acquire) { Poll::Ready(()) } else { Poll::Pending }
        })
    }
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            queue: Arc::new(Mutex::new(Queue { entries: VecDeque::new(), compact_at: MIN_COMPACT })),
            wake: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
        }
    }
}

impl Deadlines {
    /// A deadline `timeout` from now. Every caller passes the same timeout, and the clock is read
    /// under the queue's lock, so the queue stays in deadline order. Needs a tokio runtime: the
    /// first call starts the sweeper.
    pub fn start(&self, timeout: Duration) -> Deadline {
        if !self.started.load(Ordering::Relaxed) && !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(&self.queue), Arc::clone(&self.wake)));
        }
        let slot = Arc::new(Slot::default());
        let was_empty = {
            let mut queue = lock(&self.queue);
            let was_empty = queue.entries.is_empty();
            queue.entries.push_back((Instant::now() + timeout, Arc::downgrade(&slot)));
            if queue.entries.len() > queue.compact_at {
                queue.entries.retain(|(_, slot)| slot.strong_count() > 0);
                queue.compact_at = (queue.entries.len() * 2).max(MIN_COMPACT);
            }
            was_empty
        };
        if was_empty {
            self.wake.notify_one();
        }
        Deadline { slot }
    }

    /// Entries held, live or finished (tests).
    pub fn len(&self) -> usize {
        lock(&self.queue).entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Deadlines {
    fn drop(&mut self) {
        // The sweeper holds the queue weakly: woken now, it finds it gone and ends.
        self.wake.notify_one();
    }
}

/// Fire what has expired, drop what finished, sleep until the oldest live deadline (at least a
/// tick), or until the queue gets an entry.
async fn sweep(queue: Weak<Mutex<Queue>>, wake: Arc<Notify>) {
    loop {
        let next = {
            let Some(queue) = queue.upgrade() else { return };
            let now = Instant::now();
            let mut queue = lock(&queue);
            while let Some((at, slot)) = queue.entries.front() {
                match slot.upgrade() {
                    Some(slot) if *at <= now => slot.fire(),
                    Some(_) => break,
                    None => {}
                }
                queue.entries.pop_front();
            }
            queue.entries.front().map(|(at, _)| *at)
        };
        // `wake` also ends a sleep: the router may be gone.
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.max(Instant::now() + TICK)) => {}
                    _ = wake.notified() => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

fn lock(queue: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // Nothing panics while holding the lock; a poisoned queue is still a valid queue.
    queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_deadline_fires_once_it_has_passed_and_never_before() {
        let deadlines = Deadlines::default();
        let at = Instant::now() + Duration::from_millis(40);
        let deadline = deadlines.start(Duration::from_millis(40));
        let later = deadlines.start(Duration::from_millis(80));
        tokio::time::timeout(Duration::from_secs(5), deadline.expired()).await.expect("fired");
        assert!(Instant::now() >= at, "not before its time");
        tokio::time::timeout(Duration::from_secs(5), later.expired()).await.expect("the next one fires too");
        assert!(Instant::now() >= at + Duration::from_millis(40));
    }

    #[tokio::test]
    async fn a_deadline_that_passed_between_attempts_is_seen_by_the_next_one() {
        let deadlines = Deadlines::default();
        let deadline = deadlines.start(Duration::ZERO);
        tokio::time::sleep(TICK * 3).await; // nobody waits while it fires
        tokio::time::timeout(Duration::from_secs(5), deadline.expired()).await.expect("the firing was kept");
    }

    #[tokio::test]
    async fn finished_requests_leave_the_queue() {
        let deadlines = Deadlines::default();
        let far = Duration::from_secs(3_600);
        // A long request at the front holds the sweep back; compaction still bounds the queue.
        let long = deadlines.start(far);
        for _ in 0..10_000 {
            drop(deadlines.start(far));
        }
        assert!(deadlines.len() <= 2 * MIN_COMPACT + 1, "{} entries for one request in flight", deadlines.len());
        drop(long);

        // Without a long one at the front, the sweep drops finished entries.
        let deadlines = Deadlines::default();
        for _ in 0..1_000 {
            drop(deadlines.start(Duration::from_millis(20)));
        }
        tokio::time::sleep(TICK * 5).await;
        assert!(deadlines.is_empty(), "{} entries left", deadlines.len());
    }

    #[tokio::test]
    async fn the_sweeper_ends_with_its_router() {
        let deadlines = Deadlines::default();
        let deadline = deadlines.start(Duration::from_secs(3_600));
        let wake = Arc::clone(&deadlines.wake);
        tokio::time::sleep(TICK).await;
        assert_eq!(Arc::strong_count(&wake), 3, "the router, the sweeper and this test hold it");
        drop(deadlines);
        tokio::time::sleep(TICK).await;
        assert_eq!(Arc::strong_count(&wake), 1, "the sweeper ended");
        drop(deadline);
    }
}
