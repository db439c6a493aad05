//! Trigger conditions and the actions a firing trigger plans.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use crate::config::{
    Action, Catalog, Diagnostics, FieldPath, Outcome, TargetRef, Trigger, When, Workspace,
};

use super::expr::{Bindings, EvalError, Expr};
use super::plan::{Context, Plan, RecordError};

/// A trigger's `when` and `guards`, compiled.
#[derive(Debug, Clone)]
pub struct Condition {
    when: When,
    guards: Vec<Expr>,
}

/// A module's stage–probability mapping: which field holds the stage, and
/// each stage's probability in percent.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages {
    pub field: FieldPath,
    pub probability: HashMap<String, f64>,
}

impl Stages {
    /// Build from stage records (`id`, `probability`), as a connector's
    /// stage module lists them.
    pub fn from_records<'r>(
        field: FieldPath,
        records: impl IntoIterator<Item = &'r Json>,
    ) -> Stages {
        let probability = records
            .into_iter()
            .filter_map(|r| {
                let id = r.get("id")?.as_str()?;
                let p = match r.get("probability")? {
                    Json::Number(n) => n.as_f64()?,
                    Json::String(s) => s.trim().parse().ok()?,
                    _ => return None,
                };
                Some((id.to_string(), p))
            })
            .collect();
        Stages { field, probability }
    }

    /// Whether `record` is at a stage with this outcome.
    pub fn is(&self, record: Option<&Json>, outcome: Outcome) -> bool {
        record
            .and_then(|r| self.field.get(r))
            .and_then(Json::as_str)
            .and_then(|stage| self.probability.get(stage))
            .is_some_and(|p| *p == outcome.probability())
    }
}

/// Why a condition could not be judged.
fn no_stages() -> EvalError {
    EvalError(
        "`when: { stage }` needs the module's stage–probability mapping, which is not loaded"
            .into(),
    )
}

