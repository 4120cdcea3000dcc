//! CloudWatch Embedded Metric Format: one log line per fleet per tick that CloudWatch Logs turns
//! into metrics (no PutMetricData call, no extra latency). Spec:
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use serde_json::{Value, json};
use switchyard_metrics::dimension::FLEET;
use switchyard_metrics::scaler::{
    AGE_OF_OLDEST_MESSAGE, BACKLOG_PER_INSTANCE, DESIRED, FLEET_FAILURES, IN_SERVICE, RECOMMENDATION,
};

use crate::tick::{FleetFailure, FleetReport};

/// The EMF line for one fleet's decision.
pub fn decision(namespace: &str, at_ms: u64, report: &FleetReport) -> Value {
    let mut metrics = vec![
        json!({"Name": RECOMMENDATION, "Unit": "Count"}),
        json!({"Name": DESIRED, "Unit": "Count"}),
        json!({"Name": IN_SERVICE, "Unit": "Count"}),
    ];
    let mut line = json!({
        FLEET: report.fleet,
        RECOMMENDATION: report.recommendation,
        DESIRED: report.desired,
        IN_SERVICE: report.in_service,
    });
    if let Some(q) = &report.queue {
        metrics.push(json!({"Name": BACKLOG_PER_INSTANCE, "Unit": "Count"}));
        line[BACKLOG_PER_INSTANCE] = json!(q.backlog_per_instance);
        if let Some(age) = q.age_of_oldest_s {
            metrics.push(json!({"Name": AGE_OF_OLDEST_MESSAGE, "Unit": "Seconds"}));
            line[AGE_OF_OLDEST_MESSAGE] = json!(age);
        }
    }
    line["_aws"] = json!({
        "Timestamp": at_ms,
        "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [[FLEET]], "Metrics": metrics}],
    });
    line
}

/// The EMF line counting one fleet's failure (the template's "scaler errors" alarm reads it).
pub fn failure(namespace: &str, at_ms: u64, failure: &FleetFailure) -> Value {
    json!({
        FLEET: failure.fleet,
        FLEET_FAILURES: 1,
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [[FLEET], []], "Metrics": [{"Name": FLEET_FAILURES, "Unit": "Count"}]}],
        },
    })
}
