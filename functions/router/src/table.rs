//! The routing table: the compiled routing document and what serves it, a [`Fleet`] per target
//! group (targets, balancer, background refresh, wake, metrics) and a [`Jobs`] sender per queue.
//!
//! A request reads the current table once and keeps it to the end. A new document version swaps
//! in a new table whole; fleets whose group is unchanged are carried over, with their balancers'
//! state (ejections, in-flight counts, rotation), so a canary weight change moves no client that
//! the change does not move. A document that cannot be served (a queue named without its URL, a
//! sticky group without a signing key) is refused like an invalid one: the last good table stays.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_algorithms::{BalancerConfig, OutlierConfig, SlowStart, Time};
use switchyard_routing::{Action, Discovery as GroupSource, QueueRef, Routes, RuleError, TargetGroup};
use tokio::task::JoinHandle;

use crate::aws::{Connect, Discovery, FleetWaker, StaticTargets};
use crate::config::{RouterConfig, Wake};
use crate::emf::Metrics;
use crate::jobs::Jobs;
use crate::targets::{LoadFeed, Targets};

/// One target group at run time.
#[derive(Debug)]
pub struct Fleet {
    /// The group as the document defines it: a new document with an equal group keeps this fleet.
    pub group: TargetGroup,
    pub targets: Arc<Targets>,
    /// The background refreshes of `targets`, aborted when the fleet is dropped.
    refresh: Vec<JoinHandle<()>>,
    pub waking: Option<Waking>,
    pub algorithm: switchyard_algorithms::Algorithm,
    /// The sticky target cookie's name (with several groups, one per group: a client's cookie for
    /// one group must not unpin it from another).
    pub cookie_name: String,
    /// Counts for this group: requests with the `Group` dimension (an Auto Scaling group's name,
    /// which is how the scaler sees a web fleet's traffic; a static group's name in the
    /// document), attempts per target, wakes.
    pub metrics: Metrics,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.refresh.iter().for_each(JoinHandle::abort);
    }
}

