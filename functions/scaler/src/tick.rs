//! One scaler tick: read every fleet's signals in as few calls as possible, decide each fleet with
//! the algorithms crate, record the history, act, and report — one fleet's failure never stops
//! the others.
//!
//! Calls per tick: one DescribeAutoScalingGroups for all fleets, one GetQueueAttributes per queue,
//! one GetMetricData for every metric and every fleet's history, one PutMetricData for all
//! history, and one SetDesiredCapacity per fleet whose size changes.
//!
//! Order per fleet: the history point is written *before* SetDesiredCapacity. If the history
//! cannot be written the fleet is not resized (the next tick would not know this tick's
//! recommendation, and could scale in too early); if the resize fails, the report says so.

use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;
use switchyard_algorithms::Time;
use switchyard_algorithms::scaling::{
    self, AgeSource, FleetSignals, FleetState, HistoryEntry, MetricSample, PeriodSums, Stabilizer, decide_fleet,
};

use switchyard_metrics::{dimension, router, scaler, worker};

use crate::cloud::{Cloud, CloudError, Group, HistoryPoint, MetricQuery, QueueDepth, Series};
use crate::config::{Config, Fleet, Role, Tuning};

/// What one fleet's tick decided and did.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetReport {
    pub fleet: String,
    pub group: String,
    pub role: Role,
    pub current: u32,
    pub recommendation: u32,
    pub desired: u32,
    pub min: u32,
    pub max: u32,
    /// The size was changed with SetDesiredCapacity (never in a dry run).
    pub acted: bool,
    pub reason: String,
    pub steps: Vec<String>,
    pub in_service: u32,
    pub pending: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueReport>,
    /// Instances whose protection was taken off: their worker stopped reporting (killed, or its
    /// instance lost), so nothing it holds is being worked on and it must not pin the instance.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unprotected: Vec<String>,
}

/// The queue inputs of a consumer fleet's decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueueReport {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub backlog_per_instance: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arrival_rate_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_of_oldest_s: Option<f64>,
    /// `reported` (CloudWatch) or `estimated` (Little's law), when an age was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_source: Option<&'static str>,
}

/// A fleet that could not be decided or resized, and why.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FleetFailure {
    pub fleet: String,
    pub error: String,
}

/// The invocation's result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TickReport {
    pub dry_run: bool,
    pub at_ms: u64,
    pub fleets: Vec<FleetReport>,
    pub failed: Vec<FleetFailure>,
}

/// Run one tick at `now`.
pub async fn tick<C: Cloud>(cloud: &C, config: &Config, dry_run: bool, now: Time) -> TickReport {
    let bounded = Bounded { cloud, budget: Budget::start(config.tuning.tick_budget, config.tuning.call_timeout) };
    tick_within(&bounded, config, dry_run, now).await
}

/// The tick's time: every AWS call gets at most the call timeout and never more than what is left
/// of the tick's budget. A call cut short fails like any other (its fleet holds, and the report
/// says why); once the budget is spent, every later call fails at once.
#[derive(Debug, Clone, Copy)]
struct Budget {
    until: tokio::time::Instant,
    per_call: Duration,
}

impl Budget {
    fn start(budget: Duration, per_call: Duration) -> Self {
        Budget { until: tokio::time::Instant::now() + budget, per_call }
    }

    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl std::future::Future<Output = Result<T, CloudError>>,
    ) -> Result<T, CloudError> {
        let left = self.until.saturating_duration_since(tokio::time::Instant::now());
        let limit = left.min(self.per_call);
        match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) if limit < self.per_call => Err(CloudError {
                operation,
                message: "not called or not answered: the tick's time budget is spent".into(),
            }),
            Err(_) => Err(CloudError { operation, message: format!("no answer within {} s", limit.as_secs()) }),
        }
    }
}

