//! Trigger rules: transitions of watched records, judged against the
//! stored previous state, and the actions they fire — exactly once.
//!
//! Rules are grouped by the module they watch. A [`Watch`] keeps the last
//! state read of every record of its module (namespace
//! `watch:<connection>.<Module>`); it reads the module incrementally, or is
//! fed by a sync pass that reads the module anyway ([`sync::Observer`]).
//! Each state read is a numbered change, kept in the record's backlog until
//! every rule on the module has judged it, so a rule paused, left out of a
//! run or held by a passing failure judges each change it missed, in
//! order. A firing's key is `<record>:<change number>`, committed as done
//! together with its result; before a create an intent is stored durably,
//! and after a crash or an unknown outcome the target is looked up before
//! anything is written again.

mod fire;
mod rule;
mod watch;

use std::collections::BTreeMap;

use crate::config::ModuleRef;
use crate::engine::EngineError;
use crate::engine::Env;
use crate::store::{RunRecord, RunTrigger, StoreError};
use crate::sync::{Progress, SyncError};

pub use watch::Watch;

/// Why trigger rules could not run.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("no trigger `{0}` in the workspace")]
    UnknownTrigger(String),
    #[error("trigger `{name}`: {message}")]
    Config { name: String, message: String },
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to run trigger rules.
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// Read every record of the watched modules, not only changes since
    /// the last read. Unchanged records still fire nothing.
    pub full: bool,
    pub trigger: RunTrigger,
}

impl Default for TriggerOptions {
    fn default() -> Self {
        TriggerOptions {
            full: false,
            trigger: RunTrigger::Manual,
        }
    }
}

/// Which trigger rules to run. "None of them" is `Only(&[])`, never all:
/// a job whose every rule is paused runs nothing.
#[derive(Debug, Clone, Copy)]
pub enum Rules<'a> {
    /// Every rule of the workspace.
    All,
    /// These rules only.
    Only(&'a [String]),
}

impl<'a> Rules<'a> {
    /// From a command line: no names given means every rule.
    pub fn named_or_all(names: &'a [String]) -> Rules<'a> {
        if names.is_empty() {
            Rules::All
        } else {
            Rules::Only(names)
        }
    }
}

/// The selected rules that are not paused, grouped by the module they
/// watch.
pub fn groups(
    env: &Env,
    rules: Rules<'_>,
) -> Result<BTreeMap<String, (ModuleRef, Vec<String>)>, TriggerError> {
    let ws = &env.workspace;
    if let Rules::Only(names) = rules {
        for name in names {
            if !ws.triggers.contains_key(name) {
                return Err(TriggerError::UnknownTrigger(name.clone()));
            }
        }
    }
    let mut out: BTreeMap<String, (ModuleRef, Vec<String>)> = BTreeMap::new();
    for (name, t) in &ws.triggers {
        let selected = match rules {
            Rules::All => true,
            Rules::Only(names) => names.contains(name),
        };
        if !selected || env.store.is_paused(name)? {
            continue;
        }
        out.entry(t.on.to_string())
            .or_insert_with(|| (t.on.clone(), Vec::new()))
            .1
            .push(name.clone());
    }
    Ok(out)
}

/// Run trigger rules on their own: each watched module is read once for
/// all its rules. Returns one run per rule.
pub async fn run(
    env: &Env,
    rules: Rules<'_>,
    options: &TriggerOptions,
    progress: &dyn Progress,
) -> Result<Vec<RunRecord>, TriggerError> {
    let mut runs = Vec::new();
    for (module, rules) in groups(env, rules)?.into_values() {
        let mut watch = Watch::open(env, &module, &rules, options).await?;
        watch.read(progress).await;
        runs.extend(watch.close()?);
    }
    Ok(runs)
}
