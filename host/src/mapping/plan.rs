//! Mapping plans: compiled once per workspace, applied per record.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value as Json;

use crate::config::{
    Catalog, Diagnostic, Diagnostics, Direction, FieldMapping, FieldPath, Missing, ModuleRef,
    Segment, Source, SyncConfig, Workspace,
};
use crate::connector::ModuleInfo;

use super::coerce::{Coerce, short};
use super::expr::{Bindings, EvalError, Expr};
use super::mapped::{Mapped, NULL};

/// Which side of a sync an id belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The sync's `from` side.
    From,
    /// The sync's `to` side.
    To,
}

/// The link table, as the mapping needs it. The state store implements
/// this; tests use [`LinkTable`].
pub trait Links: Sync {
    /// The id on the other side of `sync` linked to `id`, which is on
    /// `side`.
    fn linked(&self, sync: &str, side: Side, id: &str) -> Option<String>;
}

/// No links at all.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLinks;

impl Links for NoLinks {
    fn linked(&self, _: &str, _: Side, _: &str) -> Option<String> {
        None
    }
}

/// Links held in memory (tests, `ferry map`).
#[derive(Debug, Default, Clone)]
pub struct LinkTable {
    map: HashMap<(String, Side, String), String>,
}

impl LinkTable {
    /// Record that `from_id` (on the sync's `from` side) and `to_id` are
    /// the same record.
    pub fn insert(&mut self, sync: &str, from_id: &str, to_id: &str) {
        self.map.insert(
            (sync.to_owned(), Side::From, from_id.to_owned()),
            to_id.to_owned(),
        );
        self.map.insert(
            (sync.to_owned(), Side::To, to_id.to_owned()),
            from_id.to_owned(),
        );
    }
}

impl Links for LinkTable {
    fn linked(&self, sync: &str, side: Side, id: &str) -> Option<String> {
        self.map
            .get(&(sync.to_owned(), side, id.to_owned()))
            .cloned()
    }
}

/// What a plan sees besides the record.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub links: &'a dyn Links,
    /// `now` in expressions.
    pub now: DateTime<FixedOffset>,
    /// The current target record, where known.
    pub target: Option<&'a Json>,
    /// Child records by child name (`contact_persons`), for syncs with
    /// `children`.
    pub children: Option<&'a BTreeMap<String, Vec<Json>>>,
    /// The watched module's stage–probability mapping (`when: { stage }`).
    pub stages: Option<&'a super::Stages>,
}

impl<'a> Context<'a> {
    pub fn new(links: &'a dyn Links) -> Context<'a> {
        Context {
            links,
            now: Utc::now().fixed_offset(),
            target: None,
            children: None,
            stages: None,
        }
    }

    pub fn with_stages(mut self, stages: Option<&'a super::Stages>) -> Self {
        self.stages = stages;
        self
    }

    pub fn at(mut self, now: DateTime<FixedOffset>) -> Self {
        self.now = now;
        self
    }

    pub fn with_target(mut self, target: Option<&'a Json>) -> Self {
        self.target = target;
        self
    }

    pub fn with_children(mut self, children: Option<&'a BTreeMap<String, Vec<Json>>>) -> Self {
        self.children = children;
        self
    }
}

/// Why one record could not be mapped. A value, never a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The target field being computed, if any.
    pub field: Option<String>,
    pub reason: String,
    /// Set when a lookup found no linked record: the engine may create
    /// the parent first (when `create` is true) and retry.
    pub missing_link: Option<MissingLink>,
}

/// An unlinked lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLink {
    pub sync: String,
    pub side: Side,
    pub id: String,
    /// `missing: create`: create the parent through `sync`, then retry.
    pub create: bool,
    /// `missing: exclude`: skip the record (it is not an error).
    pub exclude: bool,
}

