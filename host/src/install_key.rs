//! The installation key: 32 random bytes made on first use and kept
//! outside every state directory (`$FERRY_HOME`, else
//! `$XDG_CONFIG_HOME/ferry`, else `~/.config/ferry`), in a file only its
//! owner may read.
//!
//! Two keys are derived from it:
//! - one authenticates compiled components in the cache, so only native
//!   code this installation compiled is ever loaded (a `.cwasm` planted in a
//!   state directory shipped with a workspace repository is refused);
//! - one seals secrets at rest (OAuth access tokens, notification-channel
//!   tokens, API tokens) with ChaCha20-Poly1305, so a copied state file
//!   does not give them away.
//!
//! A state directory is therefore bound to the installation that wrote its
//! secrets: on another machine, sealed values read as absent and are made
//! again (a token is refreshed), never as garbage.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

/// The key file's name inside the key directory.
const KEY_FILE: &str = "installation.key";
/// Marks a sealed value (and its format version).
const SEALED: &[u8] = b"ferry-sealed-v1:";
const NONCE_LEN: usize = 12;
/// Length of a cache entry's authentication tag.
pub const TAG_LEN: usize = 32;

/// Why the installation key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("installation key {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "installation key {path} may be read by other users (mode {mode:o}); run `chmod 600 {path}` if no one else has read it, or delete it to make a new one"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("installation key {path} is not a key Ferry wrote ({message})")]
    Malformed { path: PathBuf, message: String },
}

/// The keys derived from one installation key.
pub struct InstallationKey {
    path: PathBuf,
    cache: hmac::Key,
    seal: LessSafeKey,
}

impl std::fmt::Debug for InstallationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallationKey")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl InstallationKey {
    /// Where the key lives unless told otherwise.
    pub fn default_dir() -> PathBuf {
        if let Some(home) = std::env::var_os("FERRY_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(home);
        }
        if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(config).join("ferry");
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config").join("ferry"),
            None => PathBuf::from(".ferry-home"),
        }
    }

    /// This installation's key, from [`InstallationKey::default_dir`];
    /// read (or made) once per process.
    pub fn installation() -> Result<Arc<InstallationKey>, KeyError> {
        static KEYS: OnceLock<Mutex<Vec<Arc<InstallationKey>>>> = OnceLock::new();
        let dir = Self::default_dir();
        let path = dir.join(KEY_FILE);
        let keys = KEYS.get_or_init(Default::default);
        let mut keys = keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(key) = keys.iter().find(|k| k.path == path) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(Self::load_or_create(&dir)?);
        keys.push(Arc::clone(&key));
        Ok(key)
    }

    /// The key in `dir`, made there (mode 0600, directory 0700) if absent.
    pub fn load_or_create(dir: &Path) -> Result<InstallationKey, KeyError> {
        let path = dir.join(KEY_FILE);
        let io = |e: std::io::Error| KeyError::Io {
            path: path.clone(),
            message: e.to_string(),
        };
        if !path.exists() {
            private_dir(dir).map_err(io)?;
            let mut bytes = [0u8; 32];
            SystemRandom::new()
                .fill(&mut bytes)
                .map_err(|_| io(std::io::Error::other("no system randomness")))?;
            // Written aside and linked into place: two processes starting
            // at once agree on one key, and none reads a half-written file.
            let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
            writeln!(tmp, "{}", hex::encode(bytes)).map_err(io)?;
            tmp.as_file().sync_all().map_err(io)?;
            if let Err(e) = tmp.persist_noclobber(&path)
                && e.error.kind() != std::io::ErrorKind::AlreadyExists
            {
                return Err(io(e.error));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map_err(io)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::TooOpen { path, mode });
            }
        }
        let text = std::fs::read_to_string(&path).map_err(io)?;
        let bytes = hex::decode(text.trim())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| KeyError::Malformed {
                path: path.clone(),
                message: "expected 64 hexadecimal digits".into(),
            })?;
        Ok(Self::from_secret(path, &bytes))
    }

    /// Derive the working keys (tests use a fixed secret).
    pub fn from_secret(path: PathBuf, secret: &[u8]) -> InstallationKey {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |purpose: &[u8]| hmac::sign(&root, purpose);
        let cache = hmac::Key::new(
            hmac::HMAC_SHA256,
            derive(b"ferry component cache v1").as_ref(),
        );
        let seal_bytes = derive(b"ferry secrets at rest v1");
        let seal = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, seal_bytes.as_ref()).expect("32-byte key"),
        );
        InstallationKey { path, cache, seal }
    }

    /// The key file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tag authenticating a cache entry: `name` binds it to the
    /// component and engine it was compiled for.
    pub fn cache_tag(&self, name: &str, artifact: &[u8]) -> [u8; TAG_LEN] {
        let mut ctx = hmac::Context::with_key(&self.cache);
        ctx.update(name.as_bytes());
        ctx.update(&[0]);
        ctx.update(artifact);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(ctx.sign().as_ref());
        tag
    }

    /// Whether `tag` authenticates `artifact` under `name` (constant time).
    pub fn cache_verify(&self, name: &str, artifact: &[u8], tag: &[u8]) -> bool {
        self.cache_tag(name, artifact).as_slice().ct_eq(tag).into()
    }

    /// Seal `plain` for storage; `context` (the value's key) must be given
    /// again to open it, so a sealed value cannot be moved to another key.
    pub fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("system randomness");
        let mut body = plain.to_vec();
        self.seal
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context),
                &mut body,
            )
            .expect("sealing cannot fail for in-memory sizes");
        let mut out = Vec::with_capacity(SEALED.len() + NONCE_LEN + body.len());
        out.extend_from_slice(SEALED);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        out
    }

    /// Open a stored value: sealed values are checked and decrypted
    /// (`None` if another key sealed them or they were altered); values
    /// written before sealing existed are returned as they are.
    pub fn open(&self, context: &[u8], stored: &[u8]) -> Option<Vec<u8>> {
        let Some(rest) = stored.strip_prefix(SEALED) else {
            return Some(stored.to_vec());
        };
        if rest.len() < NONCE_LEN + aead::MAX_TAG_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .seal
            .open_in_place(nonce, Aad::from(context), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }

    /// Whether `stored` is a sealed value.
    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(SEALED)
    }
}

