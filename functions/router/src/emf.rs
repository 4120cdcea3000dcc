//! The router's numbers as CloudWatch Embedded Metric Format: per target, how many attempts it
//! got (picks), how many of those were retries, how many failed, and the upstream latency.
//!
//! A line per request would cost more in log ingestion than the router costs to run, so counts
//! are kept per environment and flushed every interval as one line per target. Latency goes out
//! as up to [`LATENCY_SAMPLES`] values per line (EMF's limit for a value array), a uniform sample
//! of the interval's requests (reservoir sampling), so CloudWatch's percentiles stay unbiased.
//! Counts of an environment that is frozen and never thawed again are lost (at most one
//! interval); the dashboard is for shape, not for billing.
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use switchyard_algorithms::Time;
use switchyard_metrics::dimension::{GROUP, TARGET};
use switchyard_metrics::emf::{Line, MAX_VALUES, Unit};
use switchyard_metrics::router::{
    ERRORS, JOBS_QUEUED, JOBS_REFUSED, NO_TARGET, PICKS, REQUESTS, RETRIES, ROUTES_REJECTED, UPSTREAM_LATENCY,
    WAKE_HOLD_TIME, WAKES,
};

/// EMF takes at most 100 values per metric in one line.
pub const LATENCY_SAMPLES: usize = MAX_VALUES;

/// How one attempt at a target went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// An answer below 500.
    Answered,
    /// A 5xx answer, a refused connection or a timeout.
    Failed,
}

#[derive(Debug, Default)]
struct TargetCounts {
    picks: u64,
    retries: u64,
    errors: u64,
    latency_seen: u64,
    latency_ms: Vec<f64>,
}

#[derive(Debug, Default)]
struct RouterCounts {
    no_target: u64,
    jobs_queued: u64,
    jobs_refused: u64,
    wakes: u64,
    /// Routing document versions refused (invalid, or naming what cannot be served).
    routes_rejected: u64,
    /// How long requests were held while their group woke, a sample of at most
    /// [`LATENCY_SAMPLES`] (the first ones: wakes are rare).
    wake_hold_ms: Vec<f64>,
}

#[derive(Debug)]
struct Window {
    targets: BTreeMap<String, TargetCounts>,
    router: RouterCounts,
}

/// Counts since the last flush.
#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    /// The Auto Scaling group the router serves, if any: its request counts also go out per
    /// `Group`, which is how the scaler sees a web fleet's traffic (to idle it to zero).
    group: Option<String>,
    interval: Duration,
    window: Mutex<Window>,
    /// When the current window ends (ms): read without the lock by every request, written only
    /// under it.
    due_at_ms: AtomicU64,
    /// Requests in the current window, counted without the lock.
    requests: AtomicU64,
}

impl Metrics {
    pub fn new(namespace: String, interval: Duration, now: Time) -> Self {
        Metrics {
            namespace,
            group: None,
            interval,
            window: Mutex::new(Window { targets: BTreeMap::new(), router: RouterCounts::default() }),
            due_at_ms: AtomicU64::new(due_at(now, interval)),
            requests: AtomicU64::new(0),
        }
    }

    /// Counts for `group`'s router: the request line also carries the `Group` dimension.
    pub fn for_group(mut self, group: Option<String>) -> Self {
        self.group = group;
        self
    }

