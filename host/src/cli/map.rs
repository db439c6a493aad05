//! `ferry map <sync|trigger|rollup> --input record.json`: what a sync or
//! trigger makes of a record, or the figures a rollup makes of a list of
//! child records, by parent.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value as Json;

use crate::config::{LoadOptions, SecretMode, Workspace};
use crate::mapping::{
    Context, LinkTable, Plan, RollupPlan, TriggerPlan, Way, expr::parse_datetime,
};

use super::safe;
use super::validate::WorkspaceArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The sync, trigger or rollup to apply.
    pub name: String,
    /// The source record: a JSON or YAML file, `-` for stdin. A list maps
    /// each element.
    #[arg(short, long)]
    pub input: PathBuf,
    /// Map the `to` → `from` way of a two-way sync.
    #[arg(long)]
    pub reverse: bool,
    /// Previous state of the record (triggers).
    #[arg(long)]
    pub previous: Option<PathBuf>,
    /// The current target record (`target` in expressions).
    #[arg(long)]
    pub target: Option<PathBuf>,
    /// A link, `sync:from_id=to_id`; repeatable.
    #[arg(long = "link", value_name = "SYNC:FROM=TO")]
    pub links: Vec<String>,
    /// `now` for expressions (RFC 3339); the current time otherwise.
    #[arg(long)]
    pub now: Option<String>,
    #[command(flatten)]
    pub ws: WorkspaceArgs,
}

fn read_value(path: &PathBuf) -> Result<Json, String> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?
    };
    serde_json::from_str(&text).or_else(|_| {
        serde_yaml::from_str(&text)
            .map_err(|e| format!("`{}` is neither JSON nor YAML: {e}", path.display()))
    })
}

fn parse_link(s: &str) -> Option<(&str, &str, &str)> {
    let (sync, rest) = s.split_once(':')?;
    let (a, b) = rest.split_once('=')?;
    Some((sync, a, b))
}

pub fn run(args: Args) -> ExitCode {
    match run_inner(&args) {
        Ok(code) => code,
        Err(msg) => {
            // Can quote the record and what connectors' `describe` says.
            eprintln!("{}", safe::text(&msg));
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: &Args) -> Result<ExitCode, String> {
    let mut ws = Workspace::load_with(
        &args.ws.workspace,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .map_err(|d| d.render(false))?;
    let (catalog, _) = args.ws.catalog(&ws, false);
    ws.fill_default_fields(&catalog);
    let input = read_value(&args.input)?;
    let previous = args.previous.as_ref().map(read_value).transpose()?;
    let target = args.target.as_ref().map(read_value).transpose()?;
    let mut links = LinkTable::default();
    for l in &args.links {
        let (sync, a, b) =
            parse_link(l).ok_or_else(|| format!("`--link {l}`: write `sync:from_id=to_id`"))?;
        links.insert(sync, a, b);
    }
    let mut ctx = Context::new(&links).with_target(target.as_ref());
    if let Some(n) = &args.now {
        ctx = ctx.at(parse_datetime(n).ok_or_else(|| format!("`--now {n}` is not a date-time"))?);
    }
    let records: Vec<&Json> = match &input {
        Json::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    let mut outputs = Vec::new();
    let mut failed = false;
    if ws.syncs.contains_key(&args.name) {
        let way = if args.reverse {
            Way::Reverse
        } else {
            Way::Forward
        };
        let plan =
            Plan::compile_way(&ws, &args.name, way, &catalog).map_err(|d| d.render(false))?;
        for (i, r) in records.iter().enumerate() {
            match plan.accepts(r, &ctx) {
                Ok(false) => {
                    eprintln!("record {i}: skipped by the view filter");
                    outputs.push(Json::Null);
                    continue;
                }
                Err(e) => {
                    eprintln!(
                        "record {i}: view filter failed: {}",
                        safe::text(&e.to_string())
                    );
                    failed = true;
                    outputs.push(Json::Null);
                    continue;
                }
                Ok(true) => {}
            }
            match plan.apply(r, &ctx) {
                Ok(v) => outputs.push(v),
                Err(e) => {
                    eprintln!("record {i}: {}", safe::text(&e.to_string()));
                    failed = true;
                    outputs.push(Json::Null);
                }
            }
        }
    } else if ws.triggers.contains_key(&args.name) {
        let plan = TriggerPlan::compile(&ws, &args.name, &catalog).map_err(|d| d.render(false))?;
        for (i, r) in records.iter().enumerate() {
            match plan.evaluate(r, previous.as_ref(), &ctx) {
                Ok(Some(a)) => outputs.push(a.to_json()),
                Ok(None) => {
                    eprintln!("record {i}: trigger `{}` does not fire", args.name);
                    outputs.push(Json::Null);
                }
                Err(e) => {
                    eprintln!("record {i}: {}", safe::text(&e.to_string()));
                    failed = true;
                    outputs.push(Json::Null);
                }
            }
        }
    } else if ws.rollups.contains_key(&args.name) {
        let plan = RollupPlan::compile(&ws, &args.name).map_err(|e| e.to_string())?;
        let records: Vec<Json> = records.into_iter().cloned().collect();
        let figures = plan
            .by_parent(&records, ctx.now)
            .map_err(|e| e.to_string())?;
        let out = Json::Object(
            figures
                .into_iter()
                .map(|(p, f)| (p, Json::Object(f)))
                .collect(),
        );
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(ExitCode::SUCCESS);
    } else {
        let names = ws
            .syncs
            .keys()
            .chain(ws.triggers.keys())
            .chain(ws.rollups.keys())
            .map(String::as_str);
        let hint = crate::config::did_you_mean(&args.name, names)
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Err(format!(
            "no sync, trigger or rollup `{}` in {}{hint}",
            args.name,
            ws.path.display()
        ));
    }
    let out = if matches!(input, Json::Array(_)) {
        Json::Array(outputs)
    } else {
        outputs.pop().unwrap_or(Json::Null)
    };
    if !out.is_null() {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
