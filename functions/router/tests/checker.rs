//! The health checker's rounds, over an in-memory group ([`FakeFleet`]: what the checker sees
//! and does is recorded, not sent to AWS) and real HTTP servers on 127.0.0.1 that it probes.
//! The Auto Scaling and EC2 calls themselves are tested against LocalStack in `tests/health.rs`
//! of the workspace's `tests` crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use router::aws::{GroupMembers, Lifecycle, LoadReports, Member};
use router::checker::{Checker, CheckerConfig, emf_line};
use router::fakes::{FakeFleet, FakeLoads};
use switchyard_algorithms::Time;
use switchyard_algorithms::checks::{CheckConfig, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const NOW: Time = Time::from_secs(1_764_500_000);

/// A server answering every request with the status it is set to (0: accept, never answer).
async fn server() -> (String, Arc<AtomicU16>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let status = Arc::new(AtomicU16::new(200));
    let set = Arc::clone(&status);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let status = set.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = [0u8; 2048];
                let _ = stream.read(&mut buffer).await;
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (address, status)
}

fn member(id: &str, address: &str, lifecycle: Lifecycle) -> Member {
    Member {
        id: id.into(),
        lifecycle,
        address: Some(address.into()),
        launched_at: NOW - Duration::from_secs(3600),
        verdict: None,
        draining_since: None,
    }
}

fn config(groups: &str) -> CheckerConfig {
    let mut c = CheckerConfig::from_lookup(|k| (k == "SWITCHYARD_CHECK_GROUPS").then(|| groups.to_owned())).unwrap();
    c.check = CheckConfig {
        path: "/health".into(),
        timeout: Duration::from_secs(2),
        healthy_threshold: NonZeroU32::new(3).unwrap(),
        unhealthy_threshold: NonZeroU32::new(2).unwrap(),
        ..CheckConfig::default()
    };
    c
}

async fn fleet_of(n: usize) -> (Arc<FakeFleet>, Vec<Arc<AtomicU16>>) {
    let mut members = Vec::new();
    let mut statuses = Vec::new();
    for i in 0..n {
        let (address, status) = server().await;
        members.push(member(&format!("i-{i}"), &address, Lifecycle::Serving));
        statuses.push(status);
    }
    (Arc::new(FakeFleet::new(GroupMembers { grace_period: Duration::from_secs(300), members })), statuses)
}

fn tagged(fleet: &FakeFleet, id: &str) -> Option<Verdict> {
    fleet.group.lock().unwrap().members.iter().find(|m| m.id == id).and_then(|m| m.verdict.map(|(v, _)| v))
}

#[tokio::test]
async fn new_targets_are_judged_healthy_by_their_first_passed_probe() {
    let (fleet, _) = fleet_of(2).await;
    let checker = Checker::new(config("web"), fleet.clone());
    let round = checker.round(NOW).await.remove(0);
    assert_eq!((round.healthy, round.unhealthy, round.fail_open), (2, 0, false));
    assert_eq!(round.changed, [("i-0".to_owned(), Verdict::Healthy), ("i-1".to_owned(), Verdict::Healthy)]);
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Healthy));
    assert!(checker.round(NOW).await[0].changed.is_empty(), "an unchanged verdict is not written again");
}

#[tokio::test]
async fn a_target_failing_its_check_is_marked_after_the_unhealthy_threshold_and_replaced() {
    let (fleet, statuses) = fleet_of(3).await;
    let checker = Checker::new(config("web"), fleet.clone());
    checker.round(NOW).await;
    statuses[1].store(503, Ordering::SeqCst);
    let first = checker.round(NOW).await.remove(0);
    assert!(first.changed.is_empty() && first.replaced.is_empty(), "one failure is not enough: {first:?}");
    let second = checker.round(NOW).await.remove(0);
    assert_eq!(second.changed, [("i-1".to_owned(), Verdict::Unhealthy)]);
    assert_eq!(second.replaced, ["i-1"], "past its grace period: the group replaces it");
    assert_eq!((second.healthy, second.unhealthy), (2, 1));
    assert!(fleet.calls().contains(&"SetInstanceHealth i-1".to_owned()));
}

