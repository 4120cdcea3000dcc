//! Lambda's HTTP events, read with `aws_lambda_events`, turned into the router's request; and
//! its answer written back in the format the event came in: API Gateway HTTP API payload 2.0
//! (which Lambda Function URLs share) or an Application Load Balancer target group, with or
//! without multi-value headers.
//!
//! Before the typed read, header names and values that HTTP does not allow are dropped (one
//! unreadable header must not cost the whole request), and of a Cookie header only the unreadable
//! pairs are: `aws_lambda_events` refuses the whole event over one such byte, while API Gateway
//! and the ALB pass them on from clients.

use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Response};
use serde_json::Value;
use std::net::IpAddr;

/// One HTTP event as Lambda delivers it.
#[derive(Debug)]
pub enum HttpEvent {
    /// API Gateway HTTP API payload 2.0, or a Lambda Function URL.
    HttpApi(Box<ApiGatewayV2httpRequest>),
    /// An ALB target group's event.
    Alb(Box<AlbTargetGroupRequest>),
}

/// The format an answer must take: the event's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// API Gateway HTTP API payload 2.0, and Lambda Function URLs.
    HttpApi,
    /// An ALB target group; `multi_value` when the group has multi-value headers turned on (its
    /// events then carry `multiValueHeaders`, and it expects them back).
    Alb { multi_value: bool },
}

impl Format {
    /// The format of an event as JSON, read before (and whether or not) the event itself reads,
    /// so that even a 400 goes back in the form its sender expects.
    pub fn of(event: &Value) -> Format {
        if event.pointer("/requestContext/elb").is_some() {
            Format::Alb { multi_value: event.get("multiValueHeaders").is_some_and(|h| !h.is_null()) }
        } else {
            Format::HttpApi
        }
    }
}

/// A request as the router serves it: where it goes (path and query only; the router chooses the
/// host), what it carries, and who sent it.
#[derive(Debug)]
pub struct Incoming {
    pub method: Method,
    pub path_and_query: PathAndQuery,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The client's address as the platform saw it, never a client's own claim.
    pub client_ip: Option<IpAddr>,
}

