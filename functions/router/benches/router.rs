//! Router benchmarks (run with `bash infra/bench.sh router`, or `cargo bench -p router`):
//!
//! 1. **Handler overhead.** One GET through [`router::Router::handle`] in process against a direct
//!    HTTP/1.1 call to the same loopback backend with the same client library (hyper-util's pooled
//!    client, keep-alive). The backend runs on its own thread, as a real server is its own
//!    process. Two router paths are timed: the handler alone, given the typed request as
//!    `lambda_http` hands it over (the goal's measure), and the full in-process path with
//!    `lambda_http`'s own work around any handler — parsing the API Gateway event from JSON and
//!    serializing the answer. Short rounds alternate between the three paths (in a rotating
//!    order) so that the machine's drift hits all alike; each ratio is the median of the per-round
//!    ratios, with its interquartile range.
//! 2. **Cold start.** Time from spawning the release `router` binary to its first Runtime API
//!    `next` call, against a minimal Runtime API on a loopback port.
//!
//! Numbers only, no assertions: the README records them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a benchmark's setup failing is a failed run

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use lambda_http::{Body, Response};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ROUNDS: usize = 41;
const PER_ROUND: usize = 1_000;

/// A keep-alive backend answering every request with the same 1 KiB page, on its own thread and
/// runtime: a real backend is another process, and sharing the measuring thread would add its work
/// to every path's time.
fn backend() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::from_std(listener).unwrap();
            let page = Bytes::from(vec![b'x'; 1024]);
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                stream.set_nodelay(true).unwrap();
                let page = page.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                        let page = page.clone();
                        async move {
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .header("content-type", "text/html")
                                    .header("cache-control", "no-store")
                                    .body(Full::new(page))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
    });
    address
}

const HEADERS: [(&str, &str); 4] = [
    ("accept", "text/html,application/xhtml+xml"),
    ("accept-encoding", "gzip, deflate, br"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) bench"),
    ("cookie", "theme=dark; session=abc123"),
];

/// The Lambda side of a response: what `lambda_http` serializes for API Gateway.
fn serialize(response: Response<Body>) -> usize {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.body = Some(body);
    serde_json::to_vec(&out).unwrap().len()
}

/// The full in-process path: `lambda_http`'s event parse, the handler, the answer serialized.
async fn full(router: &Router, event: &str, i: u64) -> usize {
    let request = lambda_http::request::from_str(event).unwrap();
    let response = router.handle(request, Time::from_millis(1_000), i).await;
    assert_eq!(response.status(), 200);
    serialize(response)
}

async fn direct(client: &Client<HttpConnector, Full<Bytes>>, uri: &str) -> usize {
    let mut request = hyper::Request::builder().uri(uri);
    for (k, v) in HEADERS {
        request = request.header(k, v);
    }
    let response = client.request(request.body(Full::new(Bytes::new())).unwrap()).await.unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap().to_bytes().len()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn per_request(started: Instant) -> f64 {
    started.elapsed().as_nanos() as f64 / PER_ROUND as f64
}

/// The three paths over one backend.
struct Paths {
    router: Router,
    event: String,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: String,
}

impl Paths {
    async fn new() -> Self {
        let address = backend();
        let settings = [("SWITCHYARD_TARGETS", address.clone())];
        let config =
            RouterConfig::from_lookup(|k| settings.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone())).unwrap();
        let router = Router::new(config, None, Time::from_millis(1_000)).await.unwrap();
        let event = switchyard_tests::apigw_event("GET", "/products/42?color=red", "203.0.113.7", &HEADERS, None);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let uri = format!("http://{address}/products/42?color=red");
        Paths { router, event, client, uri }
    }

    async fn direct(&self) -> f64 {
        let started = Instant::now();
        for _ in 0..PER_ROUND {
            direct(&self.client, &self.uri).await;
        }
        per_request(started)
    }

    /// The typed requests are made before the clock starts: the handler is what is timed.
    async fn handler(&self) -> f64 {
        let requests: Vec<_> = (0..PER_ROUND).map(|_| lambda_http::request::from_str(&self.event).unwrap()).collect();
        let started = Instant::now();
        for (i, request) in requests.into_iter().enumerate() {
            let response = self.router.handle(request, Time::from_millis(1_000), i as u64).await;
            assert_eq!(response.status(), 200);
        }
        per_request(started)
    }

    async fn full(&self) -> f64 {
        let started = Instant::now();
        for i in 0..PER_ROUND {
            full(&self.router, &self.event, i as u64).await;
        }
        per_request(started)
    }
}

