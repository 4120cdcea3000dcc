//! Demo web servers for the local web fleet: one HTTP server on 127.0.0.1 per instance of the
//! group, each instance's `switchyard:endpoint` tag pointing at its server (that is how the
//! router's group discovery reaches real servers in a local stack), each server reporting its open
//! connections to CloudWatch every second (the per-target load metric least connections reads, and
//! per group the fleet's average, as the CloudWatch agent's aggregation dimensions give it).
//!
//! A server answers every request with a small JSON body naming itself; a slow one takes its delay
//! over paths under `/slow` (the demo holds such requests open to load one server, as other router
//! environments would, and shows least connections steering around it). Its health path,
//! [`HEALTH_PATH`], answers 200 until [`Backend::healthy`] is turned off (or the demo sends
//! `PUT /health` with `broken`), then 503; `?work_ms=N` makes any request take N ms. When its
//! instance leaves the group the server stops at once, and so do the requests it still had: a
//! terminated instance's connections die with it.
//!
//! [`Servers::sync`] is what a real fleet does on its own: a new instance boots its server, a
//! terminated one takes its server with it. Following the group ([`Servers::hold_launches`]), a
//! launching lifecycle hook keeps each new instance in `Pending:Wait` until its server listens and
//! its endpoint tag is set, so that no router sees it InService at an address nothing answers on
//! (its private IP, here) — a launch that nobody serves continues by itself after
//! [`BOOT_HEARTBEAT_SECS`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use aws_sdk_ec2::types::Tag;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{Clients, Error, aws_error};

/// The path a server answers health checks on: 200 while healthy, 503 once broken.
pub const HEALTH_PATH: &str = "/health";

/// The instance tag the router reads to override an instance's address.
pub const ENDPOINT_TAG: &str = "switchyard:endpoint";
/// Make every instance `group` launches from now on name `endpoint` as its endpoint: the group's
/// [`ENDPOINT_TAG`], propagated at launch. Instances already running keep theirs.
pub async fn endpoint_at_launch(clients: &Clients, group: &str, endpoint: &str) -> Result<(), Error> {
    let tag = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(group)
        .resource_type("auto-scaling-group")
        .key(ENDPOINT_TAG)
        .value(endpoint)
        .propagate_at_launch(true)
        .build();
    clients
        .autoscaling
        .create_or_update_tags()
        .tags(tag)
        .send()
        .await
        .map_err(aws_error(format!("tagging {group} with {ENDPOINT_TAG} at launch")))?;
    Ok(())
}

/// The load metric the servers publish (dimension `InstanceId`, and `AutoScalingGroupName`).
pub const CONNECTIONS_METRIC: &str = "ActiveConnections";
/// The launching lifecycle hook a follower puts on the group while it runs.
pub const BOOT_HOOK: &str = "switchyard-local-boot";
/// How long a launch waits for a follower before it continues without one.
pub const BOOT_HEARTBEAT_SECS: i32 = 30;

/// The states in which an instance has (or gets) a server: booting behind the hook, or serving.
/// An instance that is leaving (`Terminating:*`) keeps its server until it is out of the group,
/// as a real one drains its requests.
const SERVED_STATES: [&str; 2] = ["Pending:Wait", "InService"];

/// One running demo server.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Backend {
    pub name: String,
    pub instance: String,
    pub endpoint: String,
    pub delay_ms: u64,
    #[serde(skip)]
    pub open: Arc<AtomicU64>,
    /// Whether [`HEALTH_PATH`] answers 200 (else 503). Traffic is served either way: a broken
    /// health path, as after a bad deploy of the check.
    #[serde(skip)]
    pub healthy: Arc<AtomicBool>,
    /// Requests other than health checks: how many, and when the last one arrived (ms since the
    /// epoch).
    #[serde(skip)]
    pub served: Arc<AtomicU64>,
    #[serde(skip)]
    pub last_served_ms: Arc<AtomicU64>,
}

/// What one [`Servers::sync`] changed.
#[derive(Debug, Clone)]
pub enum Change {
    /// A server started for an instance that joined the group.
    Started(Backend),
    /// The server of an instance that left the group, stopped.
    Stopped(Backend),
}

