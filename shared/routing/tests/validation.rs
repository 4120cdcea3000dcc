//! A routing document is refused with every error it holds, each naming the rule and field,
//! and the limits refused are ALB's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use serde_json::{Value, json};
use switchyard_routing::{Document, Routes, RuleError};

fn static_group(target: &str) -> Value {
    json!({ "discovery": { "type": "static", "targets": [target] } })
}

/// A valid document with groups `web` and `api`, `rules`, and a forward to `web` by default.
fn document(rules: Value) -> Value {
    json!({
        "target_groups": { "web": static_group("10.0.0.1:80"), "api": static_group("10.0.0.2:8080") },
        "rules": rules,
        "default_action": { "type": "forward", "target_group": "web" },
    })
}

/// One rule at priority 20 after a valid rule at priority 10, so errors must name `rules[1]`.
fn second_rule(conditions: Value, action: Value) -> Value {
    document(json!([
        { "priority": 10, "conditions": [{ "field": "path_pattern", "values": ["/ok"] }], "action": { "type": "forward", "target_group": "api" } },
        { "priority": 20, "conditions": conditions, "action": action },
    ]))
}

fn forward_api() -> Value {
    json!({ "type": "forward", "target_group": "api" })
}

fn errors(document: &Value) -> Vec<RuleError> {
    match Routes::from_json(&document.to_string()) {
        Ok(_) => panic!("accepted: {document:#}"),
        Err(errors) => errors,
    }
}

/// The document has exactly one error, at `at`, whose message contains `says`.
#[track_caller]
fn refused_once(document: &Value, at: &str, says: &str) {
    let errors = errors(document);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].at, at, "{errors:#?}");
    assert!(errors[0].message.contains(says), "{:?} does not say {says:?}", errors[0].message);
}

#[test]
fn the_sample_document_compiles() {
    let routes = Routes::from_json(include_str!("fixtures/routing.json")).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(routes.rules().len(), 4);
    assert_eq!(routes.target_groups().iter().map(|g| g.name()).collect::<Vec<_>>(), ["canary", "web"]);
}

#[test]
fn a_document_read_with_serde_compiles_the_same() {
    let document: Document = serde_json::from_str(include_str!("fixtures/routing.json")).unwrap();
    let routes = Routes::compile(&document).unwrap();
    assert_eq!(routes.rules().len(), 4);
    let round_trip: Document = serde_json::from_str(&serde_json::to_string(&document).unwrap()).unwrap();
    assert_eq!(round_trip, document);
}

#[test]
fn every_error_is_reported_in_document_order() {
    let mut doc = second_rule(
        json!([{ "field": "host_header", "values": ["localhost"] }]),
        json!({ "type": "forward", "target_group": "nope" }),
    );
    doc["target_groups"]["web"]["discovery"]["targets"] = json!(["10.0.0.1:0"]);
    doc["default_action"] = json!({ "type": "fixed_response", "status_code": 302 });
    let at: Vec<String> = errors(&doc).into_iter().map(|e| e.at).collect();
    assert_eq!(
        at,
        [
            "target_groups.web.discovery.targets[0]",
            "rules[1] (priority 20): conditions[0].values[0]",
            "rules[1] (priority 20): action.target_group",
            "default_action.status_code",
        ]
    );
}

#[test]
fn an_error_reads_place_then_problem() {
    let doc = second_rule(json!([{ "field": "host_header", "values": ["api.*.example.1"] }]), forward_api());
    assert_eq!(
        errors(&doc)[0].to_string(),
        r#"rules[1] (priority 20): conditions[0].values[0]: "api.*.example.1" ends in "1"; ALB allows only letters after the final '.'"#
    );
}

#[test]
fn text_that_is_not_json_is_one_document_error() {
    let errors = Routes::from_json("{ \"target_groups\": ").unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].at, "document");
}

#[test]
fn unknown_fields_are_refused_where_they_are() {
    let mut doc = document(json!([]));
    doc["target_group"] = json!({});
    doc["target_groups"]["web"]["algoritm"] = json!("round_robin");
    let at: Vec<String> = errors(&doc).into_iter().map(|e| e.at).collect();
    assert_eq!(at, ["target_group", "target_groups.web.algoritm"]);
}

