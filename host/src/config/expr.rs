//! CEL expressions: compiled once at load, evaluated per record.
//!
//! Variables: `record` (the source record), `previous` (its last seen
//! state, for triggers), `target` (the current target record where known),
//! `parent` (the enclosing record inside `each:` and child mappings) and
//! `now` (a timestamp; fixed by tests). Helpers for vendor dates, numbers
//! and lookups are listed in [`HELPERS`].

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use cel::common::ast::{Expr as AstExpr, IdedExpr, LiteralValue, operators};
use cel::extractors::Arguments;
use cel::objects::{Key, Map};
use cel::{Context, ExecutionError, Program, Value as Cel};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::Value as Json;

/// Every variable an expression may use.
pub const VARIABLES: &[&str] = &["record", "previous", "target", "parent", "now", "today"];

/// Helper functions beyond CEL's standard library, with a one-line
/// description each (shown by `ferry validate` hints and docs).
pub const HELPERS: &[(&str, &str)] = &[
    (
        "parse_time",
        "parse_time(s): a timestamp from a CRM, Books or ISO date-time, or a date",
    ),
    (
        "date",
        "date(x): `YYYY-MM-DD` of a timestamp or date-time string",
    ),
    (
        "books_time",
        "books_time(x): `2013-10-07T18:24:51+0530` (Zoho finance style)",
    ),
    (
        "crm_time",
        "crm_time(x): `2023-10-15T10:30:00+00:00` (Zoho CRM style)",
    ),
    (
        "format_time",
        "format_time(x, pattern): strftime formatting",
    ),
    ("days_between", "days_between(a, b): whole days from a to b"),
    (
        "number",
        "number(x): a double from a number or numeric string (`\"1,234.50\"`)",
    ),
    ("round", "round(x, digits): rounded half away from zero"),
    (
        "coalesce",
        "coalesce(a, b, …): the first argument that is not null or empty",
    ),
    (
        "get",
        "get(x, \"a.b[0]\", default): a nested value, or default when missing",
    ),
    (
        "custom_field",
        "custom_field(record, \"Label\"): a finance custom field's value by label",
    ),
    ("lower", "lower(s)"),
    ("upper", "upper(s)"),
    ("trim", "trim(s)"),
];

/// A compiled expression.
#[derive(Clone)]
pub struct Expr {
    source: Arc<str>,
    program: Arc<Program>,
    uses: u8,
    /// When the expression only reads `record.<field>`, those fields: only
    /// they are converted to CEL per record.
    record_fields: Option<Arc<[String]>>,
    /// Where the expression text starts in the workspace, when loaded
    /// from one.
    span: Option<crate::config::Span>,
}

const USES_RECORD: u8 = 1;
const USES_PREVIOUS: u8 = 2;
const USES_TARGET: u8 = 4;
const USES_PARENT: u8 = 8;
const USES_NOW: u8 = 16;
const USES_TODAY: u8 = 32;

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Expr({:?})", &*self.source)
    }
}

/// Why an expression does not compile. `offset` is a byte offset into the
/// expression text, where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub message: String,
    pub offset: usize,
    pub hint: Option<String>,
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Why an evaluation failed, for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError(pub String);

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EvalError {}

impl Expr {
    /// Compile `source`, allowing only the variables in `allowed` (a subset
    /// of [`VARIABLES`]).
    pub fn compile(source: &str, allowed: &[&str]) -> Result<Expr, ExprError> {
        if source.trim().is_empty() {
            return Err(ExprError {
                message: "empty expression".into(),
                offset: 0,
                hint: None,
            });
        }
        let program = match std::panic::catch_unwind(|| Program::compile(source)) {
            Ok(Ok(p)) => p,
            Ok(Err(errors)) => {
                let first = errors.errors.first();
                let (msg, offset) = match first {
                    Some(e) => (
                        tidy_parse_message(&e.msg),
                        offset_of(source, e.pos.0, e.pos.1),
                    ),
                    None => ("invalid expression".into(), 0),
                };
                return Err(ExprError {
                    message: format!("invalid CEL: {msg}"),
                    offset,
                    hint: None,
                });
            }
            Err(_) => {
                return Err(ExprError {
                    message: "invalid CEL: the parser gave up".into(),
                    offset: 0,
                    hint: None,
                });
            }
        };
        let mut uses = 0;
        {
            let refs = program.references();
            // Names bound by `exists`, `all`, `map`, … (`i` in
            // `record.Items.exists(i, i.qty > 0)`) are not variables to look up.
            let mut bound = Vec::new();
            visit(program.expression(), &mut |n| {
                if let AstExpr::Comprehension(c) = &n.expr {
                    bound.push(c.iter_var.clone());
                    bound.extend(c.iter_var2.clone());
                    bound.push(c.accu_var.clone());
                }
            });
            let mut vars = refs.variables();
            vars.retain(|v| !bound.iter().any(|b| b == v));
            vars.sort();
            for v in vars {
                match v {
                    "record" => uses |= USES_RECORD,
                    "previous" => uses |= USES_PREVIOUS,
                    "target" => uses |= USES_TARGET,
                    "parent" => uses |= USES_PARENT,
                    "now" => uses |= USES_NOW,
                    "today" => uses |= USES_TODAY,
                    _ => {}
                }
                if !allowed.contains(&v) {
                    let offset = find_ident(source, v).unwrap_or(0);
                    let hint = if VARIABLES.contains(&v) {
                        Some(format!(
                            "`{v}` is not available here; available: {}",
                            allowed.join(", ")
                        ))
                    } else {
                        crate::config::did_you_mean(v, allowed.iter().copied()).or_else(|| {
                            Some(format!("available variables: {}", allowed.join(", ")))
                        })
                    };
                    return Err(ExprError {
                        message: format!("unknown variable `{v}`"),
                        offset,
                        hint,
                    });
                }
            }
            let mut funcs = refs.functions();
            funcs.sort();
            for f in funcs {
                if let Some(h) = misspelt_helper(f) {
                    let offset = find_ident(source, f).unwrap_or(0);
                    return Err(ExprError {
                        message: format!("unknown function `{f}`"),
                        offset,
                        hint: Some(h),
                    });
                }
            }
        }
        let mut e = Expr {
            source: source.into(),
            program: Arc::new(program),
            uses,
            record_fields: None,
            span: None,
        };
        e.record_fields = e.dotted_only("record");
        Ok(e)
    }

