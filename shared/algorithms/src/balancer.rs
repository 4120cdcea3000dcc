//! The balancer: a target set, the chosen selector built for it, and the per-target state that
//! changes per request (in-flight counts, reported loads, passive health).
//!
//! A balancer is built once per discovery change and shared (`Arc`) by every request of the
//! process; picking takes `&self` and allocates nothing. [`Balancer::rebuild`] carries the state
//! of targets that stay (by id) into the new set, so a discovery refresh neither forgets an
//! ejection nor loses count of requests still in flight.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::hash::{fmix64, hash_bytes};
use crate::{
    BoundedLoad, Candidates, CookieError, Ejection, Error, HashRing, LeastConnections, OutlierConfig,
    PowerOfTwoChoices, RoundRobin, Select, SelectRequest, StickyCookie, Target, TargetSet, Time,
};

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

/// A new target's share ramps linearly from `min_factor` of its weight to all of it over
/// `window`, so a cold instance (empty caches, JIT warm-up) is not handed a full share at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SlowStart {
    /// The window in seconds, converted once (a `Duration` → `f64` conversion divides).
    window_secs: f64,
    min_factor: f64,
}

impl SlowStart {
    /// Envoy's `min_weight_percent` default is 10 %.
    pub fn new(window: Duration) -> Result<Self, Error> {
        Self::with_min_factor(window, 0.1)
    }

    pub fn with_min_factor(window: Duration, min_factor: f64) -> Result<Self, Error> {
        if window.is_zero() || !(min_factor > 0.0 && min_factor <= 1.0) {
            return Err(Error::InvalidConfig(format!(
                "slow start needs a window > 0 and a minimum factor in (0, 1], got {window:?} and {min_factor}"
            )));
        }
        Ok(SlowStart { window_secs: window.as_secs_f64(), min_factor })
    }

