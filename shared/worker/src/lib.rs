//! Switchyard's consumer runtime: a program hands it one handler function and gets at-least-once
//! processing of an SQS queue that scales in without killing or losing a job.
//!
//! - Long-polls in batches up to the free concurrency; runs the handler; deletes successes in
//!   batches; a failure leaves the message to SQS (redelivery, then the dead-letter queue).
//! - **Heartbeat**: a held message's visibility is renewed at half-time, so a long job is never
//!   handed to a second worker.
//! - **Scale-in protection while busy** (AWS's guidance for queue workers): on before the first
//!   job of a busy spell, off after an idle grace — one call per spell, not per message.
//! - **Protection a dead worker cannot pin**:
//!   - at start, holding no job, the worker takes off the protection a previous worker left on
//!     its instance (one killed with -9 never took its own off);
//!   - it receives, then protects, then reads its instance's lifecycle state once per busy spell:
//!     a batch received on an instance already leaving service is released at once (visibility
//!     0), unprocessed, and the worker stops. Protecting *before* receiving would keep every idle
//!     worker protected, since an idle worker is always in a long poll: scale-in could then remove
//!     no worker at all. The read costs one DescribeAutoScalingInstances per spell;
//!   - its reports are its heartbeat (`WorkerAlive`, below): the scaler takes protection off an
//!     instance whose worker stopped reporting. A live worker that finds its protection taken off
//!     while it holds a job (its reports were lost) puts it back at its next lifecycle check.
//! - **Graceful stop** on a signal or when the instance leaves InService: stop receiving, let held
//!   jobs finish until a deadline, release the rest (visibility 0), take protection off.
//! - **Reports** for the scaler: activity, so that scale to zero waits for idle workers, not for a
//!   momentarily empty queue; liveness, so that protection dies with the worker.
//!
//! # Reports: the metric contract
//!
//! With `fleet` set (`SWITCHYARD_FLEET`), in the namespace `SWITCHYARD_METRICS_NAMESPACE`, every
//! `activity_interval` (one PutMetricData call; high resolution below a minute), and once at
//! stop without `WorkerAlive` (the names are `switchyard_metrics::worker`'s, which the scaler reads
//! too):
//!
//! | metric | unit | dimensions | sent |
//! | --- | --- | --- | --- |
//! | `WorkerReceived`, `WorkerProcessed`, `WorkerFailed` | Count | `Fleet` | for an interval in which the worker received, ran or ended a job; nothing for an idle one |
//! | `WorkerBusySeconds` | Seconds | `Fleet` | with the above: job run time in the interval |
//! | `WorkerAlive` | Count, always 1 | `Fleet`, `InstanceId` | by a worker bound to an instance: at start (before its first receive), then every interval until it stops, idle or busy, protected or not |
//!
//! The scaler sums `WorkerBusySeconds` per fleet to tell idle fleets from busy ones. A protected
//! instance of the fleet with no `WorkerAlive` datapoint for its `InstanceId` over the last `T`
//! has no live worker, and its protection can be taken off; `T` must cover a few intervals plus
//! CloudWatch's delay before a datapoint can be read. Liveness is sent whether or not the
//! instance is protected because the scaler cannot see when a busy spell began: a heartbeat that
//! started with protection would arrive after it, and the scaler could strip a worker that had
//! just taken a job. Sent always, a live worker's latest datapoint is about one interval old.
//! The price: an idle worker makes the PutMetricData call a busy one makes anyway (8,640 a day at
//! the default 10 s). A worker without `fleet` reports nothing, so the scaler would take it for
//! dead: set `fleet` wherever protection is on.
//!
//! Decisions live in [`policy`] (pure, tested without AWS); this module is the I/O around them.
//! AWS is reached through the traits of [`aws`], implemented over the SDK in [`sdk`] and in memory
//! in [`fakes`], so that the I/O is tested without LocalStack too. Time is tokio's
//! ([`tokio::time::Instant`]), so those tests run on a paused clock.

pub mod aws;
pub mod config;
pub mod fakes;
pub mod policy;
pub mod sdk;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::time::Instant;

