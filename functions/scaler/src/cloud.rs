//! What the scaler needs from AWS, behind one small trait: implemented once with the SDK, and by
//! in-memory fakes in the tick's tests (and by a fault-injecting wrapper in the fault tests).

use std::collections::HashMap;

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit};
use aws_sdk_sqs::types::QueueAttributeName;
use switchyard_algorithms::Time;
use switchyard_metrics::{dimension, scaler};

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
    /// Instances protected from scale-in (by their worker, while it holds work).
    pub protected: Vec<String>,
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

/// What the history records for one point, by [`dimension::FLEET`]: each metric's name and value.
/// The only writer of these series: the decision lines ([`crate::emf::decision`]) write none of
/// them, so CloudWatch gets each value once.
pub fn history_metrics(p: &HistoryPoint) -> [(&'static str, f64); 3] {
    [
        (scaler::RECOMMENDATION, f64::from(p.recommendation)),
        (scaler::DESIRED_CAPACITY, f64::from(p.desired)),
        (scaler::LAST_ACTIVE, (p.last_active.as_millis() / 1000) as f64),
    ]
}

/// An AWS call that failed, with the SDK's full context.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct CloudError {
    pub operation: &'static str,
    pub message: String,
}

impl CloudError {
    fn from_sdk<E: std::error::Error + 'static>(operation: &'static str) -> impl FnOnce(E) -> CloudError {
        move |e| CloudError { operation, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
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
    /// Take scale-in protection off `instances` of `group` (at most 50 per call, the API's limit).
    async fn unprotect(&self, group: &str, instances: &[String]) -> Result<(), CloudError>;
}

/// The implementation over the AWS SDK (its standard retries, one HTTPS client).
#[derive(Debug, Clone)]
pub struct AwsCloud {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
}

impl AwsCloud {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        AwsCloud {
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
        }
    }
}

/// DescribeAutoScalingGroups' limit on names per call (without MaxRecords).
const NAMES_PER_CALL: usize = 50;

/// A group's sizes and how many of its instances serve or are launching.
fn group(g: &aws_sdk_autoscaling::types::AutoScalingGroup) -> Group {
    let instances = g.instances();
    let in_service = instances
        .iter()
        .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService) && i.health_status() == Some("Healthy"))
        .count();
    let pending = instances
        .iter()
        .filter(|i| {
            matches!(
                i.lifecycle_state(),
                Some(LifecycleState::Pending | LifecycleState::PendingProceed | LifecycleState::PendingWait)
            )
        })
        .count();
    let protected = instances
        .iter()
        .filter(|i| i.protected_from_scale_in() == Some(true))
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    Group {
        protected,
        name: g.auto_scaling_group_name().unwrap_or_default().to_owned(),
        min: count(g.min_size().unwrap_or_default()),
        max: count(g.max_size().unwrap_or_default()),
        desired: count(g.desired_capacity().unwrap_or_default()),
        in_service: in_service as u32,
        pending: pending as u32,
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn to_datetime(t: Time) -> DateTime {
    DateTime::from_millis(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
}

impl Cloud for AwsCloud {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError> {
        let mut groups = Vec::new();
        // No names would list every group in the account; more than 50 names per call is refused
        // by the API unless MaxRecords is raised, so ask in chunks of 50.
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut pages = self
                .autoscaling
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.to_vec()))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(CloudError::from_sdk("DescribeAutoScalingGroups"))?;
                groups.extend(page.auto_scaling_groups().iter().map(group));
            }
        }
        Ok(groups)
    }

    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError> {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(CloudError::from_sdk("GetQueueAttributes"))?
            .attributes
            .unwrap_or_default();
        let read = |name: QueueAttributeName| -> Result<u64, CloudError> {
            let text = attributes.get(&name).ok_or_else(|| CloudError {
                operation: "GetQueueAttributes",
                message: format!("{url} did not return {}", name.as_str()),
            })?;
            text.parse().map_err(|_| CloudError {
                operation: "GetQueueAttributes",
                message: format!("{} of {url} is not a count: {text:?}", name.as_str()),
            })
        };
        Ok(QueueDepth {
            visible: read(QueueAttributeName::ApproximateNumberOfMessages)?,
            in_flight: read(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)?,
            delayed: read(QueueAttributeName::ApproximateNumberOfMessagesDelayed)?,
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
        let queries: Vec<MetricDataQuery> = queries
            .iter()
            .map(|q| {
                let metric = Metric::builder()
                    .namespace(&q.namespace)
                    .metric_name(&q.name)
                    .set_dimensions(Some(
                        q.dimensions.iter().map(|(k, v)| Dimension::builder().name(k).value(v).build()).collect(),
                    ))
                    .build();
                MetricDataQuery::builder()
                    .id(&q.id)
                    .metric_stat(
                        MetricStat::builder().metric(metric).period(q.period as i32).stat(&q.statistic).build(),
                    )
                    .return_data(true)
                    .build()
            })
            .collect();
        let mut pages = self
            .cloudwatch
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(to_datetime(start))
            .end_time(to_datetime(end))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(CloudError::from_sdk("GetMetricData"))?;
            for result in page.metric_data_results() {
                let series = out.entry(result.id().unwrap_or_default().to_owned()).or_default();
                for (at, value) in result.timestamps().iter().zip(result.values()) {
                    let millis = u64::try_from(at.to_millis().unwrap_or(0)).unwrap_or(0);
                    series.push((Time::from_millis(millis), *value));
                }
            }
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
        let datum = |p: &HistoryPoint, name: &str, value: f64| {
            MetricDatum::builder()
                .metric_name(name)
                .dimensions(Dimension::builder().name(dimension::FLEET).value(&p.fleet).build())
                .timestamp(to_datetime(p.at))
                .value(value)
                .unit(StandardUnit::Count)
                .storage_resolution(if high_resolution { 1 } else { 60 })
                .build()
        };
        let data: Vec<MetricDatum> =
            points.iter().flat_map(|p| history_metrics(p).map(|(name, value)| datum(p, name, value))).collect();
        // PutMetricData takes up to 1 000 datums per call; three per fleet.
        for chunk in data.chunks(999) {
            self.cloudwatch
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(CloudError::from_sdk("PutMetricData"))?;
        }
        Ok(())
    }

    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        self.autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(i32::try_from(desired).unwrap_or(i32::MAX))
            .honor_cooldown(false)
            .send()
            .await
            .map_err(CloudError::from_sdk("SetDesiredCapacity"))?;
        Ok(())
    }

    async fn unprotect(&self, group: &str, instances: &[String]) -> Result<(), CloudError> {
        for chunk in instances.chunks(NAMES_PER_CALL) {
            self.autoscaling
                .set_instance_protection()
                .auto_scaling_group_name(group)
                .set_instance_ids(Some(chunk.to_vec()))
                .protected_from_scale_in(false)
                .send()
                .await
                .map_err(CloudError::from_sdk("SetInstanceProtection"))?;
        }
        Ok(())
    }
}
