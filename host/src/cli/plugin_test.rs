//! `ferry plugins test <connector>`: exercise a connector the way a sync
//! reads it — describe, check, the first page of every readable module and
//! one record by id — against a sandbox (or a vendor), and keep what
//! happened. `--record` writes the HTTP exchanges and the outcome to a
//! cassette (secrets scrubbed); `--replay` runs the same exercise against
//! the cassette with no network and fails when the outcome differs, so a
//! connector's behaviour is tested again offline, in CI, after any change.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::capability::MemoryTokenStore;
use crate::capability::cassette::{Cassette, Exchange, Tape};
use crate::connection::{ConnectionSpec, ConnectorRegistry, TargetSpec};
use crate::connector::Operation;
use crate::plugin::{Connector, Runtime, RuntimeOptions};

use super::bundle;

/// Ids kept per module page: enough to notice a changed page.
const IDS_KEPT: usize = 5;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The connector (its manifest's `name`).
    pub connector: String,
    /// Write the run's HTTP exchanges and outcome to this cassette.
    #[arg(long, conflicts_with = "replay")]
    pub record: Option<PathBuf>,
    /// Run against this cassette, with no network, and compare outcomes.
    #[arg(long)]
    pub replay: Option<PathBuf>,
    /// The sandbox (or endpoint) to record against; the manifest's sandbox
    /// URL when not given.
    #[arg(long, value_name = "URL")]
    pub sandbox: Option<String>,
    /// A connection setting, `name=value` (repeatable).
    #[arg(long = "setting", value_name = "NAME=VALUE")]
    pub settings: Vec<String>,
    /// More connector manifests (`*.yaml`), beside the ones Ferry carries.
    #[arg(long, env = "FERRY_CONNECTORS")]
    pub connectors: Option<PathBuf>,
    /// More connector components (`*.wasm`), searched first.
    #[arg(long, env = "FERRY_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
}

/// A cassette file.
#[derive(Debug, Serialize, Deserialize)]
struct File {
    ferry_cassette: u32,
    connector: String,
    settings: BTreeMap<String, String>,
    outcome: Outcome,
    exchanges: Vec<Exchange>,
}

