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
    /// The status a run ending so is recorded with.
    pub fn status(&self) -> RunStatus {
        match self {
            Ending::DryRun => RunStatus::DryRun,
            Ending::Stopped(why) => RunStatus::Failed(why.clone()),
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

/// End `run`: its status from `ending`, every commit made durable first
/// (so a saved "completed" never outlives the writes it reports), then the
/// run saved and counted in the metrics.
pub fn end(store: &dyn StateStore, run: &mut RunRecord, ending: Ending) -> Result<(), StoreError> {
    run.status = ending.status();
    run.ended = Some(unix_now());
    store.flush()?;
    store.save_run(run)?;
    crate::telemetry::run_finished(run);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_completed_only_when_nothing_was_left() {
        let records = |retry| Ending::Done {
            retry,
            unit: Unit::Records,
        };
        let table = [
            (Ending::DryRun, RunStatus::DryRun),
            (records(0), RunStatus::Completed),
            (
                records(3),
                RunStatus::Failed(
                    "3 records hit temporary errors; the next run retries them".into(),
                ),
            ),
            (
                Ending::Done {
                    retry: 1,
                    unit: Unit::Changes,
                },
                RunStatus::Failed(
                    "1 changes hit temporary errors; the next run judges them again".into(),
                ),
            ),
            (
                Ending::Stopped("books: `list` failed".into()),
                RunStatus::Failed("books: `list` failed".into()),
            ),
        ];
        for (ending, status) in table {
            assert_eq!(ending.status(), status, "{ending:?}");
        }
    }
}
