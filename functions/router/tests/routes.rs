//! A routing document in the router: rules send requests to the right target group, weighted
//! forwards split traffic and keep clients on their group, a new document version takes effect
//! at the next refresh, and a bad one is refused while traffic goes on. Real backends on
//! 127.0.0.1; the document's parameter is the in-memory fake (the LocalStack test reads SSM).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::Arc;

use router::aws::{DocumentSource, JobQueue};
use router::event::{HttpEvent, Incoming};
use router::fakes::{FakeDocument, FakeQueue};
use router::{Router, RouterConfig, Sources};
use switchyard_algorithms::Time;
use switchyard_algorithms::hash::SplitMix64;

const NOW: Time = Time::from_secs(1_800_000_000);
const SECRET: &str = "a group cookie key of at least thirty-two bytes";

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Incoming {
    let event = switchyard_tests::apigw_event(method, path, "203.0.113.9", headers, (method == "POST").then_some("x"));
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

/// Three backends: `web`, `api`, `canary`; a document template over them.
async fn backends() -> HashMap<&'static str, String> {
    let mut out = HashMap::new();
    for name in ["web", "api", "canary"] {
        out.insert(name, switchyard_tests::http_backend(name).await.0);
    }
    out
}

fn document(b: &HashMap<&str, String>, canary_weight: u32) -> String {
    format!(
        r#"{{
        "target_groups": {{
            "web":    {{"discovery": {{"type": "static", "targets": ["{web}"]}}}},
            "api":    {{"discovery": {{"type": "static", "targets": ["{api}"]}}}},
            "canary": {{"discovery": {{"type": "static", "targets": ["{canary}"]}}}}
        }},
        "rules": [
            {{"priority": 10, "conditions": [{{"field": "host_header", "values": ["api.example.com"]}}],
              "action": {{"type": "forward", "target_group": "api"}}}},
            {{"priority": 20, "conditions": [{{"field": "path_pattern", "values": ["/api/*"]}}],
              "action": {{"type": "forward", "target_group": "api"}}}},
            {{"priority": 30, "conditions": [{{"field": "path_pattern", "values": ["/old/*"]}}],
              "action": {{"type": "redirect", "status_code": 301, "path": "/new/#{{path}}"}}}},
            {{"priority": 40, "conditions": [{{"field": "path_pattern", "values": ["/health"]}}],
              "action": {{"type": "fixed_response", "status_code": 200, "content_type": "text/plain", "body": "ok"}}}},
            {{"priority": 50, "conditions": [{{"field": "http_request_method", "values": ["POST"]}},
                                             {{"field": "path_pattern", "values": ["/jobs"]}}],
              "action": {{"type": "enqueue", "queue": "https://sqs.us-east-1.amazonaws.com/123456789012/work"}}}}
        ],
        "default_action": {{"type": "weighted_forward", "target_groups": [
            {{"name": "web", "weight": {web_weight}}}, {{"name": "canary", "weight": {canary_weight}}}],
            "stickiness": {{"duration_secs": 3600}}}}
    }}"#,
        web = b["web"],
        api = b["api"],
        canary = b["canary"],
        web_weight = 100 - canary_weight,
    )
}

async fn router_with(settings: &[(&str, String)], sources: Sources) -> Router {
    let env: HashMap<&str, String> = settings.iter().cloned().collect();
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    Router::new(config, sources, NOW).await.unwrap()
}

fn sources() -> Sources {
    Sources { queue: Some(Arc::new(FakeQueue::default()) as Arc<dyn JobQueue>), ..Sources::default() }
}

async fn body(router: &Router, req: Incoming, random: u64) -> (u16, String, http::HeaderMap) {
    let response = router.handle(req, "req", NOW, random).await;
    let (parts, body) = response.into_parts();
    (parts.status.as_u16(), String::from_utf8_lossy(&body).into_owned(), parts.headers)
}

/// A uniformly spread random number per request, the same every run.
fn random(i: u64) -> u64 {
    SplitMix64::new(i).next_u64()
}

#[tokio::test]
async fn a_host_rule_and_a_path_rule_reach_their_group() {
    let b = backends().await;
    let router = router_with(&[("SWITCHYARD_ROUTES", document(&b, 0))], sources()).await;
    let by_host = body(&router, request("GET", "/anything", &[("host", "API.example.com:443")]), 1).await;
    let by_path = body(&router, request("GET", "/api/v1/users", &[("host", "www.example.com")]), 2).await;
    let default = body(&router, request("GET", "/index.html", &[("host", "www.example.com")]), 3).await;
    assert_eq!((by_host.0, by_host.1.as_str()), (200, "api"), "host rule, case-insensitive, port ignored");
    assert_eq!((by_path.0, by_path.1.as_str()), (200, "api"));
    assert_eq!((default.0, default.1.as_str()), (200, "web"), "canary at weight 0 gets nothing");
}

