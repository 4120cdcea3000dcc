//! Smooth weighted round robin, the nginx algorithm (`ngx_http_upstream_get_peer`, 2012).
//!
//! nginx, per pick: every peer's `current += weight`; the peer with the largest `current` (first
//! on ties) is chosen and its `current -= total`. For weights {5, 1, 1} that gives
//! `a a b a c a a`: heavy targets are spread out, never bunched. The sequence repeats every
//! `total` picks, so it is computed once per target set into a table and a pick is one atomic
//! increment and a lookup: lock-free and O(1), safe to share between concurrent requests.
//!
//! Building the table naively costs O(total × n). Targets of equal weight are picked in index
//! order among themselves (their `current` differ only by multiples of `total`), so the build
//! tracks one cursor per distinct weight and costs O(total × distinct weights).
//!
//! Memory: one `u32` per unit of total weight after dividing by the weights' GCD; above
//! [`RoundRobin::MAX_TABLE`] entries the weights are scaled down proportionally (each stays ≥ 1),
//! trading exact ratios of extreme weights for a bounded table — pingora makes the same trade.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::target::TargetSet;

/// Smooth weighted round robin over a target set.
#[derive(Debug)]
pub struct RoundRobin {
    table: Box<[u32]>,
    /// Picks so far. 32 bits so the position is `cursor mod len` by Lemire's fastmod (two
    /// multiplications instead of a division); the wrap every 2^32 picks costs one uneven step.
    cursor: AtomicU32,
    /// ⌈2^64 / len⌉ for fastmod.
    fastmod: u64,
}

impl RoundRobin {
    /// Largest schedule table (4 MiB of `u32`).
    pub const MAX_TABLE: u64 = 1 << 20;

    /// The rotation over every target of the set.
    ///
    /// ```
    /// use switchyard_algorithms::{RoundRobin, Target, TargetSet, Weight};
    ///
    /// let heavy = Target::new("a", "a:80").with_weight(Weight::new(5).unwrap());
    /// let set = TargetSet::new(vec![heavy, Target::new("b", "b:80"), Target::new("c", "c:80")]).unwrap();
    /// assert_eq!(RoundRobin::new(&set).schedule(), [0, 0, 1, 0, 2, 0, 0], "nginx's example");
    /// ```
    pub fn new(targets: &TargetSet) -> Self {
        let weights: Vec<u64> = targets.iter().map(|t| u64::from(t.weight.get())).collect();
        Self::from_table(schedule(&weights))
    }

    /// The rotation over `members` of `targets` only (indices into `targets`, ascending): what
    /// the balancer uses while some targets are unusable, so that their share is split among
    /// the others by weight. Skipping them in the full rotation instead would hand each skipped
    /// turn to whichever target follows it (issue 19: 2 : 1 between two equal survivors).
    pub fn over(targets: &TargetSet, members: &[u32]) -> Self {
        let weights: Vec<u64> =
            members.iter().filter_map(|&i| targets.get(i as usize)).map(|t| u64::from(t.weight.get())).collect();
        let table = schedule(&weights).into_iter().map(|position| members[position as usize]).collect();
        Self::from_table(table)
    }

    fn from_table(table: Vec<u32>) -> Self {
        let table = table.into_boxed_slice();
        let fastmod = (u64::MAX / table.len().max(1) as u64).wrapping_add(1);
        RoundRobin { table, cursor: AtomicU32::new(0), fastmod }
    }

    /// One period of the schedule, as target indices (for tests and inspection).
    pub fn schedule(&self) -> &[u32] {
        &self.table
    }

    /// Where in the schedule the next request starts: each call takes the next turn. Lock-free:
    /// one atomic increment.
    #[inline]
    pub fn next_turn(&self) -> usize {
        fastmod(self.cursor.fetch_add(1, Ordering::Relaxed), self.fastmod, self.table.len().max(1))
    }

    /// The place in the schedule right after `index`'s first turn (0 if it has none): where a
    /// retry goes on from, leaving the shared rotation alone. Moving the rotation would hand the
    /// failed request's turn to the next request too, skewing every other request's share while
    /// a target is failing.
    pub fn after(&self, index: usize) -> usize {
        self.table.iter().position(|&i| i as usize == index).map_or(0, |p| (p + 1) % self.table.len())
    }

    /// Target indices in schedule order from place `start`, one full period.
    #[inline]
    pub fn from_place(&self, start: usize) -> impl Iterator<Item = usize> + '_ {
        let (before, after) = self.table.split_at(start.min(self.table.len()));
        after.iter().chain(before).map(|&i| i as usize)
    }
}

/// `a mod d` for `m = ⌈2^64 / d⌉` (Lemire, Kaser, Kurz, "Faster Remainder by Direct Computation", 2019),
/// exact for 32-bit `a` and `d`.
#[inline]
fn fastmod(a: u32, m: u64, d: usize) -> usize {
    let low = m.wrapping_mul(u64::from(a));
    ((u128::from(low) * d as u128) >> 64) as usize
}

