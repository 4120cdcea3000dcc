//! Configuration from the environment, parsed once at cold start into typed structs. A bad value
//! fails start-up with a message naming the fleet and the key.
//!
//! `SWITCHYARD_FLEETS` (JSON array, required): one object per fleet —
//! ```json
//! {"name": "web", "group": "switchyard-web", "role": "web", "min": 1, "max": 20,
//!  "metrics": [{"namespace": "AWS/EC2", "name": "CPUUtilization",
//!               "dimensions": {"AutoScalingGroupName": "switchyard-web"},
//!               "statistic": "Average", "period": 60, "target": 50}]}
//! {"name": "workers", "group": "switchyard-workers", "role": "consumer",
//!  "queue_url": "https://sqs…/work", "backlog_per_instance": 20, "count_in_flight": true,
//!  "age_slo_seconds": 120, "per_instance_rate": 0.5}
//! ```
//! Tuning (optional): `SWITCHYARD_SCALE_DOWN_WINDOW_SECS` (300), `SWITCHYARD_SCALE_UP_PERCENT`
//! (300), `SWITCHYARD_SCALE_UP_ABSOLUTE` (10), `SWITCHYARD_SCALE_UP_PERIOD_SECS` (60),
//! `SWITCHYARD_SCALE_UP_BACKLOG` (`drain`: messages already waiting may lift the scale-up limit
//! to the instances they need at the acceptable backlog per instance; or `limited`),
//! `SWITCHYARD_DIRECTION_BUDGET` (2 direction changes of a running fleet per window, or `off`),
//! `SWITCHYARD_DIRECTION_WINDOW_SECS` (3600), `SWITCHYARD_DIRECTION_HOLD_SHARE` (0.5: a scale-in
//! is held for the budget when its recommendation is at most this share below the fleet, or
//! whatever its size after a flap: a scale-in from at least half the fleet undone within the
//! scale-down window),
//! `SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS` (300, or `never`), `SWITCHYARD_TOLERANCE` (0.1),
//! `SWITCHYARD_WAKE_FROM_ZERO_SECS` (150: boot + one tick), `SWITCHYARD_SCALE_TO_ZERO_PRIORITY`
//! (`latency`: keep one instance while traffic is likely when waking is slower than the SLO; or
//! `cost`),
//! `SWITCHYARD_HISTORY_PERIOD_SECS` (60: the tick; tests use 1), `SWITCHYARD_METRIC_MAX_AGE_SECS`
//! (300), `SWITCHYARD_METRICS_NAMESPACE` (`Switchyard`: the router's and the workers' too; the old
//! `SWITCHYARD_NAMESPACE` is refused), `SWITCHYARD_TICK_BUDGET_SECS` (40: below the
//! function's 50 s timeout), `SWITCHYARD_CALL_TIMEOUT_SECS` (10: one AWS call, retries included),
//! `SWITCHYARD_WORKER_DEAD_AFTER_SECS` (180, or `never`: a protected consumer instance whose
//! worker's `WorkerAlive` reports stopped this long ago loses its scale-in protection).

use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::time::Duration;

use serde::Deserialize;
use switchyard_algorithms::scaling::{
    self, BacklogPerInstance, BacklogScaleUp, Bounds, DirectionBudget, FleetPolicy, IdleToZero, LatencySlo, Priority,
    ScaleUpLimit, Stabilizer, TargetTracking, WakeFromZero,
};

pub use switchyard_env::ConfigError;
use switchyard_env::Env;

/// What a fleet is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves HTTP: scaled on metrics; never scaled to zero by idleness.
    Web,
    /// Drains a queue: scaled on its depth (and age); may scale to zero and be woken.
    Consumer,
}

/// A CloudWatch metric to track, as the fleet's config names it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSignal {
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(default = "default_statistic")]
    pub statistic: String,
    #[serde(default = "default_period")]
    pub period: u32,
    /// The per-instance value to keep the metric at.
    pub target: f64,
}

fn default_statistic() -> String {
    "Average".into()
}

