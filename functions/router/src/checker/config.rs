//! The health checker's settings, from its function's environment (`SWITCHYARD_MODE=health_checker`).
//!
//! | Variable | Meaning | Default |
//! |---|---|---|
//! | `SWITCHYARD_CHECK_GROUPS` | Auto Scaling groups to check and drain, separated by commas | (required) |
//! | `SWITCHYARD_TARGET_PORT` | the traffic port on the instances' private IPs | 80 |
//! | `SWITCHYARD_ENDPOINT_TAG` | instance tag that overrides the endpoint (`host:port`) | `switchyard:endpoint` |
//! | `SWITCHYARD_HEALTH_CHECK_PATH` | path probed with GET | `/` |
//! | `SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS` | time between probes of a target (5–300) | 30 |
//! | `SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS` | a probe's limit (2–120, below the interval) | 5 |
//! | `SWITCHYARD_HEALTHY_THRESHOLD` | passes in a row that make an unhealthy target healthy (2–10) | 5 |
//! | `SWITCHYARD_UNHEALTHY_THRESHOLD` | failures in a row that make a target unhealthy (2–10) | 2 |
//! | `SWITCHYARD_HEALTH_CHECK_MATCHER` | status codes that pass: `200`, `200,202`, `200-299` (200–499) | `200` |
//! | `SWITCHYARD_HEALTH_FAIL_OPEN_PERCENT` | above this share of unhealthy targets none is marked and the alarm fires (1–100) | 100 |
//! | `SWITCHYARD_DRAIN_HOOK` | the terminating lifecycle hook whose actions the checker completes | `switchyard-drain` |
//! | `SWITCHYARD_DEREGISTRATION_DELAY_SECS` | a leaving instance is let go after this long, quiet or not (0–3600) | 300 |
//! | `SWITCHYARD_DISCOVERY_TTL_SECS` | the routers' discovery period (the same variable as theirs) | 10 |
//! | `SWITCHYARD_TIMEOUT_MS` | the routers' limit for one request (the same variable as theirs) | 25000 |
//! | `SWITCHYARD_LOAD_NAMESPACE`, `SWITCHYARD_LOAD_METRIC`, `SWITCHYARD_LOAD_DIMENSION`, `SWITCHYARD_LOAD_PERIOD_SECS` | the targets' load metric, as for the routers: a leaving instance's in-flight requests | off |
//! | `SWITCHYARD_CHECK_RUN_SECS` | how long one invocation keeps checking (below the function's timeout) | 55 |
//! | `SWITCHYARD_METRICS_NAMESPACE` | namespace of the checker's EMF metrics | `Switchyard` |
//!
//! A leaving instance is quiet once every router has rediscovered without it (one discovery
//! period) and any request a router sent it before then has ended (one request limit). When the
//! targets report their load, the instance's own report decides instead, once it is newer than
//! the routers' discovery: none in flight lets it go sooner, some keeps it held.

use std::num::NonZeroU32;
use std::time::Duration;

use switchyard_algorithms::checks::{CheckConfig, Matcher};
use switchyard_env::Env;

use crate::config::{ConfigError, LoadMetric};

/// What the checker checks and how.
#[derive(Debug, Clone)]
pub struct CheckerConfig {
    pub groups: Vec<String>,
    pub port: u16,
    pub endpoint_tag: String,
    pub check: CheckConfig,
    pub drain_hook: String,
    pub deregistration_delay: Duration,
    /// How long after an instance starts waiting to leave nothing can be in flight to it from
    /// a router: the routers' discovery period plus their request limit.
    pub quiet_after: Duration,
    /// The routers' discovery period: a load report taken this long after an instance started
    /// to leave sees no new request from them.
    pub discovery_ttl: Duration,
    /// The load metric the targets publish (their open connections), when set: a leaving
    /// instance that reports none since the routers dropped it is quiet at once, and one that
    /// still reports some stays held (up to the deregistration delay).
    pub load: Option<LoadMetric>,
    pub run_for: Duration,
    pub namespace: String,
}

