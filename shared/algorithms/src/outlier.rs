//! Passive health: outlier ejection, as Envoy does it (`outlier_detection`, consecutive 5xx).
//!
//! After `consecutive_failures` failures in a row a target is ejected: it gets no new requests
//! for `base_ejection × k`, where k counts its recent ejections (capped at `max_ejection`), so a
//! target that keeps failing stays out longer each time. k decays by one for every
//! `base_ejection` the target spends back in service. At most `max_ejected_share` of the set is
//! ejected at once (always at least one target may be), so a fleet-wide failure — often the
//! router's own network — cannot eject every target.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::{Error, Time};

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
