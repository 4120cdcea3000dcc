//! When a failed attempt is tried again on another target.
//!
//! A request is retried only where a second delivery cannot do harm: a connection that was
//! refused never reached the target, so any method may go elsewhere; a 5xx or a broken answer is
//! retried only for idempotent methods (RFC 9110 §9.2.2); a request past its deadline is not
//! retried at all (its time is spent).

use http::Method;

use crate::proxy::Failure;

/// The router's retry policy: at most `max_attempts` attempts per request, first included, each on
/// a different target when the balancer has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: usize,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Try the next candidate.
    Retry,
    /// Answer with what this attempt got (a 5xx the client may see).
    Answer,
    /// Stop: nothing more can be tried.
    GiveUp,
}

impl RetryPolicy {
    /// After attempt number `attempt` (0 for the first) of a `method` request failed with
    /// `failure`.
    pub fn after(&self, method: &Method, attempt: usize, failure: &Failure) -> Next {
        let last = attempt + 1 >= self.max_attempts;
        let idempotent = is_idempotent(method);
        match failure {
            Failure::Status(_) if idempotent && !last => Next::Retry,
            Failure::Status(_) => Next::Answer,
            Failure::Timeout => Next::GiveUp,
            Failure::AttemptTimeout if idempotent && !last => Next::Retry,
            Failure::AttemptTimeout => Next::GiveUp,
            Failure::Connect(_) if !last => Next::Retry,
            Failure::Other(_) if idempotent && !last => Next::Retry,
            Failure::Connect(_) | Failure::Other(_) => Next::GiveUp,
        }
    }
}

/// Methods whose repetition has the effect of one request (RFC 9110 §9.2.2).
pub fn is_idempotent(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    const THREE: RetryPolicy = RetryPolicy { max_attempts: 3 };

    #[test]
    fn a_refused_connection_is_retried_for_any_method() {
        assert_eq!(THREE.after(&Method::POST, 0, &Failure::Connect("refused".into())), Next::Retry);
        assert_eq!(THREE.after(&Method::GET, 1, &Failure::Connect("refused".into())), Next::Retry);
    }

    #[test]
    fn a_5xx_is_retried_for_idempotent_methods_and_answered_for_others() {
        let status = Failure::Status(StatusCode::BAD_GATEWAY);
        assert_eq!(THREE.after(&Method::GET, 0, &status), Next::Retry);
        assert_eq!(THREE.after(&Method::POST, 0, &status), Next::Answer);
    }

    #[test]
    fn a_broken_answer_is_retried_only_when_idempotent() {
        let broken = Failure::Other("connection reset".into());
        assert_eq!(THREE.after(&Method::PUT, 0, &broken), Next::Retry);
        assert_eq!(THREE.after(&Method::PATCH, 0, &broken), Next::GiveUp);
    }

    #[test]
    fn an_attempt_past_its_own_timeout_goes_elsewhere_only_when_idempotent() {
        assert_eq!(THREE.after(&Method::GET, 0, &Failure::AttemptTimeout), Next::Retry);
        assert_eq!(THREE.after(&Method::POST, 0, &Failure::AttemptTimeout), Next::GiveUp);
        assert_eq!(THREE.after(&Method::GET, 2, &Failure::AttemptTimeout), Next::GiveUp);
    }

    #[test]
    fn the_last_attempt_and_a_spent_deadline_end_the_request() {
        assert_eq!(THREE.after(&Method::GET, 2, &Failure::Status(StatusCode::BAD_GATEWAY)), Next::Answer);
        assert_eq!(THREE.after(&Method::GET, 2, &Failure::Connect("refused".into())), Next::GiveUp);
        assert_eq!(THREE.after(&Method::GET, 0, &Failure::Timeout), Next::GiveUp);
    }
}
