//! CloudWatch Embedded Metric Format: one log line per fleet per tick that CloudWatch Logs turns
//! into metrics (no PutMetricData call, no extra latency). Spec:
//! https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html

use serde_json::{Value, json};

use crate::tick::{FleetFailure, FleetReport};

/// The EMF line for one fleet's decision.
pub fn decision(namespace: &str, at_ms: u64, report: &FleetReport) -> Value {
    let mut metrics = vec![
        json!({"Name": "Recommendation", "Unit": "Count"}),
        json!({"Name": "Desired", "Unit": "Count"}),
        json!({"Name": "InService", "Unit": "Count"}),
    ];
    let mut line = json!({
        "Fleet": report.fleet,
        "Recommendation": report.recommendation,
        "Desired": report.desired,
        "InService": report.in_service,
    });
    if let Some(q) = &report.queue {
        metrics.push(json!({"Name": "BacklogPerInstance", "Unit": "Count"}));
        line["BacklogPerInstance"] = json!(q.backlog_per_instance);
        if let Some(age) = q.age_of_oldest_s {
            metrics.push(json!({"Name": "AgeOfOldestMessage", "Unit": "Seconds"}));
            line["AgeOfOldestMessage"] = json!(age);
        }
    }
    line["_aws"] = json!({
        "Timestamp": at_ms,
        "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [["Fleet"]], "Metrics": metrics}],
    });
    line
}

/// The EMF line counting one fleet's failure (the template's "scaler errors" alarm reads it).
pub fn failure(namespace: &str, at_ms: u64, failure: &FleetFailure) -> Value {
    json!({
        "Fleet": failure.fleet,
        "FleetFailures": 1,
        "_aws": {
            "Timestamp": at_ms,
            "CloudWatchMetrics": [{"Namespace": namespace, "Dimensions": [["Fleet"], []], "Metrics": [{"Name": "FleetFailures", "Unit": "Count"}]}],
        },
    })
}
