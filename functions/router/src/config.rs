//! The router's configuration, from the environment at cold start. A bad value stops the cold
//! start with a message naming the key and what is allowed.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SWITCHYARD_TARGETS` | static targets, `host:port` separated by commas | (or a group) |
//! | `SWITCHYARD_TARGET_GROUP` | Auto Scaling group whose InService, Healthy instances are the targets | |
//! | `SWITCHYARD_TARGET_PORT` | port on the instances' private IPs | 80 |
//! | `SWITCHYARD_ENDPOINT_TAG` | instance tag that overrides the endpoint (`host:port`) | `switchyard:endpoint` |
//! | `SWITCHYARD_DISCOVERY_TTL_SECS` | how long a discovered set is used before it is refreshed | 10 |
//! | `SWITCHYARD_ALGORITHM` | `round_robin`, `sticky_cookie`, `sticky_ip`, `least_connections`, `power_of_two_choices` | `round_robin` |
//! | `SWITCHYARD_STICKY_SECRET` | cookie signing key, at least 32 bytes (required for `sticky_cookie`) | |
//! | `SWITCHYARD_COOKIE_NAME` | sticky cookie name | `switchyard` |
//! | `SWITCHYARD_COOKIE_MAX_AGE_SECS` | sticky cookie lifetime | 3600 |
//! | `SWITCHYARD_CONNECT_TIMEOUT_MS` | connect timeout per attempt | 1000 |
//! | `SWITCHYARD_TIMEOUT_MS` | total time for the upstream part of a request | 25000 |
//! | `SWITCHYARD_ATTEMPT_TIMEOUT_MS` | idempotent requests: one attempt's limit, then the next target within the total (0: none) | 10000 |
//! | `SWITCHYARD_MAX_BODY_BYTES` | largest request body accepted | 6291456 (Lambda's payload limit) |
//! | `SWITCHYARD_MAX_ATTEMPTS` | attempts per request, first included (1..=8) | 3 |
//! | `SWITCHYARD_JOBS_ROUTE` | `METHOD /path` whose requests are queued instead of proxied | |
//! | `SWITCHYARD_WORK_QUEUE_URL` | the queue they go to (required with a jobs route) | |
//! | `SWITCHYARD_JOB_TIMEOUT_MS` | time to store one job, every attempt included (≤ 25000, below the function's timeout) | 5000 |
//! | `SWITCHYARD_FIFO_GROUP_HEADER` | for a `.fifo` queue: header naming the message group (else the client IP) | `x-message-group-id` |
//! | `SWITCHYARD_LOAD_NAMESPACE` | CloudWatch namespace of the load metric that targets publish (turns it on) | |
//! | `SWITCHYARD_LOAD_METRIC` | its metric name (required with the namespace), e.g. `ActiveConnections` | |
//! | `SWITCHYARD_LOAD_DIMENSION` | the dimension whose value is the target id (instance id, or `host:port` for static targets) | `InstanceId` |
//! | `SWITCHYARD_LOAD_PERIOD_SECS` | the metric's period: 1, 5, 10, 30 (high resolution) or a multiple of 60 | 10 |
//! | `SWITCHYARD_LOAD_REFRESH_SECS` | how often the router reads it | 5 |
//! | `SWITCHYARD_LOAD_FADE_SECS` | age at which a report no longer counts (it fades linearly until then) | 30 |
//! | `SWITCHYARD_WAKE_SIZE` | with a group source: when a request finds the group at zero, raise it to this size (0: never wake) | 0 |
//! | `SWITCHYARD_WAKE_HOLD_MS` | how long an idempotent request waits for the woken group (≤ 28000) | 20000 |
//! | `SWITCHYARD_WAKE_POLL_MS` | how often a held request's router rediscovers the group | 1000 |
//! | `SWITCHYARD_METRICS_NAMESPACE` | namespace of the router's own EMF metrics | `Switchyard` |
//! | `SWITCHYARD_METRICS_INTERVAL_SECS` | how often per-target counts are flushed as one EMF line per target (0: never) | 10 |

use std::time::Duration;

use switchyard_algorithms::{Algorithm, CookieKey, StickyCookie};

/// The longest a job may take to store: API Gateway gives up at 30 s; some time is left for the
/// answer.
const MAX_JOB_BUDGET: Duration = Duration::from_millis(25_000);

/// Why the configuration was refused.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    pub key: &'static str,
    pub message: String,
}

fn invalid(key: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { key, message: message.into() }
}

