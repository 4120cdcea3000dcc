//! Waking a group at zero, with the in-memory fakes for discovery and the wake (the LocalStack
//! version, with a real group, is `tests/tests/router_wake.rs`) and real backends on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use router::aws::{CloudError, Discovery, FleetWaker};
use router::event::{HttpEvent, Incoming};
use router::fakes::{FakeDiscovery, FakeWaker};
use router::{Router, RouterConfig, Sources};
use switchyard_algorithms::{Target, Time};

const NOW: Time = Time::from_secs(1_800_000_000);

async fn router(discovery: Arc<FakeDiscovery>, waker: Arc<FakeWaker>, hold_ms: u64) -> Router {
    let env = HashMap::from([
        ("SWITCHYARD_TARGET_GROUP", "web".to_owned()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "0".to_owned()),
        ("SWITCHYARD_WAKE_SIZE", "2".to_owned()),
        ("SWITCHYARD_WAKE_HOLD_MS", hold_ms.to_string()),
        ("SWITCHYARD_WAKE_POLL_MS", "100".to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sources = Sources {
        discovery: Some(discovery as Arc<dyn Discovery>),
        waker: Some(waker as Arc<dyn FleetWaker>),
        ..Sources::default()
    };
    Router::new(config, sources, NOW).await.unwrap()
}

fn request(method: &str, headers: &[(&str, &str)]) -> Incoming {
    let event = switchyard_tests::apigw_event(method, "/", "203.0.113.9", headers, (method == "POST").then_some("x"));
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

fn json(response: &http::Response<bytes::Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn a_get_to_a_group_at_zero_wakes_it_and_is_served_once_a_target_serves() {
    let (backend, hits) = switchyard_tests::http_backend("woken").await;
    let discovery = Arc::new(FakeDiscovery::new(Vec::new()));
    let waker = Arc::new(FakeWaker::default());
    let r = router(Arc::clone(&discovery), Arc::clone(&waker), 5_000).await;
    let appear = {
        let discovery = Arc::clone(&discovery);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            discovery.set(Ok(vec![Target::new("i-1", backend)]));
        })
    };
    let started = Instant::now();
    let response = r.handle(request("GET", &[]), "req-1", NOW, 1).await;
    appear.await.unwrap();
    assert_eq!(response.status(), 200, "held, then proxied");
    assert_eq!(response.body(), "woken");
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert_eq!((*waker.desired.lock().unwrap(), hits.load(std::sync::atomic::Ordering::SeqCst)), (2, 1));
}

#[tokio::test]
async fn a_post_is_not_held_it_gets_a_503_saying_the_service_is_starting() {
    let waker = Arc::new(FakeWaker::default());
    let r = router(Arc::new(FakeDiscovery::new(Vec::new())), Arc::clone(&waker), 5_000).await;
    let started = Instant::now();
    let response = r.handle(request("POST", &[]), "req-1", NOW, 1).await;
    assert!(started.elapsed() < Duration::from_millis(500), "answered at once");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(&response)["error"], "service_starting");
    assert_eq!(*waker.desired.lock().unwrap(), 2, "and the group is woken");
}

#[tokio::test]
async fn a_browser_gets_a_starting_page_when_the_hold_runs_out() {
    let r = router(Arc::new(FakeDiscovery::new(Vec::new())), Arc::new(FakeWaker::default()), 300).await;
    let started = Instant::now();
    let response = r.handle(request("GET", &[("accept", "text/html,application/xhtml+xml")]), "req-1", NOW, 1).await;
    assert!(started.elapsed() < Duration::from_millis(300 + 500), "never past the hold: {:?}", started.elapsed());
    assert_eq!(response.status(), 503);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(String::from_utf8_lossy(response.body()).contains("starting"));
}

#[tokio::test]
async fn a_wake_aws_refuses_is_a_503_at_once_not_a_held_request() {
    let waker = Arc::new(FakeWaker::default());
    *waker.failure.lock().unwrap() = Some(CloudError { operation: "SetDesiredCapacity", message: "Throttling".into() });
    let r = router(Arc::new(FakeDiscovery::new(Vec::new())), Arc::clone(&waker), 5_000).await;
    let started = Instant::now();
    let response = r.handle(request("GET", &[]), "req-1", NOW, 1).await;
    assert!(started.elapsed() < Duration::from_millis(500), "not held: {:?}", started.elapsed());
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(*waker.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn twenty_first_requests_in_one_environment_ask_for_one_wake() {
    let waker = Arc::new(FakeWaker::default());
    let r = Arc::new(router(Arc::new(FakeDiscovery::new(Vec::new())), Arc::clone(&waker), 300).await);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let r = Arc::clone(&r);
            tokio::spawn(async move { r.handle(request("GET", &[]), &format!("req-{i}"), NOW, i).await.status() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 503, "nothing came up within the hold");
    }
    assert_eq!(*waker.calls.lock().unwrap(), 1, "one wake, not twenty");
}

#[tokio::test]
async fn a_group_gone_to_zero_since_the_last_discovery_is_woken_by_a_request_its_old_targets_refuse() {
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
    let (backend, _) = switchyard_tests::http_backend("woken").await;
    // The router last saw one instance; the group has since gone to zero, and its server is gone.
    let discovery = Arc::new(FakeDiscovery::new(vec![Target::new("i-old", gone)]));
    let waker = Arc::new(FakeWaker::default());
    let r = router(Arc::clone(&discovery), Arc::clone(&waker), 5_000).await;
    discovery.set(Ok(Vec::new()));
    let appear = {
        let (discovery, waker) = (Arc::clone(&discovery), Arc::clone(&waker));
        tokio::spawn(async move {
            while *waker.desired.lock().unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            discovery.set(Ok(vec![Target::new("i-new", backend)]));
        })
    };
    let response = r.handle(request("GET", &[]), "req-1", NOW, 1).await;
    appear.await.unwrap();
    assert_eq!((response.status().as_u16(), response.body().as_ref()), (200, b"woken".as_ref()), "served, not a 502");
    assert_eq!(*waker.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn a_wake_that_finds_the_scale_in_still_running_is_asked_again_while_the_request_is_held() {
    let (backend, _) = switchyard_tests::http_backend("woken").await;
    let discovery = Arc::new(FakeDiscovery::new(Vec::new()));
    let waker = Arc::new(FakeWaker { busy: std::sync::Mutex::new(1), ..FakeWaker::default() });
    let r = router(Arc::clone(&discovery), Arc::clone(&waker), 5_000).await;
    let appear = {
        let (discovery, waker) = (Arc::clone(&discovery), Arc::clone(&waker));
        tokio::spawn(async move {
            while *waker.desired.lock().unwrap() == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            discovery.set(Ok(vec![Target::new("i-new", backend)]));
        })
    };
    let response = r.handle(request("GET", &[]), "req-1", NOW, 1).await;
    appear.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(*waker.calls.lock().unwrap(), 2, "asked again once the activity let it");
}