impl CheckerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any key → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&get);
        let groups = env.list("SWITCHYARD_CHECK_GROUPS").unwrap_or_default();
        if groups.is_empty() {
            return Err(ConfigError::new("SWITCHYARD_CHECK_GROUPS", "names no Auto Scaling group"));
        }
        let threshold = |key: &'static str, default: u32| {
            env.number(key, default, 2..=10).map(|n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
        };
        let matcher_text = env.get("SWITCHYARD_HEALTH_CHECK_MATCHER").unwrap_or_else(|| "200".into());
        let check = CheckConfig {
            path: env.get("SWITCHYARD_HEALTH_CHECK_PATH").unwrap_or_else(|| "/".into()),
            interval: env.duration_secs("SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS", Duration::from_secs(30), 5..=300)?,
            timeout: env.duration_secs("SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS", Duration::from_secs(5), 2..=120)?,
            healthy_threshold: threshold("SWITCHYARD_HEALTHY_THRESHOLD", 5)?,
            unhealthy_threshold: threshold("SWITCHYARD_UNHEALTHY_THRESHOLD", 2)?,
            matcher: Matcher::parse(&matcher_text)
                .map_err(|e| ConfigError::new("SWITCHYARD_HEALTH_CHECK_MATCHER", e.to_string()))?,
            fail_open_share: f64::from(env.number("SWITCHYARD_HEALTH_FAIL_OPEN_PERCENT", 100_u32, 1..=100)?) / 100.0,
        }
        .validate()
        .map_err(|e| ConfigError::new("SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS", e.to_string()))?;
        let ttl = env.duration_secs("SWITCHYARD_DISCOVERY_TTL_SECS", Duration::from_secs(10), 0..=3600)?;
        let request_limit = env.duration_ms("SWITCHYARD_TIMEOUT_MS", Duration::from_millis(25_000), 1..=900_000)?;
        Ok(CheckerConfig {
            groups,
            port: env.number("SWITCHYARD_TARGET_PORT", 80, 1..=u16::MAX)?,
            endpoint_tag: env.get("SWITCHYARD_ENDPOINT_TAG").unwrap_or_else(|| "switchyard:endpoint".into()),
            check,
            drain_hook: env.get("SWITCHYARD_DRAIN_HOOK").unwrap_or_else(|| "switchyard-drain".into()),
            deregistration_delay: env.duration_secs(
                "SWITCHYARD_DEREGISTRATION_DELAY_SECS",
                Duration::from_secs(300),
                0..=3600,
            )?,
            quiet_after: ttl + request_limit,
            discovery_ttl: ttl,
            load: LoadMetric::from_env(&env)?,
            run_for: env.duration_secs("SWITCHYARD_CHECK_RUN_SECS", Duration::from_secs(55), 1..=900)?,
            namespace: env.string_or("SWITCHYARD_METRICS_NAMESPACE", switchyard_metrics::DEFAULT_NAMESPACE)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<CheckerConfig, ConfigError> {
        let map: std::collections::HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        CheckerConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn albs_defaults_apply_when_only_the_groups_are_named() {
        let c = config(&[("SWITCHYARD_CHECK_GROUPS", "web, api")]).unwrap();
        assert_eq!(c.groups, ["web", "api"]);
        assert_eq!(c.check, CheckConfig::default());
        assert_eq!(c.deregistration_delay, Duration::from_secs(300));
        assert_eq!(c.quiet_after, Duration::from_secs(35), "10 s discovery + 25 s request limit");
    }

    #[test]
    fn each_bad_setting_is_refused_naming_its_key() {
        let cases = [
            (vec![], "SWITCHYARD_CHECK_GROUPS"),
            (vec![("SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS", "1")], "SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS"),
            (vec![("SWITCHYARD_UNHEALTHY_THRESHOLD", "11")], "SWITCHYARD_UNHEALTHY_THRESHOLD"),
            (vec![("SWITCHYARD_HEALTH_CHECK_MATCHER", "500")], "SWITCHYARD_HEALTH_CHECK_MATCHER"),
            (vec![("SWITCHYARD_HEALTH_FAIL_OPEN_PERCENT", "0")], "SWITCHYARD_HEALTH_FAIL_OPEN_PERCENT"),
            (vec![("SWITCHYARD_DEREGISTRATION_DELAY_SECS", "soon")], "SWITCHYARD_DEREGISTRATION_DELAY_SECS"),
        ];
        for (mut pairs, key) in cases {
            if key != "SWITCHYARD_CHECK_GROUPS" {
                pairs.push(("SWITCHYARD_CHECK_GROUPS", "web"));
            }
            let e = config(&pairs).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
    }
}