pub use aws::{ActivitySink, CloudError, LifecycleState, Member, Membership, Queue, Report};
pub use config::{ConfigError, InstanceSource, WorkerConfig};
use policy::{Activity, Protection, renewal_due};

/// The message attribute that carries a client's `Idempotency-Key`, as the router sends it.
pub const IDEMPOTENCY_KEY_ATTRIBUTE: &str = "IdempotencyKey";

/// One message, as the handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub message_id: String,
    pub body: String,
    /// How many times SQS has handed this message out, this time included (2+ is a redelivery).
    pub receive_count: u32,
    /// When the message was sent (ms since the epoch), if SQS said.
    pub sent_at_ms: Option<u64>,
    /// The client's `Idempotency-Key` (the message attribute [`IDEMPOTENCY_KEY_ATTRIBUTE`]), if
    /// it sent one. SQS delivers at least once, and a client whose answer was lost sends again:
    /// both give a handler the same logical job more than once, under different message ids. The
    /// key is the same on every copy, so a handler with side effects records it and skips a key
    /// it has already done.
    pub idempotency_key: Option<String>,
}

/// A job that failed: its message stays on the queue for redelivery.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JobFailed(pub String);

/// The consumer's code: one job in, done or failed out.
pub trait Handler: Send + Sync + 'static {
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), JobFailed>> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobFailed>> + Send,
{
    fn handle(&self, job: Job) -> impl Future<Output = Result<(), JobFailed>> + Send {
        self(job)
    }
}

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("instance metadata: {0}")]
    Metadata(String),
    #[error("{0}")]
    Describe(CloudError),
    #[error("instance {0} is not in an Auto Scaling group: scale-in protection needs one")]
    NotInGroup(String),
}

/// What one run did, for logs and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub received: u64,
    pub processed: u64,
    pub failed: u64,
    /// Messages given back to the queue at stop (visibility 0), unprocessed.
    pub released: u64,
    /// Successes whose delete SQS refused: they will be delivered again.
    pub delete_failures: u64,
    pub renewals: u64,
    pub protection_calls: u64,
    pub stopped_because: String,
}

/// The worker's instance in its Auto Scaling group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    pub id: String,
    pub group: String,
}

/// The AWS services a worker calls.
#[derive(Debug, Clone)]
pub struct Services {
    pub queue: Arc<dyn Queue>,
    pub membership: Arc<dyn Membership>,
    pub activity: Arc<dyn ActivitySink>,
}

impl Services {
    /// Over the SDK, with clients from `aws`: `config`'s queue, and its namespace for activity.
    pub fn sdk(config: &WorkerConfig, aws: &aws_config::SdkConfig) -> Self {
        let storage_resolution_secs = if config.activity_interval < Duration::from_secs(60) { 1 } else { 60 };
        Services {
            queue: Arc::new(sdk::SqsQueue { sqs: aws_sdk_sqs::Client::new(aws), url: config.queue_url.clone() }),
            membership: Arc::new(sdk::GroupMembership { autoscaling: aws_sdk_autoscaling::Client::new(aws) }),
            activity: Arc::new(sdk::CloudWatchActivity {
                cloudwatch: aws_sdk_cloudwatch::Client::new(aws),
                namespace: config.namespace.clone(),
                storage_resolution_secs,
            }),
        }
    }
}

/// A message being worked on.
#[derive(Debug)]
struct Held {
    receipt: String,
    renewed_at: Instant,
    started: Instant,
    task: Option<tokio::task::AbortHandle>,
}

/// A job that ended.
#[derive(Debug)]
struct Done {
    message_id: String,
    receipt: String,
    ok: bool,
    started: Instant,
    finished: Instant,
}

/// The SQS consumer with its services and resolved instance.
#[derive(Debug, Clone)]
pub struct Worker {
    config: WorkerConfig,
    queue: Arc<dyn Queue>,
    membership: Arc<dyn Membership>,
    activity: Arc<dyn ActivitySink>,
    instance: Option<Instance>,
}

