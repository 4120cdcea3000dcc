//! The web side: requests reach a web fleet through a front door (ALB, Switchyard's router, the
//! KEDA HTTP add-on's interceptor); the question is what a fleet that goes to zero costs the first
//! requests after an idle spell, and what it saves.
//!
//! What is modelled, and how:
//! - Arrivals: Poisson within each second at the trace's rate for the minute (requests).
//! - Serving: each instance serves one request at a time, log-normal service times (mean
//!   `service_mean_s`, σ = 0.5), first in first out. CPU is the busy share of in-service
//!   instances' time.
//! - Instances: a new one serves after `boot_delay_s` (a cold launch, or a warm-pool start);
//!   scale-in as in [`crate::sim`].
//! - A request that finds no instance in service waits for a wake: the front door holds it (see
//!   [`FrontDoor`]) until an instance is in service. Such requests are the *first requests*.
//! - Signals: CloudWatch minutes (requests counted by the front door, CPU average, instances in
//!   service) available `cloudwatch_lag_s` after the minute ends; what the front door holds and
//!   the requests of the last 60 s are exact and immediate (the KEDA interceptor's counts).
//! - Cost: instance-minutes of every launched instance, booting included. Stopped instances in a
//!   warm pool (EBS only) and the front door itself are not counted.

pub mod policies;

use std::collections::VecDeque;

use switchyard_algorithms::hash::SplitMix64;

use crate::sim::{Instance, SimConfig, normal, poisson, resize};
use crate::trace::Trace;

/// From a Stopped instance in a warm pool to InService: AWS says pre-initialised instances "can be
/// launched to serve traffic in as low as 30 seconds" (EC2 Auto Scaling warm pools, at launch;
/// user guide: "Decrease latency for applications with long boot times using warm pools").
pub const WARM_POOL_BOOT_S: f64 = 30.0;

/// The simulated web world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WebConfig {
    /// Mean seconds of an instance's time per request: an instance serves `1 / service_mean_s`
    /// requests a second at most.
    pub service_mean_s: f64,
    /// From a raised desired capacity to an instance in service.
    pub boot_delay_s: f64,
    /// The CPU utilisation the fleet is scaled to keep (the template's `WebCpuTargetPercent`
    /// default, 60); the KEDA add-on's request-rate target is the same share of an instance.
    pub cpu_target_percent: f64,
    pub max: u32,
    pub initial: u32,
    pub cloudwatch_lag_s: u64,
    pub seed: u64,
}

impl WebConfig {
    /// The queue simulator's world, where the two share a setting (boot, lag, seed, maximum).
    pub fn from_sim(config: &SimConfig) -> Self {
        WebConfig {
            service_mean_s: 0.2,
            boot_delay_s: config.boot_delay_s,
            cpu_target_percent: 60.0,
            max: config.max,
            initial: 1,
            cloudwatch_lag_s: config.cloudwatch_lag_s,
            seed: config.seed,
        }
    }

    /// Requests a second one instance serves at the CPU target.
    pub fn target_requests_per_s(&self) -> f64 {
        self.cpu_target_percent / 100.0 / self.service_mean_s
    }
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig::from_sim(&SimConfig::default())
    }
}

/// What holds a request that finds no instance in service, and whether it wakes the fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FrontDoor {
    /// ALB: never wakes anything (its target tracking keeps at least one instance).
    LoadBalancer,
    /// Switchyard's router: raises the group's desired capacity from 0 to `wake_size` at once, on
    /// the request; holds an idempotent request up to `hold_s`, rediscovering every `poll_s`; when
    /// the hold runs out, 503 with `Retry-After: retry_after_s`, and the client's retry is held
    /// again.
    Router { wake_size: u32, hold_s: f64, poll_s: f64, retry_after_s: f64 },
    /// The KEDA HTTP add-on's interceptor: holds the request until the backend is ready (its
    /// readiness timeout is disabled by default); waking is the autoscaler's, at its next poll.
    Interceptor,
}

impl FrontDoor {
    /// The router as deployed by default (`SWITCHYARD_WAKE_SIZE` 1, `SWITCHYARD_WAKE_HOLD_MS`
    /// 20 000, `SWITCHYARD_WAKE_POLL_MS` 1 000, Retry-After the hold in seconds).
    pub const ROUTER: FrontDoor = FrontDoor::Router { wake_size: 1, hold_s: 20.0, poll_s: 1.0, retry_after_s: 20.0 };

    /// When the first request held from `arrival` is proxied, given the first instance in service
    /// at `ready`, and whether it was answered 503 first (the hold ran out).
    pub fn release(&self, arrival: f64, ready: f64) -> (f64, bool) {
        let FrontDoor::Router { hold_s, poll_s, retry_after_s, .. } = *self else {
            return (ready.max(arrival), false);
        };
        let (mut held_from, mut refused) = (arrival, false);
        loop {
            // Rediscovery at held_from + k·poll, k ≥ 1, within the hold.
            let k = ((ready - held_from) / poll_s).ceil().max(1.0);
            let found = held_from + k * poll_s;
            if found <= held_from + hold_s + 1e-9 {
                return (found, refused);
            }
            refused = true;
            held_from += hold_s + retry_after_s;
            if held_from >= ready {
                return (held_from, refused);
            }
        }
    }
}

