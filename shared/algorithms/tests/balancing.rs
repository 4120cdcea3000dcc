//! How the balancer behaves, one behaviour per test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use switchyard_algorithms::hash::SplitMix64;
use switchyard_algorithms::{
    Algorithm, Balancer, BalancerConfig, BoundedLoad, CookieError, CookieKey, Error, Health, Outcome, OutlierConfig,
    RequestContext, SlowStart, StickyCookie, Target, TargetSet, Time, Weight,
};

fn set(n: usize) -> TargetSet {
    TargetSet::new((0..n).map(|i| Target::new(format!("i-{i:02}"), format!("10.0.0.{i}:8080"))).collect()).unwrap()
}

fn balancer(targets: TargetSet, algorithm: Algorithm) -> Balancer {
    Balancer::new(targets, BalancerConfig { algorithm, ..Default::default() }).unwrap()
}

fn cookies() -> StickyCookie {
    StickyCookie::new(CookieKey::new(*b"test key, 32 bytes long at least").unwrap(), Duration::from_secs(3600))
}

fn ip(n: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
}

const NOW: Time = Time::from_secs(1_000_000);

fn first(b: &Balancer, request: &RequestContext<'_>) -> usize {
    b.pick(request, NOW).unwrap().candidates.first().unwrap()
}

#[test]
fn round_robin_follows_the_nginx_sequence_for_weights() {
    let targets = TargetSet::new(vec![
        Target::new("a", "a:80").with_weight(Weight::new(5).unwrap()),
        Target::new("b", "b:80"),
        Target::new("c", "c:80"),
    ])
    .unwrap();
    let b = balancer(targets, Algorithm::RoundRobin);
    let picks: Vec<usize> = (0..14).map(|_| first(&b, &RequestContext::default())).collect();
    assert_eq!(picks, [0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 0, 2, 0, 0]);
}

fn all_algorithms() -> Vec<Algorithm> {
    vec![
        Algorithm::RoundRobin,
        Algorithm::StickyIp,
        Algorithm::StickyCookie(cookies()),
        Algorithm::LeastConnections,
        Algorithm::PowerOfTwoChoices,
    ]
}

#[test]
fn fall_throughs_are_distinct_until_every_target_was_tried() {
    for algorithm in all_algorithms() {
        let name = algorithm.name();
        let b = balancer(set(5), algorithm);
        let request = RequestContext { client_ip: ip(1), random: 42, ..Default::default() };
        let mut pick = b.pick(&request, NOW).unwrap();
        assert_eq!(pick.candidates.len(), 1, "{name}: one candidate up front by default");
        for _ in 0..4 {
            b.next_candidate(&request, NOW, &mut pick).unwrap();
        }
        let mut tried: Vec<usize> = pick.candidates.iter().collect();
        tried.sort();
        assert_eq!(tried, [0, 1, 2, 3, 4], "{name}");
        assert_eq!(b.next_candidate(&request, NOW, &mut pick), Err(Error::NoUsableTarget), "{name}: nothing left");
    }
}

#[test]
fn a_round_robin_retry_leaves_the_rotation_to_other_requests() {
    let b = balancer(set(4), Algorithm::RoundRobin);
    let request = RequestContext::default();
    let mut first = b.pick(&request, NOW).unwrap();
    assert_eq!(first.candidates.first(), Some(0));
    // The request's retries fall through in rotation order...
    assert_eq!(b.next_candidate(&request, NOW, &mut first), Ok(1));
    assert_eq!(b.next_candidate(&request, NOW, &mut first), Ok(2));
    // ...and the next request still gets the next turn, as if no retry had happened.
    let next = b.pick(&request, NOW).unwrap();
    assert_eq!(next.candidates.first(), Some(1));
}

#[test]
fn sticky_fall_throughs_follow_the_ring_so_every_router_agrees() {
    let a = balancer(set(8), Algorithm::StickyIp);
    let b = balancer(set(8), Algorithm::StickyIp);
    let request = RequestContext { client_ip: ip(3), ..Default::default() };
    let (mut pa, mut pb) = (a.pick(&request, NOW).unwrap(), b.pick(&request, NOW).unwrap());
    for _ in 0..3 {
        assert_eq!(a.next_candidate(&request, NOW, &mut pa), b.next_candidate(&request, NOW, &mut pb));
    }
}

