//! Router benchmarks (run with `bash infra/bench.sh router`, or `cargo bench -p router`):
//!
//! 1. **Handler overhead.** One GET through the router in process against a direct HTTP/1.1 call
//!    to the same loopback backend with the same client library (hyper-util's pooled client,
//!    keep-alive). The backend runs on its own thread, as a real server is its own process. Three
//!    router paths are timed: the handler alone, given the request as the function's event reader
//!    makes it (the goal's measure); the same with the headers API Gateway adds in a real event
//!    (which the router forwards, restates or drops, so the target gets more headers than from
//!    the direct call); and the whole in-process invocation: the event's JSON read, the handler,
//!    the answer written as JSON.
//!
//!    The handler and its peer run in the same surroundings: before each timed call the bench
//!    reads one event (as the Lambda runtime does between invocations; the whole-invocation path
//!    reads its event inside the clock), and only the call is timed. The same
//!    direct call made back to back, with nothing in between, is faster still (its code and data
//!    never leave the caches), so it is printed too. Short rounds alternate between the paths in
//!    a rotating order so that the machine's drift hits all alike; each ratio is the median of the
//!    per-round ratios, with its interquartile range.
//! 2. **Cold start.** Time from spawning the `router` binary to its first Runtime API `next` call,
//!    against a minimal Runtime API on a loopback port; and the same for the floor
//!    (`infra/floor`: `lambda_runtime`, `aws-config` and the four SDK clients, nothing else) when
//!    `SWITCHYARD_FLOOR_BINARY` names it (`infra/bench.sh` builds both in release).
//!
//! Numbers only, no assertions: `infra/bench.sh` writes them to docs/benchmarks.md.

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
use router::event::{HttpEvent, Incoming};
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

/// What API Gateway adds to a client's headers in a real event: the router forwards the trace id,
/// restates X-Forwarded-For and -Proto, turns Host into X-Forwarded-Host and drops the port.
const GATEWAY_HEADERS: [(&str, &str); 5] = [
    ("host", "abc123.execute-api.eu-west-1.amazonaws.com"),
    ("x-amzn-trace-id", "Root=1-67891233-abcdef012345678912345678"),
    ("x-forwarded-for", "203.0.113.7"),
    ("x-forwarded-port", "443"),
    ("x-forwarded-proto", "https"),
];

/// The whole in-process invocation: the event read, the handler, the answer written as JSON.
async fn full(router: &Router, event: &str, i: u64) -> usize {
    // As the runtime reads it: the payload into a JSON value, which the handler then reads.
    let event: serde_json::Value = serde_json::from_str(event).unwrap();
    let reply = router.handle_event(event, "bench-request", Time::from_millis(1_000), i).await;
    assert_eq!(reply.response.status(), 200);
    serde_json::to_vec(&reply).unwrap().len()
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

/// The paths over one backend.
struct Paths {
    router: Router,
    event: String,
    /// The same request with API Gateway's own headers in the event.
    gateway_event: String,
    client: Client<HttpConnector, Full<Bytes>>,
    uri: String,
}

/// Time `call` once per round's request, each after `between` (untimed), per request.
macro_rules! timed {
    ($between:expr, $call:expr) => {{
        let mut spent = Duration::ZERO;
        for i in 0..PER_ROUND as u64 {
            let prepared = $between;
            let started = Instant::now();
            let kept = $call(prepared, i).await;
            spent += started.elapsed();
            std::hint::black_box(kept);
        }
        spent.as_nanos() as f64 / PER_ROUND as f64
    }};
}

impl Paths {
    async fn new() -> Self {
        let address = backend();
        let settings = [("SWITCHYARD_TARGETS", address.clone())];
        let config =
            RouterConfig::from_lookup(|k| settings.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone())).unwrap();
        let router = Router::from_sdk(config, None, Time::from_millis(1_000)).await.unwrap();
        let event = switchyard_tests::apigw_event("GET", "/products/42?color=red", "203.0.113.7", &HEADERS, None);
        let gateway: Vec<(&str, &str)> = HEADERS.iter().chain(&GATEWAY_HEADERS).copied().collect();
        let gateway_event =
            switchyard_tests::apigw_event("GET", "/products/42?color=red", "203.0.113.7", &gateway, None);
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let uri = format!("http://{address}/products/42?color=red");
        Paths { router, event, gateway_event, client, uri }
    }

    /// What the Lambda runtime does between two invocations: read the next event.
    fn incoming(&self) -> Incoming {
        HttpEvent::from_json(&self.event).unwrap().into_request().unwrap()
    }

    fn incoming_from_gateway(&self) -> Incoming {
        HttpEvent::from_json(&self.gateway_event).unwrap().into_request().unwrap()
    }

    /// The peer: a direct call, in the same surroundings as the handler's (an event read before
    /// each, untimed; the request is dropped after the clock stops).
    async fn direct(&self) -> f64 {
        timed!(self.incoming(), |request: Incoming, _| async move {
            direct(&self.client, &self.uri).await;
            request
        })
    }

    /// Direct calls back to back, nothing in between.
    async fn back_to_back(&self) -> f64 {
        timed!((), |(), _| direct(&self.client, &self.uri))
    }

    /// The handler alone: the request as the event reader makes it, consumed by the handler.
    async fn handler(&self) -> f64 {
        timed!(self.incoming(), |request, i| async move {
            let response = self.router.handle(request, "bench-request", Time::from_millis(1_000), i).await;
            assert_eq!(response.status(), 200);
            response
        })
    }

    /// The handler, given the event with API Gateway's own headers.
    async fn handler_from_gateway(&self) -> f64 {
        timed!(self.incoming_from_gateway(), |request, i| async move {
            let response = self.router.handle(request, "bench-request", Time::from_millis(1_000), i).await;
            assert_eq!(response.status(), 200);
            response
        })
    }

    /// The whole invocation, from the event's JSON to the answer's (nothing to prepare).
    async fn full(&self) -> f64 {
        timed!((), |(), i| full(&self.router, &self.event, i))
    }
}