/// One instance of the group as [`plan`] needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub instance: String,
    pub lifecycle_state: String,
}

/// Which servers to start and stop, and which launches to let go on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Instances that need a server: booting or in service, with none yet.
    pub start: Vec<String>,
    /// Instances waiting in `Pending:Wait`: their launch goes on once their server runs (again
    /// on the next pass if letting it go on failed).
    pub release: Vec<String>,
    /// Instances whose server must stop: no longer in the group.
    pub stop: Vec<String>,
}

/// From the group's members and the instances that have a server: a server for each member that
/// is booting or in service and has none, in instance order; none any more for an instance that
/// left the group.
pub fn plan(members: &[Member], served: &BTreeSet<String>) -> Plan {
    let in_state = |states: &[&str]| {
        let mut ids: Vec<String> = members
            .iter()
            .filter(|m| states.contains(&m.lifecycle_state.as_str()))
            .map(|m| m.instance.clone())
            .collect();
        ids.sort();
        ids
    };
    let start = in_state(&SERVED_STATES).into_iter().filter(|i| !served.contains(i)).collect();
    let listed: BTreeSet<&str> = members.iter().map(|m| m.instance.as_str()).collect();
    let stop = served.iter().filter(|i| !listed.contains(i.as_str())).cloned().collect();
    Plan { start, release: in_state(&["Pending:Wait"]), stop }
}

/// What one [`Servers::sync`] did, and what it could not do (tried again on the next pass).
#[derive(Debug, Default)]
pub struct Synced {
    pub changes: Vec<Change>,
    pub failed: Vec<Error>,
}

#[derive(Debug)]
struct Running {
    backend: Backend,
    accepting: JoinHandle<()>,
}

/// The demo servers of one group, by instance.
#[derive(Debug)]
pub struct Servers {
    clients: Clients,
    group: String,
    /// The first `slow` servers answer `/slow…` paths after `slow_delay`.
    slow: usize,
    slow_delay: Duration,
    /// How many servers were ever started: names stay unique (`web-0`, `web-1`, …).
    started: usize,
    /// Whether this process put [`BOOT_HOOK`] on the group (and so completes its actions).
    holding_launches: bool,
    running: Arc<Mutex<BTreeMap<String, Running>>>,
}

