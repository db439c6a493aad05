//! The sync engine: read changes, filter, map, match, write, record.
//!
//! A run reads the source incrementally from its stored cursor, skips
//! records whose mapped fingerprint has not changed (which also recognises
//! the echo of Ferry's own writes in two-way syncs), matches the rest
//! through the link table and then the target's `find`, and writes in the
//! batches the target allows. Before a create, an intent is stored
//! durably; its result is committed with the link, snapshots and ledger row
//! in one atomic commit. A pending intent (a crash, an unknown outcome) is
//! settled by looking the record up before anything is written again. The
//! cursor moves only when a pass completed with nothing left to retry.

mod pass;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;

use crate::config::{Direction, ModuleRef, SyncConfig};
use crate::connector::Record;
use crate::engine::run::{Ending, Unit};
use crate::engine::{self, EngineError};
use crate::mapping::{MissingLink, Plan, RecordError, Side, Way};
use crate::store::{Counts, LedgerFilter, LedgerOp, RunRecord, RunTrigger, StoreError};

pub use crate::connector::id_of;
pub use crate::engine::Endpoint;
pub use crate::engine::StoreLinks;
pub use crate::engine::fingerprint::{fingerprint, fingerprint_mapped};
pub use crate::engine::watermark::Watermark;
pub use crate::engine::write::is_retryable;
pub use crate::engine::{Env, EnvOptions, RunGuard};

use pass::{Pass, Shared};

/// Why a run could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("no sync `{0}` in the workspace")]
    UnknownSync(String),
    #[error("sync `{0}` is paused; `ferry sync resume {0}` lets it run again")]
    Paused(String),
    #[error("sync `{0}` is already running")]
    Busy(String),
    #[error("`{name}`: {message}")]
    Config { name: String, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Ignore the cursors: read everything (still no writes for unchanged
    /// records).
    pub full: bool,
    /// Read, match and report; write nothing to any vendor.
    pub dry_run: bool,
    pub trigger: RunTrigger,
    /// Set to stop the run after the page in hand is written (a service
    /// shutting down); the cursor stays where the last whole run left it.
    pub stop: Option<Arc<AtomicBool>>,
}

impl RunOptions {
    /// Whether the run was asked to stop.
    pub fn stopping(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            full: false,
            dry_run: false,
            trigger: RunTrigger::Manual,
            stop: None,
        }
    }
}

/// Where a run reports its progress (the CLI draws a bar).
pub trait Progress: Send + Sync {
    /// Counts so far, after each page.
    fn update(&self, _counts: &Counts) {}
}

/// No progress reporting.
pub struct NoProgress;

impl Progress for NoProgress {}

/// Sees every record a pass reads from one module, after the pass has
/// written that page: trigger rules watching the same module, so the
/// vendor is read once for both.
pub trait Observer: Send {
    /// The module observed.
    fn module(&self) -> &ModuleRef;

    /// Where the observer's own reading would start (inclusive); `None`:
    /// from the beginning. The pass reads from the earlier of this and its
    /// own cursor.
    fn since(&self) -> Option<String>;

    /// One page of records, as read.
    fn observe<'a>(&'a mut self, records: &'a [Record]) -> BoxFuture<'a, ()>;

    /// The pass read everything; `since` is where a next read would start.
    fn finish(&mut self, since: Option<String>);
}

struct Plans {
    forward: Plan,
    reverse: Option<Plan>,
}

fn plans(env: &Env, name: &str) -> Result<Plans, SyncError> {
    let sync = &env.workspace.syncs[name];
    let compile = |way| {
        Plan::compile_way(&env.workspace, name, way, env.catalog()).map_err(|d| SyncError::Config {
            name: name.to_string(),
            message: d.render_short(),
        })
    };
    Ok(Plans {
        forward: compile(Way::Forward)?,
        reverse: match sync.direction {
            Direction::TwoWay => Some(compile(Way::Reverse)?),
            Direction::OneWay => None,
        },
    })
}

