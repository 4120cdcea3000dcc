//! Switchyard's router: picks a target per request with `switchyard_algorithms::Balancer` and
//! proxies to it, falling through to the next candidate when one fails; or stores the request as
//! a job on the work queue.
//!
//! What happens to one request is in this file ([`Router::serve`]); the parts it calls are apart:
//! - [`targets`]: the current balancer, discovered at start and refreshed in the background;
//! - [`jobs`]: the jobs route onto the queue, with answers that never mislead;
//! - [`retry`]: which failed attempts go to another target;
//! - [`proxy`] and [`deadline`]: one attempt over HTTP/1.1 within the request's time;
//! - [`answers`]: the router's own error answers;
//! - [`aws`]: the traits through which it reaches AWS, implemented over the SDK, and [`fakes`].
//!
//! The Lambda handler (`main.rs`) is a thin shell: it passes the event, the time and a random
//! number to [`Router::handle_event`]. Everything here is testable with real loopback backends.

pub mod answers;
pub mod aws;
pub mod config;
pub mod deadline;
pub mod emf;
pub mod event;
pub mod fakes;
pub mod jobs;
pub mod proxy;
pub mod retry;
pub mod targets;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use switchyard_algorithms::{Balancer, BalancerConfig, Outcome, RequestContext, Time};
use tokio::task::JoinHandle;

use crate::aws::{
    CloudWatchLoads, Discovery, FleetWaker, GroupDiscovery, GroupWaker, JobQueue, LoadSource, SqsQueue, StaticTargets,
    Woken,
};
use crate::deadline::Deadlines;
use crate::emf::{Attempt, Metrics};
use crate::event::{Format, HttpEvent, Incoming, Reply};
use crate::jobs::Jobs;
use crate::retry::{Next, RetryPolicy};
use crate::targets::{LoadFeed, Targets};

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

/// What the router reaches AWS through. `None` where the configuration needs nothing.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// Group discovery (a static list needs none: it is read from the configuration).
    pub discovery: Option<Arc<dyn Discovery>>,
    pub loads: Option<Arc<dyn LoadSource>>,
    pub queue: Option<Arc<dyn JobQueue>>,
    /// Raises the group from zero (with `SWITCHYARD_WAKE_SIZE`).
    pub waker: Option<Arc<dyn FleetWaker>>,
}

impl Sources {
    /// The SDK implementations that `config` asks for, with clients from `sdk`.
    pub fn from_sdk(config: &RouterConfig, sdk: &aws_config::SdkConfig) -> Self {
        let discovery: Option<Arc<dyn Discovery>> = match &config.targets {
            TargetSource::Static(_) => None,
            TargetSource::Group { name, port, endpoint_tag, .. } => Some(Arc::new(GroupDiscovery {
                autoscaling: aws_sdk_autoscaling::Client::new(sdk),
                ec2: aws_sdk_ec2::Client::new(sdk),
                group: name.clone(),
                port: *port,
                endpoint_tag: endpoint_tag.clone(),
            })),
        };
        let loads: Option<Arc<dyn LoadSource>> = config.load_metric.as_ref().map(|metric| {
            Arc::new(CloudWatchLoads { cloudwatch: aws_sdk_cloudwatch::Client::new(sdk), metric: metric.clone() })
                as Arc<dyn LoadSource>
        });
        let queue: Option<Arc<dyn JobQueue>> = config.jobs.as_ref().map(|jobs| {
            Arc::new(SqsQueue { sqs: aws_sdk_sqs::Client::new(sdk), url: jobs.queue_url.clone(), budget: jobs.budget })
                as Arc<dyn JobQueue>
        });
        let waker: Option<Arc<dyn FleetWaker>> = match (&config.targets, &config.wake) {
            (TargetSource::Group { name, .. }, Some(_)) => {
                Some(Arc::new(GroupWaker { autoscaling: aws_sdk_autoscaling::Client::new(sdk), group: name.clone() }))
            }
            _ => None,
        };
        Sources { discovery, loads, queue, waker }
    }
}

