//! Servers added and removed without impact to the clients, on LocalStack with the project's
//! Auto Scaling plugin: the health checker (`router::checker`, the real SDK calls) over a web
//! group whose instances are real HTTP servers on 127.0.0.1 (`switchyard_local::backends`, which
//! starts a server for each instance that joins and kills it, with the requests it holds, when
//! the instance leaves), and a router in process that discovers the group.
//!
//! - A server whose health path starts failing is marked unhealthy within the unhealthy threshold
//!   of intervals, routers stop picking it at their next discovery, and the group replaces it.
//! - When every server fails its check, none is marked, the round fails open, and its EMF line
//!   sets the fail-open alarm.
//! - The scaler takes the fleet from 4 to 2 (on the servers' reported open connections) under 20
//!   concurrent clients sending POSTs that take 1 s: the
//!   leaving instances wait in Terminating:Wait, get no new request after the routers' next
//!   discovery, and are let go once their own load report shows nothing in flight, long before
//!   the deregistration delay: no request fails. Without the drain hook, the same scale-in fails the requests in flight.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use router::aws::HEALTH_TAG;
use router::checker::{Checker, CheckerConfig};
use router::event::HttpEvent;
use router::{Router, RouterConfig};
use scaler::cloud::AwsCloud;
use scaler::config::Config;
use scaler::tick::tick;
use switchyard_algorithms::{Health, Time};
use switchyard_local::backends::{CONNECTIONS_METRIC, Servers};
use switchyard_local::{Clients, FleetSpec, LocalEnvironment, Role, bootstrap};
use switchyard_tests::{apigw_event, localstack, unique_name};
use tokio::sync::Mutex;

const INTERVAL_S: u64 = 5;
const UNHEALTHY_THRESHOLD: u64 = 2;
const TTL_S: u64 = 1;
const DRAIN_HOOK: &str = "switchyard-drain";

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

fn now_ms() -> u64 {
    now().as_millis()
}

