//! Checks across the whole workspace, once every file is loaded: references
//! to connections, syncs and triggers, links, two-way fields, and cycles of
//! syncs and of `missing: create` lookups.

use std::collections::{BTreeMap, BTreeSet};

use super::Loader;
use crate::config::diag::{Diagnostic, did_you_mean, one_of};
use crate::config::model::*;
use crate::config::yaml::Span;

impl Loader {
    fn connection_exists(&mut self, m: &ModuleRef) -> bool {
        if self
            .declared
            .contains(&("connection", m.connection.clone()))
        {
            return true;
        }
        let declared: Vec<String> = self
            .declared
            .iter()
            .filter(|(k, _)| *k == "connection")
            .map(|(_, n)| n.clone())
            .collect();
        let hint = did_you_mean(&m.connection, declared.iter().map(String::as_str)).or_else(|| {
            if declared.is_empty() {
                Some("the workspace defines no `connections`".into())
            } else {
                Some(format!(
                    "defined connections: {}",
                    one_of(declared.iter().map(String::as_str))
                ))
            }
        });
        self.diags.push(
            Diagnostic::error(
                &m.connection_span(),
                format!("unknown connection `{}`", m.connection),
            )
            .with_hint_opt(hint),
        );
        false
    }

    pub(super) fn cross_checks(&mut self) {
        let hooked: Vec<(String, Span)> = self
            .serve
            .iter()
            .flat_map(|s| s.webhook_secrets.iter())
            .map(|(k, v)| (k.clone(), v.span.clone()))
            .collect();
        for (connection, span) in hooked {
            if !self.declared.contains(&("connection", connection.clone())) {
                let known: Vec<String> = self.connections.keys().cloned().collect();
                let hint = did_you_mean(&connection, known.iter().map(String::as_str));
                self.err_hint(
                    &span,
                    format!("`serve.webhook_secrets` names no connection `{connection}`"),
                    hint,
                );
            }
        }
        let syncs: Vec<SyncConfig> = self.syncs.values().cloned().collect();
        let triggers: Vec<Trigger> = self.triggers.values().cloned().collect();
        for s in &syncs {
            self.connection_exists(&s.from);
            self.connection_exists(&s.to);
            for c in &s.children {
                if self.connection_exists(&c.from) && c.from.connection != s.from.connection {
                    self.err_hint(
                        &c.from.connection_span(),
                        format!(
                            "child `{}` reads `{}`, but the sync reads from connection `{}`",
                            c.name.value, c.from, s.from.connection
                        ),
                        Some(format!(
                            "children come from the same connection as their parent: `{}.…`",
                            s.from.connection
                        )),
                    );
                }
            }
            self.link_checks(&s.fields, &s.from.connection, &s.name.value);
            if s.direction == Direction::OneWay {
                for f in &s.fields {
                    if let Some(d) = &f.direction
                        && d.value == Direction::TwoWay
                    {
                        self.err_hint(
                            &d.span,
                            format!("field `{}` is two-way in a one-way sync", f.target.as_str()),
                            Some("set the sync's `direction: two-way`".into()),
                        );
                    }
                }
            } else {
                for f in &s.fields {
                    self.reversible(f);
                }
            }
        }
        for t in &triggers {
            self.connection_exists(&t.on);
            match &t.action {
                Action::Create { module } => {
                    self.connection_exists(module);
                }
                Action::Update { target } | Action::Act { target, .. } => match target {
                    TargetRef::Module { module, .. } => {
                        self.connection_exists(module);
                    }
                    TargetRef::Linked(name) => self.linked_ref(name, t),
                },
            }
            self.link_checks(&t.fields, &t.on.connection, &t.name.value);
        }
        let rollups: Vec<Rollup> = self.rollups.values().cloned().collect();
        for r in &rollups {
            self.rollup_checks(r);
        }
        self.sync_cycles(&syncs);
        self.create_cycles(&syncs);
    }