/// The nginx smooth weighted round-robin sequence for `weights`, one period long.
fn schedule(weights: &[u64]) -> Vec<u32> {
    if weights.is_empty() {
        return Vec::new();
    }
    let weights = reduce(weights);
    let total: u64 = weights.iter().sum();

    // Group target indices by weight; within a group, targets take turns in index order.
    let mut distinct: Vec<u64> = weights.clone();
    distinct.sort_unstable();
    distinct.dedup();
    struct Group {
        weight: u64,
        members: Vec<u32>,
        /// Next member to be picked.
        next: usize,
        /// Picks of each member before `next` is k+1, from `next` on it is k.
        rounds: u64,
    }
    let mut groups: Vec<Group> = distinct
        .iter()
        .map(|&w| Group {
            weight: w,
            members: (0..weights.len()).filter(|&i| weights[i] == w).map(|i| i as u32).collect(),
            next: 0,
            rounds: 0,
        })
        .collect();

    let mut table = Vec::with_capacity(total as usize);
    for step in 1..=total {
        // current_i before this pick = step·w_i − total·picks_i; the group's best member is the
        // one with the fewest picks (lowest index among equals), i.e. `members[next]`.
        let mut best: Option<(i128, u32, usize)> = None;
        for (g, group) in groups.iter().enumerate() {
            let current = i128::from(step) * i128::from(group.weight) - i128::from(total) * i128::from(group.rounds);
            let index = group.members[group.next];
            let better = match best {
                None => true,
                Some((c, i, _)) => current > c || (current == c && index < i),
            };
            if better {
                best = Some((current, index, g));
            }
        }
        let Some((_, index, g)) = best else { break };
        table.push(index);
        let group = &mut groups[g];
        group.next += 1;
        if group.next == group.members.len() {
            group.next = 0;
            group.rounds += 1;
        }
    }
    table
}

/// Divide by the GCD; scale down proportionally if the period would exceed the table bound.
fn reduce(weights: &[u64]) -> Vec<u64> {
    let g = weights.iter().copied().fold(0, gcd).max(1);
    let mut reduced: Vec<u64> = weights.iter().map(|w| w / g).collect();
    let total: u64 = reduced.iter().sum();
    if total > RoundRobin::MAX_TABLE {
        let scale = RoundRobin::MAX_TABLE as f64 / total as f64;
        reduced = reduced.iter().map(|&w| ((w as f64 * scale).floor() as u64).max(1)).collect();
        let g = reduced.iter().copied().fold(0, gcd).max(1);
        reduced.iter_mut().for_each(|w| *w /= g);
    }
    reduced
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nginx's own loop, to check the grouped build against.
    fn nginx_reference(weights: &[u64]) -> Vec<u32> {
        let weights = reduce(weights);
        let total: i64 = weights.iter().map(|&w| w as i64).sum();
        let mut current = vec![0i64; weights.len()];
        (0..total)
            .map(|_| {
                let mut best = 0;
                for i in 0..weights.len() {
                    current[i] += weights[i] as i64;
                    if current[i] > current[best] {
                        best = i;
                    }
                }
                current[best] -= total;
                best as u32
            })
            .collect()
    }

    #[test]
    fn fastmod_is_the_remainder() {
        for d in [1usize, 2, 3, 7, 1000, 65_537, 1 << 20] {
            let m = (u64::MAX / d as u64).wrapping_add(1);
            for a in [0u32, 1, 2, 3, 999, 1 << 20, u32::MAX - 1, u32::MAX] {
                assert_eq!(fastmod(a, m, d), a as usize % d, "{a} mod {d}");
            }
        }
    }

    #[test]
    fn matches_the_nginx_example() {
        // nginx's commit message: weights {a=5, b=1, c=1} give "a a b a c a a".
        assert_eq!(schedule(&[5, 1, 1]), [0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn equal_weights_cycle_in_order() {
        assert_eq!(schedule(&[3, 3, 3]), [0, 1, 2]);
    }

    #[test]
    fn grouped_build_equals_the_nginx_loop() {
        let cases: [&[u64]; 6] =
            [&[1], &[2, 1], &[4, 3, 2, 1], &[1, 1, 2, 2, 3, 3, 7], &[10, 1, 10, 1, 5], &[6, 4, 9, 9, 1, 2, 2, 8]];
        for weights in cases {
            assert_eq!(schedule(weights), nginx_reference(weights), "weights {weights:?}");
        }
    }

    #[test]
    fn huge_weights_are_scaled_into_a_bounded_table() {
        let table = schedule(&[u64::from(u32::MAX), 1, u64::from(u32::MAX / 2)]);
        assert!(table.len() as u64 <= RoundRobin::MAX_TABLE + 3);
        assert!(table.contains(&1), "every target keeps at least one turn");
    }
}
