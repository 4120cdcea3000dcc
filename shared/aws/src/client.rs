//! One signed call with the SDKs' standard retry behaviour, over a pooled HTTPS client.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{Config, Service};
use crate::sigv4::{self, Scope, Signable};
use crate::time::AmzDate;

/// Attempts per call, the first included (the SDKs' standard mode).
pub const MAX_ATTEMPTS: u32 = 3;
/// The SDKs' default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);
/// One attempt, from connect to the last byte of the answer. The SDK sets none, which lets a hung
/// connection hold a request until the Lambda times out; no answer of these four takes this long.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a DescribeInstances page of 1 000 instances is well below it).
const MAX_ANSWER: usize = 32 << 20;
/// The standard mode's retry quota: a retry spends 5 (10 after a timeout), a success gives 1 back.
/// When it is spent, failures are returned at once instead of adding load to a struggling service.
const RETRY_QUOTA: usize = 500;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// Why a call failed, after its retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {kind}")]
pub struct Error {
    pub operation: &'static str,
    pub kind: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ErrorKind {
    /// The service answered with an error.
    #[error("{code} (HTTP {status}): {message}")]
    Service { status: u16, code: String, message: String },
    /// No answer: connect, TLS or I/O failure.
    #[error("no answer: {0}")]
    Transport(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An answer this crate cannot read.
    #[error("unreadable answer: {0}")]
    Answer(String),
    /// A request the service would refuse, so it was not sent.
    #[error("not sent: {0}")]
    Request(String),
    /// No trusted root certificates could be loaded.
    #[error("TLS set-up: {0}")]
    Tls(String),
}

impl ErrorKind {
    /// Whether the standard retry mode tries again: no answer, a 5xx, or throttling.
    pub fn is_retryable(&self) -> bool {
        match self {
            ErrorKind::Transport(_) | ErrorKind::Timeout(_) => true,
            ErrorKind::Service { status, code, .. } => {
                matches!(status, 500 | 502 | 503 | 504 | 429) || RETRYABLE_CODES.contains(&code.as_str())
            }
            ErrorKind::Answer(_) | ErrorKind::Request(_) | ErrorKind::Tls(_) => false,
        }
    }
}

impl From<crate::xml::XmlError> for ErrorKind {
    fn from(e: crate::xml::XmlError) -> Self {
        ErrorKind::Answer(e.to_string())
    }
}

/// The token to ask for the next page with: `None` when the answer gave none, or handed back the
/// token it was asked with (a service doing that would otherwise keep a paginator going forever).
fn next_token(asked: Option<&str>, next: Option<String>) -> Option<String> {
    next.filter(|next| Some(next.as_str()) != asked)
}

/// Throttling and transient error codes the SDKs retry whatever the status.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "InternalError",
    "ServiceUnavailable",
];

/// How long to wait before attempt `attempt + 1` (1-based `attempt`): full jitter over an
/// exponential ceiling (1 s, 2 s, … at most 20 s), `random` in `[0, 1)`.
pub fn backoff(attempt: u32, random: f64) -> Duration {
    let ceiling = Duration::from_secs(1u64 << attempt.saturating_sub(1).min(5)).min(Duration::from_secs(20));
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

/// A request body and how to present it; the services' modules make these.
#[derive(Debug)]
pub(crate) struct Call {
    pub service: Service,
    pub operation: &'static str,
    pub content_type: &'static str,
    /// `X-Amz-Target` (JSON protocol).
    pub target: Option<&'static str>,
    pub body: Bytes,
}

/// A client for the four calls. Cheap to clone: clones share the connection pool and retry quota.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    roots: Roots,
    /// Built on the first call: loading the system's root certificates takes milliseconds that a
    /// cold start which never calls AWS (static targets) should not pay.
    http: OnceLock<Result<HttpClient<Https, Full<Bytes>>, String>>,
    retry_quota: AtomicUsize,
    calls: AtomicU64,
    random: std::collections::hash_map::RandomState,
}

#[derive(Debug)]
enum Roots {
    Native,
    Custom(Arc<rustls::RootCertStore>),
}

impl Client {
    /// A client trusting the system's root certificates.
    pub fn new(config: Config) -> Self {
        Self::with_roots(config, Roots::Native)
    }

    /// A client trusting only `roots` (a private CA; tests).
    pub fn with_root_certificates(config: Config, roots: rustls::RootCertStore) -> Self {
        Self::with_roots(config, Roots::Custom(Arc::new(roots)))
    }

