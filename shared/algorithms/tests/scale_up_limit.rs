//! The scale-up limit holds per period whatever the spacing of the ticks (issue 19: with ticks 3 s
//! apart a fleet went 0 → 10 → 40 → 100 in 6.9 s, the limit counting from the size after the
//! previous tick instead of the size at the start of the period).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use proptest::prelude::*;
use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    Activity, BacklogScaleUp, Bounds, FleetState, HistoryEntry, Reason, Recommendation, ScaleUpLimit, Stabilizer,
};

/// The most a fleet of `base` instances at the start of a period may reach by its end.
fn allowed(limit: &ScaleUpLimit, base: u32) -> u32 {
    let step = ((f64::from(base) * limit.percent / 100.0).ceil() as u32).max(limit.absolute);
    base.saturating_add(step)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Ticks `spacing_s` apart ask for far more than allowed; at every tick the size is within the
    /// limit counted from the size in force one period earlier.
    #[test]
    fn growth_per_period_never_exceeds_the_limit(
        spacing_s in 1u64..=120,
        start in 0u32..40,
        percent in prop_oneof![Just(100.0), Just(300.0), 0.0f64..500.0],
        absolute in 1u32..20,
        period_s in prop_oneof![Just(15u64), Just(60u64), 1u64..300],
    ) {
        let limit = ScaleUpLimit { percent, absolute, period: Duration::from_secs(period_s), backlog: BacklogScaleUp::Limited };
        let stabilizer = Stabilizer { scale_up: limit, ..Stabilizer::default() };
        let bounds = Bounds::new(0, 100_000).unwrap();
        let wanted = Recommendation { replicas: 90_000, reason: Reason::Backlog { messages: 900_000, per_instance: 10.0 } };
        let busy = Activity { waiting: 900_000, backlog_needs: 0, active_now: true, last_active: None };
        let t0 = Time::from_secs(1_000_000);
        let mut history: Vec<HistoryEntry> = Vec::new();
        // (time, size in force from then on), the size before the first tick included.
        let mut sizes: Vec<(Time, u32)> = vec![(Time::ZERO, start)];
        let mut desired = start;
        for k in 0..(3 * period_s / spacing_s + 3) {
            let now = t0 + Duration::from_secs(k * spacing_s);
            let fleet = FleetState { desired, in_service: desired, pending: 0, bounds };
            let d = stabilizer.decide(&fleet, &wanted, &history, busy, now);
            history.push(d.record);
            let period_start = now - limit.period;
            let base = sizes.iter().rev().find(|(at, _)| *at <= period_start).map_or(start, |&(_, n)| n);
            prop_assert!(
                d.desired <= allowed(&limit, base).max(desired),
                "tick {k} at +{} s: {} → {}, but {} at the period's start allows {}; steps {:?}",
                k * spacing_s, desired, d.desired, base, allowed(&limit, base), d.steps
            );
            desired = d.desired;
            sizes.push((now, desired));
        }
    }
}
