//! Switchyard's scaler: every minute, read each fleet's signals, decide its size with
//! `switchyard-algorithms`, and resize it with SetDesiredCapacity.
//!
//! The Lambda handler (`main.rs`) is a thin shell: parse the event, run [`tick::tick`] with the SDK
//! implementation of [`cloud::Cloud`], log the decisions. Everything it decides is testable with
//! an in-memory `Cloud`; everything it calls is tested against LocalStack.

pub mod cloud;
pub mod config;
pub mod emf;
pub mod tick;

use serde::Deserialize;

/// The invocation: EventBridge's scheduled event (or `{"dry_run": false}` as the template sends),
/// or `{"dry_run": true}` by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct Invocation {
    #[serde(default)]
    pub dry_run: bool,
}

/// Why an event was refused. Nothing is decided or changed for a refused event.
#[derive(Debug, thiserror::Error)]
#[error("the scaler expects a JSON object such as {{\"dry_run\": true}} or a scheduled event: {0}")]
pub struct BadEvent(String);

impl Invocation {
    /// Objects are accepted (a scheduled event's other fields are ignored); `dry_run` must be a
    /// boolean when present; anything else is refused rather than guessed at.
    pub fn from_event(event: serde_json::Value) -> Result<Self, BadEvent> {
        if !event.is_object() {
            return Err(BadEvent(format!("got {event}")));
        }
        serde_json::from_value(event).map_err(|e| BadEvent(e.to_string()))
    }
}
