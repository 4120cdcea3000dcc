//! Switchyard's pure decision code: which target serves a request, how large a fleet should be.
//!
//! Nothing here performs I/O, awaits, reads a clock or draws randomness: time ([`Time`]) and
//! random numbers (a `u64` per request) are passed in, so every decision is deterministic under
//! test and cheap to benchmark.
//!
//! # Scaling
//! [`scaling`]: `recommend → stabilize → clamp`, as the Kubernetes HPA reads.
//!
//! # Balancing
//! Read it like pingora's load balancer: discovery (the caller) produces a [`TargetSet`]; a
//! [`Balancer`] is built from it once per discovery change; each request asks the balancer for
//! ranked [`Candidates`] and falls through to the next one when a target fails. What a selector
//! knows about health and load comes through a [`View`]; the selectors themselves
//! ([`RoundRobin`], [`HashRing`], [`LeastConnections`], [`PowerOfTwoChoices`]) implement one
//! small trait, [`Select`].

#![deny(rustdoc::broken_intra_doc_links)]

mod balancer;
mod candidates;
mod cookie;
mod error;
pub mod hash;
mod least;
mod outlier;
mod ring;
mod round_robin;
pub mod scaling;
mod target;

pub use balancer::{
    Algorithm, Balancer, BalancerConfig, InFlight, Outcome, Pick, RequestContext, SlowStart, TargetState, View,
};
pub use candidates::{Candidates, MAX_CANDIDATES};
pub use cookie::{CookieError, CookieKey, StickyCookie};
pub use error::Error;
pub use least::{LeastConnections, PowerOfTwoChoices};
pub use outlier::{Ejection, OutlierConfig};
pub use ring::{BoundedLoad, HashRing};
pub use round_robin::RoundRobin;
pub use target::{Health, MAX_TARGETS, Target, TargetId, TargetSet, Time, Weight};

/// A selection algorithm: ranks targets for one request.
///
/// Ranking is a contract: position 0 is the pick, the rest are fall-throughs in order. Health and
/// load come from the [`View`]; a selector never decides them (the pingora split).
pub trait Select: std::fmt::Debug + Send + Sync {
    /// Append to `out`, best first, distinct targets that `view` says are usable, until `out` is
    /// full or no more can be found. Targets already in `out` are not added again.
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates);
}

/// What a selector gets to know about one request.
#[derive(Debug, Clone, Copy)]
pub struct SelectRequest {
    /// Where the request lands on a hash ring (sticky algorithms); `None` when it has no key.
    pub key: Option<u64>,
    /// A fresh random number for this request: tie-breaks, sampling, slow-start admission.
    pub random: u64,
}
