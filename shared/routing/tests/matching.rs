//! Which rule a request matches, one behaviour per test, built from the examples of ALB's
//! "Condition types for listener rules" and "Listener rules" pages
//! (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::net::IpAddr;

use serde_json::{Value, json};
use switchyard_routing::{Action, HeaderLookup, RequestView, Routes};

/// Routes with groups `a`, `b`, `c` and a default action of 404, plus `rules`.
fn routes(rules: Value) -> Routes {
    let group = |ip: &str| json!({ "discovery": { "type": "static", "targets": [format!("{ip}:80")] } });
    let document = json!({
        "target_groups": { "a": group("10.0.0.1"), "b": group("10.0.0.2"), "c": group("10.0.0.3") },
        "rules": rules,
        "default_action": { "type": "fixed_response", "status_code": 404 },
    });
    Routes::from_json(&document.to_string()).unwrap_or_else(|e| panic!("{e:#?}"))
}

/// One rule, priority 10, forwarding to `a` under `conditions`.
fn one_rule(conditions: Value) -> Routes {
    routes(json!([{ "priority": 10, "conditions": conditions, "action": { "type": "forward", "target_group": "a" } }]))
}

/// The group a request is forwarded to, or `default`.
fn outcome(routes: &Routes, request: &RequestView<'_>) -> String {
    match routes.route(request).action {
        Action::Forward(id) => routes.target_group(*id).name().to_owned(),
        Action::FixedResponse(r) if r.status_code() == 404 => "default".to_owned(),
        other => format!("{other:?}"),
    }
}

fn get(host: &'static str, path: &'static str) -> RequestView<'static> {
    RequestView::new("GET", host, path)
}

fn check(routes: &Routes, table: &[(RequestView<'_>, &str)]) {
    for (request, expected) in table {
        assert_eq!(outcome(routes, request), *expected, "{request:?}");
    }
}

#[test]
fn a_host_wildcard_matches_subdomains_but_not_the_bare_domain() {
    // ALB: "The rule *.example.com matches test.example.com but doesn't match example.com."
    let routes = one_rule(json!([{ "field": "host_header", "values": ["*.example.com"] }]));
    check(
        &routes,
        &[
            (get("test.example.com", "/"), "a"),
            (get("a.b.example.com", "/"), "a"),
            (get("example.com", "/"), "default"),
            (get("test.example.org", "/"), "default"),
        ],
    );
}

#[test]
fn host_names_compare_without_regard_to_case() {
    let routes = one_rule(json!([{ "field": "host_header", "values": ["Api.Example.com"] }]));
    check(
        &routes,
        &[
            (get("api.example.com", "/"), "a"),
            (get("API.EXAMPLE.COM", "/"), "a"),
            (get("www.example.com", "/"), "default"),
        ],
    );
}

#[test]
fn a_question_mark_in_a_host_matches_exactly_one_character() {
    let routes = one_rule(json!([{ "field": "host_header", "values": ["api-?.example.com"] }]));
    check(
        &routes,
        &[
            (get("api-1.example.com", "/"), "a"),
            (get("api-12.example.com", "/"), "default"),
            (get("api-.example.com", "/"), "default"),
        ],
    );
}

#[test]
fn a_path_pattern_is_case_sensitive() {
    let routes = one_rule(json!([{ "field": "path_pattern", "values": ["/img/*"] }]));
    check(
        &routes,
        &[
            (get("example.com", "/img/picture.jpg"), "a"),
            (get("example.com", "/IMG/picture.jpg"), "default"),
            (get("example.com", "/img"), "default"),
            (get("example.com", "/images/x.jpg"), "default"),
        ],
    );
}

#[test]
fn a_path_star_spans_slashes() {
    // ALB's example pattern `/img/*/pics`.
    let routes = one_rule(json!([{ "field": "path_pattern", "values": ["/img/*/pics"] }]));
    check(&routes, &[(get("x.com", "/img/2024/06/pics"), "a"), (get("x.com", "/img/pics"), "default")]);
}

#[test]
fn a_path_pattern_sees_the_path_not_the_query_string() {
    // ALB: "The path pattern is applied only to the path of the URL, not to its query parameters."
    let routes = one_rule(json!([{ "field": "path_pattern", "values": ["/search"] }]));
    let mut with_query = get("x.com", "/search");
    with_query.query = "q=/img/cat";
    let mut query_only = get("x.com", "/other");
    query_only.query = "next=/search";
    check(&routes, &[(with_query, "a"), (query_only, "default")]);
}

#[test]
fn a_method_matches_exactly_and_case_sensitively() {
    let routes = one_rule(json!([{ "field": "http_request_method", "values": ["GET", "HEAD", "CUSTOM-METHOD"] }]));
    let request = |m: &'static str| RequestView::new(m, "x.com", "/");
    check(
        &routes,
        &[
            (request("GET"), "a"),
            (request("HEAD"), "a"),
            (request("CUSTOM-METHOD"), "a"),
            (request("get"), "default"),
            (request("POST"), "default"),
            (request("GETS"), "default"),
        ],
    );
}

fn with_headers<'a>(headers: &'a dyn HeaderLookup) -> RequestView<'a> {
    let mut request = RequestView::new("GET", "x.com", "/");
    request.headers = headers;
    request
}