#[test]
fn candidates_can_be_ranked_up_front() {
    for algorithm in all_algorithms() {
        let name = algorithm.name();
        let config = BalancerConfig { algorithm, max_candidates: 3, ..Default::default() };
        let b = Balancer::new(set(5), config).unwrap();
        let pick = b.pick(&RequestContext { client_ip: ip(1), random: 42, ..Default::default() }, NOW).unwrap();
        let mut c: Vec<usize> = pick.candidates.iter().collect();
        assert_eq!(c.len(), 3, "{name}");
        c.sort();
        c.dedup();
        assert_eq!(c.len(), 3, "{name}: distinct");
    }
}

#[test]
fn an_empty_set_is_a_typed_error() {
    let b = balancer(TargetSet::new(vec![]).unwrap(), Algorithm::RoundRobin);
    assert_eq!(b.pick(&RequestContext::default(), NOW).unwrap_err(), Error::NoTargets);
}

#[test]
fn duplicate_ids_are_refused() {
    let err = TargetSet::new(vec![Target::new("a", "x:1"), Target::new("a", "y:1")]).unwrap_err();
    assert!(matches!(err, Error::DuplicateTarget(_)));
}

#[test]
fn all_unusable_without_panic_mode_is_a_typed_error() {
    let targets =
        TargetSet::new((0..3).map(|i| Target::new(format!("t{i}"), "x:1").with_health(Health::Draining)).collect())
            .unwrap();
    let strict = Balancer::new(targets.clone(), BalancerConfig { panic_threshold: 0.0, ..Default::default() }).unwrap();
    assert_eq!(strict.pick(&RequestContext::default(), NOW).unwrap_err(), Error::NoUsableTarget);
    // With a panic threshold (the default) the same set is served by all rather than failed.
    let lenient = Balancer::new(targets, BalancerConfig::default()).unwrap();
    assert!(lenient.pick(&RequestContext::default(), NOW).unwrap().panic);
}

#[test]
fn draining_and_discovery_ejected_targets_get_no_new_requests() {
    let targets = TargetSet::new(vec![
        Target::new("a", "a:1"),
        Target::new("b", "b:1").with_health(Health::Draining),
        Target::new("c", "c:1").with_health(Health::EjectedUntil(NOW + Duration::from_secs(5))),
        Target::new("d", "d:1"),
    ])
    .unwrap();
    let b = balancer(targets, Algorithm::RoundRobin);
    for _ in 0..20 {
        let pick = b.pick(&RequestContext::default(), NOW).unwrap();
        assert!(pick.candidates.iter().all(|i| i == 0 || i == 3), "{:?}", pick.candidates);
    }
    // Once the discovery ejection runs out, c is back.
    let later = NOW + Duration::from_secs(5);
    let seen: Vec<usize> =
        (0..6).map(|_| b.pick(&RequestContext::default(), later).unwrap().candidates.first().unwrap()).collect();
    assert!(seen.contains(&2), "{seen:?}");
}

#[test]
fn consecutive_failures_eject_a_target_for_a_growing_time() {
    let config = BalancerConfig {
        outlier: OutlierConfig {
            consecutive_failures: NonZeroU32::new(3).unwrap(),
            max_ejected_share: 0.5,
            ..Default::default()
        },
        ..Default::default()
    };
    let b = Balancer::new(set(4), config).unwrap();
    assert_eq!(b.record(1, Outcome::Failure, NOW), None);
    assert_eq!(b.record(1, Outcome::Failure, NOW), None);
    let ejection = b.record(1, Outcome::Failure, NOW).expect("third failure ejects");
    assert_eq!(ejection.until, NOW + Duration::from_secs(30));
    for _ in 0..20 {
        assert!(!b.pick(&RequestContext::default(), NOW).unwrap().candidates.contains(1));
    }
    // Back after the ejection; failing again at once ejects it for twice as long.
    let back = NOW + Duration::from_secs(30);
    assert!((0..4).any(|_| { b.pick(&RequestContext::default(), back).unwrap().candidates.first() == Some(1) }));
    for _ in 0..2 {
        b.record(1, Outcome::Failure, back);
    }
    assert_eq!(b.record(1, Outcome::Failure, back).unwrap().until, back + Duration::from_secs(60));
}