/// Why an event is not a request the router can serve (a 400 naming the problem).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event is not JSON: {0}")]
    Json(String),
    #[error(
        "the event names no HTTP method in requestContext.http (API Gateway HTTP API payload 2.0, Function URL) and is not an ALB event (requestContext.elb)"
    )]
    NotHttp,
    #[error("API Gateway REST API (payload 1.0) events are not supported: use an HTTP API, a Function URL or an ALB")]
    RestApi,
    #[error("the {format} event does not read: {reason}")]
    Malformed { format: &'static str, reason: String },
    #[error("the event's path and query are not a valid request target: {0}")]
    Target(#[from] http::uri::InvalidUri),
    #[error("the event's body is marked base64 but is not base64: {0}")]
    Body(#[from] base64::DecodeError),
}

impl HttpEvent {
    /// Parse one event from its JSON text.
    pub fn from_json(json: &str) -> Result<Self, EventError> {
        Self::from_value(serde_json::from_str(json).map_err(|e| EventError::Json(e.to_string()))?)
    }

    /// Read one event as the runtime hands it over.
    pub fn from_value(mut event: Value) -> Result<Self, EventError> {
        for field in ["headers", "multiValueHeaders"] {
            if let Some(Value::Object(headers)) = event.get_mut(field) {
                keep_readable_headers(headers);
            }
        }
        if let Some(Value::Array(cookies)) = event.get_mut("cookies") {
            cookies.retain(|c| c.as_str().is_some_and(|c| HeaderValue::from_str(c).is_ok()));
        }
        if event.pointer("/requestContext/elb").is_some() {
            serde_json::from_value(event)
                .map(|e| HttpEvent::Alb(Box::new(e)))
                .map_err(|e| EventError::Malformed { format: "ALB", reason: e.to_string() })
        } else if event.pointer("/requestContext/http").is_some() {
            serde_json::from_value(event)
                .map(|e| HttpEvent::HttpApi(Box::new(e)))
                .map_err(|e| EventError::Malformed { format: "HTTP API", reason: e.to_string() })
        } else if event.get("httpMethod").is_some() && event.get("resource").is_some() {
            Err(EventError::RestApi)
        } else {
            Err(EventError::NotHttp)
        }
    }

    /// The format this event's answer must take.
    pub fn format(&self) -> Format {
        match self {
            HttpEvent::HttpApi(_) => Format::HttpApi,
            HttpEvent::Alb(e) => Format::Alb { multi_value: !e.multi_value_headers.is_empty() },
        }
    }

    /// The request this event carries.
    pub fn into_request(self) -> Result<Incoming, EventError> {
        match self {
            HttpEvent::HttpApi(e) => {
                let e = *e;
                let mut headers = e.headers;
                // Payload 2.0 moves the Cookie header into a list; the target expects the header.
                if let Some(cookies) = e.cookies.filter(|c| !c.is_empty())
                    && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
                {
                    headers.insert(header::COOKIE, value);
                }
                let target = request_target(e.raw_path.as_deref(), e.raw_query_string.unwrap_or_default())?;
                Ok(Incoming {
                    method: e.request_context.http.method,
                    path_and_query: target,
                    headers,
                    body: body(e.body, e.is_base64_encoded)?,
                    client_ip: e.request_context.http.source_ip.and_then(|ip| ip.parse().ok()),
                })
            }
            HttpEvent::Alb(e) => {
                let e = *e;
                let mut headers = if e.multi_value_headers.is_empty() { e.headers } else { e.multi_value_headers };
                join_cookie_headers(&mut headers);
                let query = if e.multi_value_query_string_parameters.is_empty() {
                    e.query_string_parameters
                } else {
                    e.multi_value_query_string_parameters
                };
                // The ALB passes parameters as received (not decoded); they go back together as
                // they came, keys in a fixed order, each key's values in theirs.
                let mut pairs: Vec<(&str, &str)> = query.iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(b.0));
                let query = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
                let target = request_target(e.path.as_deref(), query)?;
                let client_ip = alb_client(&headers);
                Ok(Incoming {
                    method: e.http_method,
                    path_and_query: target,
                    headers,
                    body: body(e.body, e.is_base64_encoded)?,
                    client_ip,
                })
            }
        }
    }
}

/// Drops header names and values HTTP does not allow, and of a Cookie header only the pairs that
/// are unreadable, in place in the event's JSON (`{"name": "value"}` or `{"name": ["value"]}`).
fn keep_readable_headers(headers: &mut serde_json::Map<String, Value>) {
    headers.retain(|name, value| {
        if HeaderName::from_bytes(name.as_bytes()).is_err() {
            return false;
        }
        let cookie = name.eq_ignore_ascii_case("cookie");
        let keep = |text: &mut String| {
            if cookie {
                *text = readable_cookie_pairs(text);
            }
            !text.is_empty() && HeaderValue::from_str(text).is_ok()
        };
        match value {
            Value::String(text) => keep(text),
            Value::Array(values) => {
                values.retain_mut(|v| match v {
                    Value::String(text) => keep(text),
                    _ => false,
                });
                !values.is_empty()
            }
            _ => false,
        }
    });
}

/// The pairs of a Cookie header that a header can carry, joined again with "; ".
fn readable_cookie_pairs(header: &str) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty() && HeaderValue::from_str(pair).is_ok())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Several Cookie headers (an ALB with multi-value headers passes each as sent) become one, as
/// an HTTP/1.1 hop must carry them (RFC 6265 §5.4); a default hyper server refuses several.
fn join_cookie_headers(headers: &mut HeaderMap) {
    if headers.get_all(header::COOKIE).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<&[u8]> = headers.get_all(header::COOKIE).iter().map(HeaderValue::as_bytes).collect();
    if let Ok(value) = HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
        headers.insert(header::COOKIE, value);
    }
}

fn request_target(path: Option<&str>, query: String) -> Result<PathAndQuery, EventError> {
    let mut target = path.filter(|p| !p.is_empty()).unwrap_or("/").to_owned();
    if !target.starts_with('/') {
        target.insert(0, '/');
    }
    if !query.is_empty() {
        target.push('?');
        target.push_str(&query);
    }
    Ok(PathAndQuery::from_maybe_shared(Bytes::from(target))?)
}

fn body(body: Option<String>, base64: bool) -> Result<Bytes, EventError> {
    Ok(match body {
        None => Bytes::new(),
        Some(body) if base64 => Bytes::from(BASE64.decode(body)?),
        Some(body) => Bytes::from(body),
    })
}

