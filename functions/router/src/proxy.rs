//! Forwarding one attempt to one target over HTTP/1.1.
//!
//! The upstream URI is built from the *target's* address and the request's path and query: the
//! client's Host header never chooses where the router connects (it is passed on as
//! X-Forwarded-Host). Hop-by-hop headers (RFC 9110 §7.6.1) are dropped both ways.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::deadline::Deadline;

/// Largest response body passed back: Lambda's own response payload limit.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Why an attempt failed.
#[derive(Debug)]
pub enum Failure {
    /// The connection could not be made: the request never reached the target.
    Connect(String),
    Timeout,
    /// This attempt took longer than the per-attempt timeout (the request's own time is left).
    AttemptTimeout,
    /// The target answered with a server error (kept for the final answer's choice).
    Status(StatusCode),
    Other(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "connect: {e}"),
            Failure::Timeout => f.write_str("timed out"),
            Failure::AttemptTimeout => f.write_str("attempt timed out"),
            Failure::Status(s) => write!(f, "status {s}"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

/// A target's address as a request to it needs it: the URI's authority and the Host header,
/// parsed once per target set instead of once per request.
#[derive(Debug, Clone)]
pub struct Address {
    authority: Authority,
    host: HeaderValue,
}

impl Address {
    pub fn parse(address: &str) -> Result<Self, String> {
        let authority = Authority::try_from(address).map_err(|e| format!("bad target address {address:?}: {e}"))?;
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|e| format!("bad target address {address:?}: {e}"))?;
        Ok(Address { authority, host })
    }
}

/// The client's request as every attempt sends it, prepared once: hop-by-hop headers dropped,
/// X-Forwarded-* set. Only the Host header and the URI's authority change per target.
#[derive(Debug)]
pub struct Outgoing {
    method: Method,
    path_and_query: PathAndQuery,
    headers: HeaderMap,
    body: Bytes,
}

impl Outgoing {
    /// Takes the client's headers by value and edits them in place into the upstream's: they
    /// are copied only for an attempt that may be followed by a retry.
    pub fn new(
        method: Method,
        path_and_query: PathAndQuery,
        headers: HeaderMap,
        body: Bytes,
        client_ip: Option<IpAddr>,
    ) -> Self {
        Outgoing { method, path_and_query, headers: forwarded_headers(headers, client_ip), body }
    }

    /// The request for one attempt at `address`. `last` hands over the headers instead of
    /// copying them, for the attempt after which none follows.
    fn for_target(&mut self, address: &Address, last: bool) -> Result<http::Request<Full<Bytes>>, Failure> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(Scheme::HTTP);
        parts.authority = Some(address.authority.clone());
        parts.path_and_query = Some(self.path_and_query.clone());
        let uri = Uri::from_parts(parts).map_err(|e| Failure::Other(format!("bad URI: {e}")))?;
        let mut headers = if last { std::mem::take(&mut self.headers) } else { self.headers.clone() };
        headers.insert(header::HOST, address.host.clone());
        let mut request = http::Request::new(Full::new(self.body.clone()));
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        Ok(request)
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

