//! One rule's answer to one change: judge it, then create, act or update,
//! each firing exactly once.
//!
//! - this file: the judgement, the targets, mapping, and the commits;
//! - [`create`]: a create on the engine's exactly-once path;
//! - [`act`]: an action or update on a target, resumable mid-step.

mod act;
mod create;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::config::{Action, TargetRef};
use crate::connector::Record;
use crate::engine::endpoint::title_of;
use crate::engine::{Env, StoreLinks};
use crate::mapping::{Bindings, Context, Judgement, Side, Stages, record_id};
use crate::store::{
    Intent, LedgerOp, LedgerRow, Link, LinkOrigin, RecordCommit, Snapshot, unix_now,
};
use crate::sync;

use super::TriggerError;
use super::rule::Rule;
use act::Step;

/// Whether a rule is finished with a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fired {
    /// Done with it: acted, refused, failed for good, or nothing to do.
    Done,
    /// Done, and a record was created and linked to the watched one.
    Linked,
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
    /// Whether `rule` leaves the change `previous` → `record` alone with
    /// nothing to record (its `when` does not match). Judging is pure, so
    /// the watch can skip keeping a change no rule acts on.
    pub fn passes_over(&self, rule: &Rule, record: &Value, previous: Option<&Value>) -> bool {
        let links = StoreLinks(self.env.store.as_ref());
        let ctx = Context::new(&links).at(self.now).with_stages(self.stages);
        matches!(
            rule.plan.judge(record, previous, &ctx),
            Ok(Judgement::NoMatch)
        )
    }

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
            Action::Create { .. } => self.create(rule, id, version, &key, record).await,
            Action::Act {
                target,
                actions,
                args,
                ..
            } => {
                let actions: Vec<String> = actions.into_iter().map(|a| a.value).collect();
                let args = args.as_object().cloned().unwrap_or_default();
                let mut result = Fired::Done;
                for target_id in self.targets(rule, &target, id, version, record, previous)? {
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
                for target_id in self.targets(rule, &target, id, version, record, previous)? {
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

    /// Commit a created (or found) record: link, firing done, what it
    /// looked like, ledger row — one atomic commit.
    #[allow(clippy::too_many_arguments)]
    fn linked(
        &self,
        rule: &mut Rule,
        change: u64,
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
            change: Some(change),
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
            vec![(Side::From, intent.source_id.clone(), link)],
        )
    }

    /// Commit a finished firing: its key done (and its intent), what the
    /// target looks like now, links made, the ledger row.
    fn done(
        &self,
        rule: &mut Rule,
        f: Finished<'_>,
        links: Vec<(Side, String, Link)>,
    ) -> Result<(), TriggerError> {
        self.env.store.commit(
            &rule.name,
            RecordCommit {
                links,
                intents_done: vec![f.key.to_string()],
                fired: vec![f.key.to_string()],
                foreign_snapshots: remembered(rule, f.target_id, f.target),
                ledger: Some(LedgerRow {
                    target_title: title_of(f.target, rule.target.title.as_deref()),
                    ..row(rule, f.id, Some(f.target_id.into()), f.op, f.reason)
                }),
                ..Default::default()
            },
        )?;
        rule.run.counts.count(f.op);
        Ok(())
    }

    /// The records an `act` or `update` on change `change` works on.
    fn targets(
        &self,
        rule: &mut Rule,
        target: &TargetRef,
        id: &str,
        change: u64,
        record: &Value,
        previous: Option<&Value>,
    ) -> Result<Vec<String>, TriggerError> {
        let ids = match target {
            TargetRef::Linked(_) => self
                .env
                .store
                .links(&rule.link_ns, rule.link_side, id)?
                .into_iter()
                // A record a rule made for a later change of this one (that
                // rule ran first) is not this change's to act on.
                .filter(|l| !rule.links_by_change || l.change.is_none_or(|c| c <= change))
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
                // A rule's action that needs an excluded parent cannot
                // be done: it fails, so someone sees it.
                Ok(sync::Parent::NotLinked(why) | sync::Parent::Excluded(why)) => {
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
        self.settle_with_row(rule, Vec::new(), id, target_id, op, reason)
    }

    /// A ledger row and the intents it settles, and nothing else.
    fn settle_with_row(
        &self,
        rule: &mut Rule,
        intents_done: Vec<String>,
        id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), TriggerError> {
        self.env.store.commit(
            &rule.name,
            RecordCommit {
                intents_done,
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

fn row(
    rule: &Rule,
    id: &str,
    target_id: Option<String>,
    op: LedgerOp,
    reason: String,
) -> LedgerRow {
    LedgerRow {
        run: rule.run.id,
        from_side: Side::From,
        source_id: id.to_string(),
        target_id,
        op,
        reason: (!reason.is_empty()).then_some(reason),
        diff: Vec::new(),
        rule: Some(rule.name.clone()),
        title: rule.title.clone(),
        target_title: None,
    }
}

/// What the target looked like after Ferry wrote it (its guarded field).
fn remembered(
    rule: &Rule,
    target_id: &str,
    written: &Record,
) -> Vec<(String, Side, String, Snapshot)> {
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
        Side::To,
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
