//! The `rollups:` section: figures aggregated from a child module's
//! records per parent (`sum`, `count`, `min`, `max`, `latest`, each with an
//! optional filter), written to the parent's linked record.

use std::collections::BTreeMap;

use super::{Loader, ROLLUP_VARS};
use crate::config::diag::{Diagnostic, did_you_mean, one_of};
use crate::config::model::*;
use crate::config::yaml::{Kind, Node, Span};

const ROLLUP_KEYS: &[&str] = &[
    "from",
    "parent",
    "to",
    "link",
    "view",
    "fields",
    "schedule",
    "description",
];
const FIGURE_KEYS: &[&str] = &[
    "sum", "count", "min", "max", "latest", "by", "filter", "default",
];

impl Loader {
    pub(super) fn rollup(&mut self, name: Spanned<String>, node: &Node) {
        if let Some(first) = self.rollups.get(&name.value).map(|r| r.name.span.clone()) {
            self.duplicate("rollup", &name, &first);
            return;
        }
        if self.name_taken("rollup", &name) {
            return;
        }
        let what = format!("rollup `{}`", name.value);
        if self.map(node, &what).is_none() {
            return;
        }
        self.keys(node, ROLLUP_KEYS, &what, false);
        let from = self
            .required(node, "from", &what)
            .and_then(|n| self.module_ref(n, "`from`"));
        let parent = self
            .required(node, "parent", &what)
            .and_then(|n| self.path(n, "`parent`"));
        let to = self
            .required(node, "to", &what)
            .and_then(|n| self.module_ref(n, "`to`"));
        let link = self
            .required(node, "link", &what)
            .and_then(|n| self.string(n, "`link` (a sync's name)"));
        let view = node
            .get("view")
            .and_then(|n| self.condition(n, ROLLUP_VARS, "`view`"));
        let fields = match self.required(node, "fields", &what) {
            Some(f) => self.figures(f),
            None => Vec::new(),
        };
        let schedule = node.get("schedule").and_then(|n| self.schedule(n));
        let (Some(from), Some(parent), Some(to), Some(link)) = (from, parent, to, link) else {
            return;
        };
        if fields.is_empty() {
            return;
        }
        self.rollups.insert(
            name.value.clone(),
            Rollup {
                name,
                from,
                parent,
                to,
                link,
                view,
                fields,
                schedule,
                span: node.span.clone(),
            },
        );
    }

    fn figures(&mut self, node: &Node) -> Vec<RollupField> {
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
                    format!("target field `{}` is given twice", target.as_str()),
                    Some(format!("first given at {first}")),
                );
                continue;
            }
            seen.insert(target.as_str().to_owned(), target.span.clone());
            if let Some(f) = self.figure(target, v) {
                out.push(f);
            }
        }
        out
    }

    /// One figure: `{ sum: balance, filter: "…" }`.
    fn figure(
        &mut self,
        target: Spanned<crate::config::FieldPath>,
        node: &Node,
    ) -> Option<RollupField> {
        let what = format!("figure `{}`", target.as_str());
        let Kind::Map(entries) = &node.kind else {
            self.err_hint(
                &node.span,
                format!("{what} must be a map, found {}", node.type_name()),
                Some(format!(
                    "write `{{ sum: balance }}`; aggregates: {}",
                    one_of(Aggregate::NAMES.iter().copied())
                )),
            );
            return None;
        };
        // Unknown keys: a misspelt aggregate is named as such.
        let mut unknown = false;
        for (k, _) in entries {
            let Some(key) = k.as_str() else { continue };
            if FIGURE_KEYS.contains(&key) {
                continue;
            }
            unknown = true;
            let hint = did_you_mean(key, FIGURE_KEYS.iter().copied()).unwrap_or_else(|| {
                format!(
                    "aggregates: {}; options: by, filter, default",
                    one_of(Aggregate::NAMES.iter().copied())
                )
            });
            self.diags.push(
                Diagnostic::error(
                    &k.span,
                    format!("unknown aggregate or option `{key}` in {what}"),
                )
                .with_hint(hint),
            );
        }
        let given: Vec<(&Node, &Node, Aggregate)> = entries
            .iter()
            .filter_map(|(k, v)| Some((k, v, Aggregate::parse(k.as_str()?)?)))
            .collect();
        let (key, value, aggregate) = match given.as_slice() {
            [one] => *one,
            // A misspelt aggregate was reported as such.
            [] if unknown => return None,
            [] => {
                self.err_hint(
                    &node.span,
                    format!("{what} names no aggregate"),
                    Some(format!(
                        "give one of {}",
                        one_of(Aggregate::NAMES.iter().copied())
                    )),
                );
                return None;
            }
            [_, (k, _, _), ..] => {
                self.err_hint(
                    &k.span,
                    format!("{what} names more than one aggregate"),
                    Some("one figure is one aggregate; give each its own target field".into()),
                );
                return None;
            }
        };
        let of = match (aggregate, value.as_str()) {
            // `count: true` counts children; `count: field` those with it.
            (Aggregate::Count, Some("true")) => None,
            (Aggregate::Count, Some("false")) => {
                self.err(
                    &value.span,
                    "`count: false` counts nothing; write `count: true`",
                );
                return None;
            }
            _ => Some(self.path(value, "the field to aggregate")?),
        };
        let by = node.get("by").and_then(|n| self.path(n, "`by`"));
        if aggregate == Aggregate::Latest && by.is_none() {
            self.err_hint(
                &key.span,
                format!("{what}: `latest` needs `by`, the field that orders the children"),
                Some("for example `{ latest: status, by: date }`".into()),
            );
            return None;
        }
        if let (Some(b), false) = (&by, aggregate == Aggregate::Latest) {
            self.diags.push(
                Diagnostic::warning(
                    &b.span,
                    format!("`by` only matters for `latest`, not `{}`", aggregate.name()),
                )
                .with_hint("remove it"),
            );
        }
        let filter = node
            .get("filter")
            .and_then(|n| self.condition(n, ROLLUP_VARS, "`filter`"));
        Some(RollupField {
            target,
            aggregate: Spanned::new(aggregate, key.span.clone()),
            of,
            by,
            filter,
            default: node.get("default").map(Node::to_json),
            span: node.span.clone(),
        })
    }
}
