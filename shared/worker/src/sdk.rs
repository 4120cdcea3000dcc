//! The worker's AWS traits over the AWS SDK: SQS for the queue, Auto Scaling for membership,
//! CloudWatch for activity.

use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, MessageSystemAttributeName,
};

use crate::aws::{
    ActivitySink, BoxFuture, CloudError, Delivery, LifecycleState, Member, Membership, Queue, Refused, Report,
};
use switchyard_metrics::{dimension, worker};

use crate::{IDEMPOTENCY_KEY_ATTRIBUTE, Instance, Job};

fn cloud_error<E: std::error::Error + 'static>(operation: &'static str) -> impl FnOnce(E) -> CloudError {
    move |e| CloudError { operation, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
}

/// Whole seconds for SQS, which takes an `i32` (at most 12 hours in practice).
fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

/// Batch entries are identified by their position in the call.
fn refused(failed: &[aws_sdk_sqs::types::BatchResultErrorEntry]) -> Vec<Refused> {
    failed.iter().map(|f| Refused { index: f.id().parse().unwrap_or(usize::MAX), code: f.code().to_owned() }).collect()
}

/// The work queue in SQS.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl Queue for SqsQueue {
    fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, CloudError>> {
        Box::pin(async move {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(i32::try_from(max).unwrap_or(10))
                .wait_time_seconds(seconds(wait))
                .visibility_timeout(seconds(visibility))
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                .message_attribute_names(IDEMPOTENCY_KEY_ATTRIBUTE)
                .send()
                .await
                .map_err(cloud_error("ReceiveMessage"))?;
            Ok(out.messages.unwrap_or_default().into_iter().filter_map(delivery).collect())
        })
    }

    fn delete<'a>(&'a self, receipts: &'a [String]) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>> {
        Box::pin(async move {
            let entries = receipts
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build().ok()
                })
                .collect();
            let out = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(cloud_error("DeleteMessageBatch"))?;
            Ok(refused(out.failed()))
        })
    }

    fn change_visibility<'a>(
        &'a self,
        receipts: &'a [String],
        visibility: Duration,
    ) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>> {
        Box::pin(async move {
            let entries = receipts
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(seconds(visibility))
                        .build()
                        .ok()
                })
                .collect();
            let out = self
                .sqs
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(cloud_error("ChangeMessageVisibilityBatch"))?;
            Ok(refused(out.failed()))
        })
    }

    fn delay<'a>(&'a self, receipt: &'a str, visibility: Duration) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.sqs
                .change_message_visibility()
                .queue_url(&self.url)
                .receipt_handle(receipt)
                .visibility_timeout(seconds(visibility))
                .send()
                .await
                .map(|_| ())
                .map_err(cloud_error("ChangeMessageVisibility"))
        })
    }
}

/// A received SQS message as the handler's job; `None` without a receipt (it could not be
/// deleted, so it is left to SQS).
fn delivery(m: aws_sdk_sqs::types::Message) -> Option<Delivery> {
    let receipt = m.receipt_handle?;
    let attribute = |name: MessageSystemAttributeName| {
        m.attributes.as_ref().and_then(|a| a.get(&name)).and_then(|v| v.parse::<u64>().ok())
    };
    let idempotency_key = m
        .message_attributes
        .as_ref()
        .and_then(|a| a.get(IDEMPOTENCY_KEY_ATTRIBUTE))
        .and_then(|v| v.string_value())
        .map(str::to_owned);
    let job = Job {
        message_id: m.message_id.unwrap_or_default(),
        receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
            .map_or(1, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        sent_at_ms: attribute(MessageSystemAttributeName::SentTimestamp),
        idempotency_key,
        body: m.body.unwrap_or_default(),
    };
    Some(Delivery { job, receipt })
}

/// The instance's Auto Scaling group.
#[derive(Debug, Clone)]
pub struct GroupMembership {
    pub autoscaling: aws_sdk_autoscaling::Client,
}

impl Membership for GroupMembership {
    fn describe<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<Option<Member>, CloudError>> {
        Box::pin(async move {
            let found = self
                .autoscaling
                .describe_auto_scaling_instances()
                .instance_ids(instance_id)
                .send()
                .await
                .map_err(cloud_error("DescribeAutoScalingInstances"))?;
            Ok(found.auto_scaling_instances().first().and_then(|i| {
                Some(Member {
                    group: i.auto_scaling_group_name()?.to_owned(),
                    lifecycle_state: i.lifecycle_state().map(LifecycleState::from),
                    protected: i.protected_from_scale_in(),
                })
            }))
        })
    }

    fn set_protection<'a>(&'a self, instance: &'a Instance, on: bool) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.autoscaling
                .set_instance_protection()
                .auto_scaling_group_name(&instance.group)
                .instance_ids(&instance.id)
                .protected_from_scale_in(on)
                .send()
                .await
                .map(|_| ())
                .map_err(cloud_error("SetInstanceProtection"))
        })
    }
}

/// Reports as CloudWatch metrics, which the scaler reads: `WorkerReceived`, `WorkerProcessed`,
/// `WorkerFailed`, `WorkerBusySeconds` (dimension `Fleet`) and `WorkerAlive` (dimensions `Fleet`
/// and `InstanceId`), in one PutMetricData call per report. The contract is in the crate's
/// documentation.
#[derive(Debug, Clone)]
pub struct CloudWatchActivity {
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub namespace: String,
    /// 1 (high resolution) for reports more often than once a minute, else 60.
    pub storage_resolution_secs: i32,
}

impl ActivitySink for CloudWatchActivity {
    fn publish<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let fleet = Dimension::builder().name(dimension::FLEET).value(&report.fleet).build();
            let datum = |name: &str, value: f64, unit: StandardUnit| {
                MetricDatum::builder()
                    .metric_name(name)
                    .dimensions(fleet.clone())
                    .value(value)
                    .unit(unit)
                    .storage_resolution(self.storage_resolution_secs)
            };
            let mut data = Vec::new();
            if let Some(activity) = &report.activity {
                data.extend([
                    datum(worker::RECEIVED, activity.received as f64, StandardUnit::Count),
                    datum(worker::PROCESSED, activity.processed as f64, StandardUnit::Count),
                    datum(worker::FAILED, activity.failed as f64, StandardUnit::Count),
                    datum(worker::BUSY_SECONDS, activity.busy.as_secs_f64(), StandardUnit::Seconds),
                ]);
            }
            if let Some(instance_id) = &report.alive_on {
                let instance = Dimension::builder().name(dimension::INSTANCE_ID).value(instance_id).build();
                data.push(datum(worker::ALIVE, 1.0, StandardUnit::Count).dimensions(instance));
            }
            if data.is_empty() {
                return Ok(());
            }
            self.cloudwatch
                .put_metric_data()
                .namespace(&self.namespace)
                .set_metric_data(Some(data.into_iter().map(|d| d.build()).collect()))
                .send()
                .await
                .map(|_| ())
                .map_err(cloud_error("PutMetricData"))
        })
    }
}
