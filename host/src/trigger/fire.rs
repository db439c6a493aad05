//! One rule's answer to one change: judge it, then create, act or update,
//! each firing exactly once.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value, json};

use crate::config::{Action, TargetRef};
use crate::connector::{CallError, ConnectorError, Operation, Record};
use crate::mapping::{Bindings, Context, Judgement, Stages, loosely_equal, record_id};
use crate::store::{
    Intent, IntentOp, LedgerOp, LedgerRow, Link, LinkOrigin, RecordCommit, Snapshot, unix_now,
};
use crate::sync::{self, Env, StoreLinks};

use super::TriggerError;
use super::watch::Rule;

/// Whether a rule is finished with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fired {
    /// Done with it: acted, refused, failed for good, or nothing to do.
    Done,
    /// A passing failure or an unknown outcome: judge the change again on
    /// the next run (the firing's key keeps that exactly once).
    Retry,
}

/// What a rule's fields made of a record.
enum Mapped {
    Record(Record),
    Failed(String),
    Retry(String),
}

/// The namespace keeping what targets looked like when Ferry last wrote
/// them, for the records linked in `link_ns`.
pub fn targets_ns(link_ns: &str) -> String {
    format!("targets:{link_ns}")
}

/// What firing needs besides the rule.
pub(super) struct Firing<'a> {
    pub env: &'a Env,
    pub stages: Option<&'a Stages>,
    pub now: DateTime<FixedOffset>,
}

