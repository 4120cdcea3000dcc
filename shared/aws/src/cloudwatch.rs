//! GetMetricData with metric-stat queries, every page, and PutMetricData (AWS JSON 1.0, which
//! CloudWatch serves beside the query protocol and CBOR: serde reads it, and its times are plain
//! epoch seconds).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::{Call, Error, ErrorKind};
use crate::{Client, Service};

/// One statistic of one metric over fixed periods.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// The query's id in the answer: a lower-case letter, then letters, digits and underscores.
    pub id: String,
    pub namespace: String,
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub period_secs: u32,
    /// `Average`, `Sum`, `Maximum`, …
    pub stat: String,
}

/// One query's datapoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricResult {
    pub id: String,
    /// Milliseconds since the Unix epoch, each a period's start, paired with `values`.
    pub timestamps_ms: Vec<u64>,
    pub values: Vec<f64>,
}

/// The time range and order of a GetMetricData call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub start_ms: u64,
    /// Exclusive.
    pub end_ms: u64,
    /// Newest datapoint first.
    pub newest_first: bool,
}

const OPERATION: &str = "GetMetricData";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Request<'a> {
    metric_data_queries: Vec<QueryJson<'a>>,
    start_time: f64,
    end_time: f64,
    scan_by: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueryJson<'a> {
    id: &'a str,
    metric_stat: MetricStatJson<'a>,
    return_data: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricStatJson<'a> {
    metric: MetricJson<'a>,
    period: u32,
    stat: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricJson<'a> {
    namespace: &'a str,
    metric_name: &'a str,
    dimensions: Vec<DimensionJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DimensionJson<'a> {
    name: &'a str,
    value: &'a str,
}

fn request(queries: &[MetricQuery], range: Range, next_token: Option<&str>) -> Call {
    let body = Request {
        metric_data_queries: queries
            .iter()
            .map(|q| QueryJson {
                id: &q.id,
                metric_stat: MetricStatJson {
                    metric: MetricJson {
                        namespace: &q.namespace,
                        metric_name: &q.metric_name,
                        dimensions: q.dimensions.iter().map(|(name, value)| DimensionJson { name, value }).collect(),
                    },
                    period: q.period_secs,
                    stat: &q.stat,
                },
                return_data: true,
            })
            .collect(),
        start_time: range.start_ms as f64 / 1_000.0,
        end_time: range.end_ms as f64 / 1_000.0,
        scan_by: if range.newest_first { "TimestampDescending" } else { "TimestampAscending" },
        next_token,
    };
    Call {
        service: Service::CloudWatch,
        operation: OPERATION,
        content_type: crate::JSON,
        target: Some("GraniteServiceVersion20100801.GetMetricData"),
        // Serializing these plain structs cannot fail.
        body: serde_json::to_vec(&body).unwrap_or_default().into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    metric_data_results: Vec<ResultJson>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ResultJson {
    id: String,
    #[serde(default)]
    timestamps: Vec<f64>,
    #[serde(default)]
    values: Vec<f64>,
}

/// One page: its results and the token for the next page.
pub fn read_page(json: &[u8]) -> Result<(Vec<MetricResult>, Option<String>), ErrorKind> {
    let answer: Answer = serde_json::from_slice(json).map_err(|e| ErrorKind::Answer(e.to_string()))?;
    let results = answer
        .metric_data_results
        .into_iter()
        .map(|r| MetricResult {
            id: r.id,
            // A time before 1970 (or not a number) becomes 0, which every reader treats as ancient.
            timestamps_ms: r
                .timestamps
                .iter()
                .map(|s| if *s > 0.0 { (s * 1_000.0).round() as u64 } else { 0 })
                .collect(),
            values: r.values,
        })
        .collect();
    Ok((results, answer.next_token.filter(|t| !t.is_empty())))
}

/// One value to store with PutMetricData.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub metric_name: String,
    pub dimensions: Vec<(String, String)>,
    pub timestamp_ms: u64,
    pub value: f64,
    /// `Count`, `Seconds`, `None`, …
    pub unit: &'static str,
    /// 1 for a high-resolution metric, 60 for a standard one.
    pub storage_resolution: u32,
}

/// PutMetricData's limit on values per call.
pub const MAX_DATA_PER_PUT: usize = 1_000;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Put<'a> {
    namespace: &'a str,
    metric_data: Vec<DatumJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DatumJson<'a> {
    metric_name: &'a str,
    dimensions: Vec<DimensionJson<'a>>,
    timestamp: f64,
    value: f64,
    unit: &'a str,
    storage_resolution: u32,
}

fn put_request(namespace: &str, data: &[Datum]) -> Call {
    let body = Put {
        namespace,
        metric_data: data
            .iter()
            .map(|d| DatumJson {
                metric_name: &d.metric_name,
                dimensions: d.dimensions.iter().map(|(name, value)| DimensionJson { name, value }).collect(),
                timestamp: d.timestamp_ms as f64 / 1_000.0,
                value: d.value,
                unit: d.unit,
                storage_resolution: d.storage_resolution,
            })
            .collect(),
    };
    Call {
        service: Service::CloudWatch,
        operation: "PutMetricData",
        content_type: crate::JSON,
        target: Some("GraniteServiceVersion20100801.PutMetricData"),
        body: serde_json::to_vec(&body).unwrap_or_default().into(),
    }
}

