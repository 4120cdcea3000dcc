//! The router's handler on typed requests (read from API Gateway HTTP API v2 and ALB JSON by the
//! router's own event reader, as the Lambda function does) against real HTTP backends on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use router::event::{HttpEvent, Incoming};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use tokio::net::TcpListener;

#[derive(Clone, Copy)]
enum Behaviour {
    Ok,
    Fail,
    Slow(Duration),
}

/// A backend on a free loopback port that answers with its name and the headers it received.
struct Backend {
    address: String,
    hits: Arc<AtomicUsize>,
}

async fn backend(name: &'static str, behaviour: Behaviour) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let headers: HashMap<String, String> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                            .collect();
                        let path = req.uri().to_string();
                        let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let status = match behaviour {
                            Behaviour::Fail => 500,
                            Behaviour::Slow(d) => {
                                tokio::time::sleep(d).await;
                                200
                            }
                            Behaviour::Ok => 200,
                        };
                        let json = serde_json::json!({
                            "backend": name, "headers": headers, "path": path, "body": String::from_utf8_lossy(&body),
                        });
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .header("content-type", "application/json")
                                .header("connection", "keep-alive")
                                .body(Full::new(Bytes::from(json.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Backend { address, hits }
}

async fn router(targets: &[&str], extra: &[(&str, &str)]) -> Router {
    let mut env: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("SWITCHYARD_TARGETS".into(), targets.join(","));
    env.entry("SWITCHYARD_TIMEOUT_MS".into()).or_insert_with(|| "2000".into());
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    Router::from_sdk(config, None, NOW).await.unwrap()
}

/// An API Gateway HTTP API (payload 2.0) event with the query `a=1`, read as the function reads it.
fn apigw(method: &str, path: &str, source_ip: &str, headers: &[(&str, &str)], body: Option<&str>) -> Incoming {
    let event = switchyard_tests::apigw_event(method, &format!("{path}?a=1"), source_ip, headers, body);
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

const NOW: Time = Time::from_secs(1_800_000_000);

fn json(response: &hyper::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(response.body()).unwrap()
}

#[tokio::test]
async fn round_robin_spreads_requests_evenly() {
    let (a, b, c) =
        (backend("a", Behaviour::Ok).await, backend("b", Behaviour::Ok).await, backend("c", Behaviour::Ok).await);
    let r = router(&[&a.address, &b.address, &c.address], &[]).await;
    for i in 0..30 {
        let response = r.handle(apigw("GET", "/x", "203.0.113.1", &[], None), "test-request", NOW, i).await;
        assert_eq!(response.status(), 200);
    }
    let hits = [a.hits.load(Ordering::SeqCst), b.hits.load(Ordering::SeqCst), c.hits.load(Ordering::SeqCst)];
    assert_eq!(hits, [10, 10, 10]);
}

#[tokio::test]
async fn the_target_sees_the_path_query_body_and_forwarding_headers_not_the_clients_claims() {
    let a = backend("a", Behaviour::Ok).await;
    let r = router(&[&a.address], &[]).await;
    let request = apigw(
        "POST",
        "/orders",
        "198.51.100.7",
        &[("host", "api.example.com"), ("x-forwarded-for", "6.6.6.6"), ("connection", "close"), ("x-app", "1")],
        Some("{\"n\":1}"),
    );
    let seen = json(&r.handle(request, "test-request", NOW, 1).await);
    assert_eq!(seen["path"], "/orders?a=1");
    assert_eq!(seen["body"], "{\"n\":1}");
    assert_eq!(seen["headers"]["x-forwarded-for"], "198.51.100.7");
    assert_eq!(seen["headers"]["x-forwarded-host"], "api.example.com");
    assert_eq!(seen["headers"]["x-forwarded-proto"], "https");
    assert_eq!(seen["headers"]["host"], a.address.as_str());
    assert_eq!(seen["headers"]["x-app"], "1");
}

#[tokio::test]
async fn a_dead_target_is_skipped_and_no_idempotent_request_fails() {
    let a = backend("a", Behaviour::Ok).await;
    let dead = { TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string() };
    let r = router(&[&a.address, &dead], &[]).await;
    for i in 0..20 {
        let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, i).await;
        assert_eq!(response.status(), 200, "request {i}");
    }
}

#[tokio::test]
async fn a_5xx_is_retried_for_get() {
    let (bad, good) = (backend("bad", Behaviour::Fail).await, backend("good", Behaviour::Ok).await);
    let r = router(&[&bad.address, &good.address], &[]).await;
    for i in 0..6 {
        let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, i).await;
        assert_eq!(response.status(), 200);
    }
    assert!(bad.hits.load(Ordering::SeqCst) >= 1, "the failing target was tried");
    // The EMF lines say what happened: every 5xx is an error of `bad`, every retry landed on `good`.
    let lines = r.flush_metrics(NOW);
    let line = |address: &str| lines.iter().find(|l| l["Target"] == address).cloned().unwrap();
    let (bad_line, good_line) = (line(&bad.address), line(&good.address));
    let bad_hits = bad.hits.load(Ordering::SeqCst) as u64;
    assert_eq!((bad_line["Picks"].as_u64(), bad_line["Errors"].as_u64()), (Some(bad_hits), Some(bad_hits)));
    assert_eq!(good_line["Picks"], 6);
    assert_eq!(good_line["Errors"], 0);
    assert_eq!(good_line["Retries"].as_u64(), Some(bad_hits), "each failure was retried once, on good");
    assert_eq!(good_line["UpstreamLatency"].as_array().unwrap().len(), 6);
    assert_eq!(lines[0]["Requests"], 6);
}

#[tokio::test]
async fn a_post_that_reached_a_failing_target_is_not_replayed() {
    let (bad, good) = (backend("bad", Behaviour::Fail).await, backend("good", Behaviour::Ok).await);
    let r = router(&[&bad.address, &good.address], &[]).await;
    // Round robin over two targets: one of two POSTs goes to the failing one, and stays failed.
    let mut statuses = Vec::new();
    for i in 0..2 {
        statuses.push(
            r.handle(apigw("POST", "/", "203.0.113.1", &[], Some("x")), "test-request", NOW, i).await.status().as_u16(),
        );
    }
    statuses.sort();
    assert_eq!(statuses, [200, 500]);
    assert_eq!(bad.hits.load(Ordering::SeqCst), 1);
    assert_eq!(good.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn nothing_left_to_try_is_a_502_with_the_request_id() {
    let dead = { TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string() };
    let r = router(&[&dead], &[]).await;
    let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, 1).await;
    assert_eq!(response.status(), 502);
    assert_eq!(json(&response)["error"], "upstream_failed");
    assert_eq!(json(&response)["request_id"], "test-request");
}

#[tokio::test]
async fn a_slow_target_past_the_timeout_is_a_504() {
    let slow = backend("slow", Behaviour::Slow(Duration::from_secs(3))).await;
    let r =
        router(&[&slow.address], &[("SWITCHYARD_TIMEOUT_MS", "300"), ("SWITCHYARD_CONNECT_TIMEOUT_MS", "100")]).await;
    let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, 1).await;
    assert_eq!(response.status(), 504);
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_never_reaches_a_target() {
    let a = backend("a", Behaviour::Ok).await;
    let r = router(&[&a.address], &[("SWITCHYARD_MAX_BODY_BYTES", "10")]).await;
    let response =
        r.handle(apigw("POST", "/", "203.0.113.1", &[], Some("0123456789ABC")), "test-request", NOW, 1).await;
    assert_eq!(response.status(), 413);
    assert_eq!(a.hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn sticky_cookie_keeps_a_client_and_a_tampered_cookie_gets_a_new_one() {
    let (a, b, c) =
        (backend("a", Behaviour::Ok).await, backend("b", Behaviour::Ok).await, backend("c", Behaviour::Ok).await);
    let secret = ("SWITCHYARD_STICKY_SECRET", "0123456789abcdef0123456789abcdef");
    let r = router(&[&a.address, &b.address, &c.address], &[("SWITCHYARD_ALGORITHM", "sticky_cookie"), secret]).await;
    let first = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, 7).await;
    let set_cookie = first.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Secure") && set_cookie.contains("SameSite=Lax"));
    assert!(set_cookie.contains("Max-Age=3600"));
    let home = json(&first)["backend"].clone();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    for random in 0..10 {
        let again =
            r.handle(apigw("GET", "/", "203.0.113.1", &[("cookie", &cookie)], None), "test-request", NOW, random).await;
        assert_eq!(json(&again)["backend"], home);
        assert!(again.headers().get("set-cookie").is_none(), "a valid cookie is not re-issued");
    }
    let tampered = cookie.replacen(".", ".A", 1);
    let answer =
        r.handle(apigw("GET", "/", "203.0.113.1", &[("cookie", &tampered)], None), "test-request", NOW, 3).await;
    assert_eq!(answer.status(), 200, "a bad cookie is never an error");
    assert!(answer.headers().get("set-cookie").is_some(), "it gets a fresh cookie");
}

#[tokio::test]
async fn sticky_ip_uses_the_event_source_ip_not_headers() {
    let (a, b, c) =
        (backend("a", Behaviour::Ok).await, backend("b", Behaviour::Ok).await, backend("c", Behaviour::Ok).await);
    let r = router(&[&a.address, &b.address, &c.address], &[("SWITCHYARD_ALGORITHM", "sticky_ip")]).await;
    let home =
        json(&r.handle(apigw("GET", "/", "198.51.100.20", &[], None), "test-request", NOW, 1).await)["backend"].clone();
    for i in 0..10 {
        // A client rotating X-Forwarded-For cannot move itself.
        let spoof = format!("10.9.9.{i}");
        let answer = r
            .handle(apigw("GET", "/", "198.51.100.20", &[("x-forwarded-for", &spoof)], None), "test-request", NOW, i)
            .await;
        assert_eq!(json(&answer)["backend"], home);
    }
}

#[tokio::test]
async fn an_alb_event_takes_the_client_ip_the_alb_appended() {
    let a = backend("a", Behaviour::Ok).await;
    let r = router(&[&a.address], &[]).await;
    let event = serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/", "queryStringParameters": {"a": "1"},
        "headers": {"x-forwarded-for": "6.6.6.6, 192.0.2.44", "host": "alb.example.com"},
        "body": "", "isBase64Encoded": false
    });
    let reply = r.handle_event(event, "test-request", NOW, 1).await;
    let answer = serde_json::to_value(&reply).unwrap();
    assert_eq!(answer["statusCode"], 200);
    assert_eq!(answer["statusDescription"], "200 OK");
    let seen: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(seen["path"], "/?a=1");
    assert_eq!(seen["headers"]["x-forwarded-for"], "192.0.2.44");
}

#[tokio::test]
async fn an_event_that_is_no_request_is_a_400_naming_the_problem() {
    let r = router(&["127.0.0.1:9"], &[]).await;
    let event = serde_json::json!({"rawPath": "/", "requestContext": {}});
    let answer = serde_json::to_value(r.handle_event(event, "test-request", NOW, 1).await).unwrap();
    assert_eq!(answer["statusCode"], 400);
    let body: serde_json::Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"], "bad_event");
    assert!(body["message"].as_str().unwrap().contains("no HTTP method"), "{body}");
    assert_eq!(body["request_id"], "test-request");
}

#[tokio::test]
async fn least_connections_prefers_the_idle_backend_while_another_is_slow() {
    let slow = backend("slow", Behaviour::Slow(Duration::from_millis(800))).await;
    let fast = backend("fast", Behaviour::Ok).await;
    let r = Arc::new(router(&[&slow.address, &fast.address], &[("SWITCHYARD_ALGORITHM", "least_connections")]).await);
    let mut running = Vec::new();
    for i in 0..20 {
        let r = Arc::clone(&r);
        running.push(tokio::spawn(async move {
            r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, i).await.status()
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for task in running {
        assert_eq!(task.await.unwrap(), 200);
    }
    let (slow_hits, fast_hits) = (slow.hits.load(Ordering::SeqCst), fast.hits.load(Ordering::SeqCst));
    // Round robin would give the slow one 10; with one request stuck there, the rest go elsewhere.
    assert!(slow_hits <= 2, "slow {slow_hits}, fast {fast_hits}");
    assert_eq!(slow_hits + fast_hits, 20);
}

#[tokio::test]
async fn a_backend_stopping_under_load_fails_no_idempotent_request() {
    let steady = backend("steady", Behaviour::Ok).await;
    // A backend that serves, then goes away: its listener is dropped after a few requests.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let leaving = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        for _ in 0..3 {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = service_fn(|_req: hyper::Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"{\"backend\":\"leaving\"}"))))
            });
            let _ = http1::Builder::new().keep_alive(false).serve_connection(TokioIo::new(stream), service).await;
        }
    });
    let r = Arc::new(router(&[&steady.address, &leaving], &[]).await);
    let mut statuses = Vec::new();
    for i in 0..40 {
        let r = Arc::clone(&r);
        statuses.push(tokio::spawn(async move {
            r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, i).await.status()
        }));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for task in statuses {
        assert_eq!(task.await.unwrap(), 200);
    }
    server.await.unwrap();
}

