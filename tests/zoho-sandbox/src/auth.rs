//! Zoho Accounts emulation: the refresh-token grant and access-token checks.

use std::collections::{HashMap, VecDeque};

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::Millis;
use crate::error::{ApiError, Product};

/// A registered OAuth client and its refresh token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub refresh_token: String,
}

impl ClientCredentials {
    /// The default client every sandbox accepts.
    pub fn default_client() -> Self {
        ClientCredentials {
            client_id: "1000.SANDBOXCLIENTID0000000000000000".into(),
            client_secret: "sandbox0secret0000000000000000000000000000".into(),
            refresh_token: "1000.sandboxrefresh00000000000000000.00000000000000000000000000000000"
                .into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    expires_ms: Millis,
}

/// Token state: registered clients, live access tokens, minting history.
#[derive(Debug)]
pub struct Auth {
    pub clients: Vec<ClientCredentials>,
    tokens: HashMap<String, Token>,
    minted: HashMap<String, VecDeque<Millis>>,
    counter: u64,
    /// Lifetime of a new access token.
    pub lifetime_ms: i64,
    /// Enforce "10 access tokens per refresh token per 10 minutes".
    pub mint_limit: bool,
}

/// Number of access tokens a refresh token may mint per window.
pub const MINT_LIMIT: usize = 10;
/// The minting window.
pub const MINT_WINDOW_MS: i64 = 10 * 60 * 1000;

impl Auth {
    pub fn new(lifetime_ms: i64) -> Self {
        Auth {
            clients: vec![ClientCredentials::default_client()],
            tokens: HashMap::new(),
            minted: HashMap::new(),
            counter: 0,
            lifetime_ms,
            mint_limit: false,
        }
    }

    /// Forget every access token (tests: force re-authentication).
    pub fn revoke_all(&mut self) {
        self.tokens.clear();
        self.minted.clear();
    }

    /// Handle `POST /oauth/v2/token` parameters. Returns (HTTP status, body).
    pub fn token_endpoint(
        &mut self,
        params: &HashMap<String, String>,
        now: Millis,
        api_domain: &str,
    ) -> (u16, Value) {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        match get("grant_type") {
            "refresh_token" => {}
            "" => return (200, json!({"error": "invalid_request"})),
            _ => return (200, json!({"error": "unsupported_grant_type"})),
        }
        let Some(client) = self
            .clients
            .iter()
            .find(|c| c.client_id == get("client_id"))
        else {
            return (200, json!({"error": "invalid_client"}));
        };
        if client.client_secret != get("client_secret") {
            return (200, json!({"error": "invalid_client_secret"}));
        }
        if client.refresh_token != get("refresh_token") {
            return (200, json!({"error": "invalid_code"}));
        }
        let rt = client.refresh_token.clone();
        let log = self.minted.entry(rt.clone()).or_default();
        while log.front().is_some_and(|t| *t <= now - MINT_WINDOW_MS) {
            log.pop_front();
        }
        {
            if self.mint_limit && log.len() >= MINT_LIMIT {
                return (
                    400,
                    json!({"error_description": "You have made too many requests continuously. Please try again after some time.", "error": "Access Denied", "status": "failure"}),
                );
            }
            log.push_back(now);
        }
        self.counter += 1;
        let token = format!(
            "1000.{:032x}.{:032x}",
            self.counter,
            fnv(&rt) ^ (now as u64)
        );
        self.tokens.insert(
            token.clone(),
            Token {
                expires_ms: now + self.lifetime_ms,
            },
        );
        // Drop long-expired tokens so the map does not grow without bound.
        if self.tokens.len() > 10_000 {
            self.tokens.retain(|_, t| t.expires_ms > now);
        }
        (
            200,
            json!({
                "access_token": token,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.coql.READ ZohoCRM.notifications.ALL ZohoBooks.fullaccess.all ZohoInvoice.fullaccess.all ZohoSubscriptions.fullaccess.all",
                "api_domain": api_domain,
                "token_type": "Bearer",
                "expires_in": (self.lifetime_ms / 1000).max(1),
            }),
        )
    }

    /// Check the `Authorization` header for `product`.
    pub fn check(
        &self,
        product: Product,
        headers: &HeaderMap,
        now: Millis,
    ) -> Result<(), ApiError> {
        let raw = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .trim();
        let token = raw
            .strip_prefix("Zoho-oauthtoken ")
            .or_else(|| raw.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        let valid = !token.is_empty() && self.tokens.get(token).is_some_and(|t| t.expires_ms > now);
        if valid {
            return Ok(());
        }
        Err(match product {
            Product::Crm => {
                if raw.is_empty() {
                    ApiError::crm(
                        401,
                        "AUTHENTICATION_FAILURE",
                        "Authentication failed",
                        json!({}),
                    )
                } else {
                    ApiError::crm(401, "INVALID_TOKEN", "invalid oauth token", json!({}))
                }
            }
            _ => ApiError::finance(401, 57, "You are not authorized to perform this operation"),
        })
    }
}

/// FNV-1a, used for stable non-cryptographic hashes (tokens, page tokens).
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_and_expire() {
        let mut a = Auth::new(2000);
        let c = ClientCredentials::default_client();
        let p: HashMap<String, String> = [
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (s, body) = a.token_endpoint(&p, 0, "http://x");
        assert_eq!(s, 200);
        let tok = body["access_token"].as_str().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            format!("Zoho-oauthtoken {tok}").parse().unwrap(),
        );
        assert!(a.check(Product::Books, &h, 1999).is_ok());
        assert!(a.check(Product::Books, &h, 2000).is_err());
        a.mint_limit = true;
        for _ in 0..9 {
            assert_eq!(a.token_endpoint(&p, 10, "x").0, 200);
        }
        assert_eq!(a.token_endpoint(&p, 10, "x").0, 400);
        assert_eq!(a.token_endpoint(&p, 10 + MINT_WINDOW_MS, "x").0, 200);
    }
}
