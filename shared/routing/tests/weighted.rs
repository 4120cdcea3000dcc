//! Weighted forwards split traffic as their weights say, and group stickiness holds a client on
//! its group across weight changes until its cookie expires, and not after.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use serde_json::json;
use switchyard_routing::{
    Action, GroupChoice, GroupCookie, GroupCookieKey, GroupCookies, Routes, TargetGroupId, WeightedForward,
};

const GROUPS: [&str; 5] = ["g0", "g1", "g2", "g3", "g4"];
const REQUESTS: u64 = 10_000;
/// Two-sided 99.9 % normal quantile.
const Z: f64 = 3.29;

/// A weighted forward over `GROUPS[i]` for each `Some(weight)`, and the routes it lives in.
fn split(weights: &[Option<u16>], stickiness_secs: Option<u32>) -> (Routes, WeightedForward) {
    let groups: serde_json::Map<String, serde_json::Value> = GROUPS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            ((*name).to_owned(), json!({ "discovery": { "type": "static", "targets": [format!("10.0.0.{i}:80")] } }))
        })
        .collect();
    let listed: Vec<_> =
        weights.iter().zip(GROUPS).filter_map(|(w, name)| w.map(|w| json!({ "name": name, "weight": w }))).collect();
    let mut action = json!({ "type": "weighted_forward", "target_groups": listed });
    if let Some(secs) = stickiness_secs {
        action["stickiness"] = json!({ "duration_secs": secs });
    }
    let routes = Routes::from_json(&json!({ "target_groups": groups, "default_action": action }).to_string())
        .unwrap_or_else(|e| panic!("{e:#?}"));
    let Action::WeightedForward(forward) = routes.default_action().clone() else { unreachable!() };
    (routes, forward)
}

fn all(weights: &[u16]) -> Vec<Option<u16>> {
    weights.iter().copied().map(Some).collect()
}

/// SplitMix64 (Steele, Lea, Flood 2014): the uniform `u64`s a router would draw per request.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Requests per group index over `REQUESTS` draws from `seed`.
fn counts(forward: &WeightedForward, seed: u64) -> [u64; 5] {
    let mut random = SplitMix(seed);
    let mut counts = [0; 5];
    for _ in 0..REQUESTS {
        counts[forward.pick(random.next()).index()] += 1;
    }
    counts
}

/// Each group's count is within the binomial 99.9 % interval of its share (exactly 0 at weight 0).
fn within_bounds(weights: &[u16], counts: &[u64; 5]) -> Result<(), TestCaseError> {
    let total: f64 = weights.iter().map(|w| f64::from(*w)).sum();
    for (i, w) in weights.iter().enumerate() {
        let p = f64::from(*w) / total;
        let n = REQUESTS as f64;
        let (mean, sd) = (n * p, (n * p * (1.0 - p)).sqrt());
        let count = counts[i] as f64;
        prop_assert!(
            (count - mean).abs() <= Z * sd,
            "group {i} (weight {w} of {total}): {count} requests, expected {mean:.0} ± {:.0}",
            Z * sd
        );
    }
    Ok(())
}

/// Fixed seed: the statistical checks are deterministic (no flaky reruns); 16 cases keep the
/// chance that a correct split trips a 99.9 % bound somewhere low.
fn statistical() -> Config {
    Config { cases: 16, rng_seed: RngSeed::Fixed(0x5717_c4ad), ..Config::default() }
}

proptest! {
    #![proptest_config(statistical())]

    #[test]
    fn a_90_10_split_stays_within_binomial_bounds(seed in any::<u64>()) {
        let (_, forward) = split(&all(&[90, 10]), None);
        within_bounds(&[90, 10], &counts(&forward, seed))?;
    }

    #[test]
    fn any_weights_split_within_binomial_bounds(
        weights in prop::collection::vec(0u16..=999, 1..=5).prop_filter("a weight above 0", |w| w.iter().any(|w| *w > 0)),
        seed in any::<u64>(),
    ) {
        let (_, forward) = split(&all(&weights), None);
        within_bounds(&weights, &counts(&forward, seed))?;
    }
}

fn cookies() -> GroupCookies {
    GroupCookies::new(&GroupCookieKey::new(*b"a group cookie key of 32 bytes!!").unwrap())
}

/// Five weights, at least one above 0.
fn weights() -> impl Strategy<Value = Vec<u16>> {
    prop::collection::vec(0u16..=999, 5).prop_filter("a weight above 0", |w| w.iter().any(|w| *w > 0))
}

/// A client's first request: a fresh choice and its cookie.
fn first_visit(forward: &WeightedForward, random: u64, now: u64) -> (TargetGroupId, String) {
    match forward.choose(None, &cookies(), random, now) {
        GroupChoice { group, cookie: GroupCookie::Set { value, .. } } => (group, value),
        other => panic!("a first visit gets a cookie: {other:?}"),
    }
}

