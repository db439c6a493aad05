//! Secrets: written in YAML as `env:NAME` or `file:path`, resolved at load,
//! never printed, never serialised.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where a secret comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Env(n) => write!(f, "env:{n}"),
            SecretRef::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

impl SecretRef {
    /// Parse `env:NAME` or `file:path` (relative to `base`).
    pub fn parse(text: &str, base: &Path) -> Result<SecretRef, String> {
        if let Some(name) = text.strip_prefix("env:") {
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{name}` is not an environment variable name"));
            }
            Ok(SecretRef::Env(name.to_owned()))
        } else if let Some(path) = text.strip_prefix("file:") {
            let path = path.trim();
            if path.is_empty() {
                return Err("`file:` needs a path".into());
            }
            Ok(SecretRef::File(base.join(path)))
        } else {
            Err("secrets are written as `env:NAME` or `file:path`, never inline".into())
        }
    }
}

/// A resolved (or deferred) secret from the workspace. The value is a
/// [`crate::secret::Secret`]: it prints as `***` and has no `Serialize`, so
/// it cannot be shown or written back by accident.
#[derive(Clone, Debug)]
pub struct Secret {
    reference: SecretRef,
    value: Option<crate::secret::Secret>,
}

impl Secret {
    /// A reference not yet read (`ferry test` and `ferry map` need none).
    pub fn deferred(reference: SecretRef) -> Secret {
        Secret {
            reference,
            value: None,
        }
    }

    /// Read the secret now.
    pub fn resolve(reference: SecretRef) -> Result<Secret, String> {
        let value = match &reference {
            SecretRef::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => v,
                Ok(_) => return Err(format!("environment variable `{name}` is empty")),
                Err(_) => return Err(format!("environment variable `{name}` is not set")),
            },
            SecretRef::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\n', '\r']).to_owned();
                    if v.is_empty() {
                        return Err(format!("secret file `{}` is empty", path.display()));
                    }
                    v
                }
                Err(e) => return Err(format!("cannot read secret file `{}`: {e}", path.display())),
            },
        };
        Ok(Secret {
            reference,
            value: Some(crate::secret::Secret::new(value)),
        })
    }

    /// Where the secret comes from (safe to show).
    pub fn reference(&self) -> &SecretRef {
        &self.reference
    }

    /// The secret itself, if resolved. Hand it only to the code that
    /// authenticates requests.
    pub fn expose(&self) -> Option<&str> {
        self.value.as_ref().map(crate::secret::Secret::expose)
    }

    /// The resolved value as the host's secret type, for capabilities.
    pub fn value(&self) -> Option<&crate::secret::Secret> {
        self.value.as_ref()
    }

    pub fn is_resolved(&self) -> bool {
        self.value.is_some()
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.reference == other.reference
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let dir = std::env::temp_dir().join(format!("ferry-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tok"), "s3cr3t\n").unwrap();
        let r = SecretRef::parse("file:tok", &dir).unwrap();
        let s = Secret::resolve(r).unwrap();
        assert_eq!(s.expose(), Some("s3cr3t"));
        assert_eq!(format!("{s}"), "***");
        let debug = format!("{s:?}");
        assert!(
            debug.contains("file:") && debug.contains("***") && !debug.contains("s3cr3t"),
            "{debug}"
        );
        assert!(SecretRef::parse("hunter2", &dir).is_err());
        assert!(Secret::resolve(SecretRef::Env("FERRY_SURELY_UNSET_VAR_X".into())).is_err());
    }
}