/// One minute of CloudWatch data, once published.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WebMinute {
    /// Requests the front door counted (the routers' `Requests`, ALB's `RequestCount`).
    pub requests: f64,
    /// Average CPU of the instances in service, percent; `None` with none in service.
    pub cpu_percent: Option<f64>,
    pub in_service_avg: f64,
}

/// What a policy sees at a tick.
#[derive(Debug, Clone, Copy)]
pub struct WebObservation<'a> {
    pub now_s: u64,
    pub desired: u32,
    pub in_service: u32,
    pub pending: u32,
    /// Requests the front door holds, queued or being served now (the interceptor's concurrency).
    pub concurrency: u64,
    /// Requests that arrived within the last 60 s (the interceptor's request rate, 1-minute
    /// window).
    pub last_minute_requests: u64,
    /// CloudWatch minutes published by now, oldest first.
    pub cloudwatch: &'a [WebMinute],
}

/// A web fleet's scaling policy under test, with the front door it is deployed behind.
pub trait WebAutoscaler {
    fn name(&self) -> &'static str;
    fn front_door(&self) -> FrontDoor;
    /// Seconds between decisions.
    fn interval_s(&self) -> u64;
    /// The new desired capacity.
    fn decide(&mut self, observation: &WebObservation<'_>) -> u32;
}

/// Per-minute series for the plot.
#[derive(Debug, Clone, Default)]
pub struct WebSeries {
    pub arrivals: Vec<f64>,
    pub instances: Vec<f64>,
    /// The longest wait of a first request that arrived in the minute (0 for none).
    pub first_wait_s: Vec<f64>,
}

/// What one policy achieved on one web trace.
#[derive(Debug, Clone)]
pub struct WebOutcome {
    pub policy: &'static str,
    pub boot_delay_s: f64,
    pub instance_minutes: f64,
    pub requests: usize,
    /// Times the fleet went from zero instances to some.
    pub wakes: usize,
    /// Requests that found no instance in service and waited for a wake.
    pub first_requests: usize,
    /// From arrival to the response of those requests (a retry after a 503 included).
    pub first_latency_p50_s: f64,
    pub first_latency_max_s: f64,
    /// First requests answered 503 with Retry-After before being served: the hold ran out.
    pub refused_first: usize,
    pub p99_latency_s: f64,
    pub minutes: usize,
    pub series: WebSeries,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    arrival: f64,
    /// When the front door lets it through (a held request: when it is released).
    available_at: f64,
    service: f64,
    first: bool,
}

/// Run `policy` on the web `trace`; `progress` is told each finished minute.
pub fn simulate(
    trace: &Trace,
    config: &WebConfig,
    policy: &mut dyn WebAutoscaler,
    progress: &mut dyn FnMut(usize),
) -> WebOutcome {
    let mut rng = SplitMix64::new(config.seed);
    let sigma = 0.5f64;
    let mu = config.service_mean_s.ln() - sigma * sigma / 2.0;
    let door = policy.front_door();
    let mut queue: VecDeque<Request> = VecDeque::new();
    let mut held: Vec<Request> = Vec::new();
    let mut instances: Vec<Instance> =
        (0..config.initial).map(|_| Instance { ready_at: 0.0, free_at: 0.0, retiring: false }).collect();
    let mut desired = config.initial;
    let (mut latencies, mut first_latencies) = (Vec::new(), Vec::new());
    let (mut requests, mut wakes, mut refused_first) = (0usize, 0usize, 0usize);
    let mut last_minute: VecDeque<(u64, u64)> = VecDeque::new();
    let mut published: Vec<WebMinute> = Vec::new();
    let mut minutes: Vec<WebMinute> = Vec::new();
    let mut series = WebSeries::default();
    let mut instance_seconds = 0.0;
    let mut change = |instances: &mut Vec<Instance>, desired: &mut u32, new: u32, now: f64| {
        if new != *desired {
            if *desired == 0 {
                wakes += 1;
            }
            resize(instances, new, now, config.boot_delay_s);
            *desired = new;
        }
    };

    for minute in 0..trace.minutes() {
        let rate_per_s = trace.per_minute(minute) / 60.0;
        let (mut sent, mut busy_s, mut in_service_s, mut worst_first) = (0.0, 0.0, 0.0, 0.0f64);
        for second in 0..60u64 {
            let now_s = minute as u64 * 60 + second;
            let (now, end) = (now_s as f64, now_s as f64 + 1.0);

            while published.len() < minutes.len()
                && (published.len() as u64 + 1) * 60 + config.cloudwatch_lag_s <= now_s
            {
                published.push(minutes[published.len()]);
            }
            while last_minute.front().is_some_and(|&(at, _)| at + 60 <= now_s) {
                last_minute.pop_front();
            }

            if now_s.is_multiple_of(policy.interval_s().max(1)) {
                let in_service = instances.iter().filter(|i| i.ready_at <= now && !i.retiring).count() as u32;
                let alive = instances.iter().filter(|i| !i.retiring).count() as u32;
                let busy = instances.iter().filter(|i| i.free_at > now).count() as u64;
                let observation = WebObservation {
                    now_s,
                    desired,
                    in_service,
                    pending: alive - in_service,
                    concurrency: held.len() as u64 + queue.len() as u64 + busy,
                    last_minute_requests: last_minute.iter().map(|&(_, n)| n).sum(),
                    cloudwatch: &published,
                };
                let new = policy.decide(&observation).min(config.max);
                change(&mut instances, &mut desired, new, now);
            }

            let count = poisson(&mut rng, rate_per_s);
            sent += count as f64;
            requests += count;
            if count > 0 {
                last_minute.push_back((now_s, count as u64));
            }
            let mut arrivals: Vec<f64> = (0..count).map(|_| now + rng.unit()).collect();
            arrivals.sort_by(f64::total_cmp);
            for arrival in arrivals {
                let service = (mu + sigma * normal(&mut rng)).exp();
                let serving = instances.iter().any(|i| i.ready_at <= arrival && !i.retiring);
                if serving {
                    queue.push_back(Request { arrival, available_at: arrival, service, first: false });
                    continue;
                }
                held.push(Request { arrival, available_at: f64::INFINITY, service, first: true });
                if let FrontDoor::Router { wake_size, .. } = door
                    && desired == 0
                {
                    change(&mut instances, &mut desired, wake_size.min(config.max), arrival);
                }
            }

            // Held requests go through once an instance is in service.
            let ready =
                instances.iter().filter(|i| !i.retiring && i.ready_at < end).map(|i| i.ready_at).reduce(f64::min);
            if let Some(ready) = ready
                && !held.is_empty()
            {
                let mut still = Vec::new();
                let mut released = Vec::new();
                for mut request in held.drain(..) {
                    let (at, refused) = door.release(request.arrival, ready);
                    if at < end {
                        request.available_at = at;
                        refused_first += usize::from(refused);
                        released.push(request);
                    } else {
                        still.push(request);
                    }
                }
                held = still;
                // The oldest requests: ahead of those that found an instance in service.
                released.sort_by(|a, b| b.available_at.total_cmp(&a.available_at));
                for request in released {
                    queue.push_front(request);
                }
            }

            for instance in instances.iter_mut().filter(|i| !i.retiring && i.ready_at < end) {
                while instance.free_at < end {
                    let Some(&next) = queue.front() else { break };
                    let start = instance.free_at.max(next.available_at).max(instance.ready_at);
                    if start >= end {
                        break;
                    }
                    queue.pop_front();
                    instance.free_at = start + next.service;
                    busy_s += next.service;
                    let latency = instance.free_at - next.arrival;
                    latencies.push(latency);
                    if next.first {
                        first_latencies.push(latency);
                        worst_first = worst_first.max(latency);
                    }
                }
            }
            instances.retain(|i| !(i.retiring && i.free_at <= end));

            instance_seconds += instances.len() as f64;
            in_service_s += instances.iter().filter(|i| i.ready_at <= now && !i.retiring).count() as f64;
        }
        minutes.push(WebMinute {
            requests: sent,
            cpu_percent: (in_service_s > 0.0).then(|| (100.0 * busy_s / in_service_s).min(100.0)),
            in_service_avg: in_service_s / 60.0,
        });
        series.arrivals.push(sent);
        series.instances.push(instances.len() as f64);
        series.first_wait_s.push(worst_first);
        progress(minute + 1);
    }

    latencies.sort_by(f64::total_cmp);
    first_latencies.sort_by(f64::total_cmp);
    WebOutcome {
        policy: policy.name(),
        boot_delay_s: config.boot_delay_s,
        instance_minutes: instance_seconds / 60.0,
        requests,
        wakes,
        first_requests: first_latencies.len() + held.len(),
        first_latency_p50_s: quantile(&first_latencies, 0.5),
        first_latency_max_s: first_latencies.last().copied().unwrap_or(0.0),
        refused_first,
        p99_latency_s: quantile(&latencies, 0.99),
        minutes: trace.minutes(),
        series,
    }
}

/// The `q` quantile of sorted values (nearest rank below), 0 for none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * q).max(0.0) as usize).copied().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_router_proxies_a_held_request_at_the_first_rediscovery_after_the_instance_is_up() {
        let (at, refused) = FrontDoor::ROUTER.release(100.0, 112.5);
        assert_eq!((at, refused), (113.0, false));
    }

    #[test]
    fn past_the_hold_the_client_is_refused_and_its_retry_is_served() {
        // A 30 s warm start: 503 at 20 s, the retry at 40 s finds the instance up.
        assert_eq!(FrontDoor::ROUTER.release(0.0, 30.0), (40.0, true));
        // A 90 s cold boot: 503 at 20 s and at 60 s; the retry at 80 s is held until 90 s.
        assert_eq!(FrontDoor::ROUTER.release(0.0, 90.0), (90.0, true));
    }

    #[test]
    fn the_interceptor_holds_until_the_backend_is_ready() {
        assert_eq!(FrontDoor::Interceptor.release(10.0, 125.0), (125.0, false));
    }
}
