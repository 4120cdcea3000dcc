//! Scaling policies: signals in, a replica count with its reason out.

use std::time::Duration;

use super::reason::{Reason, Recommendation};
use super::signals::{AgeSource, QueueState};
use crate::error::Error;

fn positive(name: &str, v: f64) -> Result<f64, Error> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::InvalidConfig(format!("{name} must be a positive number, got {v}")))
    }
}

fn replicas(x: f64) -> u32 {
    // Saturating: a runaway metric asks for "as many as allowed", the bounds clamp it later.
    if x.is_nan() || x <= 0.0 { 0 } else { x.ceil().min(f64::from(u32::MAX)) as u32 }
}

/// Target tracking on a per-instance metric: the HPA's replica calculator
/// (`desired = ceil(current × value / target)`, no change within the tolerance), which is also
/// what AWS target tracking converges to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetTracking {
    target: f64,
    tolerance: f64,
}

impl TargetTracking {
    /// The HPA's default tolerance: 10 %.
    pub const DEFAULT_TOLERANCE: f64 = 0.1;

    pub fn new(target: f64) -> Result<Self, Error> {
        Ok(TargetTracking { target: positive("target", target)?, tolerance: Self::DEFAULT_TOLERANCE })
    }

    pub fn with_tolerance(mut self, tolerance: f64) -> Result<Self, Error> {
        if !(0.0..1.0).contains(&tolerance) {
            return Err(Error::InvalidConfig(format!("tolerance must be within [0, 1), got {tolerance}")));
        }
        self.tolerance = tolerance;
        Ok(self)
    }

    /// `current`: instances producing the metric (in service); `value`: their average, if any.
    pub fn recommend(&self, current: u32, value: Option<f64>) -> Recommendation {
        let Some(value) = value.filter(|v| v.is_finite() && *v >= 0.0) else {
            return Recommendation { replicas: current, reason: Reason::MissingData { signal: "metric" } };
        };
        let ratio = value / self.target;
        if current == 0 || (ratio - 1.0).abs() <= self.tolerance {
            // At zero instances a per-instance average means nothing: activation wakes the fleet.
            return Recommendation {
                replicas: current,
                reason: Reason::WithinTolerance { value, target: self.target, tolerance: self.tolerance },
            };
        }
        Recommendation {
            replicas: replicas(f64::from(current) * ratio),
            reason: Reason::TargetTracking { current, value, target: self.target },
        }
    }
}

/// Backlog per instance: enough instances that each has at most `per_instance` messages waiting
/// (AWS "scaling based on Amazon SQS", KEDA's SQS scaler `queueLength`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BacklogPerInstance {
    per_instance: f64,
    count_in_flight: bool,
}

impl BacklogPerInstance {
    /// `per_instance`: the acceptable backlog per instance, e.g. acceptable latency ÷ processing
    /// time per message (AWS's guidance).
    pub fn new(per_instance: f64) -> Result<Self, Error> {
        Ok(BacklogPerInstance { per_instance: positive("backlog per instance", per_instance)?, count_in_flight: false })
    }

    /// Count messages being processed too (KEDA's `scaleOnInFlight`, default on): a fleet scaled
    /// on visible messages alone shrinks under workers whose messages are still in flight.
    pub fn counting_in_flight(mut self, yes: bool) -> Self {
        self.count_in_flight = yes;
        self
    }

    pub fn recommend(&self, queue: Option<&QueueState>) -> Recommendation {
        let Some(queue) = queue else {
            return Recommendation { replicas: 0, reason: Reason::MissingData { signal: "queue depth" } };
        };
        let messages = queue.visible + if self.count_in_flight { queue.in_flight } else { 0 };
        Recommendation {
            replicas: replicas(messages as f64 / self.per_instance),
            reason: Reason::Backlog { messages, per_instance: self.per_instance },
        }
    }
}

/// Keep the age of the oldest message under a target, by Little's law.
///
/// Capacity for the arrivals: `λ / (μ · u)` instances (μ messages per second per instance, u the
/// target utilisation). Plus capacity that drains the backlog B before the oldest message breaks
/// the age target: `B / (μ · T)`, T the time left (at least `min_drain`). The oldest message's age
/// is taken as reported when known, else estimated as B / λ; the reason says which.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySlo {
    age_target: Duration,
    per_instance_rate: f64,
    utilisation: f64,
    min_drain: Duration,
}

