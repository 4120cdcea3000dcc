//! Demo web servers for the local web fleet: one HTTP server on 127.0.0.1 per instance of the
//! group, each instance's `switchyard:endpoint` tag pointing at its server (that is how the
//! router's group discovery reaches real servers in a local stack), each server reporting its open
//! connections to CloudWatch every second (the per-target load metric least connections reads).
//!
//! A server answers every request with a small JSON body naming itself; a slow one takes its delay
//! over paths under `/slow` (the demo holds such requests open to load one server, as other router
//! environments would, and shows least connections steering around it).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_ec2::types::Tag;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{Clients, Error, aws_error};

/// The instance tag the router reads to override an instance's address.
pub const ENDPOINT_TAG: &str = "switchyard:endpoint";
/// The load metric the servers publish (dimension `InstanceId`).
pub const CONNECTIONS_METRIC: &str = "ActiveConnections";

/// One running demo server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backend {
    pub name: String,
    pub instance: String,
    pub endpoint: String,
    pub delay_ms: u64,
    #[serde(skip)]
    pub open: Arc<AtomicU64>,
}

/// Start a server for each instance of `group` (the first `slow` of them answer `/slow…` paths
/// after `slow_delay`), tag the instances with their endpoints, and publish their open connections to
/// `namespace` every second until the process ends.
pub async fn serve(
    clients: &Clients,
    cloudwatch: aws_sdk_cloudwatch::Client,
    group: &str,
    namespace: &str,
    slow: usize,
    slow_delay: Duration,
) -> Result<Vec<Backend>, Error> {
    let found = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .map_err(aws_error(format!("describing group {group}")))?;
    let mut instances: Vec<String> = found
        .auto_scaling_groups()
        .first()
        .ok_or_else(|| Error::Unexpected(format!("group {group} does not exist (run `switchyard-local bootstrap`)")))?
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_owned))
        .collect();
    instances.sort();
    let mut backends = Vec::new();
    for (i, instance) in instances.into_iter().enumerate() {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Unexpected(format!("binding a loopback port: {e}")))?;
        let endpoint = listener.local_addr().map_err(|e| Error::Unexpected(e.to_string()))?.to_string();
        clients
            .ec2
            .create_tags()
            .resources(&instance)
            .tags(Tag::builder().key(ENDPOINT_TAG).value(&endpoint).build())
            .send()
            .await
            .map_err(aws_error(format!("tagging {instance}")))?;
        let delay_ms = if i < slow { u64::try_from(slow_delay.as_millis()).unwrap_or(u64::MAX) } else { 0 };
        let backend =
            Backend { name: format!("web-{i}"), instance, endpoint, delay_ms, open: Arc::new(AtomicU64::new(0)) };
        tokio::spawn(accept(listener, backend.clone()));
        backends.push(backend);
    }
    tokio::spawn(report(cloudwatch, namespace.to_owned(), backends.clone()));
    Ok(backends)
}

async fn accept(listener: TcpListener, backend: Backend) {
    while let Ok((stream, _)) = listener.accept().await {
        let backend = backend.clone();
        tokio::spawn(async move {
            backend.open.fetch_add(1, Ordering::Relaxed);
            let _ = answer(stream, &backend).await;
            backend.open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Read one request (head and body), wait the delay, answer and close.
async fn answer(mut stream: TcpStream, backend: &Backend) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        if request.len() > 64 * 1024 {
            return Ok(());
        }
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_string();
    let length: usize = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while request.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_millis(backend.delay_ms)).await;
    }
    let body = serde_json::json!({ "backend": backend.name, "instance": backend.instance, "path": path }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Every second, each server's open connections as a high-resolution datapoint.
async fn report(cloudwatch: aws_sdk_cloudwatch::Client, namespace: String, backends: Vec<Backend>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let mut put = cloudwatch.put_metric_data().namespace(&namespace);
        for b in &backends {
            put = put.metric_data(
                MetricDatum::builder()
                    .metric_name(CONNECTIONS_METRIC)
                    .dimensions(Dimension::builder().name("InstanceId").value(&b.instance).build())
                    .value(b.open.load(Ordering::Relaxed) as f64)
                    .unit(StandardUnit::Count)
                    .storage_resolution(1)
                    .build(),
            );
        }
        if let Err(e) = put.send().await {
            eprintln!("backends: connections not reported: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(e));
        }
    }
}