/// The router: configuration, the current targets, the jobs route, the upstream client.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    targets: Arc<Targets>,
    /// The background refreshes of `targets`, aborted when the router is dropped.
    refresh: Vec<JoinHandle<()>>,
    jobs: Option<Jobs>,
    /// Waking the group from zero, and when this environment last asked (single flight).
    waking: Option<Waking>,
    retry: RetryPolicy,
    metrics: Metrics,
    upstream: Upstream,
    /// Every request's deadline, in one queue swept by one task (see `deadline`).
    deadlines: Deadlines,
}

/// How this router wakes its group, and its last wake (one at a time per environment, at most one
/// every few seconds).
#[derive(Debug)]
struct Waking {
    waker: Arc<dyn FleetWaker>,
    config: config::Wake,
    last: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// How long a woken group is left alone before this environment asks again.
const WAKE_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// What a request that found no target gets from the wake.
enum Held {
    /// Targets appeared within the hold: serve the request with them.
    Ready(Arc<targets::Routing>, Duration),
    /// No target (yet): this answer.
    Answer(Response<Bytes>),
}

impl Drop for Router {
    fn drop(&mut self) {
        self.refresh.iter().for_each(JoinHandle::abort);
    }
}

fn missing(key: &'static str, what: &str) -> StartError {
    StartError::Config(ConfigError { key, message: format!("{what} needs AWS: no client was given") })
}

fn system_now() -> Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Time::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        .unwrap_or(Time::ZERO)
}

impl Router {
    /// A router over the SDK: the sources `config` needs, with clients from `sdk` (`None` when
    /// it needs none: static targets, no jobs route, no load metric).
    pub async fn from_sdk(
        config: RouterConfig,
        sdk: Option<&aws_config::SdkConfig>,
        now: Time,
    ) -> Result<Self, StartError> {
        let sources = sdk.map(|sdk| Sources::from_sdk(&config, sdk)).unwrap_or_default();
        Self::new(config, sources, now).await
    }

    /// A router for `config` over `sources`. Its first discovery happens here; if it fails the
    /// router starts with no target (503s) and tries again after the TTL, rather than refusing
    /// to start. The background refreshes start here too (they need a Tokio runtime).
    pub async fn new(config: RouterConfig, sources: Sources, now: Time) -> Result<Self, StartError> {
        let mut balancer_config = BalancerConfig { algorithm: config.algorithm.clone(), ..BalancerConfig::default() };
        if let Some(load) = &config.load_metric {
            balancer_config.report_fade = load.fade;
        }
        let (discovery, ttl): (Arc<dyn Discovery>, Duration) = match (&config.targets, sources.discovery) {
            (TargetSource::Static(addresses), _) => (Arc::new(StaticTargets(addresses.clone())), Duration::ZERO),
            (TargetSource::Group { ttl, .. }, Some(discovery)) => (discovery, *ttl),
            (TargetSource::Group { .. }, None) => return Err(missing("SWITCHYARD_TARGET_GROUP", "group discovery")),
        };
        let loads = match (&config.load_metric, sources.loads) {
            (Some(metric), Some(source)) => Some(LoadFeed::new(source, metric.refresh)),
            (Some(_), None) => return Err(missing("SWITCHYARD_LOAD_METRIC", "reading a load metric")),
            (None, _) => None,
        };
        let jobs = match (&config.jobs, sources.queue) {
            (Some(route), Some(queue)) => Some(Jobs { route: route.clone(), queue }),
            (Some(_), None) => return Err(missing("SWITCHYARD_JOBS_ROUTE", "queueing jobs")),
            (None, _) => None,
        };
        let waking = match (&config.wake, sources.waker) {
            (Some(wake), Some(waker)) => Some(Waking { waker, config: *wake, last: tokio::sync::Mutex::new(None) }),
            (Some(_), None) => return Err(missing("SWITCHYARD_WAKE_SIZE", "waking the group")),
            (None, _) => None,
        };
        let targets = Arc::new(Targets::discover(discovery, ttl, loads, balancer_config).await?);
        let refresh = targets.spawn_refresh(system_now);
        Ok(Router {
            retry: RetryPolicy { max_attempts: config.max_attempts },
            metrics: Metrics::new(config.metrics_namespace.clone(), config.metrics_interval, now).for_group(
                match &config.targets {
                    TargetSource::Group { name, .. } => Some(name.clone()),
                    TargetSource::Static(_) => None,
                },
            ),
            upstream: Upstream::new(config.connect_timeout),
            deadlines: Deadlines::default(),
            config,
            targets,
            refresh,
            jobs,
            waking,
        })
    }

