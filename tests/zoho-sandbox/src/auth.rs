//! Zoho Accounts emulation: the refresh-token and authorization-code
//! grants, the authorisation page of the browser flow, and access-token
//! checks.

use std::collections::{HashMap, HashSet, VecDeque};

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
    /// The refresh token that minted it (revoking that one revokes this).
    refresh: String,
}

/// A grant code not yet exchanged.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    /// Where the browser flow sent it; the exchange must name the same.
    /// `None` for a self-client code.
    redirect_uri: Option<String>,
    scope: String,
    /// `access_type=offline`: the exchange also issues a refresh token.
    offline: bool,
    expires_ms: Millis,
}

/// Token state: registered clients, live access tokens, minting history,
/// grant codes and the refresh tokens they issued.
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
    codes: HashMap<String, Grant>,
    /// Refresh tokens issued by code exchanges, with their client id.
    issued: HashMap<String, String>,
    revoked: HashSet<String>,
    /// Answer with this `api_domain` instead of the sandbox's own origin
    /// (an account of another data centre).
    pub api_domain: Option<String>,
    /// Send the browser back with this `accounts-server` instead of the
    /// sandbox's own origin.
    pub accounts_server: Option<String>,
    /// The `location` the browser flow reports (Zoho: `us`, `eu`, `in`, …).
    pub location: String,
}

/// Number of access tokens a refresh token may mint per window.
pub const MINT_LIMIT: usize = 10;
/// The minting window.
pub const MINT_WINDOW_MS: i64 = 10 * 60 * 1000;
/// How long a grant code can be exchanged (Zoho's self client offers 3 to
/// 10 minutes; see UNCONFIRMED.md).
pub const CODE_LIFETIME_MS: i64 = 3 * 60 * 1000;

const SCOPES: &str = "ZohoCRM.modules.ALL ZohoCRM.settings.ALL ZohoCRM.coql.READ ZohoCRM.notifications.ALL ZohoCRM.bulk.read ZohoCRM.bulk.ALL ZohoFiles.files.ALL ZohoBooks.fullaccess.all ZohoInvoice.fullaccess.all ZohoSubscriptions.fullaccess.all";

type Answer = (u16, Value);

fn error(code: &str) -> Answer {
    (200, json!({ "error": code }))
}

impl Auth {
    pub fn new(lifetime_ms: i64) -> Self {
        Auth {
            clients: vec![ClientCredentials::default_client()],
            tokens: HashMap::new(),
            minted: HashMap::new(),
            counter: 0,
            lifetime_ms,
            mint_limit: false,
            codes: HashMap::new(),
            issued: HashMap::new(),
            revoked: HashSet::new(),
            api_domain: None,
            accounts_server: None,
            location: "us".into(),
        }
    }

    /// Forget every access token (tests: force re-authentication).
    pub fn revoke_all(&mut self) {
        self.tokens.clear();
        self.minted.clear();
    }

    /// Revoke a refresh token and the access tokens it minted. Whether it
    /// was a live refresh token.
    pub fn revoke_refresh_token(&mut self, refresh_token: &str) -> bool {
        let known = self.issued.contains_key(refresh_token)
            || self
                .clients
                .iter()
                .any(|c| c.refresh_token == refresh_token);
        self.tokens.retain(|_, t| t.refresh != refresh_token);
        known && self.revoked.insert(refresh_token.to_string())
    }

    /// A grant code for `client_id`, as the API console's self client
    /// makes one: exchangeable once, without a redirect URI, for
    /// `lifetime_ms`. `None` if the client is unknown.
    pub fn mint_code(
        &mut self,
        client_id: &str,
        scope: &str,
        lifetime_ms: i64,
        now: Millis,
    ) -> Option<String> {
        self.clients.iter().find(|c| c.client_id == client_id)?;
        Some(self.new_code(Grant {
            client_id: client_id.to_string(),
            redirect_uri: None,
            scope: scope.to_string(),
            offline: true,
            expires_ms: now + lifetime_ms,
        }))
    }

    fn new_code(&mut self, grant: Grant) -> String {
        self.counter += 1;
        let code = format!(
            "1000.{:032x}.{:032x}",
            fnv(&format!("code{}", self.counter)),
            fnv(&grant.client_id) ^ grant.expires_ms as u64 ^ self.counter
        );
        self.codes.insert(code.clone(), grant);
        code
    }

