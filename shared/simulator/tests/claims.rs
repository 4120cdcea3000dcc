//! The claims the crate README makes, pinned on the fixed seed so a change that breaks one fails.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::process::Command;

use switchyard_sim::sim::{Outcome, SimConfig};
use switchyard_sim::trace::Trace;

fn run(trace: &str) -> Vec<Outcome> {
    switchyard_sim::compare(&Trace::parse(trace).unwrap(), &SimConfig::default(), &mut |_, _| {}).unwrap()
}

fn by<'a>(outcomes: &'a [Outcome], policy: &str) -> &'a Outcome {
    outcomes.iter().find(|o| o.policy == policy).unwrap()
}

#[test]
fn on_the_spike_switchyard_has_30_percent_fewer_violation_minutes_than_aws_at_no_more_cost() {
    let outcomes = run("spike");
    let (ours, aws) = (by(&outcomes, "switchyard"), by(&outcomes, "aws target tracking"));
    assert!(
        (ours.slo_violation_minutes as f64) <= 0.7 * aws.slo_violation_minutes as f64,
        "{} vs {} violation minutes",
        ours.slo_violation_minutes,
        aws.slo_violation_minutes
    );
    assert!(ours.instance_minutes <= aws.instance_minutes, "{} vs {}", ours.instance_minutes, aws.instance_minutes);
}

/// Every trace the README's tables show.
const TRACES: [&str; 7] =
    ["spike", "constant", "diurnal", "sawtooth", "nightly-batch", "flash-sale", "traces/bursty-afternoon.csv"];

#[test]
fn on_every_trace_switchyard_meets_issue_19s_violation_and_cost_goals() {
    for trace in TRACES {
        let outcomes = run(trace);
        let (ours, aws, keda) =
            (by(&outcomes, "switchyard"), by(&outcomes, "aws target tracking"), by(&outcomes, "keda + hpa"));
        assert!(
            (ours.slo_violation_minutes as f64) <= 0.7 * aws.slo_violation_minutes as f64,
            "{trace}: {} vs AWS's {} violation minutes",
            ours.slo_violation_minutes,
            aws.slo_violation_minutes
        );
        assert!(
            ours.instance_minutes <= aws.instance_minutes,
            "{trace}: {} vs {}",
            ours.instance_minutes,
            aws.instance_minutes
        );
        assert!(
            ours.slo_violation_minutes <= keda.slo_violation_minutes,
            "{trace}: {} vs KEDA's {} violation minutes",
            ours.slo_violation_minutes,
            keda.slo_violation_minutes
        );
    }
}

#[test]
fn switchyard_turns_at_most_twice_an_hour_outside_wake_cycles_but_on_the_sawtooth() {
    for trace in TRACES {
        let outcomes = run(trace);
        let ours = by(&outcomes, "switchyard");
        let per_hour = ours.direction_changes_outside_wake as f64 * 60.0 / ours.minutes as f64;
        // The sawtooth's load itself turns four times an hour (README: the goal is not met there).
        let allowed = if trace == "sawtooth" { 4.0 } else { 2.0 };
        assert!(per_hour <= allowed, "{trace}: {per_hour:.1} direction changes per hour");
    }
}

#[test]
fn a_flat_load_does_not_make_switchyard_flap() {
    let outcomes = run("constant");
    assert!(by(&outcomes, "switchyard").direction_changes <= 2);
}

#[test]
fn the_cli_prints_the_table_and_writes_svg_and_png() {
    let dir = std::env::temp_dir().join(format!("sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let svg = dir.join("spike.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard-sim"))
        .args(["--trace", "spike", "--plot"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("| switchyard |") && stdout.contains("| keda + hpa |"), "{stdout}");
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let png = std::fs::read(svg.with_extension("png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("minute"), "progress is shown on stderr");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_arguments_get_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchyard-sim")).args(["--trace", "lunar"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown trace \"lunar\""));
}
