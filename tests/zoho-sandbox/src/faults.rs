//! Deterministic fault injection: 5xx and 429 answers, added latency,
//! dropped connections and truncated bodies, drawn from a seeded generator.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// Fault rates (each 0.0 – 1.0) and the seed they are drawn from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultConfig {
    pub seed: u64,
    /// Share of requests answered with a 5xx error.
    pub error_rate: f64,
    /// Share of requests answered with the product's 429 body.
    pub rate_limit_rate: f64,
    /// Latency added to every request, in milliseconds.
    pub latency_ms: u64,
    /// Share of requests whose connection is dropped without an answer.
    pub drop_rate: f64,
    /// Share of requests whose body is cut off half-way.
    pub truncate_rate: f64,
    /// Faults for the next requests, one each, in order, before any drawn
    /// at random: `["rate_limited"]` makes exactly the next request a 429.
    pub next: Vec<Fault>,
    /// Fault only requests whose `METHOD /path` starts with this
    /// (`"POST /billing/v1/invoices"`); every request when empty.
    pub only: String,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            error_rate: 0.0,
            rate_limit_rate: 0.0,
            latency_ms: 0,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            next: Vec::new(),
            only: String::new(),
        }
    }
}

impl FaultConfig {
    pub fn is_active(&self) -> bool {
        self.error_rate > 0.0
            || self.rate_limit_rate > 0.0
            || self.latency_ms > 0
            || self.drop_rate > 0.0
            || self.truncate_rate > 0.0
            || !self.next.is_empty()
    }
}

/// What to do to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    None,
    ServerError,
    RateLimited,
    Drop,
    Truncate,
    /// Carry the request out, then never answer (for ten minutes): the
    /// client cannot tell whether its write happened.
    Hang,
}

/// Fault state: configuration plus the seeded generator.
#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<(FaultConfig, u64)>,
}

/// SplitMix64 step.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Faults {
    /// Replace the configuration and restart the generator from its seed.
    pub fn set(&self, cfg: FaultConfig) {
        let seed = cfg.seed;
        *self.inner.lock().unwrap() = (cfg, seed);
    }

    pub fn config(&self) -> FaultConfig {
        self.inner.lock().unwrap().0.clone()
    }

    /// Draw the fault for the next request (`METHOD /path`), and the
    /// latency to add.
    pub fn draw(&self, request: &str) -> (Fault, u64) {
        let mut g = self.inner.lock().unwrap();
        if !g.0.is_active() || !request.starts_with(g.0.only.as_str()) {
            return (Fault::None, 0);
        }
        if !g.0.next.is_empty() {
            let fault = g.0.next.remove(0);
            return (fault, g.0.latency_ms);
        }
        let cfg = g.0.clone();
        let r = (splitmix(&mut g.1) >> 11) as f64 / (1u64 << 53) as f64;
        let mut edge = cfg.drop_rate;
        let fault = if r < edge {
            Fault::Drop
        } else if r < {
            edge += cfg.error_rate;
            edge
        } {
            Fault::ServerError
        } else if r < {
            edge += cfg.rate_limit_rate;
            edge
        } {
            Fault::RateLimited
        } else if r < edge + cfg.truncate_rate {
            Fault::Truncate
        } else {
            Fault::None
        };
        (fault, cfg.latency_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_proportional() {
        let f = Faults::default();
        let cfg = FaultConfig {
            seed: 42,
            error_rate: 0.25,
            ..Default::default()
        };
        f.set(cfg.clone());
        let a: Vec<_> = (0..1000).map(|_| f.draw("GET /").0).collect();
        f.set(cfg);
        let b: Vec<_> = (0..1000).map(|_| f.draw("GET /").0).collect();
        assert_eq!(a, b);
        let n = a.iter().filter(|x| **x == Fault::ServerError).count();
        assert!((180..320).contains(&n), "{n}");
    }

    #[test]
    fn scripted_faults_come_first_then_none() {
        let f = Faults::default();
        f.set(serde_json::from_str(r#"{"next": ["rate_limited", "server_error"]}"#).unwrap());
        assert_eq!(f.draw("GET /").0, Fault::RateLimited);
        assert_eq!(f.config().next, [Fault::ServerError]);
        assert_eq!(f.draw("GET /").0, Fault::ServerError);
        assert_eq!(f.draw("GET /").0, Fault::None);
        assert!(!f.config().is_active());
    }
}