    /// `GET /oauth/v2/auth`: the consent page, answered at once as if the
    /// user had accepted. `Ok` is where to send the browser.
    pub fn authorize(
        &mut self,
        params: &HashMap<String, String>,
        now: Millis,
        base_url: &str,
    ) -> Result<String, Answer> {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let refuse = |code: &str| (400, json!({ "error": code }));
        if get("response_type") != "code" {
            return Err(refuse("unsupported_response_type"));
        }
        if !self.clients.iter().any(|c| c.client_id == get("client_id")) {
            return Err(refuse("invalid_client"));
        }
        let mut target =
            reqwest::Url::parse(get("redirect_uri")).map_err(|_| refuse("invalid_redirect_uri"))?;
        if get("scope").trim().is_empty() {
            return Err(refuse("invalid_scope"));
        }
        let code = self.new_code(Grant {
            client_id: get("client_id").to_string(),
            redirect_uri: Some(get("redirect_uri").to_string()),
            scope: get("scope").to_string(),
            offline: get("access_type") == "offline",
            expires_ms: now + CODE_LIFETIME_MS,
        });
        let accounts = self.accounts_server.as_deref().unwrap_or(base_url);
        {
            let mut q = target.query_pairs_mut();
            if let Some(state) = params.get("state") {
                q.append_pair("state", state);
            }
            q.append_pair("code", &code)
                .append_pair("location", &self.location)
                .append_pair("accounts-server", accounts);
        }
        Ok(target.to_string())
    }

    /// Handle `POST /oauth/v2/token` parameters. Returns (HTTP status, body).
    pub fn token_endpoint(
        &mut self,
        params: &HashMap<String, String>,
        now: Millis,
        api_domain: &str,
    ) -> (u16, Value) {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let grant = get("grant_type");
        if !matches!(grant, "refresh_token" | "authorization_code") {
            return error(if grant.is_empty() {
                "invalid_request"
            } else {
                "unsupported_grant_type"
            });
        }
        let Some(client) = self
            .clients
            .iter()
            .find(|c| c.client_id == get("client_id"))
        else {
            return error("invalid_client");
        };
        if client.client_secret != get("client_secret") {
            return error("invalid_client_secret");
        }
        let client_id = client.client_id.clone();
        let api_domain = self.api_domain.clone().unwrap_or(api_domain.to_string());
        if grant == "authorization_code" {
            return self.exchange_code(&client_id, params, now, &api_domain);
        }
        let rt = get("refresh_token");
        let own = client.refresh_token == rt;
        let issued = self.issued.get(rt).is_some_and(|c| *c == client_id);
        if !(own || issued) || self.revoked.contains(rt) {
            return error("invalid_code");
        }
        match self.mint(rt, now) {
            Ok(token) => (200, self.token_body(&token, SCOPES, &api_domain, None)),
            Err(refused) => refused,
        }
    }

    /// The authorization-code grant: a code works once, before it expires,
    /// for the client it was made for (and the redirect URI it went to).
    fn exchange_code(
        &mut self,
        client_id: &str,
        params: &HashMap<String, String>,
        now: Millis,
        api_domain: &str,
    ) -> Answer {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        // Taken out whatever happens next: a code is never good twice.
        let Some(grant) = self.codes.remove(get("code")) else {
            return error("invalid_code");
        };
        if grant.expires_ms <= now || grant.client_id != client_id {
            return error("invalid_code");
        }
        if grant
            .redirect_uri
            .as_deref()
            .is_some_and(|r| r != get("redirect_uri"))
        {
            return error("invalid_redirect_uri");
        }
        self.counter += 1;
        let refresh = format!(
            "1000.{:032x}.{:032x}",
            fnv(&format!("refresh{}", self.counter)),
            fnv(client_id) ^ (now as u64)
        );
        let access = match self.mint(&refresh, now) {
            Ok(token) => token,
            Err(refused) => return refused,
        };
        let kept = grant.offline.then(|| {
            self.issued.insert(refresh.clone(), client_id.to_string());
            refresh
        });
        (
            200,
            self.token_body(&access, &grant.scope, api_domain, kept.as_deref()),
        )
    }

    fn token_body(&self, access: &str, scope: &str, api_domain: &str, rt: Option<&str>) -> Value {
        let mut body = json!({
            "access_token": access,
            "scope": scope,
            "api_domain": api_domain,
            "token_type": "Bearer",
            "expires_in": (self.lifetime_ms / 1000).max(1),
        });
        if let Some(rt) = rt {
            body["refresh_token"] = json!(rt);
        }
        body
    }

