//! The plugin runtime: one engine for the whole process, one epoch ticker,
//! the compiled-component cache, and loading with the contract and import
//! checks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{bulk_v0_1, jobs_v0_1, v0_1};
use super::cache::{ComponentCache, LoadSource};
use super::host_state::HostState;
use super::{Guest, Plugin};
use crate::install_key::InstallationKey;

/// How often the epoch advances: the granularity of time limits.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// WASI interfaces a component may import, and what it gets through each.
///
/// Toolchains link more of WASI than a connector uses: Rust's standard
/// library links stdio, exit, environment and random; componentize-py's
/// CPython links all of `wasi:cli/imports` (its libc references clocks,
/// files and sockets whether the Python code uses them or not). The host
/// accepts exactly those interfaces and grants nothing through them
/// (see `host_state`): stdout is discarded and stderr kept for error
/// messages, stdin is closed, the environment and arguments are empty,
/// both clocks stand still at zero, there is no directory to open a file
/// in, and every socket, bind, connect and name lookup is denied. Anything
/// else (`wasi:http`, other packages, other WASI versions) is refused at
/// load.
const ALLOWED_WASI: &[(&str, Grant)] = &[
    ("wasi:io/error", Grant::Real),
    ("wasi:io/streams", Grant::Real),
    ("wasi:io/poll", Grant::Real),
    ("wasi:cli/stdin", Grant::Nothing),
    ("wasi:cli/stdout", Grant::Nothing),
    ("wasi:cli/stderr", Grant::Real),
    ("wasi:cli/exit", Grant::Real),
    ("wasi:cli/environment", Grant::Nothing),
    ("wasi:cli/terminal-input", Grant::Nothing),
    ("wasi:cli/terminal-output", Grant::Nothing),
    ("wasi:cli/terminal-stdin", Grant::Nothing),
    ("wasi:cli/terminal-stdout", Grant::Nothing),
    ("wasi:cli/terminal-stderr", Grant::Nothing),
    ("wasi:random/random", Grant::Real),
    ("wasi:random/insecure", Grant::Real),
    ("wasi:random/insecure-seed", Grant::Real),
    ("wasi:clocks/wall-clock", Grant::Nothing),
    ("wasi:clocks/monotonic-clock", Grant::Nothing),
    ("wasi:filesystem/types", Grant::Nothing),
    ("wasi:filesystem/preopens", Grant::Nothing),
    ("wasi:sockets/network", Grant::Nothing),
    ("wasi:sockets/instance-network", Grant::Nothing),
    ("wasi:sockets/tcp", Grant::Nothing),
    ("wasi:sockets/tcp-create-socket", Grant::Nothing),
    ("wasi:sockets/udp", Grant::Nothing),
    ("wasi:sockets/udp-create-socket", Grant::Nothing),
    ("wasi:sockets/ip-name-lookup", Grant::Nothing),
];

/// What a plugin gets through an accepted WASI interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The interface works as specified: streams, exit, stderr (captured),
    /// random bytes.
    Real,
    /// The interface links but yields nothing: empty, closed, stopped or
    /// denied.
    Nothing,
}

/// The WASI 0.2 interfaces a component may import (any `0.2.x`), with
/// what it gets through each; everything else WASI offers is refused.
pub fn accepted_wasi() -> &'static [(&'static str, Grant)] {
    ALLOWED_WASI
}

/// Why a component was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read plugin {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a WebAssembly component: {reason}")]
    NotAComponent { path: PathBuf, reason: String },
    #[error(
        "{path} does not implement a Ferry connector: it exports no `ferry:connector/connector` interface (exports: {exports})"
    )]
    NotAConnector { path: PathBuf, exports: String },
    #[error(
        "{path} implements contract {found}, which this host does not support (supported: {supported})"
    )]
    UnsupportedContract {
        path: PathBuf,
        found: String,
        supported: String,
    },
    #[error("{path} imports what plugins may not use: {}", forbidden.iter().map(|(i, why)| format!("`{i}` ({why})")).collect::<Vec<_>>().join("; "))]
    ForbiddenImports {
        path: PathBuf,
        /// Each refused import with the reason.
        forbidden: Vec<(String, String)>,
    },
    #[error("cannot compile {path}: {message}")]
    Compile { path: PathBuf, message: String },
    #[error("cannot set up the plugin runtime: {0}")]
    Runtime(String),
}

/// Options of the runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// Directory for compiled components; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// The key authenticating cache entries; `None` uses this
    /// installation's ([`InstallationKey::installation`]).
    pub key: Option<Arc<InstallationKey>>,
}

/// The process-wide plugin runtime; cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<HostState>,
    cache: Option<ComponentCache>,
    loaded: Mutex<HashMap<String, Arc<Plugin>>>,
    ticker: Arc<Ticker>,
}

/// The thread that advances the engine's epoch. Every [`Plugin`] holds it,
/// so time limits hold for as long as anything can call a plugin, however
/// long the [`Runtime`] that loaded it lives; it stops with the last one.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let handle = self.handle.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(handle) = handle.take() {
            let _ = handle.join();
        }
    }
}

