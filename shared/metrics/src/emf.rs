//! One builder for CloudWatch Embedded Metric Format lines: a JSON object whose `_aws` member
//! declares, for a namespace and a timestamp, which of the object's members are metrics (with
//! their units) and which sets of its members are their dimensions. CloudWatch Logs turns every
//! metric of every dimension set into a datapoint; no PutMetricData call, no latency.
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use serde_json::{Map, Value, json};

/// EMF takes at most 100 values per metric in one line.
pub const MAX_VALUES: usize = 100;

/// The units Switchyard's metrics use (CloudWatch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    Milliseconds,
}

impl Unit {
    /// CloudWatch's name of the unit.
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: one namespace, one timestamp, its dimension sets and its metrics.
///
/// ```
/// use switchyard_metrics::emf::{Line, Unit};
///
/// let line = Line::new("Switchyard", 1_574_109_732_004)
///     .dimension_set(&["Fleet"])
///     .dimension("Fleet", "workers")
///     .metric("Desired", Unit::Count, 3)
///     .build();
/// assert_eq!(line["Desired"], 3);
/// assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Fleet"]]));
/// ```
#[derive(Debug, Clone)]
pub struct Line {
    namespace: String,
    timestamp_ms: u64,
    dimension_sets: Vec<Vec<String>>,
    metrics: Vec<Value>,
    members: Map<String, Value>,
}

impl Line {
    /// A line in `namespace` at `timestamp_ms` (milliseconds since the epoch), with no dimension
    /// set yet: add `dimension_set(&[])` for the metrics' totals.
    pub fn new(namespace: &str, timestamp_ms: u64) -> Self {
        Line {
            namespace: namespace.to_owned(),
            timestamp_ms,
            dimension_sets: Vec::new(),
            metrics: Vec::new(),
            members: Map::new(),
        }
    }

    /// Every metric of the line also goes out by these dimensions (none: the totals). Each name
    /// needs its value, from [`Line::dimension`].
    pub fn dimension_set(mut self, names: &[&str]) -> Self {
        self.dimension_sets.push(names.iter().map(|&n| n.to_owned()).collect());
        self
    }

    /// The value of dimension `name` on this line.
    pub fn dimension(mut self, name: &str, value: impl Into<String>) -> Self {
        self.members.insert(name.to_owned(), Value::String(value.into()));
        self
    }

    /// Metric `name` in `unit`: one value, or an array of at most [`MAX_VALUES`] values (a sample
    /// CloudWatch computes percentiles from).
    pub fn metric(mut self, name: &str, unit: Unit, value: impl Into<Value>) -> Self {
        self.metrics.push(json!({"Name": name, "Unit": unit.as_str()}));
        self.members.insert(name.to_owned(), value.into());
        self
    }

    /// The JSON object, to print as one line.
    pub fn build(self) -> Value {
        let mut members = self.members;
        members.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": self.dimension_sets,
                    "Metrics": self.metrics,
                }],
            }),
        );
        Value::Object(members)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The specification's example ("Example of the embedded metric format"), without its
    /// optional `StorageResolution` (60, the default) and its non-metric `requestId` member.
    #[test]
    fn a_line_has_the_shape_of_the_specifications_example() {
        let expected: Value = serde_json::from_str(
            r#"{
              "_aws": {
                "Timestamp": 1574109732004,
                "CloudWatchMetrics": [
                  {
                    "Namespace": "lambda-function-metrics",
                    "Dimensions": [["functionVersion"]],
                    "Metrics": [{"Name": "time", "Unit": "Milliseconds"}]
                  }
                ]
              },
              "functionVersion": "$LATEST",
              "time": 100
            }"#,
        )
        .unwrap();
        let line = Line::new("lambda-function-metrics", 1_574_109_732_004)
            .dimension_set(&["functionVersion"])
            .dimension("functionVersion", "$LATEST")
            .metric("time", Unit::Milliseconds, 100)
            .build();
        assert_eq!(line, expected);
    }

    #[test]
    fn metrics_keep_their_order_and_dimension_sets_may_be_empty() {
        let line = Line::new("N", 1)
            .dimension_set(&[])
            .dimension_set(&["Group"])
            .dimension("Group", "web")
            .metric("Requests", Unit::Count, 3)
            .metric("Latency", Unit::Milliseconds, vec![1.5, 2.0])
            .build();
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Dimensions"], json!([[], ["Group"]]));
        assert_eq!(
            directive["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}])
        );
        assert_eq!(
            (&line["Group"], &line["Requests"], &line["Latency"]),
            (&json!("web"), &json!(3), &json!([1.5, 2.0]))
        );
    }
}
