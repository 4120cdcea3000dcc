//! Weighted forwards and target-group stickiness.
//!
//! ALB ([forward actions](https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-action-types.html#forward-actions)):
//! "Each target group weight is a value from 0 to 999. Requests that match a listener rule with
//! weighted target groups are distributed to these target groups based on their weights." With
//! target-group stickiness enabled, the first answer carries a cookie naming the chosen group
//! (ALB's `AWSALBTG`) and later requests that carry it go to that group.
//!
//! Here the cookie is signed rather than encrypted: `g1.<group>.<expiry>.<mac>`, the group's name
//! in the clear (names are `[A-Za-z0-9-]`, so they need no encoding), the expiry in UNIX seconds,
//! and HMAC-SHA256 (RFC 2104) over everything before the last dot, base64url without padding.
//! Only that one spelling verifies, as with the target cookies of `switchyard_algorithms::sticky`;
//! the `g1` version keeps the two kinds apart even under one key.
//!
//! A cookie is honoured while it is unexpired and names a group that is still in the action with
//! a weight above 0, whatever the weights are now: a client stays on its side of a canary split
//! while the split moves. Its expiry is fixed when it is issued and not renewed by later requests,
//! so every client is re-drawn within one stickiness duration of a change: that bounds how long a
//! rollout takes to reach everyone. Weight 0 drains a group at once: its cookies stop being
//! honoured.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{CookieError, KeyTooShort};
use crate::routes::TargetGroupId;

const VERSION: &str = "g1";
/// Longest cookie value looked at: `g1.` + a 32-character name + `.` + 20 digits + `.` + 43.
const MAX_COOKIE_LEN: usize = 128;
/// An HMAC-SHA256 tag in base64url without padding.
const MAC_LEN_ENCODED: usize = 43;

/// One group of a weighted forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedGroup {
    id: TargetGroupId,
    name: Box<str>,
    weight: u16,
}

impl WeightedGroup {
    pub fn id(&self) -> TargetGroupId {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// 0..=999.
    pub fn weight(&self) -> u16 {
        self.weight
    }
}

/// A forward to several target groups in proportion to their weights.
///
/// Invariants (checked when the document is compiled): 1 to 5 groups, each named once, each
/// weight 0..=999, and a total above 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedForward {
    groups: Vec<WeightedGroup>,
    total: u32,
    stickiness_secs: Option<u32>,
}

/// Which group a request goes to, and what to do about its group cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChoice {
    pub group: TargetGroupId,
    pub cookie: GroupCookie,
}

/// What the answer does about the group cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupCookie {
    /// The action has no stickiness: no cookie.
    NotSticky,
    /// The request's cookie was honoured and stays valid until its own expiry: send nothing.
    Honoured,
    /// A fresh choice: send this cookie (value and Max-Age).
    Set { value: String, max_age_secs: u32 },
}

impl WeightedForward {
    pub(crate) fn new(groups: Vec<(TargetGroupId, Box<str>, u16)>, stickiness_secs: Option<u32>) -> Self {
        let total = groups.iter().map(|(_, _, w)| u32::from(*w)).sum();
        let groups = groups.into_iter().map(|(id, name, weight)| WeightedGroup { id, name, weight }).collect();
        WeightedForward { groups, total, stickiness_secs }
    }

    pub fn groups(&self) -> &[WeightedGroup] {
        &self.groups
    }

    /// How long a group cookie keeps a client on its group, if stickiness is enabled.
    pub fn stickiness_secs(&self) -> Option<u32> {
        self.stickiness_secs
    }

