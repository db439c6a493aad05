//! What a cluster shares beyond leases: run requests from webhooks that
//! any worker may receive ([`Requests`]), and the cluster's own keys and
//! values, such as its API tokens ([`ClusterMeta`]).

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;

use super::{Pg, io};
use crate::store::StoreError;

/// A pending run request: a vendor said something changed in `entity` of
/// `connection`. `at` is the database's time of the latest notification,
/// kept as text so it round-trips exactly ([`Requests::settle`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub connection: String,
    pub entity: String,
    pub at: String,
}

/// Run requests by workspace, in `ferry_requests`. Notifications of one
/// entity coalesce into one row, so however many arrive, at however many
/// workers, the workspace's next turn runs what they name once.
#[derive(Clone)]
pub struct Requests {
    pg: Arc<Pg>,
}

impl Requests {
    pub fn new(pg: Arc<Pg>) -> Requests {
        Requests { pg }
    }

    /// Record a notification and make the workspace due within `debounce`
    /// (a burst settles before its run), unless it is due sooner.
    pub fn add(
        &self,
        workspace: &str,
        connection: &str,
        entity: &str,
        debounce: Duration,
    ) -> Result<(), StoreError> {
        let pool = self.pg.pool.clone();
        let (ws, conn, entity) = (
            workspace.to_string(),
            connection.to_string(),
            entity.to_string(),
        );
        self.pg.run(async move {
            let mut tx = pool.begin().await.map_err(io)?;
            sqlx::query(
                "INSERT INTO ferry_requests (workspace, connection, entity) VALUES ($1, $2, $3)
                 ON CONFLICT (workspace, connection, entity) DO UPDATE SET at = now()",
            )
            .bind(&ws)
            .bind(&conn)
            .bind(&entity)
            .execute(&mut *tx)
            .await
            .map_err(io)?;
            sqlx::query(
                "UPDATE ferry_leases SET due_at = LEAST(due_at, now() + make_interval(secs => $2))
                 WHERE workspace = $1",
            )
            .bind(&ws)
            .bind(debounce.as_secs_f64())
            .execute(&mut *tx)
            .await
            .map_err(io)?;
            tx.commit().await.map_err(io)
        })
    }

    /// The requests waiting for `workspace`'s next turn.
    pub fn pending(&self, workspace: &str) -> Result<Vec<Request>, StoreError> {
        let (pool, ws) = (self.pg.pool.clone(), workspace.to_string());
        self.pg.run(async move {
            let rows = sqlx::query(
                "SELECT connection, entity, at::text FROM ferry_requests
                 WHERE workspace = $1 ORDER BY at",
            )
            .bind(&ws)
            .fetch_all(&pool)
            .await
            .map_err(io)?;
            Ok(rows
                .into_iter()
                .map(|r| Request {
                    connection: r.get(0),
                    entity: r.get(1),
                    at: r.get(2),
                })
                .collect())
        })
    }

    /// Forget the requests a turn ran, unless a newer notification of the
    /// same entity arrived since they were read (that one waits for the
    /// next turn).
    pub fn settle(&self, workspace: &str, ran: &[Request]) -> Result<(), StoreError> {
        let (pool, ws, ran) = (self.pg.pool.clone(), workspace.to_string(), ran.to_vec());
        self.pg.run(async move {
            for r in ran {
                sqlx::query(
                    "DELETE FROM ferry_requests
                     WHERE workspace = $1 AND connection = $2 AND entity = $3
                       AND at <= $4::timestamptz",
                )
                .bind(&ws)
                .bind(&r.connection)
                .bind(&r.entity)
                .bind(&r.at)
                .execute(&pool)
                .await
                .map_err(io)?;
            }
            Ok(())
        })
    }
}

/// The cluster's own keys and values (JSON), in `ferry_cluster_meta`.
#[derive(Clone)]
pub struct ClusterMeta {
    pg: Arc<Pg>,
}

impl ClusterMeta {
    pub fn new(pg: Arc<Pg>) -> ClusterMeta {
        ClusterMeta { pg }
    }

    pub fn get(&self, key: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let (pool, key) = (self.pg.pool.clone(), key.to_string());
        self.pg.run(async move {
            let row = sqlx::query("SELECT value::text FROM ferry_cluster_meta WHERE key = $1")
                .bind(&key)
                .fetch_optional(&pool)
                .await
                .map_err(io)?;
            row.map(|r| json(&r.get::<String, _>(0))).transpose()
        })
    }

    /// Every value whose key starts with `prefix`, by key.
    pub fn scan(&self, prefix: &str) -> Result<Vec<(String, serde_json::Value)>, StoreError> {
        let (pool, prefix) = (self.pg.pool.clone(), prefix.to_string());
        self.pg.run(async move {
            let rows = sqlx::query(
                "SELECT key, value::text FROM ferry_cluster_meta
                 WHERE starts_with(key, $1) ORDER BY key",
            )
            .bind(&prefix)
            .fetch_all(&pool)
            .await
            .map_err(io)?;
            rows.into_iter()
                .map(|r| Ok((r.get(0), json(&r.get::<String, _>(1))?)))
                .collect()
        })
    }

    /// Store `value` under `key` unless the key is taken; `false` if it was.
    pub fn insert(&self, key: &str, value: &serde_json::Value) -> Result<bool, StoreError> {
        let (pool, key, value) = (self.pg.pool.clone(), key.to_string(), value.to_string());
        self.pg.run(async move {
            let done = sqlx::query(
                "INSERT INTO ferry_cluster_meta (key, value) VALUES ($1, $2::jsonb)
                 ON CONFLICT (key) DO NOTHING",
            )
            .bind(&key)
            .bind(&value)
            .execute(&pool)
            .await
            .map_err(io)?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// Store `value` under `key`, replacing what was there.
    pub fn put(&self, key: &str, value: &serde_json::Value) -> Result<(), StoreError> {
        let (pool, key, value) = (self.pg.pool.clone(), key.to_string(), value.to_string());
        self.pg.run(async move {
            sqlx::query(
                "INSERT INTO ferry_cluster_meta (key, value) VALUES ($1, $2::jsonb)
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(&key)
            .bind(&value)
            .execute(&pool)
            .await
            .map_err(io)?;
            Ok(())
        })
    }

    /// Forget `key`; `false` when there was nothing under it.
    pub fn remove(&self, key: &str) -> Result<bool, StoreError> {
        let (pool, key) = (self.pg.pool.clone(), key.to_string());
        self.pg.run(async move {
            let done = sqlx::query("DELETE FROM ferry_cluster_meta WHERE key = $1")
                .bind(&key)
                .execute(&pool)
                .await
                .map_err(io)?;
            Ok(done.rows_affected() == 1)
        })
    }
}

fn json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Io(format!("postgres: cluster meta: {e}")))
}
