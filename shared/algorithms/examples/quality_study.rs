//! Quality study: response times each balancing algorithm gives on a heterogeneous fleet.
//!
//! `cargo run --release -p switchyard-algorithms --example quality_study [-- --requests N]`
//!
//! Model (a discrete-event simulation, deterministic for its seed):
//! - 8 servers with speeds 1×, 1.43×, …, 4× (linear); each serves one request at a time, FIFO,
//!   with exponential service times of mean 100 ms / speed.
//! - Poisson arrivals at 80 % of the fleet's total capacity.
//! - "1 router": one balancer sees every request (its in-flight counts are exact).
//! - "10 routers, 5 s stale": requests arrive at one of 10 independent balancers (a Lambda fleet's
//!   execution environments); each knows only its own in-flight requests plus the servers' loads as
//!   reported every 5 s (what a CloudWatch-published metric gives).
//! - Sticky cases: 1 000 clients with a Zipf(1.1) request mix (a few clients send most requests).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr};

use switchyard_algorithms::hash::SplitMix64;
use switchyard_algorithms::{Algorithm, Balancer, BalancerConfig, InFlight, RequestContext, Target, TargetSet, Time};

const SERVERS: usize = 8;
const MEAN_SERVICE_S: f64 = 0.100;
const UTILISATION: f64 = 0.8;
const CLIENTS: usize = 1_000;
const ZIPF_S: f64 = 1.1;
const REPORT_EVERY_S: f64 = 5.0;

#[derive(Clone, Copy)]
enum Routers {
    /// One balancer sees every request: exact in-flight counts.
    One,
    /// 10 balancers; each adds every server's total in-flight count as reported every 5 s,
    /// fading over the given number of seconds (`BalancerConfig::report_fade`).
    StaleReports(u64),
    /// 10 balancers, each with only its own in-flight counts.
    LocalOnly,
}

#[derive(Clone, Copy)]
enum Clients {
    Uniform,
    Zipf { bounded: bool },
}

#[derive(Clone, Copy)]
struct Scenario {
    name: &'static str,
    algorithm: fn() -> Algorithm,
    routers: Routers,
    clients: Clients,
}

impl Scenario {
    const fn new(name: &'static str, algorithm: fn() -> Algorithm, routers: Routers, clients: Clients) -> Self {
        Scenario { name, algorithm, routers, clients }
    }
}

fn main() -> Result<(), switchyard_algorithms::Error> {
    let requests =
        std::env::args().skip_while(|a| a != "--requests").nth(1).and_then(|v| v.parse().ok()).unwrap_or(200_000usize);
    use Algorithm::{LeastConnections, PowerOfTwoChoices, RoundRobin, StickyIp};
    let uniform = Clients::Uniform;
    let scenarios = [
        Scenario::new("round robin", || RoundRobin, Routers::One, uniform),
        Scenario::new("least connections, exact (1 router)", || LeastConnections, Routers::One, uniform),
        Scenario::new(
            "least connections, 10 routers, 5 s reports at full weight",
            || LeastConnections,
            Routers::StaleReports(86_400),
            uniform,
        ),
        Scenario::new(
            "least connections, 10 routers, 5 s reports fading over 10 s",
            || LeastConnections,
            Routers::StaleReports(10),
            uniform,
        ),
        Scenario::new(
            "least connections, 10 routers, local counts only",
            || LeastConnections,
            Routers::LocalOnly,
            uniform,
        ),
        Scenario::new(
            "P2C, 10 routers, 5 s reports at full weight",
            || PowerOfTwoChoices,
            Routers::StaleReports(86_400),
            uniform,
        ),
        Scenario::new(
            "P2C, 10 routers, 5 s reports fading over 5 s",
            || PowerOfTwoChoices,
            Routers::StaleReports(5),
            uniform,
        ),
        Scenario::new(
            "P2C, 10 routers, 5 s reports fading over 10 s",
            || PowerOfTwoChoices,
            Routers::StaleReports(10),
            uniform,
        ),
        Scenario::new("P2C, 10 routers, local counts only", || PowerOfTwoChoices, Routers::LocalOnly, uniform),
        Scenario::new("sticky IP, Zipf clients, no bound", || StickyIp, Routers::One, Clients::Zipf { bounded: false }),
        Scenario::new(
            "sticky IP, Zipf clients, bounded ε=0.25",
            || StickyIp,
            Routers::One,
            Clients::Zipf { bounded: true },
        ),
    ];
    let mut rows = Vec::new();
    for (i, scenario) in scenarios.iter().enumerate() {
        eprint!("\r\x1b[K[{}/{}] {}", i + 1, scenarios.len(), scenario.name);
        rows.push((scenario.name, simulate(*scenario, requests, 42)?));
    }
    eprintln!("\r\x1b[K");
    println!(
        "{SERVERS} servers at 1×..4× speed, Poisson arrivals at {:.0} % of capacity, {requests} requests",
        UTILISATION * 100.0
    );
    println!();
    println!("| algorithm | p50 ms | p99 ms | busiest server's share ÷ its capacity share |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, r) in rows {
        println!("| {name} | {:.0} | {:.0} | {:.2} |", r.p50_ms, r.p99_ms, r.max_busy_share);
    }
    Ok(())
}