#[tokio::test]
async fn an_unhealthy_target_inside_its_grace_period_is_marked_but_not_replaced() {
    let (fleet, statuses) = fleet_of(2).await;
    fleet.group.lock().unwrap().members[0].launched_at = NOW - Duration::from_secs(60);
    let checker = Checker::new(config("web"), fleet.clone());
    statuses[0].store(500, Ordering::SeqCst);
    checker.round(NOW).await;
    let round = checker.round(NOW).await.remove(0);
    assert_eq!(round.changed, [("i-0".to_owned(), Verdict::Unhealthy)]);
    assert!(round.replaced.is_empty(), "launched 60 s ago, grace period 300 s");
}

#[tokio::test]
async fn a_target_that_accepts_but_never_answers_fails_within_the_timeout() {
    let (fleet, statuses) = fleet_of(2).await;
    let checker = Checker::new(config("web"), fleet.clone());
    statuses[0].store(0, Ordering::SeqCst);
    let started = std::time::Instant::now();
    checker.round(NOW).await;
    let round = checker.round(NOW).await.remove(0);
    assert_eq!(round.unhealthy, 1);
    assert!(started.elapsed() < Duration::from_secs(6), "two rounds of a 2 s timeout: {:?}", started.elapsed());
}

#[tokio::test]
async fn an_unhealthy_target_needs_the_healthy_threshold_of_passes_to_come_back() {
    let (fleet, statuses) = fleet_of(2).await;
    // Inside its grace period: marked, not replaced, so it is still probed.
    fleet.group.lock().unwrap().grace_period = Duration::from_secs(7200);
    let checker = Checker::new(config("web"), fleet.clone());
    statuses[0].store(503, Ordering::SeqCst);
    checker.round(NOW).await;
    checker.round(NOW).await;
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Unhealthy));
    statuses[0].store(200, Ordering::SeqCst);
    checker.round(NOW).await;
    checker.round(NOW).await;
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Unhealthy), "two passes of three");
    checker.round(NOW).await;
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Healthy), "{:?}", fleet.calls());
}

#[tokio::test]
async fn a_new_checker_resumes_from_the_verdicts_on_the_tags() {
    let (fleet, _) = fleet_of(2).await;
    fleet.group.lock().unwrap().members[0].verdict = Some((Verdict::Unhealthy, NOW));
    let checker = Checker::new(config("web"), fleet.clone());
    let round = checker.round(NOW).await.remove(0);
    assert_eq!(round.changed, [("i-1".to_owned(), Verdict::Healthy)], "one pass does not undo i-0's verdict");
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Unhealthy));
}

#[tokio::test]
async fn when_every_target_fails_none_is_marked_and_the_round_fails_open() {
    let (fleet, statuses) = fleet_of(3).await;
    let checker = Checker::new(config("web"), fleet.clone());
    checker.round(NOW).await;
    statuses.iter().for_each(|s| s.store(503, Ordering::SeqCst));
    checker.round(NOW).await;
    let round = checker.round(NOW).await.remove(0);
    assert!(round.fail_open);
    assert_eq!((round.healthy, round.unhealthy), (0, 3), "the counts say what the checks found");
    assert!(round.changed.is_empty() && round.replaced.is_empty(), "nothing marked: {round:?}");
    assert!(["i-0", "i-1", "i-2"].iter().all(|id| tagged(&fleet, id) == Some(Verdict::Healthy)));
    let line = emf_line("Switchyard", NOW, &round);
    assert_eq!(line["HealthCheckFailOpen"], 1);
    assert_eq!(line["UnHealthyHostCount"], 3);
    assert_eq!(line["Group"], "web");
}

#[tokio::test]
async fn failing_open_lifts_marks_made_before() {
    let (fleet, statuses) = fleet_of(2).await;
    fleet.group.lock().unwrap().grace_period = Duration::from_secs(7200);
    let mut c = config("web");
    c.check.fail_open_share = 0.5;
    let checker = Checker::new(c, fleet.clone());
    statuses[0].store(503, Ordering::SeqCst);
    checker.round(NOW).await;
    checker.round(NOW).await;
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Unhealthy), "1 of 2 is not above 50 %");
    statuses[1].store(503, Ordering::SeqCst);
    checker.round(NOW).await;
    let round = checker.round(NOW).await.remove(0);
    assert!(round.fail_open);
    assert_eq!(tagged(&fleet, "i-0"), Some(Verdict::Healthy), "both fail: the mark is lifted");
}

