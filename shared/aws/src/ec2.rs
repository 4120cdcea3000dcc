//! DescribeInstances, for running instances' addresses, launch times and tags (EC2's query
//! protocol, version 2016-11-15), every page.

use crate::client::{Call, Error, ErrorKind};
use crate::{Client, Form, Service};

/// What the router reads of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub instance_id: String,
    pub private_ip_address: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub launch_time_ms: Option<u64>,
    pub tags: Vec<(String, String)>,
}

impl Instance {
    /// The value of tag `key`.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

const OPERATION: &str = "DescribeInstances";

fn request(ids: &[String], next_token: Option<&str>) -> Call {
    let mut form = Form::new(OPERATION, "2016-11-15");
    for (i, id) in ids.iter().enumerate() {
        form.param(&format!("InstanceId.{}", i + 1), id);
    }
    form.param("Filter.1.Name", "instance-state-name").param("Filter.1.Value.1", "running");
    if let Some(token) = next_token {
        form.param("NextToken", token);
    }
    Call {
        service: Service::Ec2,
        operation: OPERATION,
        content_type: crate::FORM,
        target: None,
        body: form.into_body(),
    }
}

/// One page: its instances and the token for the next page.
pub fn read_page(xml: &str) -> Result<(Vec<Instance>, Option<String>), ErrorKind> {
    let root = crate::xml::parse(xml)?;
    let reservations =
        root.child("reservationSet").ok_or_else(|| ErrorKind::Answer("no reservationSet element".into()))?;
    let instances = reservations
        .children_named("item")
        .filter_map(|r| r.child("instancesSet"))
        .flat_map(|set| set.children_named("item"))
        .filter_map(|item| {
            Some(Instance {
                instance_id: item.text_of("instanceId")?.to_owned(),
                // The instance's own element; its network interfaces repeat the name deeper down.
                private_ip_address: item.text_of("privateIpAddress").filter(|ip| !ip.is_empty()).map(str::to_owned),
                launch_time_ms: item.text_of("launchTime").and_then(crate::time::parse_iso8601_millis),
                tags: item.child("tagSet").map_or_else(Vec::new, |tags| {
                    tags.children_named("item")
                        .filter_map(|t| {
                            Some((t.text_of("key")?.to_owned(), t.text_of("value").unwrap_or_default().to_owned()))
                        })
                        .collect()
                }),
            })
        })
        .collect();
    let next = root.text_of("nextToken").filter(|t| !t.is_empty()).map(str::to_owned);
    Ok((instances, next))
}

impl Client {
    /// The running instances among `ids`, through every page.
    pub async fn describe_running_instances(&self, ids: &[String]) -> Result<Vec<Instance>, Error> {
        let mut instances = Vec::with_capacity(ids.len());
        self.for_each_page(
            |token| request(ids, token),
            |body| read_page(&String::from_utf8_lossy(body)),
            |page| instances.extend(page),
        )
        .await?;
        Ok(instances)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_lists_ids_the_running_filter_and_the_token() {
        let call = request(&["i-1".into(), "i-2".into()], Some("t/1"));
        assert_eq!(
            call.body,
            "Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2\
             &Filter.1.Name=instance-state-name&Filter.1.Value.1=running&NextToken=t%2F1"
        );
    }

    #[test]
    fn a_page_is_read_with_the_instances_own_address_and_tags() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
  <requestId>r</requestId>
  <reservationSet>
    <item>
      <reservationId>r-1</reservationId>
      <instancesSet>
        <item>
          <instanceId>i-1</instanceId>
          <launchTime>2024-05-01T10:00:00.000Z</launchTime>
          <networkInterfaceSet><item><privateIpAddress>10.9.9.9</privateIpAddress></item></networkInterfaceSet>
          <privateIpAddress>10.0.0.1</privateIpAddress>
          <tagSet><item><key>switchyard:endpoint</key><value>127.0.0.1:8080</value></item><item><key>empty</key><value/></item></tagSet>
        </item>
        <item><instanceId>i-2</instanceId></item>
      </instancesSet>
    </item>
    <item><instancesSet><item><instanceId>i-3</instanceId><privateIpAddress>10.0.0.3</privateIpAddress></item></instancesSet></item>
  </reservationSet>
  <nextToken>page2</nextToken>
</DescribeInstancesResponse>"#;
        let (instances, next) = read_page(xml).unwrap();
        assert_eq!(next.as_deref(), Some("page2"));
        assert_eq!(instances.len(), 3);
        assert_eq!(instances[0].private_ip_address.as_deref(), Some("10.0.0.1"));
        assert_eq!(instances[0].launch_time_ms, Some(1_714_557_600_000));
        assert_eq!(
            (instances[0].tag("switchyard:endpoint"), instances[0].tag("empty")),
            (Some("127.0.0.1:8080"), Some(""))
        );
        assert_eq!((instances[1].private_ip_address.as_deref(), instances[1].launch_time_ms), (None, None));
        assert_eq!(instances[2].instance_id, "i-3");

        let last = "<DescribeInstancesResponse><reservationSet/></DescribeInstancesResponse>";
        assert_eq!(read_page(last).unwrap(), (Vec::new(), None));
        assert!(read_page("<DescribeInstancesResponse/>").is_err());
    }
}