#[tokio::test]
async fn fixed_responses_redirects_and_enqueue_actions_are_answered_by_the_router() {
    let b = backends().await;
    let queue = Arc::new(FakeQueue::default());
    let sources = Sources { queue: Some(Arc::clone(&queue) as Arc<dyn JobQueue>), ..Sources::default() };
    let router = router_with(&[("SWITCHYARD_ROUTES", document(&b, 0))], sources).await;
    let health = body(&router, request("GET", "/health", &[]), 1).await;
    assert_eq!((health.0, health.1.as_str()), (200, "ok"));
    assert_eq!(health.2["content-type"], "text/plain");
    let moved = body(&router, request("GET", "/old/page?a=1", &[("host", "www.example.com")]), 1).await;
    assert_eq!(moved.0, 301);
    assert_eq!(moved.2["location"], "https://www.example.com/new/old/page?a=1");
    let job = body(&router, request("POST", "/jobs", &[]), 1).await;
    assert_eq!(job.0, 202, "{}", job.1);
    assert_eq!(queue.stored.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_90_10_canary_over_1000_requests_stays_within_binomial_bounds() {
    let b = backends().await;
    let router = router_with(&[("SWITCHYARD_ROUTES", document(&b, 10))], sources()).await;
    let mut canary = 0;
    for i in 0..1000 {
        if body(&router, request("GET", "/", &[]), random(i)).await.1 == "canary" {
            canary += 1;
        }
    }
    // 99.9 % two-sided: 100 ± 3.29 × √(1000 × 0.1 × 0.9) = 100 ± 31.
    assert!((69..=131).contains(&canary), "canary served {canary} of 1000");
}

#[tokio::test]
async fn a_group_cookie_keeps_a_client_on_its_group_across_a_weight_change() {
    let b = backends().await;
    let doc = Arc::new(FakeDocument::new(&document(&b, 50)));
    let sources = Sources { document: Some(Arc::clone(&doc) as Arc<dyn DocumentSource>), ..sources() };
    let router = router_with(
        &[("SWITCHYARD_ROUTES_PARAMETER", "/routes".into()), ("SWITCHYARD_GROUP_COOKIE_SECRET", SECRET.into())],
        sources,
    )
    .await;
    // A client that landed on the canary, and its cookie.
    let mut i = 0;
    let cookie = loop {
        let answer = body(&router, request("GET", "/", &[]), random(i)).await;
        let set = answer.2["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.starts_with("switchyard-group="), "{set}");
        if answer.1 == "canary" {
            break set.split(';').next().unwrap().to_owned();
        }
        i += 1;
    };
    doc.set(&document(&b, 1));
    router.refresh_routes().await;
    for i in 0..20 {
        let answer = body(&router, request("GET", "/", &[("cookie", &cookie)]), random(1000 + i)).await;
        assert_eq!(answer.1, "canary", "held on its group by the cookie");
        assert!(!answer.2.contains_key("set-cookie"), "an honoured cookie is not sent again");
    }
}

#[tokio::test]
async fn a_new_document_version_takes_effect_at_the_next_refresh() {
    let b = backends().await;
    let doc = Arc::new(FakeDocument::new(&document(&b, 0)));
    let sources = Sources { document: Some(Arc::clone(&doc) as Arc<dyn DocumentSource>), ..sources() };
    let router = router_with(&[("SWITCHYARD_ROUTES_PARAMETER", "/routes".into())], sources).await;
    assert_eq!(body(&router, request("GET", "/", &[]), random(1)).await.1, "web");
    doc.set(&document(&b, 100));
    assert_eq!(body(&router, request("GET", "/", &[]), random(2)).await.1, "web", "not before the refresh");
    router.refresh_routes().await;
    assert_eq!(body(&router, request("GET", "/", &[]), random(3)).await.1, "canary");
}

#[tokio::test]
async fn a_malformed_update_is_refused_and_counted_while_traffic_goes_on() {
    let b = backends().await;
    let doc = Arc::new(FakeDocument::new(&document(&b, 0)));
    let sources = Sources { document: Some(Arc::clone(&doc) as Arc<dyn DocumentSource>), ..sources() };
    let router = router_with(&[("SWITCHYARD_ROUTES_PARAMETER", "/routes".into())], sources).await;
    doc.set(&document(&b, 0).replace(r#""priority": 20"#, r#""priority": 10"#));
    router.refresh_routes().await;
    let answer = body(&router, request("GET", "/api/x", &[]), random(1)).await;
    assert_eq!((answer.0, answer.1.as_str()), (200, "api"), "the last good document serves");
    let rejected: u64 = router.flush_metrics(NOW).iter().filter_map(|l| l["RoutesRejected"].as_u64()).sum();
    assert_eq!(rejected, 1, "counted once, for the alarm");
    router.refresh_routes().await;
    let again: u64 = router.flush_metrics(NOW).iter().filter_map(|l| l["RoutesRejected"].as_u64()).sum();
    assert_eq!(again, 0, "the same bad version is not refused twice");
}

#[tokio::test]
async fn a_bad_document_at_start_is_refused_with_every_error_named() {
    let doc =
        FakeDocument::new(r#"{"target_groups": {}, "default_action": {"type": "forward", "target_group": "nope"}}"#);
    let sources = Sources { document: Some(Arc::new(doc) as Arc<dyn DocumentSource>), ..Sources::default() };
    let env: HashMap<&str, String> = HashMap::from([("SWITCHYARD_ROUTES_PARAMETER", "/routes".into())]);
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    let err = Router::new(config, sources, NOW).await.unwrap_err().to_string();
    assert!(err.contains("default_action"), "{err}");
}

#[tokio::test]
async fn each_group_counts_its_own_requests_and_its_targets_picks() {
    let b = backends().await;
    let router = router_with(&[("SWITCHYARD_ROUTES", document(&b, 0))], sources()).await;
    for i in 0..3 {
        body(&router, request("GET", "/api/x", &[]), i).await;
    }
    body(&router, request("GET", "/", &[]), 9).await;
    let lines = router.flush_metrics(NOW);
    let requests = |group: &str| -> u64 {
        lines.iter().filter(|l| l["Group"] == group).filter_map(|l| l["Requests"].as_u64()).sum()
    };
    assert_eq!((requests("api"), requests("web")), (3, 1));
    let picks: u64 =
        lines.iter().filter(|l| l["Target"] == b["api"].as_str()).filter_map(|l| l["Picks"].as_u64()).sum();
    assert_eq!(picks, 3, "per target: {lines:?}");
}
