//! `switchyard-sim`: run every scaling policy on a trace, print the comparison, draw the plot.
//!
//! ```text
//! cargo run -p switchyard-sim -- --trace spike --plot out.svg
//!   --trace constant|spike|diurnal|sawtooth|nightly-batch|flash-sale|sparse-web|FILE.csv
//!                                   arrivals (a CSV has one count per minute)
//!   --web                           a CSV trace is web requests, not queue messages
//!   --plot FILE.svg                 also writes FILE.png beside it
//!   --seed N  --slo SECONDS  --processing SECONDS  --boot SECONDS  --lag SECONDS
//!   --warm-boot SECONDS             web traces: the boot from a warm pool (default 30)
//! ```
//!
//! A web trace runs twice: with `--boot` (a cold launch) and with `--warm-boot`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use switchyard_sim::sim::SimConfig;
use switchyard_sim::trace::Trace;
use switchyard_sim::web::{WARM_POOL_BOOT_S, WebConfig};

fn main() -> anyhow::Result<()> {
    let mut trace = String::from("spike");
    let mut plot: Option<PathBuf> = None;
    let mut config = SimConfig::default();
    let (mut web, mut warm_boot_s) = (false, WARM_POOL_BOOT_S);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--trace" => trace = value("--trace")?,
            "--plot" => plot = Some(PathBuf::from(value("--plot")?)),
            "--seed" => config.seed = value("--seed")?.parse().context("--seed takes a whole number")?,
            "--slo" => config.slo_age_s = positive(&value("--slo")?, "--slo")?,
            "--processing" => config.processing_mean_s = positive(&value("--processing")?, "--processing")?,
            "--boot" => config.boot_delay_s = value("--boot")?.parse().context("--boot takes seconds")?,
            "--lag" => config.cloudwatch_lag_s = value("--lag")?.parse().context("--lag takes whole seconds")?,
            "--warm-boot" => warm_boot_s = value("--warm-boot")?.parse().context("--warm-boot takes seconds")?,
            "--web" => web = true,
            "-h" | "--help" => {
                println!(
                    "usage: switchyard-sim [--trace constant|spike|diurnal|sawtooth|nightly-batch|flash-sale|sparse-web|FILE.csv] [--web] [--plot FILE.svg] [--seed N] [--slo S] [--processing S] [--boot S] [--warm-boot S] [--lag S]"
                );
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let trace = Trace::parse(&trace)?;
    if web || trace.is_web() {
        return run_web(&trace, &config, warm_boot_s, plot);
    }
    let minutes = trace.minutes();
    let mut stderr = std::io::stderr();
    let outcomes = switchyard_sim::compare(&trace, &config, &mut |policy, minute| {
        if minute % 10 == 0 || minute == minutes {
            let _ = write!(stderr, "\r\x1b[K{policy:<20} minute {minute:>4}/{minutes}");
            let _ = stderr.flush();
        }
    })?;
    eprintln!("\r\x1b[K");
    println!(
        "trace {} ({minutes} min), processing {:.1} s/message, boot {:.0} s, SLO {:.0} s, CloudWatch lag {} s, seed {}\n",
        describe(&trace),
        config.processing_mean_s,
        config.boot_delay_s,
        config.slo_age_s,
        config.cloudwatch_lag_s,
        config.seed
    );
    print!("{}", switchyard_sim::table(&outcomes));
    if let Some(svg) = plot {
        let title = format!("{} — policies compared (SLO {:.0} s)", describe(&trace), config.slo_age_s);
        let png = switchyard_sim::plot::write(&svg, &title, &outcomes, config.slo_age_s)?;
        println!("\nplot: {} and {}", svg.display(), png.display());
    }
    Ok(())
}

/// A web trace, with a cold boot and from a warm pool: both tables, and the plot of the cold one.
fn run_web(trace: &Trace, sim: &SimConfig, warm_boot_s: f64, plot: Option<PathBuf>) -> anyhow::Result<()> {
    let minutes = trace.minutes();
    let mut stderr = std::io::stderr();
    let mut cold = None;
    for (boot, what) in [(sim.boot_delay_s, "cold launch"), (warm_boot_s, "from a warm pool (Stopped)")] {
        let config = WebConfig { boot_delay_s: boot, ..WebConfig::from_sim(sim) };
        let outcomes = switchyard_sim::compare_web(trace, &config, &mut |policy, minute| {
            if minute % 60 == 0 || minute == minutes {
                let _ = write!(stderr, "\r\x1b[K{policy:<30} boot {boot:.0} s, minute {minute:>5}/{minutes}");
                let _ = stderr.flush();
            }
        })?;
        eprint!("\r\x1b[K");
        println!(
            "trace {} ({minutes} min), web, boot {boot:.0} s ({what}), service {:.1} s/request, CPU target {:.0} %, \
             CloudWatch lag {} s, seed {}\n",
            describe(trace),
            config.service_mean_s,
            config.cpu_target_percent,
            config.cloudwatch_lag_s,
            config.seed
        );
        println!("{}", switchyard_sim::web_table(&outcomes));
        cold.get_or_insert(outcomes);
    }
    if let (Some(svg), Some(outcomes)) = (plot, cold) {
        let title = format!("{} — web fleet, cold boot {:.0} s", describe(trace), sim.boot_delay_s);
        let png = switchyard_sim::plot::write_web(&svg, &title, &outcomes)?;
        println!("plot: {} and {}", svg.display(), png.display());
    }
    Ok(())
}

fn positive(text: &str, name: &str) -> anyhow::Result<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => bail!("{name} takes a positive number of seconds, got {text:?}"),
    }
}

fn describe(trace: &Trace) -> &'static str {
    match trace {
        Trace::Constant { .. } => "constant",
        Trace::Spike { .. } => "spike",
        Trace::Diurnal { .. } => "diurnal",
        Trace::Sawtooth { .. } => "sawtooth",
        Trace::NightlyBatch { .. } => "nightly batch",
        Trace::FlashSale { .. } => "flash sale",
        Trace::SparseWeb { .. } => "sparse web",
        Trace::Recorded(_) => "recorded",
    }
}
