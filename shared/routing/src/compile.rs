//! Validation and compilation: a document's pieces become [`Routes`], or every error is reported.
//!
//! The limits are ALB's, so a document that works here would be accepted by an ALB listener
//! (and the reverse, for the features both have). Sources:
//! - [Condition types](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html):
//!   at most one each of `host-header`, `http-request-method`, `path-pattern`, `source-ip` per
//!   rule; "up to three match evaluations per condition"; "up to five match evaluations per
//!   rule"; "a limit of five wildcard characters per rule"; "Rules are applied only to visible
//!   ASCII characters; control characters (0x00 to 0x1f and 0x7f) are excluded"; the characters
//!   and 128-character limit of host names and path patterns; a host name has "at least one '.'
//!   character" and "only alphabetical characters after the final '.' character".
//! - API reference: `HttpHeaderConditionConfig` (name ≤ 40 characters, RFC 7230 token, not
//!   `Host`; values ≤ 128), `HttpRequestMethodConditionConfig` (≤ 40 characters, A–Z, `-`, `_`),
//!   `QueryStringConditionConfig` (≤ 128, `\*` and `\?` literal), `SourceIpConditionConfig`
//!   ("The total number of values must be less than, or equal to five"), `RulePriorityPair`
//!   (1..=50000), `TargetGroupTuple`/forward actions (weights 0..=999),
//!   `TargetGroupStickinessConfig` (1..=604800 s), `FixedResponseActionConfig` (status
//!   `^(2|4|5)\d\d$`, five content types, body ≤ 1024), `RedirectActionConfig` (HTTP_301/302,
//!   reserved keys, "You must modify at least one of … protocol, hostname, port, or path"),
//!   `CreateTargetGroup` (names ≤ 32 alphanumerics or hyphens, not at either end).
//! - [Quotas](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-limits.html):
//!   5 target groups per action, 5 condition values and 5 wildcards per rule.
//! - Target group attributes: `slow_start.duration_seconds` 30–900.
//!
//! The quota of 100 rules per load balancer is adjustable at AWS and is not enforced here.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::actions::{
    Action, ContentType, Enqueue, FixedResponse, Piece, QueueRef, Redirect, RedirectPort, RedirectProtocol, Template,
};
use crate::cidr::Cidr;
use crate::document::{ActionSpec, ConditionSpec, DiscoverySpec, HealthCheckSpec, TargetGroupSpec};
use crate::error::RuleError;
use crate::glob::Glob;
use crate::parse::{Errors, Parsed, ParsedRule, Section};
use crate::request::Protocol;
use crate::routes::{
    Condition, Discovery, PassiveHealth, Priority, QueryPair, Routes, Rule, TargetGroup, TargetGroupId,
};
use crate::weighted::WeightedForward;

/// Longest host name, path pattern, header value or query string value (ALB).
pub(crate) const MAX_VALUE_LEN: usize = 128;
/// Values per condition (ALB: "up to three match evaluations per condition").
pub(crate) const MAX_VALUES_PER_CONDITION: usize = 3;
/// Values per `source_ip` condition (`SourceIpConditionConfig`: "less than, or equal to five").
pub(crate) const MAX_SOURCE_IPS: usize = 5;
/// Values per rule, all conditions together (ALB: "up to five match evaluations per rule").
pub(crate) const MAX_VALUES_PER_RULE: usize = 5;
/// `*` and `?` per rule (ALB: "a limit of five wildcard characters per rule").
pub(crate) const MAX_WILDCARDS_PER_RULE: usize = 5;
/// Longest header name or method (ALB: 40).
pub(crate) const MAX_NAME_LEN: usize = 40;
/// Target groups in one forward (ALB quota: 5 per action).
pub(crate) const MAX_GROUPS_PER_ACTION: usize = 5;
/// Heaviest weight (ALB: 0 to 999).
pub(crate) const MAX_WEIGHT: u64 = 999;
/// Longest group stickiness (ALB: 1 to 604800 seconds, 7 days).
pub(crate) const MAX_STICKINESS_SECS: u64 = 604_800;
/// Longest fixed-response body (ALB: 1024; counted here in bytes).
pub(crate) const MAX_BODY_LEN: usize = 1024;

