//! Lambda's HTTP events read straight into the router's request, and its answer written back in
//! the format the event came in: API Gateway HTTP API payload 2.0 (which Lambda Function URLs
//! share) and Application Load Balancer target groups, with or without multi-value headers.
//!
//! Why not `lambda_http`: it reads every event twice (once to learn its kind, then into that
//! kind's full type), builds a URI, query maps and an extension map the router never reads, and
//! hands the body over as its own enum. On the bench machine that was 13 µs per request before the
//! handler ran, and 2–3 µs to drop afterwards: more than the router's own work. Here one pass reads
//! only what the router uses, and the headers go straight into the map the upstream request
//! carries.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{Method, Response};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Headers the router adds to a request (Host, X-Forwarded-For/-Proto/-Host, Cookie): room for
/// them is made when the event's headers are read, so the map never grows.
const ADDED_HEADERS: usize = 5;

/// One HTTP event as Lambda delivers it: the fields of either format that the router reads. Any
/// other field is skipped without being stored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpEvent {
    // Payload 2.0: the path and query as the client sent them; cookies apart from the headers.
    #[serde(default)]
    raw_path: Option<String>,
    #[serde(default)]
    raw_query_string: Option<String>,
    #[serde(default)]
    cookies: Option<Vec<String>>,
    // ALB: the query comes as parameters (as received: the ALB does not decode them).
    #[serde(default, deserialize_with = "method")]
    http_method: Option<Method>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    query_string_parameters: Option<Query>,
    #[serde(default)]
    multi_value_query_string_parameters: Option<Query>,
    #[serde(default)]
    multi_value_headers: Option<Headers>,
    // Both.
    #[serde(default)]
    headers: Option<Headers>,
    #[serde(default)]
    request_context: Context,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct Context {
    #[serde(default)]
    http: Option<HttpContext>,
    /// Present only in ALB events.
    #[serde(default)]
    elb: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpContext {
    #[serde(default, deserialize_with = "method")]
    method: Option<Method>,
    #[serde(default, deserialize_with = "address")]
    source_ip: Option<IpAddr>,
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

/// Why an event that parsed as JSON is still not a request the router can serve (a 400).
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "the event names no HTTP method (requestContext.http.method or httpMethod): it is not an API Gateway HTTP API, Function URL or ALB event"
    )]
    NoMethod,
    #[error(
        "the event has neither rawPath (API Gateway HTTP API payload 2.0, Function URL) nor requestContext.elb (ALB): API Gateway REST API (payload 1.0) events are not supported"
    )]
    NoPath,
    #[error("the event's path and query are not a valid request target: {0}")]
    Target(#[from] http::uri::InvalidUri),
    #[error("the event's body is marked base64 but is not base64: {0}")]
    Body(#[from] base64::DecodeError),
}

impl HttpEvent {
    /// Parse one event from its JSON text (what the Lambda runtime does with each invocation).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The format this event's answer must take.
    pub fn format(&self) -> Format {
        if self.request_context.elb.is_some() {
            Format::Alb { multi_value: self.multi_value_headers.is_some() }
        } else {
            Format::HttpApi
        }
    }

    /// The request this event carries.
    pub fn into_request(self) -> Result<Incoming, EventError> {
        let alb = self.request_context.elb.is_some();
        let (context_method, source_ip) =
            self.request_context.http.map(|c| (c.method, c.source_ip)).unwrap_or_default();
        let method = if alb { self.http_method.or(context_method) } else { context_method.or(self.http_method) }
            .ok_or(EventError::NoMethod)?;
        let (path, query) = if alb {
            let query = self.multi_value_query_string_parameters.or(self.query_string_parameters);
            (self.path, query.map(|q| q.0))
        } else {
            // A payload 1.0 event has a `path` too, but served as payload 2.0 it would go to "/".
            (Some(self.raw_path.ok_or(EventError::NoPath)?), self.raw_query_string)
        };
        let mut target = path.filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
        if !target.starts_with('/') {
            target.insert(0, '/');
        }
        if let Some(query) = query.filter(|q| !q.is_empty()) {
            target.push('?');
            target.push_str(&query);
        }
        let path_and_query = PathAndQuery::from_maybe_shared(Bytes::from(target))?;

        let mut headers = match (alb, self.multi_value_headers, self.headers) {
            (true, Some(multi), _) => multi.0,
            (_, _, Some(single)) => single.0,
            _ => HeaderMap::with_capacity(ADDED_HEADERS),
        };
        // Payload 2.0 moves the Cookie header into a list; the target expects the header.
        if let Some(cookies) = self.cookies.filter(|c| !c.is_empty())
            && let Ok(value) = HeaderValue::from_str(&cookies.join("; "))
        {
            headers.insert(header::COOKIE, value);
        }
        let body = match self.body {
            None => Bytes::new(),
            Some(body) if self.is_base64_encoded == Some(true) => Bytes::from(BASE64.decode(body)?),
            Some(body) => Bytes::from(body),
        };
        let client_ip = if alb { alb_client(&headers) } else { source_ip };
        Ok(Incoming { method, path_and_query, headers, body, client_ip })
    }
}

/// An ALB event carries no source address of its own: the ALB appends the address it saw to
/// X-Forwarded-For, after whatever the client sent. Only that last entry is trusted.
fn alb_client(headers: &HeaderMap) -> Option<IpAddr> {
    headers.get_all("x-forwarded-for").iter().next_back()?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

fn method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Method>, D::Error> {
    struct MethodVisitor;
    impl Visitor<'_> for MethodVisitor {
        type Value = Option<Method>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an HTTP method")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Method::from_bytes(v.as_bytes()).map(Some).map_err(|_| E::custom(format!("{v:?} is not an HTTP method")))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(MethodVisitor)
}

/// A source address; one that does not parse is no address (the request is still served).
fn address<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<IpAddr>, D::Error> {
    struct AddressVisitor;
    impl Visitor<'_> for AddressVisitor {
        type Value = Option<IpAddr>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an IP address")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.parse().ok())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    deserializer.deserialize_any(AddressVisitor)
}

/// Headers read straight into a `HeaderMap`, from `{"name": "value"}` or, for ALB multi-value
/// headers, `{"name": ["value", ...]}`. A name or value that HTTP does not allow (a control
/// character, say) is left out rather than failing the request: API Gateway and the ALB have
/// already accepted it from the client, and the target could not be sent it anyway.
#[derive(Debug)]
struct Headers(HeaderMap);

impl<'de> Deserialize<'de> for Headers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = Headers;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to a value or a list of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Headers, A::Error> {
                let mut raw = Raw::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(Name(name)) = map.next_key()? {
                    map.next_value_seed(Values { name: name.as_ref(), raw: &mut raw })?;
                }
                Ok(Headers(raw.into_map()))
            }
        }
        deserializer.deserialize_map(HeadersVisitor)
    }
}

