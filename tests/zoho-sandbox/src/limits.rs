//! Per-organisation API limits: requests per minute, a daily cap and
//! concurrent in-process requests. All off by default; switch them on with
//! [`LimitConfig`] (builder, `--rate-limit-*` flags or `/__sandbox/limits`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::Millis;
use crate::error::{ApiError, Product};

/// Which limits are enforced. `None` means "no limit".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitConfig {
    /// Requests per minute per organisation (Books: 100).
    pub per_minute: Option<u32>,
    /// Requests per day per organisation (Books Free: 1000).
    pub per_day: Option<u32>,
    /// Concurrent in-process requests per organisation (Books Free: 5).
    pub concurrency: Option<u32>,
    /// The length of `per_minute`'s window in milliseconds: a minute
    /// unless a test shortens it, to see a minute's limit at work within
    /// seconds.
    pub window_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct OrgUse {
    minute: i64,
    minute_count: u32,
    day: i64,
    day_count: u32,
    in_flight: u32,
    requests: u64,
    throttled: u64,
    peak_per_window: u32,
    peak_in_flight: u32,
}

/// What one organisation of one product was sent, since the last reset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgUsage {
    pub product: Product,
    pub organization: String,
    /// Requests admitted.
    pub requests: u64,
    /// Requests refused with a 429 by any of the limits.
    pub throttled: u64,
    /// The most requests admitted in one `per_minute` window.
    pub peak_per_window: u32,
    /// The most requests in process at once.
    pub peak_in_flight: u32,
}

/// Limit bookkeeping shared by all requests.
#[derive(Debug, Default)]
pub struct Limits {
    pub config: Mutex<LimitConfig>,
    usage: Usage,
}

type Usage = Arc<Mutex<HashMap<(Product, String), OrgUse>>>;

/// Holds one concurrency slot until dropped.
#[derive(Debug)]
pub struct Permit {
    usage: Option<(Usage, (Product, String))>,
    /// Rate-limit headers to add to the response.
    pub headers: Vec<(&'static str, String)>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some((usage, key)) = self.usage.take()
            && let Some(u) = usage.lock().unwrap().get_mut(&key)
        {
            u.in_flight = u.in_flight.saturating_sub(1);
        }
    }
}

const DAY_MS: i64 = 86_400_000;

impl Limits {
    pub fn set(&self, cfg: LimitConfig) {
        *self.config.lock().unwrap() = cfg;
    }

    /// Account one request for `org` of `product`, or refuse it with the
    /// product's own 429 body.
    pub fn admit(&self, product: Product, org: &str, now: Millis) -> Result<Permit, ApiError> {
        let cfg = self.config.lock().unwrap().clone();
        let key = (product, org.to_string());
        let mut map = self.usage.lock().unwrap();
        let u = map.entry(key.clone()).or_default();
        let window = cfg.window_ms.filter(|w| *w > 0).unwrap_or(60_000);
        let minute = now.div_euclid(window);
        let day = now.div_euclid(DAY_MS);
        if u.minute != minute {
            u.minute = minute;
            u.minute_count = 0;
        }
        if u.day != day {
            u.day = day;
            u.day_count = 0;
        }
        let mut headers = Vec::new();
        let reset_secs = ((day + 1) * DAY_MS - now) / 1000;
        if let Some(limit) = cfg.per_day {
            let (l, r, s) = if product == Product::Crm {
                (
                    "x-ratelimit-limit",
                    "x-ratelimit-remaining",
                    "x-ratelimit-reset",
                )
            } else {
                (
                    "x-rate-limit-limit",
                    "x-rate-limit-remaining",
                    "x-rate-limit-reset",
                )
            };
            headers.push((l, limit.to_string()));
            headers.push((r, limit.saturating_sub(u.day_count + 1).to_string()));
            headers.push((s, reset_secs.to_string()));
            if u.day_count >= limit {
                u.throttled += 1;
                return Err(too_many(product, Kind::Daily(limit), &headers, reset_secs));
            }
        }
        if let Some(limit) = cfg.per_minute
            && u.minute_count >= limit
        {
            u.throttled += 1;
            let retry = ((minute + 1) * window - now + 999) / 1000;
            return Err(too_many(product, Kind::Minute, &headers, retry));
        }
        if let Some(limit) = cfg.concurrency
            && u.in_flight >= limit
        {
            u.throttled += 1;
            return Err(too_many(product, Kind::Concurrency, &headers, 1));
        }
        u.minute_count += 1;
        u.day_count += 1;
        u.in_flight += 1;
        u.requests += 1;
        u.peak_per_window = u.peak_per_window.max(u.minute_count);
        u.peak_in_flight = u.peak_in_flight.max(u.in_flight);
        drop(map);
        Ok(Permit {
            usage: Some((self.usage.clone(), key)),
            headers,
        })
    }

