//! `ferry plugins inspect <file.wasm> [--json]`: what a plugin says about
//! itself, without giving it any network; `ferry plugins new`: a connector
//! to start from.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::connector::Manifest;
use crate::plugin::{ConnectorInfo, Runtime, RuntimeOptions};

use super::{bundle, safe, scaffold};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Exercise a connector (describe, check, each module's first page, a
    /// record by id) and record its HTTP into a cassette, or replay one
    /// with no network and compare.
    Test(super::plugin_test::Args),
    /// Show a plugin's contract version, modules, fields, operations and actions.
    Inspect {
        /// The component file (`.wasm`), or a connector manifest (`.yaml`:
        /// its component, as the manifest configures it; for declarative
        /// connectors).
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Start a connector: its code, a manifest, a build script and unit
    /// tests, in `<dir>/<name>/`.
    New {
        /// The connector's name (`shop`, `acme-crm`).
        name: String,
        /// The language to write it in.
        #[arg(long, value_enum, required_unless_present = "declarative")]
        lang: Option<scaffold::Lang>,
        /// A declarative connector: a manifest whose `rest:` section Ferry's
        /// generic REST component runs, a replay test and a config test.
        #[arg(long, conflicts_with = "lang")]
        declarative: bool,
        /// The folder to make it in. In a Ferry checkout, `plugins` (Rust)
        /// or `plugins/python` (Python) gets it built by
        /// `scripts/build-plugins`.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The Ferry source checkout to build against (its SDKs and WIT
        /// contract); found above `--dir`, the working directory or this
        /// executable when not given.
        #[arg(long)]
        ferry_src: Option<PathBuf>,
    },
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Test(args) => super::plugin_test::run(args),
        Command::Inspect { file, json } => inspect(file, json),
        Command::New {
            name,
            lang,
            declarative,
            dir,
            ferry_src,
        } => new(scaffold::Scaffold {
            lang: match (declarative, lang) {
                (true, _) | (false, None) => scaffold::Lang::Declarative,
                (false, Some(lang)) => lang,
            },
            name,
            parent: dir,
            ferry_src,
        }),
    }
}

fn new(scaffold: scaffold::Scaffold) -> ExitCode {
    match scaffold.make() {
        Ok(made) => {
            println!("created {}", made.dir.display());
            for file in &made.files {
                let shown = file.strip_prefix(&made.dir).unwrap_or(file);
                println!("  {}", shown.display());
            }
            println!("\nnext:");
            for step in &made.next {
                println!("  {step}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_manifest(file: &std::path::Path) -> bool {
    matches!(
        file.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

fn inspect(file: PathBuf, json: bool) -> ExitCode {
    let result = (|| -> anyhow::Result<(ConnectorInfo, String, String)> {
        let runtime = Runtime::new(RuntimeOptions::default())?;
        // A manifest: its component, given what the manifest gives it (a
        // declarative connector's `rest:` section).
        let (component, settings) = if is_manifest(&file) {
            let manifest = Manifest::load(&file)?;
            let beside = file.parent().map(std::path::Path::to_path_buf);
            let component = beside
                .into_iter()
                .chain(bundle::plugin_dirs(None))
                .map(|dir| dir.join(&manifest.component))
                .find(|path| path.is_file())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: component `{}` not found beside it or among the carried ones",
                        file.display(),
                        manifest.component
                    )
                })?;
            (
                component,
                manifest.component_settings(serde_json::json!({})),
            )
        } else {
            (file.clone(), serde_json::json!({}))
        };
        let plugin = runtime.load(&component)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let info = rt
            .block_on(plugin.inspect_with(settings))
            .map_err(|e| anyhow::anyhow!("{}: `describe` failed: {e}", file.display()))?;
        Ok((
            info,
            plugin.sha256().to_string(),
            plugin.contract().to_string(),
        ))
    })();
    let (info, sha256, _contract) = match result {
        Ok(r) => r,
        Err(e) => {
            // A failed `describe` carries the plugin's own message.
            eprintln!("error: {}", safe::error(&e));
            return ExitCode::FAILURE;
        }
    };
    if json {
        let mut value = serde_json::to_value(&info).unwrap_or_default();
        value["sha256"] = sha256.into();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        print!("{}", render(&info, &sha256));
    }
    ExitCode::SUCCESS
}

/// The human-readable report. Every string the plugin wrote is made safe
/// for a terminal ([`safe::line`]).
pub fn render(info: &ConnectorInfo, sha256: &str) -> String {
    use safe::line;
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} — {}",
        line(&info.name),
        line(&info.version),
        line(&info.description)
    );
    let _ = writeln!(out, "contract  {}", line(&info.contract));
    let _ = writeln!(out, "sha256    {sha256}");
    for m in &info.modules {
        let ops: Vec<&str> = m.operations.iter().map(|o| o.as_str()).collect();
        let _ = writeln!(out, "\nmodule {} ({})", line(&m.name), line(&m.label));
        let _ = writeln!(out, "  id field     {}", line(&m.id_field));
        if let Some(f) = &m.modified_field {
            let _ = writeln!(out, "  modified     {}", line(f));
        }
        let _ = writeln!(out, "  operations   {}", ops.join(", "));
        let _ = writeln!(out, "  batch        up to {}", m.max_batch);
        if !m.actions.is_empty() {
            let _ = writeln!(out, "  actions");
            for a in &m.actions {
                let _ = writeln!(out, "    {:<20} {}", line(&a.name), line(&a.description));
            }
        }
        let _ = writeln!(out, "  fields");
        let width = m
            .fields
            .iter()
            .map(|f| line(&f.name).chars().count())
            .max()
            .unwrap_or(0);
        for f in &m.fields {
            let mut flags = Vec::new();
            if f.required {
                flags.push("required");
            }
            if f.read_only {
                flags.push("read-only");
            }
            if f.custom {
                flags.push("custom");
            }
            let kind = serde_json::to_value(f.kind)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let mut row = format!(
                "    {:<width$}  {:<14} {}",
                line(&f.name),
                kind,
                line(&f.label)
            );
            if !flags.is_empty() {
                row.push_str(&format!(" [{}]", flags.join(", ")));
            }
            if !f.picklist.is_empty() {
                let choices: Vec<_> = f.picklist.iter().map(|c| line(c)).collect();
                row.push_str(&format!(" one of: {}", choices.join(", ")));
            }
            if let Some(target) = &f.lookup_module {
                row.push_str(&format!(" → {}", line(target)));
            }
            let _ = writeln!(out, "{}", row.trim_end());
        }
    }
    out
}
