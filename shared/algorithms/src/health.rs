//! Health: whether a target may take new requests, as the balancer sees it.
//!
//! Three rules, all Envoy's, each kept apart from how targets are chosen (pingora's split):
//! - **Outlier ejection** (`outlier_detection`, consecutive 5xx): after `consecutive_failures`
//!   failures in a row a target is ejected: it gets no new requests for `base_ejection × k`, where
//!   k counts its recent ejections (capped at `max_ejection`), so a target that keeps failing stays
//!   out longer each time. k decays by one for every `base_ejection` the target spends back in
//!   service. At most `max_ejected_share` of the set is ejected at once (always at least one
//!   target may be), so a fleet-wide failure — often the router's own network — cannot eject
//!   every target.
//! - **Panic threshold**: below a share of usable targets, health is ignored ([`in_panic`]).
//! - **Slow start** (`slow_start_config`): a new target's share ramps up ([`SlowStart`]).
//!
//! [`Usability`] surveys a set once per change of its usable members, so that the balancer
//! filters health once instead of every selector checking it per candidate.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::error::Error;
use crate::hash::{fmix64, hash_bytes};
use crate::target::{Health, Target, Time};

/// Outcome of one attempt at a target: what passive health learns from a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// A timeout, a broken answer, or a 5xx from the target.
    Failure,
    /// The connection could not be made (refused, unreachable, connect timeout): Envoy's
    /// local-origin failure. Certain, and cheap to see, so it takes the target out of first
    /// attempts at once, for [`REFUSED_BACKOFF`] doubling per refusal in a row (up to the base
    /// ejection time), outside the ejection cap: a fleet with most targets down stops wasting
    /// first attempts on them within about a second. The panic threshold still applies.
    Refused,
}

/// How long a target that refused a connection is left out of first attempts the first time.
pub const REFUSED_BACKOFF: Duration = Duration::from_secs(1);

/// Outlier-ejection settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutlierConfig {
    pub consecutive_failures: NonZeroU32,
    pub base_ejection: Duration,
    pub max_ejection: Duration,
    /// Share of the set that may be ejected at once, in `[0, 1]`.
    pub max_ejected_share: f64,
}

impl Default for OutlierConfig {
    /// Envoy's defaults: 5 consecutive failures, 30 s base, 300 s cap, 10 % of the set.
    fn default() -> Self {
        OutlierConfig {
            consecutive_failures: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_share: 0.1,
        }
    }
}

impl OutlierConfig {
    /// The settings, if they hold together: a share in [0, 1], and 0 < base ≤ max ejection.
    ///
    /// ```
    /// use switchyard_algorithms::OutlierConfig;
    ///
    /// assert!(OutlierConfig::default().validate().is_ok());
    /// assert!(OutlierConfig { max_ejected_share: 1.5, ..Default::default() }.validate().is_err());
    /// ```
    pub fn validate(self) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&self.max_ejected_share) {
            return Err(Error::InvalidConfig(format!(
                "max ejected share must be within [0, 1], got {}",
                self.max_ejected_share
            )));
        }
        if self.base_ejection.is_zero() || self.max_ejection < self.base_ejection {
            return Err(Error::InvalidConfig("ejection times must satisfy 0 < base ≤ max".into()));
        }
        Ok(self)
    }

    /// How many of `targets` may be ejected at the same time (at least one).
    pub fn max_ejected(&self, targets: usize) -> usize {
        ((self.max_ejected_share * targets as f64).floor() as usize).max(1)
    }

    /// The multiplier for a new ejection of a target ejected `previous` times, the last one
    /// ending at `last_until`: recent ejections count, old ones decay.
    pub fn next_multiplier(&self, previous: u32, last_until: Time, now: Time) -> u32 {
        let base_ms = self.base_ejection.as_millis().max(1);
        let served = now.since(last_until).as_millis();
        let decayed = u32::try_from(served / base_ms).unwrap_or(u32::MAX);
        previous.saturating_sub(decayed).saturating_add(1)
    }

    /// How long an ejection with this multiplier lasts.
    pub fn ejection_time(&self, multiplier: u32) -> Duration {
        self.base_ejection.saturating_mul(multiplier).min(self.max_ejection)
    }
}

/// A target taken out of rotation: the router logs it as a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ejection {
    pub index: usize,
    pub until: Time,
    /// Which ejection of this target in a row this is (1 for the first).
    pub multiplier: u32,
}

/// What passive health remembers about one target: its failure streak and its ejections.
#[derive(Debug, Default)]
pub struct OutlierState {
    consecutive_failures: AtomicU32,
    ejections: AtomicU32,
    ejected_until: AtomicU64,
    refusals: AtomicU32,
    refused_until: AtomicU64,
}

