//! How current a router's targets are when a request is picked: the background refresh keeps
//! them within one discovery period while the environment runs; an environment thawed after a
//! long freeze rediscovers before its first pick, so that an instance that left meanwhile (or is
//! draining) gets nothing new. The discovery is an in-memory fake; the targets are real servers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use router::aws::Discovery;
use router::event::{HttpEvent, Incoming};
use router::fakes::FakeDiscovery;
use router::{Router, RouterConfig, Sources};
use switchyard_algorithms::{Target, Time};

fn system_now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn request() -> Incoming {
    let event = switchyard_tests::apigw_event("GET", "/", "203.0.113.9", &[], None);
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

async fn router(discovery: Arc<FakeDiscovery>) -> Router {
    let env = HashMap::from([
        ("SWITCHYARD_TARGET_GROUP", "web".to_owned()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "10".to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sources = Sources { discovery: Some(discovery as Arc<dyn Discovery>), ..Sources::default() };
    Router::new(config, sources, system_now()).await.unwrap()
}

#[tokio::test]
async fn a_request_after_a_long_freeze_goes_to_the_targets_of_a_new_discovery() {
    let (old, old_hits) = switchyard_tests::http_backend("old").await;
    let (new, new_hits) = switchyard_tests::http_backend("new").await;
    let discovery = Arc::new(FakeDiscovery::new(vec![Target::new("i-old", old)]));
    let r = router(Arc::clone(&discovery)).await;
    discovery.set(Ok(vec![Target::new("i-new", new)]));
    // 60 s later, six discovery periods: the background refresh did not run while frozen.
    let response = r.handle(request(), "req-1", system_now() + Duration::from_secs(60), 1).await;
    assert_eq!(response.status(), 200);
    assert_eq!((old_hits.load(Ordering::SeqCst), new_hits.load(Ordering::SeqCst)), (0, 1));
}

#[tokio::test]
async fn a_request_within_the_stale_bound_does_not_wait_for_discovery() {
    let (old, old_hits) = switchyard_tests::http_backend("old").await;
    let (new, _) = switchyard_tests::http_backend("new").await;
    let discovery = Arc::new(FakeDiscovery::new(vec![Target::new("i-old", old)]));
    let r = router(Arc::clone(&discovery)).await;
    discovery.set(Ok(vec![Target::new("i-new", new)]));
    let response = r.handle(request(), "req-1", system_now() + Duration::from_secs(15), 1).await;
    assert_eq!(response.status(), 200);
    assert_eq!(old_hits.load(Ordering::SeqCst), 1, "15 s is within 3 periods: the background refresh's job");
}
