//! The routing document as written: JSON, read with serde, unknown fields refused.
//!
//! These types are the wire form only: numbers are wide and strings unchecked, so that
//! [`crate::Routes::compile`] can say exactly which value is out of range instead of serde
//! stopping at the first. What the router uses is the compiled [`crate::Routes`].
//!
//! The shape follows ALB's API (`RuleCondition.Field` + values, `Action.Type` + config), in
//! snake_case:
//!
//! ```json
//! {
//!   "target_groups": {
//!     "web":    { "discovery": { "type": "auto_scaling_group", "name": "web-asg", "port": 8080 } },
//!     "canary": { "discovery": { "type": "static", "targets": ["10.0.1.5:8080"] },
//!                 "algorithm": "least_connections" }
//!   },
//!   "rules": [
//!     { "priority": 10,
//!       "conditions": [ { "field": "host_header", "values": ["api.example.com"] },
//!                       { "field": "path_pattern", "values": ["/v1/*"] } ],
//!       "action": { "type": "weighted_forward",
//!                   "target_groups": [ { "name": "web", "weight": 90 }, { "name": "canary", "weight": 10 } ],
//!                   "stickiness": { "duration_secs": 3600 } } },
//!     { "priority": 20,
//!       "conditions": [ { "field": "http_request_method", "values": ["POST"] },
//!                       { "field": "path_pattern", "values": ["/jobs"] } ],
//!       "action": { "type": "enqueue", "queue": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs" } }
//!   ],
//!   "default_action": { "type": "forward", "target_group": "web" }
//! }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A whole routing document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Target groups by name. Names follow ALB's target-group naming.
    pub target_groups: BTreeMap<String, TargetGroupSpec>,
    /// Listener rules, in any order: they are evaluated by ascending priority.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
    /// What happens when no rule matches (ALB's default rule, which has no conditions).
    pub default_action: ActionSpec,
}

/// One target group: where its targets come from and how a target is chosen within it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupSpec {
    pub discovery: DiscoverySpec,
    /// The router's balancing algorithm for this group; `round_robin` when absent.
    #[serde(default)]
    pub algorithm: Algorithm,
    /// Ramp a new target's share up over this many seconds (ALB: 30–900, absent for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_start_secs: Option<u64>,
    /// Passive health (outlier ejection); the router's defaults when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckSpec>,
}

/// Where a group's targets come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DiscoverySpec {
    /// A fixed list of `host:port` addresses.
    Static { targets: Vec<String> },
    /// The InService, Healthy instances of an Auto Scaling group, on `port`.
    AutoScalingGroup { name: String, port: u64 },
}

/// The balancing algorithms the router implements (`switchyard_algorithms::Algorithm`), under
/// the names its `SWITCHYARD_ALGORITHM` setting takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    #[default]
    RoundRobin,
    StickyCookie,
    StickyIp,
    LeastConnections,
    /// Also read as `p2c`; always written as `power_of_two_choices`.
    #[serde(alias = "p2c")]
    PowerOfTwoChoices,
}

impl Algorithm {
    /// The name the router's configuration uses.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::StickyCookie => "sticky_cookie",
            Algorithm::StickyIp => "sticky_ip",
            Algorithm::LeastConnections => "least_connections",
            Algorithm::PowerOfTwoChoices => "power_of_two_choices",
        }
    }
}

/// Passive health settings for a group: Envoy's outlier ejection, as the router applies it
/// (`switchyard_algorithms::OutlierConfig`). Every field is optional; absent ones take the
/// router's defaults (5 failures, 30 s, 300 s, 10 %).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_failures: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejected_percent: Option<u64>,
}

/// A listener rule: when every condition holds, the action is taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// 1..=50000, unique; lower is evaluated first.
    pub priority: u64,
    pub conditions: Vec<ConditionSpec>,
    pub action: ActionSpec,
}

/// A rule condition: ALB's `RuleCondition`, its `Field` as `field`. Several values in one
/// condition are alternatives (OR); several conditions in one rule must all hold (AND).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "field", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConditionSpec {
    /// `host-header`: the Host name, case-insensitive, with `*` and `?`.
    HostHeader { values: Vec<String> },
    /// `path-pattern`: the path (not the query), case-sensitive, with `*` and `?`.
    PathPattern { values: Vec<String> },
    /// `http-request-method`: exact and case-sensitive.
    HttpRequestMethod { values: Vec<String> },
    /// `http-header`: a named header (name case-insensitive) whose value matches, case-insensitive,
    /// with `*` and `?`.
    HttpHeader { name: String, values: Vec<String> },
    /// `query-string`: a key/value pair (or, without a key, any value), case-insensitive, with `*`
    /// and `?`; `\*` and `\?` are literal.
    QueryString { values: Vec<QueryPairSpec> },
    /// `source-ip`: the client address is in one of these CIDR blocks.
    SourceIp { values: Vec<String> },
}

/// One value of a `query_string` condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryPairSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: String,
}

/// What a matching rule does: ALB's `Action`, its `Type` as `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActionSpec {
    /// Send the request to one target group.
    Forward { target_group: String },
    /// Send the request to one of several target groups, in proportion to their weights.
    WeightedForward {
        target_groups: Vec<WeightedGroupSpec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stickiness: Option<StickinessSpec>,
    },
    /// Answer without a target.
    FixedResponse {
        status_code: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content_type: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<String>,
    },
    /// Answer 301 or 302 with a Location built from the request's URL. Absent components are kept.
    Redirect {
        status_code: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        port: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<String>,
    },
    /// Store the request on an SQS queue (URL or name) and answer 202 once it is stored.
    Enqueue { queue: String },
}

/// One group of a weighted forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedGroupSpec {
    pub name: String,
    /// 0..=999; at least one group of the action must weigh more than 0.
    pub weight: u64,
}

/// Group stickiness for a weighted forward (ALB's `TargetGroupStickinessConfig`, enabled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StickinessSpec {
    /// 1..=604800 (7 days).
    pub duration_secs: u64,
}
