//! The router binary under the real Lambda Runtime API (`cargo lambda watch`, see
//! `switchyard_tests::runtime_api`), with requests through its Function URL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchyard_tests::runtime_api::UnderRuntimeApi;

#[tokio::test]
async fn requests_through_the_runtime_api_and_a_function_url_reach_the_backends() {
    let (a, a_hits) = switchyard_tests::http_backend("a").await;
    let (b, b_hits) = switchyard_tests::http_backend("b").await;
    let router = UnderRuntimeApi::start(
        "router",
        Path::new(env!("CARGO_BIN_EXE_router")),
        &[("SWITCHYARD_TARGETS", format!("{a},{b}")), ("SWITCHYARD_METRICS_INTERVAL_SECS", "1".to_owned())],
    )
    .await;

    let (mut statuses, mut names) = (Vec::new(), Vec::new());
    for i in 0..6 {
        let (status, _, body) = router.request("GET", &format!("/hello?i={i}"), &[], "").await;
        statuses.push(status);
        names.push(body);
    }
    assert_eq!(statuses, vec![200; 6], "logs in {}", router.logs().display());
    assert!(names.windows(2).all(|w| w[0] != w[1] && ["a", "b"].contains(&w[0].as_str())), "{names:?}");
    let hits = |h: &Arc<AtomicUsize>| h.load(Ordering::SeqCst);
    assert_eq!((hits(&a_hits), hits(&b_hits)), (3, 3), "round robin across the two backends");

    // A second later the next request flushes the EMF lines, its own pick included, to stdout
    // (CloudWatch Logs on Lambda).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(router.request("GET", "/", &[], "").await.0, 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        router.metric_sum("Picks"),
        7,
        "every pick is in an EMF line, the last request's too: {}",
        router.stdout()
    );
}

#[tokio::test]
async fn the_health_checker_runs_a_round_per_due_interval_whatever_the_invocations() {
    // No AWS to reach: the round fails to read its group, is logged, and still counts as a round.
    let checker = UnderRuntimeApi::start(
        "checker",
        Path::new(env!("CARGO_BIN_EXE_router")),
        &[
            ("SWITCHYARD_MODE", "health_checker".to_owned()),
            ("SWITCHYARD_CHECK_GROUPS", "web".to_owned()),
            ("SWITCHYARD_HEALTH_CHECK_INTERVAL_SECS", "5".to_owned()),
            ("SWITCHYARD_HEALTH_CHECK_TIMEOUT_SECS", "2".to_owned()),
            ("SWITCHYARD_CHECK_RUN_SECS", "1".to_owned()),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("AWS_MAX_ATTEMPTS", "1".to_owned()),
        ],
    )
    .await;
    assert_eq!(checker.invoke("{}").await["rounds"], 1);
    assert_eq!(checker.invoke("{}").await["rounds"], 0, "the next round is due 5 s after the first");
    let stdout = checker.stdout();
    assert!(stdout.contains("health check round failed"), "{stdout}");
    assert!(checker.emf_lines().is_empty(), "a group that could not be read has no counts: {stdout}");
}
