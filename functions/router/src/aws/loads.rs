//! Load that targets report to CloudWatch, read every few seconds and handed to the balancer.
//!
//! A router is many Lambda environments, each counting only its own in-flight requests. A target
//! that publishes its open connections (or any load number) as a CloudWatch metric gives every
//! environment the fleet-wide view, seconds late. The balancer scales that view to this
//! environment's share and fades it with age (`BalancerConfig::report_fade`); when the metric is
//! missing, stale or unreadable, least connections runs on local counts alone.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use switchyard_algorithms::Time;

use super::{BoxFuture, CloudError, LoadSource};
use crate::config::LoadMetric;

/// GetMetricData takes at most 500 queries per call.
const QUERIES_PER_CALL: usize = 500;

/// Reports for the targets that have one, and when they were measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReports {
    pub loads: Vec<(String, u32)>,
    /// The end of the oldest period used: the reports are at least this old.
    pub taken_at: Time,
}

/// The configured metric, per target, through GetMetricData.
#[derive(Debug, Clone)]
pub struct CloudWatchLoads {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub metric: LoadMetric,
}

impl LoadSource for CloudWatchLoads {
    fn read<'a>(
        &'a self,
        target_ids: &'a [String],
        now: Time,
    ) -> BoxFuture<'a, Result<Option<LoadReports>, CloudError>> {
        Box::pin(self.latest(target_ids, now))
    }
}

fn datetime(t: Time) -> DateTime {
    DateTime::from_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

impl CloudWatchLoads {
    /// The latest value per target within the last few periods. Targets without a datapoint are
    /// left out (no report is not zero load).
    async fn latest(&self, target_ids: &[String], now: Time) -> Result<Option<LoadReports>, CloudError> {
        let period = Duration::from_secs(u64::from(self.metric.period_secs));
        // Three periods back (at least a minute): late datapoints still count, old ones fade anyway.
        let window = (period * 3).max(Duration::from_secs(60));
        let start = Time::from_millis(now.as_millis().saturating_sub(window.as_millis() as u64));
        // The period still running counts too: its partial average is the freshest number
        // (CloudWatch leaves out points at or after EndTime).
        let end = Time::from_millis(now.as_millis() + period.as_millis() as u64);
        let mut points: Vec<(String, Time, f64)> = Vec::new();
        for chunk in target_ids.chunks(QUERIES_PER_CALL) {
            // Query ids must start with a lower-case letter; the index maps results back.
            let by_id: HashMap<String, &String> =
                chunk.iter().enumerate().map(|(i, target)| (format!("t{i}"), target)).collect();
            let queries: Vec<MetricDataQuery> = chunk
                .iter()
                .enumerate()
                .map(|(i, target)| {
                    let metric = Metric::builder()
                        .namespace(&self.metric.namespace)
                        .metric_name(&self.metric.metric)
                        .dimensions(Dimension::builder().name(&self.metric.dimension).value(target).build())
                        .build();
                    let stat = MetricStat::builder()
                        .metric(metric)
                        .period(i32::try_from(self.metric.period_secs).unwrap_or(60))
                        .stat("Average")
                        .build();
                    MetricDataQuery::builder().id(format!("t{i}")).metric_stat(stat).return_data(true).build()
                })
                .collect();
            let mut pages = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries))
                .start_time(datetime(start))
                .end_time(datetime(end))
                .scan_by(ScanBy::TimestampDescending)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(CloudError::from_sdk("GetMetricData"))?;
                for result in page.metric_data_results() {
                    let Some(target) = result.id().and_then(|id| by_id.get(id)) else { continue };
                    for (at, value) in result.timestamps().iter().zip(result.values()) {
                        let at =
                            Time::from_millis(at.to_millis().ok().and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0));
                        points.push(((*target).clone(), at, *value));
                    }
                }
            }
        }
        Ok(newest_per_target(points, period, now))
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
