//! `ferry serve` and `ferry tokens …`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use crate::schedule::ManualClock;
use crate::serve::{self, Role, ServeOptions, Service, tokens};

use super::sync::{RunArgs, exit, runtime};
use super::view::{Running, in_use};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub args: RunArgs,
    /// Address of the admin API and webhook receiver (overrides
    /// `serve.listen`).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Start a clock that stands still until `POST /v1/clock` moves it
    /// (at this RFC 3339 instant, or now): for tests that drive schedules.
    #[arg(long, value_name = "START", num_args = 0..=1, default_missing_value = "now")]
    pub manual_clock: Option<String>,
    /// Be one worker of a cluster: run the workspace files in this folder
    /// (every `*.yaml`), taking turns with the other workers on the same
    /// PostgreSQL store (`--store postgres://…`). With `--listen`, the
    /// worker serves the cluster's page and API and receives webhooks for
    /// the workspaces in DIR.
    #[arg(long, value_name = "DIR", conflicts_with = "manual_clock")]
    pub workspaces: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make an API token; its secret is printed once and never stored.
    Add {
        #[command(flatten)]
        args: RunArgs,
        name: String,
        #[arg(long, value_enum)]
        role: Role,
    },
    /// List tokens (names and roles).
    List {
        #[command(flatten)]
        args: RunArgs,
    },
    /// Revoke a token.
    Revoke {
        #[command(flatten)]
        args: RunArgs,
        name: String,
    },
}

/// The workspace's store. On PostgreSQL, while another process holds the
/// workspace (another `ferry serve`), wait as its standby and take over
/// once it stops or its lease expires (it was killed): the store ends its
/// interrupted runs, and their pending writes are settled by the next run.
async fn take_workspace(args: &RunArgs) -> anyhow::Result<Arc<crate::store::EmbeddedStore>> {
    let shared = matches!(args.engine, super::args::StoreChoice::Postgres(_));
    let mut waiting = false;
    loop {
        match args.store() {
            Err(e) if shared && in_use(&e) => {
                if !waiting {
                    waiting = true;
                    eprintln!(
                        "ferry serve: workspace `{}` is held by another Ferry process; standing by to take it over",
                        args.workspace_key()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            opened => return opened,
        }
    }
}

pub fn serve(a: ServeArgs) -> ExitCode {
    exit(runtime().and_then(|rt| rt.block_on(run(a))))
}

async fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &a.workspaces {
        super::worker::work(&a.args, dir, a.listen).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let manual_clock = match a.manual_clock.as_deref() {
        None => None,
        Some("now") => Some(Arc::new(ManualClock::new(chrono::Utc::now()))),
        Some(start) => Some(Arc::new(ManualClock::new(
            chrono::DateTime::parse_from_rfc3339(start)
                .with_context(|| format!("`--manual-clock {start}` is not an RFC 3339 instant"))?
                .with_timezone(&chrono::Utc),
        ))),
    };
    let store = take_workspace(&a.args).await?;
    let env = Arc::new(a.args.env_with(store.clone()).await?);
    let service = Service::new(
        env,
        store,
        &ServeOptions {
            listen: a.listen,
            manual_clock,
        },
        metrics,
    )?;
    let addr = service.listen_addr();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| serve::ServeError::Listen { addr, error })?;
    let bound = listener.local_addr()?;
    // Commands beside the service find it, and act through it, by this.
    let published = serve::local::publish(&a.args.state_dir(), bound)
        .context("cannot write the service file in the state directory")?;
    service.accept_local(published.token());
    // Tests and scripts read this line to find the port.
    println!("ferry serve listening on http://{bound}");
    tracing::info!(%bound, jobs = service.jobs().len(), "serving");
    serve::serve(service, listener).await?;
    drop(published);
    Ok(ExitCode::SUCCESS)
}

pub fn tokens(c: TokensCommand) -> ExitCode {
    exit((|| {
        match c {
            TokensCommand::Add { args, name, role } => {
                let store = args.store()?;
                let secret = tokens::create(&store, &name, role)?;
                eprintln!("token `{name}` ({}): shown once, keep it safe", role.name());
                println!("{secret}");
            }
            TokensCommand::List { args } => {
                let list: Vec<(String, String)> = match args.store() {
                    Ok(store) => tokens::list(&store)?
                        .into_iter()
                        .map(|t| (t.name, t.role.name().to_string()))
                        .collect(),
                    Err(e) if in_use(&e) => {
                        let state = args.state_dir();
                        Running::holding(&state, &state.display().to_string())?.tokens()?
                    }
                    Err(e) => return Err(e),
                };
                if args.json {
                    let list: Vec<_> = list
                        .iter()
                        .map(|(name, role)| serde_json::json!({ "name": name, "role": role }))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&list)?);
                    return Ok(ExitCode::SUCCESS);
                }
                if list.is_empty() {
                    println!("no tokens (`ferry tokens add <name> --role admin`)");
                }
                for (name, role) in list {
                    println!("{:<24} {role}", super::safe::line(&name));
                }
            }
            TokensCommand::Revoke { args, name } => {
                let store = args.store()?;
                if tokens::revoke(&store, &name)? {
                    println!("revoked `{name}`");
                } else {
                    anyhow::bail!("no token `{name}`");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })())
}
