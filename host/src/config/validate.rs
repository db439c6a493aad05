//! Checks of a loaded workspace against what connectors say about
//! themselves (`describe`) and their manifests.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use crate::connector::{ConnectorInfo, FieldKind, ModuleInfo, Operation};

use super::catalog::Catalog;
use super::diag::{Diagnostic, Diagnostics, did_you_mean, one_of};
use super::expr::Expr;
use super::model::*;
use super::yaml::Span;

mod fields;
mod rollup;

/// Check `ws` against `catalog`. Returns every problem (and the load
/// warnings); field-level checks are skipped, with a note, for connections
/// whose describe output is unavailable.
pub fn validate(ws: &Workspace, catalog: &dyn Catalog) -> Diagnostics {
    let mut v = Validator {
        ws,
        catalog,
        diags: ws.warnings.clone(),
    };
    v.run();
    v.diags
}

/// Load and validate in one pass: every problem of the workspace at
/// `path`, structural and semantic. The workspace is returned only when
/// there is no error.
pub fn check(
    path: impl AsRef<std::path::Path>,
    options: super::LoadOptions,
    catalog: &dyn Catalog,
) -> (Option<Workspace>, Diagnostics) {
    let (ws, load) = Workspace::load_partial(path, options);
    // `validate` starts from the workspace's warnings, which hold every load
    // problem when loading failed.
    let all = validate(&ws, catalog);
    let _ = load;
    if all.has_errors() {
        (None, all)
    } else {
        (Some(ws), all)
    }
}

struct Validator<'a> {
    ws: &'a Workspace,
    catalog: &'a dyn Catalog,
    diags: Diagnostics,
}

/// Which side of a mapping a path is on.
#[derive(Clone, Copy)]
enum Role {
    Source,
    Target,
}

impl<'a> Validator<'a> {
    fn run(&mut self) {
        for c in self.ws.connections.values() {
            self.connection(c);
        }
        for s in self.ws.syncs.values() {
            self.sync(s);
        }
        for t in self.ws.triggers.values() {
            self.trigger(t);
        }
        for r in self.ws.rollups.values() {
            self.rollup(r);
        }
    }

