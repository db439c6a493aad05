//! What a request and its answer are, how one can fail, and how a
//! connection's HTTP is configured.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use crate::capability::policy::AllowedHosts;

/// HTTP method of a plugin request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub(super) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// A request as a plugin hands it over.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Absolute URL, or a path resolved against the connection's base URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Safe to repeat after an uncertain failure.
    pub idempotent: bool,
}

impl Request {
    /// A `GET` of `url`, with no headers: safe to repeat.
    pub fn get(url: &str) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            idempotent: true,
        }
    }
}

/// A response as the plugin receives it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why no response was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request denied: {0}")]
    Denied(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("connection failed: {0}")]
    Connection(String),
    #[error("response larger than the {0}-byte limit")]
    TooLarge(u64),
    #[error("no credentials: {0}")]
    Unauthorized(String),
}

/// Tunables of one connection's HTTP capability.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Timeout of one attempt.
    pub request_timeout: Duration,
    /// Attempts in all, for retryable failures.
    pub max_attempts: u32,
    /// First backoff; doubles per attempt, with full jitter.
    pub initial_backoff: Duration,
    /// Longest single wait, including a vendor's `Retry-After`.
    pub max_backoff: Duration,
    /// Largest response body handed to a plugin.
    pub max_response_bytes: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout: Duration::from_secs(20),
            max_attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(60),
            max_response_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Everything that shapes one connection's egress.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Base for relative request URLs (`https://www.zohoapis.eu/crm/v8`).
    pub base_url: Url,
    /// Hosts the connection may reach.
    pub allowed_hosts: AllowedHosts,
    /// Requests per minute, if limited.
    pub requests_per_minute: Option<u32>,
    /// At most this many requests in any second, evenly spaced.
    pub requests_per_second: Option<u32>,
    /// Requests in flight at once.
    pub concurrency: u32,
    pub settings: HttpSettings,
    /// Fixed name → address answers, checked like real DNS answers
    /// (tests use this to point an allowed name at a blocked address).
    pub dns_overrides: HashMap<String, Vec<IpAddr>>,
}
