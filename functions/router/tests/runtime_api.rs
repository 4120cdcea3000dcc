//! The router binary under the real Lambda Runtime API: `cargo lambda watch --only-lambda-apis`
//! emulates the Runtime API and a Function URL; the test starts the compiled `router` against it
//! (as Lambda would start `bootstrap`) and sends HTTP requests to the function URL.
//!
//! `cargo lambda watch` is run without its build step: inside `cargo test` a second cargo build
//! would wait forever for the target-dir lock this test run holds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

fn cargo_lambda() -> PathBuf {
    let venv = std::env::var_os("SWITCHYARD_TOOLS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| switchyard_tests::workspace_root().join("infra/.venv-tools"));
    let path = venv.join("bin/cargo-lambda");
    assert!(path.exists(), "{} is missing: run `bash infra/install.sh` (it installs cargo-lambda)", path.display());
    path
}

async fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port()
}

/// Kills the process group's leader when the test ends, pass or fail.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

/// One HTTP/1.1 request over a fresh connection; the status line and the body. A hang shows the
/// logs of both processes.
async fn http(port: u16, method: &str, path: &str, body: &str, logs: &Path) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    if tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw)).await.is_err() {
        let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
        panic!(
            "no answer in 30 s\n--- router stderr\n{}\n--- cargo lambda\n{}{}",
            read("router.err"),
            read("cargo-lambda.out"),
            read("cargo-lambda.err")
        );
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn requests_through_the_runtime_api_and_a_function_url_reach_the_backends() {
    let (a, a_hits) = switchyard_tests::http_backend("a").await;
    let (b, b_hits) = switchyard_tests::http_backend("b").await;
    let logs = std::env::temp_dir().join(format!("switchyard-runtime-api-{}", std::process::id()));
    std::fs::create_dir_all(&logs).unwrap();
    let log = |name: &str| std::fs::File::create(logs.join(name)).unwrap();

    let port = free_port().await;
    let _emulator = Killed(
        Command::new(cargo_lambda())
            .args(["lambda", "watch", "--only-lambda-apis", "--invoke-address", "127.0.0.1", "--invoke-port"])
            .arg(port.to_string())
            .current_dir(switchyard_tests::workspace_root())
            .stdin(Stdio::null())
            .stdout(log("cargo-lambda.out"))
            .stderr(log("cargo-lambda.err"))
            .kill_on_drop(true)
            .spawn()
            .expect("cargo lambda starts"),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "cargo lambda watch did not listen; see {}", logs.display());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let _router = Killed(
        Command::new(env!("CARGO_BIN_EXE_router"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{port}/.rt"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("SWITCHYARD_TARGETS", format!("{a},{b}"))
            .env("SWITCHYARD_METRICS_INTERVAL_SECS", "1")
            .stdin(Stdio::null())
            .stdout(log("router.out"))
            .stderr(log("router.err"))
            .kill_on_drop(true)
            .spawn()
            .expect("the router starts"),
    );

    let (mut statuses, mut names) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let (status, body) = http(port, "GET", &format!("/lambda-url/_/hello?i={i}"), "", &logs).await;
        statuses.push(status);
        names.push(body);
    }
    assert_eq!(statuses, vec![200; 6], "logs in {}", logs.display());
    assert!(names.windows(2).all(|w| w[0] != w[1] && ["a", "b"].contains(&w[0].as_str())), "{names:?}");
    let hits = |h: &std::sync::Arc<std::sync::atomic::AtomicUsize>| h.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!((hits(&a_hits), hits(&b_hits)), (3, 3), "round robin across the two backends");

    // A second later the next request flushes the EMF lines, its own pick included, to stdout
    // (CloudWatch Logs on Lambda).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(http(port, "GET", "/lambda-url/_/", "", &logs).await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stdout = std::fs::read_to_string(logs.join("router.out")).unwrap();
    let emf: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|l: &serde_json::Value| l["_aws"].is_object())
        .collect();
    let picks: u64 = emf.iter().filter_map(|l| l["Picks"].as_u64()).sum();
    assert_eq!(picks, 7, "every pick is in an EMF line, the last request's too: {stdout}");
    let _ = std::fs::remove_dir_all(&logs);
}
