//! Where a command finds the workspace's connectors, plugins and state
//! (`RunArgs`, flattened into every command that opens them), and how it
//! opens them: the store, the service holding it, or every connection.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::config::{self, LoadOptions, SecretMode, Workspace};
use crate::connection::ConnectorRegistry;
use crate::plugin::{Runtime, RuntimeOptions};
use crate::store::postgres::PgOptions;
use crate::store::{self, BackendKind, EmbeddedStore};
use crate::sync::{Env, EnvOptions};

use super::bundle;
use super::safe;

/// Where a workspace's connectors, plugins and state are.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// The workspace file.
    #[arg(
        short = 'w',
        long = "workspace",
        env = "FERRY_WORKSPACE",
        default_value = "workspace.yaml"
    )]
    pub workspace: PathBuf,
    /// More connector manifests (`*.yaml`), beside the ones Ferry carries;
    /// one here overrides a carried one of the same name.
    #[arg(long, env = "FERRY_CONNECTORS")]
    pub connectors: Option<PathBuf>,
    /// More connector components (`*.wasm`), searched before the carried
    /// ones.
    #[arg(long, env = "FERRY_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// The workspace's state directory (links, cursors, history, tokens);
    /// `.ferry/` beside the workspace file by default.
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
    /// Where the state is: `redb` or `sled`, the engine of a new state
    /// directory (an existing one keeps its own), or a PostgreSQL URL
    /// (`postgres://user:pass@host/db`) shared by several Ferry processes,
    /// the workspace's state keyed by its file's name.
    #[arg(
        long = "store",
        env = "FERRY_STORE",
        default_value = "redb",
        value_parser = StoreChoice::parse
    )]
    pub engine: StoreChoice,
    /// Point every connection at a local Zoho sandbox at this URL instead
    /// of its data centre (trying a workspace without touching real data).
    #[arg(long, env = "FERRY_SANDBOX", value_name = "URL")]
    pub sandbox: Option<String>,
    /// Keep this state though the workspace now points a connection at
    /// another endpoint or organisation (the state remembers where each
    /// was first run, and refuses another without this).
    #[arg(long)]
    pub rebind: bool,
    /// Print what the command reports as JSON (runs with their ledger
    /// rows, links, tokens, status, history).
    #[arg(long)]
    pub json: bool,
    /// Use what connections described live less than this long ago (kept
    /// in the state) instead of describing them again on every run; `0s`
    /// describes them every time. A workspace edited since is described
    /// again, and one that does not validate against it is checked
    /// against a fresh describe.
    #[arg(long, env = "FERRY_SCHEMA_MAX_AGE", default_value = "24h", value_parser = humantime::parse_duration)]
    pub schema_max_age: std::time::Duration,
    /// Where compiled components are kept (the state directory's `cache`
    /// when unset): a cluster worker shares one among its workspaces.
    #[arg(skip)]
    pub component_cache: Option<PathBuf>,
}

impl RunArgs {
    /// The state directory: `--state`, else `.ferry/<name>/` beside the
    /// workspace file, `<name>` being the file's name without `.yaml`, so
    /// two workspaces in one folder never share links or cursors
    /// (`.ferry/<name>/sandbox/` with `--sandbox`, so trying a workspace on
    /// a sandbox never mixes with its real state). A state an older Ferry
    /// kept directly in `.ferry/` goes on being used, with a note.
    pub fn state_dir(&self) -> PathBuf {
        match &self.state {
            Some(state) => state.clone(),
            None => default_state_dir(&self.workspace, self.sandbox.is_some()),
        }
    }

    /// The state for commands that read it (or pause and resume): the
    /// store, or the running `ferry serve` that holds it.
    pub fn view(&self) -> anyhow::Result<Box<dyn super::view::StateView>> {
        super::view::open(&self.state_dir(), || self.open_store().map(Arc::new))
    }

    /// Open the state store only (no vendors reached).
    pub fn store(&self) -> anyhow::Result<Arc<EmbeddedStore>> {
        Ok(Arc::new(self.open_store()?))
    }

    fn open_store(&self) -> Result<EmbeddedStore, store::StoreError> {
        match &self.engine {
            StoreChoice::Engine(kind) => EmbeddedStore::open(&self.state_dir(), *kind),
            StoreChoice::Postgres(url) => EmbeddedStore::open_postgres(&PgOptions {
                url: url.clone(),
                workspace: self.workspace_key(),
                ttl: lease_ttl(),
            }),
        }
    }

