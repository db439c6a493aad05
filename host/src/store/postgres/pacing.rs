//! [`Pacer`] on PostgreSQL: a vendor account's next request slot, one row
//! each, reserved and moved on in one statement (the row lock orders
//! reservations from every worker), timed by the database's clock so
//! workers on machines whose clocks differ still agree.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use sqlx::Row;

use super::Pg;
use crate::capability::Pacer;

/// Slots reserved in `ferry_pacing`.
pub struct PgPacer {
    pg: Arc<Pg>,
}

impl std::fmt::Debug for PgPacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgPacer")
            .field("db", &self.pg.place())
            .finish()
    }
}

impl PgPacer {
    pub fn new(pg: Arc<Pg>) -> PgPacer {
        PgPacer { pg }
    }

    /// Every vendor account paced today, with its requests today (UTC)
    /// from every process, by key.
    pub fn accounts_today(&self) -> Result<Vec<(String, u64)>, crate::store::StoreError> {
        let pool = self.pg.pool.clone();
        self.pg.run(async move {
            let rows = sqlx::query(
                "SELECT key, calls FROM ferry_pacing
                 WHERE day = (now() AT TIME ZONE 'UTC')::date ORDER BY key",
            )
            .fetch_all(&pool)
            .await
            .map_err(super::io)?;
            Ok(rows
                .into_iter()
                .map(|r| (r.get(0), r.get::<i64, _>(1).max(0) as u64))
                .collect())
        })
    }
}

impl Pacer for PgPacer {
    fn reserve(&self, key: &str, interval: Duration) -> BoxFuture<'_, Result<Duration, String>> {
        let (pool, key) = (self.pg.pool.clone(), key.to_string());
        let reserved = self.pg.spawn(async move {
            // The slot is the later of now and the row's next start; the
            // row moves on one interval past it.
            let row = sqlx::query(
                "INSERT INTO ferry_pacing AS p (key, next_at, day, calls)
                 VALUES ($1, clock_timestamp() + make_interval(secs => $2),
                         (now() AT TIME ZONE 'UTC')::date, 1)
                 ON CONFLICT (key) DO UPDATE
                   SET next_at = GREATEST(p.next_at, clock_timestamp()) + make_interval(secs => $2),
                       calls = CASE WHEN p.day = (now() AT TIME ZONE 'UTC')::date
                                    THEN p.calls + 1 ELSE 1 END,
                       day = (now() AT TIME ZONE 'UTC')::date
                 RETURNING GREATEST(
                   EXTRACT(EPOCH FROM (p.next_at - make_interval(secs => $2) - clock_timestamp())),
                   0)::float8",
            )
            .bind(&key)
            .bind(interval.as_secs_f64())
            .fetch_one(&pool)
            .await
            .map_err(|e| e.to_string())?;
            Ok::<_, String>(Duration::from_secs_f64(row.get::<f64, _>(0)))
        });
        Box::pin(async move { reserved.await.map_err(|e| e.to_string())? })
    }

    fn calls_today(&self, key: &str) -> Result<u64, String> {
        let (pool, key) = (self.pg.pool.clone(), key.to_string());
        self.pg
            .run(async move {
                let row = sqlx::query(
                    "SELECT calls FROM ferry_pacing
                     WHERE key = $1 AND day = (now() AT TIME ZONE 'UTC')::date",
                )
                .bind(&key)
                .fetch_optional(&pool)
                .await
                .map_err(super::io)?;
                Ok(row.map_or(0, |r| r.get::<i64, _>(0).max(0) as u64))
            })
            .map_err(|e| e.to_string())
    }
}
