//! Trigger conditions and the actions a firing trigger plans.

use serde_json::{Value as Json, json};

use crate::config::{Action, Catalog, Diagnostics, TargetRef, Trigger, When, Workspace};

use super::expr::{Bindings, EvalError, Expr};
use super::plan::{Context, Plan, RecordError};

/// A trigger's `when` and `guards`, compiled.
#[derive(Debug, Clone)]
pub struct Condition {
    when: When,
    guards: Vec<Expr>,
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
        let b = Bindings::new(record, now)
            .with_previous(previous)
            .with_target(target);
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
        };
        if !fired {
            return Ok(false);
        }
        for g in &self.guards {
            if !g.eval_bool(&b)? {
                return Ok(false);
            }
        }
        Ok(true)
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
        action: String,
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
                action,
                args,
                ..
            } => {
                let mut v = json!({ "act": action, "on": target });
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

    /// Evaluate the change `previous` → `record`. `ctx.target` is the
    /// record the action would touch, where known (for `only_if`).
    /// `Ok(None)`: the trigger does not fire (or `only_if` said no).
    pub fn evaluate(
        &self,
        record: &Json,
        previous: Option<&Json>,
        ctx: &Context,
    ) -> Result<Option<PlannedAction>, RecordError> {
        if !self.condition.eval(record, previous, ctx.target, ctx.now)? {
            return Ok(None);
        }
        let fields = match &self.fields {
            Some(p) => Some(p.apply(record, ctx)?),
            None => None,
        };
        let b = Bindings::new(record, ctx.now)
            .with_previous(previous)
            .with_target(ctx.target);
        let target_of = |t: &TargetRef| -> Result<(String, Option<String>), RecordError> {
            Ok(match t {
                TargetRef::Linked(n) => (format!("linked({})", n.value), None),
                TargetRef::Module { module, id } => {
                    let v = id.eval(&b)?;
                    let id = match v {
                        Json::String(s) => s,
                        Json::Number(n) => n.to_string(),
                        other => {
                            return Err(RecordError {
                                field: None,
                                reason: format!("record id expression gave {other}"),
                                missing_link: None,
                            });
                        }
                    };
                    (module.to_string(), Some(id))
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
                action,
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
                    action: action.value.clone(),
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
