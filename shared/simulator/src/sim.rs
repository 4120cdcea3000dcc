//! The discrete-time engine: one-second steps of arrivals, processing, booting and scaling.
//!
//! What is modelled, and how:
//! - Arrivals: Poisson within each second at the trace's rate for the minute.
//! - Processing: each instance handles one message at a time, log-normal service times (mean
//!   `processing_mean_s`, σ = 0.5), first in first out.
//! - Instances: a new one serves after `boot_delay_s`. On scale-in, booting instances go first,
//!   then idle ones; a busy one finishes its message before it leaves (scale-in protection while
//!   busy, the same for every policy, so policies are compared on their decisions alone).
//! - Signals: what GetQueueAttributes gives is exact and immediate (visible, in flight); what
//!   CloudWatch gives is per-minute and available `cloudwatch_lag_s` after the minute ends
//!   (visible average, messages sent, in-service average). Nothing reports the oldest message's
//!   age immediately.
//! - Cost: instance-minutes of every launched instance, booting included.

use std::collections::VecDeque;

use switchyard_algorithms::hash::SplitMix64;

use crate::trace::Trace;

/// The simulated world's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub processing_mean_s: f64,
    pub boot_delay_s: f64,
    /// The oldest message should be younger than this.
    pub slo_age_s: f64,
    pub min: u32,
    pub max: u32,
    pub initial: u32,
    pub cloudwatch_lag_s: u64,
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            processing_mean_s: 2.0,
            boot_delay_s: 90.0,
            slo_age_s: 120.0,
            min: 0,
            max: 100,
            initial: 2,
            cloudwatch_lag_s: 120,
            seed: 7,
        }
    }
}

impl SimConfig {
    /// AWS's guidance for the acceptable backlog per instance: acceptable latency ÷ processing time.
    pub fn acceptable_backlog_per_instance(&self) -> f64 {
        self.slo_age_s / self.processing_mean_s
    }
}

/// One minute of CloudWatch data, as GetMetricData returns it once published.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Minute {
    pub visible_avg: f64,
    pub sent: f64,
    pub in_service_avg: f64,
}

/// What a policy sees at a tick.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub now_s: u64,
    pub desired: u32,
    pub in_service: u32,
    pub pending: u32,
    /// GetQueueAttributes: exact, immediate.
    pub visible: u64,
    pub in_flight: u64,
    /// CloudWatch minutes published by now, oldest first.
    pub cloudwatch: &'a [Minute],
}

/// A scaling policy under test.
pub trait Autoscaler {
    fn name(&self) -> &'static str;
    /// Seconds between decisions.
    fn interval_s(&self) -> u64;
    /// The new desired capacity.
    fn decide(&mut self, observation: &Observation<'_>) -> u32;
}

/// Per-minute series for the plot.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub arrivals: Vec<f64>,
    pub backlog: Vec<f64>,
    pub instances: Vec<f64>,
    pub oldest_age_s: Vec<f64>,
}

/// What one policy achieved on one trace.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub policy: &'static str,
    /// Minutes in which the oldest waiting message was older than the SLO.
    pub slo_violation_minutes: usize,
    pub p99_latency_s: f64,
    pub instance_minutes: f64,
    pub scaling_actions: usize,
    pub direction_changes: usize,
    /// Direction changes that neither start nor end at zero: flapping, as opposed to the fleet
    /// going to sleep and waking.
    pub direction_changes_outside_wake: usize,
    pub minutes: usize,
    pub processed: usize,
    pub left_waiting: usize,
    pub series: Series,
}

#[derive(Debug, Clone, Copy)]
struct Message {
    arrival: f64,
    service: f64,
}

/// One instance of a fleet: in service from `ready_at`, busy until `free_at`; a retiring one
/// leaves when its work is done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Instance {
    pub(crate) ready_at: f64,
    pub(crate) free_at: f64,
    pub(crate) retiring: bool,
}

