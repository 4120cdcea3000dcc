//! CloudWatch Embedded Metric Format: one log line per fleet per tick that CloudWatch Logs turns
//! into metrics (no PutMetricData call, no extra latency). Spec:
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use serde_json::Value;
use switchyard_metrics::dimension::FLEET;
use switchyard_metrics::emf::{Line, Unit};
use switchyard_metrics::scaler::{AGE_OF_OLDEST_MESSAGE, BACKLOG_PER_INSTANCE, DESIRED, FLEET_FAILURES, IN_SERVICE};

use crate::tick::{FleetFailure, FleetReport};

/// The EMF line for one fleet's decision. No metric of the history
/// ([`crate::cloud::history_metrics`]): the recommendation is there, written once per tick, before
/// the resize and never by a dry run; the same series here would count each value twice and let a
/// dry run feed the stabilization window.
pub fn decision(namespace: &str, at_ms: u64, report: &FleetReport) -> Value {
    let mut line = Line::new(namespace, at_ms)
        .dimension_set(&[FLEET])
        .dimension(FLEET, report.fleet.clone())
        .metric(DESIRED, Unit::Count, report.desired)
        .metric(IN_SERVICE, Unit::Count, report.in_service);
    if let Some(q) = &report.queue {
        line = line.metric(BACKLOG_PER_INSTANCE, Unit::Count, q.backlog_per_instance);
        if let Some(age) = q.age_of_oldest_s {
            line = line.metric(AGE_OF_OLDEST_MESSAGE, Unit::Seconds, age);
        }
    }
    line.build()
}

/// The EMF line counting one fleet's failure (the template's "scaler errors" alarm reads it).
pub fn failure(namespace: &str, at_ms: u64, failure: &FleetFailure) -> Value {
    Line::new(namespace, at_ms)
        .dimension_set(&[FLEET])
        .dimension_set(&[])
        .dimension(FLEET, failure.fleet.clone())
        .metric(FLEET_FAILURES, Unit::Count, 1)
        .build()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;

    use switchyard_algorithms::Time;
    use switchyard_metrics::scaler::RECOMMENDATION;

    use super::*;
    use crate::cloud::{HistoryPoint, history_metrics};
    use crate::config::Role;
    use crate::tick::QueueReport;

    /// A consumer fleet's decision with every optional metric present.
    fn report() -> FleetReport {
        FleetReport {
            fleet: "workers".into(),
            group: "workers-asg".into(),
            role: Role::Consumer,
            current: 3,
            recommendation: 5,
            desired: 5,
            min: 0,
            max: 10,
            acted: true,
            reason: "backlog".into(),
            steps: Vec::new(),
            in_service: 3,
            pending: 0,
            queue: Some(QueueReport {
                visible: 300,
                in_flight: 3,
                delayed: 0,
                backlog_per_instance: 100.0,
                arrival_rate_per_s: Some(1.0),
                age_of_oldest_s: Some(40.0),
                age_source: Some("estimated"),
            }),
            unprotected: Vec::new(),
        }
    }

    fn metric_names(line: &Value) -> BTreeSet<String> {
        line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn every_series_of_a_tick_has_one_writer() {
        let point = HistoryPoint {
            fleet: "workers".into(),
            at: Time::from_secs(1_700_000_000),
            recommendation: 5,
            desired: 5,
            last_active: Time::from_secs(1_700_000_000),
        };
        let history: BTreeSet<String> = history_metrics(&point).iter().map(|(name, _)| (*name).to_owned()).collect();
        assert!(history.contains(RECOMMENDATION), "the next ticks read the recommendation back: {history:?}");
        for line in [
            decision("Switchyard", 0, &report()),
            failure("Switchyard", 0, &FleetFailure { fleet: "workers".into(), error: "injected".into() }),
        ] {
            let both: Vec<_> = metric_names(&line).intersection(&history).cloned().collect();
            assert!(both.is_empty(), "written by the history and the decision log: {both:?}");
        }
    }
}
