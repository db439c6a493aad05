//! `ferry validate`: every problem of a workspace, or a summary of it.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::bundle;
use super::safe;
use super::schema;
use crate::config::{
    self, Action, Diagnostics, Direction, Endpoint, LoadOptions, Schedule, SecretMode,
    StaticCatalog, TargetRef, When, Workspace,
};

/// Options shared by the workspace commands.
#[derive(Debug, Clone, clap::Args)]
pub struct WorkspaceArgs {
    /// The workspace file.
    #[arg(
        short = 'w',
        long = "workspace",
        env = "FERRY_WORKSPACE",
        default_value = "workspace.yaml"
    )]
    pub workspace: PathBuf,
    /// Directory of connector describe fixtures (`<connection>.json` or
    /// `<connector>.json`), instead of what the connectors describe (for
    /// tests).
    #[arg(long, env = "FERRY_DESCRIBE_DIR")]
    pub describe_dir: Option<PathBuf>,
    /// More connector manifests (`*.yaml`), beside the ones Ferry carries.
    #[arg(long, env = "FERRY_CONNECTORS")]
    pub connectors: Option<PathBuf>,
    /// More connector components (`*.wasm`), searched before the carried
    /// ones.
    #[arg(long, env = "FERRY_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
    /// The workspace's state directory, whose schema cache (`ferry
    /// discover`, or any run) says what each connection's modules and
    /// fields are; `.ferry/<name>/` beside the workspace file by default.
    #[arg(long, env = "FERRY_STATE")]
    pub state: Option<PathBuf>,
}

impl WorkspaceArgs {
    /// The catalog the workspace is checked against: manifests, and the
    /// best describe known of each connection ([`schema`]).
    pub fn catalog(&self, ws: &Workspace, sandbox: bool) -> (StaticCatalog, Vec<String>) {
        let (mut catalog, problems) =
            catalog_for(ws, self.describe_dir.as_deref(), self.connectors.as_deref());
        if self.describe_dir.is_none() {
            let state = self
                .state
                .clone()
                .unwrap_or_else(|| super::sync::default_state_dir(&self.workspace, sandbox));
            let mut components =
                schema::Components::new(self.connectors.as_deref(), self.plugin_dir.as_deref());
            schema::fill(&mut catalog, ws, &state, &mut components);
        }
        (catalog, problems)
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub ws: WorkspaceArgs,
    /// Check secret references without reading them (no `env:` variables
    /// needed).
    #[arg(long)]
    pub no_secrets: bool,
    /// One line per problem (`file:line:col: error: message (hint)`).
    #[arg(long)]
    pub short: bool,
    /// Print `{ valid, problems: [{severity, message, location, hint}] }`.
    #[arg(long)]
    pub json: bool,
    /// Check against what the connections describe on a local Zoho
    /// sandbox at this URL (described live, and kept in the sandbox's own
    /// state).
    #[arg(long, value_name = "URL")]
    pub sandbox: Option<String>,
}

/// Build the catalog the workspace commands validate against. Problems
/// with fixture or manifest files come back as text.
pub fn catalog_for(
    ws: &Workspace,
    describe_dir: Option<&Path>,
    connectors: Option<&Path>,
) -> (StaticCatalog, Vec<String>) {
    let (mut cat, mut problems) = match describe_dir {
        Some(d) => {
            if !d.is_dir() {
                (
                    StaticCatalog::default(),
                    vec![format!(
                        "describe directory `{}` does not exist",
                        d.display()
                    )],
                )
            } else {
                StaticCatalog::from_describe_dir(d, ws)
            }
        }
        None => (StaticCatalog::default(), Vec::new()),
    };
    if let Some(dir) = connectors
        && !dir.is_dir()
    {
        problems.push(format!(
            "connectors directory `{}` does not exist",
            dir.display()
        ));
    }
    for dir in bundle::manifest_dirs(connectors) {
        problems.extend(cat.load_manifests(&dir));
    }
    (cat, problems)
}

/// Messages can quote what connectors' `describe` (or their fixtures)
/// say, so they are made safe for the terminal.
fn print_diags(d: &Diagnostics, short: bool) {
    if short {
        eprint!("{}", safe::text(&d.render_short()));
    } else {
        eprint!("{}", safe::diagnostics(d, std::io::stderr().is_terminal()));
    }
}

pub fn run(args: Args) -> ExitCode {
    let options = LoadOptions {
        secrets: if args.no_secrets {
            SecretMode::Defer
        } else {
            SecretMode::Resolve
        },
    };
    if let Some(why) = bundle::missing(args.ws.connectors.as_deref()) {
        eprintln!("error: {}", safe::text(&why));
        return ExitCode::FAILURE;
    }
    if let Some(url) = &args.sandbox
        && let Err(e) = describe_on_sandbox(&args.ws, url)
    {
        eprintln!("error: {}", safe::error(&e));
        return ExitCode::FAILURE;
    }
    // Load what can be loaded and validate that too: every problem in one pass.
    let (mut ws, _) = Workspace::load_partial(&args.ws.workspace, options);
    let (catalog, problems) = args.ws.catalog(&ws, args.sandbox.is_some());
    for p in &problems {
        eprintln!("warning: {}", safe::text(p));
    }
    ws.fill_default_fields(&catalog);
    let diags = config::validate(&ws, &catalog);
    if args.json {
        let problems: Vec<_> = diags.sorted().iter().map(|d| d.to_json()).collect();
        let valid = !diags.has_errors();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "valid": valid, "problems": problems })
            )
            .unwrap_or_default()
        );
        return if valid {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    print_diags(&diags, args.short);
    if diags.has_errors() {
        eprintln!(
            "{}: {} error(s); nothing was changed",
            args.ws.workspace.display(),
            diags.error_count()
        );
        return ExitCode::FAILURE;
    }
    print!("{}", safe::text(&summary(&ws)));
    ExitCode::SUCCESS
}