    /// Share of its weight a target started at `started_at` gets at `now`, in `[min_factor, 1]`.
    #[inline]
    pub fn factor(&self, started_at: Time, now: Time) -> f64 {
        let elapsed_ms = now.as_millis().saturating_sub(started_at.as_millis());
        let ramp = elapsed_ms as f64 / 1000.0 / self.window_secs;
        ramp.clamp(self.min_factor, 1.0)
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
    /// Candidates ranked up front (1..=[`crate::MAX_CANDIDATES`]); more come one at a time from
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
        if !(1..=crate::MAX_CANDIDATES).contains(&self.max_candidates) {
            return Err(Error::InvalidConfig(format!(
                "max candidates must be within 1..={}, got {}",
                crate::MAX_CANDIDATES,
                self.max_candidates
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

/// Outcome of one attempt at a target, for passive health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// Connect error, timeout, or a 5xx from the target.
    Failure,
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

/// Marker for "this target has not reported a load".
const NO_REPORT: u32 = u32::MAX;

/// What changes about one target while requests flow: shared by every request of a process and
/// carried across rebuilds of the balancer.
#[derive(Debug)]
pub struct TargetState {
    in_flight: AtomicU32,
    reported: AtomicU32,
    consecutive_failures: AtomicU32,
    ejections: AtomicU32,
    ejected_until: AtomicU64,
}

impl Default for TargetState {
    fn default() -> Self {
        TargetState {
            in_flight: AtomicU32::new(0),
            reported: AtomicU32::new(NO_REPORT),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
        }
    }
}

impl TargetState {
    #[inline]
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Relaxed)
    }

    #[inline]
    pub fn reported_load(&self) -> Option<u32> {
        Some(self.reported.load(Relaxed)).filter(|&r| r != NO_REPORT)
    }

    #[inline]
    pub fn ejected_until(&self) -> Time {
        Time::from_millis(self.ejected_until.load(Relaxed))
    }
}

/// Counts one request in flight to a target until dropped.
#[derive(Debug)]
pub struct InFlight {
    state: Arc<TargetState>,
    total: Arc<AtomicU64>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.in_flight.fetch_sub(1, Relaxed);
        self.total.fetch_sub(1, Relaxed);
    }
}

/// What a selector may know while ranking targets for one request.
#[derive(Debug)]
pub struct View<'a> {
    targets: &'a [Target],
    states: &'a [Arc<TargetState>],
    now: Time,
    panic: bool,
    slow_start: Option<SlowStart>,
    in_flight_total: &'a AtomicU64,
    reported_total: &'a AtomicU64,
    /// Weight of reported loads now, in [0, 1] (see [`BalancerConfig::report_fade`]).
    report_weight: f64,
    inv_usable_weight: f64,
}

impl View<'_> {
    #[inline]
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Whether the target may take this request: healthy as discovered, not ejected — or the
    /// balancer is in panic mode, where every target may.
    #[inline]
    pub fn is_usable(&self, index: usize) -> bool {
        self.panic || (self.targets[index].health.admits(self.now) && self.states[index].ejected_until() <= self.now)
    }

    #[inline]
    pub fn weight(&self, index: usize) -> u32 {
        self.targets[index].weight.get()
    }

    /// This process's in-flight requests to the target plus the load it last reported (if
    /// any), the report weighted by its freshness.
    #[inline]
    pub fn load(&self, index: usize) -> f64 {
        let state = &self.states[index];
        f64::from(state.in_flight()) + f64::from(state.reported_load().unwrap_or(0)) * self.report_weight
    }

    /// The sum of [`View::load`] over all targets.
    #[inline]
    pub fn total_load(&self) -> f64 {
        // Read on demand: only the bounded-load check needs it.
        self.in_flight_total.load(Relaxed) as f64 + self.reported_total.load(Relaxed) as f64 * self.report_weight
    }

    /// 1 / the total weight of the usable targets (of all targets in panic mode): the bounded-load
    /// limit multiplies by it instead of dividing.
    #[inline]
    pub fn inv_usable_weight(&self) -> f64 {
        self.inv_usable_weight
    }

    /// The slow-start ramp factor of the target, 1 when slow start is off or over.
    #[inline]
    pub fn slow_start_factor(&self, index: usize) -> f64 {
        self.slow_start.map_or(1.0, |s| s.factor(self.targets[index].started_at, self.now))
    }

    #[inline]
    pub fn effective_weight(&self, index: usize) -> f64 {
        f64::from(self.weight(index)) * self.slow_start_factor(index)
    }
}

/// How many targets are usable, recomputed only when it can have changed: after an ejection, or
/// once the earliest ejection (passive or from discovery) runs out.
#[derive(Debug, Default)]
struct Usability {
    usable: AtomicU32,
    /// 1 / usable weight (`f64` bits): the bounded-load limit multiplies instead of dividing.
    inv_usable_weight: AtomicU64,
    next_change: AtomicU64,
    /// Which targets are usable, as a fingerprint: the rotation is rebuilt only when it changes.
    fingerprint: AtomicU64,
}

/// Picks targets for requests. See the module documentation.
#[derive(Debug)]
pub struct Balancer {
    targets: TargetSet,
    states: Box<[Arc<TargetState>]>,
    in_flight_total: Arc<AtomicU64>,
    reported_total: AtomicU64,
    /// When the reported loads were taken (ms of [`Time`]).
    reported_at: AtomicU64,
    /// This process's share of the fleet's load when the report came (`f64` bits): reports are
    /// fleet totals, scaled by it to this process's view so they weigh like local counts.
    report_share: AtomicU64,
    selector: Box<dyn Select>,
    config: BalancerConfig,
    usability: Usability,
    /// Round robin over the usable targets while some are not (`None` while all are).
    usable_rotation: RwLock<Option<Arc<RoundRobin>>>,
    total_weight: u64,
}

impl Balancer {
    pub fn new(targets: TargetSet, config: BalancerConfig) -> Result<Self, Error> {
        let states = (0..targets.len()).map(|_| Arc::new(TargetState::default())).collect();
        Self::assemble(targets, config.validate()?, states, Arc::new(AtomicU64::new(0)))
    }

    /// A balancer for a new target set with the same configuration, keeping the state of the
    /// targets that remain.
    pub fn rebuild(&self, targets: TargetSet) -> Result<Self, Error> {
        // Both sets are sorted by id: one merge pass pairs the targets that stay.
        let old = self.targets.as_slice();
        let mut o = 0;
        let states = targets
            .iter()
            .map(|t| {
                while o < old.len() && old[o].id < t.id {
                    o += 1;
                }
                match old.get(o) {
                    Some(kept) if kept.id == t.id => Arc::clone(&self.states[o]),
                    _ => Arc::new(TargetState::default()),
                }
            })
            .collect();
        let rebuilt = Self::assemble(targets, self.config.clone(), states, Arc::clone(&self.in_flight_total))?;
        rebuilt
            .reported_total
            .store(rebuilt.states.iter().map(|s| u64::from(s.reported_load().unwrap_or(0))).sum(), Relaxed);
        rebuilt.reported_at.store(self.reported_at.load(Relaxed), Relaxed);
        rebuilt.report_share.store(self.report_share.load(Relaxed), Relaxed);
        Ok(rebuilt)
    }