impl Firing<'_> {
    /// Judge the change `previous` → `record` (change number `version`)
    /// for `rule`, and act on it.
    pub async fn fire(
        &self,
        rule: &mut Rule,
        id: &str,
        version: u64,
        record: &Value,
        previous: Option<&Value>,
    ) -> Result<Fired, TriggerError> {
        let judgement = {
            let links = StoreLinks(self.env.store.as_ref());
            let ctx = Context::new(&links).at(self.now).with_stages(self.stages);
            rule.plan.judge(record, previous, &ctx)
        };
        match judgement {
            Err(e) => {
                self.row(rule, id, None, LedgerOp::Fail, e.to_string())?;
                return Ok(Fired::Done);
            }
            Ok(Judgement::NoMatch) => return Ok(Fired::Done),
            Ok(Judgement::Guarded(guard)) => {
                self.row(
                    rule,
                    id,
                    None,
                    LedgerOp::Skip,
                    format!("guard `{guard}` does not hold"),
                )?;
                return Ok(Fired::Done);
            }
            Ok(Judgement::Fire) => {}
        }
        let key = format!("{id}:{version}");
        match rule.plan.action().clone() {
            Action::Create { .. } => self.create(rule, id, &key, record).await,
            Action::Act {
                target,
                actions,
                args,
                ..
            } => {
                let actions: Vec<String> = actions.into_iter().map(|a| a.value).collect();
                let args = args.as_object().cloned().unwrap_or_default();
                let mut result = Fired::Done;
                for target_id in self.targets(rule, &target, id, record, previous)? {
                    let step = Step::Act {
                        actions: &actions,
                        args: &args,
                    };
                    if self
                        .on_target(rule, id, &key, &target_id, record, previous, step)
                        .await?
                        == Fired::Retry
                    {
                        result = Fired::Retry;
                    }
                }
                Ok(result)
            }
            Action::Update { target } => {
                let mut result = Fired::Done;
                for target_id in self.targets(rule, &target, id, record, previous)? {
                    if self
                        .on_target(rule, id, &key, &target_id, record, previous, Step::Update)
                        .await?
                        == Fired::Retry
                    {
                        result = Fired::Retry;
                    }
                }
                Ok(result)
            }
        }
    }

    /// Create the rule's record, after settling an interrupted attempt.
    async fn create(
        &self,
        rule: &mut Rule,
        id: &str,
        key: &str,
        record: &Value,
    ) -> Result<Fired, TriggerError> {
        let store = self.env.store.as_ref();
        if store.is_fired(&rule.name, key)? {
            return Ok(Fired::Done);
        }
        let pending = store
            .pending_intents(&rule.name)?
            .into_iter()
            .find(|i| i.key == key);
        // An interrupted attempt: settled by lookup, or never created (then
        // it is created now).
        if let Some(intent) = pending
            && let Some(fired) = self.settle_create(rule, &intent).await?
        {
            return Ok(fired);
        }
        let payload = match self.map(rule, record).await? {
            Mapped::Record(r) => r,
            Mapped::Failed(reason) => {
                self.row(rule, id, None, LedgerOp::Fail, reason)?;
                return Ok(Fired::Done);
            }
            Mapped::Retry(reason) => {
                tracing::warn!(trigger = rule.name, record = id, "{reason}");
                return Ok(Fired::Retry);
            }
        };
        let intent = Intent {
            key: key.to_string(),
            side: crate::mapping::Side::To,
            source_id: id.to_string(),
            op: IntentOp::Create,
            lookup: lookup_of(rule, id, &payload),
            run: rule.run.id,
            created: unix_now(),
        };
        store.put_intents(&rule.name, std::slice::from_ref(&intent))?;
        let result = rule
            .target
            .connector
            .create(rule.target.module(), std::slice::from_ref(&payload))
            .await;
        let outcome = match result {
            Ok(mut results) if results.len() == 1 => results.remove(0),
            Ok(_) => return Ok(Fired::Retry),
            Err(e) => match definite(&e) {
                Some(error) => Err(error),
                None => {
                    tracing::warn!(
                        trigger = rule.name,
                        record = id,
                        "create outcome unknown: {e}"
                    );
                    return Ok(Fired::Retry);
                }
            },
        };
        match outcome {
            Ok(written) => match sync::id_of(&written, &rule.target.info.id_field) {
                Some(target_id) => {
                    self.linked(rule, &intent, &target_id, &written, LedgerOp::Create, None)?;
                    Ok(Fired::Done)
                }
                // Created, but which record? The lookup settles it.
                None => Ok(Fired::Retry),
            },
            Err(e) if sync::is_retryable(&e) => Ok(Fired::Retry),
            Err(e) => {
                store.commit(
                    &rule.name,
                    RecordCommit {
                        intents_done: vec![key.to_string()],
                        ledger: Some(row(rule, id, None, LedgerOp::Fail, e.to_string())),
                        ..Default::default()
                    },
                )?;
                rule.run.counts.count(LedgerOp::Fail);
                Ok(Fired::Done)
            }
        }
    }

    /// An interrupted create: look the record up. `Some`: settled;
    /// `None`: it was never created.
    async fn settle_create(
        &self,
        rule: &mut Rule,
        intent: &Intent,
    ) -> Result<Option<Fired>, TriggerError> {
        let store = self.env.store.as_ref();
        if intent.lookup.is_empty() || !rule.target.info.supports(Operation::Find) {
            // Nothing to look it up by: never risk a second record.
            store.commit(
                &rule.name,
                RecordCommit {
                    intents_done: vec![intent.key.clone()],
                    fired: vec![intent.key.clone()],
                    ledger: Some(row(
                        rule,
                        &intent.source_id,
                        None,
                        LedgerOp::Fail,
                        format!(
                            "an interrupted create may have succeeded and nothing identifies its record (give the rule `match:` fields); check `{}` — Ferry will not create it again",
                            rule.target.module()
                        ),
                    )),
                    ..Default::default()
                },
            )?;
            rule.run.counts.count(LedgerOp::Fail);
            return Ok(Some(Fired::Done));
        }
        let found = match rule
            .target
            .connector
            .find(rule.target.module(), &intent.lookup)
            .await
        {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(trigger = rule.name, "settling an interrupted create: {e}");
                return Ok(Some(Fired::Retry));
            }
        };
        for candidate in found {
            let Some(target_id) = sync::id_of(&candidate, &rule.target.info.id_field) else {
                continue;
            };
            // A record an earlier firing made is not this one.
            if store
                .link(&rule.link_ns, crate::mapping::Side::To, &target_id)?
                .is_some()
            {
                continue;
            }
            self.linked(
                rule,
                intent,
                &target_id,
                &candidate,
                LedgerOp::Link,
                Some("an interrupted create had succeeded; linked, not created again".into()),
            )?;
            return Ok(Some(Fired::Done));
        }
        // A search may lag the vendor's writes (Zoho CRM's does): "not
        // found" is trusted only once a listing, which does not lag,
        // agrees.
        let fields = intent
            .lookup
            .keys()
            .filter_map(|k| crate::config::FieldPath::parse(k).ok())
            .collect();
        let listed = match sync::MatchIndex::build(&rule.target, fields).await {
            Ok(index) => index,
            Err(e) => {
                tracing::warn!(trigger = rule.name, "settling an interrupted create: {e}");
                return Ok(Some(Fired::Retry));
            }
        };
        for target_id in listed.get(&intent.lookup).unwrap_or_default() {
            if store
                .link(&rule.link_ns, crate::mapping::Side::To, target_id)?
                .is_some()
            {
                continue;
            }
            let candidate = match rule
                .target
                .connector
                .get(rule.target.module(), target_id)
                .await
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(trigger = rule.name, "settling an interrupted create: {e}");
                    return Ok(Some(Fired::Retry));
                }
            };
            self.linked(
                rule,
                intent,
                target_id,
                &candidate,
                LedgerOp::Link,
                Some("an interrupted create had succeeded; linked, not created again".into()),
            )?;
            return Ok(Some(Fired::Done));
        }
        store.commit(
            &rule.name,
            RecordCommit {
                intents_done: vec![intent.key.clone()],
                ..Default::default()
            },
        )?;
        Ok(None)
    }

    /// Commit a created (or found) record: link, firing done, what it
    /// looked like, ledger row — one atomic commit.
    fn linked(
        &self,
        rule: &mut Rule,
        intent: &Intent,
        target_id: &str,
        written: &Record,
        op: LedgerOp,
        reason: Option<String>,
    ) -> Result<(), TriggerError> {
        let link = Link {
            other: target_id.to_string(),
            origin: LinkOrigin::Trigger(rule.name.clone()),
            created: unix_now(),
        };
        self.done(
            rule,
            Finished {
                id: &intent.source_id,
                key: &intent.key,
                target_id,
                target: written,
                op,
                reason: reason.unwrap_or_default(),
            },
            vec![(crate::mapping::Side::From, intent.source_id.clone(), link)],
        )
    }

    /// Commit a finished firing: its key done (and its intent), what the
    /// target looks like now, links made, the ledger row.
    fn done(
        &self,
        rule: &mut Rule,
        f: Finished<'_>,
        links: Vec<(crate::mapping::Side, String, Link)>,
    ) -> Result<(), TriggerError> {
        self.env.store.commit(
            &rule.name,
            RecordCommit {
                links,
                intents_done: vec![f.key.to_string()],
                fired: vec![f.key.to_string()],
                foreign_snapshots: remembered(rule, f.target_id, f.target),
                ledger: Some(row(rule, f.id, Some(f.target_id.into()), f.op, f.reason)),
                ..Default::default()
            },
        )?;
        rule.run.counts.count(f.op);
        Ok(())
    }

    /// The records an `act` or `update` works on.
    fn targets(
        &self,
        rule: &mut Rule,
        target: &TargetRef,
        id: &str,
        record: &Value,
        previous: Option<&Value>,
    ) -> Result<Vec<String>, TriggerError> {
        let ids = match target {
            TargetRef::Linked(_) => self
                .env
                .store
                .links(&rule.link_ns, rule.link_side, id)?
                .into_iter()
                .map(|l| l.other)
                .collect(),
            TargetRef::Module { id: expr, .. } => {
                let b = Bindings::new(record, self.now).with_previous(previous);
                match expr
                    .eval(&b)
                    .map_err(Into::into)
                    .and_then(|v| record_id(&v))
                {
                    Ok(target) => vec![target],
                    Err(e) => {
                        self.row(rule, id, None, LedgerOp::Fail, e.to_string())?;
                        return Ok(Vec::new());
                    }
                }
            }
        };
        if ids.is_empty() {
            self.row(
                rule,
                id,
                None,
                LedgerOp::Skip,
                format!("no record is linked to it through `{}`", rule.link_ns),
            )?;
        }
        Ok(ids)
    }

    /// Act on or update one target record, once.
    #[allow(clippy::too_many_arguments)]
    async fn on_target(
        &self,
        rule: &mut Rule,
        id: &str,
        key: &str,
        target_id: &str,
        record: &Value,
        previous: Option<&Value>,
        step: Step<'_>,
    ) -> Result<Fired, TriggerError> {
        let store = self.env.store.as_ref();
        let key = format!("{key}:{target_id}");
        if store.is_fired(&rule.name, &key)? {
            return Ok(Fired::Done);
        }
        let module = rule.target.module().to_string();
        let current = match rule.target.connector.get(&module, target_id).await {
            Ok(r) => r,
            Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => {
                self.row(
                    rule,
                    id,
                    Some(target_id.into()),
                    LedgerOp::Skip,
                    format!("the linked record {target_id} no longer exists"),
                )?;
                return Ok(Fired::Done);
            }
            Err(e) => return self.failed(rule, id, target_id, &key, "get", &e),
        };
        let pending = store
            .pending_intents(&rule.name)?
            .into_iter()
            .find(|i| i.key == key);
        // How many of the step's actions are done already: a step of
        // several actions that stopped half way goes on from there.
        let mut done = 0;
        if let Some(intent) = &pending {
            if let IntentOp::Act { done: d, .. } = intent.op {
                done = d as usize;
            }
            // An interrupted action: if the record moved on from where it
            // was, the action in flight took effect.
            let now = Value::Object(current.clone());
            let moved = rule.guard_field.as_ref().is_some_and(|f| {
                intent.lookup.get(f.as_str()).is_some_and(|before| {
                    !loosely_equal(before, f.get(&now).unwrap_or(&Value::Null))
                })
            });
            if moved {
                done += 1;
            }
            if moved && done >= step.len() {
                self.acted(
                    rule,
                    id,
                    &key,
                    target_id,
                    &current,
                    step.op(),
                    "an interrupted change had taken effect".into(),
                )?;
                return Ok(Fired::Done);
            }
        }
        // The manual guard protects what a person changed; a change of
        // Ferry's own still under way (a pending intent) is not one.
        if pending.is_none()
            && let Some(field) = &rule.guard_field
        {
            let left = store
                .snapshot(
                    &targets_ns(&rule.link_ns),
                    crate::mapping::Side::To,
                    target_id,
                )?
                .and_then(|s| s.state)
                .and_then(|s| s.get(field.as_str()).cloned());
            let now = field
                .get(&Value::Object(current.clone()))
                .cloned()
                .unwrap_or(Value::Null);
            if let Some(left) = left
                && !loosely_equal(&left, &now)
            {
                self.row(
                    rule,
                    id,
                    Some(target_id.into()),
                    LedgerOp::Skip,
                    format!(
                        "`{field}` of {target_id} is {now}, not {left} as Ferry left it: someone changed it, so rules leave this record alone (manual_guard)"
                    ),
                )?;
                return Ok(Fired::Done);
            }
        }
        let target_json = Value::Object(current.clone());
        match rule
            .plan
            .only_if_holds(record, previous, &target_json, self.now)
        {
            Ok(true) => {}
            Ok(false) => {
                let status = target_json
                    .get("status")
                    .map(|s| format!(" (status {s})"))
                    .unwrap_or_default();
                self.row(
                    rule,
                    id,
                    Some(target_id.into()),
                    LedgerOp::Skip,
                    format!("`only_if` does not hold for {target_id}{status}"),
                )?;
                return Ok(Fired::Done);
            }
            Err(e) => {
                self.row(
                    rule,
                    id,
                    Some(target_id.into()),
                    LedgerOp::Fail,
                    e.to_string(),
                )?;
                return Ok(Fired::Done);
            }
        }
        let what = step.describe();
        // The intent names the action under way, how many of the step's
        // actions are done, and the guard field as the target stands, so a
        // retry knows whether the action in flight took effect.
        let announce = |done: usize, target: &Value| {
            let mut lookup = Map::new();
            if let Some(f) = &rule.guard_field {
                lookup.insert(
                    f.as_str().to_string(),
                    f.get(target).cloned().unwrap_or(Value::Null),
                );
            }
            store.put_intents(
                &rule.name,
                &[Intent {
                    key: key.clone(),
                    side: crate::mapping::Side::To,
                    source_id: id.to_string(),
                    op: IntentOp::Act {
                        action: what.clone(),
                        target_id: target_id.to_string(),
                        done: done as u32,
                    },
                    lookup,
                    run: rule.run.id,
                    created: unix_now(),
                }],
            )
        };
        announce(done, &target_json)?;
        let after = match step {
            Step::Act { actions, args } => {
                let mut after = current;
                for (n, action) in actions.iter().enumerate().skip(done) {
                    match rule
                        .target
                        .connector
                        .act(&module, target_id, action, args)
                        .await
                    {
                        Ok(r) => after = r,
                        Err(e) => return self.failed(rule, id, target_id, &key, action, &e),
                    }
                    if n + 1 < actions.len() {
                        // Durably: after a crash or a passing failure of
                        // the next action, this one is not repeated.
                        announce(n + 1, &Value::Object(after.clone()))?;
                    }
                }
                after
            }
            Step::Update => {
                let mut payload = match self.map(rule, record).await? {
                    Mapped::Record(r) => r,
                    Mapped::Failed(reason) => {
                        self.done_with(rule, id, target_id, &key, LedgerOp::Fail, reason)?;
                        return Ok(Fired::Done);
                    }
                    Mapped::Retry(_) => return Ok(Fired::Retry),
                };
                payload.insert(rule.target.info.id_field.clone(), json!(target_id));
                match rule.target.connector.update(&module, &[payload]).await {
                    Ok(mut results) if results.len() == 1 => match results.remove(0) {
                        Ok(r) => r,
                        Err(e) => {
                            let call = CallError::Connector {
                                plugin: String::new(),
                                function: "update",
                                error: e,
                            };
                            return self.failed(rule, id, target_id, &key, "update", &call);
                        }
                    },
                    Ok(_) => return Ok(Fired::Retry),
                    Err(e) => return self.failed(rule, id, target_id, &key, "update", &e),
                }
            }
        };
        self.acted(rule, id, &key, target_id, &after, step.op(), what)?;
        Ok(Fired::Done)
    }

    /// Commit a done action or update.
    #[allow(clippy::too_many_arguments)]
    fn acted(
        &self,
        rule: &mut Rule,
        id: &str,
        key: &str,
        target_id: &str,
        after: &Record,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), TriggerError> {
        let f = Finished {
            id,
            key,
            target_id,
            target: after,
            op,
            reason,
        };
        self.done(rule, f, Vec::new())
    }

    /// A call on a target failed: a definite refusal ends the firing with
    /// a ledger row; anything else is tried again next run.
    fn failed(
        &self,
        rule: &mut Rule,
        id: &str,
        target_id: &str,
        key: &str,
        call: &str,
        error: &CallError,
    ) -> Result<Fired, TriggerError> {
        match definite(error) {
            Some(e) if !sync::is_retryable(&e) => {
                self.done_with(
                    rule,
                    id,
                    target_id,
                    key,
                    LedgerOp::Fail,
                    format!("`{call}` on {target_id}: {e}"),
                )?;
                Ok(Fired::Done)
            }
            _ => {
                tracing::warn!(
                    trigger = rule.name,
                    record = id,
                    target = target_id,
                    "{call}: {error}; tried again next run"
                );
                Ok(Fired::Retry)
            }
        }
    }

    /// Settle a firing's intent with a ledger row and nothing else.
    fn done_with(
        &self,
        rule: &mut Rule,
        id: &str,
        target_id: &str,
        key: &str,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), TriggerError> {
        self.env.store.commit(
            &rule.name,
            RecordCommit {
                intents_done: vec![key.to_string()],
                ledger: Some(row(rule, id, Some(target_id.into()), op, reason)),
                ..Default::default()
            },
        )?;
        rule.run.counts.count(op);
        Ok(())
    }

    /// The rule's fields for `record`, creating missing parents first
    /// where the mapping says `missing: create`.
    async fn map(&self, rule: &Rule, record: &Value) -> Result<Mapped, TriggerError> {
        let apply = || {
            let links = StoreLinks(self.env.store.as_ref());
            let ctx = Context::new(&links).at(self.now).with_stages(self.stages);
            rule.plan.map_fields(record, &ctx)
        };
        let mut applied = apply();
        if let Err(e) = &applied
            && let Some(missing) = e.missing_link.as_ref().filter(|m| m.create)
        {
            match sync::create_parent(self.env, missing).await {
                Ok(sync::Parent::Linked) => applied = apply(),
                Ok(sync::Parent::NotLinked(why)) => {
                    return Ok(Mapped::Failed(sync::Parent::failure(&why, e, missing)));
                }
                Err(e) => {
                    return Ok(Mapped::Retry(format!(
                        "creating its parent through `{}` failed: {e}",
                        missing.sync
                    )));
                }
            }
        }
        Ok(match applied {
            Ok(Some(Value::Object(r))) => Mapped::Record(r),
            Ok(None) => Mapped::Record(Record::new()),
            Ok(Some(_)) => Mapped::Failed("the mapping gave no object".into()),
            Err(e) => Mapped::Failed(e.to_string()),
        })
    }

    /// A ledger row with nothing else to commit.
    fn row(
        &self,
        rule: &mut Rule,
        id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), TriggerError> {
        self.env.store.commit(
            &rule.name,
            RecordCommit {
                ledger: Some(row(rule, id, target_id, op, reason)),
                ..Default::default()
            },
        )?;
        rule.run.counts.count(op);
        Ok(())
    }
}

