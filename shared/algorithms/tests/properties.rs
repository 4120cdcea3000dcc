//! Invariants of the balancing algorithms, checked on generated target sets and request streams.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;
use switchyard_algorithms::hash::SplitMix64;
use switchyard_algorithms::{
    Algorithm, Balancer, BalancerConfig, BoundedLoad, CookieKey, HashRing, Health, RequestContext, StickyCookie,
    Target, TargetSet, Time, Weight,
};

const NOW: Time = Time::from_secs(1_000_000);

fn algorithms() -> impl Strategy<Value = Algorithm> {
    prop_oneof![
        Just(Algorithm::RoundRobin),
        Just(Algorithm::StickyIp),
        Just(Algorithm::StickyCookie(StickyCookie::new(
            CookieKey::new([3u8; 32]).unwrap_or_else(|_| unreachable!()),
            std::time::Duration::from_secs(60)
        ))),
        Just(Algorithm::LeastConnections),
        Just(Algorithm::PowerOfTwoChoices),
    ]
}

fn weighted_set(weights: &[u32]) -> TargetSet {
    TargetSet::new(
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                Target::new(format!("t{i:03}"), format!("10.0.0.{i}:80")).with_weight(Weight::new(w).unwrap())
            })
            .collect(),
    )
    .unwrap()
}

fn named_set(n: usize, salt: u64) -> TargetSet {
    TargetSet::new((0..n).map(|i| Target::new(format!("i-{salt:x}-{i}"), "x:1")).collect()).unwrap()
}

