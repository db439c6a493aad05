//! A workspace ready to run: its connections opened, their connectors
//! described, and the state store at hand.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::capability::ApiUsage;
use crate::capability::{HttpSettings, TokenStore};
use crate::config::{ModuleRef, StaticCatalog, Workspace};
use crate::connection::{ConnectionSpec, ConnectorRegistry};
use crate::connector::Vendor;
use crate::engine::{Endpoint, EngineError};
use crate::store::StateStore;

/// Knobs for opening connections (tests shorten backoffs).
#[derive(Debug, Clone, Default)]
pub struct EnvOptions {
    /// HTTP settings for every connection; `None` keeps the defaults.
    pub http: Option<HttpSettings>,
    /// Fixed DNS answers for every connection (tests).
    pub dns_overrides: HashMap<String, Vec<IpAddr>>,
    /// What connections described recently, by connection: used instead
    /// of describing them again (a describe costs a finance connection
    /// one call per module).
    pub described: BTreeMap<String, crate::connector::ConnectorInfo>,
    /// Pace every connection's vendor account with the other processes
    /// sharing this (a cluster's store).
    pub pacer: Option<Arc<dyn crate::capability::Pacer>>,
    /// Where each connection's vendor metadata answers are kept between
    /// runs (in a folder named after it); used while its describe comes
    /// from `described`, dropped when it is described live.
    pub metadata_dir: Option<std::path::PathBuf>,
}

/// The workspace, its open connections and its state.
pub struct Env {
    pub workspace: Workspace,
    pub store: Arc<dyn StateStore>,
    connectors: BTreeMap<String, Arc<dyn Vendor>>,
    /// What each connection sent its vendor today (wasm connectors with
    /// network only).
    usage: BTreeMap<String, Arc<ApiUsage>>,
    catalog: StaticCatalog,
    /// Connections whose connector could not describe itself (credentials
    /// refused, vendor down), with why: what uses them fails with that
    /// reason, everything else runs.
    broken: BTreeMap<String, String>,
    running: Mutex<HashSet<String>>,
    /// Base currencies read so far, by connection.
    currencies: Mutex<HashMap<String, Option<String>>>,
    /// Fields known to be there, or added, by `new_field` mappings
    /// (connection, module, name): checked once per process.
    fields_added: Mutex<HashSet<(String, String, String)>>,
    /// Some describe came from [`EnvOptions::described`].
    from_cache: bool,
}

impl Env {
    /// Open every connection of `workspace` and describe its connector.
    pub async fn open<S>(
        workspace: Workspace,
        registry: &ConnectorRegistry,
        store: Arc<S>,
        options: EnvOptions,
    ) -> Result<Env, EngineError>
    where
        S: StateStore + TokenStore + 'static,
    {
        let mut vendors: BTreeMap<String, Arc<dyn Vendor>> = BTreeMap::new();
        let mut usage = BTreeMap::new();
        let mut manifests = Vec::new();
        for (name, connection) in &workspace.connections {
            let mut spec = ConnectionSpec::from_config(connection)?;
            if let Some(http) = &options.http {
                spec.http = http.clone();
            }
            spec.dns_overrides = options.dns_overrides.clone();
            spec.pacer = options.pacer.clone();
            spec.metadata = options
                .metadata_dir
                .as_ref()
                .map(|dir| (dir.join(name), options.described.contains_key(name)));
            let tokens: Arc<dyn TokenStore> = store.clone();
            let connector = registry.open(&spec, tokens)?;
            if let Some(u) = connector.api_usage() {
                usage.insert(name.clone(), u);
            }
            if let Some(manifest) = registry.manifest(&connection.connector.value) {
                manifests.push(manifest.clone());
            }
            vendors.insert(name.clone(), Arc::new(connector));
        }
        let mut env = Env::described(workspace, vendors, manifests, store, options.described).await;
        env.usage = usage;
        Ok(env)
    }