/// A `Cloud` whose every call is bounded by the tick's [`Budget`].
struct Bounded<'a, C> {
    cloud: &'a C,
    budget: Budget,
}

impl<C: Cloud> Cloud for Bounded<'_, C> {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError> {
        self.budget.call("DescribeAutoScalingGroups", self.cloud.describe_groups(names)).await
    }
    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError> {
        self.budget.call("GetQueueAttributes", self.cloud.queue_depth(url)).await
    }
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: Time,
        end: Time,
    ) -> Result<HashMap<String, Series>, CloudError> {
        self.budget.call("GetMetricData", self.cloud.metric_data(queries, start, end)).await
    }
    async fn record_history(
        &self,
        namespace: &str,
        points: &[HistoryPoint],
        high_resolution: bool,
    ) -> Result<(), CloudError> {
        self.budget.call("PutMetricData", self.cloud.record_history(namespace, points, high_resolution)).await
    }
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        self.budget.call("SetDesiredCapacity", self.cloud.set_desired_capacity(group, desired)).await
    }
    async fn unprotect(&self, group: &str, instances: &[String]) -> Result<(), CloudError> {
        self.budget.call("SetInstanceProtection", self.cloud.unprotect(group, instances)).await
    }
}

async fn tick_within<C: Cloud>(cloud: &C, config: &Config, dry_run: bool, now: Time) -> TickReport {
    let mut report = TickReport { dry_run, at_ms: now.as_millis(), fleets: Vec::new(), failed: Vec::new() };
    let fail_all = |report: &mut TickReport, error: &CloudError| {
        report
            .failed
            .extend(config.fleets.iter().map(|f| FleetFailure { fleet: f.name.clone(), error: error.to_string() }));
    };

    let names: Vec<String> = config.fleets.iter().map(|f| f.group.clone()).collect();
    let groups = match cloud.describe_groups(&names).await {
        Ok(groups) => groups,
        Err(e) => {
            fail_all(&mut report, &e);
            return report;
        }
    };
    let queries = queries(config);
    let series = match read_series(cloud, config, &queries, now).await {
        Ok(series) => FleetSeries::from_results(&queries, series),
        Err(e) => {
            // Without the history the stabilization window is unknown: deciding would risk a
            // scale-in too early. Hold every fleet.
            fail_all(&mut report, &e);
            return report;
        }
    };

    let mut decided = Vec::new();
    for (index, fleet) in config.fleets.iter().enumerate() {
        let Some(group) = groups.iter().find(|g| g.name == fleet.group) else {
            report.failed.push(FleetFailure {
                fleet: fleet.name.clone(),
                error: format!("Auto Scaling group {} does not exist", fleet.group),
            });
            continue;
        };
        let depth = match &fleet.queue {
            Some(q) => match cloud.queue_depth(&q.url).await {
                Ok(depth) => Some(depth),
                Err(e) => {
                    report.failed.push(FleetFailure { fleet: fleet.name.clone(), error: e.to_string() });
                    continue;
                }
            },
            None => None,
        };
        match decide(fleet, index, group, depth, &series, &config.tuning, now) {
            Ok(d) => decided.push(d),
            Err(error) => report.failed.push(FleetFailure { fleet: fleet.name.clone(), error }),
        }
    }

    if !dry_run && !decided.is_empty() {
        let points: Vec<HistoryPoint> = decided.iter().map(|d| d.history.clone()).collect();
        let high_resolution = config.tuning.history_period < Duration::from_secs(60);
        if let Err(e) = cloud.record_history(&config.tuning.namespace, &points, high_resolution).await {
            for d in decided.drain(..) {
                report.failed.push(FleetFailure {
                    fleet: d.report.fleet,
                    error: format!("history not recorded, so not resized: {e}"),
                });
            }
        }
    }

    let dead = dead_workers(cloud, config, &groups, now).await;
    for mut d in decided {
        if let Some(instances) = dead.get(&d.report.fleet).filter(|i| !i.is_empty()) {
            if dry_run {
                d.report.unprotected.clone_from(instances);
            } else {
                match cloud.unprotect(&d.report.group, instances).await {
                    Ok(()) => d.report.unprotected.clone_from(instances),
                    Err(e) => {
                        tracing::warn!(fleet = d.report.fleet, error = %e, "protection of dead workers' instances not taken off")
                    }
                }
            }
        }
        if !dry_run && d.report.desired != d.report.current {
            match cloud.set_desired_capacity(&d.report.group, d.report.desired).await {
                Ok(()) => d.report.acted = true,
                Err(e) => {
                    report.failed.push(FleetFailure { fleet: d.report.fleet.clone(), error: e.to_string() });
                    continue;
                }
            }
        }
        report.fleets.push(d.report);
    }
    report
}