impl Runtime {
    /// Build the engine, linker, ticker and cache.
    pub fn new(options: RuntimeOptions) -> Result<Runtime, LoadError> {
        let rt = |e: wasmtime::Error| LoadError::Runtime(format!("{e:#}"));
        let engine = Engine::new(&engine_config()).map_err(rt)?;
        let mut linker = Linker::<HostState>::new(&engine);
        // All of WASI 0.2 is linked, each store with a context that grants
        // nothing (`HostState::new`); the import check at load keeps every
        // interface outside `ALLOWED_WASI` (`wasi:http`, …) out.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(rt)?;
        v0_1::Plugin::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(rt)?;
        bulk_v0_1::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).map_err(rt)?;
        let cache = match &options.cache_dir {
            Some(dir) => {
                let key = match options.key {
                    Some(key) => key,
                    None => InstallationKey::installation()
                        .map_err(|e| LoadError::Runtime(e.to_string()))?,
                };
                Some(ComponentCache::open(dir, &engine, key).map_err(|e| {
                    LoadError::Runtime(format!("cache directory {}: {e}", dir.display()))
                })?)
            }
            None => None,
        };
        let ticker = start_ticker(&engine);
        Ok(Runtime {
            inner: Arc::new(Inner {
                engine,
                linker,
                cache,
                loaded: Mutex::new(HashMap::new()),
                ticker: Arc::new(ticker),
            }),
        })
    }

    /// The shared engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Load a component file. Loading the same bytes twice returns the
    /// same plugin.
    pub fn load(&self, path: &Path) -> Result<Arc<Plugin>, LoadError> {
        let bytes = std::fs::read(path).map_err(|error| LoadError::Read {
            path: path.to_owned(),
            error,
        })?;
        self.load_bytes(path, &bytes)
    }

    /// Load a component from bytes; `path` names it in messages.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        let digest = hex::encode(Sha256::digest(bytes));
        if let Some(plugin) = self
            .inner
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return Ok(Arc::clone(plugin));
        }
        check_format(path, bytes)?;
        let started = Instant::now();
        let (component, source) = self.compile(path, bytes, &digest)?;
        let plugin =
            Arc::new(self.prepare(path, component, digest.clone(), source, started.elapsed())?);
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest, Arc::clone(&plugin));
        Ok(plugin)
    }

    fn compile(
        &self,
        path: &Path,
        bytes: &[u8],
        digest: &str,
    ) -> Result<(Component, LoadSource), LoadError> {
        let engine = &self.inner.engine;
        let result = match &self.inner.cache {
            Some(cache) => cache.load_or_compile(engine, bytes, digest),
            None => Component::new(engine, bytes).map(|c| (c, LoadSource::Compiled)),
        };
        result.map_err(|e| LoadError::Compile {
            path: path.to_owned(),
            message: format!("{e:#}"),
        })
    }

    fn prepare(
        &self,
        path: &Path,
        component: Component,
        digest: String,
        source: LoadSource,
        load_time: Duration,
    ) -> Result<Plugin, LoadError> {
        let engine = &self.inner.engine;
        let ty = component.component_type();
        let exports: Vec<String> = ty
            .exports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        let (contract_imports, contract) = if exports.iter().any(|e| e == v0_1::EXPORT) {
            (v0_1::IMPORTS, crate::plugin::CONTRACT_V0_1)
        } else if let Some(other) = exports
            .iter()
            .find(|e| e.starts_with("ferry:connector/connector@"))
        {
            return Err(LoadError::UnsupportedContract {
                path: path.to_owned(),
                found: other.replace("/connector@", "@"),
                supported: crate::plugin::CONTRACT_V0_1.to_string(),
            });
        } else {
            return Err(LoadError::NotAConnector {
                path: path.to_owned(),
                exports: exports.join(", "),
            });
        };
        let forbidden: Vec<(String, String)> = ty
            .imports(engine)
            .filter_map(|(import, _)| {
                check_import(import, contract_imports)
                    .err()
                    .map(|why| (import.to_string(), why))
            })
            .collect();
        if !forbidden.is_empty() {
            return Err(LoadError::ForbiddenImports {
                path: path.to_owned(),
                forbidden,
            });
        }
        let pre =
            self.inner
                .linker
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Compile {
                    path: path.to_owned(),
                    message: format!("{e:#}"),
                })?;
        let bad_exports = |e: wasmtime::Error| LoadError::Compile {
            path: path.to_owned(),
            message: format!("{e:#}"),
        };
        let connector = v0_1::PluginIndices::new(&pre).map_err(bad_exports)?;
        let jobs = if exports.iter().any(|e| e == jobs_v0_1::EXPORT) {
            Some(jobs_v0_1::JobsIndices::new(&pre).map_err(bad_exports)?)
        } else {
            None
        };
        let guest = Guest::V0_1 {
            pre: v0_1::PluginPre::new(pre).map_err(bad_exports)?,
            connector,
            jobs,
        };
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".into());
        Ok(Plugin::new(
            name,
            path.to_owned(),
            digest,
            contract,
            guest,
            self.inner.engine.clone(),
            Arc::clone(&self.inner.ticker),
            source,
            load_time,
        ))
    }
}

