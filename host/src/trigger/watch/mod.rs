//! One watched module: the states read of its records, the rules that
//! watch it, and each rule's place in every record's changes.
//!
//! - this file: opening a watch, reading, judging each change, closing;
//! - [`backlog`]: the changes of a record some rule has yet to judge.

mod backlog;

use std::collections::BTreeSet;

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::config::{Action, FieldPath, FirstRun, ManualGuard, ModuleRef, TargetRef, When};
use crate::connector::Record;
use crate::engine::endpoint::title_of;
use crate::engine::fingerprint::fingerprint;
use crate::engine::read::Listing;
use crate::engine::run::{Ending, Unit};
use crate::engine::watermark::Watermark;
use crate::engine::{self, Endpoint, Env, RunGuard};
use crate::mapping::{Side, Stages, TriggerPlan, linked_module};
use crate::store::{Cursor, RecordCommit, RunRecord, Snapshot, unix_now};
use crate::sync::{Observer, Progress, SyncError};

use super::fire::{Fired, Firing};
use super::rule::Rule;
use super::{TriggerError, TriggerOptions};
use backlog::Backlog;

/// Every rule watching one module, and that module's state.
pub struct Watch<'e> {
    env: &'e Env,
    module: ModuleRef,
    /// Namespace of the module's latest record states and cursor.
    ns: String,
    /// Namespace of the records' backlogs (changes some rule has not
    /// judged yet).
    backlog_ns: String,
    src: Endpoint,
    pub(super) rules: Vec<Rule>,
    /// Every rule of the workspace on this module, running or not: a change
    /// read is kept until each has judged it.
    on_module: BTreeSet<String>,
    stages: Option<Stages>,
    /// No read of this module has completed yet: rules with
    /// `first_run: baseline` only record what they see.
    baseline: bool,
    full: bool,
    cursor: Option<Cursor>,
    /// What stopped the watch early, if anything.
    failure: Option<String>,
    /// The records' modified times, for the next cursor.
    watermark: Watermark,
    /// Where the next read starts, once a read has finished.
    next_since: Option<Option<String>>,
    _claims: Vec<RunGuard<'e>>,
}

/// The namespace of a module's record states.
pub fn watch_ns(module: &ModuleRef) -> String {
    format!("watch:{}.{}", module.connection, module.module)
}

/// The namespace of a module's records' backlogs.
fn backlog_ns(module: &ModuleRef) -> String {
    format!("backlog:{}.{}", module.connection, module.module)
}

fn config_error(name: &str, message: impl Into<String>) -> TriggerError {
    TriggerError::Config {
        name: name.to_string(),
        message: message.into(),
    }
}