#[test]
fn a_misspelt_rule_field_is_named_and_the_missing_one_too() {
    let doc = document(
        json!([{ "priority": 10, "conditions": [{ "field": "path_pattern", "values": ["/x"] }], "actoin": forward_api() }]),
    );
    let at: Vec<String> = errors(&doc).into_iter().map(|e| e.at).collect();
    assert_eq!(at, ["rules[0]: actoin", "rules[0] (priority 10): action"]);
}

#[test]
fn a_malformed_condition_is_named_by_its_index() {
    let doc = second_rule(json!([{ "field": "path_pattern", "valus": ["/x"] }]), forward_api());
    let errors = errors(&doc);
    assert_eq!(errors[0].at, "rules[1] (priority 20): conditions[0]");
    assert!(errors[0].message.contains("valus"), "{errors:?}");
}

#[test]
fn an_unknown_condition_field_is_refused() {
    let doc = second_rule(json!([{ "field": "cookie", "values": ["x"] }]), forward_api());
    refused_once(&doc, "rules[1] (priority 20): conditions[0]", "unknown variant `cookie`");
}

#[test]
fn priorities_are_1_to_50000() {
    for priority in [0, 50_001] {
        let doc = document(
            json!([{ "priority": priority, "conditions": [{ "field": "path_pattern", "values": ["/x"] }], "action": forward_api() }]),
        );
        refused_once(&doc, &format!("rules[0] (priority {priority}): priority"), "outside 1..=50000");
    }
}

#[test]
fn priorities_are_unique() {
    let rule = json!({ "priority": 7, "conditions": [{ "field": "path_pattern", "values": ["/x"] }], "action": forward_api() });
    refused_once(&document(json!([rule, rule])), "rules[1] (priority 7): priority", "also the priority of rules[0]");
}

#[test]
fn a_rule_needs_a_condition() {
    refused_once(
        &second_rule(json!([]), forward_api()),
        "rules[1] (priority 20): conditions",
        "at least one condition",
    );
}

#[test]
fn host_path_method_and_source_ip_conditions_appear_once_per_rule() {
    let doc = second_rule(
        json!([{ "field": "host_header", "values": ["a.example.com"] }, { "field": "host_header", "values": ["b.example.com"] }]),
        forward_api(),
    );
    refused_once(&doc, "rules[1] (priority 20): conditions[1].field", "one host_header condition");
}

#[test]
fn several_header_conditions_are_allowed() {
    let doc = second_rule(
        json!([{ "field": "http_header", "name": "X-A", "values": ["1"] }, { "field": "http_header", "name": "X-B", "values": ["2"] }]),
        forward_api(),
    );
    assert!(Routes::from_json(&doc.to_string()).is_ok());
}

#[test]
fn a_condition_holds_one_to_three_values() {
    let four = json!([{ "field": "path_pattern", "values": ["/a", "/b", "/c", "/d"] }]);
    refused_once(&second_rule(four, forward_api()), "rules[1] (priority 20): conditions[0].values", "at most 3");
    let none = json!([{ "field": "path_pattern", "values": [] }]);
    refused_once(
        &second_rule(none, forward_api()),
        "rules[1] (priority 20): conditions[0].values",
        "at least one value",
    );
}