    fn assemble(
        targets: TargetSet,
        config: BalancerConfig,
        states: Box<[Arc<TargetState>]>,
        in_flight_total: Arc<AtomicU64>,
    ) -> Result<Self, Error> {
        let selector: Box<dyn Select> = match config.algorithm {
            Algorithm::RoundRobin => Box::new(RoundRobin::new(&targets)),
            Algorithm::StickyCookie(_) | Algorithm::StickyIp => Box::new(HashRing::new(&targets, config.bounded_load)),
            Algorithm::LeastConnections => Box::new(LeastConnections),
            Algorithm::PowerOfTwoChoices => Box::new(PowerOfTwoChoices),
        };
        let total_weight = targets.iter().map(|t| u64::from(t.weight.get())).sum();
        Ok(Balancer {
            targets,
            states,
            in_flight_total,
            reported_total: AtomicU64::new(0),
            reported_at: AtomicU64::new(0),
            report_share: AtomicU64::new(1.0f64.to_bits()),
            selector,
            config,
            usability: Usability::default(),
            usable_rotation: RwLock::new(None),
            total_weight,
        })
    }

    pub fn targets(&self) -> &TargetSet {
        &self.targets
    }

    pub fn config(&self) -> &BalancerConfig {
        &self.config
    }

    pub fn state(&self, index: usize) -> Option<&TargetState> {
        self.states.get(index).map(|s| &**s)
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
        if self.targets.is_empty() {
            return Err(Error::NoTargets);
        }
        let (usable, inv_usable_weight) = self.usability(now);
        // Envoy's rule: a threshold of 0 disables panic mode; then a set with nothing usable is an error.
        let threshold = self.config.panic_threshold;
        let panic = threshold > 0.0 && (usable == 0 || (usable as f64) < threshold * self.targets.len() as f64);
        pick.panic = panic;
        let view = View {
            targets: self.targets.as_slice(),
            states: &self.states,
            now,
            panic,
            slow_start: self.config.slow_start,
            in_flight_total: &self.in_flight_total,
            reported_total: &self.reported_total,
            report_weight: self.report_weight(now),
            inv_usable_weight: if panic { 1.0 / self.total_weight.max(1) as f64 } else { inv_usable_weight },
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
                            if view.is_usable(index) && self.within_bound(&view, index) {
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
            let request = SelectRequest { key, random: request.random };
            // Round robin while some targets are unusable: the rotation over the usable ones.
            let narrowed = if !panic && (usable as usize) < self.targets.len() {
                self.usable_rotation.read().map_or(None, |r| r.clone())
            } else {
                None
            };
            match &narrowed {
                Some(rotation) => rotation.select(&request, &view, &mut pick.candidates),
                None => self.selector.select(&request, &view, &mut pick.candidates),
            }
        }
        if pick.candidates.len() == before {
            return Err(Error::NoUsableTarget);
        }
        Ok(())
    }

    fn within_bound(&self, view: &View<'_>, index: usize) -> bool {
        match self.config.bounded_load {
            Some(bound) => BoundedLoad::admits(
                bound.limit_per_weight(view.total_load(), view.inv_usable_weight()),
                view.load(index),
                view.weight(index),
            ),
            None => true,
        }
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
        let state = self.states.get(index)?;
        state.in_flight.fetch_add(1, Relaxed);
        self.in_flight_total.fetch_add(1, Relaxed);
        Some(InFlight { state: Arc::clone(state), total: Arc::clone(&self.in_flight_total) })
    }

    /// Record how an attempt at `index` went; returns the ejection it caused, if any.
    pub fn record(&self, index: usize, outcome: Outcome, now: Time) -> Option<Ejection> {
        let state = self.states.get(index)?;
        if outcome == Outcome::Success {
            state.consecutive_failures.store(0, Relaxed);
            return None;
        }
        let failures = state.consecutive_failures.fetch_add(1, Relaxed).saturating_add(1);
        let outlier = &self.config.outlier;
        if failures < outlier.consecutive_failures.get() || state.ejected_until() > now {
            return None;
        }
        let ejected_now = self.states.iter().filter(|s| s.ejected_until() > now).count();
        if ejected_now >= outlier.max_ejected(self.targets.len()) {
            return None;
        }
        let multiplier = outlier.next_multiplier(state.ejections.load(Relaxed), state.ejected_until(), now);
        let until = now + outlier.ejection_time(multiplier);
        state.ejections.store(multiplier, Relaxed);
        state.ejected_until.store(until.as_millis(), Relaxed);
        state.consecutive_failures.store(0, Relaxed);
        self.usability.next_change.store(0, Relaxed);
        Some(Ejection { index, until, multiplier })
    }

    /// Loads the targets reported (e.g. their in-flight requests, from CloudWatch), by target id,
    /// as of `taken_at`. Targets absent from `reports` have no report: their load is this
    /// process's count alone.
    pub fn set_reported_loads<'a>(&self, reports: impl IntoIterator<Item = (&'a str, u32)>, taken_at: Time) {
        self.states.iter().for_each(|s| s.reported.store(NO_REPORT, Relaxed));
        for (id, load) in reports {
            if let Some(index) = self.targets.position(id) {
                self.states[index].reported.store(load.min(NO_REPORT - 1), Relaxed);
            }
        }
        let total = self.states.iter().map(|s| u64::from(s.reported_load().unwrap_or(0))).sum();
        self.reported_total.store(total, Relaxed);
        self.reported_at.store(taken_at.as_millis(), Relaxed);
        // Many routers share the fleet: a target's reported load is everyone's. Our share of it is
        // estimated as our in-flight total over the reported total (1 when we carry it all, or
        // when nothing is reported or in flight, so that a lone router counts reports fully).
        let local = self.in_flight_total.load(Relaxed) as f64;
        let share = if total == 0 || local == 0.0 { 1.0 } else { (local / total as f64).clamp(0.01, 1.0) };
        self.report_share.store(share.to_bits(), Relaxed);
    }