fn default_period() -> u32 {
    60
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    name: String,
    group: String,
    role: Role,
    min: Option<u32>,
    max: Option<u32>,
    #[serde(default)]
    metrics: Vec<MetricSignal>,
    queue_url: Option<String>,
    backlog_per_instance: Option<f64>,
    #[serde(default = "yes")]
    count_in_flight: bool,
    age_slo_seconds: Option<f64>,
    per_instance_rate: Option<f64>,
    /// A web fleet behind the router: idle to zero when no router counted a request for its group
    /// for `SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS` (the router wakes it).
    #[serde(default)]
    idle_to_zero: bool,
}

fn yes() -> bool {
    true
}

/// A fleet's queue signal.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSignal {
    pub url: String,
    /// The queue's name (the URL's last segment): the dimension of its AWS/SQS metrics.
    pub name: String,
    pub backlog: Option<BacklogPerInstance>,
    pub slo: Option<LatencySlo>,
}

/// One fleet, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    pub name: String,
    pub group: String,
    pub role: Role,
    /// Narrows the group's own limits; never widens them.
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub metrics: Vec<(MetricSignal, TargetTracking)>,
    pub queue: Option<QueueSignal>,
    /// A web fleet that idles to zero on the routers' request counts.
    pub idle_to_zero: bool,
}

/// Settings shared by every fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    /// What `decide_fleet` reads: stabilization, metric freshness, waking from zero.
    pub scaling: scaling::Tuning,
    /// Resolution of the history kept in CloudWatch: the scaler's tick.
    pub history_period: Duration,
    pub namespace: String,
    /// The most one tick may take, every AWS call included: below the function's timeout, so that
    /// a tick whose calls hang still ends, holds what it could not decide, and says so.
    pub tick_budget: Duration,
    /// The most one AWS call may take within it, so that one hung call leaves time for the others.
    pub call_timeout: Duration,
    /// A protected consumer instance whose worker has not reported for this long loses its
    /// protection (`None`: never).
    pub worker_dead_after: Option<Duration>,
}

/// The scaler's whole configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub fleets: Vec<Fleet>,
    pub tuning: Tuning,
}

impl Config {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// From any key → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&get);
        let fleets = env.get("SWITCHYARD_FLEETS").ok_or_else(|| {
            ConfigError::new(
                "SWITCHYARD_FLEETS",
                "is required: a JSON array of fleets (see the README's scaler configuration)",
            )
        })?;
        Ok(Config { fleets: parse_fleets(&fleets)?, tuning: parse_tuning(&env)? })
    }
}

/// Every refusal is of `SWITCHYARD_FLEETS`, and says which fleet and which of its fields.
fn parse_fleets(json: &str) -> Result<Vec<Fleet>, ConfigError> {
    let invalid = |problem: String| ConfigError::new("SWITCHYARD_FLEETS", problem);
    let values: Vec<serde_json::Value> =
        serde_json::from_str(json).map_err(|e| invalid(format!("not a JSON array: {e}")))?;
    if values.is_empty() {
        return Err(invalid("lists no fleet".into()));
    }
    let mut names = HashSet::new();
    let mut fleets = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let label =
            value.get("name").and_then(|n| n.as_str()).map_or(format!("fleet #{i}"), |n| format!("fleet {n:?}"));
        let raw: RawFleet = serde_json::from_value(value).map_err(|e| invalid(format!("{label}: {e}")))?;
        let fleet = validate(raw).map_err(|(field, problem)| invalid(format!("{label} {field}: {problem}")))?;
        if !names.insert(fleet.name.clone()) {
            return Err(invalid(format!("{label}: the name is used twice")));
        }
        fleets.push(fleet);
    }
    Ok(fleets)
}

