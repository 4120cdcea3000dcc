//! Switchyard's router: finds a request's action in the routing document (ALB's listener rules,
//! `switchyard_routing`), then picks a target of the chosen group with
//! `switchyard_algorithms::Balancer` and proxies to it, falling through to the next candidate when
//! one fails; or stores the request as a job on a queue; or answers it itself (fixed response,
//! redirect).
//!
//! What happens to one request is in this file ([`Router::serve`]); the parts it calls are apart:
//! - [`table`]: the compiled document and a fleet per target group, swapped whole when the
//!   document changes;
//! - [`targets`]: a group's current balancer, discovered at start and refreshed in the background;
//! - [`jobs`]: storing a request on a queue, with answers that never mislead;
//! - [`retry`]: which failed attempts go to another target;
//! - [`proxy`] and [`deadline`]: one attempt over HTTP/1.1 within the request's time;
//! - [`answers`]: the router's own error answers;
//! - [`aws`]: the traits through which it reaches AWS, implemented over the SDK, and [`fakes`].
//!
//! The Lambda handler (`main.rs`) is a thin shell: it passes the event, the time and a random
//! number to [`Router::handle_event`]. Everything here is testable with real loopback backends.

pub mod answers;
pub mod aws;
pub mod checker;
pub mod config;
pub mod deadline;
pub mod emf;
pub mod event;
pub mod fakes;
pub mod jobs;
pub mod proxy;
pub mod retry;
pub mod table;
pub mod targets;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, header};
use switchyard_algorithms::{Balancer, Outcome, RequestContext, Time};
use switchyard_routing::{Action, GroupCookie, HeaderLookup, Protocol, RequestView, Routes};
use tokio::task::JoinHandle;

use crate::aws::{Connect, Discovery, DocumentSource, FleetWaker, JobQueue, LoadSource, SdkConnect, Woken};
use crate::deadline::Deadlines;
use crate::emf::{Attempt, Metrics};
use crate::event::{Format, HttpEvent, Incoming, Reply};
use crate::retry::{Next, RetryPolicy};
use crate::table::{Fleet, Table, Waking};

pub use config::{ConfigError, JobsRoute, LoadMetric, RouterConfig, RoutesSource, TargetSource};
use proxy::{Failure, Upstream};

/// Why the router could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The routing document is invalid or cannot be served: every problem, each naming its place.
    #[error("routing document: {}", .0.join("; "))]
    Routes(Vec<String>),
    /// The document's parameter could not be read at start.
    #[error("routing document: {0}")]
    Document(aws::CloudError),
}

/// Fixed stand-ins for what the router reaches AWS through, for tests: the same discovery, waker
/// and queue for every group and queue a document names (`groups` gives a group its own
/// discovery, by Auto Scaling group name). `None` where a test wires nothing.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    pub discovery: Option<Arc<dyn Discovery>>,
    pub groups: HashMap<String, Arc<dyn Discovery>>,
    pub loads: Option<Arc<dyn LoadSource>>,
    pub queue: Option<Arc<dyn JobQueue>>,
    pub waker: Option<Arc<dyn FleetWaker>>,
    pub document: Option<Arc<dyn DocumentSource>>,
}

impl Connect for Sources {
    fn discovery(&self, group: &str, _port: u16) -> Option<Arc<dyn Discovery>> {
        self.groups.get(group).or(self.discovery.as_ref()).cloned()
    }

    fn waker(&self, _group: &str) -> Option<Arc<dyn FleetWaker>> {
        self.waker.clone()
    }

    fn queue(&self, _url: &str) -> Option<Arc<dyn JobQueue>> {
        self.queue.clone()
    }

    fn loads(&self) -> Option<Arc<dyn LoadSource>> {
        self.loads.clone()
    }

    fn document(&self, _parameter: &str) -> Option<Arc<dyn DocumentSource>> {
        self.document.clone()
    }
}

/// The router: configuration, the routing table, the upstream client.
#[derive(Debug)]
pub struct Router {
    config: RouterConfig,
    /// The current table, swapped whole by the document's refresh (shared with its task).
    table: Arc<RwLock<Arc<Table>>>,
    /// The document's refresh (with a parameter), and its task, aborted when the router is
    /// dropped.
    reload: Option<Arc<Reload>>,
    refresh: Option<JoinHandle<()>>,
    retry: RetryPolicy,
    /// Counts that belong to no group: jobs, fixed responses, redirects, bad events, refused
    /// document versions.
    metrics: Arc<Metrics>,
    upstream: Upstream,
    /// Every request's deadline, in one queue swept by one task (see `deadline`).
    deadlines: Deadlines,
}

