//! The hash ring as a discovery change and health see it: a rebuilt ring is the ring built from
//! scratch, and a ring without the unusable targets ranks keys as the whole ring skipping them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use switchyard_algorithms::hash::hash_bytes;
use switchyard_algorithms::{
    Algorithm, Balancer, BalancerConfig, HashRing, Health, RequestContext, Target, TargetSet, Time, Weight,
};

const NOW: Time = Time::from_secs(1_000_000);

/// Targets drawn from a pool of 48 ids: `members[i]` is `Some(weight)` when id i is in the set.
fn set(members: &[Option<u32>]) -> TargetSet {
    TargetSet::new(
        members
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.map(|w| Target::new(format!("i-{i:02}"), "x:1").with_weight(Weight::new(w).unwrap()))
            })
            .collect(),
    )
    .unwrap()
}

/// Weights up to 40: total weights above 256 give fewer than 512 points per weight, so the
/// points per weight change with membership too.
fn membership() -> impl Strategy<Value = Vec<Option<u32>>> {
    prop::collection::vec(prop::option::of(1u32..40), 48)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Targets joining, leaving and changing weight at once (and the points per weight changing
    /// with the total weight): keeping the points of those that stay gives exactly the ring a
    /// build from scratch gives.
    #[test]
    fn a_rebuilt_ring_equals_one_built_from_scratch(before in membership(), after in membership()) {
        let (previous, targets) = (set(&before), set(&after));
        let ring = HashRing::new(&previous, None);
        prop_assert_eq!(ring.rebuild(&previous, &targets), HashRing::new(&targets, None));
    }

    /// With some targets draining, a sticky key goes to the first usable target clockwise from it
    /// on the whole ring: building the ring over the usable targets moves no key that did not
    /// have to move.
    #[test]
    fn unusable_targets_are_skipped_on_the_whole_ring(
        draining in prop::collection::vec(any::<bool>(), 2..24),
        keys in prop::collection::vec(any::<u32>(), 32),
    ) {
        prop_assume!(draining.iter().any(|&d| !d));
        let targets = TargetSet::new(
            draining
                .iter()
                .enumerate()
                .map(|(i, &d)| Target::new(format!("i-{i:02}"), "x:1").with_health(if d { Health::Draining } else { Health::Healthy }))
                .collect(),
        )
        .unwrap();
        let whole = HashRing::new(&targets, None);
        let config = BalancerConfig { algorithm: Algorithm::StickyIp, bounded_load: None, panic_threshold: 0.0, ..Default::default() };
        let balancer = Balancer::new(targets, config).unwrap();
        for key in keys {
            let key = key.to_be_bytes();
            let picked = balancer.pick(&RequestContext { hash_key: Some(&key), ..Default::default() }, NOW).unwrap();
            let expected = whole.clockwise(hash_bytes(&key)).find(|&i| !draining[i]);
            prop_assert_eq!(picked.candidates.first(), expected);
        }
    }
}
