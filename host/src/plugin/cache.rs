//! Compiled components cached on disk, keyed by the component's sha256 and
//! the engine's compatibility hash.
//!
//! Loading native code is `unsafe`: a tampered artifact is arbitrary code
//! in the Ferry process. So each entry starts with an HMAC tag made with
//! the installation key (kept outside every state directory), over the
//! entry's name and bytes; an entry whose tag does not verify — planted in
//! a `.ferry/` folder shipped with a repository, altered, or written by
//! another installation — is reported, ignored and compiled afresh. A
//! user-supplied `.cwasm` is never accepted as a plugin either (see
//! `runtime`).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use crate::install_key::{InstallationKey, TAG_LEN};

/// The on-disk cache of compiled components.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
    key: Arc<InstallationKey>,
}

/// Where a component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled now (and written to the cache, when there is one).
    Compiled,
    /// Loaded from the cache.
    Cached,
}

impl ComponentCache {
    /// Open (creating) the cache directory; it is private to the user.
    pub(crate) fn open(
        dir: &Path,
        engine: &Engine,
        key: Arc<InstallationKey>,
    ) -> std::io::Result<ComponentCache> {
        crate::install_key::private_dir(dir)?;
        Ok(ComponentCache {
            dir: dir.to_owned(),
            engine_key: engine_key(engine),
            key,
        })
    }

    /// The compiled component for `wasm` (whose sha256 is `digest`),
    /// from the cache or compiled and stored.
    pub(crate) fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &str,
    ) -> wasmtime::Result<(Component, LoadSource)> {
        let name = format!("{digest}-{}.cwasm", self.engine_key);
        let path = self.dir.join(&name);
        if let Some(component) = self.load(engine, &name, &path) {
            return Ok((component, LoadSource::Cached));
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&path, &name, &compiled) {
            tracing::warn!(path = %path.display(), error = %e, "could not write component cache");
        }
        // SAFETY: these bytes were produced by this engine just now.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, LoadSource::Compiled))
    }

    /// The cached entry `name`, if present and authenticated.
    fn load(&self, engine: &Engine, name: &str, path: &Path) -> Option<Component> {
        let bytes = std::fs::read(path).ok()?;
        let authentic = bytes.len() > TAG_LEN && {
            let (tag, artifact) = bytes.split_at(TAG_LEN);
            self.key.cache_verify(name, artifact, tag)
        };
        if !authentic {
            tracing::warn!(
                path = %path.display(),
                "ignoring a compiled component this installation did not write (tampered, planted or from another machine); compiling the plugin again"
            );
            return None;
        }
        // SAFETY: the tag proves this installation wrote these bytes from
        // the engine's own output, for this component and engine
        // configuration; they are deserialised from the verified copy in
        // memory, so the file cannot change in between.
        match unsafe { Component::deserialize(engine, &bytes[TAG_LEN..]) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component");
                None
            }
        }
    }

    /// Write tag and artifact atomically: a crash never leaves a
    /// half-written entry.
    fn store(&self, path: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&self.key.cache_tag(name, bytes))?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A stable key for the engine's compilation settings (target, Cranelift
/// flags, tunables, wasmtime version). `precompile_compatibility_hash` only
/// offers `Hash`, so feed it to sha256 to get a key stable across runs.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0 // unused: the digest is read from the inner state
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
