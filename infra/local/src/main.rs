//! `switchyard-local`: make and show the resources of Switchyard's local environment.
//!
//! ```text
//! switchyard-local bootstrap [--prefix NAME]          create what is missing, report each resource
//! switchyard-local status    [--prefix NAME] [--json] queues with depth, fleets with instances
//! switchyard-local enqueue   [--prefix NAME] --count N  send N jobs to the work queue
//! switchyard-local drain     [--prefix NAME]            purge the work queue
//! ```
//!
//! AWS is reached through the default configuration chain; `AWS_ENDPOINT_URL` must name a local
//! stack on a loopback address: this tool creates Auto Scaling groups, which cost money on AWS.

use anyhow::{Context, bail};
use switchyard_local::{Clients, LocalEnvironment, bootstrap, drain, enqueue, inventory};

const USAGE: &str = "usage: switchyard-local bootstrap|status|enqueue|drain [--prefix NAME] [--json] [--count N]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().context(USAGE)?;
    let mut prefix = "switchyard".to_owned();
    let mut json = false;
    let mut count: Option<usize> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--prefix" => prefix = args.next().context("--prefix needs a value")?,
            "--json" => json = true,
            "--count" => {
                count = Some(
                    args.next().context("--count needs a value")?.parse().context("--count takes a whole number")?,
                )
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    require_local_endpoint()?;
    let config = aws_config::load_from_env().await;
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
        other => bail!("unknown command {other:?}\n{USAGE}"),
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