/// Header values as they are read: all their text in one buffer, each with its name and place.
/// One allocation for every value instead of one each; and since the values then share that
/// buffer, copying the headers for a retry counts references instead of allocating.
struct Raw {
    text: Vec<u8>,
    entries: Vec<(HeaderName, usize, usize)>,
}

impl Raw {
    fn with_capacity(headers: usize) -> Self {
        Raw { text: Vec::with_capacity(headers * 32), entries: Vec::with_capacity(headers) }
    }

    fn push(&mut self, name: &HeaderName, value: &str) {
        let start = self.text.len();
        self.text.extend_from_slice(value.as_bytes());
        self.entries.push((name.clone(), start, self.text.len()));
    }

    fn into_map(self) -> HeaderMap {
        let mut headers = HeaderMap::with_capacity(self.entries.len() + ADDED_HEADERS);
        let text = Bytes::from(self.text);
        for (name, start, end) in self.entries {
            if let Ok(value) = HeaderValue::from_maybe_shared(text.slice(start..end)) {
                headers.append(name, value);
            }
        }
        headers
    }
}

/// A header name, lower-cased; `None` when HTTP does not allow it.
struct Name(Option<HeaderName>);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name(HeaderName::from_bytes(v.as_bytes()).ok()))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// One header's value or list of values, kept under `name` (dropped when it has none).
struct Values<'a> {
    name: Option<&'a HeaderName>,
    raw: &'a mut Raw,
}

