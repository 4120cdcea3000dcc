//! Integration-test support: one LocalStack endpoint per test binary, and SDK configuration for it.
//!
//! Where the endpoint comes from, in order:
//! 1. `SWITCHYARD_LOCALSTACK_ENDPOINT` names a running instance (for example one started with
//!    `bash infra/localstack.sh start`); the tests use it as it is.
//! 2. Otherwise the first test that asks starts a private instance on a free loopback port with
//!    `infra/localstack.sh`, shared by every test of this binary. The script watches this process
//!    and stops LocalStack once it is gone, so nothing outlives the test run, and several test
//!    binaries (or several `cargo test` runs) can run at once without sharing ports or state.
//!
//! If neither works the test **fails** with a message that says what to do. It never skips: a test
//! that silently passes without LocalStack proves nothing.

// Test support: a panic is how a test fails, and failing loudly is this crate's job.
#![allow(clippy::panic, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

pub mod runtime_api;

/// Names a running LocalStack to use instead of starting one.
pub const ENDPOINT_VAR: &str = "SWITCHYARD_LOCALSTACK_ENDPOINT";

/// The region every local resource lives in.
pub const REGION: &str = "us-east-1";

/// A LocalStack instance the tests can reach.
#[derive(Debug)]
pub struct LocalStack {
    endpoint: String,
    /// Port of the instance this binary started, `None` for one named by [`ENDPOINT_VAR`].
    owned_port: Option<u16>,
}

impl LocalStack {
    /// The endpoint URL, e.g. `http://127.0.0.1:4566`: what `AWS_ENDPOINT_URL` is set to for
    /// programs the tests spawn.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Whether this test binary started the instance itself (and so may stop and restart it).
    pub fn is_owned(&self) -> bool {
        self.owned_port.is_some()
    }

    /// SDK configuration pointing at this instance: the same settings that `AWS_ENDPOINT_URL`,
    /// `AWS_REGION` and static test credentials give a program through the default chain.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// Environment for a child process (a function under test, a tool) so that the default AWS
    /// configuration chain reaches this instance.
    pub fn child_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ]
    }
}

/// SDK configuration for any endpoint (LocalStack, a proxy before it, a port nothing listens on),
/// with the region and static credentials LocalStack accepts.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(switchyard_env::https_client())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("test", "test", None, None, "switchyard-tests"))
        .load()
        .await
}

/// The LocalStack for this test binary: the one named by [`ENDPOINT_VAR`], or one started on first
/// use. Panics with instructions when none can be had: a test must fail, not skip.
pub fn localstack() -> &'static LocalStack {
    static INSTANCE: OnceLock<LocalStack> = OnceLock::new();
    INSTANCE.get_or_init(|| match acquire() {
        Ok(instance) => instance,
        Err(message) => panic!("{message}"),
    })
}

/// A LocalStack this test binary starts and owns, whatever [`ENDPOINT_VAR`] says: for fault tests
/// that stop and restart it. Keep such tests in a binary of their own: stopping the instance
/// fails every other test sharing it.
pub fn private_localstack() -> &'static LocalStack {
    static INSTANCE: OnceLock<LocalStack> = OnceLock::new();
    INSTANCE.get_or_init(|| match start_private() {
        Ok(instance) => instance,
        Err(message) => panic!("{message}"),
    })
}

/// Another LocalStack on its own port, stopped when dropped: for tests that prove instances do
/// not disturb each other (two test binaries running at once).
#[derive(Debug)]
pub struct SeparateLocalStack(LocalStack);

impl SeparateLocalStack {
    pub fn start() -> Self {
        match start_private() {
            Ok(instance) => SeparateLocalStack(instance),
            Err(message) => panic!("{message}"),
        }
    }
}

impl std::ops::Deref for SeparateLocalStack {
    type Target = LocalStack;
    fn deref(&self) -> &LocalStack {
        &self.0
    }
}

impl Drop for SeparateLocalStack {
    fn drop(&mut self) {
        if let Some(port) = self.0.owned_port {
            let _ = run_script("stop", port);
        }
    }
}

fn start_private() -> Result<LocalStack, String> {
    let port = free_port()?;
    run_script("start", port)?;
    Ok(LocalStack { endpoint: format!("http://127.0.0.1:{port}"), owned_port: Some(port) })
}