impl Worker {
    /// SDK clients from `aws`; the instance's id (given, or from instance metadata) and its group.
    pub async fn new(mut config: WorkerConfig, aws: &aws_config::SdkConfig) -> Result<Self, StartError> {
        if config.instance == Some(InstanceSource::Metadata) {
            let http = aws.http_client().unwrap_or_else(switchyard_env::https_client);
            let imds = aws_config::imds::Client::builder()
                .configure(&aws_config::provider_config::ProviderConfig::without_region().with_http_client(http))
                .build();
            let id =
                imds.get("/latest/meta-data/instance-id").await.map_err(|e| StartError::Metadata(e.to_string()))?;
            config.instance = Some(InstanceSource::Id(String::from(id)));
        }
        let services = Services::sdk(&config, aws);
        Worker::with_services(config, services).await
    }

    /// With these services (the SDK's, or fakes); the instance's group, if `config` names an
    /// instance by id. Instance metadata is read by [`Worker::new`] only.
    pub async fn with_services(config: WorkerConfig, services: Services) -> Result<Self, StartError> {
        let instance = match &config.instance {
            None => None,
            Some(InstanceSource::Metadata) => {
                return Err(StartError::Metadata("read by Worker::new only: give the instance's id".into()));
            }
            Some(InstanceSource::Id(id)) => {
                let member = services.membership.describe(id).await.map_err(StartError::Describe)?;
                let group = member.map(|m| m.group).ok_or_else(|| StartError::NotInGroup(id.clone()))?;
                Some(Instance { id: id.clone(), group })
            }
        };
        let Services { queue, membership, activity } = services;
        Ok(Worker { config, queue, membership, activity, instance })
    }

    pub fn instance(&self) -> Option<&Instance> {
        self.instance.as_ref()
    }

    /// Consume until `stop` resolves or the instance leaves service, then stop gracefully.
    pub async fn run<H: Handler>(&self, handler: H, stop: impl Future<Output = ()>) -> Summary {
        let shared = Arc::new(Shared {
            worker: self.clone(),
            handler,
            held: Mutex::new(HashMap::new()),
            protection: tokio::sync::Mutex::new(Protection::new(self.config.protection_idle)),
            protection_calls: AtomicU64::new(0),
            received: AtomicU64::new(0),
            received_total: AtomicU64::new(0),
            released: AtomicU64::new(0),
        });
        shared.clear_left_protection().await;
        self.publish(&Activity::default(), true).await;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        let mut receiver = tokio::spawn(receive_loop(Arc::clone(&shared), stop_rx, done_tx));
        let mut receiver_done = false;

        let mut summary = Summary::default();
        let mut deletes: Vec<(String, String)> = Vec::new();
        let mut activity = Activity::default();
        let mut published_at = Instant::now();
        let mut checked_at = Instant::now();
        let mut deadline: Option<Instant> = None;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = std::pin::pin!(stop);

        loop {
            tokio::select! {
                () = &mut stop, if deadline.is_none() => {
                    summary.stopped_because = "stop signal".into();
                    deadline = Some(Instant::now() + self.config.stop_deadline);
                    let _ = stop_tx.send(true);
                }
                ended = &mut receiver, if !receiver_done => {
                    receiver_done = true;
                    // The receive loop found the instance leaving as a busy spell began.
                    if let Ok(Some(reason)) = ended
                        && deadline.is_none()
                    {
                        summary.stopped_because = reason;
                        deadline = Some(Instant::now() + self.config.stop_deadline);
                        let _ = stop_tx.send(true);
                    }
                }
                Some(done) = done_rx.recv() => {
                    self.finished(&shared, done, &mut deletes, &mut summary, &mut activity, published_at).await;
                    if deletes.len() >= 10 {
                        self.delete(&mut deletes, &mut summary).await;
                    }
                }
                _ = tick.tick() => {
                    let now = Instant::now();
                    self.delete(&mut deletes, &mut summary).await;
                    summary.renewals += self.renew(&shared, now).await;
                    shared.check_protection(now).await;
                    if deadline.is_none() && now.duration_since(checked_at) >= self.config.lifecycle_check {
                        checked_at = now;
                        if let Some(reason) = self.check_membership(&shared, now).await {
                            tracing::info!(reason, "instance leaving service: stopping");
                            summary.stopped_because = reason;
                            deadline = Some(now + self.config.stop_deadline);
                            let _ = stop_tx.send(true);
                        }
                    }
                    if now.duration_since(published_at) >= self.config.activity_interval {
                        activity.received = shared.received.swap(0, Ordering::Relaxed);
                        activity.busy += shared.busy_since(published_at, now);
                        self.publish(&activity, true).await;
                        activity = Activity::default();
                        published_at = now;
                    }
                    if let Some(deadline) = deadline
                        && now >= deadline
                    {
                        let released = self.release(&shared, None).await;
                        tracing::info!(released, "stop deadline reached: unfinished jobs released to the queue");
                        break;
                    }
                }
            }
            // Stopping and nothing left: leave now, not at the next tick.
            if deadline.is_some() && receiver_done && shared.held_count() == 0 {
                break;
            }
        }
        receiver.abort();
        while let Ok(done) = done_rx.try_recv() {
            self.finished(&shared, done, &mut deletes, &mut summary, &mut activity, published_at).await;
        }
        self.delete(&mut deletes, &mut summary).await;
        let mut protection = shared.protection.lock().await;
        if protection.is_protected() {
            shared.set_protection(&mut protection, false).await;
        }
        drop(protection);
        activity.received = shared.received.swap(0, Ordering::Relaxed);
        self.publish(&activity, false).await;
        summary.received = shared.received_total();
        summary.released = shared.released.load(Ordering::Relaxed);
        summary.protection_calls = shared.protection_calls.load(Ordering::Relaxed);
        summary
    }