    /// The group for a uniformly random `random`, by weight alone: group `i` is chosen for a
    /// share `weight_i / total` of the `u64` range (multiply-shift, Lemire 2019; its bias is below
    /// total / 2^64). A group of weight 0 is never chosen.
    ///
    /// ```
    /// use switchyard_routing::{Action, RequestView, Routes};
    ///
    /// let routes = Routes::from_json(r#"{
    ///     "target_groups": {
    ///         "blue":  { "discovery": { "type": "static", "targets": ["10.0.0.1:80"] } },
    ///         "green": { "discovery": { "type": "static", "targets": ["10.0.0.2:80"] } } },
    ///     "default_action": { "type": "weighted_forward", "target_groups": [
    ///         { "name": "blue", "weight": 90 }, { "name": "green", "weight": 10 } ] }
    /// }"#).unwrap();
    /// let Action::WeightedForward(split) = routes.default_action() else { unreachable!() };
    /// assert_eq!(routes.target_group(split.pick(0)).name(), "blue");
    /// assert_eq!(routes.target_group(split.pick(u64::MAX)).name(), "green");
    /// ```
    pub fn pick(&self, random: u64) -> TargetGroupId {
        let point = ((u128::from(random) * u128::from(self.total)) >> 64) as u32;
        let mut cumulative = 0;
        for group in &self.groups {
            cumulative += u32::from(group.weight);
            if point < cumulative {
                return group.id;
            }
        }
        // Unreachable with total > 0 (point < total = the last cumulative); compile ensures it.
        self.groups.iter().find(|g| g.weight > 0).map_or(TargetGroupId(0), |g| g.id)
    }

    /// The group for a request carrying group cookie `cookie` (its value, if any), at
    /// `now_unix_secs`, with `random` for a fresh choice. Never fails: a missing, malformed,
    /// forged or expired cookie, or one naming a group no longer in the action or now weighing 0,
    /// gets a fresh weighted choice and a new cookie.
    pub fn choose(&self, cookie: Option<&str>, cookies: &GroupCookies, random: u64, now_unix_secs: u64) -> GroupChoice {
        let Some(duration) = self.stickiness_secs else {
            return GroupChoice { group: self.pick(random), cookie: GroupCookie::NotSticky };
        };
        let kept = cookie
            .and_then(|value| cookies.verify(value, now_unix_secs).ok())
            .and_then(|name| self.groups.iter().find(|g| *g.name == *name && g.weight > 0));
        if let Some(group) = kept {
            return GroupChoice { group: group.id, cookie: GroupCookie::Honoured };
        }
        let group = self.pick(random);
        let name = self.groups.iter().find(|g| g.id == group).map_or("", |g| &g.name);
        let value = cookies.issue(name, now_unix_secs.saturating_add(u64::from(duration)));
        GroupChoice { group, cookie: GroupCookie::Set { value, max_age_secs: duration } }
    }
}

/// The key group cookies are signed with: at least 32 bytes, as HMAC-SHA256's security rests on
/// the key's entropy.
#[derive(Clone)]
pub struct GroupCookieKey(Vec<u8>);

impl GroupCookieKey {
    pub const MIN_LEN: usize = 32;

    /// ```
    /// use switchyard_routing::GroupCookieKey;
    ///
    /// assert!(GroupCookieKey::new([7u8; 32]).is_ok());
    /// assert!(GroupCookieKey::new(*b"too short").is_err());
    /// ```
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, KeyTooShort> {
        let key = key.into();
        if key.len() < Self::MIN_LEN {
            return Err(KeyTooShort { min: Self::MIN_LEN, len: key.len() });
        }
        Ok(GroupCookieKey(key))
    }
}

impl std::fmt::Debug for GroupCookieKey {
    /// Never prints the key: configuration gets logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCookieKey(<redacted>)")
    }
}

/// Issues and verifies group cookies.
#[derive(Clone)]
pub struct GroupCookies {
    /// HMAC keyed once; cloning the keyed state per cookie skips hashing the key again.
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for GroupCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupCookies(<redacted>)")
    }
}

impl GroupCookies {
    pub fn new(key: &GroupCookieKey) -> Self {
        // HMAC takes keys of any length; GroupCookieKey has enforced the minimum.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).unwrap_or_else(|_| unreachable!());
        GroupCookies { keyed }
    }

