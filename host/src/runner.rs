//! A run of a whole workspace: every sync in dependency order, then every
//! trigger rule, each vendor module read once. Syncs run at once when
//! neither needs the other's links and they share no module, so reading
//! independent modules overlaps. Trigger rules watching a module that a
//! sync reads are fed by that sync's pass; the others read their module
//! themselves. Rollups run after the syncs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::config::{Action, FieldMapping, Source, SyncConfig, TargetRef, Workspace};
use crate::rollup::RollupError;
use crate::store::{Counts, RunRecord, RunTrigger};
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
    let mut order = Vec::new();
    for name in sync_order(&env.workspace) {
        if !env.store.is_paused(&name)? {
            order.push(name);
        }
    }
    let needs = sync_needs(&env.workspace);
    let syncs = &env.workspace.syncs;
    // Each watched module is fed by the first sync, in order, reading it.
    let mut feeds: BTreeMap<&str, Vec<&mut Watch>> = BTreeMap::new();
    for watch in watches.iter_mut() {
        if let Some(name) = order.iter().find(|n| reads(&syncs[*n], watch)) {
            feeds.entry(name.as_str()).or_default().push(watch);
        }
    }
    let totals = Totals::new(progress);
    let mut done: BTreeMap<usize, RunRecord> = BTreeMap::new();
    let mut waiting: Vec<usize> = (0..order.len()).collect();
    let mut active: BTreeSet<usize> = BTreeSet::new();
    let mut running = FuturesUnordered::new();
    loop {
        // Start, in order, every sync whose links' syncs are done and
        // that shares no module with one running or waiting before it.
        let mut i = 0;
        while i < waiting.len() {
            let name = order[waiting[i]].as_str();
            let ahead = waiting[..i]
                .iter()
                .chain(&active)
                .map(|o| order[*o].as_str());
            if !may_start(&env.workspace, &needs, name, ahead) {
                i += 1;
                continue;
            }
            let at = waiting.remove(i);
            active.insert(at);
            let mut observed = feeds.remove(name).unwrap_or_default();
            let part = totals.part(at);
            let sync_options = &sync_options;
            running.push(async move {
                let mut observers: Vec<&mut dyn Observer> = observed
                    .iter_mut()
                    .map(|w| &mut **w as &mut dyn Observer)
                    .collect();
                let run = sync::run_observed(env, name, sync_options, &part, &mut observers).await;
                (at, run)
            });
        }
        let Some((at, run)) = running.next().await else {
            break;
        };
        active.remove(&at);
        let name = &order[at];
        match run {
            Ok(run) => {
                done.insert(at, run);
            }
            Err(e @ (SyncError::Busy(_) | SyncError::Paused(_))) => {
                tracing::info!(sync = name, "{e}");
            }
            Err(e) => {
                done.insert(at, failed_run(env, name, options.trigger, &e.to_string())?);
            }
        }
    }
    drop(running);
    drop(feeds);
    // In the workspace's order, whatever order they ended in.
    runs.extend(done.into_values());
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

/// Whether sync `name` may start while the syncs `ahead` of it (running,
/// or waiting before it in order) have not finished: none of them makes
/// links it reads or reads its links, and none reads or writes a module
/// it does, so the later one matches against what the earlier one
/// created.
fn may_start<'a>(
    ws: &Workspace,
    needs: &BTreeMap<String, BTreeSet<String>>,
    name: &str,
    mut ahead: impl Iterator<Item = &'a str>,
) -> bool {
    let sync = &ws.syncs[name];
    !ahead.any(|other| {
        needs[name].contains(other)
            || needs[other].contains(name)
            || shares_module(sync, &ws.syncs[other])
    })
}

/// Whether `sync` reads the module `watch` watches.
fn reads(sync: &SyncConfig, watch: &Watch) -> bool {
    watch.module().same_module(&sync.from) || watch.module().same_module(&sync.to)
}

/// Whether two syncs read or write a module in common: they run one after
/// the other, so the second matches against what the first created.
fn shares_module(a: &SyncConfig, b: &SyncConfig) -> bool {
    [&a.from, &a.to]
        .iter()
        .any(|m| m.same_module(&b.from) || m.same_module(&b.to))
}

/// The progress of syncs running at once, reported as their sum.
struct Totals<'a> {
    progress: &'a dyn Progress,
    parts: Mutex<BTreeMap<usize, Counts>>,
}

/// One sync's share of [`Totals`].
struct Part<'t, 'a> {
    totals: &'t Totals<'a>,
    at: usize,
}

impl<'a> Totals<'a> {
    fn new(progress: &'a dyn Progress) -> Totals<'a> {
        Totals {
            progress,
            parts: Mutex::new(BTreeMap::new()),
        }
    }

    fn part(&self, at: usize) -> Part<'_, 'a> {
        Part { totals: self, at }
    }
}

impl Progress for Part<'_, '_> {
    fn update(&self, counts: &Counts) {
        let sum = {
            let mut parts = self.totals.parts.lock().unwrap();
            parts.insert(self.at, *counts);
            parts.values().fold(Counts::default(), |mut sum, c| {
                sum += c;
                sum
            })
        };
        self.totals.progress.update(&sum);
    }
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
    let needs = sync_needs(ws);
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    fn visit(
        name: &str,
        needs: &BTreeMap<String, BTreeSet<String>>,
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

/// Each sync's syncs whose links it reads (its fields' and children's
/// lookups, and those of the rules on its modules): they run before it.
fn sync_needs(ws: &Workspace) -> BTreeMap<String, BTreeSet<String>> {
    let mut needs = BTreeMap::new();
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
        needs.insert(name.clone(), deps);
    }
    needs
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, SecretMode};

    const WS: &str = r#"version: 1
connections:
  crm: { connector: zoho-crm }
  billing: { connector: zoho-billing }
syncs:
  accounts:
    from: crm.Accounts
    to: billing.customers
    fields: { display_name: Account_Name }
  people:
    from: crm.Contacts
    to: billing.customers
    fields: { display_name: Full_Name }
  products:
    from: crm.Products
    to: billing.items
    fields: { name: Product_Name }
  quotes:
    from: crm.Deals
    to: billing.estimates
    fields:
      customer_id: { link: accounts, from: Account_Name.id }
"#;

    /// Syncs overlap only when neither reads the other's links and they
    /// share no module; the order they would run in one by one stays.
    #[test]
    fn syncs_run_at_once_only_when_independent() {
        let ws = Workspace::load_str(
            "ws.yaml",
            WS,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
        let needs = sync_needs(&ws);
        let order = sync_order(&ws);
        assert!(
            order.iter().position(|s| s == "accounts") < order.iter().position(|s| s == "quotes"),
            "{order:?}"
        );
        let cases: [(&str, &[&str], bool); 7] = [
            ("accounts", &[], true),
            ("products", &["accounts"], true),
            ("products", &["accounts", "people", "quotes"], true),
            // Both write Billing customers: one matches what the other made.
            ("people", &["accounts"], false),
            // Quotes look up the customers `accounts` links.
            ("quotes", &["accounts"], false),
            ("quotes", &["products", "people"], true),
            ("accounts", &["products", "quotes"], false),
        ];
        for (name, ahead, may) in cases {
            assert_eq!(
                may_start(&ws, &needs, name, ahead.iter().copied()),
                may,
                "{name} after {ahead:?}"
            );
        }
    }
}