    /// One attempt: send `outgoing` to `address`, read the whole answer before `deadline`
    /// (the request's, shared by its attempts).
    /// `last` says no attempt follows this one; `attempt_timeout`, when set, bounds this attempt
    /// alone (the next may go to another target within the request's deadline).
    pub async fn send(
        &self,
        address: &Address,
        outgoing: &mut Outgoing,
        last: bool,
        deadline: &Deadline,
        attempt_timeout: Option<Duration>,
    ) -> Result<Response<Bytes>, Failure> {
        let upstream = outgoing.for_target(address, last)?;
        let exchange = async {
            let response = self.client.request(upstream).await.map_err(not_sent)?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_RESPONSE_BYTES).collect().await.map_err(not_read)?.to_bytes();
            Ok::<_, Failure>((parts, bytes))
        };
        let attempt_over = async {
            match attempt_timeout {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        let (mut parts, bytes) = tokio::select! {
            biased;
            answer = exchange => answer?,
            () = deadline.expired() => return Err(Failure::Timeout),
            () = attempt_over => return Err(Failure::AttemptTimeout),
        };
        strip_hop_only(&mut parts.headers);
        let mut response = Response::new(bytes);
        *response.status_mut() = parts.status;
        *response.headers_mut() = parts.headers;
        Ok(response)
    }
}

/// Why the request did not get an answer. Out of line, like the router's other failure paths.
#[cold]
#[inline(never)]
fn not_sent(e: hyper_util::client::legacy::Error) -> Failure {
    if e.is_connect() { Failure::Connect(e.to_string()) } else { Failure::Other(e.to_string()) }
}

/// Why the answer's body could not be read (or was larger than Lambda can return).
#[cold]
#[inline(never)]
fn not_read(e: Box<dyn std::error::Error + Send + Sync>) -> Failure {
    Failure::Other(format!("reading the response: {e}"))
}

/// What crossing the router does to a header, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Passed on.
    Kept,
    /// Connection: hop-by-hop, and it names more hop-by-hop headers.
    Connection,
    /// The other RFC 9110 §7.6.1 hop-by-hop headers, and Content-Length (each side frames its
    /// own body).
    HopOnly,
    /// Forwarded and X-Forwarded-*: a client's claims about earlier hops, which the router does
    /// not pass on in a request (it states what it saw itself).
    Claim,
}

/// The name's [`Kind`], by its text. A scan of a request's or answer's names with this costs far
/// less than a `HeaderMap` lookup per name the router might drop: every lookup hashes its name
/// (FNV, a byte at a time; ~100 instructions for an `x-forwarded-*` name), where a `match` on the
/// text mostly stops at the length (~30 instructions a name, measured with cachegrind; comparing
/// `HeaderName`s instead took 4 times as many).
fn kind(name: &HeaderName) -> Kind {
    match name.as_str() {
        "connection" => Kind::Connection,
        "keep-alive"
        | "proxy-authenticate"
        | "proxy-authorization"
        | "te"
        | "trailer"
        | "transfer-encoding"
        | "upgrade"
        | "content-length" => Kind::HopOnly,
        "forwarded" => Kind::Claim,
        text if text.starts_with("x-forwarded-") => Kind::Claim,
        _ => Kind::Kept,
    }
}

/// The headers a Connection header names: hop-by-hop too.
fn connection_listed(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|listed| HeaderName::from_bytes(listed.trim().as_bytes()).ok())
        .collect()
}