fn client(n: u64) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(n as u32)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    /// Over whole rounds every target gets its weighted share (within ±1).
    #[test]
    fn round_robin_is_fair_by_weight(weights in prop::collection::vec(1u32..12, 1..24), rounds in 1usize..4) {
        let b = Balancer::new(weighted_set(&weights), BalancerConfig::default()).unwrap();
        let total: usize = weights.iter().map(|&w| w as usize).sum();
        let mut counts = vec![0usize; weights.len()];
        for _ in 0..total * rounds {
            counts[b.pick(&RequestContext::default(), NOW).unwrap().candidates.first().unwrap()] += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            let share = w as usize * rounds;
            prop_assert!(counts[i].abs_diff(share) <= 1, "target {i} weight {w}: {} picks for a share of {share}", counts[i]);
        }
    }

    /// While one usable target exists (and panic mode is off), no candidate is unusable.
    #[test]
    fn unusable_targets_are_never_candidates(
        algorithm in algorithms(),
        health in prop::collection::vec(prop_oneof![Just(Health::Healthy), Just(Health::Draining),
            Just(Health::EjectedUntil(Time::from_secs(2_000_000)))], 1..30),
        seed in any::<u64>(),
    ) {
        prop_assume!(health.contains(&Health::Healthy));
        let targets = TargetSet::new(health.iter().enumerate()
            .map(|(i, &h)| Target::new(format!("t{i:03}"), "x:1").with_health(h)).collect()).unwrap();
        let b = Balancer::new(targets, BalancerConfig { algorithm, panic_threshold: 0.0, ..Default::default() }).unwrap();
        let mut rng = SplitMix64::new(seed);
        for _ in 0..50 {
            let request = RequestContext { client_ip: client(rng.next_u64()), random: rng.next_u64(), ..Default::default() };
            let pick = b.pick(&request, NOW).unwrap();
            for i in pick.candidates.iter() {
                prop_assert_eq!(health[i], Health::Healthy);
            }
        }
    }

    /// A client stays on its target while the set does not change (and nothing is loaded).
    #[test]
    fn stickiness_is_stable_while_the_set_is_unchanged(n in 1usize..40, salt in any::<u64>(), clients in prop::collection::vec(any::<u64>(), 1..50)) {
        let ip_balancer = Balancer::new(named_set(n, salt), BalancerConfig { algorithm: Algorithm::StickyIp, ..Default::default() }).unwrap();
        let cookie = StickyCookie::new(CookieKey::new([9u8; 32]).unwrap(), std::time::Duration::from_secs(600));
        let cookie_balancer = Balancer::new(named_set(n, salt), BalancerConfig { algorithm: Algorithm::StickyCookie(cookie), ..Default::default() }).unwrap();
        for &c in &clients {
            let home = ip_balancer.pick(&RequestContext { client_ip: client(c), random: 1, ..Default::default() }, NOW).unwrap().candidates.first();
            let first_pick = cookie_balancer.pick(&RequestContext { random: c, ..Default::default() }, NOW).unwrap().candidates.first().unwrap();
            let value = cookie_balancer.issue_cookie(first_pick, NOW).unwrap();
            for random in 2..6 {
                let again = ip_balancer.pick(&RequestContext { client_ip: client(c), random, ..Default::default() }, NOW).unwrap().candidates.first();
                prop_assert_eq!(again, home);
                let with_cookie = cookie_balancer.pick(&RequestContext { cookie: Some(&value), random, ..Default::default() }, NOW).unwrap();
                prop_assert_eq!(with_cookie.candidates.first(), Some(first_pick));
                prop_assert!(!with_cookie.needs_cookie(first_pick));
            }
        }
    }

    /// With bounded loads a target never *takes* a request that puts it above ⌈(1+ε)·average⌉ of
    /// the current load, whatever the mix of clients. (When requests finish the average drops and
    /// a target may be left above the new bound: in-flight work cannot move. So every target is
    /// checked only while nothing has finished; the receiving target is checked always.)
    #[test]
    fn bounded_load_is_never_exceeded(
        n in 2usize..20,
        epsilon in 0.05f64..1.0,
        ops in prop::collection::vec((0u64..8, any::<bool>()), 1..400),
        cookie_mode in any::<bool>(),
    ) {
        let algorithm = if cookie_mode {
            Algorithm::StickyCookie(StickyCookie::new(CookieKey::new([1u8; 32]).unwrap(), std::time::Duration::from_secs(60)))
        } else {
            Algorithm::StickyIp
        };
        let config = BalancerConfig { algorithm, bounded_load: Some(BoundedLoad::new(epsilon).unwrap()), ..Default::default() };
        let b = Balancer::new(named_set(n, 7), config).unwrap();
        let mut held = Vec::new();
        let mut cookies: Vec<Option<String>> = vec![None; 8];
        let mut finished_any = false;
        for (who, finish) in ops {
            if finish && !held.is_empty() {
                held.swap_remove(who as usize % held.len());
                finished_any = true;
                continue;
            }
            // Few clients (8) with many requests each: the skewed case bounded loads exists for.
            let request = RequestContext {
                client_ip: client(who), cookie: cookies[who as usize].as_deref(), random: who, ..Default::default()
            };
            let target = b.pick(&request, NOW).unwrap().candidates.first().unwrap();
            cookies[who as usize] = b.issue_cookie(target, NOW);
            held.push(b.begin(target).unwrap());
            let loads: Vec<u32> = (0..n).map(|i| b.state(i).unwrap().in_flight()).collect();
            let total: u32 = loads.iter().sum();
            let bound = ((1.0 + epsilon) * f64::from(total) / n as f64).ceil() as u32;
            prop_assert!(loads[target] <= bound, "target {target} took a request above the bound {bound}: {loads:?}");
            if !finished_any {
                prop_assert!(loads.iter().all(|&l| l <= bound), "loads {loads:?} over bound {bound}");
            }
        }
    }

    /// The same seed and requests give the same picks, for every algorithm.
    #[test]
    fn picks_are_deterministic_for_a_seed(algorithm in algorithms(), n in 1usize..30, seed in any::<u64>()) {
        let run = || {
            let b = Balancer::new(named_set(n, 3), BalancerConfig { algorithm: algorithm.clone(), ..Default::default() }).unwrap();
            let mut rng = SplitMix64::new(seed);
            let mut held = Vec::new();
            (0..64).map(|_| {
                let request = RequestContext { client_ip: client(rng.next_u64() % 16), random: rng.next_u64(), ..Default::default() };
                let c: Vec<usize> = b.pick(&request, NOW).unwrap().candidates.iter().collect();
                held.push(b.begin(c[0]).unwrap());
                c
            }).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Scale-out moves keys only to the new target (exact), and about its share of them. The share
    /// is random (±5 % at one standard deviation from the ring, ±4.5 % more from sampling 20 000
    /// keys), so the bound here is 1.5× (over 7 σ): a tighter one fails now and then on random
    /// salts. The deterministic study below holds the 1.2× bound on fixed inputs.
    #[test]
    fn scale_out_moves_few_keys(n in 2usize..64, salt in any::<u64>()) {
        let (moved, keys) = movement(n, salt, 20_000);
        prop_assert!(moved as f64 <= 1.5 * keys as f64 / (n + 1) as f64, "n={n}: {moved} of {keys} moved");
    }
}

/// Keys (client IPs) whose owner changes when a set of n named targets gains one more.
fn movement(n: usize, salt: u64, keys: u64) -> (u64, u64) {
    let smaller = named_set(n, salt);
    let mut grown: Vec<Target> = smaller.iter().cloned().collect();
    grown.push(Target::new(format!("i-{salt:x}-new"), "x:1"));
    let grown = TargetSet::new(grown).unwrap();
    let (before, after) = (HashRing::new(&smaller, None), HashRing::new(&grown, None));
    let mut rng = SplitMix64::new(salt);
    let mut moved = 0;
    for _ in 0..keys {
        let key = switchyard_algorithms::hash::hash_bytes(&(rng.next_u64() as u32).to_be_bytes());
        let old = before.owner(key).map(|i| &smaller[i].id);
        let new = after.owner(key).map(|i| &grown[i].id);
        if old != new {
            assert_eq!(new, Some(&grown[n].id), "a key moved between two old targets");
            moved += 1;
        }
    }
    (moved, keys)
}

/// The measurement the issue asks for: 100k keys, every n from 2 to 64, printed.
#[test]
fn scale_out_movement_over_100k_keys_for_every_n() {
    let mut worst: f64 = 0.0;
    for n in 2..=64 {
        let (moved, keys) = movement(n, 0x5eed, 100_000);
        let ratio = moved as f64 / (keys as f64 / (n + 1) as f64);
        worst = worst.max(ratio);
        assert!(ratio <= 1.2, "n={n}: {moved} of {keys} keys moved, {ratio:.3}× the ideal 1/(n+1)");
    }
    println!("scale-out movement: worst {worst:.3}× the ideal 1/(n+1) over n = 2..64 (100k keys each)");
}