    /// The top-level fields read through `var`, if `var` is only ever used
    /// as `var.<field>` (so the rest of the record need not be converted).
    fn dotted_only(&self, var: &str) -> Option<Arc<[String]>> {
        let src = &*self.source;
        let total = src
            .match_indices(var)
            .filter(|(i, _)| {
                let b = src.as_bytes();
                let before = *i == 0
                    || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_' || b[i - 1] == b'.');
                let after = i + var.len();
                let after_ok =
                    after >= b.len() || !(b[after].is_ascii_alphanumeric() || b[after] == b'_');
                before && after_ok
            })
            .count();
        let refs = self.field_refs(var);
        if refs.len() != total || total == 0 {
            return None;
        }
        let mut names: Vec<String> = refs.into_iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        Some(names.into())
    }

    /// Remember where the expression text was written (its first byte).
    pub fn with_span(mut self, span: crate::config::Span) -> Expr {
        self.span = Some(span);
        self
    }

    /// Where the expression was written, if loaded from a workspace.
    pub fn span(&self) -> Option<&crate::config::Span> {
        self.span.as_ref()
    }

    /// The span of `len` bytes at `offset` into the expression text (the
    /// whole expression's span for multi-line text).
    pub fn span_at(&self, offset: usize, len: usize) -> Option<crate::config::Span> {
        let s = self.span.as_ref()?;
        if s.len >= self.source.len() && s.snippet() == &*self.source {
            Some(s.sub(offset, len))
        } else {
            Some(s.clone())
        }
    }

    /// Fields referenced as `<var>.Field` (top-level only), with their byte
    /// offsets in the expression.
    pub fn field_refs(&self, var: &str) -> Vec<(String, usize)> {
        let src = &*self.source;
        let bytes = src.as_bytes();
        let pat = format!("{var}.");
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(i) = src[from..].find(&pat).map(|i| i + from) {
            let before_ok = i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b'.');
            let start = i + pat.len();
            let end = src[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .map(|e| start + e)
                .unwrap_or(src.len());
            // Inside a string literal? Count quotes before.
            let quotes = src[..i].chars().filter(|c| *c == '\'' || *c == '"').count();
            if before_ok && end > start && quotes % 2 == 0 {
                out.push((src[start..end].to_owned(), start));
            }
            from = start;
        }
        out
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the result may change with the clock alone (`now`, `today`).
    pub fn uses_time(&self) -> bool {
        self.uses & (USES_NOW | USES_TODAY) != 0
    }

    /// The `record.<field>` fields the expression reads, when it reads
    /// nothing else of the record.
    pub fn record_fields(&self) -> Option<&[String]> {
        self.record_fields.as_deref()
    }

    /// Evaluate to JSON.
    pub fn eval(&self, b: &Bindings) -> Result<Json, EvalError> {
        let v = self.eval_cel(b)?;
        cel_to_json(&v).map_err(|e| EvalError(format!("`{}`: {e}", self.source)))
    }

    /// Evaluate to a boolean; anything else is an error.
    pub fn eval_bool(&self, b: &Bindings) -> Result<bool, EvalError> {
        match self.eval_cel(b)? {
            Cel::Bool(v) => Ok(v),
            other => Err(EvalError(format!(
                "`{}` gave {} where true or false was needed",
                self.source,
                describe_cel(&other)
            ))),
        }
    }

    fn eval_cel(&self, b: &Bindings) -> Result<Cel, EvalError> {
        ROOT.with(|root| {
            let mut ctx = root.new_inner_scope();
            if self.uses & USES_RECORD != 0 {
                let v = match (&self.record_fields, b.record) {
                    (Some(names), Json::Object(m)) => {
                        let map: HashMap<Key, Cel> = names
                            .iter()
                            .filter_map(|n| {
                                m.get(n)
                                    .map(|v| (Key::String(Arc::new(n.clone())), json_to_cel(v)))
                            })
                            .collect();
                        Cel::Map(Map { map: Arc::new(map) })
                    }
                    _ => b.cel(Var::Record),
                };
                ctx.add_variable_from_value("record", v);
            }
            if self.uses & USES_PREVIOUS != 0 {
                ctx.add_variable_from_value("previous", b.cel(Var::Previous));
            }
            if self.uses & USES_TARGET != 0 {
                ctx.add_variable_from_value("target", b.cel(Var::Target));
            }
            if self.uses & USES_PARENT != 0 {
                ctx.add_variable_from_value("parent", b.cel(Var::Parent));
            }
            if self.uses & USES_NOW != 0 {
                ctx.add_variable_from_value("now", Cel::Timestamp(b.now));
            }
            if self.uses & USES_TODAY != 0 {
                // Text, as vendors write dates: `due_date < today` compares.
                let today = b.now.date_naive().format("%Y-%m-%d").to_string();
                ctx.add_variable_from_value("today", Cel::String(Arc::new(today)));
            }
            let program = &self.program;
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| program.execute(&ctx))) {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(EvalError(format!("`{}`: {}", self.source, explain(&e)))),
                Err(_) => Err(EvalError(format!("`{}`: evaluation failed", self.source))),
            }
        })
    }
}

// ---------------------------------------------------------------------------
// Conditions.
//
// A `view`, a trigger's `when` and `guards`, an `each` filter and an act's
// `only_if` must give true or false; anything else fails every record at
// run time. CEL as compiled here is dynamically typed (records are JSON), so
// there is no checker to ask. Evaluating against a sample record would need
// plausible values for every field and still miss branches; instead a small
// inference walks the parsed AST (which the `cel` crate exposes) through the
// positions whose value decides the condition: the whole expression, the
// operands of `&&`, `||` and `!`, and the three parts of `?:`. At each, a
// form whose result is known never to be a boolean is reported: a literal
// other than `true`/`false`, a list or map, arithmetic, a whole record, a
// function known to give text, numbers or times (`size`, `lower`, `date`,
// …). Comparisons, `in`, `has()`, `exists`/`all`/`exists_one`, `contains`,
// `startsWith`, `endsWith`, `matches` and `bool()` give booleans. What only
// the data decides (`record.X`, `get(…)`, `coalesce(…)`, indexing) passes
// here; a bare `record.X` in those positions is listed by
// [`Expr::condition_fields`], so validation can check the field's kind
// against the connector's `describe`.