#[test]
fn a_success_resets_the_failure_streak() {
    let b = balancer(set(4), Algorithm::RoundRobin);
    for _ in 0..4 {
        b.record(0, Outcome::Failure, NOW);
    }
    b.record(0, Outcome::Success, NOW);
    for _ in 0..4 {
        assert_eq!(b.record(0, Outcome::Failure, NOW), None);
    }
}

#[test]
fn no_more_than_the_configured_share_is_ejected() {
    let config = BalancerConfig {
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, max_ejected_share: 0.25, ..Default::default() },
        ..Default::default()
    };
    let b = Balancer::new(set(8), config).unwrap();
    let ejected = (0..8).filter(|&i| b.record(i, Outcome::Failure, NOW).is_some()).count();
    assert_eq!(ejected, 2, "25 % of 8");
}

#[test]
fn below_the_panic_threshold_every_target_is_used() {
    let config = BalancerConfig {
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, max_ejected_share: 1.0, ..Default::default() },
        panic_threshold: 0.5,
        ..Default::default()
    };
    let b = Balancer::new(set(4), config).unwrap();
    b.record(0, Outcome::Failure, NOW);
    b.record(1, Outcome::Failure, NOW);
    let pick = b.pick(&RequestContext::default(), NOW).unwrap();
    assert!(!pick.panic, "2 of 4 usable is not below 50 %");
    b.record(2, Outcome::Failure, NOW);
    let seen: Vec<usize> =
        (0..8).map(|_| b.pick(&RequestContext::default(), NOW).unwrap().candidates.first().unwrap()).collect();
    assert!(b.pick(&RequestContext::default(), NOW).unwrap().panic);
    assert!(seen.contains(&0) && seen.contains(&3), "panic mode spreads over all: {seen:?}");
}

#[test]
fn sticky_ip_keeps_a_client_on_its_target() {
    let b = balancer(set(10), Algorithm::StickyIp);
    for client in 0..200 {
        let request = RequestContext { client_ip: ip(client), random: u64::from(client), ..Default::default() };
        let home = first(&b, &request);
        for random in 0..5 {
            assert_eq!(first(&b, &RequestContext { random, ..request }), home);
        }
    }
}

#[test]
fn sticky_ip_falls_through_when_its_target_is_ejected_and_returns_after() {
    let config = BalancerConfig {
        algorithm: Algorithm::StickyIp,
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, ..Default::default() },
        ..Default::default()
    };
    let b = Balancer::new(set(10), config).unwrap();
    let request = RequestContext { client_ip: ip(7), ..Default::default() };
    let home = first(&b, &request);
    b.record(home, Outcome::Failure, NOW);
    let elsewhere = first(&b, &request);
    assert_ne!(elsewhere, home);
    assert_eq!(first(&b, &request), elsewhere, "sticks to the fall-through while home is out");
    assert_eq!(b.pick(&request, NOW + Duration::from_secs(30)).unwrap().candidates.first(), Some(home));
}

#[test]
fn bounded_loads_move_a_hot_client_off_a_full_target() {
    let b = balancer(set(4), Algorithm::StickyIp);
    let hot = RequestContext { client_ip: ip(1), ..Default::default() };
    let home = first(&b, &hot);
    // The hot client holds many requests open; the bound is ⌈1.25 · (L+1) / 4⌉.
    let mut held = Vec::new();
    let mut served_elsewhere = 0;
    for _ in 0..40 {
        let target = first(&b, &hot);
        if target != home {
            served_elsewhere += 1;
        }
        held.push(b.begin(target).unwrap());
        let max = (0..4).map(|i| b.state(i).unwrap().in_flight()).max().unwrap();
        let total: u32 = (0..4).map(|i| b.state(i).unwrap().in_flight()).sum();
        assert!(f64::from(max) <= (1.25 * f64::from(total) / 4.0).ceil(), "max {max} of {total}");
    }
    assert!(served_elsewhere >= 20, "overflow spreads: {served_elsewhere}");
    drop(held);
    assert_eq!(first(&b, &hot), home, "when the load is gone the client is home again");
}

