//! Selection: ranking targets for one request, and nothing else.
//!
//! As in pingora, a selector never decides health: the balancer builds it over the members it
//! may choose from (all targets, or the usable ones while some are not) and swaps it in when
//! they change. Load and slow start reach it through a [`View`]. The algorithms themselves are
//! the child modules; this module only adapts them to the one trait, [`Select`].

mod least;
mod ring;
mod round_robin;

use std::sync::Arc;

pub use least::{LeastConnections, PowerOfTwoChoices};
pub use ring::{BoundedLoad, HashRing};
pub use round_robin::RoundRobin;

use crate::candidates::Candidates;
use crate::hash::SplitMix64;
use crate::health::{OutlierState, SlowStart};
use crate::load::{LoadState, LoadView};
use crate::target::{Target, TargetSet, Time};

/// A selection algorithm: ranks targets for one request.
///
/// Ranking is a contract: position 0 is the pick, the rest are fall-throughs in order. Which
/// targets may be chosen and what their load is come from the [`View`]; a selector never decides
/// them (the pingora split).
pub trait Select: std::fmt::Debug + Send + Sync {
    /// Append to `out`, best first, distinct targets of the view, until `out` is full or no more
    /// can be found. Targets already in `out` are not added again.
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

/// What a selector may know while ranking targets for one request: the members it may choose
/// from, their weights and loads, and how far each is into slow start. The balancer fills it in
/// per pick.
#[derive(Debug)]
pub struct View<'a> {
    pub(crate) targets: &'a [Target],
    /// Every target's weight, by index: 4 bytes a target, so that the bounded-load check of a
    /// large set reads a cached array instead of a whole `Target` per candidate.
    pub(crate) weights: &'a [u32],
    /// Every target's load counters, by index.
    pub(crate) loads: &'a [Arc<LoadState>],
    pub(crate) load: LoadView<'a>,
    /// The targets the selector may choose: ascending indices.
    pub(crate) members: &'a [u32],
    pub(crate) slow_start: Option<SlowStart>,
    /// Every target's outlier state, by index: a target back from an ejection ramps up again.
    pub(crate) outliers: &'a [Arc<OutlierState>],
    pub(crate) now: Time,
    /// 1 / the members' total weight.
    pub(crate) inv_usable_weight: f64,
}

impl View<'_> {
    /// The targets the selector may choose, ascending.
    #[inline]
    pub fn members(&self) -> &[u32] {
        self.members
    }

    #[inline]
    pub fn weight(&self, index: usize) -> u32 {
        self.weights[index]
    }

    /// This process's in-flight requests to the target plus the load it last reported (if
    /// any), the report weighted by its freshness.
    #[inline]
    pub fn load(&self, index: usize) -> f64 {
        self.load.of(&self.loads[index])
    }

    /// The sum of [`View::load`] over all targets.
    #[inline]
    pub fn total_load(&self) -> f64 {
        self.load.total()
    }

    /// 1 / the total weight of the members: the bounded-load limit multiplies by it instead of
    /// dividing.
    #[inline]
    pub fn inv_usable_weight(&self) -> f64 {
        self.inv_usable_weight
    }

    /// The slow-start ramp factor of the target, 1 when slow start is off or over. The ramp
    /// starts when the target started, or when its last ejection (or refused-connection backoff)
    /// ended, whichever is later: a target back from ejection takes a full share gradually, as
    /// Envoy ramps hosts returning to the load balancing set.
    #[inline]
    pub fn slow_start_factor(&self, index: usize) -> f64 {
        self.slow_start.map_or(1.0, |s| {
            let back = self.outliers.get(index).map_or(Time::ZERO, |o| o.ejected_until());
            s.factor(self.targets[index].started_at.max(back), self.now)
        })
    }

    #[inline]
    pub fn effective_weight(&self, index: usize) -> f64 {
        f64::from(self.weight(index)) * self.slow_start_factor(index)
    }

    /// Whether a target carrying its load may take one more request under `bound`.
    #[inline]
    pub fn within_bound(&self, bound: BoundedLoad, index: usize) -> bool {
        let limit = bound.limit_per_weight(self.total_load(), self.inv_usable_weight);
        BoundedLoad::admits(limit, self.load(index), self.weight(index))
    }
}

