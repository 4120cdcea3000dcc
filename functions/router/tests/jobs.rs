//! The jobs route's answers, as a client reads them: stored (202), not stored (503, send again),
//! or outcome unknown (503, send again with the same Idempotency-Key). The queue is the
//! in-memory fake for the answers; a real SDK client against loopback sockets for the faults
//! LocalStack cannot produce (an endpoint that accepts and never answers). LocalStack tests of
//! the route itself are in `tests/tests/router.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use router::aws::{CloudError, JobQueue, SendError};
use router::event::{HttpEvent, Incoming};
use router::fakes::FakeQueue;
use router::{Router, RouterConfig, Sources};
use switchyard_algorithms::Time;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const NOW: Time = Time::from_secs(1_800_000_000);

fn settings(queue_url: &str, extra: &[(&str, &str)]) -> RouterConfig {
    let mut env: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("SWITCHYARD_TARGETS".into(), "127.0.0.1:9".into());
    env.insert("SWITCHYARD_JOBS_ROUTE".into(), "POST /jobs".into());
    env.insert("SWITCHYARD_WORK_QUEUE_URL".into(), queue_url.into());
    RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap()
}

async fn with_queue(queue: Arc<FakeQueue>) -> Router {
    let sources = Sources { queue: Some(queue as Arc<dyn JobQueue>), ..Sources::default() };
    Router::new(settings("http://127.0.0.1:1/000000000000/work", &[]), sources, NOW).await.unwrap()
}

fn post(headers: &[(&str, &str)], body: &str) -> Incoming {
    let event = switchyard_tests::apigw_event("POST", "/jobs", "203.0.113.5", headers, Some(body));
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

fn body(response: &http::Response<bytes::Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

fn cloud_error() -> CloudError {
    CloudError { operation: "SendMessage", message: "test".into() }
}

#[tokio::test]
async fn a_stored_job_is_a_202_with_its_message_id_and_idempotency_key() {
    let queue = Arc::new(FakeQueue::default());
    let router = with_queue(Arc::clone(&queue)).await;
    let response = router.handle(post(&[("idempotency-key", "order-7")], "{\"n\":1}"), "req-1", NOW, 1).await;
    assert_eq!(response.status(), 202);
    assert_eq!(body(&response)["message_id"], "message-1");
    assert_eq!(body(&response)["idempotency_key"], "order-7");
    let stored = queue.stored();
    assert_eq!((stored[0].body.as_str(), stored[0].idempotency_key.as_deref()), ("{\"n\":1}", Some("order-7")));
}

#[tokio::test]
async fn a_job_the_queue_did_not_store_is_a_503_that_says_send_it_again() {
    let router = with_queue(Arc::new(FakeQueue::failing(SendError::NotStored(cloud_error())))).await;
    let response = router.handle(post(&[], "job"), "req-1", NOW, 1).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(body(&response)["error"], "queue_unavailable");
}

#[tokio::test]
async fn a_job_of_unknown_outcome_is_a_503_that_says_it_may_be_stored() {
    let queue = Arc::new(FakeQueue::failing(SendError::Unknown(cloud_error())));
    let router = with_queue(Arc::clone(&queue)).await;
    let response = router.handle(post(&[("idempotency-key", "k1")], "job"), "req-1", NOW, 1).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let answer = body(&response);
    assert_eq!(answer["error"], "job_outcome_unknown");
    assert!(answer["message"].as_str().unwrap().contains("Idempotency-Key"), "{answer}");
    assert_ne!(answer["error"], "queue_unavailable", "the two 503s differ");
}

#[tokio::test]
async fn a_bad_idempotency_key_is_a_400_and_nothing_is_queued() {
    let queue = Arc::new(FakeQueue::default());
    let router = with_queue(Arc::clone(&queue)).await;
    let response = router.handle(post(&[("idempotency-key", "has space")], "job"), "req-1", NOW, 1).await;
    assert_eq!((response.status().as_u16(), body(&response)["error"].as_str()), (400, Some("bad_idempotency_key")));
    assert!(queue.stored().is_empty());
}

/// A queue endpoint that accepts connections, reads the request and never answers; counts
/// connections (one per SendMessage attempt).
async fn hung_endpoint() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut sink = [0u8; 4096];
                while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
            });
        }
    });
    (format!("http://{address}"), connections)
}

async fn sdk_router(endpoint: &str, queue: &str, budget_ms: u64) -> Router {
    let sdk = switchyard_tests::sdk_config_for(endpoint).await;
    let config =
        settings(&format!("{endpoint}/000000000000/{queue}"), &[("SWITCHYARD_JOB_TIMEOUT_MS", &budget_ms.to_string())]);
    Router::from_sdk(config, Some(&sdk), NOW).await.unwrap()
}

#[tokio::test]
async fn a_hung_queue_endpoint_is_answered_within_the_budget_as_unknown_and_not_resent() {
    let (endpoint, connections) = hung_endpoint().await;
    let router = sdk_router(&endpoint, "work", 800).await;
    let started = Instant::now();
    let response = router.handle(post(&[], "job"), "req-1", NOW, 1).await;
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    assert_eq!(body(&response)["error"], "job_outcome_unknown");
    assert!(took < Duration::from_millis(800 + 1_000), "answered after {took:?}, budget 800 ms");
    assert_eq!(connections.load(Ordering::SeqCst), 1, "a send that may have been stored is not sent again");
}

#[tokio::test]
async fn a_fifo_send_with_a_deduplication_id_may_be_resent_within_the_budget() {
    let (endpoint, connections) = hung_endpoint().await;
    let router = sdk_router(&endpoint, "work.fifo", 2_400).await;
    let response = router.handle(post(&[("idempotency-key", "k1")], "job"), "req-1", NOW, 1).await;
    assert_eq!(body(&response)["error"], "job_outcome_unknown");
    let attempts = connections.load(Ordering::SeqCst);
    assert!(attempts >= 2, "SQS drops a FIFO copy with the same deduplication id, so the SDK retries: {attempts}");
}

#[tokio::test]
async fn a_queue_endpoint_nobody_listens_on_is_not_stored() {
    // Bind and drop: the port is closed, connections are refused.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let router = sdk_router(&format!("http://127.0.0.1:{port}"), "work", 3_000).await;
    let response = router.handle(post(&[], "job"), "req-1", NOW, 1).await;
    assert_eq!(response.status(), 503);
    assert_eq!(body(&response)["error"], "queue_unavailable", "a refused connection never reached SQS");
}
