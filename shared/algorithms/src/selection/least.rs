//! Load-aware selection: exact least connections, and power of two choices.
//!
//! Both rank by a score per target that the caller supplies: load per unit of effective weight,
//! `(load + 1) / weight` as Envoy's least-request balancer uses, so that at equal load the heavier
//! target wins. What a target's load is (local in-flight requests plus faded reports) is decided
//! elsewhere, as tower's `Load` is apart from its balancers.
//!
//! Why both: exact least connections is the best choice when one process sees all the load, but
//! a Lambda router is many processes reading the same stale reports: every one of them would send
//! its next request to the same "least loaded" target. Power of two choices (Mitzenmacher, "The
//! Power of Two Choices in Randomized Load Balancing", 2001) compares only two random targets, so
//! processes spread out even when their information is identical and old, and still gets
//! exponentially better maximum load than random placement.

use crate::candidates::{Candidates, MAX_CANDIDATES};
use crate::hash::{SplitMix64, fmix64};

/// Fewest in-flight requests relative to weight; ties broken at random.
#[derive(Debug, Clone, Copy, Default)]
pub struct LeastConnections;

impl LeastConnections {
    /// Append `members` not yet in `out` to it, lowest `score` first, until `out` is full.
    pub fn rank(members: &[u32], score: impl Fn(usize) -> f64, random: u64, out: &mut Candidates) {
        // Keep the best few (score, tie-break, index) in a small sorted array: O(n·k), no allocation.
        let wanted = MAX_CANDIDATES.min(members.len());
        if wanted == 0 {
            return;
        }
        let mut best: [(f64, u64, usize); MAX_CANDIDATES] = [(f64::INFINITY, u64::MAX, usize::MAX); MAX_CANDIDATES];
        let mut kept = 0;
        for index in members.iter().map(|&i| i as usize) {
            if out.contains(index) {
                continue;
            }
            let entry = (score(index), fmix64(random ^ index as u64), index);
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

/// Power of two choices: sample two members at random, take the lower score; the other is the
/// first fall-through. More candidates come from further samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct PowerOfTwoChoices;

impl PowerOfTwoChoices {
    /// Draws before giving up on sampling and scanning instead (a retry late in the list).
    const DRAWS_PER_CANDIDATE: usize = 4;

    /// Append `members` not yet in `out` to it, in pairs of random draws, the lower `score` of
    /// each pair first, until `out` is full.
    pub fn rank(members: &[u32], score: impl Fn(usize) -> f64, random: u64, out: &mut Candidates) {
        let n = members.len();
        if n == 0 {
            return;
        }
        let mut rng = SplitMix64::new(random);
        let mut draw = |out: &Candidates| -> Option<usize> {
            for _ in 0..Self::DRAWS_PER_CANDIDATE {
                let i = members[rng.below(n)] as usize;
                if !out.contains(i) {
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
                    let (first, second) = if score(b) < score(a) { (b, a) } else { (a, b) };
                    out.push(first);
                    out.push(second);
                }
                None => {
                    out.push(a);
                }
            }
        }
        if !out.is_full() {
            // Sampling kept hitting targets already tried (a retry late in the list): find the
            // rest the slow way, least loaded first.
            LeastConnections::rank(members, score, random, out);
        }
    }
}
