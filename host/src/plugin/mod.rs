//! The plugin runtime: one wasmtime engine, a compiled-component cache,
//! per-call limits, and calls into connector components.
//!
//! ```text
//! Runtime::load(file.wasm) ─► Plugin ─► Plugin::connect(capabilities, limits, settings) ─► Connector
//!                                                                        list/get/find/create/update/delete/act
//! ```

mod bindings;
mod cache;
mod call;
mod host_state;
mod limits;
mod runtime;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

pub use cache::LoadSource;
pub use call::Connector;
// What a connector is lives in `connector`; re-exported where plugins run.
pub use crate::connector::{
    ActionInfo, AuthScheme, CONTRACT_V0_1, CallError, ConnectorError, ConnectorInfo, DataCenter,
    DeletedPage, DeletedRecord, Endpoints, FieldInfo, FieldKind, FieldPairs, Limit, Limits,
    Manifest, ManifestError, ModuleInfo, NotificationChannels, Operation, OrganizationRecord, Page,
    RateLimit, Record, RefreshOn, SUPPORTED_CONTRACTS, SandboxClient, SandboxEntry, SettingSpec,
    StageTable, Target, WriteResult, human_bytes, parse_bytes,
};
pub use runtime::{Grant, LoadError, Runtime, RuntimeOptions, accepted_wasi};

use crate::capability::Capabilities;

/// A loaded, checked and prepared component.
pub struct Plugin {
    name: String,
    path: PathBuf,
    sha256: String,
    contract: &'static str,
    guest: Guest,
    engine: wasmtime::Engine,
    /// Kept alive by every plugin: without it no call would ever time out.
    _ticker: Arc<runtime::Ticker>,
    source: LoadSource,
    load_time: Duration,
}

/// The prepared instance factory, per contract version.
pub(crate) enum Guest {
    V0_1 {
        pre: bindings::v0_1::PluginPre<host_state::HostState>,
        /// Where the connector's exports are, for a call that also needs
        /// the create jobs (those instantiate the component themselves).
        connector: bindings::v0_1::PluginIndices,
        /// Where its `ferry:jobs` exports are, if it has them.
        jobs: Option<bindings::jobs_v0_1::JobsIndices>,
    },
}

impl Plugin {
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        path: PathBuf,
        sha256: String,
        contract: &'static str,
        guest: Guest,
        engine: wasmtime::Engine,
        ticker: Arc<runtime::Ticker>,
        source: LoadSource,
        load_time: Duration,
    ) -> Plugin {
        Plugin {
            name,
            path,
            sha256,
            contract,
            guest,
            engine,
            _ticker: ticker,
            source,
            load_time,
        }
    }

    /// Name for messages: the file stem (`zoho_crm`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// sha256 of the component bytes, hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The contract it implements (`ferry:connector@0.1.0`).
    pub fn contract(&self) -> &'static str {
        self.contract
    }

    /// Whether it was compiled or came from the cache, and how long that took.
    pub fn load_stats(&self) -> (LoadSource, Duration) {
        (self.source, self.load_time)
    }

    pub(crate) fn guest(&self) -> &Guest {
        &self.guest
    }

    /// Whether it exports create jobs (`ferry:jobs/write-jobs@0.1.0`).
    pub fn takes_create_jobs(&self) -> bool {
        match &self.guest {
            Guest::V0_1 { jobs, .. } => jobs.is_some(),
        }
    }

    pub(crate) fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    /// Bind the plugin to a connection. `capabilities: None` gives a
    /// connector with no network, for inspection.
    pub fn connect(
        self: &Arc<Self>,
        capabilities: Option<Arc<Capabilities>>,
        limits: Limits,
        settings: Value,
    ) -> Connector {
        Connector::new(Arc::clone(self), capabilities, limits, settings)
    }

    /// `describe` with empty settings and no network: what `ferry plugins
    /// inspect` shows.
    pub async fn inspect(self: &Arc<Self>) -> Result<ConnectorInfo, CallError> {
        self.inspect_with(Value::Object(Default::default())).await
    }

    /// `describe` with `settings` and no network (a declarative
    /// connector's component needs its manifest's `rest:` section).
    pub async fn inspect_with(
        self: &Arc<Self>,
        settings: Value,
    ) -> Result<ConnectorInfo, CallError> {
        self.connect(None, Limits::default(), settings)
            .describe()
            .await
    }
}
