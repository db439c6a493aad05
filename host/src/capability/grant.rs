//! The OAuth 2 authorization-code grant, for `ferry connect`: a one-time
//! grant code becomes a refresh token at the data centre's accounts
//! server. The request leaves through an [`HttpCapability`], under the
//! same host policy, address checks and pacing as every connection.
//!
//! Which details are Zoho's and which are choices (the error codes, the
//! parameters in the form body) is written down in one place: the
//! `ferry connect` section of `docs/config.md`.

use url::Url;

use super::http::{HttpCapability, HttpError, Method, Request};
use crate::secret::Secret;

/// One exchange of a grant code.
#[derive(Debug, Clone)]
pub struct CodeExchange {
    /// Connection name, for messages.
    pub connection: String,
    /// Full token endpoint (`https://accounts.zoho.eu/oauth/v2/token`).
    pub token_url: Url,
    pub client_id: Secret,
    pub client_secret: Secret,
    pub code: Secret,
    /// The redirect URI of the browser flow; `None` for a code pasted
    /// from Zoho's self client.
    pub redirect_uri: Option<String>,
}

/// What the accounts server granted.
#[derive(Debug, Clone)]
pub struct Granted {
    pub refresh_token: Secret,
    /// The API origin of the account's data centre, as the accounts server
    /// named it (`https://www.zohoapis.eu`).
    pub api_domain: Option<String>,
    /// The scopes granted, when the answer names them.
    pub scope: Option<String>,
}

/// Why a grant code did not become a refresh token.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    #[error(
        "connection `{connection}`: {host} refused the grant code (`{code}`){}",
        hint_text(code)
    )]
    Refused {
        connection: String,
        host: String,
        code: String,
    },
    #[error(
        "connection `{connection}`: {host} gave an access token but no refresh token; ask for offline access (`access_type=offline`)"
    )]
    NoRefreshToken { connection: String, host: String },
    #[error("connection `{connection}`: could not exchange the grant code at {host}: {error}")]
    Http {
        connection: String,
        host: String,
        error: HttpError,
    },
    #[error("connection `{connection}`: unexpected answer from {host} (HTTP {status})")]
    Unexpected {
        connection: String,
        host: String,
        status: u16,
    },
}

fn hint_text(code: &str) -> String {
    match explain(code) {
        "" => String::new(),
        hint => format!(": {hint}"),
    }
}

/// What an accounts-server error code means for the user, if known.
pub fn explain(code: &str) -> &'static str {
    match code {
        "invalid_code" => {
            "it is wrong, already used or expired (a grant code works once, within minutes of being made)"
        }
        "invalid_client" => {
            "this accounts server does not know the client id: check `auth.client_id`, and that the client was made in this data centre's API console"
        }
        "invalid_client_secret" => "the client secret is wrong: check `auth.client_secret`",
        "invalid_redirect_uri" => {
            "the redirect URI is not the one registered for the client, or not the one the code was made for"
        }
        "Access Denied" => {
            "too many token requests: Zoho allows 10 access tokens per refresh token in 10 minutes; wait and try again"
        }
        _ => "",
    }
}

/// Exchange `grant.code` at `grant.token_url` through `http` (a
/// capability whose allowed hosts include the accounts server).
pub async fn exchange(http: &HttpCapability, grant: &CodeExchange) -> Result<Granted, GrantError> {
    let host = grant.token_url.origin().ascii_serialization();
    let connection = grant.connection.clone();
    // The form body, not the query string: the secrets stay out of URLs
    // (and so out of every message that quotes one).
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code")
        .append_pair("client_id", grant.client_id.expose())
        .append_pair("client_secret", grant.client_secret.expose())
        .append_pair("code", grant.code.expose());
    if let Some(uri) = &grant.redirect_uri {
        form.append_pair("redirect_uri", uri);
    }
    let response = http
        .send(Request {
            method: Method::Post,
            url: grant.token_url.to_string(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(form.finish().into_bytes()),
            // A code works once: an uncertain failure is not repeated.
            idempotent: false,
        })
        .await
        .map_err(|error| GrantError::Http {
            connection: connection.clone(),
            host: host.clone(),
            error,
        })?;
    read_answer(&connection, &host, response.status, &response.body)
}

/// The accounts server's answer to an exchange.
fn read_answer(
    connection: &str,
    host: &str,
    status: u16,
    body: &[u8],
) -> Result<Granted, GrantError> {
    let unexpected = || GrantError::Unexpected {
        connection: connection.to_string(),
        host: host.to_string(),
        status,
    };
    let answer: serde_json::Value = serde_json::from_slice(body).map_err(|_| unexpected())?;
    let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    // Zoho answers a refused grant with HTTP 200 and `{"error": …}`.
    if let Some(code) = text("error") {
        return Err(GrantError::Refused {
            connection: connection.to_string(),
            host: host.to_string(),
            code,
        });
    }
    if status >= 400 {
        return Err(unexpected());
    }
    match (text("refresh_token"), text("access_token")) {
        (Some(refresh), _) if !refresh.is_empty() => Ok(Granted {
            refresh_token: Secret::new(refresh),
            api_domain: text("api_domain"),
            scope: text("scope"),
        }),
        (_, Some(_)) => Err(GrantError::NoRefreshToken {
            connection: connection.to_string(),
            host: host.to_string(),
        }),
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_grants_or_errors() {
        let ok = read_answer(
            "crm",
            "accounts.zoho.eu",
            200,
            br#"{"access_token":"a","refresh_token":"r","api_domain":"https://www.zohoapis.eu","token_type":"Bearer","expires_in":3600}"#,
        )
        .unwrap();
        assert_eq!(ok.refresh_token.expose(), "r");
        assert_eq!(ok.api_domain.as_deref(), Some("https://www.zohoapis.eu"));

        let used = read_answer(
            "crm",
            "accounts.zoho.eu",
            200,
            br#"{"error":"invalid_code"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            used.contains("refused the grant code (`invalid_code`)")
                && used.contains("already used or expired"),
            "{used}"
        );
        let online = read_answer("crm", "h", 200, br#"{"access_token":"a"}"#).unwrap_err();
        assert!(matches!(online, GrantError::NoRefreshToken { .. }));
        let html = read_answer("crm", "h", 502, b"<html>").unwrap_err();
        assert!(matches!(html, GrantError::Unexpected { status: 502, .. }));
        // Secrets never reach a message.
        assert!(!format!("{ok:?}").contains("\"r\""));
    }
}
