//! The router against backends that are real processes (`python3 -m http.server` on 127.0.0.1),
//! stopped and killed with signals as an operator or the kernel would: a stopped process still
//! has its listening socket, so connections are accepted and never answered; a killed one
//! refuses them. The router's clock is passed in, so ejection and slow start are read on it
//! while the network waits are real.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use router::event::{HttpEvent, Incoming};
use router::{Router, RouterConfig};
use switchyard_algorithms::Time;

const NOW: Time = Time::from_secs(1_800_000_000);

/// A `python3 -m http.server` process serving an empty folder.
struct Backend {
    port: u16,
    child: Child,
    folder: std::path::PathBuf,
}

impl Backend {
    async fn start(port: u16, folder: std::path::PathBuf) -> Self {
        let child = Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"])
            .current_dir(&folder)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 (the README's prerequisites) runs http.server");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "http.server did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Backend { port, child, folder }
    }

    async fn new() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let folder = std::env::temp_dir().join(format!("switchyard-backend-{port}"));
        std::fs::create_dir_all(&folder).unwrap();
        Backend::start(port, folder).await
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([format!("-{signal}"), self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// SIGKILL, and wait until the process is gone (its port refuses from then on).
    fn kill(&mut self) {
        self.signal("KILL");
        self.child.wait().unwrap();
    }

    /// A new process on the same port: the backend restarted.
    async fn restart(&mut self) {
        let restarted = Backend::start(self.port, self.folder.clone()).await;
        let old = std::mem::replace(self, restarted);
        std::mem::forget(old);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-CONT", &self.child.id().to_string()]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn router(targets: &[String], extra: &[(&str, &str)]) -> Router {
    let mut env: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    env.insert("SWITCHYARD_TARGETS".into(), targets.join(","));
    let config = RouterConfig::from_lookup(|k| env.get(k).cloned()).unwrap();
    Router::from_sdk(config, None, NOW).await.unwrap()
}

fn get() -> Incoming {
    let event = switchyard_tests::apigw_event("GET", "/", "203.0.113.1", &[], None);
    HttpEvent::from_json(&event).unwrap().into_request().unwrap()
}

/// Attempts per target in the router's metrics since the last flush.
fn picks(router: &Router, at: Time) -> HashMap<String, u64> {
    router
        .flush_metrics(at)
        .iter()
        .filter_map(|l| Some((l["Target"].as_str()?.to_owned(), l["Picks"].as_u64()?)))
        .collect()
}

#[tokio::test]
async fn a_stopped_backend_costs_a_few_gets_one_attempt_timeout_each_then_is_ejected() {
    let backends = [Backend::new().await, Backend::new().await, Backend::new().await];
    let targets: Vec<String> = backends.iter().map(Backend::address).collect();
    let r = router(&targets, &[("SWITCHYARD_ATTEMPT_TIMEOUT_MS", "1000"), ("SWITCHYARD_TIMEOUT_MS", "5000")]).await;
    backends[0].signal("STOP");
    let mut slow = 0;
    let mut slowest = Duration::ZERO;
    for i in 0..60u64 {
        let started = Instant::now();
        let response = r.handle(get(), "test-request", NOW + Duration::from_millis(i * 100), i).await;
        let took = started.elapsed();
        assert_eq!(response.status(), 200, "GET {i}");
        slowest = slowest.max(took);
        slow += usize::from(took >= Duration::from_millis(1_000));
    }
    backends[0].signal("CONT");
    println!(
        "bench: SIGSTOP on 1 of 3 backends: 60 GETs, all 200; {slow} paid the 1 s attempt timeout; slowest {slowest:?}"
    );
    assert!(slow <= 5, "5 failures in a row eject the stopped backend: {slow} GETs waited");
    assert!(slowest < Duration::from_millis(2_000), "one attempt timeout and a retry: {slowest:?}");
}

#[tokio::test]
async fn a_killed_backend_stops_getting_first_attempts_and_ramps_up_again_once_restarted() {
    let mut backends = [Backend::new().await, Backend::new().await, Backend::new().await];
    let targets: Vec<String> = backends.iter().map(Backend::address).collect();
    let r = router(&targets, &[("SWITCHYARD_SLOW_START_SECS", "30"), ("SWITCHYARD_TIMEOUT_MS", "5000")]).await;
    let killed = targets[1].clone();
    picks(&r, NOW);
    backends[1].kill();
    // 200 GETs in one second of the router's clock.
    for i in 0..200u64 {
        let response = r.handle(get(), "test-request", NOW + Duration::from_millis(i * 5), i).await;
        assert_eq!(response.status(), 200, "GET {i}");
    }
    let at_killed = picks(&r, NOW + Duration::from_secs(1)).get(&killed).copied().unwrap_or(0);
    println!("bench: SIGKILL on 1 of 3 backends: attempts at it in the next second: {at_killed} of 200 GETs");
    assert!(at_killed <= 3, "refused connections take it out of first attempts at once: {at_killed}");

    // Down for 20 s of steady traffic: retried whenever its back-off (doubling from 1 s) ends.
    for i in 0..400u64 {
        let response = r.handle(get(), "test-request", NOW + Duration::from_millis(1_000 + i * 50), 1_000 + i).await;
        assert_eq!(response.status(), 200, "GET {i} while it is down");
    }
    let while_down = picks(&r, NOW + Duration::from_secs(21)).get(&killed).copied().unwrap_or(0);
    println!("bench:   attempts at it over the next 20 s of steady traffic (400 GETs): {while_down}");
    // Restarted: tried again when its back-off ends, it ramps up over the 30 s slow start instead
    // of jumping to a third at once.
    backends[1].restart().await;
    let back = NOW + Duration::from_secs(21);
    let mut shares = Vec::new();
    for window in 0..6u64 {
        for i in 0..300u64 {
            let at = back + Duration::from_millis(window * 10_000 + i * 33);
            let response = r.handle(get(), "test-request", at, 10_000 + window * 300 + i).await;
            assert_eq!(response.status(), 200);
        }
        let counted = picks(&r, back + Duration::from_secs((window + 1) * 10));
        shares.push(counted.get(&killed).copied().unwrap_or(0) as f64 / 300.0);
    }
    println!("bench: restarted backend's share per 10 s window: {shares:.2?} (a third is its full share)");
    assert!(shares[1] < 0.25, "not a full share within 20 s of the restart: {shares:?}");
    assert!(shares.windows(2).all(|w| w[1] + 0.03 >= w[0]), "the share only grows: {shares:?}");
    assert!(shares[5] > 0.28, "after the slow start it takes its third: {shares:?}");
}
