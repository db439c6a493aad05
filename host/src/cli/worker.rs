//! `ferry serve --workspaces DIR --store postgres://…`: one worker of a
//! cluster. Every workspace file in DIR is a row in `ferry_leases`; the
//! worker claims the one due first that nobody holds (`FOR UPDATE SKIP
//! LOCKED`), runs what is due in it under that lease (its commits fenced
//! by the lease's epoch, the lease renewed while it runs), records when it
//! is next due and lets it go. A worker killed mid-run stops renewing: after
//! the lease's time to live another worker claims the workspace, ends the
//! killed run as interrupted and resumes it, settling its pending writes
//! first. `ferry cluster status` ([`super::cluster`]) shows who holds what.

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
use crate::serve::cluster::{ChannelBoard, Console};
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
    let worker = Worker {
        template,
        dir,
        leases: Leases::new(pg.clone()),
        pg,
        key: InstallationKey::installation()?,
        holder: holder_name(),
        ttl: lease_ttl(),
    };
    let listening = match listen {
        Some(addr) => {
            let bound = console(template, dir, &worker.pg, &worker.holder, addr).await?;
            format!(", console on http://{bound}")
        }
        None => String::new(),
    };
    // Tests and scripts read this line to know the worker is up, and as whom.
    println!(
        "ferry worker {} serving the workspaces in {} from {}{listening}",
        worker.holder,
        dir.display(),
        worker.pg.place()
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        crate::serve::shutdown_signal().await;
        tracing::info!("shutting down: the runs in hand finish their page");
        stop.send_replace(true);
    });
    while !*stopping.borrow() {
        let pause = match worker.step(&stopping).await {
            Ok(true) => continue,
            Ok(false) => POLL,
            // Cut off from a workspace it held: it must not go on.
            Err(e) if e.downcast_ref::<Lost>().is_some() => return Err(e),
            // The folder or the database is out of reach for now.
            Err(e) => {
                tracing::error!("{e:#}; trying again in {}s", UNREACHABLE.as_secs());
                UNREACHABLE
            }
        };
        let mut stopping = stopping.clone();
        let _ = tokio::time::timeout(pause, stopping.wait_for(|s| *s)).await;
    }
    Ok(())
}

/// One worker process: where its workspaces are, the store, and who it is.
struct Worker<'a> {
    template: &'a RunArgs,
    dir: &'a Path,
    pg: Arc<Pg>,
    leases: Leases,
    key: Arc<InstallationKey>,
    holder: String,
    ttl: Duration,
}

/// How long a worker waits when its folder or the database cannot be
/// reached before it tries again.
const UNREACHABLE: Duration = Duration::from_secs(5);

impl Worker<'_> {
    /// Register the folder's workspaces, claim the one due first and take
    /// a turn on it; `false` when none was due.
    async fn step(&self, stopping: &tokio::sync::watch::Receiver<bool>) -> anyhow::Result<bool> {
        let known = workspaces(self.dir, self.template)?;
        for name in known.keys() {
            self.leases.register(name)?;
        }
        let Some(lease) = self.leases.claim_due(&self.holder, self.ttl)? else {
            return Ok(false);
        };
        let Some(path) = known.get(&lease.workspace) else {
            // Another worker's folder has it; this one cannot run it.
            tracing::warn!(
                workspace = lease.workspace,
                "due, but not in {}: left to the workers that have it",
                self.dir.display()
            );
            self.leases.set_due(&lease.workspace, POLL * 5)?;
            self.leases.release(&lease)?;
            return Ok(true);
        };
        self.turn(&args_for(self.template, path), lease, stopping.clone())
            .await?;
        Ok(true)
    }

    /// One turn on a claimed workspace: open it under the lease, run what
    /// is due, record when its next run is due, and let the lease go
    /// (dropping the store). A shutdown signal stops the runs after the
    /// page in hand.
    async fn turn(
        &self,
        args: &RunArgs,
        lease: Lease,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let workspace = lease.workspace.clone();
        tracing::info!(workspace, epoch = lease.epoch, "claimed");
        let store = Arc::new(EmbeddedStore::over_postgres(
            PgBackend::with_lease(self.pg.clone(), lease, self.ttl),
            self.key.clone(),
        )?);
        // Webhooks any worker received for it: each entity's run once.
        let requests = Requests::new(self.pg.clone());
        let asked = requests.pending(&workspace)?;
        let board = ChannelBoard::new(ClusterMeta::new(self.pg.clone()));
        let next = run_due(args, &workspace, board, &store, &asked, stopping).await;
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
        self.leases.set_due(&workspace, after)?;
        tracing::info!(workspace, next_in_seconds = after.as_secs(), "turn done");
        Ok(())
    }
}

/// The worker lost a lease it held: another worker runs the workspace now.
#[derive(Debug, thiserror::Error)]
#[error(
    "lost the lease of workspace `{0}` to another worker (this one was cut off past its time to live); stopping"
)]
struct Lost(String);

/// Run what is due in `workspace` (and what `asked` names), keeping its CRM
/// channels open; when it is next due.
async fn run_due(
    args: &RunArgs,
    workspace: &str,
    board: ChannelBoard,
    store: &Arc<EmbeddedStore>,
    asked: &[Request],
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let env = Arc::new(args.env_with(store.clone()).await?);
    let service = Service::for_worker(env, store.clone(), workspace, board)?;
    // CRM channels due to be opened or renewed (with `serve.public_url`).
    let renew = service.maintain_channels().await;
    for r in asked {
        // The debounce passed while the request waited for this turn.
        let jobs = service.requested(&r.connection, &r.entity, Duration::ZERO);
        tracing::info!(
            connection = r.connection,
            entity = r.entity,
            jobs,
            "webhook request taken"
        );
    }
    let runs = service.run_due();
    tokio::pin!(runs);
    let earliest = |next: Option<chrono::DateTime<chrono::Utc>>| match (next, renew) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    tokio::select! {
        next = &mut runs => Ok(earliest(next)),
        _ = stopping.wait_for(|s| *s) => {
            service.shutdown();
            Ok(earliest((&mut runs).await))
        }
        // Cut off past its lease: its writes are refused from now on.
        _ = store.lease_lost() => {
            service.shutdown();
            Err(Lost(args.workspace_key()).into())
        }
    }
}
