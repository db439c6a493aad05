//! `ferry cluster …`: what a cluster of workers (`ferry serve
//! --workspaces`, [`super::worker`]) is doing, read from its store, and
//! the tokens of its console.

use std::sync::Arc;

use anyhow::bail;

use super::args::StoreChoice;
use crate::store::postgres::{ClusterMeta, Leases, Pg};

/// The cluster's store.
#[derive(Debug, clap::Args)]
pub struct ClusterStore {
    #[arg(long = "store", env = "FERRY_STORE", value_name = "postgres://…")]
    store: String,
}

impl ClusterStore {
    fn connect(&self) -> anyhow::Result<Arc<Pg>> {
        let StoreChoice::Postgres(url) =
            StoreChoice::parse(&self.store).map_err(anyhow::Error::msg)?
        else {
            bail!(
                "`--store {}`: a cluster's store is a postgres:// URL",
                self.store
            );
        };
        Ok(Pg::connect(&url)?)
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Every workspace the cluster knows: which worker holds it, its lease
    /// and fencing epoch, its last heartbeat, and when it is next due.
    Status {
        #[command(flatten)]
        store: ClusterStore,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Tokens of the cluster's page and API on every worker (apart from
    /// each workspace's own tokens).
    #[command(subcommand)]
    Tokens(ClusterTokens),
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterTokens {
    /// Make a cluster token; its secret is printed once and never stored.
    Add {
        #[command(flatten)]
        store: ClusterStore,
        name: String,
        #[arg(long, value_enum, default_value = "viewer")]
        role: crate::serve::Role,
    },
    /// List the cluster's tokens (names and roles).
    List {
        #[command(flatten)]
        store: ClusterStore,
    },
    /// Revoke a cluster token.
    Revoke {
        #[command(flatten)]
        store: ClusterStore,
        name: String,
    },
}

pub fn cluster(c: ClusterCommand) -> std::process::ExitCode {
    super::sync::exit(match c {
        ClusterCommand::Status { store, json } => status(&store, json),
        ClusterCommand::Tokens(command) => cluster_tokens(command),
    })
}

fn cluster_tokens(command: ClusterTokens) -> anyhow::Result<std::process::ExitCode> {
    use crate::serve::tokens;
    match command {
        ClusterTokens::Add { store, name, role } => {
            let meta = ClusterMeta::new(store.connect()?);
            println!("{}", tokens::create(&meta, &name, role)?);
        }
        ClusterTokens::List { store } => {
            for t in tokens::list(&ClusterMeta::new(store.connect()?))? {
                println!("{}\t{}", t.name, t.role.name());
            }
        }
        ClusterTokens::Revoke { store, name } => {
            if !tokens::revoke(&ClusterMeta::new(store.connect()?), &name)? {
                bail!("no cluster token `{name}`");
            }
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}

fn status(store: &ClusterStore, json: bool) -> anyhow::Result<std::process::ExitCode> {
    let rows = Leases::new(store.connect()?).list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(std::process::ExitCode::SUCCESS);
    }
    println!(
        "{:<28} {:<28} {:>6} {:>10} {:>10} {:>8} {:>8}",
        "WORKSPACE", "HELD BY", "EPOCH", "HEARTBEAT", "LEASE LEFT", "DUE IN", "HOOKS"
    );
    for r in rows {
        println!(
            "{:<28} {:<28} {:>6} {:>10} {:>10} {:>8} {:>8}",
            super::safe::line(&r.workspace),
            r.holder.as_deref().unwrap_or("-"),
            r.epoch,
            r.heartbeat_age
                .map_or("-".into(), |a| format!("{a:.0}s ago")),
            if r.holder.is_some() {
                format!("{:.0}s", r.expires_in)
            } else {
                "-".into()
            },
            if r.due_in <= 0.0 {
                "now".into()
            } else {
                format!("{:.0}s", r.due_in)
            },
            r.requests,
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}
