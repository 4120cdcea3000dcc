//! The policies compared: Switchyard's default, and two baselines emulated from their
//! documentation. Each emulation says what it reads and how it decides.

use std::time::Duration;

use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    Activity, BacklogPerInstance, Bounds, FleetPolicy, FleetSignals, FleetState, HistoryEntry, IdleToZero, LatencySlo,
    MetricSample, PeriodSums, QueueDepth, Recommendation, ScaleUpLimit, Stabilizer, Tuning, decide_fleet,
};

use crate::sim::{Autoscaler, Observation, SimConfig};

/// A stabilizer with the state the HPA keeps between syncs (the KEDA + HPA emulation).
#[derive(Debug)]
pub(crate) struct Stabilized {
    stabilizer: Stabilizer,
    bounds: Bounds,
    history: Vec<HistoryEntry>,
    last_active: Option<Time>,
}

impl Stabilized {
    fn new(stabilizer: Stabilizer, config: &SimConfig) -> anyhow::Result<Self> {
        Self::within(stabilizer, Bounds::new(config.min, config.max)?)
    }

    pub(crate) fn within(stabilizer: Stabilizer, bounds: Bounds) -> anyhow::Result<Self> {
        Ok(Stabilized { stabilizer, bounds, history: Vec::new(), last_active: None })
    }

    /// Stabilize `recommendation` (`pending` instances still booting), and remember the tick.
    pub(crate) fn decide(
        &mut self,
        recommendation: &Recommendation,
        now_s: u64,
        (desired, in_service): (u32, u32),
        pending: u32,
        activity: (u64, bool),
    ) -> u32 {
        let now = Time::from_secs(now_s);
        let fleet = FleetState { desired, in_service, pending, bounds: self.bounds };
        let (waiting, active_now) = activity;
        // The HPA has no backlog policy: its scale-up steps hold whatever is waiting.
        let activity = Activity { waiting, backlog_needs: 0, active_now, last_active: self.last_active };
        let decision = self.stabilizer.decide(&fleet, recommendation, &self.history, activity, now);
        self.history.push(decision.record);
        self.history.retain(|h| now.since(h.at) <= self.stabilizer.history_needed());
        self.last_active = Some(decision.last_active);
        decision.desired
    }
}

/// Switchyard's consumer-fleet policy, as the scaler Lambda runs it every minute: the scaler's
/// own `decide_fleet` with Switchyard's default tuning (`Tuning::default()`), fed what the
/// scaler's tick reads:
/// - GetQueueAttributes (immediate; visible + in flight) for backlog per instance, target = SLO ÷
///   processing time, and for the latency SLO by Little's law;
/// - CloudWatch's NumberOfMessagesSent per minute, as published (lagging): the arrival rate, and
///   the gaps between arrivals that decide whether to keep a warm instance rather than go to zero;
/// - the history and last-active time of earlier ticks, as the scaler keeps them in CloudWatch.
///
/// The one setting taken from the simulated world rather than the defaults is the time to wake
/// from zero: the world's boot delay plus one tick.
#[derive(Debug)]
pub struct Switchyard {
    policy: FleetPolicy,
    tuning: Tuning,
    bounds: Bounds,
    history: Vec<HistoryEntry>,
    last_active: Option<Time>,
    sent: Vec<MetricSample>,
}

impl Switchyard {
    pub const TICK_S: u64 = 60;

    pub fn new(config: &SimConfig) -> anyhow::Result<Self> {
        let mut tuning = Tuning::default();
        tuning.wake.wake_time = Duration::from_secs_f64(config.boot_delay_s) + Duration::from_secs(Self::TICK_S);
        Ok(Switchyard {
            policy: FleetPolicy {
                metrics: Vec::new(),
                backlog: Some(
                    BacklogPerInstance::new(config.acceptable_backlog_per_instance())?.counting_in_flight(true),
                ),
                slo: Some(LatencySlo::new(Duration::from_secs_f64(config.slo_age_s), 1.0 / config.processing_mean_s)?),
                idle: IdleToZero::OnQueue,
            },
            tuning,
            bounds: Bounds::new(config.min, config.max)?,
            history: Vec::new(),
            last_active: None,
            sent: Vec::new(),
        })
    }
}

