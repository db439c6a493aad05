//! Rollups, pure: what one child record contributes to its parent, and the
//! figures of a parent from the contributions of its children.
//!
//! A contribution keeps only the child's fields the figures read, so the
//! state can hold every child per parent and a changed child recomputes
//! its parent without reading the others again. Filters are evaluated when
//! figures are computed, not when children are read, so figures that
//! depend on the date (`due_date < today`) follow the clock from the
//! stored contributions alone.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::config::{Aggregate, Rollup, Workspace};
use crate::connector::Record;

use super::expr::{Bindings, Expr, to_number};

/// Why a child or a parent's figures could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RollupError {
    #[error("no rollup `{0}` in the workspace")]
    Unknown(String),
    #[error("child `{child}`: {message}")]
    Child { child: String, message: String },
    #[error("figure `{field}`, child `{child}`: {message}")]
    Figure {
        field: String,
        child: String,
        message: String,
    },
}

/// What one child record gives its parent.
#[derive(Debug, Clone, PartialEq)]
pub enum Contribution {
    /// It counts towards `parent`, with the fields the figures read.
    To { parent: String, values: Value },
    /// It counts towards no parent: why.
    Nothing(String),
}

/// A rollup compiled for runs: which child fields to keep, and how.
#[derive(Debug, Clone)]
pub struct RollupPlan {
    pub rollup: Rollup,
    /// Top-level child fields contributions keep; `None`: the whole record
    /// (an expression reads it as a whole).
    keep: Option<BTreeSet<String>>,
    /// The view depends on the clock: judged with the figures, not on read.
    view_later: bool,
}

impl RollupPlan {
    /// The plan of rollup `name`.
    pub fn compile(ws: &Workspace, name: &str) -> Result<RollupPlan, RollupError> {
        let rollup = ws
            .rollups
            .get(name)
            .ok_or_else(|| RollupError::Unknown(name.to_string()))?;
        Ok(RollupPlan::new(rollup.clone()))
    }

    pub fn new(rollup: Rollup) -> RollupPlan {
        let view_later = rollup.view.as_ref().is_some_and(Expr::uses_time);
        let mut keep = Some(BTreeSet::new());
        let add_expr = |keep: &mut Option<BTreeSet<String>>, e: &Expr| match e.record_fields() {
            Some(fields) => {
                if let Some(k) = keep {
                    k.extend(fields.iter().cloned());
                }
            }
            None => *keep = None,
        };
        for f in &rollup.fields {
            if let Some(k) = &mut keep {
                k.extend(f.of.iter().chain(&f.by).map(|p| p.head().to_string()));
            }
            if let Some(filter) = &f.filter {
                add_expr(&mut keep, filter);
            }
        }
        if view_later && let Some(v) = &rollup.view {
            add_expr(&mut keep, v);
        }
        RollupPlan {
            rollup,
            keep,
            view_later,
        }
    }

    /// The top-level fields of a child the rollup reads (`None`: all).
    pub fn reads(&self) -> Option<BTreeSet<String>> {
        let mut keep = self.keep.clone()?;
        keep.insert(self.rollup.parent.head().to_string());
        if let Some(v) = &self.rollup.view {
            keep.extend(v.record_fields()?.iter().cloned());
        }
        Some(keep)
    }

