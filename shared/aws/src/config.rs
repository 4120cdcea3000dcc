//! Region, credentials and endpoints, from the variables Lambda sets.

use std::fmt;

/// The services this crate calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    AutoScaling,
    Ec2,
    CloudWatch,
    Sqs,
}

impl Service {
    const ALL: [Service; 4] = [Service::AutoScaling, Service::Ec2, Service::CloudWatch, Service::Sqs];

    /// The name in endpoints and in the signature's scope.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::AutoScaling => "autoscaling",
            Service::Ec2 => "ec2",
            Service::CloudWatch => "monitoring",
            Service::Sqs => "sqs",
        }
    }

    /// The variable that points this one service elsewhere (the SDKs' service id, upper case).
    pub fn endpoint_variable(self) -> &'static str {
        match self {
            Service::AutoScaling => "AWS_ENDPOINT_URL_AUTO_SCALING",
            Service::Ec2 => "AWS_ENDPOINT_URL_EC2",
            Service::CloudWatch => "AWS_ENDPOINT_URL_CLOUDWATCH",
            Service::Sqs => "AWS_ENDPOINT_URL_SQS",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A variable the program cannot start without, or one with a value it cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct EnvError {
    pub name: String,
    pub problem: String,
}

impl EnvError {
    fn new(name: &str, problem: impl Into<String>) -> Self {
        EnvError { name: name.to_owned(), problem: problem.into() }
    }
}

/// Access key, secret and (for a role's temporary credentials) the session token. `Debug` shows
/// the key id only.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl Credentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        Credentials { access_key_id: access_key_id.into(), secret_access_key: secret_access_key.into(), session_token }
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("session_token", &self.session_token.as_ref().map(|_| "** redacted **"))
            .finish()
    }
}

/// What Lambda's variables say about access before any endpoint: region, credentials, FIPS.
#[derive(Debug, Clone)]
pub struct Access {
    pub region: String,
    pub credentials: Credentials,
    pub fips: bool,
}

impl Access {
    /// `AWS_REGION` (else `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_USE_FIPS_ENDPOINT`, through `get`; an empty value is unset.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        let region = get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")).ok_or_else(|| {
            EnvError::new("AWS_REGION", "is not set (Lambda always sets it; set it when running locally)")
        })?;
        let key = get("AWS_ACCESS_KEY_ID").ok_or_else(|| {
            EnvError::new(
                "AWS_ACCESS_KEY_ID",
                "is not set: Lambda sets it from the execution role; locally, export credentials",
            )
        })?;
        let secret = get("AWS_SECRET_ACCESS_KEY")
            .ok_or_else(|| EnvError::new("AWS_SECRET_ACCESS_KEY", "is not set while AWS_ACCESS_KEY_ID is"))?;
        let credentials = Credentials::new(key, secret, get("AWS_SESSION_TOKEN"));
        Ok(Access { region, credentials, fips: flag(get, "AWS_USE_FIPS_ENDPOINT")? })
    }
}

/// A `true`/`false` variable (any case); unset is `false`.
fn flag(get: impl Fn(&str) -> Option<String>, name: &str) -> Result<bool, EnvError> {
    match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(EnvError::new(name, "must be true or false")),
    }
}

/// Where one service's requests go: `scheme://authority` and a path (`/` on AWS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub(crate) uri: http::Uri,
    /// The `Host` header, as signed: the authority without a default port.
    pub(crate) host: String,
}

