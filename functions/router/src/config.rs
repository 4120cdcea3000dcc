//! The router's configuration, from the environment at cold start. A bad value stops the cold
//! start with a message naming the key and what is allowed.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SWITCHYARD_ROUTES` | a routing document (JSON, see `switchyard_routing`): target groups, rules, default action | (or the next, or one group below) |
//! | `SWITCHYARD_ROUTES_PARAMETER` | an SSM parameter holding the routing document, read at start and every refresh | |
//! | `SWITCHYARD_ROUTES_REFRESH_SECS` | how often the parameter is read again; a bad version is refused and the last good one kept | 10 |
//! | `SWITCHYARD_GROUP_COOKIE_SECRET` | key for weighted forwards' group cookies, at least 32 bytes (else `SWITCHYARD_STICKY_SECRET`) | |
//! | `SWITCHYARD_GROUP_COOKIE_NAME` | the group cookie's name | `switchyard-group` |
//! | `SWITCHYARD_TARGETS` | without a document: static targets, `host:port` separated by commas | (or a group) |
//! | `SWITCHYARD_TARGET_GROUP` | without a document: Auto Scaling group whose InService, Healthy instances are the targets | |
//! | `SWITCHYARD_TARGET_PORT` | without a document: port on the instances' private IPs | 80 |
//! | `SWITCHYARD_ENDPOINT_TAG` | instance tag that overrides the endpoint (`host:port`) | `switchyard:endpoint` |
//! | `SWITCHYARD_DISCOVERY_TTL_SECS` | how long a discovered set is used before it is refreshed | 10 |
//! | `SWITCHYARD_ALGORITHM` | without a document: `round_robin`, `sticky_cookie`, `sticky_ip`, `least_connections`, `power_of_two_choices` | `round_robin` |
//! | `SWITCHYARD_STICKY_SECRET` | cookie signing key, at least 32 bytes (required for `sticky_cookie` groups) | |
//! | `SWITCHYARD_SLOW_START_SECS` | without a document: a new target, or one back from ejection, ramps to its full share over this window (30..=900; 0: off) | 0 |
//! | `SWITCHYARD_COOKIE_NAME` | sticky cookie name | `switchyard` |
//! | `SWITCHYARD_COOKIE_MAX_AGE_SECS` | sticky cookie lifetime | 3600 |
//! | `SWITCHYARD_CONNECT_TIMEOUT_MS` | connect timeout per attempt | 1000 |
//! | `SWITCHYARD_TIMEOUT_MS` | total time for the upstream part of a request | 25000 |
//! | `SWITCHYARD_ATTEMPT_TIMEOUT_MS` | idempotent requests: one attempt's limit, then the next target within the total (0: none) | 10000 |
//! | `SWITCHYARD_MAX_BODY_BYTES` | largest request body accepted | 6291456 (Lambda's payload limit) |
//! | `SWITCHYARD_MAX_ATTEMPTS` | attempts per request, first included (1..=8) | 3 |
//! | `SWITCHYARD_JOBS_ROUTE` | without a document: `METHOD /path` whose requests are queued instead of proxied | |
//! | `SWITCHYARD_WORK_QUEUE_URL` | the queue they go to (required with a jobs route) | |
//! | `SWITCHYARD_JOB_TIMEOUT_MS` | time to store one job, every attempt included (≤ 25000, below the function's timeout) | 5000 |
//! | `SWITCHYARD_FIFO_GROUP_HEADER` | for a `.fifo` queue: header naming the message group (else the client IP) | `x-message-group-id` |
//! | `SWITCHYARD_LOAD_NAMESPACE` | CloudWatch namespace of the load metric that targets publish (turns it on) | |
//! | `SWITCHYARD_LOAD_METRIC` | its metric name (required with the namespace), e.g. `ActiveConnections` | |
//! | `SWITCHYARD_LOAD_DIMENSION` | the dimension whose value is the target id (instance id, or `host:port` for static targets) | `InstanceId` |
//! | `SWITCHYARD_LOAD_PERIOD_SECS` | the metric's period: 1, 5, 10, 30 (high resolution) or a multiple of 60 | 10 |
//! | `SWITCHYARD_LOAD_REFRESH_SECS` | how often the router reads it | 5 |
//! | `SWITCHYARD_LOAD_FADE_SECS` | age at which a report no longer counts (it fades linearly until then) | 30 |
//! | `SWITCHYARD_WAKE_SIZE` | Auto Scaling groups: when a request finds its group at zero, raise it to this size (0: never wake) | 0 |
//! | `SWITCHYARD_WAKE_HOLD_MS` | how long an idempotent request waits for the woken group (≤ 28000) | 20000 |
//! | `SWITCHYARD_WAKE_POLL_MS` | how often a held request's router rediscovers the group | 1000 |
//! | `SWITCHYARD_METRICS_NAMESPACE` | namespace of the router's own EMF metrics | `Switchyard` |
//! | `SWITCHYARD_METRICS_INTERVAL_SECS` | how often per-target counts are flushed as one EMF line per target (0: never) | 10 |

