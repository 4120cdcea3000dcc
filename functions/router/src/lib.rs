//! Switchyard's router: picks a target per request with `switchyard_algorithms::Balancer` and
//! proxies to it, falling through to the next candidate when one fails.
//!
//! The Lambda handler (`main.rs`) is a thin shell: it passes the event, the time and a random
//! number to [`Router::handle_event`]. Everything here is testable with real loopback backends.

pub mod config;
pub mod deadline;
pub mod discovery;
pub mod emf;
pub mod event;
pub mod load;
mod proxy;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use switchyard_algorithms::{Balancer, BalancerConfig, Outcome, RequestContext, Target, TargetSet, Time};
use switchyard_aws::sqs::SendMessage;

use crate::deadline::Deadlines;
use crate::discovery::GroupDiscovery;
use crate::emf::{Attempt, Metrics};
use crate::event::{HttpEvent, Incoming, Reply};
use crate::load::{LoadReader, LoadReports};

pub use config::{ConfigError, JobsRoute, LoadMetric, RouterConfig, TargetSource};
use proxy::{Failure, Upstream};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("targets: {0}")]
    Targets(#[from] switchyard_algorithms::Error),
}

/// The router: configuration, the balancer over the current targets, the upstream client.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    /// Swapped whole when discovery changes the set (the pingora model); a request keeps the one it
    /// started with.
    balancer: Arc<BalancerSlot>,
    discovery: Option<GroupDiscovery>,
    refreshed_at_ms: AtomicU64,
    refreshing: tokio::sync::Mutex<()>,
    loads: Option<Arc<LoadState>>,
    metrics: Metrics,
    upstream: Upstream,
    /// Every request's deadline, in one queue swept by one task (see `deadline`).
    deadlines: Deadlines,
    sqs: Option<switchyard_aws::Client>,
}

/// The current balancer, shared with the background load refresh, with its targets' addresses
/// parsed once for the proxy.
#[derive(Debug)]
struct BalancerSlot(RwLock<Arc<Routing>>);

/// A balancer and, per target index, the target's address as requests to it need it (`None`
/// for an address that does not parse: attempts at it fail).
#[derive(Debug)]
struct Routing {
    balancer: Arc<Balancer>,
    addresses: Vec<Option<proxy::Address>>,
}

impl Routing {
    fn new(balancer: Balancer) -> Self {
        let addresses = balancer.targets().iter().map(|t| proxy::Address::parse(&t.address).ok()).collect();
        Routing { balancer: Arc::new(balancer), addresses }
    }
}

impl BalancerSlot {
    fn routing(&self) -> Arc<Routing> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn get(&self) -> Arc<Balancer> {
        Arc::clone(&self.routing().balancer)
    }

    fn set(&self, balancer: Balancer) {
        let routing = Arc::new(Routing::new(balancer));
        match self.0.write() {
            Ok(mut slot) => *slot = routing,
            Err(poisoned) => *poisoned.into_inner() = routing,
        }
    }
}

/// The targets' reported load: its reader, when it was last read, and the last reports (kept so
/// that a balancer rebuilt by discovery starts with them).
#[derive(Debug)]
struct LoadState {
    reader: LoadReader,
    refresh_ms: u64,
    refreshed_at_ms: AtomicU64,
    refreshing: AtomicBool,
    last: Mutex<Option<LoadReports>>,
}