    /// Open the connections the first requests would otherwise pay for (the queue's; discovery
    /// and the load reports make their first calls at start), within `limit`. A failure is
    /// logged, never fatal: the call is only a head start. It begins [`targets::AFTER_START`] after
    /// it is called; run it in the background, so that it never delays the first request.
    pub async fn warm(&self, limit: Duration) {
        let Some(jobs) = &self.jobs else { return };
        tokio::time::sleep(targets::AFTER_START).await;
        match tokio::time::timeout(limit, jobs.queue.warm()).await {
            Ok(Ok(())) => tracing::debug!("queue client warmed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "warming the queue client failed (the first job will connect)"),
            Err(_) => tracing::warn!(limit_ms = limit.as_millis() as u64, "warming the queue client timed out"),
        }
    }

    /// The balancer over the current target set.
    pub fn balancer(&self) -> Arc<Balancer> {
        Arc::clone(&self.targets.routing().balancer)
    }

    /// Discover the targets now and wait for it (tests; the background task does this every TTL).
    pub async fn refresh_targets(&self, now: Time) {
        self.targets.rediscover(now).await;
    }

    /// Read the targets' reported load now and wait for it (tests; the background task does this
    /// every refresh period).
    pub async fn refresh_loads(&self, now: Time) {
        self.targets.reread_loads(now).await;
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

    /// Serve one Lambda HTTP event (as the runtime's JSON) at `now` and answer in its format. An
    /// event that is not a request the router can serve is a 400 naming what is wrong.
    pub async fn handle_event(&self, event: serde_json::Value, request_id: &str, now: Time, random: u64) -> Reply {
        let format = Format::of(&event);
        let request = HttpEvent::from_value(event).and_then(HttpEvent::into_request);
        let response = match request {
            Ok(request) => self.handle(request, request_id, now, random).await,
            Err(e) => {
                tracing::warn!(request_id, error = %e, "not a request");
                self.metrics.request();
                let response = answers::bad_event(&e.to_string(), request_id);
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
        // the caller's (once as the argument, once being awaited).
        let response = self.serve(request, request_id, now, random).await;
        self.emit_metrics(now);
        response
    }

    /// One request, start to end: the size check, the jobs route, then a pick and up to
    /// `max_attempts` attempts on the balancer's candidates within one deadline.
    async fn serve(&self, request: Incoming, request_id: &str, now: Time, random: u64) -> Response<Bytes> {
        let Incoming { method, path_and_query, headers, body, client_ip } = request;
        if body.len() > self.config.max_body_bytes {
            return answers::too_large(request_id);
        }
        if let Some(jobs) = &self.jobs
            && jobs.matches(&method, path_and_query.path())
        {
            let response = jobs.enqueue(&headers, client_ip, body, request_id, random).await;
            self.metrics.job(response.status() == http::StatusCode::ACCEPTED);
            return response;
        }
        let mut routing = self.targets.routing();
        let mut now = now;
        if routing.balancer.targets().is_empty()
            && let Some(waking) = &self.waking
        {
            match self.wake_and_hold(waking, &method, &headers, request_id, now).await {
                Held::Ready(woken, held) => {
                    routing = woken;
                    now = Time::from_millis(now.as_millis() + held.as_millis() as u64);
                }
                Held::Answer(response) => return response,
            }
        }
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
        let deadline = self.deadlines.start(self.config.timeout);
        let mut outgoing = proxy::Outgoing::new(method.clone(), path_and_query, headers, body, client_ip);
        let mut last_failure = None;
        for attempt in 0..self.retry.max_attempts {
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
            let last = attempt + 1 == self.retry.max_attempts;
            let result = match address {
                Some(address) => {
                    let per_attempt = self.config.attempt_timeout.filter(|_| retry::is_idempotent(&method));
                    self.upstream.send(address, &mut outgoing, last, &deadline, per_attempt).await
                }
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
            let (failure, response) = match result {
                Ok(response) if !response.status().is_server_error() => {
                    // A success never ejects: nothing to log.
                    let _ = balancer.record(index, Outcome::Success, now);
                    return self.finish(balancer, response, &pick, index, now);
                }
                Ok(response) => (Failure::Status(response.status()), Some(response)),
                Err(failure) => (failure, None),
            };
            failed(balancer, index, now, request_id, &target.id, attempt, &failure);
            match (self.retry.after(&method, attempt, &failure), response) {
                (Next::Retry, _) => last_failure = Some(failure),
                (Next::Answer, Some(response)) => return self.finish(balancer, response, &pick, index, now),
                (Next::Answer | Next::GiveUp, _) => {
                    last_failure = Some(failure);
                    break;
                }
            }
        }
        answers::unserved(last_failure.as_ref(), request_id)
    }

    /// The group has no target: wake it (from zero), then hold an idempotent request until
    /// targets appear or the hold ends; anything else is told the service is starting. A wake
    /// that AWS refuses is answered at once, never held.
    #[cold]
    #[inline(never)]
    async fn wake_and_hold(
        &self,
        waking: &Waking,
        method: &http::Method,
        headers: &HeaderMap,
        request_id: &str,
        now: Time,
    ) -> Held {
        let html =
            headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"));
        let retry_after = u32::try_from(waking.config.hold.as_secs().max(5)).unwrap_or(30);
        if let Err(e) = self.wake(waking).await {
            tracing::error!(request_id, error = %e, "waking the group failed");
            return Held::Answer(answers::starting(html, retry_after, request_id));
        }
        if !retry::is_idempotent(method) {
            return Held::Answer(answers::starting(html, retry_after, request_id));
        }
        let started = tokio::time::Instant::now();
        let until = started + waking.config.hold;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(waking.config.poll.min(until - tokio::time::Instant::now())).await;
            let held = started.elapsed();
            let at = Time::from_millis(now.as_millis() + held.as_millis() as u64);
            self.targets.rediscover_at_most_every(waking.config.poll, at).await;
            let routing = self.targets.routing();
            if !routing.balancer.targets().is_empty() {
                tracing::info!(request_id, held_ms = held.as_millis() as u64, "group awake: serving the held request");
                self.metrics.served_after_wake(held);
                return Held::Ready(routing, held);
            }
        }
        tracing::warn!(
            request_id,
            hold_ms = waking.config.hold.as_millis() as u64,
            "group still starting after the hold"
        );
        Held::Answer(answers::starting(html, retry_after, request_id))
    }

    /// Ask for the wake, once per environment at a time and at most every
    /// [`WAKE_AGAIN_AFTER`] after one that worked; a failed one is asked again by the next request.
    async fn wake(&self, waking: &Waking) -> Result<(), aws::CloudError> {
        let mut last = waking.last.lock().await;
        if let Some((at, true)) = *last
            && at.elapsed() < WAKE_AGAIN_AFTER
        {
            return Ok(());
        }
        let result = waking.waker.wake(waking.config.size).await;
        *last = Some((std::time::Instant::now(), result.is_ok()));
        match result? {
            Woken::Woke => {
                tracing::info!(size = waking.config.size, "group woken from zero");
                self.metrics.wake();
            }
            Woken::Awake { desired } => tracing::debug!(desired, "group already waking"),
        }
        Ok(())
    }

    /// No target to pick: 503.
    #[cold]
    #[inline(never)]
    fn no_target(&self, e: &switchyard_algorithms::Error, request_id: &str) -> Response<Bytes> {
        tracing::warn!(request_id, error = %e, "no target");
        self.metrics.no_target();
        answers::no_target(request_id)
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
    // A connection that could not be made is the router's side of the failure (Envoy's
    // local-origin errors): the target stops getting first attempts at once, for a short backoff.
    let outcome = if matches!(failure, Failure::Connect(_)) { Outcome::Refused } else { Outcome::Failure };
    if let Some(ejection) = balancer.record(index, outcome, now) {
        let target = balancer.targets().get(index).map(|t| t.id.to_string()).unwrap_or_default();
        tracing::warn!(target, until_ms = ejection.until.as_millis(), "target ejected");
    }
}

/// The sticky cookie's value from the Cookie header(s). A pair that does not read is skipped,
/// not the header: the other cookies still count.
fn sticky_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