/// Compiles what was parsed; `errors` may already hold the parse errors.
pub(crate) fn compile(parsed: Parsed, mut errors: Errors) -> Result<Routes, Vec<RuleError>> {
    let names: Vec<&str> = parsed.groups.iter().map(|(name, _)| name.as_str()).collect();
    let mut compiler = Compiler { errors: &mut errors, names: &names, section: Section::TargetGroups, index: 0 };
    if names.len() > usize::from(u16::MAX) {
        compiler.error("target_groups", format!("{} target groups; at most {}", names.len(), u16::MAX));
    }
    let mut target_groups = Vec::new();
    for (index, (name, spec)) in parsed.groups.iter().enumerate() {
        compiler.index = index;
        let at = format!("target_groups.{name}");
        compiler.group_name(name, &at);
        if let Some(group) = spec.as_ref().and_then(|spec| compiler.target_group(name, spec, &at)) {
            target_groups.push(group);
        }
    }
    compiler.section = Section::Rules;
    let mut rules = Vec::new();
    let mut seen = BTreeMap::new();
    for parsed_rule in &parsed.rules {
        compiler.index = parsed_rule.index;
        if let Some(p) = parsed_rule.priority
            && let Some(first) = seen.insert(p, parsed_rule.index)
        {
            compiler.error(
                format!("{}: priority", parsed_rule.label),
                format!("{p} is also the priority of rules[{first}]; priorities must be unique"),
            );
        }
        if let Some(rule) = compiler.rule(parsed_rule) {
            rules.push(rule);
        }
    }
    compiler.section = Section::DefaultAction;
    compiler.index = 0;
    let default_action = parsed.default_action.as_ref().and_then(|a| compiler.action(a, "default_action"));
    match default_action {
        Some(default_action) if errors.is_empty() => Ok(Routes::new(target_groups, rules, default_action)),
        _ => Err(errors.into_sorted()),
    }
}

struct Compiler<'a> {
    errors: &'a mut Errors,
    /// Every group name in the document, sorted: a name's position is its [`TargetGroupId`].
    names: &'a [&'a str],
    section: Section,
    index: usize,
}

