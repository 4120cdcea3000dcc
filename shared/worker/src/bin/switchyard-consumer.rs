//! An example consumer: each job "works" for `SWITCHYARD_WORK_MS` and fails when its body
//! contains `SWITCHYARD_FAIL_MARKER`. It prints one JSON line per processed job on stdout (the
//! demo and the tests count them) and a summary when it stops on SIGTERM/SIGINT or because its
//! instance left service. Configuration: `switchyard_worker::config` plus those two keys.

use std::time::Duration;

use switchyard_worker::{Job, JobFailed, Worker, WorkerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().json().with_writer(std::io::stderr).init();
    let config = WorkerConfig::from_env()?;
    let work = Duration::from_millis(
        std::env::var("SWITCHYARD_WORK_MS")
            .ok()
            .map(|v| v.trim().parse())
            .transpose()
            .map_err(|e| format!("SWITCHYARD_WORK_MS: expected milliseconds as a whole number ({e})"))?
            .unwrap_or(100),
    );
    let fail_marker = std::env::var("SWITCHYARD_FAIL_MARKER").ok().filter(|m| !m.is_empty());
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(switchyard_env::https_client())
        .load()
        .await;
    let worker = Worker::new(config, &aws).await?;
    let instance = worker.instance().map(|i| i.id.clone());
    let handler = move |job: Job| {
        let (fail_marker, instance) = (fail_marker.clone(), instance.clone());
        async move {
            tokio::time::sleep(work).await;
            if fail_marker.is_some_and(|m| job.body.contains(&m)) {
                return Err(JobFailed(format!("body contains the fail marker (receive {})", job.receive_count)));
            }
            let line = serde_json::json!({
                "event": "processed",
                "message_id": job.message_id,
                "body": job.body,
                "receive_count": job.receive_count,
                "idempotency_key": job.idempotency_key,
                "instance": instance,
            });
            println!("{line}");
            Ok(())
        }
    };
    let stop = async {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
            }
            _ => std::future::pending().await,
        }
    };
    let summary = worker.run(handler, stop).await;
    println!(
        "{}",
        serde_json::json!({
            "event": "summary",
            "received": summary.received,
            "processed": summary.processed,
            "failed": summary.failed,
            "released": summary.released,
            "delete_failures": summary.delete_failures,
            "renewals": summary.renewals,
            "protection_calls": summary.protection_calls,
            "stopped_because": summary.stopped_because,
        })
    );
    Ok(())
}
