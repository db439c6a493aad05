//! A run of a whole workspace: every sync in dependency order, then every
//! trigger rule, each vendor module read once. Trigger rules watching a
//! module that a sync reads are fed by that sync's pass; the others read
//! their module themselves. Rollups run after the syncs.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Action, FieldMapping, Source, TargetRef, Workspace};
use crate::rollup::RollupError;
use crate::store::{RunRecord, RunTrigger};
use crate::sync::{self, Env, Observer, Progress, RunOptions, SyncError};
use crate::trigger::{self, TriggerError, TriggerOptions, Watch};

/// How to run a workspace.
#[derive(Debug, Clone)]
pub struct WorkspaceRun {
    pub full: bool,
    /// Syncs preview what they would do; trigger rules do not run.
    pub dry_run: bool,
    pub trigger: RunTrigger,
}

impl Default for WorkspaceRun {
    fn default() -> Self {
        WorkspaceRun {
            full: false,
            dry_run: false,
            trigger: RunTrigger::Manual,
        }
    }
}

/// Run every sync and trigger rule that is not paused. One failing sync
/// does not stop the others; its run says why.
pub async fn run(
    env: &Env,
    options: &WorkspaceRun,
    progress: &dyn Progress,
) -> Result<Vec<RunRecord>, TriggerError> {
    let mut runs = Vec::new();
    let trigger_options = TriggerOptions {
        full: options.full,
        trigger: options.trigger,
    };
    let mut watches: Vec<Watch> = Vec::new();
    if !options.dry_run {
        for (module, rules) in trigger::groups(env, trigger::Rules::All)?.into_values() {
            watches.push(Watch::open(env, &module, &rules, &trigger_options).await?);
        }
    }
    let sync_options = RunOptions {
        full: options.full,
        dry_run: options.dry_run,
        trigger: options.trigger,
        stop: None,
    };
    for name in sync_order(&env.workspace) {
        if env.store.is_paused(&name)? {
            continue;
        }
        let sync = &env.workspace.syncs[&name];
        let mut observers: Vec<&mut dyn Observer> = watches
            .iter_mut()
            .filter(|w| {
                !w.was_fed()
                    && (w.module().same_module(&sync.from) || w.module().same_module(&sync.to))
            })
            .map(|w| w as &mut dyn Observer)
            .collect();
        match sync::run_observed(env, &name, &sync_options, progress, &mut observers).await {
            Ok(run) => runs.push(run),
            Err(e @ (SyncError::Busy(_) | SyncError::Paused(_))) => {
                tracing::info!(sync = name, "{e}");
            }
            Err(e) => runs.push(failed_run(env, &name, options.trigger, &e.to_string())?),
        }
    }
    // Rollups after the syncs, whose links pair their parents with targets.
    let rollup_options = crate::rollup::RollupOptions {
        full: options.full,
        dry_run: options.dry_run,
        trigger: options.trigger,
        ..Default::default()
    };
    for name in env.workspace.rollups.keys() {
        if env.store.is_paused(name)? {
            continue;
        }
        match crate::rollup::run(env, name, &rollup_options).await {
            Ok(run) => runs.push(run),
            Err(e @ (RollupError::Busy(_) | RollupError::Paused(_))) => {
                tracing::info!(rollup = name, "{e}");
            }
            Err(e) => runs.push(failed_run(env, name, options.trigger, &e.to_string())?),
        }
    }
    for mut watch in watches {
        if !watch.was_fed() {
            watch.read(progress).await;
        }
        runs.extend(watch.close()?);
    }
    Ok(runs)
}

/// A run that could not start (its connections or plan were broken),
/// recorded so history says why.
fn failed_run(
    env: &Env,
    name: &str,
    trigger: RunTrigger,
    why: &str,
) -> Result<RunRecord, TriggerError> {
    Ok(crate::engine::run::refused(
        env.store.as_ref(),
        name,
        trigger,
        why,
    )?)
}

/// Syncs in an order where every sync runs after the syncs its lookups
/// go through, and after those the trigger rules on its source modules
/// need; otherwise by name. (Validation rejects cycles.)
pub fn sync_order(ws: &Workspace) -> Vec<String> {
    let mut needs: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, sync) in &ws.syncs {
        let mut deps = BTreeSet::new();
        link_syncs(&sync.fields, &mut deps);
        for child in &sync.children {
            link_syncs(&child.fields, &mut deps);
        }
        for t in ws.triggers.values() {
            if t.on.same_module(&sync.from) || t.on.same_module(&sync.to) {
                link_syncs(&t.fields, &mut deps);
                if let Action::Act {
                    target: TargetRef::Linked(l),
                    ..
                }
                | Action::Update {
                    target: TargetRef::Linked(l),
                } = &t.action
                {
                    deps.insert(l.value.clone());
                }
            }
        }
        deps.remove(name);
        deps.retain(|d| ws.syncs.contains_key(d));
        needs.insert(name, deps);
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    fn visit(
        name: &str,
        needs: &BTreeMap<&str, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if done.contains(name) || !seen.insert(name.to_string()) {
            return;
        }
        for dep in needs.get(name).into_iter().flatten() {
            visit(dep, needs, done, seen, order);
        }
        done.insert(name.to_string());
        order.push(name.to_string());
    }
    for name in ws.syncs.keys() {
        visit(name, &needs, &mut done, &mut BTreeSet::new(), &mut order);
    }
    order
}

fn link_syncs(fields: &[FieldMapping], out: &mut BTreeSet<String>) {
    for f in fields {
        if let Some(link) = &f.link {
            out.insert(link.sync.value.clone());
        }
        match &f.source {
            Source::Items(items) => {
                for item in items {
                    link_syncs(item, out);
                }
            }
            Source::Each { fields, .. } | Source::FirstOf(fields) => link_syncs(fields, out),
            _ => {}
        }
    }
}

/// One sync, feeding the trigger rules that watch the modules it reads
/// (those not running on their own just now). Returns the sync's run and
/// the rules'. Rules whose module the sync did not finish reading read it
/// themselves.
pub async fn run_sync(
    env: &Env,
    name: &str,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<Vec<RunRecord>, TriggerError> {
    let sync = env
        .workspace
        .syncs
        .get(name)
        .ok_or_else(|| SyncError::UnknownSync(name.to_string()))?;
    let mut watches: Vec<Watch> = Vec::new();
    if !options.dry_run {
        let trigger_options = TriggerOptions {
            full: options.full,
            trigger: options.trigger,
        };
        for (module, rules) in trigger::groups(env, trigger::Rules::All)?.into_values() {
            if !(module.same_module(&sync.from) || module.same_module(&sync.to)) {
                continue;
            }
            match Watch::open(env, &module, &rules, &trigger_options).await {
                Ok(w) => watches.push(w),
                // The rules run on their own just now.
                Err(TriggerError::Sync(SyncError::Busy(_))) => {}
                Err(e) => return Err(e),
            }
        }
    }
    let mut observers: Vec<&mut dyn Observer> =
        watches.iter_mut().map(|w| w as &mut dyn Observer).collect();
    let run = sync::run_observed(env, name, options, progress, &mut observers).await;
    drop(observers);
    let mut runs = Vec::new();
    for mut watch in watches {
        if !watch.was_fed() {
            watch.read(progress).await;
        }
        runs.extend(watch.close()?);
    }
    runs.insert(0, run?);
    Ok(runs)
}
