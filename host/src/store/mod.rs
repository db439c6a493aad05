//! Ferry's state. For now: access tokens, so a restart reuses a valid
//! token instead of minting a new one (Zoho allows ten per refresh token
//! per ten minutes). Links, cursors, snapshots and history join this store.

use std::path::Path;

use crate::capability::{StoredToken, TokenStore};

/// Why the state store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store at {path}: {message}")]
    Open { path: String, message: String },
}

/// The sled-backed state store of one workspace (one directory).
#[derive(Clone)]
pub struct SledStore {
    tokens: sled::Tree,
}

impl SledStore {
    /// Open (creating) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        let fail = |e: sled::Error| StoreError::Open {
            path: dir.display().to_string(),
            message: e.to_string(),
        };
        let db = sled::open(dir).map_err(fail)?;
        Ok(SledStore {
            tokens: db.open_tree("tokens").map_err(fail)?,
        })
    }
}

impl TokenStore for SledStore {
    fn load(&self, connection: &str) -> Option<StoredToken> {
        let bytes = self.tokens.get(connection).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    fn save(&self, connection: &str, token: &StoredToken) -> Result<(), String> {
        let bytes = serde_json::to_vec(token).map_err(|e| e.to_string())?;
        self.tokens
            .insert(connection, bytes)
            .map_err(|e| e.to_string())?;
        // A token that is not durable would be minted again after a crash.
        self.tokens.flush().map_err(|e| e.to_string())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let token = StoredToken {
            access_token: "tok".into(),
            expires_at: 42,
            api_domain: None,
        };
        {
            let store = SledStore::open(dir.path()).unwrap();
            assert!(store.load("crm").is_none());
            store.save("crm", &token).unwrap();
        }
        let store = SledStore::open(dir.path()).unwrap();
        assert_eq!(store.load("crm"), Some(token));
        assert!(store.load("books").is_none());
    }
}
