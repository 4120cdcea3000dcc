//! The balancer: composes discovery's target set, [`health`](crate::health),
//! [`load`](crate::load), [`selection`](crate::selection) and [`sticky`](crate::sticky) cookies.
//!
//! A balancer is built once per discovery change and shared (`Arc`) by every request of the
//! process; picking takes `&self` and allocates nothing. It filters health once: the selector it
//! picks with is built over the usable targets, and rebuilt only when they change (an ejection,
//! one running out), so no selector checks health per candidate. [`Balancer::rebuild`] carries
//! the state of targets that stay (by id) into the new set, so a discovery refresh neither
//! forgets an ejection nor loses count of requests still in flight.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::candidates::{Candidates, MAX_CANDIDATES};
use crate::error::Error;
use crate::hash::{fmix64, hash_bytes};
use crate::health::{self, Ejection, Outcome, OutlierConfig, OutlierState, SlowStart, Usability};
use crate::load::{InFlight, LoadState, Loads};
use crate::selection::{BoundedLoad, HashRing, RoundRobin, Select, SelectRequest, Selector, View};
use crate::sticky::{CookieError, StickyCookie};
use crate::target::{TargetSet, Time};

/// How the balancer picks.
#[derive(Debug, Clone)]
pub enum Algorithm {
    /// Smooth weighted round robin.
    RoundRobin,
    /// A signed cookie keeps a client on its target; new clients are placed on the ring.
    StickyCookie(StickyCookie),
    /// The client IP (or an explicit hash key) keeps a client on its target, by consistent hashing.
    StickyIp,
    /// Fewest in-flight requests per unit of weight, over every target.
    LeastConnections,
    /// Less loaded of two random targets.
    PowerOfTwoChoices,
}

impl Algorithm {
    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::StickyCookie(_) => "sticky_cookie",
            Algorithm::StickyIp => "sticky_ip",
            Algorithm::LeastConnections => "least_connections",
            Algorithm::PowerOfTwoChoices => "power_of_two_choices",
        }
    }
}

/// Balancer settings. `Default` is round robin with Envoy-like health settings.
#[derive(Debug, Clone)]
pub struct BalancerConfig {
    pub algorithm: Algorithm,
    /// Bounded loads for the sticky algorithms (`None`: plain consistent hashing).
    pub bounded_load: Option<BoundedLoad>,
    pub slow_start: Option<SlowStart>,
    pub outlier: OutlierConfig,
    /// Below this share of usable targets, health is ignored and every target is used (Envoy's
    /// panic threshold, default 50 %): better to spread over all than to crush the few left.
    /// 0 disables panic mode: with nothing usable, picking fails with [`Error::NoUsableTarget`].
    pub panic_threshold: f64,
    /// How long a reported load keeps counting: its weight fades linearly from 1 when reported
    /// to 0 after this long. A fresh report says much about a target's load; an old one mostly
    /// says where every router sent its traffic since, and adding it at full weight makes all
    /// routers avoid (then flood) the same targets together. See the crate README's study.
    pub report_fade: Duration,
    /// Candidates ranked up front (1..=[`MAX_CANDIDATES`]); more come one at a time from
    /// [`Balancer::next_candidate`].
    pub max_candidates: usize,
}

impl Default for BalancerConfig {
    fn default() -> Self {
        BalancerConfig {
            algorithm: Algorithm::RoundRobin,
            bounded_load: Some(BoundedLoad::DEFAULT),
            slow_start: None,
            outlier: OutlierConfig::default(),
            panic_threshold: 0.5,
            report_fade: Duration::from_secs(10),
            max_candidates: 1,
        }
    }
}

impl BalancerConfig {
    fn validate(self) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&self.panic_threshold) {
            return Err(Error::InvalidConfig(format!(
                "panic threshold must be within [0, 1], got {}",
                self.panic_threshold
            )));
        }
        if !(1..=MAX_CANDIDATES).contains(&self.max_candidates) {
            return Err(Error::InvalidConfig(format!(
                "max candidates must be within 1..={}, got {}",
                MAX_CANDIDATES, self.max_candidates
            )));
        }
        self.outlier.validate()?;
        Ok(self)
    }
}

/// What the balancer knows about one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext<'a> {
    /// The sticky cookie's value, if the request carried one.
    pub cookie: Option<&'a str>,
    /// The client's address as the platform saw it (never a client-supplied header).
    pub client_ip: Option<IpAddr>,
    /// An explicit stickiness key (e.g. a tenant id); for `sticky_ip` it takes precedence over
    /// the client IP, for `sticky_cookie` it places clients that have no valid cookie yet.
    pub hash_key: Option<&'a [u8]>,
    /// A fresh random number for this request.
    pub random: u64,
}