impl Compiler<'_> {
    fn error(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.errors.push(self.section, self.index, at, message);
    }

    fn check(&mut self, at: impl Into<String>, result: Result<(), String>) -> bool {
        match result {
            Ok(()) => true,
            Err(message) => {
                self.error(at, message);
                false
            }
        }
    }

    fn group_id(&self, name: &str) -> Option<TargetGroupId> {
        self.names.binary_search(&name).ok().and_then(|i| u16::try_from(i).ok()).map(TargetGroupId)
    }

    fn unknown_group(&mut self, at: String, name: &str) {
        let known = if self.names.is_empty() { "none".to_owned() } else { self.names.join(", ") };
        self.error(at, format!("no target group is named {name:?} (target_groups: {known})"));
    }

    // --- target groups ---------------------------------------------------------------------

    fn group_name(&mut self, name: &str, at: &str) {
        let ok = (1..=32).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !ok {
            self.error(
                at,
                format!(
                    "{name:?} is not a target group name: 1 to 32 letters, digits or '-', \
                     not starting or ending with '-' (ALB's names)"
                ),
            );
        }
    }

    fn target_group(&mut self, name: &str, spec: &TargetGroupSpec, at: &str) -> Option<TargetGroup> {
        let discovery = match &spec.discovery {
            DiscoverySpec::Static { targets } => {
                let at = format!("{at}.discovery.targets");
                if targets.is_empty() {
                    self.error(at.clone(), "lists no target");
                }
                let mut ok = !targets.is_empty();
                for (i, target) in targets.iter().enumerate() {
                    ok &= self.check(format!("{at}[{i}]"), address(target));
                    if targets[..i].contains(target) {
                        self.error(format!("{at}[{i}]"), format!("{target:?} is listed twice"));
                        ok = false;
                    }
                }
                ok.then(|| Discovery::Static(targets.clone()))
            }
            DiscoverySpec::AutoScalingGroup { name, port } => {
                // CreateAutoScalingGroup: 1 to 255 characters, no control characters.
                let name_ok = self.check(
                    format!("{at}.discovery.name"),
                    if (1..=255).contains(&name.chars().count()) && !name.chars().any(char::is_control) {
                        Ok(())
                    } else {
                        Err(format!(
                            "{name:?} is not an Auto Scaling group name (1 to 255 characters, no control characters)"
                        ))
                    },
                );
                let port = self.port(*port, &format!("{at}.discovery.port"));
                match (name_ok, port) {
                    (true, Some(port)) => Some(Discovery::AutoScalingGroup { name: name.clone(), port }),
                    _ => None,
                }
            }
        };
        let slow_start = match spec.slow_start_secs {
            None => Some(None),
            Some(secs @ 30..=900) => Some(Some(Duration::from_secs(secs))),
            Some(secs) => {
                self.error(
                    format!("{at}.slow_start_secs"),
                    format!("{secs} is outside 30..=900 (ALB's slow start, in seconds); leave it out for none"),
                );
                None
            }
        };
        let health = match &spec.health_check {
            None => Some(None),
            Some(h) => self.health(h, &format!("{at}.health_check")).map(Some),
        };
        Some(TargetGroup {
            name: name.to_owned(),
            discovery: discovery?,
            algorithm: spec.algorithm,
            slow_start: slow_start?,
            health: health?,
        })
    }

    fn port(&mut self, port: u64, at: &str) -> Option<u16> {
        match u16::try_from(port) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                self.error(at, format!("{port} is not a port (1..=65535)"));
                None
            }
        }
    }

    fn health(&mut self, spec: &HealthCheckSpec, at: &str) -> Option<PassiveHealth> {
        let consecutive_failures = spec.consecutive_failures.unwrap_or(5);
        let base = spec.base_ejection_secs.unwrap_or(30);
        let max = spec.max_ejection_secs.unwrap_or(300.max(base));
        let percent = spec.max_ejected_percent.unwrap_or(10);
        let mut ok = true;
        let failures = u32::try_from(consecutive_failures).ok().and_then(NonZeroU32::new);
        if failures.is_none() {
            self.error(
                format!("{at}.consecutive_failures"),
                format!("{consecutive_failures} is outside 1..={}", u32::MAX),
            );
            ok = false;
        }
        if !(1..=86_400).contains(&base) {
            self.error(format!("{at}.base_ejection_secs"), format!("{base} is outside 1..=86400"));
            ok = false;
        }
        if max < base || max > 86_400 {
            self.error(
                format!("{at}.max_ejection_secs"),
                format!("{max} is outside base_ejection_secs ({base})..=86400"),
            );
            ok = false;
        }
        if percent > 100 {
            self.error(format!("{at}.max_ejected_percent"), format!("{percent} is outside 0..=100"));
            ok = false;
        }
        Some(PassiveHealth {
            consecutive_failures: failures?,
            base_ejection: Duration::from_secs(base),
            max_ejection: Duration::from_secs(max),
            max_ejected_percent: u8::try_from(percent).ok()?,
        })
        .filter(|_| ok)
    }

    // --- rules -----------------------------------------------------------------------------

    fn rule(&mut self, parsed: &ParsedRule) -> Option<Rule> {
        let label = &parsed.label;
        let priority = match parsed.priority {
            Some(p @ 1..=50_000) => u16::try_from(p).ok().map(Priority),
            Some(p) => {
                self.error(
                    format!("{label}: priority"),
                    format!("{p} is outside 1..={} (ALB's rule priorities)", Priority::MAX),
                );
                None
            }
            None => None,
        };
        let mut complete = parsed.conditions.as_ref().is_some_and(|c| c.iter().all(Option::is_some));
        let mut conditions = Vec::new();
        let (mut values, mut wildcards) = (0, 0);
        let mut once: BTreeMap<&'static str, usize> = BTreeMap::new();
        if let Some(specs) = &parsed.conditions {
            if specs.is_empty() {
                self.error(
                    format!("{label}: conditions"),
                    "a rule needs at least one condition (the default action is the rule without conditions)",
                );
            }
            for (j, spec) in specs.iter().enumerate() {
                let Some(spec) = spec else { continue };
                let at = format!("{label}: conditions[{j}]");
                if let Some(field) = single(spec)
                    && let Some(first) = once.insert(field, j)
                {
                    self.error(
                        format!("{at}.field"),
                        format!(
                            "a rule takes one {field} condition and conditions[{first}] is one already; \
                             list the values in one condition (they are ORed)"
                        ),
                    );
                }
                values += count_values(spec);
                match self.condition(spec, &at) {
                    Some((condition, n)) => {
                        wildcards += n;
                        conditions.push(condition);
                    }
                    None => complete = false,
                }
            }
        }
        if values > MAX_VALUES_PER_RULE {
            self.error(
                format!("{label}: conditions"),
                format!("{values} values in all; ALB allows at most {MAX_VALUES_PER_RULE} match evaluations per rule"),
            );
        }
        if wildcards > MAX_WILDCARDS_PER_RULE {
            self.error(
                format!("{label}: conditions"),
                format!("{wildcards} wildcard characters in all; ALB allows at most {MAX_WILDCARDS_PER_RULE} per rule"),
            );
        }
        let action = parsed.action.as_ref().and_then(|a| self.action(a, &format!("{label}: action")));
        conditions.sort_by_key(Condition::cost_rank);
        match (priority, action) {
            (Some(priority), Some(action)) if complete => Some(Rule { priority, conditions, action }),
            _ => None,
        }
    }

    /// The compiled condition and its wildcard count, or `None` after reporting why not.
    fn condition(&mut self, spec: &ConditionSpec, at: &str) -> Option<(Condition, usize)> {
        let limit =
            if matches!(spec, ConditionSpec::SourceIp { .. }) { MAX_SOURCE_IPS } else { MAX_VALUES_PER_CONDITION };
        let n = count_values(spec);
        if n == 0 {
            self.error(format!("{at}.values"), "is empty; a condition needs at least one value");
            return None;
        }
        if n > limit {
            self.error(
                format!("{at}.values"),
                format!("{n} values; ALB allows at most {limit} in one condition (add a second condition to AND them)"),
            );
        }
        let mut ok = n <= limit;
        let mut wildcards = 0;
        let condition = match spec {
            ConditionSpec::HostHeader { values } => {
                Condition::Host(self.globs(at, values, host_pattern, true, &mut ok, &mut wildcards))
            }
            ConditionSpec::PathPattern { values } => {
                Condition::Path(self.globs(at, values, path_pattern, false, &mut ok, &mut wildcards))
            }
            ConditionSpec::HttpHeader { name, values } => {
                ok &= self.check(format!("{at}.name"), header_name(name));
                let values = self.globs(at, values, header_value, true, &mut ok, &mut wildcards);
                Condition::Header { name: name.to_ascii_lowercase().into(), values }
            }
            ConditionSpec::HttpRequestMethod { values } => {
                for (i, v) in values.iter().enumerate() {
                    ok &= self.check(format!("{at}.values[{i}]"), method(v));
                }
                Condition::Method(values.iter().map(|v| v.as_str().into()).collect())
            }
            ConditionSpec::QueryString { values } => {
                let mut pairs = Vec::new();
                for (i, pair) in values.iter().enumerate() {
                    let key = match &pair.key {
                        None => Some(None),
                        Some(k) => self
                            .check(format!("{at}.values[{i}].key"), query_part(k))
                            .then(|| Some(Glob::new(k, true, true))),
                    };
                    let value = self
                        .check(format!("{at}.values[{i}].value"), query_part(&pair.value))
                        .then(|| Glob::new(&pair.value, true, true));
                    match (key, value) {
                        (Some(key), Some(value)) => {
                            wildcards += key.as_ref().map_or(0, Glob::wildcards) + value.wildcards();
                            pairs.push(QueryPair { key, value });
                        }
                        _ => ok = false,
                    }
                }
                Condition::Query(pairs)
            }
            ConditionSpec::SourceIp { values } => {
                let mut blocks = Vec::new();
                for (i, v) in values.iter().enumerate() {
                    match Cidr::parse(v) {
                        Ok(block) => blocks.push(block),
                        Err(message) => {
                            self.error(format!("{at}.values[{i}]"), message);
                            ok = false;
                        }
                    }
                }
                Condition::SourceIp(blocks)
            }
        };
        ok.then_some((condition, wildcards))
    }

    /// Each value checked and compiled to a glob; `ok` cleared if any fails.
    fn globs(
        &mut self,
        at: &str,
        values: &[String],
        check: fn(&str) -> Result<(), String>,
        fold: bool,
        ok: &mut bool,
        wildcards: &mut usize,
    ) -> Vec<Glob> {
        let mut globs = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if self.check(format!("{at}.values[{i}]"), check(v)) {
                let glob = Glob::new(v, fold, false);
                *wildcards += glob.wildcards();
                globs.push(glob);
            } else {
                *ok = false;
            }
        }
        globs
    }

    // --- actions ---------------------------------------------------------------------------

    fn action(&mut self, spec: &ActionSpec, at: &str) -> Option<Action> {
        match spec {
            ActionSpec::Forward { target_group } => match self.group_id(target_group) {
                Some(id) => Some(Action::Forward(id)),
                None => {
                    self.unknown_group(format!("{at}.target_group"), target_group);
                    None
                }
            },
            ActionSpec::WeightedForward { target_groups, stickiness } => {
                let mut ok = true;
                if target_groups.is_empty() || target_groups.len() > MAX_GROUPS_PER_ACTION {
                    self.error(
                        format!("{at}.target_groups"),
                        format!(
                            "lists {} groups; a forward takes 1 to {MAX_GROUPS_PER_ACTION} \
                             (ALB's quota of target groups per action)",
                            target_groups.len()
                        ),
                    );
                    ok = false;
                }
                let mut groups = Vec::new();
                for (i, group) in target_groups.iter().enumerate() {
                    let at = format!("{at}.target_groups[{i}]");
                    let id = self.group_id(&group.name);
                    if id.is_none() {
                        self.unknown_group(format!("{at}.name"), &group.name);
                    }
                    if target_groups[..i].iter().any(|g| g.name == group.name) {
                        self.error(format!("{at}.name"), format!("{:?} is listed twice", group.name));
                        ok = false;
                    }
                    if group.weight > MAX_WEIGHT {
                        self.error(
                            format!("{at}.weight"),
                            format!("{} is outside 0..={MAX_WEIGHT} (ALB's target group weights)", group.weight),
                        );
                    }
                    match (id, u16::try_from(group.weight).ok().filter(|w| u64::from(*w) <= MAX_WEIGHT)) {
                        (Some(id), Some(weight)) => groups.push((id, group.name.as_str().into(), weight)),
                        _ => ok = false,
                    }
                }
                if ok && groups.iter().all(|(_, _, w)| *w == 0) {
                    self.error(
                        format!("{at}.target_groups"),
                        "every weight is 0: at least one group must weigh more, or no request could be forwarded",
                    );
                    ok = false;
                }
                let stickiness_secs = match stickiness {
                    None => None,
                    Some(s) if (1..=MAX_STICKINESS_SECS).contains(&s.duration_secs) => {
                        u32::try_from(s.duration_secs).ok()
                    }
                    Some(s) => {
                        self.error(
                            format!("{at}.stickiness.duration_secs"),
                            format!(
                                "{} is outside 1..={MAX_STICKINESS_SECS} (ALB: 1 second to 7 days)",
                                s.duration_secs
                            ),
                        );
                        ok = false;
                        None
                    }
                };
                ok.then(|| Action::WeightedForward(WeightedForward::new(groups, stickiness_secs)))
            }
            ActionSpec::FixedResponse { status_code, content_type, body } => {
                let mut ok = true;
                if !matches!(status_code, 200..=299 | 400..=599) {
                    self.error(
                        format!("{at}.status_code"),
                        format!("{status_code} is not a 2XX, 4XX or 5XX status (ALB's fixed responses)"),
                    );
                    ok = false;
                }
                let content_type = match content_type.as_deref().map(|c| (c, ContentType::parse(c))) {
                    None => None,
                    Some((_, Some(c))) => Some(c),
                    Some((c, None)) => {
                        let allowed: Vec<&str> = ContentType::ALL.iter().map(|c| c.as_str()).collect();
                        self.error(
                            format!("{at}.content_type"),
                            format!("{c:?} is not one of ALB's fixed-response content types: {}", allowed.join(", ")),
                        );
                        ok = false;
                        None
                    }
                };
                let body = body.clone().unwrap_or_default();
                if body.len() > MAX_BODY_LEN {
                    self.error(
                        format!("{at}.body"),
                        format!("is {} bytes; ALB allows at most {MAX_BODY_LEN}", body.len()),
                    );
                    ok = false;
                }
                let status_code = u16::try_from(*status_code).unwrap_or_default();
                ok.then_some(Action::FixedResponse(FixedResponse { status_code, content_type, body }))
            }
            ActionSpec::Redirect { status_code, protocol, host, port, path, query } => self
                .redirect(*status_code, [protocol, host, port, path, query].map(Option::as_deref), at)
                .map(Action::Redirect),
            ActionSpec::Enqueue { queue } => match queue_ref(queue) {
                Ok(queue) => Some(Action::Enqueue(Enqueue { queue })),
                Err(message) => {
                    self.error(format!("{at}.queue"), message);
                    None
                }
            },
        }
    }

    fn redirect(
        &mut self,
        status_code: u64,
        [protocol, host, port, path, query]: [Option<&str>; 5],
        at: &str,
    ) -> Option<Redirect> {
        let mut ok = true;
        if !matches!(status_code, 301 | 302) {
            self.error(
                format!("{at}.status_code"),
                format!("{status_code} is not 301 or 302 (ALB's HTTP_301, HTTP_302)"),
            );
            ok = false;
        }
        let protocol = match protocol.unwrap_or("#{protocol}") {
            "#{protocol}" => Some(RedirectProtocol::Keep),
            "HTTP" => Some(RedirectProtocol::To(Protocol::Http)),
            "HTTPS" => Some(RedirectProtocol::To(Protocol::Https)),
            other => {
                self.error(format!("{at}.protocol"), format!("{other:?} is not HTTP, HTTPS or #{{protocol}}"));
                None
            }
        };
        let port = match port.unwrap_or("#{port}") {
            "#{port}" => Some(RedirectPort::Keep),
            p => match p.parse::<u16>() {
                Ok(n) if n > 0 && n.to_string() == p => Some(RedirectPort::To(n)),
                _ => {
                    self.error(format!("{at}.port"), format!("{p:?} is not a port (1..=65535) or #{{port}}"));
                    None
                }
            },
        };
        let template =
            |this: &mut Self, field: &str, text: &str, keys: &[Piece], literal: fn(u8) -> bool| match parse_template(
                text, keys, literal,
            ) {
                Ok(t) => Some(t),
                Err(message) => {
                    this.error(format!("{at}.{field}"), message);
                    None
                }
            };
        let host = template(self, "host", host.unwrap_or("#{host}"), &[Piece::Host], |b| {
            b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
        });
        let path =
            template(self, "path", path.unwrap_or("/#{path}"), &[Piece::Host, Piece::Path, Piece::Port], path_byte);
        let query = template(
            self,
            "query",
            query.unwrap_or("#{query}"),
            &[Piece::Protocol, Piece::Host, Piece::Port, Piece::Path, Piece::Query],
            |b| b.is_ascii_graphic() && b != b'#',
        );
        if host.as_ref().is_some_and(|t| t.0.is_empty()) {
            self.error(format!("{at}.host"), "must not be empty");
            ok = false;
        }
        if let Some(p) = &path
            && !matches!(p.0.first(), Some(Piece::Text(t)) if t.starts_with('/'))
        {
            self.error(
                format!("{at}.path"),
                "must be an absolute path, starting with '/' (write /#{path} to keep the request's)",
            );
            ok = false;
        }
        let (protocol, host, port, path, query) = (protocol?, host?, port?, path?, query?);
        let unchanged = protocol == RedirectProtocol::Keep
            && host.0 == [Piece::Host]
            && port == RedirectPort::Keep
            && path.0 == [Piece::Text("/".into()), Piece::Path];
        if unchanged {
            self.error(
                at,
                "changes none of protocol, host, port and path, so it would send the client back where it came \
                 from (ALB refuses such a redirect)",
            );
            ok = false;
        }
        ok.then_some(Redirect {
            status_code: u16::try_from(status_code).unwrap_or_default(),
            protocol,
            host,
            port,
            path,
            query,
        })
    }
}

