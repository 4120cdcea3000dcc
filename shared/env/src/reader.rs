//! The settings reader: typed getters over a key → value lookup, each refusing a bad value with
//! one [`ConfigError`] that names the key, what is allowed and what was found.

use std::fmt::{self, Display};
use std::ops::{Bound, RangeBounds};
use std::str::FromStr;
use std::time::Duration;

/// Why a setting was refused: its key, and what is allowed (and what was found).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    pub key: &'static str,
    pub problem: String,
}

impl ConfigError {
    /// A refusal of `key`; `problem` says what is allowed.
    ///
    /// ```
    /// let e = switchyard_env::ConfigError::new("SWITCHYARD_TIMEOUT_MS", "must be at least the connect timeout");
    /// assert_eq!(e.to_string(), "SWITCHYARD_TIMEOUT_MS: must be at least the connect timeout");
    /// ```
    pub fn new(key: &'static str, problem: impl Into<String>) -> Self {
        ConfigError { key, problem: problem.into() }
    }
}

/// A program's settings, read from a key → value lookup: the process environment in production,
/// a map in tests, so that no test changes the process's environment.
///
/// Numbers, durations, choices and flags are trimmed before they are parsed; an unset key takes
/// its default. A bad value is refused with `KEY: expected <what is allowed>, got "<value>"`.
///
/// ```
/// use std::time::Duration;
/// use switchyard_env::Env;
///
/// let lookup = |key: &str| (key == "SWITCHYARD_BATCH_SIZE").then(|| "11".to_owned());
/// let env = Env::new(&lookup);
/// assert_eq!(env.duration_secs("SWITCHYARD_WAIT_SECS", Duration::from_secs(20), 0..=20), Ok(Duration::from_secs(20)));
/// assert_eq!(
///     env.number::<i32>("SWITCHYARD_BATCH_SIZE", 10, 1..=10).unwrap_err().to_string(),
///     r#"SWITCHYARD_BATCH_SIZE: expected a whole number within 1..=10, got "11""#,
/// );
/// ```
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Env").finish_non_exhaustive()
    }
}

/// A number a setting may hold: how a message names its kind, and which parsed values count
/// (a float must be finite).
pub trait Number: FromStr + PartialOrd + Display + Copy {
    /// `a whole number`, `a number`.
    const KIND: &'static str;

    fn is_finite(self) -> bool {
        true
    }
}

macro_rules! whole_numbers {
    ($($t:ty),*) => {
        $(impl Number for $t {
            const KIND: &'static str = "a whole number";
        })*
    };
}