impl Endpoint {
    fn parse(url: &str) -> Result<Self, String> {
        let uri: http::Uri = url.trim().parse().map_err(|e| format!("{e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("must start with http:// or https://".into()),
        };
        let authority = uri.authority().ok_or("has no host")?;
        if uri.query().is_some() {
            return Err("must not have a query".into());
        }
        let default_port = if https { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => format!("{}:{port}", authority.host()),
            _ => authority.host().to_owned(),
        };
        Ok(Endpoint { uri, host })
    }

    /// The URL requests go to.
    pub fn url(&self) -> String {
        self.uri.to_string()
    }

    /// The URI path requests are sent (and signed) with.
    pub(crate) fn path(&self) -> &str {
        match self.uri.path() {
            "" => "/",
            path => path,
        }
    }
}

/// What every call needs: region, credentials, and each service's endpoint.
#[derive(Debug, Clone)]
pub struct Config {
    region: String,
    credentials: Credentials,
    endpoints: [Endpoint; 4],
}

impl Config {
    /// A configuration for AWS's own endpoints in `region` (FIPS ones if `fips`).
    pub fn new(region: &str, credentials: Credentials, fips: bool) -> Result<Self, EnvError> {
        if region.is_empty() || !region.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(EnvError::new("AWS_REGION", format!("{region:?} is not a region name")));
        }
        let endpoints = Service::ALL.map(|service| {
            let url = default_endpoint(service, region, fips);
            Endpoint::parse(&url).unwrap_or_else(|_| unreachable!("a checked region makes a valid URL: {url}"))
        });
        Ok(Config { region: region.to_owned(), credentials, endpoints })
    }

    /// Every service at one URL (LocalStack).
    pub fn with_endpoint_url(mut self, url: &str) -> Result<Self, EnvError> {
        let endpoint = Endpoint::parse(url).map_err(|p| EnvError::new("AWS_ENDPOINT_URL", p))?;
        self.endpoints = Service::ALL.map(|_| endpoint.clone());
        Ok(self)
    }

    /// One service at `url`.
    pub fn with_service_endpoint_url(mut self, service: Service, url: &str) -> Result<Self, EnvError> {
        self.endpoints[service.index()] =
            Endpoint::parse(url).map_err(|p| EnvError::new(service.endpoint_variable(), p))?;
        Ok(self)
    }

    /// The configuration from Lambda's environment, through `get` (`std::env::var` in a
    /// function; a table in tests):
    ///
    /// | variable | use |
    /// | --- | --- |
    /// | `AWS_REGION` (else `AWS_DEFAULT_REGION`) | region; required |
    /// | `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` | the execution role's credentials, which Lambda sets for the environment's lifetime; the first two required |
    /// | `AWS_USE_FIPS_ENDPOINT` | `true` for FIPS endpoints |
    /// | `AWS_ENDPOINT_URL` | one endpoint for every service (LocalStack) |
    /// | `AWS_ENDPOINT_URL_<SERVICE>` | one service's endpoint (`AUTO_SCALING`, `EC2`, `CLOUDWATCH`, `SQS`); wins over `AWS_ENDPOINT_URL` |
    /// | `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` | `true`: the two above are ignored |
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let get = |name: &str| get(name).filter(|v| !v.is_empty());
        let access = Access::from_env(get)?;
        let mut config = Config::new(&access.region, access.credentials, access.fips)?;
        if !flag(get, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")? {
            if let Some(url) = get("AWS_ENDPOINT_URL") {
                config = config.with_endpoint_url(&url)?;
            }
            for service in Service::ALL {
                if let Some(url) = get(service.endpoint_variable()) {
                    config = config.with_service_endpoint_url(service, &url)?;
                }
            }
        }
        Ok(config)
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    pub fn endpoint(&self, service: Service) -> &Endpoint {
        &self.endpoints[service.index()]
    }
}