struct Decided {
    report: FleetReport,
    history: HistoryPoint,
}

/// Per consumer fleet, its protected instances whose worker stopped reporting: a `WorkerAlive`
/// datapoint within the look-back (so a worker ran there), none within the last
/// `worker_dead_after`. An instance protected by hand, with no worker ever, is left alone; so is a
/// worker that has just started and whose first report CloudWatch does not show yet. A failed
/// read takes nothing off (missing data means hold).
async fn dead_workers<C: Cloud>(
    cloud: &C,
    config: &Config,
    groups: &[Group],
    now: Time,
) -> HashMap<String, Vec<String>> {
    let mut out = HashMap::new();
    let Some(dead_after) = config.tuning.worker_dead_after else { return out };
    let period = u32::try_from(config.tuning.history_period.as_secs()).unwrap_or(60).max(1);
    let mut queries = Vec::new();
    let mut owners = Vec::new();
    for fleet in config.fleets.iter().filter(|f| f.role == Role::Consumer) {
        let Some(group) = groups.iter().find(|g| g.name == fleet.group) else { continue };
        for instance in &group.protected {
            owners.push((fleet.name.clone(), instance.clone()));
            queries.push(MetricQuery {
                id: format!("alive{}", queries.len()),
                namespace: config.tuning.namespace.clone(),
                name: worker::ALIVE.to_owned(),
                dimensions: vec![
                    (dimension::FLEET.to_owned(), fleet.name.clone()),
                    (dimension::INSTANCE_ID.to_owned(), instance.clone()),
                ],
                statistic: "Maximum".to_owned(),
                period,
            });
        }
    }
    if queries.is_empty() {
        return out;
    }
    let lookback = (dead_after * 10).min(Duration::from_secs(3600));
    let series = match cloud.metric_data(&queries, now - lookback, now + Duration::from_secs(1)).await {
        Ok(series) => series,
        Err(e) => {
            tracing::warn!(error = %e, "workers' liveness not read: no protection taken off");
            return out;
        }
    };
    for (query, (fleet, instance)) in queries.iter().zip(owners) {
        let newest = series.get(&query.id).and_then(|s| s.iter().map(|(at, _)| *at).max());
        let entry: &mut Vec<String> = out.entry(fleet).or_default();
        if let Some(newest) = newest
            && now.since(newest) >= dead_after
        {
            entry.push(instance);
        }
    }
    out
}

/// A series the tick reads for a fleet. Its GetMetricData id is rendered from it in one place
/// ([`SeriesKey::id`]), and results are mapped back through the queries, never parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// The fleet's n-th configured metric.
    Metric(usize),
    /// SQS `NumberOfMessagesSent`: arrivals.
    MessagesSent,
    /// SQS `ApproximateAgeOfOldestMessage`.
    AgeOfOldestMessage,
    /// Busy seconds the fleet's workers report (switchyard-worker).
    WorkerBusy,
    /// Requests the routers counted for the fleet's group (web fleets that idle to zero).
    Requests,
    /// The history the scaler records each tick.
    Recommendation,
    Desired,
    LastActive,
}

