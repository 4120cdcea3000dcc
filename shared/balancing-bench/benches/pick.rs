//! ns per pick for every Switchyard algorithm at N = 3, 100, 1 000, 10 000 targets, and in the
//! same run pingora-load-balancing 0.9's `LoadBalancer::<RoundRobin>` and `<Consistent>` (Ketama)
//! `select` at the same N. Plus the cost of rebuilding on a discovery change at N = 1 000.
//!
//! Both sides do the same work per request: pick one target and skip unhealthy ones
//! (pingora: `select` loads the selector through `ArcSwap`, walks a unique iterator and checks
//! health; Switchyard: `Balancer::pick` checks usability and ranks one candidate; fall-throughs are
//! ranked only when an attempt fails).

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use pingora_load_balancing::LoadBalancer;
use pingora_load_balancing::selection::{Consistent, RoundRobin};
use switchyard_algorithms::{
    Algorithm, Balancer, BalancerConfig, CookieKey, RequestContext, StickyCookie, Target, TargetSet, Time,
};

const SIZES: [usize; 4] = [3, 100, 1_000, 10_000];
const NOW: Time = Time::from_secs(1_700_000_000);

fn address(i: usize) -> String {
    format!("10.{}.{}.{}:8080", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

fn targets(n: usize) -> TargetSet {
    TargetSet::new((0..n).map(|i| Target::new(format!("i-{i:08x}"), address(i))).collect()).expect("valid set")
}

fn cookie() -> StickyCookie {
    StickyCookie::new(CookieKey::new([7u8; 32]).expect("32-byte key"), Duration::from_secs(3600))
}

fn switchyard_algorithms() -> Vec<(&'static str, Algorithm)> {
    vec![
        ("round_robin", Algorithm::RoundRobin),
        ("sticky_ip", Algorithm::StickyIp),
        // Without bounded loads: plain consistent hashing, the like-for-like peer of pingora's Ketama.
        ("sticky_ip_unbounded", Algorithm::StickyIp),
        ("sticky_cookie", Algorithm::StickyCookie(cookie())),
        ("least_connections", Algorithm::LeastConnections),
        ("power_of_two_choices", Algorithm::PowerOfTwoChoices),
    ]
}

fn pingora<S>(n: usize) -> LoadBalancer<S>
where
    S: pingora_load_balancing::selection::BackendSelection + 'static,
    S::Iter: pingora_load_balancing::selection::BackendIter,
{
    let lb = LoadBalancer::<S>::try_from_iter((0..n).map(address)).expect("valid addresses");
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(lb.update())
        .expect("static discovery");
    lb
}

fn picks(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    for n in SIZES {
        for (name, algorithm) in switchyard_algorithms() {
            let bounded_load =
                if name == "sticky_ip_unbounded" { None } else { BalancerConfig::default().bounded_load };
            let balancer = Balancer::new(targets(n), BalancerConfig { algorithm, bounded_load, ..Default::default() })
                .expect("valid config");
            // A returning client of the cookie algorithm carries a valid cookie (HMAC check per pick).
            let cookie_value = balancer.issue_cookie(0, NOW);
            let mut i: u32 = 0;
            // Each algorithm gets what it reads: round robin no key (as pingora's gets b""),
            // the others a client key and a random number that change per request. The chosen
            // target is returned, as pingora's `select` returns its backend.
            let keyed = !matches!(name, "round_robin");
            group.bench_with_input(BenchmarkId::new(format!("switchyard/{name}"), n), &n, |b, _| {
                b.iter(|| {
                    let request = if keyed {
                        i = i.wrapping_add(0x9e37_79b9);
                        RequestContext {
                            cookie: cookie_value.as_deref(),
                            client_ip: Some(IpAddr::V4(Ipv4Addr::from(i))),
                            random: u64::from(i),
                            ..Default::default()
                        }
                    } else {
                        RequestContext::default()
                    };
                    black_box(balancer.pick(black_box(&request), NOW).ok().and_then(|p| p.candidates.first()))
                })
            });
        }
        let round_robin = pingora::<RoundRobin>(n);
        group.bench_with_input(BenchmarkId::new("pingora/round_robin", n), &n, |b, _| {
            b.iter(|| black_box(round_robin.select(black_box(b""), 256)))
        });
        let consistent = pingora::<Consistent>(n);
        let mut i: u32 = 0;
        group.bench_with_input(BenchmarkId::new("pingora/consistent", n), &n, |b, _| {
            b.iter(|| {
                i = i.wrapping_add(0x9e37_79b9);
                black_box(consistent.select(black_box(&i.to_be_bytes()), 256))
            })
        });
    }
    group.finish();
}

fn rebuilds(c: &mut Criterion) {
    let mut group = c.benchmark_group("rebuild");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3)).sample_size(20);
    let n = 1_000;
    let grown: Vec<Target> = targets(n + 1).iter().cloned().collect();
    for (name, algorithm) in switchyard_algorithms() {
        let balancer = Balancer::new(targets(n), BalancerConfig { algorithm, ..Default::default() }).expect("valid");
        group.bench_function(BenchmarkId::new(format!("switchyard/{name}"), n), |b| {
            // The new target list is what discovery hands over; building it is not timed.
            b.iter_batched(
                || grown.clone(),
                |grown| black_box(balancer.rebuild(TargetSet::new(grown).expect("valid set")).expect("valid")),
                BatchSize::SmallInput,
            )
        });
    }
    let backends: std::collections::BTreeSet<_> =
        (0..=n).map(|i| pingora_load_balancing::Backend::new(&address(i)).expect("valid address")).collect();
    group.bench_function(BenchmarkId::new("pingora/round_robin", n), |b| {
        b.iter(|| {
            black_box(<RoundRobin as pingora_load_balancing::selection::BackendSelection>::build(black_box(&backends)))
        })
    });
    group.bench_function(BenchmarkId::new("pingora/consistent", n), |b| {
        b.iter(|| {
            black_box(<Consistent as pingora_load_balancing::selection::BackendSelection>::build(black_box(&backends)))
        })
    });
    group.finish();
}

criterion_group!(benches, picks, rebuilds);
criterion_main!(benches);
