//! OAuth 2 tokens, owned by the host: the refresh-token grant (Zoho) and
//! the client-credentials grant (no refresh token; a new token on expiry).
//!
//! One token request is in flight per connection at a time (single-flight):
//! calls that need a token while it is being requested wait for that one
//! instead of starting their own, which matters with Zoho's limit of ten
//! access tokens per refresh token per ten minutes. Tokens are persisted
//! through a [`TokenStore`] so a restart does not mint a new one.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use url::Url;

use super::{AuthError, Token};
use crate::capability::http::error_chain;
use crate::connector::RefreshOn;
use crate::secret::Secret;
use crate::store::{StoredToken, TokenStore};

/// Renew a token this long before it expires (at most a tenth of its
/// lifetime), so a request never starts with a token about to lapse.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// How a token is obtained.
#[derive(Debug, Clone)]
pub enum Grant {
    /// `grant_type=refresh_token`, every parameter in the query string
    /// (as Zoho's accounts server takes them).
    RefreshToken { refresh_token: Secret },
    /// `grant_type=client_credentials` in a form body, the client's id and
    /// secret as HTTP Basic (RFC 6749 §4.4); `scope` space-separated.
    ClientCredentials { scopes: Vec<String> },
}

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
    pub grant: Grant,
    /// `Authorization` template with `{token}`.
    pub header_template: String,
    /// Which answers mean "token expired".
    pub refresh_on: RefreshOn,
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
            name: "authorization".into(),
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
        let request = match &cfg.grant {
            Grant::RefreshToken { refresh_token } => {
                let mut url = cfg.token_url.clone();
                url.query_pairs_mut()
                    .append_pair("grant_type", "refresh_token")
                    .append_pair("client_id", cfg.client_id.expose())
                    .append_pair("client_secret", cfg.client_secret.expose())
                    .append_pair("refresh_token", refresh_token.expose());
                client.post(url)
            }
            Grant::ClientCredentials { scopes } => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "client_credentials");
                if !scopes.is_empty() {
                    form.append_pair("scope", &scopes.join(" "));
                }
                client
                    .post(cfg.token_url.clone())
                    .basic_auth(cfg.client_id.expose(), Some(cfg.client_secret.expose()))
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(form.finish())
            }
        };
        // Never echo the URL: it may carry the secrets. Its host and the
        // cause (a refused address, say) are what a user needs.
        let host = cfg.token_url.host_str().unwrap_or("accounts server");
        let transport =
            |e: reqwest::Error| fail(format!("{host}: {}", error_chain(&e.without_url())));
        let response = request
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        let answer = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
        let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_string);
        match text("access_token") {
            Some(access_token) if status < 400 => {
                let lifetime = answer
                    .get("expires_in")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                    .unwrap_or(3600);
                let margin = EXPIRY_MARGIN.as_secs().min(lifetime / 10);
                Ok(StoredToken {
                    access_token,
                    expires_at: now_secs() + lifetime - margin,
                    api_domain: text("api_domain"),
                })
            }
            // OAuth's `error` (Zoho answers it with 200), or a vendor's
            // own `message`: the credentials were looked at and refused.
            _ => match text("error").or_else(|| text("message")) {
                Some(message) => Err(AuthError::Refused {
                    connection: cfg.connection.clone(),
                    status,
                    message,
                }),
                None if status < 400 => Err(fail(format!(
                    "unexpected answer from the accounts server (HTTP {status})"
                ))),
                None => Err(fail(format!("HTTP {status}"))),
            },
        }
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