    /// A rollup's connections exist, and its `link` names a sync one of
    /// whose sides is the module the figures go to.
    fn rollup_checks(&mut self, r: &Rollup) {
        self.connection_exists(&r.from);
        self.connection_exists(&r.to);
        match self.syncs.get(&r.link.value) {
            None if self.declared.contains(&("sync", r.link.value.clone())) => {}
            None => {
                let hint = did_you_mean(&r.link.value, self.syncs.keys().map(String::as_str))
                    .or_else(|| {
                        Some(format!(
                            "`link` names the sync that pairs each parent with its `{}` record",
                            r.to
                        ))
                    });
                self.err_hint(
                    &r.link.span,
                    format!("unknown sync `{}` in `link`", r.link.value),
                    hint,
                );
            }
            Some(s) if !(s.from.same_module(&r.to) || s.to.same_module(&r.to)) => {
                let msg = format!(
                    "sync `{}` links `{}` and `{}`, neither of which is `{}`, where rollup `{}` writes its figures",
                    r.link.value, s.from, s.to, r.to, r.name.value
                );
                self.err_hint(
                    &r.link.span,
                    msg,
                    Some(format!(
                        "link through the sync that pairs the parents with `{}` records",
                        r.to
                    )),
                );
            }
            Some(s)
                if s.from.connection != r.from.connection
                    && s.to.connection != r.from.connection =>
            {
                let msg = format!(
                    "sync `{}` does not touch connection `{}`, where rollup `{}` reads its parents' ids",
                    r.link.value, r.from.connection, r.name.value
                );
                self.err(&r.link.span, msg);
            }
            Some(_) => {}
        }
    }

    /// A two-way field mapping must be writable back.
    fn reversible(&mut self, f: &FieldMapping) {
        let one_way = f
            .direction
            .as_ref()
            .is_some_and(|d| d.value == Direction::OneWay);
        if one_way || f.reverse.is_some() {
            return;
        }
        let explicit = f
            .direction
            .as_ref()
            .filter(|d| d.value == Direction::TwoWay);
        let problem = match &f.source {
            Source::Path(_) => {
                if let Some(m) = &f.map {
                    let mut seen = BTreeSet::new();
                    m.value
                        .iter()
                        .any(|(_, v)| !seen.insert(v.to_string()))
                        .then_some("its value map is not one-to-one")
                } else {
                    None
                }
            }
            Source::Const(_) => explicit.map(|_| "a constant cannot be written back"),
            Source::Expr(_) => {
                explicit.map(|_| "an expression cannot be written back without `reverse`")
            }
            Source::Items(_) | Source::Each { .. } => explicit.map(|_| "list mappings are one-way"),
            Source::FirstOf(_) => explicit.map(|_| "`first_of` mappings are one-way"),
        };
        if let Some(p) = problem {
            let span = explicit.map(|d| d.span.clone()).unwrap_or(f.span.clone());
            self.err_hint(
                &span,
                format!("field `{}` cannot sync two-way: {p}", f.target.as_str()),
                Some(
                    "add `direction: one-way` to the field, or a `reverse: { field: …, expr: … }`"
                        .into(),
                ),
            );
        }
    }

    fn link_checks(&mut self, fields: &[FieldMapping], source_connection: &str, owner: &str) {
        for f in fields {
            if let Some(l) = &f.link {
                match self.syncs.get(&l.sync.value) {
                    None if self.declared.contains(&("sync", l.sync.value.clone())) => {}
                    None => {
                        let hint =
                            did_you_mean(&l.sync.value, self.syncs.keys().map(String::as_str))
                                .or_else(|| {
                                    Some(
                                        "`link` names a sync whose link table holds the ids".into(),
                                    )
                                });
                        self.err_hint(
                            &l.sync.span,
                            format!("unknown sync `{}` in `link`", l.sync.value),
                            hint,
                        );
                    }
                    Some(s) => {
                        if s.from.connection != source_connection
                            && s.to.connection != source_connection
                        {
                            let msg = format!(
                                "sync `{}` links `{}` and `{}`, not connection `{source_connection}` that `{owner}` reads",
                                l.sync.value, s.from, s.to
                            );
                            self.err_hint(&l.sync.span, msg, Some("link through a sync whose one side is the source of this mapping".into()));
                        }
                        if l.sync.value == owner {
                            self.err_hint(
                                &l.sync.span,
                                format!("sync `{owner}` links through itself"),
                                Some("a lookup goes through another sync's link table".into()),
                            );
                        }
                    }
                }
            }
            match &f.source {
                Source::Items(lists) => {
                    for l in lists {
                        self.link_checks(l, source_connection, owner);
                    }
                }
                Source::Each { fields, .. } | Source::FirstOf(fields) => {
                    self.link_checks(fields, source_connection, owner)
                }
                _ => {}
            }
        }
    }

