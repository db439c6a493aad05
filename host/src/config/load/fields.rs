//! Field mappings (`fields:` of syncs, children and triggers): sources
//! (`from`, `const`, `expr`, `each`, `first_of`, lists), links, value maps,
//! defaults, types, direction and `reverse`.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::{Loader, NESTED_VARS, SYNC_VARS};
use crate::config::diag::{did_you_mean, one_of};
use crate::config::model::*;
use crate::config::path::FieldPath;
use crate::config::yaml::{Kind, Node, Span};

const FIELD_KEYS: &[&str] = &[
    "from",
    "const",
    "expr",
    "each",
    "filter",
    "fields",
    "link",
    "missing",
    "map",
    "default",
    "required",
    "type",
    "direction",
    "reverse",
    "first_of",
    "new_field",
];

impl Loader {
    pub(super) fn fields(&mut self, node: &Node, vars: &[&str]) -> Vec<FieldMapping> {
        let mut out = Vec::new();
        let Some(entries) = self.map(node, "`fields`") else {
            return out;
        };
        if entries.is_empty() {
            self.err(&node.span, "`fields` is empty");
        }
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for (k, v) in entries {
            let Some(target) = self.path(k, "a target field") else {
                continue;
            };
            if let Some(first) = seen.get(target.as_str()) {
                let first = first.location();
                self.err_hint(
                    &target.span,
                    format!("target field `{}` is mapped twice", target.as_str()),
                    Some(format!("first mapped at {first}")),
                );
                continue;
            }
            seen.insert(target.as_str().to_owned(), target.span.clone());
            if let Some(m) = self.field(target, v, vars) {
                out.push(m);
            }
        }
        out
    }

