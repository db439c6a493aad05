//! `ferry serve --workspaces DIR --store postgres://…`: one worker of a
//! cluster. Every workspace file in DIR is a row in `ferry_leases`; the
//! worker claims the one due first that nobody holds (`FOR UPDATE SKIP
//! LOCKED`), runs what is due in it under that lease (its commits fenced
//! by the lease's epoch, the lease renewed while it runs), records when it
//! is next due and lets it go. A worker killed mid-run stops renewing: after
//! the lease's time to live another worker claims the workspace, ends the
//! killed run as interrupted and resumes it, settling its pending writes
//! first. `ferry cluster status` shows who holds what.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

use super::args::{RunArgs, StoreChoice, lease_ttl};
use crate::config::ServeConfig;
use crate::install_key::InstallationKey;
use crate::serve::Service;
use crate::serve::cluster::Console;
use crate::store::EmbeddedStore;
use crate::store::postgres::{
    ClusterMeta, Lease, Leases, Pg, PgBackend, PgPacer, Request, Requests, holder_name,
};

/// How often an idle worker looks for a due workspace.
const POLL: Duration = Duration::from_secs(1);

/// When a workspace that could not be opened (a mistake in its file, a
/// vendor refusing its credentials) is tried again.
const RETRY_BROKEN: Duration = Duration::from_secs(60);

/// When a workspace with nothing on a schedule is looked at again (its
/// file may have changed).
const IDLE_RECHECK: Duration = Duration::from_secs(3600);

/// The workspace files in `dir`, by their name in the store.
fn workspaces(dir: &Path, template: &RunArgs) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") && path.is_file() {
            out.insert(args_for(template, &path).workspace_key(), path);
        }
    }
    Ok(out)
}

/// The worker's own arguments, aimed at one workspace file. Compiled
/// components are kept once for the folder, not once per workspace, so a
/// worker's first turn on each workspace compiles nothing again.
fn args_for(template: &RunArgs, path: &Path) -> RunArgs {
    let mut args = template.clone();
    args.workspace = path.to_path_buf();
    if args.component_cache.is_none() {
        args.component_cache = path
            .parent()
            .map(|dir| dir.join(".ferry").join("components"));
    }
    args
}

/// The console of this worker ([`crate::serve::cluster`]) on `listen`;
/// returns the address bound.
async fn console(
    template: &RunArgs,
    dir: &Path,
    pg: &Arc<Pg>,
    holder: &str,
    listen: SocketAddr,
) -> anyhow::Result<SocketAddr> {
    let (template, dir) = (template.clone(), dir.to_path_buf());
    let serve_sections = move |name: &str| -> anyhow::Result<Option<ServeConfig>> {
        let Some(path) = workspaces(&dir, &template)?.remove(name) else {
            return Ok(None);
        };
        Ok(Some(args_for(&template, &path).workspace()?.serve))
    };
    let console = Arc::new(Console::new(
        holder.to_string(),
        Leases::new(pg.clone()),
        Requests::new(pg.clone()),
        ClusterMeta::new(pg.clone()),
        PgPacer::new(pg.clone()),
        Box::new(serve_sections),
    ));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let app = crate::serve::cluster::router(console, bound);
    tokio::spawn(async move {
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
        if let Err(e) = served {
            tracing::error!("the cluster console stopped: {e}");
        }
    });
    Ok(bound)
}

/// Work until a shutdown signal: claim due workspaces and run them, one at
/// a time; with `listen`, serve the cluster's console beside.
pub async fn work(
    template: &RunArgs,
    dir: &Path,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    let StoreChoice::Postgres(url) = &template.engine else {
        bail!("`--workspaces` needs a shared store: give `--store postgres://…` (or FERRY_STORE)");
    };
    if template.state.is_some() {
        bail!(
            "`--state` names one workspace's state directory; with `--workspaces` each workspace keeps its own beside its file"
        );
    }
    let pg = Pg::connect(url)?;
    let leases = Leases::new(pg.clone());
    let key = InstallationKey::installation()?;
    let holder = holder_name();
    let ttl = lease_ttl();
    let listening = match listen {
        Some(addr) => {
            let bound = console(template, dir, &pg, &holder, addr).await?;
            format!(", console on http://{bound}")
        }
        None => String::new(),
    };
    // Tests and scripts read this line to know the worker is up, and as whom.
    println!(
        "ferry worker {holder} serving the workspaces in {} from {}{listening}",
        dir.display(),
        pg.place()
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::serve::shutdown_signal().await;
        tracing::info!("shutting down: the runs in hand finish their page");
        stop.send_replace(true);
    });
    while !*stopping.borrow() {
        match step(template, dir, &pg, &leases, &holder, ttl, &key, &stopping).await {
            Ok(true) => {}
            Ok(false) => {
                let mut stopping = stopping.clone();
                let _ = tokio::time::timeout(POLL, stopping.wait_for(|s| *s)).await;
            }
            // Cut off from a workspace it held: it must not go on.
            Err(e) if e.downcast_ref::<Lost>().is_some() => return Err(e),
            // The folder or the database is out of reach for now.
            Err(e) => {
                tracing::error!("{e:#}; trying again in {}s", UNREACHABLE.as_secs());
                let mut stopping = stopping.clone();
                let _ = tokio::time::timeout(UNREACHABLE, stopping.wait_for(|s| *s)).await;
            }
        }
    }
    Ok(())
}

