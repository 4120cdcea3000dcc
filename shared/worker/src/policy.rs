//! The worker's decisions, without I/O: when to turn scale-in protection on and off, when a held
//! message's visibility needs renewing. Time is passed in.

use std::time::{Duration, Instant};

/// Scale-in protection for this worker's instance: on before the first job of a busy spell, off
/// once it has been idle for a grace period. An always-busy worker therefore calls Auto Scaling
/// once, not once per message; a worker between two quick jobs does not flip twice.
#[derive(Debug, Clone)]
pub struct Protection {
    /// What Auto Scaling was last told (confirmed by a successful call).
    protected: bool,
    idle_since: Option<Instant>,
    grace: Duration,
}

impl Protection {
    pub fn new(grace: Duration) -> Self {
        Protection { protected: false, idle_since: None, grace }
    }

    pub fn is_protected(&self) -> bool {
        self.protected
    }

    /// Work is about to start: `true` when protection must be turned on first.
    pub fn before_work(&mut self) -> bool {
        self.idle_since = None;
        !self.protected
    }

    /// The periodic check with the number of jobs held: `Some(state)` when Auto Scaling must be
    /// told `state`. Busy and unprotected (a failed call earlier) asks again.
    pub fn check(&mut self, busy: usize, now: Instant) -> Option<bool> {
        if busy > 0 {
            self.idle_since = None;
            return (!self.protected).then_some(true);
        }
        let since = *self.idle_since.get_or_insert(now);
        (self.protected && now.duration_since(since) >= self.grace).then_some(false)
    }

    /// Auto Scaling accepted `state`.
    pub fn confirmed(&mut self, state: bool) {
        self.protected = state;
    }

    /// Auto Scaling says the instance is `protected` (read back, not set by this worker): someone
    /// else changed it, such as the scaler taking it off an instance whose reports it missed, or a
    /// previous worker leaving it on. The next [`Protection::check`] puts it right. `true` when it
    /// differs from what this worker had set.
    pub fn observed(&mut self, protected: bool) -> bool {
        std::mem::replace(&mut self.protected, protected) != protected
    }
}

/// A held message's visibility is renewed once half of it has passed: with a 30 s timeout, every
/// 15 s, so one slow or failed renewal still leaves 15 s before another worker could see it.
pub fn renewal_due(renewed_at: Instant, visibility: Duration, now: Instant) -> bool {
    now.duration_since(renewed_at) >= visibility / 2
}

/// What the worker did since the last report: what the scaler reads to tell idle from busy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Activity {
    pub received: u64,
    pub processed: u64,
    pub failed: u64,
    /// Sum of job run times.
    pub busy: Duration,
}

impl Activity {
    pub fn is_idle(&self) -> bool {
        self.received == 0 && self.busy.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_always_busy_worker_calls_once_and_an_idle_one_lets_go_after_the_grace() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Protection::new(5 * s);
        assert!(p.before_work(), "the first job asks for protection");
        p.confirmed(true);
        let mut calls = 0;
        for i in 0..1_000 {
            calls += u32::from(p.before_work());
            calls += u32::from(p.check(1, t0 + i * s / 10).is_some());
        }
        assert_eq!(calls, 0, "busy and protected: no call per message");
        assert_eq!(p.check(0, t0 + 100 * s), None, "idle starts");
        assert_eq!(p.check(0, t0 + 104 * s), None, "within the grace");
        assert_eq!(p.check(0, t0 + 105 * s), Some(false));
        p.confirmed(false);
        assert_eq!(p.check(0, t0 + 200 * s), None, "off stays off");
    }

    #[test]
    fn a_short_gap_between_jobs_keeps_protection_and_a_failed_call_is_retried() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Protection::new(5 * s);
        assert!(p.before_work());
        // The call failed: not confirmed. The next check while busy asks again.
        assert_eq!(p.check(2, t0), Some(true));
        p.confirmed(true);
        assert_eq!(p.check(0, t0 + s), None);
        assert!(!p.before_work(), "work again within the grace: still protected, no call");
        assert_eq!(p.check(0, t0 + 10 * s), None, "the idle clock restarted with the new work");
        assert_eq!(p.check(0, t0 + 15 * s), Some(false));
    }

    #[test]
    fn protection_changed_by_someone_else_is_put_right_by_the_next_check() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut p = Protection::new(5 * s);
        assert!(p.before_work());
        p.confirmed(true);
        assert!(p.observed(false), "taken off from outside while busy");
        assert_eq!(p.check(1, t0), Some(true), "busy: asked for again at once");
        p.confirmed(true);
        assert!(!p.observed(true), "as set: nothing to do");

        let mut idle = Protection::new(5 * s);
        assert_eq!(idle.check(0, t0), None);
        assert!(idle.observed(true), "left on by someone else while idle");
        assert_eq!(idle.check(0, t0 + 5 * s), Some(false), "taken off once the idle grace has passed");
    }

    #[test]
    fn renewal_at_half_the_visibility() {
        let t0 = Instant::now();
        let v = Duration::from_secs(30);
        assert!(!renewal_due(t0, v, t0 + Duration::from_secs(14)));
        assert!(renewal_due(t0, v, t0 + Duration::from_secs(15)));
    }
}