impl Autoscaler for Switchyard {
    fn name(&self) -> &'static str {
        "switchyard"
    }

    fn interval_s(&self) -> u64 {
        Self::TICK_S
    }

    fn decide(&mut self, o: &Observation<'_>) -> u32 {
        let now = Time::from_secs(o.now_s);
        // CloudWatch stamps a minute's sum with the minute's start.
        for (minute, published) in o.cloudwatch.iter().enumerate().skip(self.sent.len()) {
            self.sent.push(MetricSample { at: Time::from_secs(minute as u64 * 60), value: published.sent });
        }
        let signals = FleetSignals {
            fleet: FleetState { desired: o.desired, in_service: o.in_service, pending: o.pending, bounds: self.bounds },
            queue: Some(QueueDepth { visible: o.visible, in_flight: o.in_flight, delayed: 0 }),
            metrics: &[],
            messages_sent: PeriodSums { period: Duration::from_secs(60), samples: &self.sent },
            age_of_oldest: &[],
            worker_busy: PeriodSums::default(),
            requests: PeriodSums::default(),
            history: &self.history,
            last_active: self.last_active,
            now,
        };
        let Ok(decided) = decide_fleet(&self.policy, &signals, &self.tuning) else {
            return o.desired;
        };
        self.history.push(decided.record());
        let lookback = self.tuning.lookback();
        self.history.retain(|h| now.since(h.at) <= lookback);
        self.last_active = Some(decided.last_active());
        decided.desired()
    }
}

/// AWS target tracking on backlog per instance ("Scaling policy based on Amazon SQS"):
/// - metric: ApproximateNumberOfMessagesVisible ÷ GroupInServiceInstances, 1-minute CloudWatch
///   datapoints (published with the lag the simulation sets), target = acceptable backlog per
///   instance;
/// - scale-out alarm: 3 consecutive datapoints above target → capacity `ceil(in service × metric ÷
///   target)`; capacity still warming up counts as capacity (never below the current desired);
/// - scale-in alarm: 15 consecutive datapoints below 90 % of target → scale in towards the same
///   formula, "conservatively": at most 10 % of capacity (at least 1) per action, one action per
///   5 minutes;
/// - min 1: with no instance in service the metric has no value and nothing would wake the group.
#[derive(Debug)]
pub struct AwsTargetTracking {
    alarms: TrackingAlarms,
    seen: usize,
}

impl AwsTargetTracking {
    pub fn new(config: &SimConfig) -> Self {
        AwsTargetTracking {
            alarms: TrackingAlarms::new(config.acceptable_backlog_per_instance(), config.min, config.max),
            seen: 0,
        }
    }
}

/// AWS target tracking's two alarms on 1-minute datapoints of a per-instance metric, and what they
/// do (see [`AwsTargetTracking`]): out after 3 datapoints above target, in after 15 below 90 % of
/// it, at most 10 % per action and one action per 5 minutes; never below 1.
#[derive(Debug)]
pub(crate) struct TrackingAlarms {
    target: f64,
    min: u32,
    max: u32,
    datapoints: Vec<f64>,
    last_scale_in_s: Option<u64>,
}

impl TrackingAlarms {
    pub(crate) fn new(target: f64, min: u32, max: u32) -> Self {
        TrackingAlarms { target, min: min.max(1), max, datapoints: Vec::new(), last_scale_in_s: None }
    }

    /// A datapoint published by CloudWatch, oldest first.
    pub(crate) fn push(&mut self, value: f64) {
        self.datapoints.push(value);
    }

    /// The new desired capacity from the datapoints published so far.
    pub(crate) fn decide(&mut self, now_s: u64, desired: u32, in_service: u32) -> u32 {
        let Some(&metric) = self.datapoints.last() else {
            return desired.max(self.min);
        };
        let proposed = (f64::from(in_service) * metric / self.target).ceil() as u32;
        // Whether the last `n` datapoints all satisfy `breach` (an alarm's "n out of n").
        let alarm = |n: usize, breach: &dyn Fn(f64) -> bool| {
            self.datapoints.len() >= n && self.datapoints[self.datapoints.len() - n..].iter().all(|&v| breach(v))
        };
        if alarm(3, &|v| v > self.target) && proposed > desired {
            return proposed.clamp(self.min, self.max);
        }
        let cooled = self.last_scale_in_s.is_none_or(|t| now_s >= t + 300);
        if cooled && alarm(15, &|v| v < 0.9 * self.target) && proposed < desired {
            let step = ((f64::from(desired) * 0.1).ceil() as u32).max(1);
            self.last_scale_in_s = Some(now_s);
            return proposed.max(desired.saturating_sub(step)).clamp(self.min, self.max);
        }
        desired.clamp(self.min, self.max)
    }
}

