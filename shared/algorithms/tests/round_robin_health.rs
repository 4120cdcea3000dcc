//! Round robin splits the share of an unusable target among the usable ones by weight (issue 19:
//! with one of three equal targets ejected, the survivors served 2 : 1, the next in the rotation
//! taking the ejected one's whole share).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::num::NonZeroU32;
use std::time::Duration;

use proptest::prelude::*;
use switchyard_algorithms::{
    Balancer, BalancerConfig, Health, Outcome, OutlierConfig, RequestContext, Target, TargetSet, Time, Weight,
};

const NOW: Time = Time::from_secs(1_000_000);

fn set(weights: &[u32], health: &[Health]) -> TargetSet {
    TargetSet::new(
        weights
            .iter()
            .zip(health)
            .enumerate()
            .map(|(i, (&w, &h))| {
                Target::new(format!("t{i:03}"), "x:1").with_weight(Weight::new(w).unwrap()).with_health(h)
            })
            .collect(),
    )
    .unwrap()
}

/// Each usable target's picks over `rounds` whole rounds of the usable set, against its share.
fn check_shares(b: &Balancer, weights: &[u32], usable: &[bool], rounds: usize, now: Time) -> Result<(), TestCaseError> {
    let total: usize = weights.iter().zip(usable).filter(|(_, u)| **u).map(|(&w, _)| w as usize).sum();
    let mut counts = vec![0usize; weights.len()];
    for _ in 0..total * rounds {
        counts[b.pick(&RequestContext::default(), now).unwrap().candidates.first().unwrap()] += 1;
    }
    for (i, &w) in weights.iter().enumerate() {
        let share = if usable[i] { w as usize * rounds } else { 0 };
        prop_assert!(
            counts[i].abs_diff(share) <= 1,
            "target {i} (weight {w}, usable {}): {} picks for a share of {share}; weights {weights:?}, usable {usable:?}, counts {counts:?}",
            usable[i],
            counts[i]
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Targets drain or fail a health check (discovery), are ejected by failures (passive health)
    /// and come back; after each change every usable target gets its weighted share of whole
    /// rounds of the usable set, within ±1.
    #[test]
    fn each_usable_target_gets_its_weighted_share_under_health_changes(
        weights in prop::collection::vec(1u32..6, 2..10),
        changes in prop::collection::vec((any::<prop::sample::Index>(), 0u8..3), 1..6),
        rounds in 1usize..4,
    ) {
        let n = weights.len();
        let config = BalancerConfig {
            outlier: OutlierConfig {
                consecutive_failures: NonZeroU32::MIN,
                max_ejected_share: 1.0,
                base_ejection: Duration::from_secs(30),
                ..Default::default()
            },
            panic_threshold: 0.0,
            ..Default::default()
        };
        let mut health = vec![Health::Healthy; n];
        let mut b = Balancer::new(set(&weights, &health), config).unwrap();
        let mut now = NOW;
        for (target, change) in changes {
            let i = target.index(n);
            match change {
                // Discovery says the target is draining: a new set, the balancer rebuilt.
                0 => {
                    health[i] = Health::Draining;
                    b = b.rebuild(set(&weights, &health)).unwrap();
                }
                // Passive health: one failure ejects it (for 30 s) in the same balancer.
                1 => {
                    b.record(i, Outcome::Failure, now);
                }
                // Time passes: ejections run out; discovery reports the target healthy again.
                _ => {
                    now = now + Duration::from_secs(31);
                    health[i] = Health::Healthy;
                    b = b.rebuild(set(&weights, &health)).unwrap();
                }
            }
            let usable: Vec<bool> =
                (0..n).map(|t| health[t] == Health::Healthy && b.state(t).unwrap().ejected_until() <= now).collect();
            if usable.iter().any(|&u| u) {
                check_shares(&b, &weights, &usable, rounds, now)?;
            }
        }
    }
}

#[test]
fn with_one_of_three_targets_ejected_the_other_two_split_its_share() {
    let config = BalancerConfig {
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, max_ejected_share: 1.0, ..Default::default() },
        panic_threshold: 0.0,
        ..Default::default()
    };
    let b = Balancer::new(set(&[1, 1, 1], &[Health::Healthy; 3]), config).unwrap();
    b.record(1, Outcome::Failure, NOW).expect("ejected");
    let mut counts = [0; 3];
    for _ in 0..600 {
        counts[b.pick(&RequestContext::default(), NOW).unwrap().candidates.first().unwrap()] += 1;
    }
    assert_eq!(counts, [300, 0, 300]);
}
