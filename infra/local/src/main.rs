//! `switchyard-local`: make and show the resources of Switchyard's local environment.
//!
//! ```text
//! switchyard-local bootstrap [--prefix NAME]          create what is missing, report each resource
//! switchyard-local status    [--prefix NAME] [--json] queues with depth, fleets with instances
//! switchyard-local enqueue   [--prefix NAME] --count N  send N jobs to the work queue
//! switchyard-local drain     [--prefix NAME]            purge the work queue
//! switchyard-local backends  [--prefix NAME] [--count N] [--namespace NS] [--slow N --slow-ms MS]
//!                            size the web fleet to N, a demo web server per instance (endpoint tags, load metric)
//! ```
//!
//! AWS is reached through the default configuration chain; `AWS_ENDPOINT_URL` must name a local
//! stack on a loopback address: this tool creates Auto Scaling groups, which cost money on AWS.

use anyhow::{Context, bail};
use switchyard_local::{Clients, LocalEnvironment, bootstrap, drain, enqueue, inventory};

const USAGE: &str = "usage: switchyard-local bootstrap|status|enqueue|drain|backends [--prefix NAME] [--json] [--count N] \
                     [--namespace NS] [--slow N] [--slow-ms MS]";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().context(USAGE)?;
    let mut prefix = "switchyard".to_owned();
    let mut json = false;
    let mut count: Option<usize> = None;
    let mut namespace = "Switchyard/DemoTargets".to_owned();
    let (mut slow, mut slow_ms) = (0usize, 200u64);
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
        "backends" => {
            let env = LocalEnvironment::with_prefix(&prefix);
            let web = env.fleets.iter().find(|f| f.role == switchyard_local::Role::Web).context("no web fleet")?;
            if let Some(count) = count {
                let desired = i32::try_from(count).context("--count is too large")?;
                clients
                    .autoscaling
                    .set_desired_capacity()
                    .auto_scaling_group_name(&web.group_name)
                    .desired_capacity(desired)
                    .send()
                    .await
                    .context("sizing the web fleet")?;
            }
            let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
            let slow_delay = std::time::Duration::from_millis(slow_ms);
            let backends =
                switchyard_local::backends::serve(&clients, cloudwatch, &web.group_name, &namespace, slow, slow_delay)
                    .await?;
            for b in &backends {
                println!("{}", serde_json::to_string(b)?);
            }
            println!("{}", serde_json::json!({"ready": backends.len(), "namespace": namespace}));
            // Serve until stopped (SIGTERM from the demo, or Ctrl-C).
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
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
