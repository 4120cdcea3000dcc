//! From a recommendation to the desired capacity, in the HPA normalizer's order: the dead band,
//! warm-up, the scale-down stabilization window and the direction budget, scale-up rate limits
//! (lifted for a waiting backlog), bounds, then scale to zero and activation. Each step that
//! changes the number is recorded with why.

use std::time::Duration;

use super::reason::{Reason, Recommendation};
use super::signals::{Bounds, FleetState};
use crate::target::Time;

/// One tick's record, kept by the scaler outside the Lambda and handed back next tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryEntry {
    pub at: Time,
    pub recommendation: u32,
    pub desired: u32,
}

/// How fast a fleet may grow: within `period`, to at most `base + max(base × percent / 100,
/// absolute)`, base being the size at the period's start ([`ScaleUpLimit::base`]). The HPA's
/// default is "100 % or 4 pods per 15 s" ([`ScaleUpLimit::HPA`]); Switchyard's (`Default`),
/// ticking every minute, is "300 % or 10 per 60 s": a minute-long tick needs larger steps to
/// follow a burst as fast.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleUpLimit {
    pub percent: f64,
    pub absolute: u32,
    pub period: Duration,
    /// Whether the messages already waiting may lift the limit ([`BacklogScaleUp`]).
    pub backlog: BacklogScaleUp,
}

/// A third scale-up policy beside the percent and absolute steps, taken when it allows more (the
/// HPA's `selectPolicy: Max`): grow at once to the instances the messages already waiting need
/// ([`Activity::backlog_needs`]: each gets a full acceptable backlog).
///
/// The percent and absolute steps guard against growing on a forecast (an arrival rate, a CPU
/// average) that may not last. A backlog read from the queue is work already there: an instance
/// launched for it has at least an acceptable backlog to drain. Held to the steps, a fleet at zero
/// facing 20 000 messages needs three ticks (0 → 10 → 40 → 100 at "×4 or +10 per minute") before
/// its last instances even start to boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BacklogScaleUp {
    /// The percent and absolute steps hold whatever is waiting (the HPA's policies).
    Limited,
    /// Up to the instances the waiting messages need, at once, when the steps allow fewer.
    #[default]
    Drain,
}

impl ScaleUpLimit {
    /// The Kubernetes HPA's default scale-up behaviour: 100 % or 4 pods per 15 s.
    pub const HPA: ScaleUpLimit =
        ScaleUpLimit { percent: 100.0, absolute: 4, period: Duration::from_secs(15), backlog: BacklogScaleUp::Limited };

    /// The most the fleet may reach from `base` within a period: `base + max(base × percent /
    /// 100, absolute)`, never below `current`.
    ///
    /// ```
    /// use switchyard_algorithms::scaling::ScaleUpLimit;
    /// let default = ScaleUpLimit::default(); // ×4 or +10 per minute
    /// assert_eq!(default.limit(0, 0), 10);
    /// assert_eq!(default.limit(10, 10), 40);
    /// assert_eq!(ScaleUpLimit::HPA.limit(8, 8), 16);
    /// ```
    pub fn limit(&self, base: u32, current: u32) -> u32 {
        let step = ((f64::from(base) * self.percent / 100.0).ceil() as u32).max(self.absolute);
        base.saturating_add(step).max(current)
    }

    /// The size growth is counted from: the size in force at the start of the period (the last
    /// tick at or before it), or any smaller size since. Counting from the size after the previous
    /// tick instead lets ticks closer than the period compound the limit (issue 19: 0 → 10 → 40
    /// → 100 in 6.9 s with ticks 3 s apart). When the history starts inside the period, the size
    /// at its start is unknown and counts as zero (the absolute step only); with no history at
    /// all, the period has seen no change and the base is the current size.
    pub fn base(&self, current: u32, history: &[HistoryEntry], now: Time) -> u32 {
        let start = now - self.period;
        let at_start = history.iter().filter(|h| h.at <= start).max_by_key(|h| h.at).map(|h| h.desired);
        let since = history.iter().filter(|h| h.at > start && h.at <= now).map(|h| h.desired).min();
        match (at_start, since) {
            (Some(at_start), since) => since.map_or(at_start, |s| s.min(at_start)).min(current),
            (None, Some(_)) => 0,
            (None, None) => current,
        }
    }
}

