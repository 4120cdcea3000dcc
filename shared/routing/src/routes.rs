//! Compiled routes: the rules sorted by priority, their patterns compiled, matched per request
//! without allocating.
//!
//! ALB's evaluation ([listener rules](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/listener-rules.html)):
//! "Rules are evaluated in priority order, from the lowest value to the highest value. The
//! default rule is evaluated last." A rule applies when all of its conditions hold, and a
//! condition holds when any one of its values matches
//! ([condition types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html):
//! "The condition is satisfied if one of the strings matches … To require that all of the strings
//! are a match, create one condition per match evaluation"). So the first matching rule by
//! priority decides, and nothing else is looked at.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::actions::Action;
use crate::cidr::Cidr;
use crate::document::Algorithm;
use crate::glob::Glob;
use crate::prefilter::{Prefilter, Probe};
use crate::request::RequestView;

/// Compiled, validated routes: built once from a routing document, then asked per request.
#[derive(Debug, Clone)]
pub struct Routes {
    pub(crate) target_groups: Vec<TargetGroup>,
    /// Ascending priority.
    pub(crate) rules: Vec<Rule>,
    /// `filters[i]` is `rules[i]`'s.
    pub(crate) filters: Vec<Prefilter>,
    pub(crate) default_action: Action,
}

/// The outcome of routing one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    pub action: &'a Action,
    /// The matching rule's priority; `None` for the default action.
    pub priority: Option<Priority>,
}

impl Routes {
    pub(crate) fn new(target_groups: Vec<TargetGroup>, mut rules: Vec<Rule>, default_action: Action) -> Self {
        rules.sort_by_key(|r| r.priority);
        let filters = rules.iter().map(Prefilter::of).collect();
        Routes { target_groups, rules, filters, default_action }
    }

    /// The action for `request`: the first rule by ascending priority whose conditions all hold,
    /// else the default action. Allocates nothing. Each rule gets a two-comparison look first
    /// (its literal hosts, its path's literal prefix; see `prefilter.rs`) and a full check only
    /// if that admits it, so the cost is about 1–2 ns per rule dismissed.
    pub fn route(&self, request: &RequestView<'_>) -> Route<'_> {
        let probe = Probe::new(request.host, request.path);
        let matched =
            self.filters.iter().zip(&self.rules).find(|(filter, rule)| filter.admits(&probe) && rule.matches(request));
        match matched {
            Some((_, rule)) => Route { action: &rule.action, priority: Some(rule.priority) },
            None => Route { action: &self.default_action, priority: None },
        }
    }

    /// The target groups, sorted by name; a [`TargetGroupId`] is an index into this slice, so the
    /// router can keep one balancer per group in a `Vec` in the same order.
    pub fn target_groups(&self) -> &[TargetGroup] {
        &self.target_groups
    }

    /// The group an action names. Ids come only from these routes, so the index is in range.
    pub fn target_group(&self, id: TargetGroupId) -> &TargetGroup {
        &self.target_groups[usize::from(id.0)]
    }

    /// The group with this name, if any.
    pub fn target_group_id(&self, name: &str) -> Option<TargetGroupId> {
        self.target_groups.iter().position(|g| g.name == name).and_then(|i| u16::try_from(i).ok()).map(TargetGroupId)
    }

    /// The rules by ascending priority.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn default_action(&self) -> &Action {
        &self.default_action
    }
}

/// A target group's index in [`Routes::target_groups`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetGroupId(pub(crate) u16);

impl TargetGroupId {
    pub fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// A rule's priority: 1..=50000 (ALB's range), unique within a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Priority(pub(crate) u16);

impl Priority {
    pub const MAX: u16 = 50_000;

