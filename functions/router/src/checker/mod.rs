//! The health checker: the router's binary run on a schedule (`SWITCHYARD_MODE=health_checker`)
//! inside the fleets' VPC, where their private IPs are reachable. Each invocation probes every
//! serving instance of its groups once per interval for most of a minute, so the next scheduled
//! invocation takes over without a gap (EventBridge schedules are per minute).
//!
//! Why this shape: the probes must come from inside the VPC and must not depend on traffic, so
//! neither the routers (which run only while requests arrive, each environment frozen between
//! them) nor the scaler (outside the VPC) can make them. One checker for all router environments
//! also keeps the probe load on targets constant however far the routers scale out.
//!
//! Each round, per group:
//! - **health** ([`switchyard_algorithms::checks`], ALB's rules): verdicts change after the
//!   thresholds of probes in a row; a change is written to the instance's tag, which every router
//!   reads at its next discovery (within one discovery period, well inside one interval). An
//!   instance judged unhealthy past the group's grace period is marked Unhealthy in its group
//!   (SetInstanceHealth), which replaces it, as ELB health checks do. When too many fail, none is
//!   marked and `HealthCheckFailOpen` is 1 for the alarm;
//! - **draining**: an instance held in Terminating:Wait by the drain hook is let go
//!   (CompleteLifecycleAction CONTINUE) once it is quiet — its own load report shows nothing in
//!   flight, or without reports the routers' limits say nothing can be — or at the
//!   deregistration delay;
//! - one EMF line: `HealthyHostCount`, `UnHealthyHostCount`, `HealthCheckFailOpen`,
//!   `UnhealthyReplaced`, `DrainsCompleted`, by `Group`.

pub mod config;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use switchyard_algorithms::Time;
use switchyard_algorithms::checks::{FleetVerdict, TargetHealth, Verdict};
use switchyard_metrics::checker::{DRAINED, FAIL_OPEN, HEALTHY_HOST_COUNT, REPLACED, UNHEALTHY_HOST_COUNT};
use switchyard_metrics::dimension::GROUP;
use switchyard_metrics::emf::{Line, Unit};

pub use self::config::CheckerConfig;
use crate::aws::{
    CloudWatchLoads, DRAINING_TAG, FleetControl, GroupControl, HEALTH_TAG, Lifecycle, LoadSource, Member,
    health_tag_value,
};

/// The User-Agent of probes, so that targets can tell them from traffic (ALB sends
/// `ELB-HealthChecker/2.0`).
pub const USER_AGENT: &str = "Switchyard-HealthChecker/1.0";

/// What one round did to one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupRound {
    pub group: String,
    pub healthy: usize,
    pub unhealthy: usize,
    pub fail_open: bool,
    /// Verdicts that changed this round, as written to the tags.
    pub changed: Vec<(String, Verdict)>,
    /// Instances marked Unhealthy in the group (to be replaced).
    pub replaced: Vec<String>,
    /// Leaving instances let go, and whether it was because they were quiet (else the delay).
    pub drained: Vec<(String, bool)>,
    /// Leaving instances still held.
    pub draining: usize,
    /// Why the group could not be checked, if it could not.
    pub error: Option<String>,
}

/// The checker: its settings, the groups' calls, and each target's record between rounds.
#[derive(Debug)]
pub struct Checker {
    config: CheckerConfig,
    fleets: Arc<dyn FleetControl>,
    client: Client<HttpConnector, Empty<Bytes>>,
    records: Mutex<HashMap<String, TargetHealth>>,
    /// When the last round started, in this environment.
    last_round: Mutex<Option<Time>>,
    /// The targets' load reports, when they publish them: a leaving instance's in-flight count.
    loads: Option<Arc<dyn LoadSource>>,
}