/// Remove from an answer every header that belongs to one hop: the hop-by-hop headers, those its
/// Connection header lists, and Content-Length. Usually Content-Length is the only one, and one
/// scan of the names finds that out.
fn strip_hop_only(headers: &mut HeaderMap) {
    let mut drop = Vec::new();
    let mut connection = false;
    for name in headers.keys() {
        match kind(name) {
            Kind::Connection => connection = true,
            Kind::HopOnly if name != header::CONTENT_LENGTH => drop.push(name.clone()),
            _ => {}
        }
    }
    if connection {
        drop.push(header::CONNECTION);
        drop.extend(connection_listed(headers));
    }
    headers.remove(header::CONTENT_LENGTH);
    for name in &drop {
        headers.remove(name);
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The X-Forwarded-* headers the router writes itself (or removes): a client's values for them
/// are overwritten, so they need no removal first. By text: comparing with the `HeaderName`
/// constants makes and drops a temporary name per comparison.
fn restated(name: &HeaderName) -> bool {
    matches!(name.as_str(), "x-forwarded-for" | "x-forwarded-proto" | "x-forwarded-host")
}

/// The client's headers as the target should see them, edited in place: the map was made with
/// room for what the router adds (see `event`), so it does not grow. Host holds a placeholder
/// that each attempt overwrites with its target's address.
fn forwarded_headers(mut headers: HeaderMap, client_ip: Option<IpAddr>) -> HeaderMap {
    // One scan finds what must go beyond what the inserts below overwrite (API Gateway's
    // X-Forwarded-Port, a Content-Length, hop-by-hop headers); each is then removed by name.
    let mut drop = Vec::new();
    let (mut connection, mut claimed) = (false, false);
    for name in headers.keys() {
        match kind(name) {
            Kind::Kept => {}
            Kind::Claim if restated(name) => claimed = true,
            Kind::Connection => connection = true,
            Kind::HopOnly | Kind::Claim => drop.push(name.clone()),
        }
    }
    if connection {
        drop.push(header::CONNECTION);
        // What Connection lists goes too, except Host, which becomes X-Forwarded-Host, and the
        // restated claims, which are overwritten anyway.
        drop.extend(connection_listed(&headers).into_iter().filter(|n| n != header::HOST && !restated(n)));
    }
    for name in &drop {
        headers.remove(name);
    }
    let client_host = headers.insert(header::HOST, HeaderValue::from_static(""));
    match client_ip {
        Some(ip) => {
            headers.insert(X_FORWARDED_FOR, ip_value(ip));
        }
        None if claimed => {
            headers.remove(X_FORWARDED_FOR);
        }
        None => {}
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    match client_host {
        Some(host) => {
            headers.insert(X_FORWARDED_HOST, host);
        }
        None if claimed => {
            headers.remove(X_FORWARDED_HOST);
        }
        None => {}
    }
    headers
}

/// An address as a header value. IPv4 is written by hand: `Display` goes through the formatting
/// machinery, which costs about a microsecond per request here.
fn ip_value(ip: IpAddr) -> HeaderValue {
    let IpAddr::V4(v4) = ip else {
        return HeaderValue::from_str(&ip.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""));
    };
    let mut text = [0u8; 15];
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            text[len] = b'.';
            len += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if octet >= 100 {
            0
        } else if octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            text[len] = b'0' + d;
            len += 1;
        }
    }
    HeaderValue::from_bytes(&text[..len]).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9110 §7.6.1's hop-by-hop headers, Connection first.
    const HOP_ONLY: [HeaderName; 8] = [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ];

    #[test]
    fn a_response_loses_its_hop_only_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("X-Upstream-Hop"));
        headers.insert("x-upstream-hop", HeaderValue::from_static("1"));
        headers.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        for name in HOP_ONLY.iter().skip(1) {
            headers.insert(name, HeaderValue::from_static("x"));
        }
        strip_hop_only(&mut headers);
        assert_eq!(headers.keys().collect::<Vec<_>>(), [header::CONTENT_TYPE]);
    }

    #[test]
    fn without_a_connection_header_the_fixed_set_still_goes() {
        let mut headers = HeaderMap::new();
        for name in &HOP_ONLY[1..] {
            headers.append(name, HeaderValue::from_static("x"));
            headers.append(name, HeaderValue::from_static("y"));
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("12"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        headers.append(header::SET_COOKIE, HeaderValue::from_static("b=2"));
        strip_hop_only(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "set-cookie"]);
        assert_eq!(headers.get_all(header::SET_COOKIE).iter().count(), 2, "every value of a kept header stays");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in ["0.0.0.0", "9.10.99.100", "203.0.113.7", "255.255.255.255", "2001:db8::1", "::ffff:10.0.0.1"] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_value(ip).to_str().unwrap(), ip.to_string());
        }
    }

    #[test]
    fn names_are_classified_as_the_rfc_lists_them() {
        for name in &HOP_ONLY[1..] {
            assert_eq!(kind(name), Kind::HopOnly, "{name}");
        }
        assert_eq!(kind(&header::CONNECTION), Kind::Connection);
        assert_eq!(kind(&header::CONTENT_LENGTH), Kind::HopOnly);
        for claim in ["forwarded", "x-forwarded-for", "x-forwarded-port", "x-forwarded-anything"] {
            assert_eq!(kind(&HeaderName::from_static(claim)), Kind::Claim, "{claim}");
        }
        for kept in ["host", "te-x", "x-forwarded", "upgrade-insecure-requests", "content-type", "cookie", "x-trailer"]
        {
            assert_eq!(kind(&HeaderName::from_static(kept)), Kind::Kept, "{kept}");
        }
    }

    fn forwarded(pairs: &[(&'static str, &'static str)], client_ip: Option<IpAddr>) -> HeaderMap {
        let mut incoming = HeaderMap::new();
        for (name, value) in pairs {
            incoming.append(*name, HeaderValue::from_static(value));
        }
        let mut outgoing =
            Outgoing::new(Method::GET, PathAndQuery::from_static("/"), incoming, Bytes::new(), client_ip);
        outgoing.for_target(&Address::parse("10.0.0.5:8080").unwrap(), true).unwrap().headers().clone()
    }

    #[test]
    fn claims_the_router_cannot_restate_are_removed_not_passed_on() {
        // No client address and no Host: the client's X-Forwarded-For and -Host have no
        // replacement, and must still go.
        let out =
            forwarded(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-host", "evil.example"), ("accept", "*/*")], None);
        assert!(out.get("x-forwarded-for").is_none() && out.get("x-forwarded-host").is_none(), "{out:?}");
        assert_eq!(out.get("x-forwarded-proto").unwrap(), "https");
        assert_eq!(out.get("accept").unwrap(), "*/*");
        // Only restated claims present: each is overwritten, every value of it.
        let out = forwarded(
            &[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "7.7.7.7"), ("x-forwarded-proto", "http")],
            Some("203.0.113.9".parse().unwrap()),
        );
        assert_eq!(out.get_all("x-forwarded-for").iter().collect::<Vec<_>>(), ["203.0.113.9"]);
        assert_eq!(out.get_all("x-forwarded-proto").iter().collect::<Vec<_>>(), ["https"]);
        assert!(out.get("x-forwarded-host").is_none());
    }

    #[test]
    fn a_connection_header_cannot_take_away_the_clients_host() {
        let out = forwarded(
            &[("connection", "host, x-drop"), ("host", "api.example.com"), ("x-drop", "1"), ("x-keep", "1")],
            None,
        );
        assert_eq!(out.get("x-forwarded-host").unwrap(), "api.example.com");
        assert_eq!(out.get(header::HOST).unwrap(), "10.0.0.5:8080");
        assert!(out.get("x-drop").is_none() && out.get(header::CONNECTION).is_none());
        assert_eq!(out.get("x-keep").unwrap(), "1");
    }

    #[test]
    fn hop_by_hop_and_client_forwarding_claims_are_dropped() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret-hop"));
        incoming.insert("x-secret-hop", HeaderValue::from_static("1"));
        incoming.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        incoming.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        incoming.insert(header::HOST, HeaderValue::from_static("api.example.com"));
        incoming.insert("accept", HeaderValue::from_static("text/plain"));
        incoming.append("x-tenant", HeaderValue::from_static("a"));
        incoming.append("x-tenant", HeaderValue::from_static("b"));
        incoming.insert(header::FORWARDED, HeaderValue::from_static("for=6.6.6.6"));
        incoming.insert("x-forwarded-port", HeaderValue::from_static("1"));
        incoming.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        let mut outgoing = Outgoing::new(
            Method::GET,
            PathAndQuery::from_static("/a?b=c"),
            incoming,
            Bytes::new(),
            Some("203.0.113.9".parse().unwrap()),
        );
        let request = outgoing.for_target(&Address::parse("10.0.0.5:8080").unwrap(), false).unwrap();
        assert_eq!(request.uri(), "http://10.0.0.5:8080/a?b=c");
        let out = request.headers();
        assert_eq!(out.get("accept").unwrap(), "text/plain");
        assert_eq!(out.get_all("x-tenant").iter().collect::<Vec<_>>(), ["a", "b"], "repeated headers keep every value");
        assert!(
            out.get(header::FORWARDED).is_none()
                && out.get("x-forwarded-port").is_none()
                && out.get(header::CONTENT_LENGTH).is_none()
        );
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
