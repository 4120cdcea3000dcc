//! The scaler against LocalStack (SQS, CloudWatch, and Auto Scaling through the project's plugin),
//! with stabilization windows compressed to seconds and the history kept in CloudWatch at 1 s
//! resolution.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use scaler::cloud::AwsCloud;
use scaler::config::Config;
use scaler::tick::{TickReport, tick};
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{localstack, unique_name};

/// A bootstrapped environment (queue, web fleet of 2, consumer fleet of 0) and a scaler for it.
struct World {
    env: LocalEnvironment,
    queue_url: String,
    clients: Clients,
    cloud: AwsCloud,
    config: Config,
}

/// The second tick must come within the window of the first: a purge and a tick against LocalStack
/// on a busy machine took 5 s (a 4 s window failed).
const WINDOW_S: u64 = 8;
/// The idle clock starts at the last tick that saw work, so by the "not to zero yet" tick it has
/// run the window's wait plus the drain and two ticks against LocalStack: 20 s leaves 11 s for
/// those.
const ZERO_AFTER_S: u64 = 20;

async fn world(extra_fleets: &str) -> World {
    let sdk = localstack().sdk_config().await;
    let env = LocalEnvironment::with_prefix(&unique_name("scale"));
    let clients = Clients::new(&sdk);
    bootstrap(&clients, &env).await.expect("bootstrap");
    let queue_url = clients.sqs.get_queue_url().queue_name(&env.work_queue).send().await.unwrap().queue_url.unwrap();
    let fleets = format!(
        r#"[{{"name": "workers", "group": "{workers}", "role": "consumer", "queue_url": "{queue_url}", "backlog_per_instance": 10}},
            {{"name": "web", "group": "{web}", "role": "web", "metrics": [{{"namespace": "{ns}", "name": "InFlightPerInstance",
              "dimensions": {{"AutoScalingGroupName": "{web}"}}, "statistic": "Average", "period": 1, "target": 10}}]}}
            {extra_fleets}]"#,
        workers = env.fleets[1].group_name,
        web = env.fleets[0].group_name,
        ns = test_namespace(&env),
    );
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_SCALE_DOWN_WINDOW_SECS", WINDOW_S.to_string()),
        ("SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS", ZERO_AFTER_S.to_string()),
        ("SWITCHYARD_SCALE_UP_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_METRIC_MAX_AGE_SECS", "30".into()),
        ("SWITCHYARD_METRICS_NAMESPACE", format!("Switchyard/{}", env.work_queue)),
    ]);
    let config = Config::from_lookup(|k| settings.get(k).cloned()).expect("valid config");
    World { env, queue_url, clients, cloud: AwsCloud::new(&localstack().sdk_config().await), config }
}

fn test_namespace(env: &LocalEnvironment) -> String {
    format!("App/{}", env.work_queue)
}

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

impl World {
    async fn tick(&self, dry_run: bool) -> TickReport {
        tick(&self.cloud, &self.config, dry_run, now()).await
    }

    async fn desired(&self, fleet: usize) -> i32 {
        let name = &self.env.fleets[fleet].group_name;
        let groups = self
            .clients
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .unwrap();
        groups.auto_scaling_groups()[0].desired_capacity().unwrap()
    }

    async fn send(&self, n: usize) {
        for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
            let mut batch = self.clients.sqs.send_message_batch().queue_url(&self.queue_url);
            for i in chunk {
                batch = batch.entries(
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(format!("job {i}"))
                        .build()
                        .unwrap(),
                );
            }
            batch.send().await.unwrap();
        }
    }

    async fn drain(&self) {
        self.clients.sqs.purge_queue().queue_url(&self.queue_url).send().await.unwrap();
    }
}

fn fleet<'a>(report: &'a TickReport, name: &str) -> &'a scaler::tick::FleetReport {
    report.fleets.iter().find(|f| f.fleet == name).unwrap_or_else(|| panic!("{name} not decided: {report:#?}"))
}