impl RecordError {
    fn new(field: &FieldPath, reason: impl Into<String>) -> RecordError {
        RecordError {
            field: Some(field.as_str().to_owned()),
            reason: reason.into(),
            missing_link: None,
        }
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field `{field}`: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<EvalError> for RecordError {
    fn from(e: EvalError) -> RecordError {
        RecordError {
            field: None,
            reason: e.0,
            missing_link: None,
        }
    }
}

#[derive(Debug, Clone)]
enum Src {
    Path(FieldPath),
    Const(Json),
    Expr(Expr),
    Items(Vec<Steps>),
    Each {
        each: FieldPath,
        filter: Option<Expr>,
        steps: Steps,
    },
    /// Alternatives for one target: the first with a present value wins.
    FirstOf(Vec<Step>),
}

#[derive(Debug, Clone)]
struct LinkStep {
    sync: String,
    side: Side,
    missing: Missing,
}

#[derive(Debug, Clone)]
struct ValueMap {
    by_key: HashMap<String, Json>,
}

fn map_key(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Clone)]
struct Step {
    target: FieldPath,
    /// Index of the target's top-level key in [`Steps::keys`]; `None` for
    /// a target that does not start with a key (nothing can be set there).
    slot: Option<usize>,
    /// For a path source: index of its top-level key in [`Steps::reads`].
    read: Option<usize>,
    src: Src,
    link: Option<LinkStep>,
    map: Option<ValueMap>,
    default: Option<Json>,
    required: bool,
    coerce: Coerce,
}

/// The steps that build one output object, with the object's top-level
/// keys worked out when the plan is compiled: per record, each key's value
/// is built in its slot and the object is assembled once, in key order,
/// instead of searching the output map for every field. Likewise the
/// top-level fields read by path are known, so a record's values for them
/// can be found in one pass (see [`gather`]).
#[derive(Debug, Clone)]
struct Steps {
    steps: Vec<Step>,
    /// Distinct top-level target keys, sorted (the order of a JSON object).
    keys: Vec<String>,
    /// Distinct top-level source keys read by path, sorted.
    reads: Vec<String>,
    /// Per key: how many distinct fields or items are set below it
    /// (`billing_address.city`, `billing_address.zip`: 2), to build its
    /// object or list at its final size.
    widths: Vec<usize>,
}

impl Steps {
    fn new(mut steps: Vec<Step>) -> Steps {
        let mut keys: Vec<String> = steps
            .iter()
            .filter_map(|s| head(&s.target).cloned())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut reads = Vec::new();
        for s in &steps {
            path_heads(s, &mut reads);
        }
        reads.sort_unstable();
        reads.dedup();
        let mut below: Vec<Vec<&Segment>> = vec![Vec::new(); keys.len()];
        for s in &mut steps {
            s.slot = head(&s.target).and_then(|k| keys.binary_search(k).ok());
            index_reads(s, &reads);
        }
        for s in &steps {
            if let (Some(slot), Some(second)) = (s.slot, s.target.segments.get(1))
                && !below[slot].contains(&second)
            {
                below[slot].push(second);
            }
        }
        let widths = below.iter().map(Vec::len).collect();
        Steps {
            steps,
            keys,
            reads,
            widths,
        }
    }
}

/// Top-level fields a step reads by path, `first_of` alternatives
/// included (they see the same record).
fn path_heads(s: &Step, out: &mut Vec<String>) {
    match &s.src {
        Src::Path(p) => out.extend(head(p).cloned()),
        Src::FirstOf(alternatives) => alternatives.iter().for_each(|a| path_heads(a, out)),
        _ => {}
    }
}

fn index_reads(s: &mut Step, reads: &[String]) {
    s.read = match &s.src {
        Src::Path(p) => head(p).and_then(|k| reads.binary_search(k).ok()),
        _ => None,
    };
    if let Src::FirstOf(alternatives) = &mut s.src {
        alternatives.iter_mut().for_each(|a| index_reads(a, reads));
    }
}

/// The values of `reads` (sorted, distinct top-level keys) in `record`.
/// A JSON object iterates in key order, so when the plan reads a good
/// share of the record's fields one merge over both beats a search per
/// field; for a wide record read sparsely, searching stays cheaper.
fn gather<'r>(record: &'r Json, reads: &[String]) -> Vec<Option<&'r Json>> {
    let mut found = vec![None; reads.len()];
    let Some(object) = record.as_object() else {
        return found;
    };
    if reads.len() * 8 < object.len() {
        for (slot, key) in found.iter_mut().zip(reads) {
            *slot = object.get(key);
        }
        return found;
    }
    let mut i = 0;
    for (key, value) in object {
        while i < reads.len() && reads[i].as_str() < key.as_str() {
            i += 1;
        }
        match reads.get(i) {
            None => break,
            Some(wanted) if wanted == key => {
                found[i] = Some(value);
                i += 1;
            }
            Some(_) => {}
        }
    }
    found
}