/// The hint for a condition that does not give true or false.
pub const CONDITION_HINT: &str = "compare or test it (`==`, `!=`, `<`, `in`, `has(…)`, `.startsWith(…)`): anything but true or false fails every record at run time";

/// Where a condition cannot give true or false, and what it gives instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotACondition {
    /// Byte offset and length, in the expression text, of the part at fault.
    pub offset: usize,
    pub len: usize,
    /// That part's text.
    pub text: String,
    /// What it gives instead: "a string", "a number", …
    pub gives: &'static str,
}

/// A field read (`record.X`) whose value is the condition's (or decides
/// it), so it must be a boolean field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConditionField {
    /// The variable read (`record`, `previous`, `target`, `parent`).
    pub var: String,
    pub field: String,
    /// Byte offset and length of `var.field` in the expression text.
    pub offset: usize,
    pub len: usize,
}

/// What an expression gives, as far as its form tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gives {
    Bool,
    /// Never a boolean: what it is instead.
    Not(&'static str),
    /// Only the data tells.
    Unknown,
}

impl Expr {
    /// The first part of this expression, read as a condition, that can
    /// never give true or false (see the comment above), if any.
    pub fn not_a_condition(&self) -> Option<NotACondition> {
        let mut found = None;
        self.condition_leaves(&mut |e| {
            if found.is_none()
                && let Gives::Not(what) = gives(e)
            {
                found = Some((e, what));
            }
        });
        let (e, gives) = found?;
        let (offset, len) = self.extent(e);
        Some(NotACondition {
            offset,
            len,
            text: self.source[offset..offset + len].to_owned(),
            gives,
        })
    }

    /// The bare field reads (`record.X`, `previous.X`, …) whose value is
    /// this condition's or decides it: they must be boolean fields.
    pub fn condition_fields(&self) -> Vec<ConditionField> {
        let mut out = Vec::new();
        self.condition_leaves(&mut |e| {
            if let AstExpr::Select(s) = &e.expr
                && !s.test
                && let AstExpr::Ident(var) = &s.operand.expr
            {
                let (offset, len) = self.extent(e);
                out.push(ConditionField {
                    var: var.clone(),
                    field: s.field.clone(),
                    offset,
                    len,
                });
            }
        });
        out
    }

    /// Calls `leaf` with each node whose value decides the condition: the
    /// root, through `&&`, `||`, `!` and `?:` (and parentheses, which leave
    /// no node).
    fn condition_leaves<'e>(&'e self, leaf: &mut dyn FnMut(&'e IdedExpr)) {
        fn walk<'e>(e: &'e IdedExpr, leaf: &mut dyn FnMut(&'e IdedExpr)) {
            if let AstExpr::Call(c) = &e.expr
                && c.target.is_none()
                && matches!(
                    c.func_name.as_str(),
                    operators::LOGICAL_AND
                        | operators::LOGICAL_OR
                        | operators::LOGICAL_NOT
                        | operators::CONDITIONAL
                )
            {
                for a in &c.args {
                    walk(a, leaf);
                }
                return;
            }
            leaf(e);
        }
        walk(self.program.expression(), leaf);
    }

    /// Byte offset and length of the text a node was parsed from (the
    /// whole expression for the root).
    fn extent(&self, e: &IdedExpr) -> (usize, usize) {
        let src = &*self.source;
        if std::ptr::eq(e, self.program.expression()) {
            let start = src.len() - src.trim_start().len();
            return (start, src.trim().len());
        }
        // The parser notes one token per node, as byte offsets (the last
        // one included): a literal or name itself, an operator, the `.` of
        // a field and the `(` of a call. Their hull, completed with the
        // last field name, the called function's name and the brackets left
        // open or closed, is the node's text.
        let info = self.program.source_info();
        let (mut lo, mut hi) = (usize::MAX, 0);
        visit(e, &mut |n| {
            let Some((start, stop)) = info.offset_for(n.id) else {
                return;
            };
            let (start, mut end) = (start as usize, stop as usize + 1);
            if let AstExpr::Select(s) = &n.expr
                && src.get(start..end) == Some(".")
            {
                end += s.field.len();
            }
            lo = lo.min(start);
            hi = hi.max(end);
        });
        if lo >= hi || hi > src.len() {
            return (0, src.len());
        }
        let (lo, hi) = balance(src, lo, hi);
        // A global call's (or macro's) name is written before its `(`.
        let lo = if src[lo..].starts_with('(') {
            src[..lo]
                .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || c == '_')
                .len()
        } else {
            lo
        };
        (lo, hi - lo)
    }
}