impl Default for ScaleUpLimit {
    fn default() -> Self {
        ScaleUpLimit { percent: 300.0, absolute: 10, period: Duration::from_secs(60), backlog: BacklogScaleUp::Drain }
    }
}

/// What is known about work on the fleet, for the backlog's scale-up, scale to zero and
/// activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Activity {
    /// Messages waiting (visible): one is enough to wake a fleet at zero.
    pub waiting: u64,
    /// Instances the messages in the queue need, each given a full acceptable backlog (the backlog
    /// policy's count): how far [`BacklogScaleUp::Drain`] may lift the scale-up limit. 0 when the
    /// fleet has no queue.
    pub backlog_needs: u32,
    /// Any work now: messages waiting or in flight, or workers that reported processing.
    pub active_now: bool,
    /// When activity was last seen, as recorded by earlier ticks (`Decision::last_active`).
    pub last_active: Option<Time>,
}

/// One step of a decision that changed (or pinned) the number.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Recommended {
        replicas: u32,
        reason: Reason,
    },
    /// Within the dead band of the current size: no change.
    WithinTolerance {
        tolerance: f64,
        replicas: u32,
    },
    /// Instances are still booting: no scale-in until they are in service.
    HeldForWarmUp {
        pending: u32,
        replicas: u32,
    },
    /// The history does not reach back a whole scale-down window (a scaler just deployed, a fleet
    /// just added): what was recommended at the window's start is unknown, so no scale-in yet.
    HeldForUnknownWindow {
        /// How far back the history reaches (`None`: no history at all).
        known_for: Option<Duration>,
        window: Duration,
        replicas: u32,
    },
    /// The highest recommendation within the window (HPA scale-down stabilization).
    StabilizedDown {
        window: Duration,
        highest: u32,
        replicas: u32,
    },
    /// A scale-in that would turn a scale-out around, with `changes` direction changes already
    /// within the window: it and the scale-out that may follow would exceed the budget.
    HeldForDirectionBudget {
        changes: u32,
        budget: u32,
        window: Duration,
        replicas: u32,
    },
    /// A scale-in that would turn a scale-out around, with `changes` direction changes already
    /// within the window, when the fleet has flapped within it: a scale-in from `undone_from`
    /// (at least half the fleet) was undone within `undone_within`. The load comes back.
    HeldAfterFlap {
        changes: u32,
        budget: u32,
        window: Duration,
        undone_from: u32,
        undone_within: Duration,
        replicas: u32,
    },
    RateLimitedUp {
        base: u32,
        limit: u32,
        replicas: u32,
    },
    /// Above the rate limit, up to what the messages already waiting need
    /// ([`BacklogScaleUp::Drain`]).
    ScaledUpForBacklog {
        base: u32,
        limit: u32,
        backlog_needs: u32,
        replicas: u32,
    },
    Clamped {
        min: u32,
        max: u32,
        replicas: u32,
    },
    /// Idle, but not for long enough to go to zero.
    KeptAwake {
        idle_for: Duration,
        needed: Option<Duration>,
        replicas: u32,
    },
    ScaledToZero {
        idle_for: Duration,
    },
    /// Waking from zero takes longer than the SLO allows, and traffic is likely (the last arrival
    /// is within `likely_for` of now): keep an instance warm instead of going to zero.
    KeptWarmForSlo {
        idle_for: Duration,
        wake_time: Duration,
        age_target: Duration,
        since_arrival: Duration,
        likely_for: Duration,
        replicas: u32,
    },
    /// Waking from zero takes longer than the SLO allows, and the arrivals are known for only the
    /// last `known_for` of the `window` (a new queue, a scaler just deployed): too little seen to
    /// call traffic unlikely, so keep an instance warm.
    KeptWarmTrafficUnknown {
        idle_for: Duration,
        wake_time: Duration,
        age_target: Duration,
        known_for: Duration,
        window: Duration,
        replicas: u32,
    },
    /// Went to zero although waking takes longer than the SLO allows: the fleet puts cost first.
    ZeroDespiteSlo {
        wake_time: Duration,
        age_target: Duration,
    },
    /// A fleet at zero with messages waiting gets at least one instance.
    Activated {
        waiting: u64,
        replicas: u32,
    },
}

