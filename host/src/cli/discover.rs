//! `ferry discover [<connection>…]`: describe each connection live — its
//! organisation's modules, fields, custom fields and picklists — and keep
//! what it says in the state, where `validate`, `test` and `map` read it.

use std::process::ExitCode;

use super::safe;
use super::sync::{RunArgs, exit, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub args: RunArgs,
    /// Connections to describe; all when none are named. With `--json`,
    /// one connection's describe is printed as a config test's `schema:`
    /// file holds it; several, by connection.
    pub connections: Vec<String>,
}

pub fn run(a: Args) -> ExitCode {
    exit(runtime().and_then(|rt| rt.block_on(discover(a))))
}

async fn discover(a: Args) -> anyhow::Result<ExitCode> {
    let env = a.args.env_unchecked(a.args.store()?).await?;
    let names: Vec<String> = if a.connections.is_empty() {
        env.workspace.connections.keys().cloned().collect()
    } else {
        a.connections.clone()
    };
    let mut failed = false;
    let mut out = serde_json::Map::new();
    for name in &names {
        super::sync::connection_named(&env.workspace, name, &a.args.workspace)?;
        if let Some(why) = env.broken().get(name) {
            eprintln!("{}: cannot describe: {}", safe::line(name), safe::text(why));
            failed = true;
            continue;
        }
        let Some(info) = env.catalog().describes.get(name) else {
            continue;
        };
        if a.args.json {
            out.insert(name.clone(), serde_json::to_value(info)?);
            continue;
        }
        let fields: usize = info.modules.iter().map(|m| m.fields.len()).sum();
        let custom: usize = info
            .modules
            .iter()
            .map(|m| m.fields.iter().filter(|f| f.custom).count())
            .sum();
        println!(
            "{} ({}): {} modules, {fields} fields ({custom} custom)",
            safe::line(name),
            safe::line(&info.name),
            info.modules.len()
        );
        for m in &info.modules {
            let custom: Vec<&str> = m
                .fields
                .iter()
                .filter(|f| f.custom)
                .map(|f| f.name.as_str())
                .collect();
            println!(
                "  {:<24} {:>4} fields{}",
                safe::line(&m.name),
                m.fields.len(),
                if custom.is_empty() {
                    String::new()
                } else {
                    format!("  custom: {}", safe::line(&custom.join(", ")))
                }
            );
        }
    }
    if a.args.json {
        let shown = match (a.connections.len(), out.values().next()) {
            (1, Some(one)) => one.clone(),
            _ => serde_json::Value::Object(out),
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        println!(
            "kept in {} (`ferry validate` and `ferry test` check against it)",
            a.args.state_dir().join("schema").display()
        );
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