impl<'de> DeserializeSeed<'de> for Values<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Values<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header value or a list of values")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if let Some(name) = self.name {
            self.raw.push(name, v);
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Values { name: self.name, raw: &mut *self.raw })?.is_some() {}
        Ok(())
    }
}

/// ALB query parameters put back together into a query string, as received (`k=v&k=w`).
#[derive(Debug)]
struct Query(String);

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueryVisitor;
        impl<'de> Visitor<'de> for QueryVisitor {
            type Value = Query;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of query parameters to a value or a list of values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Query, A::Error> {
                let mut query = String::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    for value in map.next_value::<OneOrMany<'de>>()?.0 {
                        if !query.is_empty() {
                            query.push('&');
                        }
                        query.push_str(&key);
                        query.push('=');
                        query.push_str(&value);
                    }
                }
                Ok(Query(query))
            }
        }
        deserializer.deserialize_map(QueryVisitor)
    }
}

/// A parameter's value or list of values.
struct OneOrMany<'de>(Vec<Cow<'de, str>>);

impl<'de> Deserialize<'de> for OneOrMany<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(OneOrMany(vec![Cow::Owned(v.to_owned())]))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(OneOrMany(Vec::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<Cow<'de, str>>()? {
                    values.push(value);
                }
                Ok(OneOrMany(values))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// The router's answer in the format its event came in.
#[derive(Debug)]
pub struct Reply {
    pub format: Format,
    pub response: Response<Bytes>,
}

impl Serialize for Reply {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (status, headers, body) = (self.response.status(), self.response.headers(), self.response.body());
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("statusCode", &status.as_u16())?;
        match self.format {
            Format::HttpApi => {
                // Payload 2.0 joins repeated headers with commas, which Set-Cookie cannot take:
                // its values go in their own list (always present, if empty: some readers of
                // this format, aws_lambda_events among them, require it).
                map.serialize_entry("headers", &Joined { headers, set_cookie: SetCookie::Skip })?;
                map.serialize_entry("cookies", &Listed(headers.get_all(header::SET_COOKIE)))?;
            }
            Format::Alb { multi_value } => {
                let reason = status.canonical_reason().unwrap_or("");
                map.serialize_entry("statusDescription", &format_args!("{} {reason}", status.as_u16()))?;
                if multi_value {
                    map.serialize_entry("multiValueHeaders", &Multi(headers))?;
                } else {
                    // One value per name: of several Set-Cookie headers only the target's first
                    // can go (turn on multi-value headers on the target group to pass them all).
                    map.serialize_entry("headers", &Joined { headers, set_cookie: SetCookie::First })?;
                }
            }
        }
        match text(headers, body) {
            Some(text) => {
                map.serialize_entry("body", text)?;
                map.serialize_entry("isBase64Encoded", &false)?;
            }
            None => {
                map.serialize_entry("body", &BASE64.encode(body))?;
                map.serialize_entry("isBase64Encoded", &true)?;
            }
        }
        map.end()
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

fn value_text(value: &HeaderValue) -> Cow<'_, str> {
    String::from_utf8_lossy(value.as_bytes())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetCookie {
    Skip,
    First,
}

/// `{"name": "value"}`, a repeated header's values joined with ", ".
struct Joined<'a> {
    headers: &'a HeaderMap,
    set_cookie: SetCookie,
}

impl Serialize for Joined<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?; // Set-Cookie may be left out: no length promised
        for name in self.headers.keys() {
            let mut values = self.headers.get_all(name).iter();
            let Some(first) = values.next() else { continue };
            if *name == header::SET_COOKIE {
                if self.set_cookie == SetCookie::First {
                    map.serialize_entry(name.as_str(), &value_text(first))?;
                }
                continue;
            }
            let mut joined = value_text(first);
            for more in values {
                let joined = joined.to_mut();
                joined.push_str(", ");
                joined.push_str(&value_text(more));
            }
            map.serialize_entry(name.as_str(), &joined)?;
        }
        map.end()
    }
}