/// Run `policy` on `trace`; `progress` is told each finished minute.
pub fn simulate(
    trace: &Trace,
    config: &SimConfig,
    policy: &mut dyn Autoscaler,
    progress: &mut dyn FnMut(usize),
) -> Outcome {
    let mut rng = SplitMix64::new(config.seed);
    let sigma = 0.5f64;
    let mu = config.processing_mean_s.ln() - sigma * sigma / 2.0;
    let mut queue: VecDeque<Message> = VecDeque::new();
    let mut instances: Vec<Instance> =
        (0..config.initial).map(|_| Instance { ready_at: 0.0, free_at: 0.0, retiring: false }).collect();
    let mut desired = config.initial;
    let mut latencies = Vec::new();
    let mut published: Vec<Minute> = Vec::new();
    let mut minutes: Vec<Minute> = Vec::new();
    let mut series = Series::default();
    let (mut actions, mut direction_changes, mut last_direction) = (0usize, 0usize, 0i8);
    let (mut changes_outside_wake, mut last_direction_awake) = (0usize, 0i8);
    let mut instance_seconds = 0.0;
    let mut violations = 0usize;

    for minute in 0..trace.minutes() {
        let rate_per_s = trace.per_minute(minute) / 60.0;
        let mut current = Minute::default();
        let mut worst_age: f64 = 0.0;
        for second in 0..60u64 {
            let now = (minute as u64 * 60 + second) as f64;
            let end = now + 1.0;

            // CloudWatch publishes each minute `cloudwatch_lag_s` after it ends.
            while published.len() < minutes.len()
                && (published.len() as u64 + 1) * 60 + config.cloudwatch_lag_s <= now as u64
            {
                published.push(minutes[published.len()]);
            }

            let tick = policy.interval_s().max(1);
            if (now as u64).is_multiple_of(tick) {
                let in_service = instances.iter().filter(|i| i.ready_at <= now && !i.retiring).count() as u32;
                let alive = instances.iter().filter(|i| !i.retiring).count() as u32;
                let observation = Observation {
                    now_s: now as u64,
                    desired,
                    in_service,
                    pending: alive - in_service,
                    visible: queue.len() as u64,
                    in_flight: instances.iter().filter(|i| i.free_at > now).count() as u64,
                    cloudwatch: &published,
                };
                let new = policy.decide(&observation).clamp(config.min, config.max);
                if new != desired {
                    actions += 1;
                    let direction = if new > desired { 1 } else { -1 };
                    if last_direction != 0 && direction != last_direction {
                        direction_changes += 1;
                    }
                    last_direction = direction;
                    if new == 0 || desired == 0 {
                        last_direction_awake = 0;
                    } else {
                        if last_direction_awake != 0 && direction != last_direction_awake {
                            changes_outside_wake += 1;
                        }
                        last_direction_awake = direction;
                    }
                    resize(&mut instances, new, now, config.boot_delay_s);
                    desired = new;
                }
            }

            // Arrivals, spread over the second.
            let count = poisson(&mut rng, rate_per_s);
            current.sent += count as f64;
            let mut arrivals: Vec<f64> = (0..count).map(|_| now + rng.unit()).collect();
            arrivals.sort_by(f64::total_cmp);
            for arrival in arrivals {
                let service = (mu + sigma * normal(&mut rng)).exp();
                queue.push_back(Message { arrival, service });
            }

            // Processing, first in first out, each instance one message at a time.
            for instance in instances.iter_mut().filter(|i| !i.retiring && i.ready_at < end) {
                while instance.free_at < end {
                    let Some(&next) = queue.front() else { break };
                    let start = instance.free_at.max(next.arrival).max(instance.ready_at);
                    if start >= end {
                        break;
                    }
                    queue.pop_front();
                    instance.free_at = start + next.service;
                    latencies.push(instance.free_at - next.arrival);
                }
            }
            instances.retain(|i| !(i.retiring && i.free_at <= end));

            instance_seconds += instances.len() as f64;
            let age = queue.front().map_or(0.0, |m| end - m.arrival);
            worst_age = worst_age.max(age);
            current.visible_avg += queue.len() as f64 / 60.0;
            current.in_service_avg +=
                instances.iter().filter(|i| i.ready_at <= now && !i.retiring).count() as f64 / 60.0;
        }
        if worst_age > config.slo_age_s {
            violations += 1;
        }
        series.arrivals.push(current.sent);
        series.backlog.push(queue.len() as f64);
        series.instances.push(instances.len() as f64);
        series.oldest_age_s.push(worst_age);
        minutes.push(current);
        progress(minute + 1);
    }

    latencies.sort_by(f64::total_cmp);
    let p99 = latencies.get(((latencies.len() as f64 - 1.0) * 0.99).max(0.0) as usize).copied().unwrap_or(0.0);
    Outcome {
        policy: policy.name(),
        slo_violation_minutes: violations,
        p99_latency_s: p99,
        instance_minutes: instance_seconds / 60.0,
        scaling_actions: actions,
        direction_changes,
        direction_changes_outside_wake: changes_outside_wake,
        minutes: trace.minutes(),
        processed: latencies.len(),
        left_waiting: queue.len(),
        series,
    }
}