fn validate(raw: RawFleet) -> Result<Fleet, (&'static str, String)> {
    if raw.name.trim().is_empty() {
        return Err(("name", "must not be empty".into()));
    }
    if raw.group.trim().is_empty() {
        return Err(("group", "must not be empty".into()));
    }
    if let (Some(min), Some(max)) = (raw.min, raw.max)
        && min > max
    {
        return Err(("min", format!("{min} is above max {max}")));
    }
    let mut metrics = Vec::new();
    for m in raw.metrics {
        if m.period == 0 || (m.period < 60 && ![1, 5, 10, 30].contains(&m.period)) {
            return Err((
                "metrics.period",
                format!("{} is not a CloudWatch period (1, 5, 10, 30 or a multiple of 60)", m.period),
            ));
        }
        let tracking = TargetTracking::new(m.target).map_err(|e| ("metrics.target", e.to_string()))?;
        metrics.push((m, tracking));
    }
    let queue = match raw.queue_url {
        Some(url) => {
            let name = url
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .ok_or(("queue_url", format!("{url:?} has no queue name")))?;
            let backlog = raw
                .backlog_per_instance
                .map(|b| BacklogPerInstance::new(b).map(|p| p.counting_in_flight(raw.count_in_flight)))
                .transpose()
                .map_err(|e| ("backlog_per_instance", e.to_string()))?;
            let slo = match (raw.age_slo_seconds, raw.per_instance_rate) {
                (Some(age), Some(rate)) if age.is_finite() && age > 0.0 => Some(
                    LatencySlo::new(Duration::from_secs_f64(age), rate)
                        .map_err(|e| ("per_instance_rate", e.to_string()))?,
                ),
                (Some(age), Some(_)) => {
                    return Err(("age_slo_seconds", format!("must be a positive number, got {age}")));
                }
                (None, None) => None,
                (Some(_), None) => {
                    return Err((
                        "per_instance_rate",
                        "is needed with age_slo_seconds (messages per second one instance processes)".into(),
                    ));
                }
                (None, Some(_)) => return Err(("age_slo_seconds", "is needed with per_instance_rate".into())),
            };
            if backlog.is_none() && slo.is_none() {
                return Err((
                    "queue_url",
                    "needs backlog_per_instance and/or age_slo_seconds with per_instance_rate".into(),
                ));
            }
            Some(QueueSignal { name: name.to_owned(), url, backlog, slo })
        }
        None if raw.backlog_per_instance.is_some() || raw.age_slo_seconds.is_some() => {
            return Err(("queue_url", "is needed for queue-based scaling".into()));
        }
        None => None,
    };
    if metrics.is_empty() && queue.is_none() {
        return Err(("metrics", "a fleet needs at least one signal: metrics and/or queue_url".into()));
    }
    if raw.role == Role::Consumer && queue.is_none() {
        return Err(("queue_url", "a consumer fleet scales on its queue".into()));
    }
    if raw.idle_to_zero && raw.role != Role::Web {
        return Err(("idle_to_zero", "is for web fleets (a consumer fleet idles to zero on its queue)".into()));
    }
    Ok(Fleet {
        name: raw.name,
        group: raw.group,
        role: raw.role,
        min: raw.min,
        max: raw.max,
        metrics,
        queue,
        idle_to_zero: raw.idle_to_zero,
    })
}