/// What the exercise saw, compared between a recording and its replay.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Outcome {
    /// `ok`, or the error.
    check: String,
    modules: BTreeMap<String, ModuleOutcome>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct ModuleOutcome {
    /// The first page's ids (the first few), or the error.
    first_page: Result<Vec<String>, String>,
    /// Whether another page followed.
    more: bool,
    /// The id a `get` of the first record returned, if the module has `get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    got: Option<Result<String, String>>,
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_inner(args: Args) -> anyhow::Result<ExitCode> {
    let (recorded, settings) = match &args.replay {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read cassette {}", path.display()))?;
            let file: File = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a Ferry cassette", path.display()))?;
            if file.connector != args.connector {
                bail!(
                    "{} was recorded for `{}`, not `{}`",
                    path.display(),
                    file.connector,
                    args.connector
                );
            }
            let settings = file.settings.clone();
            (Some(file), settings)
        }
        None => (None, parse_settings(&args.settings)?),
    };
    if args.record.is_none() && recorded.is_none() {
        bail!("say `--record <cassette>` or `--replay <cassette>`");
    }
    let runtime = Runtime::new(RuntimeOptions::default())?;
    let registry = ConnectorRegistry::load_dirs(
        runtime,
        &bundle::manifest_dirs(args.connectors.as_deref()),
        &bundle::plugin_dirs(args.plugin_dir.as_deref()),
    )?;
    let manifest = registry
        .manifest(&args.connector)
        .with_context(|| format!("no connector manifest named `{}`", args.connector))?;
    let cassette = Arc::new(match &recorded {
        Some(file) => Cassette::replaying(file.exchanges.clone()),
        // The sandbox client's values are test values, but scrubbed all the
        // same: a recording against a vendor uses the same path.
        None => Cassette::recording(
            manifest
                .sandbox
                .iter()
                .flat_map(|s| s.client.iter().flatten())
                .map(|(_, v)| v.clone())
                .collect(),
        ),
    });
    let mut spec = ConnectionSpec::new(
        "test",
        &args.connector,
        TargetSpec::Sandbox(args.sandbox.clone()),
    );
    spec.settings = Value::Object(
        settings
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    );
    spec.tape = Some(match recorded {
        Some(_) => Tape::Replay(Arc::clone(&cassette)),
        None => Tape::Record(Arc::clone(&cassette)),
    });
    let connector = registry.open(&spec, Arc::new(MemoryTokenStore::default()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(exercise(&connector))?;
    print_outcome(&outcome);

    match (&args.record, recorded) {
        (Some(path), _) => {
            let file = File {
                ferry_cassette: 1,
                connector: args.connector.clone(),
                settings,
                outcome,
                exchanges: cassette.exchanges(),
            };
            std::fs::write(path, serde_json::to_string_pretty(&file)? + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            println!(
                "recorded {} exchanges into {}",
                file.exchanges.len(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(file)) => {
            let unused = cassette.unused();
            if outcome == file.outcome && unused.is_empty() {
                println!("replayed {} exchanges: same outcome", file.exchanges.len());
                return Ok(ExitCode::SUCCESS);
            }
            if outcome != file.outcome {
                println!("\nthe outcome differs from the recording; recorded:");
                print_outcome(&file.outcome);
            }
            for e in &unused {
                println!("not requested this time: {} {}", e.method, e.url);
            }
            Ok(ExitCode::FAILURE)
        }
        (None, None) => unreachable!("checked above"),
    }
}

fn parse_settings(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .with_context(|| format!("`--setting {pair}`: write `name=value`"))
        })
        .collect()
}

async fn exercise(connector: &Connector) -> anyhow::Result<Outcome> {
    let info = connector.describe().await.context("describe failed")?;
    let mut outcome = Outcome {
        check: match connector.check().await {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        },
        ..Outcome::default()
    };
    for module in &info.modules {
        if !module.operations.contains(&Operation::Read) {
            continue;
        }
        let id_of = |r: &crate::connector::Record| {
            r.get(&module.id_field).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };
        let mut seen = ModuleOutcome {
            first_page: Ok(Vec::new()),
            more: false,
            got: None,
        };
        match connector.list(&module.name, None, None).await {
            Ok(page) => {
                seen.more = page.next_cursor.is_some();
                let ids: Vec<String> = page.records.iter().filter_map(&id_of).collect();
                // The contract does not declare `get`: a module without
                // one answers "unsupported", which is not a failure here.
                if let Some(first) = ids.first() {
                    seen.got = match connector.get(&module.name, first).await {
                        Ok(record) => Some(id_of(&record).ok_or_else(|| "no id".to_string())),
                        Err(e) if e.to_string().contains("unsupported") => None,
                        Err(e) => Some(Err(e.to_string())),
                    };
                }
                seen.first_page = Ok(ids.into_iter().take(IDS_KEPT).collect());
            }
            Err(e) => seen.first_page = Err(e.to_string()),
        }
        outcome.modules.insert(module.name.clone(), seen);
    }
    Ok(outcome)
}

fn print_outcome(outcome: &Outcome) {
    println!("check: {}", outcome.check);
    for (name, m) in &outcome.modules {
        let page = match &m.first_page {
            Ok(ids) => format!(
                "{} record(s){}{}",
                ids.len(),
                if ids.len() == IDS_KEPT {
                    " or more"
                } else {
                    ""
                },
                if m.more { ", more pages" } else { "" }
            ),
            Err(e) => format!("error: {e}"),
        };
        let got = match &m.got {
            Some(Ok(id)) => format!("; get {id}: ok"),
            Some(Err(e)) => format!("; get failed: {e}"),
            None => String::new(),
        };
        println!("  {name:<16} {page}{got}");
    }
}
