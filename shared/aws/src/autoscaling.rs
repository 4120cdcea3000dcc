//! DescribeAutoScalingGroups, for one group's instances (query protocol, version 2011-01-01).

use crate::client::{Call, Error, ErrorKind};
use crate::{Client, Form, Service};

/// An instance of the group as Auto Scaling sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInstance {
    pub instance_id: String,
    /// `InService`, `Pending`, `Standby`, `Terminating`, …
    pub lifecycle_state: String,
    /// `Healthy` or `Unhealthy`.
    pub health_status: String,
}

impl GroupInstance {
    /// In service and healthy: what may take traffic.
    pub fn is_serving(&self) -> bool {
        self.lifecycle_state == "InService" && self.health_status == "Healthy"
    }
}

const OPERATION: &str = "DescribeAutoScalingGroups";

fn request(group: &str) -> Call {
    let mut form = Form::new(OPERATION, "2011-01-01");
    form.param("AutoScalingGroupNames.member.1", group);
    Call {
        service: Service::AutoScaling,
        operation: OPERATION,
        content_type: crate::FORM,
        target: None,
        body: form.into_body(),
    }
}

/// The first group's instances; `None` when the answer lists no group (no group by that name).
pub fn read_instances(xml: &str) -> Result<Option<Vec<GroupInstance>>, ErrorKind> {
    let root = crate::xml::parse(xml)?;
    let groups = root
        .at(&["DescribeAutoScalingGroupsResult", "AutoScalingGroups"])
        .ok_or_else(|| ErrorKind::Answer("no AutoScalingGroups element".into()))?;
    let Some(group) = groups.child("member") else { return Ok(None) };
    let instances = group.child("Instances").map_or_else(Vec::new, |list| {
        list.children_named("member")
            .filter_map(|m| {
                Some(GroupInstance {
                    instance_id: m.text_of("InstanceId")?.to_owned(),
                    lifecycle_state: m.text_of("LifecycleState").unwrap_or_default().to_owned(),
                    health_status: m.text_of("HealthStatus").unwrap_or_default().to_owned(),
                })
            })
            .collect()
    });
    Ok(Some(instances))
}

impl Client {
    /// The instances of the Auto Scaling group `group`; `None` if there is no such group.
    pub async fn describe_group_instances(&self, group: &str) -> Result<Option<Vec<GroupInstance>>, Error> {
        self.call(&request(group), |body| read_instances(&String::from_utf8_lossy(body))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_group() {
        let call = request("web fleet");
        assert_eq!(
            call.body,
            "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=web%20fleet"
        );
    }

    /// An answer in the shape of AWS's documentation example, with the lists Auto Scaling puts
    /// beside `Instances` (their `member`s must not be read as instances).
    #[test]
    fn instances_are_read_from_the_first_group() {
        let xml = r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>web</AutoScalingGroupName>
        <AvailabilityZones><member>us-east-1a</member></AvailabilityZones>
        <Tags><member><Key>team</Key><Value>a</Value></member></Tags>
        <Instances>
          <member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus><AvailabilityZone>us-east-1a</AvailabilityZone></member>
          <member><InstanceId>i-2</InstanceId><LifecycleState>Standby</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
          <member><InstanceId>i-3</InstanceId><LifecycleState>InService</LifecycleState><HealthStatus>Unhealthy</HealthStatus></member>
        </Instances>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</DescribeAutoScalingGroupsResponse>"#;
        let instances = read_instances(xml).unwrap().unwrap();
        let ids: Vec<_> = instances.iter().map(|i| (i.instance_id.as_str(), i.is_serving())).collect();
        assert_eq!(ids, [("i-1", true), ("i-2", false), ("i-3", false)]);

        let none = r#"<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"#;
        assert_eq!(read_instances(none).unwrap(), None);
        let empty = r#"<R><DescribeAutoScalingGroupsResult><AutoScalingGroups><member><Instances/></member></AutoScalingGroups></DescribeAutoScalingGroupsResult></R>"#;
        assert_eq!(read_instances(empty).unwrap(), Some(Vec::new()));
        assert!(read_instances("<R/>").is_err());
        assert!(read_instances("not xml").is_err());
    }
}
