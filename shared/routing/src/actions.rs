//! What a rule does once it matches: ALB's routing actions
//! ([action types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html)),
//! plus `enqueue`, Switchyard's jobs route.

use crate::error::RedirectError;
use crate::request::{Protocol, RequestView};
use crate::routes::TargetGroupId;
use crate::weighted::WeightedForward;

/// A compiled action. Every group it names exists in the [`crate::Routes`] it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Proxy to a target of this group.
    Forward(TargetGroupId),
    /// Proxy to a target of one of several groups, chosen by weight (and group stickiness).
    WeightedForward(WeightedForward),
    /// Answer without a target.
    FixedResponse(FixedResponse),
    /// Answer 301/302 with a Location built from the request's URL.
    Redirect(Redirect),
    /// Store the request on a queue; answer 202 once it is stored.
    Enqueue(Enqueue),
}

/// A fixed answer: status 2XX, 4XX or 5XX, an optional content type from ALB's list, and a body
/// of at most 1024 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedResponse {
    pub(crate) status_code: u16,
    pub(crate) content_type: Option<ContentType>,
    pub(crate) body: String,
}

impl FixedResponse {
    pub fn status_code(&self) -> u16 {
        self.status_code
    }

    /// `None` when the document gives none; the router picks its own (e.g. `text/plain`).
    pub fn content_type(&self) -> Option<ContentType> {
        self.content_type
    }

    /// Empty when the document gives none.
    pub fn body(&self) -> &str {
        &self.body
    }
}

/// The content types ALB allows in a fixed response (`FixedResponseActionConfig.ContentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    TextPlain,
    TextCss,
    TextHtml,
    ApplicationJavascript,
    ApplicationJson,
}

impl ContentType {
    pub const ALL: [ContentType; 5] = [
        ContentType::TextPlain,
        ContentType::TextCss,
        ContentType::TextHtml,
        ContentType::ApplicationJavascript,
        ContentType::ApplicationJson,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::TextPlain => "text/plain",
            ContentType::TextCss => "text/css",
            ContentType::TextHtml => "text/html",
            ContentType::ApplicationJavascript => "application/javascript",
            ContentType::ApplicationJson => "application/json",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A redirect: each component of the target URL is a template over the request's own
/// (`protocol://host:port/path?query`).
///
/// Invariants (ALB's, checked at compile time): at least one of protocol, host, port and path
/// differs from "keep the request's", so a redirect never sends a client back to where it was;
/// each component uses only the reserved keys ALB allows in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub(crate) status_code: u16,
    pub(crate) protocol: RedirectProtocol,
    pub(crate) host: Template,
    pub(crate) port: RedirectPort,
    pub(crate) path: Template,
    pub(crate) query: Template,
}

/// The target URL's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectProtocol {
    Keep,
    To(Protocol),
}

/// The target URL's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectPort {
    Keep,
    To(u16),
}

/// Literal text and ALB's reserved keys `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (the
/// request's path without its leading `/`) and `#{query}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(pub(crate) Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece {
    Text(Box<str>),
    Protocol,
    Host,
    Port,
    Path,
    Query,
}

impl Template {
    fn render(&self, out: &mut String, request: &RequestView<'_>) {
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Protocol => out.push_str(request.protocol.scheme()),
                Piece::Host => out.push_str(request.host),
                Piece::Port => out.push_str(&request.port.to_string()),
                Piece::Path => out.push_str(request.path.strip_prefix('/').unwrap_or(request.path)),
                Piece::Query => out.push_str(request.query),
            }
        }
    }
}

impl Redirect {
    /// 301 (permanent) or 302 (temporary).
    pub fn status_code(&self) -> u16 {
        self.status_code
    }

    /// The Location for `request`: `scheme://host[:port]/path[?query]`, the port written only
    /// when it is not the scheme's default and the `?` only before a non-empty query. Components
    /// are not percent-encoded (ALB: "This component is not percent-encoded").
    ///
    /// ```
    /// use switchyard_routing::{Action, Protocol, RequestView, Routes};
    ///
    /// let routes = Routes::from_json(r##"{
    ///     "target_groups": {},
    ///     "default_action": { "type": "redirect", "status_code": 301,
    ///                         "host": "www.#{host}", "path": "/new/#{path}" }
    /// }"##).unwrap();
    /// let Action::Redirect(redirect) = routes.default_action() else { unreachable!() };
    /// let mut request = RequestView::new("GET", "example.com", "/old/page");
    /// request.query = "a=1";
    /// assert_eq!(redirect.location(&request).unwrap(), "https://www.example.com/new/old/page?a=1");
    /// request.port = 8443;
    /// assert_eq!(redirect.location(&request).unwrap(), "https://www.example.com:8443/new/old/page?a=1");
    /// ```
    pub fn location(&self, request: &RequestView<'_>) -> Result<String, RedirectError> {
        let protocol = match self.protocol {
            RedirectProtocol::Keep => request.protocol,
            RedirectProtocol::To(Protocol::Http) if request.protocol == Protocol::Https => {
                return Err(RedirectError::HttpsToHttp);
            }
            RedirectProtocol::To(p) => p,
        };
        let port = match self.port {
            RedirectPort::Keep => request.port,
            RedirectPort::To(p) => p,
        };
        let mut url = String::with_capacity(64 + request.host.len() + request.path.len() + request.query.len());
        url.push_str(protocol.scheme());
        url.push_str("://");
        self.host.render(&mut url, request);
        if port != protocol.default_port() {
            url.push(':');
            url.push_str(&port.to_string());
        }
        self.path.render(&mut url, request);
        let before_query = url.len();
        url.push('?');
        self.query.render(&mut url, request);
        if url.len() == before_query + 1 {
            url.truncate(before_query);
        }
        Ok(url)
    }
}

/// Where an `enqueue` action stores requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub(crate) queue: QueueRef,
}

impl Enqueue {
    pub fn queue(&self) -> &QueueRef {
        &self.queue
    }
}

/// An SQS queue, by URL or by name (which the router resolves with `GetQueueUrl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRef {
    Url(String),
    Name(String),
}

impl QueueRef {
    /// FIFO queues' names end in `.fifo`; their messages need a group id.
    pub fn is_fifo(&self) -> bool {
        match self {
            QueueRef::Url(s) | QueueRef::Name(s) => s.ends_with(".fifo"),
        }
    }
}
