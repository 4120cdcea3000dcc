//! The AWS calls Switchyard's Lambdas make, without the AWS SDK.
//!
//! The SDK's runtime and four clients made up more than half of the router's `bootstrap` (≈2.7 of
//! 5.1 MB), and half of the scaler's (4.8 → 2.3 MB without it), for a handful of requests: the
//! router's (a group's instances, their addresses, a metric, a queued message) and the scaler's
//! (groups' sizes, a queue's depth, metrics read and written, a desired capacity set). Each is one
//! signed POST. This crate makes them with SigV4 signing ([`sigv4`]), the query protocol's XML
//! ([`xml`]) or AWS JSON 1.0, and a pooled hyper client with rustls on *ring* (HTTP/1.1), keeping
//! what a function relies on from the SDK:
//! - credentials, region, FIPS and endpoint overrides read from Lambda's variables ([`Config`]);
//! - the standard retry mode: 3 attempts, jittered exponential backoff, a retry quota; throttling,
//!   5xx and transport errors retried, nothing else ([`client`]);
//! - errors that name the operation, the service's error code and its message ([`Error`]).
//!
//! Each call is a pure request builder and a pure answer reader around [`Client::send`], so both
//! sides are unit-tested on recorded documents; LocalStack tests (in `tests/`) cover them end to end.

pub mod autoscaling;
pub mod client;
pub mod cloudwatch;
pub mod config;
pub mod ec2;
pub mod sigv4;
pub mod sqs;
pub mod time;
pub mod xml;

pub use client::{Client, Error, ErrorKind};
pub use config::{Access, Config, Credentials, EnvError, Service};

/// A query-protocol request body: `Action=…&Version=…&Name=value…`, form-encoded.
#[derive(Debug)]
pub(crate) struct Form(String);

impl Form {
    pub(crate) fn new(action: &str, version: &str) -> Self {
        let mut form = Form(String::with_capacity(256));
        form.0.push_str("Action=");
        form.0.push_str(action);
        form.0.push_str("&Version=");
        form.0.push_str(version);
        form
    }

    pub(crate) fn param(&mut self, name: &str, value: &str) -> &mut Self {
        self.0.push('&');
        encode_into(name, &mut self.0);
        self.0.push('=');
        encode_into(value, &mut self.0);
        self
    }

    pub(crate) fn into_body(self) -> bytes::Bytes {
        bytes::Bytes::from(self.0)
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters (what SigV4 and the query
/// protocol both accept).
fn encode_into(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// The content type of a query-protocol request.
pub(crate) const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
/// The content type of an AWS JSON 1.0 request.
pub(crate) const JSON: &str = "application/x-amz-json-1.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_names_and_values() {
        let mut form = Form::new("DescribeInstances", "2016-11-15");
        form.param("Filter.1.Name", "tag:a b").param("NextToken", "x/y+z=é~");
        assert_eq!(
            String::from_utf8(form.into_body().to_vec()).unwrap(),
            "Action=DescribeInstances&Version=2016-11-15&Filter.1.Name=tag%3Aa%20b&NextToken=x%2Fy%2Bz%3D%C3%A9~"
        );
    }
}
