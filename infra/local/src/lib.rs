//! The resources a Switchyard user has, made in a local AWS stack: a work queue with a dead-letter
//! queue, a launch template, a web fleet and a consumer fleet (Auto Scaling groups), tagged so the
//! functions can find them.
//!
//! [`bootstrap`] is idempotent: a resource that exists is left exactly as it is (a fleet's desired
//! capacity may have been changed by the scaler since, and that is not the bootstrap's to undo).

pub mod backends;
pub mod emf;

use std::collections::HashMap;
use std::fmt;

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, Tag};
use aws_sdk_ec2::types::{Filter, RequestLaunchTemplateData};
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;

/// Tag naming a group's role for Switchyard (`web` or `consumer`); propagated to its instances.
pub const ROLE_TAG: &str = "switchyard:role";
/// Tag naming the Switchyard fleet a group (and its instances) belong to.
pub const FLEET_TAG: &str = "switchyard:fleet";

/// Why a local resource could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action}: {message}")]
    Aws { action: String, message: String },
    #[error("{0}")]
    Unexpected(String),
}

fn aws_error<E>(action: impl Into<String>) -> impl FnOnce(E) -> Error
where
    E: std::error::Error + 'static,
{
    let action = action.into();
    move |e| Error::Aws { action, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
}

/// What a fleet is for: the router sends HTTP to `Web` fleets; `Consumer` fleets drain the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Web,
    Consumer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Web => "web",
            Role::Consumer => "consumer",
        }
    }
}

/// One Auto Scaling group to create.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    pub group_name: String,
    pub role: Role,
    pub min: i32,
    pub max: i32,
    /// Desired capacity at creation only.
    pub initial_desired: i32,
}

/// Everything [`bootstrap`] makes, by name.
#[derive(Debug, Clone)]
pub struct LocalEnvironment {
    pub work_queue: String,
    pub dead_letter_queue: String,
    /// Receives before SQS moves a message to the dead-letter queue.
    pub max_receive_count: u32,
    pub visibility_timeout_secs: u32,
    pub launch_template: String,
    pub fleets: Vec<FleetSpec>,
}

impl LocalEnvironment {
    /// The standard local environment, every name starting with `prefix` (the demo uses
    /// `switchyard`; tests use a unique prefix each so they can share one LocalStack).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            work_queue: format!("{prefix}-work"),
            dead_letter_queue: format!("{prefix}-work-dlq"),
            max_receive_count: 5,
            visibility_timeout_secs: 30,
            launch_template: format!("{prefix}-instance"),
            fleets: vec![
                FleetSpec { group_name: format!("{prefix}-web"), role: Role::Web, min: 1, max: 8, initial_desired: 2 },
                FleetSpec {
                    group_name: format!("{prefix}-workers"),
                    role: Role::Consumer,
                    min: 0,
                    max: 10,
                    initial_desired: 0,
                },
            ],
        }
    }
}

/// What [`bootstrap`] did to one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub kind: &'static str,
    pub name: String,
    pub created: bool,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.created { "created" } else { "exists " };
        write!(f, "{verb} {:<16} {}", self.kind, self.name)
    }
}

/// Clients for the services the local environment spans.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub ec2: aws_sdk_ec2::Client,
    pub autoscaling: aws_sdk_autoscaling::Client,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            sqs: aws_sdk_sqs::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
        }
    }
}

/// Make whatever of `env` does not exist yet; report every resource.
pub async fn bootstrap(clients: &Clients, env: &LocalEnvironment) -> Result<Vec<Outcome>, Error> {
    let mut outcomes = Vec::new();

    let (dlq_url, created) = ensure_queue(&clients.sqs, &env.dead_letter_queue, &[]).await?;
    outcomes.push(Outcome { kind: "dead-letter queue", name: env.dead_letter_queue.clone(), created });
    let dlq_arn = queue_arn(&clients.sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": env.max_receive_count.to_string(),
    })
    .to_string();
    let (_, created) = ensure_queue(
        &clients.sqs,
        &env.work_queue,
        &[
            (QueueAttributeName::RedrivePolicy, redrive),
            (QueueAttributeName::VisibilityTimeout, env.visibility_timeout_secs.to_string()),
        ],
    )
    .await?;
    outcomes.push(Outcome { kind: "work queue", name: env.work_queue.clone(), created });

    let created = ensure_launch_template(&clients.ec2, &env.launch_template).await?;
    outcomes.push(Outcome { kind: "launch template", name: env.launch_template.clone(), created });

    for fleet in &env.fleets {
        let created = ensure_group(&clients.autoscaling, fleet, &env.launch_template).await?;
        outcomes.push(Outcome { kind: "auto scaling group", name: fleet.group_name.clone(), created });
    }
    Ok(outcomes)
}

