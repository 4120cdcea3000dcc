//! SendMessage and GetQueueAttributes (AWS JSON 1.0, the protocol the SDKs use for SQS since 2023).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::client::{Call, Error, ErrorKind};
use crate::{Client, Service};

/// A message for a queue; FIFO queues need the group and deduplication ids.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendMessage<'a> {
    pub queue_url: &'a str,
    pub message_body: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_deduplication_id: Option<&'a str>,
}

const OPERATION: &str = "SendMessage";

fn request(message: &SendMessage<'_>) -> Call {
    Call {
        service: Service::Sqs,
        operation: OPERATION,
        content_type: crate::JSON,
        target: Some("AmazonSQS.SendMessage"),
        body: serde_json::to_vec(message).unwrap_or_default().into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    message_id: String,
}

/// The stored message's id.
pub fn read_answer(json: &[u8]) -> Result<String, ErrorKind> {
    serde_json::from_slice::<Answer>(json).map(|a| a.message_id).map_err(|e| ErrorKind::Answer(e.to_string()))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetAttributes<'a> {
    queue_url: &'a str,
    attribute_names: &'a [&'a str],
}

fn attributes_request(queue_url: &str, names: &[&str]) -> Call {
    Call {
        service: Service::Sqs,
        operation: "GetQueueAttributes",
        content_type: crate::JSON,
        target: Some("AmazonSQS.GetQueueAttributes"),
        body: serde_json::to_vec(&GetAttributes { queue_url, attribute_names: names }).unwrap_or_default().into(),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attributes {
    #[serde(default)]
    attributes: HashMap<String, String>,
}

/// The attributes by name, as SQS writes them (text, also for counts).
pub fn read_attributes(json: &[u8]) -> Result<HashMap<String, String>, ErrorKind> {
    serde_json::from_slice::<Attributes>(json).map(|a| a.attributes).map_err(|e| ErrorKind::Answer(e.to_string()))
}

impl Client {
    /// Send `message`; its id once SQS has stored it.
    pub async fn send_message(&self, message: &SendMessage<'_>) -> Result<String, Error> {
        self.call(&request(message), read_answer).await
    }

    /// The queue's attributes `names` (e.g. `ApproximateNumberOfMessages`), by name.
    pub async fn get_queue_attributes(
        &self,
        queue_url: &str,
        names: &[&str],
    ) -> Result<HashMap<String, String>, Error> {
        self.call(&attributes_request(queue_url, names), read_attributes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_fifo_messages_are_written_as_sqs_reads_them() {
        let mut message = SendMessage {
            queue_url: "https://q/1/jobs",
            message_body: "{\"n\":1}",
            message_group_id: None,
            message_deduplication_id: None,
        };
        assert_eq!(request(&message).body, r#"{"QueueUrl":"https://q/1/jobs","MessageBody":"{\"n\":1}"}"#);
        message.message_group_id = Some("g");
        message.message_deduplication_id = Some("d");
        let json: serde_json::Value = serde_json::from_slice(&request(&message).body).unwrap();
        assert_eq!((json["MessageGroupId"].as_str(), json["MessageDeduplicationId"].as_str()), (Some("g"), Some("d")));
    }

    #[test]
    fn attributes_are_asked_for_and_read_by_name() {
        let call = attributes_request(
            "https://q/1/jobs",
            &["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
        );
        assert_eq!(call.target, Some("AmazonSQS.GetQueueAttributes"));
        assert_eq!(
            call.body,
            r#"{"QueueUrl":"https://q/1/jobs","AttributeNames":["ApproximateNumberOfMessages","ApproximateNumberOfMessagesDelayed"]}"#
        );
        let read = read_attributes(
            br#"{"Attributes":{"ApproximateNumberOfMessages":"12","ApproximateNumberOfMessagesDelayed":"0"}}"#,
        )
        .unwrap();
        assert_eq!(read["ApproximateNumberOfMessages"], "12");
        assert!(read_attributes(b"{}").unwrap().is_empty(), "no attributes asked for that exist");
        assert!(read_attributes(br#"{"Attributes":{"A":1}}"#).is_err(), "SQS writes every value as text");
    }

    #[test]
    fn the_answer_gives_the_id_or_an_error() {
        let answer = br#"{"MD5OfMessageBody":"x","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#;
        assert_eq!(read_answer(answer).unwrap(), "5fea7756-0ea4-451a-a703-a558b933e274");
        assert!(read_answer(b"{}").is_err());
    }
}