    fn with_roots(config: Config, roots: Roots) -> Self {
        Client {
            inner: Arc::new(Inner {
                config,
                roots,
                http: OnceLock::new(),
                retry_quota: AtomicUsize::new(RETRY_QUOTA),
                calls: AtomicU64::new(0),
                random: std::collections::hash_map::RandomState::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Send `call` and read its answer with `read`; an answer `read` cannot use is an error of the
    /// call's operation, as a failed call is.
    /// Every page of a paginated call: `request` makes the call for a page's token (none for the
    /// first), `read` reads a page's items and the next token, `page` takes each page's items. Stops
    /// when there is no next token, or the service hands back the token it was asked with.
    pub(crate) async fn for_each_page<T>(
        &self,
        request: impl Fn(Option<&str>) -> Call,
        read: impl Fn(&[u8]) -> Result<(Vec<T>, Option<String>), ErrorKind>,
        mut page: impl FnMut(Vec<T>),
    ) -> Result<(), Error> {
        let mut token: Option<String> = None;
        loop {
            let (items, next) = self.call(&request(token.as_deref()), &read).await?;
            page(items);
            match next_token(token.as_deref(), next) {
                Some(next) => token = Some(next),
                None => return Ok(()),
            }
        }
    }

    pub(crate) async fn call<T>(
        &self,
        call: &Call,
        read: impl FnOnce(&[u8]) -> Result<T, ErrorKind>,
    ) -> Result<T, Error> {
        let body = self.send(call).await?;
        read(&body).map_err(|kind| Error { operation: call.operation, kind })
    }

    /// Send `call`, retrying as the SDKs' standard mode does; the answer's body on a 2xx.
    async fn send(&self, call: &Call) -> Result<Bytes, Error> {
        let inner = &*self.inner;
        let error = |kind| Error { operation: call.operation, kind };
        let http = inner
            .http
            .get_or_init(|| inner.roots.http_client())
            .as_ref()
            .map_err(|e| error(ErrorKind::Tls(e.clone())))?;
        let mut attempt = 1;
        loop {
            let result = match tokio::time::timeout(ATTEMPT_TIMEOUT, self.attempt(http, call)).await {
                Ok(result) => result,
                Err(_) => Err(ErrorKind::Timeout(ATTEMPT_TIMEOUT)),
            };
            let kind = match result {
                Ok(body) => {
                    let _ = inner
                        .retry_quota
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| (q < RETRY_QUOTA).then_some(q + 1));
                    return Ok(body);
                }
                Err(kind) => kind,
            };
            let cost = if matches!(kind, ErrorKind::Timeout(_)) { 10 } else { 5 };
            let may_retry = attempt < MAX_ATTEMPTS
                && kind.is_retryable()
                && inner
                    .retry_quota
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| q.checked_sub(cost))
                    .is_ok();
            if !may_retry {
                return Err(error(kind));
            }
            let random = inner.random.hash_one(inner.calls.fetch_add(1, Ordering::Relaxed)) as f64 / u64::MAX as f64;
            let wait = backoff(attempt, random);
            tracing::debug!(operation = call.operation, attempt, error = %kind, wait_ms = wait.as_millis() as u64, "retrying");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, http: &HttpClient<Https, Full<Bytes>>, call: &Call) -> Result<Bytes, ErrorKind> {
        let config = &self.inner.config;
        let endpoint = config.endpoint(call.service);
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let date = AmzDate::from_unix_secs(now);
        let credentials = config.credentials();
        let mut signed: Vec<(&str, &str)> =
            vec![("content-type", call.content_type), ("host", &endpoint.host), ("x-amz-date", date.as_str())];
        if let Some(token) = credentials.session_token() {
            signed.push(("x-amz-security-token", token));
        }
        if let Some(target) = call.target {
            signed.push(("x-amz-target", target));
        }
        let authorization = sigv4::authorization(
            &Signable { method: "POST", path: endpoint.path(), query: "", headers: &signed, payload: &call.body },
            credentials,
            Scope { region: config.region(), service: call.service.signing_name() },
            &date,
        );
        let mut request = Request::builder().method(Method::POST).uri(endpoint.uri.clone());
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let request = request
            .header(header::AUTHORIZATION, authorization)
            .header(header::CONTENT_LENGTH, HeaderValue::from(call.body.len()))
            .body(Full::new(call.body.clone()))
            .map_err(|e| ErrorKind::Answer(format!("request not built: {e}")))?;
        let response = http.request(request).await.map_err(|e| ErrorKind::Transport(chain(&e)))?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| ErrorKind::Transport(format!("reading the answer: {e}")))?
            .to_bytes();
        if parts.status.is_success() { Ok(body) } else { Err(service_error(parts.status, &parts.headers, &body)) }
    }
}

impl Roots {
    fn http_client(&self) -> Result<HttpClient<Https, Full<Bytes>>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match self {
            Roots::Native => builder
                .with_provider_and_native_roots(provider)
                .map_err(|e| format!("system root certificates: {e}"))?,
            Roots::Custom(roots) => builder.with_tls_config(
                rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| e.to_string())?
                    .with_root_certificates(Arc::clone(roots))
                    .with_no_client_auth(),
            ),
        };
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.set_nodelay(true);
        let https = builder.https_or_http().enable_http1().wrap_connector(tcp);
        Ok(HttpClient::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(50)).build(https))
    }
}

