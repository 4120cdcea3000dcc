//! What CloudWatch Logs does on AWS with the Embedded Metric Format lines a function prints: every
//! metric of every dimension set becomes a datapoint, at the line's timestamp. Locally nothing
//! reads a function's stdout, so the demo and the tests ship its lines with [`ship`] (or
//! [`ship_log`], from a log file and a byte offset).
//!
//! A line that declares metrics (`_aws`) but breaks the format is skipped whole and counted, as
//! CloudWatch drops it; any other line is a plain log line.
//! Spec: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use serde::Serialize;
use serde_json::Value;

use crate::{Error, aws_error};

/// EMF's limits: dimensions per set, values per metric.
const MAX_DIMENSIONS: usize = 30;
const MAX_VALUES: usize = 100;
/// Data per PutMetricData call: the API's old limit, which every emulator accepts.
const PER_CALL: usize = 20;

/// One datapoint an EMF line declares.
#[derive(Debug, Clone, PartialEq)]
pub struct EmfDatum {
    pub namespace: String,
    pub name: String,
    /// Name → value, in the order the dimension set names them.
    pub dimensions: Vec<(String, String)>,
    /// One value, or the values of an array (latency samples, say).
    pub values: Vec<f64>,
    pub unit: Option<StandardUnit>,
    pub timestamp_ms: i64,
}

/// Why an EMF line cannot be shipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed EMF line: {0}")]
pub struct Malformed(String);

fn malformed(what: impl Into<String>) -> Malformed {
    Malformed(what.into())
}

/// The data of one log line: `None` for a line that is not EMF (no `_aws` member), every
/// datapoint it declares otherwise, or why it is malformed. Pure.
pub fn data(line: &Value) -> Option<Result<Vec<EmfDatum>, Malformed>> {
    let aws = line.as_object()?.get("_aws")?;
    Some(parse(line, aws))
}

fn parse(line: &Value, aws: &Value) -> Result<Vec<EmfDatum>, Malformed> {
    let timestamp_ms = aws.get("Timestamp").and_then(Value::as_i64).ok_or_else(|| malformed("no Timestamp (ms)"))?;
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("no CloudWatchMetrics array"))?;
    let mut out = Vec::new();
    for directive in directives {
        let namespace = directive
            .get("Namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| malformed("a directive without Namespace"))?;
        let sets = directive
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(format!("{namespace}: no Dimensions array")))?;
        let metrics = directive
            .get("Metrics")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed(format!("{namespace}: no Metrics array")))?;
        let mut dimension_sets = Vec::with_capacity(sets.len());
        for set in sets {
            let keys =
                set.as_array().ok_or_else(|| malformed(format!("{namespace}: a dimension set is not an array")))?;
            if keys.len() > MAX_DIMENSIONS {
                return Err(malformed(format!("{namespace}: more than {MAX_DIMENSIONS} dimensions in a set")));
            }
            let mut dimensions = Vec::with_capacity(keys.len());
            for key in keys {
                let key =
                    key.as_str().ok_or_else(|| malformed(format!("{namespace}: a dimension key is not a string")))?;
                let value = line
                    .get(key)
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed(format!("dimension {key:?} has no string value")))?;
                dimensions.push((key.to_owned(), value.to_owned()));
            }
            dimension_sets.push(dimensions);
        }
        for metric in metrics {
            let name = metric
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| malformed(format!("{namespace}: a metric without Name")))?;
            let unit = match metric.get("Unit") {
                None => None,
                Some(unit) => Some(
                    unit.as_str()
                        .filter(|u| StandardUnit::values().contains(u))
                        .map(StandardUnit::from)
                        .ok_or_else(|| malformed(format!("{name}: unit {unit} is not a CloudWatch unit")))?,
                ),
            };
            let values = values(line.get(name)).ok_or_else(|| malformed(format!("{name}: no number or numbers")))?;
            for dimensions in &dimension_sets {
                out.push(EmfDatum {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    dimensions: dimensions.clone(),
                    values: values.clone(),
                    unit: unit.clone(),
                    timestamp_ms,
                });
            }
        }
    }
    Ok(out)
}

