//! The wire under the capability: a client that cannot be steered to a
//! blocked address, bodies saved to files, failed attempts told apart.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::{HttpConfig, HttpError};
use crate::capability::policy::blocked_reason;

/// Longest a download may take, body included (a page's request gets
/// `request_timeout`).
pub(super) const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Largest file a download writes.
const MAX_DOWNLOAD_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Where a successful answer's body goes.
#[derive(Clone, Copy)]
pub(super) enum Sink<'a> {
    Memory,
    File(&'a std::fs::File),
}

/// Write a response's body to `file`, from its start (a retried attempt
/// overwrites the last one's bytes).
pub(super) async fn save(
    response: &mut reqwest::Response,
    mut file: &std::fs::File,
) -> Result<(), Failure> {
    use std::io::{Seek, Write};
    let io = |e: std::io::Error| {
        Failure::Other(HttpError::Connection(format!(
            "cannot write the download: {e}"
        )))
    };
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    let mut written = 0u64;
    while let Some(chunk) = response.chunk().await.map_err(Failure::from_reqwest)? {
        written += chunk.len() as u64;
        if written > MAX_DOWNLOAD_BYTES {
            return Err(Failure::Other(HttpError::TooLarge(MAX_DOWNLOAD_BYTES)));
        }
        file.write_all(&chunk).map_err(io)?;
    }
    file.flush().map_err(io)
}

/// A failed attempt, before deciding whether to retry.
pub(super) enum Failure {
    Timeout(String),
    Connection(String),
    Other(HttpError),
}

impl Failure {
    pub(super) fn from_reqwest(e: reqwest::Error) -> Failure {
        let text = error_chain(&e);
        if text.contains("blocked address") {
            // The guarded resolver refused every address.
            return Failure::Other(HttpError::Denied(text));
        }
        if e.is_timeout() {
            Failure::Timeout(text)
        } else {
            Failure::Connection(text)
        }
    }

    pub(super) fn into_http_error(self) -> HttpError {
        match self {
            Failure::Timeout(m) => HttpError::Timeout(m),
            Failure::Connection(m) => HttpError::Connection(m),
            Failure::Other(e) => e,
        }
    }
}

pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// The reqwest client of one connection: no proxies (they would bypass the
/// address check), no redirects (a redirect could leave the allowed hosts),
/// and a resolver that drops blocked addresses.
pub(super) fn guarded_client(
    config: &HttpConfig,
    allow_loopback: bool,
) -> Result<reqwest::Client, HttpError> {
    crate::capability::install_crypto_provider();
    let resolver = GuardedResolver {
        overrides: config.dns_overrides.clone(),
        allow_loopback,
    };
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .dns_resolver(Arc::new(resolver))
        .user_agent(concat!("ferry/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| {
            HttpError::InvalidRequest(format!("cannot build HTTP client: {}", error_chain(&e)))
        })
}

/// Resolves names and refuses addresses the policy blocks, so an allowed
/// name that points inside the network is stopped after DNS.
struct GuardedResolver {
    overrides: HashMap<String, Vec<IpAddr>>,
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let fixed = self.overrides.get(&host).cloned();
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = match fixed {
                Some(ips) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let mut refused = Vec::new();
            let allowed: Vec<SocketAddr> = addrs
                .into_iter()
                .filter(|a| match blocked_reason(a.ip(), allow_loopback) {
                    Some(reason) => {
                        refused.push(format!("{} ({reason})", a.ip()));
                        false
                    }
                    None => true,
                })
                .collect();
            if allowed.is_empty() {
                let msg = if refused.is_empty() {
                    format!("`{host}` did not resolve")
                } else {
                    format!(
                        "`{host}` resolves only to blocked address(es): {}",
                        refused.join(", ")
                    )
                };
                return Err(
                    Box::new(BlockedAddress(msg)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[derive(Debug)]
struct BlockedAddress(String);

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "blocked address: {}", self.0)
    }
}

impl std::error::Error for BlockedAddress {}