/// The candidates for one request and what the caller needs to keep stickiness.
#[derive(Debug, Clone, Copy)]
pub struct Pick {
    pub candidates: Candidates,
    /// For `sticky_cookie`: the target the request's valid cookie named, if any.
    pub cookie_target: Option<usize>,
    /// For `sticky_cookie`: why the request's cookie was not honoured, if it had one.
    pub cookie_error: Option<CookieError>,
    /// Health was ignored because too few targets are usable.
    pub panic: bool,
    sticky_cookie: bool,
}

impl Pick {
    /// Whether the response from `served` must set a new sticky cookie.
    #[inline]
    pub fn needs_cookie(&self, served: usize) -> bool {
        self.sticky_cookie && self.cookie_target != Some(served)
    }
}

/// What changes about one target while requests flow, as of now: its load counters and its
/// passive health. Shared by every request of a process and carried across rebuilds.
#[derive(Debug, Clone, Copy)]
pub struct TargetState<'a> {
    load: &'a LoadState,
    outlier: &'a OutlierState,
}

impl TargetState<'_> {
    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.load.in_flight()
    }

    #[inline]
    pub fn reported_load(&self) -> Option<u32> {
        self.load.reported_load()
    }

    #[inline]
    pub fn ejected_until(&self) -> Time {
        self.outlier.ejected_until()
    }
}

/// The selector over the usable targets, while some are not.
#[derive(Debug)]
struct Narrowed {
    /// Which usable set it was built for (see [`Usability`]).
    fingerprint: u64,
    members: Box<[u32]>,
    selector: Selector,
}

/// Picks targets for requests. See the module documentation.
#[derive(Debug)]
pub struct Balancer {
    targets: TargetSet,
    /// Per target, by index: load counters and passive health, each shared with in-flight guards
    /// and carried into rebuilt balancers.
    loads: Box<[Arc<LoadState>]>,
    outliers: Box<[Arc<OutlierState>]>,
    load: Loads,
    /// Every index, ascending: the members while every target is usable (or in panic mode).
    everyone: Box<[u32]>,
    /// Every target's weight, by index.
    weights: Box<[u32]>,
    selector: Selector,
    usability: Usability,
    narrowed: RwLock<Option<Arc<Narrowed>>>,
    config: BalancerConfig,
}

impl Balancer {
    /// A balancer over `targets`; fails on invalid configuration.
    ///
    /// ```
    /// use switchyard_algorithms::{Balancer, BalancerConfig, RequestContext, Target, TargetSet, Time};
    ///
    /// let targets = TargetSet::new(vec![Target::new("a", "10.0.0.1:80"), Target::new("b", "10.0.0.2:80")])?;
    /// let balancer = Balancer::new(targets, BalancerConfig::default())?;
    /// let pick = balancer.pick(&RequestContext::default(), Time::ZERO)?;
    /// assert_eq!(pick.candidates.first(), Some(0), "round robin starts with the first target");
    /// # Ok::<(), switchyard_algorithms::Error>(())
    /// ```
    pub fn new(targets: TargetSet, config: BalancerConfig) -> Result<Self, Error> {
        let config = config.validate()?;
        let selector = match config.algorithm {
            Algorithm::RoundRobin => Selector::RoundRobin(RoundRobin::new(&targets)),
            Algorithm::StickyCookie(_) | Algorithm::StickyIp => {
                Selector::Ring(HashRing::new(&targets, config.bounded_load))
            }
            Algorithm::LeastConnections => Selector::LeastConnections,
            Algorithm::PowerOfTwoChoices => Selector::PowerOfTwoChoices,
        };
        let loads = (0..targets.len()).map(|_| Arc::default()).collect();
        let outliers = (0..targets.len()).map(|_| Arc::default()).collect();
        let load = Loads::new(config.report_fade);
        Ok(Self::assemble(targets, config, selector, loads, outliers, load))
    }

    /// A balancer for a new target set with the same configuration, keeping the state of the
    /// targets that remain.
    pub fn rebuild(&self, targets: TargetSet) -> Result<Self, Error> {
        // Both sets are sorted by id: one merge pass pairs the targets that stay.
        let old = self.targets.as_slice();
        let mut o = 0;
        let kept: Vec<Option<usize>> = targets
            .iter()
            .map(|t| {
                while o < old.len() && old[o].id < t.id {
                    o += 1;
                }
                old.get(o).filter(|kept| kept.id == t.id).map(|_| o)
            })
            .collect();
        let loads: Box<[Arc<LoadState>]> =
            kept.iter().map(|k| k.map_or_else(Arc::default, |o| Arc::clone(&self.loads[o]))).collect();
        let outliers = kept.iter().map(|k| k.map_or_else(Arc::default, |o| Arc::clone(&self.outliers[o]))).collect();
        let selector = self.selector.rebuild(&self.targets, &targets);
        let load = self.load.carried_over(loads.iter().map(|s| &**s));
        Ok(Self::assemble(targets, self.config.clone(), selector, loads, outliers, load))
    }

