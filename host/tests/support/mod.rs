//! Shared helpers for the plugin-host tests: built test plugins, and
//! connection capabilities pointed at loopback servers.
#![allow(dead_code)]

pub mod bench;
pub mod crash;
pub mod fakes;
pub mod served;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferry::capability::{
    AllowedHosts, Capabilities, HostPattern, HttpCapability, HttpConfig, HttpSettings, OAuth,
};

/// Histories a model test plays: `PROPTEST_CASES`, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The component of a test plugin (`well_behaved`, `hostile`, `fs_import`),
/// building all guests once per test process (a no-op when fresh).
pub fn plugin(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = std::process::Command::new(repo_root().join("scripts/build-plugins"))
            .env(
                "CARGO",
                std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
            )
            .status()
            .expect("run scripts/build-plugins");
        assert!(status.success(), "scripts/build-plugins failed");
    });
    repo_root().join(format!(
        "target/plugins/wasm32-wasip2/plugin/test_plugin_{name}.wasm"
    ))
}

/// Capabilities for a connection whose base URL is `base`, allowed to
/// reach `allowed` host patterns.
pub fn capabilities(
    base: &str,
    allowed: &[&str],
    dns: &[(&str, IpAddr)],
    auth: Option<Arc<OAuth>>,
) -> Arc<Capabilities> {
    let mut dns_overrides: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, ip) in dns {
        dns_overrides.entry(name.to_string()).or_default().push(*ip);
    }
    let http = HttpCapability::new(
        HttpConfig {
            base_url: base.parse().unwrap(),
            allowed_hosts: AllowedHosts::new(
                allowed.iter().map(|p| HostPattern::new(p)).collect(),
                None,
            ),
            requests_per_minute: None,
            concurrency: 4,
            settings: HttpSettings {
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                ..HttpSettings::default()
            },
            dns_overrides,
        },
        auth,
    )
    .unwrap();
    Capabilities::new("test-plugin", "test-connection", http)
}
