//! One watched module: the last state seen of each of its records, and the
//! rules that watch it.

use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::config::{FieldPath, FirstRun, ManualGuard, ModuleRef, TargetRef, When};
use crate::connector::Record;
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

/// Every rule watching one module, and that module's state.
pub struct Watch<'e> {
    env: &'e Env,
    module: ModuleRef,
    /// Namespace of the module's record states and cursor.
    ns: String,
    src: Endpoint,
    pub(super) rules: Vec<Rule>,
    stages: Option<Stages>,
    /// No read of this module has completed yet: rules with
    /// `first_run: baseline` only record what they see.
    baseline: bool,
    /// Some rules on this module are left out (paused, or not asked for):
    /// the module's state and cursor must not move past changes they have
    /// not judged, so nothing is committed but firings. Their next full
    /// read judges the changes again; rules that fired already find their
    /// firing done.
    partial: bool,
    full: bool,
    cursor: Option<Cursor>,
    /// Changes left for the next run (a rule hit a passing failure).
    incomplete: u64,
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
                crate::config::Action::Create { module } => (Some(module.clone()), name.clone()),
                crate::config::Action::Update { target }
                | crate::config::Action::Act { target, .. } => match target {
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
            compiled.push(Rule {
                name: name.clone(),
                plan,
                first_run: t.first_run,
                match_fields: t.match_fields.iter().map(|f| f.value.clone()).collect(),
                target,
                link_ns,
                link_side,
                guard_field,
                run: engine::run::begin(env.store.as_ref(), name, options.trigger)?,
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
        let watching = env
            .workspace
            .triggers
            .values()
            .filter(|t| t.on.same_module(module))
            .count();
        Ok(Watch {
            partial: rules.len() < watching,
            env,
            module: module.clone(),
            ns,
            src,
            rules: compiled,
            stages,
            baseline: cursor.is_none(),
            full: options.full,
            cursor,
            incomplete: 0,
            failure: None,
            watermark: Watermark::new(now),
            next_since: None,
            _claims: claims,
        })
    }

    /// Whether a read (its own or a sync pass's) has gone through the
    /// whole module.
    pub fn was_fed(&self) -> bool {
        self.next_since.is_some()
    }

    /// Read the watched module since the last read and judge every change.
    pub async fn read(&mut self, progress: &dyn Progress) {
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

    /// One record as read: if it changed since last seen, ask each rule.
    async fn judge(&mut self, record: &Record) -> Result<(), TriggerError> {
        let Some(id) = crate::connector::id_of(record, &self.src.info.id_field) else {
            return Ok(());
        };
        self.watermark.note(self.modified(record));
        let store = self.env.store.as_ref();
        let previous = store.snapshot(&self.ns, Side::From, &id)?;
        let state = Value::Object(record.clone());
        let fp = fingerprint(&state);
        if previous.as_ref().is_some_and(|p| p.fingerprint == fp) {
            return Ok(());
        }
        let version = previous.as_ref().map_or(0, |p| p.version) + 1;
        let before = previous.as_ref().and_then(|p| p.state.as_ref());
        let first_sight = self.baseline && previous.is_none();
        let firing = Firing {
            env: self.env,
            stages: self.stages.as_ref(),
            now: Utc::now().fixed_offset(),
        };
        let mut finished = true;
        for rule in &mut self.rules {
            rule.run.counts.read += 1;
            if first_sight && rule.first_run == FirstRun::Baseline {
                continue;
            }
            let before = if first_sight { None } else { before };
            if firing.fire(rule, &id, version, &state, before).await? == Fired::Retry {
                rule.retries += 1;
                finished = false;
            }
        }
        if !finished {
            self.incomplete += 1;
            return Ok(());
        }
        if self.partial {
            return Ok(());
        }
        store.commit(
            &self.ns,
            RecordCommit {
                snapshots: vec![(
                    Side::From,
                    id,
                    Snapshot {
                        fingerprint: fp,
                        modified: self.modified(record).map(str::to_owned),
                        state: Some(state),
                        version,
                        taken: unix_now(),
                    },
                )],
                ..Default::default()
            },
        )?;
        Ok(())
    }

    /// A record's modified time, as the vendor wrote it.
    fn modified<'r>(&self, record: &'r Record) -> Option<&'r str> {
        record
            .get(self.src.info.modified_field.as_deref()?)
            .and_then(Value::as_str)
    }

    /// End the runs: store the cursor when every change was dealt with,
    /// and each rule's run with its status.
    pub fn close(self) -> Result<Vec<RunRecord>, TriggerError> {
        let store = self.env.store.as_ref();
        let complete = self.failure.is_none() && self.incomplete == 0 && !self.partial;
        if complete && let Some(since) = self.next_since {
            store.set_cursor(
                &self.ns,
                Side::From,
                &Cursor {
                    since,
                    deleted_since: None,
                    stored: unix_now(),
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
