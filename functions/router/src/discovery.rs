//! Where targets come from: a static list, or an Auto Scaling group's InService and Healthy
//! instances (not Standby, not Terminating) at their private IPs from EC2. A per-instance tag may
//! name the endpoint instead (`switchyard:endpoint = host:port`): that is how local tests point
//! instances at real 127.0.0.1 servers, and how a team runs a sidecar on another port.

use aws_sdk_autoscaling::types::LifecycleState;
use aws_sdk_ec2::types::Filter;
use switchyard_algorithms::{Target, Time};

/// Why discovery failed (the router keeps the last good set and says so in its log).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct DiscoveryError {
    pub operation: &'static str,
    pub message: String,
}

fn sdk_error<E: std::error::Error + 'static>(operation: &'static str) -> impl FnOnce(E) -> DiscoveryError {
    move |e| DiscoveryError { operation, message: aws_sdk_ec2::error::DisplayErrorContext(e).to_string() }
}

/// An Auto Scaling group's serving instances.
#[derive(Debug, Clone)]
pub struct GroupDiscovery {
    pub autoscaling: aws_sdk_autoscaling::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub group: String,
    pub port: u16,
    pub endpoint_tag: String,
}

impl GroupDiscovery {
    pub async fn targets(&self) -> Result<Vec<Target>, DiscoveryError> {
        let groups = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.group)
            .send()
            .await
            .map_err(sdk_error("DescribeAutoScalingGroups"))?;
        let Some(group) = groups.auto_scaling_groups().first() else {
            return Err(DiscoveryError {
                operation: "DescribeAutoScalingGroups",
                message: format!("no group named {}", self.group),
            });
        };
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
            for instance in
                page.map_err(sdk_error("DescribeInstances"))?.reservations().iter().flat_map(|r| r.instances())
            {
                let Some(id) = instance.instance_id() else { continue };
                let tagged = instance
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(self.endpoint_tag.as_str()))
                    .and_then(|t| t.value())
                    .filter(|v| crate::config::validate_address(v).is_ok());
                let address = match (tagged, instance.private_ip_address()) {
                    (Some(endpoint), _) => endpoint.to_owned(),
                    (None, Some(ip)) => format!("{ip}:{}", self.port),
                    (None, None) => continue,
                };
                let started_at = instance
                    .launch_time()
                    .and_then(|t| t.to_millis().ok())
                    .map_or(Time::ZERO, |ms| Time::from_millis(u64::try_from(ms).unwrap_or(0)));
                targets.push(Target::new(id, address).started_at(started_at));
            }
        }
        Ok(targets)
    }
}