impl<'e> Watch<'e> {
    /// Compile `rules` (all watching `module`), claim them and start a run
    /// for each.
    pub async fn open(
        env: &'e Env,
        module: &ModuleRef,
        rules: &[String],
        options: &TriggerOptions,
    ) -> Result<Watch<'e>, TriggerError> {
        let src = env.endpoint(module)?;
        let ns = watch_ns(module);
        let mut claims = Vec::new();
        for name in rules {
            claims.push(
                env.claim(name)
                    .ok_or_else(|| SyncError::Busy(name.clone()))?,
            );
        }
        let mut compiled = Vec::new();
        let mut needs_stages = false;
        for name in rules {
            let t = env
                .workspace
                .triggers
                .get(name)
                .ok_or_else(|| TriggerError::UnknownTrigger(name.clone()))?;
            needs_stages |= matches!(t.when, When::Stage(_));
            let plan = TriggerPlan::compile(&env.workspace, name, env.catalog())
                .map_err(|d| config_error(name, d.render_short()))?;
            let (target_ref, link_ns) = match &t.action {
                Action::Create { module } => (Some(module.clone()), name.clone()),
                Action::Update { target } | Action::Act { target, .. } => match target {
                    TargetRef::Linked(l) => (
                        linked_module(&env.workspace, &l.value, &t.on),
                        l.value.clone(),
                    ),
                    TargetRef::Module { module, .. } => (Some(module.clone()), name.clone()),
                },
            };
            let target_ref = target_ref.ok_or_else(|| {
                config_error(name, "cannot tell which module the action writes to")
            })?;
            // As for syncs: amounts are not copied between organisations
            // with different base currencies.
            engine::money::check_between(env, name, &t.on, &target_ref, &t.fields).await?;
            let target = env.endpoint(&target_ref)?;
            // A sync links its `from` records on side From; a record of
            // its `to` module is on side To.
            let link_side = match env.workspace.syncs.get(&link_ns) {
                Some(s) if s.to.same_module(&t.on) => Side::To,
                _ => Side::From,
            };
            let guard_field = match &t.manual_guard {
                ManualGuard::Off => None,
                ManualGuard::Field(f) => Some(f.value.clone()),
                ManualGuard::Default => target
                    .info
                    .fields
                    .iter()
                    .any(|f| f.name == "status")
                    .then(|| FieldPath::parse("status").expect("a plain name")),
            };
            // Rules on this module acting on what this rule creates.
            let acted_on_by = env
                .workspace
                .triggers
                .iter()
                .filter(|(_, other)| other.on.same_module(module))
                .filter(|(_, other)| match &other.action {
                    Action::Update { target } | Action::Act { target, .. } => {
                        matches!(target, TargetRef::Linked(l) if &l.value == name)
                    }
                    Action::Create { .. } => false,
                })
                .map(|(other, _)| other.clone())
                .collect();
            let links_by_change = env
                .workspace
                .triggers
                .get(&link_ns)
                .is_some_and(|maker| maker.on.same_module(module));
            compiled.push(Rule {
                name: name.clone(),
                plan,
                first_run: t.first_run,
                match_fields: t.match_fields.iter().map(|f| f.value.clone()).collect(),
                target,
                link_ns,
                link_side,
                guard_field,
                links_by_change,
                acted_on_by,
                run: engine::run::begin(env.store.as_ref(), name, options.trigger)?,
                title: None,
                retries: 0,
            });
        }
        let stages = if needs_stages {
            Some(load_stages(env, module, &src).await?)
        } else {
            None
        };
        let cursor = env.store.cursor(&ns, Side::From)?;
        let now = Utc::now().fixed_offset();
        let on_module = env
            .workspace
            .triggers
            .iter()
            .filter(|(_, t)| t.on.same_module(module))
            .map(|(name, _)| name.clone())
            .collect();
        let mut watch = Watch {
            env,
            module: module.clone(),
            backlog_ns: backlog_ns(module),
            ns,
            src,
            rules: compiled,
            on_module,
            stages,
            baseline: cursor.is_none(),
            full: options.full,
            cursor,
            failure: None,
            watermark: Watermark::new(now),
            next_since: None,
            _claims: claims,
        };
        if let Err(e) = watch.catch_up().await {
            watch.failure = Some(e.to_string());
        }
        Ok(watch)
    }

    /// Judge the changes these rules missed, or did not finish, in earlier
    /// runs (they were paused, left out, or hit a passing failure): before
    /// anything new is read, so every rule judges a record's changes in
    /// the order they were read.
    async fn catch_up(&mut self) -> Result<(), TriggerError> {
        let backlogs = self.env.store.snapshots(&self.backlog_ns, Side::From)?;
        for (id, stored) in backlogs {
            let backlog: Backlog = match stored.state.map(serde_json::from_value) {
                Some(Ok(b)) => b,
                _ => continue,
            };
            if backlog.has_work_for(self.rules.iter().map(|r| r.name.as_str())) {
                self.work_off(&id, backlog).await?;
            }
        }
        Ok(())
    }

    /// Whether a read (its own or a sync pass's) has gone through the
    /// whole module.
    pub fn was_fed(&self) -> bool {
        self.next_since.is_some()
    }

    /// Read the watched module since the last read and judge every change.
    pub async fn read(&mut self, progress: &dyn Progress) {
        if self.failure.is_some() {
            return;
        }
        let since = self.since();
        // Its own handle on the module, so the listing can run while the
        // watch judges what it reads.
        let src = self.src.clone();
        let mut listing = Listing::new(&src, since.clone());
        loop {
            let records = match listing.next_page().await {
                Ok(Some(records)) => records,
                Ok(None) => break,
                Err(e) => {
                    self.failure = Some(e.to_string());
                    return;
                }
            };
            self.judge_all(&records).await;
            if self.failure.is_some() {
                return;
            }
            if let Some(rule) = self.rules.first() {
                progress.update(&rule.run.counts);
            }
        }
        self.next_since = Some(self.watermark.next(since));
    }

    async fn judge_all(&mut self, records: &[Record]) {
        for record in records {
            if let Err(e) = self.judge(record).await {
                self.failure = Some(e.to_string());
                return;
            }
        }
    }

    /// One record as read: if it changed since last read, it is a new
    /// change for every rule on the module; the running rules judge it.
    async fn judge(&mut self, record: &Record) -> Result<(), TriggerError> {
        let Some(id) = crate::connector::id_of(record, &self.src.info.id_field) else {
            return Ok(());
        };
        self.watermark.note(self.modified(record));
        let store = self.env.store.as_ref();
        let latest = store.snapshot(&self.ns, Side::From, &id)?;
        let state = Value::Object(record.clone());
        let fp = fingerprint(&state);
        if latest.as_ref().is_some_and(|p| p.fingerprint == fp) {
            return Ok(());
        }
        let modified = self.modified(record).map(str::to_owned);
        let snapshot = |number| Snapshot {
            fingerprint: fp.clone(),
            modified: modified.clone(),
            state: Some(state.clone()),
            version: number,
            taken: unix_now(),
        };
        let baseline = self.baseline && latest.is_none();
        let number = latest.as_ref().map_or(0, |p| p.version) + 1;
        let before = latest.as_ref().and_then(|p| p.state.as_ref());
        if self.passes_over(&id, number, &state, before, baseline)? {
            store.commit(
                &self.ns,
                RecordCommit {
                    snapshots: vec![(Side::From, id, snapshot(number))],
                    ..Default::default()
                },
            )?;
            return Ok(());
        }
        let mut backlog = self.backlog(&id)?;
        let number = backlog.observe(
            latest.as_ref().map(|p| (p.version, p.state.as_ref())),
            state.clone(),
            baseline,
            self.on_module.iter().map(String::as_str),
        );
        // The change is stored, as the record's latest state and in its
        // backlog, before any rule acts on it: whatever happens next, every
        // rule judges it once.
        let mut commit = self.backlog_commit(&id, &mut backlog);
        commit
            .snapshots
            .push((Side::From, id.clone(), snapshot(number)));
        store.commit(&self.ns, commit)?;
        self.work_off(&id, backlog).await
    }

    /// The common case, kept cheap: every rule on the module is running,
    /// none is behind on this record, and none acts on this change — it is
    /// judged and done with no backlog.
    fn passes_over(
        &mut self,
        id: &str,
        number: u64,
        state: &Value,
        before: Option<&Value>,
        baseline: bool,
    ) -> Result<bool, TriggerError> {
        if self.rules.len() < self.on_module.len()
            || self
                .env
                .store
                .snapshot(&self.backlog_ns, Side::From, id)?
                .is_some()
        {
            return Ok(false);
        }
        let firing = Firing {
            env: self.env,
            stages: self.stages.as_ref(),
            now: Utc::now().fixed_offset(),
        };
        let quiet = self.rules.iter().all(|rule| {
            (baseline && rule.first_run == FirstRun::Baseline)
                || firing.passes_over(rule, state, before)
        });
        if quiet {
            for rule in &mut self.rules {
                rule.run.counts.read += 1;
            }
            tracing::trace!(record = id, change = number, "no rule acts on it");
        }
        Ok(quiet)
    }

    /// The backlog of `id` (empty when every rule judged every change).
    fn backlog(&self, id: &str) -> Result<Backlog, TriggerError> {
        let stored = self
            .env
            .store
            .snapshot(&self.backlog_ns, Side::From, id)?
            .and_then(|s| s.state);
        Ok(stored
            .and_then(|s| serde_json::from_value(s).ok())
            .unwrap_or_default())
    }

    /// A commit storing `backlog` as it stands (pruned), or removing it
    /// once every rule on the module judged every change.
    fn backlog_commit(&self, id: &str, backlog: &mut Backlog) -> RecordCommit {
        let mut commit = RecordCommit::default();
        if backlog.prune(&self.on_module) {
            commit
                .forget
                .push((self.backlog_ns.clone(), Side::From, id.to_string()));
        } else {
            commit.foreign_snapshots.push((
                self.backlog_ns.clone(),
                Side::From,
                id.to_string(),
                Snapshot {
                    fingerprint: String::new(),
                    modified: None,
                    state: serde_json::to_value(&*backlog).ok(),
                    version: backlog.latest(),
                    taken: unix_now(),
                },
            ));
        }
        commit
    }

    /// The running rules judge the changes of `id` they have not judged,
    /// change by change, all of them one change before any the next: a
    /// rule held by a passing failure holds the others on this record
    /// too, so no rule acts on a later change before an earlier one is
    /// done.
    async fn work_off(&mut self, id: &str, mut backlog: Backlog) -> Result<(), TriggerError> {
        let firing = Firing {
            env: self.env,
            stages: self.stages.as_ref(),
            now: Utc::now().fixed_offset(),
        };
        while let Some(number) = self
            .rules
            .iter()
            .filter_map(|r| backlog.next(&r.name))
            .map(|c| c.number)
            .min()
        {
            let mut held = false;
            for rule in &mut self.rules {
                let Some(change) = backlog.next(&rule.name).filter(|c| c.number == number) else {
                    continue;
                };
                rule.run.counts.read += 1;
                rule.title = change
                    .after
                    .as_object()
                    .and_then(|r| title_of(r, self.src.title.as_deref()));
                let fired = if change.baseline && rule.first_run == FirstRun::Baseline {
                    Fired::Done
                } else {
                    firing
                        .fire(rule, id, number, &change.after, change.before.as_ref())
                        .await?
                };
                match fired {
                    Fired::Retry => {
                        rule.retries += 1;
                        held = true;
                    }
                    Fired::Done => backlog.advance(&rule.name, number),
                    Fired::Linked => {
                        backlog.advance(&rule.name, number);
                        backlog.rewind(rule.acted_on_by.iter().map(String::as_str), number);
                    }
                }
            }
            let commit = self.backlog_commit(id, &mut backlog);
            self.env.store.commit(&self.ns, commit)?;
            if held {
                break;
            }
        }
        Ok(())
    }

    /// A record's modified time, as the vendor wrote it.
    fn modified<'r>(&self, record: &'r Record) -> Option<&'r str> {
        record
            .get(self.src.info.modified_field.as_deref()?)
            .and_then(Value::as_str)
    }

    /// End the runs: store the cursor when the read went through (changes
    /// a rule has not finished with wait in their records' backlogs), and
    /// each rule's run with its status.
    pub fn close(self) -> Result<Vec<RunRecord>, TriggerError> {
        let store = self.env.store.as_ref();
        if self.failure.is_none()
            && let Some(since) = self.next_since
        {
            store.set_cursor(
                &self.ns,
                Side::From,
                &Cursor {
                    since,
                    deleted_since: None,
                    stored: unix_now(),
                    full_read: None,
                },
            )?;
        }
        let mut runs = Vec::new();
        for mut rule in self.rules {
            let ending = match &self.failure {
                Some(why) => Ending::Stopped(why.clone()),
                None => Ending::Done {
                    retry: rule.retries,
                    unit: Unit::Changes,
                },
            };
            engine::run::end(store, &mut rule.run, ending)?;
            runs.push(rule.run);
        }
        Ok(runs)
    }
}