/// Describe every connection live on the sandbox at `url`, keeping what
/// they say in the sandbox's state for [`WorkspaceArgs::catalog`].
fn describe_on_sandbox(ws: &WorkspaceArgs, url: &str) -> anyhow::Result<()> {
    let args = super::sync::RunArgs {
        workspace: ws.workspace.clone(),
        connectors: ws.connectors.clone(),
        plugin_dir: ws.plugin_dir.clone(),
        state: ws.state.clone(),
        engine: Default::default(),
        sandbox: Some(url.to_string()),
        rebind: false,
        json: false,
        schema_max_age: std::time::Duration::ZERO,
        component_cache: None,
    };
    super::sync::runtime()?.block_on(async {
        let env = args.env_unchecked(args.store()?).await?;
        match env.broken().iter().next() {
            Some((connection, why)) => {
                anyhow::bail!("`{connection}` could not be described on {url}: {why}")
            }
            None => Ok(()),
        }
    })
}

/// What a valid workspace defines, for people.
pub fn summary(ws: &Workspace) -> String {
    let mut out = String::new();
    let files = ws.files.len();
    out.push_str(&format!(
        "{}: valid ({} file{})\n",
        ws.path.display(),
        files,
        if files == 1 { "" } else { "s" }
    ));
    out.push_str(&format!("connections ({}):\n", ws.connections.len()));
    for (name, c) in &ws.connections {
        let at = match &c.endpoint {
            Endpoint::DataCenter(dc) => format!("data centre {}", dc.value),
            Endpoint::Sandbox(u) => format!("sandbox {}", u.value),
            Endpoint::Default => "default endpoint".into(),
        };
        let secrets: Vec<String> = c
            .auth
            .iter()
            .map(|(k, s)| format!("{k}={:?}", s.value.reference()))
            .collect();
        out.push_str(&format!(
            "  {name:<16} {} ({at}){}\n",
            c.connector.value,
            if secrets.is_empty() {
                String::new()
            } else {
                format!("; auth {}", secrets.join(", "))
            }
        ));
    }
    out.push_str(&format!("syncs ({}):\n", ws.syncs.len()));
    for (name, s) in &ws.syncs {
        let arrow = if s.direction == Direction::TwoWay {
            "⇄"
        } else {
            "→"
        };
        let sched = match s.schedule.as_ref().map(|s| &s.value) {
            Some(Schedule::Every(d)) => format!("every {}", humantime::format_duration(*d)),
            Some(Schedule::Cron(c)) => format!("cron {c}"),
            Some(Schedule::Webhook) => "on webhook".into(),
            Some(Schedule::Manual) | None => "manual".into(),
        };
        let mut extra = String::new();
        if s.view.is_some() {
            extra.push_str(", filtered");
        }
        if !s.children.is_empty() {
            let names: Vec<&str> = s.children.iter().map(|c| c.name.value.as_str()).collect();
            extra.push_str(&format!(", children {}", names.join(", ")));
        }
        out.push_str(&format!(
            "  {name:<16} {} {arrow} {}  {} fields, {sched}{extra}\n",
            s.from,
            s.to,
            s.fields.len()
        ));
    }
    out.push_str(&format!("triggers ({}):\n", ws.triggers.len()));
    for (name, t) in &ws.triggers {
        let when = match &t.when {
            When::Becomes { field, value } => format!("{} becomes {value}", field.value),
            When::Changes { field, .. } => format!("{} changes", field.value),
            When::Created => "created".into(),
            When::Expr(e) => format!("`{}`", e.source()),
            When::Stage(o) => format!(
                "the stage is {}",
                match o.value {
                    crate::config::Outcome::Won => "won",
                    crate::config::Outcome::Lost => "lost",
                }
            ),
        };
        let target = |t: &TargetRef| match t {
            TargetRef::Linked(n) => format!("linked({})", n.value),
            TargetRef::Module { module, .. } => module.to_string(),
        };
        let action = match &t.action {
            Action::Create { module } => format!("create {module}"),
            Action::Update { target: tr } => format!("update {}", target(tr)),
            Action::Act {
                target: tr,
                actions,
                ..
            } => format!(
                "{} {}",
                actions
                    .iter()
                    .map(|a| a.value.as_str())
                    .collect::<Vec<_>>()
                    .join(" then "),
                target(tr)
            ),
        };
        out.push_str(&format!(
            "  {name:<16} on {} when {when} → {action}\n",
            t.on
        ));
    }
    if !ws.rollups.is_empty() {
        out.push_str(&format!("rollups ({}):\n", ws.rollups.len()));
    }
    for (name, r) in &ws.rollups {
        out.push_str(&format!(
            "  {name:<16} {} per {} → {} (through `{}`)  {} figures\n",
            r.from,
            r.parent.as_str(),
            r.to,
            r.link.value,
            r.fields.len()
        ));
    }
    out
}
