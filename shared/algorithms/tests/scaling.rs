//! How the scaling decision behaves: one behaviour per test, then invariants as properties.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::time::Duration;

use proptest::prelude::*;
use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    Activity, BacklogPerInstance, BacklogScaleUp, Bounds, DirectionBudget, FleetState, HistoryEntry, LatencySlo,
    QueueState, Reason, Recommendation, ScaleUpLimit, Stabilizer, Step,
};

const NOW: Time = Time::from_secs(10_000);

fn fleet(desired: u32, min: u32, max: u32) -> FleetState {
    FleetState { desired, in_service: desired, pending: 0, bounds: Bounds::new(min, max).unwrap() }
}

fn rec(replicas: u32) -> Recommendation {
    Recommendation { replicas, reason: Reason::Backlog { messages: u64::from(replicas), per_instance: 1.0 } }
}

/// A recommendation of `unrounded` instances before rounding up (backlog of 100 × it, 100 each).
fn unrounded(unrounded: f64) -> Recommendation {
    let messages = (unrounded * 100.0).round() as u64;
    Recommendation {
        replicas: messages.div_ceil(100) as u32,
        reason: Reason::Backlog { messages, per_instance: 100.0 },
    }
}

fn busy() -> Activity {
    Activity { waiting: 10, backlog_needs: 0, active_now: true, last_active: Some(NOW) }
}

fn ago(secs: u64) -> Time {
    NOW - Duration::from_secs(secs)
}

#[test]
fn scale_out_follows_the_recommendation_within_the_rate_limit() {
    let d = Stabilizer::default().decide(&fleet(4, 0, 100), &rec(6), &[], busy(), NOW);
    assert_eq!(d.desired, 6);
    // From 4, at most 4 + max(300 %, 10) = 16 per minute (Switchyard's default limit).
    let d = Stabilizer::default().decide(&fleet(4, 0, 100), &rec(30), &[], busy(), NOW);
    assert_eq!(d.desired, 16);
    assert!(matches!(d.deciding_step(), Some(Step::RateLimitedUp { limit: 16, .. })));
}

#[test]
fn the_rate_limit_counts_from_the_size_at_the_start_of_its_period() {
    // 2 instances a minute and a half ago, grown to 4 thirty seconds ago: within the same minute
    // the limit is 2 + max(6, 10) = 12, not 4 + max(12, 10) = 16.
    let history = [
        HistoryEntry { at: ago(90), recommendation: 2, desired: 2 },
        HistoryEntry { at: ago(30), recommendation: 4, desired: 4 },
    ];
    let d = Stabilizer::default().decide(&fleet(4, 0, 100), &rec(30), &history, busy(), NOW);
    assert_eq!(d.desired, 12);
}

#[test]
fn a_history_that_starts_inside_the_period_allows_only_the_absolute_step() {
    // The size before the tick 30 s ago is unknown and counts as zero: growth is at most the
    // absolute step (10) above it, so a fleet of 12 holds until the period has passed.
    let history = [HistoryEntry { at: ago(30), recommendation: 12, desired: 12 }];
    let d = Stabilizer::default().decide(&fleet(12, 0, 100), &rec(30), &history, busy(), NOW);
    assert_eq!(d.desired, 12);
}

#[test]
fn the_dead_band_compares_the_unrounded_recommendation_with_the_current_size() {
    // (current, unrounded recommendation, desired): the HPA's |ratio − 1| ≤ 10 %.
    let cases = [
        (5, 5.33, 5),   // needs 6 rounded up, but 5.33 is within 10 % of 5: hold
        (5, 5.6, 6),    // 12 % above: grow
        (6, 6.04, 6),   // a fraction of an instance of noise: hold
        (20, 18.5, 20), // 7.5 % below, though 19 rounded: hold
        (10, 8.5, 9),   // 15 % below: scale in to ceil(8.5) (the window has nothing higher)
        (1, 1.05, 1),   // one instance 5 % over: hold
        (1, 1.2, 2),
    ];
    for (current, wanted, desired) in cases {
        let history = [HistoryEntry { at: ago(400), recommendation: current, desired: current }];
        let d = Stabilizer::default().decide(&fleet(current, 0, 100), &unrounded(wanted), &history, busy(), NOW);
        assert_eq!(d.desired, desired, "{current} with {wanted} recommended: {:?}", d.steps);
        if desired == current {
            assert!(matches!(d.deciding_step(), Some(Step::WithinTolerance { .. })), "{:?}", d.steps);
        }
    }
}