/// The outcome of one tick for one fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub current: u32,
    pub desired: u32,
    pub steps: Vec<Step>,
    /// To store and pass back next tick.
    pub record: HistoryEntry,
    /// To store and pass back next tick as `Activity::last_active`: now if active, else the
    /// earlier value — or now, if idleness is seen for the first time (starting the idle clock).
    pub last_active: Time,
}

impl Decision {
    pub fn changes(&self) -> bool {
        self.desired != self.current
    }

    /// The step that set the final number (for a one-line reason in the log).
    pub fn deciding_step(&self) -> Option<&Step> {
        self.steps.last()
    }
}

/// At most `changes` direction changes of a running fleet within `window`: once the window holds
/// `changes − 1`, a scale-in that would turn a scale-out around waits — it and the scale-out that
/// may follow would exceed the budget — if that scale-out is likely:
/// - the scale-in is small (the recommendation at most `hold_at_most` of the fleet below it): the
///   load has barely fallen;
/// - or the fleet has flapped within the window ([`DirectionBudget::flap_within`]): a scale-in
///   from at least half its current size was undone within the scale-down window. A load that
///   comes back at once after falling (periodic producers, a sawtooth) comes back again.
///
/// A scale-out never waits: the SLO comes first. Nor does a larger scale-in of a load that has
/// not flapped: the load has clearly fallen, and holding would pay for many idle instances (a
/// fleet of 100 after a spike). Going to zero and waking from it are not counted, nor held: scale
/// to zero has its own idle time.
///
/// A fleet that turns often pays twice for each turn: instances removed boot again (paid, not
/// serving) when the load comes back, and the SLO is at risk for a boot's time. Cluster
/// Autoscaler's `--scale-down-delay-after-add` and AWS's scale-in cooldown curb the same thing
/// with a fixed delay, as the HPA's stabilization window does ("prevent flapping", Kubernetes
/// API `autoscaling/v2` `HPAScalingRules`); a delay shorter than a load's period lets the fleet
/// flap every period. A budget lets a fleet follow its load until it
/// starts to flap, then holds until its turns age out of the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DirectionBudget {
    pub changes: u32,
    pub window: Duration,
    /// The largest share of the fleet below it a recommendation may be for its scale-in to be
    /// held, in (0, 1].
    pub hold_at_most: f64,
}

impl Default for DirectionBudget {
    /// Two per hour (a fleet may follow one burst out and back in each hour); a scale-in is held
    /// when the load needs at least half the fleet, or after a flap.
    fn default() -> Self {
        DirectionBudget { changes: 2, window: Duration::from_secs(3600), hold_at_most: 0.5 }
    }
}

impl DirectionBudget {
    /// The direction changes of a running fleet within the window, and the direction of the last
    /// change (`Some(true)`: out), from the desired sizes of the history and `current`. A turn
    /// counts when its second change falls within the window; the first may be older, as far back
    /// as the history reaches. A change from or to zero is a wake cycle: not counted, and the next
    /// change has no direction to turn.
    pub fn changes_within(&self, history: &[HistoryEntry], current: u32, now: Time) -> (u32, Option<bool>) {
        let from = now - self.window;
        let (mut changes, mut last, mut previous): (u32, Option<bool>, Option<u32>) = (0, None, None);
        for (at, size) in sizes(history, current, now) {
            if let Some(p) = previous.filter(|&p| p != size) {
                if p == 0 || size == 0 {
                    last = None;
                } else {
                    let out = size > p;
                    if last.is_some_and(|l| l != out) && at >= from {
                        changes += 1;
                    }
                    last = Some(out);
                }
            }
            previous = Some(size);
        }
        (changes, last)
    }