    /// `first_of: [alternative, …]`: each a source field or a field mapping
    /// of its own, for the same target.
    fn alternatives(
        &mut self,
        target: &Spanned<FieldPath>,
        node: &Node,
        vars: &[&str],
    ) -> Option<Vec<FieldMapping>> {
        let Kind::Seq(items) = &node.kind else {
            self.err_hint(
                &node.span,
                format!("`first_of` must be a list, found {}", node.type_name()),
                Some(
                    "list the alternatives, e.g. `first_of: [Account_Name.id, Contact_Name.id]`"
                        .into(),
                ),
            );
            return None;
        };
        if items.len() < 2 {
            self.err_hint(
                &node.span,
                "`first_of` needs at least two alternatives",
                Some("with one, write it as the field's mapping".into()),
            );
            return None;
        }
        let mut out = Vec::new();
        for item in items {
            if matches!(item.kind, Kind::Seq(_)) || item.get("first_of").is_some() {
                self.err(
                    &item.span,
                    "an alternative of `first_of` is a source field or a mapping with `from`, `const` or `expr`",
                );
                continue;
            }
            if let Some(m) = self.field(target.clone(), item, vars) {
                out.push(m);
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    fn field(
        &mut self,
        target: Spanned<FieldPath>,
        node: &Node,
        vars: &[&str],
    ) -> Option<FieldMapping> {
        let mut m = FieldMapping::new(target, Source::Const(Json::Null), node.span.clone());
        match &node.kind {
            _ if node.is_null() => {
                self.err_hint(
                    &m.target.span,
                    format!("no source for field `{}`", m.target.as_str()),
                    Some("write a source field, `{ const: … }`, `{ expr: … }` or `{ from: …, map: … }`".into()),
                );
                return None;
            }
            Kind::Scalar(..) => {
                m.source = Source::Path(self.path(node, "a source field")?);
                return Some(m);
            }
            Kind::Seq(items) => {
                let mut lists = Vec::new();
                for item in items {
                    if item.as_map().is_none() {
                        self.err(&item.span, format!("each entry of list field `{}` must be a mapping of its fields, found {}", m.target.as_str(), item.type_name()));
                        continue;
                    }
                    lists.push(self.fields(item, vars));
                }
                m.source = Source::Items(lists);
                return Some(m);
            }
            Kind::Map(_) => {}
        }
        let what = format!("field `{}`", m.target.as_str());
        self.keys(node, FIELD_KEYS, &what, false);
        let sources: Vec<&str> = ["from", "const", "expr", "each", "first_of"]
            .into_iter()
            .filter(|k| node.get(k).is_some())
            .collect();
        if sources.len() > 1 {
            self.err_hint(
                &node.span,
                format!("{what} has both `{}` and `{}`", sources[0], sources[1]),
                Some("give exactly one of `from`, `const`, `expr`, `each` or `first_of`".into()),
            );
            return None;
        }
        if let Some(alternatives) = node.get("first_of") {
            m.source = Source::FirstOf(self.alternatives(&m.target, alternatives, vars)?);
        } else if let Some(f) = node.get("from") {
            m.source = Source::Path(self.path(f, "`from`")?);
        } else if let Some(c) = node.get("const") {
            m.source = Source::Const(c.to_json());
        } else if let Some(e) = node.get("expr") {
            m.source = Source::Expr(self.expr(e, vars)?);
        } else if let Some(e) = node.get("each") {
            let each = self.path(e, "`each`")?;
            let filter = node
                .get("filter")
                .and_then(|f| self.condition(f, NESTED_VARS, "`filter`"));
            let fields = match self.required(node, "fields", &what) {
                Some(f) => self.fields(f, NESTED_VARS),
                None => return None,
            };
            m.source = Source::Each {
                each,
                filter,
                fields,
            };
        } else if node.get("default").is_some() {
            m.source = Source::Const(Json::Null);
        } else {
            self.err_hint(
                &node.span,
                format!("{what} has no source"),
                Some("give one of `from`, `const`, `expr` or `each`".into()),
            );
            return None;
        }
        if !matches!(m.source, Source::Each { .. }) {
            for k in ["fields", "filter"] {
                if let Some(n) = node.get(k) {
                    self.err_hint(
                        &n.span,
                        format!("`{k}` only applies to `each:` list mappings"),
                        None,
                    );
                }
            }
        }
        if let Some(l) = node.get("link") {
            let sync = self.string(l, "`link`")?;
            let missing = node
                .get("missing")
                .and_then(|n| {
                    self.choice(
                        n,
                        "`missing` policy",
                        &[
                            ("error", Missing::Error),
                            ("create", Missing::Create),
                            ("skip", Missing::Skip),
                            ("null", Missing::Null),
                            ("exclude", Missing::Exclude),
                        ],
                    )
                })
                .unwrap_or(Missing::Error);
            m.link = Some(LinkSpec { sync, missing });
        } else if let Some(n) = node.get("missing") {
            self.err_hint(&n.span, "`missing` only applies with `link`", None);
        }
        if let Some(mp) = node.get("map") {
            let entries = self.map(mp, "`map`")?;
            let pairs: Vec<(Json, Json)> = entries
                .iter()
                .map(|(k, v)| (k.to_json(), v.to_json()))
                .collect();
            m.map = Some(Spanned::new(pairs, mp.span.clone()));
        }
        m.default = node.get("default").map(Node::to_json);
        if let Some(r) = node.get("required") {
            m.required = self.boolean(r, "`required`").unwrap_or(false);
        }
        if let Some(n) = node.get("new_field") {
            m.new_field = self.boolean(n, "`new_field`").unwrap_or(false);
        }
        if let Some(t) = node.get("type") {
            let s = self.string(t, "`type`")?;
            match ValueType::parse(&s.value) {
                Some(ty) => m.ty = Some(Spanned::new(ty, s.span)),
                None => {
                    let hint = did_you_mean(&s.value, ValueType::NAMES.iter().copied())
                        .unwrap_or_else(|| {
                            format!(
                                "expected one of {}",
                                one_of(ValueType::NAMES.iter().copied())
                            )
                        });
                    self.err_hint(
                        &s.span,
                        format!("`{}` is not a value type", s.value),
                        Some(hint),
                    );
                }
            }
        }
        if let Some(d) = node.get("direction") {
            let s = self.string(d, "`direction`")?;
            if let Some(dir) = self.choice(
                d,
                "direction",
                &[
                    ("one-way", Direction::OneWay),
                    ("two-way", Direction::TwoWay),
                ],
            ) {
                m.direction = Some(Spanned::new(dir, s.span));
            }
        }
        if let Some(r) = node.get("reverse")
            && self.map(r, "`reverse`").is_some()
        {
            {
                self.keys(r, &["field", "expr"], "`reverse`", false);
                let field = self
                    .required(r, "field", "`reverse`")
                    .and_then(|n| self.path(n, "`reverse.field`"));
                let expr = self
                    .required(r, "expr", "`reverse`")
                    .and_then(|n| self.expr(n, SYNC_VARS));
                if let (Some(f), Some(e)) = (field, expr) {
                    m.reverse = Some((f, e));
                }
            }
        }
        Some(m)
    }
}