impl OutlierState {
    /// Until when the target takes no first attempt: ejected, or backing off after a refused
    /// connection ([`Time::ZERO`] if neither ever happened).
    #[inline]
    pub fn ejected_until(&self) -> Time {
        Time::from_millis(self.ejected_until.load(Relaxed).max(self.refused_until.load(Relaxed)))
    }

    /// Until when the target is backing off after a refused connection.
    #[inline]
    pub fn refused_until(&self) -> Time {
        Time::from_millis(self.refused_until.load(Relaxed))
    }

    /// Until when the target is ejected for its failure streak alone: what the ejection cap counts.
    #[inline]
    pub fn streak_ejected_until(&self) -> Time {
        Time::from_millis(self.ejected_until.load(Relaxed))
    }

    /// Count `outcome`; on the failure that completes a streak, eject the target and say until
    /// when. `ejected_now` counts the targets of the set ejected at `now`: it is asked only then,
    /// as it costs a pass over the set.
    pub fn record(
        &self,
        outcome: Outcome,
        now: Time,
        config: &OutlierConfig,
        set_len: usize,
        ejected_now: impl FnOnce() -> usize,
    ) -> Option<(Time, u32)> {
        match outcome {
            Outcome::Success => {
                self.consecutive_failures.store(0, Relaxed);
                self.refusals.store(0, Relaxed);
                return None;
            }
            Outcome::Refused => {
                let refusals = self.refusals.fetch_add(1, Relaxed).saturating_add(1);
                let backoff = REFUSED_BACKOFF.saturating_mul(1 << (refusals - 1).min(16)).min(config.base_ejection);
                let until = now + backoff;
                self.refused_until.store(until.as_millis(), Relaxed);
                return Some((until, refusals));
            }
            Outcome::Failure => {}
        }
        let failures = self.consecutive_failures.fetch_add(1, Relaxed).saturating_add(1);
        if failures < config.consecutive_failures.get() || self.streak_ejected_until() > now {
            return None;
        }
        if ejected_now() >= config.max_ejected(set_len) {
            return None;
        }
        let multiplier = config.next_multiplier(self.ejections.load(Relaxed), self.streak_ejected_until(), now);
        let until = now + config.ejection_time(multiplier);
        self.ejections.store(multiplier, Relaxed);
        self.ejected_until.store(until.as_millis(), Relaxed);
        self.consecutive_failures.store(0, Relaxed);
        Some((until, multiplier))
    }
}

/// Whether a target may take new requests at `now`: healthy as discovered, and not ejected.
#[inline]
pub fn admits(health: Health, ejected_until: Time, now: Time) -> bool {
    health.admits(now) && ejected_until <= now
}

/// Envoy's panic rule: with fewer than `threshold` × `total` targets usable, health is ignored and
/// every target is used — better to spread over all than to crush the few left. A threshold of 0
/// disables it: then a set with nothing usable has nothing to pick.
#[inline]
pub fn in_panic(threshold: f64, usable: usize, total: usize) -> bool {
    threshold > 0.0 && (usable == 0 || (usable as f64) < threshold * total as f64)
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard_algorithms::{SlowStart, Time};
    ///
    /// let ramp = SlowStart::new(Duration::from_secs(60)).unwrap();
    /// assert_eq!(ramp.factor(Time::ZERO, Time::from_secs(30)), 0.5);
    /// assert_eq!(ramp.factor(Time::ZERO, Time::ZERO), 0.1, "never below the minimum");
    /// assert!(SlowStart::new(Duration::ZERO).is_err());
    /// ```
    pub fn new(window: Duration) -> Result<Self, Error> {
        Self::with_min_factor(window, 0.1)
    }

    /// A ramp that starts at `min_factor` (in (0, 1]) of the weight.
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard_algorithms::SlowStart;
    ///
    /// assert!(SlowStart::with_min_factor(Duration::from_secs(60), 0.25).is_ok());
    /// assert!(SlowStart::with_min_factor(Duration::from_secs(60), 0.0).is_err());
    /// ```
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

/// Which targets of a set are usable, and whether the set is in panic, surveyed again only when
/// that can have changed: after an ejection ([`Usability::invalidate`]), or once the earliest
/// ejection (passive or from discovery) runs out.
#[derive(Debug)]
pub struct Usability {
    /// The share of usable targets below which the set is in panic ([`in_panic`]).
    panic_threshold: f64,
    usable: AtomicU32,
    panic: AtomicBool,
    /// 1 / usable weight (`f64` bits): the bounded-load limit multiplies instead of dividing.
    inv_usable_weight: AtomicU64,
    next_change: AtomicU64,
    /// Which targets are usable, as a fingerprint: what is built for the usable members is
    /// rebuilt only when it changes.
    fingerprint: AtomicU64,
}

/// The usable members of a set at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Survey {
    pub usable: usize,
    /// Too few targets are usable: health is ignored and every target is used ([`in_panic`]).
    pub panic: bool,
    /// 1 / the total weight of the targets picks choose from: the usable ones, or all of them in
    /// panic (1 when there are none).
    pub inv_usable_weight: f64,
    /// Which targets are usable, as a hash of their ids: equal fingerprints, equal members.
    pub fingerprint: u64,
}