    /// A cookie value naming `group` until `expires_unix_secs`.
    ///
    /// ```
    /// use switchyard_routing::{CookieError, GroupCookieKey, GroupCookies};
    ///
    /// let cookies = GroupCookies::new(&GroupCookieKey::new([7u8; 32]).unwrap());
    /// let value = cookies.issue("canary", 1_700_003_600);
    /// assert_eq!(cookies.verify(&value, 1_700_000_000), Ok("canary"));
    /// assert_eq!(cookies.verify(&value, 1_700_003_600), Err(CookieError::Expired));
    /// ```
    pub fn issue(&self, group: &str, expires_unix_secs: u64) -> String {
        let signed = format!("{VERSION}.{group}.{expires_unix_secs}");
        let mut mac = self.keyed.clone();
        mac.update(signed.as_bytes());
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    /// The group a cookie names, if it is in the one form [`GroupCookies::issue`] writes,
    /// authentic, and unexpired at `now_unix_secs`. Borrows from `value`; never allocates.
    pub fn verify<'v>(&self, value: &'v str, now_unix_secs: u64) -> Result<&'v str, CookieError> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(CookieError::Malformed);
        }
        let (signed, mac) = value.rsplit_once('.').ok_or(CookieError::Malformed)?;
        let mut parts = signed.split('.');
        let (Some(VERSION), Some(group), Some(expires), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CookieError::Malformed);
        };
        let group_ok = (1..=32).contains(&group.len()) && group.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        // Decimal digits without a sign or leading zero: `u64::from_str` also takes `+10` and
        // `010`, which would let one cookie be spelled several ways.
        let expires_ok = !expires.is_empty()
            && expires.bytes().all(|b| b.is_ascii_digit())
            && (expires == "0" || !expires.starts_with('0'));
        if !group_ok || !expires_ok || mac.len() != MAC_LEN_ENCODED {
            return Err(CookieError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| CookieError::Malformed)?;
        let mut tag = [0u8; 48];
        // The engine refuses non-zero trailing bits, so only one spelling of a tag decodes.
        let len = URL_SAFE_NO_PAD.decode_slice(mac, &mut tag).map_err(|_| CookieError::Malformed)?;
        let mut check = self.keyed.clone();
        check.update(signed.as_bytes());
        // Authenticity before the expiry is believed; constant-time comparison.
        check.verify_slice(tag.get(..len).ok_or(CookieError::Malformed)?).map_err(|_| CookieError::BadSignature)?;
        if now_unix_secs >= expires {
            return Err(CookieError::Expired);
        }
        Ok(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies() -> GroupCookies {
        GroupCookies::new(&GroupCookieKey::new(*b"0123456789abcdef0123456789abcdef").unwrap())
    }

    #[test]
    fn an_issued_cookie_verifies_to_its_group_until_it_expires() {
        let value = cookies().issue("blue", 1_000);
        assert_eq!(cookies().verify(&value, 999), Ok("blue"));
        assert_eq!(cookies().verify(&value, 1_000), Err(CookieError::Expired));
    }

    #[test]
    fn a_changed_group_expiry_or_key_breaks_the_signature() {
        let value = cookies().issue("blue", 1_000);
        let mac = value.rsplit_once('.').unwrap().1;
        assert_eq!(cookies().verify(&format!("g1.green.1000.{mac}"), 0), Err(CookieError::BadSignature));
        assert_eq!(cookies().verify(&format!("g1.blue.9999.{mac}"), 0), Err(CookieError::BadSignature));
        let other = GroupCookies::new(&GroupCookieKey::new([9u8; 32]).unwrap());
        assert_eq!(other.verify(&value, 0), Err(CookieError::BadSignature));
    }

    #[test]
    fn only_the_issued_spelling_is_accepted() {
        let value = cookies().issue("blue", 1_000);
        let mac = value.rsplit_once('.').unwrap().1;
        for respelled in [
            format!("g1.blue.01000.{mac}"),
            format!("g1.blue.+1000.{mac}"),
            format!("v1.blue.1000.{mac}"),
            format!("g1.blue.1000.{mac}="),
            format!("g1.blue.1000.{mac}.x"),
            format!("g1.bl_ue.1000.{mac}"),
        ] {
            assert_eq!(cookies().verify(&respelled, 0), Err(CookieError::Malformed), "{respelled:?}");
        }
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for value in ["", ".", "g1", "g1...", "g1.a.1.!!!", "é.é.é.é", "g1.a.99999999999999999999999.AAAA"] {
            assert_eq!(cookies().verify(value, 0), Err(CookieError::Malformed), "{value:?}");
        }
        assert_eq!(cookies().verify(&"x".repeat(10_000), 0), Err(CookieError::Malformed));
    }

    #[test]
    fn keys_are_redacted_and_short_ones_refused() {
        assert_eq!(GroupCookieKey::new(*b"short").unwrap_err(), KeyTooShort { min: 32, len: 5 });
        assert!(format!("{:?}", GroupCookieKey::new([7u8; 32]).unwrap()).contains("redacted"));
    }
}