use std::time::Duration;

use switchyard_algorithms::{CookieKey, StickyCookie};
pub use switchyard_env::ConfigError;
use switchyard_env::Env;
use switchyard_routing::{Algorithm, GroupCookieKey, GroupCookies, Routes};

/// The longest a job may take to store, in milliseconds: API Gateway gives up at 30 s; some time
/// is left for the answer.
const MAX_JOB_BUDGET_MS: u64 = 25_000;

/// Where targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// A fixed list of `host:port` addresses.
    Static(Vec<String>),
    /// An Auto Scaling group's instances on `port`.
    Group { name: String, port: u16 },
}

/// Without a routing document: requests on this route are queued, not proxied (the document
/// made from the settings has one rule for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsRoute {
    pub method: http::Method,
    pub path: String,
    pub queue_url: String,
}

/// Where the routing document comes from.
#[derive(Debug, Clone)]
pub enum RoutesSource {
    /// Fixed until the next deploy: `SWITCHYARD_ROUTES`, or the document made from the
    /// one-group settings (`SWITCHYARD_TARGETS` or `SWITCHYARD_TARGET_GROUP`, and
    /// `SWITCHYARD_JOBS_ROUTE`). Validated with the rest of the configuration.
    Fixed(Routes),
    /// An SSM parameter, read at start and every `refresh`: changes without a deploy.
    Parameter { name: String, refresh: Duration },
}

/// A per-target load metric that the targets publish to CloudWatch (e.g. open connections). It
/// adds what other routers sent to a target to this router's own in-flight count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadMetric {
    pub namespace: String,
    pub metric: String,
    /// The dimension whose value is a target's id.
    pub dimension: String,
    pub period_secs: u32,
    pub refresh: Duration,
    pub fade: Duration,
}

impl LoadMetric {
    /// The load metric the targets publish, when `SWITCHYARD_LOAD_NAMESPACE` and
    /// `SWITCHYARD_LOAD_METRIC` are both set (the router's shared load view, and the health
    /// checker's view of a leaving instance's in-flight requests); `None` when neither is.
    pub fn from_env(env: &Env<'_>) -> Result<Option<Self>, ConfigError> {
        let load = match (env.get("SWITCHYARD_LOAD_NAMESPACE"), env.get("SWITCHYARD_LOAD_METRIC")) {
            (None, None) => None,
            (Some(namespace), Some(metric)) if !namespace.trim().is_empty() && !metric.trim().is_empty() => {
                let period_secs = env.number("SWITCHYARD_LOAD_PERIOD_SECS", 10_u32, ..)?;
                if !(matches!(period_secs, 1 | 5 | 10 | 30) || (period_secs > 0 && period_secs % 60 == 0)) {
                    return Err(ConfigError::new(
                        "SWITCHYARD_LOAD_PERIOD_SECS",
                        format!("{period_secs} is not 1, 5, 10, 30 or a multiple of 60 (CloudWatch periods)"),
                    ));
                }
                let refresh = env.duration_secs("SWITCHYARD_LOAD_REFRESH_SECS", Duration::from_secs(5), 1..)?;
                let fade = env.duration_secs("SWITCHYARD_LOAD_FADE_SECS", Duration::from_secs(30), 1..)?;
                Some(LoadMetric {
                    namespace: namespace.trim().to_owned(),
                    metric: metric.trim().to_owned(),
                    dimension: env.get("SWITCHYARD_LOAD_DIMENSION").unwrap_or_else(|| "InstanceId".into()),
                    period_secs,
                    refresh,
                    fade,
                })
            }
            _ => {
                return Err(ConfigError::new(
                    "SWITCHYARD_LOAD_METRIC",
                    "SWITCHYARD_LOAD_NAMESPACE and SWITCHYARD_LOAD_METRIC go together: set both or neither",
                ));
            }
        };
        Ok(load)
    }
}

