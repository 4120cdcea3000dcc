//! The jobs route: a request on it is stored on the work queue instead of proxied, and answered
//! 202 only once the queue holds it.
//!
//! Every answer tells the client what it may do next, truthfully:
//! - 202 with the message id: stored.
//! - 400 `job_refused`: the queue refused the job itself (too large, characters it does not
//!   take, a bad FIFO group); the message says why. The same job will never be stored.
//! - 503 `queue_unavailable` + Retry-After: the queue refused it or was never reached; sending
//!   again cannot make a copy.
//! - 503 `job_outcome_unknown` + Retry-After: the queue was asked and did not answer within the
//!   budget; the job may be stored. Sending again with the same `Idempotency-Key` lets a FIFO
//!   queue, or the consumer, drop the copy.
//!
//! The client's `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) travels with the
//! message; on a FIFO queue it is also the deduplication id, so a client's resend within five
//! minutes is stored once.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};

use crate::answers;
use crate::aws::{Fifo, Job, JobQueue, SendError};

/// The request header whose value identifies one logical job across a client's resends.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// How long a client is told to wait before sending again.
const RETRY_AFTER_SECS: u32 = 5;

/// A queue that requests are stored on (a routing document's `enqueue` action), and for a FIFO
/// queue, the header naming a job's message group (else the client IP).
#[derive(Debug, Clone)]
pub struct Jobs {
    pub queue: Arc<dyn JobQueue>,
    pub fifo_group_header: Option<String>,
}

/// Why a request cannot be a job (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("a job body must be UTF-8 text (SQS message bodies are)")]
    NotText,
    #[error("a job needs a body")]
    Empty,
    #[error("the Idempotency-Key must be 1 to 128 visible ASCII characters (a FIFO deduplication id's alphabet)")]
    BadIdempotencyKey,
}

impl JobError {
    fn code(&self) -> &'static str {
        match self {
            JobError::NotText => "body_not_text",
            JobError::Empty => "empty_job",
            JobError::BadIdempotencyKey => "bad_idempotency_key",
        }
    }
}

impl Jobs {
    /// Store the request's body as a job and answer (see the module's list of answers).
    pub async fn enqueue(
        &self,
        headers: &HeaderMap,
        client_ip: Option<IpAddr>,
        body: Bytes,
        request_id: &str,
        random: u64,
    ) -> Response<Bytes> {
        let job = match job(self.fifo_group_header.as_deref(), headers, client_ip, body, request_id, random) {
            Ok(job) => job,
            Err(e) => return answers::error(StatusCode::BAD_REQUEST, e.code(), &e.to_string(), request_id),
        };
        match self.queue.send(&job).await {
            Ok(message_id) => {
                let body = serde_json::json!({
                    "message_id": message_id,
                    "request_id": request_id,
                    "idempotency_key": job.idempotency_key,
                });
                answers::json(StatusCode::ACCEPTED, &body)
            }
            Err(SendError::Refused(e)) => {
                tracing::warn!(request_id, error = %e, "job refused by the queue");
                answers::error(StatusCode::BAD_REQUEST, "job_refused", &e.message, request_id)
            }
            Err(SendError::NotStored(e)) => {
                tracing::error!(request_id, error = %e, "job not stored");
                answers::unavailable(
                    "queue_unavailable",
                    "the job was not stored: send it again",
                    RETRY_AFTER_SECS,
                    request_id,
                )
            }
            Err(SendError::Unknown(e)) => {
                tracing::error!(request_id, error = %e, idempotency_key = job.idempotency_key.as_deref(), "job outcome unknown");
                answers::unavailable(
                    "job_outcome_unknown",
                    "the queue did not confirm the job in time: it may be stored. Send it again with the same \
                     Idempotency-Key header so that the copy can be recognised",
                    RETRY_AFTER_SECS,
                    request_id,
                )
            }
        }
    }
}