/// `{"name": ["value", ...]}`.
struct Multi<'a>(&'a HeaderMap);

impl Serialize for Multi<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.keys_len()))?;
        for name in self.0.keys() {
            map.serialize_entry(name.as_str(), &Listed(self.0.get_all(name)))?;
        }
        map.end()
    }
}

/// One header's values as a JSON list.
struct Listed<'a>(http::header::GetAll<'a, HeaderValue>);

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(value_text))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::{Value, json};

    fn request(event: Value) -> Incoming {
        HttpEvent::from_json(&event.to_string()).unwrap().into_request().unwrap()
    }

    fn reply(format: Format, response: Response<Bytes>) -> Value {
        serde_json::to_value(Reply { format, response }).unwrap()
    }

    fn alb(extra: Value) -> Value {
        let mut event = json!({
            "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/t/1"}},
            "httpMethod": "POST", "path": "/cart/items", "isBase64Encoded": false, "body": "{}"
        });
        for (k, v) in extra.as_object().unwrap() {
            event[k] = v.clone();
        }
        event
    }

    #[test]
    fn an_http_api_event_keeps_its_raw_path_query_cookies_and_source_ip() {
        let incoming = request(json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/a%20b/c", "rawQueryString": "x=1&y=%2F",
            "cookies": ["s=1", "t=2"], "headers": {"Accept": "text/html", "x-tenant": "a,b"},
            "requestContext": {"http": {"method": "PUT", "path": "/a b/c", "sourceIp": "203.0.113.7"}, "requestId": "r"},
            "body": "aGVsbG8=", "isBase64Encoded": true
        }));
        assert_eq!(incoming.method, Method::PUT);
        assert_eq!(incoming.path_and_query.as_str(), "/a%20b/c?x=1&y=%2F");
        assert_eq!(incoming.headers["accept"], "text/html", "names are lower-cased");
        assert_eq!(incoming.headers["x-tenant"], "a,b");
        assert_eq!(incoming.headers[header::COOKIE], "s=1; t=2");
        assert_eq!(incoming.body, "hello");
        assert_eq!(incoming.client_ip, Some("203.0.113.7".parse().unwrap()));
    }

    #[test]
    fn an_alb_event_rebuilds_its_query_and_trusts_only_the_address_the_alb_appended() {
        let incoming = request(alb(json!({
            "queryStringParameters": {"q": "a%20b"},
            "headers": {"x-forwarded-for": "6.6.6.6, 192.0.2.44", "host": "alb.example.com"}
        })));
        assert_eq!(incoming.method, Method::POST);
        assert_eq!(incoming.path_and_query.as_str(), "/cart/items?q=a%20b");
        assert_eq!(incoming.client_ip, Some("192.0.2.44".parse().unwrap()));
        assert_eq!(incoming.body, "{}");
    }

    #[test]
    fn alb_multi_value_headers_and_parameters_keep_every_value() {
        let event = alb(json!({
            "multiValueQueryStringParameters": {"tag": ["a", "b"]},
            "multiValueHeaders": {"x-tenant": ["a", "b"], "x-forwarded-for": ["6.6.6.6", "192.0.2.9"]}
        }));
        let event = HttpEvent::from_json(&event.to_string()).unwrap();
        assert_eq!(event.format(), Format::Alb { multi_value: true });
        let incoming = event.into_request().unwrap();
        assert_eq!(incoming.path_and_query.as_str(), "/cart/items?tag=a&tag=b");
        assert_eq!(incoming.headers.get_all("x-tenant").iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(incoming.client_ip, Some("192.0.2.9".parse().unwrap()));
    }

    #[test]
    fn headers_http_forbids_are_left_out_and_a_bad_source_ip_is_none() {
        let incoming = request(json!({
            "rawPath": "/", "headers": {"bad name": "1", "x-ctl": "a\u{1}b", "ok": "fine"},
            "requestContext": {"http": {"method": "GET", "sourceIp": "not-an-ip"}}
        }));
        assert_eq!(incoming.headers.len(), 1);
        assert_eq!(incoming.headers["ok"], "fine");
        assert_eq!(incoming.client_ip, None);
    }

    #[test]
    fn events_that_are_not_requests_are_errors_not_panics() {
        for garbage in ["", "null", "7", "{\"rawPath\": 5}", "{\"httpMethod\": \"GET POST\"}", "{\"headers\": []}"] {
            assert!(HttpEvent::from_json(garbage).is_err(), "{garbage:?}");
        }
        for no_method in ["{}", "{\"rawPath\": \"/\"}"] {
            let request = HttpEvent::from_json(no_method).unwrap().into_request();
            assert!(matches!(request, Err(EventError::NoMethod)), "{no_method}");
        }
        let rest_api = json!({"httpMethod": "GET", "path": "/orders", "resource": "/orders",
            "requestContext": {"identity": {"sourceIp": "203.0.113.7"}}});
        let request = HttpEvent::from_json(&rest_api.to_string()).unwrap().into_request();
        assert!(matches!(request, Err(EventError::NoPath)), "a payload 1.0 event is refused, not sent to /");
        let bad_base64 = HttpEvent::from_json(
            &json!({"rawPath": "/", "body": "%%%", "isBase64Encoded": true,
                "requestContext": {"http": {"method": "POST"}}})
            .to_string(),
        )
        .unwrap()
        .into_request();
        assert!(matches!(bad_base64, Err(EventError::Body(_))));
        let bad_target = HttpEvent::from_json(
            &json!({"rawPath": "/a b", "requestContext": {"http": {"method": "GET"}}}).to_string(),
        )
        .unwrap()
        .into_request();
        assert!(matches!(bad_target, Err(EventError::Target(_))));
    }

    fn response(content_type: &str, body: &'static [u8]) -> Response<Bytes> {
        let mut response = Response::new(Bytes::from_static(body));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        response.headers_mut().append("x-tenant", HeaderValue::from_static("a"));
        response.headers_mut().append("x-tenant", HeaderValue::from_static("b"));
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("app=1; Path=/"));
        response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static("sticky=2; Path=/"));
        response
    }

    #[test]
    fn an_http_api_answer_lists_set_cookies_apart_and_joins_other_repeats() {
        let out = reply(Format::HttpApi, response("text/html; charset=utf-8", b"<p>hi</p>"));
        assert_eq!(out["statusCode"], 200);
        assert_eq!(out["headers"]["x-tenant"], "a, b");
        assert!(out["headers"].get("set-cookie").is_none());
        assert_eq!(out["cookies"], json!(["app=1; Path=/", "sticky=2; Path=/"]));
        assert_eq!(out["body"], "<p>hi</p>");
        assert_eq!(out["isBase64Encoded"], false);
    }

    #[test]
    fn alb_answers_follow_the_target_groups_header_mode() {
        let single = reply(Format::Alb { multi_value: false }, response("application/json", b"{}"));
        assert_eq!(single["statusDescription"], "200 OK");
        assert_eq!(single["headers"]["set-cookie"], "app=1; Path=/", "one value per name: the target's own");
        assert_eq!(single["headers"]["x-tenant"], "a, b");
        let multi = reply(Format::Alb { multi_value: true }, response("application/json", b"{}"));
        assert_eq!(multi["multiValueHeaders"]["set-cookie"], json!(["app=1; Path=/", "sticky=2; Path=/"]));
        assert_eq!(multi["multiValueHeaders"]["x-tenant"], json!(["a", "b"]));
        assert!(multi.get("headers").is_none());
    }

    #[test]
    fn binary_or_undeclared_bodies_go_as_base64() {
        let png = reply(Format::HttpApi, response("image/png", b"\x89PNG"));
        assert_eq!(png["isBase64Encoded"], true);
        assert_eq!(png["body"], BASE64.encode(b"\x89PNG"));
        let bad_utf8 = reply(Format::HttpApi, response("text/plain", b"\xff\xfe"));
        assert_eq!(bad_utf8["isBase64Encoded"], true);
        let empty = reply(Format::HttpApi, Response::new(Bytes::new()));
        assert_eq!((empty["body"].as_str(), empty["isBase64Encoded"].as_bool()), (Some(""), Some(false)));
        assert_eq!(empty["cookies"], json!([]));
    }
}
