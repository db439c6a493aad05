//! Credentials, owned by the host: which `Authorization` (or API-key)
//! header a connection's requests carry, and how it is obtained.
//!
//! Four schemes, named by the connector's manifest:
//! - OAuth 2 refresh-token grant (Zoho): [`OAuth`] with [`Grant::RefreshToken`];
//! - OAuth 2 client credentials (Alternative Payments): [`OAuth`] with
//!   [`Grant::ClientCredentials`], no refresh token, re-requested on expiry;
//! - an API key in a header, and HTTP Basic: a [`Fixed`] header.
//!
//! Plugins never see any of it: the HTTP capability attaches the header to
//! requests for the API origin only.

mod oauth;

pub use oauth::{Grant, OAuth, OAuthConfig};

use crate::secret::Secret;

/// A credential ready to attach to one request.
#[derive(Clone)]
pub struct Token {
    /// The bare access token (to recognise it when invalidating).
    pub access: String,
    /// Header name, lower case (`authorization`, `x-api-key`).
    pub name: String,
    /// The full header value (`Bearer …`).
    pub header: String,
}

/// Why no credential could be obtained.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("token request for connection `{connection}` failed: {message}")]
    Refresh { connection: String, message: String },
    #[error("token request for connection `{connection}` was refused ({status}): {message}")]
    Refused {
        connection: String,
        status: u16,
        message: String,
    },
}

/// A header whose value never changes: an API key, or HTTP Basic.
pub struct Fixed {
    name: String,
    value: Secret,
}

impl Fixed {
    /// `name: value`, the value a secret (`value` is never logged).
    pub fn header(name: &str, value: Secret) -> Fixed {
        Fixed {
            name: name.to_ascii_lowercase(),
            value,
        }
    }

    /// HTTP Basic with `user` and `password` (empty for a key used as the
    /// user name, as CustomerSuccessBox does).
    pub fn basic(user: &Secret, password: Option<&Secret>) -> Fixed {
        use base64::Engine as _;
        let pair = format!(
            "{}:{}",
            user.expose(),
            password.map(Secret::expose).unwrap_or_default()
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Fixed::header("authorization", Secret::new(format!("Basic {encoded}")))
    }
}

/// How one connection authenticates.
pub enum Auth {
    // Boxed: its token state dwarfs a fixed header.
    OAuth(Box<OAuth>),
    Fixed(Fixed),
}

impl From<OAuth> for Auth {
    fn from(oauth: OAuth) -> Auth {
        Auth::OAuth(Box::new(oauth))
    }
}

impl Auth {
    /// The credential to attach now, requesting a token first if needed.
    pub async fn token(&self, client: &reqwest::Client) -> Result<Token, AuthError> {
        match self {
            Auth::OAuth(oauth) => oauth.token(client).await,
            Auth::Fixed(fixed) => Ok(Token {
                access: String::new(),
                name: fixed.name.clone(),
                header: fixed.value.expose().to_string(),
            }),
        }
    }

    /// Forget `stale` so the next [`Auth::token`] asks for a new one; a
    /// fixed credential has nothing to renew.
    pub async fn invalidate(&self, stale: &str) {
        if let Auth::OAuth(oauth) = self {
            oauth.invalidate(stale).await;
        }
    }

    /// Whether a vendor answer means "token expired: renew and repeat".
    /// A fixed key that is refused stays refused, so never for those.
    pub fn is_unauthorized(&self, status: u16, body: &[u8]) -> bool {
        match self {
            Auth::OAuth(oauth) => oauth.is_unauthorized(status, body),
            Auth::Fixed(_) => false,
        }
    }

    /// The request header this credential occupies, lower case: plugins
    /// may not set it.
    pub fn header_name(&self) -> &str {
        match self {
            Auth::OAuth(_) => "authorization",
            Auth::Fixed(fixed) => &fixed.name,
        }
    }
}