/// The router's configuration, validated.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub routes: RoutesSource,
    /// The one-group settings the fixed document was made from (`None` with a document).
    pub targets: Option<TargetSource>,
    /// How `sticky_cookie` groups sign their target cookies (set with `SWITCHYARD_STICKY_SECRET`).
    pub sticky: Option<StickyCookie>,
    /// Signs weighted forwards' group cookies, and their name.
    pub group_cookies: Option<GroupCookies>,
    pub group_cookie_name: String,
    /// For Auto Scaling groups: the tag that overrides an instance's endpoint, and how long a
    /// discovered set is used.
    pub endpoint_tag: String,
    pub discovery_ttl: Duration,
    pub cookie_name: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Idempotent requests only: one attempt's limit, after which the next goes to another target
    /// within `timeout` (`None`: an attempt may take the whole `timeout`).
    pub attempt_timeout: Option<Duration>,
    pub max_body_bytes: usize,
    pub max_attempts: usize,
    pub jobs: Option<JobsRoute>,
    /// For FIFO queues: the header naming a job's message group (else the client IP).
    pub fifo_group_header: String,
    /// The time one job may take to store, every attempt included: below the function's timeout
    /// (and API Gateway's 30 s), so that the client gets the router's answer, not the gateway's.
    pub job_budget: Duration,
    pub load_metric: Option<LoadMetric>,
    /// Namespace of the router's EMF metrics.
    pub metrics_namespace: String,
    /// How often per-target counts are flushed (zero: never).
    pub metrics_interval: Duration,
    /// Waking a group that has scaled to zero, when a request finds no target.
    pub wake: Option<Wake>,
}

/// How the router wakes a group at zero: it raises the desired capacity to `size` (only from 0),
/// holds an idempotent request up to `hold` while it rediscovers every `poll`, and otherwise
/// answers 503 with Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    pub size: u32,
    pub hold: Duration,
    pub poll: Duration,
}

/// The longest a request may be held while its group wakes, in milliseconds: API Gateway
/// answers 504 at 30 s.
const MAX_WAKE_HOLD_MS: u64 = 28_000;

