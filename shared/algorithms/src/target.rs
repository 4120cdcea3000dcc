//! Targets (the servers a router sends requests to) and the immutable set a balancer picks from.

use std::fmt;
use std::num::NonZeroU32;
use std::ops::{Add, Sub};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;

/// Most targets a set may hold. Far above any one Auto Scaling group (its own limit is in the
/// thousands), low enough that indices fit in `u32` and ring memory stays bounded.
pub const MAX_TARGETS: usize = 100_000;

/// A point in time, as milliseconds since an epoch the caller chooses (the router uses the UNIX
/// epoch). The crate never reads a clock: every function that needs "now" takes one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(u64);

impl Time {
    pub const ZERO: Time = Time(0);

    /// ```
    /// use std::time::Duration;
    /// use switchyard_algorithms::Time;
    ///
    /// let t = Time::from_millis(1_500);
    /// assert_eq!(t + Duration::from_millis(500), Time::from_secs(2));
    /// assert_eq!(Time::from_secs(2).since(t), Duration::from_millis(500));
    /// ```
    #[inline]
    pub const fn from_millis(ms: u64) -> Self {
        Time(ms)
    }

    pub const fn from_secs(s: u64) -> Self {
        Time(s.saturating_mul(1000))
    }

    #[inline]
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, zero if `earlier` is later.
    #[inline]
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    #[inline]
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// A target's stable identity: the instance id for a fleet, the address for a static list.
/// Cheap to clone (shared string).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetId(Arc<str>);

impl TargetId {
    /// ```
    /// use switchyard_algorithms::TargetId;
    ///
    /// let id = TargetId::new("i-0abc");
    /// assert_eq!(id.as_str(), "i-0abc");
    /// assert_eq!(id, TargetId::from("i-0abc"));
    /// ```
    pub fn new(id: impl AsRef<str>) -> Self {
        TargetId(Arc::from(id.as_ref()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for TargetId {
    fn from(s: &str) -> Self {
        TargetId::new(s)
    }
}

/// Relative capacity of a target: a weight-2 target gets twice the requests of a weight-1 one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Weight(NonZeroU32);

impl Weight {
    pub const ONE: Weight = Weight(NonZeroU32::MIN);

    /// `None` for zero: a target that should get nothing is left out of the set (or drained).
    ///
    /// ```
    /// use switchyard_algorithms::Weight;
    ///
    /// assert_eq!(Weight::new(3).map(Weight::get), Some(3));
    /// assert_eq!(Weight::new(0), None);
    /// ```
    pub const fn new(w: u32) -> Option<Self> {
        match NonZeroU32::new(w) {
            Some(w) => Some(Weight(w)),
            None => None,
        }
    }

    #[inline]
    pub const fn get(self) -> u32 {
        self.0.get()
    }
}

impl Default for Weight {
    fn default() -> Self {
        Weight::ONE
    }
}

/// Health as discovery reports it (the Auto Scaling group, a health check). Passive health —
/// ejecting a target that keeps failing — is kept apart, in [`OutlierConfig`](crate::health::OutlierConfig) and the
/// balancer's per-target state, because it changes per request while this changes only when
/// discovery runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Health {
    #[default]
    Healthy,
    /// Leaving (scale-in, deregistration): finishes what it has, receives nothing new.
    Draining,
    /// Failed a health check; usable again from the given instant.
    EjectedUntil(Time),
    /// Judged unhealthy by the group's active health check ([`crate::checks`]): no new requests
    /// until a check judges it healthy again. The panic threshold still applies, so a fleet the
    /// checks call all unhealthy is still served (fail open).
    Unhealthy,
}

impl Health {
    /// Whether the target may take new requests at `now`.
    #[inline]
    pub fn admits(self, now: Time) -> bool {
        match self {
            Health::Healthy => true,
            Health::Draining | Health::Unhealthy => false,
            Health::EjectedUntil(until) => now >= until,
        }
    }
}

/// A server requests can be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub id: TargetId,
    /// `host:port` the router connects to. Never taken from the client.
    pub address: String,
    pub weight: Weight,
    pub health: Health,
    /// When the target joined; its share ramps up from here during slow start.
    pub started_at: Time,
}

impl Target {
    /// A healthy target of weight 1 that has been up since the epoch (no slow start).
    ///
    /// ```
    /// use switchyard_algorithms::{Health, Target, Time, Weight};
    ///
    /// let target = Target::new("i-0abc", "10.0.0.7:8080")
    ///     .with_weight(Weight::new(2).unwrap())
    ///     .started_at(Time::from_secs(60));
    /// assert_eq!(target.health, Health::Healthy);
    /// assert_eq!(target.weight.get(), 2);
    /// ```
    pub fn new(id: impl AsRef<str>, address: impl Into<String>) -> Self {
        Target {
            id: TargetId::new(id),
            address: address.into(),
            weight: Weight::ONE,
            health: Health::Healthy,
            started_at: Time::ZERO,
        }
    }

    pub fn with_weight(mut self, weight: Weight) -> Self {
        self.weight = weight;
        self
    }

    pub fn with_health(mut self, health: Health) -> Self {
        self.health = health;
        self
    }

    pub fn started_at(mut self, at: Time) -> Self {
        self.started_at = at;
        self
    }
}

/// An immutable, validated set of targets, sorted by id so that the same membership always gives
/// the same indices (and the same hash ring) in every router process.
///
/// Rebuilding on a discovery change is a sort and a copy; selectors build their own structures
/// from it once and are swapped in whole (the pingora model).
#[derive(Debug, Clone, Default)]
pub struct TargetSet {
    targets: Arc<[Target]>,
}

impl TargetSet {
    /// Fails on duplicate ids: two entries for one server would double its share silently.
    ///
    /// ```
    /// use switchyard_algorithms::{Error, Target, TargetSet};
    ///
    /// let set = TargetSet::new(vec![Target::new("b", "b:80"), Target::new("a", "a:80")]).unwrap();
    /// assert_eq!(set.position("a"), Some(0), "sorted by id");
    /// let twice = TargetSet::new(vec![Target::new("a", "a:80"), Target::new("a", "a:81")]);
    /// assert!(matches!(twice, Err(Error::DuplicateTarget(_))));
    /// ```
    pub fn new(mut targets: Vec<Target>) -> Result<Self, Error> {
        if targets.len() > MAX_TARGETS {
            return Err(Error::TooManyTargets(targets.len()));
        }
        targets.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        if let Some(pair) = targets.windows(2).find(|pair| pair[0].id == pair[1].id) {
            return Err(Error::DuplicateTarget(pair[0].id.clone()));
        }
        Ok(TargetSet { targets: targets.into() })
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    pub fn get(&self, index: usize) -> Option<&Target> {
        self.targets.get(index)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Target> {
        self.targets.iter()
    }

    pub fn as_slice(&self) -> &[Target] {
        &self.targets
    }

    /// Index of the target with this id (binary search: the set is sorted by id).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.targets.binary_search_by(|t| t.id.as_str().cmp(id)).ok()
    }
}

impl std::ops::Index<usize> for TargetSet {
    type Output = Target;
    fn index(&self, index: usize) -> &Target {
        &self.targets[index]
    }
}
