//! `ferry sync …` and `ferry history …`: run syncs, pause and resume them,
//! and read what they did.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::{LoadOptions, SecretMode, Workspace};
use crate::mapping::Side;
use crate::store::{Counts, LedgerFilter, LedgerRow, RunRecord, RunStatus, RunTrigger};
use crate::sync::{self, Progress, RunOptions};

use super::report::runs as report;
use super::safe;
use super::view::{Local, Running, in_use};

pub use super::args::{RunArgs, connection_named, default_state_dir};

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a sync now (both directions of a two-way sync), or a rollup.
    Run {
        #[command(flatten)]
        args: RunArgs,
        /// The sync.
        sync: String,
        /// Read everything, not only what changed since the last run.
        #[arg(long)]
        full: bool,
        /// Show what a run would do (create, update, link, skip); write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Sync only this source record, fetched fresh.
        #[arg(long)]
        record: Option<String>,
        /// Rollups: compute date-dependent figures (`today`) as of this
        /// instant (RFC 3339) instead of the clock's.
        #[arg(long, value_parser = parse_now)]
        now: Option<chrono::DateTime<chrono::FixedOffset>>,
    },
    /// Find source records and sync the chosen ones.
    Import {
        #[command(flatten)]
        args: RunArgs,
        sync: String,
        /// Text to look for in the first match key's source field, or
        /// `Field=value` criteria (repeatable).
        #[arg(long, required = true)]
        search: Vec<String>,
        /// Sync these of the numbered matches (`1,3`); without it, the
        /// matches are only listed.
        #[arg(long, value_delimiter = ',')]
        pick: Vec<usize>,
        /// Sync every match.
        #[arg(long)]
        all: bool,
    },
    /// Retry only the records that failed in the latest run with failures.
    Retry {
        #[command(flatten)]
        args: RunArgs,
        sync: String,
    },
    /// Stop a sync from starting (a running one finishes its run).
    Pause {
        #[command(flatten)]
        args: RunArgs,
        sync: String,
    },
    /// Let a paused sync run again.
    Resume {
        #[command(flatten)]
        args: RunArgs,
        sync: String,
    },
    /// Every sync: paused or not, and its latest run.
    Status {
        #[command(flatten)]
        args: RunArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub args: RunArgs,
    /// The sync (or trigger rule).
    pub sync: String,
    /// Show the ledger of this run instead of the list of runs.
    #[arg(long)]
    pub run: Option<u64>,
    /// Only skipped records.
    #[arg(long)]
    pub skipped: bool,
    /// Only failed records.
    #[arg(long)]
    pub failed: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Most runs or rows to show.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Rows to skip (paging through a ledger).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// `--now 2024-05-01T09:00:00Z`.
fn parse_now(s: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|e| format!("`{s}` is not an RFC 3339 instant ({e})"))
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

pub(crate) fn exit(result: anyhow::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(e) => {
            // Messages can quote plugins and vendors: made safe, lines kept.
            eprintln!("error: {}", safe::error(&e));
            ExitCode::FAILURE
        }
    }
}

pub fn run(command: Command) -> ExitCode {
    exit(runtime().and_then(|rt| rt.block_on(dispatch(command))))
}

async fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            args,
            sync: name,
            full,
            dry_run,
            record,
            now,
        } => {
            let env = match args.env().await {
                Err(e) if in_use(&e) => {
                    if dry_run || record.is_some() {
                        bail!(
                            "`ferry serve` holds this state: `--dry-run` and `--record` need it to themselves (the service previews with POST /v1/jobs/{name}/preview)"
                        );
                    }
                    let state = args.state_dir();
                    let service = Running::holding(&state, &state.display().to_string())?;
                    return match service
                        .run_now(std::slice::from_ref(&name), full)
                        .await?
                        .first()
                    {
                        Some(run) => report(&service, std::slice::from_ref(run), false, args.json),
                        None => {
                            println!("{name}: paused");
                            Ok(ExitCode::SUCCESS)
                        }
                    };
                }
                env => env?,
            };
            let bar = Bar::new();
            if env.workspace.rollups.contains_key(&name) {
                if record.is_some() {
                    bail!("`--record` syncs one record; a rollup reads its children as a whole");
                }
                let options = crate::rollup::RollupOptions {
                    full,
                    dry_run,
                    now,
                    ..Default::default()
                };
                let run = crate::rollup::run(&env, &name, &options).await?;
                bar.finish();
                return report(
                    &Local::of(&env),
                    std::slice::from_ref(&run),
                    dry_run,
                    args.json,
                );
            }
            if now.is_some() {
                bail!("`--now` is for rollups; `{name}` is a sync");
            }
            let run = match record {
                Some(id) => {
                    sync::run_records(
                        &env,
                        &name,
                        Side::From,
                        &[id],
                        RunTrigger::SingleRecord,
                        &bar,
                    )
                    .await?
                }
                None => {
                    let options = RunOptions {
                        full,
                        dry_run,
                        trigger: RunTrigger::Manual,
                        ..RunOptions::default()
                    };
                    sync::run(&env, &name, &options, &bar).await?
                }
            };
            bar.finish();
            report(
                &Local::of(&env),
                std::slice::from_ref(&run),
                dry_run,
                args.json,
            )
        }
        Command::Import {
            args,
            sync: name,
            search,
            pick,
            all,
        } => import(&args, &name, &search, &pick, all).await,
        Command::Retry { args, sync: name } => {
            let env = args.env().await?;
            let bar = Bar::new();
            let run = sync::retry(&env, &name, &bar).await?;
            bar.finish();
            match run {
                Some(run) => report(
                    &Local::of(&env),
                    std::slice::from_ref(&run),
                    false,
                    args.json,
                ),
                None => {
                    println!("{name}: no records are failing");
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Pause { args, sync: name } => set_paused(&args, &name, true),
        Command::Resume { args, sync: name } => set_paused(&args, &name, false),
        Command::Status { args } => status(&args, args.json),
    }
}

/// Pause or resume `name`: the flag is in the state store, so it holds
/// across restarts and for a running `ferry serve`.
pub fn set_paused(args: &RunArgs, name: &str, paused: bool) -> anyhow::Result<ExitCode> {
    args.workspace_naming(name)?;
    args.view()?.set_paused(name, paused)?;
    println!(
        "{name}: {}",
        if paused {
            "paused (a run in progress finishes first)"
        } else {
            "resumed"
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn status(args: &RunArgs, json: bool) -> anyhow::Result<ExitCode> {
    let workspace = Workspace::load_with(
        &args.workspace,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    )
    .map_err(|d| anyhow::anyhow!("{}", d.render_short()))?;
    let view = args.view()?;
    let mut rows = Vec::new();
    let mut lasts = Vec::new();
    let names = workspace
        .syncs
        .keys()
        .chain(workspace.triggers.keys())
        .chain(workspace.rollups.keys());
    for name in names {
        let last = view.runs(name, 1)?.into_iter().next();
        rows.push(serde_json::json!({
            "name": name,
            "kind": if workspace.syncs.contains_key(name) {
                "sync"
            } else if workspace.rollups.contains_key(name) {
                "rollup"
            } else {
                "trigger"
            },
            "paused": view.is_paused(name)?,
            "failing": view.failing(name)?,
            "last_run": last.as_ref().map(RunRecord::report),
        }));
        lasts.push(last);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<24} {:<8} {:<7} {:<8} {:<6} {:<24} counts",
        "name", "kind", "paused", "failing", "run", "status"
    );
    for (row, last) in rows.iter().zip(&lasts) {
        println!(
            "{:<24} {:<8} {:<7} {:<8} {:<6} {:<24} {}",
            safe::line(row["name"].as_str().unwrap_or("")),
            row["kind"].as_str().unwrap_or(""),
            if row["paused"] == true { "yes" } else { "no" },
            row["failing"].as_u64().unwrap_or(0),
            last.as_ref()
                .map(|r| format!("#{}", r.id))
                .unwrap_or_else(|| "-".into()),
            last.as_ref().map(|r| r.status.word()).unwrap_or("never"),
            last.as_ref()
                .map(|r| counts_line(&r.counts))
                .unwrap_or_default(),
        );
    }
    println!("\nstate: {}", view.place());
    Ok(ExitCode::SUCCESS)
}

async fn import(
    args: &RunArgs,
    name: &str,
    search: &[String],
    pick: &[usize],
    all: bool,
) -> anyhow::Result<ExitCode> {
    let env = args.env().await?;
    let Some(sync_config) = env.workspace.syncs.get(name) else {
        bail!("no sync `{name}` in {}", args.workspace.display());
    };
    let source = env.endpoint(&sync_config.from)?;
    let mut criteria = serde_json::Map::new();
    for term in search {
        match term.split_once('=') {
            Some((field, value)) => {
                criteria.insert(field.trim().to_string(), value.trim().into());
            }
            None => {
                let Some((field, _)) = sync_config.match_keys.first() else {
                    bail!("`--search {term}`: the sync has no match keys; write `Field=value`");
                };
                criteria.insert(field.value.as_str().to_string(), term.clone().into());
            }
        }
    }
    let found = source
        .vendor
        .find(source.module(), &criteria)
        .await
        .map_err(|e| anyhow::anyhow!("{}: find: {e}", source.connection))?;
    if found.is_empty() {
        println!("no {} record matches", sync_config.from);
        return Ok(ExitCode::SUCCESS);
    }
    let id_field = &source.info.id_field;
    let mut chosen = Vec::new();
    for (i, record) in found.iter().enumerate() {
        let id = record
            .get(id_field)
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default();
        let wanted = all || pick.contains(&(i + 1));
        println!(
            "{:>3}. {} {}{}",
            i + 1,
            safe::line(&id),
            safe::line(&summary_of(record, &criteria)),
            if wanted { "  ← sync" } else { "" }
        );
        if wanted {
            chosen.push(id);
        }
    }
    if chosen.is_empty() {
        println!("choose with `--pick 1,2` or `--all`");
        return Ok(ExitCode::SUCCESS);
    }
    let bar = Bar::new();
    let run = sync::run_records(
        &env,
        name,
        Side::From,
        &chosen,
        RunTrigger::SingleRecord,
        &bar,
    )
    .await?;
    bar.finish();
    report(
        &Local::of(&env),
        std::slice::from_ref(&run),
        false,
        args.json,
    )
}

fn summary_of(
    record: &serde_json::Map<String, serde_json::Value>,
    criteria: &serde_json::Map<String, serde_json::Value>,
) -> String {
    criteria
        .keys()
        .filter_map(|k| record.get(k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn counts_line(c: &Counts) -> String {
    format!(
        "read {} · added {} · updated {} · deleted {} · skipped {} · failed {} · unchanged {}{}",
        c.read,
        c.added,
        c.updated,
        c.deleted,
        c.skipped,
        c.failed,
        c.unchanged,
        if c.conflicts > 0 {
            format!(" · conflicts {}", c.conflicts)
        } else {
            String::new()
        }
    )
}

/// `name run #N: status — counts`.
pub(crate) fn run_line(run: &RunRecord) -> String {
    if run.status == RunStatus::DryRun {
        let c = &run.counts;
        let name = run.sync.strip_prefix("preview:").unwrap_or(&run.sync);
        return format!(
            "{} preview (nothing written): would add {} · update {} — read {} · skipped {} · failed {} · unchanged {}",
            safe::line(name),
            c.added,
            c.updated,
            c.read,
            c.skipped,
            c.failed,
            c.unchanged
        );
    }
    format!(
        "{} run #{}: {} — {}",
        safe::line(&run.sync),
        run.id,
        run.status.word(),
        counts_line(&run.counts)
    )
}

pub(crate) fn ledger_line(row: &LedgerRow) -> String {
    // Records' names first, for people; their ids beside them.
    let named = |title: Option<&String>, id: &str| match title {
        Some(title) => format!("{} [{}]", safe::line(title), safe::line(id)),
        None => safe::line(id).into_owned(),
    };
    format!(
        "{:<9} {} → {}{}",
        serde_json::to_value(row.op)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        named(row.title.as_ref(), &row.source_id),
        row.target_id
            .as_deref()
            .map_or("-".into(), |id| named(row.target_title.as_ref(), id)),
        row.reason
            .as_deref()
            .map(|r| format!("  ({})", safe::line(r)))
            .unwrap_or_default()
    )
}

/// When a run started, to the second, in UTC.
fn started_at(unix: u64) -> String {
    chrono::DateTime::from_timestamp(unix as i64, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// A run's length for people: `42s`, `3m05s`, `2h10m`.
fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

/// `ferry history`.
pub fn history(h: HistoryArgs) -> ExitCode {
    exit((|| {
        let store = h.args.view()?;
        let format = if h.args.json { Format::Json } else { h.format };
        match h.run {
            None => {
                let runs = store.runs(&h.sync, h.limit)?;
                match format {
                    Format::Json => {
                        let runs: Vec<_> = runs.iter().map(RunRecord::report).collect();
                        println!("{}", serde_json::to_string_pretty(&runs)?)
                    }
                    Format::Csv => {
                        let mut w = csv::Writer::from_writer(std::io::stdout());
                        w.write_record([
                            "run",
                            "trigger",
                            "started",
                            "ended",
                            "duration_seconds",
                            "status",
                            "read",
                            "added",
                            "updated",
                            "deleted",
                            "skipped",
                            "failed",
                            "unchanged",
                        ])?;
                        for r in &runs {
                            let c = r.counts;
                            let report = r.report();
                            w.write_record([
                                r.id.to_string(),
                                format!("{:?}", r.trigger).to_lowercase(),
                                report.started,
                                report.ended.unwrap_or_default(),
                                report
                                    .duration_seconds
                                    .map(|d| d.to_string())
                                    .unwrap_or_default(),
                                r.status.word().to_string(),
                                c.read.to_string(),
                                c.added.to_string(),
                                c.updated.to_string(),
                                c.deleted.to_string(),
                                c.skipped.to_string(),
                                c.failed.to_string(),
                                c.unchanged.to_string(),
                            ])?;
                        }
                        w.flush()?;
                    }
                    Format::Table => {
                        if runs.is_empty() {
                            println!("{}: no runs yet", safe::line(&h.sync));
                        }
                        for r in &runs {
                            println!(
                                "#{:<5} {}  {:>7}  {:<13} {:<10} {}{}",
                                r.id,
                                started_at(r.started),
                                r.duration().map(duration).unwrap_or_default(),
                                format!("{:?}", r.trigger).to_lowercase(),
                                r.status.word(),
                                counts_line(&r.counts),
                                match &r.status {
                                    RunStatus::Failed(why) | RunStatus::Partial(why) => {
                                        format!("\n       {}", safe::line(why))
                                    }
                                    _ => String::new(),
                                }
                            );
                        }
                    }
                }
            }
            Some(run) => {
                if store.run(&h.sync, run)?.is_none() {
                    bail!("{} has no run #{run}", h.sync);
                }
                let filter = match (h.skipped, h.failed) {
                    (true, true) => LedgerFilter::NotDone,
                    (true, false) => LedgerFilter::Skipped,
                    (false, true) => LedgerFilter::Failed,
                    (false, false) => LedgerFilter::All,
                };
                let rows = store.ledger(&h.sync, run, filter, h.offset, h.limit)?;
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                    Format::Csv => {
                        use std::io::Write as _;
                        std::io::stdout().write_all(&crate::store::ledger_csv(&rows)?)?;
                    }
                    Format::Table => {
                        for r in &rows {
                            println!("{}", ledger_line(r));
                        }
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })())
}

/// A progress bar on a terminal; nothing otherwise.
pub(crate) struct Bar(Option<ProgressBar>);

impl Bar {
    pub(crate) fn new() -> Bar {
        if !std::io::stderr().is_terminal() {
            return Bar(None);
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg} ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar(Some(bar))
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn update(&self, c: &Counts) {
        if let Some(bar) = &self.0 {
            bar.set_position(c.read);
            bar.set_message(format!(
                "read {} · written {} · skipped {} · failed {}",
                c.read,
                c.added + c.updated + c.deleted,
                c.skipped,
                c.failed
            ));
        }
    }
}