whole_numbers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl Number for f64 {
    const KIND: &'static str = "a number";

    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

/// What a numeric setting held.
enum Read<T> {
    Unset,
    /// The word that turns the setting off (`off`, `never`).
    Off,
    Value(T),
}

impl<T> Read<T> {
    fn map<U>(self, f: impl FnOnce(T) -> U) -> Read<U> {
        match self {
            Read::Unset => Read::Unset,
            Read::Off => Read::Off,
            Read::Value(v) => Read::Value(f(v)),
        }
    }

    /// The value, or `default` when unset (a setting without an off word is never off).
    fn or(self, default: T) -> T {
        match self {
            Read::Value(v) => v,
            Read::Unset | Read::Off => default,
        }
    }

    /// `None` when turned off; else the value, or `default` when unset.
    fn unless_off(self, default: T) -> Option<T> {
        match self {
            Read::Unset => Some(default),
            Read::Off => None,
            Read::Value(v) => Some(v),
        }
    }
}

/// How messages name the units of durations.
const SECONDS: &str = "whole seconds";
const MILLISECONDS: &str = "whole milliseconds";

impl<'a> Env<'a> {
    /// Settings from `lookup` (for the process: `|key| std::env::var(key).ok()`).
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value exactly as set: for secrets and documents, and to see whether a key is set at all.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key)
    }

    /// The value trimmed; a blank one counts as unset.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// The value as set, or `default` when unset; a blank value is refused.
    pub fn string_or(&self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            None => Ok(default.to_owned()),
            Some(v) if v.trim().is_empty() => {
                Err(ConfigError::new(key, format!("expected a non-blank value, got {v:?}")))
            }
            Some(v) => Ok(v),
        }
    }

    /// Items separated by commas, each trimmed, blank ones dropped (`None`: unset).
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| v.split(',').map(str::trim).filter(|i| !i.is_empty()).map(str::to_owned).collect())
    }

    /// `true` or `false`; `default` when unset.
    pub fn flag(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        self.choice(key, default, &[("true", true), ("false", false)])
    }

    /// The value of the choice the setting names; `default` when unset.
    pub fn choice<T: Copy>(&self, key: &'static str, default: T, choices: &[(&str, T)]) -> Result<T, ConfigError> {
        let Some(raw) = self.get(key) else { return Ok(default) };
        let name = raw.trim();
        choices.iter().find(|(n, _)| *n == name).map(|(_, value)| *value).ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ConfigError::new(key, format!("expected {}, got {raw:?}", either(&names)))
        })
    }

    /// A number within `allowed` (`..`: any); `default` when unset.
    pub fn number<T: Number>(
        &self,
        key: &'static str,
        default: T,
        allowed: impl RangeBounds<T>,
    ) -> Result<T, ConfigError> {
        Ok(self.read(key, T::KIND, None, &allowed)?.or(default))
    }

    /// As [`Env::number`], or `off` (a word such as `off` or `never`) for `None`.
    pub fn number_or<T: Number>(
        &self,
        key: &'static str,
        off: &str,
        default: T,
        allowed: impl RangeBounds<T>,
    ) -> Result<Option<T>, ConfigError> {
        Ok(self.read(key, T::KIND, Some(off), &allowed)?.unless_off(default))
    }

    /// Whole seconds within `allowed` (`..`: any); `default` when unset.
    pub fn duration_secs(
        &self,
        key: &'static str,
        default: Duration,
        allowed: impl RangeBounds<u64>,
    ) -> Result<Duration, ConfigError> {
        Ok(self.read(key, SECONDS, None, &allowed)?.map(Duration::from_secs).or(default))
    }

    /// As [`Env::duration_secs`], or `off` (a word such as `never`) for `None`.
    pub fn duration_secs_or(
        &self,
        key: &'static str,
        off: &str,
        default: Duration,
        allowed: impl RangeBounds<u64>,
    ) -> Result<Option<Duration>, ConfigError> {
        Ok(self.read(key, SECONDS, Some(off), &allowed)?.map(Duration::from_secs).unless_off(default))
    }

    /// Whole milliseconds within `allowed` (`..`: any); `default` when unset.
    pub fn duration_ms(
        &self,
        key: &'static str,
        default: Duration,
        allowed: impl RangeBounds<u64>,
    ) -> Result<Duration, ConfigError> {
        Ok(self.read(key, MILLISECONDS, None, &allowed)?.map(Duration::from_millis).or(default))
    }

    /// The one place a number is parsed and checked, and its refusal worded.
    fn read<T: Number>(
        &self,
        key: &'static str,
        kind: &str,
        off: Option<&str>,
        allowed: &impl RangeBounds<T>,
    ) -> Result<Read<T>, ConfigError> {
        let Some(raw) = self.get(key) else { return Ok(Read::Unset) };
        let value = raw.trim();
        if off == Some(value) {
            return Ok(Read::Off);
        }
        match value.parse::<T>() {
            Ok(n) if n.is_finite() && allowed.contains(&n) => Ok(Read::Value(n)),
            _ => {
                let or_off = off.map(|w| format!(", or {w}")).unwrap_or_default();
                Err(ConfigError::new(key, format!("expected {kind}{}{or_off}, got {raw:?}", bounds(allowed))))
            }
        }
    }
}

