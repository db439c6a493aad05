//! Errors: the contract's variant, with constructors and conversions.

use crate::bindings::ferry::connector::http::HttpError;
pub use crate::bindings::ferry::connector::types::ConnectorError;
use crate::bindings::ferry::connector::types::{InvalidField, RateLimit, VendorError};

impl ConnectorError {
    /// The input was refused; names the field (empty when unknown).
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConnectorError {
        ConnectorError::Invalid(InvalidField {
            field: field.into(),
            message: message.into(),
        })
    }

    /// Too many requests.
    pub fn rate_limited(retry_after_ms: Option<u64>, message: impl Into<String>) -> ConnectorError {
        ConnectorError::RateLimited(RateLimit {
            retry_after_ms,
            message: message.into(),
        })
    }

    /// Anything else the vendor said.
    pub fn vendor(
        code: impl ToString,
        message: impl Into<String>,
        http_status: u16,
    ) -> ConnectorError {
        ConnectorError::Vendor(VendorError {
            code: code.to_string(),
            message: message.into(),
            http_status,
        })
    }

    /// The module or operation is not supported.
    pub fn unsupported(what: impl Into<String>) -> ConnectorError {
        ConnectorError::Unsupported(what.into())
    }

    /// A generic mapping from an HTTP status, for vendors without a richer
    /// error body: 401/403 unauthorized, 404 not found, 409 conflict,
    /// 429 rate limited, 5xx transient, other 4xx vendor.
    pub fn from_status(status: u16, message: impl Into<String>) -> ConnectorError {
        let message = message.into();
        match status {
            401 | 403 => ConnectorError::Unauthorized(message),
            404 => ConnectorError::NotFound(message),
            409 => ConnectorError::Conflict(message),
            429 => ConnectorError::rate_limited(None, message),
            500..=599 => ConnectorError::Transient(message),
            _ => ConnectorError::vendor(status, message, status),
        }
    }
}

impl From<HttpError> for ConnectorError {
    /// Timeouts and dropped connections are worth retrying later; refusals
    /// by the host's policy are not.
    fn from(e: HttpError) -> ConnectorError {
        match e {
            HttpError::Timeout(m) => ConnectorError::Transient(format!("timed out: {m}")),
            HttpError::Connection(m) => {
                ConnectorError::Transient(format!("connection failed: {m}"))
            }
            HttpError::Unauthorized(m) => ConnectorError::Unauthorized(m),
            HttpError::Denied(m) => {
                ConnectorError::vendor("denied", format!("request denied by the host: {m}"), 0)
            }
            HttpError::InvalidRequest(m) => ConnectorError::vendor("invalid-request", m, 0),
            HttpError::TooLarge(n) => {
                ConnectorError::vendor("too-large", format!("response larger than {n} bytes"), 0)
            }
        }
    }
}

impl From<serde_json::Error> for ConnectorError {
    /// A body that is not the JSON expected: usually a truncated response.
    fn from(e: serde_json::Error) -> ConnectorError {
        ConnectorError::Transient(format!("malformed JSON from the vendor: {e}"))
    }
}

/// `.context("...")` for errors on the way to a [`ConnectorError`].
pub trait ResultExt<T> {
    /// Turn any error into a vendor error with a message.
    fn or_vendor(self, message: &str) -> Result<T, ConnectorError>;
}

impl<T, E: std::fmt::Display> ResultExt<T> for Result<T, E> {
    fn or_vendor(self, message: &str) -> Result<T, ConnectorError> {
        self.map_err(|e| ConnectorError::vendor("plugin", format!("{message}: {e}"), 0))
    }
}
