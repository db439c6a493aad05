//! What each connection sent its vendor: today's requests, rate-limit
//! answers and last error per connection (vendors count API credits per
//! day, and `ferry serve` pauses a connection near its budget), and the
//! requests of one run, counted apart from runs beside it.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

tokio::task_local! {
    /// Requests sent by the run this task is executing, when counted.
    static RUN_CALLS: Arc<AtomicU64>;
}

/// Run `work`, counting every vendor request it sends (on any connection).
/// Runs execute in their own task and connectors call out from it, so
/// runs side by side on one connection each count only their own.
pub async fn counting_calls<F: Future>(work: F) -> (F::Output, u64) {
    let counter = Arc::new(AtomicU64::new(0));
    let out = RUN_CALLS.scope(counter.clone(), work).await;
    (out, counter.load(Ordering::Relaxed))
}

/// The requests one connection sent today (UTC days).
#[derive(Debug, Default)]
pub struct ApiUsage {
    connection: std::sync::OnceLock<String>,
    /// Days since the Unix epoch of `calls`.
    day: AtomicU64,
    calls: AtomicU64,
    /// Answers of 429 today: the vendor's limit was hit.
    rate_limited: AtomicU64,
    /// The last answer that was an error (status and when), for the
    /// dashboard's connections page.
    last_error: std::sync::Mutex<Option<(u16, u64)>>,
    /// Where every process's requests to this vendor account are counted
    /// (the shared pacer's store, and the account's key), when shared.
    shared: std::sync::OnceLock<(Arc<dyn super::Pacer>, String)>,
}

/// [`ApiUsage`] as kept over a restart. Reads what older versions kept,
/// `[day, calls]`, too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSaved {
    pub day: u64,
    pub calls: u64,
    #[serde(default)]
    pub rate_limited: u64,
    #[serde(default)]
    pub last_error: Option<(u16, u64)>,
}

fn utc_day() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 86_400)
        .unwrap_or(0)
}

impl ApiUsage {
    /// Name the connection (metrics labels).
    pub fn name(&self, connection: &str) {
        let _ = self.connection.set(connection.to_string());
    }

    pub(super) fn record(&self, status: u16) {
        let _ = RUN_CALLS.try_with(|run| run.fetch_add(1, Ordering::Relaxed));
        let day = utc_day();
        if self.day.swap(day, Ordering::Relaxed) != day {
            self.calls.store(0, Ordering::Relaxed);
            self.rate_limited.store(0, Ordering::Relaxed);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        }
        if status >= 400 {
            let now = crate::store::unix_now();
            *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some((status, now));
        }
        crate::telemetry::api_call(self.connection.get().map_or("", String::as_str), status);
    }

    /// Requests sent today, and the day (since the epoch) that is.
    pub fn today(&self) -> (u64, u64) {
        let day = utc_day();
        if self.day.load(Ordering::Relaxed) == day {
            (day, self.calls.load(Ordering::Relaxed))
        } else {
            (day, 0)
        }
    }

    /// Count against a daily budget with every process sending to the
    /// same vendor account: `counter` is the shared pacer and the key it
    /// counts the account's requests under.
    pub fn share(&self, counter: (Arc<dyn super::Pacer>, String)) {
        let _ = self.shared.set(counter);
    }

    /// Requests today that a daily budget counts: this connection's, or,
    /// when shared, the vendor account's from every process (whichever is
    /// more: the store is not reached when down).
    pub fn budget_used(&self) -> u64 {
        let own = self.today().1;
        match self.shared.get() {
            Some((pacer, key)) => match pacer.calls_today(key) {
                Ok(all) => all.max(own),
                Err(e) => {
                    tracing::warn!(
                        key,
                        "cannot read the account's requests today ({e}); counting this process's only"
                    );
                    own
                }
            },
            None => own,
        }
    }

    /// Answers of 429 (rate limited) today.
    pub fn rate_limited_today(&self) -> u64 {
        if self.day.load(Ordering::Relaxed) == utc_day() {
            self.rate_limited.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// The last error status the vendor answered, and when (Unix seconds).
    pub fn last_error(&self) -> Option<(u16, u64)> {
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What to keep over a restart.
    pub fn saved(&self) -> UsageSaved {
        let (day, calls) = self.today();
        UsageSaved {
            day,
            calls,
            rate_limited: self.rate_limited_today(),
            last_error: self.last_error(),
        }
    }

    /// Carry what was kept over a restart: today's counts (an earlier
    /// day's start again at zero) and the last error, whenever it was.
    pub fn restore(&self, saved: UsageSaved) {
        if saved.day == utc_day() {
            self.day.store(saved.day, Ordering::Relaxed);
            self.calls.fetch_max(saved.calls, Ordering::Relaxed);
            self.rate_limited
                .fetch_max(saved.rate_limited, Ordering::Relaxed);
        }
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none() {
            *last = saved.last_error;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_older_versions_kept_still_reads() {
        let old: UsageSaved = serde_json::from_str("[20000, 42]").unwrap();
        assert_eq!(
            old,
            UsageSaved {
                day: 20000,
                calls: 42,
                rate_limited: 0,
                last_error: None
            }
        );
    }

    #[test]
    fn a_restart_keeps_todays_counts_and_the_last_error() {
        let before = ApiUsage::default();
        before.record(200);
        before.record(429);
        before.record(200);
        let saved = before.saved();
        let kept: UsageSaved =
            serde_json::from_slice(&serde_json::to_vec(&saved).unwrap()).unwrap();
        let after = ApiUsage::default();
        after.restore(kept);
        assert_eq!(after.today().1, 3);
        assert_eq!(after.rate_limited_today(), 1);
        assert_eq!(after.last_error().map(|e| e.0), Some(429));
        // Yesterday's counts do not carry; its last error does.
        let stale = ApiUsage::default();
        stale.restore(UsageSaved {
            day: saved.day - 1,
            ..saved
        });
        assert_eq!(stale.today().1, 0);
        assert_eq!(stale.rate_limited_today(), 0);
        assert!(stale.last_error().is_some());
    }

    #[tokio::test]
    async fn a_run_counts_its_own_calls_only() {
        let usage = Arc::new(ApiUsage::default());
        let (u1, u2) = (usage.clone(), usage.clone());
        let (a, b) = tokio::join!(
            counting_calls(async move {
                for _ in 0..3 {
                    u1.record(200);
                    tokio::task::yield_now().await;
                }
            }),
            counting_calls(async move {
                for _ in 0..5 {
                    u2.record(200);
                    tokio::task::yield_now().await;
                }
            })
        );
        assert_eq!((a.1, b.1), (3, 5));
        assert_eq!(usage.today().1, 8);
    }
}
