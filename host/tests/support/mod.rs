//! Shared helpers for the plugin-host tests: built test plugins, and
//! connection capabilities pointed at loopback servers.
#![allow(dead_code)]

pub mod bench;
pub mod cluster;
pub mod crash;
pub mod fakes;
pub mod postgres;
pub mod served;
pub mod webdriver;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferry::capability::{
    AllowedHosts, Auth, Capabilities, HostPattern, HttpCapability, HttpConfig, HttpSettings,
};

/// Histories a model test plays: `PROPTEST_CASES`, else `default`.
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The standard output of `cmd`, which must exit 0 (else its errors).
pub fn stdout_of(cmd: &mut std::process::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The component of a Rust test plugin (`well_behaved`, `hostile`,
/// `fs_import`, `http_import`), building all guests once per test process
/// (a no-op when fresh).
pub fn plugin(name: &str) -> PathBuf {
    plugin_in(name, Lang::Rust)
}

/// The language a test plugin is written in. The well-behaved and hostile
/// plugins exist in both (`tests/plugins/<name>` and
/// `tests/plugins/python/<name>`), and their tests run against each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Python,
}

impl Lang {
    /// The file name of test plugin `name` in this language.
    pub fn component(self, name: &str) -> String {
        match self {
            Lang::Rust => format!("test_plugin_{name}.wasm"),
            Lang::Python => format!("test_plugin_{name}_py.wasm"),
        }
    }

    /// The plugin's name in messages (its file stem).
    pub fn plugin_name(self, name: &str) -> String {
        self.component(name).trim_end_matches(".wasm").to_string()
    }
}

/// The component of test plugin `name` in `lang`, building all guests once
/// per test process (a no-op when fresh).
pub fn plugin_in(name: &str, lang: Lang) -> PathBuf {
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
    repo_root()
        .join("target/plugins/wasm32-wasip2/plugin")
        .join(lang.component(name))
}

/// One test per language of the test plugins:
///
/// ```ignore
/// each_lang! {
///     #[tokio::test]
///     async fn inspect_works(lang) { let wasm = plugin_in("well_behaved", lang); … }
/// }
/// ```
///
/// makes `inspect_works::rust` and `inspect_works::python`.
#[macro_export]
macro_rules! each_lang {
    ($(#[$attr:meta])+ async fn $name:ident($lang:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn run($lang: $crate::support::Lang) $body
            $(#[$attr])+
            async fn rust() {
                run($crate::support::Lang::Rust).await
            }
            $(#[$attr])+
            async fn python() {
                run($crate::support::Lang::Python).await
            }
        }
    };
    ($(#[$attr:meta])+ fn $name:ident($lang:ident) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run($lang: $crate::support::Lang) $body
            $(#[$attr])+
            fn rust() {
                run($crate::support::Lang::Rust)
            }
            $(#[$attr])+
            fn python() {
                run($crate::support::Lang::Python)
            }
        }
    };
}

/// Capabilities for a connection whose base URL is `base`, allowed to
/// reach `allowed` host patterns.
/// [`capabilities`] whose credentials go to `credentialed` origins too.
#[allow(dead_code)] // not every test file uses it
pub fn capabilities_with(
    base: &str,
    allowed: &[&str],
    auth: Option<Arc<Auth>>,
    credentialed: &[url::Url],
) -> Arc<Capabilities> {
    capabilities_of(base, allowed, &[], auth, credentialed)
}

pub fn capabilities(
    base: &str,
    allowed: &[&str],
    dns: &[(&str, IpAddr)],
    auth: Option<Arc<Auth>>,
) -> Arc<Capabilities> {
    capabilities_of(base, allowed, dns, auth, &[])
}

fn capabilities_of(
    base: &str,
    allowed: &[&str],
    dns: &[(&str, IpAddr)],
    auth: Option<Arc<Auth>>,
    credentialed: &[url::Url],
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
            requests_per_second: None,
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
    .unwrap()
    .with_credentialed(credentialed);
    Capabilities::new("test-plugin", "test-connection", http)
}