    /// The name of the workspace's state in a shared store: its file's name
    /// without `.yaml` (`<name>/sandbox` with `--sandbox`, apart from its
    /// real state, as in a state directory).
    pub fn workspace_key(&self) -> String {
        let name = self
            .workspace
            .file_stem()
            .map_or_else(|| "workspace".into(), |s| s.to_string_lossy().into_owned());
        if self.sandbox.is_some() {
            format!("{name}/sandbox")
        } else {
            name
        }
    }

    /// The workspace, secrets unread (for commands that touch only state),
    /// which must define `name` as a sync or trigger rule.
    pub fn workspace_naming(&self, name: &str) -> anyhow::Result<Workspace> {
        let ws = Workspace::load_with(
            &self.workspace,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .map_err(|d| anyhow::anyhow!("{}", d.render_short()))?;
        if !ws.syncs.contains_key(name)
            && !ws.triggers.contains_key(name)
            && !ws.rollups.contains_key(name)
        {
            bail!(
                "no sync, trigger or rollup `{name}` in {}",
                self.workspace.display()
            );
        }
        Ok(ws)
    }

    /// Load and check the workspace with its secrets.
    pub fn workspace(&self) -> anyhow::Result<Workspace> {
        let mut ws = Workspace::load_with(
            &self.workspace,
            LoadOptions {
                secrets: SecretMode::Resolve,
            },
        )
        .map_err(|d| safe::Rendered(safe::diagnostics(&d, std::io::stderr().is_terminal())))?;
        self.point_at_sandbox(&mut ws)?;
        Ok(ws)
    }

    /// With `--sandbox`, point every connection of `ws` at it.
    pub fn point_at_sandbox(&self, ws: &mut Workspace) -> anyhow::Result<()> {
        if let Some(url) = &self.sandbox {
            url::Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .with_context(|| format!("`--sandbox {url}` is not an http(s) URL"))?;
            for c in ws.connections.values_mut() {
                // Credentials written for a data centre stay behind: the
                // sandbox's own test client is used instead.
                if !matches!(c.endpoint, config::Endpoint::Sandbox(_)) {
                    c.auth.clear();
                }
                c.endpoint =
                    config::Endpoint::Sandbox(config::Spanned::new(url.clone(), c.span.clone()));
            }
        }
        Ok(())
    }

    /// Open the workspace's connections and state.
    pub async fn env(&self) -> anyhow::Result<Env> {
        self.env_with(self.store()?).await
    }

    /// [`RunArgs::env`] on a store already open (a state has one opener).
    pub async fn env_with(&self, store: Arc<EmbeddedStore>) -> anyhow::Result<Env> {
        let mut env = self.open_env(store.clone(), false).await?;
        let mut diags = config::validate(&env.workspace, env.catalog());
        if diags.has_errors() && env.described_from_cache() {
            // The organisation may have changed since (a new custom field):
            // ask the connectors before refusing.
            drop(env);
            env = self.open_env(store, true).await?;
            diags = config::validate(&env.workspace, env.catalog());
        }
        if diags.has_errors() {
            // Names from the connectors' `describe` can be in the messages.
            return Err(
                safe::Rendered(safe::diagnostics(&diags, std::io::stderr().is_terminal())).into(),
            );
        }
        Ok(env)
    }

    /// Every connection opened and described live (and the description
    /// kept in the state), the workspace not yet checked against it.
    pub async fn env_unchecked(&self, store: Arc<EmbeddedStore>) -> anyhow::Result<Env> {
        self.open_env(store, true).await
    }

    /// Every connection opened; described live, or (`live` false) from
    /// what they described recently.
    async fn open_env(&self, store: Arc<EmbeddedStore>, live: bool) -> anyhow::Result<Env> {
        let workspace = self.workspace()?;
        store::binding::check(&store, &workspace, self.rebind)?;
        let runtime = Runtime::new(RuntimeOptions {
            cache_dir: Some(
                self.component_cache
                    .clone()
                    .unwrap_or_else(|| self.state_dir().join("cache")),
            ),
            key: None,
        })?;
        let registry = ConnectorRegistry::load_dirs(
            runtime,
            &bundle::manifest_dirs(self.connectors.as_deref()),
            &bundle::plugin_dirs(self.plugin_dir.as_deref()),
        )?;
        let described = if live {
            Default::default()
        } else {
            super::schema::recent(&self.state_dir(), &workspace, self.schema_max_age)
        };
        let cached: Vec<String> = described.keys().cloned().collect();
        let options = EnvOptions {
            described,
            pacer: store.shared_pacer(),
            metadata_dir: Some(super::schema::metadata_dir(&self.state_dir())),
            ..EnvOptions::default()
        };
        let env = Env::open(workspace, &registry, store, options).await?;
        // What was described live, for `validate`, `test`, `map` and the
        // next runs.
        let fresh: std::collections::BTreeMap<_, _> = env
            .catalog()
            .describes
            .iter()
            .filter(|(name, _)| !cached.contains(name))
            .map(|(name, info)| (name.clone(), info.clone()))
            .collect();
        if let Err(e) = super::schema::remember(&self.state_dir(), &fresh) {
            tracing::warn!("cannot keep the connectors' schema in the state: {e}");
        }
        Ok(env)
    }
}

/// Where the state is kept (`--store`).
#[derive(Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// A state directory, on this engine when new.
    Engine(BackendKind),
    /// A PostgreSQL database, by URL.
    Postgres(String),
}