impl Checker {
    pub fn new(config: CheckerConfig, fleets: Arc<dyn FleetControl>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.check.timeout));
        connector.set_nodelay(true);
        // A new connection per probe, as ALB: a listener that stopped accepting is seen at once.
        let client = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build(connector);
        Checker {
            config,
            fleets,
            client,
            records: Mutex::new(HashMap::new()),
            last_round: Mutex::new(None),
            loads: None,
        }
    }

    /// The checker over the AWS SDK: its groups through Auto Scaling and EC2, and, when a load
    /// metric is set, the leaving instances' load reports through CloudWatch.
    pub fn from_sdk(config: CheckerConfig, sdk: &aws_config::SdkConfig) -> Self {
        let fleets = GroupControl {
            autoscaling: aws_sdk_autoscaling::Client::new(sdk),
            ec2: aws_sdk_ec2::Client::new(sdk),
            port: config.port,
            endpoint_tag: config.endpoint_tag.clone(),
        };
        let loads = config
            .load
            .clone()
            .map(|metric| CloudWatchLoads { cloudwatch: aws_sdk_cloudwatch::Client::new(sdk), metric });
        let checker = Checker::new(config, Arc::new(fleets));
        match loads {
            Some(loads) => checker.with_loads(Arc::new(loads)),
            None => checker,
        }
    }

    /// Read leaving instances' in-flight requests from the targets' load reports.
    pub fn with_loads(mut self, loads: Arc<dyn LoadSource>) -> Self {
        self.loads = Some(loads);
        self
    }

    pub fn config(&self) -> &CheckerConfig {
        &self.config
    }

    /// Check every group once, each group's calls running concurrently.
    pub async fn round(&self, now: Time) -> Vec<GroupRound> {
        let rounds = self.config.groups.iter().map(|g| self.group_round(g, now));
        futures_util::future::join_all(rounds).await
    }

    /// Rounds every interval for the configured run time, each starting early enough to end
    /// (its probes time out) before `deadline`, the invocation's; each round logged and written
    /// as EMF lines. A round is never sooner than one interval after the last one, whichever
    /// invocation ran it: a schedule delivered twice, or invoked by hand, does not probe targets
    /// more often.
    pub async fn run(&self, clock: fn() -> Time, deadline: Time) -> usize {
        let check = &self.config.check;
        let start = clock();
        let room = check.timeout + Duration::from_secs(1);
        // A deadline already past is no deadline (`cargo lambda watch` sends its timeout, not a
        // time): the run time alone bounds the run, as it is set below the function's timeout.
        let by_deadline =
            if deadline > start { deadline.as_millis().saturating_sub(room.as_millis() as u64) } else { u64::MAX };
        let latest_start = Time::from_millis((start + self.config.run_for).as_millis().min(by_deadline));
        let mut rounds = 0;
        loop {
            let last = *self.last_round.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let due = last.map_or(clock(), |last| (last + check.interval).max(clock()));
            if due > latest_start {
                return rounds;
            }
            tokio::time::sleep(due.since(clock())).await;
            let now = clock();
            *self.last_round.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now);
            for group in self.round(now).await {
                log(&group);
                // A group that could not be read has no counts: missing data, not zero servers.
                if group.error.is_none() {
                    println!("{}", emf_line(&self.config.namespace, now, &group));
                }
            }
            rounds += 1;
        }
    }

    async fn group_round(&self, group: &str, now: Time) -> GroupRound {
        let mut round = GroupRound { group: group.to_owned(), ..Default::default() };
        let members = match self.fleets.members(group).await {
            Ok(m) => m,
            Err(e) => {
                round.error = Some(e.to_string());
                return round;
            }
        };
        let serving: Vec<&Member> = members.members.iter().filter(|m| m.lifecycle == Lifecycle::Serving).collect();
        let probes = serving.iter().map(|m| self.probe(m.address.as_deref()));
        let passed = futures_util::future::join_all(probes).await;

        // Each target's record, from memory or else from its tag (a new checker environment
        // resumes from the verdicts it finds).
        let verdicts: Vec<Verdict> = {
            let mut records = self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            records.retain(|id, _| members.members.iter().any(|m| &m.id == id));
            serving
                .iter()
                .zip(&passed)
                .map(|(m, passed)| {
                    let record = records
                        .entry(m.id.clone())
                        .or_insert_with(|| TargetHealth::from_verdict(m.verdict.map_or(Verdict::Initial, |(v, _)| v)));
                    record.record(*passed, &self.config.check);
                    record.verdict
                })
                .collect()
        };
        let fleet = FleetVerdict::of(&verdicts, self.config.check.fail_open_share);
        (round.healthy, round.unhealthy, round.fail_open) = (fleet.healthy, fleet.unhealthy, fleet.fail_open);

        for (member, verdict) in serving.iter().zip(&verdicts) {
            // Failing open: no target is marked unhealthy, and marks already made are lifted.
            let shown = if fleet.fail_open && *verdict == Verdict::Unhealthy { Verdict::Healthy } else { *verdict };
            let tagged = member.verdict.map(|(v, _)| v);
            if shown != Verdict::Initial
                && tagged != Some(shown)
                && let Some(value) = health_tag_value(shown, now)
            {
                match self.fleets.tag(&member.id, HEALTH_TAG, value).await {
                    Ok(()) => round.changed.push((member.id.clone(), shown)),
                    Err(e) => tracing::error!(instance = %member.id, error = %e, "writing the verdict failed"),
                }
            }
            let past_grace = now.since(member.launched_at) >= members.grace_period;
            if shown == Verdict::Unhealthy && past_grace {
                match self.fleets.set_unhealthy(&member.id).await {
                    Ok(()) => round.replaced.push(member.id.clone()),
                    Err(e) => tracing::error!(instance = %member.id, error = %e, "SetInstanceHealth failed"),
                }
            }
        }

        for member in members.members.iter().filter(|m| m.lifecycle == Lifecycle::Draining) {
            let Some(since) = member.draining_since else {
                // First seen leaving: remember since when, on the instance itself.
                let value = (now.as_millis() / 1000).to_string();
                if let Err(e) = self.fleets.tag(&member.id, DRAINING_TAG, value).await {
                    tracing::error!(instance = %member.id, error = %e, "writing the drain start failed");
                }
                round.draining += 1;
                continue;
            };
            let waited = now.since(since);
            let quiet = self.quiet(&member.id, since, now).await;
            if !quiet && waited < self.config.deregistration_delay {
                round.draining += 1;
                continue;
            }
            match self.fleets.complete_drain(group, &self.config.drain_hook, &member.id).await {
                Ok(()) => round.drained.push((member.id.clone(), quiet)),
                Err(e) => {
                    round.draining += 1;
                    tracing::error!(instance = %member.id, error = %e, "completing the drain failed");
                }
            }
        }
        round
    }

    /// Whether a leaving instance has nothing in flight. Its own load report decides when there
    /// is one taken after every router dropped it (one discovery period after it started to
    /// leave); otherwise the routers' limits do: one discovery period plus their request limit.
    async fn quiet(&self, instance: &str, since: Time, now: Time) -> bool {
        let by_time = now.since(since) >= self.config.quiet_after;
        let Some(loads) = &self.loads else { return by_time };
        let ids = [instance.to_owned()];
        match loads.read(&ids, now).await {
            Ok(Some(reports)) if reports.taken_at >= since + self.config.discovery_ttl => {
                reports.loads.iter().any(|(id, load)| id == instance && *load == 0)
            }
            Ok(_) => by_time,
            Err(e) => {
                tracing::warn!(instance, error = %e, "reading the leaving instance's load failed");
                by_time
            }
        }
    }

    /// One probe: GET the path at the address; passes when the status matches within the timeout.
    async fn probe(&self, address: Option<&str>) -> bool {
        let Some(address) = address else { return false };
        let check = &self.config.check;
        let Ok(request) = Request::get(format!("http://{address}{}", check.path))
            .header(header::USER_AGENT, USER_AGENT)
            .body(Empty::<Bytes>::new())
        else {
            return false;
        };
        match tokio::time::timeout(check.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => check.matcher.accepts(response.status().as_u16()),
            _ => false,
        }
    }
}