    async fn finished<H: Handler>(
        &self,
        shared: &Shared<H>,
        done: Done,
        deletes: &mut Vec<(String, String)>,
        summary: &mut Summary,
        activity: &mut Activity,
        published_at: Instant,
    ) {
        shared.remove(&done.message_id);
        activity.busy += done.finished.duration_since(done.started.max(published_at));
        if done.ok {
            summary.processed += 1;
            activity.processed += 1;
            deletes.push((done.message_id, done.receipt));
            return;
        }
        summary.failed += 1;
        activity.failed += 1;
        if let Some(delay) = self.config.retry_delay
            && let Err(e) = self.queue.delay(&done.receipt, delay).await
        {
            tracing::warn!(message_id = done.message_id, error = %e, "retry delay not set: the visibility timeout applies");
        }
    }

    /// Delete the successes, ten per call; a refused entry is counted (it will come back).
    async fn delete(&self, deletes: &mut Vec<(String, String)>, summary: &mut Summary) {
        while !deletes.is_empty() {
            let batch: Vec<(String, String)> = deletes.drain(..deletes.len().min(10)).collect();
            let receipts: Vec<String> = batch.iter().map(|(_, receipt)| receipt.clone()).collect();
            match self.queue.delete(&receipts).await {
                Ok(refused) => {
                    for refusal in refused {
                        summary.delete_failures += 1;
                        let message_id = batch.get(refusal.index).map(|(m, _)| m.as_str());
                        tracing::warn!(
                            message_id,
                            code = refusal.code,
                            "delete refused: the message will be delivered again"
                        );
                    }
                }
                Err(e) => {
                    summary.delete_failures += batch.len() as u64;
                    tracing::warn!(count = batch.len(), error = %e, "delete failed: these messages will be delivered again");
                }
            }
        }
    }