/// `allowed` in words: ` within 1..=10`, ` ≥ 1`, ` > 0 and ≤ 1`; empty for any.
fn bounds<T: Display>(allowed: &impl RangeBounds<T>) -> String {
    let (start, end) = (allowed.start_bound(), allowed.end_bound());
    if let (Bound::Included(a), Bound::Included(b)) = (start, end) {
        return format!(" within {a}..={b}");
    }
    let start = match start {
        Bound::Included(a) => Some(format!("≥ {a}")),
        Bound::Excluded(a) => Some(format!("> {a}")),
        Bound::Unbounded => None,
    };
    let end = match end {
        Bound::Included(b) => Some(format!("≤ {b}")),
        Bound::Excluded(b) => Some(format!("< {b}")),
        Bound::Unbounded => None,
    };
    let parts: Vec<String> = start.into_iter().chain(end).collect();
    if parts.is_empty() { String::new() } else { format!(" {}", parts.join(" and ")) }
}

/// `a`, `a or b`, `a, b or c`.
fn either(names: &[&str]) -> String {
    match names {
        [] => "nothing".into(),
        [only] => (*only).into(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| map.get(key).cloned()
    }

    fn refusal<T: fmt::Debug>(result: Result<T, ConfigError>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn an_unset_key_takes_its_default_unchecked() {
        let get = lookup(&[]);
        let env = Env::new(&get);
        assert_eq!(env.number("N", 0_u64, 1..), Ok(0));
        assert_eq!(env.duration_ms("T", Duration::from_millis(1500), ..), Ok(Duration::from_millis(1500)));
        assert_eq!(env.choice("C", 'a', &[("b", 'b')]), Ok('a'));
        assert_eq!((env.string("S"), env.list("L")), (None, None));
    }

    #[test]
    fn a_number_is_trimmed_and_checked_against_its_range() {
        let get = lookup(&[("N", " 7 "), ("BIG", "11"), ("WORD", "lots")]);
        let env = Env::new(&get);
        assert_eq!(env.number("N", 0_u32, 1..=10), Ok(7));
        assert_eq!(
            refusal(env.number("BIG", 0_u32, 1..=10)),
            r#"BIG: expected a whole number within 1..=10, got "11""#
        );
        assert_eq!(refusal(env.number("WORD", 0_u64, ..)), r#"WORD: expected a whole number, got "lots""#);
    }

    #[test]
    fn a_value_too_large_for_its_type_is_refused_with_the_range() {
        let get = lookup(&[("PORT", "70000")]);
        let env = Env::new(&get);
        assert_eq!(
            refusal(env.number::<u16>("PORT", 80, 1..=u16::MAX)),
            r#"PORT: expected a whole number within 1..=65535, got "70000""#
        );
    }

    #[test]
    fn open_and_half_open_ranges_are_worded_with_their_bounds() {
        let get = lookup(&[("X", "1.5")]);
        let env = Env::new(&get);
        let share = (Bound::Excluded(0.0), Bound::Included(1.0));
        assert_eq!(refusal(env.number("X", 0.5, share)), r#"X: expected a number > 0 and ≤ 1, got "1.5""#);
        assert_eq!(refusal(env.number("X", 0.1, 0.0..1.0)), r#"X: expected a number ≥ 0 and < 1, got "1.5""#);
        assert_eq!(refusal(env.number("X", 0.0, 2.0..)), r#"X: expected a number ≥ 2, got "1.5""#);
        assert_eq!(refusal(env.number("X", 0.0, ..=1.0)), r#"X: expected a number ≤ 1, got "1.5""#);
    }

    #[test]
    fn a_float_must_be_finite() {
        for value in ["NaN", "inf", "-inf"] {
            let get = lookup(&[("X", value)]);
            assert!(Env::new(&get).number("X", 0.0, ..).is_err(), "{value}");
        }
    }

    #[test]
    fn durations_are_read_in_the_unit_their_key_names() {
        let get = lookup(&[("WAIT_SECS", "20"), ("HOLD_MS", "250"), ("BAD_SECS", "1.5")]);
        let env = Env::new(&get);
        assert_eq!(env.duration_secs("WAIT_SECS", Duration::ZERO, 0..=20), Ok(Duration::from_secs(20)));
        assert_eq!(env.duration_ms("HOLD_MS", Duration::ZERO, 100..), Ok(Duration::from_millis(250)));
        assert_eq!(
            refusal(env.duration_secs("BAD_SECS", Duration::ZERO, ..)),
            r#"BAD_SECS: expected whole seconds, got "1.5""#
        );
        assert_eq!(
            refusal(env.duration_ms("HOLD_MS", Duration::ZERO, ..=200)),
            r#"HOLD_MS: expected whole milliseconds ≤ 200, got "250""#
        );
    }

    #[test]
    fn a_word_turns_a_setting_off_and_is_named_when_refusing() {
        let get = lookup(&[("OFF", " off "), ("ZERO", "0"), ("NEVER", "never")]);
        let env = Env::new(&get);
        assert_eq!(env.number_or("OFF", "off", 2_u32, 1..), Ok(None));
        assert_eq!(env.number_or("UNSET", "off", 2_u32, 1..), Ok(Some(2)));
        assert_eq!(
            refusal(env.number_or("ZERO", "off", 2_u32, 1..)),
            r#"ZERO: expected a whole number ≥ 1, or off, got "0""#
        );
        assert_eq!(env.duration_secs_or("NEVER", "never", Duration::ZERO, 1..), Ok(None));
        assert_eq!(
            refusal(env.duration_secs_or("ZERO", "never", Duration::ZERO, 1..)),
            r#"ZERO: expected whole seconds ≥ 1, or never, got "0""#
        );
    }

    #[test]
    fn a_choice_names_every_allowed_value() {
        let get = lookup(&[("MODE", " limited "), ("BAD", "always")]);
        let env = Env::new(&get);
        let modes = [("drain", 1), ("limited", 2)];
        assert_eq!(env.choice("MODE", 0, &modes), Ok(2));
        assert_eq!(refusal(env.choice("BAD", 0, &modes)), r#"BAD: expected drain or limited, got "always""#);
        assert_eq!(
            refusal(env.choice("BAD", 0, &[("a", 1), ("b", 2), ("c", 3)])),
            r#"BAD: expected a, b or c, got "always""#
        );
    }

    #[test]
    fn a_flag_is_true_or_false() {
        let get = lookup(&[("ON", "true"), ("OFF", " false"), ("BAD", "yes")]);
        let env = Env::new(&get);
        assert_eq!(
            (env.flag("ON", false), env.flag("OFF", true), env.flag("UNSET", true)),
            (Ok(true), Ok(false), Ok(true))
        );
        assert_eq!(refusal(env.flag("BAD", false)), r#"BAD: expected true or false, got "yes""#);
    }

    #[test]
    fn strings_are_trimmed_and_blank_is_unset_but_get_keeps_the_value_as_set() {
        let get = lookup(&[("NAME", "  web "), ("BLANK", "  ")]);
        let env = Env::new(&get);
        assert_eq!(env.string("NAME").as_deref(), Some("web"));
        assert_eq!(env.string("BLANK"), None);
        assert_eq!(env.get("NAME").as_deref(), Some("  web "));
        assert_eq!(env.get("BLANK").as_deref(), Some("  "));
    }

    #[test]
    fn string_or_takes_its_default_when_unset_and_refuses_blank() {
        let get = lookup(&[("NAMESPACE", "App"), ("BLANK", " ")]);
        let env = Env::new(&get);
        assert_eq!(env.string_or("NAMESPACE", "Switchyard"), Ok("App".to_owned()));
        assert_eq!(env.string_or("UNSET", "Switchyard"), Ok("Switchyard".to_owned()));
        assert_eq!(refusal(env.string_or("BLANK", "Switchyard")), r#"BLANK: expected a non-blank value, got " ""#);
    }

    #[test]
    fn a_list_drops_blank_items() {
        let get = lookup(&[("TARGETS", " a:1, ,b:2 ,"), ("EMPTY", " , ")]);
        let env = Env::new(&get);
        assert_eq!(env.list("TARGETS"), Some(vec!["a:1".to_owned(), "b:2".to_owned()]));
        assert_eq!(env.list("EMPTY"), Some(vec![]));
    }
}
