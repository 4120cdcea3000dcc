//! The router's own answers: small JSON bodies that carry the request id, so that a client's
//! report can be matched with the router's log line.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::proxy::Failure;

/// A JSON error answer: `{"error": code, "message": …, "request_id": …}`.
#[cold]
#[inline(never)]
pub fn error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response<Bytes> {
    let body = serde_json::json!({ "error": code, "message": message, "request_id": request_id });
    json(status, &body)
}

/// A JSON answer.
pub fn json(status: StatusCode, body: &serde_json::Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A 503 that tells the client when to try again.
#[cold]
#[inline(never)]
pub fn unavailable(code: &str, message: &str, retry_after_secs: u32, request_id: &str) -> Response<Bytes> {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, code, message, request_id);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// No target to pick.
#[cold]
#[inline(never)]
pub fn no_target(request_id: &str) -> Response<Bytes> {
    error(StatusCode::SERVICE_UNAVAILABLE, "no_healthy_target", "no target can serve this request", request_id)
}

/// Every attempt failed (`last`, the last failure), or none could be made.
#[cold]
#[inline(never)]
pub fn unserved(last: Option<&Failure>, request_id: &str) -> Response<Bytes> {
    match last {
        Some(Failure::Timeout | Failure::AttemptTimeout) => {
            error(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "the target did not answer in time", request_id)
        }
        Some(_) => error(StatusCode::BAD_GATEWAY, "upstream_failed", "no target could serve this request", request_id),
        None => no_target(request_id),
    }
}

/// The request body is larger than allowed.
#[cold]
#[inline(never)]
pub fn too_large(request_id: &str) -> Response<Bytes> {
    error(StatusCode::PAYLOAD_TOO_LARGE, "request_too_large", "the request body is larger than allowed", request_id)
}

/// The event is not a request the router can serve.
#[cold]
#[inline(never)]
pub fn bad_event(problem: &str, request_id: &str) -> Response<Bytes> {
    error(StatusCode::BAD_REQUEST, "bad_event", problem, request_id)
}

/// The group behind the router is starting (woken from zero): 503 with Retry-After, as a small
/// page for a browser (`Accept: text/html`) and as JSON otherwise.
#[cold]
#[inline(never)]
pub fn starting(accepts_html: bool, retry_after_secs: u32, request_id: &str) -> Response<Bytes> {
    if !accepts_html {
        return unavailable(
            "service_starting",
            "the service is starting after being idle: try again in a few seconds",
            retry_after_secs,
            request_id,
        );
    }
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"{retry_after_secs}\">\
         <title>Starting</title></head><body><h1>Starting</h1><p>The service is starting after being idle. This page \
         reloads in {retry_after_secs} seconds.</p><p><small>Request {}</small></p></body></html>",
        html_escape(request_id)
    );
    let mut response = Response::new(Bytes::from(page));
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

fn html_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// A routing document's fixed response: its status, content type and body, as written.
pub fn fixed(status: u16, content_type: Option<&str>, body: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::copy_from_slice(body.as_bytes()));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(value) = content_type.and_then(|c| http::HeaderValue::from_str(c).ok()) {
        response.headers_mut().insert(http::header::CONTENT_TYPE, value);
    }
    response
}

/// A routing document's redirect (301 or 302) to `location`.
pub fn redirect(status: u16, location: &str) -> Response<Bytes> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FOUND);
    if let Ok(value) = http::HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}
