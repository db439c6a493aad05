//! What a state was made against. Links, cursors and snapshots describe
//! records of one organisation at one endpoint; run against another, they
//! would pair records that have nothing to do with each other. The state
//! records, per connection, its connector, endpoint (data centre or
//! sandbox URL) and organisation the first time it runs, and a run whose
//! workspace points a connection elsewhere is refused.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{Endpoint, Workspace};

use super::{EmbeddedStore, StoreError};

/// Where one connection's records live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    pub connector: String,
    /// `data centre com`, `sandbox http://127.0.0.1:8900`, or `default
    /// data centre`.
    pub endpoint: String,
    /// The organisation setting (`organization_id`), when the connector
    /// takes one.
    pub organization: Option<String>,
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}", self.connector, self.endpoint)?;
        if let Some(org) = &self.organization {
            write!(f, ", organisation {org}")?;
        }
        Ok(())
    }
}

/// Connections whose state was made against another endpoint.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    #[error("{}", moved(.0, .1))]
    Moved(String, Vec<(String, Binding, Binding)>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn moved(state: &str, changes: &[(String, Binding, Binding)]) -> String {
    let mut text = format!("the state in {state} was made against other endpoints:");
    for (name, was, now) in changes {
        text.push_str(&format!(
            "\n  connection `{name}`: state made with {was}; the workspace now points it at {now}"
        ));
    }
    text.push_str(
        "\nIts links and cursors would pair unrelated records. Use a state of its own (`--state <dir>`), or, if it really is the same organisation, `--rebind` to keep this state for the new endpoint.",
    );
    text
}

/// Each connection's binding as the workspace describes it.
pub fn of_workspace(ws: &Workspace) -> BTreeMap<String, Binding> {
    ws.connections
        .iter()
        .map(|(name, c)| {
            let endpoint = match &c.endpoint {
                Endpoint::DataCenter(dc) => format!("data centre {}", dc.value),
                Endpoint::Sandbox(url) => format!("sandbox {}", url.value.trim_end_matches('/')),
                Endpoint::Default => "default data centre".to_string(),
            };
            let organization = c.settings.get("organization_id").map(|v| match &v.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            let binding = Binding {
                connector: c.connector.value.clone(),
                endpoint,
                organization,
            };
            (name.clone(), binding)
        })
        .collect()
}

const KEY: &str = "binding:";

/// Check `ws` against what `store` was made with, and record connections
/// seen for the first time. With `rebind`, record the workspace's
/// endpoints over the old ones instead of refusing.
pub fn check(store: &EmbeddedStore, ws: &Workspace, rebind: bool) -> Result<(), BindingError> {
    let mut changes = Vec::new();
    for (name, now) in of_workspace(ws) {
        let key = format!("{KEY}{name}");
        match store.meta_get::<Binding>(&key)? {
            Some(was) if was == now => {}
            Some(was) if !rebind => changes.push((name, was, now)),
            _ => store.meta_put(&key, &now)?,
        }
    }
    if changes.is_empty() {
        Ok(())
    } else {
        Err(BindingError::Moved(
            store.path().display().to_string(),
            changes,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, SecretMode};

    fn workspace(dir: &std::path::Path, endpoint: &str, org: &str) -> Workspace {
        let path = dir.join("workspace.yaml");
        std::fs::write(
            &path,
            format!(
                "version: 1\nconnections:\n  books:\n    connector: zoho-books\n    {endpoint}\n    settings: {{ organization_id: \"{org}\" }}\n"
            ),
        )
        .unwrap();
        Workspace::load_with(
            &path,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .unwrap()
    }

    #[test]
    fn a_state_refuses_another_endpoint_or_organisation_unless_rebound() {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(&dir.path().join("state"), Default::default()).unwrap();
        let first = workspace(dir.path(), "sandbox: http://127.0.0.1:9000", "1");
        check(&store, &first, false).unwrap();
        check(&store, &first, false).unwrap();

        for (endpoint, org) in [
            ("sandbox: http://127.0.0.1:9001", "1"),
            ("data_center: com", "1"),
            ("sandbox: http://127.0.0.1:9000", "2"),
        ] {
            let other = workspace(dir.path(), endpoint, org);
            let err = check(&store, &other, false).unwrap_err().to_string();
            assert!(
                err.contains("connection `books`") && err.contains("--state"),
                "{err}"
            );
        }
        // Rebinding is deliberate, and then the new endpoint is the one.
        let moved = workspace(dir.path(), "data_center: com", "1");
        check(&store, &moved, true).unwrap();
        check(&store, &moved, false).unwrap();
        assert!(check(&store, &first, false).is_err());
    }
}
