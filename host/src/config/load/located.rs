//! Shared helpers for located values: each reads one YAML node as a
//! mapping, string, boolean, choice, module reference, field path, CEL
//! expression or secret, reporting a located error when it is not one.

use std::collections::BTreeMap;
use std::path::Path;

use super::{Loader, SecretMode};
use crate::config::diag::{Diagnostic, did_you_mean, one_of};
use crate::config::expr::{CONDITION_HINT, Expr};
use crate::config::model::*;
use crate::config::path::FieldPath;
use crate::config::secret::{Secret, SecretRef};
use crate::config::yaml::{Kind, Node, Span, Style};

impl Loader {
    pub(super) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match &node.kind {
            Kind::Map(m) => Some(m),
            _ => {
                self.err(
                    &node.span,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    /// Report every key of a mapping that is not in `allowed`.
    pub(super) fn keys(&mut self, node: &Node, allowed: &[&str], what: &str, allow_x: bool) {
        let Some(entries) = node.as_map() else { return };
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for (k, _) in entries {
            let Some(key) = k.as_str() else {
                self.err(&k.span, format!("keys in {what} must be plain names"));
                continue;
            };
            if let Some(first) = seen.get(key) {
                let first = first.location();
                self.err_hint(
                    &k.span,
                    format!("key `{key}` is given twice"),
                    Some(format!("first given at {first}")),
                );
                continue;
            }
            seen.insert(key.to_owned(), k.span.clone());
            if allowed.contains(&key) || (allow_x && key.starts_with("x-")) {
                continue;
            }
            let hint = did_you_mean(key, allowed.iter().copied())
                .unwrap_or_else(|| format!("known keys: {}", one_of(allowed.iter().copied())));
            self.diags.push(
                Diagnostic::error(&k.span, format!("unknown key `{key}` in {what}"))
                    .with_hint(hint),
            );
        }
    }

    pub(super) fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.kind {
            Kind::Scalar(s, _) if !node.is_null() => {
                Some(Spanned::new(s.clone(), node.span.clone()))
            }
            _ => {
                self.err(
                    &node.span,
                    format!("{what} must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.kind {
            Kind::Scalar(s, Style::Plain) if s == "true" => Some(true),
            Kind::Scalar(s, Style::Plain) if s == "false" => Some(false),
            _ => {
                let hint = match node.as_str() {
                    Some("yes" | "on" | "True" | "TRUE") => Some("write `true`".to_owned()),
                    Some("no" | "off" | "False" | "FALSE") => Some("write `false`".to_owned()),
                    _ => None,
                };
                self.err_hint(
                    &node.span,
                    format!(
                        "{what} must be `true` or `false`, found {}",
                        node.type_name()
                    ),
                    hint,
                );
                None
            }
        }
    }

    pub(super) fn choice<T: Copy>(
        &mut self,
        node: &Node,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        // `missing: null` is YAML null, and means the `null` option.
        if node.is_null()
            && let Some((_, v)) = options.iter().find(|(n, _)| *n == "null")
        {
            return Some(*v);
        }
        let s = self.string(node, what)?;
        if let Some((_, v)) = options.iter().find(|(n, _)| *n == s.value) {
            return Some(*v);
        }
        let names = options.iter().map(|(n, _)| *n);
        let hint = did_you_mean(&s.value, names.clone())
            .unwrap_or_else(|| format!("expected one of {}", one_of(names)));
        self.err_hint(
            &s.span,
            format!("`{}` is not a valid {what}", s.value),
            Some(hint),
        );
        None
    }

    pub(super) fn module_ref(&mut self, node: &Node, what: &str) -> Option<ModuleRef> {
        let s = self.string(node, what)?;
        match s.value.split_once('.') {
            Some((c, m)) if !c.is_empty() && !m.is_empty() && !m.contains('.') => Some(ModuleRef {
                connection: c.to_owned(),
                module: m.to_owned(),
                span: s.span.clone(),
            }),
            _ => {
                self.err_hint(
                    &s.span,
                    format!("{what} must be `connection.Module`, found `{}`", s.value),
                    Some("for example `crm.Accounts` or `billing.customers`".into()),
                );
                None
            }
        }
    }

    /// The span of byte `offset` within a scalar's value.
    fn inner_span(node: &Node, offset: usize, len: usize) -> Span {
        let quote = matches!(&node.kind, Kind::Scalar(_, Style::Quoted)) as usize;
        match &node.kind {
            Kind::Scalar(s, Style::Plain | Style::Quoted) if !s.contains('\n') => {
                node.span.sub(quote + offset, len.max(1))
            }
            _ => node.span.clone(),
        }
    }

    pub(super) fn path(&mut self, node: &Node, what: &str) -> Option<Spanned<FieldPath>> {
        let s = self.string(node, what)?;
        match FieldPath::parse(&s.value) {
            Ok(p) => Some(Spanned::new(p, s.span)),
            Err(e) => {
                let span = Loader::inner_span(node, e.offset, 1);
                self.err(
                    &span,
                    format!("bad field path `{}`: {}", s.value, e.message),
                );
                None
            }
        }
    }

    pub(super) fn expr(&mut self, node: &Node, vars: &[&str]) -> Option<Expr> {
        let s = self.string(node, "an expression")?;
        match Expr::compile(&s.value, vars) {
            Ok(e) => Some(e.with_span(Loader::inner_span(node, 0, s.value.len()))),
            Err(e) => {
                let span = Loader::inner_span(node, e.offset, 1);
                self.diags.push(
                    Diagnostic::error(&span, e.message)
                        .with_hint_opt(e.hint)
                        .with_label("in this CEL expression"),
                );
                None
            }
        }
    }

    /// A CEL condition (`view`, `when`, a guard, `filter`, `only_if`):
    /// an expression that must give true or false. One whose form gives
    /// something else (see [`Expr::not_a_condition`]) is reported, and
    /// still returned so its other checks run.
    pub(super) fn condition(&mut self, node: &Node, vars: &[&str], what: &str) -> Option<Expr> {
        let e = self.expr(node, vars)?;
        if let Some(p) = e.not_a_condition() {
            let span = e
                .span_at(p.offset, p.len)
                .unwrap_or_else(|| node.span.clone());
            self.diags.push(
                Diagnostic::error(
                    &span,
                    format!(
                        "{what} must give true or false, but `{}` gives {}",
                        p.text, p.gives
                    ),
                )
                .with_hint(CONDITION_HINT)
                .with_label("in this CEL condition"),
            );
        }
        Some(e)
    }

    pub(super) fn required<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let v = node.get(key);
        if v.is_none() {
            let span = node.span.clone();
            self.err(&span, format!("{what} needs `{key}`"));
        }
        v
    }

    /// A secret reference (`env:NAME`, `file:path`) at `what`, read now or
    /// later as the load asks; `None` (reported) when it cannot be.
    pub(super) fn secret(
        &mut self,
        val: &Spanned<String>,
        what: &str,
        example: &str,
        base: &Path,
    ) -> Option<Secret> {
        let reference = match SecretRef::parse(&val.value, base) {
            Ok(r) => r,
            Err(m) => {
                self.err_hint(
                    &val.span,
                    format!("`{what}`: {m}"),
                    Some(format!("for example `{example}`")),
                );
                return None;
            }
        };
        match self.options.secrets {
            SecretMode::Defer => Some(Secret::deferred(reference)),
            SecretMode::Resolve => match Secret::resolve(reference) {
                Ok(s) => Some(s),
                Err(m) => {
                    self.err_hint(
                        &val.span,
                        format!("missing secret for `{what}`: {m}"),
                        Some("set it before running, or use `ferry validate --no-secrets` to check the rest".into()),
                    );
                    None
                }
            },
        }
    }
}