#[tokio::test]
async fn a_consumer_fleet_follows_its_backlog_waits_out_the_window_idles_to_zero_and_wakes() {
    let w = world("").await;

    w.send(40).await;
    let r = w.tick(false).await;
    assert_eq!(fleet(&r, "workers").desired, 4, "ceil(40 / 10): {r:#?}");
    assert_eq!(w.desired(1).await, 4);

    w.drain().await;
    let r = w.tick(false).await;
    assert_eq!(fleet(&r, "workers").desired, 4, "no scale-in within the window: {:?}", fleet(&r, "workers").steps);
    assert_eq!(w.desired(1).await, 4);

    tokio::time::sleep(Duration::from_secs(WINDOW_S + 1)).await;
    let r = w.tick(false).await;
    assert_eq!(
        fleet(&r, "workers").desired,
        1,
        "after the window, in — but not to zero yet: {:?}",
        fleet(&r, "workers").steps
    );
    assert_eq!(w.desired(1).await, 1);

    tokio::time::sleep(Duration::from_secs(ZERO_AFTER_S - WINDOW_S)).await;
    let r = w.tick(false).await;
    assert_eq!(fleet(&r, "workers").desired, 0, "idle long enough: {:?}", fleet(&r, "workers").steps);
    assert_eq!(w.desired(1).await, 0);

    w.send(1).await;
    let r = w.tick(false).await;
    assert_eq!(fleet(&r, "workers").desired, 1, "one message wakes it: {:?}", fleet(&r, "workers").steps);
    assert_eq!(w.desired(1).await, 1);
}

#[tokio::test]
async fn a_web_fleet_scales_out_by_the_tracked_formula() {
    let w = world("").await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&localstack().sdk_config().await);
    let at = SystemTime::now();
    cloudwatch
        .put_metric_data()
        .namespace(test_namespace(&w.env))
        .metric_data(
            MetricDatum::builder()
                .metric_name("InFlightPerInstance")
                .dimensions(
                    Dimension::builder().name("AutoScalingGroupName").value(&w.env.fleets[0].group_name).build(),
                )
                .value(30.0)
                .timestamp(DateTime::from(at - Duration::from_secs(1)))
                .storage_resolution(1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let r = w.tick(false).await;
    // 2 in service at 30 per instance, target 10: ceil(2 × 30 / 10) = 6.
    assert_eq!(fleet(&r, "web").desired, 6, "{:?}", fleet(&r, "web").steps);
    assert_eq!(w.desired(0).await, 6);
}

#[tokio::test]
async fn the_groups_limits_hold_whatever_the_signal_and_a_dry_run_changes_nothing() {
    let w = world("").await;
    w.send(500).await;
    let dry = w.tick(true).await;
    assert_eq!(fleet(&dry, "workers").desired, 10, "capped at the group's max: {:?}", fleet(&dry, "workers").steps);
    assert!(!fleet(&dry, "workers").acted);
    assert_eq!(w.desired(1).await, 0, "a dry run changes nothing");

    let real = w.tick(false).await;
    assert_eq!(fleet(&real, "workers").desired, 10);
    assert_eq!(w.desired(1).await, 10);
}

#[tokio::test]
async fn a_fleet_pointing_at_a_missing_group_does_not_stop_the_others() {
    let missing = r#", {"name": "ghost", "group": "no-such-group", "role": "consumer", "queue_url": "http://127.0.0.1:1/000000000000/none", "backlog_per_instance": 5}"#;
    let w = world(missing).await;
    w.send(25).await;
    let r = w.tick(false).await;
    assert_eq!(r.failed.len(), 1, "{r:#?}");
    assert_eq!(r.failed[0].fleet, "ghost");
    assert!(r.failed[0].error.contains("no-such-group"));
    assert_eq!(fleet(&r, "workers").desired, 3);
    assert_eq!(w.desired(1).await, 3);
}
