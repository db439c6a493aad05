//! Credentials: the OAuth 2 refresh-token flow, owned by the host.
//!
//! One refresh is in flight per connection at a time (single-flight): calls
//! that need a token while it is being refreshed wait for that refresh
//! instead of starting their own, which matters with Zoho's limit of ten
//! access tokens per refresh token per ten minutes. Tokens are persisted
//! through a [`TokenStore`] so a restart does not mint a new one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::http::error_chain;
use crate::connector::RefreshOn;
use crate::secret::Secret;
use crate::store::{StoredToken, TokenStore};

/// Refresh a token this long before it expires (at most a tenth of its
/// lifetime), so a request never starts with a token about to lapse.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The static parts of a connection's OAuth credentials.
#[derive(Debug, Clone)]
pub struct OAuthConfig {
    /// Connection name, for messages.
    pub connection: String,
    /// Where its token is kept: the connection and the accounts origin
    /// (`crm@https://accounts.zoho.eu`), so a token made against one
    /// endpoint is never used against another.
    pub store_key: String,
    /// Full token endpoint (`https://accounts.zoho.eu/oauth/v2/token`).
    pub token_url: Url,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub refresh_token: Secret,
    /// `Authorization` template with `{token}`.
    pub header_template: String,
    /// Which answers mean "token expired".
    pub refresh_on: RefreshOn,
}

/// A token ready to attach.
#[derive(Clone)]
pub struct Token {
    /// The bare access token (to recognise it when invalidating).
    pub access: String,
    /// The full `Authorization` header value.
    pub header: String,
}

/// Why no token could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token refresh for connection `{connection}` failed: {message}")]
    Refresh { connection: String, message: String },
    #[error("token refresh for connection `{connection}` was refused ({status}): {message}")]
    Refused {
        connection: String,
        status: u16,
        message: String,
    },
}

/// A connection's OAuth client.
pub struct OAuth {
    config: OAuthConfig,
    store: Arc<dyn TokenStore>,
    current: Mutex<Option<StoredToken>>,
}

impl OAuth {
    /// Build the client; a token saved earlier is reused if still valid.
    pub fn new(config: OAuthConfig, store: Arc<dyn TokenStore>) -> OAuth {
        let saved = store.load(&config.store_key);
        OAuth {
            config,
            store,
            current: Mutex::new(saved),
        }
    }

    /// A valid token, refreshing it first if needed. Concurrent callers
    /// share one refresh.
    pub async fn token(&self, client: &reqwest::Client) -> Result<Token, AuthError> {
        let mut current = self.current.lock().await;
        let fresh = current.as_ref().filter(|t| t.expires_at > now_secs());
        let token = match fresh {
            Some(t) => t.clone(),
            None => {
                let t = self.refresh(client).await?;
                if let Err(e) = self.store.save(&self.config.store_key, &t) {
                    tracing::warn!(connection = %self.config.connection, error = %e, "could not persist access token");
                }
                *current = Some(t.clone());
                t
            }
        };
        Ok(Token {
            header: self
                .config
                .header_template
                .replace("{token}", &token.access_token),
            access: token.access_token,
        })
    }

    /// Forget `stale` if it is still the current token, so the next
    /// [`OAuth::token`] refreshes. A token another caller already replaced
    /// is left alone.
    pub async fn invalidate(&self, stale: &str) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|t| t.access_token == stale) {
            *current = None;
        }
    }

    /// Whether a vendor answer means the token was not accepted.
    pub fn is_unauthorized(&self, status: u16, body: &[u8]) -> bool {
        let rules = &self.config.refresh_on;
        if rules.status.contains(&status) {
            return true;
        }
        if rules.body_codes.is_empty() || status < 400 {
            return false;
        }
        let code = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| match v.get("code")? {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            });
        code.is_some_and(|c| rules.body_codes.contains(&c))
    }

    async fn refresh(&self, client: &reqwest::Client) -> Result<StoredToken, AuthError> {
        let cfg = &self.config;
        let fail = |message: String| AuthError::Refresh {
            connection: cfg.connection.clone(),
            message,
        };
        // Zoho takes the refresh grant's parameters in the query string.
        let mut url = cfg.token_url.clone();
        url.query_pairs_mut()
            .append_pair("grant_type", "refresh_token")
            .append_pair("client_id", cfg.client_id.expose())
            .append_pair("client_secret", cfg.client_secret.expose())
            .append_pair("refresh_token", cfg.refresh_token.expose());
        // Never echo the URL: it carries the secrets. Its host and the
        // cause (a refused address, say) are what a user needs.
        let host = cfg.token_url.host_str().unwrap_or("accounts server");
        let transport =
            |e: reqwest::Error| fail(format!("{host}: {}", error_chain(&e.without_url())));
        let response = client
            .post(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            fail(format!(
                "unexpected answer from the accounts server (HTTP {status})"
            ))
        })?;
        match parsed {
            TokenResponse::Ok {
                access_token,
                expires_in,
                api_domain,
            } if status < 400 => {
                let lifetime = expires_in.unwrap_or(3600);
                let margin = EXPIRY_MARGIN.as_secs().min(lifetime / 10);
                Ok(StoredToken {
                    access_token,
                    expires_at: now_secs() + lifetime - margin,
                    api_domain,
                })
            }
            TokenResponse::Ok { .. } => Err(fail(format!("HTTP {status}"))),
            TokenResponse::Err { error } => Err(AuthError::Refused {
                connection: cfg.connection.clone(),
                status,
                message: error,
            }),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenResponse {
    Ok {
        access_token: String,
        expires_in: Option<u64>,
        api_domain: Option<String>,
    },
    Err {
        error: String,
    },
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
