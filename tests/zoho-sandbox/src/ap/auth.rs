//! AP's OAuth 2.0 client-credentials grant, bearer-token checks and the
//! per-client rate limit (5 requests a second), with counters tests read
//! back over the control API to prove a client never went over it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{error, page::b64_decode, reply};
use crate::app::{App, AppRef};
use crate::auth::fnv;
use crate::clock::Millis;
use crate::error::ApiError;

/// An API key (client id and secret) AP accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApClient {
    pub client_id: String,
    pub client_secret: String,
}

impl ApClient {
    /// The key every sandbox accepts (public: it is a test key).
    pub fn default_client() -> Self {
        ApClient {
            client_id: "ap-sandbox-client-0000000000000000".into(),
            client_secret: "ap-sandbox-secret-00000000000000000000000000000000".into(),
        }
    }
}

/// AP's default rate limit (FAQ: 5 requests per second per API key).
pub const RATE_PER_SECOND: u32 = 5;
/// AP's token lifetime (FAQ: 3600 seconds).
pub const TOKEN_LIFETIME_MS: i64 = 3_600_000;

#[derive(Debug)]
struct Token {
    client_id: String,
    expires_ms: Millis,
}

/// Request counters of one client.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientStats {
    /// Requests admitted.
    pub requests: u64,
    /// Requests refused with 429.
    pub throttled: u64,
    /// Most requests admitted within any one second.
    pub peak_per_second: u32,
}

/// Rate-limit settings and counters (`GET /__sandbox/ap/stats`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ApStats {
    /// The limit in force (`None`: off).
    pub per_second: Option<u32>,
    /// 429s sent, all clients.
    pub throttled: u64,
    /// The highest `peak_per_second` of any client.
    pub peak_per_second: u32,
    pub clients: BTreeMap<String, ClientStats>,
}

#[derive(Debug)]
struct Inner {
    clients: Vec<ApClient>,
    tokens: HashMap<String, Token>,
    counter: u64,
    lifetime_ms: i64,
    per_second: Option<u32>,
    /// Admission instants of the last second, per client (real time: the
    /// limit is about throughput, whatever the sandbox clock says).
    windows: HashMap<String, VecDeque<Instant>>,
    stats: BTreeMap<String, ClientStats>,
}

/// AP's auth and rate-limit state (not saved with the data).
#[derive(Debug)]
pub struct ApRuntime {
    inner: Mutex<Inner>,
}

impl Default for ApRuntime {
    fn default() -> Self {
        ApRuntime {
            inner: Mutex::new(Inner {
                clients: vec![ApClient::default_client()],
                tokens: HashMap::new(),
                counter: 0,
                lifetime_ms: TOKEN_LIFETIME_MS,
                per_second: Some(RATE_PER_SECOND),
                windows: HashMap::new(),
                stats: BTreeMap::new(),
            }),
        }
    }
}

impl ApRuntime {
    pub fn clients(&self) -> Vec<ApClient> {
        self.inner.lock().unwrap().clients.clone()
    }

    pub fn add_client(&self, c: ApClient) {
        self.inner.lock().unwrap().clients.push(c);
    }

    pub fn set_token_lifetime(&self, ms: i64) {
        self.inner.lock().unwrap().lifetime_ms = ms;
    }

    /// The rate limit per client and second (`None`: off).
    pub fn set_rate_limit(&self, per_second: Option<u32>) {
        self.inner.lock().unwrap().per_second = per_second;
    }

    /// Invalidate every access token.
    pub fn revoke_all(&self) {
        self.inner.lock().unwrap().tokens.clear();
    }

    pub fn stats(&self) -> ApStats {
        let i = self.inner.lock().unwrap();
        ApStats {
            per_second: i.per_second,
            throttled: i.stats.values().map(|s| s.throttled).sum(),
            peak_per_second: i
                .stats
                .values()
                .map(|s| s.peak_per_second)
                .max()
                .unwrap_or(0),
            clients: i.stats.clone(),
        }
    }

    /// Forget counters and windows (tokens stay valid).
    pub fn reset_stats(&self) {
        let mut i = self.inner.lock().unwrap();
        i.stats.clear();
        i.windows.clear();
    }

