//! The `triggers:` section: each rule's `on`, `when`, guards, action
//! (`create`, `update`, `act`), fields, match, manual guard, first run and
//! schedule; and the namespace syncs and rules share.

use serde_json::Value as Json;

use super::{Loader, TRIGGER_VARS};
use crate::config::model::*;
use crate::config::yaml::{Kind, Node};

const TRIGGER_KEYS: &[&str] = &[
    "on",
    "when",
    "guards",
    "create",
    "update",
    "act",
    "fields",
    "match",
    "manual_guard",
    "first_run",
    "schedule",
    "description",
];
const WHEN_KEYS: &[&str] = &[
    "field", "becomes", "from", "to", "changes", "created", "expr", "stage",
];
const ACT_KEYS: &[&str] = &["on", "id", "action", "only_if", "args"];

impl Loader {
    /// Syncs and trigger rules share one namespace: a name keys a run's
    /// history, pauses, the scheduler's jobs and state in the store, so a
    /// sync and a rule of the same name would read and settle each other's
    /// intents. Reports `name` (a `kind` being defined) if the other kind
    /// already has it, at this, the second, definition.
    pub(super) fn name_taken(&mut self, kind: &str, name: &Spanned<String>) -> bool {
        let others = [
            (
                "sync",
                self.syncs.get(&name.value).map(|s| s.name.span.clone()),
            ),
            (
                "trigger",
                self.triggers.get(&name.value).map(|t| t.name.span.clone()),
            ),
            (
                "rollup",
                self.rollups.get(&name.value).map(|r| r.name.span.clone()),
            ),
        ];
        let Some((other, first)) = others
            .into_iter()
            .filter(|(k, _)| *k != kind)
            .find_map(|(k, s)| s.map(|s| (k, s)))
        else {
            return false;
        };
        self.err_hint(
            &name.span,
            format!("{kind} `{}` has the same name as a {other}", name.value),
            Some(format!(
                "the {other} `{}` is defined at {}; names of {} must differ, because they share history and state",
                name.value,
                first.location(),
                if kind == "rollup" || other == "rollup" {
                    "syncs, trigger rules and rollups"
                } else {
                    "syncs and trigger rules"
                }
            )),
        );
        true
    }

    pub(super) fn trigger(&mut self, name: Spanned<String>, node: &Node) {
        if let Some(first) = self.triggers.get(&name.value).map(|t| t.name.span.clone()) {
            self.duplicate("trigger", &name, &first);
            return;
        }
        if self.name_taken("trigger", &name) {
            return;
        }
        let what = format!("trigger `{}`", name.value);
        if self.map(node, &what).is_none() {
            return;
        }
        self.keys(node, TRIGGER_KEYS, &what, false);
        let on = self
            .required(node, "on", &what)
            .and_then(|n| self.module_ref(n, "`on`"));
        let when_node = self.required(node, "when", &what);
        let when_span = when_node
            .map(|n| n.span.clone())
            .unwrap_or(node.span.clone());
        let when = when_node.and_then(|n| self.when(n));
        let mut guards = Vec::new();
        if let Some(g) = node.get("guards") {
            let items: Vec<Node> = match &g.kind {
                Kind::Seq(items) => items.clone(),
                _ => vec![g.clone()],
            };
            for item in &items {
                if let Some(e) = self.condition(item, TRIGGER_VARS, "a guard") {
                    guards.push(e);
                }
            }
        }
        let actions: Vec<&str> = ["create", "update", "act"]
            .into_iter()
            .filter(|k| node.get(k).is_some())
            .collect();
        let action = match actions.as_slice() {
            [] => {
                self.err_hint(&node.span, format!("{what} has no action"), Some("give one of `create: conn.module`, `update: linked(name)` or `act: { on: …, action: … }`".into()));
                None
            }
            [one] => self.action(one, node.get(one).expect("present")),
            [a, b, ..] => {
                let span = node
                    .get(b)
                    .map(|n| n.span.clone())
                    .unwrap_or(node.span.clone());
                self.err_hint(
                    &span,
                    format!("{what} has both `{a}` and `{b}`"),
                    Some("a trigger does one thing; split it into two triggers".into()),
                );
                None
            }
        };
        let fields = match node.get("fields") {
            Some(f) => self.fields(f, TRIGGER_VARS),
            None => Vec::new(),
        };
        match &action {
            Some(Action::Create { .. }) if node.get("fields").is_none() => {
                self.err(
                    &node.span,
                    format!("{what} creates records but has no `fields`"),
                );
            }
            Some(Action::Act { .. }) if node.get("fields").is_some() => {
                let span = node
                    .get("fields")
                    .map(|n| n.span.clone())
                    .unwrap_or(node.span.clone());
                self.err_hint(
                    &span,
                    "`fields` does not apply to `act`",
                    Some("pass values with `act.args`".into()),
                );
            }
            _ => {}
        }
        let mut match_fields = Vec::new();
        if let Some(m) = node.get("match") {
            let items: Vec<Node> = match &m.kind {
                Kind::Seq(items) => items.clone(),
                _ => vec![m.clone()],
            };
            for item in &items {
                if let Some(p) = self.path(item, "`match`") {
                    match_fields.push(p);
                }
            }
        }
        let manual_guard = match node.get("manual_guard") {
            None => ManualGuard::Default,
            Some(g) if g.to_json() == Json::Bool(false) || g.as_str() == Some("off") => {
                ManualGuard::Off
            }
            Some(g) => self
                .path(g, "`manual_guard`")
                .map(ManualGuard::Field)
                .unwrap_or(ManualGuard::Default),
        };
        let first_run = node
            .get("first_run")
            .and_then(|n| {
                self.choice(
                    n,
                    "`first_run`",
                    &[("baseline", FirstRun::Baseline), ("fire", FirstRun::Fire)],
                )
            })
            .unwrap_or(FirstRun::Baseline);
        let schedule = node.get("schedule").and_then(|n| self.schedule(n));
        let (Some(on), Some(when), Some(action)) = (on, when, action) else {
            return;
        };
        let t = Trigger {
            name: name.clone(),
            on,
            when,
            when_span,
            guards,
            action,
            fields,
            match_fields,
            manual_guard,
            first_run,
            schedule,
            span: node.span.clone(),
        };
        self.triggers.insert(name.value, t);
    }

