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
//! ranked [`Candidates`] and falls through to the next one when a target fails. The balancer
//! composes four parts that know nothing of each other's insides:
//! - [`selection`]: the [`Select`] trait and its algorithms ([`RoundRobin`], [`HashRing`],
//!   [`LeastConnections`], [`PowerOfTwoChoices`]), which rank targets and never decide health;
//! - [`health`]: outlier ejection, the panic threshold, slow start ([`checks`] judges targets
//!   from active probes, apart from the balancer);
//! - [`load`]: this process's in-flight requests plus the loads targets report, faded by age;
//! - [`sticky`]: signed cookies that keep a client on its target.

#![deny(rustdoc::broken_intra_doc_links)]

mod balancer;
mod candidates;
pub mod checks;
mod error;
pub mod hash;
pub mod health;
pub mod load;
pub mod scaling;
pub mod selection;
pub mod sticky;
mod target;

pub use balancer::{Algorithm, Balancer, BalancerConfig, Pick, RequestContext, TargetState};
pub use candidates::{Candidates, MAX_CANDIDATES};
pub use error::Error;
pub use health::{Ejection, Outcome, OutlierConfig, SlowStart};
pub use load::InFlight;
pub use selection::{
    BoundedLoad, HashRing, LeastConnections, PowerOfTwoChoices, RoundRobin, Select, SelectRequest, View,
};
pub use sticky::{CookieError, CookieKey, StickyCookie};
pub use target::{Health, MAX_TARGETS, Target, TargetId, TargetSet, Time, Weight};
