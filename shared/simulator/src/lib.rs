//! Switchyard's scaling simulator: SQS workloads, a consumer fleet that boots slowly, metrics that
//! lag, and the policies users compare — Switchyard's, AWS target tracking on backlog per
//! instance, KEDA with the HPA. See `sim` for what is modelled and `policies` for each emulation.
//! The web side (`web`): a web fleet that goes to zero behind Switchyard's router, against ALB with
//! target tracking and the KEDA HTTP add-on, on sparse request traffic.

pub mod plot;
pub mod policies;
pub mod sim;
pub mod trace;
pub mod web;

use sim::{Autoscaler, Outcome, SimConfig};
use trace::Trace;
use web::{WebAutoscaler, WebConfig, WebOutcome};

/// Every policy on one trace, with the same seed. `progress(policy, minute)` is told each minute.
pub fn compare(
    trace: &Trace,
    config: &SimConfig,
    progress: &mut dyn FnMut(&str, usize),
) -> anyhow::Result<Vec<Outcome>> {
    let mut policies: Vec<Box<dyn Autoscaler>> = vec![
        Box::new(policies::Switchyard::new(config)?),
        Box::new(policies::AwsTargetTracking::new(config)),
        Box::new(policies::KedaHpa::new(config)?),
    ];
    Ok(policies
        .iter_mut()
        .map(|p| {
            let name = p.name();
            sim::simulate(trace, config, p.as_mut(), &mut |m| progress(name, m))
        })
        .collect())
}

/// The comparison as a Markdown table.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "| policy | SLO-violation minutes | p99 latency s | instance-minutes | scaling actions | direction changes | outside wake, per hour |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for o in outcomes {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {} | {} | {:.1} |\n",
            o.policy,
            o.slo_violation_minutes,
            o.p99_latency_s,
            o.instance_minutes,
            o.scaling_actions,
            o.direction_changes,
            o.direction_changes_outside_wake as f64 * 60.0 / o.minutes.max(1) as f64,
        ));
    }
    out
}

/// Every web policy on one web trace, with the same seed. `progress(policy, minute)` is told each
/// minute.
pub fn compare_web(
    trace: &Trace,
    config: &WebConfig,
    progress: &mut dyn FnMut(&str, usize),
) -> anyhow::Result<Vec<WebOutcome>> {
    let mut policies: Vec<Box<dyn WebAutoscaler>> = vec![
        Box::new(web::policies::SwitchyardWeb::new(config)?),
        Box::new(web::policies::AlbTargetTracking::new(config)),
        Box::new(web::policies::KedaHttp::new(config)?),
    ];
    Ok(policies
        .iter_mut()
        .map(|p| {
            let name = p.name();
            web::simulate(trace, config, p.as_mut(), &mut |m| progress(name, m))
        })
        .collect())
}

/// The web comparison as a Markdown table.
pub fn web_table(outcomes: &[WebOutcome]) -> String {
    let mut out = String::from(
        "| policy | instance-minutes | wakes | first requests (waited for a wake) | their latency p50 s | max s | answered 503 first | p99 latency s, all requests |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for o in outcomes {
        out.push_str(&format!(
            "| {} | {:.0} | {} | {} of {} | {:.1} | {:.1} | {} | {:.2} |\n",
            o.policy,
            o.instance_minutes,
            o.wakes,
            o.first_requests,
            o.requests,
            o.first_latency_p50_s,
            o.first_latency_max_s,
            o.refused_first,
            o.p99_latency_s,
        ));
    }
    out
}