async fn overhead() {
    let paths = Paths::new().await;
    // Warm every path (connections pooled, caches hot).
    for i in 0..500 {
        full(&paths.router, &paths.event, i).await;
        direct(&paths.client, &paths.uri).await;
    }
    let mut times: [Vec<f64>; 5] = Default::default();
    for round in 0..ROUNDS {
        for path in 0..5 {
            let which = (round + path) % 5;
            times[which].push(match which {
                0 => paths.direct().await,
                1 => paths.handler().await,
                2 => paths.full().await,
                3 => paths.handler_from_gateway().await,
                _ => paths.back_to_back().await,
            });
        }
        eprint!("\roverhead: round {}/{ROUNDS}", round + 1);
    }
    eprintln!();
    let [plain, handler, whole, from_gateway, back_to_back] = times;
    // The event reader and the answer writer alone.
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        std::hint::black_box(paths.incoming());
    }
    let read = per_request(started);
    let reply = {
        let event: serde_json::Value = serde_json::from_str(&paths.event).unwrap();
        paths.router.handle_event(event, "bench-request", Time::from_millis(1_000), 0).await
    };
    let started = Instant::now();
    for _ in 0..PER_ROUND {
        std::hint::black_box(serde_json::to_vec(&reply).unwrap());
    }
    let written = per_request(started);
    let ratios = |path: &[f64], peer: &[f64]| -> Vec<f64> { path.iter().zip(peer).map(|(p, d)| p / d).collect() };
    let (handler_ratio, whole_ratio) = (ratios(&handler, &plain), ratios(&whole, &plain));
    println!(
        "handler overhead   direct {:>6.1} µs/request   handler {:>6.1} µs/request   ratio {:.3}× (IQR {})",
        median(plain.clone()) / 1e3,
        median(handler.clone()) / 1e3,
        median(handler_ratio.clone()),
        iqr(handler_ratio)
    );
    println!(
        "  full invocation  {:>6.1} µs/request, ratio {:.3}× (IQR {}) (goal ≤ 1.4×): with the event read ({:.1} µs) and the answer written as JSON ({:.1} µs)",
        median(whole) / 1e3,
        median(whole_ratio.clone()),
        iqr(whole_ratio),
        read / 1e3,
        written / 1e3
    );
    let gateway = ratios(&from_gateway, &plain);
    println!(
        "  with API Gateway's own headers in the event (Host, X-Amzn-Trace-Id, X-Forwarded-For/-Port/-Proto): {:>6.1} µs/request, ratio {:.3}× (IQR {})",
        median(from_gateway) / 1e3,
        median(gateway.clone()),
        iqr(gateway)
    );
    let tight = ratios(&handler, &back_to_back);
    println!(
        "  direct calls back to back, nothing between them: {:>6.1} µs/request; the handler is {:.3}× that (IQR {})",
        median(back_to_back) / 1e3,
        median(tight.clone()),
        iqr(tight)
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
            "gateway" => paths.handler_from_gateway().await,
            "back_to_back" => paths.back_to_back().await,
            _ => paths.full().await,
        };
    }
    println!("{path}: {} requests, {:.1} µs/request", 5 * PER_ROUND, total / 5.0 / 1e3);
}

/// Spawn a function binary against a minimal Runtime API, configured as the router is with a
/// jobs route and a load metric (so it loads the SDK configuration and builds its SQS and
/// CloudWatch clients; AWS itself is an address nothing answers on); the time until it asks for
/// its first invocation. The floor gets the same environment.
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
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_SESSION_TOKEN", "token")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("SWITCHYARD_TARGETS", "10.0.0.1:80,10.0.0.2:80")
        .env("SWITCHYARD_JOBS_ROUTE", "POST /jobs")
        .env("SWITCHYARD_WORK_QUEUE_URL", "http://127.0.0.1:9/000000000000/work")
        .env("SWITCHYARD_LOAD_NAMESPACE", "Fleet")
        .env("SWITCHYARD_LOAD_METRIC", "ActiveConnections")
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

/// Median and slowest of 21 cold starts of `binary`, in ms, alternating with nothing else.
async fn cold_starts(binary: &str, label: &str) -> (f64, f64) {
    let mut samples = Vec::new();
    for i in 0..21 {
        samples.push(cold_start(binary).await.as_secs_f64() * 1e3);
        eprint!("\rcold start of {label}: {}/21", i + 1);
    }
    eprintln!();
    (median(samples.clone()), samples.iter().copied().fold(0.0, f64::max))
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
        let (median, max) = cold_starts(&binary, "router").await;
        println!(
            "cold start         process spawn → first Runtime API `next`: median {median:.2} ms, max {max:.2} ms over 21 starts of {binary} (goal ≤ 10 ms)"
        );
        if let Ok(floor) = std::env::var("SWITCHYARD_FLOOR_BINARY") {
            let (floor_median, floor_max) = cold_starts(&floor, "floor").await;
            println!(
                "cold start floor   median {floor_median:.2} ms, max {floor_max:.2} ms over 21 starts of {floor}; router/floor {:.2}× (goal ≤ 1.2×)",
                median / floor_median
            );
        }
    }
}