/// How long a woken group is left alone before this environment asks again.
const WAKE_AGAIN_AFTER: Duration = Duration::from_secs(10);

/// What the routing document says to do with a request.
enum Decision<'t> {
    /// Forward to this group; for a weighted forward, what to do about the group cookie.
    Group(switchyard_routing::TargetGroupId, Option<GroupCookie>),
    /// Store it on this queue.
    Enqueue(&'t jobs::Jobs),
    /// Answer it without a target (fixed response, redirect).
    Answer(Response<Bytes>),
}

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

/// The system clock, for background work (requests get their time passed in).
pub(crate) fn system_now() -> Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Time::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        .unwrap_or(Time::ZERO)
}

impl Router {
    /// A router over the SDK, with clients from `sdk` (`None` when the configuration needs no
    /// AWS call: static targets, no queue, no load metric, a fixed document).
    pub async fn from_sdk(
        config: RouterConfig,
        sdk: Option<&aws_config::SdkConfig>,
        now: Time,
    ) -> Result<Self, StartError> {
        match sdk {
            Some(sdk) => {
                let connect = SdkConnect::new(sdk, &config);
                Self::new(config, connect, now).await
            }
            None => Self::new(config, Sources::default(), now).await,
        }
    }

    /// A router for `config` over `connect`. The document is read (from its parameter) and
    /// compiled here, and every group's first discovery happens here; a discovery that fails
    /// leaves its group with no target (503s) until the background refresh finds some, rather
    /// than refusing to start. An invalid document, or one that cannot be read, is refused.
    pub async fn new(config: RouterConfig, connect: impl Connect + 'static, now: Time) -> Result<Self, StartError> {
        let connect: Arc<dyn Connect> = Arc::new(connect);
        let (routes, version, source) = match &config.routes {
            RoutesSource::Fixed(routes) => (routes.clone(), None, None),
            RoutesSource::Parameter { name, refresh } => {
                let source = connect.document(name).ok_or_else(|| {
                    StartError::Config(ConfigError::new(
                        "SWITCHYARD_ROUTES_PARAMETER",
                        "reading the parameter needs AWS: no client was given",
                    ))
                })?;
                let document = source.fetch().await.map_err(StartError::Document)?;
                let routes = Routes::from_json(&document.text)
                    .map_err(|errors| StartError::Routes(errors.iter().map(ToString::to_string).collect()))?;
                (routes, Some(document.version), Some((source, *refresh)))
            }
        };
        let table = Table::build(routes, version, None, &config, &*connect, now).await.map_err(StartError::Routes)?;
        let table = Arc::new(RwLock::new(Arc::new(table)));
        let metrics = Arc::new(Metrics::new(config.metrics_namespace.clone(), config.metrics_interval, now));
        let (reload, refresh) = match source {
            None => (None, None),
            Some((source, every)) => {
                let reload = Arc::new(Reload {
                    table: Arc::downgrade(&table),
                    source,
                    config: config.clone(),
                    connect: Arc::clone(&connect),
                    metrics: Arc::clone(&metrics),
                    refused: tokio::sync::Mutex::new(None),
                });
                (Some(Arc::clone(&reload)), Some(tokio::spawn(reload.every(every))))
            }
        };
        Ok(Router {
            retry: RetryPolicy { max_attempts: config.max_attempts },
            upstream: Upstream::new(config.connect_timeout),
            deadlines: Deadlines::default(),
            config,
            table,
            reload,
            refresh,
            metrics,
        })
    }

    /// Open the connections the first requests would otherwise pay for (the queue's; discovery
    /// and the load reports make their first calls at start), within `limit`. A failure is
    /// logged, never fatal: the call is only a head start. It begins [`targets::AFTER_START`] after
    /// it is called; run it in the background, so that it never delays the first request.
    pub async fn warm(&self, limit: Duration) {
        let table = self.table();
        let Some(jobs) = table.queues.values().next() else { return };
        tokio::time::sleep(targets::AFTER_START).await;
        match tokio::time::timeout(limit, jobs.queue.warm()).await {
            Ok(Ok(())) => tracing::debug!("queue client warmed"),
            Ok(Err(e)) => tracing::warn!(error = %e, "warming the queue client failed (the first job will connect)"),
            Err(_) => tracing::warn!(limit_ms = limit.as_millis() as u64, "warming the queue client timed out"),
        }
    }