/// Conditions a rule may hold only once (ALB), by field name.
fn single(spec: &ConditionSpec) -> Option<&'static str> {
    match spec {
        ConditionSpec::HostHeader { .. } => Some("host_header"),
        ConditionSpec::PathPattern { .. } => Some("path_pattern"),
        ConditionSpec::HttpRequestMethod { .. } => Some("http_request_method"),
        ConditionSpec::SourceIp { .. } => Some("source_ip"),
        ConditionSpec::HttpHeader { .. } | ConditionSpec::QueryString { .. } => None,
    }
}

fn count_values(spec: &ConditionSpec) -> usize {
    match spec {
        ConditionSpec::HostHeader { values }
        | ConditionSpec::PathPattern { values }
        | ConditionSpec::HttpRequestMethod { values }
        | ConditionSpec::HttpHeader { values, .. }
        | ConditionSpec::SourceIp { values } => values.len(),
        ConditionSpec::QueryString { values } => values.len(),
    }
}

/// Common checks: not empty, at most `max` bytes, every byte allowed.
fn text(value: &str, max: usize, allowed: fn(u8) -> bool, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > max {
        return Err(format!("{value:?} is {} characters; ALB allows at most {max}", value.len()));
    }
    match value.bytes().find(|b| !allowed(*b)) {
        Some(b) => Err(format!("{value:?} contains {:?}, which {what} cannot", char::from(b))),
        None => Ok(()),
    }
}

