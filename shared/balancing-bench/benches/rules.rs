//! ns per request for switchyard-routing's rule matching, with 10, 100 and 1 000 rules: a
//! request that matches the last rule (every rule is tried) and one that matches none (every
//! rule is tried, then the default action). Plus the one-off cost of compiling each document.
//!
//! The rules are a realistic mix, a quarter each: an exact host and a path prefix; a wildcard
//! host; a path prefix and a header; a shared host, a path prefix and a method. The requests carry
//! six headers, as browsers' do.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use switchyard_routing::{RequestView, Routes};

const SIZES: [usize; 3] = [10, 100, 1_000];

/// Rule `i` of `n`; the last one is always of the host + path + method kind, so that the late
/// match does the same work at every size.
fn rule(i: usize, n: usize) -> Value {
    let kind = if i + 1 == n { 3 } else { i % 4 };
    let conditions = match kind {
        0 => json!([
            { "field": "host_header", "values": [format!("svc{i}.example.com")] },
            { "field": "path_pattern", "values": [format!("/api/v{i}/*")] },
        ]),
        1 => json!([{ "field": "host_header", "values": [format!("*.tenant{i}.example.com")] }]),
        2 => json!([
            { "field": "path_pattern", "values": [format!("/static/{i}/*")] },
            { "field": "http_header", "name": "X-Tenant", "values": [format!("tenant-{i}")] },
        ]),
        _ => json!([
            { "field": "host_header", "values": ["app.example.com"] },
            { "field": "path_pattern", "values": [format!("/svc{i}/*")] },
            { "field": "http_request_method", "values": ["GET", "HEAD"] },
        ]),
    };
    json!({
        "priority": (i + 1) * 10,
        "conditions": conditions,
        "action": { "type": "forward", "target_group": format!("g{}", i % 10) },
    })
}

fn document(n: usize) -> String {
    let groups: serde_json::Map<String, Value> = (0..10)
        .map(|g| {
            (format!("g{g}"), json!({ "discovery": { "type": "static", "targets": [format!("10.0.0.{g}:8080")] } }))
        })
        .collect();
    let rules: Vec<Value> = (0..n).map(|i| rule(i, n)).collect();
    json!({
        "target_groups": groups,
        "rules": rules,
        "default_action": { "type": "fixed_response", "status_code": 404, "content_type": "text/plain", "body": "no route" },
    })
    .to_string()
}

const HEADERS: [(&str, &str); 6] = [
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("accept-language", "en-GB,en;q=0.5"),
    ("accept-encoding", "gzip, deflate, br"),
    ("cookie", "session=4f3c2a; theme=dark"),
    ("x-tenant", "tenant-unknown"),
];

fn rules(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(30);
    for n in SIZES {
        let json = document(n);
        let routes = Routes::from_json(&json).expect("valid document");
        let last_path = format!("/svc{}/users/42", n - 1);
        let late = RequestView {
            method: "GET",
            host: "app.example.com",
            path: &last_path,
            query: "page=2&sort=name",
            headers: &HEADERS,
            source_ip: Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7))),
            ..RequestView::new("GET", "app.example.com", "/")
        };
        assert_eq!(routes.route(&late).priority.map(|p| usize::from(p.get())), Some(n * 10), "matches the last rule");
        let none = RequestView { host: "www.example.org", path: "/nothing/here", ..late };
        assert_eq!(routes.route(&none).priority, None, "matches no rule");
        group.bench_with_input(BenchmarkId::new("late_match", n), &n, |b, _| {
            b.iter(|| black_box(routes.route(black_box(&late))))
        });
        group.bench_with_input(BenchmarkId::new("no_match", n), &n, |b, _| {
            b.iter(|| black_box(routes.route(black_box(&none))))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("rules_compile");
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2)).sample_size(20);
    for n in SIZES {
        let json = document(n);
        group.bench_with_input(BenchmarkId::new("from_json", n), &n, |b, _| {
            b.iter(|| black_box(Routes::from_json(black_box(&json)).is_ok()))
        });
    }
    group.finish();
}

criterion_group!(benches, rules);
criterion_main!(benches);