/// A firing that is finished with one target.
struct Finished<'a> {
    /// The watched record.
    id: &'a str,
    key: &'a str,
    target_id: &'a str,
    /// The target as Ferry left it.
    target: &'a Record,
    op: LedgerOp,
    reason: String,
}

/// What is done to a target record.
#[derive(Clone, Copy)]
enum Step<'s> {
    Act {
        actions: &'s [String],
        args: &'s Record,
    },
    Update,
}

impl Step<'_> {
    fn op(&self) -> LedgerOp {
        match self {
            Step::Act { .. } => LedgerOp::Act,
            Step::Update => LedgerOp::Update,
        }
    }

    /// How many calls the step makes.
    fn len(&self) -> usize {
        match self {
            Step::Act { actions, .. } => actions.len(),
            Step::Update => 1,
        }
    }

    fn describe(&self) -> String {
        match self {
            Step::Act { actions, .. } => actions.join(", then "),
            Step::Update => "update".into(),
        }
    }
}

fn row(
    rule: &Rule,
    id: &str,
    target_id: Option<String>,
    op: LedgerOp,
    reason: String,
) -> LedgerRow {
    LedgerRow {
        run: rule.run.id,
        from_side: crate::mapping::Side::From,
        source_id: id.to_string(),
        target_id,
        op,
        reason: (!reason.is_empty()).then_some(reason),
        diff: Vec::new(),
        rule: Some(rule.name.clone()),
    }
}

