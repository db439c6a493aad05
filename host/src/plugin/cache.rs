//! Compiled components cached on disk, keyed by the component's sha256 and
//! the engine's compatibility hash. Only files this host wrote into its own
//! directory are ever deserialised: loading native code is `unsafe` because
//! a tampered artifact is arbitrary code, so a user-supplied `.cwasm` is
//! never accepted (see `runtime`).

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// The on-disk cache of compiled components.
pub(crate) struct ComponentCache {
    dir: PathBuf,
    engine_key: String,
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
    pub(crate) fn open(dir: &Path, engine: &Engine) -> std::io::Result<ComponentCache> {
        std::fs::create_dir_all(dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        Ok(ComponentCache {
            dir: dir.to_owned(),
            engine_key: engine_key(engine),
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
        let path = self.dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        if path.is_file() {
            // SAFETY: the file is in the host's private cache directory and
            // was written by `store` below from the engine's own output; its
            // name binds it to this component and this engine configuration.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, LoadSource::Cached)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cached component")
                }
            }
        }
        let compiled = engine.precompile_component(wasm)?;
        if let Err(e) = self.store(&path, &compiled) {
            tracing::warn!(path = %path.display(), error = %e, "could not write component cache");
        }
        // SAFETY: these bytes were produced by this engine just now.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, LoadSource::Compiled))
    }

    /// Write atomically: a crash never leaves a half-written artifact.
    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
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
