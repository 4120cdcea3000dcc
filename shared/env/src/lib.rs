//! What a Switchyard program takes from its environment at start.
//!
//! With the `sdk` feature (every program but the router, which calls AWS through `switchyard-aws`):
//! - [`https_client`]: the one HTTP client every AWS SDK client here uses — rustls with *ring*.
//!   The SDK's default (`default-https-client`) is rustls with aws-lc, a C library that is both
//!   the slowest dependency to build (cmake, and again for each target) and the largest part of a
//!   function's binary after the SDK itself. Nothing here needs what aws-lc adds (FIPS, post-quantum
//!   key exchange); SigV4 signing does not touch the TLS provider at all.
//! - [`lambda_sdk_config`]: the SDK configuration a Lambda function needs, read from the variables
//!   Lambda sets, without `aws-config`'s provider chain. The chain (profiles, SSO, STS web identity,
//!   ECS and instance metadata) never finds anything in Lambda that the environment variables do not
//!   already hold, and it links two more SDK clients into every function.
//!   Programs that run elsewhere (the consumer worker on EC2, local tools) keep `aws-config`, with
//!   [`https_client`].
//! - [`init_lambda_logs`]: the subscriber `lambda_runtime` would install, without `EnvFilter` (and
//!   the regex engine it brings): Lambda's advanced logging controls set one level, not directives.

#[cfg(feature = "sdk")]
mod sdk;
#[cfg(feature = "sdk")]
pub use sdk::{EnvError, https_client, lambda_sdk_config};

/// Logs as Lambda's advanced logging controls ask: the level from `AWS_LAMBDA_LOG_LEVEL` (else
/// `RUST_LOG`, read as one level; else INFO), JSON lines when `AWS_LAMBDA_LOG_FORMAT` is `JSON`
/// (the template sets it). No timestamps: CloudWatch Logs stamps each line.
pub fn init_lambda_logs() {
    use tracing_subscriber::filter::LevelFilter;
    let var = |name| std::env::var(name).ok();
    let level = var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|| var("RUST_LOG"))
        .and_then(|l| l.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    let logs = tracing_subscriber::fmt().with_target(false).without_time().with_max_level(level);
    if var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
}
