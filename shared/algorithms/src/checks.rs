//! Active health checks: a target's health from probes, as an Application Load Balancer judges it.
//!
//! ALB's model (Elastic Load Balancing user guide, "Health checks for Application Load Balancer
//! target groups"): a probe passes when the target answers within the timeout with a status the
//! matcher accepts. A target becomes unhealthy after `unhealthy_threshold` failed probes in a row
//! and healthy again after `healthy_threshold` passed probes in a row. A new target is healthy
//! after its first passed probe (ALB's "initial" state ends with one success) and unhealthy after
//! `unhealthy_threshold` failures, so one slow first probe does not take a fresh instance out.
//!
//! Fail open, also ALB's: when every target of a group is unhealthy — or more than the configured
//! share — the checks are more likely wrong than the fleet (a bad health path in a deploy, the
//! checker's own network), so no target is marked and the caller raises an alarm instead
//! ([`FleetVerdict::fail_open`]).

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::Error;

/// Which HTTP status codes pass a probe: ALB's `Matcher.HttpCode`, a list of codes and ranges
/// ("200", "200,202", "200-299"), each within 200–499.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher(Vec<(u16, u16)>);

impl Matcher {
    /// Parse ALB's syntax. Refuses codes outside 200–499 (ALB's limit for HTTP) and empty or
    /// reversed ranges.
    ///
    /// ```
    /// use switchyard_algorithms::checks::Matcher;
    ///
    /// let m = Matcher::parse("200,202-204").unwrap();
    /// assert!(m.accepts(203) && !m.accepts(201));
    /// assert!(Matcher::parse("500").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidConfig(format!("health check matcher {text:?}: {why}"));
        let code = |s: &str| -> Result<u16, Error> {
            let c: u16 = s.trim().parse().map_err(|_| bad("codes are numbers, e.g. 200,202 or 200-299"))?;
            if (200..=499).contains(&c) { Ok(c) } else { Err(bad("codes must be within 200-499")) }
        };
        let mut ranges = Vec::new();
        for part in text.split(',') {
            let range = match part.split_once('-') {
                Some((low, high)) => (code(low)?, code(high)?),
                None => {
                    let c = code(part)?;
                    (c, c)
                }
            };
            if range.0 > range.1 {
                return Err(bad("a range must run from low to high"));
            }
            ranges.push(range);
        }
        Ok(Matcher(ranges))
    }

    pub fn accepts(&self, status: u16) -> bool {
        self.0.iter().any(|&(low, high)| (low..=high).contains(&status))
    }
}

impl Default for Matcher {
    /// ALB's default: 200.
    fn default() -> Self {
        Matcher(vec![(200, 200)])
    }
}

/// A group's health check settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: NonZeroU32,
    pub unhealthy_threshold: NonZeroU32,
    pub matcher: Matcher,
    /// Above this share of unhealthy targets (in `(0, 1]`), none is marked: fail open. 1 means
    /// only when every target fails, as ALB.
    pub fail_open_share: f64,
}

impl Default for CheckConfig {
    /// ALB's defaults for HTTP: `/`, every 30 s, 5 s timeout, 5 healthy and 2 unhealthy in a row,
    /// status 200; fail open when all fail.
    fn default() -> Self {
        CheckConfig {
            path: "/".into(),
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
            healthy_threshold: NonZeroU32::new(5).unwrap_or(NonZeroU32::MIN),
            unhealthy_threshold: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            matcher: Matcher::default(),
            fail_open_share: 1.0,
        }
    }
}