/// A metric's member: a finite number, or a non-empty array of at most [`MAX_VALUES`] of them.
fn values(member: Option<&Value>) -> Option<Vec<f64>> {
    let finite = |v: &Value| v.as_f64().filter(|x| x.is_finite());
    match member? {
        Value::Array(items) if !items.is_empty() && items.len() <= MAX_VALUES => items.iter().map(finite).collect(),
        Value::Array(_) => None,
        single => finite(single).map(|x| vec![x]),
    }
}

/// What one shipment did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Shipped {
    /// Lines read.
    pub lines: usize,
    /// EMF lines shipped.
    pub emf: usize,
    /// Datapoints put (one per metric and dimension set).
    pub data: usize,
    /// Lines skipped: EMF that breaks the format, or a JSON object cut short.
    pub malformed: usize,
}

/// Put every datapoint of the EMF lines among `lines` (storage resolution 1 s, each at its
/// line's timestamp); count the rest. Fails only when CloudWatch refuses a call.
pub async fn ship(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    lines: impl IntoIterator<Item = Value>,
) -> Result<Shipped, Error> {
    let mut shipped = Shipped::default();
    let mut by_namespace: BTreeMap<String, Vec<MetricDatum>> = BTreeMap::new();
    for line in lines {
        shipped.lines += 1;
        match data(&line) {
            None => {}
            Some(Err(e)) => {
                shipped.malformed += 1;
                eprintln!("ship-emf: skipped: {e}");
            }
            Some(Ok(data)) => {
                shipped.emf += 1;
                for d in data {
                    by_namespace.entry(d.namespace.clone()).or_default().push(datum(d));
                }
            }
        }
    }
    for (namespace, data) in by_namespace {
        for chunk in data.chunks(PER_CALL) {
            cloudwatch
                .put_metric_data()
                .namespace(&namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(aws_error(format!("putting {} datapoints to {namespace}", chunk.len())))?;
            shipped.data += chunk.len();
        }
    }
    Ok(shipped)
}

fn datum(d: EmfDatum) -> MetricDatum {
    let dimensions = d.dimensions.into_iter().map(|(name, value)| Dimension::builder().name(name).value(value).build());
    let builder = MetricDatum::builder()
        .metric_name(d.name)
        .set_dimensions(Some(dimensions.collect()))
        .timestamp(DateTime::from_millis(d.timestamp_ms))
        .set_unit(d.unit)
        .storage_resolution(1);
    match d.values.as_slice() {
        [one] => builder.value(*one).build(),
        _ => builder.set_values(Some(d.values)).build(),
    }
}

/// A shipment from a log file, and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedLog {
    /// The byte after the last whole line read: pass it as the next `from`.
    pub offset: u64,
    #[serde(flatten)]
    pub shipped: Shipped,
}

/// Ship the EMF lines of the log at `path` from byte `from` on. A last line without its newline
/// is still being written: it is left for the next shipment.
pub async fn ship_log(cloudwatch: &aws_sdk_cloudwatch::Client, path: &Path, from: u64) -> Result<ShippedLog, Error> {
    let (text, offset) = read_whole_lines(path, from)?;
    let mut cut_short = 0;
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(value) => value,
            Err(_) => {
                // A plain log line is not EMF; a JSON object that does not parse may have been.
                if l.trim_start().starts_with('{') {
                    cut_short += 1;
                    eprintln!("ship-emf: skipped a line that is not JSON: {:.120}", l);
                }
                Value::String(l.to_owned())
            }
        })
        .collect();
    let mut shipped = ship(cloudwatch, lines).await?;
    shipped.malformed += cut_short;
    Ok(ShippedLog { offset, shipped })
}