    fn info(&self, connection: &str) -> Option<&'a ConnectorInfo> {
        self.catalog.describe(connection)
    }

    /// A name `connection`'s describe lacks: an error, or — when only the
    /// connector's standard modules and fields are known — a warning
    /// saying how to check against the organisation's own.
    fn unknown(&self, connection: &str, span: &Span, message: String) -> Diagnostic {
        if self.catalog.standard_only(connection) {
            Diagnostic::warning(span, format!("{message} (among the standard ones)")).with_hint(
                format!(
                    "custom fields and modules are checked once `ferry discover {connection}` (or a run) has read the organisation's own"
                ),
            )
        } else {
            Diagnostic::error(span, message)
        }
    }

    fn connection(&mut self, c: &Connection) {
        if self.info(&c.name.value).is_none() {
            self.diags.push(Diagnostic::note(
                Some(&c.name.span),
                format!("no describe output for connection `{}`: module and field checks skipped for it", c.name.value),
            ));
        }
        let Some(m) = self.catalog.manifest(&c.connector.value) else {
            if self.catalog.has_manifests() {
                let known: Vec<String> = self.ws_manifest_names();
                let hint = did_you_mean(&c.connector.value, known.iter().map(String::as_str))
                    .unwrap_or_else(|| {
                        format!(
                            "known connectors: {}",
                            one_of(known.iter().map(String::as_str))
                        )
                    });
                self.diags.push(
                    Diagnostic::error(
                        &c.connector.span,
                        format!("unknown connector `{}`", c.connector.value),
                    )
                    .with_hint(hint),
                );
            }
            return;
        };
        match &c.endpoint {
            Endpoint::DataCenter(dc) => {
                if !m.data_centers.contains_key(&dc.value) {
                    let hint = did_you_mean(&dc.value, m.data_centers.keys().map(String::as_str))
                        .unwrap_or_else(|| {
                            format!(
                                "known: {}",
                                one_of(m.data_centers.keys().map(String::as_str))
                            )
                        });
                    self.diags.push(
                        Diagnostic::error(
                            &dc.span,
                            format!("connector `{}` has no data centre `{}`", m.name, dc.value),
                        )
                        .with_hint(hint),
                    );
                }
            }
            Endpoint::Sandbox(s) => {
                if m.sandbox.is_none() {
                    self.diags.push(Diagnostic::error(
                        &s.span,
                        format!("connector `{}` has no sandbox", m.name),
                    ));
                }
            }
            Endpoint::Default => {
                // One data centre is the connection's; among several Ferry
                // never guesses.
                if m.data_centers.len() > 1 {
                    self.diags.push(
                        Diagnostic::error(
                            &c.name.span,
                            format!("connection `{}` names no data centre", c.name.value),
                        )
                        .with_hint(format!(
                            "add `data_center:` ({}) or `sandbox: <url>`",
                            one_of(m.data_centers.keys().map(String::as_str))
                        )),
                    );
                }
            }
        }
        for (key, spec) in &m.settings {
            if spec.required && !c.settings.contains_key(key) {
                let hint = if spec.description.is_empty() {
                    format!("add `settings: {{ {key}: … }}`")
                } else {
                    format!("`{key}`: {}", spec.description)
                };
                self.diags.push(
                    Diagnostic::error(
                        &c.name.span,
                        format!(
                            "connection `{}` lacks required setting `{key}`",
                            c.name.value
                        ),
                    )
                    .with_hint(hint),
                );
            }
        }
        for (key, val) in &c.settings {
            if !m.settings.contains_key(key) {
                let hint =
                    did_you_mean(key, m.settings.keys().map(String::as_str)).unwrap_or_else(|| {
                        format!(
                            "connector `{}` takes {}",
                            m.name,
                            one_of(m.settings.keys().map(String::as_str))
                        )
                    });
                // The key span is just before the value; point at the value.
                self.diags.push(
                    Diagnostic::error(
                        &val.span,
                        format!("unknown setting `{key}` for connector `{}`", m.name),
                    )
                    .with_hint(hint),
                );
            }
        }
        // An `auth` block whose secrets could not be read is not missing:
        // each unreadable secret is reported at its value already.
        let Some(scheme) = &m.auth else { return };
        let names = scheme.secrets();
        if c.auth.is_empty() && c.auth_span.is_none() && !matches!(c.endpoint, Endpoint::Sandbox(_))
        {
            self.diags.push(
                Diagnostic::error(
                    &c.name.span,
                    format!("connection `{}` has no `auth`", c.name.value),
                )
                .with_hint(format!("add `{}`", scheme.example())),
            );
        }
        let known = || names.required.iter().chain(names.optional).copied();
        for (key, val) in &c.auth {
            if !known().any(|k| k == key) {
                let hint = did_you_mean(key, known()).unwrap_or_else(|| {
                    format!("`{}` auth takes {}", scheme.kind(), one_of(known()))
                });
                self.diags.push(
                    Diagnostic::error(
                        &val.span,
                        format!("unknown secret `auth.{key}` for connector `{}`", m.name),
                    )
                    .with_hint(hint),
                );
            }
        }
        if let Some(span) = &c.auth_span {
            for name in names.required.iter().filter(|n| !c.auth_keys.contains(**n)) {
                self.diags.push(
                    Diagnostic::error(
                        span,
                        format!(
                            "connection `{}` lacks `auth.{name}` ({} auth)",
                            c.name.value,
                            scheme.kind()
                        ),
                    )
                    .with_hint(format!("add `{}`", scheme.example())),
                );
            }
        }
    }

    fn ws_manifest_names(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for c in self.ws.connections.values() {
            if let Some(m) = self.catalog.manifest(&c.connector.value) {
                names.insert(m.name.clone());
            }
        }
        for n in ["zoho-crm", "zoho-books", "zoho-invoice", "zoho-billing"] {
            if self.catalog.manifest(n).is_some() {
                names.insert(n.to_owned());
            }
        }
        names.into_iter().collect()
    }

    /// The module, or an error if the connection's describe lacks it.
    fn module(&mut self, m: &ModuleRef) -> Option<&'a ModuleInfo> {
        let info = self.info(&m.connection)?;
        if let Some(mi) = info.module(&m.module) {
            return Some(mi);
        }
        let names = info.modules.iter().map(|x| x.name.as_str());
        let hint = did_you_mean(&m.module, names.clone())
            .unwrap_or_else(|| format!("modules of `{}`: {}", info.name, one_of(names)));
        let d = self.unknown(
            &m.connection,
            &m.module_span(),
            format!(
                "unknown module `{}` in connection `{}` ({})",
                m.module, m.connection, info.name
            ),
        );
        self.diags.push(with_hint(d, hint));
        None
    }

    fn needs(
        &mut self,
        module: &ModuleInfo,
        mref: &ModuleRef,
        op: Operation,
        why: &str,
        error: bool,
    ) {
        if module.supports(op) {
            return;
        }
        let msg = format!(
            "`{mref}` does not support `{}`, which {why} needs",
            op.as_str()
        );
        let ops: Vec<&str> = module.operations.iter().map(|o| o.as_str()).collect();
        let d = if error {
            Diagnostic::error(&mref.span, msg)
        } else {
            Diagnostic::warning(&mref.span, msg)
        };
        self.diags
            .push(d.with_hint(format!("it supports {}", one_of(ops))));
    }

    /// The bare field reads that decide a condition (a whole `view` of
    /// `record.Account_Type`) must be boolean fields: anything else fails
    /// every record at run time. Unknown fields are `expr_refs`' to report.
    fn condition_fields(
        &mut self,
        e: &Expr,
        what: &str,
        vars: &[&str],
        module: &ModuleInfo,
        mref: &ModuleRef,
    ) {
        for read in e.condition_fields() {
            if !vars.contains(&read.var.as_str()) {
                continue;
            }
            let Some(f) = module.field(&read.field) else {
                continue;
            };
            if matches!(f.kind, FieldKind::Boolean | FieldKind::Other) {
                continue;
            }
            let kind = kind_name(f.kind);
            let article = if kind.starts_with(['a', 'e', 'i', 'o']) {
                "an"
            } else {
                "a"
            };
            let path = format!("{}.{}", read.var, read.field);
            let example = match f.kind {
                FieldKind::Picklist if !f.picklist.is_empty() => {
                    format!("{path} == '{}'", f.picklist[0])
                }
                FieldKind::Integer => format!("{path} > 0"),
                FieldKind::Decimal | FieldKind::Currency | FieldKind::Percent => {
                    format!("{path} > 0.0")
                }
                FieldKind::Text
                | FieldKind::LongText
                | FieldKind::Email
                | FieldKind::Phone
                | FieldKind::Url
                | FieldKind::Picklist => format!("{path} != ''"),
                _ => format!("has({path})"),
            };
            let Some(span) = e.span_at(read.offset, read.len) else {
                continue;
            };
            self.diags.push(
                Diagnostic::error(
                    &span,
                    format!(
                        "{what} must give true or false, but `{path}` is {article} {kind} field of `{mref}`"
                    ),
                )
                .with_hint(format!(
                    "compare or test it, e.g. `{example}`: anything but true or false fails every record at run time"
                ))
                .with_label("in this CEL condition"),
            );
        }
    }

    fn sync(&mut self, s: &SyncConfig) {
        if s.fields.is_empty() {
            self.diags.push(
                Diagnostic::error(&s.span, format!("sync `{}` needs `fields`", s.name.value))
                    .with_hint(format!(
                        "map at least one field; connectors pair some modules by default (Zoho CRM Products ↔ items), not `{}` and `{}`",
                        s.from, s.to
                    )),
            );
        }
        let from = self.module(&s.from);
        let to = self.module(&s.to);
        if let Some(m) = from {
            self.needs(m, &s.from, Operation::Read, "a sync source", true);
            if s.direction == Direction::TwoWay {
                self.needs(m, &s.from, Operation::Update, "a two-way sync", true);
            }
        }
        if let Some(m) = to {
            self.needs(m, &s.to, Operation::Create, "a sync target", true);
            self.needs(m, &s.to, Operation::Update, "a sync target", false);
            if s.direction == Direction::TwoWay {
                self.needs(m, &s.to, Operation::Read, "a two-way sync", true);
            }
            if s.deletes == Deletes::Propagate {
                self.needs(m, &s.to, Operation::Delete, "`deletes: propagate`", true);
            }
            if s.deletes == Deletes::Archive
                && !ARCHIVE_ACTIONS.iter().any(|a| m.action(a).is_some())
            {
                self.diags.push(Diagnostic::warning(&s.to.span, format!("`{}` has no archive action ({}); `deletes: archive` will fall back to ignoring deletes", s.to, one_of(ARCHIVE_ACTIONS.iter().copied()))));
            }
            if !s.match_keys.is_empty() {
                self.needs(m, &s.to, Operation::Find, "`match`", false);
            }
        }
        if let (Some(m), Deletes::Propagate | Deletes::Archive) = (from, s.deletes)
            && !m.supports(Operation::DeletedFeed)
            && s.full_read.is_none()
        {
            self.diags.push(
                Diagnostic::warning(
                    &s.from.span,
                    format!(
                        "`{}` has no deleted-records feed; deletes are only noticed when a run reads it whole",
                        s.from
                    ),
                )
                .with_hint("add `full_read: hourly` (or daily, …), or run `ferry sync run <sync> --full`"),
            );
        }
        for (a, b) in &s.match_keys {
            if let Some(m) = from {
                self.field(m, &s.from, a, Role::Source);
            }
            if let Some(m) = to {
                self.field(m, &s.to, b, Role::Source);
            }
        }
        if let (Some(view), Some(m)) = (&s.view, from) {
            self.expr_refs(view, "record", m, &s.from);
            self.condition_fields(view, "`view`", &["record"], m, &s.from);
        }
        self.mappings(&s.fields, from, &s.from, to, &s.to, s.direction, true);
        if let Some(m) = to {
            self.unmapped_required(m, &s.to, &s.fields, &s.span, &s.name.value);
        }
        for c in &s.children {
            let cm = self.module(&c.from);
            if let Some(m) = cm {
                self.field(m, &c.from, &c.parent, Role::Source);
                if let Some(v) = &c.view {
                    self.expr_refs(v, "record", m, &c.from);
                    self.condition_fields(v, "`view`", &["record"], m, &c.from);
                }
            }
            if let Some(m) = to {
                match m.field(&c.name.value) {
                    None => {
                        let hint = did_you_mean(
                            &c.name.value,
                            m.fields
                                .iter()
                                .filter(|f| f.kind == FieldKind::List)
                                .map(|f| f.name.as_str()),
                        );
                        self.diags.push(
                            Diagnostic::error(
                                &c.name.span,
                                format!(
                                    "`{}` has no list field `{}` to hold the children",
                                    s.to, c.name.value
                                ),
                            )
                            .with_hint_opt(hint),
                        );
                    }
                    Some(f) if f.kind != FieldKind::List => {
                        self.diags.push(Diagnostic::error(
                            &c.name.span,
                            format!("field `{}` of `{}` is not a list", c.name.value, s.to),
                        ));
                    }
                    _ => {}
                }
            }
            for (a, _) in &c.match_keys {
                if let Some(m) = cm {
                    self.field(m, &c.from, a, Role::Source);
                }
            }
            // Child target fields are inside the list; only sources are known.
            self.mappings(
                &c.fields,
                cm,
                &c.from,
                None,
                &s.to,
                Direction::OneWay,
                false,
            );
        }
    }

    /// The module a trigger's `linked(name)` refers to.
    fn linked_module(&self, name: &str, on: &ModuleRef) -> Option<ModuleRef> {
        if let Some(t) = self.ws.triggers.get(name)
            && let Action::Create { module } = &t.action
        {
            return Some(module.clone());
        }
        let s = self.ws.syncs.get(name)?;
        if s.from.to_string() == on.to_string() {
            Some(s.to.clone())
        } else {
            Some(s.from.clone())
        }
    }

    /// `when: { stage: won }` needs the connector's stage table.
    fn stage_table(&mut self, t: &Trigger, outcome: &Spanned<Outcome>) {
        let Some(connector) = self.ws.connector_of(&t.on.connection) else {
            return;
        };
        let Some(manifest) = self.catalog.manifest(connector) else {
            return;
        };
        if !manifest.stages.contains_key(&t.on.module) {
            let known: Vec<&str> = manifest.stages.keys().map(String::as_str).collect();
            self.diags.push(
                Diagnostic::error(
                    &outcome.span,
                    format!(
                        "`{}` has no stage–probability mapping in connector `{connector}`",
                        t.on
                    ),
                )
                .with_hint(if known.is_empty() {
                    "name the stage instead: `when: { field: Stage, becomes: Closed Won }`"
                        .to_string()
                } else {
                    format!("stages are known for: {}", one_of(known.into_iter()))
                }),
            );
        }
    }

    fn trigger(&mut self, t: &Trigger) {
        let on = self.module(&t.on);
        if let Some(m) = on {
            self.needs(m, &t.on, Operation::Read, "a trigger", true);
            match &t.when {
                When::Becomes { field, value } => {
                    if let Some(f) = self.field(m, &t.on, field, Role::Source)
                        && let Json::String(s) = value
                        && !f.picklist.is_empty()
                        && !f.picklist.contains(s)
                    {
                        let hint = did_you_mean(s, f.picklist.iter().map(String::as_str))
                            .unwrap_or_else(|| {
                                format!(
                                    "allowed: {}",
                                    one_of(f.picklist.iter().map(String::as_str))
                                )
                            });
                        self.diags.push(
                            Diagnostic::error(
                                &t.when_span,
                                format!("`{s}` is not a value of `{}`", f.name),
                            )
                            .with_hint(hint),
                        );
                    }
                }
                When::Changes { field, .. } => {
                    self.field(m, &t.on, field, Role::Source);
                }
                When::Expr(e) => {
                    self.expr_refs(e, "record", m, &t.on);
                    self.expr_refs(e, "previous", m, &t.on);
                    self.condition_fields(e, "`when`", &["record", "previous"], m, &t.on);
                }
                When::Created => {}
                When::Stage(outcome) => self.stage_table(t, outcome),
            }
            for g in &t.guards {
                self.expr_refs(g, "record", m, &t.on);
                self.expr_refs(g, "previous", m, &t.on);
                self.condition_fields(g, "a guard", &["record", "previous"], m, &t.on);
            }
        }
        let (target_ref, op) = match &t.action {
            Action::Create { module } => (Some(module.clone()), Operation::Create),
            Action::Update { target } | Action::Act { target, .. } => {
                let r = match target {
                    TargetRef::Module { module, .. } => Some(module.clone()),
                    TargetRef::Linked(n) => self.linked_module(&n.value, &t.on),
                };
                (r, Operation::Update)
            }
        };
        let Some(tr) = target_ref else { return };
        let tm = self.module(&tr);
        if let Some(m) = tm {
            if let ManualGuard::Field(f) = &t.manual_guard {
                self.field(m, &tr, f, Role::Target);
            }
            for f in &t.match_fields {
                self.field(m, &tr, f, Role::Target);
            }
        }
        if let Some(m) = tm {
            match &t.action {
                Action::Act {
                    actions, only_if, ..
                } => {
                    for action in actions {
                        if m.action(&action.value).is_some() {
                            continue;
                        }
                        let names = m.actions.iter().map(|a| a.name.as_str());
                        let hint =
                            did_you_mean(&action.value, names.clone()).unwrap_or_else(|| {
                                if m.actions.is_empty() {
                                    format!("`{tr}` offers no actions")
                                } else {
                                    format!("actions of `{tr}`: {}", one_of(names))
                                }
                            });
                        self.diags.push(
                            Diagnostic::error(
                                &action.span,
                                format!("`{tr}` has no action `{}`", action.value),
                            )
                            .with_hint(hint),
                        );
                    }
                    if let Some(e) = only_if {
                        self.expr_refs(e, "target", m, &tr);
                        self.condition_fields(e, "`only_if`", &["target"], m, &tr);
                    }
                }
                _ => self.needs(m, &tr, op, "this trigger", true),
            }
        }
        if !t.fields.is_empty() {
            self.mappings(&t.fields, on, &t.on, tm, &tr, Direction::OneWay, true);
            if let (Action::Create { .. }, Some(m)) = (&t.action, tm) {
                self.unmapped_required(m, &tr, &t.fields, &t.span, &t.name.value);
            }
        }
    }
}

/// A field kind as `describe` writes it (`picklist`, `long-text`).
fn kind_name(kind: FieldKind) -> String {
    serde_json::to_value(kind)
        .ok()
        .and_then(|k| k.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// `d` with `hint` first, before any hint it already has.
fn with_hint(d: Diagnostic, hint: String) -> Diagnostic {
    let hint = match &d.hint {
        Some(more) => format!("{hint}; {more}"),
        None => hint,
    };
    d.with_hint(hint)
}
