//! What a Switchyard program takes from its environment at start.
//!
//! With the `sdk` feature (every program that calls AWS: both Lambdas, the consumer worker, the
//! local tools and the tests):
//! - [`sdk_config`]: the SDK configuration from the environment, the standard way.
//! - [`https_client`]: the one HTTP client every AWS SDK client here uses — rustls with *ring*.
//!   The SDK's default (`default-https-client`) is rustls with aws-lc, a C library that is both
//!   the slowest dependency to build (cmake, and again for each target) and the largest part of a
//!   binary after the SDK itself. Nothing here needs what aws-lc adds (FIPS, post-quantum key
//!   exchange); SigV4 signing does not touch the TLS provider at all.
//!
//! Always:
//! - [`Env`]: the one reader of settings for the router, the scaler and the worker — typed
//!   getters (strings, numbers within a range, durations, choices, flags, lists) over any key →
//!   value lookup, each refusing a bad value with one [`ConfigError`] naming the key and what is
//!   allowed.
//! - [`init_lambda_logs`]: the subscriber `lambda_runtime` would install, without `EnvFilter` (and
//!   the regex engine it brings): Lambda's advanced logging controls set one level, not directives.

mod reader;
#[cfg(feature = "sdk")]
mod sdk;

pub use reader::{ConfigError, Env, Number};
#[cfg(feature = "sdk")]
pub use sdk::{https_client, sdk_config};

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
