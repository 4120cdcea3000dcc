//! A worker killed with -9 leaves its instance protected from scale-in; the scaler takes that
//! protection off once the worker's `WorkerAlive` reports have stopped (LocalStack, a compressed
//! clock: 1 s history, 10 s to call a worker dead).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use scaler::cloud::AwsCloud;
use scaler::config::Config;
use scaler::tick::tick;
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{localstack, unique_name};

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

/// Whether the instance is protected; `None` once it has left the group.
async fn protected(clients: &Clients, instance: &str) -> Option<bool> {
    let found = clients.autoscaling.describe_auto_scaling_instances().instance_ids(instance).send().await.unwrap();
    found.auto_scaling_instances().first().map(|i| i.protected_from_scale_in().unwrap_or(false))
}

#[tokio::test]
async fn a_dead_workers_instance_loses_its_protection_and_a_live_ones_keeps_it() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("dead"));
    bootstrap(&clients, &env).await.unwrap();
    let group = env.fleets[1].group_name.clone();
    clients
        .autoscaling
        .set_desired_capacity()
        .auto_scaling_group_name(&group)
        .desired_capacity(2)
        .send()
        .await
        .unwrap();
    let groups =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&group).send().await.unwrap();
    let ids: Vec<String> =
        groups.auto_scaling_groups()[0].instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
    let (dead, live) = (ids[0].clone(), ids[1].clone());
    clients
        .autoscaling
        .set_instance_protection()
        .auto_scaling_group_name(&group)
        .set_instance_ids(Some(ids.clone()))
        .protected_from_scale_in(true)
        .send()
        .await
        .unwrap();

    // The heartbeats the two workers sent: the dead one's stopped 20 s ago.
    let namespace = format!("Switchyard/{}", env.work_queue);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let alive = |instance: &str, secs_ago: u64| {
        MetricDatum::builder()
            .metric_name("WorkerAlive")
            .dimensions(Dimension::builder().name("Fleet").value("workers").build())
            .dimensions(Dimension::builder().name("InstanceId").value(instance).build())
            .timestamp(DateTime::from(SystemTime::now() - Duration::from_secs(secs_ago)))
            .value(1.0)
            .storage_resolution(1)
            .build()
    };
    for (instance, ago) in [(&dead, 40), (&dead, 30), (&dead, 20), (&live, 30), (&live, 2)] {
        cloudwatch.put_metric_data().namespace(&namespace).metric_data(alive(instance, ago)).send().await.unwrap();
    }

    let queue = clients.sqs.get_queue_url().queue_name(&env.work_queue).send().await.unwrap().queue_url.unwrap();
    let fleets = format!(
        r#"[{{"name": "workers", "group": "{group}", "role": "consumer", "queue_url": "{queue}", "backlog_per_instance": 10}}]"#
    );
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_WORKER_DEAD_AFTER_SECS", "10".into()),
        ("SWITCHYARD_METRICS_NAMESPACE", namespace),
    ]);
    let config = Config::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let report = tick(&AwsCloud::new(&sdk), &config, false, now()).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.fleets[0].unprotected, std::slice::from_ref(&dead));
    // The same tick scales the idle fleet in: the unprotected instance may already be gone.
    assert_ne!(protected(&clients, &dead).await, Some(true), "the dead worker's instance is free to go");
    assert_eq!(protected(&clients, &live).await, Some(true), "the live worker keeps its protection and its instance");
}
