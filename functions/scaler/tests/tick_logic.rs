//! The tick's rules with an in-memory `Cloud` (fast; faults LocalStack cannot produce on demand,
//! such as a PutMetricData failure after the reads succeeded).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::Mutex;

use scaler::Invocation;
use scaler::cloud::{Cloud, CloudError, Group, HistoryPoint, MetricQuery, QueueDepth, Series};
use scaler::config::Config;
use scaler::tick::{SeriesKey, Signal, tick};
use switchyard_algorithms::Time;

#[derive(Default)]
struct Fake {
    groups: Vec<Group>,
    queues: HashMap<String, QueueDepth>,
    fail_history: bool,
    /// A queue whose GetQueueAttributes never answers.
    hung_queue: Option<String>,
    series: HashMap<String, Series>,
    describe_calls: Mutex<u32>,
    metric_calls: Mutex<u32>,
    recorded: Mutex<Vec<HistoryPoint>>,
    resized: Mutex<Vec<(String, u32)>>,
    unprotected: Mutex<Vec<(String, Vec<String>)>>,
}

fn err(operation: &'static str) -> CloudError {
    CloudError { operation, message: "injected".into() }
}

impl Cloud for Fake {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError> {
        *self.describe_calls.lock().unwrap() += 1;
        Ok(self.groups.iter().filter(|g| names.contains(&g.name)).cloned().collect())
    }
    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError> {
        if self.hung_queue.as_deref() == Some(url) {
            std::future::pending::<()>().await;
        }
        self.queues.get(url).copied().ok_or_else(|| err("GetQueueAttributes"))
    }
    async fn metric_data(&self, _: &[MetricQuery], _: Time, _: Time) -> Result<HashMap<String, Series>, CloudError> {
        *self.metric_calls.lock().unwrap() += 1;
        Ok(self.series.clone())
    }
    async fn record_history(&self, _: &str, points: &[HistoryPoint], _: bool) -> Result<(), CloudError> {
        if self.fail_history {
            return Err(err("PutMetricData"));
        }
        self.recorded.lock().unwrap().extend_from_slice(points);
        Ok(())
    }
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        self.resized.lock().unwrap().push((group.to_owned(), desired));
        Ok(())
    }
    async fn unprotect(&self, group: &str, instances: &[String]) -> Result<(), CloudError> {
        self.unprotected.lock().unwrap().push((group.to_owned(), instances.to_vec()));
        Ok(())
    }
}

fn group(name: &str, desired: u32, min: u32, max: u32) -> Group {
    Group { name: name.into(), min, max, desired, in_service: desired, pending: 0, protected: Vec::new() }
}

fn config() -> Config {
    let fleets = r#"[
        {"name": "a", "group": "ga", "role": "consumer", "queue_url": "q/a", "backlog_per_instance": 10},
        {"name": "b", "group": "gb", "role": "consumer", "queue_url": "q/b", "backlog_per_instance": 10}
    ]"#;
    Config::from_lookup(|k| (k == "SWITCHYARD_FLEETS").then(|| fleets.to_owned())).unwrap()
}

fn fake() -> Fake {
    Fake {
        groups: vec![group("ga", 1, 0, 20), group("gb", 1, 0, 20)],
        queues: HashMap::from([
            ("q/a".into(), QueueDepth { visible: 50, ..Default::default() }),
            ("q/b".into(), QueueDepth { visible: 30, ..Default::default() }),
        ]),
        ..Default::default()
    }
}

/// The GetMetricData id the tick gives fleet 0's series.
fn key(signal: Signal) -> String {
    SeriesKey { fleet: 0, signal }.id()
}

const NOW: Time = Time::from_secs(1_700_000_000);

/// The history the scaler recorded for fleet 0 at these ticks, each recommending 0 and keeping 1
/// instance. Reaching back a whole scale-down window (300 s), it lets the fleet scale in.
fn idle_history(ticks: &[Time]) -> [(String, Series); 2] {
    [
        (key(Signal::Recommendation), ticks.iter().map(|&at| (at, 0.0)).collect()),
        (key(Signal::Desired), ticks.iter().map(|&at| (at, 1.0)).collect()),
    ]
}

