//! Throughput of one worker with a no-op handler against LocalStack, against a plain
//! receive/delete loop written with the SDK, in the same run (rounds alternate), and Auto Scaling
//! protection calls per 1 000 messages on a busy worker. Run with `bash infra/bench.sh worker`
//! (or `cargo bench -p switchyard-worker`); numbers only, no assertions.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark's setup failing is a failed run

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_worker::{Job, JobFailed, Worker, WorkerConfig};

const MESSAGES: usize = 1_000;
const ROUNDS: usize = 3;

async fn fill(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|i| {
                SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(format!("m{i}")).build().unwrap()
            })
            .collect();
        sqs.send_message_batch().queue_url(url).set_entries(Some(entries)).send().await.unwrap();
    }
}

/// What most hand-written consumers do: receive ten, handle, delete ten, repeat.
async fn plain_loop(sqs: &aws_sdk_sqs::Client, url: &str, n: usize) -> Duration {
    let started = Instant::now();
    let mut done = 0;
    while done < n {
        let out =
            sqs.receive_message().queue_url(url).max_number_of_messages(10).wait_time_seconds(0).send().await.unwrap();
        let entries: Vec<DeleteMessageBatchRequestEntry> = out
            .messages()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap())
                    .build()
                    .unwrap()
            })
            .collect();
        done += entries.len();
        if !entries.is_empty() {
            sqs.delete_message_batch().queue_url(url).set_entries(Some(entries)).send().await.unwrap();
        }
    }
    started.elapsed()
}

/// The worker with a no-op handler until `n` jobs are done; its summary.
async fn worker_run(worker: &Worker, n: u64) -> (Duration, switchyard_worker::Summary) {
    let count = Arc::new(AtomicU64::new(0));
    let all_done = Arc::new(tokio::sync::Notify::new());
    let (c, d) = (Arc::clone(&count), Arc::clone(&all_done));
    let handler = move |_job: Job| {
        let (c, d) = (Arc::clone(&c), Arc::clone(&d));
        async move {
            if c.fetch_add(1, Ordering::Relaxed) + 1 == n {
                d.notify_one();
            }
            Ok::<(), JobFailed>(())
        }
    };
    let started = Instant::now();
    let summary = worker.run(handler, async move { all_done.notified().await }).await;
    (started.elapsed(), summary)
}

#[tokio::main]
async fn main() {
    let localstack = switchyard_tests::localstack();
    let sdk = localstack.sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&switchyard_tests::unique_name("bench"));
    bootstrap(&clients, &env).await.unwrap();
    let url =
        clients.sqs.get_queue_url().queue_name(&env.work_queue).send().await.unwrap().queue_url().unwrap().to_owned();

    let mut config = WorkerConfig::new(&url);
    config.concurrency = 20;
    // Short polls for both loops: the plain loop knows how many messages to expect and never
    // waits on an empty queue; the worker does not, and a long poll on the drained queue would
    // add its whole wait to the worker's time.
    config.wait = Duration::ZERO;
    let worker = Worker::new(config.clone(), &sdk).await.unwrap();

    let (mut plain, mut ours) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        fill(&clients.sqs, &url, MESSAGES).await;
        plain.push(MESSAGES as f64 / plain_loop(&clients.sqs, &url, MESSAGES).await.as_secs_f64());
        fill(&clients.sqs, &url, MESSAGES).await;
        let (elapsed, summary) = worker_run(&worker, MESSAGES as u64).await;
        assert_eq!(summary.processed, MESSAGES as u64);
        ours.push(MESSAGES as f64 / elapsed.as_secs_f64());
        eprintln!("round {}/{ROUNDS}: plain {:.0} msg/s, worker {:.0} msg/s", round + 1, plain[round], ours[round]);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (plain, ours) = (median(plain), median(ours));
    println!(
        "throughput         plain receive/delete loop {plain:>7.0} msg/s   worker {ours:>7.0} msg/s   ratio {:.2}× (goal ≥ 0.9×)",
        ours / plain
    );

    // A busy worker bound to an instance: protection calls per 1 000 messages.
    let group = &env.fleets[1].group_name;
    clients.autoscaling.set_desired_capacity().auto_scaling_group_name(group).desired_capacity(1).send().await.unwrap();
    let groups =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
    let instance = groups.auto_scaling_groups()[0].instances()[0].instance_id().unwrap().to_owned();
    let mut bound = config;
    bound.instance = Some(switchyard_worker::InstanceSource::Id(instance));
    let worker = Worker::new(bound, &sdk).await.unwrap();
    fill(&clients.sqs, &url, MESSAGES).await;
    let (_, summary) = worker_run(&worker, MESSAGES as u64).await;
    println!(
        "protection         {} SetInstanceProtection calls for {} messages on a busy worker ({:.1} per 1 000; on at the start, off at the stop)",
        summary.protection_calls,
        summary.processed,
        summary.protection_calls as f64 * 1000.0 / summary.processed as f64
    );
}