/// `https://{service}[-fips].{region}.{partition's DNS suffix}`: the endpoint rules' default for
/// these four services, which all have regional endpoints in every partition.
fn default_endpoint(service: Service, region: &str, fips: bool) -> String {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else if region.starts_with("us-isob-") {
        "sc2s.sgov.gov"
    } else if region.starts_with("us-isof-") {
        "csp.hci.ic.gov"
    } else if region.starts_with("us-iso-") {
        "c2s.ic.gov"
    } else if region.starts_with("eu-isoe-") {
        "cloud.adc-e.uk"
    } else {
        "amazonaws.com"
    };
    let fips = if fips { "-fips" } else { "" };
    format!("https://{}{fips}.{region}.{suffix}", service.signing_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, EnvError> {
        Config::from_env(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string()))
    }

    const BASE: [(&str, &str); 3] =
        [("AWS_REGION", "eu-west-1"), ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"), ("AWS_SECRET_ACCESS_KEY", "s3cr3t")];

    #[test]
    fn lambdas_variables_make_the_configuration() {
        let config = from(&[BASE[0], BASE[1], BASE[2], ("AWS_SESSION_TOKEN", "t0ken")]).unwrap();
        assert_eq!(config.region(), "eu-west-1");
        assert_eq!(config.credentials().session_token(), Some("t0ken"));
        assert_eq!(config.endpoint(Service::CloudWatch).url(), "https://monitoring.eu-west-1.amazonaws.com/");
        assert_eq!(config.endpoint(Service::Sqs).host, "sqs.eu-west-1.amazonaws.com");
        let debug = format!("{:?}", config.credentials());
        assert!(debug.contains("AKIDEXAMPLE") && !debug.contains("s3cr3t") && !debug.contains("t0ken"), "{debug}");
    }

    #[test]
    fn endpoints_follow_partition_fips_and_overrides() {
        let cn = from(&[("AWS_REGION", "cn-north-1"), BASE[1], BASE[2], ("AWS_USE_FIPS_ENDPOINT", "TRUE")]).unwrap();
        assert_eq!(cn.endpoint(Service::Ec2).host, "ec2-fips.cn-north-1.amazonaws.com.cn");
        let local = from(&[
            BASE[0],
            BASE[1],
            BASE[2],
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ("AWS_ENDPOINT_URL_SQS", "https://sqs.example:443/prefix"),
        ])
        .unwrap();
        assert_eq!(local.endpoint(Service::AutoScaling).host, "127.0.0.1:4566");
        assert_eq!(local.endpoint(Service::AutoScaling).path(), "/");
        assert_eq!(
            (local.endpoint(Service::Sqs).host.as_str(), local.endpoint(Service::Sqs).path()),
            ("sqs.example", "/prefix")
        );
        let ignored = from(&[
            BASE[0],
            BASE[1],
            BASE[2],
            ("AWS_ENDPOINT_URL", "http://x:1"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
        ])
        .unwrap();
        assert_eq!(ignored.endpoint(Service::Ec2).host, "ec2.eu-west-1.amazonaws.com");
    }

    #[test]
    fn a_missing_or_bad_variable_is_named() {
        let base = [("AWS_DEFAULT_REGION", "us-east-1"), BASE[1], BASE[2]];
        assert!(from(&base).is_ok(), "AWS_DEFAULT_REGION stands in for AWS_REGION");
        assert_eq!(from(&base[1..]).unwrap_err().name, "AWS_REGION");
        assert_eq!(from(&[base[0], base[2]]).unwrap_err().name, "AWS_ACCESS_KEY_ID");
        assert_eq!(from(&[base[0], base[1], ("AWS_SECRET_ACCESS_KEY", "")]).unwrap_err().name, "AWS_SECRET_ACCESS_KEY");
        assert_eq!(
            from(&[base[0], base[1], base[2], ("AWS_USE_FIPS_ENDPOINT", "yes")]).unwrap_err().name,
            "AWS_USE_FIPS_ENDPOINT"
        );
        assert_eq!(from(&[("AWS_REGION", "evil.com/x"), base[1], base[2]]).unwrap_err().name, "AWS_REGION");
        for bad in ["ftp://x", "localhost:4566", "http://x/?a=b", "http://"] {
            assert_eq!(
                from(&[base[0], base[1], base[2], ("AWS_ENDPOINT_URL_EC2", bad)]).unwrap_err().name,
                "AWS_ENDPOINT_URL_EC2",
                "{bad}"
            );
        }
    }
}