#[tokio::test]
async fn one_describe_and_two_metric_reads_for_all_fleets_the_recent_series_and_the_arrivals() {
    let cloud = fake();
    let report = tick(&cloud, &config(), false, NOW).await;
    assert_eq!(report.failed, []);
    assert_eq!(*cloud.describe_calls.lock().unwrap(), 1);
    assert_eq!(*cloud.metric_calls.lock().unwrap(), 2, "however many fleets");
    assert_eq!(cloud.resized.lock().unwrap().as_slice(), [("ga".to_owned(), 5), ("gb".to_owned(), 3)]);
    assert_eq!(cloud.recorded.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_missing_group_or_a_bad_queue_fails_only_its_fleet() {
    let mut cloud = fake();
    cloud.groups.retain(|g| g.name == "gb");
    let report = tick(&cloud, &config(), false, NOW).await;
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].error.contains("ga does not exist"), "{:?}", report.failed);
    assert_eq!(cloud.resized.lock().unwrap().as_slice(), [("gb".to_owned(), 3)]);

    let mut cloud = fake();
    cloud.queues.remove("q/b");
    let report = tick(&cloud, &config(), false, NOW).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].fleet, "b");
    assert_eq!(cloud.resized.lock().unwrap().as_slice(), [("ga".to_owned(), 5)]);
}

