//! Arrival traces: messages (or, for the web traces, requests) per minute over the run.

use std::f64::consts::PI;
use std::path::Path;

/// A trace's shape.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    /// The same rate all run.
    Constant { per_minute: f64, minutes: usize },
    /// A quiet baseline, then a burst 20× as large for 10 minutes: a batch upload, a marketing push.
    Spike { base_per_minute: f64, minutes: usize },
    /// A day compressed into the run: low at night, high at midday.
    Diurnal { peak_per_minute: f64, minutes: usize },
    /// Ramps from zero to a peak, drops, again: periodic batch producers.
    Sawtooth { peak_per_minute: f64, period_minutes: usize, minutes: usize },
    /// Hours of sparse single messages (one every 5 to 20 minutes), then a nightly dump of
    /// `dump` messages within `dump_minutes`, then sparse singles again.
    NightlyBatch { dump: f64, dump_minutes: usize, minutes: usize },
    /// A flash sale: a base rate, a rise to ×50 within three minutes, a slow (exponential)
    /// decay, and an aftershock at ×20 half an hour after the peak.
    FlashSale { base_per_minute: f64, minutes: usize },
    /// A web app used in office hours, over `days` from a Monday 00:00: on weekdays requests ramp
    /// up from 08:30 to `peak_per_minute` at 09:30 and down from 17:30 to none at 18:30, dip to
    /// 60 % over lunch (12:00–13:00), and burst to 3× for two 15-minute spells a day. Nights and
    /// weekends are idle but for stray requests (a monitor, a crawler, someone working late): a
    /// minute holds one with probability 1/180, about one every three hours. The same on every
    /// run; the simulation's seed draws the arrivals.
    SparseWeb { peak_per_minute: f64, days: usize },
    /// Per-minute counts read from a file.
    Recorded(Vec<f64>),
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} line {line}: expected a count of messages per minute (or `minute,count`), got {text:?}")]
    Parse { path: String, line: usize, text: String },
    #[error("{0} has no counts")]
    Empty(String),
    #[error(
        "unknown trace {0:?}: use constant, spike, diurnal, sawtooth, nightly-batch, flash-sale, sparse-web or a CSV file path"
    )]
    Unknown(String),
}

impl Trace {
    /// The built-in traces by name, or a CSV file of per-minute counts.
    pub fn parse(spec: &str) -> Result<Self, TraceError> {
        match spec {
            "constant" => Ok(Trace::Constant { per_minute: 600.0, minutes: 120 }),
            "spike" => Ok(Trace::Spike { base_per_minute: 120.0, minutes: 120 }),
            "diurnal" => Ok(Trace::Diurnal { peak_per_minute: 1200.0, minutes: 360 }),
            "sawtooth" => Ok(Trace::Sawtooth { peak_per_minute: 1200.0, period_minutes: 30, minutes: 180 }),
            "nightly-batch" => Ok(Trace::NightlyBatch { dump: 20_000.0, dump_minutes: 4, minutes: 360 }),
            "flash-sale" => Ok(Trace::FlashSale { base_per_minute: 40.0, minutes: 180 }),
            "sparse-web" => Ok(Trace::SparseWeb { peak_per_minute: 600.0, days: 7 }),
            path if path.ends_with(".csv") => Self::from_csv(Path::new(path)),
            other => Err(TraceError::Unknown(other.to_owned())),
        }
    }

