//! Pacing shared by every process on one store: a cluster's workers each
//! pace their own requests ([`super::ratelimit`]), but a vendor counts an
//! organisation's requests together, so N workers on one organisation
//! would send N times its limit. With a shared pacer each request first
//! reserves the organisation's next slot in the store (one row per
//! organisation, a "theoretical arrival time" moved on by one interval per
//! request, as in GCRA), then waits for it: the organisation's requests
//! are spaced across the whole cluster.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;

/// Where slots are reserved (the PostgreSQL store).
pub trait Pacer: Send + Sync + std::fmt::Debug {
    /// Reserve the next slot for `key`, `interval` after the slot before
    /// it (or now, if that is past), and count the request in `key`'s day
    /// (UTC); how long from now until the slot.
    fn reserve(&self, key: &str, interval: Duration) -> BoxFuture<'_, Result<Duration, String>>;

    /// Requests reserved for `key` today (UTC), by every process: what a
    /// daily budget on the organisation has used. Blocks briefly.
    fn calls_today(&self, key: &str) -> Result<u64, String>;
}

/// One connection's pacing through a shared [`Pacer`].
pub struct SharedPacing {
    pacer: Arc<dyn Pacer>,
    key: String,
    interval: Duration,
    warned: AtomicBool,
}

/// Room between slots beyond the vendor's rate: absorbs the jitter between
/// when a slot is due and when the request reaches the vendor, so a
/// vendor's window never counts one more than it allows.
const MARGIN: f64 = 1.05;

impl SharedPacing {
    /// The store and key this pacing counts requests in.
    pub fn counter(&self) -> (Arc<dyn Pacer>, String) {
        (self.pacer.clone(), self.key.clone())
    }

    /// Pacing for the organisation `key` at `per_minute` (and at most
    /// `per_second`); `None` when neither limits it.
    pub fn new(
        pacer: Arc<dyn Pacer>,
        key: String,
        per_minute: Option<u32>,
        per_second: Option<u32>,
    ) -> Option<SharedPacing> {
        let minute = per_minute.filter(|n| *n > 0).map(|n| 60.0 / f64::from(n));
        let second = per_second.filter(|n| *n > 0).map(|n| 1.0 / f64::from(n));
        let seconds = match (minute, second) {
            (Some(a), Some(b)) => a.max(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        Some(SharedPacing {
            pacer,
            key,
            interval: Duration::from_secs_f64(seconds * MARGIN),
            warned: AtomicBool::new(false),
        })
    }

    /// The time between two requests of the organisation.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Wait for this request's slot. When the store cannot be reached the
    /// request goes on under this process's own pacing only (said once):
    /// the run's commits fail on the same store soon enough.
    pub async fn wait(&self) {
        match self.pacer.reserve(&self.key, self.interval).await {
            Ok(wait) if !wait.is_zero() => tokio::time::sleep(wait).await,
            Ok(_) => {}
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        key = self.key,
                        "cannot reserve a request slot in the shared store ({e}); pacing this process alone"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    /// The reservation rule in memory, as the store applies it.
    #[derive(Debug, Default)]
    struct MemoryPacer {
        next: Mutex<Option<Instant>>,
    }

    impl Pacer for MemoryPacer {
        fn reserve(&self, _: &str, interval: Duration) -> BoxFuture<'_, Result<Duration, String>> {
            let now = Instant::now();
            let mut next = self.next.lock().unwrap();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + interval);
            let wait = slot.saturating_duration_since(now);
            Box::pin(async move { Ok(wait) })
        }

        fn calls_today(&self, _: &str) -> Result<u64, String> {
            Ok(0)
        }
    }

    #[test]
    fn the_stricter_limit_sets_the_interval_with_a_margin() {
        let pacer: Arc<dyn Pacer> = Arc::new(MemoryPacer::default());
        let p = |m, s| SharedPacing::new(pacer.clone(), "k".into(), m, s).map(|p| p.interval());
        assert_eq!(p(None, None), None);
        assert_eq!(p(Some(0), None), None);
        assert_eq!(
            p(Some(100), None),
            Some(Duration::from_secs_f64(0.6 * MARGIN))
        );
        assert_eq!(
            p(Some(600), Some(5)),
            Some(Duration::from_secs_f64(0.2 * MARGIN))
        );
    }

    #[tokio::test]
    async fn pacers_sharing_a_store_space_their_requests_together() {
        let store: Arc<dyn Pacer> = Arc::new(MemoryPacer::default());
        // Three "workers", each with its own pacing over the same store.
        let workers: Vec<SharedPacing> = (0..3)
            .map(|_| SharedPacing::new(store.clone(), "org".into(), None, Some(50)).unwrap())
            .collect();
        let start = Instant::now();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut all = Vec::new();
        for w in &workers {
            let sent = sent.clone();
            all.push(async move {
                for _ in 0..4 {
                    w.wait().await;
                    sent.lock().unwrap().push(start.elapsed());
                }
            });
        }
        futures::future::join_all(all).await;
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        assert_eq!(sent.len(), 12);
        for pair in sent.windows(2) {
            // 20 ms apart (less the timer's slack), whoever sent them.
            assert!(pair[1] - pair[0] >= Duration::from_millis(18), "{sent:?}");
        }
    }
}