/// One fleet's series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    pub fleet: usize,
    pub signal: Signal,
}

impl SeriesKey {
    /// The GetMetricData id: a lowercase letter first, then letters, digits, underscores.
    pub fn id(self) -> String {
        let fleet = self.fleet;
        match self.signal {
            Signal::Metric(n) => format!("f{fleet}_m{n}"),
            Signal::MessagesSent => format!("f{fleet}_sent"),
            Signal::AgeOfOldestMessage => format!("f{fleet}_age"),
            Signal::WorkerBusy => format!("f{fleet}_work"),
            Signal::Requests => format!("f{fleet}_req"),
            Signal::Recommendation => format!("f{fleet}_rec"),
            Signal::Desired => format!("f{fleet}_des"),
            Signal::LastActive => format!("f{fleet}_act"),
        }
    }
}

/// A CloudWatch statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statistic {
    Sum,
    Minimum,
    Maximum,
    /// As a fleet's configuration names it (`Average`, `p99`, …), passed to CloudWatch as is.
    Configured(String),
}

impl Statistic {
    pub fn as_str(&self) -> &str {
        match self {
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
            Statistic::Configured(name) => name,
        }
    }
}

/// Every series the tick needs, in one list, each with its key.
fn queries(config: &Config) -> Vec<(SeriesKey, MetricQuery)> {
    let tuning = &config.tuning;
    let period = u32::try_from(tuning.history_period.as_secs()).unwrap_or(60).max(1);
    let mut out = Vec::new();
    for (fleet_index, fleet) in config.fleets.iter().enumerate() {
        let mut push = |signal: Signal, namespace: &str, name: &str, dimensions, statistic: Statistic, period| {
            let key = SeriesKey { fleet: fleet_index, signal };
            let query = MetricQuery {
                id: key.id(),
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                dimensions,
                statistic: statistic.as_str().to_owned(),
                period,
            };
            out.push((key, query));
        };
        for (n, (m, _)) in fleet.metrics.iter().enumerate() {
            let dimensions = m.dimensions.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            push(
                Signal::Metric(n),
                &m.namespace,
                &m.name,
                dimensions,
                Statistic::Configured(m.statistic.clone()),
                m.period,
            );
        }
        let by_fleet = || vec![(dimension::FLEET.to_owned(), fleet.name.clone())];
        if let Some(q) = &fleet.queue {
            let by_queue = || vec![("QueueName".to_owned(), q.name.clone())];
            push(Signal::MessagesSent, "AWS/SQS", "NumberOfMessagesSent", by_queue(), Statistic::Sum, SQS_PERIOD);
            push(
                Signal::AgeOfOldestMessage,
                "AWS/SQS",
                "ApproximateAgeOfOldestMessage",
                by_queue(),
                Statistic::Maximum,
                SQS_PERIOD,
            );
            // Busy time the fleet's workers report: activity the queue's depth misses when jobs
            // are quick and ticks are a minute apart.
            push(Signal::WorkerBusy, &tuning.namespace, worker::BUSY_SECONDS, by_fleet(), Statistic::Sum, period);
        }
        if fleet.idle_to_zero {
            // What the routers count for the group (their EMF `Requests` line, dimension `Group`).
            let by_group = vec![(dimension::GROUP.to_owned(), fleet.group.clone())];
            push(Signal::Requests, &tuning.namespace, router::REQUESTS, by_group, Statistic::Sum, period);
        }
        push(Signal::Recommendation, &tuning.namespace, scaler::RECOMMENDATION, by_fleet(), Statistic::Maximum, period);
        push(Signal::Desired, &tuning.namespace, scaler::DESIRED_CAPACITY, by_fleet(), Statistic::Minimum, period);
        push(Signal::LastActive, &tuning.namespace, scaler::LAST_ACTIVE, by_fleet(), Statistic::Maximum, period);
    }
    out
}

