//! Switchyard's scaling simulator: SQS workloads, a consumer fleet that boots slowly, metrics that
//! lag, and the policies users compare — Switchyard's, AWS target tracking on backlog per
//! instance, KEDA with the HPA. See `sim` for what is modelled and `policies` for each emulation.

pub mod plot;
pub mod policies;
pub mod sim;
pub mod trace;

use sim::{Autoscaler, Outcome, SimConfig};
use trace::Trace;

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
