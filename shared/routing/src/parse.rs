//! Reading a routing document piece by piece, so that one bad piece does not hide the others.
//!
//! serde stops at the first error it meets. The document is therefore read as a JSON value first
//! and each piece (a target group's fields, a rule's priority, each condition, each action) is
//! deserialized on its own: every piece that fails is reported with its place, and every piece
//! that reads is then validated, so one load reports all that is wrong.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::document::{ActionSpec, ConditionSpec, Document, RuleSpec, TargetGroupSpec};
use crate::error::RuleError;

/// The sections of a document, in the order errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Section {
    Document,
    TargetGroups,
    Rules,
    DefaultAction,
}

/// Errors with the position they are reported in: section, then index within it (a target
/// group's position by name, a rule's position in the document).
#[derive(Debug, Default)]
pub(crate) struct Errors(Vec<(Section, usize, RuleError)>);

impl Errors {
    pub(crate) fn push(&mut self, section: Section, index: usize, at: impl Into<String>, message: impl Into<String>) {
        self.0.push((section, index, RuleError::new(at, message)));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In document order; within one piece, in the order found.
    pub(crate) fn into_sorted(mut self) -> Vec<RuleError> {
        self.0.sort_by_key(|(section, index, _)| (*section, *index));
        self.0.into_iter().map(|(_, _, e)| e).collect()
    }
}

/// A document whose pieces may each have failed to read.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Every group name in the document (sorted), with its spec if it read.
    pub(crate) groups: Vec<(String, Option<TargetGroupSpec>)>,
    pub(crate) rules: Vec<ParsedRule>,
    pub(crate) default_action: Option<ActionSpec>,
}

#[derive(Debug)]
pub(crate) struct ParsedRule {
    pub(crate) index: usize,
    /// How errors name the rule: `rules[2] (priority 20)`.
    pub(crate) label: String,
    pub(crate) priority: Option<u64>,
    /// `None` when the list itself did not read; else each condition, if it read.
    pub(crate) conditions: Option<Vec<Option<ConditionSpec>>>,
    pub(crate) action: Option<ActionSpec>,
}

pub(crate) fn rule_label(index: usize, priority: Option<u64>) -> String {
    match priority {
        Some(p) => format!("rules[{index}] (priority {p})"),
        None => format!("rules[{index}]"),
    }
}

impl Parsed {
    /// A document that read whole.
    pub(crate) fn from_document(document: &Document) -> Self {
        Parsed {
            groups: document.target_groups.iter().map(|(name, spec)| (name.clone(), Some(spec.clone()))).collect(),
            rules: document.rules.iter().enumerate().map(|(index, rule)| ParsedRule::from_spec(index, rule)).collect(),
            default_action: Some(document.default_action.clone()),
        }
    }
}

impl ParsedRule {
    fn from_spec(index: usize, rule: &RuleSpec) -> Self {
        ParsedRule {
            index,
            label: rule_label(index, Some(rule.priority)),
            priority: Some(rule.priority),
            conditions: Some(rule.conditions.iter().cloned().map(Some).collect()),
            action: Some(rule.action.clone()),
        }
    }
}

/// Reads `json` into whatever pieces read, reporting the rest.
pub(crate) fn parse(json: &str, errors: &mut Errors) -> Parsed {
    let mut parsed = Parsed::default();
    let value: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            errors.push(Section::Document, 0, "document", format!("is not JSON: {e}"));
            return parsed;
        }
    };
    let Some(top) =
        object(&value, "document", &["target_groups", "rules", "default_action"], errors, Section::Document, 0)
    else {
        return parsed;
    };
    match top.get("target_groups") {
        None => errors.push(
            Section::TargetGroups,
            0,
            "target_groups",
            "is missing (an object of target groups by name; it may be empty)",
        ),
        Some(Value::Object(groups)) => {
            // Sorted here, not by the map: a group's id is its position by name, and serde_json's
            // `preserve_order` feature (which any crate in a build may turn on) keeps insertion order.
            let mut groups: Vec<(&String, &Value)> = groups.iter().collect();
            groups.sort_by_key(|(name, _)| *name);
            for (index, (name, spec)) in groups.into_iter().enumerate() {
                let at = format!("target_groups.{name}");
                parsed.groups.push((name.clone(), target_group(spec, &at, errors, index)));
            }
        }
        Some(other) => errors.push(
            Section::TargetGroups,
            0,
            "target_groups",
            format!("must be an object of target groups by name, got {}", kind(other)),
        ),
    }
    match top.get("rules") {
        None => {}
        Some(Value::Array(rules)) => {
            parsed.rules = rules.iter().enumerate().map(|(index, rule)| self::rule(rule, index, errors)).collect();
        }
        Some(other) => {
            errors.push(Section::Rules, 0, "rules", format!("must be an array of rules, got {}", kind(other)))
        }
    }
    match top.get("default_action") {
        None => {
            errors.push(Section::DefaultAction, 0, "default_action", "is missing (what to do when no rule matches)")
        }
        Some(action) => parsed.default_action = typed(action, "default_action", errors, Section::DefaultAction, 0),
    }
    parsed
}