#[test]
fn without_bounded_loads_a_hot_client_piles_onto_one_target() {
    let config = BalancerConfig { algorithm: Algorithm::StickyIp, bounded_load: None, ..Default::default() };
    let b = Balancer::new(set(4), config).unwrap();
    let hot = RequestContext { client_ip: ip(1), ..Default::default() };
    let home = first(&b, &hot);
    let _held: Vec<_> = (0..40).map(|_| b.begin(first(&b, &hot)).unwrap()).collect();
    assert_eq!(b.state(home).unwrap().in_flight(), 40);
}

#[test]
fn a_valid_cookie_keeps_the_client_and_needs_no_new_cookie() {
    let b = balancer(set(6), Algorithm::StickyCookie(cookies()));
    let fresh = b.pick(&RequestContext { random: 9, ..Default::default() }, NOW).unwrap();
    let served = fresh.candidates.first().unwrap();
    assert!(fresh.needs_cookie(served));
    let cookie = b.issue_cookie(served, NOW).unwrap();
    for random in 0..20 {
        let pick = b.pick(&RequestContext { cookie: Some(&cookie), random, ..Default::default() }, NOW).unwrap();
        assert_eq!(pick.candidates.first(), Some(served));
        assert!(!pick.needs_cookie(served));
    }
}

#[test]
fn a_tampered_expired_or_unknown_cookie_means_a_fresh_pick_and_a_new_cookie() {
    let b = balancer(set(6), Algorithm::StickyCookie(cookies()));
    let cookie = b.issue_cookie(2, NOW).unwrap();
    let tampered = cookie.replacen("v1.", "v1.A", 1);
    let pick = b.pick(&RequestContext { cookie: Some(&tampered), ..Default::default() }, NOW).unwrap();
    assert_eq!(pick.cookie_error, Some(CookieError::BadSignature));
    assert!(pick.needs_cookie(pick.candidates.first().unwrap()));

    let expired = b
        .pick(&RequestContext { cookie: Some(&cookie), ..Default::default() }, NOW + Duration::from_secs(3600))
        .unwrap();
    assert_eq!(expired.cookie_error, Some(CookieError::Expired));

    let gone = balancer(set(2), Algorithm::StickyCookie(cookies()));
    let other = TargetSet::new(vec![Target::new("elsewhere", "x:1")]).unwrap();
    let foreign = balancer(other, Algorithm::StickyCookie(cookies())).issue_cookie(0, NOW).unwrap();
    let pick = gone.pick(&RequestContext { cookie: Some(&foreign), ..Default::default() }, NOW).unwrap();
    assert_eq!(pick.cookie_target, None, "a target that left the set");
    assert!(pick.needs_cookie(pick.candidates.first().unwrap()));

    for garbage in ["", "x", "v1.....", "\u{0}\u{1}"] {
        assert!(b.pick(&RequestContext { cookie: Some(garbage), ..Default::default() }, NOW).is_ok());
    }
}

#[test]
fn a_cookie_for_an_unhealthy_target_falls_through_and_re_cookies() {
    let config = BalancerConfig {
        algorithm: Algorithm::StickyCookie(cookies()),
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, ..Default::default() },
        ..Default::default()
    };
    let b = Balancer::new(set(6), config).unwrap();
    let cookie = b.issue_cookie(4, NOW).unwrap();
    b.record(4, Outcome::Failure, NOW);
    let pick = b.pick(&RequestContext { cookie: Some(&cookie), ..Default::default() }, NOW).unwrap();
    assert_eq!(pick.cookie_target, Some(4));
    let served = pick.candidates.first().unwrap();
    assert_ne!(served, 4);
    assert!(pick.needs_cookie(served));
}

