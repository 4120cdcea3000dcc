//! The jobs route's queue: SQS SendMessage within a time budget, with answers that never
//! mislead. A job is either stored (a message id), surely not stored (SQS answered with an error,
//! or the connection was never made), or of unknown outcome (the request may have reached SQS and
//! no answer came back). Only the first two are certain; the router tells the client which.
//!
//! Retries: the SDK's standard retries are safe when SQS answered or the connection failed. After
//! an unknown outcome a resend may store the job twice, so [`UnknownOutcomeIsFinal`] forbids it,
//! unless the job carries a FIFO deduplication id, with which SQS drops the copy (within its
//! five-minute deduplication interval).

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::SdkError;
use aws_sdk_sqs::operation::send_message::SendMessageError;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;

use super::{BoxFuture, CloudError, JobQueue};

/// The message attribute that carries the client's `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_ATTRIBUTE: &str = "IdempotencyKey";

/// The connect timeout the SDK uses by default, kept within the budget.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3_100);

/// One job as the queue stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub body: String,
    /// The client's `Idempotency-Key`, carried as the message attribute
    /// [`IDEMPOTENCY_KEY_ATTRIBUTE`] so that the consumer can deduplicate.
    pub idempotency_key: Option<String>,
    /// FIFO queues only: the message group and the deduplication id.
    pub fifo: Option<Fifo>,
}

/// What a FIFO queue needs with each message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fifo {
    pub group: String,
    pub deduplication_id: String,
}

/// Why a job is not known to be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// SQS refused the job itself (its size, its characters, a FIFO field): sending the same
    /// again cannot succeed. The message is SQS's reason.
    #[error("refused: {0}")]
    Refused(CloudError),
    /// SQS did not store it: it answered with an error, or the request never reached it. Sending
    /// again cannot make a copy.
    #[error("not stored: {0}")]
    NotStored(CloudError),
    /// The request may have reached SQS and no answer came in time (or the connection broke
    /// after it was sent): the job may be stored.
    #[error("outcome unknown: {0}")]
    Unknown(CloudError),
}

/// An SQS queue, sent to within `budget` per job (every attempt and back-off included).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
    pub budget: Duration,
}

impl JobQueue for SqsQueue {
    fn send<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Result<String, SendError>> {
        Box::pin(self.send_message(job))
    }

    fn warm(&self) -> BoxFuture<'_, Result<(), CloudError>> {
        Box::pin(async move {
            self.sqs
                .get_queue_attributes()
                .queue_url(&self.url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map(|_| ())
                .map_err(CloudError::from_sdk("GetQueueAttributes"))
        })
    }
}

impl SqsQueue {
    async fn send_message(&self, job: &Job) -> Result<String, SendError> {
        let mut send = self.sqs.send_message().queue_url(&self.url).message_body(&job.body);
        if let Some(key) = &job.idempotency_key {
            let value =
                MessageAttributeValue::builder().data_type("String").string_value(key).build().map_err(|e| {
                    SendError::NotStored(CloudError { operation: "SendMessage", message: e.to_string() })
                })?;
            send = send.message_attributes(IDEMPOTENCY_KEY_ATTRIBUTE, value);
        }
        if let Some(fifo) = &job.fifo {
            send = send.message_group_id(&fifo.group).message_deduplication_id(&fifo.deduplication_id);
        }
        // Overrides replace the client's timeouts whole, so the connect timeout is restated. A
        // FIFO send may be retried after a silent attempt (SQS drops the copy), so each attempt
        // gets a third of the budget; a standard send gets one attempt's worth of waiting, the
        // whole budget, since nothing may follow it once it was sent.
        let mut timeouts =
            TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT.min(self.budget)).operation_timeout(self.budget);
        let mut overrides = aws_sdk_sqs::Config::builder();
        if job.fifo.is_some() {
            timeouts = timeouts.operation_attempt_timeout(self.budget / 3);
        } else {
            overrides = overrides.retry_classifier(UnknownOutcomeIsFinal);
        }
        let overrides = overrides.timeout_config(timeouts.build());
        match send.customize().config_override(overrides).send().await {
            Ok(output) => Ok(output.message_id().unwrap_or_default().to_owned()),
            Err(e) => Err(classify(e)),
        }
    }
}

/// Sorts a failed SendMessage into "not stored" and "unknown". With SDK retries the last
/// attempt's error decides; for a standard queue no attempt follows an unknown outcome, and for
/// a FIFO queue a resend is deduplicated, so the answer stays truthful either way.
fn classify(e: SdkError<SendMessageError, HttpResponse>) -> SendError {
    if let SdkError::ServiceError(service) = &e
        && refused_for_content(service.err())
    {
        let reason = service.err().meta().message().unwrap_or("the message was refused").to_owned();
        return SendError::Refused(CloudError { operation: "SendMessage", message: reason });
    }
    let not_sent = match &e {
        SdkError::ConstructionFailure(_) | SdkError::ServiceError(_) => true,
        SdkError::DispatchFailure(failure) => failure.as_connector_error().is_some_and(|c| connect_failed(c)),
        _ => false,
    };
    let error = CloudError::from_sdk("SendMessage")(e);
    if not_sent { SendError::NotStored(error) } else { SendError::Unknown(error) }
}

/// SQS's errors that are about the message itself: InvalidMessageContents (characters SQS does not
/// take), and the parameter errors it answers for a body over its size limit or a bad FIFO field
/// (named with or without the JSON protocol's `Exception` suffix).
fn refused_for_content(e: &SendMessageError) -> bool {
    let code = e.meta().code().map(|c| c.strip_suffix("Exception").unwrap_or(c));
    e.is_invalid_message_contents()
        || matches!(code, Some("InvalidParameterValue" | "MissingParameter" | "InvalidParameterCombination"))
}

/// Whether the connection itself failed (refused, unreachable, DNS, connect timeout): then no
/// byte of the request left. hyper-util's client marks such errors `is_connect`.
fn connect_failed(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<hyper_util::client::legacy::Error>().is_some_and(|e| e.is_connect()) {
            return true;
        }
        current = e.source();
    }
    false
}

/// Forbids the SDK's retry of a SendMessage whose outcome is unknown (a timeout, a connection lost
/// after sending, an unreadable answer). Errors SQS answered with, and failed connections, are
/// left to the SDK's standard classification. Runs after the SDK's transient-error classifier,
/// whose "retry" it overrides.
#[derive(Debug, Clone, Copy)]
pub struct UnknownOutcomeIsFinal;

impl ClassifyRetry for UnknownOutcomeIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(error)) if outcome_unknown(error) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "UnknownOutcomeIsFinal"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

fn outcome_unknown<E>(error: &OrchestratorError<E>) -> bool {
    if error.as_operation_error().is_some() {
        return false;
    }
    match error.as_connector_error() {
        Some(connector) => !connect_failed(connector),
        None => error.is_timeout_error() || error.is_response_error(),
    }
}
