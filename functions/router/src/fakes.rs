//! In-memory stand-ins for the router's AWS traits, for logic tests: what a test sets is what the
//! router sees. Faults that LocalStack cannot produce on demand (a queue whose answer is lost, a
//! discovery that fails once) are set here too. AWS behaviour itself is tested against LocalStack.

use std::sync::Mutex;

use switchyard_algorithms::{Target, Time};

use crate::aws::{
    BoxFuture, CloudError, DRAINING_TAG, Discovery, FleetControl, FleetWaker, GroupMembers, HEALTH_TAG, Job, JobQueue,
    Lifecycle, LoadReports, LoadSource, SendError, Woken, parse_health_tag,
};

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A target set a test changes at will; `Err` makes the next discoveries fail.
#[derive(Debug)]
pub struct FakeDiscovery {
    pub targets: Mutex<Result<Vec<Target>, CloudError>>,
}

impl FakeDiscovery {
    pub fn new(targets: Vec<Target>) -> Self {
        FakeDiscovery { targets: Mutex::new(Ok(targets)) }
    }

    pub fn set(&self, targets: Result<Vec<Target>, CloudError>) {
        *lock(&self.targets) = targets;
    }
}

impl Discovery for FakeDiscovery {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<Target>, CloudError>> {
        let targets = lock(&self.targets).clone();
        Box::pin(std::future::ready(targets))
    }
}

/// Fixed load reports.
#[derive(Debug, Default)]
pub struct FakeLoads {
    pub reports: Mutex<Option<LoadReports>>,
}

impl LoadSource for FakeLoads {
    fn read<'a>(&'a self, _: &'a [String], _: Time) -> BoxFuture<'a, Result<Option<LoadReports>, CloudError>> {
        let reports = lock(&self.reports).clone();
        Box::pin(std::future::ready(Ok(reports)))
    }
}

/// A queue that keeps what it stores, or fails as told.
#[derive(Debug, Default)]
pub struct FakeQueue {
    /// Jobs stored, in order.
    pub stored: Mutex<Vec<Job>>,
    /// `Some` makes every send fail this way; an `Unknown` failure still stores the job, as a
    /// lost answer does.
    pub failure: Mutex<Option<SendError>>,
}

impl FakeQueue {
    pub fn failing(failure: SendError) -> Self {
        FakeQueue { stored: Mutex::default(), failure: Mutex::new(Some(failure)) }
    }

    pub fn stored(&self) -> Vec<Job> {
        lock(&self.stored).clone()
    }
}

impl JobQueue for FakeQueue {
    fn send<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<String, SendError>> {
        let failure = lock(&self.failure).clone();
        let result = match failure {
            Some(SendError::NotStored(e)) => Err(SendError::NotStored(e)),
            Some(SendError::Refused(e)) => Err(SendError::Refused(e)),
            Some(SendError::Unknown(e)) => {
                lock(&self.stored).push(job.clone());
                Err(SendError::Unknown(e))
            }
            None => {
                let mut stored = lock(&self.stored);
                stored.push(job.clone());
                Ok(format!("message-{}", stored.len()))
            }
        };
        Box::pin(std::future::ready(result))
    }

    fn warm(&self) -> BoxFuture<'_, Result<(), CloudError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// A group's desired capacity, woken as the real one is (only from 0); counts the wakes asked
/// and can refuse them.
#[derive(Debug, Default)]
pub struct FakeWaker {
    pub desired: Mutex<u32>,
    /// Calls to `wake`.
    pub calls: Mutex<u32>,
    /// `Some` makes every wake fail this way (throttled, not permitted).
    pub failure: Mutex<Option<CloudError>>,
    /// How many wakes find a scaling activity in progress (the scale-in to zero still
    /// terminating) and change nothing, as ScalingActivityInProgress does, before one lands.
    pub busy: Mutex<u32>,
}

impl FleetWaker for FakeWaker {
    fn wake(&self, size: u32) -> BoxFuture<'_, Result<Woken, CloudError>> {
        *lock(&self.calls) += 1;
        let busy = {
            let mut busy = lock(&self.busy);
            let was = *busy;
            *busy = busy.saturating_sub(1);
            was > 0
        };
        let result = match lock(&self.failure).clone() {
            Some(e) => Err(e),
            None if busy => Ok(Woken::Awake { desired: *lock(&self.desired) }),
            None => {
                let mut desired = lock(&self.desired);
                if *desired == 0 {
                    *desired = size;
                    Ok(Woken::Woke)
                } else {
                    Ok(Woken::Awake { desired: *desired })
                }
            }
        };
        Box::pin(std::future::ready(result))
    }
}

/// A routing document a test rewrites at will; each `set` is a new version, as a parameter's
/// `PutParameter --overwrite` is.
#[derive(Debug)]
pub struct FakeDocument {
    document: Mutex<crate::aws::Versioned>,
}

impl FakeDocument {
    pub fn new(text: &str) -> Self {
        FakeDocument { document: Mutex::new(crate::aws::Versioned { text: text.to_owned(), version: 1 }) }
    }

    pub fn set(&self, text: &str) {
        let mut document = lock(&self.document);
        document.text = text.to_owned();
        document.version += 1;
    }
}

impl crate::aws::DocumentSource for FakeDocument {
    fn fetch(&self) -> BoxFuture<'_, Result<crate::aws::Versioned, CloudError>> {
        Box::pin(std::future::ready(Ok(lock(&self.document).clone())))
    }
}

/// A group whose members a test sets; the checker's calls change them as the group would
/// (a tag is kept, an instance marked Unhealthy leaves service, a completed drain leaves the
/// group) and are recorded in order, as `Operation instance`.
#[derive(Debug)]
pub struct FakeFleet {
    pub group: Mutex<GroupMembers>,
    pub calls: Mutex<Vec<String>>,
}

impl FakeFleet {
    pub fn new(group: GroupMembers) -> Self {
        FakeFleet { group: Mutex::new(group), calls: Mutex::new(Vec::new()) }
    }

    pub fn calls(&self) -> Vec<String> {
        lock(&self.calls).clone()
    }

    fn with_member(&self, instance: &str, call: String, change: impl FnOnce(&mut GroupMembers, usize)) {
        lock(&self.calls).push(call);
        let mut group = lock(&self.group);
        if let Some(i) = group.members.iter().position(|m| m.id == instance) {
            change(&mut group, i);
        }
    }
}

impl FleetControl for FakeFleet {
    fn members<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<GroupMembers, CloudError>> {
        let group = lock(&self.group).clone();
        Box::pin(std::future::ready(Ok(group)))
    }

    fn tag<'a>(&'a self, instance: &'a str, key: &'static str, value: String) -> BoxFuture<'a, Result<(), CloudError>> {
        self.with_member(instance, format!("CreateTags {instance} {key}={value}"), |g, i| match key {
            HEALTH_TAG => g.members[i].verdict = parse_health_tag(&value),
            DRAINING_TAG => g.members[i].draining_since = value.parse().ok().map(Time::from_secs),
            _ => {}
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn set_unhealthy<'a>(&'a self, instance: &'a str) -> BoxFuture<'a, Result<(), CloudError>> {
        self.with_member(instance, format!("SetInstanceHealth {instance}"), |g, i| {
            g.members[i].lifecycle = Lifecycle::Replacing;
        });
        Box::pin(std::future::ready(Ok(())))
    }

    fn complete_drain<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        instance: &'a str,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        self.with_member(instance, format!("CompleteLifecycleAction {instance}"), |g, i| {
            g.members.remove(i);
        });
        Box::pin(std::future::ready(Ok(())))
    }
}
