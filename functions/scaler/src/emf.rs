//! CloudWatch Embedded Metric Format: one log line per fleet per tick that CloudWatch Logs turns
//! into metrics (no PutMetricData call, no extra latency). Spec:
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use serde_json::Value;
use switchyard_metrics::dimension::FLEET;
use switchyard_metrics::emf::{Line, Unit};
use switchyard_metrics::scaler::{
    AGE_OF_OLDEST_MESSAGE, BACKLOG_PER_INSTANCE, DESIRED, FLEET_FAILURES, IN_SERVICE, RECOMMENDATION,
};

use crate::tick::{FleetFailure, FleetReport};

/// The EMF line for one fleet's decision.
pub fn decision(namespace: &str, at_ms: u64, report: &FleetReport) -> Value {
    let mut line = Line::new(namespace, at_ms)
        .dimension_set(&[FLEET])
        .dimension(FLEET, report.fleet.clone())
        .metric(RECOMMENDATION, Unit::Count, report.recommendation)
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