impl Usability {
    /// Not surveyed yet; the set will be in panic below `panic_threshold` of usable targets.
    pub fn new(panic_threshold: f64) -> Self {
        Usability {
            panic_threshold,
            usable: AtomicU32::new(0),
            panic: AtomicBool::new(false),
            inv_usable_weight: AtomicU64::new(0),
            next_change: AtomicU64::new(0),
            fingerprint: AtomicU64::new(0),
        }
    }

    /// Survey `targets` at `now`; `ejected_until(i)` is target i's passive ejection.
    #[inline]
    pub fn survey(&self, targets: &[Target], ejected_until: impl Fn(usize) -> Time, now: Time) -> Survey {
        if now.as_millis() < self.next_change.load(Relaxed) {
            return Survey {
                usable: self.usable.load(Relaxed) as usize,
                panic: self.panic.load(Relaxed),
                inv_usable_weight: f64::from_bits(self.inv_usable_weight.load(Relaxed)),
                fingerprint: self.fingerprint.load(Relaxed),
            };
        }
        self.resurvey(targets, ejected_until, now)
    }

    #[cold]
    fn resurvey(&self, targets: &[Target], ejected_until: impl Fn(usize) -> Time, now: Time) -> Survey {
        let mut usable = 0u32;
        let mut weight = 0u64;
        let mut all_weight = 0u64;
        let mut next_change = u64::MAX;
        let mut fingerprint = 0u64;
        for (index, target) in targets.iter().enumerate() {
            all_weight += u64::from(target.weight.get());
            let until = ejected_until(index);
            if until > now {
                next_change = next_change.min(until.as_millis());
            }
            if let Health::EjectedUntil(until) = target.health
                && until > now
            {
                next_change = next_change.min(until.as_millis());
            }
            if admits(target.health, until, now) {
                usable += 1;
                weight += u64::from(target.weight.get());
                fingerprint = fmix64(fingerprint ^ hash_bytes(target.id.as_str().as_bytes()));
            }
        }
        self.fingerprint.store(fingerprint, Relaxed);
        let panic = in_panic(self.panic_threshold, usable as usize, targets.len());
        let inv_usable_weight = 1.0 / if panic { all_weight } else { weight }.max(1) as f64;
        self.usable.store(usable, Relaxed);
        self.panic.store(panic, Relaxed);
        self.inv_usable_weight.store(inv_usable_weight.to_bits(), Relaxed);
        self.next_change.store(next_change, Relaxed);
        Survey { usable: usable as usize, panic, inv_usable_weight, fingerprint }
    }

    /// Survey again at the next call: an ejection has changed the usable members.
    pub fn invalidate(&self) {
        self.next_change.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ejection_grows_with_repeats_and_is_capped() {
        let c = OutlierConfig::default();
        assert_eq!(c.ejection_time(1), Duration::from_secs(30));
        assert_eq!(c.ejection_time(3), Duration::from_secs(90));
        assert_eq!(c.ejection_time(50), Duration::from_secs(300));
    }

    #[test]
    fn repeats_decay_while_the_target_serves() {
        let c = OutlierConfig::default();
        let until = Time::from_secs(100);
        assert_eq!(c.next_multiplier(2, until, until), 3, "ejected again at once: longer");
        assert_eq!(c.next_multiplier(2, until, Time::from_secs(160)), 1, "60 s of service undoes two");
    }

    #[test]
    fn at_least_one_target_may_be_ejected() {
        let c = OutlierConfig::default();
        assert_eq!(c.max_ejected(3), 1);
        assert_eq!(c.max_ejected(40), 4);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(OutlierConfig { max_ejected_share: 1.5, ..Default::default() }.validate().is_err());
        assert!(OutlierConfig { base_ejection: Duration::ZERO, ..Default::default() }.validate().is_err());
    }
}
