//! Signed sticky-session cookies: the cookie names the target and when stickiness expires, and is
//! signed with HMAC-SHA256 (RFC 2104) so a client cannot point itself at a target of its choice
//! or keep a session forever.
//!
//! Format: `v1.<target id, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>`; the MAC
//! covers the version, the id and the expiry. Verification is constant-time in the MAC
//! (`Mac::verify_slice`). Every way a cookie can be wrong is a [`CookieError`]; the balancer
//! treats them all alike — a fresh pick and a new cookie — and never fails the request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::Error;
use crate::target::{TargetId, Time};

const VERSION: &str = "v1";
/// Longest cookie value accepted for parsing; anything longer is rejected before any work.
const MAX_COOKIE_LEN: usize = 512;

/// The signing key. At least 32 bytes: HMAC-SHA256's security rests on the key's entropy.
#[derive(Clone)]
pub struct CookieKey(Vec<u8>);

impl CookieKey {
    pub const MIN_LEN: usize = 32;

    /// Refuses keys shorter than [`CookieKey::MIN_LEN`] bytes.
    ///
    /// ```
    /// use switchyard_algorithms::CookieKey;
    ///
    /// assert!(CookieKey::new([7u8; 32]).is_ok());
    /// assert!(CookieKey::new(*b"too short").is_err());
    /// ```
    pub fn new(key: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let key = key.into();
        if key.len() < Self::MIN_LEN {
            return Err(Error::InvalidConfig(format!(
                "the sticky-cookie key must be at least {} bytes, got {}",
                Self::MIN_LEN,
                key.len()
            )));
        }
        Ok(CookieKey(key))
    }
}

impl std::fmt::Debug for CookieKey {
    /// Never prints the key: configuration gets logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(<redacted>)")
    }
}

/// Why a cookie was not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("malformed sticky cookie")]
    Malformed,
    #[error("sticky cookie signature does not match")]
    BadSignature,
    #[error("sticky cookie expired")]
    Expired,
}

/// Issues and verifies sticky cookies.
#[derive(Clone)]
pub struct StickyCookie {
    /// HMAC keyed once: cloning the keyed state per cookie skips re-hashing the key blocks (two of
    /// the four SHA-256 compressions an HMAC of a short message costs).
    keyed: Hmac<Sha256>,
    lifetime_secs: u64,
}

impl std::fmt::Debug for StickyCookie {
    /// Never prints key material.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StickyCookie").field("lifetime_secs", &self.lifetime_secs).finish_non_exhaustive()
    }
}

impl StickyCookie {
    /// Cookies signed with `key` that keep a client on its target for `lifetime` (at least 1 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// use switchyard_algorithms::{CookieKey, StickyCookie, TargetId, Time};
    ///
    /// let cookies = StickyCookie::new(CookieKey::new([7u8; 32]).unwrap(), Duration::from_secs(3600));
    /// let now = Time::from_secs(1_700_000_000);
    /// let value = cookies.issue(&TargetId::new("i-0abc"), now);
    /// assert_eq!(cookies.verify(&value, now), Ok(TargetId::new("i-0abc")));
    /// ```
    pub fn new(key: CookieKey, lifetime: std::time::Duration) -> Self {
        // HMAC accepts keys of any length; CookieKey has already enforced the minimum.
        let keyed = <Hmac<Sha256> as Mac>::new_from_slice(&key.0).unwrap_or_else(|_| unreachable!());
        StickyCookie { keyed, lifetime_secs: lifetime.as_secs().max(1) }
    }

    /// How long an issued cookie keeps a client on its target (the cookie's Max-Age).
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    /// A cookie value that sends the client to `target` until `now` + lifetime.
    pub fn issue(&self, target: &TargetId, now: Time) -> String {
        let expires = now.as_millis() / 1000 + self.lifetime_secs;
        let id = URL_SAFE_NO_PAD.encode(target.as_str());
        let mac = self.mac(&id, expires).finalize().into_bytes();
        format!("{VERSION}.{id}.{expires}.{}", URL_SAFE_NO_PAD.encode(mac))
    }

