//! `template.yaml` cannot use the contract's constants: its alarms and its dashboard spell metric
//! and dimension names as text. Every name it uses in Switchyard's namespace must be one of the
//! contract's, or the alarm or graph watches a series nobody writes.
//!
//! No YAML parser is a dependency of the workspace (and CloudFormation's `!Sub`, `!Ref` tags need
//! one that keeps unknown tags), so the template is read as text: the alarms' `MetricName:` with
//! the `Namespace:` beside it, and the dashboard's body, which is JSON once its `${…}` are filled.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use serde_json::Value;
use switchyard_metrics::{DEFAULT_NAMESPACE, DIMENSION_NAMES, METRIC_NAMES};

const TEMPLATE: &str = include_str!("../../../template.yaml");

/// A metric the template reads: its namespace, name and dimension names, and where it is.
#[derive(Debug, Clone, PartialEq)]
struct Used {
    namespace: String,
    name: String,
    dimensions: Vec<String>,
    at: String,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The value of `key: value` on `line`, at any indentation (a `- ` list item's first key too).
fn value_of<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let trimmed = line.trim_start().trim_start_matches("- ");
    trimmed.strip_prefix(key)?.strip_prefix(':').map(|v| v.trim().trim_matches('"'))
}

/// Every `MetricName:` of the template outside the dashboard, with the `Namespace:` and the
/// `Dimensions:` names of its mapping (the lines around it at its indentation or deeper).
fn alarm_metrics(template: &str) -> Vec<Used> {
    let lines: Vec<&str> = template.lines().collect();
    let mut used = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(name) = value_of(line, "MetricName") else { continue };
        let level = indent(line);
        let within = |j: &usize| lines[*j].trim().is_empty() || indent(lines[*j]) >= level;
        let first = (0..i).rev().take_while(within).last().unwrap_or(i);
        let last = (i + 1..lines.len()).take_while(within).last().unwrap_or(i);
        let mapping = &lines[first..=last];
        let at_level = |l: &str, key: &str| indent(l) == level && value_of(l, key).is_some();
        let namespace = mapping
            .iter()
            .find(|l| at_level(l, "Namespace"))
            .and_then(|l| value_of(l, "Namespace"))
            .unwrap_or_else(|| panic!("line {}: MetricName {name} has no Namespace beside it", i + 1));
        // `Dimensions:` is a list of `- Name: … Value: …`, one level deeper.
        let dimensions = mapping
            .iter()
            .skip_while(|l| !at_level(l, "Dimensions"))
            .skip(1)
            .take_while(|l| l.trim().is_empty() || indent(l) > level)
            .filter_map(|l| value_of(l, "Name"))
            .map(str::to_owned)
            .collect();
        used.push(Used {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            dimensions,
            at: format!("template.yaml line {}", i + 1),
        });
    }
    used
}

/// The dashboard's body: the block scalar under `DashboardBody: !Sub` and `- |`, with every
/// `${…}` filled with `0` (a valid JSON number, and harmless inside a string).
fn dashboard(template: &str) -> Value {
    let lines: Vec<&str> = template.lines().collect();
    let start = lines.iter().position(|l| l.trim() == "DashboardBody: !Sub").expect("the template has a dashboard");
    assert_eq!(lines[start + 1].trim(), "- |", "the dashboard body is a literal block");
    let level = indent(lines[start + 2]);
    let mut body: String = lines[start + 2..]
        .iter()
        .take_while(|l| l.trim().is_empty() || indent(l) >= level)
        .map(|l| format!("{l}\n"))
        .collect();
    while let Some(open) = body.find("${") {
        let close = open + body[open..].find('}').expect("a closed ${…}");
        body.replace_range(open..=close, "0");
    }
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{body}"))
}

/// The metrics of a `SEARCH('{Namespace,Dim,…} MetricName="Name"', …)` expression.
fn searched(expression: &str, at: &str) -> Option<Used> {
    let rest = expression.split("SEARCH(").nth(1)?;
    let schema = rest.split('{').nth(1)?.split('}').next()?;
    let mut parts = schema.split(',').map(|p| p.trim().trim_matches('"').to_owned());
    let namespace = parts.next()?;
    let name = rest.split("MetricName=\"").nth(1)?.split('"').next()?;
    Some(Used { namespace, name: name.to_owned(), dimensions: parts.collect(), at: at.to_owned() })
}

