//! UTC calendar arithmetic: SigV4's `YYYYMMDD'T'HHMMSS'Z'` stamps and the ISO 8601 times EC2
//! answers with. Days from the civil date after Howard Hinnant's `days_from_civil`, exact for every
//! date this code can meet; no time-zone database, because AWS speaks UTC only.

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// A signing time: `20150830T123600Z`, whose first eight characters are the credential scope's date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmzDate(String);

impl AmzDate {
    /// The stamp for a time in seconds since the Unix epoch.
    pub fn from_unix_secs(secs: u64) -> Self {
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
        let (year, month, day) = civil_from_days(days);
        let rest = secs % 86_400;
        AmzDate(format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60))
    }

    /// `20150830T123600Z`: the `X-Amz-Date` header.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `20150830`: the date in the credential scope.
    pub fn date(&self) -> &str {
        &self.0[..8]
    }
}

/// Milliseconds since the Unix epoch of an ISO 8601 time in UTC (`2024-05-01T10:00:00.000Z`, or
/// with `+00:00`); `None` for anything else, before 1970 included.
pub fn parse_iso8601_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    let body = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = body.split_once('T')?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = number(date_parts.next()?, 4)?;
    let month: u32 = number(date_parts.next()?, 2)?;
    let day: u32 = number(date_parts.next()?, 2)?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut clock_parts = clock.splitn(3, ':');
    let hour: u64 = number(clock_parts.next()?, 2)?;
    let minute: u64 = number(clock_parts.next()?, 2)?;
    let second: u64 = number(clock_parts.next()?, 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis =
        fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0u64, |ms, b| ms * 10 + u64::from(b - b'0'));
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    Some(((days * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000) + millis)
}

fn number<T: std::str::FromStr>(text: &str, digits: usize) -> Option<T> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_stamps_match_known_dates() {
        assert_eq!(AmzDate::from_unix_secs(0).as_str(), "19700101T000000Z");
        // The date of AWS's SigV4 test suite.
        let stamp = AmzDate::from_unix_secs(1_440_938_160);
        assert_eq!((stamp.as_str(), stamp.date()), ("20150830T123600Z", "20150830"));
        assert_eq!(AmzDate::from_unix_secs(951_825_599).as_str(), "20000229T115959Z", "a leap day");
        assert_eq!(AmzDate::from_unix_secs(4_102_444_800).as_str(), "21000101T000000Z");
    }

    #[test]
    fn iso_times_read_back_and_garbage_is_none() {
        assert_eq!(parse_iso8601_millis("2015-08-30T12:36:00Z"), Some(1_440_938_160_000));
        assert_eq!(parse_iso8601_millis("2015-08-30T12:36:00.250Z"), Some(1_440_938_160_250));
        assert_eq!(parse_iso8601_millis("2015-08-30T12:36:00.5+00:00"), Some(1_440_938_160_500));
        assert_eq!(parse_iso8601_millis("1970-01-01T00:00:00.000Z"), Some(0));
        for bad in [
            "",
            "2015-08-30",
            "2015-08-30T12:36:00",
            "2015-13-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "15-08-30T12:36:00Z",
            "2015-08-30T12:36:00.x1Z",
            "2015-08-30T12:36:00+02:00",
        ] {
            assert_eq!(parse_iso8601_millis(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_day_for_four_centuries_round_trips() {
        for days in -146_097..3 * 146_097 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
