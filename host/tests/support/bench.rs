//! A workspace against the sandbox: its directory, secrets and state, the
//! real connector plugins, opened in this process or run as `ferry`.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use ferry::capability::HttpSettings;
use ferry::config::{LoadOptions, SecretMode, Workspace};
use ferry::connection::ConnectorRegistry;
use ferry::plugin::{Runtime, RuntimeOptions};
use ferry::store::{BackendKind, EmbeddedStore};
use ferry::sync::{Env, EnvOptions};
use zoho_sandbox::Sandbox;

pub const CRM: (&str, &str, Option<&str>) = ("crm", "zoho-crm", None);
pub const BOOKS: (&str, &str, Option<&str>) = ("books", "zoho-books", Some("10234695"));
#[allow(dead_code)] // not every test file uses it
pub const AP: (&str, &str, Option<&str>) = ("ap", "alternative-payments", None);
pub const BILLING: (&str, &str, Option<&str>) = ("billing", "zoho-billing", Some("30234695"));

/// A workspace directory with its secrets and state.
pub struct Bench {
    dir: tempfile::TempDir,
    connectors: PathBuf,
}

impl Bench {
    /// `connections` as (name, connector, organisation); `body` is the
    /// rest of the workspace (`syncs:`, `triggers:`). Pacing is off: the
    /// sandbox's own limits are off too.
    pub fn new(sb: &Sandbox, connections: &[(&str, &str, Option<&str>)], body: &str) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        let creds = sb.client_credentials();
        std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
        for (name, value) in [
            ("id", &creds.client_id),
            ("secret", &creds.client_secret),
            ("refresh", &creds.refresh_token),
        ] {
            std::fs::write(dir.path().join("secrets").join(name), value).unwrap();
        }
        let base = sb.base_url();
        let mut yaml = String::from("version: 1\nconnections:\n");
        for (name, connector, org) in connections {
            yaml.push_str(&format!(
                "  {name}:\n    connector: {connector}\n    sandbox: {base}\n"
            ));
            // Other vendors authenticate with the sandbox's own client for
            // them (their manifest's `sandbox.client`), and keep their
            // vendor's pacing, which the sandbox enforces.
            if connector.starts_with("zoho-") {
                yaml.push_str("    rate_limit: off\n    auth: { client_id: file:secrets/id, client_secret: file:secrets/secret, refresh_token: file:secrets/refresh }\n");
            }
            if let Some(org) = org {
                yaml.push_str(&format!("    settings: {{ organization_id: \"{org}\" }}\n"));
            }
        }
        yaml.push_str(body);
        std::fs::write(dir.path().join("workspace.yaml"), yaml).unwrap();
        Bench {
            dir,
            connectors: super::repo_root().join("connectors"),
        }
    }

    /// Give the connection of `connector` these settings (a flow mapping,
    /// `{ bulk_read_above: 5 }`); for connections without an organisation.
    #[allow(dead_code)] // not every test file uses it
    pub fn settings(self, connector: &str, settings: &str) -> Bench {
        let yaml = std::fs::read_to_string(self.workspace()).unwrap();
        let at = format!("connector: {connector}\n");
        assert!(yaml.contains(&at), "no connection of {connector}");
        let yaml = yaml.replacen(&at, &format!("{at}    settings: {settings}\n"), 1);
        std::fs::write(self.workspace(), yaml).unwrap();
        self
    }

    /// A workspace of this YAML over the manifests in `connectors`.
    pub fn custom(yaml: &str, connectors: PathBuf) -> Bench {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("workspace.yaml"), yaml).unwrap();
        Bench { dir, connectors }
    }

    /// The workspace's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    pub fn workspace(&self) -> PathBuf {
        self.dir.path().join("workspace.yaml")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn plugin_dir() -> PathBuf {
        super::plugin("well_behaved")
            .parent()
            .unwrap()
            .to_path_buf()
    }

    /// The workspace, opened in this process and validated against what
    /// the connectors describe.
    pub async fn env(&self) -> Env {
        let ws = Workspace::load_with(
            self.workspace(),
            LoadOptions {
                secrets: SecretMode::Resolve,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render_short()));
        let runtime = Runtime::new(RuntimeOptions::default()).unwrap();
        let registry = ConnectorRegistry::load(
            runtime,
            &super::repo_root().join("connectors"),
            &Bench::plugin_dir(),
        )
        .unwrap();
        let store = Arc::new(EmbeddedStore::open(&self.state(), BackendKind::default()).unwrap());
        let env = Env::open(
            ws,
            &registry,
            store,
            EnvOptions {
                http: Some(fast_http()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let diags = ferry::config::validate(&env.workspace, env.catalog());
        assert!(!diags.has_errors(), "{}", diags.render_short());
        env
    }

    /// `ferry <args>` on this workspace.
    pub fn ferry(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ferry"));
        cmd.args(args)
            .arg("--workspace")
            .arg(self.workspace())
            .arg("--connectors")
            .arg(&self.connectors)
            .arg("--plugin-dir")
            .arg(Bench::plugin_dir())
            .arg("--state")
            .arg(self.state())
            .env("RUST_LOG", "warn");
        cmd
    }

    /// `ferry <args>`, which must succeed; its output and errors.
    #[allow(dead_code)] // not every test file uses it
    pub fn ferry_ok(&self, args: &[&str]) -> String {
        let out = self.ferry(args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "ferry {args:?}: {text}");
        text
    }
}

/// Retries without long waits.
pub fn fast_http() -> HttpSettings {
    HttpSettings {
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        max_attempts: 8,
        ..HttpSettings::default()
    }
}

/// The records `GET /__sandbox/find/<what>` answers (`crm/Accounts?…`,
/// `invoice/<org>/contacts`): the sandbox's own view, as its API shows it.
#[allow(dead_code)] // not every test file uses it
pub async fn sandbox_find(sb: &Sandbox, what: &str) -> Vec<serde_json::Value> {
    let found: serde_json::Value = reqwest::get(format!("{}/__sandbox/find/{what}", sb.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    found["records"].as_array().cloned().unwrap_or_default()
}

/// Records in `product/org/resource` (sandbox counts).
pub fn count(sb: &Sandbox, key: &str) -> u64 {
    sb.counts().get(key).copied().unwrap_or(0) as u64
}

/// Alternative Payments customers in the sandbox.
#[allow(dead_code)] // not every test file uses it
pub fn ap_customers(sb: &Sandbox) -> Vec<serde_json::Value> {
    sb.app().ap_snapshot()["customers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many different e-mail addresses `customers` hold.
#[allow(dead_code)] // not every test file uses it
pub fn distinct_emails(customers: &[serde_json::Value]) -> usize {
    let mut emails: Vec<&str> = customers
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    emails.sort();
    emails.dedup();
    emails.len()
}