/// What the target looked like after Ferry wrote it (its guarded field).
fn remembered(
    rule: &Rule,
    target_id: &str,
    written: &Record,
) -> Vec<(String, crate::mapping::Side, String, Snapshot)> {
    let Some(field) = &rule.guard_field else {
        return Vec::new();
    };
    let Some(value) = field.get(&Value::Object(written.clone())).cloned() else {
        return Vec::new();
    };
    let mut state = Map::new();
    state.insert(field.as_str().to_string(), value);
    vec![(
        targets_ns(&rule.link_ns),
        crate::mapping::Side::To,
        target_id.to_string(),
        Snapshot {
            fingerprint: String::new(),
            modified: None,
            state: Some(Value::Object(state)),
            version: 0,
            taken: unix_now(),
        },
    )]
}

/// Values that identify a record this rule created: its `match` fields,
/// or else the mapped fields holding the source record's id.
fn lookup_of(rule: &Rule, id: &str, payload: &Record) -> Map<String, Value> {
    let root = Value::Object(payload.clone());
    let mut out = Map::new();
    if !rule.match_fields.is_empty() {
        for f in &rule.match_fields {
            if let Some(v) = f.get(&root).filter(|v| !v.is_null()) {
                out.insert(f.as_str().to_string(), v.clone());
            }
        }
        return out;
    }
    for (k, v) in payload {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => continue,
        };
        if text == id {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

/// A call error that certainly means "nothing was written": the
/// connector's own refusal. Traps, limits and protocol errors leave the
/// outcome unknown.
fn definite(error: &CallError) -> Option<ConnectorError> {
    error.connector_error().cloned()
}
