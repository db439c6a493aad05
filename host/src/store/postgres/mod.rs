//! PostgreSQL as a [`Backend`]: the state of many workspaces in one
//! database, shared by every Ferry process pointed at it.
//!
//! Why a backend and not a second `StateStore`: everything Ferry knows
//! about its keys (one record's link, snapshots, fired key and ledger row
//! in one atomic batch) lives once, above [`Backend`]; here a batch is one
//! transaction. Rows are `(workspace, space, key) → value` in `ferry_kv`,
//! so a prefix scan is a range query in bytea order, the order the
//! embedded engines keep.
//!
//! Who may write: opening a workspace's store claims its row in
//! `ferry_leases` (like the embedded engines' file lock, but with a time to
//! live, so a killed process lets go). The claim increments the row's
//! epoch; every transaction first reads the epoch `FOR SHARE` and fails
//! with [`StoreError::Fenced`] when it is not its own: a process that lost
//! its lease (paused past its TTL, then claimed by another) commits
//! nothing. A background task renews the lease every third of its TTL.
//!
//! The trait is synchronous and Ferry runs on tokio runtimes of either
//! flavour (and outside any): the driver runs on a runtime of its own, on
//! its own thread, and a call waits for its answer there. The caller's
//! thread blocks as it does on a redb commit, and the driver never needs
//! the caller's runtime, so nothing can deadlock.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::StoreError;
use super::kv::{Backend, Durability, Space, Visit, Write, prefix_end};

mod cluster;
mod lease;
mod pacing;
pub use cluster::{ClusterMeta, Request, Requests};
use lease::renew;
pub use lease::{Lease, LeaseRow, Leases, holder_name};
pub use pacing::PgPacer;

/// The schema, in order; applied (once, under sqlx's advisory lock) when a
/// store connects. A released migration never changes: add the next one.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "store",
        include_str!("../../../migrations/0001_store.sql"),
    ),
    (
        2,
        "pacing",
        include_str!("../../../migrations/0002_pacing.sql"),
    ),
    (
        3,
        "cluster",
        include_str!("../../../migrations/0003_cluster.sql"),
    ),
];

/// Entries a scan reads per round trip.
const SCAN_CHUNK: i64 = 512;

/// How long a lease lives without renewal, unless told otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Embedded;

impl<'s> MigrationSource<'s> for Embedded {
    fn resolve(self) -> BoxFuture<'s, Result<Vec<Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async {
            Ok(MIGRATIONS
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*name),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect())
        })
    }
}

fn io(e: sqlx::Error) -> StoreError {
    StoreError::Io(format!("postgres: {e}"))
}

/// `url` without its password, for messages.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "postgres://…".into(),
    }
}

/// A connection pool and the runtime that drives it.
pub struct Pg {
    rt: Option<tokio::runtime::Runtime>,
    pool: PgPool,
    url: String,
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            // Say goodbye to the server (idle connections close at once).
            let pool = self.pool.clone();
            let _ = block(&rt, async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), pool.close()).await;
            });
            // Allowed anywhere, even inside another runtime's task.
            rt.shutdown_background();
        }
    }
}

impl Pg {
    /// Connect to the database at `url` and bring its schema up to date.
    pub fn connect(url: &str) -> Result<Arc<Pg>, StoreError> {
        let open = |message: String| StoreError::Open {
            path: redacted(url),
            message,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("ferry-postgres")
            .enable_all()
            .build()
            .map_err(|e| open(e.to_string()))?;
        let target = url.to_string();
        let pool = block(&rt, async move {
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(Duration::from_secs(10))
                .connect(&target)
                .await
                .map_err(|e| e.to_string())?;
            let mut migrator = Migrator::new(Embedded).await.map_err(|e| e.to_string())?;
            // Migrations only add: a worker of the previous release still
            // starts on a schema a newer one migrated (rolling upgrades).
            migrator.set_ignore_missing(true);
            migrator
                .run(&pool)
                .await
                .map_err(|e| format!("migrating the schema: {e}"))?;
            Ok::<_, String>(pool)
        })
        .map_err(|e| open(e.to_string()))?
        .map_err(open)?;
        Ok(Arc::new(Pg {
            rt: Some(rt),
            pool,
            url: url.to_string(),
        }))
    }

    /// Run `f` on the driver's runtime and wait for it.
    fn run<T: Send + 'static>(
        &self,
        f: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let rt = self.rt.as_ref().expect("runtime until dropped");
        block(rt, f)?
    }

