//! Load that targets report to CloudWatch, read every few seconds and handed to the balancer.
//!
//! A router is many Lambda environments, each counting only its own in-flight requests. A target
//! that publishes its open connections (or any load number) as a CloudWatch metric gives every
//! environment the fleet-wide view, seconds late. The balancer scales that view to this
//! environment's share and fades it with age (`BalancerConfig::report_fade`); when the metric is
//! missing, stale or unreadable, least connections runs on local counts alone.

use std::time::Duration;

use switchyard_algorithms::Time;
use switchyard_aws::cloudwatch::{MetricQuery, Range};

use crate::config::LoadMetric;

/// GetMetricData takes at most 500 queries per call.
const QUERIES_PER_CALL: usize = 500;

/// Why the load could not be read (the router keeps using the last reports while they fade).
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct LoadError(#[from] switchyard_aws::Error);

/// Reports for the targets that have one, and when they were measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReports {
    pub loads: Vec<(String, u32)>,
    /// The end of the oldest period used: the reports are at least this old.
    pub taken_at: Time,
}

/// Reads the configured metric for a set of target ids.
#[derive(Debug, Clone)]
pub struct LoadReader {
    pub aws: switchyard_aws::Client,
    pub metric: LoadMetric,
}

impl LoadReader {
    /// The latest value per target within the last few periods. Targets without a datapoint are
    /// left out (no report is not zero load).
    pub async fn read(&self, target_ids: &[String], now: Time) -> Result<Option<LoadReports>, LoadError> {
        let period = Duration::from_secs(u64::from(self.metric.period_secs));
        // Three periods back (at least a minute): late datapoints still count, old ones fade anyway.
        let window = (period * 3).max(Duration::from_secs(60));
        let start = Time::from_millis(now.as_millis().saturating_sub(window.as_millis() as u64));
        let mut latest: Vec<(String, Time, f64)> = Vec::new();
        // The period still running counts too: its partial average is the freshest number
        // (LocalStack, like AWS, leaves out points at or after EndTime).
        let range = Range {
            start_ms: start.as_millis(),
            end_ms: now.as_millis() + period.as_millis() as u64,
            newest_first: true,
        };
        for (chunk_index, chunk) in target_ids.chunks(QUERIES_PER_CALL).enumerate() {
            let queries: Vec<MetricQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, id)| MetricQuery {
                    id: format!("t{}", chunk_index * QUERIES_PER_CALL + i),
                    namespace: self.metric.namespace.clone(),
                    metric_name: self.metric.metric.clone(),
                    dimensions: vec![(self.metric.dimension.clone(), id.clone())],
                    period_secs: self.metric.period_secs,
                    stat: "Average".into(),
                })
                .collect();
            for result in self.aws.get_metric_data(&queries, range).await? {
                let Some(id) = result.id.strip_prefix('t').and_then(|n| n.parse::<usize>().ok()) else {
                    continue;
                };
                let Some(target) = target_ids.get(id) else { continue };
                for (at, value) in result.timestamps_ms.iter().zip(&result.values) {
                    latest.push((target.clone(), Time::from_millis(*at), *value));
                }
            }
        }
        Ok(newest_per_target(latest, period, now))
    }
}

/// The newest sane datapoint per target. A value that is not a finite, non-negative number is
/// dropped (a broken publisher must not steer traffic), and so is a point from the future.
pub fn newest_per_target(points: Vec<(String, Time, f64)>, period: Duration, now: Time) -> Option<LoadReports> {
    let mut newest: std::collections::BTreeMap<String, (Time, f64)> = std::collections::BTreeMap::new();
    for (id, at, value) in points {
        if !value.is_finite() || value < 0.0 || at > now {
            continue;
        }
        match newest.get(&id) {
            Some((seen, _)) if *seen >= at => {}
            _ => {
                newest.insert(id, (at, value));
            }
        }
    }
    let oldest_start = newest.values().map(|(at, _)| *at).min()?;
    // A datapoint is stamped with its period's start; it describes the load up to the period's end.
    let taken_at = Time::from_millis((oldest_start.as_millis() + period.as_millis() as u64).min(now.as_millis()));
    let loads =
        newest.into_iter().map(|(id, (_, value))| (id, value.round().min(f64::from(u32::MAX)) as u32)).collect();
    Some(LoadReports { loads, taken_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Time {
        Time::from_millis(s * 1000)
    }

    #[test]
    fn the_newest_point_per_target_wins_and_the_oldest_sets_the_age() {
        let points = vec![
            ("a".into(), at(100), 7.0),
            ("a".into(), at(110), 3.4),
            ("b".into(), at(90), 12.6),
            ("b".into(), at(80), 1.0),
        ];
        let reports = newest_per_target(points, Duration::from_secs(10), at(125)).unwrap();
        assert_eq!(reports.loads, vec![("a".into(), 3), ("b".into(), 13)]);
        assert_eq!(reports.taken_at, at(100), "b's newest point (90) covers up to 100");
    }

    #[test]
    fn broken_values_and_future_points_are_dropped_and_nothing_is_none() {
        let points = vec![
            ("a".into(), at(100), f64::NAN),
            ("b".into(), at(100), -1.0),
            ("c".into(), at(100), f64::INFINITY),
            ("d".into(), at(200), 5.0),
        ];
        assert_eq!(newest_per_target(points, Duration::from_secs(10), at(150)), None);
        assert_eq!(newest_per_target(Vec::new(), Duration::from_secs(10), at(150)), None);
        let huge = newest_per_target(vec![("a".into(), at(100), 1e12)], Duration::from_secs(10), at(105)).unwrap();
        assert_eq!((huge.loads[0].1, huge.taken_at), (u32::MAX, at(105)), "clamped, and never after now");
    }
}
