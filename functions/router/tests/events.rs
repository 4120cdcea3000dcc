//! Lambda's HTTP events, as AWS documents them, read into the router's request; and the router's
//! answer written back in each event's format. Fixtures: `fixtures/README.md` names each source.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use bytes::Bytes;
use http::{HeaderValue, Method, Response, header};
use router::event::{EventError, Format, HttpEvent, Incoming, Reply};
use serde_json::{Value, json};

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn read(event: Value) -> Incoming {
    HttpEvent::from_value(event).unwrap().into_request().unwrap()
}

#[test]
fn an_http_api_event_without_authorizer_is_a_get_of_the_root_from_its_source_ip() {
    let event = fixture(include_str!("fixtures/apigw-v2-no-authorizer.json"));
    assert_eq!(Format::of(&event), Format::HttpApi);
    let request = read(event);
    assert_eq!((request.method, request.path_and_query.as_str()), (Method::GET, "/"));
    assert_eq!(request.client_ip, Some("1.2.3.4".parse().unwrap()));
    assert_eq!(request.headers["user-agent"], "curl/7.58.0");
    assert!(request.body.is_empty());
}

#[test]
fn an_http_api_event_with_an_authorizer_keeps_its_raw_query_cookies_and_body() {
    for text in [
        include_str!("fixtures/apigw-v2-lambda-authorizer.json"),
        include_str!("fixtures/apigw-v2-jwt-authorizer.json"),
    ] {
        let request = read(fixture(text));
        assert_eq!(request.path_and_query.as_str(), "/my/path?parameter1=value1&parameter1=value2&parameter2=value");
        assert_eq!(request.headers[header::COOKIE], "cookie1; cookie2");
        assert_eq!(request.headers["header1"], "value1", "names are lower-cased");
        assert!(!request.body.is_empty());
    }
}

#[test]
fn a_function_url_event_reads_as_an_http_api_event() {
    let event = fixture(include_str!("fixtures/function-url.json"));
    assert_eq!(Format::of(&event), Format::HttpApi);
    let request = read(event);
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path_and_query.as_str(), "/my/path?parameter1=value1&parameter1=value2&parameter2=value");
    assert_eq!(request.body, "Hello from client!");
    assert_eq!(request.client_ip, Some("123.123.123.123".parse().unwrap()));
    assert_eq!(request.headers["header2"], "value1,value2", "a joined value stays as sent");
}

#[test]
fn an_alb_event_with_single_value_headers_takes_the_client_ip_the_alb_appended() {
    let event = fixture(include_str!("fixtures/alb-single-value.json"));
    assert_eq!(Format::of(&event), Format::Alb { multi_value: false });
    let request = read(event);
    assert_eq!((request.method, request.path_and_query.as_str()), (Method::GET, "/?key=hello"));
    assert_eq!(request.client_ip, Some("25.12.198.67".parse().unwrap()));
    assert_eq!(request.headers["x-myheader"], "123");
}

#[test]
fn an_alb_event_with_multi_value_headers_is_answered_with_multi_value_headers() {
    let event = fixture(include_str!("fixtures/alb-multi-value.json"));
    assert_eq!(Format::of(&event), Format::Alb { multi_value: true });
    let parsed = HttpEvent::from_value(event).unwrap();
    assert_eq!(parsed.format(), Format::Alb { multi_value: true });
    let request = parsed.into_request().unwrap();
    assert_eq!(request.path_and_query.as_str(), "/?key=hello");
    assert_eq!(request.client_ip, Some("72.21.198.67".parse().unwrap()));
    assert_eq!(request.body, "Some text");
}

#[test]
fn alb_parameters_go_back_as_received_every_value_kept() {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/search",
        "multiValueQueryStringParameters": {"tag": ["a", "b"], "q": ["x%20y"]},
        "multiValueHeaders": {"x-forwarded-for": ["6.6.6.6", "192.0.2.9"]}, "isBase64Encoded": false, "body": ""
    });
    let request = read(event);
    assert_eq!(request.path_and_query.as_str(), "/search?q=x%20y&tag=a&tag=b", "not decoded, not re-encoded");
    assert_eq!(request.client_ip, Some("192.0.2.9".parse().unwrap()));
}

fn http_api(extra: Value) -> Value {
    let mut event = json!({"version": "2.0", "rawPath": "/", "rawQueryString": "",
        "requestContext": {"http": {"method": "GET", "sourceIp": "203.0.113.7"}}, "isBase64Encoded": false});
    for (k, v) in extra.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

#[test]
fn an_unreadable_cookie_drops_only_itself_from_the_cookie_list() {
    let request =
        read(http_api(json!({"cookies": ["a=1", "b=caf\u{e9}", "c=\u{1}x", "d=\u{7f}", "switchyard=signed"]})));
    // UTF-8 text is passed on as the browser sent it; a control byte cannot be in a header.
    assert_eq!(request.headers[header::COOKIE].as_bytes(), "a=1; b=caf\u{e9}; switchyard=signed".as_bytes());
}

#[test]
fn an_unreadable_pair_in_a_cookie_header_drops_only_that_pair() {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/",
        "headers": {"cookie": "a=1; b=\u{1}; switchyard=signed", "x-bad": "\u{1}", "ok": "yes", "x-name": "Jos\u{e9}"},
        "isBase64Encoded": false, "body": ""
    });
    let request = read(event);
    assert_eq!(request.headers[header::COOKIE], "a=1; switchyard=signed");
    assert_eq!(request.headers["x-name"].as_bytes(), "Jos\u{e9}".as_bytes(), "UTF-8 text is passed on");
    assert!(request.headers.get("x-bad").is_none(), "an unreadable header is dropped");
    assert_eq!(request.headers["ok"], "yes", "the others stay");
}

