//! A workspace over in-memory fake vendors (`ferry::connector::fake`):
//! the engine's fast tests build their world here.

use std::sync::Arc;

use ferry::config::{LoadOptions, SecretMode, Workspace};
use ferry::connector::fake::FakeVendor;
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