/// How a fleet wakes its group from zero, and its last wake (one at a time per environment, at
/// most one every few seconds).
#[derive(Debug)]
pub struct Waking {
    pub waker: Arc<dyn FleetWaker>,
    pub config: Wake,
    pub last: tokio::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

/// The compiled document and what serves it. `fleets[i]` serves `routes.target_groups()[i]`.
#[derive(Debug)]
pub struct Table {
    pub routes: Routes,
    pub fleets: Vec<Arc<Fleet>>,
    /// By queue URL.
    pub queues: HashMap<String, Jobs>,
    /// The document's version where it has one (an SSM parameter's).
    pub version: Option<i64>,
}

impl Table {
    /// The table for `routes`, reusing `previous`'s fleets whose group is unchanged. New fleets
    /// make their first discovery here, all at once. An error names each part that cannot be
    /// served.
    pub async fn build(
        routes: Routes,
        version: Option<i64>,
        previous: Option<&Table>,
        config: &RouterConfig,
        connect: &dyn Connect,
        now: Time,
    ) -> Result<Table, Vec<String>> {
        let mut errors = Vec::new();
        let several = routes.target_groups().len() > 1;
        let mut fleets: Vec<Option<Arc<Fleet>>> = Vec::new();
        let mut new = Vec::new();
        for group in routes.target_groups() {
            let reused = previous.and_then(|p| p.fleets.iter().find(|f| f.group == *group)).cloned();
            if reused.is_none() {
                match plan(group, several, config, connect) {
                    Ok(plan) => new.push((fleets.len(), plan)),
                    Err(e) => errors.push(format!("target_groups.{}: {e}", group.name())),
                }
            }
            fleets.push(reused);
        }
        let mut queues = HashMap::new();
        for url in queue_urls(&routes) {
            match connect.queue(url) {
                Some(queue) => {
                    let fifo_group_header = url.ends_with(".fifo").then(|| config.fifo_group_header.clone());
                    queues.insert(url.to_owned(), Jobs { queue, fifo_group_header });
                }
                None => errors.push(format!("enqueue to {url}: no queue client was given")),
            }
        }
        for name in queue_names(&routes) {
            errors.push(format!(
                "enqueue to {name:?}: give the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/{name})"
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let started = futures_util::future::join_all(
            new.into_iter().map(|(index, plan)| async move { (index, plan.start(config, now).await) }),
        )
        .await;
        for (index, fleet) in started {
            match fleet {
                Ok(fleet) => fleets[index] = Some(fleet),
                Err(e) => errors.push(format!("target_groups.{}: {e}", routes.target_groups()[index].name())),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let fleets = fleets.into_iter().flatten().collect();
        Ok(Table { routes, fleets, queues, version })
    }

    /// The fleet serving target group `id` of these routes.
    pub fn fleet(&self, id: switchyard_routing::TargetGroupId) -> Option<&Arc<Fleet>> {
        self.fleets.get(id.index())
    }
}

/// What a new fleet needs, checked before any discovery starts.
struct Plan {
    group: TargetGroup,
    discovery: Arc<dyn Discovery>,
    ttl: Duration,
    loads: Option<LoadFeed>,
    waking: Option<Waking>,
    balancer: BalancerConfig,
    cookie_name: String,
    metrics_group: Option<String>,
}

fn plan(group: &TargetGroup, several: bool, config: &RouterConfig, connect: &dyn Connect) -> Result<Plan, String> {
    let algorithm = match group.algorithm() {
        switchyard_routing::Algorithm::RoundRobin => switchyard_algorithms::Algorithm::RoundRobin,
        switchyard_routing::Algorithm::StickyIp => switchyard_algorithms::Algorithm::StickyIp,
        switchyard_routing::Algorithm::LeastConnections => switchyard_algorithms::Algorithm::LeastConnections,
        switchyard_routing::Algorithm::PowerOfTwoChoices => switchyard_algorithms::Algorithm::PowerOfTwoChoices,
        switchyard_routing::Algorithm::StickyCookie => switchyard_algorithms::Algorithm::StickyCookie(
            config.sticky.clone().ok_or("sticky_cookie needs SWITCHYARD_STICKY_SECRET (at least 32 bytes)")?,
        ),
    };
    let mut balancer = BalancerConfig { algorithm, ..BalancerConfig::default() };
    if let Some(load) = &config.load_metric {
        balancer.report_fade = load.fade;
    }
    if let Some(window) = group.slow_start() {
        balancer.slow_start = Some(SlowStart::new(window).map_err(|e| e.to_string())?);
    }
    if let Some(health) = group.health() {
        balancer.outlier = OutlierConfig {
            consecutive_failures: health.consecutive_failures,
            base_ejection: health.base_ejection,
            max_ejection: health.max_ejection,
            max_ejected_share: f64::from(health.max_ejected_percent) / 100.0,
        };
    }
    let (discovery, ttl, waking, metrics_group): (Arc<dyn Discovery>, _, _, _) = match group.discovery() {
        GroupSource::Static(addresses) => {
            for address in addresses {
                crate::config::validate_address(address)?;
            }
            (Arc::new(StaticTargets(addresses.clone())), Duration::ZERO, None, Some(group.name().to_owned()))
        }
        GroupSource::AutoScalingGroup { name, port } => {
            let discovery = connect.discovery(name, *port).ok_or("group discovery needs AWS: no client was given")?;
            let waking = match config.wake {
                None => None,
                Some(wake) => Some(Waking {
                    waker: connect.waker(name).ok_or("waking the group needs AWS: no client was given")?,
                    config: wake,
                    last: tokio::sync::Mutex::new(None),
                }),
            };
            (discovery, config.discovery_ttl, waking, Some(name.clone()))
        }
    };
    let loads = match &config.load_metric {
        None => None,
        Some(metric) => Some(LoadFeed::new(
            connect.loads().ok_or("reading the load metric needs AWS: no client was given")?,
            metric.refresh,
        )),
    };
    let cookie_name =
        if several { format!("{}-{}", config.cookie_name, group.name()) } else { config.cookie_name.clone() };
    Ok(Plan { group: group.clone(), discovery, ttl, loads, waking, balancer, cookie_name, metrics_group })
}

impl Plan {
    async fn start(self, config: &RouterConfig, now: Time) -> Result<Arc<Fleet>, String> {
        let algorithm = self.balancer.algorithm.clone();
        let targets = Arc::new(
            Targets::discover(self.discovery, self.ttl, self.loads, self.balancer).await.map_err(|e| e.to_string())?,
        );
        let refresh = targets.spawn_refresh(crate::system_now);
        Ok(Arc::new(Fleet {
            group: self.group,
            targets,
            refresh,
            waking: self.waking,
            algorithm,
            cookie_name: self.cookie_name,
            metrics: Metrics::new(config.metrics_namespace.clone(), config.metrics_interval, now)
                .for_group(self.metrics_group),
        }))
    }
}

/// Every action of the document: the rules' in priority order, then the default.
fn actions(routes: &Routes) -> impl Iterator<Item = &Action> {
    routes.rules().iter().map(|r| r.action()).chain(std::iter::once(routes.default_action()))
}

/// The queue URLs the document's `enqueue` actions name, each once.
pub fn queue_urls(routes: &Routes) -> impl Iterator<Item = &str> {
    let mut seen = std::collections::HashSet::new();
    actions(routes)
        .filter_map(|a| match a {
            Action::Enqueue(e) => match e.queue() {
                QueueRef::Url(url) => Some(url.as_str()),
                QueueRef::Name(_) => None,
            },
            _ => None,
        })
        .filter(move |url| seen.insert(*url))
}

fn queue_names(routes: &Routes) -> impl Iterator<Item = &str> {
    actions(routes).filter_map(|a| match a {
        Action::Enqueue(e) => match e.queue() {
            QueueRef::Name(name) => Some(name.as_str()),
            QueueRef::Url(_) => None,
        },
        _ => None,
    })
}

/// The errors of a refused document, on one line.
pub fn listed(errors: &[RuleError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