/// An ALB event carries no source address of its own: the ALB appends the address it saw to
/// X-Forwarded-For, after whatever the client sent. Only that last entry is trusted.
fn alb_client(headers: &HeaderMap) -> Option<IpAddr> {
    headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

/// The router's answer in the format its event came in.
#[derive(Debug)]
pub struct Reply {
    pub format: Format,
    pub response: Response<Bytes>,
}

/// The answer as Lambda expects it for each format.
#[derive(Debug, serde::Serialize)]
#[serde(untagged)]
pub enum LambdaReply {
    HttpApi(Box<ApiGatewayV2httpResponse>),
    Alb(Box<AlbTargetGroupResponse>),
}

impl serde::Serialize for Reply {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        LambdaReply::from(self).serialize(serializer)
    }
}

impl From<&Reply> for LambdaReply {
    fn from(reply: &Reply) -> Self {
        let (status, headers, body) = (reply.response.status(), reply.response.headers(), reply.response.body());
        let (body, is_base64_encoded) = match text(headers, body) {
            Some(text) => (Body::Text(text.to_owned()), false),
            None => (Body::Binary(body.to_vec()), true),
        };
        match reply.format {
            Format::HttpApi => {
                // Payload 2.0 joins repeated headers with commas, which Set-Cookie cannot take:
                // its values go in their own list.
                let mut answer = ApiGatewayV2httpResponse::default();
                answer.status_code = i64::from(status.as_u16());
                answer.headers = joined(headers, SetCookie::Skip);
                answer.cookies = headers.get_all(header::SET_COOKIE).iter().map(|v| lossy(v).into_owned()).collect();
                answer.body = Some(body);
                answer.is_base64_encoded = is_base64_encoded;
                LambdaReply::HttpApi(Box::new(answer))
            }
            Format::Alb { multi_value } => {
                let mut answer = AlbTargetGroupResponse::default();
                answer.status_code = i64::from(status.as_u16());
                answer.status_description =
                    Some(format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")));
                if multi_value {
                    answer.multi_value_headers = utf8(headers);
                } else {
                    // One value per name: of several Set-Cookie headers only the target's first
                    // can go (turn on multi-value headers on the target group to pass them all).
                    answer.headers = joined(headers, SetCookie::First);
                }
                answer.body = Some(body);
                answer.is_base64_encoded = is_base64_encoded;
                LambdaReply::Alb(Box::new(answer))
            }
        }
    }
}

/// The body as text when it is empty, or declared textual and valid UTF-8; otherwise it is sent as
/// base64.
fn text<'a>(headers: &HeaderMap, body: &'a Bytes) -> Option<&'a str> {
    let textual = body.is_empty()
        || headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
            ct.starts_with("text/") || ct.contains("json") || ct.contains("xml") || ct.contains("javascript")
        });
    if textual { std::str::from_utf8(body).ok() } else { None }
}

fn lossy(value: &HeaderValue) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

/// A value the event's JSON can carry: text, with bytes that are not UTF-8 replaced.
fn utf8_value(value: &HeaderValue) -> HeaderValue {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(_) => value.clone(),
        Err(_) => HeaderValue::from_bytes(lossy(value).as_bytes()).unwrap_or_else(|_| HeaderValue::from_static("")),
    }
}

fn utf8(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        out.append(name.clone(), utf8_value(value));
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetCookie {
    Skip,
    First,
}

/// One value per name, a repeated header's values joined with ", " (the single-value formats
/// keep only one value per name).
fn joined(headers: &HeaderMap, set_cookie: SetCookie) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.keys_len());
    for name in headers.keys() {
        let mut values = headers.get_all(name).iter();
        let Some(first) = values.next() else { continue };
        if *name == header::SET_COOKIE {
            if set_cookie == SetCookie::First {
                out.insert(name.clone(), utf8_value(first));
            }
            continue;
        }
        let mut text = lossy(first).into_owned();
        for more in values {
            text.push_str(", ");
            text.push_str(&lossy(more));
        }
        if let Ok(value) = HeaderValue::from_bytes(text.as_bytes()) {
            out.insert(name.clone(), value);
        }
    }
    out
}
