//! `ferry run` (the whole workspace), `ferry triggers run` (trigger rules
//! on their own) and `ferry links` (the link table, by hand).

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;

use crate::runner::{self, WorkspaceRun};
use crate::store::{Link, LinkOrigin, RecordCommit, RunTrigger, StateStore, unix_now};
use crate::trigger::{self, TriggerOptions};

use super::report::runs as report;
use super::safe;
use super::sync::{Bar, RunArgs, exit, runtime};
use super::view::{Local, Running, in_use};

/// `ferry run`.
#[derive(Debug, clap::Args)]
pub struct WorkspaceArgs {
    #[command(flatten)]
    pub args: RunArgs,
    /// Read everything, not only what changed since the last run.
    #[arg(long)]
    pub full: bool,
    /// Syncs show what they would do and write nothing; trigger rules do
    /// not run.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// Run trigger rules now (all, or the ones named), each watched module
    /// read once.
    Run {
        #[command(flatten)]
        args: RunArgs,
        /// Rules to run; all when none are named.
        rules: Vec<String>,
        /// Read every record, not only changes since the last read.
        #[arg(long)]
        full: bool,
    },
    /// Stop a rule from firing. Changes go on being read for it: once
    /// resumed, it judges each one it missed, in order.
    Pause {
        #[command(flatten)]
        args: RunArgs,
        rule: String,
    },
    /// Let a paused rule fire again, on the changes it missed first.
    Resume {
        #[command(flatten)]
        args: RunArgs,
        rule: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinksCommand {
    /// Links of a sync or trigger rule (of one record with `--id`).
    List {
        #[command(flatten)]
        args: RunArgs,
        /// The sync or trigger rule.
        name: String,
        /// Only the links of this record (on the `from` side).
        #[arg(long)]
        id: Option<String>,
    },
    /// Link two records by hand: `from-id` on the sync's `from` side (the
    /// rule's watched record), `to-id` on the other.
    Add {
        #[command(flatten)]
        args: RunArgs,
        name: String,
        from_id: String,
        to_id: String,
    },
    /// Remove a link made by hand or by a sync. Links a trigger rule made
    /// stay: they are how the rule finds its records.
    Remove {
        #[command(flatten)]
        args: RunArgs,
        name: String,
        from_id: String,
        to_id: String,
    },
}

pub fn run_workspace(w: WorkspaceArgs) -> ExitCode {
    exit(runtime().and_then(|rt| {
        rt.block_on(async {
            let env = match w.args.env().await {
                Err(e) if in_use(&e) => {
                    if w.dry_run {
                        bail!(
                            "`ferry serve` holds this state: a dry run needs it to itself (the service previews with POST /v1/jobs/<sync>/preview)"
                        );
                    }
                    let ws = w.args.workspace()?;
                    let names: Vec<String> =
                        ws.syncs.keys().chain(ws.triggers.keys()).cloned().collect();
                    return through_service(&w.args, &names, w.full).await;
                }
                env => env?,
            };
            let bar = Bar::new();
            let runs = runner::run(
                &env,
                &WorkspaceRun {
                    full: w.full,
                    dry_run: w.dry_run,
                    trigger: RunTrigger::Manual,
                },
                &bar,
            )
            .await?;
            bar.finish();
            report(&Local::of(&env), &runs, w.dry_run, w.args.json)
        })
    }))
}

pub fn triggers(c: TriggersCommand) -> ExitCode {
    exit(match c {
        TriggersCommand::Run { args, rules, full } => {
            runtime().and_then(|rt| rt.block_on(run_rules(&args, &rules, full)))
        }
        TriggersCommand::Pause { args, rule } => pause_rule(&args, &rule, true),
        TriggersCommand::Resume { args, rule } => pause_rule(&args, &rule, false),
    })
}

async fn run_rules(args: &RunArgs, rules: &[String], full: bool) -> anyhow::Result<ExitCode> {
    let env = match args.env().await {
        Err(e) if in_use(&e) => {
            let names = if rules.is_empty() {
                args.workspace()?.triggers.keys().cloned().collect()
            } else {
                rules.to_vec()
            };
            return through_service(args, &names, full).await;
        }
        env => env?,
    };
    let bar = Bar::new();
    let runs = trigger::run(
        &env,
        trigger::Rules::named_or_all(rules),
        &TriggerOptions {
            full,
            trigger: RunTrigger::Manual,
        },
        &bar,
    )
    .await?;
    bar.finish();
    report(&Local::of(&env), &runs, false, args.json)
}

/// Runs asked of the `ferry serve` that holds the state: queued there,
/// waited for, and reported as if run here.
async fn through_service(args: &RunArgs, names: &[String], full: bool) -> anyhow::Result<ExitCode> {
    let state = args.state_dir();
    let service = Running::holding(&state, &state.display().to_string())?;
    let runs = service.run_now(names, full).await?;
    report(&service, &runs, false, args.json)
}

fn pause_rule(args: &RunArgs, rule: &str, paused: bool) -> anyhow::Result<ExitCode> {
    if !args.workspace_naming(rule)?.triggers.contains_key(rule) {
        bail!("`{rule}` is a sync: use `ferry sync pause` or `ferry sync resume`");
    }
    super::sync::set_paused(args, rule, paused)
}

/// `ferry links list`: from the store, or through `ferry serve`.
fn list_links(args: &RunArgs, name: &str, id: Option<&str>) -> anyhow::Result<ExitCode> {
    let links = args.view()?.links(name, id)?;
    if args.json {
        let links: Vec<_> = links
            .into_iter()
            .map(|(from, to, link)| serde_json::json!({ "from": from, "to": to, "link": link }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&links)?);
        return Ok(ExitCode::SUCCESS);
    }
    if links.is_empty() {
        println!("{}: no links", safe::line(name));
    }
    for (from, to, link) in links {
        println!(
            "{} → {}  ({})",
            safe::line(&from),
            safe::line(&to),
            origin(&link.origin)
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn links(c: LinksCommand) -> ExitCode {
    exit((|| {
        let (args, name) = match &c {
            LinksCommand::List { args, name, .. }
            | LinksCommand::Add { args, name, .. }
            | LinksCommand::Remove { args, name, .. } => (args, name),
        };
        args.workspace_naming(name)?;
        if let LinksCommand::List { name, id, .. } = &c {
            return list_links(args, name, id.as_deref());
        }
        let store = args.store()?;
        match c {
            LinksCommand::List { .. } => {}
            LinksCommand::Add {
                name,
                from_id,
                to_id,
                ..
            } => {
                if store
                    .links(&name, crate::mapping::Side::From, &from_id)?
                    .iter()
                    .any(|l| l.other == to_id)
                {
                    println!("{name}: {from_id} → {to_id} is linked already");
                    return Ok(ExitCode::SUCCESS);
                }
                store.commit(
                    &name,
                    RecordCommit {
                        links: vec![(
                            crate::mapping::Side::From,
                            from_id.clone(),
                            Link {
                                other: to_id.clone(),
                                origin: LinkOrigin::Manual,
                                created: unix_now(),
                                change: None,
                            },
                        )],
                        ..Default::default()
                    },
                )?;
                store.flush()?;
                println!("{name}: linked {from_id} → {to_id} (by hand)");
            }
            LinksCommand::Remove {
                name,
                from_id,
                to_id,
                ..
            } => {
                crate::serve::actions::unlink(store.as_ref(), &name, &from_id, &to_id)?;
                println!("{name}: unlinked {from_id} → {to_id}");
            }
        }
        Ok(ExitCode::SUCCESS)
    })())
}

fn origin(o: &LinkOrigin) -> String {
    match o {
        LinkOrigin::Sync => "sync".into(),
        LinkOrigin::Trigger(rule) => format!("trigger `{}`", safe::line(rule)),
        LinkOrigin::Manual => "by hand".into(),
    }
}
