//! Request pacing for one connection: a requests-per-minute quota (Zoho
//! Books allows 100 per organisation) and a cap on requests in flight.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Paces requests; cheap to share.
pub struct RateLimiter {
    quota: Option<DefaultDirectRateLimiter>,
    per_second: Option<DefaultDirectRateLimiter>,
    in_flight: Arc<Semaphore>,
}

impl RateLimiter {
    /// `per_minute`: requests per minute (none: unlimited); `concurrency`:
    /// requests in flight at once (at least one).
    /// `per_second`: also at most this many in any second (Alternative
    /// Payments allows 5), with no burst beyond it.
    pub fn new(per_minute: Option<u32>, per_second: Option<u32>, concurrency: u32) -> RateLimiter {
        let quota = per_minute
            .and_then(NonZeroU32::new)
            // A burst of the whole minute's quota would let a restart
            // overshoot the vendor's window; allow a tenth at once.
            .map(|n| {
                let burst = NonZeroU32::new((n.get() / 10).max(1)).unwrap_or(NonZeroU32::MIN);
                DefaultDirectRateLimiter::direct(Quota::per_minute(n).allow_burst(burst))
            });
        // Spaced evenly through the second: a burst of `n` at a second's
        // edge would put up to 2n in one window the vendor counts. A tenth
        // more space than 1/n absorbs the jitter between our clock and the
        // vendor's, which otherwise lets n + 1 land in one of its windows.
        let per_second = per_second.filter(|n| *n > 0).and_then(|n| {
            let period = std::time::Duration::from_secs(1) * 11 / (n * 10);
            Quota::with_period(period).map(DefaultDirectRateLimiter::direct)
        });
        RateLimiter {
            quota,
            per_second,
            in_flight: Arc::new(Semaphore::new(concurrency.max(1) as usize)),
        }
    }

    /// Wait for a slot; the request may go while the permit lives.
    pub async fn acquire(&self) -> OwnedSemaphorePermit {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        if let Some(quota) = &self.quota {
            quota.until_ready().await;
        }
        if let Some(quota) = &self.per_second {
            quota.until_ready().await;
        }
        permit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_per_second_cap_spaces_requests() {
        let limiter = RateLimiter::new(None, Some(20), 8);
        let start = std::time::Instant::now();
        for _ in 0..11 {
            drop(limiter.acquire().await);
        }
        // Ten gaps of 50 ms after the first.
        let took = start.elapsed();
        assert!(took >= std::time::Duration::from_millis(450), "{took:?}");
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let limiter = RateLimiter::new(None, None, 2);
        let a = limiter.acquire().await;
        let _b = limiter.acquire().await;
        assert_eq!(limiter.in_flight.available_permits(), 0);
        drop(a);
        let _c = limiter.acquire().await;
        assert_eq!(limiter.in_flight.available_permits(), 0);
    }

    #[tokio::test]
    async fn quota_allows_its_burst_at_once() {
        let limiter = RateLimiter::new(Some(100), None, 4);
        let quota = limiter.quota.as_ref().unwrap();
        for _ in 0..10 {
            assert!(quota.check().is_ok());
        }
        assert!(
            quota.check().is_err(),
            "the 11th request of a 100/min quota must wait"
        );
    }
}
