//! The worker's configuration, from the environment (or any lookup). A bad value is refused with
//! the key and what is allowed.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `SWITCHYARD_QUEUE_URL` | the work queue | (required) |
//! | `SWITCHYARD_CONCURRENCY` | jobs run at once | 4 |
//! | `SWITCHYARD_BATCH_SIZE` | messages per ReceiveMessage (1..=10) | 10 |
//! | `SWITCHYARD_WAIT_SECS` | long-poll wait (0..=20) | 20 |
//! | `SWITCHYARD_VISIBILITY_SECS` | visibility timeout set on receive; the heartbeat renews it at half-time | 30 |
//! | `SWITCHYARD_RETRY_DELAY_SECS` | a failed job's message becomes visible again after this; unset: the visibility timeout | |
//! | `SWITCHYARD_STOP_DEADLINE_SECS` | on stop, how long held jobs may run before their messages are released | 30 |
//! | `SWITCHYARD_INSTANCE_ID` | this worker's EC2 instance (`imds`: ask the instance metadata service); turns on scale-in protection and the lifecycle watch | |
//! | `SWITCHYARD_PROTECTION_IDLE_SECS` | idle time before scale-in protection is taken off | 5 |
//! | `SWITCHYARD_LIFECYCLE_CHECK_SECS` | how often the instance's lifecycle state is read | 10 |
//! | `SWITCHYARD_FLEET` | the scaler's fleet name: activity is published with this `Fleet` dimension | |
//! | `SWITCHYARD_METRICS_NAMESPACE` | namespace of the activity metrics | `Switchyard` |
//! | `SWITCHYARD_ACTIVITY_INTERVAL_SECS` | how often activity is published | 10 |

use std::time::Duration;

pub use switchyard_env::ConfigError;
use switchyard_env::Env;

/// Which instance this worker runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSource {
    /// Read from EC2's instance metadata service at start.
    Metadata,
    /// Given (local runs bind a worker process to an instance of a LocalStack group).
    Id(String),
}

/// The worker's configuration, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerConfig {
    pub queue_url: String,
    pub concurrency: usize,
    pub batch_size: i32,
    pub wait: Duration,
    pub visibility: Duration,
    pub retry_delay: Option<Duration>,
    pub stop_deadline: Duration,
    pub instance: Option<InstanceSource>,
    pub protection_idle: Duration,
    pub lifecycle_check: Duration,
    pub fleet: Option<String>,
    pub namespace: String,
    pub activity_interval: Duration,
}

impl WorkerConfig {
    /// Defaults for `queue_url`; tests and embedders change fields from here.
    pub fn new(queue_url: impl Into<String>) -> Self {
        WorkerConfig {
            queue_url: queue_url.into(),
            concurrency: 4,
            batch_size: 10,
            wait: Duration::from_secs(20),
            visibility: Duration::from_secs(30),
            retry_delay: None,
            stop_deadline: Duration::from_secs(30),
            instance: None,
            protection_idle: Duration::from_secs(5),
            lifecycle_check: Duration::from_secs(10),
            fleet: None,
            namespace: switchyard_metrics::DEFAULT_NAMESPACE.into(),
            activity_interval: Duration::from_secs(10),
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env::new(&get);
        let queue_url = env
            .get("SWITCHYARD_QUEUE_URL")
            .filter(|u| u.starts_with("http"))
            .ok_or_else(|| ConfigError::new("SWITCHYARD_QUEUE_URL", "is required: the work queue's URL"))?;
        let mut config = WorkerConfig::new(queue_url);
        config.concurrency = env.number("SWITCHYARD_CONCURRENCY", config.concurrency, 1..=1024)?;
        config.batch_size = env.number("SWITCHYARD_BATCH_SIZE", config.batch_size, 1..=10)?;
        config.wait = env.duration_secs("SWITCHYARD_WAIT_SECS", config.wait, 0..=20)?;
        // SQS allows up to 12 hours; at least 2 s leaves the heartbeat a second to act.
        config.visibility = env.duration_secs("SWITCHYARD_VISIBILITY_SECS", config.visibility, 2..=43_200)?;
        config.retry_delay = match env.get("SWITCHYARD_RETRY_DELAY_SECS") {
            None => None,
            Some(_) => Some(env.duration_secs("SWITCHYARD_RETRY_DELAY_SECS", Duration::ZERO, 0..=43_200)?),
        };
        config.stop_deadline = env.duration_secs("SWITCHYARD_STOP_DEADLINE_SECS", config.stop_deadline, 0..=3_600)?;
        config.instance = match env.string("SWITCHYARD_INSTANCE_ID") {
            None => None,
            Some(v) if v == "imds" => Some(InstanceSource::Metadata),
            Some(v) if v.starts_with("i-") && v.len() <= 19 => Some(InstanceSource::Id(v)),
            Some(v) => {
                return Err(ConfigError::new(
                    "SWITCHYARD_INSTANCE_ID",
                    format!("{v:?} is not an instance id (i-…) or `imds`"),
                ));
            }
        };
        config.protection_idle =
            env.duration_secs("SWITCHYARD_PROTECTION_IDLE_SECS", config.protection_idle, 0..=3_600)?;
        config.lifecycle_check =
            env.duration_secs("SWITCHYARD_LIFECYCLE_CHECK_SECS", config.lifecycle_check, 1..=3_600)?;
        config.fleet = env.string("SWITCHYARD_FLEET");
        config.namespace = env.string_or("SWITCHYARD_METRICS_NAMESPACE", &config.namespace)?;
        config.activity_interval =
            env.duration_secs("SWITCHYARD_ACTIVITY_INTERVAL_SECS", config.activity_interval, 1..=3_600)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<WorkerConfig, ConfigError> {
        let env: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        WorkerConfig::from_lookup(|k| env.get(k).cloned())
    }

    #[test]
    fn defaults_and_an_instance() {
        let q = ("SWITCHYARD_QUEUE_URL", "http://localhost:4566/000000000000/work");
        assert_eq!(config(&[q]).unwrap(), WorkerConfig::new(q.1));
        let c =
            config(&[q, ("SWITCHYARD_INSTANCE_ID", "i-0123456789abcdef0"), ("SWITCHYARD_FLEET", "workers")]).unwrap();
        assert_eq!(c.instance, Some(InstanceSource::Id("i-0123456789abcdef0".into())));
        assert_eq!(config(&[q, ("SWITCHYARD_INSTANCE_ID", "imds")]).unwrap().instance, Some(InstanceSource::Metadata));
    }

    #[test]
    fn errors_name_the_key() {
        let q = ("SWITCHYARD_QUEUE_URL", "http://q");
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "SWITCHYARD_QUEUE_URL"),
            (&[q, ("SWITCHYARD_BATCH_SIZE", "11")], "SWITCHYARD_BATCH_SIZE: expected a whole number within 1..=10"),
            (&[q, ("SWITCHYARD_WAIT_SECS", "x")], "SWITCHYARD_WAIT_SECS: expected whole seconds"),
            (&[q, ("SWITCHYARD_VISIBILITY_SECS", "1")], "SWITCHYARD_VISIBILITY_SECS"),
            (&[q, ("SWITCHYARD_INSTANCE_ID", "web-1")], "not an instance id"),
        ];
        for (pairs, expected) in cases {
            let err = config(pairs).unwrap_err().to_string();
            assert!(err.contains(expected), "{pairs:?}: {err}");
        }
    }
}