    fn with<R>(&self, f: impl FnOnce(&mut Window) -> R) -> R {
        match self.window.lock() {
            Ok(mut w) => f(&mut w),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// One attempt at `target`; `latency` is `None` when no answer came (connect error, timeout).
    pub fn attempt(&self, target: &str, retry: bool, outcome: Attempt, latency: Option<Duration>, random: u64) {
        self.with(|w| {
            // Look up before inserting: the target's name is copied once per interval, not per attempt.
            if !w.targets.contains_key(target) {
                w.targets.insert(target.to_owned(), TargetCounts::default());
            }
            let Some(counts) = w.targets.get_mut(target) else { return };
            counts.picks += 1;
            counts.retries += u64::from(retry);
            counts.errors += u64::from(outcome == Attempt::Failed);
            if let Some(latency) = latency {
                counts.latency_seen += 1;
                let ms = latency.as_secs_f64() * 1000.0;
                if counts.latency_ms.len() < LATENCY_SAMPLES {
                    counts.latency_ms.push(ms);
                } else if let Some(slot) = counts.latency_ms.get_mut((random % counts.latency_seen) as usize) {
                    // Algorithm R: the k-th value replaces a random slot with probability 100/k.
                    *slot = ms;
                }
            }
        });
    }

    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn no_target(&self) {
        self.with(|w| w.router.no_target += 1);
    }

    /// This environment woke its group from zero.
    pub fn wake(&self) {
        self.with(|w| w.router.wakes += 1);
    }

    /// A request held while its group woke was served after `held`.
    pub fn served_after_wake(&self, held: Duration) {
        self.with(|w| {
            if w.router.wake_hold_ms.len() < LATENCY_SAMPLES {
                w.router.wake_hold_ms.push(held.as_secs_f64() * 1000.0);
            }
        });
    }

    /// A new routing document version was refused: the last good one keeps serving.
    pub fn routes_rejected(&self) {
        self.with(|w| w.router.routes_rejected += 1);
    }

    pub fn job(&self, queued: bool) {
        self.with(|w| if queued { w.router.jobs_queued += 1 } else { w.router.jobs_refused += 1 });
    }

    /// The EMF lines for the interval that has ended by `now`, if one has (or every count so far
    /// with `force`), and a fresh window.
    pub fn flush(&self, now: Time, force: bool) -> Vec<Value> {
        let due = || force || now.as_millis() >= self.due_at_ms.load(Ordering::Relaxed);
        if !due() {
            return Vec::new();
        }
        let (targets, router) = self.with(|w| {
            // Asked again under the lock: another request may have flushed this window meanwhile.
            if !due() {
                return (BTreeMap::new(), None);
            }
            self.due_at_ms.store(due_at(now, self.interval), Ordering::Relaxed);
            let requests = self.requests.swap(0, Ordering::Relaxed);
            (std::mem::take(&mut w.targets), Some((requests, std::mem::take(&mut w.router))))
        });
        let Some((requests, router)) = router else { return Vec::new() };
        let at = now.as_millis();
        let line = || Line::new(&self.namespace, at);
        let mut lines = Vec::with_capacity(targets.len() + 1);
        if router.routes_rejected > 0 {
            lines.push(line().dimension_set(&[]).metric(ROUTES_REJECTED, Unit::Count, router.routes_rejected).build());
        }
        if router.wakes > 0 || !router.wake_hold_ms.is_empty() {
            let mut wakes = line().dimension_set(&[]).metric(WAKES, Unit::Count, router.wakes);
            if !router.wake_hold_ms.is_empty() {
                wakes = wakes.metric(WAKE_HOLD_TIME, Unit::Milliseconds, router.wake_hold_ms);
            }
            lines.push(wakes.build());
        }
        if requests > 0 {
            // One line, two dimension sets: the totals, and the requests per group.
            let mut totals = line().dimension_set(&[]);
            if let Some(group) = &self.group {
                totals = totals.dimension_set(&[GROUP]).dimension(GROUP, group.clone());
            }
            lines.push(
                totals
                    .metric(REQUESTS, Unit::Count, requests)
                    .metric(NO_TARGET, Unit::Count, router.no_target)
                    .metric(JOBS_QUEUED, Unit::Count, router.jobs_queued)
                    .metric(JOBS_REFUSED, Unit::Count, router.jobs_refused)
                    .build(),
            );
        }
        for (target, counts) in targets {
            let mut per_target = line()
                .dimension_set(&[TARGET])
                .dimension(TARGET, target)
                .metric(PICKS, Unit::Count, counts.picks)
                .metric(RETRIES, Unit::Count, counts.retries)
                .metric(ERRORS, Unit::Count, counts.errors);
            if !counts.latency_ms.is_empty() {
                per_target = per_target.metric(UPSTREAM_LATENCY, Unit::Milliseconds, counts.latency_ms);
            }
            lines.push(per_target.build());
        }
        lines
    }
}

/// When a window started at `started` ends; never, for an interval of zero (flushed only when
/// forced).
fn due_at(started: Time, interval: Duration) -> u64 {
    if interval.is_zero() {
        return u64::MAX;
    }
    started.as_millis().saturating_add(u64::try_from(interval.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_group_routers_requests_also_go_out_per_group() {
        let m = Metrics::new("Switchyard".into(), Duration::from_secs(10), Time::ZERO).for_group(Some("web".into()));
        m.request();
        let lines = m.flush(Time::from_millis(10_000), false);
        assert_eq!(lines[0]["Group"], "web");
        assert_eq!(lines[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[], ["Group"]]));
    }

    #[test]
    fn counts_are_flushed_once_per_interval_as_one_line_per_target() {
        let m = Metrics::new("Switchyard".into(), Duration::from_secs(10), Time::ZERO);
        m.request();
        m.attempt("a", false, Attempt::Failed, None, 1);
        m.attempt("b", true, Attempt::Answered, Some(Duration::from_millis(12)), 2);
        assert!(m.flush(Time::from_millis(9_999), false).is_empty(), "the interval has not ended");
        let lines = m.flush(Time::from_millis(10_000), false);
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["Requests"], 1);
        assert_eq!((lines[1]["Target"].as_str(), lines[1]["Errors"].as_u64()), (Some("a"), Some(1)));
        assert!(lines[1].get("UpstreamLatency").is_none(), "no answer, no latency");
        assert_eq!(lines[2]["Retries"], 1);
        assert_eq!(lines[2]["UpstreamLatency"], json!([12.0]));
        assert_eq!(lines[2]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Target"]]));
        assert!(m.flush(Time::from_millis(30_000), false).is_empty(), "nothing counted since");
    }

    #[test]
    fn latency_is_a_bounded_uniform_sample() {
        let m = Metrics::new("N".into(), Duration::from_secs(1), Time::ZERO);
        let mut random = 0x9E37_79B9_7F4A_7C15_u64;
        for i in 0..10_000u64 {
            random = random.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            m.attempt("a", false, Attempt::Answered, Some(Duration::from_millis(i)), random >> 11);
        }
        let lines = m.flush(Time::from_millis(1_000), false);
        let samples: Vec<f64> =
            lines[0]["UpstreamLatency"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(samples.len(), LATENCY_SAMPLES);
        assert_eq!(lines[0]["Picks"], 10_000);
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        // A uniform sample of 0..10 000 ms has mean ≈ 5 000 (σ of the mean ≈ 290); keeping only the
        // first 100 would give 49.5.
        assert!((3_500.0..6_500.0).contains(&mean), "mean {mean}");
    }
}
