//! `switchyard-local` makes a user's local environment through the default AWS configuration chain
//! (`AWS_ENDPOINT_URL`), and running it again changes nothing.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::process::Command;

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

#[test]
fn bootstrap_creates_queues_and_fleets_once_then_changes_nothing() {
    let prefix = unique_name("boot");

    let first: serde_json::Value = serde_json::from_str(&run(&["bootstrap", "--prefix", &prefix, "--json"])).unwrap();
    let first = first.as_array().unwrap();
    assert_eq!(first.len(), 5, "two queues, a launch template, two groups: {first:?}");
    assert!(first.iter().all(|o| o["created"] == true), "{first:?}");

    let second: serde_json::Value = serde_json::from_str(&run(&["bootstrap", "--prefix", &prefix, "--json"])).unwrap();
    assert!(second.as_array().unwrap().iter().all(|o| o["created"] == false), "second run changed something: {second}");

    let status: serde_json::Value = serde_json::from_str(&run(&["status", "--prefix", &prefix, "--json"])).unwrap();
    let queues = status["queues"].as_array().unwrap();
    let work = queues.iter().find(|q| q["name"] == format!("{prefix}-work")).expect("work queue exists");
    assert_eq!(work["dead_letter_target"], format!("{prefix}-work-dlq"), "redrive policy points at the DLQ");

    let groups = status["groups"].as_array().unwrap();
    let web = groups.iter().find(|g| g["name"] == format!("{prefix}-web")).expect("web fleet exists");
    assert_eq!(web["role"], "web");
    assert_eq!(web["desired"], 2);
    let instances = web["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2);
    assert!(
        instances.iter().all(|i| i["lifecycle_state"] == "InService" && i["private_ip"].is_string()),
        "{instances:?}"
    );
    let workers = groups.iter().find(|g| g["name"] == format!("{prefix}-workers")).expect("consumer fleet exists");
    assert_eq!(workers["role"], "consumer");
    assert_eq!(workers["desired"], 0);
}

#[test]
fn refuses_an_endpoint_that_is_not_local() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard-local"))
        .args(["status"])
        .env("AWS_ENDPOINT_URL", "https://autoscaling.us-east-1.amazonaws.com")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a loopback address"));
}

#[test]
fn enqueue_fills_the_work_queue_and_drain_empties_it() {
    let prefix = unique_name("jobs");
    run(&["bootstrap", "--prefix", &prefix]);
    assert_eq!(
        run(&["enqueue", "--prefix", &prefix, "--count", "25"]).trim(),
        format!("sent 25 jobs to {prefix}-work")
    );
    let visible = |status: &str| {
        let status: serde_json::Value = serde_json::from_str(status).unwrap();
        status["queues"].as_array().unwrap().iter().find(|q| q["name"] == format!("{prefix}-work")).unwrap()["visible"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(visible(&run(&["status", "--prefix", &prefix, "--json"])), 25);
    run(&["drain", "--prefix", &prefix]);
    assert_eq!(visible(&run(&["status", "--prefix", &prefix, "--json"])), 0);
}
