//! Whatever a routing document or a request holds, compiling and routing return an answer and
//! never panic: a Lambda never panics on input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use proptest::prelude::*;
use serde_json::Value;
use switchyard_routing::{Protocol, RequestView, Routes};

const SAMPLE: &str = include_str!("fixtures/routing.json");

/// Field names and values the document uses, so that random documents get past the first check.
const WORDS: &[&str] = &[
    "target_groups",
    "rules",
    "default_action",
    "discovery",
    "type",
    "static",
    "targets",
    "auto_scaling_group",
    "name",
    "port",
    "algorithm",
    "round_robin",
    "p2c",
    "slow_start_secs",
    "health_check",
    "priority",
    "conditions",
    "field",
    "host_header",
    "path_pattern",
    "http_request_method",
    "http_header",
    "query_string",
    "source_ip",
    "values",
    "key",
    "value",
    "action",
    "forward",
    "target_group",
    "weighted_forward",
    "weight",
    "stickiness",
    "duration_secs",
    "fixed_response",
    "status_code",
    "content_type",
    "body",
    "redirect",
    "protocol",
    "host",
    "path",
    "query",
    "enqueue",
    "queue",
    "web",
    "canary",
    "*",
    "?",
    "*.example.com",
    "/img/*",
    "#{path}",
    "#{host",
    "/#{path}",
    "HTTPS",
    "10.0.0.0/8",
    "::/0",
    "10.0.0.1:80",
    "text/plain",
    "é",
    "",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        prop::sample::select(WORDS).prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(WORDS).prop_map(String::from), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Every node of the sample document, as a JSON pointer.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(fields) => fields.iter().for_each(|(k, v)| pointers(v, format!("{at}/{k}"), out)),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| pointers(v, format!("{at}/{i}"), out)),
        _ => {}
    }
    out.push(at);
}

proptest! {
    #[test]
    fn any_text_is_refused_or_compiled(text in "\\PC{0,300}") {
        let _ = Routes::from_json(&text);
    }

    #[test]
    fn any_json_value_is_refused_or_compiled(value in json_value()) {
        let _ = Routes::from_json(&value.to_string());
    }

    #[test]
    fn the_sample_with_any_node_replaced_is_refused_or_compiled(node in any::<prop::sample::Index>(), replacement in json_value()) {
        let mut document: Value = serde_json::from_str(SAMPLE).unwrap();
        let mut all = Vec::new();
        pointers(&document, String::new(), &mut all);
        let pointer = node.get(&all);
        if let Some(slot) = document.pointer_mut(pointer) {
            *slot = replacement;
        }
        if let Err(errors) = Routes::from_json(&document.to_string()) {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn any_request_gets_an_action(
        method in "\\PC{0,10}",
        host in "\\PC{0,40}",
        path in "\\PC{0,80}",
        query in "\\PC{0,80}",
        header in ("\\PC{0,20}", "\\PC{0,60}"),
        ip in any::<std::net::IpAddr>(),
        port in any::<u16>(),
    ) {
        let routes = Routes::from_json(SAMPLE).unwrap();
        let headers = [(header.0.as_str(), header.1.as_str())];
        let request = RequestView {
            method: &method, host: &host, path: &path, query: &query, headers: &headers,
            source_ip: Some(ip), protocol: Protocol::Http, port,
        };
        let route = routes.route(&request);
        if let switchyard_routing::Action::Redirect(redirect) = route.action {
            let _ = redirect.location(&request);
        }
    }
}
