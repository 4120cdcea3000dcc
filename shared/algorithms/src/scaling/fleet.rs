//! One fleet's decision from its typed signals: the one function the scaler's tick and the
//! simulator both call, so that what the simulator measures is what the scaler does.
//!
//! Order: every policy of the fleet recommends from its signal ([`FleetPolicy`]); the largest
//! wins ([`Recommendation::combine`]); the [`Stabilizer`] turns it into the desired capacity; then
//! scale to zero is weighed against the latency SLO ([`WakeFromZero`]).

use std::time::Duration;

use super::policy::{BacklogPerInstance, LatencySlo, TargetTracking};
use super::reason::{Reason, Recommendation};
use super::signals::{AgeSource, FleetState, MetricSample, QueueState, latest_sample};
use super::stabilize::{Activity, Decision, HistoryEntry, Stabilizer, Step};
use crate::target::Time;

/// What a fleet scales on, validated once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetPolicy {
    /// Target tracking on per-instance metrics, in the order of [`FleetSignals::metrics`].
    pub metrics: Vec<TargetTracking>,
    pub backlog: Option<BacklogPerInstance>,
    pub slo: Option<LatencySlo>,
    /// Whether, and on what, the fleet idles to zero.
    pub idle: IdleToZero,
}

/// When a fleet goes to zero (after the stabilizer's `scale_to_zero_after` of no activity), and
/// what wakes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleToZero {
    /// Never: the fleet follows its metrics (a web fleet without a router to wake it).
    Never,
    /// A queue consumer: idle while nothing is waiting or in flight and its workers report no busy
    /// time; a waiting message wakes it.
    OnQueue,
    /// A web fleet behind the router: idle while no router environment counted a request for its
    /// group; the router wakes it on the first request.
    OnRequests,
}

/// Whether a fleet at zero should rather keep one instance, and what it costs to wake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WakeFromZero {
    /// From a message arriving at a fleet at zero to an instance processing it: boot plus the
    /// time to notice (up to one tick). Compared with the SLO's age target.
    pub wake_time: Duration,
    pub priority: Priority,
    /// Traffic counts as likely while the time since the last arrival is within this multiple of
    /// the longest recent gap between arrivals (in tenths: 15 is 1.5×).
    pub gap_factor_tenths: u32,
    /// How far back arrivals are read for their gaps.
    pub traffic_window: Duration,
}

/// What a fleet puts first when waking from zero cannot meet its latency SLO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Priority {
    /// Keep one warm instance while traffic is likely: the SLO first.
    #[default]
    Latency,
    /// Go to zero anyway, and say in the decision that the SLO will be missed on wake.
    Cost,
}

impl Default for WakeFromZero {
    /// The simulator's and a typical EC2 fleet's: 90 s boot + up to a 60 s tick.
    fn default() -> Self {
        WakeFromZero {
            wake_time: Duration::from_secs(150),
            priority: Priority::Latency,
            gap_factor_tenths: 15,
            traffic_window: Duration::from_secs(3600),
        }
    }
}

/// Settings shared by every fleet. `Default` is Switchyard's defaults: the scaler's
/// configuration and the simulator both start from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    pub stabilizer: Stabilizer,
    /// A metric sample older than this is missing (the policy holds).
    pub metric_max_age: Duration,
    pub wake: WakeFromZero,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            stabilizer: Stabilizer::default(),
            metric_max_age: Duration::from_secs(300),
            wake: WakeFromZero::default(),
        }
    }
}

impl Tuning {
    /// How far back signals must reach: the longest window that reads them.
    pub fn lookback(&self) -> Duration {
        self.stabilizer.history_needed().max(self.metric_max_age).max(self.wake.traffic_window)
    }
}

/// GetQueueAttributes' counts: exact enough, and immediate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// A series of sums over periods (CloudWatch's `Sum` statistic), each sample stamped with its
/// period's start as CloudWatch stamps it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PeriodSums<'a> {
    pub period: Duration,
    pub samples: &'a [MetricSample],
}

/// Everything one fleet's decision reads, typed: no series is looked up by a made-up name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FleetSignals<'a> {
    pub fleet: FleetState,
    /// The queue's depth, for a fleet that drains one; `None` when it could not be read.
    pub queue: Option<QueueDepth>,
    /// One series per [`FleetPolicy::metrics`] entry, in order (a shorter slice: missing data).
    pub metrics: &'a [&'a [MetricSample]],
    /// Messages sent to the queue per period (SQS `NumberOfMessagesSent`, Sum).
    pub messages_sent: PeriodSums<'a>,
    /// SQS `ApproximateAgeOfOldestMessage` (Maximum), seconds.
    pub age_of_oldest: &'a [MetricSample],
    /// Busy seconds the fleet's workers reported per period (`WorkerBusySeconds`, Sum).
    pub worker_busy: PeriodSums<'a>,
    /// Requests the routers counted for the fleet's group per period (`Requests` by `Group`, Sum).
    pub requests: PeriodSums<'a>,
    /// Earlier decisions, as [`FleetDecision::record`] returned them.
    pub history: &'a [HistoryEntry],
    /// When the fleet was last seen active, as [`FleetDecision::last_active`] returned it.
    pub last_active: Option<Time>,
    pub now: Time,
}

