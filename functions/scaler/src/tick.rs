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
    Activity, AgeSource, FleetState, HistoryEntry, QueueState, Reason, Recommendation, latest_sample,
};
use switchyard_algorithms::scaling::{Decision, MetricSample};

use crate::cloud::{
    Cloud, CloudError, DESIRED, Group, HistoryPoint, LAST_ACTIVE, MetricQuery, QueueDepth, RECOMMENDATION, Series,
    WORKER_BUSY,
};
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
    let lookback = lookback(&config.tuning);
    let series = match cloud.metric_data(&queries, now - lookback, now + Duration::from_secs(1)).await {
        Ok(series) => series,
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

    for mut d in decided {
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

fn id(index: usize, what: &str) -> String {
    format!("f{index}_{what}")
}

/// Every series the tick needs, in one list.
fn queries(config: &Config) -> Vec<MetricQuery> {
    let tuning = &config.tuning;
    let period = u32::try_from(tuning.history_period.as_secs()).unwrap_or(60).max(1);
    let mut out = Vec::new();
    for (i, fleet) in config.fleets.iter().enumerate() {
        for (j, (m, _)) in fleet.metrics.iter().enumerate() {
            out.push(MetricQuery {
                id: id(i, &format!("m{j}")),
                namespace: m.namespace.clone(),
                name: m.name.clone(),
                dimensions: m.dimensions.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                statistic: m.statistic.clone(),
                period: m.period,
            });
        }
        if let Some(q) = &fleet.queue {
            let sqs = |what: &str, name: &str, statistic: &str| MetricQuery {
                id: id(i, what),
                namespace: "AWS/SQS".into(),
                name: name.into(),
                dimensions: vec![("QueueName".into(), q.name.clone())],
                statistic: statistic.into(),
                period: 60,
            };
            out.push(sqs("sent", "NumberOfMessagesSent", "Sum"));
            out.push(sqs("age", "ApproximateAgeOfOldestMessage", "Maximum"));
            // Busy time the fleet's workers report (switchyard-worker): activity the queue's
            // depth misses when jobs are quick and ticks are a minute apart.
            out.push(MetricQuery {
                id: id(i, "work"),
                namespace: tuning.namespace.clone(),
                name: WORKER_BUSY.into(),
                dimensions: vec![("Fleet".into(), fleet.name.clone())],
                statistic: "Sum".into(),
                period,
            });
        }
        for (what, name, statistic) in
            [("rec", RECOMMENDATION, "Maximum"), ("des", DESIRED, "Minimum"), ("act", LAST_ACTIVE, "Maximum")]
        {
            out.push(MetricQuery {
                id: id(i, what),
                namespace: tuning.namespace.clone(),
                name: name.into(),
                dimensions: vec![("Fleet".into(), fleet.name.clone())],
                statistic: statistic.into(),
                period,
            });
        }
    }
    out
}

/// How far back the history must reach: the longest of the windows that read it.
fn lookback(tuning: &Tuning) -> Duration {
    let s = &tuning.stabilizer;
    let longest = s.scale_down_window.max(s.scale_up.period).max(s.scale_to_zero_after.unwrap_or_default());
    longest.max(tuning.metric_max_age) + tuning.history_period
}

fn samples(series: &HashMap<String, Series>, id: &str) -> Vec<MetricSample> {
    series.get(id).map(|s| s.iter().map(|&(at, value)| MetricSample { at, value }).collect()).unwrap_or_default()
}

/// The stabilization history: recommendation and desired capacity per recorded tick.
fn history(series: &HashMap<String, Series>, index: usize) -> Vec<HistoryEntry> {
    let desired: HashMap<Time, f64> =
        series.get(&id(index, "des")).map(|s| s.iter().copied().collect()).unwrap_or_default();
    series
        .get(&id(index, "rec"))
        .map(|recs| {
            recs.iter()
                .filter_map(|(at, rec)| {
                    let desired = desired.get(at)?;
                    Some(HistoryEntry { at: *at, recommendation: *rec as u32, desired: *desired as u32 })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// When the fleet was last active: the newer of what the last tick recorded and the end of the
/// newest period in which its workers reported busy time. `None` without either in the lookback
/// (the stabilizer then starts the idle clock now: unknown is not idle).
fn last_active(series: &HashMap<String, Series>, index: usize, period: Duration, now: Time) -> Option<Time> {
    let recorded = series
        .get(&id(index, "act"))
        .and_then(|s| s.last())
        .filter(|(_, epoch_seconds)| epoch_seconds.is_finite() && *epoch_seconds >= 0.0)
        .map(|(_, epoch_seconds)| Time::from_secs(*epoch_seconds as u64));
    let reported = series
        .get(&id(index, "work"))
        .and_then(|s| s.iter().rev().find(|(_, busy)| busy.is_finite() && *busy > 0.0))
        .map(|(at, _)| Time::from_millis((at.as_millis() + period.as_millis() as u64).min(now.as_millis())));
    recorded.max(reported)
}

fn decide(
    fleet: &Fleet,
    index: usize,
    group: &Group,
    depth: Option<QueueDepth>,
    series: &HashMap<String, Series>,
    tuning: &Tuning,
    now: Time,
) -> Result<Decided, String> {
    let bounds = fleet.bounds(group.min, group.max).ok_or_else(|| {
        format!(
            "the fleet's limits [{:?}, {:?}] do not overlap the group's [{}, {}]",
            fleet.min, fleet.max, group.min, group.max
        )
    })?;
    let max_age = tuning.metric_max_age;
    let mut recommendations: Vec<Recommendation> = Vec::new();
    for (j, (_, tracking)) in fleet.metrics.iter().enumerate() {
        let value = latest_sample(&samples(series, &id(index, &format!("m{j}"))), now, max_age);
        recommendations.push(tracking.recommend(group.in_service, value));
    }
    let mut queue_report = None;
    if let (Some(q), Some(depth)) = (&fleet.queue, depth) {
        let sent = latest_sample(&samples(series, &id(index, "sent")), now, max_age);
        let age = latest_sample(&samples(series, &id(index, "age")), now, max_age);
        let state = QueueState {
            visible: depth.visible,
            in_flight: depth.in_flight,
            delayed: depth.delayed,
            oldest_age: age.filter(|a| a.is_finite() && *a >= 0.0).map(Duration::from_secs_f64),
            arrival_rate: sent.map(|s| s / 60.0),
        };
        recommendations.extend(q.backlog.map(|b| b.recommend(Some(&state))));
        let slo = q.slo.map(|s| s.recommend(Some(&state)));
        let (age_of_oldest_s, age_source) = match slo.as_ref().map(|r| &r.reason) {
            Some(Reason::LatencySlo { age: Some((age, source)), .. }) => (
                Some(age.as_secs_f64()),
                Some(match source {
                    AgeSource::Reported => "reported",
                    AgeSource::Estimated => "estimated",
                }),
            ),
            _ => (state.oldest_age.map(|a| a.as_secs_f64()), state.oldest_age.map(|_| "reported")),
        };
        recommendations.extend(slo);
        let capacity = (group.in_service + group.pending).max(1);
        queue_report = Some(QueueReport {
            visible: depth.visible,
            in_flight: depth.in_flight,
            delayed: depth.delayed,
            backlog_per_instance: depth.visible as f64 / f64::from(capacity),
            arrival_rate_per_s: state.arrival_rate,
            age_of_oldest_s,
            age_source,
        });
    }
    let recommendation = Recommendation::combine(recommendations, group.desired)
        .ok_or_else(|| "no signal gave a recommendation".to_owned())?;

    let active_now = match (fleet.role, depth) {
        (Role::Consumer, Some(d)) => d.visible + d.in_flight + d.delayed > 0,
        // A web fleet is never idled to zero by the scaler: with min 0 it follows its metrics.
        _ => true,
    };
    let activity = Activity {
        waiting: depth.map_or(0, |d| d.visible),
        active_now,
        last_active: last_active(series, index, tuning.history_period, now),
    };
    let state = FleetState { desired: group.desired, in_service: group.in_service, pending: group.pending, bounds };
    let decision: Decision = tuning.stabilizer.decide(&state, &recommendation, &history(series, index), activity, now);
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
            recommendation: recommendation.replicas,
            desired: decision.desired,
            min: bounds.min(),
            max: bounds.max(),
            acted: false,
            reason: recommendation.reason.to_string(),
            steps: decision.steps.iter().map(|s| s.to_string()).collect(),
            in_service: group.in_service,
            pending: group.pending,
            queue: queue_report,
        },
    })
}