impl LoadState {
    fn last(&self) -> Option<LoadReports> {
        match self.last.lock() {
            Ok(last) => last.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

fn apply(balancer: &Balancer, reports: Option<&LoadReports>, now: Time) {
    match reports {
        Some(r) => balancer.set_reported_loads(r.loads.iter().map(|(id, load)| (id.as_str(), *load)), r.taken_at),
        None => balancer.set_reported_loads(std::iter::empty(), now),
    }
}

/// Read the targets' load once and hand it to the current balancer. A failed read keeps the last
/// reports, which fade with age until least connections runs on local counts alone.
async fn refresh_loads(state: &LoadState, slot: &BalancerSlot, now: Time) {
    let ids: Vec<String> = slot.get().targets().iter().map(|t| t.id.to_string()).collect();
    match state.reader.read(&ids, now).await {
        Ok(reports) => {
            apply(&slot.get(), reports.as_ref(), now);
            tracing::debug!(reported = reports.as_ref().map_or(0, |r| r.loads.len()), "target loads read");
            match state.last.lock() {
                Ok(mut last) => *last = reports,
                Err(poisoned) => *poisoned.into_inner() = reports,
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading target loads failed: the last reports fade out"),
    }
}

impl Router {
    /// A router for `config`. A group source needs `aws`; its first discovery happens here, and if
    /// it fails the router starts with no target (503s) and tries again after the TTL, rather
    /// than refusing to start.
    pub async fn new(config: RouterConfig, aws: Option<switchyard_aws::Client>, now: Time) -> Result<Self, StartError> {
        let mut balancer_config = BalancerConfig { algorithm: config.algorithm.clone(), ..BalancerConfig::default() };
        if let Some(load) = &config.load_metric {
            balancer_config.report_fade = load.fade;
        }
        let (targets, discovery) = match &config.targets {
            TargetSource::Static(addresses) => (addresses.iter().map(|a| Target::new(a, a.clone())).collect(), None),
            TargetSource::Group { name, port, endpoint_tag, .. } => {
                let Some(aws) = aws.clone() else {
                    return Err(StartError::Config(ConfigError {
                        key: "SWITCHYARD_TARGET_GROUP",
                        message: "group discovery needs AWS credentials and region".into(),
                    }));
                };
                let discovery =
                    GroupDiscovery { aws, group: name.clone(), port: *port, endpoint_tag: endpoint_tag.clone() };
                let targets = discovery.targets().await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, group = %name, "first discovery failed: starting with no target");
                    Vec::new()
                });
                (targets, Some(discovery))
            }
        };
        let balancer = Balancer::new(TargetSet::new(targets)?, balancer_config)?;
        let upstream = Upstream::new(config.connect_timeout);
        let sqs = match (&config.jobs, &aws) {
            (Some(_), Some(aws)) => Some(aws.clone()),
            (Some(_), None) => {
                return Err(StartError::Config(ConfigError {
                    key: "SWITCHYARD_JOBS_ROUTE",
                    message: "queueing jobs needs AWS credentials and region".into(),
                }));
            }
            (None, _) => None,
        };
        let loads = match (&config.load_metric, aws) {
            (Some(metric), Some(aws)) => Some(Arc::new(LoadState {
                reader: LoadReader { aws, metric: metric.clone() },
                refresh_ms: u64::try_from(metric.refresh.as_millis()).unwrap_or(u64::MAX),
                refreshed_at_ms: AtomicU64::new(0),
                refreshing: AtomicBool::new(false),
                last: Mutex::new(None),
            })),
            (Some(_), None) => {
                return Err(StartError::Config(ConfigError {
                    key: "SWITCHYARD_LOAD_METRIC",
                    message: "reading a load metric needs AWS credentials and region".into(),
                }));
            }
            (None, _) => None,
        };
        let metrics = Metrics::new(config.metrics_namespace.clone(), config.metrics_interval, now);
        Ok(Router {
            config,
            balancer: Arc::new(BalancerSlot(RwLock::new(Arc::new(Routing::new(balancer))))),
            discovery,
            refreshed_at_ms: AtomicU64::new(now.as_millis()),
            refreshing: tokio::sync::Mutex::new(()),
            loads,
            metrics,
            upstream,
            deadlines: Deadlines::default(),
            sqs,
        })
    }

    /// The balancer over the current target set.
    pub fn balancer(&self) -> Arc<Balancer> {
        self.balancer.get()
    }

    /// Read the targets' reported load now and wait for it (tests, and the first request).
    pub async fn refresh_loads(&self, now: Time) {
        if let Some(state) = &self.loads {
            state.refreshed_at_ms.store(now.as_millis(), Ordering::Relaxed);
            refresh_loads(state, &self.balancer, now).await;
        }
    }

    /// Start a background read of the targets' load when the last one is older than the refresh
    /// interval. The request that notices does not wait for it.
    fn refresh_loads_if_stale(&self, now: Time) {
        let Some(state) = &self.loads else { return };
        if now.as_millis().saturating_sub(state.refreshed_at_ms.load(Ordering::Relaxed)) < state.refresh_ms
            || state.refreshing.swap(true, Ordering::AcqRel)
        {
            return;
        }
        state.refreshed_at_ms.store(now.as_millis(), Ordering::Relaxed);
        let (state, slot) = (Arc::clone(state), Arc::clone(&self.balancer));
        tokio::spawn(async move {
            refresh_loads(&state, &slot, now).await;
            state.refreshing.store(false, Ordering::Release);
        });
    }

    /// The EMF lines counted so far, flushed whether or not the interval has ended.
    pub fn flush_metrics(&self, now: Time) -> Vec<serde_json::Value> {
        self.metrics.flush(now, true)
    }

    /// Print the EMF lines once an interval has ended (Lambda sends stdout to CloudWatch Logs).
    fn emit_metrics(&self, now: Time) {
        for line in self.metrics.flush(now, false) {
            println!("{line}");
        }
    }

    /// Refresh the targets once the TTL has run out. One request refreshes; the others go on with
    /// the current set. A failed refresh keeps the last good set and is logged.
    async fn refresh_if_stale(&self, now: Time) {
        let (Some(discovery), TargetSource::Group { ttl, .. }) = (&self.discovery, &self.config.targets) else {
            return;
        };
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        if now.as_millis().saturating_sub(self.refreshed_at_ms.load(Ordering::Relaxed)) < ttl_ms {
            return;
        }
        let Ok(_only_one) = self.refreshing.try_lock() else { return };
        self.refreshed_at_ms.store(now.as_millis(), Ordering::Relaxed);
        let discovered = discovery
            .targets()
            .await
            .map_err(|e| e.to_string())
            .and_then(|t| TargetSet::new(t).map_err(|e| e.to_string()));
        let set = match discovered {
            Ok(set) => set,
            Err(e) => {
                tracing::error!(error = %e, "discovery failed: keeping the last good set");
                return;
            }
        };
        let current = self.balancer();
        let unchanged = current.targets().len() == set.len()
            && current.targets().iter().zip(set.iter()).all(|(a, b)| a.id == b.id && a.address == b.address);
        if unchanged {
            return;
        }
        match current.rebuild(set) {
            Ok(rebuilt) => {
                tracing::info!(targets = rebuilt.targets().len(), "targets changed");
                if let Some(state) = &self.loads {
                    apply(&rebuilt, state.last().as_ref(), now);
                }
                self.balancer.set(rebuilt);
            }
            Err(e) => tracing::error!(error = %e, "rebuilding the balancer failed: keeping the last good set"),
        }
    }

    /// Serve one Lambda HTTP event at `now` and answer in its format. An event that is not a
    /// request the router can serve is a 400 naming what is wrong.
    pub async fn handle_event(&self, event: HttpEvent, request_id: &str, now: Time, random: u64) -> Reply {
        let format = event.format();
        let response = match event.into_request() {
            Ok(request) => self.handle(request, request_id, now, random).await,
            Err(e) => {
                tracing::warn!(request_id, error = %e, "not a request");
                self.metrics.request();
                let response = error(StatusCode::BAD_REQUEST, "bad_event", &e.to_string(), request_id);
                self.emit_metrics(now);
                response
            }
        };
        Reply { format, response }
    }

    /// Serve one request at `now`. Never fails: every problem is an HTTP answer carrying the
    /// request id (the Lambda invocation's). Counts the request, and prints the EMF lines once
    /// their interval has ended.
    pub async fn handle(&self, request: Incoming, request_id: &str, now: Time, random: u64) -> Response<Bytes> {
        self.metrics.request();
        // Awaited in place, not handed to a wrapper: a future passed by value is stored twice in
        // the caller's (once as the argument, once being awaited), and this one is ~1.7 KB.
        let response = self.serve(request, request_id, now, random).await;
        self.emit_metrics(now);
        response
    }

    async fn serve(&self, request: Incoming, request_id: &str, now: Time, random: u64) -> Response<Bytes> {
        let Incoming { method, path_and_query, headers, body, client_ip } = request;
        if body.len() > self.config.max_body_bytes {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "the request body is larger than allowed",
                request_id,
            );
        }
        if let (Some(jobs), Some(sqs)) = (&self.config.jobs, &self.sqs)
            && method == jobs.method
            && path_and_query.path() == jobs.path
        {
            let response = enqueue(sqs, jobs, &headers, client_ip, body, request_id, random).await;
            self.metrics.job(response.status() == StatusCode::ACCEPTED);
            return response;
        }
        self.refresh_if_stale(now).await;
        self.refresh_loads_if_stale(now);
        let routing = self.balancer.routing();
        let balancer = &*routing.balancer;
        let cookie = match self.config.algorithm {
            switchyard_algorithms::Algorithm::StickyCookie(_) => sticky_cookie(&headers, &self.config.cookie_name),
            _ => None,
        };
        let context = RequestContext { cookie: cookie.as_deref(), client_ip, hash_key: None, random };
        let mut pick = match balancer.pick(&context, now) {
            Ok(pick) => pick,
            Err(e) => return self.no_target(&e, request_id),
        };
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
        );
        let deadline = self.deadlines.start(self.config.timeout);
        let mut outgoing = proxy::Outgoing::new(method, path_and_query, headers, body, client_ip);
        let mut last_failure = None;
        for attempt in 0..self.config.max_attempts {
            let index = if attempt == 0 {
                pick.candidates.first()
            } else {
                balancer.next_candidate(&context, now, &mut pick).ok()
            };
            let Some(index) = index else { break };
            let (Some(target), Some(address)) = (balancer.targets().get(index), routing.addresses.get(index)) else {
                break;
            };
            let _in_flight = balancer.begin(index);
            let started = std::time::Instant::now();
            // The last allowed attempt takes the prepared headers instead of copying them.
            let last = attempt + 1 == self.config.max_attempts;
            let result = match address {
                Some(address) => self.upstream.send(address, &mut outgoing, last, &deadline).await,
                None => Err(Failure::Other(format!("bad target address {}", target.address))),
            };
            let (outcome, latency) = match &result {
                Ok(response) if response.status().is_server_error() => (Attempt::Failed, Some(started.elapsed())),
                Ok(_) => (Attempt::Answered, Some(started.elapsed())),
                Err(_) => (Attempt::Failed, None),
            };
            self.metrics.attempt(
                target.id.as_str(),
                attempt > 0,
                outcome,
                latency,
                random.rotate_left(attempt as u32 * 8),
            );
            match result {
                Ok(response) if !response.status().is_server_error() => {
                    // A success never ejects: nothing to log.
                    let _ = balancer.record(index, Outcome::Success, now);
                    return self.finish(balancer, response, &pick, index, now);
                }
                Ok(response) => {
                    let status = response.status();
                    failed(balancer, index, now, request_id, &target.id, attempt, &Failure::Status(status));
                    if !idempotent || attempt + 1 == self.config.max_attempts {
                        return self.finish(balancer, response, &pick, index, now);
                    }
                    last_failure = Some(Failure::Status(status));
                }
                Err(failure) => {
                    failed(balancer, index, now, request_id, &target.id, attempt, &failure);
                    // A refused connection never reached the target: safe to retry any method.
                    let retry = idempotent || matches!(failure, Failure::Connect(_));
                    let timed_out = matches!(failure, Failure::Timeout);
                    last_failure = Some(failure);
                    if !retry || timed_out {
                        break;
                    }
                }
            }
        }
        unserved(last_failure.as_ref(), request_id)
    }