    /// Start `f` on the driver's runtime; its result, awaitable anywhere.
    fn spawn<T: Send + 'static>(
        &self,
        f: impl Future<Output = T> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let rt = self.rt.as_ref().expect("runtime until dropped");
        rt.spawn(async move {
            let _ = tx.send(f.await);
        });
        rx
    }

    /// The database, for messages (no password).
    pub fn place(&self) -> String {
        redacted(&self.url)
    }
}

fn block<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    f: impl Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .map_err(|_| StoreError::Io("postgres: the driver stopped".into()))
}

/// Where and as whom a store opens.
#[derive(Debug, Clone)]
pub struct PgOptions {
    pub url: String,
    /// The workspace whose state this is (rows of others are never read).
    pub workspace: String,
    /// How long the lease lives without renewal (a killed process holds
    /// the workspace that long).
    pub ttl: Duration,
}

fn space_id(space: Space) -> i16 {
    match space {
        Space::State => 0,
        Space::Meta => 1,
        Space::Tokens => 2,
    }
}

/// One workspace's state, written under its lease.
pub struct PgBackend {
    pg: Arc<Pg>,
    lease: Lease,
    /// `true` while a commit may not be durable yet.
    dirty: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
    /// Set when a renewal or a write finds the lease taken by another.
    lost: Arc<tokio::sync::watch::Sender<bool>>,
    /// How long the lease lives unrenewed.
    ttl: Duration,
    /// Ids left of the block the last `nextval` reserved: next, end.
    ids: std::sync::Mutex<(u64, u64)>,
}

/// Ids a `nextval` reserves: ledger rows are numbered in blocks, not with
/// a round trip each (a page of skipped records is hundreds of rows).
/// Block `v` holds `v × ID_BLOCK ..`: above every id handed out before,
/// by this process or any other, so rows keep their commit order.
const ID_BLOCK: u64 = 1024;

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.renewer.abort();
        if let Err(e) = Leases::new(self.pg.clone()).release(&self.lease) {
            tracing::warn!(error = %e, "could not release the workspace's lease");
        }
    }
}

impl PgBackend {
    /// Open `options.workspace`'s state, claiming its lease; fails with
    /// [`StoreError::InUse`] while another live process holds it.
    pub fn open(options: &PgOptions) -> Result<PgBackend, StoreError> {
        let pg = Pg::connect(&options.url)?;
        Self::open_on(pg, &options.workspace, options.ttl)
    }

    /// [`PgBackend::open`] over a pool already connected.
    pub fn open_on(pg: Arc<Pg>, workspace: &str, ttl: Duration) -> Result<PgBackend, StoreError> {
        let lease = Leases::new(pg.clone())
            .claim(workspace, &holder_name(), ttl)?
            .ok_or_else(|| StoreError::InUse {
                path: format!("{} (workspace {workspace})", pg.place()),
            })?;
        Ok(Self::with_lease(pg, lease, ttl))
    }

    /// Write under `lease`, claimed already (a worker's), renewing it.
    pub fn with_lease(pg: Arc<Pg>, lease: Lease, ttl: Duration) -> PgBackend {
        let (pool, held) = (pg.pool.clone(), lease.clone());
        let lost = Arc::new(tokio::sync::watch::Sender::new(false));
        let losing = lost.clone();
        let rt = pg.rt.as_ref().expect("runtime until dropped");
        let renewer = rt.spawn(async move {
            loop {
                tokio::time::sleep(ttl / 3).await;
                match renew(pool.clone(), held.clone(), ttl).await {
                    Ok(true) => {}
                    Ok(false) => {
                        losing.send_replace(true);
                        tracing::warn!(
                            workspace = %held.workspace,
                            "lost the workspace's lease: another process holds it; this one commits nothing more"
                        );
                        return;
                    }
                    Err(e) => tracing::warn!(error = %e, "could not renew the workspace's lease"),
                }
            }
        });
        PgBackend {
            pg,
            lease,
            dirty: Arc::new(AtomicBool::new(false)),
            renewer,
            lost,
            ttl,
            ids: std::sync::Mutex::new((0, 0)),
        }
    }

