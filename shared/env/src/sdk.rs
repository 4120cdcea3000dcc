//! The AWS SDK's HTTPS client and Lambda configuration (feature `sdk`).

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_types::sdk_config::{RetryConfig, SharedHttpClient, TimeoutConfig};
use switchyard_aws::Access;

/// A variable the function cannot start without, or one with a value it cannot use.
pub use switchyard_aws::EnvError;

/// HTTPS (and plain HTTP, for local endpoints) for the AWS SDK: rustls with *ring*, the system's
/// trusted roots, HTTP/1.1 and HTTP/2 as the SDK negotiates them.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration from Lambda's environment, through `get` (`std::env::var` in a
/// function; a table in tests):
///
/// | variable | use |
/// | --- | --- |
/// | `AWS_REGION` (else `AWS_DEFAULT_REGION`) | region; required |
/// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | the execution role's credentials, which Lambda sets for the environment's lifetime; the first two required |
/// | `AWS_ENDPOINT_URL` | one endpoint for every service (LocalStack) |
/// | `AWS_USE_FIPS_ENDPOINT` | `true` for FIPS endpoints |
///
/// Retries and the connect timeout are `aws-config`'s defaults: standard retry (3 attempts), 3.1 s.
pub fn lambda_sdk_config(get: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, EnvError> {
    let get = |name: &str| get(name).filter(|v| !v.is_empty());
    // The same reading as the router's (`switchyard_aws::Access`), so both name a bad variable alike.
    let Access { region, credentials, fips } = Access::from_env(get)?;
    let credentials = Credentials::new(
        credentials.access_key_id(),
        credentials.secret_access_key(),
        credentials.session_token().map(str::to_owned),
        None,
        "Lambda environment",
    );
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(https_client())
        .retry_config(RetryConfig::standard())
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_millis(3_100)).build())
        .use_fips(fips);
    if let Some(url) = get("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    Ok(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<SdkConfig, EnvError> {
        lambda_sdk_config(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn lambdas_variables_make_the_configuration() {
        let config = from(&[
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ])
        .unwrap();
        assert_eq!(config.region().map(Region::as_ref), Some("eu-west-1"));
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(config.credentials_provider().is_some() && config.http_client().is_some());
        assert_eq!(config.use_fips(), Some(false));
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let base = [("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "s")];
        assert!(from(&base).is_ok(), "AWS_DEFAULT_REGION stands in for AWS_REGION");
        assert_eq!(from(&base[1..]).unwrap_err().name, "AWS_REGION");
        assert_eq!(from(&[base[0], base[2]]).unwrap_err().name, "AWS_ACCESS_KEY_ID");
        assert_eq!(from(&[base[0], base[1], ("AWS_SECRET_ACCESS_KEY", "")]).unwrap_err().name, "AWS_SECRET_ACCESS_KEY");
        let fips = [base[0], base[1], base[2], ("AWS_USE_FIPS_ENDPOINT", "yes")];
        assert_eq!(from(&fips).unwrap_err().name, "AWS_USE_FIPS_ENDPOINT");
    }
}