    /// Whether the fleet flapped within the window, and from which size: a scale-in from at least
    /// half of `current`, to a running size, followed by a scale-out within `undone_within`
    /// (before any change to or from zero). The latest such scale-in's starting size. A smaller
    /// scale-in undone (a fleet of 20 trimmed to 19 before a burst that takes it to 96) says
    /// nothing about a fleet of 96.
    pub fn flap_within(
        &self,
        history: &[HistoryEntry],
        current: u32,
        now: Time,
        undone_within: Duration,
    ) -> Option<u32> {
        let from = now - self.window;
        let sizes = sizes(history, current, now);
        let undone = |i: usize| {
            let (at, mut size) = sizes[i];
            for &(later, next) in &sizes[i + 1..] {
                if later.since(at) > undone_within || next == 0 {
                    return false;
                }
                if next > size {
                    return true;
                }
                size = next;
            }
            false
        };
        (1..sizes.len())
            .rev()
            .filter(|&i| {
                let ((_, before), (at, after)) = (sizes[i - 1], sizes[i]);
                at >= from && after > 0 && after < before && 2 * u64::from(before) >= u64::from(current)
            })
            .find(|&i| undone(i))
            .map(|i| sizes[i - 1].1)
    }
}

/// The desired sizes of the history before `now`, oldest first, then `current` at `now`.
fn sizes(history: &[HistoryEntry], current: u32, now: Time) -> Vec<(Time, u32)> {
    let mut sizes: Vec<(Time, u32)> = history.iter().filter(|h| h.at < now).map(|h| (h.at, h.desired)).collect();
    sizes.sort_by_key(|&(at, _)| at);
    sizes.push((now, current));
    sizes
}

/// Turns recommendations into desired capacities.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stabilizer {
    /// Dead band: a recommendation within this share of the current size changes nothing (HPA's
    /// tolerance, 10 %), so noise in the signals does not move the fleet by one instance each way.
    /// Compared before rounding ([`Recommendation::unrounded`]), as the HPA compares its ratio.
    pub tolerance: f64,
    /// HPA's default: 300 s.
    pub scale_down_window: Duration,
    pub scale_up: ScaleUpLimit,
    /// Idle time before a fleet whose minimum is 0 goes to zero (KEDA's cooldownPeriod default is
    /// 300 s). `None`: never below one instance.
    pub scale_to_zero_after: Option<Duration>,
    /// `None`: a fleet follows its load however often it turns.
    pub direction_budget: Option<DirectionBudget>,
}

impl Default for Stabilizer {
    fn default() -> Self {
        Stabilizer {
            tolerance: 0.1,
            scale_down_window: Duration::from_secs(300),
            scale_up: ScaleUpLimit::default(),
            scale_to_zero_after: Some(Duration::from_secs(300)),
            direction_budget: Some(DirectionBudget::default()),
        }
    }
}

impl Stabilizer {
    /// How far back the history must reach: the longest window that reads it, inclusive. Keep a
    /// tick at least `scale_down_window` old: without one the window counts as unknown and no
    /// scale-in happens ([`Step::HeldForUnknownWindow`]).
    pub fn history_needed(&self) -> Duration {
        self.scale_down_window
            .max(self.scale_up.period)
            .max(self.scale_to_zero_after.unwrap_or_default())
            .max(self.direction_budget.map_or(Duration::ZERO, |b| b.window))
    }

