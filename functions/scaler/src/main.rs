//! Switchyard scaler: a scheduled Lambda that resizes web and consumer fleets.
//!
//! Foundation only: the event contract (`{"dry_run": true}` by hand, or an EventBridge scheduled
//! event) and the report shape. Reading signals and deciding land with issue "Scaler Lambda".

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde::{Deserialize, Serialize};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    run(service_fn(tick)).await
}

/// The invocation: EventBridge's scheduled event carries no `dry_run`, so it defaults to acting.
#[derive(Debug, Default, Deserialize)]
struct Tick {
    #[serde(default)]
    dry_run: bool,
}

/// What one tick did, per fleet.
#[derive(Debug, Serialize)]
struct TickReport {
    dry_run: bool,
    fleets: Vec<serde_json::Value>,
    failed: Vec<String>,
}

async fn tick(event: LambdaEvent<serde_json::Value>) -> Result<TickReport, Error> {
    let tick: Tick = serde_json::from_value(event.payload).unwrap_or_default();
    tracing::info!(dry_run = tick.dry_run, "tick: no fleets configured");
    Ok(TickReport { dry_run: tick.dry_run, fleets: Vec::new(), failed: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scheduled_event_is_not_a_dry_run() {
        let scheduled = serde_json::json!({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}});
        let report = tick(LambdaEvent::new(scheduled, Default::default())).await.unwrap();
        assert!(!report.dry_run);
    }

    #[tokio::test]
    async fn dry_run_is_read_from_a_manual_invocation() {
        let report = tick(LambdaEvent::new(serde_json::json!({"dry_run": true}), Default::default())).await.unwrap();
        assert!(report.dry_run);
    }
}
