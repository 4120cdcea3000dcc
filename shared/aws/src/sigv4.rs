//! AWS Signature Version 4 for one request, as a pure function of the request, the credentials
//! and the time (<https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html>).
//!
//! Only what the router's calls need: header signing (no presigned URLs, no chunked payloads), the
//! canonical query passed in already encoded. Checked against AWS's published examples and against
//! the SDK's own `aws-sigv4` crate (tests).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::Credentials;
use crate::time::AmzDate;

type HmacSha256 = Hmac<Sha256>;

/// What is signed: the request line, the headers (names in lower case) and the payload.
#[derive(Debug, Clone, Copy)]
pub struct Signable<'a> {
    pub method: &'a str,
    /// The URI path, already URI-encoded (`/` for every call here).
    pub path: &'a str,
    /// The canonical query string (names and values encoded and sorted), empty for POSTs.
    pub query: &'a str,
    /// Every header to sign, `host` and `x-amz-date` included, names in lower case.
    pub headers: &'a [(&'a str, &'a str)],
    pub payload: &'a [u8],
}

/// Where the signature is valid: region and the service's signing name (`monitoring` for CloudWatch).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// The `Authorization` header's value.
pub fn authorization(request: &Signable<'_>, credentials: &Credentials, scope: Scope<'_>, at: &AmzDate) -> String {
    let mut headers: Vec<(&str, String)> = request.headers.iter().map(|(n, v)| (*n, canonical_value(v))).collect();
    headers.sort_by(|a, b| a.0.cmp(b.0));
    let signed_headers = headers.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(";");
    let mut canonical = format!("{}\n{}\n{}\n", request.method, request.path, request.query);
    for (name, value) in &headers {
        canonical.push_str(name);
        canonical.push(':');
        canonical.push_str(value);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&signed_headers);
    canonical.push('\n');
    canonical.push_str(&hex(&Sha256::digest(request.payload)));

    let credential_scope = format!("{}/{}/{}/aws4_request", at.date(), scope.region, scope.service);
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{}\n{credential_scope}\n{}", at.as_str(), hex(&Sha256::digest(canonical)));
    let mut key = hmac(format!("AWS4{}", credentials.secret_access_key()).as_bytes(), at.date().as_bytes());
    for part in [scope.region, scope.service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{credential_scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id()
    )
}

/// A header value as SigV4 signs it: trimmed, inner runs of spaces collapsed to one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example_credentials(token: Option<&str>) -> Credentials {
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token.map(str::to_owned))
    }

    const AT: u64 = 1_440_938_160; // 20150830T123600Z

    /// `get-vanilla` from AWS's SigV4 test suite.
    #[test]
    fn the_test_suites_vanilla_get() {
        let request = Signable {
            method: "GET",
            path: "/",
            query: "",
            headers: &[("host", "example.amazonaws.com"), ("x-amz-date", "20150830T123600Z")],
            payload: b"",
        };
        let scope = Scope { region: "us-east-1", service: "service" };
        assert_eq!(
            authorization(&request, &example_credentials(None), scope, &AmzDate::from_unix_secs(AT)),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    /// `post-x-www-form-urlencoded` from the same suite: a signed body and five headers.
    #[test]
    fn the_test_suites_form_post() {
        let request = Signable {
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("content-length", "13"),
                ("content-type", "application/x-www-form-urlencoded"),
                ("host", "example.amazonaws.com"),
                ("x-amz-content-sha256", "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            payload: b"Param1=value1",
        };
        let scope = Scope { region: "us-east-1", service: "service" };
        let header = authorization(&request, &example_credentials(None), scope, &AmzDate::from_unix_secs(AT));
        assert!(
            header.ends_with("Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"),
            "{header}"
        );
    }

    /// The IAM `ListUsers` example of the SigV4 documentation.
    #[test]
    fn the_documentations_list_users() {
        let request = Signable {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &[
                ("content-type", "application/x-www-form-urlencoded; charset=utf-8"),
                ("host", "iam.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            payload: b"",
        };
        let scope = Scope { region: "us-east-1", service: "iam" };
        let header = authorization(&request, &example_credentials(None), scope, &AmzDate::from_unix_secs(AT));
        assert!(
            header.ends_with("Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"),
            "{header}"
        );
    }

    /// The SDK's signer, given the same POST (body, token, JSON target), writes the same header.
    #[test]
    fn agrees_with_the_sdks_signer_on_a_post_with_a_session_token() {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4::SigningParams;

        let body = br#"{"QueueUrl":"https://sqs.eu-west-1.amazonaws.com/1/q","MessageBody":"caf\u00e9  two  spaces"}"#;
        let host = "sqs.eu-west-1.amazonaws.com";
        let date = AmzDate::from_unix_secs(1_764_403_200 + 3_723);
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("host", host),
            ("x-amz-date", date.as_str()),
            ("x-amz-security-token", "token/with+chars="),
            ("x-amz-target", "AmazonSQS.SendMessage"),
        ];
        let ours = authorization(
            &Signable { method: "POST", path: "/", query: "", headers: &headers, payload: body },
            &example_credentials(Some("token/with+chars=")),
            Scope { region: "eu-west-1", service: "sqs" },
            &date,
        );

        let identity = aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("token/with+chars=".into()),
            None,
            "test",
        )
        .into();
        let params = SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("sqs")
            .time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_403_200 + 3_723))
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let unsigned =
            [("content-type", "application/x-amz-json-1.0"), ("host", host), ("x-amz-target", "AmazonSQS.SendMessage")];
        let signable = SignableRequest::new(
            "POST",
            format!("https://{host}/"),
            unsigned.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let theirs = instructions.headers().find(|(n, _)| n.eq_ignore_ascii_case("authorization")).unwrap().1;
        assert_eq!(ours, theirs);
    }

    #[test]
    fn header_values_are_trimmed_and_spaces_collapsed() {
        assert_eq!(canonical_value("  a   b c  "), "a b c");
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }
}