/// How long a worker waits when its folder or the database cannot be
/// reached before it tries again.
const UNREACHABLE: Duration = Duration::from_secs(5);

/// Register the folder's workspaces, claim the one due first and take a
/// turn on it; `false` when none was due.
#[allow(clippy::too_many_arguments)]
async fn step(
    template: &RunArgs,
    dir: &Path,
    pg: &Arc<Pg>,
    leases: &Leases,
    holder: &str,
    ttl: Duration,
    key: &Arc<InstallationKey>,
    stopping: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<bool> {
    let known = workspaces(dir, template)?;
    for name in known.keys() {
        leases.register(name)?;
    }
    let Some(lease) = leases.claim_due(holder, ttl)? else {
        return Ok(false);
    };
    let Some(path) = known.get(&lease.workspace) else {
        // Another worker's folder has it; this one cannot run it.
        tracing::warn!(
            workspace = lease.workspace,
            "due, but not in {}: left to the workers that have it",
            dir.display()
        );
        leases.set_due(&lease.workspace, POLL * 5)?;
        leases.release(&lease)?;
        return Ok(true);
    };
    let args = args_for(template, path);
    turn(&args, pg, lease, ttl, key.clone(), stopping.clone()).await?;
    Ok(true)
}

/// One turn on a claimed workspace: open it under the lease, run what is
/// due, record when its next run is due, and let the lease go (dropping
/// the store). A shutdown signal stops the runs after the page in hand.
async fn turn(
    args: &RunArgs,
    pg: &Arc<Pg>,
    lease: Lease,
    ttl: Duration,
    key: Arc<InstallationKey>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let workspace = lease.workspace.clone();
    tracing::info!(workspace, epoch = lease.epoch, "claimed");
    let store = Arc::new(EmbeddedStore::over_postgres(
        PgBackend::with_lease(pg.clone(), lease, ttl),
        key,
    )?);
    // Webhooks any worker received for it: each entity's run once.
    let requests = Requests::new(pg.clone());
    let asked = requests.pending(&workspace)?;
    let next = run_due(args, &store, &asked, stopping).await;
    if next.is_ok() {
        requests.settle(&workspace, &asked)?;
    }
    let after = match next {
        Ok(Some(at)) => (at - chrono::Utc::now()).to_std().unwrap_or_default(),
        Ok(None) => IDLE_RECHECK,
        Err(e) if e.downcast_ref::<Lost>().is_some() => return Err(e),
        Err(e) => {
            tracing::error!(workspace, "{e:#}; tried again later");
            RETRY_BROKEN
        }
    };
    // While still holding the lease, so no other worker claims it early.
    Leases::new(pg.clone()).set_due(&workspace, after)?;
    tracing::info!(workspace, next_in_seconds = after.as_secs(), "turn done");
    Ok(())
}

/// The worker lost a lease it held: another worker runs the workspace now.
#[derive(Debug, thiserror::Error)]
#[error(
    "lost the lease of workspace `{0}` to another worker (this one was cut off past its time to live); stopping"
)]
struct Lost(String);

async fn run_due(
    args: &RunArgs,
    store: &Arc<EmbeddedStore>,
    asked: &[Request],
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let env = Arc::new(args.env_with(store.clone()).await?);
    let service = Service::for_worker(env, store.clone())?;
    for r in asked {
        // The debounce passed while the request waited for this turn.
        let jobs = service.notified_entity(&r.connection, &r.entity, Duration::ZERO);
        tracing::info!(
            connection = r.connection,
            entity = r.entity,
            jobs,
            "webhook request taken"
        );
    }
    let runs = service.run_due();
    tokio::pin!(runs);
    tokio::select! {
        next = &mut runs => Ok(next),
        _ = stopping.wait_for(|s| *s) => {
            service.shutdown();
            Ok((&mut runs).await)
        }
        // Cut off past its lease: its writes are refused from now on.
        _ = store.lease_lost() => {
            service.shutdown();
            Err(Lost(args.workspace_key()).into())
        }
    }
}

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