/// Where targets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSource {
    /// A fixed list of `host:port` addresses.
    Static(Vec<String>),
    /// An Auto Scaling group, refreshed every `ttl`.
    Group { name: String, port: u16, endpoint_tag: String, ttl: Duration },
}

/// Requests on this route are queued, not proxied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsRoute {
    pub method: http::Method,
    pub path: String,
    pub queue_url: String,
    /// FIFO queues need a message group; it comes from this header, else the client IP.
    pub fifo_group_header: Option<String>,
    /// The time one job may take to store, every attempt included: below the function's timeout
    /// (and API Gateway's 30 s), so that the client gets the router's answer, not the gateway's.
    pub budget: Duration,
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

/// The router's configuration, validated.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    pub targets: TargetSource,
    pub algorithm: Algorithm,
    pub cookie_name: String,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    /// Idempotent requests only: one attempt's limit, after which the next goes to another target
    /// within `timeout` (`None`: an attempt may take the whole `timeout`).
    pub attempt_timeout: Option<Duration>,
    pub max_body_bytes: usize,
    pub max_attempts: usize,
    pub jobs: Option<JobsRoute>,
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

/// The longest a request may be held while its group wakes: API Gateway answers 504 at 30 s.
const MAX_WAKE_HOLD: Duration = Duration::from_millis(28_000);