/// Append `ranked` targets that are not in `out` yet and that `admit` lets in, until `out` is full.
#[inline]
fn fill(out: &mut Candidates, ranked: impl Iterator<Item = usize>, mut admit: impl FnMut(usize) -> bool) {
    for index in ranked {
        if out.contains(index) || !admit(index) {
            continue;
        }
        out.push(index);
        if out.is_full() {
            return;
        }
    }
}

impl Select for RoundRobin {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        if self.schedule().is_empty() {
            return;
        }
        // A retry (candidates already chosen) goes on from the last one's place in the schedule.
        let start = match out.last() {
            Some(last) => self.after(last),
            None => self.next_turn(),
        };
        let mut rng = SplitMix64::new(request.random);
        fill(out, self.from_place(start), |index| {
            // Slow start: a warming target takes its turn with probability = its ramp factor.
            let factor = view.slow_start_factor(index);
            factor >= 1.0 || rng.unit() < factor
        });
    }
}

impl Select for HashRing {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        let key = request.key.unwrap_or(request.random);
        let Some(bound) = self.bounded() else {
            fill(out, self.clockwise(key), |_| true);
            return;
        };
        let limit = bound.limit_per_weight(view.total_load(), view.inv_usable_weight());
        let before = out.len();
        fill(out, self.clockwise(key), |index| BoundedLoad::admits(limit, view.load(index), view.weight(index)));
        if out.len() == before {
            // Every member is at its bound (the bound is computed from shared, possibly stale
            // loads): serve anyway, in ring order, rather than refuse the request.
            fill(out, self.clockwise(key), |_| true);
        }
    }
}

/// Envoy's least-request score: load per unit of effective weight, `(load + 1) / weight`.
fn score(view: &View<'_>, index: usize) -> f64 {
    (view.load(index) + 1.0) / view.effective_weight(index)
}

impl Select for LeastConnections {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        LeastConnections::rank(view.members(), |index| score(view, index), request.random, out);
    }
}

impl Select for PowerOfTwoChoices {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        PowerOfTwoChoices::rank(view.members(), |index| score(view, index), request.random, out);
    }
}

/// One of the selectors, as configuration chose it: an enum, so that a pick makes no virtual call
/// and a rebuild can reuse what the previous selector computed.
#[derive(Debug)]
pub enum Selector {
    RoundRobin(RoundRobin),
    Ring(HashRing),
    LeastConnections,
    PowerOfTwoChoices,
}

impl Selector {
    /// The same algorithm over `members` of `targets` only (ascending indices): what the balancer
    /// picks with while some targets are unusable.
    pub fn over(&self, targets: &TargetSet, members: &[u32]) -> Selector {
        match self {
            Selector::RoundRobin(_) => Selector::RoundRobin(RoundRobin::over(targets, members)),
            Selector::Ring(ring) => {
                let mut keep = vec![false; targets.len()];
                members.iter().for_each(|&i| keep[i as usize] = true);
                Selector::Ring(ring.retain(|index| keep[index]))
            }
            Selector::LeastConnections => Selector::LeastConnections,
            Selector::PowerOfTwoChoices => Selector::PowerOfTwoChoices,
        }
    }
}

impl Selector {
    /// The same algorithm for `targets`, this selector having been built for `previous`: the
    /// ring keeps the points of the targets that stay instead of hashing and sorting them again.
    pub fn rebuild(&self, previous: &TargetSet, targets: &TargetSet) -> Selector {
        match self {
            Selector::RoundRobin(_) => Selector::RoundRobin(RoundRobin::new(targets)),
            Selector::Ring(ring) => Selector::Ring(ring.rebuild(previous, targets)),
            Selector::LeastConnections => Selector::LeastConnections,
            Selector::PowerOfTwoChoices => Selector::PowerOfTwoChoices,
        }
    }
}

impl Select for Selector {
    #[inline]
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        match self {
            Selector::RoundRobin(rotation) => rotation.select(request, view, out),
            Selector::Ring(ring) => ring.select(request, view, out),
            Selector::LeastConnections => LeastConnections.select(request, view, out),
            Selector::PowerOfTwoChoices => PowerOfTwoChoices.select(request, view, out),
        }
    }
}