fn acquire() -> Result<LocalStack, String> {
    if let Ok(endpoint) = std::env::var(ENDPOINT_VAR) {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        check_health(&endpoint).map_err(|e| {
            format!(
                "{ENDPOINT_VAR}={endpoint} does not answer as a LocalStack with Auto Scaling: {e}.\n\
                 Start it with `bash infra/localstack.sh start`, or unset {ENDPOINT_VAR} to let the \
                 tests start their own."
            )
        })?;
        return Ok(LocalStack { endpoint, owned_port: None });
    }
    start_private()
}

/// Stop this binary's own LocalStack (fault tests: "LocalStack stopped mid-tick").
/// Panics for an instance the binary does not own: stopping someone else's stack is a test bug.
pub fn stop_owned(instance: &LocalStack) {
    let port = instance.owned_port.expect("only an instance started by this test binary can be stopped");
    if let Err(e) = run_script("stop", port) {
        panic!("{e}");
    }
}

/// Start this binary's own LocalStack again on the same port after [`stop_owned`]. The new
/// instance starts empty: LocalStack keeps no state across restarts here.
pub fn restart_owned(instance: &LocalStack) {
    let port = instance.owned_port.expect("only an instance started by this test binary can be restarted");
    if let Err(e) = run_script("start", port) {
        panic!("{e}");
    }
}

/// A minimal HTTP/1.1 backend on a free loopback port: answers every request with `name` (text)
/// and counts requests. Each connection serves one request (`connection: close`).
pub async fn http_backend(name: &'static str) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
    let address = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    (address, hits)
}

/// An API Gateway HTTP API (payload 2.0) event as JSON, as Lambda delivers it to the router:
/// the path may carry a query (`/orders?a=1`); the client address is the event's `sourceIp`.
pub fn apigw_event(method: &str, path: &str, source_ip: &str, headers: &[(&str, &str)], body: Option<&str>) -> String {
    let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
    let headers: serde_json::Map<String, serde_json::Value> =
        headers.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": query, "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "test"},
            "requestId": "req", "routeKey": "$default", "stage": "$default", "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": 0
        },
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

/// A name no other test (in this binary or another run against the same LocalStack) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// The workspace root (where `infra/` lives), found at run time from the package under test
/// (`cargo test` sets `CARGO_MANIFEST_DIR` for the test binary) or the working directory. Not
/// `env!`: a shared target dir can hand this crate, unchanged, to a clone in another folder, and a
/// compiled-in path would then point at the other clone's scripts.
pub fn workspace_root() -> PathBuf {
    let starts = [std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from), std::env::current_dir().ok()];
    starts
        .into_iter()
        .flatten()
        .flat_map(|start| start.ancestors().map(Path::to_path_buf).collect::<Vec<_>>())
        .find(|dir| dir.join("infra/localstack.sh").is_file() && dir.join("Cargo.toml").is_file())
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default())
}

fn script() -> PathBuf {
    workspace_root().join("infra/localstack.sh")
}

fn run_script(action: &str, port: u16) -> Result<(), String> {
    let script = script();
    let output = Command::new("bash")
        .arg(&script)
        .arg(action)
        .env("SWITCHYARD_LOCALSTACK_PORT", port.to_string())
        .env("SWITCHYARD_LOCALSTACK_OWNER_PID", std::process::id().to_string())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`bash infra/localstack.sh {action}` on port {port} failed ({}):\n{}\n\
         To fix: run `bash infra/install.sh` (installs LocalStack and the Auto Scaling plugin), or \
         point {ENDPOINT_VAR} at a running LocalStack (`bash infra/localstack.sh start`).",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim_end()
    ))
}

fn check_health(endpoint: &str) -> Result<(), String> {
    let output = Command::new("curl")
        .args(["-sf", "--max-time", "5", &format!("{endpoint}/_localstack/health")])
        .output()
        .map_err(|e| format!("could not run curl: {e}"))?;
    let body = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err("no answer from its health endpoint".into());
    }
    let health: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| format!("its health endpoint answered something else: {e}"))?;
    let autoscaling = health["services"]["autoscaling"].as_str().unwrap_or("missing");
    if !matches!(autoscaling, "available" | "running") {
        return Err("it runs without the Auto Scaling plugin (run `bash infra/install.sh` and restart it)".into());
    }
    Ok(())
}

pub(crate) fn free_port() -> Result<u16, String> {
    // The port is released before LocalStack binds it; another process could take it in between,
    // in which case LocalStack fails to start and the error says so.
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}