impl RouterConfig {
    /// Whether anything configured calls AWS: group discovery, the jobs queue, the load metric.
    pub fn needs_aws(&self) -> bool {
        matches!(self.targets, TargetSource::Group { .. }) || self.jobs.is_some() || self.load_metric.is_some()
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any key → value lookup (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let number = |key: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(key) {
                None => Ok(default),
                Some(v) => v.trim().parse().map_err(|_| invalid(key, format!("expected a whole number, got {v:?}"))),
            }
        };
        let targets = match get("SWITCHYARD_TARGETS") {
            Some(list) => {
                let targets: Vec<String> =
                    list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect();
                if targets.is_empty() {
                    return Err(invalid("SWITCHYARD_TARGETS", "lists no target"));
                }
                for t in &targets {
                    validate_address(t).map_err(|m| invalid("SWITCHYARD_TARGETS", m))?;
                }
                TargetSource::Static(targets)
            }
            None => match get("SWITCHYARD_TARGET_GROUP").filter(|g| !g.trim().is_empty()) {
                Some(name) => {
                    let port = number("SWITCHYARD_TARGET_PORT", 80)?;
                    let port = u16::try_from(port).ok().filter(|p| *p > 0).ok_or_else(|| {
                        invalid("SWITCHYARD_TARGET_PORT", format!("{port} is not a port (1..=65535)"))
                    })?;
                    let ttl = Duration::from_secs(number("SWITCHYARD_DISCOVERY_TTL_SECS", 10)?);
                    let endpoint_tag = get("SWITCHYARD_ENDPOINT_TAG").unwrap_or_else(|| "switchyard:endpoint".into());
                    TargetSource::Group { name: name.trim().to_owned(), port, endpoint_tag, ttl }
                }
                None => {
                    return Err(invalid(
                        "SWITCHYARD_TARGETS",
                        "is not set, nor SWITCHYARD_TARGET_GROUP: name static host:port targets or an Auto Scaling group",
                    ));
                }
            },
        };
        let cookie_name = get("SWITCHYARD_COOKIE_NAME").unwrap_or_else(|| "switchyard".into());
        if cookie_name.is_empty() || !cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(invalid("SWITCHYARD_COOKIE_NAME", "letters, digits, '_' and '-' only"));
        }
        let algorithm = match get("SWITCHYARD_ALGORITHM").as_deref().unwrap_or("round_robin") {
            "round_robin" => Algorithm::RoundRobin,
            "sticky_ip" => Algorithm::StickyIp,
            "least_connections" => Algorithm::LeastConnections,
            "power_of_two_choices" => Algorithm::PowerOfTwoChoices,
            "sticky_cookie" => {
                let secret = get("SWITCHYARD_STICKY_SECRET")
                    .ok_or_else(|| invalid("SWITCHYARD_STICKY_SECRET", "is required for sticky_cookie"))?;
                let key = CookieKey::new(secret.into_bytes())
                    .map_err(|e| invalid("SWITCHYARD_STICKY_SECRET", e.to_string()))?;
                let max_age = number("SWITCHYARD_COOKIE_MAX_AGE_SECS", 3600)?;
                if max_age == 0 {
                    return Err(invalid("SWITCHYARD_COOKIE_MAX_AGE_SECS", "must be at least 1"));
                }
                Algorithm::StickyCookie(StickyCookie::new(key, Duration::from_secs(max_age)))
            }
            other => {
                return Err(invalid(
                    "SWITCHYARD_ALGORITHM",
                    format!(
                        "{other:?} is not one of round_robin, sticky_cookie, sticky_ip, least_connections, power_of_two_choices"
                    ),
                ));
            }
        };
        let max_attempts = number("SWITCHYARD_MAX_ATTEMPTS", 3)? as usize;
        if !(1..=switchyard_algorithms::MAX_CANDIDATES).contains(&max_attempts) {
            return Err(invalid(
                "SWITCHYARD_MAX_ATTEMPTS",
                format!("must be within 1..={}", switchyard_algorithms::MAX_CANDIDATES),
            ));
        }
        let connect_timeout = Duration::from_millis(number("SWITCHYARD_CONNECT_TIMEOUT_MS", 1000)?);
        let timeout = Duration::from_millis(number("SWITCHYARD_TIMEOUT_MS", 25_000)?);
        if connect_timeout.is_zero() || timeout < connect_timeout {
            return Err(invalid("SWITCHYARD_TIMEOUT_MS", "timeouts must satisfy 0 < connect timeout ≤ timeout"));
        }
        let jobs = match get("SWITCHYARD_JOBS_ROUTE").filter(|r| !r.trim().is_empty()) {
            None => None,
            Some(route) => {
                let (method, path) = route
                    .trim()
                    .split_once(' ')
                    .ok_or_else(|| invalid("SWITCHYARD_JOBS_ROUTE", format!("{route:?} is not `METHOD /path`")))?;
                let method: http::Method = method
                    .parse()
                    .map_err(|_| invalid("SWITCHYARD_JOBS_ROUTE", format!("{method:?} is not an HTTP method")))?;
                if !path.starts_with('/') {
                    return Err(invalid("SWITCHYARD_JOBS_ROUTE", format!("{path:?} does not start with /")));
                }
                let queue_url =
                    get("SWITCHYARD_WORK_QUEUE_URL").filter(|u| u.starts_with("http")).ok_or_else(|| {
                        invalid("SWITCHYARD_WORK_QUEUE_URL", "is required with SWITCHYARD_JOBS_ROUTE (the queue's URL)")
                    })?;
                let fifo_group_header = queue_url
                    .ends_with(".fifo")
                    .then(|| get("SWITCHYARD_FIFO_GROUP_HEADER").unwrap_or_else(|| "x-message-group-id".into()));
                let budget = Duration::from_millis(number("SWITCHYARD_JOB_TIMEOUT_MS", 5_000)?);
                if budget.is_zero() || budget > MAX_JOB_BUDGET {
                    return Err(invalid(
                        "SWITCHYARD_JOB_TIMEOUT_MS",
                        format!("must be within 1..={} (below API Gateway's 30 s)", MAX_JOB_BUDGET.as_millis()),
                    ));
                }
                Some(JobsRoute { method, path: path.trim().to_owned(), queue_url, fifo_group_header, budget })
            }
        };
        let load_metric = match (get("SWITCHYARD_LOAD_NAMESPACE"), get("SWITCHYARD_LOAD_METRIC")) {
            (None, None) => None,
            (Some(namespace), Some(metric)) if !namespace.trim().is_empty() && !metric.trim().is_empty() => {
                let period_secs = number("SWITCHYARD_LOAD_PERIOD_SECS", 10)?;
                if !(matches!(period_secs, 1 | 5 | 10 | 30) || (period_secs > 0 && period_secs % 60 == 0)) {
                    return Err(invalid(
                        "SWITCHYARD_LOAD_PERIOD_SECS",
                        format!("{period_secs} is not 1, 5, 10, 30 or a multiple of 60 (CloudWatch periods)"),
                    ));
                }
                let refresh = Duration::from_secs(number("SWITCHYARD_LOAD_REFRESH_SECS", 5)?);
                let fade = Duration::from_secs(number("SWITCHYARD_LOAD_FADE_SECS", 30)?);
                if refresh.is_zero() || fade.is_zero() {
                    return Err(invalid("SWITCHYARD_LOAD_REFRESH_SECS", "refresh and fade must be at least 1 second"));
                }
                Some(LoadMetric {
                    namespace: namespace.trim().to_owned(),
                    metric: metric.trim().to_owned(),
                    dimension: get("SWITCHYARD_LOAD_DIMENSION").unwrap_or_else(|| "InstanceId".into()),
                    period_secs: u32::try_from(period_secs).unwrap_or(u32::MAX),
                    refresh,
                    fade,
                })
            }
            _ => {
                return Err(invalid(
                    "SWITCHYARD_LOAD_METRIC",
                    "SWITCHYARD_LOAD_NAMESPACE and SWITCHYARD_LOAD_METRIC go together: set both or neither",
                ));
            }
        };
        let metrics_namespace = get("SWITCHYARD_METRICS_NAMESPACE").unwrap_or_else(|| "Switchyard".into());
        if metrics_namespace.trim().is_empty() {
            return Err(invalid("SWITCHYARD_METRICS_NAMESPACE", "must not be empty"));
        }
        let wake = match number("SWITCHYARD_WAKE_SIZE", 0)? {
            0 => None,
            size => {
                if !matches!(targets, TargetSource::Group { .. }) {
                    return Err(invalid(
                        "SWITCHYARD_WAKE_SIZE",
                        "waking needs an Auto Scaling group (SWITCHYARD_TARGET_GROUP)",
                    ));
                }
                let size = u32::try_from(size)
                    .ok()
                    .filter(|s| *s <= 1000)
                    .ok_or_else(|| invalid("SWITCHYARD_WAKE_SIZE", format!("{size} is not within 0..=1000")))?;
                let hold = Duration::from_millis(number("SWITCHYARD_WAKE_HOLD_MS", 20_000)?);
                if hold > MAX_WAKE_HOLD {
                    return Err(invalid(
                        "SWITCHYARD_WAKE_HOLD_MS",
                        format!("must be at most {} (API Gateway gives up at 30 s)", MAX_WAKE_HOLD.as_millis()),
                    ));
                }
                let poll = Duration::from_millis(number("SWITCHYARD_WAKE_POLL_MS", 1_000)?);
                if poll < Duration::from_millis(100) {
                    return Err(invalid("SWITCHYARD_WAKE_POLL_MS", "must be at least 100"));
                }
                Some(Wake { size, hold, poll })
            }
        };
        let attempt_timeout = match number("SWITCHYARD_ATTEMPT_TIMEOUT_MS", 10_000)? {
            0 => None,
            ms if Duration::from_millis(ms) < connect_timeout => {
                return Err(invalid(
                    "SWITCHYARD_ATTEMPT_TIMEOUT_MS",
                    "must be 0 (none) or at least SWITCHYARD_CONNECT_TIMEOUT_MS",
                ));
            }
            ms => Some(Duration::from_millis(ms)),
        };
        Ok(RouterConfig {
            attempt_timeout,
            wake,
            load_metric,
            metrics_namespace,
            metrics_interval: Duration::from_secs(number("SWITCHYARD_METRICS_INTERVAL_SECS", 10)?),
            jobs,
            targets,
            algorithm,
            cookie_name,
            connect_timeout,
            timeout,
            max_body_bytes: number("SWITCHYARD_MAX_BODY_BYTES", 6 * 1024 * 1024)? as usize,
            max_attempts,
        })
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
        assert_eq!(c.targets, TargetSource::Static(vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()]));
        assert_eq!(c.algorithm.name(), "round_robin");
        assert_eq!(c.max_attempts, 3);
    }

    #[test]
    fn a_group_source_with_its_defaults() {
        let c = config(&[("SWITCHYARD_TARGET_GROUP", "web")]).unwrap();
        assert_eq!(
            c.targets,
            TargetSource::Group {
                name: "web".into(),
                port: 80,
                endpoint_tag: "switchyard:endpoint".into(),
                ttl: Duration::from_secs(10)
            }
        );
        assert!(
            config(&[("SWITCHYARD_TARGET_GROUP", "web"), ("SWITCHYARD_TARGET_PORT", "70000")])
                .unwrap_err()
                .to_string()
                .contains("not a port")
        );
    }

    #[test]
    fn errors_name_the_key_and_what_is_allowed() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[], "SWITCHYARD_TARGETS"),
            (&[("SWITCHYARD_TARGETS", "10.0.0.1")], "has no port"),
            (&[("SWITCHYARD_TARGETS", "evil.com/path:80")], "not a host name"),
            (&[("SWITCHYARD_TARGETS", "a:1"), ("SWITCHYARD_ALGORITHM", "random")], "not one of round_robin"),
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
        assert_eq!(jobs.fifo_group_header.as_deref(), Some("x-message-group-id"));
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
