//! What the rules see of a request: borrowed views, never copies.

use std::net::IpAddr;

/// The parts of a request that rules match on, borrowed from the caller's request.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// As sent: `GET`, `POST`, `CUSTOM-METHOD` (method conditions are case-sensitive).
    pub method: &'a str,
    /// The Host header's name without its port (`api.example.com`, not `api.example.com:8443`).
    pub host: &'a str,
    /// The URL's path, without the query string, as sent (not percent-decoded).
    pub path: &'a str,
    /// The raw query string, without the leading `?` and not percent-decoded; empty if none.
    pub query: &'a str,
    /// The request's headers.
    pub headers: &'a dyn HeaderLookup,
    /// The address of the peer that connected (not `X-Forwarded-For`); `None` if unknown, in
    /// which case no `source_ip` condition holds.
    pub source_ip: Option<IpAddr>,
    /// How the client reached the front door: what `#{protocol}` keeps in a redirect.
    pub protocol: Protocol,
    /// The port the client reached: what `#{port}` keeps in a redirect.
    pub port: u16,
}

impl<'a> RequestView<'a> {
    /// A request with no query, no headers and no known source address, received on HTTPS port
    /// 443 (what a Lambda function URL or API Gateway serves); set the other fields as needed.
    pub fn new(method: &'a str, host: &'a str, path: &'a str) -> Self {
        RequestView {
            method,
            host,
            path,
            query: "",
            headers: &NO_HEADERS,
            source_ip: None,
            protocol: Protocol::Https,
            port: 443,
        }
    }
}

impl std::fmt::Debug for RequestView<'_> {
    /// Headers and the query string are left out: they carry credentials (signed URLs, tokens).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestView")
            .field("method", &self.method)
            .field("host", &self.host)
            .field("path", &self.path)
            .field("source_ip", &self.source_ip)
            .field("protocol", &self.protocol)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The scheme a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    Https,
}

impl Protocol {
    /// The URL scheme: `http` or `https`.
    pub fn scheme(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    /// The port a URL of this scheme leaves out.
    pub fn default_port(self) -> u16 {
        match self {
            Protocol::Http => 80,
            Protocol::Https => 443,
        }
    }
}

/// A request's headers, looked up by name.
///
/// A lookup rather than an iterator: the router's `http::HeaderMap` finds a name by hash, and a
/// rule asks for one name at a time. The router implements it for a newtype around its map
/// (`self.0.get_all(name).iter().any(|v| matches(v.as_bytes()))`), as here for a plain map:
///
/// ```
/// use std::collections::HashMap;
/// use switchyard_routing::{HeaderLookup, RequestView};
///
/// /// Lowercase names to their values, in request order.
/// struct Headers(HashMap<String, Vec<String>>);
///
/// impl HeaderLookup for Headers {
///     fn any_value(&self, name: &str, matches: &mut dyn FnMut(&[u8]) -> bool) -> bool {
///         self.0.get(name).is_some_and(|values| values.iter().any(|v| matches(v.as_bytes())))
///     }
/// }
///
/// let headers = Headers(HashMap::from([("x-tenant".to_owned(), vec!["gold".to_owned()])]));
/// let mut request = RequestView::new("GET", "example.com", "/");
/// request.headers = &headers;
/// ```
pub trait HeaderLookup {
    /// Calls `matches` with each value of the header `name` (given in lowercase ASCII) in the
    /// order the request carries them, until one returns `true`; returns whether one did. ALB:
    /// "If the same header appears multiple times in the request, we search them in order until
    /// a match is found."
    fn any_value(&self, name: &str, matches: &mut dyn FnMut(&[u8]) -> bool) -> bool;
}

/// A request without headers.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

static NO_HEADERS: NoHeaders = NoHeaders;

impl HeaderLookup for NoHeaders {
    fn any_value(&self, _: &str, _: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        false
    }
}

/// Name/value pairs in request order; names compared without regard to ASCII case.
impl HeaderLookup for [(&str, &str)] {
    fn any_value(&self, name: &str, matches: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.iter().any(|(n, v)| n.eq_ignore_ascii_case(name) && matches(v.as_bytes()))
    }
}

impl<const N: usize> HeaderLookup for [(&str, &str); N] {
    fn any_value(&self, name: &str, matches: &mut dyn FnMut(&[u8]) -> bool) -> bool {
        self.as_slice().any_value(name, matches)
    }
}