impl Autoscaler for AwsTargetTracking {
    fn name(&self) -> &'static str {
        "aws target tracking"
    }

    fn interval_s(&self) -> u64 {
        60
    }

    fn decide(&mut self, o: &Observation<'_>) -> u32 {
        for minute in &o.cloudwatch[self.seen.min(o.cloudwatch.len())..] {
            if minute.in_service_avg > 0.0 {
                self.alarms.push(minute.visible_avg / minute.in_service_avg);
            }
        }
        self.seen = o.cloudwatch.len();
        self.alarms.decide(o.now_s, o.desired, o.in_service)
    }
}

/// KEDA's SQS scaler driving the HPA, with their defaults:
/// - KEDA polls GetQueueAttributes every 30 s: visible + in flight (`scaleOnInFlight: true`),
///   `queueLength` = acceptable backlog per instance (the same target as the others);
/// - the HPA syncs every 15 s: `ceil(metric ÷ queueLength)` unless the usage ratio `metric ÷
///   (queueLength × current)` is within 10 % of 1 (its replica calculator's tolerance); scale-up
///   100 % or 4 pods per 15 s (the larger); scale-down stabilization 300 s;
/// - KEDA activates 0 → 1 on any message (`activationQueueLength: 0`) and goes to zero after
///   `cooldownPeriod` 300 s without activity.
#[derive(Debug)]
pub struct KedaHpa {
    queue_length: f64,
    stabilized: Stabilized,
    metric: Option<u64>,
}

impl KedaHpa {
    pub fn new(config: &SimConfig) -> anyhow::Result<Self> {
        Ok(KedaHpa {
            queue_length: config.acceptable_backlog_per_instance(),
            stabilized: Stabilized::new(
                // The HPA's documented defaults and KEDA's cooldownPeriod: the peer's, not Switchyard's.
                // The tolerance is the replica calculator's (in `decide`); the HPA's normalizer
                // applies no second dead band.
                Stabilizer {
                    tolerance: 0.0,
                    scale_down_window: Duration::from_secs(300),
                    scale_up: ScaleUpLimit::HPA,
                    scale_to_zero_after: Some(Duration::from_secs(300)),
                    direction_budget: None,
                },
                config,
            )?,
            metric: None,
        })
    }
}

impl Autoscaler for KedaHpa {
    fn name(&self) -> &'static str {
        "keda + hpa"
    }

    fn interval_s(&self) -> u64 {
        15
    }

    fn decide(&mut self, o: &Observation<'_>) -> u32 {
        if self.metric.is_none() || o.now_s.is_multiple_of(30) {
            self.metric = Some(o.visible + o.in_flight);
        }
        let metric = self.metric.unwrap_or(0);
        let wanted = (metric as f64 / self.queue_length).ceil() as u32;
        let current = o.desired;
        // The HPA's replica calculator for an external AverageValue metric: the usage ratio
        // `metric ÷ (queueLength × current)`, unrounded, against the 10 % tolerance.
        let ratio = if current == 0 { f64::INFINITY } else { metric as f64 / (self.queue_length * f64::from(current)) };
        let replicas = if (ratio - 1.0).abs() <= 0.1 { current } else { wanted };
        let recommendation = Recommendation {
            replicas,
            reason: switchyard_algorithms::scaling::Reason::Backlog {
                messages: metric,
                per_instance: self.queue_length,
            },
        };
        // The HPA holds no scale-in for booting pods on external metrics: no pending passed.
        self.stabilized.decide(&recommendation, o.now_s, (o.desired, o.in_service), 0, (metric, metric > 0))
    }
}