#[test]
fn least_connections_prefers_the_target_with_fewest_in_flight_per_weight() {
    let targets = TargetSet::new(vec![
        Target::new("a", "a:1"),
        Target::new("b", "b:1").with_weight(Weight::new(4).unwrap()),
        Target::new("c", "c:1"),
    ])
    .unwrap();
    let b = balancer(targets, Algorithm::LeastConnections);
    let _a = b.begin(0).unwrap();
    let _b: Vec<_> = (0..3).map(|_| b.begin(1).unwrap()).collect();
    let _c = b.begin(2).unwrap();
    // Scores (load+1)/weight: a 2, b 1, c 2.
    assert_eq!(first(&b, &RequestContext::default()), 1);
}

#[test]
fn least_connections_breaks_ties_at_random() {
    let b = balancer(set(4), Algorithm::LeastConnections);
    let mut seen = [0; 4];
    for random in 0..400 {
        seen[first(&b, &RequestContext { random, ..Default::default() })] += 1;
    }
    assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
}

#[test]
fn reported_loads_count_with_local_in_flight() {
    let b = balancer(set(3), Algorithm::LeastConnections);
    b.set_reported_loads([("i-00", 10), ("i-01", 2)], NOW);
    // i-02 reported nothing: only local in-flight counts for it.
    let _local: Vec<_> = (0..5).map(|_| b.begin(2).unwrap()).collect();
    assert_eq!(first(&b, &RequestContext::default()), 1);
    b.set_reported_loads(std::iter::empty(), NOW);
    assert_eq!(b.state(0).unwrap().reported_load(), None, "a missing report is no report, not zero");
}

#[test]
fn p2c_does_not_herd_when_every_router_reads_the_same_stale_loads() {
    // 500 independent routers, each its own process with no local load, all read the same report
    // in which i-00 looks idle. Exact least connections sends all of them there; P2C spreads.
    let report =
        [("i-00", 0), ("i-01", 5), ("i-02", 5), ("i-03", 5), ("i-04", 5), ("i-05", 5), ("i-06", 5), ("i-07", 5)];
    let count_on_first = |algorithm: fn() -> Algorithm| {
        (0..500u64)
            .filter(|&router| {
                let b = balancer(set(8), algorithm());
                b.set_reported_loads(report, NOW);
                first(&b, &RequestContext { random: router.wrapping_mul(0x9e37_79b9), ..Default::default() }) == 0
            })
            .count()
    };
    assert_eq!(count_on_first(|| Algorithm::LeastConnections), 500);
    let p2c = count_on_first(|| Algorithm::PowerOfTwoChoices);
    assert!(p2c < 200, "P2C sent {p2c} of 500 to the one idle-looking target");
}

#[test]
fn slow_start_ramps_a_new_targets_share() {
    let targets = TargetSet::new(vec![Target::new("old", "a:1"), Target::new("new", "b:1").started_at(NOW)]).unwrap();
    let config =
        BalancerConfig { slow_start: Some(SlowStart::new(Duration::from_secs(60)).unwrap()), ..Default::default() };
    let b = Balancer::new(targets, config).unwrap();
    let share_of_new = |at: Time| {
        let mut rng = SplitMix64::new(1);
        (0..2000)
            .filter(|_| {
                b.pick(&RequestContext { random: rng.next_u64(), ..Default::default() }, at).unwrap().candidates.first()
                    == Some(0)
            })
            .count()
    };
    // Ids sort "new" < "old": index 0 is the new target.
    let early = share_of_new(NOW + Duration::from_secs(6));
    let half = share_of_new(NOW + Duration::from_secs(30));
    let done = share_of_new(NOW + Duration::from_secs(60));
    assert!(early < half && half < done, "{early} < {half} < {done}");
    assert_eq!(done, 1000, "after the window, an equal share");
}

#[test]
fn rebuilding_keeps_ejections_and_in_flight_counts_of_remaining_targets() {
    let config = BalancerConfig {
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, ..Default::default() },
        ..Default::default()
    };
    let b = Balancer::new(set(3), config).unwrap();
    b.record(1, Outcome::Failure, NOW);
    let held = b.begin(2).unwrap();
    let bigger = b.rebuild(set(5)).unwrap();
    assert!(bigger.state(1).unwrap().ejected_until() > NOW);
    assert_eq!(bigger.state(2).unwrap().in_flight(), 1);
    drop(held);
    assert_eq!(bigger.state(2).unwrap().in_flight(), 0, "a request begun before the rebuild ends in the new one");
}

