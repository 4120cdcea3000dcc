//! Why a policy recommends what it does: a replica count with a typed reason, printed in the
//! scaler's decision log.

use std::fmt;
use std::time::Duration;

use super::signals::AgeSource;

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
    /// A web fleet behind the router counted no request for `idle_for`: none needed (the router
    /// wakes it on the next request).
    NoRequests { idle_for: Duration },
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
            Reason::NoRequests { idle_for } => {
                write!(f, "no request through any router for {} s: none needed", idle_for.as_secs())
            }
        }
    }
}

impl Reason {
    /// The replica count before rounding up, when the policy computed one: the HPA compares this
    /// ratio, not the rounded count, with its tolerance. `None` for a hold.
    pub fn unrounded(&self) -> Option<f64> {
        let x = match *self {
            Reason::TargetTracking { current, value, target } => f64::from(current) * (value / target),
            Reason::Backlog { messages, per_instance } => messages as f64 / per_instance,
            Reason::LatencySlo { for_arrivals, for_backlog, .. } => for_arrivals + for_backlog,
            Reason::NoRequests { .. } => 0.0,
            Reason::WithinTolerance { .. } | Reason::MissingData { .. } => return None,
        };
        x.is_finite().then_some(x.max(0.0))
    }
}

/// A replica count and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Recommendation {
    pub replicas: u32,
    pub reason: Reason,
}

impl Recommendation {
    /// The count before rounding: the reason's, when it rounds up to `replicas`; else `replicas`
    /// (a number set apart from its reason, such as a hold for missing data, is taken as is).
    ///
    /// ```
    /// use switchyard_algorithms::scaling::{Reason, Recommendation};
    /// let r = Recommendation { replicas: 6, reason: Reason::Backlog { messages: 320, per_instance: 60.0 } };
    /// assert!((r.unrounded() - 5.333).abs() < 1e-3);
    /// let held = Recommendation { replicas: 4, reason: Reason::MissingData { signal: "queue depth" } };
    /// assert_eq!(held.unrounded(), 4.0);
    /// ```
    pub fn unrounded(&self) -> f64 {
        let whole = f64::from(self.replicas);
        match self.reason.unrounded() {
            Some(x) if x.ceil().min(f64::from(u32::MAX)) == whole => x,
            _ => whole,
        }
    }

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