struct Outcome {
    p50_ms: f64,
    p99_ms: f64,
    /// Largest share of all requests that one server received, relative to its capacity share.
    max_busy_share: f64,
}

fn speeds() -> [f64; SERVERS] {
    std::array::from_fn(|i| 1.0 + 3.0 * i as f64 / (SERVERS - 1) as f64)
}

fn simulate(scenario: Scenario, requests: usize, seed: u64) -> Result<Outcome, switchyard_algorithms::Error> {
    let speeds = speeds();
    let capacity: f64 = speeds.iter().map(|s| s / MEAN_SERVICE_S).sum();
    let rate = UTILISATION * capacity;
    let targets =
        TargetSet::new((0..SERVERS).map(|i| Target::new(format!("s{i}"), format!("10.0.0.{i}:80"))).collect())?;
    let router_count = if matches!(scenario.routers, Routers::One) { 1 } else { 10 };
    let stale_reports = matches!(scenario.routers, Routers::StaleReports(_));
    let report_fade = match scenario.routers {
        Routers::StaleReports(fade) => std::time::Duration::from_secs(fade),
        _ => BalancerConfig::default().report_fade,
    };
    let zipf_clients = matches!(scenario.clients, Clients::Zipf { .. });
    let bounded = matches!(scenario.clients, Clients::Zipf { bounded: true });
    let routers: Vec<Balancer> = (0..router_count)
        .map(|_| {
            let config = BalancerConfig {
                algorithm: (scenario.algorithm)(),
                bounded_load: bounded.then(Default::default),
                report_fade,
                ..Default::default()
            };
            Balancer::new(targets.clone(), config)
        })
        .collect::<Result<_, _>>()?;
    let zipf = zipf_cdf(CLIENTS, ZIPF_S);

    let mut rng = SplitMix64::new(seed);
    let mut now = 0.0f64;
    let mut free_at = [0.0f64; SERVERS];
    let mut true_in_flight = [0u32; SERVERS];
    let mut served = [0u64; SERVERS];
    // Completions: (time in µs, server, guard).
    let mut completions: BinaryHeap<Reverse<(u64, usize, u64)>> = BinaryHeap::new();
    let mut guards: std::collections::HashMap<u64, InFlight> = std::collections::HashMap::new();
    let mut latencies = Vec::with_capacity(requests);
    let mut next_report = REPORT_EVERY_S;

    for id in 0..requests as u64 {
        now += -rng.unit().max(f64::MIN_POSITIVE).ln() / rate;
        while let Some(&Reverse((at, server, guard))) = completions.peek() {
            if at as f64 / 1e6 > now {
                break;
            }
            completions.pop();
            guards.remove(&guard);
            true_in_flight[server] -= 1;
        }
        if stale_reports && now >= next_report {
            // Every router reads the same report: each server's total in-flight at this moment.
            let report: Vec<(String, u32)> = (0..SERVERS).map(|i| (format!("s{i}"), true_in_flight[i])).collect();
            for router in &routers {
                router.set_reported_loads(
                    report.iter().map(|(id, load)| (id.as_str(), *load)),
                    Time::from_millis((now * 1000.0) as u64),
                );
            }
            next_report += REPORT_EVERY_S;
        }
        let router = &routers[rng.below(routers.len())];
        let client = if zipf_clients { sample(&zipf, rng.unit()) } else { rng.below(CLIENTS) };
        let request = RequestContext {
            client_ip: Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + client as u32))),
            random: rng.next_u64(),
            ..Default::default()
        };
        let at = Time::from_millis((now * 1000.0) as u64);
        let Some(server) = router.pick(&request, at).ok().and_then(|p| p.candidates.first()) else { continue };
        let service = -rng.unit().max(f64::MIN_POSITIVE).ln() * MEAN_SERVICE_S / speeds[server];
        let start = free_at[server].max(now);
        free_at[server] = start + service;
        latencies.push(free_at[server] - now);
        served[server] += 1;
        true_in_flight[server] += 1;
        if let Some(guard) = router.begin(server) {
            guards.insert(id, guard);
        }
        completions.push(Reverse(((free_at[server] * 1e6) as u64, server, id)));
    }

    latencies.sort_by(f64::total_cmp);
    let quantile =
        |q: f64| latencies.get(((latencies.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(0.0) * 1000.0;
    let total_speed: f64 = speeds.iter().sum();
    let max_busy_share =
        (0..SERVERS).map(|i| (served[i] as f64 / requests as f64) / (speeds[i] / total_speed)).fold(0.0, f64::max);
    Ok(Outcome { p50_ms: quantile(0.5), p99_ms: quantile(0.99), max_busy_share })
}

fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

fn sample(cdf: &[f64], u: f64) -> usize {
    cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
}
