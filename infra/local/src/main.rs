//! `switchyard-local`: make and show the resources of Switchyard's local environment.
//!
//! ```text
//! switchyard-local bootstrap [--prefix NAME]          create what is missing, report each resource
//! switchyard-local status    [--prefix NAME] [--json] queues with depth, fleets with instances
//! switchyard-local enqueue   [--prefix NAME] --count N  send N jobs to the work queue
//! switchyard-local drain     [--prefix NAME]            purge the work queue
//! switchyard-local resize    [--prefix NAME] --role web|consumer [--min N] [--max N] [--desired N]
//!                            change a fleet's limits and size
//! switchyard-local backends  [--prefix NAME] [--count N] [--namespace NS] [--slow N --slow-ms MS] [--follow]
//!                            size the web fleet to N, a demo web server per instance (endpoint tags, load metric);
//!                            with --follow, a server for each instance that joins, none for one that left
//! switchyard-local ship-emf  LOG [--from BYTES]       put the EMF lines of a function's stdout log to CloudWatch,
//!                                                     print the next offset
//! ```
//!
//! AWS is reached through the default configuration chain; `AWS_ENDPOINT_URL` must name a local
//! stack on a loopback address: this tool creates Auto Scaling groups, which cost money on AWS.

use anyhow::{Context, bail};
use switchyard_local::backends::{Change, Servers};
use switchyard_local::{Clients, LocalEnvironment, bootstrap, drain, enqueue, inventory};

const USAGE: &str = "usage: switchyard-local bootstrap|status|enqueue|drain|resize|backends|ship-emf [LOG] \
                     [--prefix NAME] [--json] [--count N] [--namespace NS] [--slow N] [--slow-ms MS] [--follow] \
                     [--role web|consumer] [--min N] [--max N] [--desired N] [--from BYTES]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().context(USAGE)?;
    let mut prefix = "switchyard".to_owned();
    let mut json = false;
    let mut count: Option<usize> = None;
    let mut namespace = "Switchyard/DemoTargets".to_owned();
    let (mut slow, mut slow_ms) = (0usize, 200u64);
    let mut follow = false;
    let mut role: Option<switchyard_local::Role> = None;
    let (mut min, mut max, mut desired): (Option<i32>, Option<i32>, Option<i32>) = (None, None, None);
    let mut log: Option<std::path::PathBuf> = None;
    let mut from = 0u64;
    let size = |flag: &str, value: Option<String>| -> anyhow::Result<Option<i32>> {
        let value = value.with_context(|| format!("{flag} needs a value"))?;
        Ok(Some(value.parse().with_context(|| format!("{flag} takes a whole number, got {value:?}"))?))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prefix" => prefix = args.next().context("--prefix needs a value")?,
            "--json" => json = true,
            "--count" => {
                count = Some(
                    args.next().context("--count needs a value")?.parse().context("--count takes a whole number")?,
                )
            }
            "--namespace" => namespace = args.next().context("--namespace needs a value")?,
            "--slow" => slow = args.next().context("--slow needs a value")?.parse().context("--slow takes a count")?,
            "--slow-ms" => {
                slow_ms =
                    args.next().context("--slow-ms needs a value")?.parse().context("--slow-ms takes milliseconds")?
            }
            "--follow" => follow = true,
            "--role" => {
                role = Some(match args.next().context("--role needs a value")?.as_str() {
                    "web" => switchyard_local::Role::Web,
                    "consumer" => switchyard_local::Role::Consumer,
                    other => bail!("--role takes web or consumer, got {other:?}"),
                })
            }
            "--min" => min = size("--min", args.next())?,
            "--max" => max = size("--max", args.next())?,
            "--desired" => desired = size("--desired", args.next())?,
            "--from" => {
                from = args.next().context("--from needs a value")?.parse().context("--from takes a byte offset")?
            }
            other if command == "ship-emf" && log.is_none() && !other.starts_with("--") => log = Some(other.into()),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    require_local_endpoint()?;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(switchyard_env::https_client())
        .load()
        .await;
    let clients = Clients::new(&config);
    match command.as_str() {
        "bootstrap" => {
            let outcomes = bootstrap(&clients, &LocalEnvironment::with_prefix(&prefix)).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                outcomes.iter().for_each(|o| println!("{o}"));
            }
        }
        "status" => {
            let inventory = inventory(&clients, &prefix).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&inventory)?);
            } else {
                print!("{inventory}");
            }
        }
        "enqueue" => {
            let count = count.context("enqueue needs --count N")?;
            let sent = enqueue(&clients, &LocalEnvironment::with_prefix(&prefix), count).await?;
            println!("sent {sent} jobs to {prefix}-work");
        }
        "drain" => {
            drain(&clients, &LocalEnvironment::with_prefix(&prefix)).await?;
            println!("purged {prefix}-work");
        }
        "resize" => {
            let role = role.context("resize needs --role web|consumer")?;
            let env = LocalEnvironment::with_prefix(&prefix);
            let fleet = env.fleets.iter().find(|f| f.role == role).context("no such fleet")?;
            clients
                .autoscaling
                .update_auto_scaling_group()
                .auto_scaling_group_name(&fleet.group_name)
                .set_min_size(min)
                .set_max_size(max)
                .set_desired_capacity(desired)
                .send()
                .await
                .with_context(|| format!("resizing {}", fleet.group_name))?;
            println!("{}", serde_json::json!({"group": fleet.group_name, "min": min, "max": max, "desired": desired}));
        }
        "backends" => {
            let env = LocalEnvironment::with_prefix(&prefix);
            let web = env.fleets.iter().find(|f| f.role == switchyard_local::Role::Web).context("no web fleet")?;
            let slow_delay = std::time::Duration::from_millis(slow_ms);
            let mut servers = Servers::new(&clients, &web.group_name, slow, slow_delay);
            if follow {
                // Before sizing: the instances that sizing launches wait for their servers too.
                servers.hold_launches().await?;
            }
            let served =
                serve_backends(&clients, &config, &mut servers, &web.group_name, &namespace, count, follow).await;
            let released = servers.release_launches().await;
            served?;
            released?;
        }
        "ship-emf" => {
            let log = log.context("ship-emf needs the log file to read (a function's stdout)")?;
            let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
            let shipped = switchyard_local::emf::ship_log(&cloudwatch, &log, from).await?;
            println!("{}", serde_json::to_string(&shipped)?);
        }
        other => bail!("unknown command {other:?}\n{USAGE}"),
    }
    Ok(())
}

