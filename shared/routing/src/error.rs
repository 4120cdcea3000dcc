//! What can be wrong with a routing document, a group cookie or a redirect.

/// One thing wrong with a routing document, and where.
///
/// `at` names the place the way a reader finds it in the JSON: `document`,
/// `target_groups.web.discovery.port`, `rules[2] (priority 20): conditions[1].values[0]`,
/// `default_action.target_group`. `message` says what is wrong and, where a limit is
/// ALB's, which limit. [`crate::Routes::from_json`] returns every error it finds, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct RuleError {
    pub at: String,
    pub message: String,
}

impl RuleError {
    pub(crate) fn new(at: impl Into<String>, message: impl Into<String>) -> Self {
        RuleError { at: at.into(), message: message.into() }
    }
}

/// Why a group cookie was not honoured. The caller treats them all alike: a fresh weighted choice
/// and a new cookie; a bad cookie never fails the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("malformed group cookie")]
    Malformed,
    #[error("group cookie signature does not match")]
    BadSignature,
    #[error("group cookie expired")]
    Expired,
}

/// Why a key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the group-cookie key must be at least {min} bytes, got {len}")]
pub struct KeyTooShort {
    pub min: usize,
    pub len: usize,
}

/// Why a redirect cannot be answered for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RedirectError {
    /// ALB: "You can redirect HTTP to HTTP, HTTP to HTTPS, and HTTPS to HTTPS. You can't redirect
    /// HTTPS to HTTP." The document can only say `HTTP`; whether the request came over HTTPS is
    /// known per request.
    #[error("an HTTPS request cannot be redirected to HTTP")]
    HttpsToHttp,
}
