//! The floor with the router's AWS calls: the floor (`main.rs`) plus each SDK operation the router
//! sends (DescribeAutoScalingGroups, SetDesiredCapacity, DescribeInstances, GetMetricData,
//! GetQueueAttributes, SendMessage), reachable from the handler so that the linker keeps their
//! serializers and parsers. It separates what the router's own code weighs from what the SDK's
//! operation code weighs, which no choice of the router's can avoid while it calls them.

use lambda_runtime::{Error, LambdaEvent, run_concurrent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = switchyard_env::sdk_config().await;
    let clients = std::sync::Arc::new((
        aws_sdk_autoscaling::Client::new(&sdk),
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
        aws_sdk_cloudwatch::Client::new(&sdk),
    ));
    run_concurrent(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let clients = std::sync::Arc::clone(&clients);
        async move {
            if event.payload["call"].as_bool() == Some(true) {
                let (autoscaling, ec2, sqs, cloudwatch) = &*clients;
                let name = event.payload["name"].as_str().unwrap_or_default();
                let _ = std::hint::black_box(
                    autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await,
                );
                let _ = std::hint::black_box(
                    autoscaling.set_desired_capacity().auto_scaling_group_name(name).desired_capacity(1).send().await,
                );
                let _ = std::hint::black_box(ec2.describe_instances().instance_ids(name).send().await);
                let _ = std::hint::black_box(cloudwatch.get_metric_data().send().await);
                let _ = std::hint::black_box(sqs.get_queue_attributes().queue_url(name).send().await);
                let _ = std::hint::black_box(sqs.send_message().queue_url(name).message_body(name).send().await);
            }
            Ok::<_, Error>(event.payload)
        }
    }))
    .await
}
