//! Where a connection's OAuth access token survives restarts: the
//! interface the HTTP capability uses, implemented by the state store
//! (sealed at rest) and in memory.

use serde::{Deserialize, Serialize};

/// An access token as persisted.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredToken {
    pub access_token: String,
    /// When to stop using it, in seconds since the Unix epoch (its expiry
    /// less a safety margin).
    pub expires_at: u64,
    /// API origin the accounts server named (`api_domain`), if any.
    #[serde(default)]
    pub api_domain: Option<String>,
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &"***")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Where access tokens survive restarts.
pub trait TokenStore: Send + Sync {
    /// The token saved for `connection`, if any.
    fn load(&self, connection: &str) -> Option<StoredToken>;
    /// Save (or replace) the token for `connection`.
    fn save(&self, connection: &str, token: &StoredToken) -> Result<(), String>;
}

/// A token store that forgets on exit (for `plugins inspect` and tests).
#[derive(Default)]
pub struct MemoryTokenStore(std::sync::Mutex<std::collections::HashMap<String, StoredToken>>);

impl TokenStore for MemoryTokenStore {
    fn load(&self, connection: &str) -> Option<StoredToken> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(connection)
            .cloned()
    }
    fn save(&self, connection: &str, token: &StoredToken) -> Result<(), String> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection.to_string(), token.clone());
        Ok(())
    }
}
