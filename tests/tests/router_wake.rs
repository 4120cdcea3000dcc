//! A web fleet at zero, woken by the router on the first request (LocalStack's Auto Scaling through
//! the project's plugin, real backends on 127.0.0.1 that the test starts when an instance appears,
//! as the demo does for consumers).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use router::aws::{BoxFuture, CloudError, FleetWaker, GroupWaker, Woken};
use router::event::{HttpEvent, Incoming};
use router::{Router, RouterConfig, Sources};
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{apigw_event, localstack, unique_name};

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn request(method: &str) -> Incoming {
    let body = (method == "POST").then_some("job");
    HttpEvent::from_json(&apigw_event(method, "/jobs", "203.0.113.1", &[], body)).unwrap().into_request().unwrap()
}

/// The local environment with its web fleet at zero.
async fn web_fleet_at_zero(clients: &Clients) -> LocalEnvironment {
    let env = LocalEnvironment::with_prefix(&unique_name("wake"));
    bootstrap(clients, &env).await.unwrap();
    let group = &env.fleets[0].group_name;
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(group)
        .min_size(0)
        .desired_capacity(0)
        .send()
        .await
        .unwrap();
    env
}

async fn group(clients: &Clients, name: &str) -> (i32, Vec<String>) {
    let groups =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(name).send().await.unwrap();
    let g = &groups.auto_scaling_groups()[0];
    (
        g.desired_capacity().unwrap_or_default(),
        g.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect(),
    )
}

/// A backend on 127.0.0.1 that every instance the group launches from now on names as its
/// endpoint (a tag the group propagates at launch): the router never sees a woken instance at
/// its private address.
async fn backend_for_new_instances(clients: &Clients, name: &str) {
    let (address, _) = switchyard_tests::http_backend("woken").await;
    let tag = aws_sdk_autoscaling::types::Tag::builder()
        .resource_id(name)
        .resource_type("auto-scaling-group")
        .key("switchyard:endpoint")
        .value(address)
        .propagate_at_launch(true)
        .build();
    clients.autoscaling.create_or_update_tags().tags(tag).send().await.unwrap();
}

fn settings(group: &str, extra: &[(&'static str, String)]) -> RouterConfig {
    let mut env: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_TARGET_GROUP", group.to_owned()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "1".to_owned()),
        ("SWITCHYARD_WAKE_SIZE", "1".to_owned()),
        ("SWITCHYARD_WAKE_HOLD_MS", "15000".to_owned()),
        ("SWITCHYARD_WAKE_POLL_MS", "250".to_owned()),
    ]);
    env.extend(extra.iter().cloned());
    RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap()
}

#[tokio::test]
async fn a_get_wakes_the_web_fleet_from_zero_and_is_answered_once_its_instance_serves() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = web_fleet_at_zero(&clients).await;
    let name = env.fleets[0].group_name.clone();
    let router = Router::from_sdk(settings(&name, &[]), Some(&sdk), now()).await.unwrap();
    assert!(router.balancer().targets().is_empty());
    backend_for_new_instances(&clients, &name).await;
    let started = Instant::now();
    let response = router.handle(request("GET"), "first-request", now(), 1).await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 200, "{:?}", response.body());
    assert_eq!(response.body(), "woken");
    assert_eq!(group(&clients, &name).await.0, 1, "woken to the wake size");
    println!("wake to first byte on LocalStack: {} ms", waited.as_millis());
}

/// Counts what the SDK waker did, around the real one.
#[derive(Debug)]
struct Counting {
    inner: GroupWaker,
    asked: AtomicU32,
    woke: AtomicU32,
}

impl FleetWaker for Counting {
    fn wake(&self, size: u32) -> BoxFuture<'_, Result<Woken, CloudError>> {
        Box::pin(async move {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let woken = self.inner.wake(size).await?;
            if woken == Woken::Woke {
                self.woke.fetch_add(1, Ordering::SeqCst);
            }
            Ok(woken)
        })
    }
}

#[tokio::test]
async fn twenty_first_requests_through_three_routers_make_one_wake() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = web_fleet_at_zero(&clients).await;
    let name = env.fleets[0].group_name.clone();
    let counting = Arc::new(Counting {
        inner: GroupWaker { autoscaling: aws_sdk_autoscaling::Client::new(&sdk), group: name.clone() },
        asked: AtomicU32::new(0),
        woke: AtomicU32::new(0),
    });
    backend_for_new_instances(&clients, &name).await;
    let config = settings(&name, &[("SWITCHYARD_WAKE_HOLD_MS", "500".to_owned())]);
    let mut routers = Vec::new();
    for _ in 0..3 {
        let mut sources = Sources::from_sdk(&config, &sdk);
        sources.waker = Some(Arc::clone(&counting) as Arc<dyn FleetWaker>);
        routers.push(Arc::new(Router::new(config.clone(), sources, now()).await.unwrap()));
    }
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let router = Arc::clone(&routers[i % 3]);
            tokio::spawn(async move { router.handle(request("GET"), &format!("req-{i}"), now(), i as u64).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    // Environments that read the group before another's set landed set the same size: the group
    // changes once, to the wake size, with one instance.
    let (desired, instances) = group(&clients, &name).await;
    assert_eq!((desired, instances.len()), (1, 1), "the wake size, once");
    let asked = counting.asked.load(Ordering::SeqCst);
    assert!((1..=3).contains(&asked), "at most one wake per router environment, not one per request: {asked}");
    assert!(counting.woke.load(Ordering::SeqCst) >= 1);
}

#[tokio::test]
async fn a_job_posted_while_the_fleet_is_at_zero_is_queued_with_a_202() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = web_fleet_at_zero(&clients).await;
    let name = env.fleets[0].group_name.clone();
    let queue =
        clients.sqs.create_queue().queue_name(unique_name("wake-jobs")).send().await.unwrap().queue_url.unwrap();
    let config = settings(
        &name,
        &[("SWITCHYARD_JOBS_ROUTE", "POST /jobs".to_owned()), ("SWITCHYARD_WORK_QUEUE_URL", queue.clone())],
    );
    let router = Router::from_sdk(config, Some(&sdk), now()).await.unwrap();
    let response = router.handle(request("POST"), "req-1", now(), 1).await;
    assert_eq!(response.status(), 202);
    let received = clients.sqs.receive_message().queue_url(&queue).send().await.unwrap();
    assert_eq!(received.messages().len(), 1);
    assert_eq!(group(&clients, &name).await.0, 0, "a job does not wake the web fleet");
}

#[tokio::test]
async fn a_wake_aws_refuses_is_a_503_with_retry_after_at_once() {
    let sdk = localstack().sdk_config().await;
    // A group that does not exist: discovery finds nothing, the wake is refused.
    let router = Router::from_sdk(settings(&unique_name("no-such-group"), &[]), Some(&sdk), now()).await.unwrap();
    let started = Instant::now();
    let response = router.handle(request("GET"), "req-1", now(), 1).await;
    assert!(started.elapsed() < Duration::from_secs(5), "not held for the 15 s hold: {:?}", started.elapsed());
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
}
