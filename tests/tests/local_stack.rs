//! The local AWS stack works the way Switchyard needs it to, through the AWS SDK for Rust:
//! Auto Scaling (served by the project's LocalStack plugin) with EC2 instance addresses, SQS, and
//! CloudWatch metric data with dimensions.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat, StandardUnit};
use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData};
use aws_sdk_sqs::types::QueueAttributeName;
use switchyard_tests::{SeparateLocalStack, localstack, unique_name};

#[tokio::test]
async fn auto_scaling_group_launches_instances_with_private_ips_and_follows_desired_capacity() {
    let config = localstack().sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let name = unique_name("web");

    ec2.create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(RequestLaunchTemplateData::builder().image_id("ami-0123456789abcdef0").build())
        .send()
        .await
        .unwrap();
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(&name)
        .launch_template(LaunchTemplateSpecification::builder().launch_template_name(&name).version("$Latest").build())
        .min_size(0)
        .max_size(5)
        .desired_capacity(1)
        .availability_zones("us-east-1a")
        .send()
        .await
        .unwrap();

    autoscaling.set_desired_capacity().auto_scaling_group_name(&name).desired_capacity(3).send().await.unwrap();

    let groups = autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&name).send().await.unwrap();
    let group = &groups.auto_scaling_groups()[0];
    assert_eq!(group.desired_capacity(), Some(3));
    let ids: Vec<String> = group.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
    assert_eq!(ids.len(), 3, "one instance per unit of desired capacity: {:?}", group.instances());
    assert!(group.instances().iter().all(|i| i.lifecycle_state().map(|s| s.as_str()) == Some("InService")));

    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.clone()))
        .filters(Filter::builder().name("instance-state-name").values("running").build())
        .send()
        .await
        .unwrap();
    let ips: Vec<&str> =
        described.reservations().iter().flat_map(|r| r.instances()).filter_map(|i| i.private_ip_address()).collect();
    assert_eq!(ips.len(), 3, "every instance has a private IP");
    assert!(ips.iter().all(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok_and(|a| a.is_private())), "{ips:?}");

    // Scale in: desired 1 leaves one instance in service.
    autoscaling.set_desired_capacity().auto_scaling_group_name(&name).desired_capacity(1).send().await.unwrap();
    let groups = autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&name).send().await.unwrap();
    assert_eq!(groups.auto_scaling_groups()[0].instances().len(), 1);
}

/// The queue's message counts, as GetQueueAttributes reports them.
async fn counts(sqs: &aws_sdk_sqs::Client, url: &str) -> std::collections::HashMap<QueueAttributeName, u32> {
    let attributes =
        sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await.unwrap();
    attributes.attributes.unwrap().into_iter().filter_map(|(name, value)| Some((name, value.parse().ok()?))).collect()
}

#[tokio::test]
async fn sqs_sends_receives_and_counts_messages() {
    let config = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let url = sqs.create_queue().queue_name(unique_name("work")).send().await.unwrap().queue_url.unwrap();

    for i in 0..3 {
        sqs.send_message().queue_url(&url).message_body(format!("job {i}")).send().await.unwrap();
    }

    let attrs = counts(&sqs, &url).await;
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], 3);

    let received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 3);
    let mut bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
    bodies.sort();
    assert_eq!(bodies, ["job 0", "job 1", "job 2"]);

    let attrs = counts(&sqs, &url).await;
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessages], 0);
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible], 3);

    for m in messages {
        sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
    }
    let attrs = counts(&sqs, &url).await;
    assert_eq!(attrs[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible], 0);
}

#[tokio::test]
async fn cloudwatch_returns_put_metric_data_by_dimension() {
    let config = localstack().sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let namespace = unique_name("Switchyard/Test");
    let now = std::time::SystemTime::now();
    let dimension = |target: &str| Dimension::builder().name("Target").value(target).build();

    for (target, value) in [("a", 4.0), ("a", 6.0), ("b", 100.0)] {
        cloudwatch
            .put_metric_data()
            .namespace(&namespace)
            .metric_data(
                MetricDatum::builder()
                    .metric_name("InFlight")
                    .dimensions(dimension(target))
                    .value(value)
                    .unit(StandardUnit::Count)
                    .timestamp(DateTime::from(now))
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    let query = |id: &str, target: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&namespace)
                            .metric_name("InFlight")
                            .dimensions(dimension(target))
                            .build(),
                    )
                    .period(60)
                    .stat("Average")
                    .build(),
            )
            .build()
    };
    let data = cloudwatch
        .get_metric_data()
        .metric_data_queries(query("a", "a"))
        .metric_data_queries(query("b", "b"))
        .start_time(DateTime::from(now - Duration::from_secs(300)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .unwrap();
    let values = |id: &str| -> Vec<f64> {
        data.metric_data_results().iter().find(|r| r.id() == Some(id)).map(|r| r.values().to_vec()).unwrap_or_default()
    };
    assert_eq!(values("a"), [5.0], "average of the two samples for target a");
    assert_eq!(values("b"), [100.0]);
}

#[tokio::test]
async fn another_localstack_starting_and_stopping_leaves_this_ones_state_alone() {
    // Host-mode LocalStack keeps state in a folder it wipes on start and stop; each instance the
    // project starts must have its own, or one test binary's LocalStack erases another's.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&localstack().sdk_config().await);
    let namespace = unique_name("Switchyard/Isolation");
    let now = std::time::SystemTime::now();
    let datum = MetricDatum::builder().metric_name("Kept").value(7.0).timestamp(DateTime::from(now)).build();
    cloudwatch.put_metric_data().namespace(&namespace).metric_data(datum).send().await.unwrap();

    let other = tokio::task::spawn_blocking(SeparateLocalStack::start).await.unwrap();
    let other_cloudwatch = aws_sdk_cloudwatch::Client::new(&other.sdk_config().await);
    let datum = MetricDatum::builder().metric_name("Other").value(1.0).timestamp(DateTime::from(now)).build();
    other_cloudwatch.put_metric_data().namespace("Elsewhere").metric_data(datum).send().await.unwrap();
    tokio::task::spawn_blocking(move || drop(other)).await.unwrap();

    let query = MetricDataQuery::builder()
        .id("kept")
        .metric_stat(
            MetricStat::builder()
                .metric(Metric::builder().namespace(&namespace).metric_name("Kept").build())
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .build();
    let data = cloudwatch
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(DateTime::from(now - Duration::from_secs(300)))
        .end_time(DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .expect("this instance's CloudWatch still works after another instance came and went");
    assert_eq!(data.metric_data_results()[0].values(), [7.0]);
}