    fn assemble(
        targets: TargetSet,
        config: BalancerConfig,
        selector: Selector,
        loads: Box<[Arc<LoadState>]>,
        outliers: Box<[Arc<OutlierState>]>,
        load: Loads,
    ) -> Self {
        let everyone = (0..targets.len() as u32).collect();
        let weights = targets.iter().map(|t| t.weight.get()).collect();
        Balancer {
            targets,
            loads,
            outliers,
            load,
            everyone,
            weights,
            selector,
            usability: Usability::new(config.panic_threshold),
            narrowed: RwLock::new(None),
            config,
        }
    }

    pub fn targets(&self) -> &TargetSet {
        &self.targets
    }

    pub fn config(&self) -> &BalancerConfig {
        &self.config
    }

    pub fn state(&self, index: usize) -> Option<TargetState<'_>> {
        Some(TargetState { load: self.loads.get(index)?, outlier: self.outliers.get(index)? })
    }

    /// The pick for one request at `now`: `max_candidates` ranked targets (by default one).
    /// When an attempt fails, [`Balancer::next_candidate`] ranks the next fall-through: most
    /// requests succeed at once, so fall-throughs are not computed ahead.
    pub fn pick(&self, request: &RequestContext<'_>, now: Time) -> Result<Pick, Error> {
        let mut pick = Pick {
            candidates: Candidates::with_capacity(self.config.max_candidates),
            cookie_target: None,
            cookie_error: None,
            panic: false,
            sticky_cookie: false,
        };
        self.select_into(request, now, &mut pick)?;
        Ok(pick)
    }

    /// The next target to try after every candidate in `pick` failed: ranked by the same
    /// algorithm (the next in rotation, the next on the ring, the next least loaded), never one
    /// already tried. Appends it to `pick.candidates` and returns it.
    pub fn next_candidate(&self, request: &RequestContext<'_>, now: Time, pick: &mut Pick) -> Result<usize, Error> {
        let before = pick.candidates.len();
        let Some(room) = pick.candidates.with_room_for_one_more() else { return Err(Error::NoUsableTarget) };
        let mut retry = Pick { candidates: room, ..*pick };
        self.select_into(request, now, &mut retry)?;
        let next = retry.candidates.iter().nth(before).ok_or(Error::NoUsableTarget)?;
        pick.candidates = retry.candidates;
        Ok(next)
    }

    /// Fill `pick.candidates` (keeping what it holds) for this request.
    fn select_into(&self, request: &RequestContext<'_>, now: Time, pick: &mut Pick) -> Result<(), Error> {
        let n = self.targets.len();
        if n == 0 {
            return Err(Error::NoTargets);
        }
        let survey = self.usability.survey(self.targets.as_slice(), |i| self.outliers[i].ejected_until(), now);
        let panic = survey.panic;
        pick.panic = panic;
        if !panic && survey.usable == 0 {
            return Err(Error::NoUsableTarget);
        }
        // Health is filtered here, once: the selector is the one built over the usable targets.
        let narrowed;
        let (members, selector) = if panic {
            // In panic every target is used, except those refusing connections while some others
            // take them: the panic rule keeps a fleet from being emptied, not dead addresses in it.
            match self.reachable(now) {
                Some(reachable) => {
                    narrowed = reachable;
                    (&narrowed.members[..], &narrowed.selector)
                }
                None => (&self.everyone[..], &self.selector),
            }
        } else if survey.usable == n {
            (&self.everyone[..], &self.selector)
        } else {
            narrowed = self.narrowed(survey.fingerprint, now);
            (&narrowed.members[..], &narrowed.selector)
        };
        let view = View {
            targets: self.targets.as_slice(),
            weights: &self.weights,
            loads: &self.loads,
            load: self.load.at(now),
            members,
            slow_start: self.config.slow_start,
            outliers: &self.outliers,
            now,
            inv_usable_weight: survey.inv_usable_weight,
        };
        let before = pick.candidates.len();
        let key = match &self.config.algorithm {
            Algorithm::StickyIp => request.hash_key.map(hash_bytes).or_else(|| request.client_ip.map(hash_ip)),
            Algorithm::StickyCookie(cookie) => {
                pick.sticky_cookie = true;
                match request.cookie.map(|value| cookie.verify(value, now)) {
                    Some(Ok(id)) => match self.targets.position(id.as_str()) {
                        Some(index) => {
                            pick.cookie_target = Some(index);
                            // `members` is everyone in panic, less the targets refusing connections.
                            let usable = members.binary_search(&(index as u32)).is_ok();
                            if usable && self.config.bounded_load.is_none_or(|b| view.within_bound(b, index)) {
                                pick.candidates.push(index);
                            }
                            // Overflow and fall-throughs continue from the target's place on the ring.
                            Some(hash_bytes(id.as_str().as_bytes()))
                        }
                        None => request.hash_key.map(hash_bytes),
                    },
                    Some(Err(e)) => {
                        pick.cookie_error = Some(e);
                        request.hash_key.map(hash_bytes)
                    }
                    None => request.hash_key.map(hash_bytes),
                }
            }
            _ => None,
        };
        if !pick.candidates.is_full() {
            selector.select(&SelectRequest { key, random: request.random }, &view, &mut pick.candidates);
        }
        if pick.candidates.len() == before {
            return Err(Error::NoUsableTarget);
        }
        Ok(())
    }

    /// In panic: the selector over the targets not backing off from a refused connection, when
    /// some are and some are not (`None`: use everyone).
    #[cold]
    fn reachable(&self, now: Time) -> Option<Arc<Narrowed>> {
        let members: Box<[u32]> =
            (0..self.targets.len()).filter(|&i| self.outliers[i].refused_until() <= now).map(|i| i as u32).collect();
        if members.is_empty() || members.len() == self.targets.len() {
            return None;
        }
        // Marked apart from the usable sets' fingerprints (`!`), which hash target ids.
        let fingerprint = !members.iter().fold(0u64, |h, &i| fmix64(h ^ u64::from(i).wrapping_add(1)));
        if let Ok(slot) = self.narrowed.read()
            && let Some(narrowed) = slot.as_ref().filter(|n| n.fingerprint == fingerprint)
        {
            return Some(Arc::clone(narrowed));
        }
        let selector = self.selector.over(&self.targets, &members);
        let narrowed = Arc::new(Narrowed { fingerprint, members, selector });
        if let Ok(mut slot) = self.narrowed.write() {
            *slot = Some(Arc::clone(&narrowed));
        }
        Some(narrowed)
    }

    /// The selector over the usable targets, built again when they changed since it was.
    #[cold]
    fn narrowed(&self, fingerprint: u64, now: Time) -> Arc<Narrowed> {
        if let Ok(slot) = self.narrowed.read()
            && let Some(narrowed) = slot.as_ref().filter(|n| n.fingerprint == fingerprint)
        {
            return Arc::clone(narrowed);
        }
        let members: Box<[u32]> = (0..self.targets.len())
            .filter(|&i| health::admits(self.targets[i].health, self.outliers[i].ejected_until(), now))
            .map(|i| i as u32)
            .collect();
        let selector = self.selector.over(&self.targets, &members);
        let narrowed = Arc::new(Narrowed { fingerprint, members, selector });
        if let Ok(mut slot) = self.narrowed.write() {
            *slot = Some(Arc::clone(&narrowed));
        }
        narrowed
    }

    /// A sticky cookie value for `index`, when the algorithm is `sticky_cookie`.
    pub fn issue_cookie(&self, index: usize, now: Time) -> Option<String> {
        match &self.config.algorithm {
            Algorithm::StickyCookie(cookie) => self.targets.get(index).map(|t| cookie.issue(&t.id, now)),
            _ => None,
        }
    }

    /// Count a request in flight to `index` until the returned guard is dropped.
    pub fn begin(&self, index: usize) -> Option<InFlight> {
        self.loads.get(index).map(|target| self.load.begin(target))
    }

    /// Record how an attempt at `index` went; returns the ejection it caused, if any.
    pub fn record(&self, index: usize, outcome: Outcome, now: Time) -> Option<Ejection> {
        let outlier = self.outliers.get(index)?;
        let ejected_now = || self.outliers.iter().filter(|s| s.streak_ejected_until() > now).count();
        let (until, multiplier) =
            outlier.record(outcome, now, &self.config.outlier, self.targets.len(), ejected_now)?;
        self.usability.invalidate();
        Some(Ejection { index, until, multiplier })
    }

    /// Loads the targets reported (e.g. their in-flight requests, from CloudWatch), by target id,
    /// as of `taken_at`. Targets absent from `reports` have no report: their load is this
    /// process's count alone.
    pub fn set_reported_loads<'a>(&self, reports: impl IntoIterator<Item = (&'a str, u32)>, taken_at: Time) {
        let reports = reports
            .into_iter()
            .filter_map(|(id, load)| self.targets.position(id).map(|index| (&*self.loads[index], load)));
        self.load.set_reported(self.loads.iter().map(|s| &**s), reports, taken_at);
    }
}

fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}