    /// The workspace over vendors already at hand (a test's fakes, or
    /// connectors opened by [`Env::open`]), each described once.
    /// `manifests` are the connectors' manifests, where they have one.
    pub async fn with_vendors(
        workspace: Workspace,
        vendors: BTreeMap<String, Arc<dyn Vendor>>,
        manifests: Vec<crate::connector::Manifest>,
        store: Arc<dyn StateStore>,
    ) -> Env {
        Env::described(workspace, vendors, manifests, store, BTreeMap::new()).await
    }

    /// [`Env::with_vendors`], taking what `described` says of a connection
    /// instead of describing it.
    async fn described(
        workspace: Workspace,
        vendors: BTreeMap<String, Arc<dyn Vendor>>,
        manifests: Vec<crate::connector::Manifest>,
        store: Arc<dyn StateStore>,
        mut described: BTreeMap<String, crate::connector::ConnectorInfo>,
    ) -> Env {
        let mut catalog = StaticCatalog::default();
        let mut broken = BTreeMap::new();
        for manifest in manifests {
            catalog.manifests.insert(manifest.name.clone(), manifest);
        }
        let mut from_cache = false;
        for (name, vendor) in &vendors {
            if let Some(info) = described.remove(name) {
                catalog.describes.insert(name.clone(), info);
                from_cache = true;
                continue;
            }
            match vendor.describe().await {
                Ok(info) => {
                    catalog.describes.insert(name.clone(), info);
                }
                Err(error) => {
                    let why = EngineError::Call {
                        connection: name.clone(),
                        call: "describe",
                        module: String::new(),
                        error: Box::new(error),
                    }
                    .to_string();
                    tracing::warn!(connection = name, "{why}; what uses it cannot run");
                    broken.insert(name.clone(), why);
                }
            }
        }
        let mut workspace = workspace;
        workspace.fill_default_fields(&catalog);
        Env {
            workspace,
            store,
            connectors: vendors,
            usage: BTreeMap::new(),
            catalog,
            broken,
            running: Mutex::new(HashSet::new()),
            currencies: Mutex::new(HashMap::new()),
            fields_added: Mutex::new(HashSet::new()),
            from_cache,
        }
    }

    /// Whether some connection's describe came from
    /// [`EnvOptions::described`] rather than from its connector now.
    pub fn described_from_cache(&self) -> bool {
        self.from_cache
    }

    /// What the connectors described, for compiling plans.
    pub fn catalog(&self) -> &StaticCatalog {
        &self.catalog
    }

    /// What `connection` sent its vendor today, if it counts.
    pub fn api_usage(&self, connection: &str) -> Option<Arc<ApiUsage>> {
        self.usage.get(connection).cloned()
    }

    /// The connector of `connection`.
    pub fn connector(&self, connection: &str) -> Result<&Arc<dyn Vendor>, EngineError> {
        self.connectors
            .get(connection)
            .ok_or_else(|| EngineError::Config {
                name: connection.to_string(),
                message: format!("no connection `{connection}`"),
            })
    }

