//! The AWS SDK's configuration and HTTPS client (feature `sdk`).

use aws_config::BehaviorVersion;
use aws_smithy_http_client::tls;
use aws_types::SdkConfig;
use aws_types::sdk_config::SharedHttpClient;

/// HTTPS (and plain HTTP, for local endpoints) for the AWS SDK: rustls with *ring*, the system's
/// trusted roots, HTTP/1.1 and HTTP/2 as the SDK negotiates them.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration the standard way: `aws-config`'s default chain, which in Lambda reads
/// the region and the execution role's credentials from the environment, and everywhere honours
/// `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>` (LocalStack), `AWS_USE_FIPS_ENDPOINT` and
/// `AWS_USE_DUALSTACK_ENDPOINT`; with [`https_client`] as the one HTTP client. Retries are the
/// SDK's standard mode (3 attempts), the connect timeout its default (3.1 s).
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).load().await
}
