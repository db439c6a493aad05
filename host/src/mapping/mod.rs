//! Compiled field mappings and CEL expressions.
//!
//! A [`Plan`] is compiled once per workspace and sync (or trigger) and
//! applied per record: `plan.map(&record, &ctx)` gives a [`Mapped`] tree
//! that borrows from the plan and the record (`plan.apply` an owned
//! `Value`). Per-record failures are values with a reason, a
//! [`RecordError`].
//! [`TriggerPlan`] evaluates trigger conditions and plans their actions.

mod coerce;
mod mapped;
mod plan;
mod rollup;
mod trigger;

/// CEL expressions are parsed with the configuration that holds them
/// ([`crate::config::expr`]) and evaluated by plans; re-exported here for
/// the plans' users.
pub use crate::config::expr;
pub use coerce::Coerce;
pub use expr::{Bindings, EvalError, Expr, ExprError, HELPERS, VARIABLES};
pub use mapped::Mapped;
pub use plan::{
    Context, LinkTable, Links, MissingLink, NoLinks, Plan, RecordError, Side, Way, linked_module,
};
pub use rollup::{Contribution, RollupError, RollupPlan};
pub use trigger::{
    ActionKind, Condition, Judgement, PlannedAction, Stages, TriggerPlan, loosely_equal, record_id,
};