impl Default for StoreChoice {
    fn default() -> Self {
        StoreChoice::Engine(BackendKind::default())
    }
}

impl std::fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreChoice::Engine(kind) => write!(f, "{}", kind.name()),
            // Never the password.
            StoreChoice::Postgres(url) => write!(f, "{}", store::postgres::redacted(url)),
        }
    }
}

impl StoreChoice {
    /// `redb`, `sled`, or a `postgres://` (`postgresql://`) URL.
    pub fn parse(text: &str) -> Result<StoreChoice, String> {
        match text {
            "redb" => Ok(StoreChoice::Engine(BackendKind::Redb)),
            "sled" => Ok(StoreChoice::Engine(BackendKind::Sled)),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(StoreChoice::Postgres(url.to_string()))
            }
            _ => Err("expected `redb`, `sled` or a `postgres://…` URL".into()),
        }
    }
}

/// How long a PostgreSQL lease lives unrenewed (`FERRY_LEASE_TTL`, 30s by
/// default): how long the workspace of a killed process stays held.
pub(super) fn lease_ttl() -> std::time::Duration {
    std::env::var("FERRY_LEASE_TTL")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .filter(|t| !t.is_zero())
        .unwrap_or(store::postgres::DEFAULT_TTL)
}

/// The connection `name` of `ws` (loaded from `path`), or an error naming
/// the ones it has.
pub fn connection_named<'w>(
    ws: &'w Workspace,
    name: &str,
    path: &Path,
) -> anyhow::Result<&'w config::Connection> {
    ws.connections.get(name).ok_or_else(|| {
        anyhow::anyhow!(
            "no connection `{name}` in {}; connections: {}",
            path.display(),
            ws.connections
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The state directory of `workspace` when `--state` is not given:
/// `.ferry/<name>/` beside the file (`.ferry/<name>/sandbox/` for runs on a
/// sandbox), or the `.ferry/` an older Ferry kept, with a note.
pub fn default_state_dir(workspace: &Path, sandbox: bool) -> PathBuf {
    let dot = workspace.parent().unwrap_or(Path::new(".")).join(".ferry");
    let name = workspace
        .file_stem()
        .map_or_else(|| "workspace".into(), |s| s.to_string_lossy().into_owned());
    let (own, legacy) = if sandbox {
        (dot.join(&name).join("sandbox"), dot.join("sandbox"))
    } else {
        (dot.join(&name), dot.clone())
    };
    if BackendKind::detect(&own).is_none() && BackendKind::detect(&legacy).is_some() {
        static NOTED: std::sync::Once = std::sync::Once::new();
        NOTED.call_once(|| {
            eprintln!(
                "note: using the state in {} (kept by an older Ferry for every workspace in the folder); move it to {} to keep it to {}",
                legacy.display(),
                own.display(),
                workspace.display()
            );
        });
        return legacy;
    }
    own
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_takes_an_engine_or_a_postgres_url_and_never_shows_its_password() {
        assert_eq!(
            StoreChoice::parse("sled"),
            Ok(StoreChoice::Engine(BackendKind::Sled))
        );
        assert_eq!(StoreChoice::parse("redb"), Ok(StoreChoice::default()));
        let url = "postgres://ferry:s3cret@db.internal:5433/ferry";
        let choice = StoreChoice::parse(url).unwrap();
        assert_eq!(choice, StoreChoice::Postgres(url.into()));
        let shown = format!("{choice:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("db.internal"),
            "{shown}"
        );
        assert!(StoreChoice::parse("postgresql://db/ferry").is_ok());
        assert!(StoreChoice::parse("mysql://db/ferry").is_err());
        assert!(StoreChoice::parse("postgres").is_err());
    }
}