impl LatencySlo {
    /// The oldest message should be younger than this.
    pub fn age_target(&self) -> Duration {
        self.age_target
    }

    /// The messages one instance drains within the age target, `μ × T`: AWS's acceptable backlog
    /// per instance ("acceptable latency ÷ processing time").
    pub fn acceptable_backlog_per_instance(&self) -> f64 {
        self.per_instance_rate * self.age_target.as_secs_f64()
    }

    /// `per_instance_rate`: messages per second one instance processes.
    pub fn new(age_target: Duration, per_instance_rate: f64) -> Result<Self, Error> {
        if age_target.is_zero() {
            return Err(Error::InvalidConfig("age target must be > 0".into()));
        }
        Ok(LatencySlo {
            age_target,
            per_instance_rate: positive("per-instance rate", per_instance_rate)?,
            utilisation: 0.8,
            min_drain: age_target / 2,
        })
    }

    /// The shortest time to plan a backlog's drain over once the oldest message is (nearly) past
    /// the target. Default: half the age target. Much shorter asks for capacity that cannot help
    /// (instances launched now serve only after they boot); longer gives up on the SLO.
    pub fn with_min_drain(mut self, min_drain: Duration) -> Result<Self, Error> {
        if min_drain.is_zero() {
            return Err(Error::InvalidConfig("minimum drain time must be > 0".into()));
        }
        self.min_drain = min_drain;
        Ok(self)
    }

    /// Target utilisation of the fleet for the arrival rate, in (0, 1]; 0.8 by default, so that
    /// queueing delay stays small (an M/M/c queue's wait grows without bound as it nears 1).
    pub fn with_utilisation(mut self, u: f64) -> Result<Self, Error> {
        if !(u > 0.0 && u <= 1.0) {
            return Err(Error::InvalidConfig(format!("utilisation must be within (0, 1], got {u}")));
        }
        self.utilisation = u;
        Ok(self)
    }