    /// Pacing shared with every process on this database.
    pub fn pacer(&self) -> Arc<dyn crate::capability::Pacer> {
        Arc::new(PgPacer::new(self.pg.clone()))
    }

    /// The lease its writes carry.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Where it is, for messages.
    pub fn place(&self) -> String {
        format!("{} (workspace {})", self.pg.place(), self.lease.workspace)
    }

    /// Run `f` in one transaction that first checks the lease's epoch.
    fn write<T: Send + 'static>(
        &self,
        durability: Durability,
        f: impl for<'t> FnOnce(
            &'t mut Transaction<'static, Postgres>,
            String,
        ) -> BoxFuture<'t, Result<T, StoreError>>
        + Send
        + 'static,
    ) -> Result<T, StoreError> {
        let (pool, lease, dirty, lost) = (
            self.pg.pool.clone(),
            self.lease.clone(),
            self.dirty.clone(),
            self.lost.clone(),
        );
        // A process stopped mid-transaction (SIGSTOP, a stalled VM) would
        // hold its share lock on the lease row, and so the workspace, for
        // ever: the server ends such a transaction after the TTL. Ours send
        // their statements back to back, so only a stall idles them.
        let idle = format!("{}ms", self.ttl.as_millis().max(1000));
        // "Soon": atomic and visible now, on disk within the WAL writer's
        // delay (or with the next durable commit).
        let synchronous = if durability == Durability::Soon {
            "off"
        } else {
            "on"
        };
        self.pg.run(async move {
            let mut tx = pool.begin().await.map_err(io)?;
            sqlx::query(
                "SELECT set_config('idle_in_transaction_session_timeout', $1, true),
                        set_config('synchronous_commit', $2, true)",
            )
            .bind(&idle)
            .bind(synchronous)
            .execute(&mut *tx)
            .await
            .map_err(io)?;
            let epoch: Option<i64> =
                sqlx::query_scalar("SELECT epoch FROM ferry_leases WHERE workspace = $1 FOR SHARE")
                    .bind(&lease.workspace)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(io)?;
            if epoch != Some(lease.epoch) {
                lost.send_replace(true);
                return Err(StoreError::Fenced {
                    workspace: lease.workspace.clone(),
                    epoch: lease.epoch,
                });
            }
            let out = f(&mut tx, lease.workspace.clone()).await?;
            tx.commit().await.map_err(io)?;
            dirty.store(durability == Durability::Soon, Ordering::SeqCst);
            Ok(out)
        })
    }
}