    /// One count per line (`count` or `minute,count`); blank lines and `#` comments are skipped,
    /// and so is a first line that is not a number (a header).
    pub fn from_csv(path: &Path) -> Result<Self, TraceError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io { path: name.clone(), source })?;
        let mut counts = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let field = line.rsplit(',').next().unwrap_or(line).trim();
            match field.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => counts.push(v),
                _ if i == 0 => continue,
                _ => return Err(TraceError::Parse { path: name, line: i + 1, text: line.to_owned() }),
            }
        }
        if counts.is_empty() {
            return Err(TraceError::Empty(name));
        }
        Ok(Trace::Recorded(counts))
    }

    pub fn minutes(&self) -> usize {
        match self {
            Trace::Constant { minutes, .. }
            | Trace::Spike { minutes, .. }
            | Trace::Diurnal { minutes, .. }
            | Trace::Sawtooth { minutes, .. }
            | Trace::NightlyBatch { minutes, .. }
            | Trace::FlashSale { minutes, .. } => *minutes,
            Trace::SparseWeb { days, .. } => days * MINUTES_PER_DAY,
            Trace::Recorded(counts) => counts.len(),
        }
    }

    /// Whether the trace is web requests (served by a web fleet) rather than queue messages.
    pub fn is_web(&self) -> bool {
        matches!(self, Trace::SparseWeb { .. })
    }

    /// Expected messages in minute `m`.
    pub fn per_minute(&self, m: usize) -> f64 {
        match self {
            Trace::Constant { per_minute, .. } => *per_minute,
            Trace::Spike { base_per_minute, .. } => {
                if (30..40).contains(&m) {
                    base_per_minute * 20.0
                } else {
                    *base_per_minute
                }
            }
            Trace::Diurnal { peak_per_minute, minutes } => {
                let phase = m as f64 / *minutes as f64;
                peak_per_minute * (0.55 - 0.45 * (2.0 * PI * phase).cos())
            }
            Trace::Sawtooth { peak_per_minute, period_minutes, .. } => {
                let p = (*period_minutes).max(1);
                peak_per_minute * (m % p) as f64 / p as f64
            }
            Trace::NightlyBatch { dump, dump_minutes, minutes } => {
                let dump_at = minutes * 5 / 6;
                if (dump_at..dump_at + dump_minutes).contains(&m) {
                    dump / *dump_minutes as f64
                } else if sparse_single(m) {
                    1.0
                } else {
                    0.0
                }
            }
            Trace::FlashSale { base_per_minute, .. } => {
                let (start, aftershock) = (30, 75);
                let surge = match m {
                    m if m < start => 1.0,
                    // ×50 within three minutes.
                    m if m < start + 3 => 1.0 + 49.0 * (m - start + 1) as f64 / 3.0,
                    // A slow decay: the excess halves every 15 minutes.
                    m => 1.0 + 49.0 * 0.5f64.powf((m - start - 3) as f64 / 15.0),
                };
                let shock = if (aftershock..aftershock + 5).contains(&m) { 20.0 } else { 0.0 };
                base_per_minute * (surge + shock)
            }
            Trace::SparseWeb { peak_per_minute, .. } => {
                let working = office_hours(m) * peak_per_minute * if burst(m) { 3.0 } else { 1.0 };
                if working > 0.0 {
                    working
                } else if stray(m) {
                    1.0
                } else {
                    0.0
                }
            }
            Trace::Recorded(counts) => counts.get(m).copied().unwrap_or(0.0),
        }
    }
}

const MINUTES_PER_DAY: usize = 24 * 60;

/// The share of the peak in minute `m` of a week starting on a Monday: 0 at night and at weekends;
/// on weekdays a ramp from 08:30 to 09:30, the peak, 60 % over lunch, a ramp down from 17:30 to
/// 18:30.
fn office_hours(m: usize) -> f64 {
    let (day, minute) = (m / MINUTES_PER_DAY, m % MINUTES_PER_DAY);
    if day % 7 >= 5 {
        return 0.0;
    }
    let hour = minute as f64 / 60.0;
    let ramp = match hour {
        h if !(8.5..18.5).contains(&h) => 0.0,
        h if h < 9.5 => h - 8.5,
        h if h >= 17.5 => 18.5 - h,
        _ => 1.0,
    };
    let lunch = if (12.0..13.0).contains(&hour) { 0.6 } else { 1.0 };
    ramp * lunch
}

/// Whether minute `m` is in one of the weekday's two 15-minute bursts, each starting between
/// 09:30 and 17:00 (drawn per day, the same on every run).
fn burst(m: usize) -> bool {
    let (day, minute) = (m / MINUTES_PER_DAY, m % MINUTES_PER_DAY);
    let mut rng = switchyard_algorithms::hash::SplitMix64::new(0xb0_57ed ^ day as u64);
    (0..2).any(|_| {
        let start = 9 * 60 + 30 + rng.below(7 * 60 + 30);
        (start..start + 15).contains(&minute)
    })
}