fn target_group(value: &Value, at: &str, errors: &mut Errors, index: usize) -> Option<TargetGroupSpec> {
    let section = Section::TargetGroups;
    let fields =
        object(value, at, &["discovery", "algorithm", "slow_start_secs", "health_check"], errors, section, index)?;
    let before = errors.0.len();
    let discovery = match fields.get("discovery") {
        None => {
            errors.push(
                section,
                index,
                format!("{at}.discovery"),
                "is missing (static targets or an Auto Scaling group)",
            );
            None
        }
        Some(v) => typed(v, &format!("{at}.discovery"), errors, section, index),
    };
    let algorithm = optional(fields, "algorithm", at, errors, section, index);
    let slow_start_secs = optional(fields, "slow_start_secs", at, errors, section, index);
    let health_check = optional(fields, "health_check", at, errors, section, index);
    if errors.0.len() > before {
        return None;
    }
    Some(TargetGroupSpec {
        discovery: discovery?,
        algorithm: algorithm.flatten().unwrap_or_default(),
        slow_start_secs: slow_start_secs.flatten(),
        health_check: health_check.flatten(),
    })
}

fn rule(value: &Value, index: usize, errors: &mut Errors) -> ParsedRule {
    let section = Section::Rules;
    let mut rule = ParsedRule { index, label: rule_label(index, None), priority: None, conditions: None, action: None };
    let Some(fields) = object(value, &rule.label, &["priority", "conditions", "action"], errors, section, index) else {
        return rule;
    };
    if let Some(p) = fields.get("priority") {
        rule.priority = typed::<u64>(p, &format!("{}: priority", rule.label), errors, section, index);
        rule.label = rule_label(index, rule.priority);
    }
    let label = rule.label.clone();
    match fields.get("conditions") {
        None => {}
        Some(Value::Array(conditions)) => {
            rule.conditions = Some(
                conditions
                    .iter()
                    .enumerate()
                    .map(|(j, c)| typed(c, &format!("{label}: conditions[{j}]"), errors, section, index))
                    .collect(),
            );
        }
        Some(other) => errors.push(
            section,
            index,
            format!("{label}: conditions"),
            format!("must be an array of conditions, got {}", kind(other)),
        ),
    }
    if let Some(action) = fields.get("action") {
        rule.action = typed(action, &format!("{label}: action"), errors, section, index);
    }
    for missing in ["priority", "conditions", "action"].into_iter().filter(|k| !fields.contains_key(*k)) {
        errors.push(section, index, format!("{label}: {missing}"), "is missing");
    }
    rule
}

/// `value` as an object with only `allowed` keys, or an error.
fn object<'v>(
    value: &'v Value,
    at: &str,
    allowed: &[&str],
    errors: &mut Errors,
    section: Section,
    index: usize,
) -> Option<&'v Map<String, Value>> {
    let Value::Object(fields) = value else {
        errors.push(section, index, at, format!("must be a JSON object, got {}", kind(value)));
        return None;
    };
    let separator = if at.starts_with("rules[") { ": " } else { "." };
    for key in fields.keys().filter(|k| !allowed.contains(&k.as_str())) {
        let at = if at == "document" { key.clone() } else { format!("{at}{separator}{key}") };
        errors.push(section, index, at, format!("unknown field; expected {}", allowed.join(", ")));
    }
    Some(fields)
}

/// An optional field: `None` if it failed, `Some(None)` if absent.
fn optional<T: for<'de> Deserialize<'de>>(
    fields: &Map<String, Value>,
    key: &str,
    at: &str,
    errors: &mut Errors,
    section: Section,
    index: usize,
) -> Option<Option<T>> {
    match fields.get(key) {
        None | Some(Value::Null) => Some(None),
        Some(v) => typed(v, &format!("{at}.{key}"), errors, section, index).map(Some),
    }
}

fn typed<T: for<'de> Deserialize<'de>>(
    value: &Value,
    at: &str,
    errors: &mut Errors,
    section: Section,
    index: usize,
) -> Option<T> {
    match T::deserialize(value) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.push(section, index, at, e.to_string());
            None
        }
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
