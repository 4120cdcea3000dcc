//! The web fleet's policies compared: Switchyard's scaler behind its router, ALB with target
//! tracking, and the KEDA HTTP add-on. All three scale on the same target: the CPU share
//! [`WebConfig::cpu_target_percent`] of an instance.

use std::time::Duration;

use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    Bounds, FleetPolicy, FleetSignals, FleetState, HistoryEntry, IdleToZero, MetricSample, PeriodSums, Reason,
    Recommendation, ScaleUpLimit, Stabilizer, TargetTracking, Tuning, decide_fleet,
};

use super::{FrontDoor, WebAutoscaler, WebConfig, WebObservation};
use crate::policies::{Stabilized, TrackingAlarms};

/// Switchyard's web fleet as the template deploys it with waking on: the scaler's own
/// `decide_fleet` every 60 s with `Tuning::default()`, target tracking on CPU (AWS/EC2
/// `CPUUtilization`, 1-minute datapoints as published), `IdleToZero::OnRequests` on the routers'
/// per-minute request counts (as published); the router wakes the group from zero on a request
/// ([`FrontDoor::ROUTER`]).
#[derive(Debug)]
pub struct SwitchyardWeb {
    policy: FleetPolicy,
    tuning: Tuning,
    bounds: Bounds,
    history: Vec<HistoryEntry>,
    last_active: Option<Time>,
    cpu: Vec<MetricSample>,
    requests: Vec<MetricSample>,
    seen: usize,
}

impl SwitchyardWeb {
    pub const TICK_S: u64 = 60;

    pub fn new(config: &WebConfig) -> anyhow::Result<Self> {
        Ok(SwitchyardWeb {
            policy: FleetPolicy {
                metrics: vec![TargetTracking::new(config.cpu_target_percent)?],
                backlog: None,
                slo: None,
                idle: IdleToZero::OnRequests,
            },
            tuning: Tuning::default(),
            bounds: Bounds::new(0, config.max)?,
            history: Vec::new(),
            last_active: None,
            cpu: Vec::new(),
            requests: Vec::new(),
            seen: 0,
        })
    }
}

impl WebAutoscaler for SwitchyardWeb {
    fn name(&self) -> &'static str {
        "switchyard (router wakes)"
    }

    fn front_door(&self) -> FrontDoor {
        FrontDoor::ROUTER
    }

    fn interval_s(&self) -> u64 {
        Self::TICK_S
    }

    fn decide(&mut self, o: &WebObservation<'_>) -> u32 {
        let now = Time::from_secs(o.now_s);
        // CloudWatch stamps a minute with its start.
        for (minute, published) in o.cloudwatch.iter().enumerate().skip(self.seen) {
            let at = Time::from_secs(minute as u64 * 60);
            if let Some(cpu) = published.cpu_percent {
                self.cpu.push(MetricSample { at, value: cpu });
            }
            self.requests.push(MetricSample { at, value: published.requests });
        }
        self.seen = o.cloudwatch.len();
        let lookback = self.tuning.lookback();
        self.cpu.retain(|s| now.since(s.at) <= lookback);
        self.requests.retain(|s| now.since(s.at) <= lookback);
        let metrics: [&[MetricSample]; 1] = [&self.cpu];
        let signals = FleetSignals {
            fleet: FleetState { desired: o.desired, in_service: o.in_service, pending: o.pending, bounds: self.bounds },
            queue: None,
            metrics: &metrics,
            messages_sent: PeriodSums::default(),
            age_of_oldest: &[],
            worker_busy: PeriodSums::default(),
            requests: PeriodSums { period: Duration::from_secs(60), samples: &self.requests },
            history: &self.history,
            last_active: self.last_active,
            now,
        };
        let Ok(decided) = decide_fleet(&self.policy, &signals, &self.tuning) else {
            return o.desired;
        };
        self.history.push(decided.record());
        self.history.retain(|h| now.since(h.at) <= lookback);
        self.last_active = Some(decided.last_active());
        decided.desired()
    }
}

/// ALB in front, EC2 Auto Scaling target tracking on the group's average CPU (1-minute
/// datapoints as published; the alarms of [`crate::policies::AwsTargetTracking`]), minimum 1:
/// with no instance there is no CPU to track and nothing in the path to wake the group.
#[derive(Debug)]
pub struct AlbTargetTracking {
    alarms: TrackingAlarms,
    seen: usize,
}