#[test]
fn invalid_configuration_is_refused_with_a_reason() {
    let bad = BalancerConfig { max_candidates: 0, ..Default::default() };
    assert!(matches!(Balancer::new(set(1), bad), Err(Error::InvalidConfig(_))));
    assert!(BoundedLoad::new(0.0).is_err());
    assert!(BoundedLoad::new(f64::NAN).is_err());
    assert!(SlowStart::new(Duration::ZERO).is_err());
}

#[test]
fn targets_refusing_connections_get_no_first_attempt_for_a_second_whatever_the_ejection_cap() {
    // Two of three refuse: more than the ejection cap (10 %, at least one) and below the panic
    // threshold (half usable), yet neither gets a first attempt while it backs off.
    for algorithm in all_algorithms() {
        let b = balancer(set(3), algorithm.clone());
        assert!(b.record(1, Outcome::Refused, NOW).is_some());
        assert!(b.record(2, Outcome::Refused, NOW).is_some());
        for i in 0..30 {
            let request = RequestContext { client_ip: ip(i), random: u64::from(i) * 7919, ..Default::default() };
            let pick = b.pick(&request, NOW + Duration::from_millis(900)).unwrap();
            assert_eq!(pick.candidates.first(), Some(0), "{algorithm:?}");
        }
    }
}

#[test]
fn a_target_that_refused_is_picked_again_after_its_backoff() {
    let b = balancer(set(3), Algorithm::RoundRobin);
    b.record(1, Outcome::Refused, NOW);
    let picks: Vec<usize> = (0..6)
        .map(|_| {
            b.pick(&RequestContext::default(), NOW + Duration::from_millis(1_001)).unwrap().candidates.first().unwrap()
        })
        .collect();
    assert!(picks.contains(&1), "{picks:?}");
}

#[test]
fn a_target_that_keeps_refusing_backs_off_longer_each_time_up_to_the_base_ejection() {
    let b = balancer(set(3), Algorithm::RoundRobin);
    let backoff = |n: u64| {
        let at = NOW + Duration::from_secs(100 * n);
        b.record(1, Outcome::Refused, at).unwrap().until.since(at)
    };
    assert_eq!(
        (backoff(1), backoff(2), backoff(3)),
        (Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4))
    );
    assert!((4..12).map(backoff).all(|d| d <= OutlierConfig::default().base_ejection));
    assert_eq!(b.record(1, Outcome::Success, NOW + Duration::from_secs(2_000)), None);
    assert_eq!(backoff(30), Duration::from_secs(1), "a success starts over");
}

#[test]
fn when_every_target_refuses_every_target_is_still_tried() {
    let b = balancer(set(3), Algorithm::RoundRobin);
    for i in 0..3 {
        b.record(i, Outcome::Refused, NOW);
    }
    let picks: Vec<usize> =
        (0..6).map(|_| b.pick(&RequestContext::default(), NOW).unwrap().candidates.first().unwrap()).collect();
    assert_eq!(picks.len(), 6, "the panic rule keeps the fleet from being emptied");
}

#[test]
fn a_target_back_from_ejection_ramps_up_again_with_slow_start() {
    let config = BalancerConfig {
        slow_start: Some(SlowStart::new(Duration::from_secs(60)).unwrap()),
        outlier: OutlierConfig { consecutive_failures: NonZeroU32::MIN, ..Default::default() },
        ..Default::default()
    };
    let b = Balancer::new(set(2), config).unwrap();
    let ejection = b.record(0, Outcome::Failure, NOW).expect("one failure ejects");
    let share_of_first = |at: Time| {
        let mut rng = SplitMix64::new(7);
        (0..2000)
            .filter(|_| {
                b.pick(&RequestContext { random: rng.next_u64(), ..Default::default() }, at).unwrap().candidates.first()
                    == Some(0)
            })
            .count()
    };
    let back = ejection.until;
    let early = share_of_first(back + Duration::from_secs(6));
    let half = share_of_first(back + Duration::from_secs(30));
    let done = share_of_first(back + Duration::from_secs(60));
    assert!(early < half && half < done, "{early} < {half} < {done}");
    assert_eq!(done, 1000, "a full share once the window has passed");
}