    /// Every organisation's use so far, by product and organisation.
    pub fn usage(&self) -> Vec<OrgUsage> {
        let mut out: Vec<OrgUsage> = self
            .usage
            .lock()
            .unwrap()
            .iter()
            .map(|((product, org), u)| OrgUsage {
                product: *product,
                organization: org.clone(),
                requests: u.requests,
                throttled: u.throttled,
                peak_per_window: u.peak_per_window,
                peak_in_flight: u.peak_in_flight,
            })
            .collect();
        out.sort_by(|a, b| (a.product, &a.organization).cmp(&(b.product, &b.organization)));
        out
    }

    /// Forget all counters.
    pub fn reset(&self) {
        self.usage.lock().unwrap().clear();
    }
}

enum Kind {
    Minute,
    Daily(u32),
    Concurrency,
}

fn too_many(
    product: Product,
    kind: Kind,
    headers: &[(&'static str, String)],
    retry_secs: i64,
) -> ApiError {
    let mut err = if product == Product::Crm {
        let msg = match kind {
            Kind::Minute => {
                "You have exceeded the maximum number of API requests allowed per minute"
            }
            Kind::Daily(_) => {
                "You have reached the maximum number of API credits allowed for the day"
            }
            Kind::Concurrency => "You have exceeded the concurrency limit of API requests",
        };
        ApiError::crm(429, "TOO_MANY_REQUESTS", msg, json!({}))
    } else {
        match kind {
            Kind::Minute => ApiError::finance(
                429,
                44,
                "For security reasons your organization has been blocked as it have exceeded the maximum number of requests per minute that can originate from an organization.",
            ),
            Kind::Daily(n) => ApiError::finance(
                429,
                45,
                format!(
                    "The API call for this organization has exceeded the maximum call rate limit of {n}."
                ),
            ),
            Kind::Concurrency => ApiError::finance(
                429,
                1070,
                "You have reached the maximum number of in process requests allowed. Kindly try again after some time.",
            ),
        }
    };
    for (k, v) in headers {
        err = err.with_header(k, v.clone());
    }
    if product == Product::Crm {
        err = err.with_header("retry-after", retry_secs.max(1).to_string());
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_minute_and_concurrency() {
        let l = Limits::default();
        l.set(LimitConfig {
            per_minute: Some(2),
            per_day: None,
            concurrency: Some(1),
            window_ms: None,
        });
        let p1 = l.admit(Product::Books, "1", 0).unwrap();
        let e = l.admit(Product::Books, "1", 0).unwrap_err();
        assert_eq!(e.body.unwrap()["code"], 1070);
        drop(p1);
        let _p2 = l.admit(Product::Books, "1", 0).unwrap();
        drop(_p2);
        let e = l.admit(Product::Books, "1", 10).unwrap_err();
        assert_eq!(e.body.unwrap()["code"], 44);
        assert!(l.admit(Product::Books, "1", 60_000).is_ok());
        assert!(l.admit(Product::Books, "2", 10).is_ok());
        let usage = l.usage();
        assert_eq!(usage.len(), 2);
        assert_eq!(
            (
                usage[0].requests,
                usage[0].throttled,
                usage[0].peak_per_window
            ),
            (3, 2, 2)
        );
        assert_eq!(usage[0].peak_in_flight, 1);
    }

    #[test]
    fn a_shortened_window_counts_a_minute_limit_per_window() {
        let l = Limits::default();
        l.set(LimitConfig {
            per_minute: Some(2),
            window_ms: Some(1000),
            ..Default::default()
        });
        assert!(l.admit(Product::Crm, "crm", 0).is_ok());
        assert!(l.admit(Product::Crm, "crm", 500).is_ok());
        let e = l.admit(Product::Crm, "crm", 999).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        assert!(l.admit(Product::Crm, "crm", 1000).is_ok());
        assert_eq!(l.usage()[0].throttled, 1);
    }
}
