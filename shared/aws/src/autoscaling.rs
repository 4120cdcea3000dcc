//! DescribeAutoScalingGroups (one group's instances, or several groups' sizes and instances) and
//! SetDesiredCapacity (query protocol, version 2011-01-01).

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

/// An Auto Scaling group: its size limits, its desired capacity and its instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: u32,
    pub instances: Vec<GroupInstance>,
}

/// DescribeAutoScalingGroups takes at most 50 names unless MaxRecords is raised.
pub const MAX_NAMES_PER_CALL: usize = 50;

const DESCRIBE: &str = "DescribeAutoScalingGroups";
const SET_DESIRED: &str = "SetDesiredCapacity";
const VERSION: &str = "2011-01-01";

fn call(operation: &'static str, form: Form) -> Call {
    Call { service: Service::AutoScaling, operation, content_type: crate::FORM, target: None, body: form.into_body() }
}

fn request(groups: &[&str], next_token: Option<&str>) -> Call {
    let mut form = Form::new(DESCRIBE, VERSION);
    for (i, group) in groups.iter().enumerate() {
        form.param(&format!("AutoScalingGroupNames.member.{}", i + 1), group);
    }
    if let Some(token) = next_token {
        form.param("NextToken", token);
    }
    call(DESCRIBE, form)
}

/// One page of groups and the token for the next page.
pub fn read_groups(xml: &str) -> Result<(Vec<Group>, Option<String>), ErrorKind> {
    let root = crate::xml::parse(xml)?;
    let result = root
        .child("DescribeAutoScalingGroupsResult")
        .ok_or_else(|| ErrorKind::Answer("no DescribeAutoScalingGroupsResult element".into()))?;
    let groups =
        result.child("AutoScalingGroups").ok_or_else(|| ErrorKind::Answer("no AutoScalingGroups element".into()))?;
    let size = |group: &crate::xml::Element, name: &str| -> Result<u32, ErrorKind> {
        let text = group.text_of(name).ok_or_else(|| ErrorKind::Answer(format!("a group without {name}")))?;
        text.parse().map_err(|_| ErrorKind::Answer(format!("{name} is not a count: {text:?}")))
    };
    let groups = groups
        .children_named("member")
        .map(|group| {
            Ok(Group {
                name: group.text_of("AutoScalingGroupName").unwrap_or_default().to_owned(),
                min_size: size(group, "MinSize")?,
                max_size: size(group, "MaxSize")?,
                desired_capacity: size(group, "DesiredCapacity")?,
                instances: instances(group),
            })
        })
        .collect::<Result<_, ErrorKind>>()?;
    let next = result.text_of("NextToken").filter(|t| !t.is_empty()).map(str::to_owned);
    Ok((groups, next))
}

fn instances(group: &crate::xml::Element) -> Vec<GroupInstance> {
    group.child("Instances").map_or_else(Vec::new, |list| {
        list.children_named("member")
            .filter_map(|m| {
                Some(GroupInstance {
                    instance_id: m.text_of("InstanceId")?.to_owned(),
                    lifecycle_state: m.text_of("LifecycleState").unwrap_or_default().to_owned(),
                    health_status: m.text_of("HealthStatus").unwrap_or_default().to_owned(),
                })
            })
            .collect()
    })
}

/// The first group's instances; `None` when the answer lists no group (no group by that name).
pub fn read_instances(xml: &str) -> Result<Option<Vec<GroupInstance>>, ErrorKind> {
    let root = crate::xml::parse(xml)?;
    let groups = root
        .at(&["DescribeAutoScalingGroupsResult", "AutoScalingGroups"])
        .ok_or_else(|| ErrorKind::Answer("no AutoScalingGroups element".into()))?;
    Ok(groups.child("member").map(instances))
}

impl Client {
    /// The instances of the Auto Scaling group `group`; `None` if there is no such group.
    pub async fn describe_group_instances(&self, group: &str) -> Result<Option<Vec<GroupInstance>>, Error> {
        self.call(&request(&[group], None), |body| read_instances(&String::from_utf8_lossy(body))).await
    }