#[derive(Debug, Clone)]
struct ChildPlan {
    name: String,
    view: Option<Expr>,
    steps: Steps,
}

fn reads_of(steps: &Steps, out: &mut std::collections::BTreeSet<String>) {
    for step in &steps.steps {
        step_reads(step, out);
    }
}

fn step_reads(step: &Step, out: &mut std::collections::BTreeSet<String>) {
    match &step.src {
        Src::Path(p) => out.extend(head(p).cloned()),
        Src::Expr(e) => out.extend(e.field_refs("record").into_iter().map(|(f, _)| f)),
        Src::Items(items) => {
            for item in items {
                reads_of(item, out);
            }
        }
        // Inside `each`, `record` is the element; the list is the read.
        Src::Each { each, .. } => out.extend(head(each).cloned()),
        Src::FirstOf(alternatives) => {
            for alternative in alternatives {
                step_reads(alternative, out);
            }
        }
        Src::Const(_) => {}
    }
}

/// A path's first key; `None` when it starts with an index or selector.
fn head(p: &FieldPath) -> Option<&String> {
    match p.segments.first() {
        Some(Segment::Key(k)) => Some(k),
        _ => None,
    }
}

/// A compiled mapping: source record → target record.
#[derive(Debug, Clone)]
pub struct Plan {
    name: String,
    view: Option<Expr>,
    steps: Steps,
    children: Vec<ChildPlan>,
    update_empty_fields: bool,
}

/// Which way a two-way sync's plan maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// `from` → `to`.
    Forward,
    /// `to` → `from` (two-way syncs only).
    Reverse,
}

struct Compiler<'a> {
    ws: &'a Workspace,
    catalog: &'a dyn Catalog,
    diags: Diagnostics,
}

impl<'a> Compiler<'a> {
    fn module(&self, m: &ModuleRef) -> Option<&'a ModuleInfo> {
        self.catalog.describe(&m.connection)?.module(&m.module)
    }

    fn style(&self, connection: &str) -> crate::config::DatetimeStyle {
        self.ws
            .connections
            .get(connection)
            .map(|c| c.datetime_style.clone())
            .unwrap_or(crate::config::DatetimeStyle::Rfc3339)
    }

    fn link(&mut self, f: &FieldMapping, source_connection: &str) -> Option<LinkStep> {
        let l = f.link.as_ref()?;
        let Some(s) = self.ws.syncs.get(&l.sync.value) else {
            self.diags.push(Diagnostic::error(
                &l.sync.span,
                format!("unknown sync `{}` in `link`", l.sync.value),
            ));
            return None;
        };
        let side = if s.from.connection == source_connection {
            Side::From
        } else {
            Side::To
        };
        Some(LinkStep {
            sync: l.sync.value.clone(),
            side,
            missing: l.missing,
        })
    }

    fn steps(
        &mut self,
        fields: &[FieldMapping],
        source_connection: &str,
        target: Option<&ModuleRef>,
        nested: bool,
    ) -> Steps {
        let module = target.and_then(|t| self.module(t));
        let style = target
            .map(|t| self.style(&t.connection))
            .unwrap_or(crate::config::DatetimeStyle::Rfc3339);
        let mut out = Vec::new();
        for f in fields {
            let coerce = match (&f.ty, module, nested) {
                (Some(t), _, _) => Coerce::from_type(t.value, &style),
                (None, Some(m), false) if f.target.segments.len() == 1 => m
                    .field(f.target.head())
                    .map(|fi| Coerce::from_kind(fi.kind, &style))
                    .unwrap_or(Coerce::None),
                (None, Some(m), false) if f.target.custom_field_label().is_some() => f
                    .target
                    .custom_field_label()
                    .and_then(|l| m.fields.iter().find(|x| x.custom && x.label == l))
                    .map(|fi| Coerce::from_kind(fi.kind, &style))
                    .unwrap_or(Coerce::None),
                _ => Coerce::None,
            };
            let src = match &f.source {
                Source::Path(p) => Src::Path(p.value.clone()),
                Source::Const(c) => Src::Const(c.clone()),
                Source::Expr(e) => Src::Expr(e.clone()),
                Source::Items(lists) => Src::Items(
                    lists
                        .iter()
                        .map(|l| self.steps(l, source_connection, None, true))
                        .collect(),
                ),
                Source::Each {
                    each,
                    filter,
                    fields,
                } => Src::Each {
                    each: each.value.clone(),
                    filter: filter.clone(),
                    steps: self.steps(fields, source_connection, None, true),
                },
                Source::FirstOf(alternatives) => Src::FirstOf(
                    self.steps(alternatives, source_connection, target, nested)
                        .steps,
                ),
            };
            // Each alternative coerces its own value for the target.
            let coerce = match (&f.source, &f.ty) {
                (Source::FirstOf(_), None) => Coerce::None,
                _ => coerce,
            };
            let link = self.link(f, source_connection);
            let map = f.map.as_ref().map(|m| ValueMap {
                by_key: m
                    .value
                    .iter()
                    .map(|(k, v)| (map_key(k), v.clone()))
                    .collect(),
            });
            out.push(step(
                f.target.value.clone(),
                src,
                link,
                map,
                f.default.clone(),
                f.required,
                coerce,
            ));
        }
        Steps::new(out)
    }
}