#[test]
fn a_recommendation_set_apart_from_its_reason_counts_as_its_whole_number() {
    // A hold for missing data carries no unrounded count; nor does a number its reason does not
    // round up to.
    let held = Recommendation { replicas: 7, reason: Reason::MissingData { signal: "queue depth" } };
    assert_eq!(held.unrounded(), 7.0);
    let mismatched = Recommendation { replicas: 9, reason: Reason::Backlog { messages: 10, per_instance: 1.0 } };
    assert_eq!(mismatched.unrounded(), 9.0);
}

/// Messages waiting that need `backlog_needs` instances.
fn backlog(waiting: u64, backlog_needs: u32) -> Activity {
    Activity { waiting, backlog_needs, active_now: true, last_active: Some(NOW) }
}

#[test]
fn messages_already_waiting_lift_the_scale_up_limit_to_what_they_need() {
    // At zero, 4 901 messages waiting at 60 per instance need 82; the steps allow 0 + 10.
    let d = Stabilizer::default().decide(&fleet(0, 0, 100), &rec(286), &[], backlog(4901, 82), NOW);
    assert_eq!(d.desired, 82);
    let Some(step @ Step::ScaledUpForBacklog { limit: 10, backlog_needs: 82, .. }) = d.deciding_step() else {
        panic!("{:?}", d.steps)
    };
    assert!(step.to_string().contains("the messages waiting need 82"), "{step}");
}

#[test]
fn the_backlog_lifts_the_limit_no_further_than_the_recommendation() {
    let d = Stabilizer::default().decide(&fleet(0, 0, 100), &rec(50), &[], backlog(4901, 82), NOW);
    assert_eq!(d.desired, 50);
}

#[test]
fn a_backlog_the_steps_already_allow_changes_nothing() {
    // From 40: ×4 allows 160, more than the 82 the backlog needs; the forecast part is held to 160.
    let d = Stabilizer::default().decide(&fleet(40, 0, 1000), &rec(700), &[], backlog(4901, 82), NOW);
    assert_eq!(d.desired, 160);
    assert!(matches!(d.deciding_step(), Some(Step::RateLimitedUp { limit: 160, .. })), "{:?}", d.steps);
}

#[test]
fn with_the_hpas_policies_alone_the_steps_hold_whatever_is_waiting() {
    let limited = Stabilizer {
        scale_up: ScaleUpLimit { backlog: BacklogScaleUp::Limited, ..ScaleUpLimit::default() },
        ..Stabilizer::default()
    };
    assert_eq!(limited.decide(&fleet(0, 0, 100), &rec(286), &[], backlog(4901, 82), NOW).desired, 10);
    assert_eq!(ScaleUpLimit::HPA.backlog, BacklogScaleUp::Limited, "the peer's HPA has no such policy");
}

/// Desired sizes recorded `minutes` ago, oldest first (recommendations equal to them).
fn sizes(points: &[(u64, u32)]) -> Vec<HistoryEntry> {
    points.iter().map(|&(m, d)| HistoryEntry { at: ago(m * 60), recommendation: d, desired: d }).collect()
}

#[test]
fn direction_changes_are_counted_between_running_sizes_only() {
    let budget = DirectionBudget::default();
    // (history, current, changes within the hour, last direction out?)
    type Case<'a> = (&'a [(u64, u32)], u32, u32, Option<bool>);
    let cases: [Case<'_>; 5] = [
        (&[(50, 10), (40, 8), (20, 12)], 12, 1, Some(true)), // in, then out: one change
        (&[(50, 10), (40, 12), (20, 14)], 14, 0, Some(true)), // out, out
        (&[(50, 5), (40, 0), (20, 5), (10, 0)], 3, 0, None), // wake cycles: nothing counts
        (&[(90, 10), (70, 8), (20, 12)], 12, 1, Some(true)), // the size at the window's start counts
        (&[(50, 10), (40, 8), (30, 12), (20, 9), (10, 15)], 15, 3, Some(true)),
    ];
    for (history, current, changes, last) in cases {
        assert_eq!(budget.changes_within(&sizes(history), current, NOW), (changes, last), "{history:?} → {current}");
    }
}

