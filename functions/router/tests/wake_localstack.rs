//! A web fleet at zero, woken by the router on the first request: real router processes under the
//! Lambda Runtime API (`cargo lambda watch`), LocalStack's Auto Scaling through the project's
//! plugin, and real backends on 127.0.0.1 that the test starts when an instance appears, as the
//! demo does for consumers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::path::Path;
use std::time::{Duration, Instant};

use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::runtime_api::UnderRuntimeApi;
use switchyard_tests::{localstack, unique_name};

/// The local environment with its web fleet at zero.
async fn web_fleet_at_zero(clients: &Clients) -> String {
    let env = LocalEnvironment::with_prefix(&unique_name("wake"));
    bootstrap(clients, &env).await.unwrap();
    let group = env.fleets[0].group_name.clone();
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .min_size(0)
        .desired_capacity(0)
        .send()
        .await
        .unwrap();
    group
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
    switchyard_local::backends::endpoint_at_launch(clients, name, &address).await.unwrap();
}

/// A router process for `group`, waking it to one instance and holding idempotent requests 15 s.
async fn router(name: &str, group: &str, extra: &[(&str, String)]) -> UnderRuntimeApi {
    let mut env: Vec<(&str, String)> = localstack().child_env();
    env.extend([
        ("SWITCHYARD_TARGET_GROUP", group.to_owned()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "1".to_owned()),
        ("SWITCHYARD_WAKE_SIZE", "1".to_owned()),
        ("SWITCHYARD_WAKE_HOLD_MS", "15000".to_owned()),
        ("SWITCHYARD_WAKE_POLL_MS", "250".to_owned()),
        ("SWITCHYARD_METRICS_INTERVAL_SECS", "1".to_owned()),
    ]);
    env.extend(extra.iter().cloned());
    UnderRuntimeApi::start(name, Path::new(env!("CARGO_BIN_EXE_router")), &env).await
}

#[tokio::test]
async fn a_get_wakes_the_web_fleet_from_zero_and_is_answered_once_its_instance_serves() {
    let clients = Clients::new(&localstack().sdk_config().await);
    let name = web_fleet_at_zero(&clients).await;
    let router = router("router", &name, &[]).await;
    backend_for_new_instances(&clients, &name).await;

    let started = Instant::now();
    let (status, _, body) = router.request("GET", "/products/1", &[], "").await;
    let waited = started.elapsed();

    assert_eq!((status, body.as_str()), (200, "woken"), "logs in {}", router.logs().display());
    assert_eq!(group(&clients, &name).await.0, 1, "woken to the wake size");
    println!("wake to first byte on LocalStack, through the Runtime API: {} ms", waited.as_millis());
}

#[tokio::test]
async fn twenty_first_requests_through_three_router_processes_make_one_wake() {
    let clients = Clients::new(&localstack().sdk_config().await);
    let name = web_fleet_at_zero(&clients).await;
    backend_for_new_instances(&clients, &name).await;
    let routers = [
        router("router-1", &name, &[]).await,
        router("router-2", &name, &[]).await,
        router("router-3", &name, &[]).await,
    ];

    let paths: Vec<String> = (0..20).map(|i| format!("/products/{i}")).collect();
    let answers = futures_util::future::join_all(
        paths.iter().enumerate().map(|(i, p)| routers[i % 3].request("GET", p, &[], "")),
    )
    .await;

    let statuses: Vec<u16> = answers.iter().map(|(status, _, _)| *status).collect();
    assert_eq!(statuses, vec![200; 20], "every held request is served once the instance is up");
    let (desired, instances) = group(&clients, &name).await;
    assert_eq!((desired, instances.len()), (1, 1), "the wake size, once, not 20 times");
    // The next request after the metrics interval flushes each process's EMF lines. Environments
    // that read the group before another's set landed may each set the same size (one wake per
    // environment at most, never one per request).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut wakes = 0;
    for router in &routers {
        assert_eq!(router.request("GET", "/", &[], "").await.0, 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
        wakes += router.metric_sum("Wakes");
    }
    assert!((1..=3).contains(&wakes), "one wake per environment at most: {wakes}");
}

#[tokio::test]
async fn a_job_posted_while_the_fleet_is_at_zero_is_queued_with_a_202() {
    let clients = Clients::new(&localstack().sdk_config().await);
    let name = web_fleet_at_zero(&clients).await;
    let queue =
        clients.sqs.create_queue().queue_name(unique_name("wake-jobs")).send().await.unwrap().queue_url.unwrap();
    let router = router(
        "router",
        &name,
        &[("SWITCHYARD_JOBS_ROUTE", "POST /jobs".to_owned()), ("SWITCHYARD_WORK_QUEUE_URL", queue.clone())],
    )
    .await;

    let (status, _, body) = router.request("POST", "/jobs", &[("content-type", "text/plain")], "job").await;

    assert_eq!(status, 202, "{body}");
    let received = clients.sqs.receive_message().queue_url(&queue).send().await.unwrap();
    assert_eq!(received.messages().iter().filter_map(|m| m.body()).collect::<Vec<_>>(), ["job"]);
    assert_eq!(group(&clients, &name).await.0, 0, "a job does not wake the web fleet");
}

#[tokio::test]
async fn a_wake_aws_refuses_is_a_503_with_retry_after_at_once_and_is_logged_with_the_reason() {
    // A group that does not exist: discovery finds nothing, and the wake is refused.
    let router = router("router", &unique_name("no-such-group"), &[]).await;

    let started = Instant::now();
    let (status, headers, _) = router.request("GET", "/", &[("accept", "application/json")], "").await;

    assert!(started.elapsed() < Duration::from_secs(5), "not held for the 15 s hold: {:?}", started.elapsed());
    assert_eq!(status, 503);
    assert!(headers.contains_key("retry-after"));
    let logged = router.stdout();
    let line = logged
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["fields"]["message"] == "waking the group failed")
        .unwrap_or_else(|| panic!("the refused wake is logged: {logged}"));
    assert!(line["fields"]["error"].as_str().is_some_and(|e| !e.is_empty()), "with the reason: {line}");
}
