//! In-memory stand-ins for the worker's AWS traits, for logic tests: a queue that hides and
//! redelivers messages as SQS does, a group whose instance a test can take out of service, and a
//! sink that keeps activity reports. Each keeps a journal of the calls it got, with the time
//! (tokio's clock, so a test on paused time reads exact instants). AWS behaviour itself is tested
//! against LocalStack.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::aws::{
    ActivitySink, BoxFuture, CloudError, Delivery, LifecycleState, Member, Membership, Queue, Refused, Report,
};
use crate::{Instance, Job};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A message as the fake queue holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMessage {
    pub id: String,
    pub body: String,
    pub idempotency_key: Option<String>,
    pub receive_count: u32,
    /// Hidden from receives until then.
    pub visible_at: Instant,
    /// The receipt of its latest delivery; older receipts are refused.
    pub receipt: Option<String>,
}

/// A call the fake queue got that changed a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCall {
    /// A batch delete of these messages (refused receipts left out).
    Delete { message_ids: Vec<String> },
    /// A batch visibility change (a renewal, or zero: a release).
    ChangeVisibility { message_ids: Vec<String>, visibility: Duration },
    /// One message's retry delay after a failed job.
    Delay { message_id: String, visibility: Duration },
}

#[derive(Debug, Default)]
struct QueueState {
    messages: Vec<FakeMessage>,
    sent: u64,
    journal: Vec<(Instant, QueueCall)>,
}

/// A queue with SQS's visibility rules: a received message is hidden for the visibility timeout,
/// comes back after it unless deleted, and its receive count grows with each delivery.
#[derive(Debug, Default)]
pub struct FakeQueue {
    state: Mutex<QueueState>,
    sent: Notify,
}

impl FakeQueue {
    pub fn new() -> Self {
        FakeQueue::default()
    }

    /// Store a message, visible at once; its id.
    pub fn send(&self, body: &str) -> String {
        self.store(body, None)
    }

    /// Store a message with the `IdempotencyKey` attribute; its id.
    pub fn send_with_key(&self, body: &str, key: &str) -> String {
        self.store(body, Some(key.to_owned()))
    }

    fn store(&self, body: &str, idempotency_key: Option<String>) -> String {
        let mut state = lock(&self.state);
        state.sent += 1;
        let id = format!("message-{}", state.sent);
        state.messages.push(FakeMessage {
            id: id.clone(),
            body: body.to_owned(),
            idempotency_key,
            receive_count: 0,
            visible_at: Instant::now(),
            receipt: None,
        });
        drop(state);
        self.sent.notify_waiters();
        id
    }

    /// The messages still on the queue (not deleted), visible or not.
    pub fn messages(&self) -> Vec<FakeMessage> {
        lock(&self.state).messages.clone()
    }

    pub fn message(&self, id: &str) -> Option<FakeMessage> {
        lock(&self.state).messages.iter().find(|m| m.id == id).cloned()
    }

    /// The calls that changed messages, with when they came.
    pub fn calls(&self) -> Vec<(Instant, QueueCall)> {
        lock(&self.state).journal.clone()
    }

    /// Deliver up to `max` visible messages now.
    fn take(&self, max: u32, visibility: Duration) -> Vec<Delivery> {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let visible = state.messages.iter_mut().filter(|m| m.visible_at <= now);
        visible
            .take(max as usize)
            .map(|m| {
                m.receive_count += 1;
                m.visible_at = now + visibility;
                let receipt = format!("{}#{}", m.id, m.receive_count);
                m.receipt = Some(receipt.clone());
                let job = Job {
                    message_id: m.id.clone(),
                    body: m.body.clone(),
                    receive_count: m.receive_count,
                    sent_at_ms: None,
                    idempotency_key: m.idempotency_key.clone(),
                };
                Delivery { job, receipt }
            })
            .collect()
    }

    /// When the next hidden message becomes visible again.
    fn next_visible(&self) -> Option<Instant> {
        lock(&self.state).messages.iter().map(|m| m.visible_at).min()
    }

    /// Apply `change` to the message of each receipt it still holds; the others are refused.
    fn each_receipt(
        &self,
        receipts: &[String],
        call: impl FnOnce(Vec<String>) -> QueueCall,
        change: impl Fn(&mut QueueState, usize),
    ) -> Vec<Refused> {
        let mut state = lock(&self.state);
        let mut refused = Vec::new();
        let mut ids = Vec::new();
        for (index, receipt) in receipts.iter().enumerate() {
            match state.messages.iter().position(|m| m.receipt.as_ref() == Some(receipt)) {
                Some(at) => {
                    ids.push(state.messages[at].id.clone());
                    change(&mut state, at);
                }
                None => refused.push(Refused { index, code: "ReceiptHandleIsInvalid".into() }),
            }
        }
        state.journal.push((Instant::now(), call(ids)));
        refused
    }
}