/// The job a request makes.
pub fn job(
    fifo_group_header: Option<&str>,
    headers: &HeaderMap,
    client_ip: Option<IpAddr>,
    body: Bytes,
    request_id: &str,
    random: u64,
) -> Result<Job, JobError> {
    let body = String::from_utf8(Vec::from(body)).map_err(|_| JobError::NotText)?;
    if body.is_empty() {
        return Err(JobError::Empty);
    }
    let idempotency_key = match headers.get(IDEMPOTENCY_KEY) {
        None => None,
        Some(value) => Some(idempotency_key(value.as_bytes()).ok_or(JobError::BadIdempotencyKey)?),
    };
    let fifo = fifo_group_header.map(|header| {
        let group = headers
            .get(header)
            .and_then(|v| v.to_str().ok())
            .filter(|g| !g.is_empty() && g.len() <= 128)
            .map(str::to_owned)
            .or_else(|| client_ip.map(|ip| ip.to_string()))
            .unwrap_or_else(|| "default".into());
        // The client's key makes its resends one message. Without one, the Lambda request id
        // still deduplicates a retried delivery of the same invocation; outside Lambda (no id)
        // each request is its own.
        let deduplication_id = match (&idempotency_key, request_id.is_empty()) {
            (Some(key), _) => key.clone(),
            (None, false) => request_id.to_owned(),
            (None, true) => format!("{random:016x}"),
        };
        Fifo { group, deduplication_id }
    });
    Ok(Job { body, idempotency_key, fifo })
}

/// An `Idempotency-Key` value: the draft's quoted string form (`"abc"`) or the bare token, 1 to
/// 128 visible ASCII characters once unquoted, as a FIFO deduplication id allows.
fn idempotency_key(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let key = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    let valid = (1..=128).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn route(fifo: bool) -> Option<&'static str> {
        fifo.then_some("x-message-group-id")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (http::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn the_idempotency_key_is_the_fifo_deduplication_id() {
        let job =
            job(route(true), &headers(&[("idempotency-key", "\"order-7\"")]), None, "{}".into(), "req-1", 9).unwrap();
        assert_eq!(job.idempotency_key.as_deref(), Some("order-7"), "the draft's quoted form is unquoted");
        assert_eq!(job.fifo.unwrap().deduplication_id, "order-7");
    }

    #[test]
    fn without_a_key_a_fifo_job_is_deduplicated_by_the_invocation() {
        let fifo = job(route(true), &HeaderMap::new(), None, "{}".into(), "req-1", 9).unwrap().fifo.unwrap();
        assert_eq!((fifo.group.as_str(), fifo.deduplication_id.as_str()), ("default", "req-1"));
    }

    #[test]
    fn a_standard_queue_job_carries_the_key_and_no_fifo_fields() {
        let job = job(route(false), &headers(&[("idempotency-key", "abc-123")]), None, "x".into(), "r", 1).unwrap();
        assert_eq!((job.idempotency_key.as_deref(), job.fifo), (Some("abc-123"), None));
    }

    #[test]
    fn bad_bodies_and_keys_are_refused() {
        let r = route(false);
        assert_eq!(job(r, &HeaderMap::new(), None, Bytes::from_static(b"\xff"), "r", 1), Err(JobError::NotText));
        assert_eq!(job(r, &HeaderMap::new(), None, Bytes::new(), "r", 1), Err(JobError::Empty));
        let long = "k".repeat(129);
        let mut too_long = HeaderMap::new();
        too_long.insert(IDEMPOTENCY_KEY, HeaderValue::from_str(&long).unwrap());
        assert_eq!(job(r, &too_long, None, "x".into(), "r", 1), Err(JobError::BadIdempotencyKey));
        for bad in ["", "\"\"", "a b"] {
            let h = headers(&[("idempotency-key", bad)]);
            assert_eq!(job(r, &h, None, "x".into(), "r", 1), Err(JobError::BadIdempotencyKey), "{bad:?}");
        }
    }
}
