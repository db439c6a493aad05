//! A rollup against the connectors' `describe`: its modules and their
//! operations, the child fields it reads, the target fields it writes, and
//! whether a figure's aggregate suits its field's kind.

use crate::connector::{FieldKind, Operation};

use super::super::diag::Diagnostic;
use super::super::model::*;
use super::{Role, Validator};

impl Validator<'_> {
    pub(super) fn rollup(&mut self, r: &Rollup) {
        let from = self.module(&r.from);
        let to = self.module(&r.to);
        if let Some(m) = from {
            self.needs(m, &r.from, Operation::Read, "a rollup's children", true);
            self.field(m, &r.from, &r.parent, Role::Source);
            if let Some(v) = &r.view {
                self.expr_refs(v, "record", m, &r.from);
            }
        }
        if let Some(m) = to {
            self.needs(m, &r.to, Operation::Update, "a rollup's target", true);
        }
        for f in &r.fields {
            if let Some(m) = to {
                self.field(m, &r.to, &f.target, Role::Target);
            }
            let Some(m) = from else { continue };
            if let Some(filter) = &f.filter {
                self.expr_refs(filter, "record", m, &r.from);
            }
            if let Some(by) = &f.by {
                self.field(m, &r.from, by, Role::Source);
            }
            let Some(of) = &f.of else { continue };
            let Some(info) = self.field(m, &r.from, of, Role::Source) else {
                continue;
            };
            let numeric = matches!(
                info.kind,
                FieldKind::Integer | FieldKind::Decimal | FieldKind::Currency | FieldKind::Percent
            );
            // Finance lists give amounts as numbers, but some as text
            // (`"1,000.00"`), which sums by value: only kinds that are
            // never numbers are refused.
            let never_numeric = matches!(
                info.kind,
                FieldKind::Boolean
                    | FieldKind::Date
                    | FieldKind::Datetime
                    | FieldKind::Email
                    | FieldKind::Url
                    | FieldKind::Lookup
                    | FieldKind::Object
                    | FieldKind::List
                    | FieldKind::MultiPicklist
            );
            if f.aggregate.value == Aggregate::Sum && !numeric && never_numeric {
                self.diags.push(
                    Diagnostic::error(
                        &of.span,
                        format!(
                            "`sum` of `{}`, a {} field of `{}`: only numbers add up",
                            of.as_str(),
                            super::kind_name(info.kind),
                            r.from
                        ),
                    )
                    .with_hint("sum an amount, or use `count`, `min`, `max` or `latest`"),
                );
            }
        }
    }
}