/// `lo..hi` of `src` widened until its brackets match (outside string
/// literals).
fn balance(src: &str, mut lo: usize, mut hi: usize) -> (usize, usize) {
    let b = src.as_bytes();
    // Which bytes are inside a string literal.
    let mut quoted = vec![false; b.len()];
    let mut quote = None;
    let mut i = 0;
    while i < b.len() {
        match quote {
            Some(q) => {
                quoted[i] = true;
                if b[i] == b'\\' && i + 1 < b.len() {
                    quoted[i + 1] = true;
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None if b[i] == b'\'' || b[i] == b'"' => {
                quoted[i] = true;
                quote = Some(b[i]);
            }
            None => {}
        }
        i += 1;
    }
    let (mut open, mut unopened) = (0usize, 0usize);
    for i in lo..hi {
        match b[i] {
            _ if quoted[i] => {}
            b'(' | b'[' | b'{' => open += 1,
            b')' | b']' | b'}' if open > 0 => open -= 1,
            b')' | b']' | b'}' => unopened += 1,
            _ => {}
        }
    }
    while open > 0 && hi < b.len() {
        match b[hi] {
            _ if quoted[hi] => {}
            b'(' | b'[' | b'{' => open += 1,
            b')' | b']' | b'}' => open -= 1,
            _ => {}
        }
        hi += 1;
    }
    while unopened > 0 && lo > 0 {
        lo -= 1;
        match b[lo] {
            _ if quoted[lo] => {}
            b')' | b']' | b'}' => unopened += 1,
            b'(' | b'[' | b'{' => unopened -= 1,
            _ => {}
        }
    }
    (lo, hi)
}

/// Every node of `e`, `e` first.
fn visit<'e>(e: &'e IdedExpr, f: &mut dyn FnMut(&'e IdedExpr)) {
    f(e);
    match &e.expr {
        AstExpr::Call(c) => {
            if let Some(t) = &c.target {
                visit(t, f);
            }
            for a in &c.args {
                visit(a, f);
            }
        }
        AstExpr::Comprehension(c) => {
            for n in [
                &c.iter_range,
                &c.accu_init,
                &c.loop_cond,
                &c.loop_step,
                &c.result,
            ] {
                visit(n, f);
            }
        }
        AstExpr::List(l) => l.elements.iter().for_each(|n| visit(n, f)),
        AstExpr::Map(m) => {
            for entry in &m.entries {
                if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                    visit(&me.key, f);
                    visit(&me.value, f);
                }
            }
        }
        AstExpr::Struct(s) => {
            for entry in &s.entries {
                if let cel::common::ast::EntryExpr::StructField(sf) = &entry.expr {
                    visit(&sf.value, f);
                }
            }
        }
        AstExpr::Select(s) => visit(&s.operand, f),
        AstExpr::Ident(_) | AstExpr::Literal(_) | AstExpr::Unspecified => {}
    }
}

/// What `e` gives, from its form alone.
fn gives(e: &IdedExpr) -> Gives {
    use Gives::*;
    match &e.expr {
        AstExpr::Literal(l) => match l {
            LiteralValue::Boolean(_) => Bool,
            LiteralValue::Bytes(_) => Not("bytes"),
            LiteralValue::Double(_) | LiteralValue::Int(_) | LiteralValue::UInt(_) => {
                Not("a number")
            }
            LiteralValue::Null => Not("null"),
            LiteralValue::String(_) => Not("a string"),
        },
        AstExpr::List(_) => Not("a list"),
        AstExpr::Map(_) => Not("a map"),
        // `has(x.f)`.
        AstExpr::Select(s) if s.test => Bool,
        AstExpr::Select(_) => Unknown,
        AstExpr::Ident(name) => match name.as_str() {
            "now" => Not("a timestamp"),
            "today" => Not("a date (text)"),
            "record" | "previous" | "target" | "parent" => Not("a whole record"),
            _ => Unknown,
        },
        // `exists`/`all` fold into a boolean, `map`/`filter` into a list:
        // the accumulator's start tells; `exists_one` ends in a comparison.
        AstExpr::Comprehension(c) => match &c.result.expr {
            AstExpr::Ident(v) if *v == c.accu_var => gives(&c.accu_init),
            _ => gives(&c.result),
        },
        AstExpr::Call(c) => {
            let arg = |i: usize| c.args.get(i).map(gives).unwrap_or(Unknown);
            match c.func_name.as_str() {
                operators::LOGICAL_AND
                | operators::LOGICAL_OR
                | operators::LOGICAL_NOT
                | operators::EQUALS
                | operators::NOT_EQUALS
                | operators::LESS
                | operators::LESS_EQUALS
                | operators::GREATER
                | operators::GREATER_EQUALS
                | operators::IN
                | operators::NOT_STRICTLY_FALSE
                | "contains"
                | "startsWith"
                | "endsWith"
                | "matches"
                | "bool"
                | "hasValue" => Bool,
                operators::CONDITIONAL => match (arg(1), arg(2)) {
                    (Bool, Bool) => Bool,
                    (Not(w), _) | (_, Not(w)) => Not(w),
                    _ => Unknown,
                },
                // No overload of `+` gives a boolean; say what it makes.
                operators::ADD => {
                    let (a, b) = (arg(0), arg(1));
                    let either = |w: &'static str| a == Not(w) || b == Not(w);
                    if either("a string") {
                        Not("a string")
                    } else if either("a list") {
                        Not("a list")
                    } else if either("a timestamp") || either("a duration") {
                        Not("a timestamp or duration")
                    } else {
                        Not("a number")
                    }
                }
                operators::SUBSTRACT => {
                    let (a, b) = (arg(0), arg(1));
                    let time = |g: Gives| g == Not("a timestamp") || g == Not("a duration");
                    if time(a) || time(b) {
                        Not("a timestamp or duration")
                    } else {
                        Not("a number")
                    }
                }
                operators::MULTIPLY
                | operators::DIVIDE
                | operators::MODULO
                | operators::NEGATE
                | "size"
                | "int"
                | "uint"
                | "double"
                | "number"
                | "round"
                | "days_between"
                | "max"
                | "min"
                | "getFullYear"
                | "getMonth"
                | "getDate"
                | "getDayOfMonth"
                | "getDayOfWeek"
                | "getDayOfYear"
                | "getHours"
                | "getMinutes"
                | "getSeconds"
                | "getMilliseconds" => Not("a number"),
                "string" | "date" | "books_time" | "crm_time" | "format_time" | "lower"
                | "upper" | "trim" => Not("a string"),
                "bytes" => Not("bytes"),
                "timestamp" | "parse_time" => Not("a timestamp"),
                "duration" => Not("a duration"),
                "type" => Not("a type"),
                "dyn" => arg(0),
                _ => Unknown,
            }
        }
        AstExpr::Struct(_) | AstExpr::Unspecified => Unknown,
    }
}

/// ANTLR's messages list every token it could have taken; keep the gist.
fn tidy_parse_message(msg: &str) -> String {
    let msg = msg.strip_prefix("Syntax error: ").unwrap_or(msg);
    if msg.starts_with("mismatched input '<EOF>'") {
        return "the expression ends too early".into();
    }
    match msg.find(" expecting ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

fn explain(e: &ExecutionError) -> String {
    match e {
        ExecutionError::NoSuchKey(k) => {
            format!("no field `{k}` (use has(x.{k}) or get(x, \"{k}\", default))")
        }
        other => {
            let m = other.to_string();
            if m.contains("no matching overload") && m.contains("string") {
                format!("{m} (a field holding a number as text needs number(x))")
            } else {
                m
            }
        }
    }
}

/// A helper name the user probably meant, for a function CEL does not know.
fn misspelt_helper(f: &str) -> Option<String> {
    const STD: &[&str] = &[
        "size",
        "contains",
        "startsWith",
        "endsWith",
        "matches",
        "int",
        "uint",
        "double",
        "string",
        "bytes",
        "bool",
        "timestamp",
        "duration",
        "type",
        "dyn",
        "has",
        "all",
        "exists",
        "exists_one",
        "map",
        "filter",
        "getFullYear",
        "getMonth",
        "getDate",
        "getDayOfMonth",
        "getDayOfWeek",
        "getDayOfYear",
        "getHours",
        "getMinutes",
        "getSeconds",
        "getMilliseconds",
        "max",
        "min",
        "optional",
        "or",
        "orValue",
        "value",
        "hasValue",
    ];
    // Operators are functions too: `_+_`, `!_`, `-_`, `@in`.
    if f.starts_with(['_', '@', '!', '-']) || f.contains('.') || STD.contains(&f) {
        return None;
    }
    if HELPERS.iter().any(|(h, _)| *h == f) {
        return None;
    }
    let names = HELPERS.iter().map(|(h, _)| *h).chain(STD.iter().copied());
    Some(
        crate::config::did_you_mean(f, names)
            .unwrap_or_else(|| "see the expression helpers in docs/config.md".to_owned()),
    )
}

fn find_ident(source: &str, ident: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    let mut from = 0;
    while let Some(i) = source[from..].find(ident).map(|i| i + from) {
        let before_ok = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'.');
        let after = i + ident.len();
        let after_ok =
            after >= bytes.len() || !(bytes[after].is_ascii_alphanumeric() || bytes[after] == b'_');
        if before_ok && after_ok {
            return Some(i);
        }
        from = i + ident.len();
    }
    None
}

/// Byte offset of the parser's (1-based line, 0-based column) position.
fn offset_of(source: &str, line: isize, col: isize) -> usize {
    let mut offset = 0;
    for (i, l) in source.split('\n').enumerate() {
        if i as isize + 1 == line {
            let c = col.max(0) as usize;
            return offset + l.char_indices().nth(c).map(|(b, _)| b).unwrap_or(l.len());
        }
        offset += l.len() + 1;
    }
    source.len()
}

/// Which variable.
#[derive(Debug, Clone, Copy)]
enum Var {
    Record,
    Previous,
    Target,
    Parent,
}

/// The values an expression sees, converted to CEL lazily, once.
pub struct Bindings<'a> {
    pub record: &'a Json,
    pub previous: Option<&'a Json>,
    pub target: Option<&'a Json>,
    pub parent: Option<&'a Json>,
    pub now: DateTime<FixedOffset>,
    cache: [std::cell::OnceCell<Cel>; 4],
}

impl<'a> Bindings<'a> {
    pub fn new(record: &'a Json, now: DateTime<FixedOffset>) -> Bindings<'a> {
        Bindings {
            record,
            previous: None,
            target: None,
            parent: None,
            now,
            cache: Default::default(),
        }
    }

    pub fn with_previous(mut self, previous: Option<&'a Json>) -> Self {
        self.previous = previous;
        self
    }

    pub fn with_target(mut self, target: Option<&'a Json>) -> Self {
        self.target = target;
        self
    }

    pub fn with_parent(mut self, parent: Option<&'a Json>) -> Self {
        self.parent = parent;
        self
    }

    fn cel(&self, var: Var) -> Cel {
        let (slot, json) = match var {
            Var::Record => (0, Some(self.record)),
            Var::Previous => (1, self.previous),
            Var::Target => (2, self.target),
            Var::Parent => (3, self.parent),
        };
        self.cache[slot]
            .get_or_init(|| json.map(json_to_cel).unwrap_or(Cel::Null))
            .clone()
    }
}

/// JSON → CEL.
pub fn json_to_cel(v: &Json) -> Cel {
    match v {
        Json::Null => Cel::Null,
        Json::Bool(b) => Cel::Bool(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Cel::Int(i)
            } else if let Some(u) = n.as_u64() {
                Cel::UInt(u)
            } else {
                Cel::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Cel::String(Arc::new(s.clone())),
        Json::Array(items) => Cel::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Json::Object(m) => {
            let map: HashMap<Key, Cel> = m
                .iter()
                .map(|(k, v)| (Key::String(Arc::new(k.clone())), json_to_cel(v)))
                .collect();
            Cel::Map(Map { map: Arc::new(map) })
        }
    }
}

/// CEL → JSON. Timestamps become RFC 3339 strings, durations seconds.
pub fn cel_to_json(v: &Cel) -> Result<Json, String> {
    Ok(match v {
        Cel::Null => Json::Null,
        Cel::Bool(b) => Json::Bool(*b),
        Cel::Int(i) => Json::from(*i),
        Cel::UInt(u) => Json::from(*u),
        Cel::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None => return Err(format!("{f} is not a finite number")),
        },
        Cel::String(s) => Json::String(s.as_str().to_owned()),
        Cel::List(items) => Json::Array(items.iter().map(cel_to_json).collect::<Result<_, _>>()?),
        Cel::Map(m) => {
            let mut out = serde_json::Map::new();
            let mut entries: Vec<_> = m.map.iter().collect();
            entries.sort_by_key(|(k, _)| key_string(k));
            for (k, v) in entries {
                out.insert(key_string(k), cel_to_json(v)?);
            }
            Json::Object(out)
        }
        Cel::Timestamp(t) => Json::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)),
        Cel::Duration(d) => Json::from(d.num_seconds()),
        other => {
            return Err(format!(
                "{} cannot be written to a record",
                describe_cel(other)
            ));
        }
    })
}

