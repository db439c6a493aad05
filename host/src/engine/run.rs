//! A run's lifecycle, the same for a sync and a trigger rule: begun in the
//! history, ended with a status that says how it went, made durable, then
//! saved and counted. A run whose process died stays `running` until the
//! store is next opened, which closes it as interrupted.

use crate::store::{RunRecord, RunStatus, RunTrigger, StateStore, StoreError, unix_now};

/// How a run's work ended, from which its status follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A dry run: nothing was written, whatever it found.
    DryRun,
    /// The work stopped on an error (a vendor down, a listing that could
    /// not end); the cursor stays where the last whole run left it.
    Stopped(String),
    /// Every record was dealt with, except `retry` left for the next run
    /// by passing errors (rate limits, timeouts, unknown outcomes).
    Done { retry: u64, unit: Unit },
}

/// What a run counts its retries in, for its status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A sync's records: the next run syncs them again.
    Records,
    /// A rule's changes: the next run judges them again.
    Changes,
}

impl Ending {
    /// The status of a run ending so, in which `failed` records (or
    /// firings) failed for good.
    pub fn status(&self, failed: u64) -> RunStatus {
        match self {
            Ending::DryRun => RunStatus::DryRun,
            Ending::Stopped(why) => RunStatus::Failed(why.clone()),
            Ending::Done {
                retry: 0,
                unit: Unit::Records,
            } if failed > 0 => RunStatus::Partial(format!(
                "{failed} records failed; the ledger says why, and a retry of the run's failures sends them again"
            )),
            Ending::Done {
                retry: 0,
                unit: Unit::Changes,
            } if failed > 0 => {
                RunStatus::Partial(format!("{failed} firings failed; the ledger says why"))
            }
            Ending::Done { retry: 0, .. } => RunStatus::Completed,
            Ending::Done {
                retry,
                unit: Unit::Records,
            } => RunStatus::Failed(format!(
                "{retry} records hit temporary errors; the next run retries them"
            )),
            Ending::Done {
                retry,
                unit: Unit::Changes,
            } => RunStatus::Failed(format!(
                "{retry} changes hit temporary errors; the next run judges them again"
            )),
        }
    }
}

/// Record the start of a run of `name` in its history.
pub fn begin(
    store: &dyn StateStore,
    name: &str,
    trigger: RunTrigger,
) -> Result<RunRecord, StoreError> {
    store.begin_run(name, trigger)
}

/// Where the previews (dry runs) of `name` are kept: numbered on their
/// own, apart from its history, so a preview never takes a run number.
pub fn preview_ns(name: &str) -> String {
    format!("preview:{name}")
}

/// Record the start of a preview (a dry run) of `name`.
pub fn begin_preview(
    store: &dyn StateStore,
    name: &str,
    trigger: RunTrigger,
) -> Result<RunRecord, StoreError> {
    store.begin_run(&preview_ns(name), trigger)
}

/// End `run`: its status from `ending`, every commit made durable first
/// (so a saved "completed" never outlives the writes it reports), then the
/// run saved and counted in the metrics.
pub fn end(store: &dyn StateStore, run: &mut RunRecord, ending: Ending) -> Result<(), StoreError> {
    run.status = ending.status(run.counts.failed);
    run.ended = Some(unix_now());
    store.flush()?;
    store.save_run(run)?;
    crate::telemetry::run_finished(run);
    Ok(())
}

/// Record a run of `name` that could not start (a broken connection or
/// plan), so its history says why.
pub fn refused(
    store: &dyn StateStore,
    name: &str,
    trigger: RunTrigger,
    why: &str,
) -> Result<RunRecord, StoreError> {
    let mut run = begin(store, name, trigger)?;
    end(store, &mut run, Ending::Stopped(why.to_string()))?;
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_completed_only_when_nothing_was_left_or_failed() {
        let records = |retry| Ending::Done {
            retry,
            unit: Unit::Records,
        };
        let changes = |retry| Ending::Done {
            retry,
            unit: Unit::Changes,
        };
        let partial = |n: &str| {
            RunStatus::Partial(format!(
                "{n} records failed; the ledger says why, and a retry of the run's failures sends them again"
            ))
        };
        // (how the work ended, records failed for good) → status
        let table = [
            (Ending::DryRun, 0, RunStatus::DryRun),
            (Ending::DryRun, 4, RunStatus::DryRun),
            (records(0), 0, RunStatus::Completed),
            (records(0), 2, partial("2")),
            (
                records(3),
                2,
                RunStatus::Failed(
                    "3 records hit temporary errors; the next run retries them".into(),
                ),
            ),
            (changes(0), 0, RunStatus::Completed),
            (
                changes(0),
                1,
                RunStatus::Partial("1 firings failed; the ledger says why".into()),
            ),
            (
                changes(1),
                0,
                RunStatus::Failed(
                    "1 changes hit temporary errors; the next run judges them again".into(),
                ),
            ),
            (
                Ending::Stopped("books: `list` failed".into()),
                0,
                RunStatus::Failed("books: `list` failed".into()),
            ),
        ];
        for (ending, failed, status) in table {
            assert_eq!(
                ending.status(failed),
                status,
                "{ending:?} with {failed} failed"
            );
        }
    }
}