#[test]
fn a_header_condition_matches_name_and_value_without_regard_to_case() {
    // ALB's example: User-Agent matching "*Chrome*" or "*Safari*".
    let routes =
        one_rule(json!([{ "field": "http_header", "name": "User-Agent", "values": ["*Chrome*", "*Safari*"] }]));
    let chrome = [("user-agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0")];
    let safari = [("USER-AGENT", "Mozilla/5.0 (Macintosh) version/17 safari/605")];
    let firefox = [("User-Agent", "Mozilla/5.0 Gecko/20100101 Firefox/127.0")];
    let other_header = [("X-User-Agent", "Chrome")];
    check(
        &routes,
        &[
            (with_headers(&chrome), "a"),
            (with_headers(&safari), "a"),
            (with_headers(&firefox), "default"),
            (with_headers(&other_header), "default"),
        ],
    );
}

#[test]
fn a_repeated_header_matches_if_any_of_its_values_does() {
    // ALB: "If the same header appears multiple times in the request, we search them in order
    // until a match is found."
    let routes = one_rule(json!([{ "field": "http_header", "name": "X-Tenant", "values": ["gold"] }]));
    let repeated = [("x-tenant", "silver"), ("x-tenant", "GOLD")];
    let absent: [(&str, &str); 0] = [];
    check(&routes, &[(with_headers(&repeated), "a"), (with_headers(&absent), "default")]);
}

fn with_query(query: &'static str) -> RequestView<'static> {
    let mut request = RequestView::new("GET", "x.com", "/");
    request.query = query;
    request
}

#[test]
fn a_query_condition_matches_a_pair_or_any_key_with_the_value() {
    // ALB's example: "version=v1" or any key set to a value matching "*example*".
    let routes = one_rule(
        json!([{ "field": "query_string", "values": [{ "key": "version", "value": "v1" }, { "value": "*example*" }] }]),
    );
    check(
        &routes,
        &[
            (with_query("version=v1"), "a"),
            (with_query("page=2&version=v1"), "a"),
            (with_query("VERSION=V1"), "a"),
            (with_query("ref=my-Example-page"), "a"),
            (with_query("version=v2"), "default"),
            (with_query("v1=version"), "default"),
            (with_query(""), "default"),
        ],
    );
}

#[test]
fn a_query_key_without_a_value_is_a_key_with_an_empty_value() {
    let routes = one_rule(json!([{ "field": "query_string", "values": [{ "key": "debug", "value": "*" }] }]));
    check(
        &routes,
        &[(with_query("debug"), "a"), (with_query("a=1&&debug="), "a"), (with_query("debugging=1"), "default")],
    );
}

#[test]
fn escaped_wildcards_in_a_query_value_are_literal() {
    // ALB: "To search for a literal '*' or '?' character in a query string, you must escape these
    // characters in Values using a '\' character."
    let routes = one_rule(json!([{ "field": "query_string", "values": [{ "key": "q", "value": "a\\*b" }] }]));
    check(&routes, &[(with_query("q=a*b"), "a"), (with_query("q=aXb"), "default")]);
}

fn from(ip: &str) -> RequestView<'static> {
    let mut request = RequestView::new("GET", "x.com", "/");
    request.source_ip = Some(ip.parse::<IpAddr>().unwrap());
    request
}