impl AlbTargetTracking {
    pub fn new(config: &WebConfig) -> Self {
        AlbTargetTracking { alarms: TrackingAlarms::new(config.cpu_target_percent, 1, config.max), seen: 0 }
    }
}

impl WebAutoscaler for AlbTargetTracking {
    fn name(&self) -> &'static str {
        "alb + target tracking (min 1)"
    }

    fn front_door(&self) -> FrontDoor {
        FrontDoor::LoadBalancer
    }

    fn interval_s(&self) -> u64 {
        60
    }

    fn decide(&mut self, o: &WebObservation<'_>) -> u32 {
        for minute in &o.cloudwatch[self.seen.min(o.cloudwatch.len())..] {
            if let Some(cpu) = minute.cpu_percent {
                self.alarms.push(cpu);
            }
        }
        self.seen = o.cloudwatch.len();
        self.alarms.decide(o.now_s, o.desired, o.in_service)
    }
}

/// The KEDA HTTP add-on with its defaults:
/// - the interceptor counts and holds requests; its scaler aggregates them, and KEDA polls the
///   scaler every `pollingInterval` (KEDA's default, 30 s): a fleet at zero is activated at the
///   first poll that sees a request held;
/// - the HPA (15 s sync, its default behaviour) scales on the request rate over a 1-minute window
///   (the add-on's default window), target = the requests an instance serves at the CPU target,
///   within the HPA's 10 % tolerance;
/// - zero when the metrics have been zero for KEDA's `cooldownPeriod` (300 s).
///
/// Not counted: the interceptor, scaler and operator, always on, and a node's own provisioning
/// (the same boot is used for every policy).
#[derive(Debug)]
pub struct KedaHttp {
    target_rps: f64,
    stabilized: Stabilized,
    polled: Option<(u64, u64)>,
}

impl KedaHttp {
    /// KEDA's `pollingInterval` default.
    pub const POLLING_INTERVAL_S: u64 = 30;

    pub fn new(config: &WebConfig) -> anyhow::Result<Self> {
        Ok(KedaHttp {
            target_rps: config.target_requests_per_s(),
            stabilized: Stabilized::within(
                // The HPA's documented defaults and KEDA's cooldownPeriod: the peer's, not Switchyard's.
                Stabilizer {
                    tolerance: 0.0,
                    scale_down_window: Duration::from_secs(300),
                    scale_up: ScaleUpLimit::HPA,
                    scale_to_zero_after: Some(Duration::from_secs(300)),
                    direction_budget: None,
                },
                Bounds::new(0, config.max)?,
            )?,
            polled: None,
        })
    }
}

impl WebAutoscaler for KedaHttp {
    fn name(&self) -> &'static str {
        "keda http add-on"
    }

    fn front_door(&self) -> FrontDoor {
        FrontDoor::Interceptor
    }

    fn interval_s(&self) -> u64 {
        15
    }

    fn decide(&mut self, o: &WebObservation<'_>) -> u32 {
        if self.polled.is_none() || o.now_s.is_multiple_of(Self::POLLING_INTERVAL_S) {
            self.polled = Some((o.concurrency, o.last_minute_requests));
        }
        let (concurrency, last_minute) = self.polled.unwrap_or_default();
        let rate = last_minute as f64 / 60.0;
        let current = o.desired;
        let wanted = (rate / self.target_rps).ceil() as u32;
        // The HPA's replica calculator: the usage ratio against its 10 % tolerance.
        let ratio = if current == 0 { f64::INFINITY } else { rate / (self.target_rps * f64::from(current)) };
        let replicas = if (ratio - 1.0).abs() <= 0.1 { current } else { wanted };
        // The metric is the route's total rate; per replica, it is what the HPA compares.
        let per_replica = if current == 0 { rate } else { rate / f64::from(current) };
        let recommendation = Recommendation {
            replicas,
            reason: Reason::TargetTracking { current, value: per_replica, target: self.target_rps },
        };
        let active = concurrency > 0 || last_minute > 0;
        // Activation on a held request: `waiting` is what the interceptor holds or serves.
        self.stabilized.decide(&recommendation, o.now_s, (o.desired, o.in_service), 0, (concurrency, active))
    }
}