/// The queue inputs of a decision, for the decision log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueInputs {
    pub depth: QueueDepth,
    pub arrival_rate_per_s: Option<f64>,
    /// The oldest message's age the latency policy used, and where it came from.
    pub age_of_oldest: Option<(Duration, AgeSource)>,
}

/// One fleet's decision: the number, each step with its reason, and what to keep for next time.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDecision {
    pub recommendation: Recommendation,
    pub decision: Decision,
    pub queue: Option<QueueInputs>,
}

impl FleetDecision {
    pub fn desired(&self) -> u32 {
        self.decision.desired
    }

    /// To keep and hand back next time in [`FleetSignals::history`].
    pub fn record(&self) -> HistoryEntry {
        self.decision.record
    }

    /// To keep and hand back next time as [`FleetSignals::last_active`].
    pub fn last_active(&self) -> Time {
        self.decision.last_active
    }
}

/// Why a fleet could not be decided at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecideError {
    #[error("no signal gave a recommendation: the fleet has neither metrics nor a queue policy")]
    NoSignal,
}

/// The decision for one fleet: `recommend → combine → stabilize`, then scale to zero weighed
/// against the SLO. Pure: the same signals give the same decision.
pub fn decide_fleet(
    policy: &FleetPolicy,
    signals: &FleetSignals<'_>,
    tuning: &Tuning,
) -> Result<FleetDecision, DecideError> {
    let now = signals.now;
    let fleet = &signals.fleet;
    let max_age = tuning.metric_max_age;
    let mut recommendations: Vec<Recommendation> = Vec::with_capacity(policy.metrics.len() + 2);
    for (i, tracking) in policy.metrics.iter().enumerate() {
        let value = signals.metrics.get(i).and_then(|samples| latest_sample(samples, now, max_age));
        recommendations.push(tracking.recommend(fleet.in_service, value));
    }

    let mut queue_inputs = None;
    let mut backlog_needs = 0;
    if let Some(depth) = signals.queue {
        let sent = signals.messages_sent;
        let arrival_rate = latest_sample(sent.samples, now, max_age)
            .filter(|_| !sent.period.is_zero())
            .map(|s| s / sent.period.as_secs_f64());
        let reported_age = latest_sample(signals.age_of_oldest, now, max_age)
            .filter(|a| a.is_finite() && *a >= 0.0)
            .map(Duration::from_secs_f64);
        let state = QueueState {
            visible: depth.visible,
            in_flight: depth.in_flight,
            delayed: depth.delayed,
            oldest_age: reported_age,
            arrival_rate,
        };
        backlog_needs = backlog_needs_for(policy, &state);
        recommendations.extend(policy.backlog.map(|b| b.recommend(Some(&state))));
        let slo = policy.slo.map(|s| s.recommend(Some(&state)));
        let age_of_oldest = match slo.as_ref().map(|r| &r.reason) {
            Some(Reason::LatencySlo { age, .. }) => *age,
            _ => reported_age.map(|a| (a, AgeSource::Reported)),
        };
        recommendations.extend(slo);
        queue_inputs = Some(QueueInputs { depth, arrival_rate_per_s: arrival_rate, age_of_oldest });
    } else if policy.backlog.is_some() || policy.slo.is_some() {
        recommendations
            .push(Recommendation { replicas: fleet.desired, reason: Reason::MissingData { signal: "queue depth" } });
    }
    let recommendation = Recommendation::combine(recommendations, fleet.desired).ok_or(DecideError::NoSignal)?;

    // A fleet above zero whose last recorded size was zero was woken by someone else (the router,
    // on a request): that is activity, or the requests' metrics, a minute late, would let the
    // next tick put it back to zero.
    let woken = fleet.desired > 0 && signals.history.iter().max_by_key(|h| h.at).is_some_and(|h| h.desired == 0);
    let active_now = match (policy.idle, signals.queue) {
        (IdleToZero::OnQueue, Some(d)) => d.visible + d.in_flight + d.delayed > 0,
        (IdleToZero::OnRequests, _) => woken,
        _ => true,
    };
    let last_active =
        signals.last_active.max(last_nonzero(signals.worker_busy, now)).max(last_nonzero(signals.requests, now));
    // A web fleet's metrics (CPU, say) never recommend zero: with no request for the idle time
    // it needs none. The stabilizer's scale-down window still applies to this recommendation.
    let mut recommendation = recommendation;
    if policy.idle == IdleToZero::OnRequests
        && !active_now
        && let (Some(after), Some(seen)) = (tuning.stabilizer.scale_to_zero_after, last_active)
        && now.since(seen) >= after
    {
        recommendation = Recommendation { replicas: 0, reason: Reason::NoRequests { idle_for: now.since(seen) } };
    }
    let activity = Activity { waiting: signals.queue.map_or(0, |d| d.visible), backlog_needs, active_now, last_active };
    let mut decision = tuning.stabilizer.decide(fleet, &recommendation, signals.history, activity, now);
    if let (Some(slo), Some(Step::ScaledToZero { idle_for })) = (policy.slo, decision.steps.last().cloned()) {
        weigh_zero_against_slo(&mut decision, idle_for, slo.age_target(), signals, &tuning.wake);
    }
    Ok(FleetDecision { recommendation, decision, queue: queue_inputs })
}