fn parse_tuning(env: &Env) -> Result<Tuning, ConfigError> {
    // Switchyard's defaults live in one place, the algorithms crate; the simulator starts from them too.
    let defaults = scaling::Tuning::default();
    let stabilizer = defaults.stabilizer;
    let scale_to_zero_after = env.duration_secs_or(
        "SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS",
        "never",
        stabilizer.scale_to_zero_after.unwrap_or_default(),
        ..,
    )?;
    let tolerance = env.number("SWITCHYARD_TOLERANCE", stabilizer.tolerance, 0.0..1.0)?;
    let absolute = env.number("SWITCHYARD_SCALE_UP_ABSOLUTE", f64::from(stabilizer.scale_up.absolute), 0.0..)?;
    let history_period = env.duration_secs("SWITCHYARD_HISTORY_PERIOD_SECS", Duration::from_secs(60), 1..)?;
    let priority = env.choice(
        "SWITCHYARD_SCALE_TO_ZERO_PRIORITY",
        Priority::Latency,
        &[("latency", Priority::Latency), ("cost", Priority::Cost)],
    )?;
    let backlog = env.choice(
        "SWITCHYARD_SCALE_UP_BACKLOG",
        stabilizer.scale_up.backlog,
        &[("drain", BacklogScaleUp::Drain), ("limited", BacklogScaleUp::Limited)],
    )?;
    let default_budget = stabilizer.direction_budget.unwrap_or_default();
    let direction_budget = match env.number_or("SWITCHYARD_DIRECTION_BUDGET", "off", default_budget.changes, 1..)? {
        None => None,
        Some(changes) => Some(DirectionBudget {
            changes,
            window: env.duration_secs("SWITCHYARD_DIRECTION_WINDOW_SECS", default_budget.window, 1..)?,
            hold_at_most: env.number(
                "SWITCHYARD_DIRECTION_HOLD_SHARE",
                default_budget.hold_at_most,
                (Bound::Excluded(0.0), Bound::Included(1.0)),
            )?,
        }),
    };
    let worker_dead_after =
        env.duration_secs_or("SWITCHYARD_WORKER_DEAD_AFTER_SECS", "never", Duration::from_secs(180), 1..)?;
    let tick_budget = env.duration_secs("SWITCHYARD_TICK_BUDGET_SECS", Duration::from_secs(40), ..)?;
    let call_timeout = env.duration_secs("SWITCHYARD_CALL_TIMEOUT_SECS", Duration::from_secs(10), ..)?;
    if tick_budget.is_zero() || call_timeout.is_zero() || call_timeout > tick_budget {
        return Err(ConfigError::new(
            "SWITCHYARD_CALL_TIMEOUT_SECS",
            "timeouts must satisfy 0 < SWITCHYARD_CALL_TIMEOUT_SECS ≤ SWITCHYARD_TICK_BUDGET_SECS",
        ));
    }
    Ok(Tuning {
        scaling: scaling::Tuning {
            stabilizer: Stabilizer {
                tolerance,
                scale_down_window: env.duration_secs(
                    "SWITCHYARD_SCALE_DOWN_WINDOW_SECS",
                    stabilizer.scale_down_window,
                    ..,
                )?,
                scale_up: ScaleUpLimit {
                    percent: env.number("SWITCHYARD_SCALE_UP_PERCENT", stabilizer.scale_up.percent, 0.0..)?,
                    absolute: absolute as u32,
                    period: env.duration_secs("SWITCHYARD_SCALE_UP_PERIOD_SECS", stabilizer.scale_up.period, ..)?,
                    backlog,
                },
                scale_to_zero_after,
                direction_budget,
            },
            metric_max_age: env.duration_secs("SWITCHYARD_METRIC_MAX_AGE_SECS", defaults.metric_max_age, ..)?,
            wake: WakeFromZero {
                wake_time: env.duration_secs("SWITCHYARD_WAKE_FROM_ZERO_SECS", defaults.wake.wake_time, ..)?,
                priority,
                ..defaults.wake
            },
        },
        history_period,
        namespace: metrics_namespace(env)?,
        tick_budget,
        call_timeout,
        worker_dead_after,
    })
}

/// The CloudWatch namespace the scaler reads the router's and the workers' metrics from and writes
/// its history to: one variable, `SWITCHYARD_METRICS_NAMESPACE`, for every Switchyard program.
/// The scaler once read `SWITCHYARD_NAMESPACE`; a deployment that still sets it is refused rather
/// than silently aliased, so it cannot read one namespace while the router writes another.
fn metrics_namespace(env: &Env) -> Result<String, ConfigError> {
    if env.get("SWITCHYARD_NAMESPACE").is_some() {
        return Err(ConfigError::new(
            "SWITCHYARD_NAMESPACE",
            "no longer read: use SWITCHYARD_METRICS_NAMESPACE, the namespace the router and the workers share",
        ));
    }
    env.string_or("SWITCHYARD_METRICS_NAMESPACE", switchyard_metrics::DEFAULT_NAMESPACE)
}

impl Fleet {
    /// What `decide_fleet` scales this fleet on.
    pub fn policy(&self) -> FleetPolicy {
        FleetPolicy {
            metrics: self.metrics.iter().map(|(_, tracking)| *tracking).collect(),
            backlog: self.queue.as_ref().and_then(|q| q.backlog),
            slo: self.queue.as_ref().and_then(|q| q.slo),
            idle: match (self.role, self.idle_to_zero) {
                (Role::Consumer, _) => IdleToZero::OnQueue,
                (Role::Web, true) => IdleToZero::OnRequests,
                (Role::Web, false) => IdleToZero::Never,
            },
        }
    }