#[test]
fn a_small_scale_in_that_would_turn_the_fleet_again_waits_once_the_budget_is_spent() {
    // In to 8, out to 12 (one change this hour); 10 now would turn it again, and the scale-out
    // that may follow would make three.
    let history = sizes(&[(50, 10), (40, 8), (20, 12)]);
    let d = Stabilizer::default().decide(&fleet(12, 0, 100), &rec(10), &history, busy(), NOW);
    assert_eq!(d.desired, 12);
    let Some(step @ Step::HeldForDirectionBudget { changes: 1, budget: 2, .. }) = d.deciding_step() else {
        panic!("{:?}", d.steps)
    };
    assert!(step.to_string().contains("1 direction change(s) in the last 3600 s, 2 allowed"), "{step}");
}

#[test]
fn a_large_scale_in_of_a_load_that_has_not_flapped_goes_ahead() {
    // Freeing 8 of 12 (two thirds): the load has clearly fallen.
    let history = sizes(&[(50, 10), (40, 8), (20, 12)]);
    let d = Stabilizer::default().decide(&fleet(12, 0, 100), &rec(4), &history, busy(), NOW);
    assert_eq!(d.desired, 4, "{:?}", d.steps);
}

/// A sawtooth's first tooth: 44 instances scaled in to 9 as the next ramp began, and out again a
/// minute later; the fleet has followed the ramp to 46 since.
const FLAPPED: [(u64, u32); 6] = [(58, 44), (57, 9), (56, 12), (50, 20), (40, 30), (30, 46)];

#[test]
fn once_the_fleet_has_flapped_a_large_scale_in_that_would_turn_it_waits() {
    // One direction change this hour; 46 → 8 frees 83 % of the fleet, but the last scale-in of
    // this size was undone within the scale-down window: the load comes back.
    let d = Stabilizer::default().decide(&fleet(46, 0, 100), &rec(8), &sizes(&FLAPPED), busy(), NOW);
    assert_eq!(d.desired, 46);
    let Some(step @ Step::HeldAfterFlap { changes: 1, budget: 2, undone_from: 44, .. }) = d.deciding_step() else {
        panic!("{:?}", d.steps)
    };
    assert!(step.to_string().contains("a scale-in from 44 was undone within 300 s: the load comes back"), "{step}");
}

#[test]
fn a_scale_in_undone_only_after_the_scale_down_window_is_no_flap() {
    // The same sizes, but the fleet grew again ten minutes after scaling in: the load fell, then
    // rose; it did not undo the scale-in at once.
    let history = sizes(&[(58, 44), (57, 9), (47, 12), (40, 30), (30, 46)]);
    let d = Stabilizer::default().decide(&fleet(46, 0, 100), &rec(8), &history, busy(), NOW);
    assert_eq!(d.desired, 8, "{:?}", d.steps);
}

#[test]
fn a_small_fleets_flap_says_nothing_about_a_large_one() {
    // A flash sale's aftershock: 20 trimmed to 19 a minute before it took the fleet to 96. The
    // scale-in undone was from less than half of 96: going back to 10 goes ahead.
    let history = sizes(&[(50, 100), (30, 20), (12, 19), (11, 35), (10, 96)]);
    let d = Stabilizer::default().decide(&fleet(96, 0, 100), &rec(10), &history, busy(), NOW);
    assert_eq!(d.desired, 10, "{:?}", d.steps);
}

