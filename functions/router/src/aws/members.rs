//! A group's instances as the health checker sees them: every member with its lifecycle state,
//! endpoint, launch time and the verdicts kept on its tags, and the calls that act on one
//! (mark its health, have the group replace it, let it leave).
//!
//! The checker's verdicts travel on EC2 instance tags, which every router environment already
//! reads at discovery (DescribeInstances): no extra call per environment, no store to run, and a
//! verdict survives the checker's own restarts. A tag is written only when a verdict changes.

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::{Filter, Tag};
use switchyard_algorithms::checks::Verdict;
use switchyard_algorithms::{Health, Target, Time};

use super::discovery::describe_group;
use super::{BoxFuture, CloudError};

/// The tag holding an instance's last verdict and when it was reached:
/// `healthy:<epoch seconds>` or `unhealthy:<epoch seconds>`.
pub const HEALTH_TAG: &str = "switchyard:health";
/// The tag holding when the checker first saw the instance waiting to leave (epoch seconds).
pub const DRAINING_TAG: &str = "switchyard:draining-since";

/// A verdict as a tag value.
pub fn health_tag_value(verdict: Verdict, at: Time) -> Option<String> {
    let word = match verdict {
        Verdict::Healthy => "healthy",
        Verdict::Unhealthy => "unhealthy",
        Verdict::Initial => return None,
    };
    Some(format!("{word}:{}", at.as_millis() / 1000))
}

/// A tag value as a verdict; `None` for anything else (a tag someone else wrote is ignored, not
/// trusted).
pub fn parse_health_tag(value: &str) -> Option<(Verdict, Time)> {
    let (word, secs) = value.split_once(':')?;
    let at = Time::from_secs(secs.parse().ok()?);
    match word {
        "healthy" => Some((Verdict::Healthy, at)),
        "unhealthy" => Some((Verdict::Unhealthy, at)),
        _ => None,
    }
}

/// Where a member stands in its group's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// InService and Healthy: the routers pick it; the checker probes it.
    Serving,
    /// InService but already Unhealthy in the group: being replaced.
    Replacing,
    /// Terminating:Wait: a terminating lifecycle hook holds it while it drains.
    Draining,
    /// Anything else (Pending, Standby, Terminating, Detaching…).
    Other,
}

/// One instance of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub lifecycle: Lifecycle,
    /// `host:port` it serves on, when known.
    pub address: Option<String>,
    pub launched_at: Time,
    /// The verdict on its tag, and when it was reached.
    pub verdict: Option<(Verdict, Time)>,
    /// When the checker first saw it waiting to leave.
    pub draining_since: Option<Time>,
}

/// A group's members and its health check grace period.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupMembers {
    pub grace_period: std::time::Duration,
    pub members: Vec<Member>,
}

/// What the health checker needs from a group.
pub trait FleetControl: Send + Sync + std::fmt::Debug {
    fn members<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<GroupMembers, CloudError>>;

    /// Set one tag on an instance.
    fn tag<'a>(&'a self, instance: &'a str, key: &'static str, value: String) -> BoxFuture<'a, Result<(), CloudError>>;

    /// SetInstanceHealth Unhealthy, respecting the grace period: the group replaces it.
    fn set_unhealthy<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), CloudError>>;

    /// CompleteLifecycleAction CONTINUE for the hook holding `instance`: it may terminate.
    fn complete_drain<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), CloudError>>;
}

/// [`FleetControl`] over the SDK: DescribeAutoScalingGroups and DescribeInstances, CreateTags,
/// SetInstanceHealth and CompleteLifecycleAction.
#[derive(Debug, Clone)]
pub struct GroupControl {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub port: u16,
    pub endpoint_tag: String,
}

impl FleetControl for GroupControl {
    fn members<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Result<GroupMembers, CloudError>> {
        Box::pin(self.read(group))
    }

    fn tag<'a>(&'a self, instance: &'a str, key: &'static str, value: String) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.ec2
                .create_tags()
                .resources(instance)
                .tags(Tag::builder().key(key).value(value).build())
                .send()
                .await
                .map(drop)
                .map_err(CloudError::from_sdk("CreateTags"))
        })
    }

    fn set_unhealthy<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.autoscaling
                .set_instance_health()
                .instance_id(instance)
                .health_status("Unhealthy")
                .should_respect_grace_period(true)
                .send()
                .await
                .map(drop)
                .map_err(CloudError::from_sdk("SetInstanceHealth"))
        })
    }

    fn complete_drain<'a>(
        &'a self,
        group: &'a str,
        hook: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            self.autoscaling
                .complete_lifecycle_action()
                .auto_scaling_group_name(group)
                .lifecycle_hook_name(hook)
                .instance_id(instance)
                .lifecycle_action_result("CONTINUE")
                .send()
                .await
                .map(drop)
                .map_err(CloudError::from_sdk("CompleteLifecycleAction"))
        })
    }
}

impl GroupControl {
    async fn read(&self, name: &str) -> Result<GroupMembers, CloudError> {
        read_members(&self.autoscaling, &self.ec2, name, self.port, &self.endpoint_tag).await
    }
}

