//! Leases on workspaces: claim (one holder; each claim a new epoch),
//! claim the next due one (`SKIP LOCKED`), renew, release.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::PgPool;

use super::{Pg, io};
use crate::store::StoreError;

/// A claim on a workspace: who holds it, and the epoch its writes carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub workspace: String,
    pub holder: String,
    pub epoch: i64,
}

/// A workspace as the cluster sees it ([`Leases::list`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeaseRow {
    pub workspace: String,
    /// The process holding it now (`pid-random`), if any.
    pub holder: Option<String>,
    /// Claims so far: the fencing token of the current or last holder.
    pub epoch: i64,
    /// Seconds until the holder's lease expires unrenewed.
    pub expires_in: f64,
    /// Seconds since the holder last renewed its lease (its heartbeat),
    /// while it holds one.
    pub heartbeat_age: Option<f64>,
    /// Seconds until it is next due (negative: overdue).
    pub due_in: f64,
    /// Webhook requests waiting for its next turn.
    pub requests: i64,
}

/// Claim, renew and release workspaces' leases.
#[derive(Clone)]
pub struct Leases {
    pg: Arc<Pg>,
}

/// A holder name unique to this process and call: `pid-random`.
pub fn holder_name() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}

fn secs(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

impl Leases {
    pub fn new(pg: Arc<Pg>) -> Leases {
        Leases { pg }
    }

    /// Claim `workspace` for `holder` if nobody holds it (or the holder's
    /// lease expired); the new lease's epoch is one more than any before.
    pub fn claim(
        &self,
        workspace: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let (pool, ws, holder) = (
            self.pg.pool.clone(),
            workspace.to_string(),
            holder.to_string(),
        );
        self.pg.run(async move {
            // Concurrent claims queue on the row lock; each sees the
            // winner's expiry and gets nothing.
            let row = sqlx::query(
                "INSERT INTO ferry_leases AS l (workspace, holder, epoch, expires_at)
                 VALUES ($1, $2, 1, now() + make_interval(secs => $3))
                 ON CONFLICT (workspace) DO UPDATE
                   SET holder = EXCLUDED.holder, epoch = l.epoch + 1,
                       expires_at = EXCLUDED.expires_at, renewed_at = now()
                   WHERE l.holder IS NULL OR l.expires_at < now()
                 RETURNING epoch",
            )
            .bind(&ws)
            .bind(&holder)
            .bind(secs(ttl))
            .fetch_optional(&pool)
            .await
            .map_err(io)?;
            Ok(row.map(|r| Lease {
                workspace: ws,
                holder,
                epoch: r.get(0),
            }))
        })
    }

    /// Claim the workspace whose run is due first among those nobody holds,
    /// skipping rows another claimer is taking (`SKIP LOCKED`), so workers
    /// polling together each get a different one.
    pub fn claim_due(&self, holder: &str, ttl: Duration) -> Result<Option<Lease>, StoreError> {
        let (pool, holder) = (self.pg.pool.clone(), holder.to_string());
        self.pg.run(async move {
            let row = sqlx::query(
                "UPDATE ferry_leases SET holder = $1, epoch = epoch + 1,
                        expires_at = now() + make_interval(secs => $2), renewed_at = now()
                 WHERE workspace = (
                   SELECT workspace FROM ferry_leases
                   WHERE (holder IS NULL OR expires_at < now()) AND due_at <= now()
                   ORDER BY due_at LIMIT 1
                   FOR UPDATE SKIP LOCKED)
                 RETURNING workspace, epoch",
            )
            .bind(&holder)
            .bind(secs(ttl))
            .fetch_optional(&pool)
            .await
            .map_err(io)?;
            Ok(row.map(|r| Lease {
                workspace: r.get(0),
                holder,
                epoch: r.get(1),
            }))
        })
    }

    /// Make `workspace` known to the cluster, due at once, unless it is
    /// known already (its row, its holder and when it is due stay).
    pub fn register(&self, workspace: &str) -> Result<(), StoreError> {
        let (pool, ws) = (self.pg.pool.clone(), workspace.to_string());
        self.pg.run(async move {
            sqlx::query(
                "INSERT INTO ferry_leases (workspace, due_at) VALUES ($1, now())
                 ON CONFLICT (workspace) DO NOTHING",
            )
            .bind(&ws)
            .execute(&pool)
            .await
            .map_err(io)?;
            Ok(())
        })
    }

    /// Every workspace the cluster knows, by name: who holds it (while the
    /// lease is live), its epoch, and when it is next due.
    pub fn list(&self) -> Result<Vec<LeaseRow>, StoreError> {
        let pool = self.pg.pool.clone();
        self.pg.run(async move {
            let rows = sqlx::query(
                "SELECT workspace,
                        CASE WHEN expires_at > now() THEN holder END,
                        epoch,
                        GREATEST(EXTRACT(EPOCH FROM expires_at - now()), 0)::float8,
                        CASE WHEN expires_at > now()
                             THEN EXTRACT(EPOCH FROM now() - renewed_at)::float8 END,
                        EXTRACT(EPOCH FROM due_at - now())::float8,
                        (SELECT count(*) FROM ferry_requests r WHERE r.workspace = l.workspace)
                 FROM ferry_leases l ORDER BY workspace",
            )
            .fetch_all(&pool)
            .await
            .map_err(io)?;
            Ok(rows
                .into_iter()
                .map(|r| LeaseRow {
                    workspace: r.get(0),
                    holder: r.get(1),
                    epoch: r.get(2),
                    expires_in: r.get(3),
                    heartbeat_age: r.get(4),
                    due_in: r.get(5),
                    requests: r.get(6),
                })
                .collect())
        })
    }

    /// Say when `workspace` next has a run due (creating its row, unheld):
    /// after `after`, or at once while a webhook's request waits for it.
    pub fn set_due(&self, workspace: &str, after: Duration) -> Result<(), StoreError> {
        let (pool, ws) = (self.pg.pool.clone(), workspace.to_string());
        self.pg.run(async move {
            sqlx::query(
                "INSERT INTO ferry_leases (workspace, due_at)
                 VALUES ($1, CASE WHEN EXISTS (SELECT 1 FROM ferry_requests WHERE workspace = $1)
                                  THEN now() ELSE now() + make_interval(secs => $2) END)
                 ON CONFLICT (workspace) DO UPDATE SET due_at = EXCLUDED.due_at",
            )
            .bind(&ws)
            .bind(secs(after))
            .execute(&pool)
            .await
            .map_err(io)?;
            Ok(())
        })
    }

    /// Extend `lease` by `ttl` from now; `false` when it is no longer held
    /// (another claimed the workspace since).
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
        let (pool, lease) = (self.pg.pool.clone(), lease.clone());
        self.pg.run(renew(pool, lease, ttl))
    }

    /// Let go of `lease` at once (if still held).
    pub fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        let (pool, lease) = (self.pg.pool.clone(), lease.clone());
        self.pg.run(async move {
            sqlx::query(
                "UPDATE ferry_leases SET holder = NULL, expires_at = now()
                 WHERE workspace = $1 AND holder = $2 AND epoch = $3",
            )
            .bind(&lease.workspace)
            .bind(&lease.holder)
            .bind(lease.epoch)
            .execute(&pool)
            .await
            .map_err(io)?;
            Ok(())
        })
    }
}

pub(super) async fn renew(pool: PgPool, lease: Lease, ttl: Duration) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE ferry_leases SET expires_at = now() + make_interval(secs => $4), renewed_at = now()
         WHERE workspace = $1 AND holder = $2 AND epoch = $3",
    )
    .bind(&lease.workspace)
    .bind(&lease.holder)
    .bind(lease.epoch)
    .bind(secs(ttl))
    .execute(&pool)
    .await
    .map_err(io)?;
    Ok(done.rows_affected() == 1)
}