#[test]
fn a_source_ip_condition_holds_up_to_five_blocks() {
    let five = json!([{ "field": "source_ip", "values": ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16"] }]);
    assert!(Routes::from_json(&second_rule(five, forward_api()).to_string()).is_ok());
    let six = json!([{ "field": "source_ip", "values": ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16", "10.4.0.0/16", "10.5.0.0/16"] }]);
    let errors = errors(&second_rule(six, forward_api()));
    assert_eq!(errors[0].at, "rules[1] (priority 20): conditions[0].values");
}

#[test]
fn a_rule_holds_at_most_five_values_in_all() {
    let conditions = json!([
        { "field": "host_header", "values": ["a.example.com", "b.example.com", "c.example.com"] },
        { "field": "path_pattern", "values": ["/a", "/b", "/c"] },
    ]);
    refused_once(
        &second_rule(conditions, forward_api()),
        "rules[1] (priority 20): conditions",
        "at most 5 match evaluations per rule",
    );
}

#[test]
fn a_rule_holds_at_most_five_wildcards() {
    let conditions = json!([
        { "field": "host_header", "values": ["api.*.*.example.com"] },
        { "field": "path_pattern", "values": ["/v?/*/it?ms/*"] },
    ]);
    refused_once(
        &second_rule(conditions, forward_api()),
        "rules[1] (priority 20): conditions",
        "6 wildcard characters",
    );
}

#[test]
fn host_names_follow_albs_alphabet() {
    for (value, says) in [
        ("localhost", "no '.'"),
        ("10.0.0.1", "only letters after the final '.'"),
        ("*.example.*", "only letters after the final '.'"),
        ("api_v2.example.com", "cannot"),
        ("", "must not be empty"),
    ] {
        let doc = second_rule(json!([{ "field": "host_header", "values": [value] }]), forward_api());
        refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", says);
    }
    let long = format!("{}.example.com", "a".repeat(120));
    let doc = second_rule(json!([{ "field": "host_header", "values": [long] }]), forward_api());
    refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", "at most 128");
}

#[test]
fn path_patterns_follow_albs_alphabet() {
    for value in ["/a b", "/caf%C3%A9", "/x?y=1#frag", "/tab\t"] {
        let doc = second_rule(json!([{ "field": "path_pattern", "values": [value] }]), forward_api());
        refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", "cannot");
    }
}

#[test]
fn methods_are_uppercase_names() {
    let doc = second_rule(json!([{ "field": "http_request_method", "values": ["get"] }]), forward_api());
    refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", "an HTTP method");
}

#[test]
fn a_header_condition_cannot_name_host_or_use_wildcards_in_the_name() {
    let host = second_rule(json!([{ "field": "http_header", "name": "Host", "values": ["x"] }]), forward_api());
    refused_once(&host, "rules[1] (priority 20): conditions[0].name", "host_header");
    let wildcard = second_rule(json!([{ "field": "http_header", "name": "X-*", "values": ["x"] }]), forward_api());
    assert!(Routes::from_json(&wildcard.to_string()).is_ok(), "'*' is a token character; it is literal in a name");
    let space = second_rule(json!([{ "field": "http_header", "name": "X Tenant", "values": ["x"] }]), forward_api());
    refused_once(&space, "rules[1] (priority 20): conditions[0].name", "RFC 7230");
}

#[test]
fn control_characters_are_refused_in_values() {
    let doc = second_rule(json!([{ "field": "http_header", "name": "X-A", "values": ["a\u{7f}b"] }]), forward_api());
    refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", "visible ASCII");
    let doc =
        second_rule(json!([{ "field": "query_string", "values": [{ "key": "k\n", "value": "v" }] }]), forward_api());
    refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0].key", "visible ASCII");
}

#[test]
fn source_ips_are_canonical_cidr_blocks() {
    for (value, says) in [
        ("10.0.0.1", "CIDR"),
        ("10.0.0.1/8", "10.0.0.0/8"),
        ("10.0.0.0/33", "at most 32"),
        ("2001:db8::/129", "at most 128"),
    ] {
        let doc = second_rule(json!([{ "field": "source_ip", "values": [value] }]), forward_api());
        refused_once(&doc, "rules[1] (priority 20): conditions[0].values[0]", says);
    }
}

#[test]
fn a_forward_names_an_existing_group() {
    let doc = second_rule(
        json!([{ "field": "path_pattern", "values": ["/x"] }]),
        json!({ "type": "forward", "target_group": "apii" }),
    );
    refused_once(
        &doc,
        "rules[1] (priority 20): action.target_group",
        "no target group is named \"apii\" (target_groups: api, web)",
    );
    let mut doc = document(json!([]));
    doc["default_action"] = json!({ "type": "forward", "target_group": "gone" });
    refused_once(&doc, "default_action.target_group", "\"gone\"");
}

fn weighted(groups: Value) -> Value {
    json!({ "type": "weighted_forward", "target_groups": groups })
}

#[test]
fn weights_are_0_to_999() {
    let doc = second_rule(
        json!([{ "field": "path_pattern", "values": ["/x"] }]),
        weighted(json!([{ "name": "web", "weight": 1 }, { "name": "api", "weight": 1000 }])),
    );
    refused_once(&doc, "rules[1] (priority 20): action.target_groups[1].weight", "0..=999");
}

#[test]
fn a_weighted_forward_needs_a_group_above_weight_0() {
    let doc = second_rule(
        json!([{ "field": "path_pattern", "values": ["/x"] }]),
        weighted(json!([{ "name": "web", "weight": 0 }, { "name": "api", "weight": 0 }])),
    );
    refused_once(&doc, "rules[1] (priority 20): action.target_groups", "every weight is 0");
}

#[test]
fn a_weighted_forward_takes_one_to_five_distinct_existing_groups() {
    let mut doc = document(json!([]));
    for name in ["g1", "g2", "g3", "g4", "g5"] {
        doc["target_groups"][name] = static_group("10.0.0.9:80");
    }
    let six: Vec<Value> =
        ["web", "api", "g1", "g2", "g3", "g4"].iter().map(|n| json!({ "name": n, "weight": 1 })).collect();
    doc["default_action"] = weighted(json!(six));
    refused_once(&doc, "default_action.target_groups", "1 to 5");
    doc["default_action"] = weighted(json!([{ "name": "web", "weight": 1 }, { "name": "web", "weight": 2 }]));
    refused_once(&doc, "default_action.target_groups[1].name", "listed twice");
    doc["default_action"] = weighted(json!([{ "name": "web", "weight": 1 }, { "name": "nope", "weight": 2 }]));
    refused_once(&doc, "default_action.target_groups[1].name", "no target group");
}

#[test]
fn group_stickiness_lasts_one_second_to_seven_days() {
    for secs in [0, 604_801] {
        let mut doc = document(json!([]));
        doc["default_action"] = json!({ "type": "weighted_forward", "target_groups": [{ "name": "web", "weight": 1 }], "stickiness": { "duration_secs": secs } });
        refused_once(&doc, "default_action.stickiness.duration_secs", "1..=604800");
    }
}

fn fixed(status: u64, content_type: Option<&str>, body: &str) -> Value {
    let mut action = json!({ "type": "fixed_response", "status_code": status, "body": body });
    if let Some(c) = content_type {
        action["content_type"] = json!(c);
    }
    action
}

#[test]
fn a_fixed_response_is_2xx_4xx_or_5xx() {
    for status in [100, 302, 600] {
        let mut doc = document(json!([]));
        doc["default_action"] = fixed(status, None, "");
        refused_once(&doc, "default_action.status_code", "2XX, 4XX or 5XX");
    }
}

#[test]
fn a_fixed_response_has_one_of_albs_content_types() {
    let mut doc = document(json!([]));
    doc["default_action"] = fixed(200, Some("text/xml"), "");
    refused_once(
        &doc,
        "default_action.content_type",
        "text/plain, text/css, text/html, application/javascript, application/json",
    );
    doc["default_action"] = fixed(200, Some("application/json"), "{}");
    assert!(Routes::from_json(&doc.to_string()).is_ok());
}

#[test]
fn a_fixed_response_body_is_at_most_1024_bytes() {
    let mut doc = document(json!([]));
    doc["default_action"] = fixed(503, Some("text/plain"), &"x".repeat(1024));
    assert!(Routes::from_json(&doc.to_string()).is_ok());
    doc["default_action"] = fixed(503, Some("text/plain"), &"é".repeat(513));
    refused_once(&doc, "default_action.body", "1026 bytes");
}

fn redirect(fields: Value) -> Value {
    let mut action = json!({ "type": "redirect", "status_code": 301 });
    action.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
    action
}

#[test]
fn a_redirect_must_change_protocol_host_port_or_path() {
    let mut doc = document(json!([]));
    doc["default_action"] = redirect(json!({}));
    refused_once(&doc, "default_action", "back where it came from");
    doc["default_action"] = redirect(json!({ "query": "#{query}&from=old" }));
    refused_once(&doc, "default_action", "back where it came from");
    doc["default_action"] = redirect(json!({ "protocol": "HTTPS", "port": "443" }));
    assert!(Routes::from_json(&doc.to_string()).is_ok());
}

#[test]
fn a_redirect_uses_each_reserved_key_only_where_alb_allows_it() {
    for (field, value, says) in [
        ("host", "#{path}.example.com", "#{path} cannot be used here"),
        ("path", "/#{query}", "#{query} cannot be used here"),
        ("path", "/#{nope}", "not a reserved key"),
        ("path", "new/#{path}", "starting with '/'"),
        ("protocol", "ftp", "HTTP, HTTPS or #{protocol}"),
        ("port", "0", "not a port"),
        ("port", "0443", "not a port"),
        ("host", "#{host", "unclosed"),
    ] {
        let mut doc = document(json!([]));
        doc["default_action"] = redirect(json!({ field: value }));
        refused_once(&doc, &format!("default_action.{field}"), says);
    }
    let mut doc = document(json!([]));
    doc["default_action"] = redirect(json!({ "status_code": 307, "path": "/new" }));
    refused_once(&doc, "default_action.status_code", "301 or 302");
}

#[test]
fn an_enqueue_names_a_queue_url_or_name() {
    let mut doc = document(json!([]));
    for queue in [
        "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
        "http://localhost:4566/000000000000/jobs.fifo",
        "jobs",
        "jobs_v2.fifo",
    ] {
        doc["default_action"] = json!({ "type": "enqueue", "queue": queue });
        assert!(Routes::from_json(&doc.to_string()).is_ok(), "{queue}");
    }
    for queue in ["", "jobs queue", "https://", "s3://bucket/jobs", &"q".repeat(81)] {
        doc["default_action"] = json!({ "type": "enqueue", "queue": queue });
        refused_once(&doc, "default_action.queue", "queue");
    }
}

#[test]
fn target_group_names_are_albs() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web_v2"] = static_group("10.0.0.3:80");
    refused_once(&doc, "target_groups.web_v2", "1 to 32 letters, digits or '-'");
}

#[test]
fn an_auto_scaling_group_has_a_name_and_a_port() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web"]["discovery"] =
        json!({ "type": "auto_scaling_group", "name": "web-asg", "port": 70000 });
    refused_once(&doc, "target_groups.web.discovery.port", "not a port");
    doc["target_groups"]["web"]["discovery"] = json!({ "type": "auto_scaling_group", "name": "", "port": 80 });
    refused_once(&doc, "target_groups.web.discovery.name", "Auto Scaling group name");
}

#[test]
fn static_targets_are_distinct_host_port_addresses() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web"]["discovery"]["targets"] = json!([]);
    refused_once(&doc, "target_groups.web.discovery.targets", "no target");
    doc["target_groups"]["web"]["discovery"]["targets"] = json!(["10.0.0.1:80", "[2001:db8::1]:80", "10.0.0.1:80"]);
    refused_once(&doc, "target_groups.web.discovery.targets[2]", "listed twice");
    doc["target_groups"]["web"]["discovery"]["targets"] = json!(["10.0.0.1"]);
    refused_once(&doc, "target_groups.web.discovery.targets[0]", "host:port");
}

#[test]
fn slow_start_is_30_to_900_seconds() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web"]["slow_start_secs"] = json!(10);
    refused_once(&doc, "target_groups.web.slow_start_secs", "30..=900");
}

#[test]
fn the_algorithm_is_one_the_router_has() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web"]["algorithm"] = json!("p2c");
    let routes = Routes::from_json(&doc.to_string()).unwrap();
    assert_eq!(routes.target_groups()[1].algorithm().name(), "power_of_two_choices");
    doc["target_groups"]["web"]["algorithm"] = json!("random");
    refused_once(&doc, "target_groups.web.algorithm", "unknown variant `random`");
}

#[test]
fn health_check_settings_hold_together() {
    let mut doc = document(json!([]));
    doc["target_groups"]["web"]["health_check"] = json!({ "base_ejection_secs": 60, "max_ejection_secs": 30 });
    refused_once(&doc, "target_groups.web.health_check.max_ejection_secs", "base_ejection_secs");
    doc["target_groups"]["web"]["health_check"] = json!({ "consecutive_failures": 3, "max_ejected_percent": 50 });
    let routes = Routes::from_json(&doc.to_string()).unwrap();
    assert_eq!(routes.target_groups()[1].health().map(|h| h.max_ejected_percent), Some(50));
}