/// Run sync `name`: both directions for a two-way sync. The run is
/// recorded in history whatever its outcome; its status says how it ended.
pub async fn run(
    env: &Env,
    name: &str,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunRecord, SyncError> {
    run_observed(env, name, options, progress, &mut []).await
}

/// [`run`], with observers that see the records each pass reads: those
/// whose module is a pass's source get its records (never in a dry run).
pub async fn run_observed(
    env: &Env,
    name: &str,
    options: &RunOptions,
    progress: &dyn Progress,
    observers: &mut [&mut dyn Observer],
) -> Result<RunRecord, SyncError> {
    let sync = env
        .workspace
        .syncs
        .get(name)
        .ok_or_else(|| SyncError::UnknownSync(name.to_string()))?;
    if env.store.is_paused(name)? {
        return Err(SyncError::Paused(name.to_string()));
    }
    let _guard = env
        .claim(name)
        .ok_or_else(|| SyncError::Busy(name.to_string()))?;
    let plans = plans(env, name)?;
    let from = env.endpoint(&sync.from)?;
    let to = env.endpoint(&sync.to)?;
    prepare(env, sync, &to, options.dry_run).await?;
    let store = env.store.as_ref();
    let mut run = if options.dry_run {
        engine::run::begin_preview(store, name, options.trigger)?
    } else {
        engine::run::begin(store, name, options.trigger)?
    };
    let mut shared = Shared::default();
    // The observers of this run's two source modules (none in a dry run).
    let mut from_observer: Option<&mut dyn Observer> = None;
    let mut to_observer: Option<&mut dyn Observer> = None;
    if !options.dry_run {
        for o in observers.iter_mut() {
            if from_observer.is_none() && o.module().same_module(&sync.from) {
                from_observer = Some(&mut **o);
            } else if to_observer.is_none() && o.module().same_module(&sync.to) {
                to_observer = Some(&mut **o);
            }
        }
    }
    let outcome = async {
        let forward = Pass::new(
            sync,
            store,
            Side::From,
            &from,
            &to,
            &plans.forward,
            plans.reverse.as_ref(),
            options,
            &mut run,
            progress,
            &mut shared,
        )
        .with_env(env)
        .run(from_observer)
        .await?;
        let mut ends = vec![(Side::From, forward)];
        if let Some(reverse) = &plans.reverse {
            let back = Pass::new(
                sync,
                store,
                Side::To,
                &to,
                &from,
                reverse,
                Some(&plans.forward),
                options,
                &mut run,
                progress,
                &mut shared,
            )
            .with_env(env)
            .run(to_observer)
            .await?;
            ends.push((Side::To, back));
        }
        Ok::<_, SyncError>(ends)
    }
    .await;
    let ending = match outcome {
        Ok(_) if options.dry_run => Ending::DryRun,
        Ok(ends) => {
            let mut retry = 0;
            for (side, end) in ends {
                match end.cursor {
                    Some(cursor) => store.set_cursor(name, side, &cursor)?,
                    None => retry += end.incomplete,
                }
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

/// Sync the given source records now (`--record`, `sync import`,
/// `sync retry`), each fetched fresh. `side` is where the ids live.
pub async fn run_records(
    env: &Env,
    name: &str,
    side: Side,
    ids: &[String],
    trigger: RunTrigger,
    progress: &dyn Progress,
) -> Result<RunRecord, SyncError> {
    let sync = env
        .workspace
        .syncs
        .get(name)
        .ok_or_else(|| SyncError::UnknownSync(name.to_string()))?;
    let _guard = env
        .claim(name)
        .ok_or_else(|| SyncError::Busy(name.to_string()))?;
    let plans = plans(env, name)?;
    prepare(env, sync, &env.endpoint(&sync.to)?, false).await?;
    let (src, dst, plan, back) = match side {
        Side::From => (
            env.endpoint(&sync.from)?,
            env.endpoint(&sync.to)?,
            &plans.forward,
            plans.reverse.as_ref(),
        ),
        Side::To => {
            let reverse = plans.reverse.as_ref().ok_or_else(|| SyncError::Config {
                name: name.to_string(),
                message: "records of the `to` side sync only in a two-way sync".into(),
            })?;
            (
                env.endpoint(&sync.to)?,
                env.endpoint(&sync.from)?,
                reverse,
                Some(&plans.forward),
            )
        }
    };
    let store = env.store.as_ref();
    let mut run = engine::run::begin(store, name, trigger)?;
    let options = RunOptions {
        trigger,
        ..RunOptions::default()
    };
    let mut shared = Shared::default();
    let outcome = async {
        let mut pass = Pass::new(
            sync,
            store,
            side,
            &src,
            &dst,
            plan,
            back,
            &options,
            &mut run,
            progress,
            &mut shared,
        )
        .with_env(env);
        for id in ids {
            if let Err(error) = pass.resync(id).await {
                pass.abandon();
                return Err(error);
            }
        }
        pass.finish().await
    }
    .await;
    let ending = match outcome {
        Ok(_) => Ending::Done {
            retry: 0,
            unit: Unit::Records,
        },
        Err(e) => Ending::Stopped(e.to_string()),
    };
    engine::run::end(store, &mut run, ending)?;
    Ok(run)
}

/// What every run of a sync (whole, or of single records: `--record`, a
/// parent made for another sync) settles before it writes: the two
/// organisations' base currencies agree, and fields the mapping marks
/// `new_field: true` that the target (`to`) lacks are added to it (not
/// in a dry run, which writes nothing).
async fn prepare(
    env: &Env,
    sync: &SyncConfig,
    to: &Endpoint,
    dry_run: bool,
) -> Result<(), SyncError> {
    check_currencies(env, sync).await?;
    if dry_run {
        return Ok(());
    }
    for f in sync.fields.iter().filter(|f| f.new_field) {
        let name = f.target.value.head();
        if to.info.field(name).is_some() {
            continue;
        }
        let ty = f.ty.as_ref().map_or("text", |t| t.value.name());
        env.ensure_field(&sync.to.connection, &sync.to.module, name, ty)
            .await?;
    }
    Ok(())
}

/// A sync of amounts between organisations with different base
/// currencies would copy figures unconverted: refuse it, saying why.
async fn check_currencies(env: &Env, sync: &SyncConfig) -> Result<(), SyncError> {
    Ok(
        engine::money::check_between(env, &sync.name.value, &sync.from, &sync.to, &sync.fields)
            .await?,
    )
}

/// What became of the parent record a `missing: create` lookup asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    Linked,
    /// Its sync did not link it (it failed, or its sync is paused): why,
    /// as that sync's ledger says.
    NotLinked(String),
    /// Its sync skipped it on purpose (its view excludes it): why. A
    /// record that needs it follows it out, skipped, not failed.
    Excluded(String),
}

impl Parent {
    /// The failure of the record whose mapping `e` needed the parent.
    pub fn failure(why: &str, e: &RecordError, missing: &MissingLink) -> String {
        let field = e
            .field
            .as_deref()
            .map(|f| format!("`{f}`: "))
            .unwrap_or_default();
        format!(
            "{field}its parent `{}` was not created through sync `{}`: {why}",
            missing.id, missing.sync
        )
    }
}

/// Create the parent record a `missing: create` lookup lacks by syncing
/// that one record through its own sync.
pub fn create_parent<'a>(
    env: &'a Env,
    missing: &'a MissingLink,
) -> BoxFuture<'a, Result<Parent, SyncError>> {
    Box::pin(async move {
        // A paused sync writes nothing, a parent asked for by another sync
        // or a rule neither.
        if env.store.is_paused(&missing.sync)? {
            return Ok(Parent::NotLinked(format!(
                "sync `{}` is paused",
                missing.sync
            )));
        }
        let run = run_records(
            env,
            &missing.sync,
            missing.side,
            std::slice::from_ref(&missing.id),
            RunTrigger::SingleRecord,
            &NoProgress,
        )
        .await?;
        if env
            .store
            .link(&missing.sync, missing.side, &missing.id)?
            .is_some()
        {
            return Ok(Parent::Linked);
        }
        let row = env
            .store
            .ledger(&missing.sync, run.id, LedgerFilter::All, 0, 100)?
            .into_iter()
            .find(|row| row.source_id == missing.id);
        let skipped = row.as_ref().is_some_and(|r| r.op == LedgerOp::Skip);
        let why = row
            .and_then(|row| row.reason)
            .unwrap_or_else(|| "its sync did not link it".into());
        Ok(if skipped {
            Parent::Excluded(why)
        } else {
            Parent::NotLinked(why)
        })
    })
}

/// Retry every record of sync `name` still failing, whichever run it
/// failed in (failed records are not read again by incremental runs
/// unless they change). `None`: nothing is failing.
pub async fn retry(
    env: &Env,
    name: &str,
    progress: &dyn Progress,
) -> Result<Option<RunRecord>, SyncError> {
    if !env.workspace.syncs.contains_key(name) {
        return Err(SyncError::UnknownSync(name.to_string()));
    }
    let mut by_side: Vec<(Side, Vec<String>)> = vec![(Side::From, vec![]), (Side::To, vec![])];
    for failing in env.store.failing(name)? {
        let ids = &mut by_side
            .iter_mut()
            .find(|(s, _)| *s == failing.side)
            .expect("both sides listed")
            .1;
        ids.push(failing.id);
    }
    let mut result = None;
    for (side, ids) in by_side {
        if !ids.is_empty() {
            result = Some(run_records(env, name, side, &ids, RunTrigger::Retry, progress).await?);
        }
    }
    Ok(result)
}
