//! A target's load, as tower's `Load` separates it from choosing: this process's requests in
//! flight to it, plus the load the target last reported, weighted by the report's freshness.
//!
//! A Lambda router is many processes; a local count alone sees a fraction of the fleet's load,
//! and reports alone are seconds old. So a target's load is
//! `in flight here + reported × share × fade`: `share` is this process's part of the fleet's load
//! when the report came, `fade` goes from 1 to 0 over the report's useful life. Without both the
//! reports hurt: every router avoids the same targets for seconds, then floods them (see the
//! crate README's study).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::target::Time;

/// Marker for "this target has not reported a load".
const NO_REPORT: u32 = u32::MAX;

/// One target's load counters: shared by every request of a process, carried across rebuilds.
#[derive(Debug)]
pub struct LoadState {
    in_flight: AtomicU32,
    reported: AtomicU32,
}

impl Default for LoadState {
    fn default() -> Self {
        LoadState { in_flight: AtomicU32::new(0), reported: AtomicU32::new(NO_REPORT) }
    }
}

impl LoadState {
    /// Requests this process has in flight to the target.
    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    /// The load the target last reported, if it did.
    #[inline]
    pub fn reported_load(&self) -> Option<u32> {
        Some(self.reported.load(Relaxed)).filter(|&r| r != NO_REPORT)
    }
}

/// Counts one request in flight to a target until dropped.
#[derive(Debug)]
pub struct InFlight {
    target: Arc<LoadState>,
    total: Arc<AtomicU64>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.target.in_flight.fetch_sub(1, Relaxed);
        self.total.fetch_sub(1, Relaxed);
    }
}

/// The loads of a whole set: the per-target counters live with each target (so that they survive
/// a rebuild), the totals and the last report's time and share here.
#[derive(Debug)]
pub struct Loads {
    in_flight_total: Arc<AtomicU64>,
    reported_total: AtomicU64,
    /// When the reported loads were taken (ms of [`Time`]).
    reported_at: AtomicU64,
    /// This process's share of the fleet's load when the report came (`f64` bits): reports are
    /// fleet totals, scaled by it to this process's view so they weigh like local counts.
    report_share: AtomicU64,
    /// How long a report keeps counting.
    fade: Duration,
}

impl Loads {
    /// No report yet, nothing in flight; reports count for `fade` after they are taken.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use switchyard_algorithms::Time;
    /// use switchyard_algorithms::load::{LoadState, Loads};
    ///
    /// let loads = Loads::new(Duration::from_secs(10));
    /// let target = Arc::new(LoadState::default());
    /// let guard = loads.begin(&target);
    /// loads.set_reported([&*target].into_iter(), [(&*target, 4)], Time::ZERO);
    /// // One in flight here, plus the report at half weight 5 s later (this process's share is 1/4).
    /// assert_eq!(loads.at(Time::from_secs(5)).of(&target), 1.0 + 4.0 * 0.5 * 0.25);
    /// drop(guard);
    /// assert_eq!(target.in_flight(), 0);
    /// ```
    pub fn new(fade: Duration) -> Self {
        Loads {
            in_flight_total: Arc::new(AtomicU64::new(0)),
            reported_total: AtomicU64::new(0),
            reported_at: AtomicU64::new(0),
            report_share: AtomicU64::new(1.0f64.to_bits()),
            fade,
        }
    }

    /// The same totals and report for a new set whose per-target counters are `targets` (those
    /// of the targets that stayed, fresh ones for the rest). Requests in flight to targets that
    /// left still count in the total until they end.
    pub fn carried_over<'a>(&self, targets: impl Iterator<Item = &'a LoadState>) -> Self {
        Loads {
            in_flight_total: Arc::clone(&self.in_flight_total),
            reported_total: AtomicU64::new(targets.map(|s| u64::from(s.reported_load().unwrap_or(0))).sum()),
            reported_at: AtomicU64::new(self.reported_at.load(Relaxed)),
            report_share: AtomicU64::new(self.report_share.load(Relaxed)),
            fade: self.fade,
        }
    }

    /// Count a request in flight to `target` until the returned guard is dropped.
    pub fn begin(&self, target: &Arc<LoadState>) -> InFlight {
        target.in_flight.fetch_add(1, Relaxed);
        self.in_flight_total.fetch_add(1, Relaxed);
        InFlight { target: Arc::clone(target), total: Arc::clone(&self.in_flight_total) }
    }

    /// Replace every target's report: `reports` pairs a target's counters with its load, taken at
    /// `taken_at`; targets absent from it have none.
    pub fn set_reported<'a>(
        &self,
        targets: impl Iterator<Item = &'a LoadState> + Clone,
        reports: impl IntoIterator<Item = (&'a LoadState, u32)>,
        taken_at: Time,
    ) {
        targets.clone().for_each(|s| s.reported.store(NO_REPORT, Relaxed));
        for (target, load) in reports {
            target.reported.store(load.min(NO_REPORT - 1), Relaxed);
        }
        let total = targets.map(|s| u64::from(s.reported_load().unwrap_or(0))).sum();
        self.reported_total.store(total, Relaxed);
        self.reported_at.store(taken_at.as_millis(), Relaxed);
        // Many routers share the fleet: a target's reported load is everyone's. Our share of it is
        // estimated as our in-flight total over the reported total (1 when we carry it all, or
        // when nothing is reported or in flight, so that a lone router counts reports fully).
        let local = self.in_flight_total.load(Relaxed) as f64;
        let share = if total == 0 || local == 0.0 { 1.0 } else { (local / total as f64).clamp(0.01, 1.0) };
        self.report_share.store(share.to_bits(), Relaxed);
    }

    /// What loads look like at `now`, for one pick.
    #[inline]
    pub fn at(&self, now: Time) -> LoadView<'_> {
        LoadView { loads: self, report_weight: self.report_weight(now) }
    }

    fn report_weight(&self, now: Time) -> f64 {
        // Nothing reported (the common case without a load metric): no arithmetic on the hot path.
        if self.reported_total.load(Relaxed) == 0 || self.fade.is_zero() {
            return 0.0;
        }
        let fade_ms = self.fade.as_millis() as f64;
        let age_ms = now.as_millis().saturating_sub(self.reported_at.load(Relaxed)) as f64;
        (1.0 - age_ms / fade_ms).clamp(0.0, 1.0) * f64::from_bits(self.report_share.load(Relaxed))
    }
}

/// Loads as of one instant: what a selector reads.
#[derive(Debug, Clone, Copy)]
pub struct LoadView<'a> {
    loads: &'a Loads,
    /// Weight of reported loads now, in [0, 1].
    report_weight: f64,
}

impl LoadView<'_> {
    /// The load of the target with these counters.
    #[inline]
    pub fn of(&self, target: &LoadState) -> f64 {
        let local = f64::from(target.in_flight());
        if self.report_weight == 0.0 {
            // No report, or a faded one (the common case without a load metric).
            return local;
        }
        local + f64::from(target.reported_load().unwrap_or(0)) * self.report_weight
    }

    /// The sum of [`LoadView::of`] over all targets. Read on demand: only the bounded-load check
    /// needs it.
    #[inline]
    pub fn total(&self) -> f64 {
        self.loads.in_flight_total.load(Relaxed) as f64
            + self.loads.reported_total.load(Relaxed) as f64 * self.report_weight
    }
}
