//! When runs happen: the schedules a workspace names (intervals, cron,
//! `hourly`, `daily at`), the clock they are read on, and backoff after
//! failures. `ferry serve` asks this module what is due; it keeps no state
//! of its own: the last run of each sync is in the state store, so a
//! restart neither forgets a schedule nor makes up every run it missed.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::config::Schedule;

/// Where "now" comes from: the system clock, or one a test moves.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Resolves once `at` is reached, or sooner if the clock is moved (the
    /// caller looks at `now` again).
    fn wait_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()>;
}

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn wait_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
        Box::pin(tokio::time::sleep(wait))
    }
}

/// A clock that stands still until it is moved (`ferry serve
/// --manual-clock`, for tests that drive schedules without sleeping).
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    moved: tokio::sync::Notify,
}

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
            moved: tokio::sync::Notify::new(),
        }
    }

    /// Move the clock forward and wake everyone waiting on it.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.now.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::zero());
        self.moved.notify_waiters();
        *now
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.now.lock().unwrap()
    }

    fn wait_until(&self, at: DateTime<Utc>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let moved = self.moved.notified();
            if self.now() >= at {
                return;
            }
            moved.await;
        })
    }
}

/// When a job on `schedule` is next due, given when its last run started.
/// A run missed while Ferry was down is due at once — one run, not one per
/// missed slot. `Webhook` jobs are polled every `poll_every` as a safety
/// net; `Manual` ones are never due.
pub fn next_due(
    schedule: &Schedule,
    last_start: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    poll_every: Duration,
) -> Option<DateTime<Utc>> {
    let after = |d: Duration| {
        Some(match last_start {
            Some(last) => last + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX),
            None => now,
        })
    };
    match schedule {
        Schedule::Manual => None,
        Schedule::Every(d) => after(*d),
        Schedule::Webhook => after(poll_every),
        Schedule::Cron(expr) => {
            let cron = croner::Cron::new(expr).parse().ok()?;
            // Never run: the next slot from now, as a person expects of
            // "daily at 00:00".
            let from = last_start.unwrap_or(now);
            cron.find_next_occurrence(&from, false).ok()
        }
    }
}

/// Whether something done on `schedule`, last at `last`, is due again at
/// `now`: never done is due; a slot missed while Ferry was down, once.
pub fn is_due(schedule: &Schedule, last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    match last {
        None => !matches!(schedule, Schedule::Manual),
        Some(_) => next_due(schedule, last, now, Duration::ZERO).is_some_and(|at| at <= now),
    }
}

/// How long to wait after `failures` failed runs in a row before trying
/// again: one minute, doubling, at most an hour.
pub fn backoff(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs(60 * (1u64 << (failures - 1).min(6))).min(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn intervals_count_from_the_last_start_and_a_missed_one_runs_once() {
        let every = Schedule::Every(Duration::from_secs(7200));
        let now = at("2026-01-01T10:00:00Z");
        assert_eq!(next_due(&every, None, now, Duration::ZERO), Some(now));
        assert_eq!(
            next_due(
                &every,
                Some(at("2026-01-01T09:00:00Z")),
                now,
                Duration::ZERO
            ),
            Some(at("2026-01-01T11:00:00Z"))
        );
        // Down for a day: due now (in the past), once.
        let due = next_due(
            &every,
            Some(at("2025-12-31T09:00:00Z")),
            now,
            Duration::ZERO,
        )
        .unwrap();
        assert!(due <= now);
    }

    #[test]
    fn cron_and_daily_schedules_find_their_next_slot() {
        let midnight = Schedule::Cron("0 0 * * *".into());
        let now = at("2026-01-01T10:00:00Z");
        assert_eq!(
            next_due(&midnight, None, now, Duration::ZERO),
            Some(at("2026-01-02T00:00:00Z"))
        );
        assert_eq!(
            next_due(
                &midnight,
                Some(at("2025-12-30T00:00:01Z")),
                now,
                Duration::ZERO
            ),
            Some(at("2025-12-31T00:00:00Z")),
            "a missed midnight is due at once"
        );
        let webhook = Schedule::Webhook;
        assert_eq!(
            next_due(&webhook, Some(now), now, Duration::from_secs(3600)),
            Some(at("2026-01-01T11:00:00Z"))
        );
        assert_eq!(next_due(&Schedule::Manual, None, now, Duration::ZERO), None);
    }

    #[test]
    fn is_due_counts_from_the_last_time() {
        let hourly = Schedule::Cron("0 * * * *".into());
        let six_hours = Schedule::Every(Duration::from_secs(6 * 3600));
        let now = at("2026-01-01T10:30:00Z");
        // (schedule, last, due?)
        let table = [
            (&hourly, None, true),
            (&hourly, Some("2026-01-01T10:05:00Z"), false),
            (&hourly, Some("2026-01-01T09:59:00Z"), true),
            (&hourly, Some("2025-12-31T10:00:00Z"), true),
            (&six_hours, Some("2026-01-01T05:00:00Z"), false),
            (&six_hours, Some("2026-01-01T04:30:00Z"), true),
            (&six_hours, None, true),
            (&Schedule::Manual, None, false),
            (&Schedule::Manual, Some("2025-01-01T00:00:00Z"), false),
        ];
        for (schedule, last, due) in table {
            assert_eq!(
                is_due(schedule, last.map(at), now),
                due,
                "{schedule:?} last {last:?}"
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(3), Duration::from_secs(240));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }

    #[tokio::test]
    async fn a_manual_clock_wakes_waiters_when_moved() {
        let clock = std::sync::Arc::new(ManualClock::new(at("2026-01-01T00:00:00Z")));
        let c = clock.clone();
        let waiter = tokio::spawn(async move {
            c.wait_until(at("2026-01-01T01:00:00Z")).await;
            c.now()
        });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3600));
        assert_eq!(waiter.await.unwrap(), at("2026-01-01T01:00:00Z"));
    }
}