/// Every series in two GetMetricData reads: the arrivals (per minute) over the traffic window and
/// the desired sizes with their recommendations over the direction budget's window, the rest over
/// the window the stabilizer and the metrics need. One read over the longer window would fetch an
/// hour of every series at its own resolution (3 600 points a series at 1 s), for nothing: only
/// the arrival gaps and the direction changes look back that far.
async fn read_series<C: Cloud>(
    cloud: &C,
    config: &Config,
    queries: &[(SeriesKey, MetricQuery)],
    now: Time,
) -> Result<HashMap<String, Series>, CloudError> {
    let tuning = &config.tuning;
    let stabilizer = tuning.scaling.stabilizer;
    let budgeted = stabilizer.direction_budget.is_some();
    let (long, rest): (Vec<_>, Vec<_>) = queries.iter().partition(|(key, _)| match key.signal {
        Signal::MessagesSent => true,
        Signal::Recommendation | Signal::Desired => budgeted,
        _ => false,
    });
    // Without the budget's window: what the scale-down window, the rate limit and the idle time need.
    let recent =
        Stabilizer { direction_budget: None, ..stabilizer }.history_needed().max(tuning.scaling.metric_max_age)
            + tuning.history_period;
    let end = now + Duration::from_secs(1);
    let rest: Vec<MetricQuery> = rest.into_iter().map(|(_, q)| q.clone()).collect();
    let mut series = cloud.metric_data(&rest, now - recent, end).await?;
    // The arrivals are read over the whole traffic window; the history (for the direction budget)
    // at its own resolution, so at most HISTORY_PERIODS of it: all of the budget's hour at the
    // one-minute tick, a few minutes at the 1 s of the tests. Usually the two windows are one.
    let wanted = tuning.scaling.lookback().max(recent);
    let sqs_period = Duration::from_secs(u64::from(SQS_PERIOD));
    let arrivals_window = wanted + sqs_period;
    let history_window = wanted.min((tuning.history_period * HISTORY_PERIODS).max(recent)) + sqs_period;
    let (arrivals, history): (Vec<_>, Vec<_>) =
        long.into_iter().partition(|(key, _)| matches!(key.signal, Signal::MessagesSent));
    let mut reads = vec![(arrivals_window, arrivals), (history_window, history)];
    if arrivals_window == history_window {
        let history = reads.pop().map(|(_, h)| h).unwrap_or_default();
        reads[0].1.extend(history);
    }
    for (window, queries) in reads {
        if !queries.is_empty() {
            let queries: Vec<MetricQuery> = queries.into_iter().map(|(_, q)| q.clone()).collect();
            series.extend(cloud.metric_data(&queries, now - window, end).await?);
        }
    }
    Ok(series)
}

/// The most periods of the scaler's own history read in one tick (4 h at the one-minute tick).
const HISTORY_PERIODS: u32 = 240;

/// SQS publishes its metrics per minute.
const SQS_PERIOD: u32 = 60;

/// The series GetMetricData returned, by key.
#[derive(Debug, Default)]
struct FleetSeries(HashMap<SeriesKey, Vec<MetricSample>>);

impl FleetSeries {
    fn from_results(queries: &[(SeriesKey, MetricQuery)], mut results: HashMap<String, Series>) -> Self {
        let mut out = HashMap::new();
        for (key, query) in queries {
            if let Some(series) = results.remove(&query.id) {
                out.insert(*key, series.into_iter().map(|(at, value)| MetricSample { at, value }).collect());
            }
        }
        FleetSeries(out)
    }

    fn get(&self, fleet: usize, signal: Signal) -> &[MetricSample] {
        self.0.get(&SeriesKey { fleet, signal }).map_or(&[], Vec::as_slice)
    }

