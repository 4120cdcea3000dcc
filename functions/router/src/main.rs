//! The router Lambda: configuration and AWS clients at cold start, then one
//! `Router::handle_event` per request. Several invocations run at once in one environment
//! (`run_concurrent`).

use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent, run_concurrent, service_fn};
use router::checker::{Checker, CheckerConfig};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;

/// How long the head-start calls at cold start may take before they are given up.
const WARM_LIMIT: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT=JSON, set by template.yaml).
    switchyard_env::init_lambda_logs();
    match std::env::var("SWITCHYARD_MODE").as_deref() {
        Err(_) | Ok("router") => {}
        Ok("health_checker") => return health_checker().await,
        Ok(other) => return Err(format!("SWITCHYARD_MODE: {other:?} is not router or health_checker").into()),
    }
    // A bad configuration stops the cold start with a message naming the key.
    let config = RouterConfig::from_env()?;
    let sdk = if config.needs_aws() { Some(switchyard_env::sdk_config().await) } else { None };
    let router = Arc::new(Router::from_sdk(config, sdk.as_ref(), now()).await?);
    // In the background: the first Runtime API `next` does not wait for it.
    let warming = Arc::clone(&router);
    tokio::spawn(async move { warming.warm(WARM_LIMIT).await });
    let counter = Arc::new(AtomicU64::new(0));
    run_concurrent(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (router, counter) = (Arc::clone(&router), Arc::clone(&counter));
        async move {
            let now = now();
            // A per-request random number from std's randomly keyed hasher: no RNG crate needed.
            let random =
                std::collections::hash_map::RandomState::new().hash_one(counter.fetch_add(1, Ordering::Relaxed));
            Ok::<_, Error>(router.handle_event(event.payload, &event.context.request_id, now, random).await)
        }
    }))
    .await
}

/// The same binary as the health checker (see `router::checker`): one invocation per schedule
/// tick, each checking for most of a minute.
async fn health_checker() -> Result<(), Error> {
    let config = CheckerConfig::from_env()?;
    let sdk = switchyard_env::sdk_config().await;
    let checker = Arc::new(Checker::from_sdk(config, &sdk));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let checker = Arc::clone(&checker);
        async move {
            let deadline = Time::from_millis(event.context.deadline);
            let rounds = checker.run(now, deadline).await;
            Ok::<_, Error>(serde_json::json!({ "rounds": rounds }))
        }
    }))
    .await
}

fn now() -> Time {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| Time::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        .unwrap_or(Time::ZERO)
}
