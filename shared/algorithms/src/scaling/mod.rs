//! How large a fleet should be: `recommend → stabilize → clamp`, as the Kubernetes HPA reads.
//!
//! 1. Policies ([`TargetTracking`], [`BacklogPerInstance`], [`LatencySlo`]) turn signals into a
//!    [`Recommendation`]: a replica count with a typed [`Reason`]. Several combine by taking the
//!    largest ([`Recommendation::combine`]); a missing signal holds, it never scales in.
//! 2. [`Stabilizer::decide`] turns the recommendation into the desired capacity: warm-up,
//!    scale-down stabilization window, scale-up rate limits, bounds, scale to zero and activation,
//!    each step recorded with its reason so the decision log says why.
//!
//! Everything is plain data and passed-in time. The scaler keeps the history the stabilization
//! needs outside the Lambda and hands it back in, so a cold start loses nothing.

mod policy;
mod stabilize;

use std::fmt;
use std::time::Duration;

pub use policy::{BacklogPerInstance, LatencySlo, TargetTracking, latest_sample};
pub use stabilize::{Activity, Decision, HistoryEntry, ScaleUpLimit, Stabilizer, Step};

use crate::{Error, Time};

/// A fleet's size limits, validated once: `min ≤ max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    min: u32,
    max: u32,
}

impl Bounds {
    pub fn new(min: u32, max: u32) -> Result<Self, Error> {
        if min > max {
            return Err(Error::InvalidConfig(format!("min {min} is above max {max}")));
        }
        Ok(Bounds { min, max })
    }

    pub fn min(self) -> u32 {
        self.min
    }

    pub fn max(self) -> u32 {
        self.max
    }

    pub fn clamp(self, n: u32) -> u32 {
        n.clamp(self.min, self.max)
    }
}

/// A fleet as the Auto Scaling group describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetState {
    /// Desired capacity now (includes instances still booting).
    pub desired: u32,
    /// Instances InService and healthy: the ones producing metrics.
    pub in_service: u32,
    /// Instances launched but not yet in service (Pending, warming up).
    pub pending: u32,
    pub bounds: Bounds,
}

/// Where an age of the oldest message came from: the policy says which it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeSource {
    /// `ApproximateAgeOfOldestMessage` from CloudWatch (lags by minutes) or a producer's stamp.
    Reported,
    /// Little's law: backlog ÷ arrival rate.
    Estimated,
}

/// A queue's state, from GetQueueAttributes (immediate) and what else is known.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueState {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Age of the oldest message, if a source reports it (SQS's attributes do not).
    pub oldest_age: Option<Duration>,
    /// Messages arriving per second, if estimated (e.g. NumberOfMessagesSent over a minute).
    pub arrival_rate: Option<f64>,
}

/// A metric value at a time, as GetMetricData returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSample {
    pub at: Time,
    pub value: f64,
}

/// Why a policy recommends what it does. Printed in the scaler's decision log.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// `ceil(current × value / target)` (HPA, AWS target tracking).
    TargetTracking { current: u32, value: f64, target: f64 },
    /// The metric is within the tolerance of its target: no change.
    WithinTolerance { value: f64, target: f64, tolerance: f64 },
    /// `ceil(messages / per_instance)` (AWS backlog-per-instance, KEDA queueLength).
    Backlog { messages: u64, per_instance: f64 },
    /// Little's law: capacity for arrivals at the target utilisation plus what drains the
    /// backlog before the oldest message breaks the age target.
    LatencySlo {
        arrival_rate: f64,
        per_instance_rate: f64,
        for_arrivals: f64,
        backlog: u64,
        drain_within: Duration,
        age: Option<(Duration, AgeSource)>,
        for_backlog: f64,
    },
    /// A signal is missing or stale: hold the current size.
    MissingData { signal: &'static str },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::TargetTracking { current, value, target } => {
                write!(f, "target tracking: ceil({current} × {value:.3} / {target}) ")?;
                write!(f, "= {}", (f64::from(*current) * value / target).ceil())
            }
            Reason::WithinTolerance { value, target, tolerance } => {
                write!(f, "metric {value:.3} within {:.0} % of target {target}: hold", tolerance * 100.0)
            }
            Reason::Backlog { messages, per_instance } => {
                write!(f, "backlog: ceil({messages} messages / {per_instance} per instance)")
            }
            Reason::LatencySlo {
                arrival_rate,
                per_instance_rate,
                for_arrivals,
                backlog,
                drain_within,
                age,
                for_backlog,
            } => {
                write!(
                    f,
                    "latency SLO: {arrival_rate:.2}/s ÷ {per_instance_rate:.2}/s per instance → {for_arrivals:.2}, \
                     + {backlog} waiting drained within {:.0} s → {for_backlog:.2}",
                    drain_within.as_secs_f64()
                )?;
                match age {
                    Some((age, AgeSource::Reported)) => write!(f, " (oldest {:.0} s, reported)", age.as_secs_f64()),
                    Some((age, AgeSource::Estimated)) => write!(f, " (oldest ~{:.0} s, estimated)", age.as_secs_f64()),
                    None => Ok(()),
                }
            }
            Reason::MissingData { signal } => write!(f, "{signal} is missing: hold"),
        }
    }
}

/// A replica count and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub replicas: u32,
    pub reason: Reason,
}

impl Recommendation {
    /// Several signals: the largest recommendation wins. If any signal is missing, the fleet may
    /// grow but not shrink below `current` (missing data means hold, never scale in).
    /// `None` for no recommendations at all.
    pub fn combine(recommendations: impl IntoIterator<Item = Recommendation>, current: u32) -> Option<Recommendation> {
        let mut missing = None;
        let mut best: Option<Recommendation> = None;
        for r in recommendations {
            if let Reason::MissingData { .. } = r.reason {
                missing.get_or_insert(r);
                continue;
            }
            if best.as_ref().is_none_or(|b| r.replicas > b.replicas) {
                best = Some(r);
            }
        }
        match (best, missing) {
            (Some(b), None) => Some(b),
            (Some(b), Some(_)) if b.replicas >= current => Some(b),
            (_, Some(m)) => Some(Recommendation { replicas: current, ..m }),
            (None, None) => None,
        }
    }
}