    /// The stabilization history: recommendation and desired capacity per recorded tick.
    fn history(&self, fleet: usize) -> Vec<HistoryEntry> {
        let desired: HashMap<Time, f64> = self.get(fleet, Signal::Desired).iter().map(|s| (s.at, s.value)).collect();
        self.get(fleet, Signal::Recommendation)
            .iter()
            .filter_map(|rec| {
                let desired = desired.get(&rec.at)?;
                Some(HistoryEntry { at: rec.at, recommendation: rec.value as u32, desired: *desired as u32 })
            })
            .collect()
    }

    /// When the last tick recorded the fleet active (epoch seconds as the value).
    fn last_active(&self, fleet: usize) -> Option<Time> {
        self.get(fleet, Signal::LastActive)
            .last()
            .filter(|s| s.value.is_finite() && s.value >= 0.0)
            .map(|s| Time::from_secs(s.value as u64))
    }
}

fn decide(
    fleet: &Fleet,
    index: usize,
    group: &Group,
    depth: Option<QueueDepth>,
    series: &FleetSeries,
    tuning: &Tuning,
    now: Time,
) -> Result<Decided, String> {
    let bounds = fleet.bounds(group.min, group.max).ok_or_else(|| {
        format!(
            "the fleet's limits [{:?}, {:?}] do not overlap the group's [{}, {}]",
            fleet.min, fleet.max, group.min, group.max
        )
    })?;
    let metrics: Vec<&[MetricSample]> =
        (0..fleet.metrics.len()).map(|n| series.get(index, Signal::Metric(n))).collect();
    let history = series.history(index);
    let signals = FleetSignals {
        fleet: FleetState { desired: group.desired, in_service: group.in_service, pending: group.pending, bounds },
        queue: depth.map(|d| scaling::QueueDepth { visible: d.visible, in_flight: d.in_flight, delayed: d.delayed }),
        metrics: &metrics,
        messages_sent: PeriodSums {
            period: Duration::from_secs(u64::from(SQS_PERIOD)),
            samples: series.get(index, Signal::MessagesSent),
        },
        age_of_oldest: series.get(index, Signal::AgeOfOldestMessage),
        worker_busy: PeriodSums { period: tuning.history_period, samples: series.get(index, Signal::WorkerBusy) },
        requests: PeriodSums { period: tuning.history_period, samples: series.get(index, Signal::Requests) },
        history: &history,
        last_active: series.last_active(index),
        now,
    };
    let decided = decide_fleet(&fleet.policy(), &signals, &tuning.scaling).map_err(|e| e.to_string())?;
    let decision = &decided.decision;
    let queue_report = decided.queue.map(|q| {
        let capacity = (group.in_service + group.pending).max(1);
        QueueReport {
            visible: q.depth.visible,
            in_flight: q.depth.in_flight,
            delayed: q.depth.delayed,
            backlog_per_instance: q.depth.visible as f64 / f64::from(capacity),
            arrival_rate_per_s: q.arrival_rate_per_s,
            age_of_oldest_s: q.age_of_oldest.map(|(age, _)| age.as_secs_f64()),
            age_source: q.age_of_oldest.map(|(_, source)| match source {
                AgeSource::Reported => "reported",
                AgeSource::Estimated => "estimated",
            }),
        }
    });
    Ok(Decided {
        history: HistoryPoint {
            fleet: fleet.name.clone(),
            at: now,
            recommendation: decision.record.recommendation,
            desired: decision.desired,
            last_active: decision.last_active,
        },
        report: FleetReport {
            fleet: fleet.name.clone(),
            group: group.name.clone(),
            role: fleet.role,
            current: decision.current,
            recommendation: decided.recommendation.replicas,
            desired: decision.desired,
            min: bounds.min(),
            max: bounds.max(),
            acted: false,
            reason: decided.recommendation.reason.to_string(),
            steps: decision.steps.iter().map(|s| s.to_string()).collect(),
            in_service: group.in_service,
            pending: group.pending,
            queue: queue_report,
            unprotected: Vec::new(),
        },
    })
}