    /// The group's limits narrowed by this fleet's overrides; `None` if they do not overlap.
    pub fn bounds(&self, group_min: u32, group_max: u32) -> Option<Bounds> {
        let min = self.min.map_or(group_min, |m| m.max(group_min));
        let max = self.max.map_or(group_max, |m| m.min(group_max));
        Bounds::new(min, max).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fleets: &str, extra: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: BTreeMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("SWITCHYARD_FLEETS".into(), fleets.into());
        Config::from_lookup(|k| env.get(k).cloned())
    }

    const WORKERS: &str = r#"[{"name":"workers","group":"g","role":"consumer","queue_url":"http://q/000000000000/work","backlog_per_instance":20}]"#;

    #[test]
    fn a_consumer_fleet_parses_with_defaults() {
        let c = config(WORKERS, &[]).unwrap();
        let q = c.fleets[0].queue.as_ref().unwrap();
        assert_eq!(q.name, "work");
        assert!(q.backlog.is_some() && q.slo.is_none());
        assert_eq!(c.tuning.scaling.stabilizer.scale_down_window, Duration::from_secs(300));
        assert_eq!(c.tuning.namespace, "Switchyard");
    }

    #[test]
    fn errors_name_the_fleet_and_the_key() {
        let cases = [
            (
                r#"[{"name":"w","group":"g","role":"consumer","queue_url":"http://q/work","backlog_per_instance":-1}]"#,
                "fleet \"w\" backlog_per_instance",
            ),
            (r#"[{"name":"w","group":"g","role":"consumer","queue_url":"http://q/work"}]"#, "fleet \"w\" queue_url"),
            (r#"[{"name":"w","group":"g","role":"web"}]"#, "fleet \"w\" metrics"),
            (
                r#"[{"name":"w","group":"g","role":"web","metrics":[{"namespace":"n","name":"m","target":0}]}]"#,
                "fleet \"w\" metrics.target",
            ),
            (r#"[{"name":"w","group":"g","role":"robot","queue_url":"x/y","backlog_per_instance":1}]"#, "fleet \"w\""),
            (r#"[{"name":"w","group":"g","role":"web","colour":"red","metrics":[]}]"#, "unknown field `colour`"),
            (r#"[{"group":"g","role":"web"}]"#, "fleet #0"),
            (
                r#"[{"name":"w","group":"g","role":"consumer","queue_url":"http://q/work","age_slo_seconds":60}]"#,
                "per_instance_rate",
            ),
            ("{}", "not a JSON array"),
            ("[]", "lists no fleet"),
        ];
        for (json, expected) in cases {
            let err = config(json, &[]).unwrap_err().to_string();
            assert!(err.contains(expected), "{json}: {err}");
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let json = r#"[{"name":"a","group":"g","role":"consumer","queue_url":"x/q","backlog_per_instance":1},
                       {"name":"a","group":"h","role":"consumer","queue_url":"x/q","backlog_per_instance":1}]"#;
        assert!(config(json, &[]).unwrap_err().to_string().contains("used twice"));
    }

    #[test]
    fn tuning_is_read_and_checked() {
        let c = config(
            WORKERS,
            &[("SWITCHYARD_SCALE_DOWN_WINDOW_SECS", "5"), ("SWITCHYARD_SCALE_TO_ZERO_AFTER_SECS", "never")],
        )
        .unwrap();
        assert_eq!(c.tuning.scaling.stabilizer.scale_down_window, Duration::from_secs(5));
        assert_eq!(c.tuning.scaling.stabilizer.scale_to_zero_after, None);
        let err = config(WORKERS, &[("SWITCHYARD_SCALE_UP_PERCENT", "lots")]).unwrap_err().to_string();
        assert!(err.starts_with("SWITCHYARD_SCALE_UP_PERCENT"), "{err}");
        assert!(config("[]", &[]).is_err());
        assert!(matches!(Config::from_lookup(|_| None), Err(e) if e.key == "SWITCHYARD_FLEETS"));
    }

    #[test]
    fn the_backlog_scale_up_policy_defaults_to_drain_and_is_checked() {
        let c = config(WORKERS, &[]).unwrap();
        assert_eq!(c.tuning.scaling.stabilizer.scale_up.backlog, BacklogScaleUp::Drain);
        assert_eq!(c.tuning.scaling, scaling::Tuning::default(), "the defaults are the algorithms crate's");
        let c = config(WORKERS, &[("SWITCHYARD_SCALE_UP_BACKLOG", " limited ")]).unwrap();
        assert_eq!(c.tuning.scaling.stabilizer.scale_up.backlog, BacklogScaleUp::Limited);
        let err = config(WORKERS, &[("SWITCHYARD_SCALE_UP_BACKLOG", "always")]).unwrap_err().to_string();
        assert!(err.starts_with("SWITCHYARD_SCALE_UP_BACKLOG") && err.contains("drain or limited"), "{err}");
    }

    #[test]
    fn the_direction_budget_is_read_and_checked() {
        let budget =
            |extra: &[(&str, &str)]| config(WORKERS, extra).map(|c| c.tuning.scaling.stabilizer.direction_budget);
        assert_eq!(budget(&[]).unwrap(), Some(DirectionBudget::default()));
        assert_eq!(budget(&[("SWITCHYARD_DIRECTION_BUDGET", "off")]).unwrap(), None);
        let set = budget(&[
            ("SWITCHYARD_DIRECTION_BUDGET", "4"),
            ("SWITCHYARD_DIRECTION_WINDOW_SECS", "1800"),
            ("SWITCHYARD_DIRECTION_HOLD_SHARE", "0.25"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((set.changes, set.window, set.hold_at_most), (4, Duration::from_secs(1800), 0.25));
        for (key, value, expected) in [
            ("SWITCHYARD_DIRECTION_BUDGET", "0", "≥ 1, or off"),
            ("SWITCHYARD_DIRECTION_BUDGET", "many", "≥ 1, or off"),
            ("SWITCHYARD_DIRECTION_WINDOW_SECS", "0", "≥ 1"),
            ("SWITCHYARD_DIRECTION_HOLD_SHARE", "1.5", "> 0 and ≤ 1"),
            ("SWITCHYARD_DIRECTION_HOLD_SHARE", "0", "> 0 and ≤ 1"),
        ] {
            let err = budget(&[(key, value)]).unwrap_err().to_string();
            assert!(err.starts_with(key) && err.contains(expected), "{key}={value}: {err}");
        }
    }

    #[test]
    fn overrides_narrow_the_groups_limits_and_never_widen_them() {
        let mut f = config(WORKERS, &[]).unwrap().fleets.remove(0);
        f.min = Some(0);
        f.max = Some(50);
        let b = f.bounds(2, 10).unwrap();
        assert_eq!((b.min(), b.max()), (2, 10));
        f.min = Some(4);
        f.max = Some(6);
        let b = f.bounds(2, 10).unwrap();
        assert_eq!((b.min(), b.max()), (4, 6));
        f.min = Some(20);
        assert!(f.bounds(2, 10).is_none());
    }

    #[test]
    fn the_metrics_namespace_is_the_one_the_router_and_workers_read() {
        let c = config(WORKERS, &[("SWITCHYARD_METRICS_NAMESPACE", "Switchyard/test")]).unwrap();
        assert_eq!(c.tuning.namespace, "Switchyard/test");
        let err = config(WORKERS, &[("SWITCHYARD_METRICS_NAMESPACE", " ")]).unwrap_err().to_string();
        assert!(err.starts_with("SWITCHYARD_METRICS_NAMESPACE"), "{err}");
    }

    #[test]
    fn the_old_namespace_variable_is_refused_not_aliased() {
        for extra in [
            &[("SWITCHYARD_NAMESPACE", "Switchyard/old")][..],
            &[("SWITCHYARD_NAMESPACE", "Switchyard"), ("SWITCHYARD_METRICS_NAMESPACE", "Switchyard")][..],
        ] {
            let err = config(WORKERS, extra).unwrap_err().to_string();
            assert!(
                err.starts_with("SWITCHYARD_NAMESPACE") && err.contains("use SWITCHYARD_METRICS_NAMESPACE"),
                "{err}"
            );
        }
    }
}