#[tokio::test]
async fn a_sticky_cookie_beside_an_unreadable_cookie_keeps_its_target_and_the_other_cookies() {
    let (a, b, c) =
        (backend("a", Behaviour::Ok).await, backend("b", Behaviour::Ok).await, backend("c", Behaviour::Ok).await);
    let secret = ("SWITCHYARD_STICKY_SECRET", "0123456789abcdef0123456789abcdef");
    let r = router(&[&a.address, &b.address, &c.address], &[("SWITCHYARD_ALGORITHM", "sticky_cookie"), secret]).await;
    let first = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, 7).await;
    let home = json(&first)["backend"].clone();
    let sticky = first.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    for random in 0..5 {
        // As a browser sends it through an HTTP API: one cookie with a byte a header cannot carry.
        let event = serde_json::json!({
            "version": "2.0", "rawPath": "/", "rawQueryString": "",
            "cookies": ["theme=dark", "name=Jos\u{e9}", sticky, "lang=\u{7f}fr"],
            "requestContext": {"http": {"method": "GET", "sourceIp": "203.0.113.1"}}, "isBase64Encoded": false
        });
        let reply = serde_json::to_value(r.handle_event(event, "test-request", NOW, random).await).unwrap();
        assert_eq!(reply["statusCode"], 200);
        let seen: serde_json::Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
        assert_eq!(seen["backend"], home, "the session keeps its target");
        assert_eq!(
            seen["headers"]["cookie"],
            format!("theme=dark; name=Jos\u{e9}; {sticky}"),
            "only the pair with a control byte is dropped"
        );
        assert_eq!(reply["cookies"], serde_json::json!([]), "a valid cookie is not re-issued");
    }
}