impl RouterConfig {
    /// Whether anything configured calls AWS: the document's parameter, group discovery, a
    /// queue, the load metric.
    pub fn needs_aws(&self) -> bool {
        let calls = |routes: &Routes| {
            routes
                .target_groups()
                .iter()
                .any(|g| matches!(g.discovery(), switchyard_routing::Discovery::AutoScalingGroup { .. }))
                || crate::table::queue_urls(routes).next().is_some()
        };
        match &self.routes {
            RoutesSource::Parameter { .. } => true,
            RoutesSource::Fixed(routes) => calls(routes) || self.load_metric.is_some(),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any key → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&get);
        let document = env.get("SWITCHYARD_ROUTES").filter(|d| !d.trim().is_empty());
        let parameter = env.string("SWITCHYARD_ROUTES_PARAMETER");
        let with_document = document.is_some() || parameter.is_some();
        if document.is_some() && parameter.is_some() {
            return Err(ConfigError::new("SWITCHYARD_ROUTES", "set it or SWITCHYARD_ROUTES_PARAMETER, not both"));
        }
        if with_document {
            for key in
                ["SWITCHYARD_TARGETS", "SWITCHYARD_TARGET_GROUP", "SWITCHYARD_JOBS_ROUTE", "SWITCHYARD_ALGORITHM"]
            {
                if env.get(key).is_some() {
                    return Err(ConfigError::new(
                        key,
                        "the routing document names the targets, the algorithms and the queues: remove this setting",
                    ));
                }
            }
        }
        let targets = match (with_document, env.list("SWITCHYARD_TARGETS")) {
            (true, _) => None,
            (false, Some(targets)) => {
                if targets.is_empty() {
                    return Err(ConfigError::new("SWITCHYARD_TARGETS", "lists no target"));
                }
                for t in &targets {
                    validate_address(t).map_err(|m| ConfigError::new("SWITCHYARD_TARGETS", m))?;
                }
                Some(TargetSource::Static(targets))
            }
            (false, None) => match env.string("SWITCHYARD_TARGET_GROUP") {
                Some(name) => {
                    let port = env.number("SWITCHYARD_TARGET_PORT", 80, 1..=u16::MAX)?;
                    Some(TargetSource::Group { name, port })
                }
                None => {
                    return Err(ConfigError::new(
                        "SWITCHYARD_TARGETS",
                        "is not set, nor SWITCHYARD_TARGET_GROUP, nor a routing document (SWITCHYARD_ROUTES or \
                         SWITCHYARD_ROUTES_PARAMETER): name static host:port targets, an Auto Scaling group or a document",
                    ));
                }
            },
        };
        let discovery_ttl = env.duration_secs("SWITCHYARD_DISCOVERY_TTL_SECS", Duration::from_secs(10), ..)?;
        let endpoint_tag = env.get("SWITCHYARD_ENDPOINT_TAG").unwrap_or_else(|| "switchyard:endpoint".into());
        let cookie_name = env.get("SWITCHYARD_COOKIE_NAME").unwrap_or_else(|| "switchyard".into());
        if cookie_name.is_empty() || !cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ConfigError::new("SWITCHYARD_COOKIE_NAME", "letters, digits, '_' and '-' only"));
        }
        let sticky = match env.get("SWITCHYARD_STICKY_SECRET") {
            None => None,
            Some(secret) => {
                let key = CookieKey::new(secret.into_bytes())
                    .map_err(|e| ConfigError::new("SWITCHYARD_STICKY_SECRET", e.to_string()))?;
                let max_age = env.duration_secs("SWITCHYARD_COOKIE_MAX_AGE_SECS", Duration::from_secs(3600), 1..)?;
                Some(StickyCookie::new(key, max_age))
            }
        };
        let algorithms = [
            Algorithm::RoundRobin,
            Algorithm::StickyCookie,
            Algorithm::StickyIp,
            Algorithm::LeastConnections,
            Algorithm::PowerOfTwoChoices,
        ];
        let algorithm =
            env.choice("SWITCHYARD_ALGORITHM", Algorithm::RoundRobin, &algorithms.map(|a| (a.name(), a)))?;
        if algorithm == Algorithm::StickyCookie && sticky.is_none() {
            return Err(ConfigError::new("SWITCHYARD_STICKY_SECRET", "is required for sticky_cookie"));
        }
        let group_cookies = match env.get("SWITCHYARD_GROUP_COOKIE_SECRET") {
            Some(secret) => Some(
                GroupCookieKey::new(secret.into_bytes())
                    .map_err(|e| ConfigError::new("SWITCHYARD_GROUP_COOKIE_SECRET", e.to_string()))?,
            ),
            None => env.get("SWITCHYARD_STICKY_SECRET").and_then(|s| GroupCookieKey::new(s.into_bytes()).ok()),
        }
        .map(|key| GroupCookies::new(&key));
        let group_cookie_name = env.get("SWITCHYARD_GROUP_COOKIE_NAME").unwrap_or_else(|| "switchyard-group".into());
        if group_cookie_name.is_empty()
            || !group_cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError::new("SWITCHYARD_GROUP_COOKIE_NAME", "letters, digits, '_' and '-' only"));
        }
        let max_attempts = env.number("SWITCHYARD_MAX_ATTEMPTS", 3, 1..=switchyard_algorithms::MAX_CANDIDATES)?;
        let connect_timeout = env.duration_ms("SWITCHYARD_CONNECT_TIMEOUT_MS", Duration::from_millis(1000), ..)?;
        let timeout = env.duration_ms("SWITCHYARD_TIMEOUT_MS", Duration::from_millis(25_000), ..)?;
        if connect_timeout.is_zero() || timeout < connect_timeout {
            return Err(ConfigError::new(
                "SWITCHYARD_TIMEOUT_MS",
                "timeouts must satisfy 0 < connect timeout ≤ timeout",
            ));
        }
        let jobs = match env.string("SWITCHYARD_JOBS_ROUTE") {
            None => None,
            Some(route) => {
                let (method, path) = route.split_once(' ').ok_or_else(|| {
                    ConfigError::new("SWITCHYARD_JOBS_ROUTE", format!("{route:?} is not `METHOD /path`"))
                })?;
                let method: http::Method = method.parse().map_err(|_| {
                    ConfigError::new("SWITCHYARD_JOBS_ROUTE", format!("{method:?} is not an HTTP method"))
                })?;
                if !path.starts_with('/') {
                    return Err(ConfigError::new("SWITCHYARD_JOBS_ROUTE", format!("{path:?} does not start with /")));
                }
                let queue_url =
                    env.get("SWITCHYARD_WORK_QUEUE_URL").filter(|u| u.starts_with("http")).ok_or_else(|| {
                        ConfigError::new(
                            "SWITCHYARD_WORK_QUEUE_URL",
                            "is required with SWITCHYARD_JOBS_ROUTE (the queue's URL)",
                        )
                    })?;
                Some(JobsRoute { method, path: path.trim().to_owned(), queue_url })
            }
        };
        let fifo_group_header = env.get("SWITCHYARD_FIFO_GROUP_HEADER").unwrap_or_else(|| "x-message-group-id".into());
        if http::HeaderName::from_bytes(fifo_group_header.as_bytes()).is_err() {
            return Err(ConfigError::new(
                "SWITCHYARD_FIFO_GROUP_HEADER",
                format!("{fifo_group_header:?} is not a header name"),
            ));
        }
        let job_budget =
            env.duration_ms("SWITCHYARD_JOB_TIMEOUT_MS", Duration::from_millis(5_000), 1..=MAX_JOB_BUDGET_MS)?;
        let load_metric = LoadMetric::from_env(&env)?;
        let metrics_namespace = env.string_or("SWITCHYARD_METRICS_NAMESPACE", switchyard_metrics::DEFAULT_NAMESPACE)?;
        let wake = match env.number("SWITCHYARD_WAKE_SIZE", 0_u32, 0..=1000)? {
            0 => None,
            size => {
                if matches!(targets, Some(TargetSource::Static(_))) {
                    return Err(ConfigError::new(
                        "SWITCHYARD_WAKE_SIZE",
                        "waking needs an Auto Scaling group (SWITCHYARD_TARGET_GROUP)",
                    ));
                }
                let hold =
                    env.duration_ms("SWITCHYARD_WAKE_HOLD_MS", Duration::from_millis(20_000), ..=MAX_WAKE_HOLD_MS)?;
                let poll = env.duration_ms("SWITCHYARD_WAKE_POLL_MS", Duration::from_millis(1_000), 100..)?;
                Some(Wake { size, hold, poll })
            }
        };
        let attempt_timeout = match env.number("SWITCHYARD_ATTEMPT_TIMEOUT_MS", 10_000, ..)? {
            0 => None,
            ms if Duration::from_millis(ms) < connect_timeout => {
                return Err(ConfigError::new(
                    "SWITCHYARD_ATTEMPT_TIMEOUT_MS",
                    "must be 0 (none) or at least SWITCHYARD_CONNECT_TIMEOUT_MS",
                ));
            }
            ms => Some(Duration::from_millis(ms)),
        };
        let routes = match (document, parameter) {
            (Some(document), _) => RoutesSource::Fixed(
                Routes::from_json(&document)
                    .map_err(|errors| ConfigError::new("SWITCHYARD_ROUTES", crate::table::listed(&errors)))?,
            ),
            (None, Some(name)) => {
                let refresh = env.duration_secs("SWITCHYARD_ROUTES_REFRESH_SECS", Duration::from_secs(10), 1..)?;
                RoutesSource::Parameter { name, refresh }
            }
            (None, None) => {
                let slow_start = env.number("SWITCHYARD_SLOW_START_SECS", 0, ..)?;
                let document = settings_document(targets.as_ref(), algorithm, jobs.as_ref(), slow_start);
                RoutesSource::Fixed(Routes::compile(&document).map_err(|errors| {
                    ConfigError::new(
                        "SWITCHYARD_TARGETS",
                        format!("these settings make no valid routing document: {}", crate::table::listed(&errors)),
                    )
                })?)
            }
        };
        Ok(RouterConfig {
            routes,
            sticky,
            group_cookies,
            group_cookie_name,
            endpoint_tag,
            discovery_ttl,
            fifo_group_header,
            job_budget,
            attempt_timeout,
            wake,
            load_metric,
            metrics_namespace,
            metrics_interval: env.duration_secs("SWITCHYARD_METRICS_INTERVAL_SECS", Duration::from_secs(10), ..)?,
            jobs,
            targets,
            cookie_name,
            connect_timeout,
            timeout,
            max_body_bytes: env.number("SWITCHYARD_MAX_BODY_BYTES", 6 * 1024 * 1024, ..)?,
            max_attempts,
        })
    }
}