fn key_string(k: &Key) -> String {
    match k {
        Key::String(s) => s.as_str().to_owned(),
        Key::Int(i) => i.to_string(),
        Key::Uint(u) => u.to_string(),
        Key::Bool(b) => b.to_string(),
    }
}

fn describe_cel(v: &Cel) -> String {
    match v {
        Cel::Null => "null".into(),
        Cel::String(s) => format!("the string {:?}", s.as_str()),
        Cel::Int(i) => format!("the number {i}"),
        Cel::Float(f) => format!("the number {f}"),
        Cel::Bool(b) => b.to_string(),
        other => format!("a {}", other.type_of()),
    }
}

// ---------------------------------------------------------------------------
// Vendor date-times.

/// Parse a date-time in any vendor style: RFC 3339 (`+00:00` or `Z`),
/// Zoho finance (`+0530`), naive (`2024-01-02 03:04:05`, read as UTC) or a
/// bare date (midnight UTC).
pub fn parse_datetime(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%z") {
        return Some(t);
    }
    if let Ok(t) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(t);
    }
    for pat in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, pat) {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(
            Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?)
                .fixed_offset(),
        );
    }
    None
}

/// `2013-10-07T18:24:51+0530`.
pub fn format_compact(t: &DateTime<FixedOffset>) -> String {
    format_fixed(t, false)
}

