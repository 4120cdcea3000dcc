//! Real `switchyard-consumer` processes against LocalStack (SQS, and Auto Scaling from the
//! project's plugin), each bound to one instance of a consumer group.
//!
//! moto's Auto Scaling removes unprotected instances at once when the desired capacity drops and
//! keeps protected ones; unlike AWS it never comes back later to remove the surplus once their
//! protection is off, so the tests repeat the SetDesiredCapacity call (as AWS's own reconciliation
//! would do).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{localstack, unique_name};
use switchyard_worker::{Job, JobFailed, Worker, WorkerConfig};
use tokio::process::{Child, Command};

struct Fleet {
    clients: Clients,
    group: String,
    queue_url: String,
    dlq_url: String,
    logs: PathBuf,
}

async fn fleet(prefix: &str, instances: i32) -> Fleet {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name(prefix));
    bootstrap(&clients, &env).await.unwrap();
    let group = env.fleets[1].group_name.clone();
    if instances > 0 {
        clients
            .autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&group)
            .desired_capacity(instances)
            .send()
            .await
            .unwrap();
    }
    let url = |name: String| {
        let sqs = clients.sqs.clone();
        async move { sqs.get_queue_url().queue_name(name).send().await.unwrap().queue_url().unwrap().to_owned() }
    };
    let (queue_url, dlq_url) = (url(env.work_queue.clone()).await, url(env.dead_letter_queue.clone()).await);
    let logs = std::env::temp_dir().join(unique_name("switchyard-worker-test"));
    std::fs::create_dir_all(&logs).unwrap();
    Fleet { clients, group, queue_url, dlq_url, logs }
}

