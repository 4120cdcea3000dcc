//! Forwarding one attempt to one target over HTTP/1.1.
//!
//! The upstream URI is built from the *target's* address and the request's path and query: the
//! client's Host header never chooses where the router connects (it is passed on as
//! X-Forwarded-Host). Hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, Uri, header};
use lambda_http::{Body, Request, Response};

/// Largest response body passed back: Lambda's own response payload limit.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Why an attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be made: the request never reached the target.
    Connect(String),
    Timeout,
    /// The target answered with a server error (kept for the final answer's choice).
    Status(lambda_http::http::StatusCode),
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Timeout => f.write_str("timed out"),
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

/// The pooled HTTP/1.1 client for targets.
#[derive(Debug, Clone)]
pub struct Upstream {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    pub fn new(connect_timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        Upstream { client: Client::builder(TokioExecutor::new()).build(connector) }
    }

    /// One attempt: send `request` with `body` to `address`, read the whole answer before
    /// `deadline`.
    pub async fn send(
        &self,
        address: &str,
        request: &Request,
        body: Bytes,
        client_ip: Option<IpAddr>,
        deadline: tokio::time::Instant,
    ) -> Result<Response<Body>, Failure> {
        let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri =
            format!("http://{address}{path}").parse().map_err(|e| Failure::Other(format!("bad URI: {e}")))?;
        let mut upstream = lambda_http::http::Request::builder().method(request.method().clone()).uri(uri);
        if let Some(headers) = upstream.headers_mut() {
            *headers = forwarded_headers(request.headers(), client_ip, address);
        }
        let upstream = upstream.body(Full::new(body)).map_err(|e| Failure::Other(e.to_string()))?;

        let exchange = async {
            let response = self.client.request(upstream).await.map_err(|e| {
                if e.is_connect() { Failure::Connect(e.to_string()) } else { Failure::Other(e.to_string()) }
            })?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(|e| Failure::Other(format!("reading the response: {e}")))?
                .to_bytes();
            Ok::<_, Failure>((parts, bytes))
        };
        let (parts, bytes) = tokio::time::timeout_at(deadline, exchange).await.map_err(|_| Failure::Timeout)??;

        let mut response = Response::new(if bytes.is_empty() {
            Body::Empty
        } else {
            match std::str::from_utf8(&bytes) {
                Ok(text) if is_text(&parts.headers) => Body::Text(text.to_owned()),
                _ => Body::Binary(bytes.to_vec()),
            }
        });
        *response.status_mut() = parts.status;
        for (name, value) in parts.headers.iter() {
            if !is_hop_by_hop(name, &parts.headers) {
                response.headers_mut().append(name.clone(), value.clone());
            }
        }
        Ok(response)
    }
}

fn is_text(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.starts_with("text/") || ct.contains("json") || ct.contains("xml") || ct.contains("javascript")
    })
}

/// RFC 9110 §7.6.1 hop-by-hop headers, plus any the Connection header names.
fn is_hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    const HOP_BY_HOP: [&str; 8] = [
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP_BY_HOP.contains(&name.as_str())
        || name == header::HOST
        || name == header::CONTENT_LENGTH
        || headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|listed| listed.trim().eq_ignore_ascii_case(name.as_str()))
}

/// The client's headers as the target should see them.
fn forwarded_headers(incoming: &HeaderMap, client_ip: Option<IpAddr>, address: &str) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(incoming.len() + 3);
    for (name, value) in incoming {
        if !is_hop_by_hop(name, incoming) && !name.as_str().starts_with("x-forwarded-") {
            headers.append(name.clone(), value.clone());
        }
    }
    // The client's own X-Forwarded-* claims are not passed on: the router states what it saw.
    if let Some(ip) = client_ip
        && let Ok(v) = HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", v);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
    if let Some(host) = incoming.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    if let Ok(host) = HeaderValue::from_str(address) {
        headers.insert(header::HOST, host);
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_client_forwarding_claims_are_dropped() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        incoming.insert("x-secret-hop", HeaderValue::from_static("1"));
        incoming.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        incoming.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        incoming.insert(header::HOST, HeaderValue::from_static("api.example.com"));
        incoming.insert("accept", HeaderValue::from_static("text/plain"));
        let out = forwarded_headers(&incoming, Some("203.0.113.9".parse().unwrap()), "10.0.0.5:8080");
        assert_eq!(out.get("accept").unwrap(), "text/plain");
        assert!(
            out.get("x-secret-hop").is_none()
                && out.get("keep-alive").is_none()
                && out.get(header::CONNECTION).is_none()
        );
        assert_eq!(out.get("x-forwarded-for").unwrap(), "203.0.113.9", "not the client's claim");
        assert_eq!(out.get("x-forwarded-host").unwrap(), "api.example.com");
        assert_eq!(out.get(header::HOST).unwrap(), "10.0.0.5:8080", "the client's Host never picks the upstream");
    }
}