    /// What `record` (child `id`) gives its parent, judged at `now`.
    pub fn contribution(
        &self,
        id: &str,
        record: &Record,
        now: DateTime<FixedOffset>,
    ) -> Result<Contribution, RollupError> {
        let child_err = |message: String| RollupError::Child {
            child: id.to_string(),
            message,
        };
        let whole = Value::Object(record.clone());
        if let (Some(view), false) = (&self.rollup.view, self.view_later)
            && !view
                .eval_bool(&Bindings::new(&whole, now))
                .map_err(|e| child_err(e.to_string()))?
        {
            return Ok(Contribution::Nothing("the view leaves it out".into()));
        }
        let parent = match self.rollup.parent.get(&whole) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Ok(Contribution::Nothing(format!(
                    "it has no parent in `{}`",
                    self.rollup.parent.as_str()
                )));
            }
        };
        let values = match &self.keep {
            None => whole,
            Some(keep) => Value::Object(
                keep.iter()
                    .filter_map(|k| record.get(k).map(|v| (k.clone(), v.clone())))
                    .collect(),
            ),
        };
        Ok(Contribution::To { parent, values })
    }

    /// The figures of every parent of `records` (all of one run's
    /// children, as `ferry map` and `ferry test` give them), by parent id;
    /// children the view leaves out or without a parent count nowhere.
    pub fn by_parent(
        &self,
        records: &[Value],
        now: DateTime<FixedOffset>,
    ) -> Result<std::collections::BTreeMap<String, Map<String, Value>>, RollupError> {
        let mut parents: std::collections::BTreeMap<String, Vec<(String, Value)>> =
            Default::default();
        for (i, r) in records.iter().enumerate() {
            let id = format!("#{i}");
            let Value::Object(record) = r else {
                return Err(RollupError::Child {
                    child: id,
                    message: format!("a record is an object, not {r}"),
                });
            };
            if let Contribution::To { parent, values } = self.contribution(&id, record, now)? {
                parents.entry(parent).or_default().push((id, values));
            }
        }
        parents
            .into_iter()
            .map(|(p, children)| {
                let figures = self.figures(children.iter().map(|(id, v)| (id.as_str(), v)), now)?;
                Ok((p, figures))
            })
            .collect()
    }

    /// Whether figures depend on the date alone, so a new day recomputes
    /// every parent.
    pub fn uses_time(&self) -> bool {
        self.rollup.uses_time()
    }

    /// The figures of a parent from its children's contributions
    /// (`(child id, values)`), at `now`: target field → value.
    pub fn figures<'a>(
        &self,
        children: impl IntoIterator<Item = (&'a str, &'a Value)>,
        now: DateTime<FixedOffset>,
    ) -> Result<Map<String, Value>, RollupError> {
        let mut acc: Vec<Acc> = self.rollup.fields.iter().map(|_| Acc::default()).collect();
        for (id, values) in children {
            let bindings = Bindings::new(values, now);
            if self.view_later
                && let Some(view) = &self.rollup.view
                && !view.eval_bool(&bindings).map_err(|e| RollupError::Child {
                    child: id.to_string(),
                    message: e.to_string(),
                })?
            {
                continue;
            }
            for (f, acc) in self.rollup.fields.iter().zip(&mut acc) {
                let fail = |message: String| RollupError::Figure {
                    field: f.target.as_str().to_string(),
                    child: id.to_string(),
                    message,
                };
                if let Some(filter) = &f.filter
                    && !filter
                        .eval_bool(&bindings)
                        .map_err(|e| fail(e.to_string()))?
                {
                    continue;
                }
                let value = f.of.as_ref().map(|p| p.get(values).unwrap_or(&Value::Null));
                if f.aggregate.value == Aggregate::Count {
                    if value.is_none_or(|v| !empty(v)) {
                        acc.count += 1;
                    }
                    continue;
                }
                let Some(value) = value.filter(|v| !empty(v)) else {
                    continue;
                };
                match f.aggregate.value {
                    Aggregate::Sum => {
                        let n = to_number(value).ok_or_else(|| {
                            fail(format!(
                                "`{}` is {value}, not a number",
                                f.of.as_ref().map(|p| p.as_str()).unwrap_or_default()
                            ))
                        })?;
                        acc.sum += n;
                    }
                    Aggregate::Min => {
                        if acc.best.as_ref().is_none_or(|b| compare(value, b).is_lt()) {
                            acc.best = Some(value.clone());
                        }
                    }
                    Aggregate::Max => {
                        if acc.best.as_ref().is_none_or(|b| compare(value, b).is_gt()) {
                            acc.best = Some(value.clone());
                        }
                    }
                    Aggregate::Latest => {
                        let by =
                            f.by.as_ref()
                                .and_then(|p| p.get(values))
                                .filter(|v| !empty(v))
                                .cloned();
                        let Some(by) = by else { continue };
                        // Ties go to the child seen first: children come in
                        // id order, so the figure does not depend on reads.
                        if acc.by.as_ref().is_none_or(|b| compare(&by, b).is_gt()) {
                            acc.by = Some(by);
                            acc.best = Some(value.clone());
                        }
                    }
                    Aggregate::Count => unreachable!("counted above"),
                }
            }
        }
        let mut out = Map::new();
        for (f, acc) in self.rollup.fields.iter().zip(acc) {
            let value = match f.aggregate.value {
                Aggregate::Sum => number(acc.sum),
                Aggregate::Count => Value::from(acc.count),
                _ => acc
                    .best
                    .or_else(|| f.default.clone())
                    .unwrap_or(Value::Null),
            };
            out.insert(f.target.as_str().to_string(), value);
        }
        Ok(out)
    }
}

#[derive(Default)]
struct Acc {
    sum: f64,
    count: u64,
    best: Option<Value>,
    by: Option<Value>,
}

fn empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// Numbers (numeric text too) by value, anything else as text: ISO dates
/// and date-times order correctly as text.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (to_number(a), to_number(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => text(a).cmp(&text(b)),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A sum as JSON: whole numbers as integers, others rounded to hide the
/// noise of adding binary fractions (0.1 + 0.2).
fn number(x: f64) -> Value {
    let rounded = (x * 1e6).round() / 1e6;
    if rounded.fract() == 0.0 && rounded.abs() < 9e15 {
        Value::from(rounded as i64)
    } else {
        serde_json::Number::from_f64(rounded)
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests;