    /// A new access token from refresh token `rt`, within the mint limit.
    fn mint(&mut self, rt: &str, now: Millis) -> Result<String, Answer> {
        let log = self.minted.entry(rt.to_string()).or_default();
        while log.front().is_some_and(|t| *t <= now - MINT_WINDOW_MS) {
            log.pop_front();
        }
        if self.mint_limit && log.len() >= MINT_LIMIT {
            return Err((
                400,
                json!({"error_description": "You have made too many requests continuously. Please try again after some time.", "error": "Access Denied", "status": "failure"}),
            ));
        }
        log.push_back(now);
        self.counter += 1;
        let token = format!("1000.{:032x}.{:032x}", self.counter, fnv(rt) ^ (now as u64));
        self.tokens.insert(
            token.clone(),
            Token {
                expires_ms: now + self.lifetime_ms,
                refresh: rt.to_string(),
            },
        );
        // Drop long-expired tokens and codes so the maps do not grow
        // without bound.
        if self.tokens.len() > 10_000 {
            self.tokens.retain(|_, t| t.expires_ms > now);
        }
        if self.codes.len() > 10_000 {
            self.codes.retain(|_, g| g.expires_ms > now);
        }
        Ok(token)
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

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_code_is_exchanged_once_before_it_expires() {
        let mut a = Auth::new(3_600_000);
        let c = ClientCredentials::default_client();
        let exchange = |a: &mut Auth, code: &str, now| {
            a.token_endpoint(
                &params(&[
                    ("grant_type", "authorization_code"),
                    ("client_id", &c.client_id),
                    ("client_secret", &c.client_secret),
                    ("code", code),
                ]),
                now,
                "http://x",
            )
        };
        let code = a
            .mint_code(&c.client_id, "ZohoCRM.modules.ALL", 1000, 0)
            .unwrap();
        let (s, body) = exchange(&mut a, &code, 10);
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["api_domain"], "http://x");
        assert_eq!(body["scope"], "ZohoCRM.modules.ALL");
        let rt = body["refresh_token"].as_str().unwrap().to_string();
        assert_eq!(
            exchange(&mut a, &code, 20).1,
            json!({"error": "invalid_code"})
        );
        let late = a.mint_code(&c.client_id, "s", 1000, 0).unwrap();
        assert_eq!(
            exchange(&mut a, &late, 1000).1,
            json!({"error": "invalid_code"})
        );
        assert!(a.mint_code("nobody", "s", 1000, 0).is_none());

        // The issued refresh token refreshes, until it is revoked.
        let refresh = params(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &rt),
        ]);
        a.api_domain = Some("https://www.zohoapis.eu".into());
        let (s, body) = a.token_endpoint(&refresh, 30, "http://x");
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["api_domain"], "https://www.zohoapis.eu");
        assert!(body.get("refresh_token").is_none());
        assert!(a.revoke_refresh_token(&rt));
        assert_eq!(
            a.token_endpoint(&refresh, 40, "http://x").1,
            json!({"error": "invalid_code"})
        );
    }

    #[test]
    fn the_browser_flow_binds_the_code_to_its_redirect() {
        let mut a = Auth::new(3_600_000);
        let c = ClientCredentials::default_client();
        let auth = |access: &str| {
            params(&[
                ("response_type", "code"),
                ("client_id", &c.client_id),
                ("scope", "ZohoBooks.contacts.ALL"),
                ("redirect_uri", "http://127.0.0.1:9/cb"),
                ("state", "s1"),
                ("access_type", access),
            ])
        };
        let to = a.authorize(&auth("offline"), 0, "http://sb").unwrap();
        let url = reqwest::Url::parse(&to).unwrap();
        let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
        assert!(
            to.starts_with("http://127.0.0.1:9/cb?state=s1&code=1000."),
            "{to}"
        );
        assert_eq!(q["location"], "us");
        assert_eq!(q["accounts-server"], "http://sb");
        let mut exchange = params(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("code", &q["code"]),
            ("redirect_uri", "http://127.0.0.1:9/other"),
        ]);
        assert_eq!(
            a.token_endpoint(&exchange, 1, "http://sb").1,
            json!({"error": "invalid_redirect_uri"})
        );
        // Online access (Zoho's default) issues no refresh token.
        let to = a.authorize(&auth("online"), 0, "http://sb").unwrap();
        let q: HashMap<String, String> = reqwest::Url::parse(&to)
            .unwrap()
            .query_pairs()
            .into_owned()
            .collect();
        exchange.insert("code".into(), q["code"].clone());
        exchange.insert("redirect_uri".into(), "http://127.0.0.1:9/cb".into());
        let (s, body) = a.token_endpoint(&exchange, 1, "http://sb");
        assert_eq!(s, 200);
        assert!(body["access_token"].is_string() && body.get("refresh_token").is_none());
        let mut bad = auth("offline");
        bad.insert("client_id".into(), "nobody".into());
        assert_eq!(
            a.authorize(&bad, 0, "x").unwrap_err().1["error"],
            "invalid_client"
        );
    }
}
