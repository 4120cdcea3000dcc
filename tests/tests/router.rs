//! The router discovering an Auto Scaling group in LocalStack (through the project's plugin):
//! each instance's `switchyard:endpoint` tag points at a real HTTP backend on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_ec2::types::Tag;
use router::event::{HttpEvent, Incoming};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{apigw_event, localstack, unique_name};

async fn backend(name: &'static str) -> (String, Arc<AtomicUsize>) {
    switchyard_tests::http_backend(name).await
}

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn get(source_ip: &str) -> Incoming {
    HttpEvent::from_json(&apigw_event("GET", "/", source_ip, &[], None)).unwrap().into_request().unwrap()
}

async fn instances(clients: &Clients, group: &str) -> Vec<String> {
    let groups =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
    groups.auto_scaling_groups()[0].instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect()
}

async fn tag(clients: &Clients, instance: &str, endpoint: &str) {
    clients
        .ec2
        .create_tags()
        .resources(instance)
        .tags(Tag::builder().key("switchyard:endpoint").value(endpoint).build())
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn the_routers_targets_are_the_groups_instances_and_follow_a_scale_out() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("route"));
    bootstrap(&clients, &env).await.unwrap();
    let group = &env.fleets[0].group_name;
    let (a, a_hits) = backend("a").await;
    let (b, b_hits) = backend("b").await;
    let (c, c_hits) = backend("c").await;
    let ids = instances(&clients, group).await;
    assert_eq!(ids.len(), 2);
    tag(&clients, &ids[0], &a).await;
    tag(&clients, &ids[1], &b).await;

    let settings =
        HashMap::from([("SWITCHYARD_TARGET_GROUP", group.clone()), ("SWITCHYARD_DISCOVERY_TTL_SECS", "1".to_owned())]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let router = Router::from_sdk(config, Some(&localstack().sdk_config().await), now()).await.unwrap();
    assert_eq!(router.balancer().targets().len(), 2, "both instances discovered");

    for i in 0..20 {
        let response = router.handle(get("203.0.113.1"), "test-request", now(), i).await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!((a_hits.load(Ordering::SeqCst), b_hits.load(Ordering::SeqCst)), (10, 10), "round robin over the group");

    // The new instance carries its endpoint from launch (a tag the group propagates): discovery,
    // which runs in the background, never sees it at its private address.
    switchyard_local::backends::endpoint_at_launch(&clients, group, &c).await.unwrap();
    clients.autoscaling.set_desired_capacity().auto_scaling_group_name(group).desired_capacity(3).send().await.unwrap();
    let new = instances(&clients, group).await.into_iter().find(|id| !ids.contains(id)).expect("a third instance");
    tag(&clients, &new, &c).await;
    // Discovery runs in the background every TTL (1 s), never on a request's path: wait for it.
    let waited = Instant::now();
    while router.balancer().targets().len() < 3 && waited.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in 0..30 {
        let response = router.handle(get("203.0.113.1"), "test-request", now(), i).await;
        assert_eq!(response.status(), 200);
        let name = String::from_utf8_lossy(response.body());
        assert!(["a", "b", "c"].contains(&name.as_ref()), "{name}");
    }
    assert_eq!(router.balancer().targets().len(), 3);
    assert!(c_hits.load(Ordering::SeqCst) >= 9, "the new instance takes its share: {}", c_hits.load(Ordering::SeqCst));
}

#[tokio::test]
async fn a_missing_group_starts_the_router_with_no_target_and_answers_503() {
    let settings = HashMap::from([("SWITCHYARD_TARGET_GROUP", unique_name("no-such-group"))]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let router = Router::from_sdk(config, Some(&localstack().sdk_config().await), now()).await.unwrap();
    let response = router.handle(get("203.0.113.1"), "test-request", now(), 1).await;
    assert_eq!(response.status(), 503);
}

fn post(path: &str, body: &str, headers: &[(&str, &str)]) -> Incoming {
    HttpEvent::from_json(&apigw_event("POST", path, "203.0.113.5", headers, Some(body)))
        .unwrap()
        .into_request()
        .unwrap()
}

async fn jobs_router(queue_url: &str) -> Router {
    let settings = HashMap::from([
        ("SWITCHYARD_TARGETS", "127.0.0.1:9".to_owned()),
        ("SWITCHYARD_JOBS_ROUTE", "POST /jobs".to_owned()),
        ("SWITCHYARD_WORK_QUEUE_URL", queue_url.to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    Router::from_sdk(config, Some(&localstack().sdk_config().await), now()).await.unwrap()
}

/// A new FIFO queue, named from `prefix`.
async fn fifo_queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    sqs.create_queue()
        .queue_name(format!("{}.fifo", unique_name(prefix)))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

fn json(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn a_posted_job_is_on_the_queue_before_the_202() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs.create_queue().queue_name(unique_name("jobs")).send().await.unwrap().queue_url.unwrap();
    let router = jobs_router(&url).await;

    let response = router.handle(post("/jobs", r#"{"resize": "cat.png"}"#, &[]), "test-request", now(), 1).await;
    assert_eq!(response.status(), 202);
    let message_id = json(response.body())["message_id"].as_str().unwrap().to_owned();
    let received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].message_id(), Some(message_id.as_str()));
    assert_eq!(messages[0].body(), Some(r#"{"resize": "cat.png"}"#));
}

#[tokio::test]
async fn a_job_sqs_refuses_is_a_503_with_retry_after() {
    let missing = format!("{}/000000000000/{}", localstack().endpoint(), unique_name("gone"));
    let router = jobs_router(&missing).await;
    let response = router.handle(post("/jobs", "work", &[]), "test-request", now(), 1).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers().get("retry-after").unwrap(), "5");
    assert_eq!(json(response.body())["error"], "queue_unavailable");
}

#[tokio::test]
async fn a_fifo_job_takes_its_group_from_the_header() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = fifo_queue(&sqs, "ordered").await;
    let router = jobs_router(&url).await;
    let response =
        router.handle(post("/jobs", "step 1", &[("x-message-group-id", "order-42")]), "test-request", now(), 1).await;
    assert_eq!(response.status(), 202, "{:?}", response.body());
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
        .send()
        .await
        .unwrap();
    let attributes = received.messages()[0].attributes().unwrap();
    assert_eq!(
        attributes.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId).map(String::as_str),
        Some("order-42")
    );
}

#[tokio::test]
async fn other_routes_are_still_proxied_and_an_empty_job_is_a_400() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs.create_queue().queue_name(unique_name("jobs")).send().await.unwrap().queue_url.unwrap();
    let router = jobs_router(&url).await;
    assert_eq!(router.handle(post("/jobs", "", &[]), "test-request", now(), 1).await.status(), 400);
    // POST /other goes to the (dead) static target: proxied, not queued.
    assert_eq!(router.handle(post("/other", "x", &[]), "test-request", now(), 1).await.status(), 502);
}

#[tokio::test]
async fn an_idempotency_key_travels_with_the_job_as_a_message_attribute() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs.create_queue().queue_name(unique_name("keyed")).send().await.unwrap().queue_url.unwrap();
    let router = jobs_router(&url).await;
    let response =
        router.handle(post("/jobs", "charge 7", &[("idempotency-key", "order-7")]), "test-request", now(), 1).await;
    assert_eq!(response.status(), 202);
    let received =
        sqs.receive_message().queue_url(&url).message_attribute_names("IdempotencyKey").send().await.unwrap();
    let attribute = received.messages()[0].message_attributes().unwrap().get("IdempotencyKey").unwrap();
    assert_eq!(attribute.string_value(), Some("order-7"));
}

#[tokio::test]
async fn a_clients_resend_with_the_same_key_is_stored_once_on_a_fifo_queue() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = fifo_queue(&sqs, "once").await;
    let router = jobs_router(&url).await;
    for request_id in ["first-invocation", "the-clients-resend"] {
        let response =
            router.handle(post("/jobs", "charge 7", &[("idempotency-key", "order-7")]), request_id, now(), 1).await;
        assert_eq!(response.status(), 202);
    }
    let received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
    assert_eq!(received.messages().len(), 1, "the key is the deduplication id");
}

#[tokio::test]
async fn a_job_sqs_refuses_for_its_size_is_a_400_not_a_retry() {
    let sdk = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name(unique_name("small"))
        .attributes(aws_sdk_sqs::types::QueueAttributeName::MaximumMessageSize, "1024")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let router = jobs_router(&url).await;
    let response = router.handle(post("/jobs", &"x".repeat(2048), &[]), "test-request", now(), 1).await;
    assert_eq!(response.status(), 400, "{:?}", response.body());
    assert_eq!(json(response.body())["error"], "job_refused");
    assert!(response.headers().get("retry-after").is_none(), "sending it again cannot succeed");
}