    /// The current routing table.
    pub fn table(&self) -> Arc<Table> {
        Arc::clone(&self.table.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The balancer over a target group's current target set, by the group's name in the
    /// document (`default` with the one-group settings).
    pub fn balancer_of(&self, group: &str) -> Option<Arc<Balancer>> {
        let table = self.table();
        let id = table.routes.target_group_id(group)?;
        table.fleet(id).map(|f| Arc::clone(&f.targets.routing().balancer))
    }

    /// The balancer of the one-group settings' group (tests).
    pub fn balancer(&self) -> Arc<Balancer> {
        self.balancer_of(config::SETTINGS_GROUP).unwrap_or_else(|| {
            let table = self.table();
            Arc::clone(&table.fleets[0].targets.routing().balancer)
        })
    }

    /// Discover every group's targets now and wait for it (tests; the background tasks do this
    /// every TTL).
    pub async fn refresh_targets(&self, now: Time) {
        let table = self.table();
        futures_util::future::join_all(table.fleets.iter().map(|f| f.targets.rediscover(now))).await;
    }

    /// Read the targets' reported load now and wait for it (tests; the background tasks do this
    /// every refresh period).
    pub async fn refresh_loads(&self, now: Time) {
        let table = self.table();
        futures_util::future::join_all(table.fleets.iter().map(|f| f.targets.reread_loads(now))).await;
    }

    /// Read the routing document's parameter now, and swap in a new table if its version changed
    /// and it serves (tests; the background task does this every refresh period).
    pub async fn refresh_routes(&self) {
        if let Some(reload) = &self.reload {
            reload.once().await;
        }
    }

    /// The EMF lines counted so far, flushed whether or not the interval has ended.
    pub fn flush_metrics(&self, now: Time) -> Vec<serde_json::Value> {
        let table = self.table();
        let mut lines = self.metrics.flush(now, true);
        for fleet in &table.fleets {
            lines.extend(fleet.metrics.flush(now, true));
        }
        lines
    }

    /// Print the EMF lines once an interval has ended (Lambda sends stdout to CloudWatch Logs).
    fn emit_metrics(&self, table: &Table, now: Time) {
        for line in self.metrics.flush(now, false) {
            println!("{line}");
        }
        for fleet in &table.fleets {
            for line in fleet.metrics.flush(now, false) {
                println!("{line}");
            }
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
                self.emit_metrics(&self.table(), now);
                response
            }
        };
        Reply { format, response }
    }

    /// Serve one request at `now`. Never fails: every problem is an HTTP answer carrying the
    /// request id (the Lambda invocation's). Prints the EMF lines once their interval has ended.
    pub async fn handle(&self, request: Incoming, request_id: &str, now: Time, random: u64) -> Response<Bytes> {
        let table = self.table();
        // Awaited in place, not handed to a wrapper: a future passed by value is stored twice in
        // the caller's (once as the argument, once being awaited).
        let response = self.serve(&table, request, request_id, now, random).await;
        self.emit_metrics(&table, now);
        response
    }

    /// One request, start to end: the size check, the rule that matches it, then its action:
    /// a target group (one, or one of several by weight), a queue, or an answer of its own.
    async fn serve(
        &self,
        table: &Table,
        request: Incoming,
        request_id: &str,
        now: Time,
        random: u64,
    ) -> Response<Bytes> {
        if request.body.len() > self.config.max_body_bytes {
            self.metrics.request();
            return answers::too_large(request_id);
        }
        let (group, group_cookie) = match self.decide(table, &request, request_id, now, random) {
            Decision::Group(group, cookie) => (group, cookie),
            Decision::Answer(response) => {
                self.metrics.request();
                return response;
            }
            Decision::Enqueue(jobs) => {
                self.metrics.request();
                let Incoming { headers, body, client_ip, .. } = request;
                let response = jobs.enqueue(&headers, client_ip, body, request_id, random).await;
                self.metrics.job(response.status() == http::StatusCode::ACCEPTED);
                return response;
            }
        };
        let Some(fleet) = table.fleet(group) else {
            self.metrics.request();
            return answers::no_target(request_id);
        };
        fleet.metrics.request();
        let mut response = self.forward(fleet, request, request_id, now, random).await;
        if let Some(GroupCookie::Set { value, max_age_secs }) = group_cookie {
            let cookie = format!(
                "{}={value}; Max-Age={max_age_secs}; Path=/; HttpOnly; Secure; SameSite=Lax",
                self.config.group_cookie_name
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }

    /// What the document says to do with `request`: the first rule that matches it, or the
    /// default action. Synchronous: the request's view (borrowed headers) never lives across an
    /// await.
    fn decide<'t>(
        &self,
        table: &'t Table,
        request: &Incoming,
        request_id: &str,
        now: Time,
        random: u64,
    ) -> Decision<'t> {
        let host = request.headers.get(header::HOST).and_then(|h| h.to_str().ok()).map_or("", host_name);
        let (protocol, port) = forwarded(&request.headers);
        let headers = Headers(&request.headers);
        let view = RequestView {
            method: request.method.as_str(),
            host,
            path: request.path_and_query.path(),
            query: request.path_and_query.query().unwrap_or(""),
            headers: &headers,
            source_ip: request.client_ip,
            protocol,
            port,
        };
        match table.routes.route(&view).action {
            Action::Forward(group) => Decision::Group(*group, None),
            Action::WeightedForward(split) => {
                let choice = match &self.config.group_cookies {
                    Some(cookies) => {
                        let value = cookie_value(&request.headers, &self.config.group_cookie_name);
                        split.choose(value.as_deref(), cookies, random, now.as_millis() / 1000)
                    }
                    None => {
                        switchyard_routing::GroupChoice { group: split.pick(random), cookie: GroupCookie::NotSticky }
                    }
                };
                Decision::Group(choice.group, Some(choice.cookie))
            }
            Action::FixedResponse(fixed) => Decision::Answer(answers::fixed(
                fixed.status_code(),
                fixed.content_type().map(|c| c.as_str()),
                fixed.body(),
            )),
            Action::Redirect(redirect) => Decision::Answer(match redirect.location(&view) {
                Ok(location) => answers::redirect(redirect.status_code(), &location),
                Err(e) => answers::error(http::StatusCode::BAD_REQUEST, "bad_redirect", &e.to_string(), request_id),
            }),
            Action::Enqueue(enqueue) => {
                let key = match enqueue.queue() {
                    switchyard_routing::QueueRef::Url(url) => url.as_str(),
                    switchyard_routing::QueueRef::Name(name) => name.as_str(),
                };
                match table.queues.get(key) {
                    Some(jobs) => Decision::Enqueue(jobs),
                    None => Decision::Answer(answers::no_target(request_id)),
                }
            }
        }
    }

    /// A request for one target group: a pick and up to `max_attempts` attempts on the balancer's
    /// candidates within one deadline; a group at zero is woken first.
    async fn forward(
        &self,
        fleet: &Fleet,
        request: Incoming,
        request_id: &str,
        now: Time,
        random: u64,
    ) -> Response<Bytes> {
        let Incoming { method, path_and_query, headers, body, client_ip } = request;
        // Read before the headers go to the upstream request, and only where a wake may answer.
        let html = fleet.waking.is_some()
            && headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).any(|v| v.contains("text/html"));
        let mut routing = fleet.targets.fresh_routing(now).await;
        let mut now = now;
        // Whether this request has been through a wake: it is woken once at most.
        let mut woken = false;
        if routing.balancer.targets().is_empty()
            && let Some(waking) = &fleet.waking
        {
            woken = true;
            match self.wake_and_hold(fleet, waking, &method, html, request_id, now).await {
                Held::Ready(ready, held) => {
                    routing = ready;
                    now = Time::from_millis(now.as_millis() + held.as_millis() as u64);
                }
                Held::Answer(response) => return response,
            }
        }
        let cookie = match fleet.algorithm {
            switchyard_algorithms::Algorithm::StickyCookie(_) => cookie_value(&headers, &fleet.cookie_name),
            _ => None,
        };
        let context = RequestContext { cookie: cookie.as_deref(), client_ip, hash_key: None, random };
        let deadline = self.deadlines.start(self.config.timeout);
        let mut outgoing = proxy::Outgoing::new(method.clone(), path_and_query, headers, body, client_ip);
        loop {
            let balancer = &*routing.balancer;
            let mut pick = match balancer.pick(&context, now) {
                Ok(pick) => pick,
                Err(e) => return self.no_target(fleet, &e, request_id),
            };
            let mut last_failure = None;
            // Whether every attempt failed to connect: what a group that went to zero since this
            // environment's last discovery looks like.
            let mut only_refused = true;
            // A fleet that may still wake keeps the request whole for after the wake.
            let final_round = woken || fleet.waking.is_none();
            for attempt in 0..self.retry.max_attempts {
                let index = if attempt == 0 {
                    pick.candidates.first()
                } else {
                    balancer.next_candidate(&context, now, &mut pick).ok()
                };
                let Some(index) = index else { break };
                let (Some(target), Some(address)) = (balancer.targets().get(index), routing.addresses.get(index))
                else {
                    break;
                };
                let _in_flight = balancer.begin(index);
                let started = std::time::Instant::now();
                // The last allowed attempt takes the prepared headers instead of copying them.
                let last = final_round && attempt + 1 == self.retry.max_attempts;
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
                fleet.metrics.attempt(
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
                        return finish(fleet, balancer, response, &pick, index, now);
                    }
                    Ok(response) => (Failure::Status(response.status()), Some(response)),
                    Err(failure) => (failure, None),
                };
                only_refused &= matches!(failure, Failure::Connect(_));
                failed(balancer, index, now, request_id, &target.id, attempt, &failure);
                match (self.retry.after(&method, attempt, &failure), response) {
                    (Next::Retry, _) => last_failure = Some(failure),
                    (Next::Answer, Some(response)) => return finish(fleet, balancer, response, &pick, index, now),
                    (Next::Answer | Next::GiveUp, _) => {
                        last_failure = Some(failure);
                        break;
                    }
                }
            }
            // Every target refused: if the group has gone to zero since the last discovery, wake
            // it for this request as if it had found none (once).
            if let (false, true, Some(waking)) = (woken, only_refused && last_failure.is_some(), &fleet.waking) {
                woken = true;
                fleet.targets.rediscover_at_most_every(waking.config.poll, now).await;
                if fleet.targets.routing().balancer.targets().is_empty() {
                    tracing::info!(
                        request_id,
                        group = fleet.group.name(),
                        "every target refused and the group is empty now"
                    );
                    match self.wake_and_hold(fleet, waking, &method, html, request_id, now).await {
                        Held::Ready(ready, held) => {
                            routing = ready;
                            now = Time::from_millis(now.as_millis() + held.as_millis() as u64);
                            continue;
                        }
                        Held::Answer(response) => return response,
                    }
                }
            }
            return answers::unserved(last_failure.as_ref(), request_id);
        }
    }

    /// The group has no target: wake it (from zero), then hold an idempotent request until
    /// targets appear or the hold ends; anything else is told the service is starting. A wake
    /// that AWS refuses is answered at once, never held.
    #[cold]
    #[inline(never)]
    async fn wake_and_hold(
        &self,
        fleet: &Fleet,
        waking: &Waking,
        method: &http::Method,
        html: bool,
        request_id: &str,
        now: Time,
    ) -> Held {
        let retry_after = u32::try_from(waking.config.hold.as_secs().max(5)).unwrap_or(30);
        if let Err(e) = wake(fleet, waking).await {
            tracing::error!(request_id, group = fleet.group.name(), error = %e, "waking the group failed");
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
            fleet.targets.rediscover_at_most_every(waking.config.poll, at).await;
            let routing = fleet.targets.routing();
            if routing.balancer.targets().is_empty() {
                // Asks again only if the last wake left the group at zero.
                if let Err(e) = wake(fleet, waking).await {
                    tracing::warn!(request_id, error = %e, "waking the group again failed");
                }
            } else {
                tracing::info!(request_id, held_ms = held.as_millis() as u64, "group awake: serving the held request");
                fleet.metrics.served_after_wake(held);
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

    /// No target to pick: 503.
    #[cold]
    #[inline(never)]
    fn no_target(&self, fleet: &Fleet, e: &switchyard_algorithms::Error, request_id: &str) -> Response<Bytes> {
        tracing::warn!(request_id, group = fleet.group.name(), error = %e, "no target");
        fleet.metrics.no_target();
        answers::no_target(request_id)
    }
}

/// Ask for the wake, once per environment at a time and at most every [`WAKE_AGAIN_AFTER`] after
/// one that worked; a failed one is asked again by the next request.
async fn wake(fleet: &Fleet, waking: &Waking) -> Result<(), aws::CloudError> {
    let mut last = waking.last.lock().await;
    if let Some((at, true)) = *last
        && at.elapsed() < WAKE_AGAIN_AFTER
    {
        return Ok(());
    }
    let result = waking.waker.wake(waking.config.size).await;
    // Done once the group's desired capacity is above zero; an activity in progress (the scale-in
    // to zero still terminating) leaves it at zero, and the wake is asked again.
    let done = matches!(result, Ok(Woken::Woke) | Ok(Woken::Awake { desired: 1.. }));
    *last = Some((std::time::Instant::now(), done));
    match result? {
        Woken::Woke => {
            tracing::info!(group = fleet.group.name(), size = waking.config.size, "group woken from zero");
            fleet.metrics.wake();
        }
        Woken::Awake { desired } => tracing::debug!(desired, "group already waking"),
    }
    Ok(())
}

/// The upstream response, with a new sticky cookie when the pick needs one.
fn finish(
    fleet: &Fleet,
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
        let max_age = match &fleet.algorithm {
            switchyard_algorithms::Algorithm::StickyCookie(c) => c.lifetime_secs(),
            _ => 0,
        };
        let cookie =
            format!("{}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Lax", fleet.cookie_name);
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The routing document's refresh: reads the parameter every period, and swaps in a new table
/// when its version changed and the new document compiles and can be served. A version that
/// cannot is refused whole: logged with every error, counted (`RoutesRejected`, for an alarm),
/// and the last good table keeps serving. Not asked again until the next version.
#[derive(Debug)]
struct Reload {
    table: Weak<RwLock<Arc<Table>>>,
    source: Arc<dyn DocumentSource>,
    config: RouterConfig,
    connect: Arc<dyn Connect>,
    metrics: Arc<Metrics>,
    /// The last version refused, not compiled again.
    refused: tokio::sync::Mutex<Option<i64>>,
}

impl Reload {
    async fn every(self: Arc<Self>, period: Duration) {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if self.table.strong_count() == 0 {
                return;
            }
            self.once().await;
        }
    }

    async fn once(&self) {
        let Some(table) = self.table.upgrade() else { return };
        // One reload at a time; the last refused version is not compiled again.
        let mut refused = self.refused.lock().await;
        let current = Arc::clone(&table.read().unwrap_or_else(std::sync::PoisonError::into_inner));
        let document = match self.source.fetch().await {
            Ok(d) => d,
            Err(e) => return tracing::warn!(error = %e, "reading the routing document failed: keeping the current one"),
        };
        if Some(document.version) == current.version || Some(document.version) == *refused {
            return;
        }
        let errors = match Routes::from_json(&document.text) {
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
            Ok(routes) => {
                let built = Table::build(
                    routes,
                    Some(document.version),
                    Some(&current),
                    &self.config,
                    &*self.connect,
                    system_now(),
                )
                .await;
                match built {
                    Ok(new) => {
                        tracing::info!(
                            version = document.version,
                            groups = new.fleets.len(),
                            "routing document loaded"
                        );
                        *table.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(new);
                        return;
                    }
                    Err(errors) => errors,
                }
            }
        };
        *refused = Some(document.version);
        self.metrics.routes_rejected();
        tracing::error!(
            version = document.version,
            errors = errors.join("; "),
            "routing document refused: keeping the last good one"
        );
    }
}

/// The Host header's name without its port (`[v6]:port` too).
fn host_name(host: &str) -> &str {
    match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    }
}

/// How the client reached the front door, from `X-Forwarded-Proto` and `X-Forwarded-Port` (API
/// Gateway, Function URLs and ALB set them); HTTPS on 443 when they are absent.
fn forwarded(headers: &HeaderMap) -> (Protocol, u16) {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let protocol = match value("x-forwarded-proto") {
        Some(p) if p.eq_ignore_ascii_case("http") => Protocol::Http,
        _ => Protocol::Https,
    };
    let port = value("x-forwarded-port").and_then(|p| p.parse().ok()).unwrap_or(protocol.default_port());
    (protocol, port)
}

/// The request's headers as the rules look them up.
struct Headers<'a>(&'a HeaderMap);

impl HeaderLookup for Headers<'_> {
    fn any_value(&self, name: &str, matches: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.0.get_all(name).iter().any(|v| matches(v.as_bytes()))
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

/// A cookie's value from the Cookie header(s). A pair that does not read is skipped, not the
/// header: the other cookies still count.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}