    /// No target to pick: 503. Out of line, as are the other failure paths, so that `serve` reads
    /// as the answered request's path. (Measured with cachegrind: no change in instruction-cache
    /// misses per request either way; this is for the reader.)
    #[cold]
    #[inline(never)]
    fn no_target(&self, e: &switchyard_algorithms::Error, request_id: &str) -> Response<Bytes> {
        tracing::warn!(request_id, error = %e, "no target");
        self.metrics.no_target();
        error(StatusCode::SERVICE_UNAVAILABLE, "no_healthy_target", "no target can serve this request", request_id)
    }

    /// The upstream response, with a new sticky cookie when the pick needs one.
    fn finish(
        &self,
        balancer: &Balancer,
        response: Response<Bytes>,
        pick: &switchyard_algorithms::Pick,
        served: usize,
        now: Time,
    ) -> Response<Bytes> {
        let mut response = response;
        if pick.needs_cookie(served)
            && let Some(value) = balancer.issue_cookie(served, now)
        {
            let max_age = match &self.config.algorithm {
                switchyard_algorithms::Algorithm::StickyCookie(c) => c.lifetime_secs(),
                _ => 0,
            };
            let cookie = format!(
                "{}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Lax",
                self.config.cookie_name
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

/// Put the request's body on the work queue. 202 with the message id only once SQS has stored
/// it; any failure is a 503 with Retry-After, so the client knows to send again.
async fn enqueue(
    sqs: &switchyard_aws::Client,
    jobs: &JobsRoute,
    headers: &HeaderMap,
    client_ip: Option<IpAddr>,
    body: Bytes,
    request_id: &str,
    random: u64,
) -> Response<Bytes> {
    let Ok(text) = String::from_utf8(Vec::from(body)) else {
        return error(
            StatusCode::BAD_REQUEST,
            "body_not_text",
            "a job body must be UTF-8 text (SQS message bodies are)",
            request_id,
        );
    };
    if text.is_empty() {
        return error(StatusCode::BAD_REQUEST, "empty_job", "a job needs a body", request_id);
    }
    let mut message = SendMessage {
        queue_url: &jobs.queue_url,
        message_body: &text,
        message_group_id: None,
        message_deduplication_id: None,
    };
    let (group, dedup);
    if let Some(header) = &jobs.fifo_group_header {
        group = headers
            .get(header.as_str())
            .and_then(|v| v.to_str().ok())
            .filter(|g| !g.is_empty() && g.len() <= 128)
            .map(str::to_owned)
            .or_else(|| client_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "default".into());
        // The Lambda request id deduplicates a retried delivery of the same invocation; outside
        // Lambda (no id) each request is its own.
        dedup = if request_id.is_empty() { format!("{random:016x}") } else { request_id.to_owned() };
        message.message_group_id = Some(&group);
        message.message_deduplication_id = Some(&dedup);
    }
    match sqs.send_message(&message).await {
        Ok(message_id) => {
            let body = serde_json::json!({ "message_id": message_id, "request_id": request_id });
            let mut response = Response::new(Bytes::from(body.to_string()));
            *response.status_mut() = StatusCode::ACCEPTED;
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            tracing::error!(request_id, error = %e, "job not queued");
            let mut response = error(
                StatusCode::SERVICE_UNAVAILABLE,
                "queue_unavailable",
                "the job was not queued: send it again",
                request_id,
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    }
}

/// The answer when every attempt failed (`last`, the last failure) or none could be made.
#[cold]
#[inline(never)]
fn unserved(last: Option<&Failure>, request_id: &str) -> Response<Bytes> {
    match last {
        Some(Failure::Timeout) => {
            error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "the target did not answer in time", request_id)
        }
        Some(_) => error(StatusCode::BAD_GATEWAY, "upstream_failed", "no target could serve this request", request_id),
        None => {
            error(StatusCode::SERVICE_UNAVAILABLE, "no_healthy_target", "no target can serve this request", request_id)
        }
    }
}

/// A failed attempt (a 5xx answer, or none): logged, and fed to passive health.
#[cold]
#[inline(never)]
fn failed(
    balancer: &Balancer,
    index: usize,
    now: Time,
    request_id: &str,
    target: &switchyard_algorithms::TargetId,
    attempt: usize,
    failure: &Failure,
) {
    match failure {
        Failure::Status(status) => {
            tracing::info!(request_id, target = %target, status = status.as_u16(), attempt, "upstream 5xx");
        }
        _ => tracing::info!(request_id, target = %target, error = %failure, attempt, "upstream failed"),
    }
    record(balancer, index, Outcome::Failure, now);
}

/// Feed passive health; an ejection is logged.
fn record(balancer: &Balancer, index: usize, outcome: Outcome, now: Time) {
    if let Some(ejection) = balancer.record(index, outcome, now) {
        let target = balancer.targets().get(index).map(|t| t.id.to_string()).unwrap_or_default();
        tracing::warn!(target, until_ms = ejection.until.as_millis(), "target ejected");
    }
}

/// The sticky cookie's value, from the Cookie header(s) or API Gateway's `cookies` list.
fn sticky_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A small JSON error answer carrying the request id.
#[cold]
#[inline(never)]
fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<Bytes> {
    let body = serde_json::json!({ "error": code, "message": message, "request_id": request_id });
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