/// `2023-10-15T10:30:00+00:00`.
pub fn format_rfc3339(t: &DateTime<FixedOffset>) -> String {
    format_fixed(t, true)
}

/// Both vendor styles without going through strftime parsing (this runs
/// per record and field).
fn format_fixed(t: &DateTime<FixedOffset>, colon: bool) -> String {
    use chrono::{Datelike, Timelike};
    let off = t.offset().local_minus_utc();
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    let (oh, om) = (off / 3600, (off % 3600) / 60);
    let year = t.year();
    if !(0..=9999).contains(&year) {
        let pattern = if colon {
            "%Y-%m-%dT%H:%M:%S%:z"
        } else {
            "%Y-%m-%dT%H:%M:%S%z"
        };
        return t.format(pattern).to_string();
    }
    let mut out = String::with_capacity(25);
    let two = |n: u32, out: &mut String| {
        out.push(char::from(b'0' + (n / 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    let y = year as u32;
    two(y / 100, &mut out);
    two(y % 100, &mut out);
    out.push('-');
    two(t.month(), &mut out);
    out.push('-');
    two(t.day(), &mut out);
    out.push('T');
    two(t.hour(), &mut out);
    out.push(':');
    two(t.minute(), &mut out);
    out.push(':');
    two(t.second(), &mut out);
    out.push(sign);
    two(oh as u32, &mut out);
    if colon {
        out.push(':');
    }
    two(om as u32, &mut out);
    out
}

/// Format with a strftime pattern; `None` for a pattern chrono rejects.
pub fn format_pattern(t: &DateTime<FixedOffset>, pattern: &str) -> Option<String> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{}", t.format(pattern)).ok()?;
    Some(out)
}

// ---------------------------------------------------------------------------
// Helper functions.

thread_local! {
    static ROOT: Context<'static, 'static> = root_context();
}

fn fail(f: &str, msg: impl ToString) -> ExecutionError {
    ExecutionError::function_error(f, msg)
}

fn as_time(f: &str, v: &Cel) -> Result<DateTime<FixedOffset>, ExecutionError> {
    match v {
        Cel::Timestamp(t) => Ok(*t),
        Cel::String(s) => {
            parse_datetime(s).ok_or_else(|| fail(f, format!("`{s}` is not a date or date-time")))
        }
        other => Err(fail(
            f,
            format!("expected a date or date-time, got {}", describe_cel(other)),
        )),
    }
}

/// A number from a JSON-ish value (numeric strings allowed).
pub fn to_number(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => parse_number(s),
        _ => None,
    }
}

/// `"1,234.50"` → 1234.5; `"12"` → 12.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    t.parse::<f64>()
        .ok()
        .or_else(|| parse_grouped(t))
        .filter(|f| f.is_finite())
}

/// `t` read without its `,`, `_` and spaces (digit grouping). The digits
/// are gathered on the stack for numbers of usual length, since this runs
/// per record and field.
fn parse_grouped(t: &str) -> Option<f64> {
    let mut buf = [0u8; 64];
    let mut len = 0;
    for b in t.bytes().filter(|b| !matches!(b, b',' | b'_' | b' ')) {
        let Some(slot) = buf.get_mut(len) else {
            return t.replace([',', '_', ' '], "").parse().ok();
        };
        *slot = b;
        len += 1;
    }
    // Only ASCII bytes were left out, so the rest is still UTF-8.
    std::str::from_utf8(&buf[..len]).ok()?.parse().ok()
}

fn cel_number(f: &str, v: &Cel) -> Result<f64, ExecutionError> {
    match v {
        Cel::Int(i) => Ok(*i as f64),
        Cel::UInt(u) => Ok(*u as f64),
        Cel::Float(x) => Ok(*x),
        Cel::String(s) => parse_number(s).ok_or_else(|| fail(f, format!("`{s}` is not a number"))),
        other => Err(fail(
            f,
            format!("expected a number, got {}", describe_cel(other)),
        )),
    }
}

fn is_empty(v: &Cel) -> bool {
    match v {
        Cel::Null => true,
        Cel::String(s) => s.is_empty(),
        Cel::List(l) => l.is_empty(),
        _ => false,
    }
}

fn cel_get<'v>(v: &'v Cel, key: &str) -> Option<&'v Cel> {
    match v {
        Cel::Map(m) => m.map.get(&Key::String(Arc::new(key.to_owned()))),
        _ => None,
    }
}

