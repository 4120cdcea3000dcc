//! What the scaler needs from AWS, behind one small trait: implemented once over AWS, and by
//! in-memory fakes in the tick's tests (and by a fault-injecting wrapper in the fault tests).

use std::collections::HashMap;

use switchyard_algorithms::Time;
use switchyard_aws::cloudwatch;

/// An Auto Scaling group as the scaler needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    /// InService and Healthy.
    pub in_service: u32,
    /// Launched, not yet in service.
    pub pending: u32,
}

/// GetQueueAttributes' counts (exact enough, and immediate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

/// One series to fetch with GetMetricData.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    /// Lowercase letter first, then letters, digits, underscores (CloudWatch's rule).
    pub id: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub period: u32,
}

/// A datapoint series, oldest first.
pub type Series = Vec<(Time, f64)>;

/// One tick's record for one fleet, kept in CloudWatch so that a cold start loses nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPoint {
    pub fleet: String,
    pub at: Time,
    pub recommendation: u32,
    pub desired: u32,
    /// When the fleet was last seen active (the stabilizer's idle clock), stored as it is rather
    /// than rebuilt from ticks, so that irregular ticks cannot reset it.
    pub last_active: Time,
}

/// Metric names of the history, in the scaler's namespace with dimension `Fleet`.
pub const RECOMMENDATION: &str = "Recommendation";
pub const DESIRED: &str = "DesiredCapacity";
/// Epoch seconds of the last activity (exact in an `f64` for millennia).
pub const LAST_ACTIVE: &str = "LastActiveEpochSeconds";
/// Busy seconds that `switchyard-worker` processes publish per fleet (same namespace and dimension).
pub const WORKER_BUSY: &str = "WorkerBusySeconds";

/// An AWS call that failed: the operation, and the service's error code and message (or why no
/// answer came).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct CloudError {
    pub operation: &'static str,
    pub message: String,
}

impl From<switchyard_aws::Error> for CloudError {
    fn from(e: switchyard_aws::Error) -> Self {
        CloudError { operation: e.operation, message: e.kind.to_string() }
    }
}

/// What the tick does to AWS. Async functions: implementations are used through generics only.
#[allow(async_fn_in_trait)]
pub trait Cloud {
    /// Every named group that exists, in one call (missing ones are simply absent).
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError>;
    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError>;
    /// All series in one GetMetricData call (paginated), by query id.
    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: Time,
        end: Time,
    ) -> Result<HashMap<String, Series>, CloudError>;
    async fn record_history(
        &self,
        namespace: &str,
        points: &[HistoryPoint],
        high_resolution: bool,
    ) -> Result<(), CloudError>;
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError>;
}

/// The implementation over AWS (`switchyard-aws`: signed HTTPS calls, the SDKs' standard retries).
#[derive(Debug, Clone)]
pub struct AwsCloud {
    pub aws: switchyard_aws::Client,
}

/// Auto Scaling's lifecycle states of an instance that is launching.
const PENDING: [&str; 3] = ["Pending", "Pending:Wait", "Pending:Proceed"];

const DEPTH_ATTRIBUTES: [&str; 3] =
    ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"];

impl Cloud for AwsCloud {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let groups = self.aws.describe_groups(&names).await?;
        Ok(groups
            .into_iter()
            .map(|g| Group {
                in_service: g.instances.iter().filter(|i| i.is_serving()).count() as u32,
                pending: g.instances.iter().filter(|i| PENDING.contains(&i.lifecycle_state.as_str())).count() as u32,
                name: g.name,
                min: g.min_size,
                max: g.max_size,
                desired: g.desired_capacity,
            })
            .collect())
    }

    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError> {
        let attributes = self.aws.get_queue_attributes(url, &DEPTH_ATTRIBUTES).await?;
        let read = |name: &str| -> Result<u64, CloudError> {
            let text = attributes.get(name).ok_or_else(|| CloudError {
                operation: "GetQueueAttributes",
                message: format!("{url} did not return {name}"),
            })?;
            text.parse().map_err(|_| CloudError {
                operation: "GetQueueAttributes",
                message: format!("{name} of {url} is not a count: {text:?}"),
            })
        };
        Ok(QueueDepth {
            visible: read(DEPTH_ATTRIBUTES[0])?,
            in_flight: read(DEPTH_ATTRIBUTES[1])?,
            delayed: read(DEPTH_ATTRIBUTES[2])?,
        })
    }

    async fn metric_data(
        &self,
        queries: &[MetricQuery],
        start: Time,
        end: Time,
    ) -> Result<HashMap<String, Series>, CloudError> {
        let mut out: HashMap<String, Series> = HashMap::new();
        if queries.is_empty() {
            return Ok(out);
        }
        let queries: Vec<cloudwatch::MetricQuery> = queries
            .iter()
            .map(|q| cloudwatch::MetricQuery {
                id: q.id.clone(),
                namespace: q.namespace.clone(),
                metric_name: q.name.clone(),
                dimensions: q.dimensions.clone(),
                period_secs: q.period,
                stat: q.statistic.clone(),
            })
            .collect();
        let range = cloudwatch::Range { start_ms: start.as_millis(), end_ms: end.as_millis(), newest_first: false };
        for result in self.aws.get_metric_data(&queries, range).await? {
            let series = out.entry(result.id).or_default();
            series.extend(result.timestamps_ms.into_iter().map(Time::from_millis).zip(result.values));
        }
        out.values_mut().for_each(|s| s.sort_by_key(|(at, _)| *at));
        Ok(out)
    }

    async fn record_history(
        &self,
        namespace: &str,
        points: &[HistoryPoint],
        high_resolution: bool,
    ) -> Result<(), CloudError> {
        let datum = |p: &HistoryPoint, name: &str, value: f64| cloudwatch::Datum {
            metric_name: name.to_owned(),
            dimensions: vec![("Fleet".to_owned(), p.fleet.clone())],
            timestamp_ms: p.at.as_millis(),
            value,
            unit: "Count",
            storage_resolution: if high_resolution { 1 } else { 60 },
        };
        let data: Vec<cloudwatch::Datum> = points
            .iter()
            .flat_map(|p| {
                [
                    datum(p, RECOMMENDATION, f64::from(p.recommendation)),
                    datum(p, DESIRED, f64::from(p.desired)),
                    datum(p, LAST_ACTIVE, (p.last_active.as_millis() / 1000) as f64),
                ]
            })
            .collect();
        Ok(self.aws.put_metric_data(namespace, &data).await?)
    }

    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        Ok(self.aws.set_desired_capacity(group, desired).await?)
    }
}
