//! Rollups: figures aggregated from a child module's records per parent
//! (an account's receivables from its invoices), written to the parent's
//! linked record. A thin client of the engine, in two stages:
//!
//! - [`read`]: the child module is read incrementally from the rollup's
//!   cursor through the engine's page loop. What each child contributes
//!   (its parent and the fields the figures read) is kept in the state,
//!   per child and per parent, so a changed, new or removed child marks
//!   only its parent (old and new) as pending; nothing else is read again.
//! - [`write`]: the figures of every pending parent are computed from the
//!   stored contributions and written to its linked record, in the
//!   target's batches; figures equal to those last written are not sent.
//!
//! State, under the rollup's name: a snapshot per child (`from` side:
//! its parent and a fingerprint of its contribution), a snapshot per
//! parent (`to` side: its children's contributions and the fingerprint of
//! the figures last written), pending parents (`<name>:pending`), every
//! parent's id (`<name>:parents`) and the day figures were last computed
//! (`<name>:day`). Figures whose filters
//! read `today` or `now` are recomputed for every parent on a new day.
//! Children deleted at the source leave through the module's deleted feed
//! where it has one; `--full` reads every child again and forgets those no
//! longer listed.

mod read;
mod write;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::config::Rollup;
use crate::engine::run::{Ending, Unit};
use crate::engine::{self, EngineError, Env};
use crate::mapping::{RollupError as PlanError, RollupPlan, Side};
use crate::store::{Cursor, RunRecord, RunTrigger, Snapshot, StateStore, StoreError, unix_now};

/// Why a rollup could not run.
#[derive(Debug, thiserror::Error)]
pub enum RollupError {
    #[error("no rollup `{0}` in the workspace")]
    Unknown(String),
    #[error("rollup `{0}` is paused; `ferry sync resume {0}` lets it run again")]
    Paused(String),
    #[error("rollup `{0}` is already running")]
    Busy(String),
    #[error("rollup `{name}`: {message}")]
    Config { name: String, message: String },
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to run a rollup.
#[derive(Debug, Clone)]
pub struct RollupOptions {
    /// Read every child again, forget those no longer listed, and
    /// recompute every parent.
    pub full: bool,
    /// Compute and report what would be written; write nothing.
    pub dry_run: bool,
    pub trigger: RunTrigger,
    /// The instant figures are computed at (`today` in filters); `None`:
    /// the clock.
    pub now: Option<DateTime<FixedOffset>>,
    /// Set to stop after the page in hand (a service shutting down).
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for RollupOptions {
    fn default() -> Self {
        RollupOptions {
            full: false,
            dry_run: false,
            trigger: RunTrigger::Manual,
            now: None,
            stop: None,
        }
    }
}

/// What the state holds for one parent.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ParentState {
    /// Child id → the fields its contribution keeps.
    pub children: Map<String, Value>,
    /// The figures last written, and where.
    pub figures: Option<Value>,
    pub target: Option<String>,
    /// Fingerprint of `(target, figures)` last written; empty: never.
    pub written: String,
}

impl ParentState {
    fn from_snapshot(s: Option<Snapshot>) -> ParentState {
        let Some(s) = s else {
            return ParentState::default();
        };
        let state = s.state.unwrap_or(Value::Null);
        ParentState {
            children: state
                .get("children")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            figures: state.get("figures").cloned().filter(|v| !v.is_null()),
            target: state
                .get("target")
                .and_then(Value::as_str)
                .map(str::to_owned),
            written: s.fingerprint,
        }
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            fingerprint: self.written.clone(),
            modified: None,
            state: Some(serde_json::json!({
                "children": self.children,
                "figures": self.figures,
                "target": self.target,
            })),
            version: 0,
            taken: unix_now(),
        }
    }
}

/// Where pending parents are kept.
pub(crate) fn pending_ns(name: &str) -> String {
    format!("{name}:pending")
}

/// Where every parent's id is kept, apart from its (large) state, so a
/// new day lists the parents without reading every contribution.
pub(crate) fn parents_ns(name: &str) -> String {
    format!("{name}:parents")
}

/// Where the day of the last computation is kept.
fn day_ns(name: &str) -> String {
    format!("{name}:day")
}

/// The sync whose links pair parents with target records, and the side of
/// its link table the parents' ids are on.
fn link_side(env: &Env, rollup: &Rollup) -> Result<(String, Side), RollupError> {
    let name = &rollup.link.value;
    let sync = env
        .workspace
        .syncs
        .get(name)
        .ok_or_else(|| RollupError::Config {
            name: rollup.name.value.clone(),
            message: format!("`link` names no sync `{name}`"),
        })?;
    // The parents are on the side that is not the rollup's target.
    let side = if sync.to.same_module(&rollup.to) {
        Side::From
    } else {
        Side::To
    };
    Ok((name.clone(), side))
}

