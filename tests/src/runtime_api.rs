//! A function binary under the real Lambda Runtime API, as Lambda runs `bootstrap`:
//! `cargo lambda watch --only-lambda-apis` emulates the Runtime API, the Invoke API and a Function
//! URL; the compiled binary is started against it with Lambda's environment, and tests send it
//! HTTP requests through the Function URL.
//!
//! `cargo lambda watch` runs without its build step: inside `cargo test` a second cargo build
//! would wait forever for the target-dir lock the test run holds. The binary comes from the
//! calling package (`env!("CARGO_BIN_EXE_router")`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// The `cargo-lambda` that `infra/install.sh` installs (pinned, in the tools venv).
pub fn cargo_lambda() -> PathBuf {
    let venv = std::env::var_os("SWITCHYARD_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("infra/.venv-tools"));
    let path = venv.join("bin/cargo-lambda");
    assert!(path.exists(), "{} is missing: run `bash infra/install.sh` (it installs cargo-lambda)", path.display());
    path
}

/// One function under its own emulator; both processes are killed when it is dropped. Logs go to
/// `logs()`: `NAME.out` (the function's stdout: JSON logs and EMF lines), `NAME.err`, and the
/// emulator's `NAME-emulator.{out,err}`.
#[derive(Debug)]
pub struct UnderRuntimeApi {
    name: String,
    port: u16,
    logs: PathBuf,
    function: Child,
    emulator: Child,
}

impl UnderRuntimeApi {
    /// Starts the emulator, waits until it listens, then starts `binary` with Lambda's variables
    /// (JSON logs, a function name of `_`) plus `env`. The environment is otherwise empty but for
    /// `PATH`: nothing of the test's own environment leaks into the function.
    pub async fn start(name: &str, binary: &Path, env: &[(&str, String)]) -> Self {
        let logs = std::env::temp_dir().join(format!("switchyard-{}-{}", std::process::id(), crate::unique_name(name)));
        std::fs::create_dir_all(&logs).expect("a log folder in the temp dir");
        let log = |file: String| std::fs::File::create(logs.join(file)).expect("a log file");
        let port = crate::free_port().unwrap_or_else(|e| panic!("{e}"));
        let emulator = Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(crate::workspace_root())
            .stdin(Stdio::null())
            .stdout(log(format!("{name}-emulator.out")))
            .stderr(log(format!("{name}-emulator.err")))
            .kill_on_drop(true)
            .spawn()
            .expect("cargo lambda starts");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "cargo lambda watch did not listen; see {}",
                logs.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let function = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log(format!("{name}.out")))
            .stderr(log(format!("{name}.err")))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", binary.display()));
        Self { name: name.to_owned(), port, logs, function, emulator }
    }

    /// Where the logs are.
    pub fn logs(&self) -> &Path {
        &self.logs
    }

    /// The function's stdout so far: on Lambda, what CloudWatch Logs receives.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.logs.join(format!("{}.out", self.name))).unwrap_or_default()
    }

    /// The Embedded Metric Format lines of stdout so far.
    pub fn emf_lines(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["_aws"].is_object())
            .collect()
    }

    /// The sum of one metric over the EMF lines so far.
    pub fn metric_sum(&self, metric: &str) -> u64 {
        self.emf_lines().iter().filter_map(|l| l[metric].as_u64()).sum()
    }

    /// One request through the Function URL (`path` may carry a query), over a fresh HTTP/1.1
    /// connection: the status, the headers and the body as text. A request unanswered in 60 s fails
    /// the test with the function's and the emulator's logs.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, http::HeaderMap, String) {
        self.exchange(method, &format!("/lambda-url/_{path}"), headers, body).await
    }

    /// One invocation through the Invoke API with `payload`, as a schedule or `aws lambda
    /// invoke` makes it: the function's answer.
    pub async fn invoke(&self, payload: &str) -> serde_json::Value {
        let (status, _, body) = self
            .exchange("POST", "/2015-03-31/functions/_/invocations", &[("content-type", "application/json")], payload)
            .await;
        assert_eq!(status, 200, "invocation answered {status}: {body}\n{}", self.diagnostics());
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("invocation answered {body:?}: {e}"))
    }

    async fn exchange(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, http::HeaderMap, String) {
        let exchange = async {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).await.map_err(|e| e.to_string())?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            let mut request =
                http::Request::builder().method(method).uri(uri).header("host", format!("127.0.0.1:{}", self.port));
            for (k, v) in headers {
                request = request.header(*k, *v);
            }
            let request =
                request.body(Full::new(Bytes::copy_from_slice(body.as_bytes()))).map_err(|e| e.to_string())?;
            let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok::<_, String>((parts.status.as_u16(), parts.headers, String::from_utf8_lossy(&body).into_owned()))
        };
        match tokio::time::timeout(Duration::from_secs(60), exchange).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => panic!("{method} {uri} failed: {e}\n{}", self.diagnostics()),
            Err(_) => panic!("{method} {uri}: no answer in 60 s\n{}", self.diagnostics()),
        }
    }

    fn diagnostics(&self) -> String {
        let read = |file: String| std::fs::read_to_string(self.logs.join(file)).unwrap_or_default();
        format!(
            "--- {name}.err\n{}\n--- {name}.out\n{}\n--- emulator\n{}{}",
            read(format!("{}.err", self.name)),
            read(format!("{}.out", self.name)),
            read(format!("{}-emulator.out", self.name)),
            read(format!("{}-emulator.err", self.name)),
            name = self.name,
        )
    }
}

impl Drop for UnderRuntimeApi {
    fn drop(&mut self) {
        let _ = self.function.start_kill();
        let _ = self.emulator.start_kill();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}
