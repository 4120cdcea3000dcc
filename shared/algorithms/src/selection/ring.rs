//! Consistent hashing on a ring (Karger et al. 1997), with bounded loads
//! (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018).
//!
//! Each target owns points on a ring in proportion to its weight (the 32 high bits of a 64-bit
//! hash of its id and the point's number); a key belongs to the first point clockwise from its
//! hash. When one target joins a set of n, only the keys that now
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
    ///
    /// ```
    /// use switchyard_algorithms::BoundedLoad;
    ///
    /// assert_eq!(BoundedLoad::new(0.25).map(BoundedLoad::epsilon), Ok(0.25));
    /// assert!(BoundedLoad::new(0.0).is_err());
    /// ```
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
#[derive(Debug, PartialEq)]
pub struct HashRing {
    /// One entry per point: the point's 32 high bits above its owner's index, so that sorting the
    /// entries sorts the points (ties by owner) and a lookup reads the owner from the same word.
    /// 8 bytes a point: the ring of 100 targets (51 200 points) stays within a core's L2 cache.
    entries: Box<[u64]>,
    /// `buckets[b]`: index of the first entry whose top bits are ≥ b.
    buckets: Box<[u32]>,
    shift: u32,
    bounded: Option<BoundedLoad>,
}

/// The low half of an entry: its owner.
const OWNER: u64 = 0xffff_ffff;

impl HashRing {
    /// Ring points per unit of weight: 512 for small sets (the share of a joining target is then
    /// within ±5 % of 1/(n+1) at one standard deviation), fewer for large sets so that the whole
    /// ring stays near [`HashRing::POINT_BUDGET`] points, never fewer than 32 per target.
    pub const MAX_POINTS_PER_WEIGHT: u64 = 512;
    pub const MIN_POINTS_PER_WEIGHT: u64 = 32;
    pub const POINT_BUDGET: u64 = 1 << 17;

    /// The ring of `targets`; `bounded` caps each target's load (`None`: plain consistent hashing).
    ///
    /// ```
    /// use switchyard_algorithms::{BoundedLoad, HashRing, Target, TargetSet};
    ///
    /// let targets = TargetSet::new(vec![Target::new("a", "a:80"), Target::new("b", "b:80")]).unwrap();
    /// let ring = HashRing::new(&targets, Some(BoundedLoad::DEFAULT));
    /// assert_eq!(ring.points(), 2 * 512);
    /// assert!(ring.owner(42).is_some());
    /// ```
    pub fn new(targets: &TargetSet, bounded: Option<BoundedLoad>) -> Self {
        let per_weight = Self::points_per_weight(targets);
        let mut entries: Vec<u64> = Vec::with_capacity(Self::total_weight(targets) as usize * per_weight as usize);
        for (index, target) in targets.iter().enumerate() {
            entries.extend(points(target.id.as_str(), 0..u64::from(target.weight.get()) * per_weight, index));
        }
        entries.sort_unstable();
        Self::from_sorted(entries, bounded)
    }

    /// The ring of `targets`, built from this ring of `previous` (the set before a discovery
    /// change): the points of targets that stay are kept, with their owners renumbered, and only
    /// the points that join or leave are hashed, sorted and merged in. Equal to
    /// [`HashRing::new`] of `targets`, in one linear pass instead of hashing and sorting the
    /// whole ring again.
    pub fn rebuild(&self, previous: &TargetSet, targets: &TargetSet) -> Self {
        let (old_per_weight, new_per_weight) = (Self::points_per_weight(previous), Self::points_per_weight(targets));
        // Both sets are sorted by id, so renumbering keeps the order of the points that stay.
        let mut renumbered = vec![u32::MAX; previous.len()];
        let (mut joining, mut leaving) = (Vec::new(), Vec::new());
        let mut o = 0;
        for (index, target) in targets.iter().enumerate() {
            while o < previous.len() && previous[o].id < target.id {
                o += 1;
            }
            let had = match previous.get(o).filter(|old| old.id == target.id) {
                Some(old) => {
                    renumbered[o] = index as u32;
                    u64::from(old.weight.get()) * old_per_weight
                }
                None => 0,
            };
            let has = u64::from(target.weight.get()) * new_per_weight;
            let id = target.id.as_str();
            if has > had {
                joining.extend(points(id, had..has, index));
            } else {
                leaving.extend(points(id, has..had, index));
            }
        }
        joining.sort_unstable();
        leaving.sort_unstable();

        let mut entries = Vec::with_capacity(self.entries.len() + joining.len());
        let (mut joining, mut leaving) = (joining.into_iter().peekable(), leaving.into_iter().peekable());
        for &entry in self.entries.iter() {
            let owner = renumbered[(entry & OWNER) as usize];
            if owner == u32::MAX {
                continue;
            }
            let entry = (entry & !OWNER) | u64::from(owner);
            if leaving.next_if_eq(&entry).is_some() {
                continue;
            }
            while let Some(new) = joining.next_if(|&new| new < entry) {
                entries.push(new);
            }
            entries.push(entry);
        }
        entries.extend(joining);
        Self::from_sorted(entries, self.bounded)
    }