/// Run rollup `name`: read what changed among the children, then write
/// the figures of every parent they touched (or, on a new day, of every
/// parent when figures depend on the date).
pub async fn run(env: &Env, name: &str, options: &RollupOptions) -> Result<RunRecord, RollupError> {
    let rollup = env
        .workspace
        .rollups
        .get(name)
        .ok_or_else(|| RollupError::Unknown(name.to_string()))?;
    if env.store.is_paused(name)? {
        return Err(RollupError::Paused(name.to_string()));
    }
    let _guard = env
        .claim(name)
        .ok_or_else(|| RollupError::Busy(name.to_string()))?;
    let plan = RollupPlan::compile(&env.workspace, name)?;
    let link = link_side(env, rollup)?;
    let src = env.endpoint(&rollup.from)?;
    let dst = env.endpoint(&rollup.to)?;
    let store = env.store.as_ref();
    let mut run = if options.dry_run {
        engine::run::begin_preview(store, name, options.trigger)?
    } else {
        engine::run::begin(store, name, options.trigger)?
    };
    let now = options.now.unwrap_or_else(|| Utc::now().fixed_offset());
    let mut pass = Pass {
        name: name.to_string(),
        plan: &plan,
        store,
        src: &src,
        dst: &dst,
        link,
        options,
        run: &mut run,
        now,
        overlay: Default::default(),
        dry_pending: BTreeSet::new(),
        incomplete: 0,
    };
    let outcome = pass.run().await;
    let ending = match outcome {
        Ok(_) if options.dry_run => Ending::DryRun,
        Ok(cursor) => {
            let retry = pass.incomplete;
            if retry == 0
                && let Some(cursor) = cursor
            {
                store.set_cursor(name, Side::From, &cursor)?;
            }
            Ending::Done {
                retry,
                unit: Unit::Records,
            }
        }
        Err(e) => Ending::Stopped(e.to_string()),
    };
    engine::run::end(store, &mut run, ending)?;
    Ok(run)
}

/// One run of one rollup.
pub(crate) struct Pass<'a> {
    pub name: String,
    pub plan: &'a RollupPlan,
    pub store: &'a dyn StateStore,
    pub src: &'a engine::Endpoint,
    pub dst: &'a engine::Endpoint,
    /// The link sync and the side parents' ids are on.
    pub link: (String, Side),
    pub options: &'a RollupOptions,
    pub run: &'a mut RunRecord,
    pub now: DateTime<FixedOffset>,
    /// Changes not yet committed (all of a dry run's).
    pub overlay: read::Overlay,
    /// A dry run's pending parents (it commits nothing).
    pub dry_pending: BTreeSet<String>,
    /// Parents left for the next run by passing errors.
    pub incomplete: u64,
}

impl Pass<'_> {
    fn stopping(&self) -> bool {
        self.options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    /// Both stages; the cursor to store when nothing is left to retry.
    async fn run(&mut self) -> Result<Option<Cursor>, RollupError> {
        let Some(cursor) = self.read().await? else {
            self.incomplete += 1;
            return Ok(None);
        };
        let today = self.now.date_naive().to_string();
        let new_day = self.plan.uses_time() && self.last_day()?.as_deref() != Some(&today);
        self.write(new_day).await?;
        if !self.options.dry_run && self.incomplete == 0 {
            self.set_day(&today)?;
        }
        Ok(Some(cursor))
    }

    fn last_day(&self) -> Result<Option<String>, RollupError> {
        Ok(self
            .store
            .snapshot(&day_ns(&self.name), Side::From, "day")?
            .and_then(|s| s.state)
            .and_then(|v| v.as_str().map(str::to_owned)))
    }

    fn set_day(&self, day: &str) -> Result<(), RollupError> {
        self.store.commit(
            &self.name,
            crate::store::RecordCommit {
                foreign_snapshots: vec![(
                    day_ns(&self.name),
                    Side::From,
                    "day".into(),
                    Snapshot {
                        fingerprint: String::new(),
                        modified: None,
                        state: Some(Value::String(day.to_string())),
                        version: 0,
                        taken: unix_now(),
                    },
                )],
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// A parent's state: this run's change, else the store's.
    fn parent(&self, id: &str) -> Result<ParentState, RollupError> {
        if let Some(p) = self.overlay.parents.get(id) {
            return Ok(p.clone());
        }
        Ok(ParentState::from_snapshot(self.store.snapshot(
            &self.name,
            Side::To,
            id,
        )?))
    }
}