fn root_context() -> Context<'static, 'static> {
    let mut c = Context::default();
    let add = |r: Result<(), cel::DeclarationError>| {
        // A name clash with the standard library is a programming error
        // caught by the unit tests.
        debug_assert!(r.is_ok(), "{r:?}");
    };
    add(
        c.add_function("parse_time", |v: Cel| -> Result<Cel, ExecutionError> {
            Ok(Cel::Timestamp(as_time("parse_time", &v)?))
        }),
    );
    add(
        c.add_function("date", |v: Cel| -> Result<Cel, ExecutionError> {
            if v == Cel::Null {
                return Ok(Cel::Null);
            }
            let t = as_time("date", &v)?;
            Ok(Cel::String(Arc::new(t.format("%Y-%m-%d").to_string())))
        }),
    );
    add(
        c.add_function("books_time", |v: Cel| -> Result<Cel, ExecutionError> {
            if v == Cel::Null {
                return Ok(Cel::Null);
            }
            Ok(Cel::String(Arc::new(format_compact(&as_time(
                "books_time",
                &v,
            )?))))
        }),
    );
    add(
        c.add_function("crm_time", |v: Cel| -> Result<Cel, ExecutionError> {
            if v == Cel::Null {
                return Ok(Cel::Null);
            }
            Ok(Cel::String(Arc::new(format_rfc3339(&as_time(
                "crm_time", &v,
            )?))))
        }),
    );
    add(c.add_function(
        "format_time",
        |v: Cel, pattern: Arc<String>| -> Result<Cel, ExecutionError> {
            let t = as_time("format_time", &v)?;
            format_pattern(&t, &pattern)
                .map(|s| Cel::String(Arc::new(s)))
                .ok_or_else(|| fail("format_time", format!("bad pattern `{pattern}`")))
        },
    ));
    add(c.add_function(
        "days_between",
        |a: Cel, b: Cel| -> Result<Cel, ExecutionError> {
            let a = as_time("days_between", &a)?;
            let b = as_time("days_between", &b)?;
            Ok(Cel::Int((b.signed_duration_since(a)).num_days()))
        },
    ));
    add(
        c.add_function("number", |v: Cel| -> Result<Cel, ExecutionError> {
            Ok(Cel::Float(cel_number("number", &v)?))
        }),
    );
    add(c.add_function(
        "round",
        |v: Cel, digits: i64| -> Result<Cel, ExecutionError> {
            let x = cel_number("round", &v)?;
            let p = 10f64.powi(digits.clamp(0, 12) as i32);
            Ok(Cel::Float((x * p).round() / p))
        },
    ));
    add(c.add_function(
        "coalesce",
        |Arguments(args): Arguments| -> Result<Cel, ExecutionError> {
            Ok(args
                .iter()
                .find(|a| !is_empty(a))
                .cloned()
                .unwrap_or(Cel::Null))
        },
    ));
    add(c.add_function(
        "get",
        |v: Cel, path: Arc<String>, default: Cel| -> Result<Cel, ExecutionError> {
            let p = crate::config::FieldPath::parse(&path).map_err(|e| fail("get", e.message))?;
            let mut cur = &v;
            for seg in &p.segments {
                let next = match seg {
                crate::config::Segment::Key(k) => cel_get(cur, k),
                crate::config::Segment::Index(i) => match cur {
                    Cel::List(l) => l.get(*i),
                    _ => None,
                },
                crate::config::Segment::Select { key, value } => match cur {
                    Cel::List(l) => l.iter().find(|e| {
                        matches!(cel_get(e, key), Some(Cel::String(s)) if s.as_str() == value)
                    }),
                    _ => None,
                },
            };
                match next {
                    Some(n) => cur = n,
                    None => return Ok(default),
                }
            }
            Ok(if *cur == Cel::Null {
                default
            } else {
                cur.clone()
            })
        },
    ));
    add(c.add_function(
        "custom_field",
        |v: Cel, label: Arc<String>| -> Result<Cel, ExecutionError> {
            if let Some(Cel::List(l)) = cel_get(&v, "custom_fields") {
                for e in l.iter() {
                    if matches!(cel_get(e, "label"), Some(Cel::String(s)) if **s == *label) {
                        return Ok(cel_get(e, "value").cloned().unwrap_or(Cel::Null));
                    }
                }
            }
            Ok(Cel::Null)
        },
    ));
    add(c.add_function("lower", |s: Arc<String>| s.to_lowercase()));
    add(c.add_function("upper", |s: Arc<String>| s.to_uppercase()));
    add(c.add_function("trim", |s: Arc<String>| s.trim().to_owned()));
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<FixedOffset> {
        parse_datetime("2024-05-01T00:00:00+00:00").unwrap()
    }

    #[test]
    fn numbers_with_digit_grouping() {
        assert_eq!(parse_number(" 2,500,000.50 "), Some(2_500_000.5));
        assert_eq!(parse_number("1_000"), Some(1000.0));
        assert_eq!(parse_number("1 000 000"), Some(1_000_000.0));
        // Longer than the stack buffer.
        let long = format!("1{}", ",000".repeat(30));
        assert_eq!(parse_number(&long), Some(1e90));
        assert_eq!(parse_number("1,2x"), None);
        assert_eq!(parse_number(","), None);
        assert_eq!(parse_number("1e999"), None);
    }

    fn eval(src: &str, record: Json) -> Result<Json, EvalError> {
        let e = Expr::compile(src, VARIABLES).unwrap();
        e.eval(&Bindings::new(&record, now()))
    }

    #[test]
    fn helpers_work() {
        assert_eq!(
            eval(
                "books_time(record.t)",
                json!({"t": "2023-10-15T10:30:00+00:00"})
            )
            .unwrap(),
            json!("2023-10-15T10:30:00+0000")
        );
        assert_eq!(
            eval(
                "crm_time(record.t)",
                json!({"t": "2013-10-07T18:24:51+0530"})
            )
            .unwrap(),
            json!("2013-10-07T18:24:51+05:30")
        );
        assert_eq!(
            eval("date(record.t)", json!({"t": "2013-10-07T18:24:51+0530"})).unwrap(),
            json!("2013-10-07")
        );
        assert_eq!(
            eval("days_between(record.d, now)", json!({"d": "2024-04-01"})).unwrap(),
            json!(30)
        );
        assert_eq!(
            eval("number(record.a) * 2.0", json!({"a": "1,234.50"})).unwrap(),
            json!(2469.0)
        );
        assert_eq!(
            eval("round(10.0 / 3.0, 2)", json!({})).unwrap(),
            json!(3.33)
        );
        assert_eq!(
            eval(
                "coalesce(record.a, record.b, 'x')",
                json!({"a": null, "b": ""})
            )
            .unwrap(),
            json!("x")
        );
        assert_eq!(
            eval("get(record, 'a.b[1]', 0)", json!({"a": {"b": [1, 2]}})).unwrap(),
            json!(2)
        );
        assert_eq!(
            eval("get(record, 'a.c', 'none')", json!({"a": {}})).unwrap(),
            json!("none")
        );
        assert_eq!(
            eval(
                "custom_field(record, 'Segment')",
                json!({"custom_fields": [{"label": "Segment", "value": "smb"}]})
            )
            .unwrap(),
            json!("smb")
        );
        assert_eq!(eval("upper(trim(' a '))", json!({})).unwrap(), json!("A"));
        assert_eq!(
            eval(
                "record.l.exists(i, i.q > 1)",
                json!({"l": [{"q": 1}, {"q": 2}]})
            )
            .unwrap(),
            json!(true)
        );
    }

    #[test]
    fn compile_errors_are_located() {
        let e = Expr::compile("record.a +", VARIABLES).unwrap_err();
        assert!(e.message.starts_with("invalid CEL"), "{e:?}");
        let e = Expr::compile("recrod.a == 1", VARIABLES).unwrap_err();
        assert_eq!(e.message, "unknown variable `recrod`");
        assert_eq!(e.hint.as_deref(), Some("did you mean `record`?"));
        assert_eq!(e.offset, 0);
        let e = Expr::compile("record.a == previous.a", &["record"]).unwrap_err();
        assert_eq!(e.offset, 12);
        let e = Expr::compile("nubmer(record.a) > 1.0", VARIABLES).unwrap_err();
        assert_eq!(e.hint.as_deref(), Some("did you mean `number`?"));
        // Unary operators are not misspelt helpers; macros bind their own
        // names.
        assert!(Expr::compile("!record.a && -record.b < 0", &["record"]).is_ok());
        assert!(Expr::compile("record.l.exists(i, i.q > 0)", &["record"]).is_ok());
        let e = Expr::compile("record.l.exists(i, j > 0)", &["record"]).unwrap_err();
        assert_eq!(e.message, "unknown variable `j`");
    }

    fn not_a_condition(src: &str) -> Option<(String, &'static str)> {
        let e = Expr::compile(src, &["record", "previous", "target", "now"]).unwrap();
        e.not_a_condition().map(|n| {
            assert_eq!(&src[n.offset..n.offset + n.len], n.text);
            (n.text, n.gives)
        })
    }

    #[test]
    fn conditions_give_true_or_false() {
        for ok in [
            "record.a == 1",
            "record.a",
            "has(record.a) && record.a",
            "!record.b",
            "record.s.startsWith('x')",
            "record.s.endsWith('x') || record.s.contains('x') || record.s.matches('^a')",
            "record.l.exists(i, i > 1)",
            "record.l.all(i, i > 1)",
            "record.l.exists_one(i, i > 1)",
            "record.a in [1, 2]",
            "has(record.a) ? record.a == null : true",
            "get(record, 'a', false)",
            "coalesce(record.a, false)",
            "true",
            "size(record.l) > 0",
            "(record.a > 1)",
            "dyn(record.b)",
            "bool(record.s)",
            "record.l[0]",
            "record.l.filter(i, i > 1).size() > 0",
            "previous == null || previous.Stage != record.Stage",
        ] {
            assert_eq!(not_a_condition(ok), None, "{ok}");
        }
        for (src, text, gives) in [
            ("'customer'", "'customer'", "a string"),
            (" record.a + 1 ", "record.a + 1", "a number"),
            ("record", "record", "a whole record"),
            ("now", "now", "a timestamp"),
            ("record.l.map(i, i * 2)", "record.l.map(i, i * 2)", "a list"),
            (
                "record.a > 1 && record.b + 'x'",
                "record.b + 'x'",
                "a string",
            ),
            ("!size(record.l)", "size(record.l)", "a number"),
            (
                "record.a > 1 || lower(record.s)",
                "lower(record.s)",
                "a string",
            ),
            (
                "has(record.a) ? (record.a + 2) * 3 : true",
                "(record.a + 2) * 3",
                "a number",
            ),
            ("record.a ? 1 : true", "1", "a number"),
            ("record.a == 1 && [1, (2)]", "[1, (2)]", "a list"),
            ("record.a > 1 && {'a': ')'}", "{'a': ')'}", "a map"),
            ("record.a > 1 && null", "null", "null"),
            ("record.a > 1 && date(now)", "date(now)", "a string"),
            (
                "record.a && parse_time(record.t) - now",
                "parse_time(record.t) - now",
                "a timestamp or duration",
            ),
            ("'é' == record.a && 'ü'", "'ü'", "a string"),
            (
                "record.a && record.l.map(i, i * 2)",
                "record.l.map(i, i * 2)",
                "a list",
            ),
            (
                "record.a && has(record.b) + 1",
                "has(record.b) + 1",
                "a number",
            ),
            ("record.a && record.s.size()", "record.s.size()", "a number"),
        ] {
            assert_eq!(
                not_a_condition(src),
                Some((text.to_owned(), gives)),
                "{src}"
            );
        }
    }

    #[test]
    fn condition_fields_are_the_deciding_reads() {
        let fields = |src: &str| -> Vec<String> {
            let e = Expr::compile(src, VARIABLES).unwrap();
            e.condition_fields()
                .into_iter()
                .map(|f| {
                    let text = &src[f.offset..f.offset + f.len];
                    assert_eq!(text, format!("{}.{}", f.var, f.field));
                    text.to_owned()
                })
                .collect()
        };
        assert_eq!(fields("record.Zoho_Billing"), ["record.Zoho_Billing"]);
        assert_eq!(
            fields("record.Active && previous.Flag == true || !(target.Open)"),
            ["record.Active", "target.Open"]
        );
        assert!(fields("record.a.b || has(record.c) || record.d == 1").is_empty());
    }

    #[test]
    fn runtime_errors_are_values() {
        assert!(eval("record.missing == 1", json!({})).is_err());
        assert!(eval("1 / 0", json!({})).is_err());
        let e = Expr::compile("record.a", VARIABLES).unwrap();
        assert!(
            e.eval_bool(&Bindings::new(&json!({"a": 1}), now()))
                .is_err()
        );
    }
}
