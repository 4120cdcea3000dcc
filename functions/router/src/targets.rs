//! The targets a router picks from: discovered at start, then kept fresh by background tasks
//! (discovery every TTL, the targets' load reports every refresh period), never on a request's
//! path. A request takes the current [`Routing`] (balancer and parsed addresses) in one read and
//! keeps it for all its attempts; a refresh swaps in a new one whole, as pingora's load balancer
//! swaps its selector.
//!
//! In Lambda the background tasks run while the environment is thawed (during invocations); a
//! refresh that comes due while it is frozen runs at the next thaw, and requests meanwhile use the
//! last good set.

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use switchyard_algorithms::{Balancer, BalancerConfig, TargetSet, Time};
use tokio::task::JoinHandle;

use crate::aws::{Discovery, LoadReports, LoadSource};
use crate::proxy;

/// A balancer and, per target index, the target's address as requests to it need it (`None`
/// for an address that does not parse: attempts at it fail).
#[derive(Debug)]
pub struct Routing {
    pub balancer: Arc<Balancer>,
    pub addresses: Vec<Option<proxy::Address>>,
}

impl Routing {
    fn new(balancer: Balancer) -> Self {
        let addresses = balancer.targets().iter().map(|t| proxy::Address::parse(&t.address).ok()).collect();
        Routing { balancer: Arc::new(balancer), addresses }
    }
}

/// Where the targets' load comes from, how often it is read, and the last reports (kept so that
/// a balancer rebuilt by discovery starts with them).
#[derive(Debug)]
pub struct LoadFeed {
    pub source: Arc<dyn LoadSource>,
    pub every: Duration,
    last: Mutex<Option<LoadReports>>,
}

impl LoadFeed {
    pub fn new(source: Arc<dyn LoadSource>, every: Duration) -> Self {
        LoadFeed { source, every, last: Mutex::new(None) }
    }