    /// Renew the visibility of held messages that are half-way through it.
    async fn renew<H: Handler>(&self, shared: &Shared<H>, now: Instant) -> u64 {
        let due: Vec<(String, String)> = shared.with_held(|held| {
            held.iter()
                .filter(|(_, h)| renewal_due(h.renewed_at.into_std(), self.config.visibility, now.into_std()))
                .map(|(id, h)| (id.clone(), h.receipt.clone()))
                .collect()
        });
        let mut renewed = 0;
        for chunk in due.chunks(10) {
            let receipts: Vec<String> = chunk.iter().map(|(_, receipt)| receipt.clone()).collect();
            match self.queue.change_visibility(&receipts, self.config.visibility).await {
                Ok(refused) => {
                    shared.with_held(|held| {
                        for (i, (id, _)) in chunk.iter().enumerate() {
                            if !refused.iter().any(|r| r.index == i)
                                && let Some(h) = held.get_mut(id)
                            {
                                h.renewed_at = now;
                                renewed += 1;
                            }
                        }
                    });
                    for refusal in refused {
                        tracing::warn!(
                            code = refusal.code,
                            "visibility not renewed: another worker may get this message"
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "visibility not renewed; retrying next tick"),
            }
        }
        renewed
    }

    /// `Some(reason)` when this worker's instance is leaving service. A failed read is not a
    /// reason to stop.
    async fn leaving(&self) -> Option<String> {
        let instance = self.instance.as_ref()?;
        match self.membership.describe(&instance.id).await {
            Ok(member) => leaving_reason(instance, member.as_ref()),
            Err(e) => {
                tracing::warn!(error = %e, "lifecycle check failed");
                None
            }
        }
    }

    /// The periodic lifecycle check: `Some(reason)` when the instance is leaving service.
    /// Otherwise, protection that someone else changed is put right: put back while jobs are held
    /// (the scaler took it off because this worker's reports did not reach it), taken off when
    /// idle (left on by a previous worker).
    async fn check_membership<H: Handler>(&self, shared: &Shared<H>, now: Instant) -> Option<String> {
        let instance = self.instance.as_ref()?;
        // Held across the read, so that no change of this worker's lands between the read and
        // the comparison.
        let mut protection = shared.protection.lock().await;
        let member = match self.membership.describe(&instance.id).await {
            Ok(member) => member,
            Err(e) => {
                tracing::warn!(error = %e, "lifecycle check failed");
                return None;
            }
        };
        if let Some(reason) = leaving_reason(instance, member.as_ref()) {
            return Some(reason);
        }
        if let Some(protected) = member.and_then(|m| m.protected)
            && protection.observed(protected)
        {
            tracing::warn!(instance = instance.id, protected, "scale-in protection was changed by another caller");
            if let Some(on) = protection.check(shared.held_count(), now.into_std()) {
                shared.set_protection(&mut protection, on).await;
            }
        }
        None
    }

    /// Give held messages (`only` these, or all) back to the queue now and stop their jobs.
    async fn release<H: Handler>(&self, shared: &Shared<H>, only: Option<&[String]>) -> u64 {
        let held: Vec<(String, Held)> = shared.with_held(|held| match only {
            None => held.drain().collect(),
            Some(ids) => ids.iter().filter_map(|id| held.remove_entry(id)).collect(),
        });
        let held_count = held.len() as u64;
        for (_, h) in &held {
            if let Some(task) = &h.task {
                task.abort();
            }
        }
        let mut released = 0;
        for chunk in held.chunks(10) {
            let receipts: Vec<String> = chunk.iter().map(|(_, h)| h.receipt.clone()).collect();
            match self.queue.change_visibility(&receipts, Duration::ZERO).await {
                Ok(refused) => released += (chunk.len() - refused.len().min(chunk.len())) as u64,
                Err(e) => {
                    tracing::warn!(error = %e, "release failed: the messages return after their visibility timeout")
                }
            }
        }
        shared.released.fetch_add(held_count, Ordering::Relaxed);
        released
    }

    /// Report to the scaler: `activity` unless the worker did nothing (missing data is "no
    /// activity known"), and, when `alive`, that this worker is alive on its instance.
    async fn publish(&self, activity: &Activity, alive: bool) {
        let Some(fleet) = &self.config.fleet else { return };
        let did_something = !activity.is_idle() || activity.processed > 0 || activity.failed > 0;
        let report = Report {
            fleet: fleet.clone(),
            activity: did_something.then_some(*activity),
            alive_on: self.instance.as_ref().filter(|_| alive).map(|i| i.id.clone()),
        };
        if report.activity.is_none() && report.alive_on.is_none() {
            return;
        }
        if let Err(e) = self.activity.publish(&report).await {
            tracing::warn!(error = %e, "report not published");
        }
    }
}

/// Why `instance` is leaving service, if it is: Terminating, Standby, Detaching, or gone from
/// the group (`member` is `None`).
fn leaving_reason(instance: &Instance, member: Option<&Member>) -> Option<String> {
    let Some(member) = member else {
        return Some(format!("instance {} is no longer in group {}", instance.id, instance.group));
    };
    // No state in the answer says nothing about leaving: keep serving.
    let state = member.lifecycle_state.as_ref()?;
    let serving = matches!(
        state,
        LifecycleState::InService
            | LifecycleState::Pending
            | LifecycleState::PendingProceed
            | LifecycleState::PendingWait
    );
    (!serving).then(|| format!("instance {} is {}", instance.id, state.as_str()))
}

/// What the receive loop, the jobs and the main loop share.
struct Shared<H> {
    worker: Worker,
    handler: H,
    held: Mutex<HashMap<String, Held>>,
    protection: tokio::sync::Mutex<Protection>,
    protection_calls: AtomicU64,
    /// Received since the last activity report.
    received: AtomicU64,
    received_total: AtomicU64,
    /// Messages given back unprocessed (visibility 0, or left to time out if that call failed).
    released: AtomicU64,
}

impl<H: Handler> Shared<H> {
    fn with_held<R>(&self, f: impl FnOnce(&mut HashMap<String, Held>) -> R) -> R {
        match self.held.lock() {
            Ok(mut held) => f(&mut held),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    fn held_count(&self) -> usize {
        self.with_held(|h| h.len())
    }

    fn remove(&self, message_id: &str) {
        self.with_held(|h| h.remove(message_id));
    }

    /// Busy time of the jobs still running, counted from `since`.
    fn busy_since(&self, since: Instant, now: Instant) -> Duration {
        self.with_held(|h| h.values().map(|j| now.duration_since(j.started.max(since))).sum())
    }

    fn received_total(&self) -> u64 {
        self.received_total.load(Ordering::Relaxed)
    }

    /// Tell Auto Scaling, holding the protection state's lock so that the receive loop and the
    /// periodic check never cross (an "off" landing after an "on" would leave work unprotected).
    async fn set_protection(&self, protection: &mut Protection, on: bool) {
        let Some(instance) = &self.worker.instance else { return };
        self.protection_calls.fetch_add(1, Ordering::Relaxed);
        match self.worker.membership.set_protection(instance, on).await {
            Ok(()) => {
                protection.confirmed(on);
                tracing::info!(instance = instance.id, protected = on, "scale-in protection set");
            }
            Err(e) => {
                tracing::warn!(instance = instance.id, protected = on, error = %e, "scale-in protection not set");
            }
        }
    }

    /// At start, holding no job: take off the protection a previous worker left on this instance
    /// (one killed with -9 never took its own off). Read first, so that a clean start makes no
    /// call; an unreadable state is cleared anyway.
    async fn clear_left_protection(&self) {
        let Some(instance) = &self.worker.instance else { return };
        let mut protection = self.protection.lock().await;
        let protected = match self.worker.membership.describe(&instance.id).await {
            Ok(Some(member)) => member.protected,
            // Not in the group: nothing to clear; the lifecycle check stops the worker.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "protection not read at start: clearing it anyway");
                None
            }
        };
        if protected != Some(false) {
            tracing::info!(instance = instance.id, "clearing scale-in protection left from before this worker");
            self.set_protection(&mut protection, false).await;
        }
    }

    /// Before work starts: protection on, if it is not. `true` when it was asked for (this work
    /// begins a busy spell).
    async fn protect_before_work(&self) -> bool {
        if self.worker.instance.is_none() {
            return false;
        }
        let mut protection = self.protection.lock().await;
        let begins_spell = protection.before_work();
        if begins_spell {
            self.set_protection(&mut protection, true).await;
        }
        begins_spell
    }

    async fn check_protection(&self, now: Instant) {
        if self.worker.instance.is_none() {
            return;
        }
        let mut protection = self.protection.lock().await;
        if let Some(on) = protection.check(self.held_count(), now.into_std()) {
            self.set_protection(&mut protection, on).await;
        }
    }
}

/// Receive while there is room, hand each message to a job, stop when told. A receive already
/// in flight when the stop comes is let finish (cancelling it could hide messages for a whole
/// visibility timeout); what it brings is released at once, unprocessed.
///
/// The first batch of a busy spell is received, then protected, then checked: if the instance is
/// already leaving service (a scale-in chose it while it was idle and unprotected), the batch is
/// released at once and the loop ends with the reason, for the worker to stop. Once protection
/// is on, a scale-in can no longer choose the instance, so one check per spell closes the gap.
/// The other order (protect, then receive) would protect every idle worker, which is always
/// waiting in a receive.
async fn receive_loop<H: Handler>(
    shared: Arc<Shared<H>>,
    mut stop: watch::Receiver<bool>,
    done: mpsc::UnboundedSender<Done>,
) -> Option<String> {
    let worker = &shared.worker;
    let config = &worker.config;
    let slots = Arc::new(Semaphore::new(config.concurrency));
    loop {
        if *stop.borrow() {
            return None;
        }
        let first = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit { Ok(p) => p, Err(_) => return None },
            _ = stop.changed() => return None,
        };
        let mut permits = vec![first];
        while permits.len() < config.batch_size as usize {
            match Arc::clone(&slots).try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let max = u32::try_from(permits.len()).unwrap_or(10);
        let deliveries = match worker.queue.receive(max, config.wait, config.visibility).await {
            Ok(deliveries) => deliveries,
            Err(e) => {
                tracing::warn!(error = %e, "receive failed; retrying in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {},
                    _ = stop.changed() => return None,
                }
                continue;
            }
        };
        if deliveries.is_empty() {
            // A short poll (wait 0) on an empty queue answers at once: pause instead of spinning.
            if config.wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(200)) => {},
                    _ = stop.changed() => return None,
                }
            }
            continue;
        }
        let count = deliveries.len() as u64;
        shared.received.fetch_add(count, Ordering::Relaxed);
        shared.received_total.fetch_add(count, Ordering::Relaxed);
        let now = Instant::now();
        shared.with_held(|held| {
            for d in &deliveries {
                held.insert(
                    d.job.message_id.clone(),
                    Held { receipt: d.receipt.clone(), renewed_at: now, started: now, task: None },
                );
            }
        });
        if *stop.borrow() {
            let ids: Vec<String> = deliveries.iter().map(|d| d.job.message_id.clone()).collect();
            let released = worker.release(&shared, Some(&ids)).await;
            tracing::info!(released, "received while stopping: released unprocessed");
            return None;
        }
        if shared.protect_before_work().await
            && let Some(reason) = worker.leaving().await
        {
            let ids: Vec<String> = deliveries.iter().map(|d| d.job.message_id.clone()).collect();
            let released = worker.release(&shared, Some(&ids)).await;
            tracing::info!(released, reason, "received on an instance leaving service: released unprocessed");
            return Some(reason);
        }
        for (aws::Delivery { job, receipt }, permit) in deliveries.into_iter().zip(permits) {
            let (shared_job, done) = (Arc::clone(&shared), done.clone());
            let message_id = job.message_id.clone();
            let task = tokio::spawn(async move {
                let started = Instant::now();
                let message_id = job.message_id.clone();
                let result = shared_job.handler.handle(job).await;
                if let Err(e) = &result {
                    tracing::warn!(message_id, error = %e, "job failed: the message stays for redelivery");
                }
                let _ = done.send(Done { message_id, receipt, ok: result.is_ok(), started, finished: Instant::now() });
                drop(permit);
            });
            shared.with_held(|held| {
                if let Some(h) = held.get_mut(&message_id) {
                    h.task = Some(task.abort_handle());
                }
            });
        }
    }
}
