//! What commands that run syncs and rules print about the runs — a line
//! per run, with the rows of trigger rules and dry runs, or all of it as
//! JSON — and the exit code they end with ([`super::exit`]).

use std::process::ExitCode;

use crate::store::{LedgerFilter, RunRecord, RunStatus};

use super::safe;
use super::sync::{ledger_line, run_line};
use super::view::StateView;

/// Rows shown with a run at most (the rest: `ferry history <name> --run N`).
const ROWS_SHOWN: usize = 200;

/// Report `runs`. `dry_run`: they wrote nothing, their rows are the point.
pub fn runs(
    view: &dyn StateView,
    runs: &[RunRecord],
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut shown = Vec::new();
    for run in runs {
        let rows = view.ledger(&run.sync, run.id, LedgerFilter::All, 0, ROWS_SHOWN)?;
        let is_rule = rows.iter().any(|r| r.rule.is_some());
        if json {
            let mut value = serde_json::to_value(run.report())?;
            value["rows"] = serde_json::to_value(&rows)?;
            shown.push(value);
        } else {
            println!("{}", run_line(run));
            if is_rule || dry_run {
                for row in &rows {
                    println!("  {}", ledger_line(row));
                }
            }
        }
        match &run.status {
            RunStatus::Failed(reason) => {
                eprintln!("error: {}: {}", safe::line(&run.sync), safe::text(reason))
            }
            RunStatus::Partial(reason) => {
                let retry = if is_rule {
                    String::new()
                } else {
                    format!(
                        "; `ferry sync retry {}` retries them",
                        safe::line(&run.sync)
                    )
                };
                eprintln!(
                    "{}: {} (`ferry history {} --run {} --failed` lists them{retry})",
                    safe::line(&run.sync),
                    safe::text(reason),
                    safe::line(&run.sync),
                    run.id
                );
            }
            _ => {}
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else if runs.is_empty() {
        println!("nothing to run (no syncs or trigger rules, or all paused)");
    }
    Ok(exit_code(runs))
}

/// 1 when a run failed, 2 when records failed for good, else 0.
pub fn exit_code(runs: &[RunRecord]) -> ExitCode {
    if runs
        .iter()
        .any(|r| matches!(r.status, RunStatus::Failed(_)))
    {
        ExitCode::FAILURE
    } else if runs
        .iter()
        .any(|r| matches!(r.status, RunStatus::Partial(_)))
    {
        super::exit::records_failed()
    } else {
        ExitCode::SUCCESS
    }
}