/// Whether a stray request may come in minute `m` outside office hours: probability 1/180 per
/// minute, drawn per minute (the same on every run).
fn stray(m: usize) -> bool {
    switchyard_algorithms::hash::SplitMix64::new(0x57_4a ^ (m as u64).wrapping_mul(0x9e37_79b9)).below(180) == 0
}

/// Whether a sparse single message comes in minute `m`: gaps of 5 to 20 minutes, the same on
/// every run (a fixed sequence, apart from the simulation's seed).
fn sparse_single(m: usize) -> bool {
    let mut rng = switchyard_algorithms::hash::SplitMix64::new(0x5_1a61e5);
    let mut at = 0;
    while at < m {
        at += 5 + rng.below(16);
    }
    at == m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spike_is_twenty_times_the_base_for_ten_minutes() {
        let t = Trace::parse("spike").unwrap();
        assert_eq!(t.per_minute(29), 120.0);
        assert_eq!(t.per_minute(30), 2400.0);
        assert_eq!(t.per_minute(39), 2400.0);
        assert_eq!(t.per_minute(40), 120.0);
    }

    #[test]
    fn the_nightly_batch_is_sparse_singles_around_a_dump() {
        let t = Trace::parse("nightly-batch").unwrap();
        let singles: Vec<usize> = (0..300).filter(|&m| t.per_minute(m) == 1.0).collect();
        assert!(singles.windows(2).all(|w| (5..=20).contains(&(w[1] - w[0]))), "{singles:?}");
        let dump: f64 = (300..304).map(|m| t.per_minute(m)).sum();
        assert_eq!(dump, 20_000.0);
    }

    #[test]
    fn the_flash_sale_rises_fifty_fold_within_three_minutes() {
        let t = Trace::parse("flash-sale").unwrap();
        assert_eq!(t.per_minute(29), 40.0);
        assert_eq!(t.per_minute(32), 2000.0);
        assert!(t.per_minute(60) < t.per_minute(40) && t.per_minute(60) > 40.0, "a slow decay");
        assert!(t.per_minute(76) > t.per_minute(70) * 2.0, "an aftershock");
    }

    #[test]
    fn the_sparse_web_trace_works_office_hours_on_weekdays_only() {
        let t = Trace::parse("sparse-web").unwrap();
        assert!(t.is_web());
        assert_eq!(t.minutes(), 7 * 24 * 60);
        let day = |d: usize, hour: usize| d * 24 * 60 + hour * 60;
        // Wednesday 11:00 and 15:00: at least the peak (a burst may triple it).
        assert!(t.per_minute(day(2, 11)) >= 600.0 && t.per_minute(day(2, 15)) >= 600.0);
        assert_eq!(t.per_minute(day(2, 12) + 30), 360.0, "the lunch dip, unless a burst");
        // Nights and the weekend: only strays, at most one expected per minute.
        let quiet = (day(2, 19)..day(3, 8)).chain(day(5, 0)..day(7, 0));
        let strays: Vec<usize> = quiet.filter(|&m| t.per_minute(m) > 0.0).collect();
        assert!(strays.iter().all(|&m| t.per_minute(m) == 1.0));
        // About one every three hours: 13 h of a night and 48 h of a weekend.
        assert!((10..=35).contains(&strays.len()), "{} strays", strays.len());
        // Two bursts per weekday.
        let bursts = (day(1, 0)..day(2, 0)).filter(|&m| t.per_minute(m) > 1000.0).count();
        assert!((15..=30).contains(&bursts), "{bursts} burst minutes on Tuesday");
    }

    #[test]
    fn csv_accepts_counts_or_minute_count_pairs_and_a_header() {
        let dir = std::env::temp_dir().join(format!("sim-trace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.csv");
        std::fs::write(&path, "minute,count\n0,10\n1,20\n\n# gap\n2,5\n").unwrap();
        assert_eq!(Trace::from_csv(&path).unwrap(), Trace::Recorded(vec![10.0, 20.0, 5.0]));
        std::fs::write(&path, "10\nten\n").unwrap();
        assert!(matches!(Trace::from_csv(&path), Err(TraceError::Parse { line: 2, .. })));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unknown_traces_are_named_in_the_error() {
        assert!(Trace::parse("lunar").unwrap_err().to_string().contains("lunar"));
    }
}