    fn when(&mut self, node: &Node) -> Option<When> {
        match &node.kind {
            Kind::Scalar(..) => {
                if node.as_str() == Some("created") {
                    return Some(When::Created);
                }
                self.condition(node, TRIGGER_VARS, "`when`").map(When::Expr)
            }
            Kind::Map(_) => {
                self.keys(node, WHEN_KEYS, "`when`", false);
                if let Some(e) = node.get("expr") {
                    return self.condition(e, TRIGGER_VARS, "`when`").map(When::Expr);
                }
                if let Some(st) = node.get("stage") {
                    let outcome = self.choice(
                        st,
                        "stage outcome",
                        &[("won", Outcome::Won), ("lost", Outcome::Lost)],
                    )?;
                    return Some(When::Stage(Spanned::new(outcome, st.span.clone())));
                }
                if let Some(c) = node.get("created") {
                    return self
                        .boolean(c, "`created`")
                        .filter(|b| *b)
                        .map(|_| When::Created);
                }
                let field = self
                    .required(node, "field", "`when`")
                    .and_then(|n| self.path(n, "`when.field`"))?;
                if let Some(b) = node.get("becomes") {
                    return Some(When::Becomes {
                        field,
                        value: b.to_json(),
                    });
                }
                let from = node.get("from").map(Node::to_json);
                let to = node.get("to").map(Node::to_json);
                if from.is_none() && to.is_none() {
                    match node.get("changes") {
                        Some(c) => {
                            self.boolean(c, "`changes`")?;
                        }
                        None => {
                            self.err_hint(&node.span, "`when` with `field` needs `becomes`, `from`/`to` or `changes: true`", Some("for example `when: { field: Stage, becomes: Closed Won }`".into()));
                            return None;
                        }
                    }
                }
                Some(When::Changes { field, from, to })
            }
            Kind::Seq(_) => {
                self.err(
                    &node.span,
                    "`when` must be a CEL expression or a mapping, found a list",
                );
                None
            }
        }
    }

    fn target_ref(&mut self, node: &Node, id: Option<&Node>, what: &str) -> Option<TargetRef> {
        let s = self.string(node, what)?;
        let v = s.value.trim();
        if let Some(inner) = v.strip_prefix("linked(").and_then(|r| r.strip_suffix(')')) {
            let start = s.span.snippet().find(inner).unwrap_or(0);
            return Some(TargetRef::Linked(Spanned::new(
                inner.trim().to_owned(),
                s.span.sub(start, inner.len()),
            )));
        }
        let module = self.module_ref(node, what)?;
        match id {
            Some(idn) => Some(TargetRef::Module {
                module,
                id: self.expr(idn, TRIGGER_VARS)?,
            }),
            None => {
                self.err_hint(
                    &s.span,
                    format!("{what} names a module but no record"),
                    Some("write `linked(<sync or trigger>)`, or add `id: <expression>`".into()),
                );
                None
            }
        }
    }

    fn action(&mut self, kind: &str, node: &Node) -> Option<Action> {
        match kind {
            "create" => Some(Action::Create {
                module: self.module_ref(node, "`create`")?,
            }),
            "update" => match &node.kind {
                Kind::Map(_) => {
                    self.keys(node, &["on", "id"], "`update`", false);
                    let on = self.required(node, "on", "`update`")?;
                    Some(Action::Update {
                        target: self.target_ref(on, node.get("id"), "`update.on`")?,
                    })
                }
                _ => Some(Action::Update {
                    target: self.target_ref(node, None, "`update`")?,
                }),
            },
            _ => {
                self.map(node, "`act`")?;
                self.keys(node, ACT_KEYS, "`act`", false);
                let on = self.required(node, "on", "`act`");
                let target = on.and_then(|n| self.target_ref(n, node.get("id"), "`act.on`"));
                let actions = self.required(node, "action", "`act`").and_then(|n| {
                    let items: Vec<Node> = match &n.kind {
                        Kind::Seq(items) if !items.is_empty() => items.clone(),
                        Kind::Seq(_) => {
                            self.err(&n.span, "`act.action` names at least one action");
                            return None;
                        }
                        _ => vec![n.clone()],
                    };
                    items
                        .iter()
                        .map(|i| self.string(i, "`act.action`"))
                        .collect::<Option<Vec<_>>>()
                });
                let only_if = node
                    .get("only_if")
                    .and_then(|n| self.condition(n, TRIGGER_VARS, "`only_if`"));
                let args = node.get("args").map(Node::to_json).unwrap_or(Json::Null);
                if !args.is_null() && !args.is_object() {
                    let span = node
                        .get("args")
                        .map(|n| n.span.clone())
                        .unwrap_or(node.span.clone());
                    self.err(&span, "`act.args` must be a mapping");
                }
                Some(Action::Act {
                    target: target?,
                    actions: actions?,
                    only_if,
                    args,
                })
            }
        }
    }
}
