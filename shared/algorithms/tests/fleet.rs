//! `decide_fleet`: one fleet's decision from its typed signals, as the scaler and the simulator
//! both take it. Scale to zero weighed against the latency SLO, one behaviour per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    BacklogPerInstance, Bounds, FleetPolicy, FleetSignals, FleetState, HistoryEntry, LatencySlo, MetricSample,
    PeriodSums, Priority, QueueDepth, Step, Tuning, decide_fleet,
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
        idles_to_zero: true,
    }
}

/// One message in each of these minutes ago.
fn arrivals(minutes_ago: &[u64]) -> Vec<MetricSample> {
    minutes_ago.iter().rev().map(|&m| MetricSample { at: ago(m), value: 1.0 }).collect()
}

/// One idle instance, last active `idle_min` minutes ago, nothing waiting.
fn idle<'a>(sent: &'a [MetricSample], idle_min: u64, history: &'a [HistoryEntry]) -> FleetSignals<'a> {
    FleetSignals {
        fleet: FleetState { desired: 1, in_service: 1, pending: 0, bounds: Bounds::new(0, 10).unwrap() },
        queue: Some(QueueDepth::default()),
        metrics: &[],
        messages_sent: PeriodSums { period: Duration::from_secs(60), samples: sent },
        age_of_oldest: &[],
        worker_busy: PeriodSums::default(),
        history,
        last_active: Some(ago(idle_min)),
        now: NOW,
    }
}

#[test]
fn a_fleet_that_wakes_slower_than_its_slo_stays_warm_while_messages_are_likely() {
    // Messages every 8 to 12 minutes, the last one 7 minutes ago: waking takes 150 s (> 120 s SLO),
    // and another message is likely within 1.5 × 12 minutes. Idle for 7 minutes: keep one.
    let sent = arrivals(&[7, 17, 25, 37]);
    let d = decide_fleet(&consumer(), &idle(&sent, 7, &[]), &Tuning::default()).unwrap();
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
    let d = decide_fleet(&consumer(), &idle(&sent, 25, &[]), &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 0, "{:?}", d.decision.steps);
}

#[test]
fn cost_first_goes_to_zero_and_says_the_slo_will_be_missed() {
    let sent = arrivals(&[7, 17, 25, 37]);
    let mut tuning = Tuning::default();
    tuning.wake.priority = Priority::Cost;
    let d = decide_fleet(&consumer(), &idle(&sent, 7, &[]), &tuning).unwrap();
    assert_eq!(d.desired(), 0);
    let Some(step @ Step::ZeroDespiteSlo { .. }) = d.decision.deciding_step() else { panic!("{:?}", d.decision.steps) };
    assert!(step.to_string().starts_with("cost first"), "{step}");
}

#[test]
fn when_waking_meets_the_slo_the_fleet_goes_to_zero_after_the_idle_time() {
    let sent = arrivals(&[7, 17, 25, 37]);
    let mut tuning = Tuning::default();
    tuning.wake.wake_time = Duration::from_secs(60);
    let d = decide_fleet(&consumer(), &idle(&sent, 7, &[]), &tuning).unwrap();
    assert_eq!(d.desired(), 0);
    assert!(matches!(d.decision.deciding_step(), Some(Step::ScaledToZero { .. })));
}

#[test]
fn the_arrival_rate_is_the_newest_fresh_sum_over_its_period() {
    // 600 messages in the last published minute → 10/s; 100 waiting, oldest estimated at 10 s.
    let sent = [MetricSample { at: ago(2), value: 600.0 }];
    let mut signals = idle(&sent, 0, &[]);
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
    let mut signals = idle(&[], 0, &[]);
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
    let mut signals = idle(&[], 0, &[]);
    signals.fleet = FleetState { desired: 0, in_service: 0, pending: 0, bounds: Bounds::new(0, 100).unwrap() };
    signals.queue = Some(QueueDepth { visible: 4901, ..Default::default() });
    let d = decide_fleet(&policy, &signals, &Tuning::default()).unwrap();
    assert_eq!(d.desired(), 82, "{:?}", d.decision.steps);
}

#[test]
fn a_fleet_without_any_signal_is_refused() {
    let policy = FleetPolicy { metrics: Vec::new(), backlog: None, slo: None, idles_to_zero: false };
    let mut signals = idle(&[], 0, &[]);
    signals.queue = None;
    assert!(decide_fleet(&policy, &signals, &Tuning::default()).is_err());
}
