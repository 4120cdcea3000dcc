//! Least connections with the load that targets publish to CloudWatch (LocalStack): every router
//! environment sees only its own in-flight requests; the reported metric adds everyone else's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use switchyard_tests::{apigw_event, http_backend, localstack, unique_name};

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

async fn report(cloudwatch: &aws_sdk_cloudwatch::Client, namespace: &str, target: &str, load: f64) {
    cloudwatch
        .put_metric_data()
        .namespace(namespace)
        .metric_data(
            MetricDatum::builder()
                .metric_name("ActiveConnections")
                .dimensions(Dimension::builder().name("Target").value(target).build())
                .value(load)
                .storage_resolution(1)
                .timestamp(DateTime::from_millis(now().as_millis() as i64))
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn least_connections_steers_by_the_load_targets_report() {
    let sdk = localstack().sdk_config().await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let namespace = format!("Test/{}", unique_name("load"));
    let (a, a_hits) = http_backend("a").await;
    let (b, b_hits) = http_backend("b").await;
    let (c, c_hits) = http_backend("c").await;
    let settings = HashMap::from([
        ("SWITCHYARD_TARGETS", format!("{a},{b},{c}")),
        ("SWITCHYARD_ALGORITHM", "least_connections".to_owned()),
        ("SWITCHYARD_LOAD_NAMESPACE", namespace.clone()),
        ("SWITCHYARD_LOAD_METRIC", "ActiveConnections".to_owned()),
        ("SWITCHYARD_LOAD_DIMENSION", "Target".to_owned()),
        // One-second periods: each phase's reports are a period of their own, not averaged together.
        ("SWITCHYARD_LOAD_PERIOD_SECS", "1".to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let router = Router::from_sdk(config, Some(&localstack().sdk_config().await), now()).await.unwrap();
    let get = || {
        router::event::HttpEvent::from_json(&apigw_event("GET", "/", "203.0.113.9", &[], None))
            .unwrap()
            .into_request()
            .unwrap()
    };

    // Other routers keep a and c busy; b is idle. c never reports: it counts as no report, not 0.
    report(&cloudwatch, &namespace, &a, 40.0).await;
    report(&cloudwatch, &namespace, &b, 0.0).await;
    router.refresh_loads(now()).await;
    let balancer = router.balancer();
    let reported = |address: &str| {
        let index = balancer.targets().iter().position(|t| t.address == address).unwrap();
        balancer.state(index).unwrap().reported_load()
    };
    assert_eq!((reported(&a), reported(&b), reported(&c)), (Some(40), Some(0), None));

    for i in 0..12 {
        assert_eq!(router.handle(get(), "test-request", now(), i).await.status(), 200);
    }
    let hits = |h: &std::sync::Arc<std::sync::atomic::AtomicUsize>| h.load(Ordering::SeqCst);
    assert_eq!(hits(&a_hits), 0, "a reports 40 connections: it gets nothing while b and c are idle");
    assert_eq!(hits(&b_hits) + hits(&c_hits), 12);

    // The load moves: a is idle now, b and c busy. The next read turns the traffic around.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    report(&cloudwatch, &namespace, &a, 0.0).await;
    report(&cloudwatch, &namespace, &b, 25.0).await;
    report(&cloudwatch, &namespace, &c, 30.0).await;
    router.refresh_loads(now()).await;
    let before = (hits(&b_hits), hits(&c_hits));
    for i in 0..12 {
        assert_eq!(router.handle(get(), "test-request", now(), i).await.status(), 200);
    }
    assert_eq!(hits(&a_hits), 12, "all new requests go to the target that reports idle");
    assert_eq!((hits(&b_hits), hits(&c_hits)), before);

    // The router's own EMF lines count the picks per target.
    let lines = router.flush_metrics(now());
    let picks: HashMap<String, u64> =
        lines.iter().filter_map(|l| Some((l["Target"].as_str()?.to_owned(), l["Picks"].as_u64()?))).collect();
    assert_eq!(picks.get(&a), Some(&12));
    assert_eq!(picks.values().sum::<u64>(), 24);
    assert_eq!(lines[0]["Requests"], 24);
}

#[tokio::test]
async fn a_metric_nobody_publishes_leaves_least_connections_on_local_counts() {
    let (a, _) = http_backend("a").await;
    let (b, _) = http_backend("b").await;
    let settings = HashMap::from([
        ("SWITCHYARD_TARGETS", format!("{a},{b}")),
        ("SWITCHYARD_ALGORITHM", "least_connections".to_owned()),
        ("SWITCHYARD_LOAD_NAMESPACE", format!("Test/{}", unique_name("silent"))),
        ("SWITCHYARD_LOAD_METRIC", "ActiveConnections".to_owned()),
        ("SWITCHYARD_LOAD_FADE_SECS", "30".to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let router = Router::from_sdk(config, Some(&localstack().sdk_config().await), now()).await.unwrap();
    router.refresh_loads(now()).await;
    let balancer = router.balancer();
    assert_eq!(balancer.state(0).unwrap().reported_load(), None);
    assert_eq!(balancer.state(1).unwrap().reported_load(), None);
    let get = || {
        router::event::HttpEvent::from_json(&apigw_event("GET", "/", "203.0.113.9", &[], None))
            .unwrap()
            .into_request()
            .unwrap()
    };
    for i in 0..4 {
        assert_eq!(router.handle(get(), "test-request", now(), i).await.status(), 200, "no report: local counts alone");
    }
}
