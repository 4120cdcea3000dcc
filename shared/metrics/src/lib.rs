//! The metric contract between Switchyard's programs: every CloudWatch metric and dimension name
//! that one program writes and another (or the template's dashboard and alarms) reads, in one
//! place, so that a rename is one edit and cannot leave a reader watching a series nobody writes.
//!
//! All of them live in one namespace, `SWITCHYARD_METRICS_NAMESPACE` ([`DEFAULT_NAMESPACE`]
//! unless set), which the router, the scaler and the workers all read.
//! `template.yaml` names some of them too (dashboard, alarms): it cannot use these constants, so
//! a rename here is also a rename there; `tests/template.rs` fails on a name the template uses in
//! this namespace that is not one of them ([`METRIC_NAMES`], [`DIMENSION_NAMES`]).

pub mod emf;

/// The namespace every Switchyard program writes to and reads from when
/// `SWITCHYARD_METRICS_NAMESPACE` is not set.
pub const DEFAULT_NAMESPACE: &str = "Switchyard";

/// Dimension names.
pub mod dimension {
    /// The Auto Scaling group a router serves. Written by the router (on [`REQUESTS`]); read by
    /// the scaler (a web fleet with `idle_to_zero` idles on its group's requests).
    ///
    /// [`REQUESTS`]: crate::router::REQUESTS
    pub const GROUP: &str = "Group";
    /// A fleet's name in the scaler's `SWITCHYARD_FLEETS`. Written by the workers (activity and
    /// heartbeat) and the scaler (decisions, history); read by the scaler.
    pub const FLEET: &str = "Fleet";
    /// The EC2 instance a worker runs on. Written by the workers on [`ALIVE`]; read by the scaler.
    ///
    /// [`ALIVE`]: crate::worker::ALIVE
    pub const INSTANCE_ID: &str = "InstanceId";
    /// A target (backend) the router picked. Written by the router; read by the dashboard.
    pub const TARGET: &str = "Target";
}

/// What the router writes (EMF lines on its log).
pub mod router {
    /// Requests served per interval (Count), in total and by [`GROUP`] when the router serves an
    /// Auto Scaling group. Read by the scaler (idle to zero) and the dashboard.
    ///
    /// [`GROUP`]: crate::dimension::GROUP
    pub const REQUESTS: &str = "Requests";
    /// Requests with no target to send them to (Count). Read by the dashboard.
    pub const NO_TARGET: &str = "NoTarget";
    /// Jobs the router put on the work queue (Count). Read by the dashboard.
    pub const JOBS_QUEUED: &str = "JobsQueued";
    /// Jobs the router could not queue (Count). Read by the dashboard.
    pub const JOBS_REFUSED: &str = "JobsRefused";
    /// Attempts at a target, retries included (Count), by [`TARGET`]. Read by the dashboard.
    ///
    /// [`TARGET`]: crate::dimension::TARGET
    pub const PICKS: &str = "Picks";
    /// Attempts at a target that were retries (Count), by [`TARGET`]. Read by people (not on the
    /// dashboard).
    ///
    /// [`TARGET`]: crate::dimension::TARGET
    pub const RETRIES: &str = "Retries";
    /// Attempts at a target that failed (Count), by [`TARGET`]. Read by people (not on the
    /// dashboard).
    ///
    /// [`TARGET`]: crate::dimension::TARGET
    pub const ERRORS: &str = "Errors";
    /// A sample of a target's answer times (Milliseconds), by [`TARGET`]. Read by the dashboard.
    ///
    /// [`TARGET`]: crate::dimension::TARGET
    pub const UPSTREAM_LATENCY: &str = "UpstreamLatency";
    /// Routing document versions the router refused (Count). Read by the template's alarm and
    /// the dashboard.
    pub const ROUTES_REJECTED: &str = "RoutesRejected";
    /// Times a router woke its group from zero (Count). Read by the dashboard.
    pub const WAKES: &str = "Wakes";
    /// How long requests were held while their group woke (Milliseconds). Read by the dashboard.
    pub const WAKE_HOLD_TIME: &str = "WakeHoldTime";
}

/// What `switchyard-worker` writes (PutMetricData, each report interval), by [`FLEET`].
///
/// [`FLEET`]: crate::dimension::FLEET
pub mod worker {
    /// Messages received (Count). Read by people (not on the dashboard).
    pub const RECEIVED: &str = "WorkerReceived";
    /// Messages processed and deleted (Count). Read by the dashboard.
    pub const PROCESSED: &str = "WorkerProcessed";
    /// Messages whose handler failed (Count). Read by the dashboard.
    pub const FAILED: &str = "WorkerFailed";
    /// Seconds spent in handlers (Seconds). Read by the scaler: activity that a queue's depth
    /// misses when jobs are quick and ticks a minute apart.
    pub const BUSY_SECONDS: &str = "WorkerBusySeconds";
    /// The heartbeat of a worker bound to an instance (Count, 1), by [`FLEET`] and
    /// [`INSTANCE_ID`]. Read by the scaler: a protected instance whose heartbeat stopped loses
    /// its scale-in protection.
    ///
    /// [`FLEET`]: crate::dimension::FLEET
    /// [`INSTANCE_ID`]: crate::dimension::INSTANCE_ID
    pub const ALIVE: &str = "WorkerAlive";
}