#[tokio::test]
async fn a_leaving_instance_is_let_go_once_quiet_and_not_before() {
    let (fleet, _) = fleet_of(2).await;
    fleet.group.lock().unwrap().members[1].lifecycle = Lifecycle::Draining;
    let mut c = config("web");
    c.quiet_after = Duration::from_secs(35);
    let checker = Checker::new(c, fleet.clone());
    let first = checker.round(NOW).await.remove(0);
    assert_eq!((first.draining, first.drained.len()), (1, 0));
    assert!(fleet.calls().contains(&format!("CreateTags i-1 switchyard:draining-since={}", NOW.as_millis() / 1000)));
    let early = checker.round(NOW + Duration::from_secs(34)).await.remove(0);
    assert_eq!((early.draining, early.drained.len()), (1, 0));
    let quiet = checker.round(NOW + Duration::from_secs(35)).await.remove(0);
    assert_eq!(quiet.drained, [("i-1".to_owned(), true)]);
    assert!(fleet.calls().contains(&"CompleteLifecycleAction i-1".to_owned()));
    assert_eq!(quiet.healthy, 1, "a leaving instance is not probed");
}

#[tokio::test]
async fn a_leaving_instance_is_let_go_at_the_deregistration_delay() {
    let (fleet, _) = fleet_of(1).await;
    {
        let mut group = fleet.group.lock().unwrap();
        group.members[0].lifecycle = Lifecycle::Draining;
        group.members[0].draining_since = Some(NOW);
    }
    let mut c = config("web");
    c.quiet_after = Duration::from_secs(600);
    c.deregistration_delay = Duration::from_secs(300);
    let checker = Checker::new(c, fleet.clone());
    assert!(checker.round(NOW + Duration::from_secs(299)).await[0].drained.is_empty());
    let round = checker.round(NOW + Duration::from_secs(300)).await.remove(0);
    assert_eq!(round.drained, [("i-0".to_owned(), false)], "let go by the delay, not quiet");
}

fn leaving_since(fleet: &FakeFleet, since: Time) {
    let mut group = fleet.group.lock().unwrap();
    group.members[0].lifecycle = Lifecycle::Draining;
    group.members[0].draining_since = Some(since);
}

fn reports(load: u32, taken_at: Time) -> Arc<FakeLoads> {
    let loads = FakeLoads::default();
    *loads.reports.lock().unwrap() = Some(LoadReports { loads: vec![("i-0".into(), load)], taken_at });
    Arc::new(loads)
}

#[tokio::test]
async fn a_leaving_instance_reporting_nothing_in_flight_since_the_routers_dropped_it_goes_at_once() {
    let (fleet, _) = fleet_of(1).await;
    leaving_since(&fleet, NOW);
    let mut c = config("web");
    (c.discovery_ttl, c.quiet_after) = (Duration::from_secs(10), Duration::from_secs(35));
    let checker = Checker::new(c, fleet.clone()).with_loads(reports(0, NOW + Duration::from_secs(12)));
    let round = checker.round(NOW + Duration::from_secs(15)).await.remove(0);
    assert_eq!(round.drained, [("i-0".to_owned(), true)], "quiet 15 s in, not 35");
}

#[tokio::test]
async fn a_report_older_than_the_routers_discovery_does_not_count() {
    let (fleet, _) = fleet_of(1).await;
    leaving_since(&fleet, NOW);
    let mut c = config("web");
    (c.discovery_ttl, c.quiet_after) = (Duration::from_secs(10), Duration::from_secs(35));
    let checker = Checker::new(c, fleet.clone()).with_loads(reports(0, NOW + Duration::from_secs(5)));
    assert!(checker.round(NOW + Duration::from_secs(15)).await[0].drained.is_empty(), "routers may still send");
    let round = checker.round(NOW + Duration::from_secs(35)).await.remove(0);
    assert_eq!(round.drained, [("i-0".to_owned(), true)], "the routers' limits say quiet");
}

#[tokio::test]
async fn a_leaving_instance_still_reporting_requests_is_held_until_the_deregistration_delay() {
    let (fleet, _) = fleet_of(1).await;
    leaving_since(&fleet, NOW);
    let mut c = config("web");
    (c.discovery_ttl, c.quiet_after, c.deregistration_delay) =
        (Duration::from_secs(10), Duration::from_secs(35), Duration::from_secs(300));
    let checker = Checker::new(c, fleet.clone()).with_loads(reports(4, NOW + Duration::from_secs(290)));
    assert!(checker.round(NOW + Duration::from_secs(299)).await[0].drained.is_empty(), "4 in flight");
    let round = checker.round(NOW + Duration::from_secs(300)).await.remove(0);
    assert_eq!(round.drained, [("i-0".to_owned(), false)], "let go by the delay");
}