/// Visible ASCII: ALB applies rules only to these, excluding control characters (0x00–0x1f, 0x7f).
fn visible(b: u8) -> bool {
    (0x20..0x7f).contains(&b)
}

fn host_pattern(value: &str) -> Result<(), String> {
    text(
        value,
        MAX_VALUE_LEN,
        |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'*' | b'?'),
        "a host name (A–Z, a–z, 0–9, '-', '.', '*', '?')",
    )?;
    match value.rsplit_once('.') {
        None => Err(format!("{value:?} has no '.'; ALB requires at least one")),
        Some((_, top)) if top.is_empty() || !top.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Err(format!("{value:?} ends in {top:?}; ALB allows only letters after the final '.'"))
        }
        Some(_) => Ok(()),
    }
}

fn path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"_-.$/~\"'@:+&".contains(&b)
}

fn path_pattern(value: &str) -> Result<(), String> {
    text(
        value,
        MAX_VALUE_LEN,
        |b| path_byte(b) || b == b'*' || b == b'?',
        "a path pattern (A–Z, a–z, 0–9, _ - . $ / ~ \" ' @ : + &, '*', '?')",
    )
}

fn method(value: &str) -> Result<(), String> {
    text(
        value,
        MAX_NAME_LEN,
        |b| b.is_ascii_uppercase() || b == b'-' || b == b'_',
        "an HTTP method (A–Z, '-', '_'; compared case-sensitively)",
    )
}