    /// Every group of `names` that exists (a missing one is simply absent), through every page,
    /// [`MAX_NAMES_PER_CALL`] names per call. No names, no groups: the API would answer with every
    /// group in the account.
    pub async fn describe_groups(&self, names: &[&str]) -> Result<Vec<Group>, Error> {
        let mut groups = Vec::with_capacity(names.len());
        for names in names.chunks(MAX_NAMES_PER_CALL) {
            self.for_each_page(
                |token| request(names, token),
                |body| read_groups(&String::from_utf8_lossy(body)),
                |page| groups.extend(page),
            )
            .await?;
        }
        Ok(groups)
    }

    /// Set `group`'s desired capacity now, cooldowns aside (the caller has its own stabilization).
    pub async fn set_desired_capacity(&self, group: &str, desired: u32) -> Result<(), Error> {
        self.call(&set_desired_request(group, desired), |_| Ok(())).await
    }
}

fn set_desired_request(group: &str, desired: u32) -> Call {
    let mut form = Form::new(SET_DESIRED, VERSION);
    form.param("AutoScalingGroupName", group)
        .param("DesiredCapacity", &desired.to_string())
        .param("HonorCooldown", "false");
    call(SET_DESIRED, form)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_groups() {
        let call = request(&["web fleet"], None);
        assert_eq!(
            call.body,
            "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=web%20fleet"
        );
        let call = request(&["a", "b"], Some("t/1"));
        assert_eq!(
            call.body,
            "Action=DescribeAutoScalingGroups&Version=2011-01-01&AutoScalingGroupNames.member.1=a&AutoScalingGroupNames.member.2=b&NextToken=t%2F1"
        );
        assert_eq!(
            set_desired_request("web", 7).body,
            "Action=SetDesiredCapacity&Version=2011-01-01&AutoScalingGroupName=web&DesiredCapacity=7&HonorCooldown=false"
        );
    }

    #[test]
    fn groups_are_read_with_their_sizes_and_the_next_token() {
        let xml = r#"<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>web</AutoScalingGroupName>
        <MinSize>1</MinSize><MaxSize>10</MaxSize><DesiredCapacity>3</DesiredCapacity>
        <Instances>
          <member><InstanceId>i-1</InstanceId><LifecycleState>InService</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
          <member><InstanceId>i-2</InstanceId><LifecycleState>Pending</LifecycleState><HealthStatus>Healthy</HealthStatus></member>
        </Instances>
        <Tags><member><Key>k</Key><Value>v</Value></member></Tags>
      </member>
      <member>
        <AutoScalingGroupName>jobs</AutoScalingGroupName>
        <MinSize>0</MinSize><MaxSize>4</MaxSize><DesiredCapacity>0</DesiredCapacity>
        <Instances/>
      </member>
    </AutoScalingGroups>
    <NextToken>more</NextToken>
  </DescribeAutoScalingGroupsResult>
</DescribeAutoScalingGroupsResponse>"#;
        let (groups, next) = read_groups(xml).unwrap();
        assert_eq!(next.as_deref(), Some("more"));
        assert_eq!(
            groups.iter().map(|g| (g.name.as_str(), g.min_size, g.max_size, g.desired_capacity)).collect::<Vec<_>>(),
            [("web", 1, 10, 3), ("jobs", 0, 4, 0)]
        );
        assert_eq!(groups[0].instances.len(), 2, "the tags' member is not an instance");
        assert_eq!(groups[0].instances[1].lifecycle_state, "Pending");
        assert!(groups[1].instances.is_empty());

        let bad = xml.replace("<DesiredCapacity>3</DesiredCapacity>", "<DesiredCapacity>-3</DesiredCapacity>");
        assert!(read_groups(&bad).unwrap_err().to_string().contains("DesiredCapacity"), "a size that is not a count");
        let none = r#"<R><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></R>"#;
        assert_eq!(read_groups(none).unwrap(), (Vec::new(), None));
        assert!(read_groups("<R/>").is_err());
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