impl CheckConfig {
    /// The settings, if they hold together: ALB's bounds (interval 5–300 s, timeout 2–120 s and
    /// below the interval, thresholds 2–10), a path from the root, a share in (0, 1].
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard_algorithms::checks::CheckConfig;
    ///
    /// assert!(CheckConfig::default().validate().is_ok());
    /// let late = CheckConfig { timeout: Duration::from_secs(30), ..Default::default() };
    /// assert!(late.validate().is_err(), "the timeout must be below the interval");
    /// ```
    pub fn validate(self) -> Result<Self, Error> {
        let bad = |why: String| Err(Error::InvalidConfig(format!("health check: {why}")));
        let secs = |d: Duration| d.as_secs_f64();
        if !(5.0..=300.0).contains(&secs(self.interval)) {
            return bad(format!("interval must be 5-300 s, got {} s", secs(self.interval)));
        }
        if !(2.0..=120.0).contains(&secs(self.timeout)) || self.timeout >= self.interval {
            return bad(format!("timeout must be 2-120 s and below the interval, got {} s", secs(self.timeout)));
        }
        for (name, t) in [("healthy", self.healthy_threshold), ("unhealthy", self.unhealthy_threshold)] {
            if !(2..=10).contains(&t.get()) {
                return bad(format!("{name} threshold must be 2-10, got {t}"));
            }
        }
        if !self.path.starts_with('/') || self.path.len() > 1024 || self.path.chars().any(char::is_control) {
            return bad(format!("path must start with / (at most 1024 characters), got {:?}", self.path));
        }
        if !(self.fail_open_share > 0.0 && self.fail_open_share <= 1.0) {
            return bad(format!("fail-open share must be within (0, 1], got {}", self.fail_open_share));
        }
        Ok(self)
    }
}

/// Where a target stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Not judged yet: a new target, or one the checker has not seen since it started.
    #[default]
    Initial,
    Healthy,
    Unhealthy,
}

/// One target's record: its verdict and how many probes in a row have disagreed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TargetHealth {
    pub verdict: Verdict,
    streak: u32,
}

impl TargetHealth {
    /// A record that starts from a verdict reached earlier (by another run of the checker).
    pub fn from_verdict(verdict: Verdict) -> Self {
        TargetHealth { verdict, streak: 0 }
    }

    /// Count one probe; returns the new verdict when it changed.
    ///
    /// ```
    /// use switchyard_algorithms::checks::{CheckConfig, TargetHealth, Verdict};
    ///
    /// let config = CheckConfig::default(); // 5 healthy, 2 unhealthy in a row
    /// let mut t = TargetHealth::default();
    /// assert_eq!(t.record(true, &config), Some(Verdict::Healthy), "one pass ends 'initial'");
    /// assert_eq!(t.record(false, &config), None);
    /// assert_eq!(t.record(false, &config), Some(Verdict::Unhealthy));
    /// ```
    pub fn record(&mut self, passed: bool, config: &CheckConfig) -> Option<Verdict> {
        let (agrees, needed, next) = match (self.verdict, passed) {
            (Verdict::Initial, true) => (false, 1, Verdict::Healthy),
            (Verdict::Initial, false) => (false, config.unhealthy_threshold.get(), Verdict::Unhealthy),
            (Verdict::Healthy, true) | (Verdict::Unhealthy, false) => (true, 0, self.verdict),
            (Verdict::Healthy, false) => (false, config.unhealthy_threshold.get(), Verdict::Unhealthy),
            (Verdict::Unhealthy, true) => (false, config.healthy_threshold.get(), Verdict::Healthy),
        };
        if agrees {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak >= needed {
            self.verdict = next;
            self.streak = 0;
            return Some(next);
        }
        None
    }
}

/// What a group's verdicts add up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetVerdict {
    pub healthy: usize,
    pub unhealthy: usize,
    /// Too many targets fail to believe the checks: mark none, raise the alarm.
    pub fail_open: bool,
}

