//! The scaler configuration that template.yaml gives the function parses, with the template's
//! parameter defaults substituted: a template change cannot break the scaler's cold start unseen.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;

#[test]
fn the_templates_fleets_parse_with_default_parameters() {
    let template = include_str!("../../../template.yaml");
    let start = template.find("SWITCHYARD_FLEETS: !Sub").expect("the scaler's fleets are in the template");
    let body: String = template[start..]
        .lines()
        .skip(2)
        .take_while(|l| !l.trim_start().starts_with("- QueueUrl"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let mut defaults: HashMap<String, String> = HashMap::new();
    let mut current: Option<String> = None;
    for line in template.lines().take_while(|l| !l.starts_with("Globals:")) {
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')).filter(|n| !n.starts_with(' ')) {
            current = Some(name.to_owned());
        } else if let (Some(name), Some(value)) = (&current, line.trim().strip_prefix("Default: ")) {
            defaults.insert(name.clone(), value.trim_matches('"').to_owned());
        }
    }
    defaults.insert("QueueUrl".into(), "https://sqs.us-east-1.amazonaws.com/123456789012/work".into());
    // Both values of the web fleet's idle_to_zero (WebFleetWakeSize 0 and above).
    for idles in ["false", "true"] {
        defaults.insert("WebIdlesToZero".into(), idles.into());
        let mut json = body.clone();
        for (name, value) in &defaults {
            json = json.replace(&format!("${{{name}}}"), value);
        }
        assert!(!json.contains("${"), "unsubstituted parameter in {json}");
        let config = scaler::config::Config::from_lookup(|k| (k == "SWITCHYARD_FLEETS").then(|| json.clone()))
            .unwrap_or_else(|e| panic!("{e}\n{json}"));
        assert_eq!(config.fleets.len(), 2);
        assert_eq!(config.fleets[0].idle_to_zero, idles == "true");
    }
}
