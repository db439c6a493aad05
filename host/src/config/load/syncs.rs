//! The `syncs:` section: each sync's ends, direction, match keys, policies,
//! view, fields (see `fields`), schedule and child lists.

use super::{Loader, NESTED_VARS, SYNC_VARS, VIEW_VARS};
use crate::config::diag::Diagnostic;
use crate::config::model::*;
use crate::config::path::FieldPath;
use crate::config::yaml::{Kind, Node};

const SYNC_KEYS: &[&str] = &[
    "from",
    "to",
    "direction",
    "match",
    "on_duplicate",
    "view",
    "fields",
    "update_empty_fields",
    "ledger",
    "deletes",
    "conflict",
    "schedule",
    "full_read",
    "children",
    "description",
];
const CHILD_KEYS: &[&str] = &["from", "parent", "match", "view", "fields"];

impl Loader {
    fn match_keys(&mut self, node: &Node) -> Vec<(Spanned<FieldPath>, Spanned<FieldPath>)> {
        let mut out = Vec::new();
        match &node.kind {
            Kind::Map(entries) => {
                for (k, v) in entries {
                    if let (Some(a), Some(b)) =
                        (self.path(k, "a match key"), self.path(v, "a match key"))
                    {
                        out.push((a, b));
                    }
                }
            }
            Kind::Seq(items) => {
                for item in items {
                    if let Some(p) = self.path(item, "a match key") {
                        out.push((p.clone(), p));
                    }
                }
            }
            Kind::Scalar(..) if !node.is_null() => {
                if let Some(p) = self.path(node, "a match key") {
                    out.push((p.clone(), p));
                }
            }
            _ => self.err(
                &node.span,
                format!(
                    "`match` must map source fields to target fields, found {}",
                    node.type_name()
                ),
            ),
        }
        out
    }

    pub(super) fn sync(&mut self, name: Spanned<String>, node: &Node) {
        if let Some(first) = self.syncs.get(&name.value).map(|s| s.name.span.clone()) {
            self.duplicate("sync", &name, &first);
            return;
        }
        if self.name_taken("sync", &name) {
            return;
        }
        let what = format!("sync `{}`", name.value);
        if self.map(node, &what).is_none() {
            return;
        }
        self.keys(node, SYNC_KEYS, &what, false);
        let from = self
            .required(node, "from", &what)
            .and_then(|n| self.module_ref(n, "`from`"));
        let to = self
            .required(node, "to", &what)
            .and_then(|n| self.module_ref(n, "`to`"));
        let direction = node
            .get("direction")
            .and_then(|n| {
                self.choice(
                    n,
                    "direction",
                    &[
                        ("one-way", Direction::OneWay),
                        ("two-way", Direction::TwoWay),
                    ],
                )
            })
            .unwrap_or(Direction::OneWay);
        let match_keys = node
            .get("match")
            .map(|n| self.match_keys(n))
            .unwrap_or_default();
        let on_duplicate = node
            .get("on_duplicate")
            .and_then(|n| {
                self.choice(
                    n,
                    "on_duplicate policy",
                    &[
                        ("clone", OnDuplicate::Clone),
                        ("overwrite", OnDuplicate::Overwrite),
                        ("skip", OnDuplicate::Skip),
                    ],
                )
            })
            .unwrap_or(OnDuplicate::Skip);
        if node.get("on_duplicate").is_some()
            && match_keys.is_empty()
            && node.get("match").is_none()
        {
            let span = node
                .get("on_duplicate")
                .map(|n| n.span.clone())
                .unwrap_or(node.span.clone());
            self.diags.push(
                Diagnostic::warning(&span, "`on_duplicate` has no effect without `match` keys")
                    .with_hint("add `match: { Source_Field: target_field }`"),
            );
        }
        let view = node
            .get("view")
            .and_then(|n| self.condition(n, VIEW_VARS, "`view`"));
        // Without `fields`, the connectors' default field pairs apply
        // (filled in once they are known; validation reports a sync that
        // ends up with none).
        let fields = match node.get("fields") {
            Some(f) => self.fields(f, SYNC_VARS),
            None => Vec::new(),
        };
        let update_empty_fields = node
            .get("update_empty_fields")
            .and_then(|n| self.boolean(n, "`update_empty_fields`"))
            .unwrap_or(false);
        let ledger = node
            .get("ledger")
            .and_then(|n| {
                self.choice(
                    n,
                    "ledger",
                    &[("all", LedgerRows::All), ("changes", LedgerRows::Changes)],
                )
            })
            .unwrap_or_default();
        let deletes = node
            .get("deletes")
            .and_then(|n| {
                self.choice(
                    n,
                    "deletes policy",
                    &[
                        ("ignore", Deletes::Ignore),
                        ("propagate", Deletes::Propagate),
                        ("archive", Deletes::Archive),
                    ],
                )
            })
            .unwrap_or(Deletes::Ignore);
        let conflict = node
            .get("conflict")
            .and_then(|n| {
                self.choice(
                    n,
                    "conflict policy",
                    &[
                        ("newest", Conflict::Newest),
                        ("from", Conflict::From),
                        ("to", Conflict::To),
                        ("skip", Conflict::Skip),
                    ],
                )
            })
            .unwrap_or(Conflict::Newest);
        if let Some(c) = node.get("conflict")
            && direction == Direction::OneWay
        {
            self.diags.push(
                Diagnostic::warning(&c.span, "`conflict` only matters for two-way syncs")
                    .with_hint("remove it, or set `direction: two-way`"),
            );
        }
        let schedule = node.get("schedule").and_then(|n| self.schedule(n));
        let full_read = node.get("full_read").and_then(|n| self.full_read(n));
        let mut children = Vec::new();
        if let Some(c) = node.get("children").filter(|n| !n.is_null())
            && let Some(entries) = self.map(c, "`children`")
        {
            for (k, v) in entries {
                if let Some(child) = self.child(k, v) {
                    children.push(child);
                }
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            return;
        };
        let sync = SyncConfig {
            name: name.clone(),
            from,
            to,
            direction,
            match_keys,
            on_duplicate,
            view,
            fields,
            update_empty_fields,
            ledger,
            deletes,
            conflict,
            schedule,
            full_read,
            children,
            span: node.span.clone(),
        };
        self.syncs.insert(name.value, sync);
    }

    fn child(&mut self, k: &Node, node: &Node) -> Option<ChildSync> {
        let name = self.string(k, "a child list name")?;
        let what = format!("child `{}`", name.value);
        self.map(node, &what)?;
        self.keys(node, CHILD_KEYS, &what, false);
        let from = self
            .required(node, "from", &what)
            .and_then(|n| self.module_ref(n, "`from`"));
        let parent = self
            .required(node, "parent", &what)
            .and_then(|n| self.path(n, "`parent`"));
        let match_keys = node
            .get("match")
            .map(|n| self.match_keys(n))
            .unwrap_or_default();
        let view = node
            .get("view")
            .and_then(|n| self.condition(n, NESTED_VARS, "`view`"));
        let fields = match self.required(node, "fields", &what) {
            Some(f) => self.fields(f, NESTED_VARS),
            None => Vec::new(),
        };
        Some(ChildSync {
            name,
            from: from?,
            parent: parent?,
            match_keys,
            view,
            fields,
            span: node.span.clone(),
        })
    }
}