fn engine_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Deep recursion traps well before the host's own stack is at risk.
    config.max_wasm_stack(1024 * 1024);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    // Proposals plugins do not need stay off: less attack surface (threads,
    // GC and stack switching are not even compiled in).
    config.wasm_memory64(false);
    config
}

/// Advance the engine's epoch every tick until the [`Ticker`] is dropped.
fn start_ticker(engine: &Engine) -> Ticker {
    let weak = engine.weak();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name("ferry-epoch".into())
        .spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("can start the epoch thread");
    Ticker {
        stop,
        handle: Mutex::new(Some(handle)),
    }
}

/// Refuse what is not a component before handing bytes to the compiler;
/// precompiled artifacts are refused because loading them is unsafe.
fn check_format(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let not = |reason: &str| {
        Err(LoadError::NotAComponent {
            path: path.to_owned(),
            reason: reason.to_string(),
        })
    };
    if Engine::detect_precompiled(bytes).is_some() {
        return not(
            "it is a precompiled artifact (.cwasm); give the .wasm component, the host compiles and caches it",
        );
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return not("it does not start with the WebAssembly magic bytes");
    }
    match bytes[4..8] {
        [1, 0, 0, 0] => not(
            "it is a core WebAssembly module; build the plugin with `--target wasm32-wasip2` to get a component",
        ),
        [0x0d, 0, 1, 0] => Ok(()),
        _ => not("unknown WebAssembly version or layer"),
    }
}

/// Whether a component may import `name` (`wasi:cli/stderr@0.2.6`).
fn check_import(name: &str, contract: &[&str]) -> Result<(), String> {
    // Capabilities versioned apart from the contract, offered to every
    // plugin.
    if contract.contains(&name) || bulk_v0_1::IMPORTS.contains(&name) {
        return Ok(());
    }
    let (interface, version) = name.split_once('@').unwrap_or((name, ""));
    if interface.starts_with("wasi:") {
        if !version.starts_with("0.2.") {
            return Err(format!("only WASI 0.2 is supported, not `{version}`"));
        }
        if ALLOWED_WASI.iter().any(|(name, _)| *name == interface) {
            return Ok(());
        }
        let why = match interface.split('/').next().unwrap_or_default() {
            "wasi:http" => {
                "plugins send HTTP through the host's `ferry:connector/http`, which adds credentials and enforces the allowed hosts"
            }
            _ => "it is outside the connector contract",
        };
        return Err(why.to_string());
    }
    if interface.starts_with("ferry:connector/") {
        return Err(format!(
            "it is not part of the contract the plugin exports ({})",
            contract.join(", ")
        ));
    }
    if interface.starts_with("ferry:bulk/") {
        return Err(format!(
            "this host offers `{}`, not `{name}`",
            bulk_v0_1::IMPORTS.join("`, `")
        ));
    }
    Err("it is outside the connector contract; plugins may import only `ferry:connector/http`, `ferry:connector/log` and `ferry:bulk/download`".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_policy() {
        let c = v0_1::IMPORTS;
        assert!(check_import("ferry:connector/http@0.1.0", c).is_ok());
        assert!(check_import("wasi:cli/stderr@0.2.6", c).is_ok());
        assert!(check_import("wasi:io/streams@0.2.0", c).is_ok());
        // What componentize-py's CPython links, granted nothing.
        for inert in [
            "wasi:filesystem/preopens@0.2.9",
            "wasi:sockets/tcp-create-socket@0.2.9",
            "wasi:clocks/wall-clock@0.2.9",
        ] {
            assert!(check_import(inert, c).is_ok(), "{inert}");
        }
        assert!(
            check_import("wasi:http/outgoing-handler@0.2.6", c)
                .unwrap_err()
                .contains("ferry:connector/http")
        );
        assert!(check_import("wasi:keyvalue/store@0.2.0", c).is_err());
        assert!(check_import("wasi:filesystem/preopens@0.3.0", c).is_err());
        assert!(check_import("wasi:cli/stderr@0.3.0", c).is_err());
        assert!(check_import("ferry:connector/http@0.2.0", c).is_err());
        // The bulk download capability, at the version this host offers.
        assert!(check_import("ferry:bulk/download@0.1.0", c).is_ok());
        assert!(
            check_import("ferry:bulk/download@0.2.0", c)
                .unwrap_err()
                .contains("ferry:bulk/download@0.1.0")
        );
        assert!(check_import("acme:evil/steal@1.0.0", c).is_err());
    }

    #[test]
    fn format_checks() {
        let p = Path::new("x.wasm");
        assert!(matches!(
            check_format(p, b"hello world"),
            Err(LoadError::NotAComponent { .. })
        ));
        let core = [0, b'a', b's', b'm', 1, 0, 0, 0];
        let err = check_format(p, &core).unwrap_err().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");
        assert!(check_format(p, &[0, b'a', b's', b'm', 0x0d, 0, 1, 0]).is_ok());
    }
}