    /// The base currency (ISO code) of `connection`'s organisation, when
    /// its manifest says where to read it; read once.
    pub async fn base_currency(&self, connection: &str) -> Result<Option<String>, EngineError> {
        if let Some(known) = self.currencies.lock().unwrap().get(connection) {
            return Ok(known.clone());
        }
        let spec = self
            .workspace
            .connector_of(connection)
            .and_then(|c| self.catalog.manifests.get(c))
            .and_then(|m| m.organization.clone());
        let currency = match spec {
            None => None,
            Some(spec) => {
                let page = self
                    .connector(connection)?
                    .list(&spec.module, None, None)
                    .await
                    .map_err(|e| EngineError::Call {
                        connection: connection.to_string(),
                        call: "list",
                        module: spec.module.clone(),
                        error: Box::new(e),
                    })?;
                page.records
                    .first()
                    .and_then(|org| org.get(&spec.currency))
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_owned)
            }
        };
        self.currencies
            .lock()
            .unwrap()
            .insert(connection.to_string(), currency.clone());
        Ok(currency)
    }

    /// Make sure `module` of `connection` has a field `name`, adding it as
    /// the connector's manifest says (`new_fields`) with the vendor's type
    /// for `ty` (a mapping's `type:`) when the vendor has none by that
    /// name. Looked up once per process.
    pub async fn ensure_field(
        &self,
        connection: &str,
        module: &str,
        name: &str,
        ty: &str,
    ) -> Result<(), EngineError> {
        let key = (connection.to_string(), module.to_string(), name.to_string());
        if self.fields_added.lock().unwrap().contains(&key) {
            return Ok(());
        }
        let config = |message: String| EngineError::Config {
            name: connection.to_string(),
            message,
        };
        let spec = self
            .workspace
            .connector_of(connection)
            .and_then(|c| self.catalog.manifests.get(c))
            .and_then(|m| m.new_fields.get(module).cloned())
            .ok_or_else(|| config(format!("`{module}` cannot have fields added")))?;
        let kind = spec
            .kinds
            .get(ty)
            .ok_or_else(|| config(format!("`{module}` cannot have a `{ty}` field added")))?;
        let vendor = self.connector(connection)?;
        let call_error = |call, e| EngineError::Call {
            connection: connection.to_string(),
            call,
            module: spec.module.clone(),
            error: Box::new(e),
        };
        let mut criteria = crate::connector::Record::new();
        criteria.insert(spec.name.clone(), name.into());
        let found = vendor
            .find(&spec.module, &criteria)
            .await
            .map_err(|e| call_error("find", e))?;
        if found.is_empty() {
            let mut field = criteria;
            field.insert(spec.kind.clone(), kind.as_str().into());
            let made = vendor
                .create(&spec.module, std::slice::from_ref(&field))
                .await
                .map_err(|e| call_error("create", e))?;
            match made.into_iter().next() {
                // Made meanwhile (another process, a person).
                Some(Ok(_)) | Some(Err(crate::connector::ConnectorError::Conflict(_))) => {}
                Some(Err(e)) => {
                    return Err(config(format!("adding field `{name}` to `{module}`: {e}")));
                }
                None => {
                    return Err(config(format!(
                        "adding field `{name}` to `{module}`: no answer"
                    )));
                }
            }
            tracing::info!(connection, module, field = name, kind = %kind, "field added");
        }
        self.fields_added.lock().unwrap().insert(key);
        Ok(())
    }

    /// Connections that could not be described, with why.
    pub fn broken(&self) -> &BTreeMap<String, String> {
        &self.broken
    }

    /// The endpoint `module` names.
    pub fn endpoint(&self, module: &ModuleRef) -> Result<Endpoint, EngineError> {
        if let Some(why) = self.broken.get(&module.connection) {
            return Err(EngineError::Config {
                name: module.to_string(),
                message: why.clone(),
            });
        }
        let connector = self.connector(&module.connection)?.clone();
        let info = self
            .catalog
            .describes
            .get(&module.connection)
            .and_then(|d| d.module(&module.module))
            .cloned()
            .ok_or_else(|| EngineError::Config {
                name: module.to_string(),
                message: format!(
                    "connector of `{}` has no module `{}`",
                    module.connection, module.module
                ),
            })?;
        let declared = self
            .workspace
            .connector_of(&module.connection)
            .and_then(|c| self.catalog.manifests.get(c))
            .and_then(|m| m.titles.get(&module.module));
        Ok(Endpoint {
            connection: module.connection.clone(),
            vendor: connector,
            title: super::endpoint::title_field(&info, declared),
            info,
        })
    }

    /// Mark `name` running; `None` if it already is. Dropping the guard
    /// clears the mark.
    pub fn claim(&self, name: &str) -> Option<RunGuard<'_>> {
        self.running
            .lock()
            .unwrap()
            .insert(name.to_string())
            .then(|| RunGuard {
                env: self,
                name: name.to_string(),
            })
    }

    /// Whether `name` is running now.
    pub fn is_running(&self, name: &str) -> bool {
        self.running.lock().unwrap().contains(name)
    }
}

/// A claim on a running sync or trigger (never two runs of one at once).
pub struct RunGuard<'a> {
    env: &'a Env,
    name: String,
}

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.env.running.lock().unwrap().remove(&self.name);
    }
}
