//! Where targets come from: a static list, or an Auto Scaling group's InService and Healthy
//! instances (not Standby, not Terminating: an instance a terminating hook holds drains) at their
//! private IPs from EC2, each with the health check's verdict from its tag. A per-instance tag may
//! name the endpoint instead (`switchyard:endpoint = host:port`): that is how local tests point
//! instances at real 127.0.0.1 servers, and how a team runs a sidecar on another port.

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::Filter;
use switchyard_algorithms::checks::Verdict;
use switchyard_algorithms::{Health, Target, Time};

use super::members::{HEALTH_TAG, parse_health_tag};
use super::{BoxFuture, CloudError, Discovery};

/// A fixed list of `host:port` targets, each its own id.
#[derive(Debug, Clone)]
pub struct StaticTargets(pub Vec<String>);

impl Discovery for StaticTargets {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Target>, CloudError>> {
        let targets = self.0.iter().map(|a| Target::new(a, a.clone())).collect();
        Box::pin(std::future::ready(Ok(targets)))
    }

    fn changes(&self) -> bool {
        false
    }
}

/// An Auto Scaling group's serving instances, through DescribeAutoScalingGroups and
/// DescribeInstances.
#[derive(Debug, Clone)]
pub struct GroupDiscovery {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub group: String,
    pub port: u16,
    pub endpoint_tag: String,
}

impl Discovery for GroupDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Target>, CloudError>> {
        Box::pin(self.targets())
    }
}

/// One Auto Scaling group by name; its absence is an error naming it.
pub(crate) async fn describe_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    name: &str,
) -> Result<aws_sdk_autoscaling::types::AutoScalingGroup, CloudError> {
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(CloudError::from_sdk("DescribeAutoScalingGroups"))?;
    groups
        .auto_scaling_groups()
        .first()
        .cloned()
        .ok_or_else(|| CloudError { operation: "DescribeAutoScalingGroups", message: format!("no group named {name}") })
}

impl GroupDiscovery {
    async fn targets(&self) -> Result<Vec<Target>, CloudError> {
        let group = describe_group(&self.autoscaling, &self.group).await?;
        let serving: Vec<String> = group
            .instances()
            .iter()
            .filter(|i| i.lifecycle_state() == Some(&LifecycleState::InService) && i.health_status() == Some("Healthy"))
            .filter_map(|i| i.instance_id().map(str::to_owned))
            .collect();
        if serving.is_empty() {
            return Ok(Vec::new());
        }
        let mut targets = Vec::with_capacity(serving.len());
        let mut pages = self
            .ec2
            .describe_instances()
            .set_instance_ids(Some(serving))
            .filters(Filter::builder().name("instance-state-name").values("running").build())
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(CloudError::from_sdk("DescribeInstances"))?;
            targets.extend(page.reservations().iter().flat_map(|r| r.instances()).filter_map(|i| self.target(i)));
        }
        Ok(targets)
    }

    /// The instance as a target: at its endpoint, with the health its checker verdict gives it
    /// (an instance judged unhealthy stays in the set, unusable, so that the panic threshold
    /// still serves a fleet the checks call all unhealthy) and, once judged healthy again, its
    /// slow start counted from then.
    fn target(&self, instance: &aws_sdk_ec2::types::Instance) -> Option<Target> {
        let id = instance.instance_id()?;
        let address = endpoint_of(instance, &self.endpoint_tag, self.port)?;
        let verdict = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(HEALTH_TAG))
            .and_then(|t| t.value())
            .and_then(parse_health_tag);
        let mut started_at = launched_at(instance);
        let mut health = Health::Healthy;
        match verdict {
            Some((Verdict::Unhealthy, _)) => health = Health::Unhealthy,
            Some((Verdict::Healthy, since)) => started_at = started_at.max(since),
            _ => {}
        }
        Some(Target::new(id, address).started_at(started_at).with_health(health))
    }
}

/// Where an instance serves: its endpoint tag if valid, else its private IP at `port`.
pub(crate) fn endpoint_of(instance: &aws_sdk_ec2::types::Instance, endpoint_tag: &str, port: u16) -> Option<String> {
    let tagged = instance
        .tags()
        .iter()
        .find(|t| t.key() == Some(endpoint_tag))
        .and_then(|t| t.value())
        .filter(|v| crate::config::validate_address(v).is_ok());
    match (tagged, instance.private_ip_address()) {
        (Some(endpoint), _) => Some(endpoint.to_owned()),
        (None, Some(ip)) => Some(format!("{ip}:{port}")),
        (None, None) => None,
    }
}

/// When the instance launched (the epoch when EC2 does not say).
pub(crate) fn launched_at(instance: &aws_sdk_ec2::types::Instance) -> Time {
    instance
        .launch_time()
        .and_then(|t| t.to_millis().ok())
        .map_or(Time::ZERO, |ms| Time::from_millis(u64::try_from(ms).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::primitives::DateTime;
    use aws_sdk_ec2::types::{Instance, Tag};

    use super::*;

    fn discovery() -> GroupDiscovery {
        let config = aws_sdk_ec2::Config::builder().behavior_version_latest().build();
        let autoscaling_config = aws_sdk_autoscaling::Config::builder().behavior_version_latest().build();
        GroupDiscovery {
            autoscaling: aws_sdk_autoscaling::Client::from_conf(autoscaling_config),
            ec2: aws_sdk_ec2::Client::from_conf(config),
            group: "web".into(),
            port: 8080,
            endpoint_tag: "switchyard:endpoint".into(),
        }
    }

    fn instance(health_tag: Option<&str>) -> Instance {
        let mut i = Instance::builder()
            .instance_id("i-1")
            .private_ip_address("10.0.0.7")
            .launch_time(DateTime::from_secs(1_000));
        if let Some(value) = health_tag {
            i = i.tags(Tag::builder().key(HEALTH_TAG).value(value).build());
        }
        i.build()
    }

    #[test]
    fn an_instance_the_checker_judged_unhealthy_is_kept_but_not_usable() {
        let target = discovery().target(&instance(Some("unhealthy:2000"))).unwrap();
        assert_eq!((target.address.as_str(), target.health), ("10.0.0.7:8080", Health::Unhealthy));
    }

    #[test]
    fn an_instance_judged_healthy_again_starts_its_slow_start_then() {
        let target = discovery().target(&instance(Some("healthy:5000"))).unwrap();
        assert_eq!((target.health, target.started_at), (Health::Healthy, Time::from_secs(5_000)));
        let fresh = discovery().target(&instance(None)).unwrap();
        assert_eq!((fresh.health, fresh.started_at), (Health::Healthy, Time::from_secs(1_000)));
    }

    #[test]
    fn a_health_tag_someone_else_wrote_is_ignored() {
        let target = discovery().target(&instance(Some("sick"))).unwrap();
        assert_eq!(target.health, Health::Healthy);
    }
}