    fn total_weight(targets: &TargetSet) -> u64 {
        targets.iter().map(|t| u64::from(t.weight.get())).sum()
    }

    fn points_per_weight(targets: &TargetSet) -> u64 {
        (Self::POINT_BUDGET / Self::total_weight(targets).max(1))
            .clamp(Self::MIN_POINTS_PER_WEIGHT, Self::MAX_POINTS_PER_WEIGHT)
    }

    /// The ring of these sorted entries, with its bucket table.
    fn from_sorted(entries: Vec<u64>, bounded: Option<BoundedLoad>) -> Self {
        // About two points per bucket: the table (4 bytes a bucket) stays a quarter of the
        // entries' size, and the scan after it reads one cache line of entries.
        let magnitude = usize::BITS - entries.len().max(1).leading_zeros();
        let bits = magnitude.saturating_sub(1).clamp(1, 22);
        let shift = 64 - bits;
        let mut buckets = vec![0u32; 1 << bits];
        let mut p = 0usize;
        for (b, slot) in buckets.iter_mut().enumerate() {
            let start = (b as u64) << shift;
            while p < entries.len() && entries[p] < start {
                p += 1;
            }
            *slot = p as u32;
        }
        HashRing { entries: entries.into_boxed_slice(), buckets: buckets.into_boxed_slice(), shift, bounded }
    }

    /// Index of the first ring point at or after `key` (wrapping to 0). Points are compared on
    /// their 32 high bits, the precision the ring stores.
    #[inline]
    fn first_point(&self, key: u64) -> usize {
        let key = key & !OWNER;
        let mut p = self.buckets[(key >> self.shift) as usize] as usize;
        while p < self.entries.len() && self.entries[p] < key {
            p += 1;
        }
        if p == self.entries.len() { 0 } else { p }
    }

    /// The owner of `key` on the plain ring: no health, no load (what stickiness means).
    pub fn owner(&self, key: u64) -> Option<usize> {
        if self.entries.is_empty() {
            return None;
        }
        Some((self.entries[self.first_point(key)] & OWNER) as usize)
    }

    pub fn bounded(&self) -> Option<BoundedLoad> {
        self.bounded
    }

    /// Number of points on the ring (memory is 8 bytes a point plus 2 bytes a point of buckets).
    pub fn points(&self) -> usize {
        self.entries.len()
    }

    /// Owners of the ring's points clockwise from `key`, one full turn: the ranking of a
    /// sticky request (a target appears once per point it owns).
    #[inline]
    pub fn clockwise(&self, key: u64) -> impl Iterator<Item = usize> + '_ {
        let start = if self.entries.is_empty() { 0 } else { self.first_point(key) };
        let (before, after) = self.entries.split_at(start);
        after.iter().chain(before).map(|&entry| (entry & OWNER) as usize)
    }

    /// The ring without the points of the targets `keep` refuses: the same key lands on the same
    /// target as it would walking the whole ring and skipping them, as points depend on the id
    /// only.
    pub fn retain(&self, keep: impl Fn(usize) -> bool) -> HashRing {
        let entries = self.entries.iter().copied().filter(|&entry| keep((entry & OWNER) as usize)).collect();
        Self::from_sorted(entries, self.bounded)
    }
}

/// The ring entries of target `id`'s points number `replicas`, owned by `index`. Points depend on
/// the id only, never on the index: a target keeps its points when others join or leave.
fn points(id: &str, replicas: std::ops::Range<u64>, index: usize) -> impl Iterator<Item = u64> {
    let seed = hash_bytes(id.as_bytes());
    replicas.map(move |replica| {
        (fmix64(seed ^ fmix64(replica.wrapping_add(0x9e37_79b9_7f4a_7c15))) & !OWNER) | index as u64
    })
}