fn step(
    target: FieldPath,
    src: Src,
    link: Option<LinkStep>,
    map: Option<ValueMap>,
    default: Option<Json>,
    required: bool,
    coerce: Coerce,
) -> Step {
    Step {
        target,
        slot: None,
        read: None,
        src,
        link,
        map,
        default,
        required,
        coerce,
    }
}

impl Plan {
    /// Compile the `from` → `to` plan of sync `name`. The catalog supplies
    /// target field kinds for type coercion (none: values pass unchanged
    /// unless a field says `type:`).
    pub fn compile(ws: &Workspace, name: &str, catalog: &dyn Catalog) -> Result<Plan, Diagnostics> {
        Plan::compile_way(ws, name, Way::Forward, catalog)
    }

    /// Compile either way of a sync.
    pub fn compile_way(
        ws: &Workspace,
        name: &str,
        way: Way,
        catalog: &dyn Catalog,
    ) -> Result<Plan, Diagnostics> {
        let Some(sync) = ws.syncs.get(name) else {
            let hint = crate::config::did_you_mean(name, ws.syncs.keys().map(String::as_str));
            return Err(
                Diagnostic::global(format!("no sync `{name}` in the workspace"))
                    .with_hint_opt(hint)
                    .into(),
            );
        };
        let mut c = Compiler {
            ws,
            catalog,
            diags: Diagnostics::new(),
        };
        let plan = match way {
            Way::Forward => Plan {
                name: name.to_owned(),
                view: sync.view.clone(),
                steps: c.steps(&sync.fields, &sync.from.connection, Some(&sync.to), false),
                children: sync
                    .children
                    .iter()
                    .map(|ch| ChildPlan {
                        name: ch.name.value.clone(),
                        view: ch.view.clone(),
                        steps: c.steps(&ch.fields, &sync.from.connection, None, true),
                    })
                    .collect(),
                update_empty_fields: sync.update_empty_fields,
            },
            Way::Reverse => {
                if sync.direction != Direction::TwoWay {
                    return Err(Diagnostic::error(
                        &sync.name.span,
                        format!("sync `{name}` is one-way; it has no reverse plan"),
                    )
                    .into());
                }
                Plan {
                    name: name.to_owned(),
                    view: None,
                    steps: reverse_steps(&mut c, sync),
                    children: Vec::new(),
                    update_empty_fields: sync.update_empty_fields,
                }
            }
        };
        if c.diags.has_errors() {
            Err(c.diags)
        } else {
            Ok(plan)
        }
    }

