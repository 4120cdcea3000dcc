//! `decide_fleet`: one fleet's decision from its typed signals, as the scaler and the simulator
//! both take it. Scale to zero weighed against the latency SLO, one behaviour per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::sync::LazyLock;
use std::time::Duration;

use proptest::prelude::*;
use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    BacklogPerInstance, Bounds, FleetPolicy, FleetSignals, FleetState, HistoryEntry, IdleToZero, LatencySlo,
    MetricSample, PeriodSums, Priority, QueueDepth, Step, Tuning, decide_fleet,
};

const NOW: Time = Time::from_secs(100_000);

fn ago(minutes: u64) -> Time {
    NOW - Duration::from_secs(minutes * 60)
}

/// A consumer fleet with a 120 s SLO, at 2 s a message.
fn consumer() -> FleetPolicy {
    FleetPolicy {
        metrics: Vec::new(),
        backlog: Some(BacklogPerInstance::new(60.0).unwrap().counting_in_flight(true)),
        slo: Some(LatencySlo::new(Duration::from_secs(120), 0.5).unwrap()),
        idle: IdleToZero::OnQueue,
    }
}

/// Every minute of the last hour as SQS publishes it for an active queue (zeros included), with
/// one message in each of these minutes ago.
fn arrivals(minutes_ago: &[u64]) -> Vec<MetricSample> {
    known_for(60, minutes_ago)
}

/// Only the last `minutes` minutes are known (a new queue, a scaler just deployed).
fn known_for(minutes: u64, minutes_ago: &[u64]) -> Vec<MetricSample> {
    (0..=minutes)
        .rev()
        .map(|m| MetricSample { at: ago(m), value: if minutes_ago.contains(&m) { 1.0 } else { 0.0 } })
        .collect()
}

/// The scaler's ticks over the last ten minutes, a minute apart, each recommending 0 and keeping
/// the one instance: a history that reaches back a whole scale-down window.
static QUIET: LazyLock<Vec<HistoryEntry>> =
    LazyLock::new(|| (1..=10).rev().map(|m| HistoryEntry { at: ago(m), recommendation: 0, desired: 1 }).collect());

/// One idle instance, last active `idle_min` minutes ago, nothing waiting; the history is
/// [`QUIET`].
fn idle(sent: &[MetricSample], idle_min: u64) -> FleetSignals<'_> {
    FleetSignals {
        fleet: FleetState { desired: 1, in_service: 1, pending: 0, bounds: Bounds::new(0, 10).unwrap() },
        queue: Some(QueueDepth::default()),
        metrics: &[],
        messages_sent: PeriodSums { period: Duration::from_secs(60), samples: sent },
        age_of_oldest: &[],
        worker_busy: PeriodSums::default(),
        requests: PeriodSums::default(),
        history: &QUIET,
        last_active: Some(ago(idle_min)),
        now: NOW,
    }
}

#[test]
fn a_fleet_that_wakes_slower_than_its_slo_stays_warm_while_messages_are_likely() {
    // Messages every 8 to 12 minutes, the last one 7 minutes ago: waking takes 150 s (> 120 s SLO),
    // and another message is likely within 1.5 × 12 minutes. Idle for 7 minutes: keep one.
    let sent = arrivals(&[7, 17, 25, 37]);
    let d = decide_fleet(&consumer(), &idle(&sent, 7), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 1);
    assert_eq!(d.record().desired, 1, "the record keeps what was decided");
    assert!(
        matches!(d.decision.deciding_step(), Some(Step::KeptWarmForSlo { replicas: 1, .. })),
        "{:?}",
        d.decision.steps
    );
}

