//! A workspace over in-memory fake vendors (`ferry::connector::fake`):
//! the engine's fast tests build their world here.

use std::sync::Arc;

use ferry::config::{LoadOptions, SecretMode, Workspace};
use ferry::connector::fake::{By, FakeVendor};
use ferry::connector::{Manifest, Vendor};
use ferry::install_key::InstallationKey;
use ferry::store::{BackendKind, EmbeddedStore, StateStore};
use ferry::sync::Env;

/// An opened workspace and the directory holding its file and state.
pub struct World {
    pub dir: tempfile::TempDir,
    pub env: Env,
}

/// The workspace `body` (everything after `connections:`) over these
/// vendors, one connection each, named as the vendor; a fresh state.
pub async fn world(body: &str, vendors: &[&FakeVendor], manifests: Vec<Manifest>) -> World {
    let vendors = vendors
        .iter()
        .map(|v| (v.name(), Arc::new((*v).clone()) as Arc<dyn Vendor>))
        .collect();
    world_with(body, vendors, manifests).await
}

/// [`world`] over any vendors, by connection name.
pub async fn world_with(
    body: &str,
    vendors: Vec<(&str, Arc<dyn Vendor>)>,
    manifests: Vec<Manifest>,
) -> World {
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = String::from("version: 1\nconnections:\n");
    for (name, _) in &vendors {
        yaml.push_str(&format!("  {name}:\n    connector: fake-{name}\n"));
    }
    yaml.push_str(body);
    let path = dir.path().join("workspace.yaml");
    std::fs::write(&path, yaml).unwrap();
    let ws = Workspace::load_with(
        &path,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .unwrap_or_else(|d| panic!("{}", d.render_short()));
    let key = Arc::new(InstallationKey::from_secret("k".into(), &[7; 32]));
    let store: Arc<dyn StateStore> = Arc::new(
        EmbeddedStore::open_with_key(&dir.path().join("state"), BackendKind::Redb, key).unwrap(),
    );
    let map = vendors
        .into_iter()
        .map(|(n, v)| (n.to_string(), v))
        .collect();
    let env = Env::with_vendors(ws, map, manifests, store).await;
    World { dir, env }
}

/// [`world`] with every vendor behind one [`Crash`](super::crash::Crash)
/// switch, for tests that kill runs at a vendor call.
pub async fn crashable_world(body: &str, vendors: &[&FakeVendor]) -> (World, super::crash::Crash) {
    let crash = super::crash::Crash::new();
    let wrapped = vendors
        .iter()
        .map(|v| {
            (
                v.name(),
                crash.wrap(Arc::new((*v).clone()) as Arc<dyn Vendor>),
            )
        })
        .collect();
    (world_with(body, wrapped, vec![]).await, crash)
}

/// A text field of a fake record (empty if absent).
pub fn text(r: &serde_json::Map<String, serde_json::Value>, f: &str) -> String {
    r.get(f)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Writes Ferry has made to these vendors so far.
pub fn writes_by_ferry(vendors: &[&FakeVendor]) -> usize {
    vendors
        .iter()
        .map(|v| v.writes().iter().filter(|x| x.by == By::Ferry).count())
        .sum()
}
