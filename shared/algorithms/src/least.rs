//! Load-aware selection: exact least connections, and power of two choices.
//!
//! A target's load is what [`View::load`] says: this process's in-flight requests to it plus the
//! load the target last reported (shared by every router, stale by seconds, possibly missing).
//! Scores are load per unit of effective weight, `(load + 1) / weight` as Envoy's least-request
//! balancer uses, so that at equal load the heavier target wins.
//!
//! Why both: exact least connections is the best choice when one process sees all the load, but
//! a Lambda router is many processes reading the same stale reports: every one of them would send
//! its next request to the same "least loaded" target. Power of two choices (Mitzenmacher, "The
//! Power of Two Choices in Randomized Load Balancing", 2001) compares only two random targets, so
//! processes spread out even when their information is identical and old, and still gets
//! exponentially better maximum load than random placement.

use crate::hash::{SplitMix64, fmix64};
use crate::{Candidates, MAX_CANDIDATES, Select, SelectRequest, View};

fn score(view: &View<'_>, index: usize) -> f64 {
    (view.load(index) + 1.0) / view.effective_weight(index)
}

/// Fewest in-flight requests relative to weight, over every usable target; ties broken at random.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastConnections;

impl Select for LeastConnections {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        // Keep the best few (score, tie-break, index) in a small sorted array: O(n·k), no allocation.
        let wanted = MAX_CANDIDATES.min(view.len());
        let mut best: [(f64, u64, usize); MAX_CANDIDATES] = [(f64::INFINITY, u64::MAX, usize::MAX); MAX_CANDIDATES];
        let mut kept = 0;
        for index in 0..view.len() {
            if out.contains(index) || !view.is_usable(index) {
                continue;
            }
            let entry = (score(view, index), fmix64(request.random ^ index as u64), index);
            if kept == wanted && !less(&entry, &best[kept - 1]) {
                continue;
            }
            let mut slot = if kept < wanted {
                kept += 1;
                kept - 1
            } else {
                wanted - 1
            };
            while slot > 0 && less(&entry, &best[slot - 1]) {
                best[slot] = best[slot - 1];
                slot -= 1;
            }
            best[slot] = entry;
        }
        for &(_, _, index) in &best[..kept] {
            if !out.push(index) && out.is_full() {
                return;
            }
        }
    }
}

fn less(a: &(f64, u64, usize), b: &(f64, u64, usize)) -> bool {
    a.0 < b.0 || (a.0 == b.0 && a.1 < b.1)
}

/// Power of two choices: sample two usable targets at random, take the less loaded; the other is
/// the first fall-through. More candidates come from further samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerOfTwoChoices;

impl PowerOfTwoChoices {
    /// Draws before giving up on sampling and scanning instead (many targets unusable).
    const DRAWS_PER_CANDIDATE: usize = 4;
}

impl Select for PowerOfTwoChoices {
    fn select(&self, request: &SelectRequest, view: &View<'_>, out: &mut Candidates) {
        let n = view.len();
        if n == 0 {
            return;
        }
        let mut rng = SplitMix64::new(request.random);
        let mut draw = |out: &Candidates| -> Option<usize> {
            for _ in 0..Self::DRAWS_PER_CANDIDATE {
                let i = rng.below(n);
                if !out.contains(i) && view.is_usable(i) {
                    return Some(i);
                }
            }
            None
        };
        while !out.is_full() {
            let Some(a) = draw(out) else { break };
            let b = {
                let mut with_a = *out;
                with_a.push(a);
                draw(&with_a)
            };
            match b {
                Some(b) => {
                    let (first, second) = if score(view, b) < score(view, a) { (b, a) } else { (a, b) };
                    out.push(first);
                    out.push(second);
                }
                None => {
                    out.push(a);
                }
            }
        }
        if !out.is_full() {
            // Sampling kept hitting unusable or already-tried targets (a retry late in the list, a
            // mostly ejected set): find the rest the slow way, least loaded first.
            LeastConnections.select(request, view, out);
        }
    }
}