/// Grow with booting instances, or shrink: booting ones first, then idle, then busy ones retire.
pub(crate) fn resize(instances: &mut Vec<Instance>, desired: u32, now: f64, boot_delay_s: f64) {
    let alive = instances.iter().filter(|i| !i.retiring).count();
    let desired = desired as usize;
    if desired > alive {
        instances.extend((alive..desired).map(|_| Instance {
            ready_at: now + boot_delay_s,
            free_at: 0.0,
            retiring: false,
        }));
        return;
    }
    let mut excess = alive - desired;
    // Booting first (newest first), then idle, then busy (which finish their message first).
    let mut order: Vec<usize> = (0..instances.len()).filter(|&i| !instances[i].retiring).collect();
    order.sort_by(|&a, &b| {
        let rank = |i: &Instance| {
            if i.ready_at > now {
                0
            } else if i.free_at <= now {
                1
            } else {
                2
            }
        };
        rank(&instances[a]).cmp(&rank(&instances[b])).then(instances[b].ready_at.total_cmp(&instances[a].ready_at))
    });
    let mut remove = Vec::new();
    for i in order {
        if excess == 0 {
            break;
        }
        if instances[i].ready_at > now || instances[i].free_at <= now {
            remove.push(i);
        } else {
            instances[i].retiring = true;
        }
        excess -= 1;
    }
    remove.sort_unstable_by(|a, b| b.cmp(a));
    for i in remove {
        instances.swap_remove(i);
    }
}

/// Poisson-distributed count with mean `lambda` (Knuth for small means, normal beyond).
pub(crate) fn poisson(rng: &mut SplitMix64, lambda: f64) -> usize {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 30.0 {
        return (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as usize;
    }
    let limit = (-lambda).exp();
    let mut product = rng.unit();
    let mut k = 0;
    while product > limit {
        product *= rng.unit();
        k += 1;
    }
    k
}

/// Standard normal (Box–Muller).
pub(crate) fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.unit().max(f64::MIN_POSITIVE);
    let u2 = rng.unit();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u32);
    impl Autoscaler for Fixed {
        fn name(&self) -> &'static str {
            "fixed"
        }
        fn interval_s(&self) -> u64 {
            60
        }
        fn decide(&mut self, _: &Observation<'_>) -> u32 {
            self.0
        }
    }

    #[test]
    fn every_message_is_processed_or_still_waiting() {
        let trace = Trace::Constant { per_minute: 300.0, minutes: 30 };
        let out = simulate(&trace, &SimConfig::default(), &mut Fixed(12), &mut |_| {});
        let sent: f64 = out.series.arrivals.iter().sum();
        let in_service_at_end = out.series.instances.last().copied().unwrap_or(0.0);
        assert!(in_service_at_end >= 12.0);
        // Messages are conserved: processed (started) + waiting = sent.
        assert_eq!(out.processed + out.left_waiting, sent as usize);
    }

    #[test]
    fn enough_capacity_keeps_the_slo_and_too_little_breaks_it() {
        // 300/min at 2 s each needs 10 instances busy.
        let trace = Trace::Constant { per_minute: 300.0, minutes: 30 };
        let config = SimConfig { initial: 14, ..Default::default() };
        let ample = simulate(&trace, &config, &mut Fixed(14), &mut |_| {});
        assert_eq!(ample.slo_violation_minutes, 0);
        let config = SimConfig { initial: 6, ..Default::default() };
        let short = simulate(&trace, &config, &mut Fixed(6), &mut |_| {});
        assert!(short.slo_violation_minutes > 10, "{}", short.slo_violation_minutes);
    }

    #[test]
    fn instance_minutes_count_what_runs() {
        let trace = Trace::Constant { per_minute: 0.0, minutes: 10 };
        let config = SimConfig { initial: 3, ..Default::default() };
        let out = simulate(&trace, &config, &mut Fixed(3), &mut |_| {});
        assert!((out.instance_minutes - 30.0).abs() < 1e-9);
    }

    #[test]
    fn the_same_seed_gives_the_same_run() {
        let trace = Trace::parse("spike").unwrap();
        let a = simulate(&trace, &SimConfig::default(), &mut Fixed(20), &mut |_| {});
        let b = simulate(&trace, &SimConfig::default(), &mut Fixed(20), &mut |_| {});
        assert_eq!(a.series.backlog, b.series.backlog);
    }
}