/// The name of the one target group a document made from the settings has.
pub const SETTINGS_GROUP: &str = "default";

/// The routing document the one-group settings mean: one target group (`default`), forwarded
/// to by default, and with a jobs route one rule (priority 1) that enqueues its requests.
fn settings_document(
    targets: Option<&TargetSource>,
    algorithm: Algorithm,
    jobs: Option<&JobsRoute>,
    slow_start_secs: u64,
) -> switchyard_routing::Document {
    use switchyard_routing::document::{ActionSpec, ConditionSpec, DiscoverySpec, RuleSpec, TargetGroupSpec};
    let discovery = match targets {
        Some(TargetSource::Group { name, port }) => {
            DiscoverySpec::AutoScalingGroup { name: name.clone(), port: u64::from(*port) }
        }
        Some(TargetSource::Static(list)) => DiscoverySpec::Static { targets: list.clone() },
        None => DiscoverySpec::Static { targets: Vec::new() },
    };
    let slow_start_secs = (slow_start_secs > 0).then_some(slow_start_secs);
    let group = TargetGroupSpec { discovery, algorithm, slow_start_secs, health_check: None };
    let rules = jobs
        .map(|jobs| RuleSpec {
            priority: 1,
            conditions: vec![
                ConditionSpec::HttpRequestMethod { values: vec![jobs.method.to_string()] },
                ConditionSpec::PathPattern { values: vec![jobs.path.clone()] },
            ],
            action: ActionSpec::Enqueue { queue: jobs.queue_url.clone() },
        })
        .into_iter()
        .collect();
    switchyard_routing::Document {
        target_groups: [(SETTINGS_GROUP.to_owned(), group)].into_iter().collect(),
        rules,
        default_action: ActionSpec::Forward { target_group: SETTINGS_GROUP.to_owned() },
    }
}