/// A web group of `size` instances, each served by a demo server (slow paths take `delay`), kept
/// in step with the group by a follower every 200 ms.
async fn fleet(clients: &Clients, size: i32, delay: Duration) -> (String, Arc<Mutex<Servers>>) {
    let prefix = unique_name("health");
    let mut env = LocalEnvironment::with_prefix(&prefix);
    env.fleets =
        vec![FleetSpec { group_name: format!("{prefix}-web"), role: Role::Web, min: 0, max: 8, initial_desired: 0 }];
    bootstrap(clients, &env).await.unwrap();
    let group = env.fleets[0].group_name.clone();
    clients
        .autoscaling
        .update_auto_scaling_group()
        .auto_scaling_group_name(&group)
        .health_check_grace_period(0)
        .send()
        .await
        .unwrap();
    let mut servers = Servers::new(clients, &group, 8, delay);
    servers.hold_launches().await.unwrap();
    let servers = Arc::new(Mutex::new(servers));
    let following = Arc::clone(&servers);
    tokio::spawn(async move {
        loop {
            let _ = following.lock().await.sync().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    set_desired(clients, &group, size).await;
    wait_for(Duration::from_secs(30), || async {
        lifecycle_states(clients, &group).await.values().filter(|s| *s == "InService").count() == size as usize
    })
    .await;
    (group, servers)
}

async fn set_desired(clients: &Clients, group: &str, size: i32) {
    clients
        .autoscaling
        .set_desired_capacity()
        .auto_scaling_group_name(group)
        .desired_capacity(size)
        .send()
        .await
        .unwrap();
}

async fn lifecycle_states(clients: &Clients, group: &str) -> BTreeMap<String, String> {
    let found =
        clients.autoscaling.describe_auto_scaling_groups().auto_scaling_group_names(group).send().await.unwrap();
    found.auto_scaling_groups()[0]
        .instances()
        .iter()
        .map(|i| (i.instance_id().unwrap().to_owned(), i.lifecycle_state().unwrap().as_str().to_owned()))
        .collect()
}

async fn health_tags(clients: &Clients, instances: &[String]) -> HashMap<String, String> {
    let found = clients.ec2.describe_instances().set_instance_ids(Some(instances.to_vec())).send().await.unwrap();
    found
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| {
            let tag = i.tags().iter().find(|t| t.key() == Some(HEALTH_TAG))?;
            Some((i.instance_id()?.to_owned(), tag.value()?.to_owned()))
        })
        .collect()
}

async fn wait_for<F, Fut>(limit: Duration, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn checker(sdk: &aws_config::SdkConfig, group: &str, extra: &[(&str, &str)]) -> Arc<Checker> {
    let mut env: HashMap<String, String> = [
        ("SWITCHYARD_CHECK_GROUPS", group),
        ("SWITCHYARD_HEALTH_CHECK_PATH", switchyard_local::backends::HEALTH_PATH),
        ("SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS", "5"),
        ("SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS", "2"),
        ("SWITCHYARD_HEALTHY_THRESHOLD", "2"),
        ("SWITCHYARD_UNHEALTHY_THRESHOLD", "2"),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", "1"),
        ("SWITCHYARD_TIMEOUT_MS", "5000"),
        ("SWITCHYARD_CHECK_RUN_SECS", "900"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let config = CheckerConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    Arc::new(Checker::from_sdk(config, sdk))
}

/// The checker as its function runs it: rounds every interval, in the background.
fn run(checker: &Arc<Checker>) -> tokio::task::JoinHandle<usize> {
    let checker = Arc::clone(checker);
    tokio::spawn(async move { checker.run(now, now() + Duration::from_secs(900)).await })
}

async fn router(sdk: &aws_config::SdkConfig, group: &str) -> Arc<Router> {
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_TARGET_GROUP", group.to_owned()),
        ("SWITCHYARD_DISCOVERY_TTL_SECS", TTL_S.to_string()),
        ("SWITCHYARD_TIMEOUT_MS", "5000".to_owned()),
        ("SWITCHYARD_METRICS_INTERVAL_SECS", "0".to_owned()),
    ]);
    let config = RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap();
    Arc::new(Router::from_sdk(config, Some(sdk), now()).await.unwrap())
}

#[tokio::test]
async fn a_server_failing_its_health_check_is_marked_dropped_by_routers_and_replaced() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let (group, servers) = fleet(&clients, 3, Duration::ZERO).await;
    let router = router(&sdk, &group).await;
    let checker = checker(&sdk, &group, &[]);
    let running = run(&checker);
    let instances: Vec<String> = lifecycle_states(&clients, &group).await.into_keys().collect();
    wait_for(Duration::from_secs(15), || async {
        health_tags(&clients, &instances).await.values().filter(|v| v.starts_with("healthy:")).count() == 3
    })
    .await;

    let broken = servers.lock().await.backends().remove(0);
    let t0 = Instant::now();
    broken.healthy.store(false, Ordering::SeqCst);
    let (mut marked, mut dropped, mut replaced) = (None, None, None);
    while replaced.is_none() || dropped.is_none() {
        assert!(t0.elapsed() < Duration::from_secs(60), "not replaced within 60 s");
        if marked.is_none()
            && health_tags(&clients, std::slice::from_ref(&broken.instance))
                .await
                .get(&broken.instance)
                .is_some_and(|v| v.starts_with("unhealthy:"))
        {
            marked = Some(t0.elapsed());
        }
        let balancer = router.balancer();
        let position = balancer.targets().iter().position(|t| t.id.as_str() == broken.instance);
        if dropped.is_none() && position.is_none_or(|i| balancer.targets().get(i).unwrap().health == Health::Unhealthy)
        {
            dropped = Some(t0.elapsed());
        }
        let states = lifecycle_states(&clients, &group).await;
        if replaced.is_none()
            && !states.contains_key(&broken.instance)
            && states.values().filter(|s| *s == "InService").count() == 3
        {
            replaced = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.abort();
    let (marked, dropped, replaced) = (marked.unwrap(), dropped.unwrap(), replaced.unwrap());
    println!(
        "bench: health path broken → tagged unhealthy {:.1} s, router stops picking {:.1} s, replaced {:.1} s \
         (2 failures × 5 s interval, 1 s discovery)",
        marked.as_secs_f64(),
        dropped.as_secs_f64(),
        replaced.as_secs_f64()
    );
    // Probes every interval: the threshold of failures in a row, plus the round's calls; then
    // one discovery period for the router.
    let bound = Duration::from_secs(UNHEALTHY_THRESHOLD * INTERVAL_S + TTL_S + 2);
    assert!(dropped <= bound, "routers stopped picking it after {dropped:?}, bound {bound:?}");
}

#[tokio::test]
async fn when_every_server_fails_its_check_none_is_marked_and_the_round_fails_open() {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let (group, servers) = fleet(&clients, 2, Duration::ZERO).await;
    let router = router(&sdk, &group).await;
    let checker = checker(&sdk, &group, &[]);
    let instances: Vec<String> = lifecycle_states(&clients, &group).await.into_keys().collect();
    checker.round(now()).await;
    for backend in servers.lock().await.backends() {
        backend.healthy.store(false, Ordering::SeqCst);
    }
    checker.round(now()).await;
    let round = checker.round(now()).await.remove(0);
    assert!(round.fail_open, "{round:?}");
    assert_eq!((round.healthy, round.unhealthy), (0, 2));
    assert!(round.changed.is_empty() && round.replaced.is_empty(), "nothing marked: {round:?}");
    let tags = health_tags(&clients, &instances).await;
    assert!(tags.values().all(|v| v.starts_with("healthy:")), "{tags:?}");
    assert_eq!(lifecycle_states(&clients, &group).await.len(), 2, "nothing replaced");
    let event = apigw_event("GET", "/", "203.0.113.7", &[], None);
    let response = router.handle(HttpEvent::from_json(&event).unwrap().into_request().unwrap(), "r", now(), 7).await;
    assert_eq!(response.status(), 200, "traffic goes on");

    // The round's EMF line, put to CloudWatch as CloudWatch Logs does, sets the template's
    // fail-open alarm (its definition, with a 10 s period so that LocalStack evaluates it soon).
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let alarm = format!("{group}-fail-open");
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&alarm)
        .namespace("Switchyard")
        .metric_name("HealthCheckFailOpen")
        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Group").value(&group).build())
        .statistic(aws_sdk_cloudwatch::types::Statistic::Maximum)
        .period(10)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold)
        .treat_missing_data("notBreaching")
        .send()
        .await
        .unwrap();
    let line = router::checker::emf_line("Switchyard", now(), &round);
    let shipped = switchyard_local::emf::ship(&cloudwatch, [line]).await.unwrap();
    assert_eq!(shipped.malformed, 0);
    let shipped_at = Instant::now();
    wait_for(Duration::from_secs(60), || async {
        let found = cloudwatch.describe_alarms().alarm_names(&alarm).send().await.unwrap();
        found.metric_alarms().first().and_then(|a| a.state_value()).map(|s| s.as_str().to_owned())
            == Some("ALARM".to_owned())
    })
    .await;
    println!(
        "bench: every server fails its check: {} judged unhealthy, 0 marked, 0 replaced, traffic served; the \
         fail-open alarm in ALARM {:.1} s after the round's EMF line was put (10 s period)",
        round.unhealthy,
        shipped_at.elapsed().as_secs_f64()
    );
}

/// What a scale-in from 4 to 2 under load did.
#[derive(Debug)]
struct ScaleIn {
    requests: u64,
    failed: u64,
    /// Per leaving instance: when it was seen leaving, its last request's arrival, when it left.
    leaving: Vec<(String, u64, u64, u64)>,
}

impl ScaleIn {
    fn summary(&self, how: &str) -> String {
        let after: Vec<String> = self
            .leaving
            .iter()
            .map(|(_, seen, last, _)| format!("{:.1}", (*last as f64 - *seen as f64) / 1000.0))
            .collect();
        let held: Vec<String> =
            self.leaving.iter().map(|(_, seen, _, left)| format!("{:.1}", (left - seen) as f64 / 1000.0)).collect();
        format!(
            "scale-in 4 → 2, 20 clients, 1 s POSTs, {how}: {} of {} requests failed; last request to a leaving \
             instance {} s after it was seen leaving; held {} s",
            self.failed,
            self.requests,
            after.join(" / "),
            held.join(" / ")
        )
    }
}

/// The scaler's settings for a web fleet sized on its servers' average open connections (target
/// 15 each: the load of 20 clients fits on the group's minimum of 2), on a compressed clock.
fn scaler_config(group: &str, namespace: &str) -> Config {
    let fleets = format!(
        r#"[{{"name": "web", "group": "{group}", "role": "web", "metrics": [{{"namespace": "{namespace}",
            "name": "{CONNECTIONS_METRIC}", "dimensions": {{"AutoScalingGroupName": "{group}"}}, "statistic": "Average",
            "period": 1, "target": 15}}]}}]"#
    );
    let settings: HashMap<&str, String> = HashMap::from([
        ("SWITCHYARD_FLEETS", fleets),
        ("SWITCHYARD_SCALE_DOWN_WINDOW_SECS", "4".into()),
        ("SWITCHYARD_SCALE_UP_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_HISTORY_PERIOD_SECS", "1".into()),
        ("SWITCHYARD_METRIC_MAX_AGE_SECS", "30".into()),
        ("SWITCHYARD_METRICS_NAMESPACE", namespace.to_owned()),
    ]);
    Config::from_lookup(|k| settings.get(k).cloned()).unwrap()
}