#[tokio::test]
async fn without_a_recorded_history_nothing_is_resized() {
    let cloud = Fake { fail_history: true, ..fake() };
    let report = tick(&cloud, &config(), false, NOW).await;
    assert_eq!(report.failed.len(), 2);
    assert!(report.failed.iter().all(|f| f.error.contains("history not recorded")));
    assert!(cloud.resized.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_dry_run_decides_but_records_and_changes_nothing() {
    let cloud = fake();
    let report = tick(&cloud, &config(), true, NOW).await;
    assert_eq!(report.fleets.iter().map(|f| f.desired).collect::<Vec<_>>(), [5, 3]);
    assert!(report.fleets.iter().all(|f| !f.acted));
    assert!(cloud.resized.lock().unwrap().is_empty());
    assert!(cloud.recorded.lock().unwrap().is_empty());
}

#[tokio::test]
async fn the_groups_own_limits_are_never_crossed() {
    let mut cloud = fake();
    cloud.groups = vec![group("ga", 1, 0, 3), group("gb", 4, 4, 9)];
    let report = tick(&cloud, &config(), false, NOW).await;
    let desired: Vec<u32> = report.fleets.iter().map(|f| f.desired).collect();
    assert_eq!(desired, [3, 4], "a is capped at its max 3; b stays at its min 4");
}

#[test]
fn events_are_parsed_strictly() {
    let scheduled = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
    assert_eq!(Invocation::from_event(scheduled).unwrap(), Invocation { dry_run: false });
    assert_eq!(Invocation::from_event(serde_json::json!({"dry_run": true})).unwrap(), Invocation { dry_run: true });
    for garbage in [serde_json::json!("hello"), serde_json::json!([1]), serde_json::json!({"dry_run": "yes"})] {
        assert!(Invocation::from_event(garbage).is_err());
    }
}

#[tokio::test]
async fn the_idle_clock_is_the_recorded_last_activity_however_irregular_the_ticks() {
    // The fleet was last active 30 s ago (as recorded); the ticks since were idle. With zero after
    // 20 s idle, it goes to zero — the idle clock is not reset by the ticks in between.
    let fleets =
        r#"[{"name": "a", "group": "ga", "role": "consumer", "queue_url": "q/a", "backlog_per_instance": 10}]"#;
    let config = Config::from_lookup(|k| match k {
        "SWITCHYARD_FLEETS" => Some(fleets.to_owned()),
        "SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS" => Some("20".to_owned()),
        _ => None,
    })
    .unwrap();
    let at = |ago: u64| NOW - std::time::Duration::from_secs(ago);
    let last_active_secs = (at(30).as_millis() / 1000) as f64;
    let cloud = Fake {
        groups: vec![group("ga", 1, 0, 20)],
        queues: HashMap::from([("q/a".into(), QueueDepth::default())]),
        series: [(key(Signal::LastActive), vec![(at(12), last_active_secs), (at(2), last_active_secs)])]
            .into_iter()
            .chain(idle_history(&[at(300), at(12), at(2)]))
            .collect(),
        ..Default::default()
    };
    let report = tick(&cloud, &config, false, NOW).await;
    assert_eq!(report.fleets[0].desired, 0, "{:?}", report.fleets[0].steps);
    assert_eq!(
        cloud.recorded.lock().unwrap()[0].last_active,
        Time::from_secs(last_active_secs as u64),
        "the clock is carried on"
    );
}

#[tokio::test]
async fn busy_time_the_workers_report_keeps_the_fleet_awake_when_the_queue_looks_idle() {
    // Same idle clock as above (last recorded activity 30 s ago, zero after 20 s), but the fleet's
    // workers reported busy seconds 8 s ago: quick jobs the ticks never saw in the queue. The fleet
    // stays; the idle clock restarts from the report. A report of zero busy time is not activity.
    let fleets =
        r#"[{"name": "a", "group": "ga", "role": "consumer", "queue_url": "q/a", "backlog_per_instance": 10}]"#;
    let config = Config::from_lookup(|k| match k {
        "SWITCHYARD_FLEETS" => Some(fleets.to_owned()),
        "SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS" => Some("20".to_owned()),
        _ => None,
    })
    .unwrap();
    let at = |ago: u64| NOW - std::time::Duration::from_secs(ago);
    let last_active_secs = (at(30).as_millis() / 1000) as f64;
    let cloud = |busy: f64| Fake {
        groups: vec![group("ga", 1, 0, 20)],
        queues: HashMap::from([("q/a".into(), QueueDepth::default())]),
        series: [
            (key(Signal::LastActive), vec![(at(2), last_active_secs)]),
            (key(Signal::WorkerBusy), vec![(at(68), busy)]),
        ]
        .into_iter()
        .chain(idle_history(&[at(300), at(2)]))
        .collect(),
        ..Default::default()
    };
    let busy = cloud(0.4);
    let report = tick(&busy, &config, false, NOW).await;
    assert_eq!(report.fleets[0].desired, 1, "{:?}", report.fleets[0].steps);
    assert_eq!(busy.recorded.lock().unwrap()[0].last_active, at(8), "the period's end (68 s ago + 60 s)");
    let idle = cloud(0.0);
    assert_eq!(tick(&idle, &config, false, NOW).await.fleets[0].desired, 0);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_never_answers_fails_its_fleet_within_the_call_timeout_and_the_others_go_on() {
    let mut cloud = fake();
    cloud.hung_queue = Some("q/a".into());
    let started = tokio::time::Instant::now();
    let report = tick(&cloud, &config(), false, NOW).await;
    assert!(started.elapsed() <= std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].error.contains("no answer within 10 s"), "{}", report.failed[0].error);
    assert_eq!(cloud.resized.lock().unwrap().as_slice(), [("gb".to_owned(), 3)], "fleet b is still sized");
}

#[tokio::test(start_paused = true)]
async fn a_tick_ends_within_its_budget_however_many_calls_hang() {
    let mut cloud = fake();
    cloud.hung_queue = Some("q/a".into());
    let fleets = (0..10)
        .map(|i| format!(r#"{{"name": "f{i}", "group": "ga", "role": "consumer", "queue_url": "q/a", "backlog_per_instance": 10}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let env = HashMap::from([
        ("SWITCHYARD_FLEETS", format!("[{fleets}]")),
        ("SWITCHYARD_TICK_BUDGET_SECS", "25".to_owned()),
        ("SWITCHYARD_CALL_TIMEOUT_SECS", "10".to_owned()),
    ]);
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let started = tokio::time::Instant::now();
    let report = tick(&cloud, &config, false, NOW).await;
    assert!(started.elapsed() <= std::time::Duration::from_secs(25), "{:?}", started.elapsed());
    assert_eq!(report.failed.len(), 10, "every fleet that could not be decided is reported");
    assert!(report.failed.iter().any(|f| f.error.contains("budget is spent")), "{:?}", report.failed);
    assert!(cloud.resized.lock().unwrap().is_empty(), "nothing resized on a guess");
}

/// Fleet a's group with three protected instances: one whose worker's last report is 10 minutes
/// old, one that reported a minute ago, one that never reported (protected by hand).
fn with_protected_workers() -> Fake {
    let mut cloud = fake();
    cloud.groups[0].protected = vec!["i-dead".into(), "i-live".into(), "i-manual".into()];
    let at = |secs_ago: u64| NOW - std::time::Duration::from_secs(secs_ago);
    cloud.series.insert("alive0".into(), vec![(at(900), 1.0), (at(600), 1.0)]);
    cloud.series.insert("alive1".into(), vec![(at(900), 1.0), (at(60), 1.0)]);
    cloud
}

#[tokio::test]
async fn an_instance_whose_worker_stopped_reporting_loses_its_protection() {
    let cloud = with_protected_workers();
    let report = tick(&cloud, &config(), false, NOW).await;
    assert_eq!(cloud.unprotected.lock().unwrap().as_slice(), [("ga".to_owned(), vec!["i-dead".to_owned()])]);
    let a = report.fleets.iter().find(|f| f.fleet == "a").unwrap();
    assert_eq!(a.unprotected, ["i-dead"], "a live worker and a hand-set protection are left alone");
}

#[tokio::test]
async fn a_dry_run_reports_dead_workers_and_takes_nothing_off() {
    let cloud = with_protected_workers();
    let report = tick(&cloud, &config(), true, NOW).await;
    assert!(cloud.unprotected.lock().unwrap().is_empty());
    assert_eq!(report.fleets.iter().find(|f| f.fleet == "a").unwrap().unprotected, ["i-dead"]);
}