#[test]
fn a_source_ip_condition_matches_ipv4_blocks() {
    // ALB's example blocks.
    let routes = one_rule(json!([{ "field": "source_ip", "values": ["192.0.2.0/24", "198.51.100.10/32"] }]));
    check(
        &routes,
        &[
            (from("192.0.2.55"), "a"),
            (from("198.51.100.10"), "a"),
            (from("198.51.100.11"), "default"),
            (from("::ffff:192.0.2.9"), "a"),
        ],
    );
}

#[test]
fn a_source_ip_condition_matches_ipv6_blocks() {
    let routes = one_rule(json!([{ "field": "source_ip", "values": ["2001:db8::/32"] }]));
    check(&routes, &[(from("2001:db8:42::1"), "a"), (from("2001:db9::1"), "default"), (from("192.0.2.1"), "default")]);
}

#[test]
fn source_ip_is_the_connecting_address_not_x_forwarded_for() {
    // ALB: "This condition is not satisfied by the addresses in the X-Forwarded-For header."
    let routes = one_rule(json!([{ "field": "source_ip", "values": ["192.0.2.0/24"] }]));
    let forwarded = [("x-forwarded-for", "192.0.2.1")];
    let mut request = from("203.0.113.5");
    request.headers = &forwarded;
    let unknown = RequestView::new("GET", "x.com", "/");
    check(&routes, &[(request, "default"), (unknown, "default")]);
}

#[test]
fn values_in_one_condition_are_alternatives() {
    let routes = one_rule(json!([{ "field": "host_header", "values": ["a.example.com", "b.example.com"] }]));
    check(
        &routes,
        &[(get("a.example.com", "/"), "a"), (get("b.example.com", "/"), "a"), (get("c.example.com", "/"), "default")],
    );
}

#[test]
fn conditions_in_one_rule_must_all_hold() {
    let routes = one_rule(json!([
        { "field": "host_header", "values": ["api.example.com"] },
        { "field": "path_pattern", "values": ["/v1/*"] },
        { "field": "http_header", "name": "X-Canary", "values": ["yes"] },
    ]));
    let canary = [("x-canary", "yes")];
    let mut all = get("api.example.com", "/v1/users");
    all.headers = &canary;
    let mut wrong_host = get("www.example.com", "/v1/users");
    wrong_host.headers = &canary;
    let no_header = get("api.example.com", "/v1/users");
    check(&routes, &[(all, "a"), (wrong_host, "default"), (no_header, "default")]);
}

#[test]
fn the_lowest_priority_number_wins_whatever_the_document_order() {
    let routes = routes(json!([
        { "priority": 20, "conditions": [{ "field": "path_pattern", "values": ["/api/*"] }], "action": { "type": "forward", "target_group": "b" } },
        { "priority": 5, "conditions": [{ "field": "path_pattern", "values": ["/api/admin/*"] }], "action": { "type": "forward", "target_group": "c" } },
        { "priority": 10, "conditions": [{ "field": "path_pattern", "values": ["/api/v1/*"] }], "action": { "type": "forward", "target_group": "a" } },
    ]));
    check(
        &routes,
        &[
            (get("x.com", "/api/admin/users"), "c"),
            (get("x.com", "/api/v1/users"), "a"),
            (get("x.com", "/api/v2/users"), "b"),
            (get("x.com", "/health"), "default"),
        ],
    );
    let priorities: Vec<u16> = routes.rules().iter().map(|r| r.priority().get()).collect();
    assert_eq!(priorities, [5, 10, 20]);
}

