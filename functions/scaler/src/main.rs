//! The scaler Lambda: configuration and clients at cold start, then one tick per invocation.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use scaler::cloud::AwsCloud;
use scaler::config::Config;
use scaler::tick::{TickReport, tick};
use scaler::{Invocation, emf};
use switchyard_algorithms::Time;

#[tokio::main]
async fn main() -> Result<(), Error> {
    switchyard_env::init_lambda_logs();
    // A bad configuration stops the cold start with a message naming the key.
    let config = Config::from_env()?;
    let cloud = AwsCloud::new(&switchyard_env::sdk_config().await);
    run(service_fn(|event: LambdaEvent<serde_json::Value>| handle(&cloud, &config, event.payload))).await
}

async fn handle(cloud: &AwsCloud, config: &Config, event: serde_json::Value) -> Result<TickReport, Error> {
    let invocation = Invocation::from_event(event)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Time::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        .unwrap_or(Time::ZERO);
    let report = tick(cloud, config, invocation.dry_run, now).await;
    let namespace = &config.tuning.namespace;
    for fleet in &report.fleets {
        tracing::info!(decision = %serde_json::to_string(fleet).unwrap_or_default(), dry_run = report.dry_run, "fleet decided");
        println!("{}", emf::decision(namespace, report.at_ms, fleet));
    }
    for failure in &report.failed {
        tracing::error!(fleet = %failure.fleet, error = %failure.error, "fleet not scaled");
        println!("{}", emf::failure(namespace, report.at_ms, failure));
    }
    Ok(report)
}