/// An error answer in either protocol: XML (`<Error><Code>…`, query and EC2) or JSON (`__type`,
/// or the `x-amzn-ErrorType` header).
fn service_error(status: StatusCode, headers: &http::HeaderMap, body: &[u8]) -> ErrorKind {
    let text = String::from_utf8_lossy(body);
    let (mut code, mut message) = (None, None);
    if text.trim_start().starts_with('<') {
        if let Ok(root) = crate::xml::parse(&text) {
            let error = root.find("Error");
            code = error.and_then(|e| e.text_of("Code")).map(str::to_owned);
            message = error.and_then(|e| e.text_of("Message")).map(str::to_owned);
        }
    } else if let Ok(serde_json::Value::Object(json)) = serde_json::from_slice::<serde_json::Value>(body) {
        let field =
            |names: &[&str]| names.iter().find_map(|n| json.get(*n).and_then(|v| v.as_str())).map(str::to_owned);
        code = field(&["__type", "code", "Code"]);
        message = field(&["message", "Message", "errorMessage"]);
    }
    let code = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(code)
        .map(|c| short_code(&c).to_owned())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("Unknown").replace(' ', ""));
    let message = message.unwrap_or_else(|| text.chars().take(200).collect());
    ErrorKind::Service { status: status.as_u16(), code, message }
}

/// `aws.protocoltests#FooError:http://…` → `FooError`.
fn short_code(code: &str) -> &str {
    let code = code.split(':').next().unwrap_or(code);
    code.rsplit('#').next().unwrap_or(code)
}

/// An error and its sources on one line (hyper's own message is only "client error (Connect)").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        assert_eq!(backoff(1, 0.0), Duration::ZERO);
        assert_eq!(backoff(1, 0.5), Duration::from_millis(500));
        assert_eq!(backoff(2, 0.999), Duration::from_secs(2).mul_f64(0.999));
        assert_eq!(backoff(40, 1.0), Duration::from_secs(20), "capped");
        assert_eq!(backoff(3, 7.0), Duration::from_secs(4), "a bad random number is clamped");
    }

    #[test]
    fn error_answers_of_both_protocols_are_read() {
        let none = http::HeaderMap::new();
        let query = br#"<ErrorResponse xmlns="https://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>1</RequestId></ErrorResponse>"#;
        let kind = service_error(StatusCode::BAD_REQUEST, &none, query);
        assert_eq!(
            kind,
            ErrorKind::Service { status: 400, code: "Throttling".into(), message: "Rate exceeded".into() }
        );
        assert!(kind.is_retryable());

        let ec2 = br#"<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>InvalidInstanceID.NotFound</Code><Message>The instance ID 'i-1' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>"#;
        let kind = service_error(StatusCode::BAD_REQUEST, &none, ec2);
        assert!(matches!(&kind, ErrorKind::Service { code, .. } if code == "InvalidInstanceID.NotFound"));
        assert!(!kind.is_retryable());

        let json =
            br#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#;
        let kind = service_error(StatusCode::BAD_REQUEST, &none, json);
        assert_eq!(
            kind,
            ErrorKind::Service {
                status: 400,
                code: "QueueDoesNotExist".into(),
                message: "The specified queue does not exist.".into()
            }
        );

        let mut typed = http::HeaderMap::new();
        typed.insert("x-amzn-errortype", HeaderValue::from_static("InternalFailure:http://internal.amazon.com/"));
        let kind = service_error(StatusCode::INTERNAL_SERVER_ERROR, &typed, b"");
        assert!(matches!(&kind, ErrorKind::Service { code, .. } if code == "InternalFailure"));
        assert!(kind.is_retryable(), "a 500 is retried");

        let kind = service_error(StatusCode::SERVICE_UNAVAILABLE, &none, b"<html>busy");
        assert_eq!(
            kind,
            ErrorKind::Service { status: 503, code: "ServiceUnavailable".into(), message: "<html>busy".into() }
        );
    }
}