    /// The target a cookie names, if it is well-formed, authentic and unexpired at `now`.
    pub fn verify(&self, value: &str, now: Time) -> Result<TargetId, CookieError> {
        if value.len() > MAX_COOKIE_LEN {
            return Err(CookieError::Malformed);
        }
        let mut parts = value.split('.');
        let (Some(VERSION), Some(id), Some(expires), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CookieError::Malformed);
        };
        // Only the form `issue` writes: decimal digits, no sign, no leading zero. `u64::from_str`
        // also takes `+10` and `010`, which would sign as `10` and so let one cookie be spelled
        // several ways.
        let canonical = !expires.is_empty()
            && expires.bytes().all(|b| b.is_ascii_digit())
            && (expires == "0" || !expires.starts_with('0'));
        if !canonical {
            return Err(CookieError::Malformed);
        }
        let expires: u64 = expires.parse().map_err(|_| CookieError::Malformed)?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| CookieError::Malformed)?;
        // Authenticity before anything else is believed (including the expiry).
        self.mac(id, expires).verify_slice(&mac).map_err(|_| CookieError::BadSignature)?;
        if now.as_millis() / 1000 >= expires {
            return Err(CookieError::Expired);
        }
        let id = URL_SAFE_NO_PAD.decode(id).map_err(|_| CookieError::Malformed)?;
        let id = std::str::from_utf8(&id).map_err(|_| CookieError::Malformed)?;
        Ok(TargetId::new(id))
    }

    fn mac(&self, encoded_id: &str, expires: u64) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(VERSION.as_bytes());
        mac.update(b".");
        mac.update(encoded_id.as_bytes());
        mac.update(b".");
        mac.update(expires.to_string().as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn signer() -> StickyCookie {
        StickyCookie::new(CookieKey::new(*b"0123456789abcdef0123456789abcdef").unwrap(), Duration::from_secs(3600))
    }

    #[test]
    fn an_issued_cookie_verifies_to_its_target() {
        let now = Time::from_secs(1_700_000_000);
        let cookie = signer().issue(&TargetId::new("i-0abc"), now);
        assert_eq!(signer().verify(&cookie, now + Duration::from_secs(3599)), Ok(TargetId::new("i-0abc")));
    }

    #[test]
    fn a_cookie_expires_after_its_lifetime() {
        let now = Time::from_secs(1_700_000_000);
        let cookie = signer().issue(&TargetId::new("i-0abc"), now);
        assert_eq!(signer().verify(&cookie, now + Duration::from_secs(3600)), Err(CookieError::Expired));
    }

    #[test]
    fn a_changed_target_expiry_or_key_breaks_the_signature() {
        let now = Time::from_secs(1_700_000_000);
        let cookie = signer().issue(&TargetId::new("i-0abc"), now);
        let parts: Vec<&str> = cookie.split('.').collect();
        let other_target = format!("v1.{}.{}.{}", URL_SAFE_NO_PAD.encode("i-0def"), parts[2], parts[3]);
        assert_eq!(signer().verify(&other_target, now), Err(CookieError::BadSignature));
        let later = format!("v1.{}.{}.{}", parts[1], parts[2].parse::<u64>().unwrap() + 86_400, parts[3]);
        assert_eq!(signer().verify(&later, now), Err(CookieError::BadSignature));
        let other_key =
            StickyCookie::new(CookieKey::new(*b"another key that is long enough!").unwrap(), Duration::from_secs(60));
        assert_eq!(other_key.verify(&cookie, now), Err(CookieError::BadSignature));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let now = Time::from_secs(1);
        for value in
            ["", "v1", "v1...", "v2.aWQ.10.AAAA", "v1.aWQ.notanumber.AAAA", "v1.aWQ.10.!!!", "v1.a.b.c.d", "é.é.é.é"]
        {
            assert_eq!(signer().verify(value, now), Err(CookieError::Malformed), "{value:?}");
        }
        assert_eq!(signer().verify(&"x".repeat(10_000), now), Err(CookieError::Malformed));
    }

    #[test]
    fn only_the_expiry_form_the_router_writes_is_accepted() {
        let now = Time::from_secs(1_700_000_000);
        let cookie = signer().issue(&TargetId::new("i-0abc"), now);
        let parts: Vec<&str> = cookie.split('.').collect();
        for respelled in [format!("0{}", parts[2]), format!("+{}", parts[2]), format!("{} ", parts[2])] {
            let value = format!("v1.{}.{respelled}.{}", parts[1], parts[3]);
            assert_eq!(signer().verify(&value, now), Err(CookieError::Malformed), "{value:?}");
        }
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(CookieKey::new(*b"short").is_err());
        assert!(format!("{:?}", CookieKey::new([7u8; 32]).unwrap()).contains("redacted"));
    }
}
