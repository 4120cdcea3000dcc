//! The policies compared: Switchyard's default, and two baselines emulated from their
//! documentation. Each emulation says what it reads and how it decides.

use std::time::Duration;

use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    Activity, BacklogPerInstance, Bounds, FleetState, HistoryEntry, LatencySlo, QueueState, Recommendation,
    ScaleUpLimit, Stabilizer,
};

use crate::sim::{Autoscaler, Observation, SimConfig};

/// A stabilizer with the state the scaler keeps between ticks (in the Lambda: CloudWatch).
#[derive(Debug)]
struct Stabilized {
    stabilizer: Stabilizer,
    bounds: Bounds,
    history: Vec<HistoryEntry>,
    last_active: Option<Time>,
}

impl Stabilized {
    fn new(stabilizer: Stabilizer, config: &SimConfig) -> anyhow::Result<Self> {
        Ok(Stabilized {
            stabilizer,
            bounds: Bounds::new(config.min, config.max)?,
            history: Vec::new(),
            last_active: None,
        })
    }

    /// Stabilize `recommendation` (`pending` instances still booting), and remember the tick.
    fn decide(
        &mut self,
        recommendation: &Recommendation,
        o: &Observation<'_>,
        pending: u32,
        activity: (u64, bool),
    ) -> u32 {
        let now = Time::from_secs(o.now_s);
        let fleet = FleetState { desired: o.desired, in_service: o.in_service, pending, bounds: self.bounds };
        let (waiting, active_now) = activity;
        let activity = Activity { waiting, active_now, last_active: self.last_active };
        let decision = self.stabilizer.decide(&fleet, recommendation, &self.history, activity, now);
        self.history.push(decision.record);
        self.history.retain(|h| now.since(h.at) <= self.stabilizer.scale_down_window);
        self.last_active = Some(decision.last_active);
        decision.desired
    }
}

/// Switchyard's default consumer-fleet policy, as the scaler Lambda runs it every minute:
/// - backlog per instance on GetQueueAttributes (immediate; visible + in flight, so workers
///   finishing long jobs are not scaled away), target = SLO ÷ processing time;
/// - latency SLO by Little's law, with the arrival rate from CloudWatch's NumberOfMessagesSent
///   (the last published minute) and the oldest message's age estimated (nothing reports it
///   immediately);
/// - the larger of the two, then the stabilizer: 300 s scale-down window, scale-up ×4 or +10 per
///   minute, warm-up, scale to zero after 5 idle minutes, activation on one message.
#[derive(Debug)]
pub struct Switchyard {
    backlog: BacklogPerInstance,
    slo: LatencySlo,
    stabilized: Stabilized,
}

impl Switchyard {
    pub fn new(config: &SimConfig) -> anyhow::Result<Self> {
        Ok(Switchyard {
            backlog: BacklogPerInstance::new(config.acceptable_backlog_per_instance())?.counting_in_flight(true),
            slo: LatencySlo::new(Duration::from_secs_f64(config.slo_age_s), 1.0 / config.processing_mean_s)?,
            stabilized: Stabilized::new(
                Stabilizer {
                    scale_up: ScaleUpLimit { percent: 300.0, absolute: 10, period: Duration::from_secs(60) },
                    ..Stabilizer::default()
                },
                config,
            )?,
        })
    }
}

impl Autoscaler for Switchyard {
    fn name(&self) -> &'static str {
        "switchyard"
    }

    fn interval_s(&self) -> u64 {
        60
    }

    fn decide(&mut self, o: &Observation<'_>) -> u32 {
        let queue = QueueState {
            visible: o.visible,
            in_flight: o.in_flight,
            arrival_rate: o.cloudwatch.last().map(|m| m.sent / 60.0),
            ..Default::default()
        };
        let Some(recommendation) = Recommendation::combine(
            [self.backlog.recommend(Some(&queue)), self.slo.recommend(Some(&queue))],
            o.desired,
        ) else {
            return o.desired;
        };
        self.stabilized.decide(&recommendation, o, o.pending, (o.visible, o.visible + o.in_flight > 0))
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
    target: f64,
    min: u32,
    max: u32,
    seen: usize,
    datapoints: Vec<f64>,
    last_scale_in_s: Option<u64>,
}

impl AwsTargetTracking {
    pub fn new(config: &SimConfig) -> Self {
        AwsTargetTracking {
            target: config.acceptable_backlog_per_instance(),
            min: config.min.max(1),
            max: config.max,
            seen: 0,
            datapoints: Vec::new(),
            last_scale_in_s: None,
        }
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
                self.datapoints.push(minute.visible_avg / minute.in_service_avg);
            }
        }
        self.seen = o.cloudwatch.len();
        let (Some(&metric), in_service) = (self.datapoints.last(), o.in_service) else {
            return o.desired.max(self.min);
        };
        let proposed = (f64::from(in_service) * metric / self.target).ceil() as u32;
        // Whether the last `n` datapoints all satisfy `breach` (an alarm's "n out of n").
        let alarm = |n: usize, breach: &dyn Fn(f64) -> bool| {
            self.datapoints.len() >= n && self.datapoints[self.datapoints.len() - n..].iter().all(|&v| breach(v))
        };
        if alarm(3, &|v| v > self.target) && proposed > o.desired {
            return proposed.clamp(self.min, self.max);
        }
        let cooled = self.last_scale_in_s.is_none_or(|t| o.now_s >= t + 300);
        if cooled && alarm(15, &|v| v < 0.9 * self.target) && proposed < o.desired {
            let step = ((f64::from(o.desired) * 0.1).ceil() as u32).max(1);
            self.last_scale_in_s = Some(o.now_s);
            return proposed.max(o.desired.saturating_sub(step)).clamp(self.min, self.max);
        }
        o.desired.clamp(self.min, self.max)
    }
}

/// KEDA's SQS scaler driving the HPA, with their defaults:
/// - KEDA polls GetQueueAttributes every 30 s: visible + in flight (`scaleOnInFlight: true`),
///   `queueLength` = acceptable backlog per instance (the same target as the others);
/// - the HPA syncs every 15 s: `ceil(metric ÷ queueLength)` with a 10 % tolerance; scale-up
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
                Stabilizer {
                    tolerance: 0.1,
                    scale_down_window: Duration::from_secs(300),
                    scale_up: ScaleUpLimit { percent: 100.0, absolute: 4, period: Duration::from_secs(15) },
                    scale_to_zero_after: Some(Duration::from_secs(300)),
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
        let ratio = if current == 0 { f64::INFINITY } else { f64::from(wanted) / f64::from(current) };
        let replicas = if (ratio - 1.0).abs() <= 0.1 { current } else { wanted };
        let recommendation = Recommendation {
            replicas,
            reason: switchyard_algorithms::scaling::Reason::Backlog {
                messages: metric,
                per_instance: self.queue_length,
            },
        };
        // The HPA holds no scale-in for booting pods on external metrics: no pending passed.
        self.stabilized.decide(&recommendation, o, 0, (metric, metric > 0))
    }
}