async fn ensure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    attributes: &[(QueueAttributeName, String)],
) -> Result<(String, bool), Error> {
    match sqs.get_queue_url().queue_name(name).send().await {
        Ok(found) => {
            let url = found.queue_url.ok_or_else(|| Error::Unexpected(format!("queue {name} has no URL")))?;
            return Ok((url, false));
        }
        Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => {}
        Err(e) => return Err(aws_error(format!("looking up queue {name}"))(e)),
    }
    let mut create = sqs.create_queue().queue_name(name);
    for (key, value) in attributes {
        create = create.attributes(key.clone(), value.clone());
    }
    let created = create.send().await.map_err(aws_error(format!("creating queue {name}")))?;
    let url = created.queue_url.ok_or_else(|| Error::Unexpected(format!("queue {name} was created without a URL")))?;
    Ok((url, true))
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, Error> {
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(aws_error(format!("reading the ARN of {url}")))?;
    attrs
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| Error::Unexpected(format!("queue {url} has no ARN")))
}

async fn ensure_launch_template(ec2: &aws_sdk_ec2::Client, name: &str) -> Result<bool, Error> {
    let existing = ec2
        .describe_launch_templates()
        .filters(Filter::builder().name("launch-template-name").values(name).build())
        .send()
        .await
        .map_err(aws_error(format!("looking up launch template {name}")))?;
    if !existing.launch_templates().is_empty() {
        return Ok(false);
    }
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                // Any AMI id is accepted locally; on AWS this is the application's own image.
                .image_id("ami-0123456789abcdef0")
                .instance_type(aws_sdk_ec2::types::InstanceType::T4gMicro)
                .build(),
        )
        .send()
        .await
        .map_err(aws_error(format!("creating launch template {name}")))?;
    Ok(true)
}

async fn ensure_group(
    autoscaling: &aws_sdk_autoscaling::Client,
    fleet: &FleetSpec,
    launch_template: &str,
) -> Result<bool, Error> {
    let name = &fleet.group_name;
    let existing = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .map_err(aws_error(format!("looking up group {name}")))?;
    if !existing.auto_scaling_groups().is_empty() {
        return Ok(false);
    }
    let tag = |key: &str, value: &str| {
        Tag::builder()
            .key(key)
            .value(value)
            .propagate_at_launch(true)
            .resource_id(name)
            .resource_type("auto-scaling-group")
            .build()
    };
    autoscaling
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            LaunchTemplateSpecification::builder().launch_template_name(launch_template).version("$Latest").build(),
        )
        .min_size(fleet.min)
        .max_size(fleet.max)
        .desired_capacity(fleet.initial_desired)
        .availability_zones("us-east-1a")
        .tags(tag(ROLE_TAG, fleet.role.as_str()))
        .tags(tag(FLEET_TAG, name))
        .send()
        .await
        .map_err(aws_error(format!("creating group {name}")))?;
    Ok(true)
}

/// Send `count` small jobs to the environment's work queue, ten per SendMessageBatch call.
/// Returns how many SQS accepted; a batch entry SQS refuses is an error, not a silent loss.
pub async fn enqueue(clients: &Clients, env: &LocalEnvironment, count: usize) -> Result<usize, Error> {
    let url = queue_url(&clients.sqs, &env.work_queue).await?;
    let mut sent = 0;
    for start in (0..count).step_by(10) {
        let mut batch = clients.sqs.send_message_batch().queue_url(&url);
        for i in start..(start + 10).min(count) {
            let entry = aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(format!("{{\"job\": {i}}}"))
                .build()
                .map_err(|e| Error::Unexpected(e.to_string()))?;
            batch = batch.entries(entry);
        }
        let out = batch.send().await.map_err(aws_error(format!("sending jobs to {url}")))?;
        if let Some(failed) = out.failed().first() {
            return Err(Error::Unexpected(format!("SQS refused job {}: {:?}", failed.id(), failed.message())));
        }
        sent += out.successful().len();
    }
    Ok(sent)
}

/// Remove every message from the work queue (PurgeQueue).
pub async fn drain(clients: &Clients, env: &LocalEnvironment) -> Result<(), Error> {
    let url = queue_url(&clients.sqs, &env.work_queue).await?;
    clients.sqs.purge_queue().queue_url(&url).send().await.map_err(aws_error(format!("purging {url}")))?;
    Ok(())
}

async fn queue_url(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, Error> {
    sqs.get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(aws_error(format!("looking up queue {name} (run `switchyard-local bootstrap` first)")))?
        .queue_url
        .ok_or_else(|| Error::Unexpected(format!("queue {name} has no URL")))
}

/// One instance of a group as the router would see it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub instance_id: String,
    pub lifecycle_state: String,
    pub health_status: String,
    pub private_ip: Option<String>,
    pub protected_from_scale_in: bool,
}

/// One Switchyard fleet (a group tagged with [`ROLE_TAG`]).
#[derive(Debug, Clone, Serialize)]
pub struct GroupView {
    pub name: String,
    pub role: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub instances: Vec<InstanceView>,
}

/// One queue with its depth.
#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub name: String,
    pub url: String,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    pub dead_letter_target: Option<String>,
}