#[tokio::test]
async fn alb_cookie_headers_sent_apart_reach_a_default_hyper_backend_as_one() {
    let a = backend("a", Behaviour::Ok).await;
    let r = router(&[&a.address], &[]).await;
    let event = serde_json::json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/",
        "multiValueHeaders": {"cookie": ["a=1", "b=2"], "x-forwarded-for": ["192.0.2.9"]},
        "isBase64Encoded": false, "body": ""
    });
    let reply = serde_json::to_value(r.handle_event(event, "test-request", NOW, 1).await).unwrap();
    assert_eq!(reply["statusCode"], 200, "not 431: one Cookie header on the HTTP/1.1 hop");
    let seen: serde_json::Value = serde_json::from_str(reply["body"].as_str().unwrap()).unwrap();
    assert_eq!(seen["headers"]["cookie"], "a=1; b=2");
}

#[tokio::test]
async fn two_of_three_targets_refusing_connections_stop_getting_first_attempts_within_a_second() {
    let a = backend("a", Behaviour::Ok).await;
    let dead: Vec<String> = {
        let mut dead = Vec::new();
        for _ in 0..2 {
            dead.push(TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string());
        }
        dead
    };
    let r = router(&[&a.address, &dead[0], &dead[1]], &[]).await;
    // 200 GETs within one second of the router's clock.
    for i in 0..200u64 {
        let at = Time::from_millis(NOW.as_millis() + i * 5);
        let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", at, i).await;
        assert_eq!(response.status(), 200, "request {i}");
    }
    let lines = r.flush_metrics(Time::from_millis(NOW.as_millis() + 1_000));
    let picks =
        |target: &str| lines.iter().find(|l| l["Target"] == target).map_or(0, |l| l["Picks"].as_u64().unwrap_or(0));
    let at_dead = picks(&dead[0]) + picks(&dead[1]);
    println!("attempts at the two refusing targets in one second: {at_dead} of 200 requests");
    assert!(at_dead <= 4, "attempts at the refusing targets in a second: {at_dead} of 200 requests");
    assert_eq!(a.hits.load(Ordering::SeqCst), 200);
}

#[tokio::test]
async fn a_hung_target_costs_an_idempotent_request_one_attempt_timeout_not_the_whole_budget() {
    let hung = backend("hung", Behaviour::Slow(Duration::from_secs(30))).await;
    let ok = backend("ok", Behaviour::Ok).await;
    let r = router(
        &[&hung.address, &ok.address],
        &[("SWITCHYARD_ATTEMPT_TIMEOUT_MS", "1000"), ("SWITCHYARD_TIMEOUT_MS", "10000")],
    )
    .await;
    for i in 0..4 {
        let started = std::time::Instant::now();
        let response = r.handle(apigw("GET", "/", "203.0.113.1", &[], None), "test-request", NOW, i).await;
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(json(&response)["backend"], "ok");
        assert!(started.elapsed() < Duration::from_millis(2_500), "request {i} took {:?}", started.elapsed());
    }
}