proptest! {
    #[test]
    fn stickiness_holds_a_client_across_weight_changes_until_the_cookie_expires(
        before in weights(),
        mut after in weights(),
        duration in 1u32..=604_800,
        issued_at in 0u64..4_000_000_000,
        elapsed_fraction in 0.0f64..2.0,
        first in any::<u64>(),
        later in any::<u64>(),
    ) {
        let (_, old) = split(&all(&before), Some(duration));
        let (group, cookie) = first_visit(&old, first, issued_at);
        // The new weights keep the client's group in service.
        after[group.index()] = after[group.index()].max(1);
        let (_, new) = split(&all(&after), Some(duration));
        let elapsed = (f64::from(duration) * elapsed_fraction) as u64;
        let choice = new.choose(Some(&cookie), &cookies(), later, issued_at + elapsed);
        if elapsed < u64::from(duration) {
            prop_assert_eq!(choice, GroupChoice { group, cookie: GroupCookie::Honoured });
        } else {
            prop_assert_eq!(choice.group, new.pick(later), "an expired cookie gets a fresh weighted choice");
            let renewed = matches!(choice.cookie, GroupCookie::Set { max_age_secs, .. } if max_age_secs == duration);
            prop_assert!(renewed, "a new cookie: {:?}", choice.cookie);
        }
    }

    #[test]
    fn a_group_drained_to_weight_0_keeps_none_of_its_clients(
        before in weights(),
        mut after in weights(),
        first in any::<u64>(),
        later in any::<u64>(),
    ) {
        let (_, old) = split(&all(&before), Some(3600));
        let (group, cookie) = first_visit(&old, first, 1_000);
        after[group.index()] = 0;
        prop_assume!(after.iter().any(|w| *w > 0));
        let (_, new) = split(&all(&after), Some(3600));
        let choice = new.choose(Some(&cookie), &cookies(), later, 1_001);
        prop_assert_ne!(choice.group, group);
        let renewed = matches!(choice.cookie, GroupCookie::Set { .. });
        prop_assert!(renewed, "a new cookie: {:?}", choice.cookie);
    }

    #[test]
    fn a_group_removed_from_the_action_keeps_none_of_its_clients(first in any::<u64>(), later in any::<u64>()) {
        let (_, old) = split(&all(&[1, 1, 1, 1, 1]), Some(3600));
        let (group, cookie) = first_visit(&old, first, 1_000);
        let mut listed = all(&[1, 1, 1, 1, 1]);
        listed[group.index()] = None;
        let (_, new) = split(&listed, Some(3600));
        let choice = new.choose(Some(&cookie), &cookies(), later, 1_001);
        prop_assert_ne!(choice.group, group);
        prop_assert_eq!(choice.group, new.pick(later));
    }

    #[test]
    fn a_malformed_or_forged_cookie_gets_a_fresh_choice(cookie in ".{0,200}", random in any::<u64>()) {
        let (_, forward) = split(&all(&[3, 1]), Some(60));
        let choice = forward.choose(Some(&cookie), &cookies(), random, 1_000);
        prop_assert_eq!(choice.group, forward.pick(random));
        let renewed = matches!(choice.cookie, GroupCookie::Set { .. });
        prop_assert!(renewed, "a new cookie: {:?}", choice.cookie);
    }
}

#[test]
fn a_cookie_signed_with_another_key_is_not_honoured() {
    let (_, forward) = split(&all(&[1, 1]), Some(60));
    let other = GroupCookies::new(&GroupCookieKey::new([1u8; 32]).unwrap());
    let forged = other.issue("g1", 10_000);
    let choice = forward.choose(Some(&forged), &cookies(), 0, 1_000);
    assert!(matches!(choice.cookie, GroupCookie::Set { .. }));
    assert_eq!(choice.group, forward.pick(0));
}

#[test]
fn without_stickiness_no_cookie_is_read_or_set() {
    let (_, forward) = split(&all(&[1, 1]), None);
    let cookie = cookies().issue("g1", 10_000);
    assert_eq!(
        forward.choose(Some(&cookie), &cookies(), 0, 1_000),
        GroupChoice { group: forward.pick(0), cookie: GroupCookie::NotSticky }
    );
}

#[test]
fn a_group_of_weight_0_is_never_picked() {
    let (routes, forward) = split(&all(&[0, 5, 0]), None);
    for random in [0, 1, u64::MAX / 2, u64::MAX - 1, u64::MAX] {
        assert_eq!(routes.target_group(forward.pick(random)).name(), "g1");
    }
}

#[test]
fn a_group_cookie_expires_exactly_one_duration_after_it_was_issued() {
    let (_, forward) = split(&all(&[1, 1]), Some(60));
    let (group, cookie) = first_visit(&forward, 7, 1_000);
    assert_eq!(
        forward.choose(Some(&cookie), &cookies(), 7, 1_059),
        GroupChoice { group, cookie: GroupCookie::Honoured }
    );
    let renewed = forward.choose(Some(&cookie), &cookies(), 7, 1_060);
    assert!(matches!(renewed.cookie, GroupCookie::Set { .. }), "{renewed:?}");
}