/// Loose equality: same JSON, or same text (`"100"` vs `100`).
pub fn loosely_equal(a: &Json, b: &Json) -> bool {
    if a == b {
        return true;
    }
    match (a, b) {
        (Json::String(s), Json::Number(n)) | (Json::Number(n), Json::String(s)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

impl Condition {
    pub fn new(when: When, guards: Vec<Expr>) -> Condition {
        Condition { when, guards }
    }

    /// Whether the change `previous` → `record` fires the trigger.
    /// `previous` is `None` for a record seen for the first time.
    pub fn eval(
        &self,
        record: &Json,
        previous: Option<&Json>,
        target: Option<&Json>,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<bool, EvalError> {
        Ok(self.matches(record, previous, now, None)?
            && self.guards_hold(record, previous, target, now)?)
    }

    /// Whether `when` holds for the change `previous` → `record` (guards
    /// aside).
    pub fn matches(
        &self,
        record: &Json,
        previous: Option<&Json>,
        now: chrono::DateTime<chrono::FixedOffset>,
        stages: Option<&Stages>,
    ) -> Result<bool, EvalError> {
        let b = Bindings::new(record, now).with_previous(previous);
        let null = Json::Null;
        let fired = match &self.when {
            When::Created => previous.is_none(),
            When::Becomes { field, value } => {
                let cur = field.get(record).unwrap_or(&null);
                let prev = previous.and_then(|p| field.get(p)).unwrap_or(&null);
                loosely_equal(cur, value) && !loosely_equal(prev, value)
            }
            When::Changes { field, from, to } => {
                let cur = field.get(record).unwrap_or(&null);
                let prev = previous.and_then(|p| field.get(p)).unwrap_or(&null);
                !loosely_equal(cur, prev)
                    && from.as_ref().is_none_or(|f| loosely_equal(prev, f))
                    && to.as_ref().is_none_or(|t| loosely_equal(cur, t))
            }
            When::Expr(e) => e.eval_bool(&b)?,
            When::Stage(outcome) => {
                let stages = stages.ok_or_else(no_stages)?;
                stages.is(Some(record), outcome.value) && !stages.is(previous, outcome.value)
            }
        };
        Ok(fired)
    }

    /// The first guard that does not hold, by its source text.
    pub fn failed_guard(
        &self,
        record: &Json,
        previous: Option<&Json>,
        target: Option<&Json>,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<Option<&str>, EvalError> {
        let b = Bindings::new(record, now)
            .with_previous(previous)
            .with_target(target);
        for g in &self.guards {
            if !g.eval_bool(&b)? {
                return Ok(Some(g.source()));
            }
        }
        Ok(None)
    }

    fn guards_hold(
        &self,
        record: &Json,
        previous: Option<&Json>,
        target: Option<&Json>,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<bool, EvalError> {
        Ok(self.failed_guard(record, previous, target, now)?.is_none())
    }
}

/// What a fired trigger asks the engine to do.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAction {
    pub trigger: String,
    pub kind: ActionKind,
    /// Mapped fields (create, update).
    pub fields: Option<Json>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    /// Create a record in `connection.Module`.
    Create { module: String },
    /// Update the target record.
    Update { target: String, id: Option<String> },
    /// Run a named action on the target record. `only_if` was checked when
    /// the target was known; otherwise the engine checks it.
    Act {
        target: String,
        id: Option<String>,
        /// Done in order on the same record.
        actions: Vec<String>,
        args: Json,
        only_if: Option<Expr>,
    },
}

impl PlannedAction {
    /// The form used in `*.test.yaml` expectations.
    pub fn to_json(&self) -> Json {
        let mut v = match &self.kind {
            ActionKind::Create { module } => json!({ "create": module }),
            ActionKind::Update { target, id } => {
                let mut v = json!({ "update": target });
                if let Some(id) = id {
                    v["id"] = json!(id);
                }
                v
            }
            ActionKind::Act {
                target,
                id,
                actions,
                args,
                ..
            } => {
                let act = match actions.as_slice() {
                    [one] => json!(one),
                    many => json!(many),
                };
                let mut v = json!({ "act": act, "on": target });
                if let Some(id) = id {
                    v["id"] = json!(id);
                }
                if !args.is_null() {
                    v["args"] = args.clone();
                }
                v
            }
        };
        if let Some(f) = &self.fields {
            v["fields"] = f.clone();
        }
        v
    }
}

/// A compiled trigger.
#[derive(Debug, Clone)]
pub struct TriggerPlan {
    name: String,
    condition: Condition,
    action: Action,
    fields: Option<Plan>,
}

impl TriggerPlan {
    pub fn compile(
        ws: &Workspace,
        name: &str,
        catalog: &dyn Catalog,
    ) -> Result<TriggerPlan, Diagnostics> {
        let Some(t): Option<&Trigger> = ws.triggers.get(name) else {
            let hint = crate::config::did_you_mean(name, ws.triggers.keys().map(String::as_str));
            return Err(crate::config::Diagnostic::global(format!(
                "no trigger `{name}` in the workspace"
            ))
            .with_hint_opt(hint)
            .into());
        };
        let fields = if t.fields.is_empty() {
            None
        } else {
            Some(Plan::for_trigger(ws, name, catalog)?)
        };
        Ok(TriggerPlan {
            name: name.to_owned(),
            condition: Condition::new(t.when.clone(), t.guards.clone()),
            action: t.action.clone(),
            fields,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn condition(&self) -> &Condition {
        &self.condition
    }

    /// Judge the change `previous` → `record`: does `when` hold, and do
    /// the guards? `ctx.stages` serves `when: { stage }`.
    pub fn judge(
        &self,
        record: &Json,
        previous: Option<&Json>,
        ctx: &Context,
    ) -> Result<Judgement, RecordError> {
        if !self
            .condition
            .matches(record, previous, ctx.now, ctx.stages)?
        {
            return Ok(Judgement::NoMatch);
        }
        Ok(
            match self
                .condition
                .failed_guard(record, previous, ctx.target, ctx.now)?
            {
                Some(guard) => Judgement::Guarded(guard.to_string()),
                None => Judgement::Fire,
            },
        )
    }

    /// The mapped fields of a firing (create, update); `None` when the
    /// trigger maps none.
    pub fn map_fields(&self, record: &Json, ctx: &Context) -> Result<Option<Json>, RecordError> {
        self.fields
            .as_ref()
            .map(|p| p.apply(record, ctx))
            .transpose()
    }

    /// `only_if` on the target as it is now; `true` when there is none.
    pub fn only_if_holds(
        &self,
        record: &Json,
        previous: Option<&Json>,
        target: &Json,
        now: chrono::DateTime<chrono::FixedOffset>,
    ) -> Result<bool, RecordError> {
        let Action::Act {
            only_if: Some(e), ..
        } = &self.action
        else {
            return Ok(true);
        };
        let b = Bindings::new(record, now)
            .with_previous(previous)
            .with_target(Some(target));
        Ok(e.eval_bool(&b)?)
    }

    /// The trigger's action as configured.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// Evaluate the change `previous` → `record`. `ctx.target` is the
    /// record the action would touch, where known (for `only_if`).
    /// `Ok(None)`: the trigger does not fire (or `only_if` said no).
    pub fn evaluate(
        &self,
        record: &Json,
        previous: Option<&Json>,
        ctx: &Context,
    ) -> Result<Option<PlannedAction>, RecordError> {
        if self.judge(record, previous, ctx)? != Judgement::Fire {
            return Ok(None);
        }
        let fields = self.map_fields(record, ctx)?;
        let b = Bindings::new(record, ctx.now)
            .with_previous(previous)
            .with_target(ctx.target);
        let target_of = |t: &TargetRef| -> Result<(String, Option<String>), RecordError> {
            Ok(match t {
                TargetRef::Linked(n) => (format!("linked({})", n.value), None),
                TargetRef::Module { module, id } => {
                    (module.to_string(), Some(record_id(&id.eval(&b)?)?))
                }
            })
        };
        let kind = match &self.action {
            Action::Create { module } => ActionKind::Create {
                module: module.to_string(),
            },
            Action::Update { target } => {
                let (target, id) = target_of(target)?;
                ActionKind::Update { target, id }
            }
            Action::Act {
                target,
                actions,
                only_if,
                args,
            } => {
                let (target, id) = target_of(target)?;
                let mut pending = only_if.clone();
                if let (Some(e), Some(_)) = (only_if, ctx.target) {
                    if !e.eval_bool(&b)? {
                        return Ok(None);
                    }
                    pending = None;
                }
                ActionKind::Act {
                    target,
                    id,
                    actions: actions.iter().map(|a| a.value.clone()).collect(),
                    args: args.clone(),
                    only_if: pending,
                }
            }
        };
        Ok(Some(PlannedAction {
            trigger: self.name.clone(),
            kind,
            fields,
        }))
    }
}

/// A record id an expression gave.
pub fn record_id(v: &Json) -> Result<String, RecordError> {
    match v {
        Json::String(s) => Ok(s.clone()),
        Json::Number(n) => Ok(n.to_string()),
        other => Err(RecordError {
            field: None,
            reason: format!("record id expression gave {other}"),
            missing_link: None,
        }),
    }
}

/// What a trigger makes of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// `when` does not hold: nothing to say.
    NoMatch,
    /// `when` holds but this guard does not.
    Guarded(String),
    Fire,
}
