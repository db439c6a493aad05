//! `ferry plugins inspect <file.wasm> [--json]`: what a plugin says about
//! itself, without giving it any network.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::plugin::{ConnectorInfo, Runtime, RuntimeOptions};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show a plugin's contract version, modules, fields, operations and actions.
    Inspect {
        /// The component file (`.wasm`).
        file: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: Command) -> ExitCode {
    match command {
        Command::Inspect { file, json } => inspect(file, json),
    }
}

fn inspect(file: PathBuf, json: bool) -> ExitCode {
    let result = (|| -> anyhow::Result<(ConnectorInfo, String, String)> {
        let runtime = Runtime::new(RuntimeOptions::default())?;
        let plugin = runtime.load(&file)?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let info = rt
            .block_on(plugin.inspect())
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
            eprintln!("error: {e:#}");
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

/// The human-readable report.
pub fn render(info: &ConnectorInfo, sha256: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{} {} — {}", info.name, info.version, info.description);
    let _ = writeln!(out, "contract  {}", info.contract);
    let _ = writeln!(out, "sha256    {sha256}");
    for m in &info.modules {
        let ops: Vec<&str> = m.operations.iter().map(|o| o.as_str()).collect();
        let _ = writeln!(out, "\nmodule {} ({})", m.name, m.label);
        let _ = writeln!(out, "  id field     {}", m.id_field);
        if let Some(f) = &m.modified_field {
            let _ = writeln!(out, "  modified     {f}");
        }
        let _ = writeln!(out, "  operations   {}", ops.join(", "));
        let _ = writeln!(out, "  batch        up to {}", m.max_batch);
        if !m.actions.is_empty() {
            let _ = writeln!(out, "  actions");
            for a in &m.actions {
                let _ = writeln!(out, "    {:<20} {}", a.name, a.description);
            }
        }
        let _ = writeln!(out, "  fields");
        let width = m.fields.iter().map(|f| f.name.len()).max().unwrap_or(0);
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
            let mut line = format!("    {:<width$}  {:<14} {}", f.name, kind, f.label);
            if !flags.is_empty() {
                line.push_str(&format!(" [{}]", flags.join(", ")));
            }
            if !f.picklist.is_empty() {
                line.push_str(&format!(" one of: {}", f.picklist.join(", ")));
            }
            if let Some(target) = &f.lookup_module {
                line.push_str(&format!(" → {target}"));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}