#[test]
fn once_traffic_is_unlikely_the_fleet_goes_to_zero() {
    // Same gaps, but the last message came 25 minutes ago: more than 1.5 × the longest gap (12).
    let sent = arrivals(&[25, 35, 43, 55]);
    let d = decide_fleet(&consumer(), &idle(&sent, 25), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
}

#[test]
fn a_single_arrival_in_the_window_is_a_gap_to_learn_from() {
    // Nothing for 30 minutes of a fully known hour, then one message 30 minutes ago: the gap
    // before it was at least 30 minutes, so another is likely within 45.
    let sent = arrivals(&[30]);
    let d = decide_fleet(&consumer(), &idle(&sent, 30), &Tuning::default()).unwrap();
    assert!(matches!(d.decision.deciding_step(), Some(Step::KeptWarmForSlo { .. })), "{:?}", d.decision.steps);
    // 50 minutes ago, after 10 quiet ones: likely within 15 only.
    let sent = arrivals(&[50]);
    let d = decide_fleet(&consumer(), &idle(&sent, 50), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
}

#[test]
fn while_the_arrivals_are_known_for_less_than_the_window_the_fleet_stays_warm() {
    // A scaler deployed 20 minutes ago has seen no message: too little to call traffic unlikely.
    let sent = known_for(20, &[]);
    let d = decide_fleet(&consumer(), &idle(&sent, 20), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 1);
    let Some(step @ Step::KeptWarmTrafficUnknown { .. }) = d.decision.deciding_step() else {
        panic!("{:?}", d.decision.steps)
    };
    assert!(step.to_string().contains("known for only 1200 s of the 3600 s window"), "{step}");
}

#[test]
fn a_quiet_hour_fully_known_lets_the_fleet_go_to_zero() {
    let d = decide_fleet(&consumer(), &idle(&arrivals(&[]), 60), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
    // With no arrival data at all (a queue CloudWatch has not published for) there is nothing
    // to weigh: the idle time decides.
    let d = decide_fleet(&consumer(), &idle(&[], 60), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
}

#[test]
fn cost_first_goes_to_zero_and_says_the_slo_will_be_missed() {
    let sent = arrivals(&[7, 17, 25, 37]);
    let mut tuning = Tuning::default();
    tuning.wake.priority = Priority::Cost;
    let d = decide_fleet(&consumer(), &idle(&sent, 7), &tuning).unwrap();
    assert_eq!(d.desired(), 0);
    let Some(step @ Step::ZeroDespiteSlo { .. }) = d.decision.deciding_step() else { panic!("{:?}", d.decision.steps) };
    assert!(step.to_string().starts_with("cost first"), "{step}");
}

#[test]
fn when_waking_meets_the_slo_the_fleet_goes_to_zero_after_the_idle_time() {
    let sent = arrivals(&[7, 17, 25, 37]);
    let mut tuning = Tuning::default();
    tuning.wake.wake_time = Duration::from_secs(60);
    let d = decide_fleet(&consumer(), &idle(&sent, 7), &tuning).unwrap();
    assert_eq!(d.desired(), 0);
    assert!(matches!(d.decision.deciding_step(), Some(Step::ScaledToZero { .. })));
}

#[test]
fn the_arrival_rate_is_the_newest_fresh_sum_over_its_period() {
    // 600 messages in the last published minute → 10/s; 100 waiting, oldest estimated at 10 s.
    let sent = [MetricSample { at: ago(2), value: 600.0 }];
    let mut signals = idle(&sent, 0);
    signals.queue = Some(QueueDepth { visible: 100, ..Default::default() });
    let d = decide_fleet(&consumer(), &signals, &Tuning::default()).unwrap();
    let queue = d.queue.unwrap();
    assert_eq!(queue.arrival_rate_per_s, Some(10.0));
    // Little's law: 10 / (0.5 × 0.8) = 25 for the arrivals, + 100 / (0.5 × 110) → ceil(26.8) = 27.
    assert_eq!(d.recommendation.replicas, 27);
}

#[test]
fn a_fleet_at_zero_facing_a_dump_starts_what_the_backlog_needs_at_once() {
    // 4 901 messages at 60 per instance need 82; the arrival rate is not published yet. The steps
    // alone allow 10 (0 → 10 → 40 → 100 over three ticks).
    let mut signals = idle(&[], 0);
    signals.fleet = FleetState { desired: 0, in_service: 0, pending: 0, bounds: Bounds::new(0, 100).unwrap() };
    signals.queue = Some(QueueDepth { visible: 4901, ..Default::default() });
    let d = decide_fleet(&consumer(), &signals, &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 82, "{:?}", d.decision.steps);
    assert!(matches!(d.decision.deciding_step(), Some(Step::ScaledUpForBacklog { backlog_needs: 82, .. })));
}

#[test]
fn without_a_backlog_policy_the_slo_gives_the_backlog_per_instance() {
    // 0.5 messages/s × 120 s = 60 messages per instance, as AWS's acceptable backlog.
    let policy = FleetPolicy { backlog: None, ..consumer() };
    let mut signals = idle(&[], 0);
    signals.fleet = FleetState { desired: 0, in_service: 0, pending: 0, bounds: Bounds::new(0, 100).unwrap() };
    signals.queue = Some(QueueDepth { visible: 4901, ..Default::default() });
    let d = decide_fleet(&policy, &signals, &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 82, "{:?}", d.decision.steps);
}

#[test]
fn a_fleet_without_any_signal_is_refused() {
    let policy = FleetPolicy { metrics: Vec::new(), backlog: None, slo: None, idle: IdleToZero::Never };
    let mut signals = idle(&[], 0);
    signals.queue = None;
    assert!(decide_fleet(&policy, &signals, &Tuning::default()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Latency first, waking slower than the SLO: a fleet idle past its time goes to zero only on a
    /// fully known window whose last arrival is at least 1.5 × its longest gap ago (the gap before
    /// the first arrival from the window's start included); else it keeps one instance.
    #[test]
    fn latency_first_goes_to_zero_only_when_a_full_window_shows_traffic_unlikely(
        known in 1u64..=90,
        minutes_ago in prop::collection::btree_set(0u64..=90, 0..6),
    ) {
        let minutes_ago: Vec<u64> = minutes_ago.into_iter().filter(|&m| m <= known).collect();
        let sent = known_for(known, &minutes_ago);
        let d = decide_fleet(&consumer(), &idle(&sent, 60), &Tuning::default()).unwrap();
        let from = known.min(60);
        let in_window: Vec<u64> = minutes_ago.iter().copied().filter(|&m| m <= from).collect();
        let likely = match (in_window.iter().max(), in_window.iter().min()) {
            (Some(&first), Some(&last)) => {
                let mut sorted = in_window.clone();
                sorted.sort_unstable();
                let between = sorted.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
                let longest = (from - first).max(between);
                last * 10 < longest * 15
            }
            _ => false,
        };
        let fully_known = known >= 60;
        if likely || !fully_known {
            prop_assert_eq!(d.desired(), 1, "known {} min, arrivals {:?}: {:?}", known, minutes_ago, d.decision.steps);
        } else {
            prop_assert_eq!(d.desired(), 0, "known {} min, arrivals {:?}: {:?}", known, minutes_ago, d.decision.steps);
        }
    }
}

/// A web fleet behind the router at CPU target tracking (60 %), idling to zero on its requests.
fn web() -> FleetPolicy {
    FleetPolicy {
        metrics: vec![switchyard_algorithms::scaling::TargetTracking::new(60.0).unwrap()],
        backlog: None,
        slo: None,
        idle: IdleToZero::OnRequests,
    }
}

/// Two instances at 5 % CPU; requests counted per minute as given (minutes ago, one request each).
fn web_signals<'a>(
    cpu: &'a [&'a [MetricSample]],
    requests: &'a [MetricSample],
    history: &'a [HistoryEntry],
    last_active: Option<Time>,
    desired: u32,
) -> FleetSignals<'a> {
    FleetSignals {
        fleet: FleetState { desired, in_service: desired, pending: 0, bounds: Bounds::new(0, 10).unwrap() },
        queue: None,
        metrics: cpu,
        messages_sent: PeriodSums::default(),
        age_of_oldest: &[],
        worker_busy: PeriodSums::default(),
        requests: PeriodSums { period: Duration::from_secs(60), samples: requests },
        history,
        last_active,
        now: NOW,
    }
}

fn low_cpu() -> Vec<MetricSample> {
    vec![MetricSample { at: ago(1), value: 5.0 }]
}

/// Ticks a minute apart over the last `minutes`, each deciding `desired`.
fn steady(minutes: u64, desired: u32) -> Vec<HistoryEntry> {
    (1..=minutes).rev().map(|m| HistoryEntry { at: ago(m), recommendation: desired, desired }).collect()
}

#[test]
fn a_web_fleet_with_no_request_for_the_idle_time_goes_to_zero() {
    let cpu = low_cpu();
    let series: [&[MetricSample]; 1] = [&cpu];
    // The last request in the minute 20 minutes ago; the recommendation has been 0 for the window.
    let requests = [MetricSample { at: ago(20), value: 3.0 }];
    let history: Vec<HistoryEntry> =
        (1..=10).rev().map(|m| HistoryEntry { at: ago(m), recommendation: 0, desired: 2 }).collect();
    let d =
        decide_fleet(&web(), &web_signals(&series, &requests, &history, Some(ago(20)), 2), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
    assert!(d.recommendation.reason.to_string().contains("no request"), "{}", d.recommendation.reason);
}

#[test]
fn a_web_fleet_with_a_request_a_minute_stays_up() {
    let cpu = low_cpu();
    let series: [&[MetricSample]; 1] = [&cpu];
    let requests: Vec<MetricSample> = (1..=10).map(|m| MetricSample { at: ago(m), value: 1.0 }).collect();
    let history = steady(10, 1);
    let d =
        decide_fleet(&web(), &web_signals(&series, &requests, &history, Some(ago(2)), 1), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 1, "{:?}", d.decision.steps);
}

#[test]
fn a_web_fleet_the_router_just_woke_is_not_sent_back_to_zero() {
    // The scaler last set 0 (an hour idle); the router has raised it to 1 since. The requests'
    // metrics are a minute late: none counted yet.
    let history: Vec<HistoryEntry> =
        (1..=10).rev().map(|m| HistoryEntry { at: ago(m), recommendation: 0, desired: 0 }).collect();
    let d = decide_fleet(&web(), &web_signals(&[], &[], &history, Some(ago(60)), 1), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 1, "{:?}", d.decision.steps);
    assert_eq!(d.last_active(), NOW, "the wake starts the idle clock");
}

#[test]
fn a_web_fleet_without_idle_to_zero_follows_its_metrics_only() {
    let cpu = low_cpu();
    let series: [&[MetricSample]; 1] = [&cpu];
    let history = steady(10, 1);
    let policy = FleetPolicy { idle: IdleToZero::Never, ..web() };
    let d = decide_fleet(&policy, &web_signals(&series, &[], &history, Some(ago(60)), 1), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 1, "{:?}", d.decision.steps);
}

proptest! {
    /// Requests at random minutes, never more than the idle time apart, never take the fleet to
    /// zero: sparse traffic does not flap it.
    #[test]
    fn requests_closer_than_the_idle_time_never_idle_a_web_fleet_to_zero(gaps in proptest::collection::vec(1u64..5, 1..12)) {
        let cpu = low_cpu();
        let series: [&[MetricSample]; 1] = [&cpu];
        let mut minute = 0;
        let mut requests = Vec::new();
        for gap in gaps {
            requests.push(MetricSample { at: ago(minute), value: 1.0 });
            minute += gap;
        }
        requests.reverse();
        let history = steady(10, 1);
        // The default idle time is 5 minutes; the newest request is at most now.
        let d = decide_fleet(&web(), &web_signals(&series, &requests, &history, None, 1), &Tuning::default()).unwrap();
        prop_assert_eq!(d.desired(), 1);
    }
}