/// Create `dir` (and parents) and make it private to its owner.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Make `file` readable by its owner only.
pub fn private_file(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> InstallationKey {
        InstallationKey::from_secret(PathBuf::from("test.key"), &[byte; 32])
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let k = key(1);
        let sealed = k.seal(b"crm", b"access-token");
        assert!(InstallationKey::is_sealed(&sealed));
        assert!(!sealed.windows(12).any(|w| w == b"access-token"));
        assert_eq!(k.open(b"crm", &sealed).unwrap(), b"access-token");
        assert_eq!(k.open(b"books", &sealed), None, "moved to another key");
        assert_eq!(key(2).open(b"crm", &sealed), None, "another installation");
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(k.open(b"crm", &altered), None);
        assert_eq!(k.open(b"crm", b"{\"plain\":1}").unwrap(), b"{\"plain\":1}");
        assert_ne!(k.seal(b"crm", b"x"), k.seal(b"crm", b"x"), "fresh nonce");
    }

    #[test]
    fn cache_tags_bind_name_and_bytes() {
        let k = key(1);
        let tag = k.cache_tag("abc-1.cwasm", b"native code");
        assert!(k.cache_verify("abc-1.cwasm", b"native code", &tag));
        assert!(!k.cache_verify("abd-1.cwasm", b"native code", &tag));
        assert!(!k.cache_verify("abc-1.cwasm", b"native codf", &tag));
        assert!(!key(2).cache_verify("abc-1.cwasm", b"native code", &tag));
        assert!(!k.cache_verify("abc-1.cwasm", b"native code", &tag[..31]));
    }

    #[test]
    fn the_key_file_is_made_once_private_and_refused_when_open() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("ferry");
        let a = InstallationKey::load_or_create(&home).unwrap();
        let b = InstallationKey::load_or_create(&home).unwrap();
        let sealed = a.seal(b"k", b"v");
        assert_eq!(b.open(b"k", &sealed).unwrap(), b"v", "same key on reload");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&home), 0o700);
            assert_eq!(mode(&home.join(KEY_FILE)), 0o600);
            std::fs::set_permissions(home.join(KEY_FILE), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            let err = InstallationKey::load_or_create(&home).unwrap_err();
            assert!(matches!(err, KeyError::TooOpen { .. }), "{err}");
        }
    }
}
