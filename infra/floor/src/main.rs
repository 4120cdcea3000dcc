//! The floor the router's size and cold start are measured against: what any Rust Lambda function
//! that calls these four AWS services pays before its own code. The SDK configuration is loaded
//! the same way as the router's (`switchyard_env::sdk_config`) and the four clients are
//! constructed; the handler only echoes its event, keeping the clients alive.

use lambda_runtime::{Error, LambdaEvent, run_concurrent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sdk = switchyard_env::sdk_config().await;
    let clients = std::sync::Arc::new((
        aws_sdk_autoscaling::Client::new(&sdk),
        aws_sdk_ec2::Client::new(&sdk),
        aws_sdk_sqs::Client::new(&sdk),
        aws_sdk_cloudwatch::Client::new(&sdk),
    ));
    run_concurrent(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let clients = std::sync::Arc::clone(&clients);
        async move {
            std::hint::black_box(&clients);
            Ok::<_, Error>(event.payload)
        }
    }))
    .await
}
