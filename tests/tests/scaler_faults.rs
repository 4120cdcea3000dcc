//! The scaler when AWS goes away mid-tick: the tick reports the error and changes nothing; the
//! next tick after the restart decides correctly. A binary of its own, with a LocalStack it owns,
//! since it stops and restarts it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scaler::cloud::{AwsCloud, Cloud, CloudError, Group, HistoryPoint, MetricQuery, QueueDepth, Series};
use scaler::config::Config;
use scaler::tick::tick;
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{private_localstack, restart_owned, stop_owned, unique_name};

/// The SDK implementation, but LocalStack is stopped right after the reads, before anything is
/// written: the middle of the tick.
struct StopsAfterReads {
    inner: AwsCloud,
    stop: AtomicBool,
}

impl Cloud for StopsAfterReads {
    async fn describe_groups(&self, names: &[String]) -> Result<Vec<Group>, CloudError> {
        self.inner.describe_groups(names).await
    }
    async fn queue_depth(&self, url: &str) -> Result<QueueDepth, CloudError> {
        self.inner.queue_depth(url).await
    }
    async fn metric_data(
        &self,
        q: &[MetricQuery],
        start: Time,
        end: Time,
    ) -> Result<HashMap<String, Series>, CloudError> {
        self.inner.metric_data(q, start, end).await
    }
    async fn record_history(&self, namespace: &str, points: &[HistoryPoint], hr: bool) -> Result<(), CloudError> {
        if self.stop.swap(false, Ordering::SeqCst) {
            stop_owned(private_localstack());
        }
        self.inner.record_history(namespace, points, hr).await
    }
    async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), CloudError> {
        self.inner.set_desired_capacity(group, desired).await
    }
    async fn unprotect(&self, group: &str, instances: &[String]) -> Result<(), CloudError> {
        self.inner.unprotect(group, instances).await
    }
}

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

async fn environment(clients: &Clients, env: &LocalEnvironment, messages: usize) -> Config {
    bootstrap(clients, env).await.expect("bootstrap");
    let url = clients.sqs.get_queue_url().queue_name(&env.work_queue).send().await.unwrap().queue_url.unwrap();
    for i in 0..messages {
        clients.sqs.send_message().queue_url(&url).message_body(format!("job {i}")).send().await.unwrap();
    }
    let fleets = format!(
        r#"[{{"name": "workers", "group": "{}", "role": "consumer", "queue_url": "{url}", "backlog_per_instance": 10}}]"#,
        env.fleets[1].group_name
    );
    let settings = HashMap::from([("SWITCHYARD_FLEETS", fleets), ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".to_owned())]);
    Config::from_lookup(|k| settings.get(k).cloned()).expect("valid config")
}

#[tokio::test]
async fn localstack_stopped_mid_tick_changes_nothing_and_the_next_tick_after_restart_decides() {
    let localstack = private_localstack();
    let sdk = localstack.sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("fault"));
    let config = environment(&clients, &env, 30).await;

    let cloud = StopsAfterReads { inner: AwsCloud::new(&localstack.sdk_config().await), stop: AtomicBool::new(true) };
    let report = tick(&cloud, &config, false, now()).await;
    assert!(report.fleets.is_empty(), "nothing was resized: {report:#?}");
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].error.contains("history not recorded"), "{:?}", report.failed);

    // LocalStack keeps no state across a restart here: the environment is made again.
    restart_owned(localstack);
    let config = environment(&clients, &env, 30).await;
    let report = tick(&cloud, &config, false, now()).await;
    assert_eq!(report.failed, [], "{report:#?}");
    assert_eq!(report.fleets[0].desired, 3, "ceil(30 / 10)");
    let groups = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(&env.fleets[1].group_name)
        .send()
        .await
        .unwrap();
    assert_eq!(groups.auto_scaling_groups()[0].desired_capacity(), Some(3));
}

#[tokio::test]
async fn with_localstack_down_from_the_start_the_tick_reports_every_fleet() {
    // Reads fail first: DescribeAutoScalingGroups. Uses an endpoint nothing listens on, so it
    // does not race the test above for the private instance.
    let aws = switchyard_tests::sdk_config_for("http://127.0.0.1:9").await;
    let fleets = r#"[{"name": "a", "group": "ga", "role": "consumer", "queue_url": "q/a", "backlog_per_instance": 1},
                     {"name": "b", "group": "gb", "role": "consumer", "queue_url": "q/b", "backlog_per_instance": 1}]"#;
    let config = Config::from_lookup(|k| (k == "SWITCHYARD_FLEETS").then(|| fleets.to_owned())).unwrap();
    let report = tick(&AwsCloud::new(&aws), &config, false, now()).await;
    assert!(report.fleets.is_empty());
    assert_eq!(report.failed.len(), 2);
    assert!(report.failed.iter().all(|f| f.error.starts_with("DescribeAutoScalingGroups")), "{:?}", report.failed);
}

/// A TCP endpoint that accepts connections and never answers.
async fn hung_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn with_sqs_not_answering_the_tick_ends_within_its_budget_and_every_fleet_holds() {
    let localstack = switchyard_tests::localstack();
    let sdk = localstack.sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("hung"));
    bootstrap(&clients, &env).await.unwrap();
    let workers = &env.fleets[1].group_name;
    let before =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(workers).send().await.unwrap();
    let desired_before = before.auto_scaling_groups()[0].desired_capacity();

    let mut cloud = AwsCloud::new(&sdk);
    let hung = aws_sdk_sqs::config::Builder::from(&sdk).endpoint_url(hung_endpoint().await).build();
    cloud.sqs = aws_sdk_sqs::Client::from_conf(hung);
    let fleets = format!(
        r#"[{{"name": "a", "group": "{workers}", "role": "consumer", "queue_url": "http://127.0.0.1/000000000000/a", "backlog_per_instance": 1}},
            {{"name": "b", "group": "{workers}", "role": "consumer", "queue_url": "http://127.0.0.1/000000000000/b", "backlog_per_instance": 1}}]"#
    );
    let env_vars = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_TICK_BUDGET_SECS", "6".to_owned()),
        ("SWITCHYARD_CALL_TIMEOUT_SECS", "2".to_owned()),
        ("SWITCHYARD_METRICS_NAMESPACE", format!("Switchyard/{}", env.work_queue)),
    ]);
    let config = Config::from_lookup(|k| env_vars.get(k).cloned()).unwrap();
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(Duration::from_secs(30), tick(&cloud, &config, false, now()))
        .await
        .expect("the tick ends (unbounded, a call to a silent endpoint never does)");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(7), "the 6 s budget holds: {took:?}");
    assert_eq!(report.failed.len(), 2, "both fleets reported: {:?}", report.failed);
    assert!(report.fleets.is_empty());
    let after =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(workers).send().await.unwrap();
    assert_eq!(after.auto_scaling_groups()[0].desired_capacity(), desired_before, "held");
}