    /// Compile the field mapping of trigger `name` (for `create`/`update`).
    pub fn for_trigger(
        ws: &Workspace,
        name: &str,
        catalog: &dyn Catalog,
    ) -> Result<Plan, Diagnostics> {
        let Some(t) = ws.triggers.get(name) else {
            return Err(Diagnostic::global(format!("no trigger `{name}` in the workspace")).into());
        };
        let mut c = Compiler {
            ws,
            catalog,
            diags: Diagnostics::new(),
        };
        let target = match &t.action {
            crate::config::Action::Create { module } => Some(module.clone()),
            crate::config::Action::Update {
                target: crate::config::TargetRef::Module { module, .. },
            } => Some(module.clone()),
            crate::config::Action::Update {
                target: crate::config::TargetRef::Linked(l),
            } => linked_module(ws, &l.value, &t.on),
            _ => None,
        };
        let steps = c.steps(&t.fields, &t.on.connection, target.as_ref(), false);
        let plan = Plan {
            name: name.to_owned(),
            view: None,
            steps,
            children: Vec::new(),
            update_empty_fields: false,
        };
        if c.diags.has_errors() {
            Err(c.diags)
        } else {
            Ok(plan)
        }
    }

    /// Top-level fields of the source record the plan reads (paths, and
    /// `record.X` in expressions and view filters), so a caller can tell
    /// whether a partial record (a write's answer) is enough to map.
    pub fn reads(&self) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        if let Some(v) = &self.view {
            out.extend(v.field_refs("record").into_iter().map(|(f, _)| f));
        }
        reads_of(&self.steps, &mut out);
        out
    }

    /// The sync or trigger this plan belongs to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the view filter lets `record` through (true without one).
    pub fn accepts(&self, record: &Json, ctx: &Context) -> Result<bool, RecordError> {
        match &self.view {
            None => Ok(true),
            Some(v) => Ok(v.eval_bool(&Bindings::new(record, ctx.now))?),
        }
    }

    /// Why the view filter leaves `record` out, for the ledger: the filter
    /// and the values it read (`None`: it is in).
    pub fn excluded_by_view(
        &self,
        record: &Json,
        ctx: &Context,
    ) -> Result<Option<String>, RecordError> {
        if self.accepts(record, ctx)? {
            return Ok(None);
        }
        let view = self.view.as_ref().expect("only a view leaves records out");
        let values: Vec<String> = view
            .record_fields()
            .unwrap_or_default()
            .iter()
            .map(|f| {
                let value = record.get(f.as_str()).unwrap_or(&Json::Null);
                format!("{f} = {value}")
            })
            .collect();
        let values = if values.is_empty() {
            String::new()
        } else {
            format!(" ({})", values.join(", "))
        };
        Ok(Some(format!(
            "the sync's view `{}` excludes it{values}",
            view.source()
        )))
    }

    /// Map one record to an owned JSON object.
    pub fn apply(&self, record: &Json, ctx: &Context) -> Result<Json, RecordError> {
        self.map(record, ctx).map(Mapped::into_json)
    }

    /// Map one record to a [`Mapped`] tree that borrows the plan's keys
    /// and the record's unchanged values: enough to fingerprint or
    /// serialise it without copying (see [`Mapped`]).
    pub fn map<'a>(
        &'a self,
        record: &'a Json,
        ctx: &Context<'a>,
    ) -> Result<Mapped<'a>, RecordError> {
        let bindings = Bindings::new(record, ctx.now).with_target(ctx.target);
        let mut out = run_steps(&self.steps, &bindings, ctx, self.update_empty_fields)?;
        if let Some(children) = ctx.children {
            for ch in &self.children {
                let Some(list) = children.get(&ch.name) else {
                    continue;
                };
                let mut mapped = Vec::with_capacity(list.len());
                for (i, child) in list.iter().enumerate() {
                    let b = Bindings::new(child, ctx.now)
                        .with_parent(Some(record))
                        .with_target(ctx.target);
                    if let Some(v) = &ch.view
                        && !v.eval_bool(&b).map_err(|e| nest(&ch.name, i, e.into()))?
                    {
                        continue;
                    }
                    let m = run_steps(&ch.steps, &b, ctx, self.update_empty_fields)
                        .map_err(|e| nest(&ch.name, i, e))?;
                    mapped.push(m);
                }
                out.insert(Cow::Borrowed(ch.name.as_str()), Mapped::Array(mapped));
            }
        }
        Ok(out)
    }
}

