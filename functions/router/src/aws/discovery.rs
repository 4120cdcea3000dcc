//! Where targets come from: a static list, or an Auto Scaling group's InService and Healthy
//! instances (not Standby, not Terminating: an instance a terminating hook holds drains) at their
//! private IPs from EC2, each with the health check's verdict from its tag. A per-instance tag may
//! name the endpoint instead (`switchyard:endpoint = host:port`): that is how local tests point
//! instances at real 127.0.0.1 servers, and how a team runs a sidecar on another port.

use switchyard_algorithms::Target;

use super::members::{Lifecycle, Member, read_members};
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
        let group = read_members(&self.autoscaling, &self.ec2, &self.group, self.port, &self.endpoint_tag).await?;
        Ok(group.members.iter().filter(|m| m.lifecycle == Lifecycle::Serving).filter_map(Member::target).collect())
    }
}