async fn overhead() {
    let paths = Paths::new().await;
    // Warm every path (connections pooled, caches hot).
    for i in 0..500 {
        full(&paths.router, &paths.event, i).await;
        direct(&paths.client, &paths.uri).await;
    }
    let (mut plain, mut handler, mut whole) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        for path in 0..3 {
            match (round + path) % 3 {
                0 => plain.push(paths.direct().await),
                1 => handler.push(paths.handler().await),
                _ => whole.push(paths.full().await),
            }
        }
        eprint!("\roverhead: round {}/{ROUNDS}", round + 1);
    }
    eprintln!();
    // What lambda_http adds around any handler, alone.
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        std::hint::black_box(lambda_http::request::from_str(&paths.event).unwrap());
    }
    let parse = per_request(started);
    let page = "x".repeat(1024);
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        let response =
            Response::builder().status(200).header("content-type", "text/html").body(Body::Text(page.clone()));
        std::hint::black_box(serialize(response.unwrap()));
    }
    let serialized = per_request(started);
    let ratios = |path: &[f64]| -> Vec<f64> { path.iter().zip(&plain).map(|(p, d)| p / d).collect() };
    let (handler_ratio, whole_ratio) = (ratios(&handler), ratios(&whole));
    println!(
        "handler overhead   direct {:>6.1} µs/request   handler {:>6.1} µs/request   ratio {:.3}× (IQR {}) (goal ≤ 1.10×)",
        median(plain.clone()) / 1e3,
        median(handler) / 1e3,
        median(handler_ratio.clone()),
        iqr(handler_ratio)
    );
    println!(
        "  full path        {:>6.1} µs/request, ratio {:.3}× (IQR {}): with lambda_http's event parse ({:.1} µs) and response serialization ({:.1} µs), paid by any lambda_http function",
        median(whole) / 1e3,
        median(whole_ratio.clone()),
        iqr(whole_ratio),
        parse / 1e3,
        serialized / 1e3
    );
}

fn iqr(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:.3}–{:.3}", v[v.len() / 4], v[v.len() * 3 / 4])
}

/// One path in a loop, for a profiler: `cargo bench -p router --bench router -- loop handler`.
async fn profile_loop(path: &str) {
    let paths = Paths::new().await;
    let mut total = 0.0;
    for _ in 0..5 {
        total += match path {
            "direct" => paths.direct().await,
            "handler" => paths.handler().await,
            _ => paths.full().await,
        };
    }
    println!("{path}: {:.1} µs/request", total / 5.0 / 1e3);
}

/// Spawn the router binary against a minimal Runtime API; the time until it asks for its first
/// invocation.
async fn cold_start(binary: &str) -> Duration {
    let api = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = api.local_addr().unwrap().port();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "router")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("SWITCHYARD_TARGETS", "10.0.0.1:80,10.0.0.2:80")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (mut stream, _) = api.accept().await.unwrap();
    let mut first = [0u8; 64];
    let n = stream.read(&mut first).await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        String::from_utf8_lossy(&first[..n]).contains("/invocation/next"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    let _ = stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n").await;
    let _ = child.kill().await;
    elapsed
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; anything else selects a part.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    if only.is_empty() || only.iter().any(|a| a == "overhead") {
        overhead().await;
    }
    if let Some(at) = only.iter().position(|a| a == "loop") {
        profile_loop(only.get(at + 1).map_or("full", String::as_str)).await;
        return;
    }
    if only.is_empty() || only.iter().any(|a| a == "cold_start") {
        let binary = std::env::var("SWITCHYARD_ROUTER_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_router").into());
        let mut samples = Vec::new();
        for i in 0..21 {
            samples.push(cold_start(&binary).await.as_secs_f64() * 1e3);
            eprint!("\rcold start: {}/21", i + 1);
        }
        eprintln!();
        println!(
            "cold start         process spawn → first Runtime API `next`: median {:.2} ms, max {:.2} ms over 21 starts of {binary} (goal ≤ 10 ms)",
            median(samples.clone()),
            samples.iter().copied().fold(0.0, f64::max)
        );
    }
}
