//! What the router needs from AWS, behind small traits owned here: where targets come from
//! ([`Discovery`]), what load they report ([`LoadSource`]), where jobs go ([`JobQueue`]), how a
//! group at zero is woken ([`FleetWaker`]) and where the routing document is kept
//! ([`DocumentSource`]). Each is implemented once over the AWS SDK ([`GroupDiscovery`],
//! [`CloudWatchLoads`], [`SqsQueue`], [`GroupWaker`], [`ParameterDocument`]) and by the in-memory
//! fakes in [`crate::fakes`] for logic tests. [`Connect`] makes them for each target group and
//! queue a routing document names.
//!
//! The traits return boxed futures so that the router holds them as `Arc<dyn …>`: one allocation
//! per call, on paths that run every few seconds (discovery, loads) or once per job.

mod discovery;
mod document;
mod loads;
mod members;
mod queue;
mod wake;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use switchyard_algorithms::{Target, Time};

pub use discovery::{GroupDiscovery, StaticTargets};
pub use document::{DocumentSource, ParameterDocument, Versioned};
pub use loads::{CloudWatchLoads, LoadReports, newest_per_target};
pub use members::{
    DRAINING_TAG, FleetControl, GroupControl, GroupMembers, HEALTH_TAG, Lifecycle, Member, health_tag_value,
    parse_health_tag,
};
pub use queue::{Fifo, IDEMPOTENCY_KEY_ATTRIBUTE, Job, SendError, SqsQueue, UnknownOutcomeIsFinal};
pub use wake::{FleetWaker, GroupWaker, Woken};

/// A future the traits return: `Send`, so the background refresh can run it on any thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An AWS call that failed: the operation, and the SDK's full account of why (service error code
/// and message with the request id, or the transport failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct CloudError {
    pub operation: &'static str,
    pub message: String,
}

impl CloudError {
    pub(crate) fn from_sdk<E: std::error::Error + 'static>(operation: &'static str) -> impl FnOnce(E) -> CloudError {
        move |e| CloudError { operation, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
    }
}

/// Where the targets come from: a static list or an Auto Scaling group.
pub trait Discovery: Send + Sync + fmt::Debug {
    /// The targets that serve now. An error leaves the router on its last good set.
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Target>, CloudError>>;

    /// Whether the set can change, so that the router asks again every TTL (a static list
    /// cannot).
    fn changes(&self) -> bool {
        true
    }
}

/// The load that targets report (open connections, say), shared by every router environment.
pub trait LoadSource: Send + Sync + fmt::Debug {
    /// The newest report per target among `target_ids`, and how old they are; `None` when no
    /// target reported (no report is not zero load).
    fn read<'a>(
        &'a self,
        target_ids: &'a [String],
        now: Time,
    ) -> BoxFuture<'a, Result<Option<LoadReports>, CloudError>>;
}

/// Where jobs are stored: a queue that answers with a message id once it holds the job.
pub trait JobQueue: Send + Sync + fmt::Debug {
    /// Store `job`; `Ok` only once the queue has it. The error says whether the job may have been
    /// stored anyway ([`SendError::Unknown`]).
    fn send<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<String, SendError>>;

    /// One cheap call that opens the connection (and its TLS session) before the first job needs
    /// it. Nothing is stored.
    fn warm(&self) -> BoxFuture<'_, Result<(), CloudError>>;
}

/// Makes the AWS-backed parts for what a routing document names: a discovery and a waker per
/// Auto Scaling group, a sender per queue, the load reports, the document's own source. `None`
/// where the implementation has nothing to give (a test that wires no queue, say): the router
/// then refuses the document, naming what is missing.
pub trait Connect: Send + Sync + fmt::Debug {
    fn discovery(&self, group: &str, port: u16) -> Option<Arc<dyn Discovery>>;
    fn waker(&self, group: &str) -> Option<Arc<dyn FleetWaker>>;
    fn queue(&self, url: &str) -> Option<Arc<dyn JobQueue>>;
    fn loads(&self) -> Option<Arc<dyn LoadSource>>;
    fn document(&self, parameter: &str) -> Option<Arc<dyn DocumentSource>>;
}

/// [`Connect`] over the AWS SDK: one client per service, shared by every group and queue, each
/// built on first use. A client costs its construction at cold start even if never called; a
/// document without Auto Scaling groups, say, never builds theirs.
#[derive(Debug)]
pub struct SdkConnect {
    sdk: aws_config::SdkConfig,
    autoscaling: std::sync::OnceLock<aws_sdk_autoscaling::Client>,
    ec2: std::sync::OnceLock<aws_sdk_ec2::Client>,
    sqs: std::sync::OnceLock<aws_sdk_sqs::Client>,
    cloudwatch: std::sync::OnceLock<aws_sdk_cloudwatch::Client>,
    ssm: std::sync::OnceLock<aws_sdk_ssm::Client>,
    /// The instance tag that overrides an instance's endpoint.
    endpoint_tag: String,
    /// The time one job may take to store.
    job_budget: Duration,
    load_metric: Option<crate::config::LoadMetric>,
}

impl SdkConnect {
    pub fn new(sdk: &aws_config::SdkConfig, config: &crate::RouterConfig) -> Self {
        SdkConnect {
            sdk: sdk.clone(),
            autoscaling: std::sync::OnceLock::new(),
            ec2: std::sync::OnceLock::new(),
            sqs: std::sync::OnceLock::new(),
            cloudwatch: std::sync::OnceLock::new(),
            ssm: std::sync::OnceLock::new(),
            endpoint_tag: config.endpoint_tag.clone(),
            job_budget: config.job_budget,
            load_metric: config.load_metric.clone(),
        }
    }

    fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        self.autoscaling.get_or_init(|| aws_sdk_autoscaling::Client::new(&self.sdk)).clone()
    }
}

impl Connect for SdkConnect {
    fn discovery(&self, group: &str, port: u16) -> Option<Arc<dyn Discovery>> {
        Some(Arc::new(GroupDiscovery {
            autoscaling: self.autoscaling(),
            ec2: self.ec2.get_or_init(|| aws_sdk_ec2::Client::new(&self.sdk)).clone(),
            group: group.to_owned(),
            port,
            endpoint_tag: self.endpoint_tag.clone(),
        }))
    }

    fn waker(&self, group: &str) -> Option<Arc<dyn FleetWaker>> {
        Some(Arc::new(GroupWaker { autoscaling: self.autoscaling(), group: group.to_owned() }))
    }

    fn queue(&self, url: &str) -> Option<Arc<dyn JobQueue>> {
        let sqs = self.sqs.get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk)).clone();
        Some(Arc::new(SqsQueue { sqs, url: url.to_owned(), budget: self.job_budget }))
    }

    fn loads(&self) -> Option<Arc<dyn LoadSource>> {
        let metric = self.load_metric.clone()?;
        let cloudwatch = self.cloudwatch.get_or_init(|| aws_sdk_cloudwatch::Client::new(&self.sdk)).clone();
        Some(Arc::new(CloudWatchLoads { cloudwatch, metric }))
    }

    fn document(&self, parameter: &str) -> Option<Arc<dyn DocumentSource>> {
        let ssm = self.ssm.get_or_init(|| aws_sdk_ssm::Client::new(&self.sdk)).clone();
        Some(Arc::new(ParameterDocument { ssm, name: parameter.to_owned() }))
    }
}