/// The module `linked(name)` refers to, seen from a trigger on `on`.
pub fn linked_module(ws: &Workspace, name: &str, on: &ModuleRef) -> Option<ModuleRef> {
    if let Some(t) = ws.triggers.get(name)
        && let crate::config::Action::Create { module } = &t.action
    {
        return Some(module.clone());
    }
    let s = ws.syncs.get(name)?;
    Some(if s.from.to_string() == on.to_string() {
        s.to.clone()
    } else {
        s.from.clone()
    })
}

fn reverse_steps(c: &mut Compiler, sync: &SyncConfig) -> Steps {
    let module = c.module(&sync.from);
    let style = c.style(&sync.from.connection);
    let mut out = Vec::new();
    for f in &sync.fields {
        if f.direction
            .as_ref()
            .is_some_and(|d| d.value == Direction::OneWay)
        {
            continue;
        }
        let coerce_for = |p: &FieldPath| {
            module
                .and_then(|m| {
                    if p.segments.len() == 1 {
                        m.field(p.head())
                    } else {
                        None
                    }
                })
                .map(|fi| Coerce::from_kind(fi.kind, &style))
                .unwrap_or(Coerce::None)
        };
        if let Some((field, expr)) = &f.reverse {
            out.push(step(
                field.value.clone(),
                Src::Expr(expr.clone()),
                None,
                None,
                None,
                false,
                coerce_for(&field.value),
            ));
            continue;
        }
        let Source::Path(p) = &f.source else { continue };
        let link = f.link.as_ref().and_then(|_| c.link(f, &sync.to.connection));
        let map = f.map.as_ref().map(|m| ValueMap {
            by_key: m
                .value
                .iter()
                .map(|(k, v)| (map_key(v), k.clone()))
                .collect(),
        });
        // A lookup object (`Account_Name.id`) is written back as its id.
        let target = p.value.clone();
        out.push(step(
            target.clone(),
            Src::Path(f.target.value.clone()),
            link,
            map,
            None,
            false,
            coerce_for(&target),
        ));
    }
    Steps::new(out)
}

fn run_steps<'v>(
    steps: &'v Steps,
    b: &Bindings<'v>,
    ctx: &Context<'v>,
    update_empty: bool,
) -> Result<Mapped<'v>, RecordError> {
    // One entry per top-level key, in key order; those no step sets are
    // dropped at the end. Steps run in order, so later steps win and the
    // first failing step is the one reported.
    let mut entries: Vec<(Cow<'v, str>, Mapped<'v>)> = steps
        .keys
        .iter()
        .map(|k| (Cow::Borrowed(k.as_str()), Mapped::NULL))
        .collect();
    let mut set = vec![false; entries.len()];
    let found = gather(b.record, &steps.reads);
    let mut scratch = Mapped::NULL;
    for s in &steps.steps {
        let below = s.target.segments.get(1..).unwrap_or_default();
        // A key no step has set yet is evaluated straight into its entry:
        // values are not moved on the way (see `eval_step`).
        let direct = match s.slot {
            Some(slot) if below.is_empty() && !set[slot] => Some(slot),
            _ => None,
        };
        let out = match direct {
            Some(slot) => &mut entries[slot].1,
            None => &mut scratch,
        };
        let keep = eval_step(s, b, &found, ctx, out)? && (update_empty || !out.is_empty_value());
        if !keep {
            *out = Mapped::NULL;
            continue;
        }
        if let Some(slot) = direct {
            set[slot] = true;
            continue;
        }
        let value = std::mem::replace(&mut scratch, Mapped::NULL);
        let placed = match s.slot {
            Some(slot) if below.is_empty() => {
                entries[slot].1 = value;
                true
            }
            Some(slot) => {
                if !set[slot] {
                    entries[slot].1 = Mapped::with_room(&below[0], steps.widths[slot]);
                    set[slot] = true;
                }
                entries[slot].1.set(below, value)
            }
            None => false,
        };
        if !placed {
            return Err(RecordError::new(
                &s.target,
                "another mapped value is in the way of this path",
            ));
        }
    }
    // What is left is sorted and distinct, as a `Mapped` object must be.
    let mut kept = set.into_iter();
    entries.retain(|_| kept.next() == Some(true));
    Ok(Mapped::Object(entries))
}