/// The round in the log: changes at INFO (WARN when failing open), errors at ERROR.
fn log(round: &GroupRound) {
    if let Some(error) = &round.error {
        return tracing::error!(group = %round.group, error = %error, "health check round failed");
    }
    for (instance, verdict) in &round.changed {
        tracing::info!(group = %round.group, instance = %instance, verdict = ?verdict, "health verdict changed");
    }
    for instance in &round.replaced {
        tracing::warn!(group = %round.group, instance = %instance, "marked Unhealthy in its group: it is replaced");
    }
    for (instance, quiet) in &round.drained {
        let reason = if *quiet { "quiet" } else { "deregistration delay" };
        tracing::info!(group = %round.group, instance = %instance, reason, "drained: lifecycle action completed");
    }
    if round.fail_open {
        tracing::warn!(
            group = %round.group,
            unhealthy = round.unhealthy,
            "too many targets fail their checks: failing open, none is marked"
        );
    }
}

/// The round as one EMF line per group.
pub fn emf_line(namespace: &str, now: Time, round: &GroupRound) -> Value {
    Line::new(namespace, now.as_millis())
        .dimension_set(&[GROUP])
        .dimension(GROUP, round.group.clone())
        .metric(HEALTHY_HOST_COUNT, Unit::Count, round.healthy)
        .metric(UNHEALTHY_HOST_COUNT, Unit::Count, round.unhealthy)
        .metric(FAIL_OPEN, Unit::Count, u8::from(round.fail_open))
        .metric(REPLACED, Unit::Count, round.replaced.len())
        .metric(DRAINED, Unit::Count, round.drained.len())
        .build()
}