impl Servers {
    pub fn new(clients: &Clients, group: &str, slow: usize, slow_delay: Duration) -> Self {
        Servers {
            clients: clients.clone(),
            group: group.to_owned(),
            slow,
            slow_delay,
            started: 0,
            holding_launches: false,
            running: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The servers running now, in instance order.
    pub fn backends(&self) -> Vec<Backend> {
        self.running().values().map(|r| r.backend.clone()).collect()
    }

    /// Put [`BOOT_HOOK`] on the group: from now on a new instance waits in `Pending:Wait` until
    /// [`Servers::sync`] has started its server and tagged it (or [`BOOT_HEARTBEAT_SECS`] pass).
    pub async fn hold_launches(&mut self) -> Result<(), Error> {
        self.clients
            .autoscaling
            .put_lifecycle_hook()
            .auto_scaling_group_name(&self.group)
            .lifecycle_hook_name(BOOT_HOOK)
            .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
            .heartbeat_timeout(BOOT_HEARTBEAT_SECS)
            .default_result("CONTINUE")
            .send()
            .await
            .map_err(aws_error(format!("putting the lifecycle hook {BOOT_HOOK} on {}", self.group)))?;
        self.holding_launches = true;
        Ok(())
    }

    /// Take [`BOOT_HOOK`] off again (a launch waiting on it continues).
    pub async fn release_launches(&mut self) -> Result<(), Error> {
        if !std::mem::take(&mut self.holding_launches) {
            return Ok(());
        }
        self.clients
            .autoscaling
            .delete_lifecycle_hook()
            .auto_scaling_group_name(&self.group)
            .lifecycle_hook_name(BOOT_HOOK)
            .send()
            .await
            .map_err(aws_error(format!("deleting the lifecycle hook {BOOT_HOOK} of {}", self.group)))?;
        Ok(())
    }

    /// Read the group once: start a server for each instance that joined it (tag the instance with
    /// the server's endpoint, then let a waiting launch go on), stop the server of each instance
    /// that left it. Fails only when the group cannot be read; a step that fails for one instance
    /// is reported in [`Synced::failed`] and tried again by the next pass.
    pub async fn sync(&mut self) -> Result<Synced, Error> {
        let found = self
            .clients
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.group)
            .send()
            .await
            .map_err(aws_error(format!("describing group {}", self.group)))?;
        let group = found.auto_scaling_groups().first().ok_or_else(|| {
            Error::Unexpected(format!("group {} does not exist (run `switchyard-local bootstrap`)", self.group))
        })?;
        let members: Vec<Member> = group
            .instances()
            .iter()
            .filter_map(|i| {
                Some(Member {
                    instance: i.instance_id()?.to_owned(),
                    lifecycle_state: i.lifecycle_state()?.as_str().to_owned(),
                })
            })
            .collect();
        let served: BTreeSet<String> = self.running().keys().cloned().collect();
        let plan = plan(&members, &served);
        let mut synced = Synced::default();
        for instance in plan.stop {
            let stopped = self.running().remove(&instance);
            if let Some(stopped) = stopped {
                stopped.accepting.abort();
                synced.changes.push(Change::Stopped(stopped.backend));
            }
        }
        for instance in plan.start {
            match self.start(&instance).await {
                Ok(backend) => synced.changes.push(Change::Started(backend)),
                Err(e) => synced.failed.push(e),
            }
        }
        if self.holding_launches {
            for instance in plan.release {
                if !self.running().contains_key(&instance) {
                    continue;
                }
                let released = self
                    .clients
                    .autoscaling
                    .complete_lifecycle_action()
                    .auto_scaling_group_name(&self.group)
                    .lifecycle_hook_name(BOOT_HOOK)
                    .instance_id(&instance)
                    .lifecycle_action_result("CONTINUE")
                    .send()
                    .await;
                if let Err(e) = released {
                    synced.failed.push(aws_error(format!("letting the launch of {instance} go on"))(e));
                }
            }
        }
        Ok(synced)
    }

    /// Bind a server for `instance`, tag the instance with its endpoint and start accepting.
    async fn start(&mut self, instance: &str) -> Result<Backend, Error> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| Error::Unexpected(format!("binding a loopback port: {e}")))?;
        let endpoint = listener.local_addr().map_err(|e| Error::Unexpected(e.to_string()))?.to_string();
        self.clients
            .ec2
            .create_tags()
            .resources(instance)
            .tags(Tag::builder().key(ENDPOINT_TAG).value(&endpoint).build())
            .send()
            .await
            .map_err(aws_error(format!("tagging {instance}")))?;
        let n = self.started;
        self.started += 1;
        let delay_ms = if n < self.slow { u64::try_from(self.slow_delay.as_millis()).unwrap_or(u64::MAX) } else { 0 };
        let backend = Backend {
            name: format!("web-{n}"),
            instance: instance.to_owned(),
            endpoint,
            delay_ms,
            open: Arc::new(AtomicU64::new(0)),
            healthy: Arc::new(AtomicBool::new(true)),
            served: Arc::new(AtomicU64::new(0)),
            last_served_ms: Arc::new(AtomicU64::new(0)),
        };
        let accepting = tokio::spawn(accept(listener, backend.clone()));
        self.running().insert(instance.to_owned(), Running { backend: backend.clone(), accepting });
        Ok(backend)
    }

    /// Publish the running servers' open connections to `namespace` every second, until the
    /// process ends.
    pub fn report(&self, cloudwatch: aws_sdk_cloudwatch::Client, namespace: &str) -> JoinHandle<()> {
        let (running, namespace, group) = (Arc::clone(&self.running), namespace.to_owned(), self.group.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let backends: Vec<Backend> = running
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .values()
                    .map(|r| r.backend.clone())
                    .collect();
                report(&cloudwatch, &namespace, &group, &backends).await;
            }
        })
    }
}

