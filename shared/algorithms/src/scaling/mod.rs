//! How large a fleet should be: `recommend → stabilize → clamp`, as the Kubernetes HPA reads.
//!
//! 1. Policies ([`TargetTracking`], [`BacklogPerInstance`], [`LatencySlo`]) turn signals into a
//!    [`Recommendation`]: a replica count with a typed [`Reason`]. Several combine by taking the
//!    largest ([`Recommendation::combine`]); a missing signal holds, it never scales in.
//! 2. [`Stabilizer::decide`] turns the recommendation into the desired capacity: dead band,
//!    warm-up, scale-down stabilization window, direction budget, scale-up rate limits (lifted for
//!    a waiting backlog), bounds, scale to zero and activation, each step recorded with its reason
//!    so the decision log says why.
//!
//! 3. [`decide_fleet`] runs both for one fleet from its typed signals, and weighs scale to zero
//!    against the latency SLO. The scaler's tick and the simulator both call it.
//!
//! Everything is plain data and passed-in time. The scaler keeps the history the stabilization
//! needs outside the Lambda and hands it back in, so a cold start loses nothing.

mod fleet;
mod policy;
mod reason;
mod signals;
mod stabilize;

pub use fleet::{
    DecideError, FleetDecision, FleetPolicy, FleetSignals, IdleToZero, PeriodSums, Priority, QueueDepth, QueueInputs,
    Tuning, WakeFromZero, decide_fleet,
};
pub use policy::{BacklogPerInstance, LatencySlo, TargetTracking};
pub use reason::{Reason, Recommendation};
pub use signals::{AgeSource, Bounds, FleetState, MetricSample, QueueState, latest_sample};
pub use stabilize::{
    Activity, BacklogScaleUp, Decision, DirectionBudget, HistoryEntry, ScaleUpLimit, Stabilizer, Step,
};