    pub fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A validated target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroup {
    pub(crate) name: String,
    pub(crate) discovery: Discovery,
    pub(crate) algorithm: Algorithm,
    pub(crate) slow_start: Option<Duration>,
    pub(crate) health: Option<PassiveHealth>,
}

impl TargetGroup {
    /// 1 to 32 characters `[A-Za-z0-9-]`, not starting or ending with `-` (ALB's target-group names).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// 30 s to 900 s when set (ALB's `slow_start.duration_seconds`).
    pub fn slow_start(&self) -> Option<Duration> {
        self.slow_start
    }

    /// `None`: the router's defaults.
    pub fn health(&self) -> Option<&PassiveHealth> {
        self.health.as_ref()
    }
}

/// Where a group's targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovery {
    /// At least one `host:port`, none repeated.
    Static(Vec<String>),
    /// An Auto Scaling group's instances, on a port in 1..=65535.
    AutoScalingGroup { name: String, port: u16 },
}

/// Outlier-ejection settings, validated: 0 < base ≤ max ejection, share ≤ 100 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassiveHealth {
    pub consecutive_failures: NonZeroU32,
    pub base_ejection: Duration,
    pub max_ejection: Duration,
    pub max_ejected_percent: u8,
}

/// A compiled listener rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) priority: Priority,
    /// Cheapest first; all must hold.
    pub(crate) conditions: Vec<Condition>,
    pub(crate) action: Action,
}

impl Rule {
    pub fn priority(&self) -> Priority {
        self.priority
    }

    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Whether every condition holds for `request`.
    #[inline]
    pub fn matches(&self, request: &RequestView<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds(request))
    }
}

/// A compiled condition: its values, any of which may match.
#[derive(Debug, Clone)]
pub(crate) enum Condition {
    /// Exact, case-sensitive.
    Method(Vec<Box<str>>),
    SourceIp(Vec<Cidr>),
    /// Case-insensitive globs.
    Host(Vec<Glob>),
    /// Case-sensitive globs.
    Path(Vec<Glob>),
    /// `name` lowercased; case-insensitive globs.
    Header {
        name: Box<str>,
        values: Vec<Glob>,
    },
    Query(Vec<QueryPair>),
}

/// One value of a query-string condition: a key pattern (any key when absent) and a value pattern.
#[derive(Debug, Clone)]
pub(crate) struct QueryPair {
    pub(crate) key: Option<Glob>,
    pub(crate) value: Glob,
}

impl Condition {
    /// Evaluation order within a rule: the cheap and most selective checks first. The conditions
    /// are ANDed, so the order changes the cost, never the outcome.
    pub(crate) fn cost_rank(&self) -> u8 {
        match self {
            Condition::Method(_) => 0,
            Condition::SourceIp(_) => 1,
            Condition::Host(_) => 2,
            Condition::Path(_) => 3,
            Condition::Header { .. } => 4,
            Condition::Query(_) => 5,
        }
    }

    #[inline]
    fn holds(&self, request: &RequestView<'_>) -> bool {
        match self {
            Condition::Method(methods) => methods.iter().any(|m| **m == *request.method),
            Condition::SourceIp(blocks) => {
                request.source_ip.is_some_and(|ip: IpAddr| blocks.iter().any(|b| b.contains(ip)))
            }
            Condition::Host(hosts) => hosts.iter().any(|g| g.matches(request.host.as_bytes())),
            Condition::Path(paths) => paths.iter().any(|g| g.matches(request.path.as_bytes())),
            Condition::Header { name, values } => {
                request.headers.any_value(name, &mut |value| values.iter().any(|g| g.matches(value)))
            }
            Condition::Query(pairs) => query_holds(pairs, request.query),
        }
    }
}

/// Whether some `key=value` pair of the raw query matches some condition value. A pair without
/// `=` is a key with an empty value; empty pairs (`a=1&&b=2`) are skipped.
fn query_holds(pairs: &[QueryPair], query: &str) -> bool {
    query.split('&').filter(|p| !p.is_empty()).any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        pairs
            .iter()
            .any(|p| p.key.as_ref().is_none_or(|k| k.matches(key.as_bytes())) && p.value.matches(value.as_bytes()))
    })
}