impl Queue for FakeQueue {
    fn receive(
        &self,
        max: u32,
        wait: Duration,
        visibility: Duration,
    ) -> BoxFuture<'_, Result<Vec<Delivery>, CloudError>> {
        Box::pin(async move {
            let deadline = Instant::now() + wait;
            loop {
                let sent = self.sent.notified();
                tokio::pin!(sent);
                sent.as_mut().enable();
                let delivered = self.take(max, visibility);
                let now = Instant::now();
                if !delivered.is_empty() || now >= deadline {
                    return Ok(delivered);
                }
                let wake = self.next_visible().filter(|at| *at > now).map_or(deadline, |at| at.min(deadline));
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    () = sent => {}
                }
            }
        })
    }

    fn delete<'a>(&'a self, receipts: &'a [String]) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>> {
        let refused = self.each_receipt(
            receipts,
            |message_ids| QueueCall::Delete { message_ids },
            |state, at| {
                state.messages.remove(at);
            },
        );
        Box::pin(std::future::ready(Ok(refused)))
    }

    fn change_visibility<'a>(
        &'a self,
        receipts: &'a [String],
        visibility: Duration,
    ) -> BoxFuture<'a, Result<Vec<Refused>, CloudError>> {
        let now = Instant::now();
        let refused = self.each_receipt(
            receipts,
            |message_ids| QueueCall::ChangeVisibility { message_ids, visibility },
            |state, at| state.messages[at].visible_at = now + visibility,
        );
        if visibility.is_zero() {
            self.sent.notify_waiters();
        }
        Box::pin(std::future::ready(Ok(refused)))
    }

    fn delay<'a>(&'a self, receipt: &'a str, visibility: Duration) -> BoxFuture<'a, Result<(), CloudError>> {
        let now = Instant::now();
        let refused = self.each_receipt(
            std::slice::from_ref(&receipt.to_owned()),
            |mut ids| QueueCall::Delay { message_id: ids.pop().unwrap_or_default(), visibility },
            |state, at| state.messages[at].visible_at = now + visibility,
        );
        let result = match refused.first() {
            None => Ok(()),
            Some(r) => Err(CloudError { operation: "ChangeMessageVisibility", message: r.code.clone() }),
        };
        Box::pin(std::future::ready(result))
    }
}

#[derive(Debug, Default)]
struct GroupState {
    members: HashMap<String, Member>,
    protected: HashMap<String, bool>,
    protection_calls: Vec<(Instant, String, bool)>,
}

/// Auto Scaling groups whose instances a test adds, moves through lifecycle states and removes.
#[derive(Debug, Default)]
pub struct FakeGroup {
    state: Mutex<GroupState>,
}

impl FakeGroup {
    /// `instance_id` InService in `group`.
    pub fn with_instance(instance_id: &str, group: &str) -> Self {
        let fake = FakeGroup::default();
        lock(&fake.state).members.insert(
            instance_id.to_owned(),
            Member { group: group.to_owned(), lifecycle_state: Some(LifecycleState::InService), protected: None },
        );
        fake
    }

    pub fn set_state(&self, instance_id: &str, state: LifecycleState) {
        if let Some(member) = lock(&self.state).members.get_mut(instance_id) {
            member.lifecycle_state = Some(state);
        }
    }

    /// Take the instance out of its group, as a scale-in does.
    pub fn remove(&self, instance_id: &str) {
        lock(&self.state).members.remove(instance_id);
    }

    /// Protect the instance or not, as another caller would (a previous worker, the scaler): not
    /// journaled with the worker's calls.
    pub fn set_protected(&self, instance_id: &str, on: bool) {
        lock(&self.state).protected.insert(instance_id.to_owned(), on);
    }

    pub fn is_protected(&self, instance_id: &str) -> bool {
        lock(&self.state).protected.get(instance_id).copied().unwrap_or(false)
    }

    /// Every SetInstanceProtection call: when, for which instance, on or off.
    pub fn protection_calls(&self) -> Vec<(Instant, String, bool)> {
        lock(&self.state).protection_calls.clone()
    }
}

impl Membership for FakeGroup {
    fn describe<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<Option<Member>, CloudError>> {
        let state = lock(&self.state);
        let protected = state.protected.get(instance_id).copied().unwrap_or(false);
        let member = state.members.get(instance_id).map(|m| Member { protected: Some(protected), ..m.clone() });
        drop(state);
        Box::pin(std::future::ready(Ok(member)))
    }

    fn set_protection<'a>(&'a self, instance: &'a Instance, on: bool) -> BoxFuture<'a, Result<(), CloudError>> {
        let mut state = lock(&self.state);
        state.protection_calls.push((Instant::now(), instance.id.clone(), on));
        let result = if state.members.get(&instance.id).is_some_and(|m| m.group == instance.group) {
            state.protected.insert(instance.id.clone(), on);
            Ok(())
        } else {
            Err(CloudError {
                operation: "SetInstanceProtection",
                message: format!("ValidationError: instance {} is not in group {}", instance.id, instance.group),
            })
        };
        Box::pin(std::future::ready(result))
    }
}

/// Keeps the reports it gets.
#[derive(Debug, Default)]
pub struct FakeActivity {
    reports: Mutex<Vec<(Instant, Report)>>,
}

impl FakeActivity {
    /// Every report, with when it came.
    pub fn reports(&self) -> Vec<(Instant, Report)> {
        lock(&self.reports).clone()
    }
}

impl ActivitySink for FakeActivity {
    fn publish<'a>(&'a self, report: &'a Report) -> BoxFuture<'a, Result<(), CloudError>> {
        lock(&self.reports).push((Instant::now(), report.clone()));
        Box::pin(std::future::ready(Ok(())))
    }
}
