//! What the router needs from AWS, behind three small traits owned here: where targets come from
//! ([`Discovery`]), what load they report ([`LoadSource`]), where jobs go ([`JobQueue`]) and how a
//! group at zero is woken ([`FleetWaker`]). Each is implemented once over the AWS SDK
//! ([`GroupDiscovery`], [`CloudWatchLoads`], [`SqsQueue`], [`GroupWaker`]) and by the in-memory
//! fakes in [`crate::fakes`] for logic tests.
//!
//! The traits return boxed futures so that the router holds them as `Arc<dyn …>`: one allocation
//! per call, on paths that run every few seconds (discovery, loads) or once per job.

mod discovery;
mod loads;
mod queue;
mod wake;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use switchyard_algorithms::{Target, Time};

pub use discovery::{GroupDiscovery, StaticTargets};
pub use loads::{CloudWatchLoads, LoadReports, newest_per_target};
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