impl FleetVerdict {
    /// Count `verdicts` (targets not judged yet count as neither) and decide fail-open.
    ///
    /// ```
    /// use switchyard_algorithms::checks::{FleetVerdict, Verdict::*};
    ///
    /// assert!(!FleetVerdict::of(&[Healthy, Unhealthy, Healthy], 1.0).fail_open);
    /// assert!(FleetVerdict::of(&[Unhealthy, Unhealthy], 1.0).fail_open, "all fail: fail open");
    /// assert!(FleetVerdict::of(&[Healthy, Unhealthy, Unhealthy], 0.5).fail_open, "2 of 3 > 50 %");
    /// ```
    pub fn of(verdicts: &[Verdict], fail_open_share: f64) -> Self {
        let healthy = verdicts.iter().filter(|v| **v == Verdict::Healthy).count();
        let unhealthy = verdicts.iter().filter(|v| **v == Verdict::Unhealthy).count();
        let judged = verdicts.len();
        let fail_open = unhealthy > 0 && (unhealthy == judged || unhealthy as f64 > fail_open_share * judged as f64);
        FleetVerdict { healthy, unhealthy, fail_open }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(healthy: u32, unhealthy: u32) -> CheckConfig {
        CheckConfig {
            healthy_threshold: NonZeroU32::new(healthy).unwrap(),
            unhealthy_threshold: NonZeroU32::new(unhealthy).unwrap(),
            ..Default::default()
        }
    }

    #[test]
    fn an_unhealthy_target_needs_the_healthy_threshold_of_passes_in_a_row() {
        let c = config(3, 2);
        let mut t = TargetHealth::from_verdict(Verdict::Unhealthy);
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(true, &c), None);
        assert_eq!(t.record(false, &c), None, "a failure resets the streak");
        assert_eq!((t.record(true, &c), t.record(true, &c)), (None, None));
        assert_eq!(t.record(true, &c), Some(Verdict::Healthy));
    }

    #[test]
    fn a_healthy_target_survives_isolated_failures() {
        let c = config(5, 3);
        let mut t = TargetHealth::from_verdict(Verdict::Healthy);
        for _ in 0..10 {
            assert_eq!(t.record(false, &c), None);
            assert_eq!(t.record(false, &c), None);
            assert_eq!(t.record(true, &c), None);
        }
        assert_eq!((t.record(false, &c), t.record(false, &c)), (None, None));
        assert_eq!(t.record(false, &c), Some(Verdict::Unhealthy));
    }

    #[test]
    fn a_new_target_is_judged_unhealthy_only_after_the_unhealthy_threshold() {
        let c = config(5, 2);
        let mut t = TargetHealth::default();
        assert_eq!(t.record(false, &c), None);
        assert_eq!(t.verdict, Verdict::Initial);
        assert_eq!(t.record(false, &c), Some(Verdict::Unhealthy));
    }

    #[test]
    fn targets_not_judged_yet_do_not_trigger_fail_open() {
        let v = FleetVerdict::of(&[Verdict::Unhealthy, Verdict::Initial, Verdict::Healthy], 1.0);
        assert_eq!(v, FleetVerdict { healthy: 1, unhealthy: 1, fail_open: false });
        assert!(!FleetVerdict::of(&[], 1.0).fail_open, "no target, nothing to open");
        assert!(!FleetVerdict::of(&[Verdict::Initial, Verdict::Initial], 1.0).fail_open);
    }

    #[test]
    fn matcher_reads_alb_syntax_and_refuses_the_rest() {
        let m = Matcher::parse("200-299, 404").unwrap();
        assert!(m.accepts(200) && m.accepts(299) && m.accepts(404) && !m.accepts(300));
        for bad in ["", "abc", "199", "500", "300-200", "200-", "200,,201"] {
            assert!(Matcher::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn settings_outside_albs_bounds_are_refused_with_the_field() {
        let cases = [
            (CheckConfig { interval: Duration::from_secs(4), ..Default::default() }, "interval"),
            (CheckConfig { timeout: Duration::from_secs(1), ..Default::default() }, "timeout"),
            (config(11, 2), "healthy threshold"),
            (config(5, 1), "unhealthy threshold"),
            (CheckConfig { path: "health".into(), ..Default::default() }, "path"),
            (CheckConfig { fail_open_share: 0.0, ..Default::default() }, "fail-open share"),
        ];
        for (c, field) in cases {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(field), "{e}");
        }
    }
}