/// Size the web fleet (with `count`), serve its instances and report their load until stopped
/// (SIGTERM from the demo, or Ctrl-C); following the group, look at it again every second. Each
/// server started or stopped is one JSON line.
async fn serve_backends(
    clients: &Clients,
    config: &aws_config::SdkConfig,
    servers: &mut Servers,
    group: &str,
    namespace: &str,
    count: Option<usize>,
    follow: bool,
) -> anyhow::Result<()> {
    if let Some(count) = count {
        let desired = i32::try_from(count).context("--count is too large")?;
        clients
            .autoscaling
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(desired)
            .send()
            .await
            .context("sizing the web fleet")?;
    }
    let first = servers.sync().await?;
    print_changes(&first.changes)?;
    if let Some(e) = first.failed.into_iter().next() {
        return Err(e.into());
    }
    servers.report(aws_sdk_cloudwatch::Client::new(config), namespace);
    println!("{}", serde_json::json!({"ready": servers.backends().len(), "namespace": namespace, "follow": follow}));
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut interrupt) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    let mut every_second = tokio::time::interval(std::time::Duration::from_secs(1));
    every_second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every_second.tick().await;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
            _ = every_second.tick(), if follow => match servers.sync().await {
                Ok(synced) => {
                    print_changes(&synced.changes)?;
                    synced.failed.iter().for_each(|e| eprintln!("backends: following {group}: {e}"));
                }
                // A local stack that hiccups: look again in a second.
                Err(e) => eprintln!("backends: following {group}: {e}"),
            },
        }
    }
}

fn print_changes(changes: &[Change]) -> anyhow::Result<()> {
    for change in changes {
        match change {
            Change::Started(b) => println!("{}", serde_json::to_string(b)?),
            Change::Stopped(b) => println!("{}", serde_json::json!({"stopped": b.name, "instance": b.instance})),
        }
    }
    Ok(())
}

fn require_local_endpoint() -> anyhow::Result<()> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .context("AWS_ENDPOINT_URL is not set: point it at the local stack (`bash infra/localstack.sh endpoint`)")?;
    let authority = endpoint.split("://").nth(1).unwrap_or(&endpoint).split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if !(host == "localhost" || host == "::1" || host.starts_with("127.")) {
        bail!("AWS_ENDPOINT_URL={endpoint} is not a loopback address; switchyard-local only works on a local stack");
    }
    Ok(())
}