/// Every metric the dashboard's widgets graph: rows `[namespace, name, dim, value, …, {options}]`
/// (`"."` repeats the row above) and `SEARCH` expressions.
fn dashboard_metrics(body: &Value) -> Vec<Used> {
    let mut used = Vec::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        let title = widget["properties"]["title"].as_str().unwrap_or("untitled");
        let at = format!("dashboard widget {title:?}");
        let mut previous: Vec<String> = Vec::new();
        for row in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let row = row.as_array().expect("a metric row is an array");
            if let Some(expression) = row.iter().find_map(|v| v["expression"].as_str()) {
                used.extend(searched(expression, &at));
                continue;
            }
            let fields: Vec<String> = row
                .iter()
                .map_while(Value::as_str)
                .enumerate()
                .map(|(k, v)| if v == "." { previous.get(k).cloned().unwrap_or_default() } else { v.to_owned() })
                .collect();
            assert!(fields.len() >= 2 && fields.len().is_multiple_of(2), "{at}: a row of {fields:?}");
            used.push(Used {
                namespace: fields[0].clone(),
                name: fields[1].clone(),
                dimensions: fields[2..].iter().step_by(2).cloned().collect(),
                at: at.clone(),
            });
            previous = fields;
        }
    }
    used
}

fn ours(used: Vec<Used>) -> Vec<Used> {
    used.into_iter().filter(|u| u.namespace == DEFAULT_NAMESPACE).collect()
}

#[test]
fn every_metric_the_alarms_read_in_switchyards_namespace_is_in_the_contract() {
    let used = ours(alarm_metrics(TEMPLATE));
    // The routing-document and scaler-errors alarms, at least.
    assert!(used.len() >= 2, "only {} alarm metrics found in Switchyard's namespace: {used:?}", used.len());
    for u in &used {
        assert!(METRIC_NAMES.contains(&u.name.as_str()), "{}: {} is no metric of switchyard-metrics", u.at, u.name);
        for d in &u.dimensions {
            assert!(DIMENSION_NAMES.contains(&d.as_str()), "{}: {d} is no dimension of switchyard-metrics", u.at);
        }
    }
}

#[test]
fn every_metric_the_dashboard_graphs_in_switchyards_namespace_is_in_the_contract() {
    let used = ours(dashboard_metrics(&dashboard(TEMPLATE)));
    assert!(used.len() >= 20, "only {} of Switchyard's metrics found on the dashboard: {used:?}", used.len());
    for u in &used {
        assert!(METRIC_NAMES.contains(&u.name.as_str()), "{}: {} is no metric of switchyard-metrics", u.at, u.name);
        for d in &u.dimensions {
            assert!(DIMENSION_NAMES.contains(&d.as_str()), "{}: {d} is no dimension of switchyard-metrics", u.at);
        }
    }
}

#[test]
fn the_reader_finds_what_a_misspelt_template_would_hold() {
    let template = "\
Resources:
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: Switchyard
      MetricName: FleetFailure
      Dimensions:
        - Name: Fleet
          Value: workers
      Statistic: Sum
  Dashboard:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardBody: !Sub
        - |
          {\"widgets\": [{\"type\": \"metric\", \"properties\": {\"title\": \"t\", \"region\": \"${AWS::Region}\", \"metrics\": [
            [\"Switchyard\", \"Desired\", \"Fleets\", \"web\", {\"stat\": \"Maximum\"}],
            [\".\", \"InService\", \".\", \".\"],
            [{\"expression\": \"SEARCH('{Switchyard,Target} MetricName=\\\"Pick\\\"', 'Sum', 60)\", \"id\": \"p\"}]]}}]}
        - {}
";
    let alarms = alarm_metrics(template);
    assert_eq!(alarms.len(), 1);
    assert_eq!((alarms[0].name.as_str(), alarms[0].dimensions.clone()), ("FleetFailure", vec!["Fleet".to_owned()]));
    assert!(!METRIC_NAMES.contains(&"FleetFailure"));
    let graphed = dashboard_metrics(&dashboard(template));
    let summary: Vec<(&str, &str, Vec<String>)> =
        graphed.iter().map(|u| (u.namespace.as_str(), u.name.as_str(), u.dimensions.clone())).collect();
    assert_eq!(
        summary,
        [
            ("Switchyard", "Desired", vec!["Fleets".to_owned()]),
            ("Switchyard", "InService", vec!["Fleets".to_owned()]),
            ("Switchyard", "Pick", vec!["Target".to_owned()]),
        ]
    );
    assert!(!DIMENSION_NAMES.contains(&"Fleets") && !METRIC_NAMES.contains(&"Pick"));
}
