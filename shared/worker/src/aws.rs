//! What the worker needs from AWS, behind three small traits owned here: the work queue
//! ([`Queue`]), the instance's place in its Auto Scaling group ([`Membership`]) and where activity
//! goes for the scaler ([`ActivitySink`]). Each is implemented once over the AWS SDK (in
//! [`crate::sdk`]) and by the in-memory fakes in [`crate::fakes`] for logic tests.
//!
//! The traits return boxed futures so that the worker holds them as `Arc<dyn …>`, as the router
//! does: one allocation per call, on paths that run once per batch or per tick.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use aws_sdk_autoscaling::types::LifecycleState;

use crate::Job;
use crate::policy::Activity;

/// A future the traits return: `Send`, so the receive loop can run it on any thread.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An AWS call that failed: the operation, and the SDK's full account of why (service error code
/// and message with the request id, or the transport failure).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct CloudError {
    pub operation: &'static str,
    pub message: String,
}

/// A received message: the job for the handler, and the receipt that deletes or hides it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub job: Job,
    pub receipt: String,
}

/// An entry of a batch call that the queue refused: its position in the call, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub index: usize,
    pub code: String,
}

/// The work queue, as SQS offers it: at-least-once delivery, each received message hidden from
/// other consumers until its visibility timeout ends or it is deleted.
pub trait Queue: Send + Sync + fmt::Debug {
    /// Up to `max` messages (1..=10), waiting up to `wait` for the first (long poll), each hidden
    /// for `visibility`. Jobs carry the receive count, the sent time and the idempotency key.
    fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, CloudError>>;

    /// Delete the messages of these receipts (at most ten); the entries the queue refused.
    fn delete<'a>(&'a self, receipts: &'a [String]) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>>;

    /// Hide the messages of these receipts (at most ten) for `visibility` from now: renews a held
    /// message, or (zero) gives it back at once. The entries the queue refused.
    fn change_visibility<'a>(
        &'a self,
        receipts: &'a [String],
        visibility: Duration,
    ) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>>;

    /// Hide one message for `visibility` from now: a failed job's retry delay.
    fn delay<'a>(&'a self, receipt: &'a str, visibility: Duration) -> BoxFuture<'a, Result<(), CloudError>>;
}

/// An instance as its Auto Scaling group sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub group: String,
    /// `None` when the answer did not say.
    pub lifecycle_state: Option<LifecycleState>,
    /// Whether the instance is protected from scale-in; `None` when the answer did not say.
    pub protected: Option<bool>,
}

/// The worker's instance in its Auto Scaling group: whether it still serves, and its scale-in
/// protection.
pub trait Membership: Send + Sync + fmt::Debug {
    /// The group `instance_id` is in and its lifecycle state; `None` when it is in no group.
    fn describe<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<Option<Member>, CloudError>>;

    /// Protect the instance from scale-in (`on`), or let the group remove it.
    fn set_protection<'a>(&'a self, instance: &'a crate::Instance, on: bool) -> BoxFuture<'a, Result<(), CloudError>>;
}

/// One report of a worker for the scaler (the metrics are listed in the crate's documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The scaler's name for the worker's fleet.
    pub fleet: String,
    /// What the worker did since its last report; `None` when it did nothing.
    pub activity: Option<Activity>,
    /// The worker's instance, when the report says that its worker is alive there.
    pub alive_on: Option<String>,
}

/// Where the worker's reports go: activity, for the scaler to tell idle workers from busy ones,
/// and liveness, for it to tell a live worker's protected instance from a dead one's.
pub trait ActivitySink: Send + Sync + fmt::Debug {
    /// Publish one report.
    fn publish<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<(), CloudError>>;
}