impl Fleet {
    async fn instances(&self) -> Vec<(String, bool)> {
        let out = self
            .clients
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.group)
            .send()
            .await
            .unwrap();
        let mut found: Vec<(String, bool)> = out.auto_scaling_groups()[0]
            .instances()
            .iter()
            .map(|i| (i.instance_id().unwrap_or_default().to_owned(), i.protected_from_scale_in().unwrap_or(false)))
            .collect();
        found.sort();
        found
    }

    async fn set_desired(&self, n: i32) {
        self.clients
            .autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&self.group)
            .desired_capacity(n)
            .send()
            .await
            .unwrap();
    }

    async fn send(&self, body: &str) {
        self.clients.sqs.send_message().queue_url(&self.queue_url).message_body(body).send().await.unwrap();
    }

    /// A consumer process: `name` names its log files; `extra` adds or overrides settings.
    fn worker(&self, name: &str, instance: Option<&str>, extra: &[(&str, &str)]) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchyard-consumer"));
        command
            .envs(localstack().child_env())
            .env("SWITCHYARD_QUEUE_URL", &self.queue_url)
            .env("SWITCHYARD_CONCURRENCY", "1")
            .env("SWITCHYARD_WAIT_SECS", "1")
            .env("SWITCHYARD_VISIBILITY_SECS", "3")
            .env("SWITCHYARD_LIFECYCLE_CHECK_SECS", "1")
            .env("SWITCHYARD_PROTECTION_IDLE_SECS", "1")
            .env("SWITCHYARD_STOP_DEADLINE_SECS", "20")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(self.logs.join(format!("{name}.out"))).unwrap())
            .stderr(std::fs::File::create(self.logs.join(format!("{name}.err"))).unwrap())
            .kill_on_drop(true);
        if let Some(instance) = instance {
            command.env("SWITCHYARD_INSTANCE_ID", instance);
        }
        for (k, v) in extra {
            command.env(k, v);
        }
        command.spawn().expect("the consumer starts")
    }

    /// The JSON lines a worker printed on stdout.
    fn lines(&self, name: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.logs.join(format!("{name}.out")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn processed(&self, names: &[&str]) -> Vec<serde_json::Value> {
        names.iter().flat_map(|n| self.lines(n)).filter(|l| l["event"] == "processed").collect()
    }

    fn summary(&self, name: &str) -> Option<serde_json::Value> {
        self.lines(name).into_iter().find(|l| l["event"] == "summary")
    }

    fn stderr(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.err"))).unwrap_or_default()
    }

    async fn queue_count(&self, url: &str, attribute: QueueAttributeName) -> u64 {
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(attribute.clone())
            .send()
            .await
            .unwrap();
        out.attributes().and_then(|a| a.get(&attribute)).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

/// Wait for `what` up to `limit`, polling every 100 ms.
async fn eventually<F: AsyncFn() -> bool>(limit: Duration, what: &str, check: F) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Bodies processed, with how many times each was.
fn tally(processed: &[serde_json::Value]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in processed {
        *counts.entry(line["body"].as_str().unwrap_or_default().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn scale_in_takes_the_idle_worker_and_busy_ones_finish_their_jobs() {
    let fleet = fleet("scalein", 3).await;
    let ids: Vec<String> = fleet.instances().await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 3);
    let names = ["w0", "w1", "w2"];
    let mut workers: Vec<Child> = ids
        .iter()
        .zip(names)
        .map(|(id, name)| fleet.worker(name, Some(id), &[("SWITCHYARD_WORK_MS", "6000")]))
        .collect();

    // Two long jobs: two workers take one each (concurrency 1) and protect their instances.
    fleet.send("job-1").await;
    fleet.send("job-2").await;
    eventually(Duration::from_secs(20), "two instances protected", async || {
        fleet.instances().await.iter().filter(|(_, p)| *p).count() == 2
    })
    .await;
    let busy: Vec<String> = fleet.instances().await.into_iter().filter(|(_, p)| *p).map(|(id, _)| id).collect();

    // The scaler's decision lands while both are busy: in to 1.
    fleet.set_desired(1).await;
    let after: Vec<String> = fleet.instances().await.into_iter().map(|(id, _)| id).collect();
    assert_eq!(after, busy, "only the idle instance was removed; the busy ones are protected");
    // The idle worker notices its instance is gone and stops, having done nothing.
    let idle = names[ids.iter().position(|id| !busy.contains(id)).unwrap()];
    let idle_index = names.iter().position(|n| *n == idle).unwrap();
    tokio::time::timeout(Duration::from_secs(15), workers[idle_index].wait())
        .await
        .expect("the idle worker stops")
        .unwrap();
    let summary = fleet.summary(idle).expect("a summary");
    assert_eq!(summary["received"], 0);
    assert!(summary["stopped_because"].as_str().unwrap().contains("no longer in group"), "{summary}");

    // Both jobs finish on the busy instances, which are still there when they do.
    eventually(Duration::from_secs(20), "both jobs processed", async || fleet.processed(&names).len() == 2).await;
    let processed = fleet.processed(&names);
    for line in &processed {
        assert!(busy.contains(&line["instance"].as_str().unwrap().to_owned()), "{line}");
    }
    // Idle again: protection comes off; the surplus instance can now go, and its worker stops.
    eventually(Duration::from_secs(10), "protection off", async || fleet.instances().await.iter().all(|(_, p)| !*p))
        .await;
    fleet.set_desired(1).await;
    assert_eq!(fleet.instances().await.len(), 1);
    eventually(Duration::from_secs(15), "a second worker stopped", async || {
        names.iter().filter(|n| fleet.summary(n).is_some()).count() == 2
    })
    .await;

    let counts = tally(&fleet.processed(&names));
    assert_eq!(counts.get("job-1"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("job-2"), Some(&1), "{counts:?}");
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    println!("scale-in: 2 jobs, 2 processed, {duplicates} duplicate deliveries");
    assert_eq!(fleet.queue_count(&fleet.queue_url, QueueAttributeName::ApproximateNumberOfMessages).await, 0);
    for w in &mut workers {
        let _ = w.start_kill();
    }
}

#[tokio::test]
async fn a_worker_killed_mid_job_loses_nothing_and_the_heartbeat_kept_the_job_its_own() {
    let fleet = fleet("kill9", 2).await;
    let ids: Vec<String> = fleet.instances().await.into_iter().map(|(id, _)| id).collect();
    let names = ["k0", "k1"];
    // Jobs of 5 s with a 3 s visibility timeout: only the heartbeat keeps a job from a second worker.
    let mut workers: Vec<Child> = ids
        .iter()
        .zip(names)
        .map(|(id, name)| fleet.worker(name, Some(id), &[("SWITCHYARD_WORK_MS", "5000")]))
        .collect();
    fleet.send("long-job").await;
    eventually(Duration::from_secs(20), "one instance protected", async || {
        fleet.instances().await.iter().any(|(_, p)| *p)
    })
    .await;
    // Past the visibility timeout: the heartbeat renewed it, the other worker has not got it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let holder = fleet.instances().await.into_iter().position(|(_, p)| p).unwrap();
    let holder_id = &fleet.instances().await[holder].0;
    let index = ids.iter().position(|id| id == holder_id).unwrap();
    assert_eq!(fleet.processed(&names).len(), 0, "the job is still running");
    let pid = workers[index].id().unwrap();
    let killed = std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    let _ = workers[index].wait().await;

    // Redelivered after the visibility timeout to the other worker, and processed there once.
    eventually(Duration::from_secs(20), "the job processed by the survivor", async || {
        fleet.processed(&names).len() == 1
    })
    .await;
    let processed = fleet.processed(&names);
    assert_eq!(processed[0]["body"], "long-job");
    assert_eq!(processed[0]["receive_count"], 2, "received twice: once by the killed worker, once after");
    assert_ne!(processed[0]["instance"].as_str().unwrap(), holder_id);
    eventually(Duration::from_secs(5), "the queue empty", async || {
        fleet.queue_count(&fleet.queue_url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await == 0
    })
    .await;
    for w in &mut workers {
        let _ = w.start_kill();
    }
}

#[tokio::test]
async fn a_poison_message_reaches_the_dead_letter_queue_while_others_are_served() {
    let fleet = fleet("poison", 0).await;
    let mut worker = fleet.worker(
        "p0",
        None,
        &[
            ("SWITCHYARD_WORK_MS", "10"),
            ("SWITCHYARD_FAIL_MARKER", "poison"),
            ("SWITCHYARD_RETRY_DELAY_SECS", "0"),
            ("SWITCHYARD_CONCURRENCY", "2"),
        ],
    );
    fleet.send("poison pill").await;
    for i in 0..5 {
        fleet.send(&format!("good-{i}")).await;
    }
    eventually(Duration::from_secs(30), "the poison message in the DLQ", async || {
        fleet.queue_count(&fleet.dlq_url, QueueAttributeName::ApproximateNumberOfMessages).await == 1
    })
    .await;
    eventually(Duration::from_secs(10), "every good message processed", async || fleet.processed(&["p0"]).len() == 5)
        .await;
    let counts = tally(&fleet.processed(&["p0"]));
    assert!((0..5).all(|i| counts.get(&format!("good-{i}")) == Some(&1)), "{counts:?}");
    assert!(!counts.contains_key("poison pill"));
    let received = fleet.clients.sqs.receive_message().queue_url(&fleet.dlq_url).send().await.unwrap();
    assert_eq!(received.messages()[0].body(), Some("poison pill"));
    assert!(fleet.stderr("p0").contains("job failed"));

    // SIGTERM: a graceful stop with a summary.
    let pid = worker.id().unwrap();
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.expect("stops on SIGTERM").unwrap();
    let summary = fleet.summary("p0").unwrap();
    assert_eq!(summary["processed"], 5);
    assert_eq!(summary["failed"], 5, "maxReceiveCount 5: five failed attempts, then the DLQ");
    assert_eq!(summary["stopped_because"], "stop signal");
}

#[tokio::test]
async fn sigterm_mid_job_finishes_it_within_the_deadline_or_releases_it() {
    let fleet = fleet("sigterm", 0).await;
    // A job longer than the stop deadline is released (visible again at once) ...
    let mut slow = fleet.worker("s0", None, &[("SWITCHYARD_WORK_MS", "8000"), ("SWITCHYARD_STOP_DEADLINE_SECS", "1")]);
    fleet.send("too-long").await;
    eventually(Duration::from_secs(10), "the job held", async || {
        fleet.queue_count(&fleet.queue_url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await == 1
    })
    .await;
    std::process::Command::new("kill").args(["-TERM", &slow.id().unwrap().to_string()]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(10), slow.wait()).await.expect("stops after the deadline").unwrap();
    assert_eq!(fleet.summary("s0").unwrap()["released"], 1);
    assert_eq!(
        fleet.queue_count(&fleet.queue_url, QueueAttributeName::ApproximateNumberOfMessages).await,
        1,
        "visible again at once"
    );

    // ... and a job that fits the deadline is finished before the worker exits.
    let mut patient = fleet.worker("s1", None, &[("SWITCHYARD_WORK_MS", "1500")]);
    eventually(Duration::from_secs(10), "the job held again", async || {
        fleet.queue_count(&fleet.queue_url, QueueAttributeName::ApproximateNumberOfMessagesNotVisible).await == 1
    })
    .await;
    std::process::Command::new("kill").args(["-TERM", &patient.id().unwrap().to_string()]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(10), patient.wait()).await.expect("stops after the job").unwrap();
    let summary = fleet.summary("s1").unwrap();
    assert_eq!((summary["processed"].as_u64(), summary["released"].as_u64()), (Some(1), Some(0)), "{summary}");
    assert_eq!(fleet.processed(&["s1"])[0]["receive_count"], 2);
}

#[tokio::test]
async fn a_clients_idempotency_key_sent_as_a_message_attribute_reaches_the_handlers_job() {
    let fleet = fleet("idempotency", 0).await;
    // As the router sends it: the client's Idempotency-Key header as a String attribute.
    let key = MessageAttributeValue::builder().data_type("String").string_value("order-42").build().unwrap();
    fleet
        .clients
        .sqs
        .send_message()
        .queue_url(&fleet.queue_url)
        .message_body("keyed")
        .message_attributes("IdempotencyKey", key)
        .send()
        .await
        .unwrap();
    fleet.send("unkeyed").await;

    let mut config = WorkerConfig::new(&fleet.queue_url);
    config.wait = Duration::from_secs(1);
    let worker = Worker::new(config, &localstack().sdk_config().await).await.unwrap();
    let jobs = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Job>::new()));
    let seen = std::sync::Arc::clone(&jobs);
    let handler = move |job: Job| {
        let seen = std::sync::Arc::clone(&seen);
        async move {
            seen.lock().unwrap().push(job);
            Ok::<(), JobFailed>(())
        }
    };
    let both_handled = async {
        eventually(Duration::from_secs(20), "both jobs handled", async || jobs.lock().unwrap().len() == 2).await;
    };
    let summary = worker.run(handler, both_handled).await;

    let keys: HashMap<String, Option<String>> =
        jobs.lock().unwrap().iter().map(|j| (j.body.clone(), j.idempotency_key.clone())).collect();
    assert_eq!(keys.get("keyed"), Some(&Some("order-42".to_owned())), "{keys:?}");
    assert_eq!(keys.get("unkeyed"), Some(&None), "{keys:?}");
    assert_eq!(summary.processed, 2);
}

#[tokio::test]
async fn an_instance_left_protected_by_a_dead_worker_is_unprotected_when_a_worker_starts_there() {
    let fleet = fleet("leftprotected", 1).await;
    let id = fleet.instances().await[0].0.clone();
    // As a worker killed with -9 mid-job leaves it: protected, with no worker.
    fleet
        .clients
        .autoscaling
        .set_instance_protection()
        .auto_scaling_group_name(&fleet.group)
        .instance_ids(&id)
        .protected_from_scale_in(true)
        .send()
        .await
        .unwrap();
    assert_eq!(fleet.instances().await, [(id.clone(), true)]);

    let namespace = format!("Switchyard/{}", unique_name("alive"));
    let mut worker = fleet.worker(
        "l0",
        Some(&id),
        &[
            ("SWITCHYARD_FLEET", "workers"),
            ("SWITCHYARD_METRICS_NAMESPACE", &namespace),
            ("SWITCHYARD_ACTIVITY_INTERVAL_SECS", "1"),
        ],
    );
    eventually(Duration::from_secs(15), "protection cleared", async || {
        fleet.instances().await == [(id.clone(), false)]
    })
    .await;
    assert!(worker.try_wait().unwrap().is_none(), "the worker runs on, idle");
    assert!(fleet.stderr("l0").contains("clearing scale-in protection"), "{}", fleet.stderr("l0"));

    // Idle and unprotected, it still reports that it is alive there, for the scaler.
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&localstack().sdk_config().await);
    eventually(Duration::from_secs(15), "WorkerAlive for the instance", async || {
        let out = cloudwatch.list_metrics().namespace(&namespace).metric_name("WorkerAlive").send().await.unwrap();
        out.metrics().iter().any(|m| {
            let dimension = |name: &str| m.dimensions().iter().find(|d| d.name() == Some(name)).and_then(|d| d.value());
            m.dimensions().len() == 2 && dimension("Fleet") == Some("workers") && dimension("InstanceId") == Some(&id)
        })
    })
    .await;

    std::process::Command::new("kill").args(["-TERM", &worker.id().unwrap().to_string()]).status().unwrap();
    tokio::time::timeout(Duration::from_secs(10), worker.wait()).await.expect("stops on SIGTERM").unwrap();
    assert_eq!(fleet.summary("l0").unwrap()["protection_calls"], 1, "one call: the clearing");
}