/// Accept and answer until aborted. The connections being answered live in a `JoinSet` owned
/// here, so aborting the server aborts them too, as terminating an instance does.
async fn accept(listener: TcpListener, backend: Backend) {
    let mut answering = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { return };
                let backend = backend.clone();
                answering.spawn(async move {
                    backend.open.fetch_add(1, Ordering::Relaxed);
                    let _ = answer(stream, &backend).await;
                    backend.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Some(_) = answering.join_next() => {}
        }
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
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("GET");
    let path = words.next().unwrap_or("/");
    // The demo breaks and mends a server's health path: `PUT /health` with `broken` or `ok`.
    if path == HEALTH_PATH && method == "PUT" {
        let body = String::from_utf8_lossy(&request[head_end..]);
        backend.healthy.store(body.trim() != "broken", Ordering::Relaxed);
    }
    if path == HEALTH_PATH {
        let (status, body) = if backend.healthy.load(Ordering::Relaxed) {
            ("200 OK", "ok")
        } else {
            ("503 Service Unavailable", "broken")
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
        return stream.shutdown().await;
    }
    backend.served.fetch_add(1, Ordering::Relaxed);
    let arrived = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    backend.last_served_ms.store(u64::try_from(arrived).unwrap_or(u64::MAX), Ordering::Relaxed);
    if path.starts_with("/slow") {
        tokio::time::sleep(Duration::from_millis(backend.delay_ms)).await;
    }
    // Any path: `?work_ms=N` (at most 10 s) takes that long, as a request doing real work.
    if let Some(ms) = path.split_once('?').and_then(|(_, q)| {
        q.split('&').find_map(|pair| pair.strip_prefix("work_ms=")).and_then(|v| v.parse::<u64>().ok())
    }) {
        tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
    }
    let body = serde_json::json!({ "backend": backend.name, "instance": backend.instance, "path": path }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// Each server's open connections as a high-resolution datapoint, per instance and per group.
async fn report(cloudwatch: &aws_sdk_cloudwatch::Client, namespace: &str, group: &str, backends: &[Backend]) {
    if backends.is_empty() {
        return;
    }
    let mut put = cloudwatch.put_metric_data().namespace(namespace);
    for b in backends {
        let open = b.open.load(Ordering::Relaxed) as f64;
        for (dimension, value) in [("InstanceId", b.instance.as_str()), ("AutoScalingGroupName", group)] {
            put = put.metric_data(
                MetricDatum::builder()
                    .metric_name(CONNECTIONS_METRIC)
                    .dimensions(Dimension::builder().name(dimension).value(value).build())
                    .value(open)
                    .unit(StandardUnit::Count)
                    .storage_resolution(1)
                    .build(),
            );
        }
    }
    if let Err(e) = put.send().await {
        eprintln!("backends: connections not reported: {}", aws_sdk_cloudwatch::error::DisplayErrorContext(e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(instance: &str, state: &str) -> Member {
        Member { instance: instance.into(), lifecycle_state: state.into() }
    }

    fn served(instances: &[&str]) -> BTreeSet<String> {
        instances.iter().map(|i| (*i).to_owned()).collect()
    }

    #[test]
    fn a_booting_or_serving_instance_without_a_server_gets_one() {
        let members = [member("i-2", "InService"), member("i-1", "Pending:Wait"), member("i-3", "InService")];
        let plan = plan(&members, &served(&["i-3"]));
        assert_eq!(plan.start, ["i-1", "i-2"]);
        assert_eq!(plan.release, ["i-1"], "its launch goes on once its server runs");
        assert!(plan.stop.is_empty());
    }

    #[test]
    fn a_launch_still_waiting_with_its_server_running_is_let_go_on_again() {
        let plan = plan(&[member("i-1", "Pending:Wait")], &served(&["i-1"]));
        assert!(plan.start.is_empty());
        assert_eq!(plan.release, ["i-1"]);
    }

    #[test]
    fn a_server_stops_only_once_its_instance_has_left_the_group() {
        let members = [member("i-1", "Terminating:Wait"), member("i-2", "Standby")];
        let plan = plan(&members, &served(&["i-1", "i-3"]));
        assert_eq!(plan.stop, ["i-3"], "i-1 is still draining: it keeps its server");
        assert!(plan.start.is_empty(), "neither a leaving nor a parked instance gets a new server");
    }
}