    pub fn recommend(&self, queue: Option<&QueueState>) -> Recommendation {
        let Some(queue) = queue else {
            return Recommendation { replicas: 0, reason: Reason::MissingData { signal: "queue depth" } };
        };
        let mu = self.per_instance_rate;
        let lambda = queue.arrival_rate.filter(|r| r.is_finite() && *r >= 0.0).unwrap_or(0.0);
        let backlog = queue.visible;
        let age = match queue.oldest_age {
            Some(age) => Some((age, AgeSource::Reported)),
            None if lambda > 0.0 && backlog > 0 => {
                Some((Duration::from_secs_f64((backlog as f64 / lambda).min(1e9)), AgeSource::Estimated))
            }
            None => None,
        };
        let elapsed = age.map_or(Duration::ZERO, |(a, _)| a);
        let drain_within = self.age_target.saturating_sub(elapsed).max(self.min_drain);
        let for_arrivals = lambda / (mu * self.utilisation);
        let for_backlog = backlog as f64 / (mu * drain_within.as_secs_f64());
        Recommendation {
            replicas: replicas(for_arrivals + for_backlog),
            reason: Reason::LatencySlo {
                arrival_rate: lambda,
                per_instance_rate: mu,
                for_arrivals,
                backlog,
                drain_within,
                age,
                for_backlog,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_tracking_is_the_hpa_formula() {
        // HPA docs: current metric 200m, target 100m → ratio 2 → double the replicas.
        let tt = TargetTracking::new(100.0).unwrap();
        assert_eq!(tt.recommend(3, Some(200.0)).replicas, 6);
        // "if the current value is 50m, halve": ceil(3 × 0.5) = 2.
        assert_eq!(tt.recommend(3, Some(50.0)).replicas, 2);
        // Within the default 10 % tolerance nothing changes.
        assert_eq!(tt.recommend(3, Some(109.0)).replicas, 3);
        assert!(matches!(tt.recommend(3, Some(109.0)).reason, Reason::WithinTolerance { .. }));
    }

    #[test]
    fn target_tracking_holds_without_a_metric() {
        let tt = TargetTracking::new(50.0).unwrap();
        let r = tt.recommend(4, None);
        assert_eq!(r.replicas, 4);
        assert_eq!(r.reason, Reason::MissingData { signal: "metric" });
        assert_eq!(tt.recommend(4, Some(f64::NAN)).replicas, 4);
    }

    #[test]
    fn backlog_per_instance_is_the_aws_example() {
        // AWS "Scaling policy based on Amazon SQS": 0.1 s per message, 10 s acceptable latency →
        // 100 acceptable backlog per instance; 1 500 messages → 15 instances.
        let b = BacklogPerInstance::new(10.0 / 0.1).unwrap();
        let queue = QueueState { visible: 1500, ..Default::default() };
        assert_eq!(b.recommend(Some(&queue)).replicas, 15);
    }

    #[test]
    fn backlog_counts_in_flight_like_keda() {
        // KEDA SQS scaler: queueLength 5, 18 visible + 5 in flight = 23 → ceil(23 / 5) = 5.
        let b = BacklogPerInstance::new(5.0).unwrap().counting_in_flight(true);
        let queue = QueueState { visible: 18, in_flight: 5, ..Default::default() };
        assert_eq!(b.recommend(Some(&queue)).replicas, 5);
        assert_eq!(BacklogPerInstance::new(5.0).unwrap().recommend(Some(&queue)).replicas, 4);
    }

    #[test]
    fn latency_slo_is_littles_law() {
        // λ = 10/s, μ = 2/s per instance, u = 0.8 → 6.25 instances for arrivals; 600 waiting,
        // oldest 60 s of a 120 s target → drain within 60 s: 600 / (2 × 60) = 5 → ceil(11.25) = 12.
        let slo = LatencySlo::new(Duration::from_secs(120), 2.0).unwrap();
        let queue = QueueState {
            visible: 600,
            arrival_rate: Some(10.0),
            oldest_age: Some(Duration::from_secs(60)),
            ..Default::default()
        };
        let r = slo.recommend(Some(&queue));
        assert_eq!(r.replicas, 12);
        let Reason::LatencySlo { for_arrivals, for_backlog, age, .. } = r.reason else { panic!() };
        assert!((for_arrivals - 6.25).abs() < 1e-9 && (for_backlog - 5.0).abs() < 1e-9);
        assert_eq!(age, Some((Duration::from_secs(60), AgeSource::Reported)));
    }

    #[test]
    fn latency_slo_estimates_the_age_when_no_source_reports_it() {
        // 600 waiting at 10/s → oldest ~60 s (Little's law), the same answer as above.
        let slo = LatencySlo::new(Duration::from_secs(120), 2.0).unwrap();
        let queue = QueueState { visible: 600, arrival_rate: Some(10.0), ..Default::default() };
        let r = slo.recommend(Some(&queue));
        assert_eq!(r.replicas, 12);
        let Reason::LatencySlo { age, .. } = r.reason else { panic!() };
        assert_eq!(age, Some((Duration::from_secs(60), AgeSource::Estimated)));
    }

    #[test]
    fn an_old_backlog_is_drained_no_slower_than_the_minimum_window() {
        let slo = LatencySlo::new(Duration::from_secs(120), 1.0).unwrap();
        let late = QueueState { visible: 300, oldest_age: Some(Duration::from_secs(500)), ..Default::default() };
        // Already past the target: drain within the minimum (by default half the target, 60 s) → 5.
        assert_eq!(slo.recommend(Some(&late)).replicas, 5);
        let urgent = slo.with_min_drain(Duration::from_secs(30)).unwrap();
        assert_eq!(urgent.recommend(Some(&late)).replicas, 10);
    }

    #[test]
    fn invalid_parameters_are_refused() {
        assert!(TargetTracking::new(0.0).is_err());
        assert!(TargetTracking::new(f64::INFINITY).is_err());
        assert!(BacklogPerInstance::new(-1.0).is_err());
        assert!(LatencySlo::new(Duration::ZERO, 1.0).is_err());
        assert!(LatencySlo::new(Duration::from_secs(1), 1.0).unwrap().with_utilisation(1.5).is_err());
    }
}
