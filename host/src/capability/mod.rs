//! What plugins may call: `http` (through the host's policy, credentials,
//! pacing and retries), `log`, and `download` (a vendor's export file, read
//! a slice at a time). Nothing else reaches a plugin.

pub mod auth;
pub mod cassette;
pub mod download;
pub mod grant;
pub mod http;
pub mod log;
pub mod metadata;
pub mod pacing;
pub mod policy;
mod ratelimit;
pub mod usage;

use std::sync::Arc;

pub use crate::store::{MemoryTokenStore, StoredToken, TokenStore};
pub use auth::{Auth, Grant, OAuth, OAuthConfig};
pub use http::{HttpCapability, HttpConfig, HttpError, HttpSettings};
pub use log::PluginLog;
pub use metadata::MetadataCache;
pub use pacing::{Pacer, SharedPacing};
pub use policy::{AllowedHosts, HostPattern};
pub use usage::{ApiUsage, UsageSaved, counting_calls};

/// The capabilities one connection's plugin calls use.
pub struct Capabilities {
    /// Plugin name, for messages.
    pub plugin: String,
    /// Connection name, for messages.
    pub connection: String,
    pub http: HttpCapability,
    pub log: Arc<PluginLog>,
    /// Export files downloaded through `http`, kept for the connection.
    pub downloads: download::Downloads,
}

impl Capabilities {
    /// Bundle a connection's capabilities.
    pub fn new(plugin: &str, connection: &str, http: HttpCapability) -> Arc<Capabilities> {
        http.usage().name(connection);
        Arc::new(Capabilities {
            plugin: plugin.to_string(),
            connection: connection.to_string(),
            http,
            log: Arc::new(PluginLog::for_connection(plugin, connection)),
            downloads: download::Downloads::default(),
        })
    }
}

/// rustls needs one process-wide crypto provider; ring builds quickly and
/// everywhere.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