    fn report_weight(&self, now: Time) -> f64 {
        // Nothing reported (the common case without a load metric): no arithmetic on the hot path.
        let fade_ms = self.config.report_fade.as_millis() as f64;
        if self.reported_total.load(Relaxed) == 0 || fade_ms <= 0.0 {
            return 0.0;
        }
        let age_ms = now.as_millis().saturating_sub(self.reported_at.load(Relaxed)) as f64;
        (1.0 - age_ms / fade_ms).clamp(0.0, 1.0) * f64::from_bits(self.report_share.load(Relaxed))
    }

    /// Usable targets and 1 / their total weight.
    fn usability(&self, now: Time) -> (u32, f64) {
        if now.as_millis() < self.usability.next_change.load(Relaxed) {
            return (
                self.usability.usable.load(Relaxed),
                f64::from_bits(self.usability.inv_usable_weight.load(Relaxed)),
            );
        }
        let mut usable = 0u32;
        let mut weight = 0u64;
        let mut next_change = u64::MAX;
        let mut fingerprint = 0u64;
        for (target, state) in self.targets.iter().zip(self.states.iter()) {
            let ejected_until = state.ejected_until();
            if ejected_until > now {
                next_change = next_change.min(ejected_until.as_millis());
            }
            if let crate::Health::EjectedUntil(until) = target.health
                && until > now
            {
                next_change = next_change.min(until.as_millis());
            }
            if target.health.admits(now) && ejected_until <= now {
                usable += 1;
                weight += u64::from(target.weight.get());
                fingerprint = fmix64(fingerprint ^ index_key(&target.id));
            }
        }
        if matches!(self.config.algorithm, Algorithm::RoundRobin)
            && self.usability.fingerprint.swap(fingerprint, Relaxed) != fingerprint
        {
            let rotation = ((usable as usize) < self.targets.len()).then(|| {
                let members: Vec<usize> = (0..self.targets.len())
                    .filter(|&i| self.targets[i].health.admits(now) && self.states[i].ejected_until() <= now)
                    .collect();
                Arc::new(RoundRobin::over(&self.targets, &members))
            });
            if let Ok(mut slot) = self.usable_rotation.write() {
                *slot = rotation;
            }
        }
        self.usability.usable.store(usable, Relaxed);
        let inv = 1.0 / weight.max(1) as f64;
        self.usability.inv_usable_weight.store(inv.to_bits(), Relaxed);
        self.usability.next_change.store(next_change, Relaxed);
        (usable, inv)
    }
}

/// A target's contribution to the usable set's fingerprint.
fn index_key(id: &crate::TargetId) -> u64 {
    hash_bytes(id.as_str().as_bytes())
}

fn hash_ip(ip: IpAddr) -> u64 {
    match ip {
        IpAddr::V4(v4) => hash_bytes(&v4.octets()),
        IpAddr::V6(v6) => hash_bytes(&v6.octets()),
    }
}