/// `host:port` with a port, and nothing that could smuggle a path or credentials into the URI.
pub(crate) fn validate_address(address: &str) -> Result<(), String> {
    let (host, port) = address.rsplit_once(':').ok_or_else(|| format!("{address:?} has no port"))?;
    port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| format!("{address:?} has no valid port"))?;
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    if !host_ok {
        return Err(format!("{address:?} is not a host name or IP address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<RouterConfig, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        RouterConfig::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn static_targets_and_defaults() {
        let c = config(&[("SWITCHYARD_TARGETS", "10.0.0.1:8080, 10.0.0.2:8080")]).unwrap();
        assert_eq!(c.targets, Some(TargetSource::Static(vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()])));
        let RoutesSource::Fixed(routes) = &c.routes else { panic!("a fixed document") };
        assert_eq!(routes.target_groups()[0].algorithm(), switchyard_routing::Algorithm::RoundRobin);
        assert_eq!(c.max_attempts, 3);
    }

    #[test]
    fn a_group_source_with_its_defaults() {
        let c = config(&[("SWITCHYARD_TARGET_GROUP", "web")]).unwrap();
        assert_eq!(c.targets, Some(TargetSource::Group { name: "web".into(), port: 80 }));
        assert_eq!((c.endpoint_tag.as_str(), c.discovery_ttl), ("switchyard:endpoint", Duration::from_secs(10)));
        assert!(
            config(&[("SWITCHYARD_TARGET_GROUP", "web"), ("SWITCHYARD_TARGET_PORT", "70000")])
                .unwrap_err()
                .to_string()
                .contains("within 1..=65535")
        );
    }

    #[test]
    fn errors_name_the_key_and_what_is_allowed() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[], "SWITCHYARD_TARGETS"),
            (&[("SWITCHYARD_TARGETS", "10.0.0.1")], "has no port"),
            (&[("SWITCHYARD_TARGETS", "evil.com/path:80")], "not a host name"),
            (
                &[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_ALGORITHM", "random")],
                "expected round_robin, sticky_cookie",
            ),
            (&[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_ALGORITHM", "sticky_cookie")], "SWITCHYARD_STICKY_SECRET"),
            (
                &[
                    ("SWITCHYARD_TARGETS", "a:1"),
                    ("SWITCHYARD_ALGORITHM", "sticky_cookie"),
                    ("SWITCHYARD_STICKY_SECRET", "short"),
                ],
                "at least 32 bytes",
            ),
            (&[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_MAX_ATTEMPTS", "0")], "SWITCHYARD_MAX_ATTEMPTS"),
        ];
        for (pairs, expected) in cases {
            let err = config(pairs).unwrap_err().to_string();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn a_jobs_route_needs_a_method_a_path_and_a_queue() {
        let base = [("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_JOBS_ROUTE", "POST /jobs")];
        assert!(config(&base).unwrap_err().to_string().starts_with("SWITCHYARD_WORK_QUEUE_URL"));
        let ok = config(&[
            base[0],
            base[1],
            ("SWITCHYARD_WORK_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/work.fifo"),
        ])
        .unwrap();
        let jobs = ok.jobs.unwrap();
        assert_eq!((jobs.method.as_str(), jobs.path.as_str()), ("POST", "/jobs"));
        assert_eq!(ok.fifo_group_header, "x-message-group-id");
        let RoutesSource::Fixed(routes) = &ok.routes else { panic!("a fixed document") };
        assert_eq!(routes.rules().len(), 1, "the jobs route is one rule");
        let bad = config(&[base[0], ("SWITCHYARD_JOBS_ROUTE", "jobs"), ("SWITCHYARD_WORK_QUEUE_URL", "https://q")]);
        assert!(bad.unwrap_err().to_string().contains("METHOD /path"));
    }

    #[test]
    fn a_load_metric_needs_namespace_and_name_and_a_cloudwatch_period() {
        let base = ("SWITCHYARD_TARGETS", "a:1");
        assert_eq!(config(&[base]).unwrap().load_metric, None);
        let m = config(&[base, ("SWITCHYARD_LOAD_NAMESPACE", "App"), ("SWITCHYARD_LOAD_METRIC", "Connections")])
            .unwrap()
            .load_metric
            .unwrap();
        assert_eq!((m.dimension.as_str(), m.period_secs, m.refresh.as_secs()), ("InstanceId", 10, 5));
        let half = config(&[base, ("SWITCHYARD_LOAD_NAMESPACE", "App")]).unwrap_err().to_string();
        assert!(half.contains("set both or neither"), "{half}");
        let period = config(&[
            base,
            ("SWITCHYARD_LOAD_NAMESPACE", "App"),
            ("SWITCHYARD_LOAD_METRIC", "Connections"),
            ("SWITCHYARD_LOAD_PERIOD_SECS", "7"),
        ])
        .unwrap_err()
        .to_string();
        assert!(period.starts_with("SWITCHYARD_LOAD_PERIOD_SECS"), "{period}");
    }

    const DOCUMENT: &str = r#"{
        "target_groups": {"web": {"discovery": {"type": "static", "targets": ["10.0.0.1:80"]}}},
        "default_action": {"type": "forward", "target_group": "web"}
    }"#;

    #[test]
    fn a_routing_document_replaces_the_one_group_settings() {
        let c = config(&[("SWITCHYARD_ROUTES", DOCUMENT)]).unwrap();
        assert!(matches!(c.routes, RoutesSource::Fixed(_)));
        assert_eq!(c.targets, None);
        let both = config(&[("SWITCHYARD_ROUTES", DOCUMENT), ("SWITCHYARD_TARGETS", "a:1")]).unwrap_err();
        assert_eq!(both.key, "SWITCHYARD_TARGETS", "{both}");
    }

    #[test]
    fn a_bad_document_stops_the_cold_start_naming_the_rule_and_the_field() {
        let bad = DOCUMENT.replace(r#""default_action""#, r#""rules": [{"priority": 20, "conditions": [{"field": "host_header", "values": ["api.*.example.1"]}], "action": {"type": "forward", "target_group": "web"}}], "default_action""#);
        let err = config(&[("SWITCHYARD_ROUTES", &bad)]).unwrap_err();
        assert_eq!(err.key, "SWITCHYARD_ROUTES");
        assert!(err.problem.contains("rules[0] (priority 20): conditions[0].values[0]"), "{err}");
    }

    #[test]
    fn a_parameter_is_read_at_start_and_refreshed() {
        let c = config(&[("SWITCHYARD_ROUTES_PARAMETER", "/switchyard/routes")]).unwrap();
        assert!(
            matches!(&c.routes, RoutesSource::Parameter { name, refresh } if name == "/switchyard/routes" && refresh.as_secs() == 10)
        );
        assert!(c.needs_aws());
        let both = config(&[("SWITCHYARD_ROUTES_PARAMETER", "/p"), ("SWITCHYARD_ROUTES", DOCUMENT)]).unwrap_err();
        assert_eq!(both.key, "SWITCHYARD_ROUTES");
    }

    #[test]
    fn slow_start_takes_alb_s_window_of_30_to_900_seconds() {
        let ok = config(&[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_SLOW_START_SECS", "60")]).unwrap();
        let RoutesSource::Fixed(routes) = &ok.routes else { panic!("a fixed document") };
        assert_eq!(routes.target_groups()[0].slow_start(), Some(Duration::from_secs(60)));
        let short = config(&[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_SLOW_START_SECS", "5")]).unwrap_err();
        assert!(short.problem.contains("slow_start"), "{short}");
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = "a secret that is long enough to sign cookies";
        let c = config(&[
            ("SWITCHYARD_TARGETS", "a:1"),
            ("SWITCHYARD_ALGORITHM", "sticky_cookie"),
            ("SWITCHYARD_STICKY_SECRET", secret),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains(secret));
    }
}
