//! What validation knows about connectors: each connection's `describe`
//! output and each connector's manifest.
//!
//! The plugin runtime will provide a [`Catalog`] backed by real plugins; until
//! then, and in tests, [`StaticCatalog`] reads describe fixtures (JSON) and
//! manifests (YAML) from directories.

use std::collections::BTreeMap;
use std::path::Path;

use crate::connector::{ConnectorInfo, Manifest};

use super::model::Workspace;

/// Describe output and manifests, by connection and connector.
pub trait Catalog {
    /// What the connection's connector reported from `describe` (it may
    /// include the organisation's custom fields, hence per connection).
    /// `None`: unknown; field-level checks for that connection are skipped.
    fn describe(&self, connection: &str) -> Option<&ConnectorInfo>;

    /// The manifest of a connector. `None`: not known; manifest checks
    /// (data centres, settings) are skipped.
    fn manifest(&self, connector: &str) -> Option<&Manifest>;

    /// Whether manifests were loaded at all (so an unknown connector is an
    /// error rather than a gap in knowledge).
    fn has_manifests(&self) -> bool {
        false
    }

    /// Whether `connection`'s describe holds only its connector's standard
    /// modules and fields (described offline): an organisation's custom
    /// fields and modules are not in it, so names it lacks may still exist.
    fn standard_only(&self, _connection: &str) -> bool {
        false
    }
}

/// A catalog that knows nothing: only workspace-internal checks run.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyCatalog;

impl Catalog for EmptyCatalog {
    fn describe(&self, _connection: &str) -> Option<&ConnectorInfo> {
        None
    }
    fn manifest(&self, _connector: &str) -> Option<&Manifest> {
        None
    }
}

/// A catalog held in memory.
#[derive(Debug, Default, Clone)]
pub struct StaticCatalog {
    /// By connection name.
    pub describes: BTreeMap<String, ConnectorInfo>,
    /// By connector name.
    pub manifests: BTreeMap<String, Manifest>,
    /// Connections described offline (see [`Catalog::standard_only`]).
    pub standard_only: std::collections::BTreeSet<String>,
}

impl StaticCatalog {
    /// Describe fixtures from `dir` for the workspace's connections: for a
    /// connection `crm` using connector `zoho-crm`, `crm.json` if present,
    /// else `zoho-crm.json`. Returns the catalog and the problems met
    /// (unreadable or malformed fixture files).
    pub fn from_describe_dir(dir: &Path, ws: &Workspace) -> (StaticCatalog, Vec<String>) {
        let mut cat = StaticCatalog::default();
        let mut problems = Vec::new();
        for (name, conn) in &ws.connections {
            for file in [
                format!("{name}.json"),
                format!("{}.json", conn.connector.value),
            ] {
                let path = dir.join(&file);
                if !path.is_file() {
                    continue;
                }
                match std::fs::read_to_string(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| {
                        serde_json::from_str::<ConnectorInfo>(&t).map_err(|e| e.to_string())
                    }) {
                    Ok(info) => {
                        cat.describes.insert(name.clone(), info);
                    }
                    Err(e) => problems.push(format!("{}: {e}", path.display())),
                }
                break;
            }
        }
        (cat, problems)
    }

    /// Add every manifest in `dir` (`connectors/*.yaml`). Files that are not
    /// manifests (example workspaces live in a subdirectory) are skipped.
    pub fn load_manifests(&mut self, dir: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return problems;
        };
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .collect();
        paths.sort();
        for p in paths {
            match Manifest::load(&p) {
                Ok(m) => {
                    self.manifests.insert(m.name.clone(), m);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        problems
    }
}

impl Catalog for StaticCatalog {
    fn describe(&self, connection: &str) -> Option<&ConnectorInfo> {
        self.describes.get(connection)
    }

    fn manifest(&self, connector: &str) -> Option<&Manifest> {
        self.manifests.get(connector)
    }

    fn has_manifests(&self) -> bool {
        !self.manifests.is_empty()
    }

    fn standard_only(&self, connection: &str) -> bool {
        self.standard_only.contains(connection)
    }
}