/// Evaluate step `s` into `out`; `false`: leave the field out. Values
/// taken from the record or the plan stay borrowed. The value is built and
/// converted where it stays because moving `serde_json` values through
/// return slots stalls the CPU on every field (the mapping's hot path).
fn eval_step<'v>(
    s: &'v Step,
    b: &Bindings<'v>,
    found: &[Option<&'v Json>],
    ctx: &Context<'v>,
    out: &mut Mapped<'v>,
) -> Result<bool, RecordError> {
    match &s.src {
        Src::Path(p) => {
            *out = Mapped::Json(Cow::Borrowed(
                match s.read {
                    Some(i) => found[i].and_then(|h| p.get_below_head(h)),
                    None => p.get(b.record),
                }
                .unwrap_or(&NULL),
            ))
        }
        Src::Const(c) => *out = Mapped::Json(Cow::Borrowed(c)),
        Src::Expr(e) => {
            *out = Mapped::Json(Cow::Owned(
                e.eval(b).map_err(|e| RecordError::new(&s.target, e.0))?,
            ))
        }
        Src::FirstOf(alternatives) => {
            *out = Mapped::NULL;
            for alternative in alternatives {
                if eval_step(alternative, b, found, ctx, out)? && !out.is_empty_value() {
                    break;
                }
                *out = Mapped::NULL;
            }
        }
        Src::Items(lists) => {
            let mut items = Vec::with_capacity(lists.len());
            for steps in lists {
                items.push(
                    run_steps(steps, b, ctx, false).map_err(|e| nest(&s.target, items.len(), e))?,
                );
            }
            *out = Mapped::Array(items);
        }
        Src::Each {
            each,
            filter,
            steps,
        } => match each.get(b.record) {
            None | Some(Json::Null) => *out = Mapped::NULL,
            Some(Json::Array(list)) => {
                let mut items = Vec::with_capacity(list.len());
                for (i, el) in list.iter().enumerate() {
                    let eb = Bindings::new(el, b.now)
                        .with_parent(Some(b.record))
                        .with_target(b.target);
                    if let Some(f) = filter
                        && !f.eval_bool(&eb).map_err(|e| nest(&s.target, i, e.into()))?
                    {
                        continue;
                    }
                    items.push(
                        run_steps(steps, &eb, ctx, false).map_err(|e| nest(&s.target, i, e))?,
                    );
                }
                *out = Mapped::Array(items);
            }
            Some(other) => {
                return Err(RecordError::new(
                    &s.target,
                    format!("`{each}` is {}, not a list", short(other)),
                ));
            }
        },
    }
    // A built list passes as it is unless the step looks it up,
    // translates or converts it (which then reports why it cannot).
    let plain = s.link.is_none() && s.map.is_none() && s.coerce == Coerce::None;
    if !(plain && matches!(out, Mapped::Array(_))) {
        if !matches!(out, Mapped::Json(_)) {
            *out = Mapped::Json(Cow::Owned(std::mem::replace(out, Mapped::NULL).into_json()));
        }
        let Mapped::Json(value) = out else {
            unreachable!("made a plain value above")
        };
        if !resolve(s, value, ctx)? {
            return Ok(false);
        }
    }
    if s.required && out.is_empty_value() {
        return Err(RecordError::new(
            &s.target,
            "required, but the record has no value for it",
        ));
    }
    Ok(true)
}