/// The text from `from` to the last newline, and the offset after it.
fn read_whole_lines(path: &Path, from: u64) -> Result<(String, u64), Error> {
    let io = |e: std::io::Error| Error::Unexpected(format!("reading {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    if from > length {
        return Err(Error::Unexpected(format!(
            "{} has {length} bytes, fewer than --from {from}: was it started again?",
            path.display()
        )));
    }
    file.seek(SeekFrom::Start(from)).map_err(io)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |last| last + 1);
    bytes.truncate(whole);
    Ok((String::from_utf8_lossy(&bytes).into_owned(), from + whole as u64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A line as the router prints it (functions/router/src/emf.rs): totals and per group.
    fn router_line() -> Value {
        json!({
            "Requests": 7, "NoTarget": 0, "Group": "web",
            "_aws": {"Timestamp": 1_700_000_000_000_i64, "CloudWatchMetrics": [{
                "Namespace": "Switchyard", "Dimensions": [[], ["Group"]],
                "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "NoTarget", "Unit": "Count"}]}]}
        })
    }

    #[test]
    fn every_metric_of_every_dimension_set_is_a_datum() {
        let data = data(&router_line()).unwrap().unwrap();
        let seen: Vec<(&str, usize, f64)> =
            data.iter().map(|d| (d.name.as_str(), d.dimensions.len(), d.values[0])).collect();
        assert_eq!(seen, [("Requests", 0, 7.0), ("Requests", 1, 7.0), ("NoTarget", 0, 0.0), ("NoTarget", 1, 0.0)]);
        assert_eq!(data[1].dimensions, [("Group".to_owned(), "web".to_owned())]);
        assert_eq!((data[0].timestamp_ms, data[0].unit.clone()), (1_700_000_000_000, Some(StandardUnit::Count)));
    }

    #[test]
    fn an_array_member_is_one_datum_with_its_values() {
        let line = json!({"Target": "i-1", "UpstreamLatency": [3.0, 4.5],
            "_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Target"]],
                "Metrics": [{"Name": "UpstreamLatency", "Unit": "Milliseconds"}]}]}});
        let data = data(&line).unwrap().unwrap();
        assert_eq!((data.len(), data[0].values.clone()), (1, vec![3.0, 4.5]));
    }

    #[test]
    fn a_line_without_aws_is_a_log_line_not_emf() {
        assert_eq!(data(&json!({"level": "INFO", "fields": {"message": "hello"}})), None);
        assert_eq!(data(&json!("plain text")), None);
    }

    #[test]
    fn a_line_that_breaks_the_format_is_malformed_whole() {
        let mut no_timestamp = router_line();
        no_timestamp["_aws"]["Timestamp"] = json!("yesterday");
        let mut missing_dimension = router_line();
        missing_dimension.as_object_mut().unwrap().remove("Group");
        let mut text_value = router_line();
        text_value["Requests"] = json!("seven");
        let mut bad_unit = router_line();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Parsecs");
        let mut not_array = router_line();
        not_array["_aws"]["CloudWatchMetrics"] = json!({});
        for line in [no_timestamp, missing_dimension, text_value, bad_unit, not_array, json!({"_aws": 1})] {
            assert!(matches!(data(&line), Some(Err(_))), "{line}");
        }
    }

    #[test]
    fn only_whole_lines_are_read_and_the_offset_follows_them() {
        let path = std::env::temp_dir().join(format!("switchyard-emf-{}.out", std::process::id()));
        std::fs::write(&path, "one\ntwo\nthr").unwrap();
        assert_eq!(read_whole_lines(&path, 0).unwrap(), ("one\ntwo\n".to_owned(), 8));
        assert_eq!(read_whole_lines(&path, 8).unwrap(), (String::new(), 8), "the cut line waits");
        assert!(read_whole_lines(&path, 99).is_err(), "an offset past the end is refused");
        std::fs::remove_file(&path).unwrap();
    }
}