/// RFC 7230 `token`.
fn header_name(value: &str) -> Result<(), String> {
    text(
        value,
        MAX_NAME_LEN,
        |b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b),
        "a header name (an RFC 7230 token; no wildcards)",
    )?;
    if value.eq_ignore_ascii_case("host") {
        return Err("the Host header is matched with a host_header condition, not http_header (ALB)".into());
    }
    Ok(())
}

fn header_value(value: &str) -> Result<(), String> {
    text(value, MAX_VALUE_LEN, visible, "a rule value (visible ASCII only)")
}

fn query_part(value: &str) -> Result<(), String> {
    text(value, MAX_VALUE_LEN, visible, "a rule value (visible ASCII only)")
}

/// A static target: `host:port`, the host a name or an IP address (IPv6 in brackets).
fn address(target: &str) -> Result<(), String> {
    let (host, port) = target.rsplit_once(':').ok_or_else(|| format!("{target:?} is not host:port"))?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && p.to_string() == port => {}
        _ => return Err(format!("{target:?} has no valid port (1..=65535)")),
    }
    let ipv6 = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host_ok = match ipv6 {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        }
    };
    if host_ok { Ok(()) } else { Err(format!("{target:?}: {host:?} is not a host name or IP address")) }
}

/// An SQS queue URL (`https://sqs.<region>.amazonaws.com/<account>/<name>`, or a LocalStack
/// `http://` one) or a queue name: 1 to 80 letters, digits, `-` or `_`, FIFO names ending in
/// `.fifo` (CreateQueue).
fn queue_ref(queue: &str) -> Result<QueueRef, String> {
    let name_ok = |name: &str| {
        let base = name.strip_suffix(".fifo").unwrap_or(name);
        (1..=80).contains(&name.len())
            && !base.is_empty()
            && base.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if let Some(rest) = queue.strip_prefix("https://").or_else(|| queue.strip_prefix("http://")) {
        let name = rest.rsplit('/').next().unwrap_or("");
        let host_ok = rest.split('/').next().is_some_and(|h| !h.is_empty());
        if host_ok && rest.contains('/') && rest.bytes().all(|b| b.is_ascii_graphic()) && name_ok(name) {
            return Ok(QueueRef::Url(queue.to_owned()));
        }
        return Err(format!("{queue:?} is not an SQS queue URL (scheme://host/account/queue-name)"));
    }
    if name_ok(queue) {
        Ok(QueueRef::Name(queue.to_owned()))
    } else {
        Err(format!(
            "{queue:?} is neither a queue URL nor a queue name (1 to 80 letters, digits, '-' or '_', FIFO names ending in .fifo)"
        ))
    }
}

/// Literal text and `#{key}`s; only `keys` are allowed, and literal bytes must pass `literal`.
fn parse_template(text: &str, keys: &[Piece], literal: fn(u8) -> bool) -> Result<Template, String> {
    if text.len() > MAX_VALUE_LEN {
        return Err(format!("{text:?} is {} characters; ALB allows at most {MAX_VALUE_LEN}", text.len()));
    }
    let mut pieces = Vec::new();
    let mut rest = text;
    let mut literal_text = String::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("#{") {
            let (key, tail) = after.split_once('}').ok_or_else(|| format!("{text:?} has an unclosed #{{"))?;
            let piece = match key {
                "protocol" => Piece::Protocol,
                "host" => Piece::Host,
                "port" => Piece::Port,
                "path" => Piece::Path,
                "query" => Piece::Query,
                other => {
                    return Err(format!(
                        "#{{{other}}} is not a reserved key (#{{protocol}}, #{{host}}, #{{port}}, #{{path}}, #{{query}})"
                    ));
                }
            };
            if !keys.contains(&piece) {
                return Err(format!("#{{{key}}} cannot be used here (ALB)"));
            }
            if !literal_text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal_text).into()));
            }
            pieces.push(piece);
            rest = tail;
            continue;
        }
        let mut chars = rest.chars();
        let c = chars.next().unwrap_or_default();
        if !c.is_ascii() || !literal(c as u8) {
            return Err(format!("{text:?} contains {c:?}, which cannot appear here"));
        }
        literal_text.push(c);
        rest = chars.as_str();
    }
    if !literal_text.is_empty() {
        pieces.push(Piece::Text(literal_text.into()));
    }
    Ok(Template(pieces))
}