/// A group's members, through DescribeAutoScalingGroups and DescribeInstances (the instances
/// EC2 still runs or starts). The one reader of a group: the routers' discovery keeps its serving
/// members ([`Member::target`]), the checker acts on all of them.
pub(crate) async fn read_members(
    autoscaling: &aws_sdk_autoscaling::Client,
    ec2: &aws_sdk_ec2::Client,
    name: &str,
    port: u16,
    endpoint_tag: &str,
) -> Result<GroupMembers, CloudError> {
    let group = describe_group(autoscaling, name).await?;
    let grace_period =
        std::time::Duration::from_secs(u64::try_from(group.health_check_grace_period().unwrap_or(0)).unwrap_or(0));
    let states: std::collections::HashMap<String, Lifecycle> = group
        .instances()
        .iter()
        .filter_map(|i| {
            let lifecycle = match (i.lifecycle_state(), i.health_status()) {
                (Some(LifecycleState::InService), Some("Healthy")) => Lifecycle::Serving,
                (Some(LifecycleState::InService), _) => Lifecycle::Replacing,
                (Some(LifecycleState::TerminatingWait), _) => Lifecycle::Draining,
                _ => Lifecycle::Other,
            };
            Some((i.instance_id()?.to_owned(), lifecycle))
        })
        .collect();
    let mut members = Vec::with_capacity(states.len());
    if states.is_empty() {
        return Ok(GroupMembers { grace_period, members });
    }
    let mut pages = ec2
        .describe_instances()
        .set_instance_ids(Some(states.keys().cloned().collect()))
        .filters(Filter::builder().name("instance-state-name").values("pending").values("running").build())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(CloudError::from_sdk("DescribeInstances"))?;
        for instance in page.reservations().iter().flat_map(|r| r.instances()) {
            let Some(id) = instance.instance_id() else { continue };
            members.push(Member {
                id: id.to_owned(),
                lifecycle: states.get(id).copied().unwrap_or(Lifecycle::Other),
                address: endpoint_of(instance, endpoint_tag, port),
                launched_at: launched_at(instance),
                verdict: tag_value(instance, HEALTH_TAG).and_then(parse_health_tag),
                draining_since: tag_value(instance, DRAINING_TAG).and_then(|v| v.parse().ok()).map(Time::from_secs),
            });
        }
    }
    members.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(GroupMembers { grace_period, members })
}

impl Member {
    /// The member as a routers' target: at its endpoint, with the health its checker verdict
    /// gives it (an instance judged unhealthy stays in the set, unusable, so that the panic
    /// threshold still serves a fleet the checks call all unhealthy) and, once judged healthy
    /// again, its slow start counted from then. `None` without an endpoint.
    pub fn target(&self) -> Option<Target> {
        let address = self.address.clone()?;
        let (health, started_at) = match self.verdict {
            Some((Verdict::Unhealthy, _)) => (Health::Unhealthy, self.launched_at),
            Some((Verdict::Healthy, since)) => (Health::Healthy, self.launched_at.max(since)),
            _ => (Health::Healthy, self.launched_at),
        };
        Some(Target::new(&self.id, address).started_at(started_at).with_health(health))
    }
}

/// The value of one of the instance's tags.
fn tag_value<'a>(instance: &'a aws_sdk_ec2::types::Instance, key: &str) -> Option<&'a str> {
    instance.tags().iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// Where an instance serves: its endpoint tag if valid, else its private IP at `port`.
fn endpoint_of(instance: &aws_sdk_ec2::types::Instance, endpoint_tag: &str, port: u16) -> Option<String> {
    let tagged = tag_value(instance, endpoint_tag).filter(|v| crate::config::validate_address(v).is_ok());
    match (tagged, instance.private_ip_address()) {
        (Some(endpoint), _) => Some(endpoint.to_owned()),
        (None, Some(ip)) => Some(format!("{ip}:{port}")),
        (None, None) => None,
    }
}

/// When the instance launched (the epoch when EC2 does not say).
fn launched_at(instance: &aws_sdk_ec2::types::Instance) -> Time {
    instance
        .launch_time()
        .and_then(|t| t.to_millis().ok())
        .map_or(Time::ZERO, |ms| Time::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_survives_the_round_trip_through_its_tag() {
        let at = Time::from_secs(1_764_500_000);
        for verdict in [Verdict::Healthy, Verdict::Unhealthy] {
            let value = health_tag_value(verdict, at).unwrap();
            assert_eq!(parse_health_tag(&value), Some((verdict, at)));
        }
        assert_eq!(health_tag_value(Verdict::Initial, at), None, "no verdict, no tag");
    }

    #[test]
    fn tag_values_someone_else_wrote_are_ignored() {
        for value in ["", "healthy", "sick:5", "unhealthy:-1", "healthy:soon", "unhealthy:1:2"] {
            assert_eq!(parse_health_tag(value), None, "{value:?}");
        }
    }

    fn member(verdict: Option<(Verdict, Time)>) -> Member {
        Member {
            id: "i-1".into(),
            lifecycle: Lifecycle::Serving,
            address: Some("10.0.0.7:8080".into()),
            launched_at: Time::from_secs(1_000),
            verdict,
            draining_since: None,
        }
    }

    #[test]
    fn a_member_the_checker_judged_unhealthy_is_kept_as_a_target_but_not_usable() {
        let target = member(Some((Verdict::Unhealthy, Time::from_secs(2_000)))).target().unwrap();
        assert_eq!((target.address.as_str(), target.health), ("10.0.0.7:8080", Health::Unhealthy));
    }

    #[test]
    fn a_member_judged_healthy_again_starts_its_slow_start_then() {
        let target = member(Some((Verdict::Healthy, Time::from_secs(5_000)))).target().unwrap();
        assert_eq!((target.health, target.started_at), (Health::Healthy, Time::from_secs(5_000)));
        let fresh = member(None).target().unwrap();
        assert_eq!((fresh.health, fresh.started_at), (Health::Healthy, Time::from_secs(1_000)));
    }

    #[test]
    fn a_member_without_an_endpoint_is_no_target() {
        assert_eq!(Member { address: None, ..member(None) }.target(), None);
    }
}