/// What exists now.
#[derive(Debug, Clone, Serialize)]
pub struct Inventory {
    pub queues: Vec<QueueView>,
    pub groups: Vec<GroupView>,
}

/// Read the queues whose names start with `prefix` and every group tagged with [`ROLE_TAG`] whose
/// name starts with `prefix`.
pub async fn inventory(clients: &Clients, prefix: &str) -> Result<Inventory, Error> {
    Ok(Inventory { queues: queues(&clients.sqs, prefix).await?, groups: groups(clients, prefix).await? })
}

async fn queues(sqs: &aws_sdk_sqs::Client, prefix: &str) -> Result<Vec<QueueView>, Error> {
    let listed = sqs
        .list_queues()
        .queue_name_prefix(prefix)
        .send()
        .await
        .map_err(aws_error(format!("listing queues named {prefix}*")))?;
    let mut views = Vec::new();
    for url in listed.queue_urls() {
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(aws_error(format!("reading attributes of {url}")))?
            .attributes
            .unwrap_or_default();
        let count = |name: QueueAttributeName| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        let dead_letter_target = attrs
            .get(&QueueAttributeName::RedrivePolicy)
            .and_then(|p| serde_json::from_str::<serde_json::Value>(p).ok())
            .and_then(|p| {
                p["deadLetterTargetArn"].as_str().map(|arn| arn.rsplit(':').next().unwrap_or(arn).to_owned())
            });
        views.push(QueueView {
            name: url.rsplit('/').next().unwrap_or(url).to_owned(),
            url: url.clone(),
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
            dead_letter_target,
        });
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}

async fn groups(clients: &Clients, prefix: &str) -> Result<Vec<GroupView>, Error> {
    let described = clients
        .autoscaling
        .describe_auto_scaling_groups()
        .filters(aws_sdk_autoscaling::types::Filter::builder().name("tag-key").values(ROLE_TAG).build())
        .send()
        .await
        .map_err(aws_error("listing Switchyard groups"))?;
    let mut views = Vec::new();
    for group in described.auto_scaling_groups() {
        let name = group.auto_scaling_group_name().unwrap_or_default();
        if !name.starts_with(prefix) {
            continue;
        }
        let role =
            group.tags().iter().find(|t| t.key() == Some(ROLE_TAG)).and_then(|t| t.value()).unwrap_or("?").to_owned();
        let ids: Vec<String> = group.instances().iter().filter_map(|i| i.instance_id().map(str::to_owned)).collect();
        let addresses = private_ips(&clients.ec2, &ids).await?;
        let instances = group
            .instances()
            .iter()
            .map(|i| {
                let id = i.instance_id().unwrap_or_default().to_owned();
                InstanceView {
                    private_ip: addresses.get(&id).cloned(),
                    instance_id: id,
                    lifecycle_state: i.lifecycle_state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    health_status: i.health_status().unwrap_or_default().to_owned(),
                    protected_from_scale_in: i.protected_from_scale_in().unwrap_or(false),
                }
            })
            .collect();
        views.push(GroupView {
            name: name.to_owned(),
            role,
            min: group.min_size().unwrap_or_default(),
            max: group.max_size().unwrap_or_default(),
            desired: group.desired_capacity().unwrap_or_default(),
            instances,
        });
    }
    views.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(views)
}

/// Private IPs of running instances (terminated ones stay listed for a while; they are skipped).
async fn private_ips(ec2: &aws_sdk_ec2::Client, ids: &[String]) -> Result<HashMap<String, String>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let described = ec2
        .describe_instances()
        .set_instance_ids(Some(ids.to_vec()))
        .filters(Filter::builder().name("instance-state-name").values("running").build())
        .send()
        .await
        .map_err(aws_error("describing instances"))?;
    Ok(described
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| Some((i.instance_id()?.to_owned(), i.private_ip_address()?.to_owned())))
        .collect())
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "queues")?;
        writeln!(f, "  {:<28} {:>8} {:>9} {:>8}  dead-letter target", "name", "visible", "in flight", "delayed")?;
        for q in &self.queues {
            writeln!(
                f,
                "  {:<28} {:>8} {:>9} {:>8}  {}",
                q.name,
                q.visible,
                q.in_flight,
                q.delayed,
                q.dead_letter_target.as_deref().unwrap_or("-")
            )?;
        }
        writeln!(f, "auto scaling groups")?;
        for g in &self.groups {
            writeln!(f, "  {} (role {}): desired {} within [{}, {}]", g.name, g.role, g.desired, g.min, g.max)?;
            for i in &g.instances {
                let line = format!(
                    "    {:<22} {:<12} {:<10} {:<16}{}",
                    i.instance_id,
                    i.lifecycle_state,
                    i.health_status,
                    i.private_ip.as_deref().unwrap_or("-"),
                    if i.protected_from_scale_in { " protected from scale-in" } else { "" }
                );
                writeln!(f, "{}", line.trim_end())?;
            }
        }
        Ok(())
    }
}