/// What the scaler writes, by [`FLEET`]: its decisions (EMF lines on its log, each tick) and its
/// history (PutMetricData, read back by the next ticks).
///
/// [`FLEET`]: crate::dimension::FLEET
pub mod scaler {
    /// The size the fleet's signals ask for before stabilization (Count), in the history only:
    /// one datapoint per tick, written before the resize and never by a dry run. Read back by the
    /// scaler (stabilization window, direction budget) and by the dashboard.
    pub const RECOMMENDATION: &str = "Recommendation";
    /// The size the tick set (Count), in the decision lines. Read by the dashboard.
    pub const DESIRED: &str = "Desired";
    /// The size the tick set (Count), in the history. Read back by the scaler.
    pub const DESIRED_CAPACITY: &str = "DesiredCapacity";
    /// In-service instances the tick saw (Count). Read by the dashboard.
    pub const IN_SERVICE: &str = "InService";
    /// A consumer fleet's backlog per instance (Count). Read by the dashboard.
    pub const BACKLOG_PER_INSTANCE: &str = "BacklogPerInstance";
    /// Age of a consumer fleet's oldest message (Seconds). Read by the dashboard.
    pub const AGE_OF_OLDEST_MESSAGE: &str = "AgeOfOldestMessage";
    /// When the fleet was last active, in epoch seconds, in the history. Read back by the scaler
    /// (the idle clock of scale to zero).
    pub const LAST_ACTIVE: &str = "LastActiveEpochSeconds";
    /// A fleet the tick could not decide (Count, 1), by [`FLEET`] and in total. Read by the
    /// template's "scaler errors" alarm and the dashboard.
    ///
    /// [`FLEET`]: crate::dimension::FLEET
    pub const FLEET_FAILURES: &str = "FleetFailures";
}

/// What the router's health checker writes (EMF lines on its log, each round), by [`GROUP`].
///
/// [`GROUP`]: crate::dimension::GROUP
pub mod checker {
    /// Targets whose last verdict is healthy (Count), as ALB's metric of that name. Read by the
    /// dashboard.
    pub const HEALTHY_HOST_COUNT: &str = "HealthyHostCount";
    /// Targets whose last verdict is unhealthy (Count), as ALB's metric of that name. Read by the
    /// dashboard.
    pub const UNHEALTHY_HOST_COUNT: &str = "UnHealthyHostCount";
    /// 1 when too many targets failed to believe the checks, so none was marked (Count). Read by
    /// the template's fail-open alarm and the dashboard.
    pub const FAIL_OPEN: &str = "HealthCheckFailOpen";
    /// Instances replaced for failing their checks: marked Unhealthy in their group (Count). Read
    /// by the dashboard.
    pub const REPLACED: &str = "UnhealthyReplaced";
    /// Leaving instances whose terminating lifecycle action was completed (Count), quiet or at
    /// the deregistration delay. Read by the dashboard.
    pub const DRAINED: &str = "DrainsCompleted";
}

/// Every metric name of the contract, for readers that cannot use the constants (the template's
/// dashboard and alarms). A unit test keeps it complete.
pub const METRIC_NAMES: &[&str] = &[
    router::REQUESTS,
    router::NO_TARGET,
    router::JOBS_QUEUED,
    router::JOBS_REFUSED,
    router::PICKS,
    router::RETRIES,
    router::ERRORS,
    router::UPSTREAM_LATENCY,
    router::ROUTES_REJECTED,
    router::WAKES,
    router::WAKE_HOLD_TIME,
    worker::RECEIVED,
    worker::PROCESSED,
    worker::FAILED,
    worker::BUSY_SECONDS,
    worker::ALIVE,
    scaler::RECOMMENDATION,
    scaler::DESIRED,
    scaler::DESIRED_CAPACITY,
    scaler::IN_SERVICE,
    scaler::BACKLOG_PER_INSTANCE,
    scaler::AGE_OF_OLDEST_MESSAGE,
    scaler::LAST_ACTIVE,
    scaler::FLEET_FAILURES,
    checker::HEALTHY_HOST_COUNT,
    checker::UNHEALTHY_HOST_COUNT,
    checker::FAIL_OPEN,
    checker::REPLACED,
    checker::DRAINED,
];

/// Every dimension name of the contract, as [`METRIC_NAMES`] for metrics.
pub const DIMENSION_NAMES: &[&str] = &[dimension::GROUP, dimension::FLEET, dimension::INSTANCE_ID, dimension::TARGET];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `pub const` of the metric modules is in [`METRIC_NAMES`], every one of `dimension` in
    /// [`DIMENSION_NAMES`], and nothing else is: read from this file's own text.
    #[test]
    fn the_lists_hold_every_name_of_the_contract() {
        let (mut metrics, mut dimensions) = (Vec::new(), Vec::new());
        let mut module = "";
        for line in include_str!("lib.rs").lines() {
            if let Some(name) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(" {")) {
                module = name;
            } else if line.starts_with('}') {
                module = "";
            }
            let Some(value) = line.trim().strip_prefix("pub const ").and_then(|c| c.split('"').nth(1)) else {
                continue;
            };
            match module {
                "router" | "worker" | "scaler" | "checker" => metrics.push(value),
                "dimension" => dimensions.push(value),
                _ => {}
            }
        }
        assert_eq!(metrics.len(), METRIC_NAMES.len(), "{metrics:?}");
        assert!(metrics.iter().all(|m| METRIC_NAMES.contains(m)), "{metrics:?}");
        assert_eq!(dimensions.len(), DIMENSION_NAMES.len(), "{dimensions:?}");
        assert!(dimensions.iter().all(|d| DIMENSION_NAMES.contains(d)), "{dimensions:?}");
    }
}