#[test]
fn the_default_action_applies_when_no_rule_matches() {
    let routes = routes(json!([]));
    let route = routes.route(&get("x.com", "/"));
    assert_eq!(route.priority, None);
    assert_eq!(outcome(&routes, &get("x.com", "/anything")), "default");
}

#[test]
fn a_route_reports_the_priority_of_the_rule_that_matched() {
    let routes = one_rule(json!([{ "field": "path_pattern", "values": ["/*"] }]));
    assert_eq!(routes.route(&get("x.com", "/")).priority.map(|p| p.get()), Some(10));
}

mod first_match {
    //! Whatever the rules, `route` answers the first rule by priority whose conditions all hold
    //! (`Rule::matches`, one rule at a time), however it skips ahead.

    use proptest::prelude::*;
    use serde_json::json;
    use switchyard_routing::{RequestView, Routes};

    const HOSTS: &[&str] =
        &["a.example.com", "B.example.com", "*.example.com", "a.example.?om", "*.com", "c.example.org"];
    const PATHS: &[&str] =
        &["/", "/api/*", "/api/v1/*", "/api/v1/users", "/API/*", "*/users", "/a?i/*", "/api/v1/users/long/x", "/ap"];
    const REQUEST_HOSTS: &[&str] =
        &["a.example.com", "A.EXAMPLE.COM", "b.example.com", "c.example.org", "example.com", ""];
    const REQUEST_PATHS: &[&str] =
        &["/", "/api", "/api/", "/api/v1/users", "/API/v1", "/apx/v1", "/ap", "/api/v1/users/long/x", ""];

    fn values(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
        prop::collection::vec(prop::sample::select(pool), 1..=2)
    }

    fn rule() -> impl Strategy<Value = (Option<Vec<&'static str>>, Option<Vec<&'static str>>, bool)> {
        (prop::option::of(values(HOSTS)), prop::option::of(values(PATHS)), any::<bool>())
            .prop_filter("a condition", |(h, p, m)| h.is_some() || p.is_some() || *m)
    }

    proptest! {
        #[test]
        fn the_first_matching_rule_by_priority_decides(
            rules in prop::collection::vec(rule(), 1..25),
            requests in prop::collection::vec(
                (prop::sample::select(REQUEST_HOSTS), prop::sample::select(REQUEST_PATHS), any::<bool>()),
                20,
            ),
        ) {
            let rules: Vec<_> = rules
                .iter()
                .enumerate()
                .map(|(i, (hosts, paths, post_only))| {
                    let mut conditions = Vec::new();
                    if let Some(h) = hosts {
                        conditions.push(json!({ "field": "host_header", "values": h }));
                    }
                    if let Some(p) = paths {
                        conditions.push(json!({ "field": "path_pattern", "values": p }));
                    }
                    if *post_only {
                        conditions.push(json!({ "field": "http_request_method", "values": ["POST"] }));
                    }
                    // Priorities in reverse document order, so sorting matters.
                    let action = json!({ "type": "fixed_response", "status_code": 200 });
                    json!({ "priority": 1000 - i, "conditions": conditions, "action": action })
                })
                .collect();
            let default_action = json!({ "type": "fixed_response", "status_code": 404 });
            let document = json!({ "target_groups": {}, "rules": rules, "default_action": default_action });
            let Ok(routes) = Routes::from_json(&document.to_string()) else { return Ok(()) };
            for (host, path, post) in requests {
                let request = RequestView::new(if post { "POST" } else { "GET" }, host, path);
                let expected = routes.rules().iter().find(|r| r.matches(&request)).map(|r| r.priority());
                prop_assert_eq!(routes.route(&request).priority, expected, "{:?}", request);
            }
        }
    }
}