#[test]
fn flaps_are_found_within_the_window_between_running_sizes_only() {
    let budget = DirectionBudget::default();
    let within = Duration::from_secs(300);
    // (history, current, the size the latest flap's scale-in started from)
    type Case<'a> = (&'a [(u64, u32)], u32, Option<u32>);
    let cases: [Case<'_>; 5] = [
        (&FLAPPED, 46, Some(44)),
        (&[(70, 44), (62, 9), (58, 12), (30, 46)], 46, None), // the scale-in is older than the hour
        (&[(58, 44), (57, 0), (56, 12), (30, 46)], 46, None), // to zero and back: a wake cycle
        (&[(58, 44), (57, 9), (50, 12), (30, 46)], 46, None), // undone after 7 minutes
        (&[(58, 44), (57, 20), (56, 9), (55, 12), (30, 46)], 46, Some(44)), // in two steps, then out
    ];
    for (history, current, flap) in cases {
        assert_eq!(budget.flap_within(&sizes(history), current, NOW, within), flap, "{history:?} → {current}");
    }
}

#[test]
fn a_scale_in_is_judged_by_the_recommendation_not_by_the_windows_first_step() {
    // After a burst: 100 instances, the window still holds a recommendation of 81, the load
    // needs 15. The window steps down to 81 (19 %), but the load has fallen by 85 %: no hold.
    let mut history = sizes(&[(50, 18), (40, 16), (10, 100)]);
    history.push(HistoryEntry { at: ago(120), recommendation: 81, desired: 100 });
    let d = Stabilizer::default().decide(&fleet(100, 0, 100), &rec(15), &history, busy(), NOW);
    assert_eq!(d.desired, 81, "{:?}", d.steps);
}

#[test]
fn with_the_budget_unspent_a_fleet_follows_its_load() {
    let history = sizes(&[(50, 10), (20, 12)]);
    assert_eq!(Stabilizer::default().decide(&fleet(12, 0, 100), &rec(10), &history, busy(), NOW).desired, 10);
    let off = Stabilizer { direction_budget: None, ..Stabilizer::default() };
    let turned = sizes(&[(50, 10), (40, 8), (20, 12)]);
    assert_eq!(off.decide(&fleet(12, 0, 100), &rec(10), &turned, busy(), NOW).desired, 10);
}

#[test]
fn without_a_whole_window_of_history_nothing_scales_in() {
    // A scaler just deployed on a running fleet of 10: the HPA's first recommendation is the
    // current size, so nothing scales in before a scale-down window has passed.
    let d = Stabilizer::default().decide(&fleet(10, 0, 100), &rec(2), &[], busy(), NOW);
    assert_eq!(d.desired, 10);
    let Some(step @ Step::HeldForUnknownWindow { known_for: None, .. }) = d.deciding_step() else {
        panic!("{:?}", d.steps)
    };
    assert_eq!(step.to_string(), "no history of the 300 s scale-down window yet: keep 10");
    let two_minutes = [HistoryEntry { at: ago(120), recommendation: 2, desired: 10 }];
    let d = Stabilizer::default().decide(&fleet(10, 0, 100), &rec(2), &two_minutes, busy(), NOW);
    assert_eq!(d.desired, 10);
    assert!(d.deciding_step().is_some_and(|s| s.to_string().contains("reaches back 120 s of the 300 s")));
    let five_minutes = [HistoryEntry { at: ago(300), recommendation: 2, desired: 10 }];
    assert_eq!(Stabilizer::default().decide(&fleet(10, 0, 100), &rec(2), &five_minutes, busy(), NOW).desired, 2);
    // Growing needs no window.
    assert_eq!(Stabilizer::default().decide(&fleet(10, 0, 100), &rec(14), &[], busy(), NOW).desired, 14);
}

#[test]
fn scale_in_waits_for_the_highest_recommendation_of_the_window() {
    let history = [
        HistoryEntry { at: ago(400), recommendation: 20, desired: 10 },
        HistoryEntry { at: ago(200), recommendation: 8, desired: 10 },
        HistoryEntry { at: ago(60), recommendation: 3, desired: 10 },
    ];
    let d = Stabilizer::default().decide(&fleet(10, 0, 100), &rec(2), &history, busy(), NOW);
    assert_eq!(d.desired, 8, "the 20 is outside the 300 s window; 8 is the highest inside");
    assert!(matches!(d.deciding_step(), Some(Step::StabilizedDown { highest: 8, .. })));
}

