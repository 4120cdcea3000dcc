//! A routing document over two Auto Scaling groups, read from SSM Parameter Store (LocalStack),
//! with real backends on 127.0.0.1 behind each group's instances: host and path rules reach the
//! right fleet, a 90/10 canary splits 1 000 requests within binomial bounds, a weight changed in
//! the parameter takes effect within the refresh period, and a malformed update is refused while
//! traffic goes on.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use router::event::HttpEvent;
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use switchyard_algorithms::hash::SplitMix64;
use switchyard_local::{Clients, FleetSpec, LocalEnvironment, Role, bootstrap};
use switchyard_tests::{apigw_event, localstack, unique_name};

const REFRESH_S: u64 = 1;

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

/// Two web groups, `web` and `api`, each of one instance whose endpoint is a backend on
/// 127.0.0.1 answering with the group's role name.
async fn two_fleets(clients: &Clients) -> (String, String) {
    let prefix = unique_name("routes");
    let mut env = LocalEnvironment::with_prefix(&prefix);
    env.fleets = ["web", "api"]
        .map(|name| FleetSpec {
            group_name: format!("{prefix}-{name}"),
            role: Role::Web,
            min: 0,
            max: 2,
            initial_desired: 0,
        })
        .to_vec();
    bootstrap(clients, &env).await.unwrap();
    for (fleet, name) in env.fleets.iter().zip(["web", "api"]) {
        let (address, _) = switchyard_tests::http_backend(name).await;
        switchyard_local::backends::endpoint_at_launch(clients, &fleet.group_name, &address).await.unwrap();
        clients
            .autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(&fleet.group_name)
            .desired_capacity(1)
            .send()
            .await
            .unwrap();
    }
    (env.fleets[0].group_name.clone(), env.fleets[1].group_name.clone())
}

fn document(web: &str, api: &str, api_weight: u32) -> String {
    format!(
        r#"{{
        "target_groups": {{
            "web": {{"discovery": {{"type": "auto_scaling_group", "name": "{web}", "port": 80}}}},
            "api": {{"discovery": {{"type": "auto_scaling_group", "name": "{api}", "port": 80}}}}
        }},
        "rules": [
            {{"priority": 10, "conditions": [{{"field": "host_header", "values": ["api.example.com"]}}],
              "action": {{"type": "forward", "target_group": "api"}}}},
            {{"priority": 20, "conditions": [{{"field": "path_pattern", "values": ["/api/*"]}}],
              "action": {{"type": "forward", "target_group": "api"}}}}
        ],
        "default_action": {{"type": "weighted_forward", "target_groups": [
            {{"name": "web", "weight": {web_weight}}}, {{"name": "api", "weight": {api_weight}}}]}}
    }}"#,
        web_weight = 100 - api_weight,
    )
}

async fn put(ssm: &aws_sdk_ssm::Client, name: &str, value: &str) {
    ssm.put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

async fn get(router: &Router, path: &str, host: &str, i: u64) -> (u16, String) {
    let event = apigw_event("GET", path, "203.0.113.7", &[("host", host)], None);
    let request = HttpEvent::from_json(&event).unwrap().into_request().unwrap();
    let response = router.handle(request, &format!("req-{i}"), now(), splitmix(i)).await;
    (response.status().as_u16(), String::from_utf8_lossy(response.body()).into_owned())
}

/// A uniformly spread random number per request, the same every run.
fn splitmix(i: u64) -> u64 {
    SplitMix64::new(i).next_u64()
}

#[tokio::test]
async fn rules_canaries_and_live_weight_changes_over_two_fleets_from_a_parameter() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let (web, api) = two_fleets(&clients).await;
    let parameter = format!("/{}/routes", unique_name("switchyard"));
    put(&ssm, &parameter, &document(&web, &api, 10)).await;
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_ROUTES_PARAMETER", parameter.clone()),
        ("SWITCHYARD_ROUTES_REFRESH_SECS", REFRESH_S.to_string()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "1".to_owned()),
        ("SWITCHYARD_METRICS_INTERVAL_SECS", "0".to_owned()),
    ]);
    let router = Router::from_sdk(RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap(), Some(&sdk), now())
        .await
        .unwrap();

    // Host and path rules.
    assert_eq!(get(&router, "/", "API.example.com", 1).await, (200, "api".to_owned()), "host rule");
    assert_eq!(get(&router, "/api/orders", "www.example.com", 2).await, (200, "api".to_owned()), "path rule");

    // The 90/10 canary: 100 ± 3.29 × √(1000 × 0.1 × 0.9) = 100 ± 31 at 99.9 %.
    let mut api_share = 0;
    for i in 0..1000 {
        let (status, served) = get(&router, "/", "www.example.com", 100 + i).await;
        assert_eq!(status, 200);
        api_share += u32::from(served == "api");
    }
    assert!((69..=131).contains(&api_share), "api served {api_share} of 1000");

    // A weight changed in the parameter: within the refresh period (plus a read), every request.
    put(&ssm, &parameter, &document(&web, &api, 100)).await;
    tokio::time::sleep(Duration::from_millis(REFRESH_S * 1000 + 500)).await;
    for i in 0..50 {
        assert_eq!(get(&router, "/", "www.example.com", 2000 + i).await.1, "api", "the new weights serve");
    }

    // A malformed update: refused, counted, and the last good document goes on serving.
    put(&ssm, &parameter, r#"{"target_groups": {"web": "#).await;
    for i in 0..30 {
        assert_eq!(get(&router, "/", "www.example.com", 3000 + i).await, (200, "api".to_owned()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rejected: u64 = router.flush_metrics(now()).iter().filter_map(|l| l["RoutesRejected"].as_u64()).sum();
    assert_eq!(rejected, 1, "one refused version, counted once for the alarm");
}