    pub fn decide(
        &self,
        fleet: &FleetState,
        recommendation: &Recommendation,
        history: &[HistoryEntry],
        activity: Activity,
        now: Time,
    ) -> Decision {
        let current = fleet.desired;
        let mut n = recommendation.replicas;
        let mut steps = vec![Step::Recommended { replicas: n, reason: recommendation.reason.clone() }];
        let within = |window: Duration| {
            let from = now - window;
            history.iter().filter(move |h| h.at >= from && h.at <= now)
        };

        // The HPA's dead band: the unrounded recommendation over the current size, within the
        // tolerance of 1. Comparing rounded counts instead turns noise of a fraction of an
        // instance into a whole instance each way (5.3 needed of 5 is not 6).
        if current > 0
            && n != current
            && (recommendation.unrounded() / f64::from(current) - 1.0).abs() <= self.tolerance
        {
            n = current;
            steps.push(Step::WithinTolerance { tolerance: self.tolerance, replicas: n });
        }

        if n < current && fleet.pending > 0 {
            n = current;
            steps.push(Step::HeldForWarmUp { pending: fleet.pending, replicas: n });
        }

        // The HPA records the current size as a new autoscaler's first recommendation
        // (`recordInitialRecommendation`, pkg/controller/podautoscaler/horizontal.go): until the
        // history holds a tick a whole window old, the window's start is unknown and no scale-in
        // goes below the current size.
        let window_known = history.iter().any(|h| h.at + self.scale_down_window <= now);
        if n < current && !window_known {
            n = current;
            let known_for = history.iter().map(|h| now.since(h.at)).max();
            steps.push(Step::HeldForUnknownWindow { known_for, window: self.scale_down_window, replicas: n });
        }
        if n < current {
            let highest = within(self.scale_down_window).map(|h| h.recommendation).fold(n, u32::max);
            let stabilized = highest.min(current);
            if stabilized != n {
                n = stabilized;
                steps.push(Step::StabilizedDown { window: self.scale_down_window, highest, replicas: n });
            }
        }

        let last_active = if activity.active_now { now } else { activity.last_active.unwrap_or(now) };
        let idle_for = now.since(last_active);
        let goes_to_zero = n == 0 && self.scale_to_zero_after.is_some_and(|needed| idle_for >= needed);
        if let Some(budget) = self.direction_budget.filter(|_| n < current && !goes_to_zero) {
            let (changes, last) = budget.changes_within(history, current, now);
            // How far the load has fallen: the recommendation's, not the window's first step down
            // (after a burst of 100 the window steps 100 → 81 → 76 → 17 for a load needing 15).
            let freed = f64::from(current - recommendation.replicas.min(n)) / f64::from(current);
            // Turning now is affordable only if no scale-out follows: one is likely after a small
            // scale-in, or once the fleet has flapped.
            if last == Some(true) && changes + 2 > budget.changes {
                let (budget_changes, window) = (budget.changes, budget.window);
                let undone_within = self.scale_down_window;
                if freed <= budget.hold_at_most {
                    n = current;
                    steps.push(Step::HeldForDirectionBudget { changes, budget: budget_changes, window, replicas: n });
                } else if let Some(undone_from) = budget.flap_within(history, current, now, undone_within) {
                    n = current;
                    steps.push(Step::HeldAfterFlap {
                        changes,
                        budget: budget_changes,
                        window,
                        undone_from,
                        undone_within,
                        replicas: n,
                    });
                }
            }
        }

        if n > current {
            let base = self.scale_up.base(current, history, now);
            let limit = self.scale_up.limit(base, current);
            let backlog_needs = match self.scale_up.backlog {
                BacklogScaleUp::Drain => activity.backlog_needs,
                BacklogScaleUp::Limited => 0,
            };
            if n > limit && backlog_needs > limit {
                n = n.min(backlog_needs);
                steps.push(Step::ScaledUpForBacklog { base, limit, backlog_needs, replicas: n });
            } else if n > limit {
                n = limit;
                steps.push(Step::RateLimitedUp { base, limit, replicas: n });
            }
        }

        let bounds: Bounds = fleet.bounds;
        let clamped = bounds.clamp(n);
        if clamped != n {
            n = clamped;
            steps.push(Step::Clamped { min: bounds.min(), max: bounds.max(), replicas: n });
        }

        if n == 0 && current > 0 {
            match self.scale_to_zero_after {
                Some(needed) if idle_for >= needed => steps.push(Step::ScaledToZero { idle_for }),
                needed => {
                    n = bounds.clamp(1);
                    steps.push(Step::KeptAwake { idle_for, needed, replicas: n });
                }
            }
        }

        if n == 0 && activity.waiting > 0 && bounds.max() > 0 {
            n = 1;
            steps.push(Step::Activated { waiting: activity.waiting, replicas: n });
        }

        Decision {
            current,
            desired: n,
            steps,
            record: HistoryEntry { at: now, recommendation: recommendation.replicas, desired: n },
            last_active,
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Recommended { replicas, reason } => write!(f, "recommended {replicas}: {reason}"),
            Step::WithinTolerance { tolerance, replicas } => {
                write!(f, "within {:.0} % of the current size: keep {replicas}", tolerance * 100.0)
            }
            Step::HeldForWarmUp { pending, replicas } => {
                write!(f, "{pending} instance(s) still booting: keep {replicas}")
            }
            Step::HeldForUnknownWindow { known_for, window, replicas } => match known_for {
                Some(known_for) => write!(
                    f,
                    "the history reaches back {} s of the {} s scale-down window: keep {replicas}",
                    known_for.as_secs(),
                    window.as_secs()
                ),
                None => write!(f, "no history of the {} s scale-down window yet: keep {replicas}", window.as_secs()),
            },
            Step::StabilizedDown { window, highest, replicas } => write!(
                f,
                "highest recommendation in the last {} s was {highest}: scale in only to {replicas}",
                window.as_secs()
            ),
            Step::HeldForDirectionBudget { changes, budget, window, replicas } => write!(
                f,
                "{changes} direction change(s) in the last {} s, {budget} allowed: scaling in now would turn the \
                 fleet again, keep {replicas}",
                window.as_secs()
            ),
            Step::HeldAfterFlap { changes, budget, window, undone_from, undone_within, replicas } => write!(
                f,
                "{changes} direction change(s) in the last {} s, {budget} allowed, and a scale-in from {undone_from} \
                 was undone within {} s: the load comes back, keep {replicas}",
                window.as_secs(),
                undone_within.as_secs()
            ),
            Step::RateLimitedUp { base, limit, replicas } => {
                write!(f, "scale-up limited to {limit} from {base} this period: {replicas}")
            }
            Step::ScaledUpForBacklog { base, limit, backlog_needs, replicas } => write!(
                f,
                "scale-up limited to {limit} from {base} this period, but the messages waiting need \
                 {backlog_needs}: {replicas}"
            ),
            Step::Clamped { min, max, replicas } => write!(f, "clamped to [{min}, {max}]: {replicas}"),
            Step::KeptAwake { idle_for, needed, replicas } => match needed {
                Some(needed) => write!(
                    f,
                    "idle for {} s of the {} s before scaling to zero: keep {replicas}",
                    idle_for.as_secs(),
                    needed.as_secs()
                ),
                None => write!(f, "scale to zero is off: keep {replicas}"),
            },
            Step::ScaledToZero { idle_for } => write!(f, "idle for {} s: scale to zero", idle_for.as_secs()),
            Step::KeptWarmForSlo { idle_for, wake_time, age_target, since_arrival, likely_for, replicas } => write!(
                f,
                "idle for {} s, but waking takes ~{} s, above the {} s SLO, and the last message came {} s ago \
                 (more are likely within {} s): keep {replicas} warm",
                idle_for.as_secs(),
                wake_time.as_secs(),
                age_target.as_secs(),
                since_arrival.as_secs(),
                likely_for.as_secs()
            ),
            Step::KeptWarmTrafficUnknown { idle_for, wake_time, age_target, known_for, window, replicas } => write!(
                f,
                "idle for {} s, but waking takes ~{} s, above the {} s SLO, and arrivals are known for only {} s \
                 of the {} s window: keep {replicas} warm",
                idle_for.as_secs(),
                wake_time.as_secs(),
                age_target.as_secs(),
                known_for.as_secs(),
                window.as_secs()
            ),
            Step::ZeroDespiteSlo { wake_time, age_target } => write!(
                f,
                "cost first: at zero, the next message waits ~{} s to be picked up, above the {} s SLO",
                wake_time.as_secs(),
                age_target.as_secs()
            ),
            Step::Activated { waiting, replicas } => {
                write!(f, "{waiting} message(s) waiting at zero: wake to {replicas}")
            }
        }
    }
}
