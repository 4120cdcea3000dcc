//! Where targets come from: a static list, or an Auto Scaling group's InService and Healthy
//! instances (not Standby, not Terminating) at their private IPs from EC2. A per-instance tag may
//! name the endpoint instead (`switchyard:endpoint = host:port`): that is how local tests point
//! instances at real 127.0.0.1 servers, and how a team runs a sidecar on another port.

use switchyard_algorithms::{Target, Time};

/// Why discovery failed (the router keeps the last good set and says so in its log).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    #[error(transparent)]
    Aws(#[from] switchyard_aws::Error),
    #[error("DescribeAutoScalingGroups: no group named {0}")]
    NoGroup(String),
}

/// An Auto Scaling group's serving instances.
#[derive(Debug, Clone)]
pub struct GroupDiscovery {
    pub aws: switchyard_aws::Client,
    pub group: String,
    pub port: u16,
    pub endpoint_tag: String,
}

impl GroupDiscovery {
    pub async fn targets(&self) -> Result<Vec<Target>, DiscoveryError> {
        let Some(instances) = self.aws.describe_group_instances(&self.group).await? else {
            return Err(DiscoveryError::NoGroup(self.group.clone()));
        };
        let serving: Vec<String> = instances.into_iter().filter(|i| i.is_serving()).map(|i| i.instance_id).collect();
        if serving.is_empty() {
            return Ok(Vec::new());
        }
        let running = self.aws.describe_running_instances(&serving).await?;
        Ok(running.iter().filter_map(|instance| self.target(instance)).collect())
    }

    /// Where an instance serves: its endpoint tag if valid, else its private IP at the port.
    fn target(&self, instance: &switchyard_aws::ec2::Instance) -> Option<Target> {
        let tagged = instance.tag(&self.endpoint_tag).filter(|v| crate::config::validate_address(v).is_ok());
        let address = match (tagged, &instance.private_ip_address) {
            (Some(endpoint), _) => endpoint.to_owned(),
            (None, Some(ip)) => format!("{ip}:{}", self.port),
            (None, None) => return None,
        };
        let started_at = instance.launch_time_ms.map_or(Time::ZERO, Time::from_millis);
        Some(Target::new(&instance.instance_id, address).started_at(started_at))
    }
}