impl Observer for Watch<'_> {
    fn module(&self) -> &ModuleRef {
        &self.module
    }

    fn since(&self) -> Option<String> {
        if self.full {
            return None;
        }
        self.cursor.as_ref().and_then(|c| c.since.clone())
    }

    fn observe<'a>(&'a mut self, records: &'a [Record]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if self.failure.is_none() {
                self.judge_all(records).await;
            }
        })
    }

    fn finish(&mut self, since: Option<String>) {
        self.next_since = Some(since);
    }
}

/// The module's stage–probability mapping, read from the connector's stage
/// module as its manifest says.
async fn load_stages(
    env: &Env,
    module: &ModuleRef,
    src: &Endpoint,
) -> Result<Stages, TriggerError> {
    let what = module.to_string();
    let connector = env
        .workspace
        .connector_of(&module.connection)
        .unwrap_or_default();
    let table = env
        .catalog()
        .manifests
        .get(connector)
        .and_then(|m| m.stages.get(&module.module))
        .ok_or_else(|| {
            config_error(
                &what,
                format!("connector `{connector}` has no stage–probability mapping for `{what}`"),
            )
        })?;
    let field = FieldPath::parse(&table.field).map_err(|e| {
        config_error(
            &what,
            format!("stage field `{}`: {}", table.field, e.message),
        )
    })?;
    let mut records = Vec::new();
    // Stage records are keyed by `id`, the stage's value.
    let mut listing = Listing::of(src, &table.module, "id", None);
    while let Some(page) = listing.next_page().await.map_err(SyncError::from)? {
        records.extend(page.into_iter().map(Value::Object));
    }
    Ok(Stages::from_records(field, &records))
}