async fn scale_in_under_load(drain: bool) -> ScaleIn {
    let sdk = localstack().sdk_config().await;
    let clients = Clients::new(&sdk);
    let (group, servers) = fleet(&clients, 4, Duration::from_secs(1)).await;
    if drain {
        clients
            .autoscaling
            .put_lifecycle_hook()
            .auto_scaling_group_name(&group)
            .lifecycle_hook_name(DRAIN_HOOK)
            .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
            .heartbeat_timeout(300)
            .default_result("CONTINUE")
            .send()
            .await
            .unwrap();
    }
    let router = router(&sdk, &group).await;
    // Each server reports its open connections every second (and the group's average): the
    // scaler sizes the fleet on them, down to the group's minimum of 2, and the checker reads a
    // leaving instance's own to see what it still has in flight.
    let namespace = format!("Switchyard/{group}");
    let checker = checker(
        &sdk,
        &group,
        &[
            ("SWITCHYARD_DEREGISTRATION_DELAY_SECS", "300"),
            // The production request limit: by the routers' limits alone a leaving instance
            // would be held 26 s; its own report lets it go sooner.
            ("SWITCHYARD_TIMEOUT_MS", "25000"),
            ("SWITCHYARD_LOAD_NAMESPACE", &namespace),
            ("SWITCHYARD_LOAD_METRIC", CONNECTIONS_METRIC),
            ("SWITCHYARD_LOAD_PERIOD_SECS", "1"),
        ],
    );
    let running = run(&checker);
    clients.autoscaling.update_auto_scaling_group().auto_scaling_group_name(&group).min_size(2).send().await.unwrap();
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk);
    let reporting = servers.lock().await.report(cloudwatch.clone(), &namespace);
    let scaler = scaler_config(&group, &namespace);
    let cloud = AwsCloud::new(&sdk);

    let (requests, failed, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let clients_running: Vec<_> = (0..20u64)
        .map(|c| {
            let (router, requests, failed, stop) =
                (Arc::clone(&router), Arc::clone(&requests), Arc::clone(&failed), Arc::clone(&stop));
            tokio::spawn(async move {
                // Staggered, so that every server has requests in flight at any moment.
                tokio::time::sleep(Duration::from_millis(c * 50)).await;
                let mut i = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let event =
                        apigw_event("POST", &format!("/slow/orders/{c}-{i}"), "203.0.113.7", &[], Some("order"));
                    let request = HttpEvent::from_json(&event).unwrap().into_request().unwrap();
                    let response = router.handle(request, &format!("r-{c}-{i}"), now(), c * 1_000_003 + i).await;
                    requests.fetch_add(1, Ordering::SeqCst);
                    if response.status() != 200 {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before: BTreeMap<String, String> = lifecycle_states(&clients, &group).await;
    let backends: BTreeMap<String, switchyard_local::backends::Backend> =
        servers.lock().await.backends().into_iter().map(|b| (b.instance.clone(), b)).collect();
    // Ticks a second apart (a compressed clock: 1 s history, 4 s scale-down window) until the
    // scaler has taken the fleet from 4 to 2.
    let mut decided = Vec::new();
    let deciding = Instant::now();
    loop {
        assert!(deciding.elapsed() < Duration::from_secs(60), "the scaler did not scale in: {decided:?}");
        let report = tick(&cloud, &scaler, false, now()).await;
        assert!(report.failed.is_empty(), "{:?}", report.failed);
        decided.push(report.fleets[0].desired);
        if report.fleets[0].desired == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(decided.iter().all(|&n| n == 4 || n == 2), "straight from 4 to 2: {decided:?}");

    // Watch each leaving instance: seen waiting (or gone), then gone from the group.
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut gone: BTreeMap<String, u64> = BTreeMap::new();
    let started = Instant::now();
    while gone.len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(120), "the leaving instances did not leave: {seen:?} {gone:?}");
        let states = lifecycle_states(&clients, &group).await;
        for id in before.keys() {
            match states.get(id).map(String::as_str) {
                Some("InService") => {}
                Some(_) => {
                    seen.entry(id.clone()).or_insert_with(now_ms);
                }
                None => {
                    seen.entry(id.clone()).or_insert_with(now_ms);
                    gone.entry(id.clone()).or_insert_with(now_ms);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients_running {
        c.await.unwrap();
    }
    running.abort();
    reporting.abort();
    let leaving = gone
        .iter()
        .map(|(id, left)| (id.clone(), seen[id], backends[id].last_served_ms.load(Ordering::SeqCst), *left))
        .collect();
    ScaleIn { requests: requests.load(Ordering::SeqCst), failed: failed.load(Ordering::SeqCst), leaving }
}

#[tokio::test]
async fn a_scale_in_under_load_drains_the_leaving_instances_and_no_request_fails() {
    let run = scale_in_under_load(true).await;
    println!("drained scale-in 4 → 2: {run:?}");
    println!("bench: {}", run.summary("with the drain hook"));
    assert_eq!(run.failed, 0, "{} of {} requests failed", run.failed, run.requests);
    assert!(run.requests > 150, "load went on: {}", run.requests);
    for (id, seen, last_request, left) in &run.leaving {
        // The routers' next discovery (TTL) after the instance was seen leaving, plus the poll's
        // granularity: no request arrives later.
        assert!(
            *last_request <= seen + TTL_S * 1000 + 500,
            "{id}: last request {} ms after it was seen leaving",
            last_request.saturating_sub(*seen)
        );
        let held = left - seen;
        // Let go once its own report shows nothing in flight after the routers dropped it (found
        // by a round every 5 s): before the routers' limits (1 s + 25 s) would say so, and long
        // before the 300 s deregistration delay.
        assert!(held < 26_000, "{id}: held {held} ms");
    }
}

#[tokio::test]
async fn without_the_drain_hook_the_same_scale_in_fails_requests_in_flight() {
    let run = scale_in_under_load(false).await;
    println!("scale-in 4 → 2 without draining: {run:?}");
    println!("bench: {}", run.summary("without the drain hook (the peer)"));
    assert!(run.failed > 0, "requests in flight on the terminated instances fail: {run:?}");
}