    /// `POST /oauth/token` with the form `params` and `Authorization`
    /// header `basic`.
    pub fn token(
        &self,
        basic: Option<&str>,
        params: &HashMap<String, String>,
        now: Millis,
    ) -> Result<Value, ApiError> {
        let mut i = self.inner.lock().unwrap();
        let creds = basic
            .and_then(|h| {
                let (scheme, rest) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
            })
            .and_then(b64_decode)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            });
        let Some((id, secret)) = creds else {
            return Err(error(401, "unauthorized", "invalid client credentials"));
        };
        if !i
            .clients
            .iter()
            .any(|c| c.client_id == id && c.client_secret == secret)
        {
            return Err(error(401, "unauthorized", "invalid client credentials"));
        }
        match params.get("grant_type").map(String::as_str) {
            Some("client_credentials") => {}
            Some(_) => {
                return Err(ApiError::raw(
                    400,
                    json!({"code": "unsupported_grant_type", "message": "grant_type must be client_credentials", "validation_errors": {"grant_type": "must be client_credentials"}}),
                ));
            }
            None => {
                return Err(ApiError::raw(
                    400,
                    json!({"code": "bad_request", "message": "grant_type is required", "validation_errors": {"grant_type": "is required"}}),
                ));
            }
        }
        i.counter += 1;
        let token = format!(
            "ap.{:016x}{:016x}.{:016x}",
            i.counter,
            fnv(&id) ^ now as u64,
            fnv(&format!("{}{now}", i.counter))
        );
        let expires_ms = now + i.lifetime_ms;
        if i.tokens.len() > 10_000 {
            i.tokens.retain(|_, t| t.expires_ms > now);
        }
        i.tokens.insert(
            token.clone(),
            Token {
                client_id: id,
                expires_ms,
            },
        );
        let mut body = json!({
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": (i.lifetime_ms / 1000).max(1),
        });
        if let Some(scope) = params.get("scope") {
            body["scope"] = json!(scope);
        }
        Ok(body)
    }

    /// Check the bearer token and admit the request under the rate limit;
    /// the client id it belongs to.
    pub fn admit(&self, headers: &HeaderMap, now: Millis) -> Result<String, ApiError> {
        let raw = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let token = raw
            .split_once(' ')
            .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .unwrap_or("");
        let mut i = self.inner.lock().unwrap();
        let client = match i.tokens.get(token) {
            _ if token.is_empty() => {
                return Err(error(401, "unauthorized", "missing bearer token"));
            }
            Some(t) if t.expires_ms > now => t.client_id.clone(),
            Some(_) => return Err(error(401, "unauthorized", "token expired")),
            None => return Err(error(401, "unauthorized", "invalid token")),
        };
        let limit = i.per_second;
        let at = Instant::now();
        let window = i.windows.entry(client.clone()).or_default();
        while window
            .front()
            .is_some_and(|t| at.duration_since(*t) >= Duration::from_secs(1))
        {
            window.pop_front();
        }
        if let Some(limit) = limit
            && window.len() >= limit as usize
        {
            let oldest = *window.front().expect("a full window");
            let wait = Duration::from_secs(1).saturating_sub(at.duration_since(oldest));
            let retry = wait.as_secs_f64().ceil().max(1.0) as u64;
            i.stats.entry(client).or_default().throttled += 1;
            return Err(error(429, "rate_limit_exceeded", "too many requests")
                .with_header("retry-after", retry.to_string()));
        }
        window.push_back(at);
        let in_window = window.len() as u32;
        let s = i.stats.entry(client.clone()).or_default();
        s.requests += 1;
        s.peak_per_second = s.peak_per_second.max(in_window);
        Ok(client)
    }
}

impl App {
    /// Authenticate an AP request and admit it under AP's rate limit.
    pub fn ap_guard(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        self.ap.admit(headers, self.now())
    }
}

/// `POST /ap/oauth/token`.
pub async fn token(State(app): State<AppRef>, headers: HeaderMap, body: Bytes) -> Response {
    let params: HashMap<String, String> = std::str::from_utf8(&body)
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (crate::server::url_decode(k), crate::server::url_decode(v))
        })
        .collect();
    let basic = headers.get("authorization").and_then(|v| v.to_str().ok());
    match app.ap.token(basic, &params, app.now()) {
        Ok(v) => reply(200, v),
        Err(e) => axum::response::IntoResponse::into_response(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ap::page::b64_encode;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", b64_encode(format!("{id}:{secret}").as_bytes()))
    }

    fn form(grant: &str) -> HashMap<String, String> {
        [("grant_type".to_string(), grant.to_string())].into()
    }

    #[test]
    fn client_credentials_and_rate_limit() {
        let rt = ApRuntime::default();
        let c = ApClient::default_client();
        let ok = rt
            .token(
                Some(&basic(&c.client_id, &c.client_secret)),
                &form("client_credentials"),
                0,
            )
            .unwrap();
        assert_eq!(ok["token_type"], "Bearer");
        assert_eq!(ok["expires_in"], 3600);
        let e = rt
            .token(
                Some(&basic(&c.client_id, "wrong")),
                &form("client_credentials"),
                0,
            )
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 401);
        let e = rt
            .token(
                Some(&basic(&c.client_id, &c.client_secret)),
                &form("password"),
                0,
            )
            .unwrap_err();
        assert_eq!(e.status.as_u16(), 400);

        let mut h = HeaderMap::new();
        let tok = ok["access_token"].as_str().unwrap();
        h.insert("authorization", format!("Bearer {tok}").parse().unwrap());
        for _ in 0..5 {
            rt.admit(&h, 10).unwrap();
        }
        let e = rt.admit(&h, 10).unwrap_err();
        assert_eq!(e.status.as_u16(), 429);
        let s = rt.stats();
        assert_eq!((s.throttled, s.peak_per_second), (1, 5));
        rt.set_rate_limit(None);
        assert!(rt.admit(&h, 10).is_ok());
        assert_eq!(
            rt.admit(&h, TOKEN_LIFETIME_MS).unwrap_err().status.as_u16(),
            401
        );
    }
}
