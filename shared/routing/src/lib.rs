//! Switchyard's routing rules: which action a request gets, the way an AWS Application Load
//! Balancer listener decides it.
//!
//! The router loads a JSON routing [`Document`] once (from SSM Parameter Store), compiles it with
//! [`Routes::from_json`] — which reports *every* problem, each with its place, or none — and
//! then asks [`Routes::route`] for each request's [`Action`]. Nothing here performs I/O, awaits,
//! reads a clock or draws randomness: time (UNIX seconds) and random numbers (a `u64`) are
//! passed in.
//!
//! Semantics are ALB's ([listener rules](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html),
//! [condition types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html),
//! [action types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html)),
//! so that what people know of ALB holds here:
//! - rules are tried by ascending priority (1..=50000, unique); the first whose conditions all
//!   hold decides; if none does, the default action;
//! - values within a condition are alternatives; conditions within a rule must all hold;
//! - host names, header names and values, and query strings compare without regard to case;
//!   paths and methods with regard to it; `*` and `?` are wildcards where ALB has them;
//! - a path pattern sees the path only, never the query string;
//! - `source_ip` sees the connecting address, not `X-Forwarded-For`.
//!
//! ```
//! use switchyard_routing::{Action, RequestView, Routes};
//!
//! let routes = Routes::from_json(r#"{
//!     "target_groups": {
//!         "api": { "discovery": { "type": "auto_scaling_group", "name": "api-asg", "port": 8080 } },
//!         "web": { "discovery": { "type": "static", "targets": ["10.0.0.7:80"] } }
//!     },
//!     "rules": [
//!         { "priority": 10,
//!           "conditions": [ { "field": "host_header", "values": ["api.example.com"] } ],
//!           "action": { "type": "forward", "target_group": "api" } }
//!     ],
//!     "default_action": { "type": "forward", "target_group": "web" }
//! }"#).unwrap();
//!
//! let route = routes.route(&RequestView::new("GET", "API.example.com", "/v1/users"));
//! let Action::Forward(group) = route.action else { unreachable!() };
//! assert_eq!(routes.target_group(*group).name(), "api");
//! assert_eq!(route.priority.map(|p| p.get()), Some(10));
//! ```

//!
//! # In the router
//! - [`RequestView`]: the Host header without its port; the raw path and raw query string (not
//!   percent-decoded: write rule values as clients send them); the connecting address (API
//!   Gateway's `sourceIp`); headers through a [`HeaderLookup`] newtype over `http::HeaderMap`.
//! - A [`TargetGroupId`] indexes the [`Routes`] it came from: when a new document is loaded,
//!   rebuild the per-group balancers in [`Routes::target_groups`] order with it and swap both
//!   together. On a bad document, log every [`RuleError`] and keep the last good routes.
//! - [`WeightedForward::choose`] takes the group cookie's value, a [`GroupCookies`] built once from
//!   a secret of at least 32 bytes (from the environment, never the document), a random `u64` and
//!   the time; on [`GroupCookie::Set`] answer `Set-Cookie` with its Max-Age, `HttpOnly; Secure;
//!   Path=/`. A group's `sticky_cookie` algorithm is the separate target cookie of
//!   `switchyard_algorithms`.

#![deny(rustdoc::broken_intra_doc_links)]

mod actions;
mod cidr;
mod compile;
pub mod document;
mod error;
mod glob;
mod parse;
mod prefilter;
mod request;
mod routes;
mod weighted;

pub use actions::{Action, ContentType, Enqueue, FixedResponse, QueueRef, Redirect};
pub use document::{Algorithm, Document};
pub use error::{CookieError, KeyTooShort, RedirectError, RuleError};
pub use request::{HeaderLookup, NoHeaders, Protocol, RequestView};
pub use routes::{Discovery, PassiveHealth, Priority, Route, Routes, Rule, TargetGroup, TargetGroupId};
pub use weighted::{GroupChoice, GroupCookie, GroupCookieKey, GroupCookies, WeightedForward, WeightedGroup};

impl Routes {
    /// Reads, validates and compiles a routing document. Every error found is returned, each
    /// naming its place; never panics, whatever `json` holds.
    pub fn from_json(json: &str) -> Result<Routes, Vec<RuleError>> {
        let mut errors = parse::Errors::default();
        let parsed = parse::parse(json, &mut errors);
        compile::compile(parsed, errors)
    }

    /// Validates and compiles a document built in code (or read with plain serde).
    pub fn compile(document: &Document) -> Result<Routes, Vec<RuleError>> {
        compile::compile(parse::Parsed::from_document(document), parse::Errors::default())
    }
}
