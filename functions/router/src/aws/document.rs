//! The routing document where it changes without a deploy: an SSM Parameter Store parameter,
//! read at start and every refresh period by every router environment.

use super::{BoxFuture, CloudError};

/// A document's text and the version it was read at (a parameter's version grows with every
/// change), so that an unchanged document is not compiled again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub text: String,
    pub version: i64,
}

/// Where the routing document is kept.
pub trait DocumentSource: Send + Sync + std::fmt::Debug {
    fn fetch(&self) -> BoxFuture<'_, Result<Versioned, CloudError>>;
}

/// An SSM parameter (String, or SecureString: it is read with decryption).
#[derive(Debug, Clone)]
pub struct ParameterDocument {
    pub ssm: aws_sdk_ssm::Client,
    pub name: String,
}

impl DocumentSource for ParameterDocument {
    fn fetch(&self) -> BoxFuture<'_, Result<Versioned, CloudError>> {
        Box::pin(async move {
            let output = self
                .ssm
                .get_parameter()
                .name(&self.name)
                .with_decryption(true)
                .send()
                .await
                .map_err(CloudError::from_sdk("GetParameter"))?;
            let parameter = output.parameter.ok_or_else(|| CloudError {
                operation: "GetParameter",
                message: format!("{} came back without its parameter", self.name),
            })?;
            Ok(Versioned { text: parameter.value.unwrap_or_default(), version: parameter.version })
        })
    }
}
