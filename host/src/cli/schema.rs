//! What the workspace commands (`validate`, `test`, `map`) know of each
//! connection's modules and fields, best first:
//!
//! 1. describe fixtures given with `--describe-dir` (Ferry's own tests);
//! 2. the state's schema cache: what the connection's connector described
//!    live — its organisation's custom fields and picklists included — on
//!    the last run or `ferry discover` (`<state>/schema/<connection>.json`,
//!    a plain file, so it can be read while `ferry serve` holds the store);
//! 3. the connector component's own `describe`, run offline (no
//!    connection, no network): its standard modules and fields.
//!
//! So config tests convert values as a run would, and the fixtures stay
//! test data.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::config::{StaticCatalog, Workspace};
use crate::connection::ConnectorRegistry;
use crate::connector::ConnectorInfo;
use crate::install_key::{private_dir, private_file};
use crate::plugin::{Runtime, RuntimeOptions};

use super::bundle;

/// The schema cache of the state in `state_dir`.
fn cache_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("schema")
}

/// Where connections' vendor metadata answers are kept, beside their
/// described schema (see `capability::metadata`).
pub fn metadata_dir(state_dir: &Path) -> PathBuf {
    cache_dir(state_dir).join("metadata")
}

/// Keep what each connection's connector described live.
pub fn remember(
    state_dir: &Path,
    describes: &BTreeMap<String, ConnectorInfo>,
) -> std::io::Result<()> {
    let dir = cache_dir(state_dir);
    private_dir(&dir)?;
    for (connection, info) in describes {
        let path = dir.join(format!("{connection}.json"));
        let partial = dir.join(format!("{connection}.json.new"));
        std::fs::write(
            &partial,
            serde_json::to_vec_pretty(info).expect("plain data"),
        )?;
        private_file(&partial)?;
        std::fs::rename(&partial, &path)?;
    }
    Ok(())
}

/// What the connections of `ws` described live less than `max_age` ago,
/// and since the workspace's files last changed (a connection's settings
/// decide what it describes: its modules, its create jobs), for a run to
/// use instead of describing them again.
pub fn recent(
    state_dir: &Path,
    ws: &Workspace,
    max_age: std::time::Duration,
) -> BTreeMap<String, ConnectorInfo> {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let edited = std::iter::once(ws.path.clone())
        .chain(ws.files.iter().map(|f| PathBuf::from(&f.name)))
        .filter_map(|p| modified(&p))
        .max();
    let mut out = BTreeMap::new();
    for name in ws.connections.keys() {
        let path = cache_dir(state_dir).join(format!("{name}.json"));
        let described = modified(&path);
        let age = described.and_then(|t| t.elapsed().ok());
        let current = match (described, edited) {
            (Some(described), Some(edited)) => described >= edited,
            _ => true,
        };
        if current
            && age.is_some_and(|age| age < max_age)
            && let Some(info) = remembered(state_dir, name)
        {
            out.insert(name.clone(), info);
        }
    }
    out
}

/// What `connection`'s connector last described live, if kept.
pub fn remembered(state_dir: &Path, connection: &str) -> Option<ConnectorInfo> {
    let text = std::fs::read(cache_dir(state_dir).join(format!("{connection}.json"))).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Connector components described offline, each once per process.
pub struct Components {
    plugin_dir: Option<PathBuf>,
    connectors: Option<PathBuf>,
    registry: Option<Option<ConnectorRegistry>>,
    described: HashMap<String, Option<ConnectorInfo>>,
}

impl Components {
    pub fn new(connectors: Option<&Path>, plugin_dir: Option<&Path>) -> Components {
        Components {
            plugin_dir: plugin_dir.map(Path::to_owned),
            connectors: connectors.map(Path::to_owned),
            registry: None,
            described: HashMap::new(),
        }
    }

    /// What `connector`'s component describes without a connection.
    /// `None` when it cannot be loaded (then field checks are skipped).
    pub fn describe(&mut self, connector: &str) -> Option<ConnectorInfo> {
        if let Some(known) = self.described.get(connector) {
            return known.clone();
        }
        let info = self.describe_now(connector);
        self.described.insert(connector.to_string(), info.clone());
        info
    }

    fn describe_now(&mut self, connector: &str) -> Option<ConnectorInfo> {
        let (connectors, plugin_dir) = (self.connectors.clone(), self.plugin_dir.clone());
        let registry = self
            .registry
            .get_or_insert_with(|| {
                let runtime = Runtime::new(RuntimeOptions::default()).ok()?;
                ConnectorRegistry::load_dirs(
                    runtime,
                    &bundle::manifest_dirs(connectors.as_deref()),
                    &bundle::plugin_dirs(plugin_dir.as_deref()),
                )
                .ok()
            })
            .as_ref()?;
        let plugin = registry.plugin(connector).ok()?;
        let settings = registry
            .manifest(connector)?
            .component_settings(serde_json::json!({}));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        match rt.block_on(plugin.inspect_with(settings)) {
            Ok(info) => Some(info),
            Err(e) => {
                tracing::warn!(connector, "describing the component offline: {e}");
                None
            }
        }
    }
}

/// Fill `catalog` with what is known of each connection of `ws` that has
/// no describe yet: the state's schema cache, else the component offline.
pub fn fill(
    catalog: &mut StaticCatalog,
    ws: &Workspace,
    state_dir: &Path,
    components: &mut Components,
) {
    for (name, connection) in &ws.connections {
        if catalog.describes.contains_key(name) {
            continue;
        }
        if let Some(info) = remembered(state_dir, name) {
            catalog.describes.insert(name.clone(), info);
        } else if let Some(info) = components.describe(&connection.connector.value) {
            catalog.describes.insert(name.clone(), info);
            catalog.standard_only.insert(name.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_described_schema_is_kept_privately_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let info = ConnectorInfo {
            name: "zoho-books".into(),
            version: "1".into(),
            description: String::new(),
            contract: "ferry:connector@0.1.0".into(),
            modules: Vec::new(),
        };
        let describes = BTreeMap::from([("books".to_string(), info.clone())]);
        remember(dir.path(), &describes).unwrap();
        assert_eq!(remembered(dir.path(), "books"), Some(info));
        assert_eq!(remembered(dir.path(), "crm"), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("schema/books.json"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
