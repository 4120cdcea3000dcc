//! Active health check verdicts follow ALB's thresholds on any sequence of probe results.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::num::NonZeroU32;

use proptest::prelude::*;
use switchyard_algorithms::checks::{CheckConfig, FleetVerdict, TargetHealth, Verdict};

fn config(healthy: u32, unhealthy: u32) -> CheckConfig {
    CheckConfig {
        healthy_threshold: NonZeroU32::new(healthy).unwrap(),
        unhealthy_threshold: NonZeroU32::new(unhealthy).unwrap(),
        ..CheckConfig::default()
    }
}

proptest! {
    /// A verdict changes only after its threshold of agreeing probes in a row (one pass for a new
    /// target), and always does once that many came.
    #[test]
    fn verdicts_change_exactly_at_the_thresholds(
        healthy in 2u32..=10,
        unhealthy in 2u32..=10,
        probes in prop::collection::vec(any::<bool>(), 0..300),
    ) {
        let c = config(healthy, unhealthy);
        let mut target = TargetHealth::default();
        for (i, &passed) in probes.iter().enumerate() {
            let before = target.verdict;
            let changed = target.record(passed, &c);
            let last_n_agree = |n: u32| {
                let n = n as usize;
                i + 1 >= n && probes[i + 1 - n..=i].iter().all(|&p| p == passed)
            };
            match changed {
                Some(Verdict::Unhealthy) => prop_assert!(!passed && last_n_agree(unhealthy), "at probe {i}"),
                Some(Verdict::Healthy) => {
                    prop_assert!(passed && (before == Verdict::Initial || last_n_agree(healthy)), "at probe {i}")
                }
                Some(Verdict::Initial) => prop_assert!(false, "no probe makes a target new again"),
                None => prop_assert_eq!(target.verdict, before),
            }
            if !passed && last_n_agree(unhealthy) {
                prop_assert_eq!(target.verdict, Verdict::Unhealthy, "{} failures in a row at probe {}", unhealthy, i);
            }
            if passed && last_n_agree(healthy) {
                prop_assert_eq!(target.verdict, Verdict::Healthy, "{} passes in a row at probe {}", healthy, i);
            }
        }
    }

    /// Failing open marks nothing only when the unhealthy share passes the configured one, and
    /// always when every judged target is unhealthy.
    #[test]
    fn fail_open_follows_the_unhealthy_share(
        verdicts in prop::collection::vec(prop_oneof![Just(Verdict::Initial), Just(Verdict::Healthy), Just(Verdict::Unhealthy)], 0..50),
        percent in 1u32..=100,
    ) {
        let share = f64::from(percent) / 100.0;
        let v = FleetVerdict::of(&verdicts, share);
        let unhealthy = verdicts.iter().filter(|x| **x == Verdict::Unhealthy).count();
        prop_assert_eq!(v.unhealthy, unhealthy);
        prop_assert_eq!(v.healthy, verdicts.iter().filter(|x| **x == Verdict::Healthy).count());
        if unhealthy == 0 {
            prop_assert!(!v.fail_open);
        }
        if unhealthy > 0 && unhealthy == verdicts.len() {
            prop_assert!(v.fail_open);
        }
        if unhealthy > 0 && unhealthy < verdicts.len() {
            prop_assert_eq!(v.fail_open, unhealthy as f64 > share * verdicts.len() as f64);
        }
    }
}
