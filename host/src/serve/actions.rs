//! What an operator may do to a sync or rule, for the admin API and the
//! dashboard alike: each action's role is said here once, and both call
//! the same functions.

use axum::http::StatusCode;

use super::Service;
use super::access::{Fail, known, sync_name};
use super::tokens::Role;
use crate::store::{
    LedgerFilter, LedgerRow, LinkOrigin, RecordCommit, RunRecord, RunTrigger, Side,
};
use crate::sync::{self, NoProgress, RunOptions};

/// Something that changes a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Run,
    FullRun,
    Pause,
    Resume,
    Retry,
    Preview,
    Unlink,
}

impl Action {
    /// The least role that may do it.
    pub(crate) fn role(self) -> Role {
        match self {
            Action::Run
            | Action::FullRun
            | Action::Pause
            | Action::Resume
            | Action::Retry
            | Action::Preview
            | Action::Unlink => Role::Operator,
        }
    }
}

/// Queue a run of the job that runs `name`; returns the job's name.
pub(crate) fn run_now(s: &Service, name: &str, full: bool) -> Result<String, Fail> {
    let i = known(s, name)?;
    s.request(i, RunTrigger::Manual, full, std::time::Duration::ZERO);
    Ok(s.jobs[i].name.clone())
}

pub(crate) fn set_paused(s: &Service, name: &str, paused: bool) -> Result<(), Fail> {
    known(s, name)?;
    s.env.store.set_paused(name, paused)?;
    s.wake.notify_one();
    Ok(())
}

/// Send a sync's failed records again, now.
pub(crate) async fn retry(s: &Service, name: &str) -> Result<Option<RunRecord>, Fail> {
    sync_name(s, name, "retry")?;
    Ok(sync::retry(&s.env, name, &NoProgress).await?)
}

/// What a first sync would do, written nowhere: the dry run and its first
/// `limit` ledger rows.
pub(crate) async fn preview(
    s: &Service,
    name: &str,
    limit: usize,
) -> Result<(RunRecord, Vec<LedgerRow>), Fail> {
    sync_name(s, name, "preview")?;
    let options = RunOptions {
        dry_run: true,
        full: true,
        ..RunOptions::default()
    };
    let run = sync::run(&s.env, name, &options, &NoProgress).await?;
    let rows = s
        .env
        .store
        .ledger(&run.sync, run.id, LedgerFilter::All, 0, limit)?;
    Ok((run, rows))
}

/// Why a link cannot be removed by hand.
#[derive(Debug, thiserror::Error)]
pub enum UnlinkError {
    #[error("{name}: {from} and {to} are not linked")]
    NotLinked {
        name: String,
        from: String,
        to: String,
    },
    #[error(
        "{name}: {from} → {to} was made by trigger rule `{rule}`, which finds its records by it; it cannot be removed by hand"
    )]
    MadeByRule {
        name: String,
        from: String,
        to: String,
        rule: String,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Remove the link `from → to` of `name`; links a trigger rule made stay
/// (the rule finds its records by them).
pub fn unlink(
    store: &dyn crate::store::StateStore,
    name: &str,
    from: &str,
    to: &str,
) -> Result<(), UnlinkError> {
    let Some(link) = store
        .links(name, Side::From, from)?
        .into_iter()
        .find(|l| l.other == to)
    else {
        return Err(UnlinkError::NotLinked {
            name: name.into(),
            from: from.into(),
            to: to.into(),
        });
    };
    if let LinkOrigin::Trigger(rule) = &link.origin {
        return Err(UnlinkError::MadeByRule {
            name: name.into(),
            from: from.into(),
            to: to.into(),
            rule: rule.clone(),
        });
    }
    store.commit(
        name,
        RecordCommit {
            unlinks: vec![(Side::From, from.to_string(), to.to_string())],
            ..Default::default()
        },
    )?;
    store.flush()?;
    Ok(())
}

/// [`unlink`] for a caller of the service.
pub(crate) fn unlink_link(s: &Service, name: &str, from: &str, to: &str) -> Result<(), Fail> {
    known(s, name)?;
    unlink(s.env.store.as_ref(), name, from, to).map_err(|e| match e {
        UnlinkError::Store(e) => e.into(),
        e @ UnlinkError::NotLinked { .. } => Fail(StatusCode::NOT_FOUND, e.to_string()),
        e @ UnlinkError::MadeByRule { .. } => Fail(StatusCode::CONFLICT, e.to_string()),
    })
}