/// Instances the messages in the queue need, each given a full acceptable backlog: the backlog
/// policy's count, or without one, the SLO's (`μ × age target` messages each).
fn backlog_needs_for(policy: &FleetPolicy, state: &QueueState) -> u32 {
    match (policy.backlog, policy.slo) {
        (Some(backlog), _) => backlog.recommend(Some(state)).replicas,
        (None, Some(slo)) => {
            let needs = (state.visible as f64 / slo.acceptable_backlog_per_instance()).ceil();
            if needs.is_finite() { needs.min(f64::from(u32::MAX)) as u32 } else { 0 }
        }
        (None, None) => 0,
    }
}

/// The end of the newest period with a positive sum: the workers' busy time (activity the
/// queue's depth misses when jobs are quick and ticks are a minute apart), or the routers'
/// requests.
fn last_nonzero(sums: PeriodSums<'_>, now: Time) -> Option<Time> {
    sums.samples.iter().rev().find(|s| s.value.is_finite() && s.value > 0.0).map(|s| (s.at + sums.period).min(now))
}

/// Waking from zero takes `wake.wake_time`: when that is longer than the SLO's age target, the
/// first message after an idle spell breaks the SLO. Keep one instance while traffic is likely
/// (the time since the last arrival within `gap_factor` × the longest recent gap between
/// arrivals), or while the arrivals are known for only part of the traffic window (a new queue, a
/// scaler just deployed: too little seen to call traffic unlikely) — unless the fleet puts cost
/// first; then go to zero and say so.
fn weigh_zero_against_slo(
    decision: &mut Decision,
    idle_for: Duration,
    age_target: Duration,
    signals: &FleetSignals<'_>,
    wake: &WakeFromZero,
) {
    if wake.wake_time <= age_target {
        return;
    }
    if wake.priority == Priority::Cost {
        decision.steps.push(Step::ZeroDespiteSlo { wake_time: wake.wake_time, age_target });
        return;
    }
    let replicas = signals.fleet.bounds.clamp(1);
    let step = match traffic(signals.messages_sent, signals.now, wake) {
        Traffic::Unlikely => return,
        Traffic::PartlyKnown { known_for } => Step::KeptWarmTrafficUnknown {
            idle_for,
            wake_time: wake.wake_time,
            age_target,
            known_for,
            window: wake.traffic_window,
            replicas,
        },
        Traffic::Likely { since_arrival, likely_for } => Step::KeptWarmForSlo {
            idle_for,
            wake_time: wake.wake_time,
            age_target,
            since_arrival,
            likely_for,
            replicas,
        },
    };
    decision.steps.push(step);
    decision.desired = replicas;
    decision.record.desired = replicas;
}

/// Whether another message is likely soon, from the arrivals of the traffic window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// The last arrival is within `likely_for` (gap factor × the longest gap) of now.
    Likely { since_arrival: Duration, likely_for: Duration },
    /// The arrivals are known for only the last `known_for` of the window, and that part does not
    /// show traffic likely: too little seen to call it unlikely.
    PartlyKnown { known_for: Duration },
    /// The whole window is known (or nothing at all is) and the last arrival is too long ago.
    Unlikely,
}

/// Reads the arrivals per period within the traffic window. The gaps are those between periods
/// with arrivals, and the one before the first arrival from the start of what is known (at least
/// that long: a single arrival in the window is a gap to learn from too).
fn traffic(sent: PeriodSums<'_>, now: Time, wake: &WakeFromZero) -> Traffic {
    let window_start = now - wake.traffic_window;
    let known: Vec<&MetricSample> = sent.samples.iter().filter(|s| s.at <= now && s.value.is_finite()).collect();
    let Some(earliest) = known.iter().map(|s| s.at).min() else {
        return Traffic::Unlikely;
    };
    let from = earliest.max(window_start);
    let mut arrivals = known.iter().filter(|s| s.at >= from && s.value > 0.0).map(|s| s.at).collect::<Vec<_>>();
    arrivals.sort_unstable();
    let likely = arrivals.last().and_then(|&last| {
        let first = arrivals.first().copied().unwrap_or(last);
        let between = arrivals.windows(2).map(|w| w[1].since(w[0])).max().unwrap_or_default();
        let longest = first.since(from).max(between);
        let likely_for = longest * wake.gap_factor_tenths / 10;
        let since_arrival = now.since(last);
        (since_arrival < likely_for).then_some(Traffic::Likely { since_arrival, likely_for })
    });
    match likely {
        Some(likely) => likely,
        None if now.since(earliest) < wake.traffic_window => Traffic::PartlyKnown { known_for: now.since(earliest) },
        None => Traffic::Unlikely,
    }
}
