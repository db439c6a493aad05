//! What Ferry counts and times, through the `metrics` facade: a no-op
//! unless a recorder is installed (`ferry serve` installs a Prometheus
//! one and serves it at `/metrics`). One place names every metric.

use std::time::Duration;

use crate::connector::CallError;
use crate::store::{Counts, RunRecord, RunStatus};

/// A finished run of a sync or trigger rule: its outcome and records.
pub fn run_finished(run: &RunRecord) {
    let status = match &run.status {
        RunStatus::Running => "running",
        RunStatus::Completed => "completed",
        RunStatus::Partial(_) => "partial",
        RunStatus::Failed(_) => "failed",
        RunStatus::DryRun => "dry_run",
    };
    metrics::counter!("ferry_runs_total", "name" => run.sync.clone(), "status" => status)
        .increment(1);
    let Counts {
        read,
        added,
        updated,
        deleted,
        skipped,
        failed,
        unchanged,
        conflicts,
    } = run.counts;
    for (outcome, n) in [
        ("read", read),
        ("added", added),
        ("updated", updated),
        ("deleted", deleted),
        ("skipped", skipped),
        ("failed", failed),
        ("unchanged", unchanged),
        ("conflict", conflicts),
    ] {
        if n > 0 {
            metrics::counter!("ferry_records_total", "name" => run.sync.clone(), "outcome" => outcome)
                .increment(n);
        }
    }
}

/// One HTTP request a connection sent to its vendor (each costs API
/// credits), and whether the vendor asked to slow down.
pub fn api_call(connection: &str, status: u16) {
    metrics::counter!("ferry_api_calls_total", "connection" => connection.to_string()).increment(1);
    if status == 429 {
        metrics::counter!("ferry_api_rate_limited_total", "connection" => connection.to_string())
            .increment(1);
    }
}

/// One call into a plugin: how long it took and how it ended.
pub fn plugin_call(
    plugin: &str,
    function: &'static str,
    took: Duration,
    error: Option<&CallError>,
) {
    metrics::histogram!("ferry_plugin_call_seconds", "plugin" => plugin.to_string(), "function" => function)
        .record(took.as_secs_f64());
    match error {
        Some(CallError::Trap { .. }) => {
            metrics::counter!("ferry_plugin_traps_total", "plugin" => plugin.to_string())
                .increment(1);
        }
        Some(CallError::Limit { limit, .. }) => {
            metrics::counter!("ferry_plugin_limits_total", "plugin" => plugin.to_string(), "limit" => limit.name())
                .increment(1);
        }
        _ => {}
    }
}

/// A sync or rule skipped because its connection spent its API budget.
pub fn budget_pause(connection: &str) {
    metrics::counter!("ferry_budget_pauses_total", "connection" => connection.to_string())
        .increment(1);
}