#[test]
fn no_scale_in_while_instances_warm_up() {
    let warming = FleetState { desired: 6, in_service: 3, pending: 3, bounds: Bounds::new(0, 10).unwrap() };
    let d = Stabilizer::default().decide(&warming, &rec(2), &[], busy(), NOW);
    assert_eq!(d.desired, 6);
    assert!(matches!(d.steps[1], Step::HeldForWarmUp { pending: 3, .. }));
}

#[test]
fn the_bounds_clamp_whatever_the_signal() {
    let s = Stabilizer { scale_up: Default::default(), ..Default::default() };
    assert_eq!(s.decide(&fleet(9, 2, 10), &rec(500), &[], busy(), NOW).desired, 10);
    let history = [HistoryEntry { at: ago(400), recommendation: 0, desired: 3 }];
    assert_eq!(s.decide(&fleet(3, 2, 10), &rec(0), &history, busy(), NOW).desired, 2);
}

#[test]
fn an_idle_fleet_goes_to_zero_only_after_the_idle_time() {
    let s = Stabilizer::default();
    let idle = |since: u64| Activity { waiting: 0, backlog_needs: 0, active_now: false, last_active: Some(ago(since)) };
    let history = [HistoryEntry { at: ago(400), recommendation: 0, desired: 1 }];
    let d = s.decide(&fleet(1, 0, 10), &rec(0), &history, idle(200), NOW);
    assert_eq!(d.desired, 1);
    assert!(matches!(d.deciding_step(), Some(Step::KeptAwake { .. })));
    let d = s.decide(&fleet(1, 0, 10), &rec(0), &history, idle(300), NOW);
    assert_eq!(d.desired, 0);
    assert!(matches!(d.deciding_step(), Some(Step::ScaledToZero { .. })));
}

#[test]
fn the_idle_clock_starts_when_idleness_is_first_seen() {
    let never_seen = Activity { waiting: 0, backlog_needs: 0, active_now: false, last_active: None };
    let d = Stabilizer::default().decide(&fleet(1, 0, 10), &rec(0), &[], never_seen, NOW);
    assert_eq!(d.desired, 1, "unknown idle time is not long enough");
    assert_eq!(d.last_active, NOW);
}

#[test]
fn without_scale_to_zero_the_fleet_keeps_one_instance() {
    let s = Stabilizer { scale_to_zero_after: None, ..Default::default() };
    let idle = Activity { waiting: 0, backlog_needs: 0, active_now: false, last_active: Some(ago(100_000)) };
    assert_eq!(s.decide(&fleet(1, 0, 10), &rec(0), &[], idle, NOW).desired, 1);
}

#[test]
fn one_waiting_message_wakes_a_fleet_at_zero() {
    let one = Activity { waiting: 1, backlog_needs: 0, active_now: true, last_active: Some(ago(10_000)) };
    let d = Stabilizer::default().decide(&fleet(0, 0, 10), &rec(0), &[], one, NOW);
    assert_eq!(d.desired, 1);
    assert!(matches!(d.deciding_step(), Some(Step::Activated { waiting: 1, .. })));
}

#[test]
fn missing_data_holds_and_never_scales_in() {
    let missing = Recommendation { replicas: 0, reason: Reason::MissingData { signal: "queue depth" } };
    let combined = Recommendation::combine([missing.clone(), rec(2)], 7).unwrap();
    assert_eq!(combined.replicas, 7, "a lower recommendation with a signal missing holds");
    let combined = Recommendation::combine([missing.clone(), rec(9)], 7).unwrap();
    assert_eq!(combined.replicas, 9, "growing is still allowed");
    let only_missing = Recommendation::combine([missing], 7).unwrap();
    assert_eq!(only_missing.replicas, 7);
    assert!(Recommendation::combine([], 7).is_none());
}

#[test]
fn signals_combine_by_the_largest() {
    let combined = Recommendation::combine([rec(3), rec(11), rec(5)], 4).unwrap();
    assert_eq!(combined.replicas, 11);
}

