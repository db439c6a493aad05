//! API tokens of the admin API: a name, a role, and the SHA-256 of the
//! secret — the secret itself is shown once, when made, and never stored.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::store::postgres::ClusterMeta;
use crate::store::{EmbeddedStore, StoreError, unix_now};

/// What a token may do. Each role may do what the ones before it may.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read status, history, ledgers and metrics.
    Viewer,
    /// Also run, pause, resume, retry and preview.
    Operator,
    /// Also manage tokens and read the workspace's configuration.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub name: String,
    pub role: Role,
    /// SHA-256 of the secret, hex.
    pub sha256: String,
    pub created: u64,
}

/// Why a token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named `{0}` exists; revoke it first")]
    Exists(String),
    #[error("`{0}` is not a token name (letters, digits, `-` and `_`)")]
    BadName(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const PREFIX: &str = "token/";

/// Where tokens are kept: a workspace's store (its API), or the cluster's
/// table (`ferry cluster tokens`, for the workers' cluster view).
pub trait TokenShelf {
    fn token(&self, name: &str) -> Result<Option<Token>, StoreError>;
    fn tokens(&self) -> Result<Vec<Token>, StoreError>;
    /// Keep `token`; `false` when one of its name is kept already.
    fn put_new(&self, token: &Token) -> Result<bool, StoreError>;
    fn remove(&self, name: &str) -> Result<bool, StoreError>;
}

impl<T: TokenShelf + ?Sized> TokenShelf for std::sync::Arc<T> {
    fn token(&self, name: &str) -> Result<Option<Token>, StoreError> {
        (**self).token(name)
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        (**self).tokens()
    }

    fn put_new(&self, token: &Token) -> Result<bool, StoreError> {
        (**self).put_new(token)
    }

    fn remove(&self, name: &str) -> Result<bool, StoreError> {
        (**self).remove(name)
    }
}

impl TokenShelf for EmbeddedStore {
    fn token(&self, name: &str) -> Result<Option<Token>, StoreError> {
        self.meta_get::<Token>(&format!("{PREFIX}{name}"))
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        Ok(self
            .meta_scan::<Token>(PREFIX)?
            .into_iter()
            .map(|(_, t)| t)
            .collect())
    }

    fn put_new(&self, token: &Token) -> Result<bool, StoreError> {
        if self.token(&token.name)?.is_some() {
            return Ok(false);
        }
        self.meta_put(&format!("{PREFIX}{}", token.name), token)?;
        Ok(true)
    }

    fn remove(&self, name: &str) -> Result<bool, StoreError> {
        self.meta_remove(&format!("{PREFIX}{name}"))
    }
}

impl TokenShelf for ClusterMeta {
    fn token(&self, name: &str) -> Result<Option<Token>, StoreError> {
        self.get(&format!("{PREFIX}{name}"))?
            .map(token_of)
            .transpose()
    }

    fn tokens(&self) -> Result<Vec<Token>, StoreError> {
        self.scan(PREFIX)?
            .into_iter()
            .map(|(_, v)| token_of(v))
            .collect()
    }

    fn put_new(&self, token: &Token) -> Result<bool, StoreError> {
        let value = serde_json::to_value(token).map_err(|e| StoreError::Io(e.to_string()))?;
        self.insert(&format!("{PREFIX}{}", token.name), &value)
    }

    fn remove(&self, name: &str) -> Result<bool, StoreError> {
        ClusterMeta::remove(self, &format!("{PREFIX}{name}"))
    }
}

fn token_of(v: serde_json::Value) -> Result<Token, StoreError> {
    serde_json::from_value(v).map_err(|e| StoreError::Io(format!("a stored token: {e}")))
}

pub(crate) fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Make a token; returns the secret, which is not kept.
pub fn create(shelf: &impl TokenShelf, name: &str, role: Role) -> Result<String, TokenError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(TokenError::BadName(name.to_string()));
    }
    let secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect();
    let secret = format!("fry_{secret}");
    let token = Token {
        name: name.to_string(),
        role,
        sha256: digest(&secret),
        created: unix_now(),
    };
    if !shelf.put_new(&token)? {
        return Err(TokenError::Exists(name.to_string()));
    }
    Ok(secret)
}

/// Every token (without secrets).
pub fn list(shelf: &impl TokenShelf) -> Result<Vec<Token>, StoreError> {
    shelf.tokens()
}

/// Forget a token; `false` when there was none of that name.
pub fn revoke(shelf: &impl TokenShelf, name: &str) -> Result<bool, StoreError> {
    shelf.remove(name)
}

/// The token whose secret this is. Digests are compared in constant
/// time, and every stored token is compared (no early exit).
pub fn verify(shelf: &impl TokenShelf, secret: &str) -> Result<Option<Token>, StoreError> {
    let hash = digest(secret);
    let mut found = None;
    for t in shelf.tokens()? {
        if bool::from(t.sha256.as_bytes().ct_eq(hash.as_bytes())) && found.is_none() {
            found = Some(t);
        }
    }
    Ok(found)
}

/// Whether a secret a caller gave is the expected one, in time that
/// depends on neither (their SHA-256 digests are compared in constant
/// time, so not even the length leaks).
pub fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    Sha256::digest(expected)
        .as_slice()
        .ct_eq(Sha256::digest(given).as_slice())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BackendKind;

    #[test]
    fn a_token_verifies_by_its_secret_only_and_is_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path(), BackendKind::Redb).unwrap();
        let secret = create(&store, "ops", Role::Operator).unwrap();
        assert!(secret.starts_with("fry_"));
        let stored = list(&store).unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].sha256, secret);
        assert!(!format!("{stored:?}").contains(&secret[4..]));
        assert_eq!(
            verify(&store, &secret).unwrap().unwrap().role,
            Role::Operator
        );
        assert!(verify(&store, "fry_wrong").unwrap().is_none());
        assert!(matches!(
            create(&store, "ops", Role::Admin),
            Err(TokenError::Exists(_))
        ));
        assert!(revoke(&store, "ops").unwrap());
        assert!(verify(&store, &secret).unwrap().is_none());
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cret "));
        assert!(!same_secret(b"s3cret", b""));
        assert!(same_secret(b"", b""));
    }
}
