//! The AWS SDK's HTTPS client (feature `sdk`).

use aws_smithy_http_client::tls;
use aws_types::sdk_config::SharedHttpClient;

/// HTTPS (and plain HTTP, for local endpoints) for the AWS SDK: rustls with *ring*, the system's
/// trusted roots, HTTP/1.1 and HTTP/2 as the SDK negotiates them.
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https()
}