impl Client {
    /// Store `data` in `namespace`, [`MAX_DATA_PER_PUT`] values per call. Values that are not
    /// finite are refused before anything is sent: CloudWatch refuses the whole call for one.
    pub async fn put_metric_data(&self, namespace: &str, data: &[Datum]) -> Result<(), Error> {
        if let Some(bad) = data.iter().find(|d| !d.value.is_finite()) {
            return Err(Error {
                operation: "PutMetricData",
                kind: ErrorKind::Request(format!(
                    "{} = {} is not a number CloudWatch stores",
                    bad.metric_name, bad.value
                )),
            });
        }
        for chunk in data.chunks(MAX_DATA_PER_PUT) {
            self.call(&put_request(namespace, chunk), |_| Ok(())).await?;
        }
        Ok(())
    }

    /// The datapoints of `queries` (at most 500) in `range`, through every page; a query's
    /// points from several pages are joined under its id.
    pub async fn get_metric_data(&self, queries: &[MetricQuery], range: Range) -> Result<Vec<MetricResult>, Error> {
        let mut results: Vec<MetricResult> = Vec::with_capacity(queries.len());
        // Where each id's result is in `results`: a page holds up to 500 of them.
        let mut index: HashMap<String, usize> = HashMap::with_capacity(queries.len());
        self.for_each_page(
            |token| request(queries, range, token),
            read_page,
            |page| {
                for result in page {
                    match index.get(&result.id).and_then(|&i| results.get_mut(i)) {
                        Some(seen) => {
                            seen.timestamps_ms.extend(result.timestamps_ms);
                            seen.values.extend(result.values);
                        }
                        None => {
                            index.insert(result.id.clone(), results.len());
                            results.push(result);
                        }
                    }
                }
            },
        )
        .await?;
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_json_cloudwatch_documents() {
        let query = MetricQuery {
            id: "t0".into(),
            namespace: "Switchyard/Targets".into(),
            metric_name: "InFlight".into(),
            dimensions: vec![("InstanceId".into(), "i-1".into())],
            period_secs: 10,
            stat: "Average".into(),
        };
        let call = request(&[query], Range { start_ms: 1_000_500, end_ms: 2_000_000, newest_first: true }, Some("n"));
        assert_eq!(call.target, Some("GraniteServiceVersion20100801.GetMetricData"));
        let json: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "MetricDataQueries": [{
                    "Id": "t0",
                    "MetricStat": {
                        "Metric": { "Namespace": "Switchyard/Targets", "MetricName": "InFlight",
                                    "Dimensions": [{ "Name": "InstanceId", "Value": "i-1" }] },
                        "Period": 10,
                        "Stat": "Average"
                    },
                    "ReturnData": true
                }],
                "StartTime": 1000.5,
                "EndTime": 2000.0,
                "ScanBy": "TimestampDescending",
                "NextToken": "n"
            })
        );
    }

    #[test]
    fn data_are_put_as_cloudwatch_documents_them() {
        let datum = Datum {
            metric_name: "DesiredCapacity".into(),
            dimensions: vec![("Fleet".into(), "web".into())],
            timestamp_ms: 1_795_938_490_250,
            value: 3.0,
            unit: "Count",
            storage_resolution: 60,
        };
        let call = put_request("Switchyard", &[datum]);
        assert_eq!(call.target, Some("GraniteServiceVersion20100801.PutMetricData"));
        let json: serde_json::Value = serde_json::from_slice(&call.body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Namespace": "Switchyard",
                "MetricData": [{
                    "MetricName": "DesiredCapacity",
                    "Dimensions": [{ "Name": "Fleet", "Value": "web" }],
                    "Timestamp": 1795938490.25,
                    "Value": 3.0,
                    "Unit": "Count",
                    "StorageResolution": 60
                }]
            })
        );
    }

    #[test]
    fn a_page_is_read_and_a_bad_one_is_an_error() {
        let page = br#"{"MetricDataResults": [{"Id": "t0", "Label": "m", "StatusCode": "Complete", "Timestamps": [1795938490.0, 1795938430.5], "Values": [3.5, 1.0]}, {"Id": "t1", "StatusCode": "Complete"}], "Messages": [], "NextToken": "more"}"#;
        let (results, next) = read_page(page).unwrap();
        assert_eq!(next.as_deref(), Some("more"));
        assert_eq!(results[0].timestamps_ms, [1_795_938_490_000, 1_795_938_430_500]);
        assert_eq!(results[0].values, [3.5, 1.0]);
        assert_eq!(results[1], MetricResult { id: "t1".into(), ..MetricResult::default() });
        assert_eq!(read_page(br#"{"Messages": []}"#).unwrap(), (Vec::new(), None));
        assert!(read_page(b"<xml/>").is_err());
        assert!(read_page(br#"{"MetricDataResults": [{"Values": [1]}]}"#).is_err(), "a result without an id");
    }
}
