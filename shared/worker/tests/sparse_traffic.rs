//! Sparse traffic against LocalStack on a compressed clock: a message every few seconds, each
//! handled in a moment, a scaler tick every second that almost never sees the queue non-empty.
//! Without the workers' activity reports the scaler would idle the fleet to zero between messages
//! (and wake it again on the next one); with them, the fleet stays at one.
//!
//! Real parts: SQS, CloudWatch and Auto Scaling (project plugin) in LocalStack; the worker library
//! and the scaler's `tick` in this process, each with its SDK clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scaler::cloud::AwsCloud;
use scaler::config::Config;
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{localstack, unique_name};
use switchyard_worker::{Job, JobFailed, Worker, WorkerConfig};

/// Idle time before the scaler takes the fleet to zero.
const ZERO_AFTER_S: u64 = 6;
/// Gap between two messages: well inside the idle time, far longer than a job.
const GAP_S: u64 = 3;
const MESSAGES: u64 = 8;

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

#[tokio::test]
async fn a_message_every_few_seconds_keeps_one_worker_instead_of_flapping_to_zero() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("sparse"));
    bootstrap(&clients, &env).await.unwrap();
    let group = env.fleets[1].group_name.clone();
    let queue_url = clients.sqs.get_queue_url().queue_name(&env.work_queue).send().await.unwrap().queue_url.unwrap();
    let namespace = format!("Switchyard/{}", env.work_queue);
    clients
        .autoscaling
        .set_desired_capacity()
        .auto_scaling_group_name(&group)
        .desired_capacity(1)
        .send()
        .await
        .unwrap();

    let fleets = format!(
        r#"[{{"name": "workers", "group": "{group}", "role": "consumer", "queue_url": "{queue_url}", "backlog_per_instance": 10}}]"#
    );
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_SCALE_DOWN_WINDOW_SECS", "2".into()),
        ("SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS", ZERO_AFTER_S.to_string()),
        ("SWITCHYARD_SCALE_UP_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_METRIC_MAX_AGE_SECS", "30".into()),
        ("SWITCHYARD_METRICS_NAMESPACE", namespace.clone()),
    ]);
    let scaler_config = Config::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let cloud = AwsCloud::new(&localstack().sdk_config().await);

    // The worker reports its activity every second under the scaler's fleet name.
    let mut config = WorkerConfig::new(&queue_url);
    config.wait = Duration::from_secs(1);
    config.fleet = Some("workers".into());
    config.namespace = namespace;
    config.activity_interval = Duration::from_secs(1);
    let worker = Worker::new(config, &sdk).await.unwrap();
    let processed = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&processed);
    let handler = move |_job: Job| {
        let counter = Arc::clone(&counter);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            Ok::<(), JobFailed>(())
        }
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        worker
            .run(handler, async move {
                let _ = stop_rx.await;
            })
            .await
    });

    // One message every GAP_S seconds; the scaler ticks every second in between.
    let mut sizes = Vec::new();
    let mut seen_busy = 0;
    for i in 0..MESSAGES {
        clients.sqs.send_message().queue_url(&queue_url).message_body(format!("sparse {i}")).send().await.unwrap();
        for _ in 0..GAP_S {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let report = tick_once(&cloud, &scaler_config).await;
            let fleet = &report.fleets[0];
            seen_busy += usize::from(fleet.queue.as_ref().is_some_and(|q| q.visible + q.in_flight > 0));
            sizes.push(fleet.desired);
        }
    }
    let _ = stop_tx.send(());
    let summary = running.await.unwrap();

    println!(
        "sparse traffic: {MESSAGES} messages {GAP_S} s apart, {} ticks, queue seen non-empty by {seen_busy} ticks, sizes {sizes:?}",
        sizes.len()
    );
    assert_eq!(processed.load(Ordering::SeqCst), MESSAGES);
    assert_eq!(summary.processed, MESSAGES);
    assert!(
        sizes.iter().all(|&s| s == 1),
        "the fleet stays at one between sparse messages (idle limit {ZERO_AFTER_S} s): {sizes:?}"
    );

    // The reports are what kept it: with the worker stopped, the same scaler idles it to zero.
    tokio::time::sleep(Duration::from_secs(ZERO_AFTER_S + 2)).await;
    let report = tick_once(&cloud, &scaler_config).await;
    assert_eq!(report.fleets[0].desired, 0, "idle once the work stops: {:?}", report.fleets[0].steps);
}

async fn tick_once(cloud: &AwsCloud, config: &Config) -> scaler::tick::TickReport {
    let report = scaler::tick::tick(cloud, config, false, now()).await;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    report
}