#[test]
fn reasons_read_as_sentences() {
    let slo = LatencySlo::new(Duration::from_secs(120), 2.0).unwrap();
    let r = slo.recommend(Some(&QueueState { visible: 600, arrival_rate: Some(10.0), ..Default::default() }));
    let text = r.reason.to_string();
    assert!(text.starts_with("latency SLO: 10.00/s"), "{text}");
    assert!(text.contains("estimated"), "{text}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_desired_capacity_is_always_within_bounds(
        current in 0u32..50, min in 0u32..10, span in 0u32..40, recommended in 0u32..1000,
        history in prop::collection::vec((0u64..600, 0u32..100, 0u32..60), 0..8),
        waiting in 0u64..5, idle_s in prop::option::of(0u64..1000),
    ) {
        let max = min + span;
        let history: Vec<HistoryEntry> = history.into_iter()
            .map(|(a, r, d)| HistoryEntry { at: ago(a), recommendation: r, desired: d }).collect();
        let activity = Activity { waiting, backlog_needs: 0, active_now: waiting > 0, last_active: idle_s.map(ago) };
        let d = Stabilizer::default().decide(&fleet(current, min, max), &rec(recommended), &history, activity, NOW);
        prop_assert!(d.desired >= min && d.desired <= max, "{} outside [{min}, {max}]: {:?}", d.desired, d.steps);
    }

    #[test]
    fn no_scale_in_within_the_window_after_a_higher_recommendation(
        current in 1u32..50, higher_ago in 0u64..300, recommended in 0u32..50,
    ) {
        let history = [HistoryEntry { at: ago(higher_ago), recommendation: current, desired: current }];
        let d = Stabilizer::default().decide(&fleet(current, 0, 100), &rec(recommended), &history, busy(), NOW);
        prop_assert!(d.desired >= current, "scaled in from {current} to {}", d.desired);
    }

    #[test]
    fn recommendations_grow_with_the_backlog(a in 0u64..1_000_000, b in 0u64..1_000_000, rate in 0.0f64..500.0) {
        let (small, large) = (a.min(b), a.max(b));
        let backlog = BacklogPerInstance::new(7.0).unwrap();
        let slo = LatencySlo::new(Duration::from_secs(90), 3.0).unwrap();
        let q = |visible| QueueState { visible, arrival_rate: Some(rate), ..Default::default() };
        prop_assert!(backlog.recommend(Some(&q(small))).replicas <= backlog.recommend(Some(&q(large))).replicas);
        prop_assert!(slo.recommend(Some(&q(small))).replicas <= slo.recommend(Some(&q(large))).replicas);
    }

    #[test]
    fn scale_to_zero_only_after_the_idle_time(current in 1u32..20, idle_s in 0u64..1000) {
        let idle = Activity { waiting: 0, backlog_needs: 0, active_now: false, last_active: Some(ago(idle_s)) };
        let stale_history = [HistoryEntry { at: ago(1000), recommendation: 50, desired: current }];
        let d = Stabilizer::default().decide(&fleet(current, 0, 50), &rec(0), &stale_history, idle, NOW);
        if idle_s < 300 {
            prop_assert!(d.desired >= 1, "went to zero after only {idle_s} s idle");
        } else {
            prop_assert_eq!(d.desired, 0);
        }
    }

    /// Within the dead band nothing moves, whichever way the rounding falls.
    #[test]
    fn a_recommendation_within_the_tolerance_never_changes_the_size(
        current in 1u32..200, ratio in 0.9f64..=1.1,
    ) {
        let wanted = f64::from(current) * ratio;
        let d = Stabilizer::default().decide(&fleet(current, 0, 1000), &unrounded(wanted), &[], busy(), NOW);
        let exact = unrounded(wanted).unrounded() / f64::from(current);
        prop_assume!((exact - 1.0).abs() <= 0.1);
        prop_assert_eq!(d.desired, current, "{} recommended: {:?}", wanted, d.steps);
    }

    /// Growth beyond the percent and absolute steps goes only as far as the messages waiting
    /// need: an instance launched past the limit always has a full acceptable backlog to drain.
    #[test]
    fn growth_past_the_rate_limit_never_exceeds_what_the_backlog_needs(
        current in 0u32..200, recommended in 0u32..2000, backlog_needs in 0u32..2000,
        history in prop::collection::vec((0u64..120, 0u32..400), 0..4),
    ) {
        let history: Vec<HistoryEntry> = history.into_iter()
            .map(|(a, d)| HistoryEntry { at: ago(a), recommendation: d, desired: d }).collect();
        let s = Stabilizer::default();
        let d = s.decide(&fleet(current, 0, 10_000), &rec(recommended), &history, backlog(1, backlog_needs), NOW);
        let limit = s.scale_up.limit(s.scale_up.base(current, &history, NOW), current);
        prop_assert!(d.desired <= recommended.max(current), "{} above the recommendation: {:?}", d.desired, d.steps);
        if d.desired > limit {
            prop_assert!(d.desired <= backlog_needs, "{} past the limit {limit} with a backlog needing {backlog_needs}: {:?}", d.desired, d.steps);
        }
    }

    /// Driven a tick a minute by recommendations whose scale-ins are all small, a running fleet
    /// turns at most twice within any hour (the default budget), however the load wobbles.
    #[test]
    fn a_running_fleet_turns_at_most_its_budget_within_any_window(
        recommendations in prop::collection::vec(45u32..=55, 60..240),
    ) {
        let s = Stabilizer::default();
        let mut history: Vec<HistoryEntry> = Vec::new();
        let mut desired = 50;
        let start = NOW - Duration::from_secs(recommendations.len() as u64 * 60);
        let mut turns: Vec<Time> = Vec::new();
        let mut last_out: Option<bool> = None;
        for (k, &r) in recommendations.iter().enumerate() {
            let now = start + Duration::from_secs(k as u64 * 60);
            let fleet = FleetState { desired, in_service: desired, pending: 0, bounds: Bounds::new(0, 100).unwrap() };
            let activity = Activity { waiting: 10, backlog_needs: 0, active_now: true, last_active: Some(now) };
            let d = s.decide(&fleet, &rec(r), &history, activity, now);
            history.push(d.record);
            if d.desired != desired {
                let out = d.desired > desired;
                if last_out.is_some_and(|l| l != out) {
                    turns.push(now);
                }
                last_out = Some(out);
            }
            desired = d.desired;
        }
        for (i, &t) in turns.iter().enumerate() {
            let within = turns[i..].iter().take_while(|&&u| u.since(t) <= Duration::from_secs(3600)).count();
            prop_assert!(within <= 2, "{within} turns within the hour from {:?}: {:?}", t, turns);
        }
    }

    /// However low the recommendation and whatever the fleet did, a history younger than the
    /// scale-down window never lets it shrink (but for its maximum).
    #[test]
    fn no_scale_in_before_the_history_reaches_back_a_whole_window(
        current in 1u32..100, recommended in 0u32..100, idle_s in 0u64..1000,
        history in prop::collection::vec((0u64..300, 0u32..100, 0u32..100), 0..8),
    ) {
        let history: Vec<HistoryEntry> = history.into_iter()
            .map(|(a, r, d)| HistoryEntry { at: ago(a), recommendation: r, desired: d }).collect();
        prop_assume!(history.iter().all(|h| NOW.since(h.at) < Duration::from_secs(300)));
        let idle = Activity { waiting: 0, backlog_needs: 0, active_now: false, last_active: Some(ago(idle_s)) };
        let d = Stabilizer::default().decide(&fleet(current, 0, 100), &rec(recommended), &history, idle, NOW);
        prop_assert!(d.desired >= current, "{current} → {}: {:?}", d.desired, d.steps);
    }

    #[test]
    fn a_waiting_message_always_wakes_a_fleet_at_zero(waiting in 1u64..1000, max in 1u32..50, recommended in 0u32..5) {
        let activity = Activity { waiting, backlog_needs: 0, active_now: true, last_active: None };
        let d = Stabilizer::default().decide(&fleet(0, 0, max), &rec(recommended), &[], activity, NOW);
        prop_assert!(d.desired >= 1);
    }
}
