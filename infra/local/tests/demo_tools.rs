//! The two things the demo's web fleet needs from `switchyard-local` that a real fleet and AWS do on
//! their own: a server boots on each instance that joins the group (`backends --follow`), and the
//! functions' EMF lines become CloudWatch metrics (`ship-emf`).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)] // test code: a panic is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;
use switchyard_local::backends::BOOT_HOOK;
use switchyard_tests::{localstack, unique_name};

fn run(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard-local"))
        .args(args)
        .envs(localstack().child_env())
        .output()
        .expect("switchyard-local runs");
    assert!(output.status.success(), "switchyard-local {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// The next JSON line that `matches`, within `seconds`.
fn next_line(lines: &mpsc::Receiver<Value>, seconds: u64, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if matches(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no such line within {seconds} s: {e}"),
        }
    }
}

fn get(endpoint: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(endpoint)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /hello HTTP/1.1\r\nhost: demo\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

async fn boot_hooks(group: &str) -> usize {
    let sdk = localstack().sdk_config().await;
    let hooks = aws_sdk_autoscaling::Client::new(&sdk)
        .describe_lifecycle_hooks()
        .auto_scaling_group_name(group)
        .send()
        .await
        .unwrap();
    hooks.lifecycle_hooks().iter().filter(|h| h.lifecycle_hook_name() == Some(BOOT_HOOK)).count()
}

#[tokio::test]
async fn a_follower_serves_each_instance_that_joins_the_web_fleet_and_stops_the_server_of_one_that_left() {
    let prefix = unique_name("follow");
    let group = format!("{prefix}-web");
    run(&["bootstrap", "--prefix", &prefix]);
    run(&["resize", "--prefix", &prefix, "--role", "web", "--min", "0", "--desired", "1"]);
    let mut follower = Command::new(env!("CARGO_BIN_EXE_switchyard-local"))
        .args(["backends", "--prefix", &prefix, "--namespace", &format!("Test/{prefix}"), "--follow"])
        .envs(localstack().child_env())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (send, lines) = mpsc::channel();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line)));
        }
    });
    let first = next_line(&lines, 30, |l| l.get("endpoint").is_some());
    next_line(&lines, 10, |l| l.get("ready").is_some());
    assert_eq!(boot_hooks(&group).await, 1, "launches wait for their servers while the follower runs");

    run(&["resize", "--prefix", &prefix, "--role", "web", "--desired", "2"]);
    let joined = next_line(&lines, 10, |l| l.get("endpoint").is_some());
    assert_ne!(joined["instance"], first["instance"]);
    assert_eq!(joined["name"], "web-1");
    let answer = get(joined["endpoint"].as_str().unwrap()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200") && answer.contains("\"web-1\""), "{answer}");
    let status: Value = serde_json::from_str(&run(&["status", "--prefix", &prefix, "--json"])).unwrap();
    let web = status["groups"].as_array().unwrap().iter().find(|g| g["name"] == group).unwrap();
    let states: Vec<&str> =
        web["instances"].as_array().unwrap().iter().map(|i| i["lifecycle_state"].as_str().unwrap()).collect();
    assert_eq!(states, ["InService", "InService"], "the new instance's launch went on once its server listened");

    run(&["resize", "--prefix", &prefix, "--role", "web", "--desired", "0"]);
    let mut stopped: Vec<String> = (0..2)
        .map(|_| next_line(&lines, 10, |l| l.get("stopped").is_some())["stopped"].as_str().unwrap().to_owned())
        .collect();
    stopped.sort();
    assert_eq!(stopped, ["web-0", "web-1"]);
    assert!(get(joined["endpoint"].as_str().unwrap()).is_err(), "a stopped server takes no connection");

    let term = Command::new("kill").args(["-TERM", &follower.id().to_string()]).status().unwrap();
    assert!(term.success());
    assert!(follower.wait().unwrap().success());
    assert_eq!(boot_hooks(&group).await, 0, "the follower takes its hook with it");
}

#[tokio::test]
async fn ship_emf_puts_every_metric_of_a_log_and_resumes_after_the_last_whole_line() {
    let namespace = format!("Test/{}", unique_name("emf"));
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let request_line = serde_json::json!({
        "Requests": 3, "Group": "web",
        "_aws": {"Timestamp": now_ms as u64, "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [[], ["Group"]], "Metrics": [{"Name": "Requests", "Unit": "Count"}]}]}
    });
    let log = std::env::temp_dir().join(format!("{}.out", unique_name("router")));
    let broken = r#"{"Requests": 1, "_aws": {"CloudWatchMetrics": []}}"#;
    let cut = r#"{"Requests": 1, "_aws": {"Time"#;
    std::fs::write(&log, format!("{{\"level\":\"INFO\"}}\n{request_line}\nplain text\n{broken}\n{cut}")).unwrap();
    let path = log.to_str().unwrap();

    let shipped: Value = serde_json::from_str(&run(&["ship-emf", path, "--from", "0"])).unwrap();

    let whole = std::fs::read_to_string(&log).unwrap().rfind('\n').unwrap() + 1;
    assert_eq!(
        (&shipped["offset"], &shipped["lines"], &shipped["emf"], &shipped["data"], &shipped["malformed"]),
        (&Value::from(whole), &Value::from(4), &Value::from(1), &Value::from(2), &Value::from(1)),
        "{shipped}"
    );
    let sdk = localstack().sdk_config().await;
    let listed = aws_sdk_cloudwatch::Client::new(&sdk).list_metrics().namespace(&namespace).send().await.unwrap();
    let mut dimensions: Vec<usize> = listed.metrics().iter().map(|m| m.dimensions().len()).collect();
    dimensions.sort();
    assert_eq!(dimensions, [0, 1], "the totals and the per-group series");

    // The cut line ends (as broken as it was): the next shipment starts at the offset and reads it once.
    std::fs::write(&log, format!("{}{cut}\n", &std::fs::read_to_string(&log).unwrap()[..whole])).unwrap();
    let next: Value = serde_json::from_str(&run(&["ship-emf", path, "--from", &whole.to_string()])).unwrap();
    assert_eq!((&next["lines"], &next["malformed"]), (&Value::from(1), &Value::from(1)), "{next}");
    std::fs::remove_file(&log).unwrap();
}