    fn last(&self) -> Option<LoadReports> {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

/// The current targets and what keeps them current.
#[derive(Debug)]
pub struct Targets {
    current: RwLock<Arc<Routing>>,
    discovery: Arc<dyn Discovery>,
    ttl: Duration,
    loads: Option<LoadFeed>,
    /// When the last discovery started (ms), for [`Targets::rediscover_at_most_every`].
    discovered_at_ms: std::sync::atomic::AtomicU64,
    discovering: tokio::sync::Mutex<()>,
}

/// The system clock, for the background tasks (requests get their time passed in).
pub type Clock = fn() -> Time;

/// How many discovery periods old a set may be before a request waits for a new one: the
/// background refresh keeps it younger than one while the environment runs.
pub const STALE_AFTER_TTLS: u32 = 3;

impl Targets {
    /// Targets from a first discovery, awaited: a router starts with its targets known. If it
    /// fails, the router starts with none (503s) and the background task tries again after the
    /// TTL, rather than refusing to start.
    pub async fn discover(
        discovery: Arc<dyn Discovery>,
        ttl: Duration,
        loads: Option<LoadFeed>,
        config: BalancerConfig,
    ) -> Result<Self, switchyard_algorithms::Error> {
        let targets = discovery.discover().await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "first discovery failed: starting with no target");
            Vec::new()
        });
        let balancer = Balancer::new(TargetSet::new(targets)?, config)?;
        Ok(Targets {
            current: RwLock::new(Arc::new(Routing::new(balancer))),
            discovery,
            ttl,
            loads,
            discovered_at_ms: std::sync::atomic::AtomicU64::new(crate::system_now().as_millis()),
            discovering: tokio::sync::Mutex::new(()),
        })
    }

    /// The balancer and addresses to serve a request with, rediscovered first when the set is
    /// older than [`STALE_AFTER_TTLS`] discovery periods: an environment thawed after a long
    /// freeze must not send a request to an instance that left (or is draining) meanwhile, since
    /// draining counts on every router dropping a leaving instance within one period.
    pub async fn fresh_routing(&self, now: Time) -> Arc<Routing> {
        let last = self.discovered_at_ms.load(std::sync::atomic::Ordering::Relaxed);
        let stale = self.ttl.saturating_mul(STALE_AFTER_TTLS).as_millis() as u64;
        if self.discovery.changes() && !self.ttl.is_zero() && now.as_millis().saturating_sub(last) > stale {
            self.rediscover_at_most_every(self.ttl, now).await;
        }
        self.routing()
    }

    /// The balancer and addresses to serve one request with.
    pub fn routing(&self) -> Arc<Routing> {
        Arc::clone(&self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    fn swap(&self, balancer: Balancer) {
        let routing = Arc::new(Routing::new(balancer));
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = routing;
    }

    /// Discover now unless a discovery started less than `period` ago or is under way: requests
    /// held while their group wakes share one discovery per period.
    pub async fn rediscover_at_most_every(&self, period: Duration, now: Time) {
        use std::sync::atomic::Ordering;
        let last = self.discovered_at_ms.load(Ordering::Relaxed);
        if now.as_millis().saturating_sub(last) < period.as_millis() as u64 {
            return;
        }
        let Ok(_only_one) = self.discovering.try_lock() else { return };
        self.rediscover(now).await;
    }

    /// Discover once and swap in the new set if it differs. A failure keeps the last good set and
    /// is logged.
    pub async fn rediscover(&self, now: Time) {
        self.discovered_at_ms.store(now.as_millis(), std::sync::atomic::Ordering::Relaxed);
        let set = match self.discovery.discover().await {
            Ok(targets) => match TargetSet::new(targets) {
                Ok(set) => set,
                Err(e) => return tracing::error!(error = %e, "discovered targets refused: keeping the last good set"),
            },
            Err(e) => return tracing::error!(error = %e, "discovery failed: keeping the last good set"),
        };
        let current = self.routing().balancer.clone();
        if same_targets(current.targets(), &set) {
            return;
        }
        match current.rebuild(set) {
            Ok(rebuilt) => {
                tracing::info!(targets = rebuilt.targets().len(), "targets changed");
                if let Some(feed) = &self.loads {
                    apply(&rebuilt, feed.last().as_ref(), now);
                }
                self.swap(rebuilt);
            }
            Err(e) => tracing::error!(error = %e, "rebuilding the balancer failed: keeping the last good set"),
        }
    }

    /// Read the targets' load once and hand it to the current balancer. A failed read keeps the
    /// last reports, which fade with age until least connections runs on local counts alone.
    pub async fn reread_loads(&self, now: Time) {
        let Some(feed) = &self.loads else { return };
        let balancer = self.routing().balancer.clone();
        let ids: Vec<String> = balancer.targets().iter().map(|t| t.id.to_string()).collect();
        match feed.source.read(&ids, now).await {
            Ok(reports) => {
                // The set may have been swapped while the read was out: apply to the current one.
                apply(&self.routing().balancer, reports.as_ref(), now);
                tracing::debug!(reported = reports.as_ref().map_or(0, |r| r.loads.len()), "target loads read");
                *feed.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = reports;
            }
            Err(e) => tracing::warn!(error = %e, "reading target loads failed: the last reports fade out"),
        }
    }

    /// Start the background refreshes: discovery every TTL (if the source can change) and the
    /// load reports every refresh period, the first of them at once. They hold the targets weakly
    /// and end when the router is dropped (the handles are aborted then, too).
    pub fn spawn_refresh(self: &Arc<Self>, clock: Clock) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        if self.discovery.changes() && !self.ttl.is_zero() {
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(every(self.ttl, false, weak, move |t| async move { t.rediscover(clock()).await })));
        }
        if let Some(feed) = &self.loads {
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(every(
                feed.every,
                true,
                weak,
                move |t| async move { t.reread_loads(clock()).await },
            )));
        }
        tasks
    }
}

/// How long after start the background work (the first reads, the warm-up call) begins: the
/// function's first Runtime API `next` should not share the CPU with an SDK call's first
/// credentials and endpoint resolution.
pub const AFTER_START: Duration = Duration::from_millis(100);

/// Run `work` every `period` (shortly after start first when `now_first`) while the targets live.
async fn every<F, Fut>(period: Duration, now_first: bool, targets: Weak<Targets>, work: F)
where
    F: Fn(Arc<Targets>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = tokio::time::Instant::now() + if now_first { AFTER_START } else { period };
    let mut ticks = tokio::time::interval_at(start, period.max(Duration::from_millis(100)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(targets) = targets.upgrade() else { return };
        work(targets).await;
    }
}

fn same_targets(current: &TargetSet, set: &TargetSet) -> bool {
    current.len() == set.len() && current.iter().zip(set.iter()).all(|(a, b)| a.id == b.id && a.address == b.address)
}

fn apply(balancer: &Balancer, reports: Option<&LoadReports>, now: Time) {
    match reports {
        Some(r) => balancer.set_reported_loads(r.loads.iter().map(|(id, load)| (id.as_str(), *load)), r.taken_at),
        None => balancer.set_reported_loads(std::iter::empty(), now),
    }
}
