//! The signals a scaling decision reads: the fleet as Auto Scaling describes it, the queue, metric
//! samples. Plain data, validated where a value could be invalid.

use std::time::Duration;

use crate::error::Error;
use crate::target::Time;

/// A fleet's size limits, validated once: `min ≤ max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    min: u32,
    max: u32,
}

impl Bounds {
    pub fn new(min: u32, max: u32) -> Result<Self, Error> {
        if min > max {
            return Err(Error::InvalidConfig(format!("min {min} is above max {max}")));
        }
        Ok(Bounds { min, max })
    }

    pub fn min(self) -> u32 {
        self.min
    }

    pub fn max(self) -> u32 {
        self.max
    }

    pub fn clamp(self, n: u32) -> u32 {
        n.clamp(self.min, self.max)
    }
}

/// A fleet as the Auto Scaling group describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetState {
    /// Desired capacity now (includes instances still booting).
    pub desired: u32,
    /// Instances InService and healthy: the ones producing metrics.
    pub in_service: u32,
    /// Instances launched but not yet in service (Pending, warming up).
    pub pending: u32,
    pub bounds: Bounds,
}

/// Where an age of the oldest message came from: the policy says which it used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeSource {
    /// `ApproximateAgeOfOldestMessage` from CloudWatch (lags by minutes) or a producer's stamp.
    Reported,
    /// Little's law: backlog ÷ arrival rate.
    Estimated,
}

/// A queue's state, from GetQueueAttributes (immediate) and what else is known.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct QueueState {
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
    /// Age of the oldest message, if a source reports it (SQS's attributes do not).
    pub oldest_age: Option<Duration>,
    /// Messages arriving per second, if estimated (e.g. NumberOfMessagesSent over a minute).
    pub arrival_rate: Option<f64>,
}

/// A metric value at a time, as GetMetricData returns it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSample {
    pub at: Time,
    pub value: f64,
}

/// The newest sample no older than `max_age` at `now`: CloudWatch may return nothing for the last
/// period yet, or only old data; a stale value is treated as missing.
pub fn latest_sample(samples: &[MetricSample], now: Time, max_age: Duration) -> Option<f64> {
    samples
        .iter()
        .filter(|s| s.at <= now && now.since(s.at) <= max_age && s.value.is_finite())
        .max_by_key(|s| s.at)
        .map(|s| s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_samples_are_missing() {
        let now = Time::from_secs(1000);
        let samples = [
            MetricSample { at: Time::from_secs(700), value: 5.0 },
            MetricSample { at: Time::from_secs(900), value: 7.0 },
        ];
        assert_eq!(latest_sample(&samples, now, Duration::from_secs(120)), Some(7.0));
        assert_eq!(latest_sample(&samples, now, Duration::from_secs(60)), None);
    }
}
