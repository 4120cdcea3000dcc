//! Where targets come from: a static list, or an Auto Scaling group's InService and Healthy
//! instances (not Standby, not Terminating) at their private IPs from EC2. A per-instance tag may
//! name the endpoint instead (`switchyard:endpoint = host:port`): that is how local tests point
//! instances at real 127.0.0.1 servers, and how a team runs a sidecar on another port.

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::Filter;
use switchyard_algorithms::{Target, Time};

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

    /// Where an instance serves: its endpoint tag if valid, else its private IP at the port.
    fn target(&self, instance: &aws_sdk_ec2::types::Instance) -> Option<Target> {
        let id = instance.instance_id()?;
        let tagged = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some(self.endpoint_tag.as_str()))
            .and_then(|t| t.value())
            .filter(|v| crate::config::validate_address(v).is_ok());
        let address = match (tagged, instance.private_ip_address()) {
            (Some(endpoint), _) => endpoint.to_owned(),
            (None, Some(ip)) => format!("{ip}:{}", self.port),
            (None, None) => return None,
        };
        let started_at = instance
            .launch_time()
            .and_then(|t| t.to_millis().ok())
            .map_or(Time::ZERO, |ms| Time::from_millis(u64::try_from(ms).unwrap_or(0)));
        Some(Target::new(id, address).started_at(started_at))
    }
}
