//! A rule's `act` or `update` on one target record, once: the intent
//! names the action under way (and how far a step of several actions
//! got), so a crash or a passing failure neither repeats an action nor
//! skips one; the manual guard and `only_if` are checked first.

use serde_json::{Map, Value, json};

use crate::connector::{CallError, ConnectorError, Record};
use crate::engine::write::is_retryable;
use crate::mapping::{Side, loosely_equal};
use crate::store::{Intent, IntentOp, LedgerOp, unix_now};

use super::super::TriggerError;
use super::super::rule::Rule;
use super::{Finished, Fired, Firing, Mapped, targets_ns};

impl Firing<'_> {
    /// Act on or update one target record, once.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn on_target(
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
        let current = match rule.target.vendor.get(&module, target_id).await {
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
                .snapshot(&targets_ns(&rule.link_ns), Side::To, target_id)?
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
                    side: Side::To,
                    source_id: id.to_string(),
                    op: IntentOp::Act {
                        action: what.clone(),
                        target_id: target_id.to_string(),
                        done: done as u32,
                    },
                    lookup,
                    run: rule.run.id,
                    created: unix_now(),
                    job: None,
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
                        .vendor
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
                match rule.target.vendor.update(&module, &[payload]).await {
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
            Some(e) if !is_retryable(&e) => {
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
        let intents = vec![key.to_string()];
        self.settle_with_row(rule, intents, id, Some(target_id.into()), op, reason)
    }
}

/// What is done to a target record.
#[derive(Clone, Copy)]
pub(super) enum Step<'s> {
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

/// A call error that certainly means "nothing was written": the
/// connector's own refusal. Traps, limits and protocol errors leave the
/// outcome unknown.
fn definite(error: &CallError) -> Option<ConnectorError> {
    error.connector_error().cloned()
}
