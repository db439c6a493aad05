//! The plugin runtime: one wasmtime engine, a compiled-component cache,
//! per-call limits, and calls into connector components.

mod info;
mod manifest;

pub use info::{ActionInfo, ConnectorInfo, FieldInfo, FieldKind, ModuleInfo, Operation};
pub use manifest::{
    AuthScheme, DataCenter, Manifest, ManifestError, RateLimit, RefreshOn, SandboxEntry,
    SettingSpec,
};

/// The contract version this host implements.
pub const CONTRACT_V0_1: &str = "ferry:connector@0.1.0";
