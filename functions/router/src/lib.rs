//! Switchyard's router: picks a target per request with `switchyard_algorithms::Balancer` and
//! proxies to it, falling through to the next candidate when one fails.
//!
//! The Lambda handler (`main.rs`) is a thin shell: it passes the request, the time and a random
//! number to [`Router::handle`]. Everything here is testable with real loopback backends.

pub mod config;
mod proxy;

use std::net::IpAddr;

use bytes::Bytes;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext as EventContext;
use lambda_http::{Body, Request, RequestExt, Response};
use switchyard_algorithms::{Balancer, BalancerConfig, Outcome, RequestContext, Target, TargetSet, Time};

pub use config::{ConfigError, RouterConfig, TargetSource};
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
    balancer: Balancer,
    upstream: Upstream,
}

impl Router {
    pub fn new(config: RouterConfig) -> Result<Self, StartError> {
        let TargetSource::Static(addresses) = &config.targets;
        let targets = TargetSet::new(addresses.iter().map(|a| Target::new(a, a.clone())).collect())?;
        let balancer = Balancer::new(
            targets,
            BalancerConfig { algorithm: config.algorithm.clone(), ..BalancerConfig::default() },
        )?;
        let upstream = Upstream::new(config.connect_timeout);
        Ok(Router { config, balancer, upstream })
    }

    pub fn balancer(&self) -> &Balancer {
        &self.balancer
    }

    /// Serve one request at `now`. Never fails: every problem is an HTTP answer carrying the
    /// request id.
    pub async fn handle(&self, request: Request, now: Time, random: u64) -> Response<Body> {
        let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let body = match request.body() {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::copy_from_slice(t.as_bytes()),
            Body::Binary(b) => Bytes::copy_from_slice(b),
            _ => Bytes::new(),
        };
        if body.len() > self.config.max_body_bytes {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "the request body is larger than allowed",
                &request_id,
            );
        }
        let client_ip = client_ip(&request);
        let cookie = sticky_cookie(&request, &self.config.cookie_name);
        let context = RequestContext { cookie: cookie.as_deref(), client_ip, hash_key: None, random };
        let mut pick = match self.balancer.pick(&context, now) {
            Ok(pick) => pick,
            Err(e) => {
                tracing::warn!(request_id, error = %e, "no target");
                return error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_healthy_target",
                    "no target can serve this request",
                    &request_id,
                );
            }
        };
        let idempotent = matches!(
            *request.method(),
            Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
        );
        let deadline = tokio::time::Instant::now() + self.config.timeout;
        let mut last_failure = None;
        for attempt in 0..self.config.max_attempts {
            let index = if attempt == 0 {
                pick.candidates.first()
            } else {
                self.balancer.next_candidate(&context, now, &mut pick).ok()
            };
            let Some(index) = index else { break };
            let Some(target) = self.balancer.targets().get(index) else { break };
            let _in_flight = self.balancer.begin(index);
            let result = self.upstream.send(&target.address, &request, body.clone(), client_ip, deadline).await;
            match result {
                Ok(response) if response.status().is_server_error() => {
                    self.record(index, Outcome::Failure, now);
                    tracing::info!(request_id, target = %target.id, status = response.status().as_u16(), attempt, "upstream 5xx");
                    if !idempotent || attempt + 1 == self.config.max_attempts {
                        return self.finish(response, &pick, index, now);
                    }
                    last_failure = Some(Failure::Status(response.status()));
                }
                Ok(response) => {
                    self.record(index, Outcome::Success, now);
                    return self.finish(response, &pick, index, now);
                }
                Err(failure) => {
                    self.record(index, Outcome::Failure, now);
                    tracing::info!(request_id, target = %target.id, error = %failure, attempt, "upstream failed");
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
        match last_failure {
            Some(Failure::Timeout) => {
                error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "the target did not answer in time", &request_id)
            }
            Some(_) => {
                error(StatusCode::BAD_GATEWAY, "upstream_failed", "no target could serve this request", &request_id)
            }
            None => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_healthy_target",
                "no target can serve this request",
                &request_id,
            ),
        }
    }

    fn record(&self, index: usize, outcome: Outcome, now: Time) {
        if let Some(ejection) = self.balancer.record(index, outcome, now) {
            tracing::warn!(target = index, until_ms = ejection.until.as_millis(), "target ejected");
        }
    }

    /// The upstream response, with a new sticky cookie when the pick needs one.
    fn finish(
        &self,
        response: Response<Body>,
        pick: &switchyard_algorithms::Pick,
        served: usize,
        now: Time,
    ) -> Response<Body> {
        let mut response = response;
        if pick.needs_cookie(served)
            && let Some(value) = self.balancer.issue_cookie(served, now)
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

/// The client's address as the platform saw it. Never a client-supplied header, except the one
/// the ALB itself appends last to X-Forwarded-For (ALB events carry no source IP otherwise).
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    match request.request_context_ref()? {
        EventContext::ApiGatewayV2(c) => c.http.source_ip.as_deref()?.parse().ok(),
        EventContext::Alb(_) => request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .next_back()?
            .to_str()
            .ok()?
            .rsplit(',')
            .next()?
            .trim()
            .parse()
            .ok(),
        _ => None,
    }
}

/// The sticky cookie's value, from the Cookie header(s) or API Gateway's `cookies` list.
fn sticky_cookie(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A small JSON error answer carrying the request id.
fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": code, "message": message, "request_id": request_id });
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
