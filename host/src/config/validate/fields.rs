//! A sync's field mappings against the connectors' `describe`: each path
//! looked up (unknown, read-only), fields a mapping may add
//! (`new_field`), expression references, constants that fit their
//! field, and required target fields left unmapped.

use serde_json::Value as Json;

use crate::connector::{FieldInfo, FieldKind, ModuleInfo};

use super::super::diag::{Diagnostic, did_you_mean, one_of};
use super::super::expr::Expr;
use super::super::model::*;
use super::super::path::FieldPath;
use super::super::yaml::Span;
use super::{Role, Validator, kind_name, with_hint};

impl<'a> Validator<'a> {
    /// Look a path up in a module; reports unknown fields (and read-only
    /// targets) and returns the field when found.
    pub(super) fn field(
        &mut self,
        module: &'a ModuleInfo,
        mref: &ModuleRef,
        path: &Spanned<FieldPath>,
        role: Role,
    ) -> Option<&'a FieldInfo> {
        if let Some(label) = path.custom_field_label() {
            if path.head() != "custom_fields" {
                return None;
            }
            let labels: Vec<&str> = module
                .fields
                .iter()
                .filter(|f| f.custom)
                .map(|f| f.label.as_str())
                .collect();
            if !labels.contains(&label) {
                let hint = did_you_mean(label, labels.iter().copied()).unwrap_or_else(|| {
                    if labels.is_empty() {
                        format!("`{mref}` has no custom fields")
                    } else {
                        format!("custom fields: {}", one_of(labels.iter().copied()))
                    }
                });
                let start = path.span.snippet().find(label).unwrap_or(0);
                let d = self.unknown(
                    &mref.connection,
                    &path.span.sub(start, label.len()),
                    format!("no custom field labelled `{label}` in `{mref}`"),
                );
                self.diags.push(with_hint(d, hint));
            }
            return module.fields.iter().find(|f| f.custom && f.label == label);
        }
        let head = path.head();
        let Some(f) = module.field(head) else {
            if head.starts_with("cf_") && module.field("custom_fields").is_some() {
                // Finance APIs report custom fields only on records that
                // hold a value, so a real one may not have been seen yet.
                let span = path
                    .span
                    .sub(path.span.snippet().find(head).unwrap_or(0), head.len());
                self.diags.push(
                    Diagnostic::warning(
                        &span,
                        format!("custom field `{head}` was not seen on `{mref}` records"),
                    )
                    .with_hint("it is read and written as a custom field; check its API name in the product's settings"),
                );
                return None;
            }
            let names = module.fields.iter().map(|f| f.name.as_str());
            let by_label = module
                .fields
                .iter()
                .find(|f| f.label.eq_ignore_ascii_case(head))
                .map(|f| format!("did you mean `{}` (labelled “{}”)?", f.name, f.label));
            let hint = by_label.or_else(|| did_you_mean(head, names)).unwrap_or_else(|| format!("`ferry plugins inspect` or `ferry discover {}` lists the fields of `{mref}`", mref.connection));
            let span = path
                .span
                .sub(path.span.snippet().find(head).unwrap_or(0), head.len());
            let d = self.unknown(
                &mref.connection,
                &span,
                format!("unknown field `{head}` in `{mref}`"),
            );
            self.diags.push(with_hint(d, hint));
            return None;
        };
        if let Role::Target = role
            && f.read_only
            && path.segments.len() == 1
        {
            self.diags.push(
                Diagnostic::error(
                    &path.span,
                    format!("field `{head}` of `{mref}` is read-only"),
                )
                .with_hint("the vendor sets it; map something else or drop this line"),
            );
        }
        Some(f)
    }

    /// A `new_field: true` mapping to a field the target lacks: its
    /// connector must be able to add one of the mapping's type.
    pub(super) fn new_field(&mut self, mref: &ModuleRef, f: &FieldMapping) {
        let manifest = self
            .ws
            .connector_of(&mref.connection)
            .and_then(|c| self.catalog.manifest(c));
        let Some(manifest) = manifest else {
            return;
        };
        let Some(how) = manifest.new_fields.get(&mref.module) else {
            let can: Vec<&str> = manifest.new_fields.keys().map(String::as_str).collect();
            let hint = if can.is_empty() {
                format!(
                    "`{}` adds no fields; create it in the product first, then map it",
                    manifest.name
                )
            } else {
                format!("`{}` adds fields to {} only", manifest.name, one_of(can))
            };
            self.diags.push(
                Diagnostic::error(
                    &f.target.span,
                    format!(
                        "`{mref}` has no field `{}`, and `new_field` cannot add one there",
                        f.target.value.head()
                    ),
                )
                .with_hint(hint),
            );
            return;
        };
        if f.target.value.segments.len() != 1 {
            self.diags.push(Diagnostic::error(
                &f.target.span,
                "a new field is one name, not a path",
            ));
        }
        let ty = f.ty.as_ref().map_or("text", |t| t.value.name());
        if !how.kinds.contains_key(ty) {
            let span = f.ty.as_ref().map_or(&f.target.span, |t| &t.span);
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!("`{}` cannot add a `{ty}` field", manifest.name),
                )
                .with_hint(format!(
                    "types it adds: {}",
                    one_of(how.kinds.keys().map(String::as_str))
                )),
            );
        }
    }

    /// Check `<var>.Field` references of an expression against a module.
    pub(super) fn expr_refs(&mut self, e: &Expr, var: &str, module: &ModuleInfo, mref: &ModuleRef) {
        for (name, offset) in e.field_refs(var) {
            if module.field(&name).is_some() || name == "custom_fields" || name == module.id_field {
                continue;
            }
            let hint = did_you_mean(&name, module.fields.iter().map(|f| f.name.as_str()))
                .unwrap_or_else(|| format!("`{var}` is a `{mref}` record"));
            if let Some(span) = e.span_at(offset, name.len()) {
                let d = self.unknown(
                    &mref.connection,
                    &span,
                    format!("unknown field `{name}` of `{mref}` in expression"),
                );
                self.diags.push(with_hint(d, hint));
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn mappings(
        &mut self,
        fields: &[FieldMapping],
        from: Option<&'a ModuleInfo>,
        from_ref: &ModuleRef,
        to: Option<&'a ModuleInfo>,
        to_ref: &ModuleRef,
        direction: Direction,
        top: bool,
    ) {
        for f in fields {
            let target = match (to, top) {
                (Some(m), true) if f.new_field && m.field(f.target.value.head()).is_none() => {
                    self.new_field(to_ref, f);
                    None
                }
                (Some(m), true) => self.field(m, to_ref, &f.target, Role::Target),
                _ => None,
            };
            let mut source_field = None;
            match &f.source {
                Source::Path(p) => {
                    if let Some(m) = from {
                        source_field = self.field(m, from_ref, p, Role::Source);
                    }
                }
                Source::Expr(e) => {
                    if let Some(m) = from {
                        self.expr_refs(e, "record", m, from_ref);
                    }
                    if let (Some(m), true) = (to, top) {
                        self.expr_refs(e, "target", m, to_ref);
                    }
                }
                Source::Const(c) => {
                    if let Some(t) = target {
                        self.const_fits(c, t, &f.span, to_ref);
                    }
                }
                Source::Each { each, fields, .. } => {
                    if let Some(m) = from {
                        self.field(m, from_ref, each, Role::Source);
                    }
                    // Elements' fields are not described; check expressions only.
                    let _ = fields;
                }
                Source::FirstOf(alternatives) => {
                    // The target is checked once, here; each alternative's
                    // sources in its own turn.
                    self.mappings(alternatives, from, from_ref, None, to_ref, direction, false);
                }
                Source::Items(_) => {
                    if let Some(t) = target
                        && t.kind != FieldKind::List
                        && t.kind != FieldKind::Other
                    {
                        self.diags.push(Diagnostic::error(
                            &f.target.span,
                            format!("field `{}` of `{to_ref}` is not a list", t.name),
                        ));
                    }
                }
            }
            if let (Some(map), Some(t)) = (&f.map, target)
                && !t.picklist.is_empty()
            {
                for (_, v) in &map.value {
                    if let Json::String(s) = v
                        && !t.picklist.contains(s)
                    {
                        let hint = did_you_mean(s, t.picklist.iter().map(String::as_str))
                            .unwrap_or_else(|| {
                                format!(
                                    "allowed: {}",
                                    one_of(t.picklist.iter().map(String::as_str))
                                )
                            });
                        self.diags.push(
                            Diagnostic::warning(
                                &map.span,
                                format!("value `{s}` is not in the picklist of `{}`", t.name),
                            )
                            .with_hint(hint),
                        );
                    }
                }
            }
            if let (Some(map), Some(sf)) = (&f.map, source_field)
                && !sf.picklist.is_empty()
            {
                for (k, _) in &map.value {
                    if let Json::String(s) = k
                        && !sf.picklist.contains(s)
                    {
                        let hint = did_you_mean(s, sf.picklist.iter().map(String::as_str))
                            .unwrap_or_else(|| {
                                format!(
                                    "allowed: {}",
                                    one_of(sf.picklist.iter().map(String::as_str))
                                )
                            });
                        self.diags.push(
                            Diagnostic::warning(
                                &map.span,
                                format!("`{s}` is not a value of `{}`", sf.name),
                            )
                            .with_hint(hint),
                        );
                    }
                }
            }
            // Two-way: the source field is written back.
            let two_way = direction == Direction::TwoWay
                && !f
                    .direction
                    .as_ref()
                    .is_some_and(|d| d.value == Direction::OneWay);
            if two_way
                && let (Source::Path(p), Some(sf)) = (&f.source, source_field)
                && sf.read_only
                && f.reverse.is_none()
            {
                self.diags.push(
                    Diagnostic::error(
                        &p.span,
                        format!(
                            "two-way field writes back to `{}`, which is read-only in `{from_ref}`",
                            sf.name
                        ),
                    )
                    .with_hint("add `direction: one-way` to this field"),
                );
            }
            if let (Some((rf, re)), Some(m)) = (&f.reverse, from) {
                self.field(m, from_ref, rf, Role::Target);
                if let Some(tm) = to {
                    self.expr_refs(re, "record", tm, to_ref);
                }
            }
        }
    }

    pub(super) fn const_fits(&mut self, c: &Json, t: &FieldInfo, span: &Span, to_ref: &ModuleRef) {
        let ok = match t.kind {
            FieldKind::Integer => {
                c.is_i64() || c.as_str().is_some_and(|s| s.parse::<i64>().is_ok())
            }
            FieldKind::Decimal | FieldKind::Currency | FieldKind::Percent => {
                c.is_number() || c.as_str().is_some_and(|s| s.parse::<f64>().is_ok())
            }
            FieldKind::Boolean => c.is_boolean(),
            FieldKind::Picklist => match c.as_str() {
                Some(s) => t.picklist.is_empty() || t.picklist.iter().any(|p| p == s),
                None => false,
            },
            _ => true,
        };
        if !ok && !c.is_null() {
            let hint = if t.picklist.is_empty() {
                None
            } else {
                Some(format!(
                    "allowed: {}",
                    one_of(t.picklist.iter().map(String::as_str))
                ))
            };
            let kind = kind_name(t.kind);
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!(
                        "constant {c} does not fit field `{}` of `{to_ref}` ({kind})",
                        t.name
                    ),
                )
                .with_hint_opt(hint),
            );
        }
    }

    pub(super) fn unmapped_required(
        &mut self,
        m: &ModuleInfo,
        mref: &ModuleRef,
        fields: &[FieldMapping],
        span: &Span,
        owner: &str,
    ) {
        for f in &m.fields {
            if f.required
                && !f.read_only
                && f.name != m.id_field
                && !fields.iter().any(|x| x.target.head() == f.name)
            {
                let at = fields
                    .first()
                    .map(|x| x.target.span.clone())
                    .unwrap_or(span.clone());
                self.diags.push(
                    Diagnostic::warning(&at, format!("`{owner}` does not map `{}`, which `{mref}` requires; creates will fail", f.name))
                        .with_hint(format!("add `{}: …` under `fields`", f.name)),
                );
            }
        }
    }
}