impl Backend for PgBackend {
    fn lease_lost(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        Some(self.lost.subscribe())
    }

    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let (pool, ws, key) = (
            self.pg.pool.clone(),
            self.lease.workspace.clone(),
            key.to_vec(),
        );
        self.pg.run(async move {
            sqlx::query_scalar(
                "SELECT value FROM ferry_kv WHERE workspace = $1 AND space = $2 AND key = $3",
            )
            .bind(&ws)
            .bind(space_id(space))
            .bind(&key)
            .fetch_optional(&pool)
            .await
            .map_err(io)
        })
    }

    fn scan(
        &self,
        space: Space,
        prefix: &[u8],
        reverse: bool,
        visit: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        // Chunks by key (keyset paging), so a long ledger is never read
        // whole and a visit that stops early costs one chunk.
        let sql = if reverse {
            "SELECT key, value FROM ferry_kv
             WHERE workspace = $1 AND space = $2 AND key >= $3
               AND ($4::bytea IS NULL OR key < $4) AND ($5::bytea IS NULL OR key < $5)
             ORDER BY key DESC LIMIT $6"
        } else {
            "SELECT key, value FROM ferry_kv
             WHERE workspace = $1 AND space = $2 AND key >= $3
               AND ($4::bytea IS NULL OR key < $4) AND ($5::bytea IS NULL OR key > $5)
             ORDER BY key LIMIT $6"
        };
        let end = prefix_end(prefix);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let (pool, ws, prefix, end, from) = (
                self.pg.pool.clone(),
                self.lease.workspace.clone(),
                prefix.to_vec(),
                end.clone(),
                after.clone(),
            );
            let rows: Vec<(Vec<u8>, Vec<u8>)> = self.pg.run(async move {
                sqlx::query_as(sql)
                    .bind(&ws)
                    .bind(space_id(space))
                    .bind(&prefix)
                    .bind(&end)
                    .bind(&from)
                    .bind(SCAN_CHUNK)
                    .fetch_all(&pool)
                    .await
                    .map_err(io)
            })?;
            let full = rows.len() as i64 == SCAN_CHUNK;
            for (k, v) in &rows {
                if !visit(k, v)? {
                    return Ok(());
                }
            }
            match rows.into_iter().last() {
                Some((k, _)) if full => after = Some(k),
                _ => return Ok(()),
            }
        }
    }

    fn apply(
        &self,
        space: Space,
        writes: Vec<Write>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        // The last write of a key decides, as in the embedded engines.
        let mut last: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        for write in writes {
            match write {
                Write::Put(k, v) => last.insert(k, Some(v)),
                Write::Remove(k) => last.insert(k, None),
            };
        }
        let (mut put_keys, mut put_values, mut removed) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in last {
            match v {
                Some(v) => {
                    put_keys.push(k);
                    put_values.push(v);
                }
                None => removed.push(k),
            }
        }
        self.write(durability, move |tx, ws| {
            Box::pin(async move {
                if !removed.is_empty() {
                    sqlx::query(
                        "DELETE FROM ferry_kv WHERE workspace = $1 AND space = $2 AND key = ANY($3)",
                    )
                    .bind(&ws)
                    .bind(space_id(space))
                    .bind(&removed)
                    .execute(&mut **tx)
                    .await
                    .map_err(io)?;
                }
                if !put_keys.is_empty() {
                    sqlx::query(
                        "INSERT INTO ferry_kv (workspace, space, key, value)
                         SELECT $1, $2, k, v FROM UNNEST($3::bytea[], $4::bytea[]) AS w(k, v)
                         ON CONFLICT (workspace, space, key) DO UPDATE SET value = EXCLUDED.value",
                    )
                    .bind(&ws)
                    .bind(space_id(space))
                    .bind(&put_keys)
                    .bind(&put_values)
                    .execute(&mut **tx)
                    .await
                    .map_err(io)?;
                }
                Ok(())
            })
        })
    }

    fn increment(&self, space: Space, key: &[u8]) -> Result<u64, StoreError> {
        let key = key.to_vec();
        let value: Vec<u8> = self.write(Durability::Now, move |tx, ws| {
            Box::pin(async move {
                sqlx::query_scalar(
                    "INSERT INTO ferry_kv AS kv (workspace, space, key, value)
                     VALUES ($1, $2, $3, int8send(1))
                     ON CONFLICT (workspace, space, key) DO UPDATE
                       SET value = int8send(('x' || encode(kv.value, 'hex'))::bit(64)::bigint + 1)
                     RETURNING value",
                )
                .bind(&ws)
                .bind(space_id(space))
                .bind(&key)
                .fetch_one(&mut **tx)
                .await
                .map_err(io)
            })
        })?;
        Ok(super::kv::counter_value(Some(&value)))
    }

    fn next_id(&self) -> Result<u64, StoreError> {
        let mut ids = self.ids.lock().expect("id lock");
        if ids.0 >= ids.1 {
            let pool = self.pg.pool.clone();
            let block: i64 = self.pg.run(async move {
                sqlx::query_scalar("SELECT nextval('ferry_ids')")
                    .fetch_one(&pool)
                    .await
                    .map_err(io)
            })?;
            let start = block as u64 * ID_BLOCK;
            *ids = (start, start + ID_BLOCK);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    fn flush(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let pool = self.pg.pool.clone();
        // A synchronous commit with a transaction id waits until the WAL
        // is on disk up to it, so every earlier commit is durable too.
        self.pg.run(async move {
            let mut tx = pool.begin().await.map_err(io)?;
            sqlx::query("SELECT txid_current()")
                .execute(&mut *tx)
                .await
                .map_err(io)?;
            tx.commit().await.map_err(io)
        })
    }
}
