//! Consistent hashing on a ring (Karger et al. 1997), with bounded loads
//! (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018).
//!
//! Each target owns points on a 64-bit ring in proportion to its weight; a key belongs to the
//! first point clockwise from its hash. When one target joins a set of n, only the keys that now
//! fall on its points move: about 1/(n+1) of them.
//!
//! Plain consistent hashing lets one hot key (a client IP behind a NAT, a heavy session)
//! overload its target. With bounded loads, a target takes a key only while its load stays within
//! ⌈(1+ε)·(L+1)·w/W⌉ (L the current total load, w its weight, W the usable weight); otherwise the
//! key goes on clockwise to the next target that has room. Keys that fit never move.
//!
//! Lookup is O(1): a bucket table indexed by the top bits of the hash points near the first ring
//! point at or after the key, and a short scan finishes the search.

use crate::error::Error;
use crate::hash::{fmix64, hash_bytes};
use crate::target::TargetSet;

/// ε of bounded loads: how far above the average load one target may go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoundedLoad {
    epsilon: f64,
}

impl BoundedLoad {
    /// The paper's experiments and Vimeo's production use sit around 0.25.
    pub const DEFAULT: BoundedLoad = BoundedLoad { epsilon: 0.25 };

    /// ε must be finite and positive: at 0 no target could take a key above the exact average.
    pub fn new(epsilon: f64) -> Result<Self, Error> {
        if epsilon.is_finite() && epsilon > 0.0 {
            Ok(BoundedLoad { epsilon })
        } else {
            Err(Error::InvalidConfig(format!("bounded-load epsilon must be > 0, got {epsilon}")))
        }
    }

    pub fn epsilon(self) -> f64 {
        self.epsilon
    }

    /// The bound per unit of weight for the next request, when the usable targets carry
    /// `total_load` and weigh W (given as 1/W): (1+ε)·(L+1)/W. Computed once per pick.
    #[inline]
    pub fn limit_per_weight(self, total_load: f64, inv_usable_weight: f64) -> f64 {
        (1.0 + self.epsilon) * (total_load + 1.0) * inv_usable_weight
    }

    /// Whether a target carrying `load` may take one more request: `load + 1 ≤ ⌈limit·w⌉`, which
    /// for a whole `load` is `load < limit·w` (no division, no rounding on the hot path).
    #[inline]
    pub fn admits(limit_per_weight: f64, load: f64, weight: u32) -> bool {
        load < limit_per_weight * f64::from(weight)
    }
}

impl Default for BoundedLoad {
    fn default() -> Self {
        BoundedLoad::DEFAULT
    }
}

/// A hash ring over a target set, optionally with bounded loads.
#[derive(Debug)]
pub struct HashRing {
    /// (point, owner index), sorted by point: owner next to its point, one cache miss per lookup.
    entries: Box<[(u64, u32)]>,
    /// `buckets[b]`: index of the first point whose top bits are ≥ b.
    buckets: Box<[u32]>,
    shift: u32,
    bounded: Option<BoundedLoad>,
}

impl HashRing {
    /// Ring points per unit of weight: 512 for small sets (the share of a joining target is then
    /// within ±5 % of 1/(n+1) at one standard deviation), fewer for large sets so that the whole
    /// ring stays near [`HashRing::POINT_BUDGET`] points, never fewer than 32 per target.
    pub const MAX_POINTS_PER_WEIGHT: u64 = 512;
    pub const MIN_POINTS_PER_WEIGHT: u64 = 32;
    pub const POINT_BUDGET: u64 = 1 << 17;

    pub fn new(targets: &TargetSet, bounded: Option<BoundedLoad>) -> Self {
        let total_weight: u64 = targets.iter().map(|t| u64::from(t.weight.get())).sum();
        let per_weight =
            (Self::POINT_BUDGET / total_weight.max(1)).clamp(Self::MIN_POINTS_PER_WEIGHT, Self::MAX_POINTS_PER_WEIGHT);

        let mut ring: Vec<(u64, u32)> = Vec::with_capacity((total_weight * per_weight) as usize);
        for (index, target) in targets.iter().enumerate() {
            // Points depend on the id only, never on the index: a target keeps its points when
            // others join or leave.
            let seed = hash_bytes(target.id.as_str().as_bytes());
            for replica in 0..u64::from(target.weight.get()) * per_weight {
                ring.push((fmix64(seed ^ fmix64(replica.wrapping_add(0x9e37_79b9_7f4a_7c15))), index as u32));
            }
        }
        ring.sort_unstable();
        Self::from_sorted(ring, bounded)
    }

    /// The ring of these sorted points, with its bucket table.
    fn from_sorted(ring: Vec<(u64, u32)>, bounded: Option<BoundedLoad>) -> Self {
        // A bucket per point while the ring fits in cache (the scan is then one entry); about four
        // points per bucket beyond, so the table stays small enough to be cached itself and the
        // scan reads one or two cache lines of entries.
        let magnitude = usize::BITS - ring.len().max(1).leading_zeros();
        let bits = if ring.len() <= 1 << 16 { magnitude } else { magnitude.saturating_sub(2) }.clamp(1, 22);
        let shift = 64 - bits;
        let mut buckets = vec![0u32; 1 << bits];
        let mut p = 0usize;
        for (b, slot) in buckets.iter_mut().enumerate() {
            let start = (b as u64) << shift;
            while p < ring.len() && ring[p].0 < start {
                p += 1;
            }
            *slot = p as u32;
        }
        HashRing { entries: ring.into_boxed_slice(), buckets: buckets.into_boxed_slice(), shift, bounded }
    }

    /// Index of the first ring point at or after `key` (wrapping to 0).
    #[inline]
    fn first_point(&self, key: u64) -> usize {
        let mut p = self.buckets[(key >> self.shift) as usize] as usize;
        while p < self.entries.len() && self.entries[p].0 < key {
            p += 1;
        }
        if p == self.entries.len() { 0 } else { p }
    }

    /// The owner of `key` on the plain ring: no health, no load (what stickiness means).
    pub fn owner(&self, key: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        Some(self.entries[self.first_point(key)].1 as usize)
    }

    pub fn bounded(&self) -> Option<BoundedLoad> {
        self.bounded
    }

    /// Number of points on the ring (memory is 12 bytes a point plus the bucket table).
    pub fn points(&self) -> usize {
        self.entries.len()
    }

    /// Owners of the ring's points clockwise from `key`, one full turn: the ranking of a
    /// sticky request (a target appears once per point it owns).
    #[inline]
    pub fn clockwise(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = if self.entries.is_empty() { 0 } else { self.first_point(key) };
        let (before, after) = self.entries.split_at(start);
        after.iter().chain(before).map(|&(_, owner)| owner as usize)
    }

    /// The ring without the points of the targets `keep` refuses: the same key lands on the same
    /// target as it would walking the whole ring and skipping them, as points depend on the id
    /// only.
    pub fn retain(&self, keep: impl Fn(usize) -> bool) -> HashRing {
        let entries: Vec<(u64, u32)> =
            self.entries.iter().copied().filter(|&(_, owner)| keep(owner as usize)).collect();
        Self::from_sorted(entries, self.bounded)
    }
}
