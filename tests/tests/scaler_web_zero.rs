//! A web fleet behind the router idles to zero on the routers' request counts, and sparse traffic
//! does not flap it (LocalStack, a compressed clock: 1 s history, 12 s idle time). The routers'
//! EMF lines are put to CloudWatch as its log ingestion does (`switchyard_local::emf::ship`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use router::event::HttpEvent;
use router::{Router, RouterConfig};
use scaler::cloud::AwsCloud;
use scaler::config::Config;
use scaler::tick::tick;
use switchyard_algorithms::Time;
use switchyard_local::emf::ship;
use switchyard_local::{Clients, LocalEnvironment, bootstrap};
use switchyard_tests::{apigw_event, localstack, unique_name};

const IDLE_S: u64 = 12;

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

#[tokio::test]
async fn a_web_fleet_stays_up_under_sparse_requests_and_idles_to_zero_without_them() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let env = LocalEnvironment::with_prefix(&unique_name("webzero"));
    bootstrap(&clients, &env).await.unwrap();
    let web = env.fleets[0].group_name.clone();
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(&web)
        .min_size(0)
        .desired_capacity(1)
        .send()
        .await
        .unwrap();
    let namespace = format!("Switchyard/{}", env.work_queue);
    // The fleet's instance serves from a backend on 127.0.0.1 (its endpoint tag).
    let instance = loop {
        let groups =
            clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(&web).send().await.unwrap();
        if let Some(id) = groups.auto_scaling_groups()[0].instances().first().and_then(|i| i.instance_id()) {
            break id.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (backend, _) = switchyard_tests::http_backend("web").await;
    let tag = aws_sdk_ec2::types::Tag::builder().key("switchyard:endpoint").value(backend).build();
    clients.ec2.create_tags().resources(&instance).tags(tag).send().await.unwrap();

    // A router for the web fleet: what it proxies counts as the group's requests.
    let router_env = HashMap::from([
        ("SWITCHYARD_TARGET_GROUP", web.clone()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "3600".to_owned()),
        ("SWITCHYARD_METRICS_NAMESPACE", namespace.clone()),
        ("SWITCHYARD_METRICS_INTERVAL_SECS", "0".to_owned()),
    ]);
    let router =
        Router::from_sdk(RouterConfig::from_lookup(|k| router_env.get(k).cloned()).unwrap(), Some(&sdk), now())
            .await
            .unwrap();

    let fleets = format!(
        r#"[{{"name": "web", "group": "{web}", "role": "web", "idle_to_zero": true, "metrics": [{{"namespace": "{namespace}",
            "name": "InFlightPerInstance", "dimensions": {{"AutoScalingGroupName": "{web}"}}, "statistic": "Average",
            "period": 1, "target": 10}}]}}]"#
    );
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_SCALE_DOWN_WINDOW_SECS", "4".into()),
        ("SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS", IDLE_S.to_string()),
        ("SWITCHYARD_SCALE_UP_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_METRIC_MAX_AGE_SECS", "30".into()),
        ("SWITCHYARD_METRICS_NAMESPACE", namespace.clone()),
    ]);
    let config = Config::from_lookup(|k| settings.get(k).cloned()).unwrap();
    let cloud = AwsCloud::new(&sdk);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let load = |at: Time| {
        MetricDatum::builder()
            .metric_name("InFlightPerInstance")
            .dimensions(Dimension::builder().name("AutoScalingGroupName").value(&web).build())
            .timestamp(DateTime::from_millis(at.as_millis() as i64))
            .value(5.0)
            .storage_resolution(1)
            .build()
    };

    // "A request a minute for ten minutes", compressed: one every 4 s (a third of the idle time)
    // for 40 s, with a tick every 2 s.
    let mut sizes = Vec::new();
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(40) {
        if started.elapsed() >= Duration::from_secs(4 * i) {
            let event = apigw_event("GET", "/", "203.0.113.1", &[], None);
            let request = HttpEvent::from_json(&event).unwrap().into_request().unwrap();
            assert_eq!(router.handle(request, &format!("req-{i}"), now(), i).await.status(), 200);
            let shipped = ship(&cloudwatch, router.flush_metrics(now())).await.unwrap();
            assert_eq!((shipped.emf, shipped.malformed), (2, 0), "the request and target lines, whole: {shipped:?}");
            i += 1;
        }
        cloudwatch.put_metric_data().namespace(&namespace).metric_data(load(now())).send().await.unwrap();
        let report = tick(&cloud, &config, false, now()).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        sizes.push(report.fleets[0].desired);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(sizes.iter().all(|&n| n == 1), "stays at one instance, no flapping: {sizes:?}");

    // No request any more: to zero once the idle time has passed, not before.
    let last_request = Instant::now();
    let mut at_zero = None;
    while last_request.elapsed() < Duration::from_secs(IDLE_S + 20) {
        cloudwatch.put_metric_data().namespace(&namespace).metric_data(load(now())).send().await.unwrap();
        let report = tick(&cloud, &config, false, now()).await;
        if report.fleets[0].desired == 0 {
            at_zero = Some(last_request.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let at_zero = at_zero.expect("the idle fleet went to zero");
    assert!(at_zero >= Duration::from_secs(IDLE_S - 4), "not before its idle time: {at_zero:?}");
}