    fn linked_ref(&mut self, name: &Spanned<String>, t: &Trigger) {
        if let Some(other) = self.triggers.get(&name.value) {
            if !matches!(other.action, Action::Create { .. }) {
                let msg = format!(
                    "`linked({})` needs a trigger that creates records; `{}` does not",
                    name.value, name.value
                );
                self.err(&name.span.clone(), msg);
            } else if other.on.to_string() != t.on.to_string() {
                let msg = format!(
                    "trigger `{}` fires on `{}`, but `{}` fires on `{}`",
                    name.value, other.on, t.name.value, t.on
                );
                self.err_hint(
                    &name.span.clone(),
                    msg,
                    Some("`linked(…)` follows records created for the same source record".into()),
                );
            }
            return;
        }
        if let Some(s) = self.syncs.get(&name.value) {
            let on = t.on.to_string();
            if s.from.to_string() != on && s.to.to_string() != on {
                let msg = format!("sync `{}` does not sync `{on}`", name.value);
                self.err_hint(
                    &name.span.clone(),
                    msg,
                    Some(format!("it links `{}` and `{}`", s.from, s.to)),
                );
            }
            return;
        }
        let names: Vec<String> = self
            .triggers
            .keys()
            .chain(self.syncs.keys())
            .cloned()
            .collect();
        let hint = did_you_mean(&name.value, names.iter().map(String::as_str))
            .or_else(|| Some("`linked(…)` names a trigger that creates records or a sync".into()));
        self.err_hint(
            &name.span.clone(),
            format!("unknown trigger or sync `{}` in `linked(…)`", name.value),
            hint,
        );
    }

    /// Syncs whose one-way flows form a loop (A → B → A) would echo each
    /// other's writes forever.
    fn sync_cycles(&mut self, syncs: &[SyncConfig]) {
        let edges: Vec<(String, String, &str)> = syncs
            .iter()
            .flat_map(|s| {
                let mut e = vec![(s.from.to_string(), s.to.to_string(), s.name.value.as_str())];
                if s.direction == Direction::TwoWay {
                    e.push((s.to.to_string(), s.from.to_string(), s.name.value.as_str()));
                }
                e
            })
            .collect();
        let mut reported: BTreeSet<Vec<String>> = BTreeSet::new();
        for s in syncs {
            // Path from `to` back to `from` using other syncs only.
            let start = s.to.to_string();
            let goal = s.from.to_string();
            let mut queue = vec![(start.clone(), vec![s.name.value.clone()])];
            let mut visited = BTreeSet::from([start]);
            let mut found = None;
            while let Some((node, path)) = queue.pop() {
                if node == goal {
                    found = Some(path);
                    break;
                }
                for (a, b, name) in &edges {
                    if *a == node && *name != s.name.value && visited.insert(b.clone()) {
                        let mut p = path.clone();
                        p.push((*name).to_owned());
                        queue.push((b.clone(), p));
                    }
                }
            }
            if let Some(path) = found {
                let mut key = path.clone();
                key.sort();
                key.dedup();
                if key.len() < 2 || !reported.insert(key) {
                    continue;
                }
                let described: Vec<String> = path
                    .iter()
                    .filter_map(|n| syncs.iter().find(|x| &x.name.value == n))
                    .map(|x| format!("`{}` ({} → {})", x.name.value, x.from, x.to))
                    .collect();
                self.diags.push(
                    Diagnostic::error(
                        &s.name.span,
                        format!("syncs form a cycle: {}", described.join(", then ")),
                    )
                    .with_hint(
                        "records would bounce between them; use one sync with `direction: two-way`",
                    ),
                );
            }
        }
    }

    /// `missing: create` lookups create parents through other syncs; those
    /// must not depend on each other in a circle.
    fn create_cycles(&mut self, syncs: &[SyncConfig]) {
        let graph: BTreeMap<String, Vec<(String, Span)>> = syncs
            .iter()
            .map(|s| {
                let parents = parent_syncs(&s.fields)
                    .into_iter()
                    .map(|p| (p.value.clone(), p.span.clone()))
                    .collect();
                (s.name.value.clone(), parents)
            })
            .collect();
        for (start, deps) in &graph {
            for (dep, span) in deps {
                // Can `dep` reach `start`?
                let mut stack = vec![dep.clone()];
                let mut seen = BTreeSet::new();
                while let Some(n) = stack.pop() {
                    if &n == start {
                        self.err_hint(span, format!("`missing: create` makes sync `{start}` and sync `{dep}` create each other's parents"), Some("use `missing: error` on one of them".into()));
                        break;
                    }
                    if seen.insert(n.clone())
                        && let Some(next) = graph.get(&n)
                    {
                        stack.extend(next.iter().map(|(d, _)| d.clone()));
                    }
                }
            }
        }
    }
}