#[test]
fn several_alb_cookie_headers_become_one_for_the_http_1_hop() {
    let event = json!({
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
        "httpMethod": "GET", "path": "/",
        "multiValueHeaders": {"cookie": ["a=1", "b=2; c=3"], "x-forwarded-for": ["192.0.2.9"]},
        "isBase64Encoded": false, "body": ""
    });
    let request = read(event);
    let cookies: Vec<&HeaderValue> = request.headers.get_all(header::COOKIE).iter().collect();
    assert_eq!(cookies, ["a=1; b=2; c=3"], "RFC 6265 §5.4: one Cookie header");
}

#[test]
fn events_that_are_not_requests_are_errors_that_name_the_problem() {
    assert!(matches!(HttpEvent::from_json("not json"), Err(EventError::Json(_))));
    for not_http in [json!({}), json!(7), json!({"rawPath": "/", "requestContext": {}})] {
        assert!(matches!(HttpEvent::from_value(not_http), Err(EventError::NotHttp)));
    }
    let rest_api = json!({"httpMethod": "GET", "path": "/orders", "resource": "/orders",
        "requestContext": {"identity": {"sourceIp": "203.0.113.7"}}});
    assert!(matches!(HttpEvent::from_value(rest_api), Err(EventError::RestApi)), "payload 1.0 is refused, not guessed");
    let bad_method = http_api(json!({"requestContext": {"http": {"method": "GET POST"}}}));
    let error = HttpEvent::from_value(bad_method).unwrap_err();
    assert!(matches!(error, EventError::Malformed { format: "HTTP API", .. }), "{error}");
    let bad_base64 = http_api(json!({"body": "%%%", "isBase64Encoded": true}));
    assert!(matches!(HttpEvent::from_value(bad_base64).unwrap().into_request(), Err(EventError::Body(_))));
    let bad_target = http_api(json!({"rawPath": "/a b"}));
    assert!(matches!(HttpEvent::from_value(bad_target).unwrap().into_request(), Err(EventError::Target(_))));
}

fn response(content_type: &str, body: &'static [u8]) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from_static(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
    response.headers_mut().append("x-tenant", HeaderValue::from_static("a"));
    response.headers_mut().append("x-tenant", HeaderValue::from_static("b"));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("app=1; Path=/"));
    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("sticky=2; Path=/"));
    response
}

fn reply(format: Format, response: Response<Bytes>) -> Value {
    serde_json::to_value(Reply { format, response }).unwrap()
}

#[test]
fn an_http_api_answer_lists_set_cookies_apart_and_joins_other_repeats() {
    let out = reply(Format::HttpApi, response("text/html; charset=utf-8", b"<p>hi</p>"));
    assert_eq!(out["statusCode"], 200);
    assert_eq!(out["headers"]["x-tenant"], "a, b");
    assert!(out["headers"].get("set-cookie").is_none());
    assert_eq!(out["cookies"], json!(["app=1; Path=/", "sticky=2; Path=/"]));
    assert_eq!((out["body"].as_str(), out["isBase64Encoded"].as_bool()), (Some("<p>hi</p>"), Some(false)));
}

#[test]
fn alb_answers_follow_the_target_groups_header_mode() {
    let single = reply(Format::Alb { multi_value: false }, response("application/json", b"{}"));
    assert_eq!(single["statusDescription"], "200 OK");
    assert_eq!(single["headers"]["set-cookie"], "app=1; Path=/", "one value per name: the target's own");
    assert_eq!(single["headers"]["x-tenant"], "a, b");
    let multi = reply(Format::Alb { multi_value: true }, response("application/json", b"{}"));
    assert_eq!(multi["multiValueHeaders"]["set-cookie"], json!(["app=1; Path=/", "sticky=2; Path=/"]));
    assert_eq!(multi["multiValueHeaders"]["x-tenant"], json!(["a", "b"]));
}

#[test]
fn binary_or_undeclared_bodies_go_as_base64_and_odd_header_bytes_survive() {
    let png = reply(Format::HttpApi, response("image/png", b"\x89PNG"));
    assert_eq!((png["body"].as_str(), png["isBase64Encoded"].as_bool()), (Some("iVBORw=="), Some(true)));
    let mut odd = Response::new(Bytes::new());
    odd.headers_mut().insert("x-latin1", HeaderValue::from_bytes(b"caf\xe9").unwrap());
    let out = reply(Format::Alb { multi_value: true }, odd);
    assert_eq!(out["multiValueHeaders"]["x-latin1"], json!(["caf\u{fffd}"]), "not UTF-8: replaced, not an error");
    assert_eq!((out["body"].as_str(), out["isBase64Encoded"].as_bool()), (Some(""), Some(false)));
}