/// A step's value through its link lookup, value map, default and type
/// coercion, in place. `false`: leave the field out.
fn resolve<'v>(s: &'v Step, value: &mut Cow<'v, Json>, ctx: &Context) -> Result<bool, RecordError> {
    if let Some(l) = &s.link
        && !value.is_null()
    {
        let id = match &**value {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Object(m) if m.get("id").is_some_and(|v| v.is_string() || v.is_number()) => {
                map_key(&m["id"])
            }
            other => {
                return Err(RecordError::new(
                    &s.target,
                    format!("lookup value {} is not an id", short(other)),
                ));
            }
        };
        match ctx.links.linked(&l.sync, l.side, &id) {
            Some(other) => *value = Cow::Owned(Json::String(other)),
            None => match l.missing {
                Missing::Skip => return Ok(false),
                Missing::Null => *value = Cow::Borrowed(&NULL),
                Missing::Error | Missing::Create | Missing::Exclude => {
                    let side = match l.side {
                        Side::From => "from",
                        Side::To => "to",
                    };
                    let create = l.missing == Missing::Create;
                    let exclude = l.missing == Missing::Exclude;
                    let mut e = RecordError::new(
                        &s.target,
                        format!(
                            "no record linked to id `{id}` through sync `{}` ({side} side){}",
                            l.sync,
                            if create {
                                "; the parent must be created first"
                            } else if exclude {
                                ": it exists on one side only, so this record is not synced (`missing: exclude`)"
                            } else {
                                "; sync the parent record first"
                            }
                        ),
                    );
                    e.missing_link = Some(MissingLink {
                        sync: l.sync.clone(),
                        side: l.side,
                        id,
                        create,
                        exclude,
                    });
                    return Err(e);
                }
            },
        }
    }
    if let Some(m) = &s.map {
        if value.is_null() {
            if let Some(d) = &s.default {
                *value = Cow::Borrowed(d);
            }
        } else {
            let hit = match &**value {
                Json::String(k) => m.by_key.get(k.as_str()),
                other => m.by_key.get(&other.to_string()),
            };
            match hit {
                Some(v) => *value = Cow::Borrowed(v),
                None => match &s.default {
                    Some(d) => *value = Cow::Borrowed(d),
                    None => {
                        return Err(RecordError::new(
                            &s.target,
                            format!(
                                "value {} has no entry in the value map and there is no `default`",
                                short(value)
                            ),
                        ));
                    }
                },
            }
        }
    } else if value.is_null()
        && let Some(d) = &s.default
    {
        *value = Cow::Borrowed(d);
    }
    s.coerce
        .convert(value)
        .map_err(|r| RecordError::new(&s.target, r))?;
    Ok(true)
}

/// Prefix a per-item error's field with the list and index (`lines[2].rate`).
fn nest(list: impl std::fmt::Display, i: usize, e: RecordError) -> RecordError {
    let field = match &e.field {
        Some(f) => format!("{list}[{i}].{f}"),
        None => format!("{list}[{i}]"),
    };
    RecordError {
        field: Some(field),
        ..e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wide_record(n: usize) -> Json {
        Json::Object((0..n).map(|i| (format!("f{i:03}"), json!(i))).collect())
    }

    #[test]
    fn gather_finds_what_a_search_per_field_finds() {
        for (fields, reads) in [(20, 18), (20, 3), (200, 5), (200, 60), (5, 9)] {
            let record = wide_record(fields);
            // Every third field, some present and some past the record's end.
            let mut wanted: Vec<String> = (0..reads).map(|i| format!("f{:03}", i * 3)).collect();
            wanted.push("Account_Name".into());
            wanted.push("zzz".into());
            wanted.sort();
            let found = gather(&record, &wanted);
            for (key, got) in wanted.iter().zip(&found) {
                assert_eq!(
                    *got,
                    record.get(key),
                    "{fields} fields, {reads} reads: {key}"
                );
            }
        }
        assert_eq!(gather(&json!("text"), &["a".to_owned()]), vec![None]);
    }

    /// `gather` merges in key order; serde_json's `preserve_order`
    /// feature (insertion order) would break that silently.
    #[test]
    fn json_objects_iterate_in_key_order() {
        let object = json!({"b": 1, "a": 2, "c": 3});
        let keys: Vec<&String> = object.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b", "c"]);
    }
}
