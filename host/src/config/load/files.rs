//! Files: reading the workspace file and its `include`s (with include-cycle
//! detection), parsing each to a spanned YAML tree and dispatching its
//! top-level sections to the section loaders.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Loader;
use crate::config::diag::Diagnostic;
use crate::config::model::Spanned;
use crate::config::yaml::{self, Kind, Node, SourceFile, Span};

const TOP_KEYS: &[&str] = &[
    "version",
    "include",
    "connections",
    "syncs",
    "triggers",
    "rollups",
    "serve",
];

impl Loader {
    pub(super) fn file(&mut self, path: &Path, included_at: Option<&Span>) {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        if self.stack.contains(&canonical) {
            let span = included_at.cloned();
            let chain: Vec<String> = self
                .stack
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.display().to_string())
                .collect();
            let d = match span {
                Some(s) => Diagnostic::error(&s, "include cycle"),
                None => Diagnostic::global("include cycle"),
            };
            self.diags.push(d.with_hint(format!(
                "the files include each other: {}",
                chain.join(" → ")
            )));
            return;
        }
        if !self.loaded.insert(canonical.clone()) {
            return; // included twice through different paths: load once
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let msg = format!("cannot read `{}`: {e}", path.display());
                match included_at {
                    Some(s) => self.err(&s.clone(), msg),
                    None => self.diags.push(Diagnostic::global(msg)),
                }
                return;
            }
        };
        let file = SourceFile::new(path.display().to_string(), text);
        let base = path
            .parent()
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        self.stack.push(canonical);
        self.source(file, &base);
        self.stack.pop();
    }

    pub(super) fn source(&mut self, file: Arc<SourceFile>, base: &Path) {
        let workspace_file = self.files.is_empty();
        self.files.push(file.clone());
        let root = match yaml::parse(&file) {
            Ok(r) => r,
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    &e.span,
                    format!("YAML syntax: {}", e.message),
                ));
                return;
            }
        };
        // No document, only comments, `~` or `{}`: nothing to run. The
        // workspace file itself is an error (an empty file where the real
        // one was meant); an included one only adds nothing.
        if root.is_null() || root.as_map().is_some_and(<[_]>::is_empty) {
            let at = Span::new(&file, 0, 0);
            if workspace_file {
                self.err_hint(
                    &at,
                    "the workspace is empty: expected `version:` and `connections:`",
                    Some(
                        "a workspace names its `connections`, then the `syncs` and `triggers` between them; see docs/config.md"
                            .into(),
                    ),
                );
            } else {
                self.diags.push(
                    Diagnostic::warning(&at, format!("included file `{}` is empty", file.name))
                        .with_hint("it adds nothing to the workspace; remove it from `include`"),
                );
            }
            return;
        }
        let Some(entries) = self.map(&root, "the workspace") else {
            return;
        };
        self.keys(&root, TOP_KEYS, "the workspace top level", true);
        let entries = entries.to_vec();
        for (k, v) in &entries {
            match k.as_str() {
                Some("version") if v.as_str() != Some("1") => {
                    self.err_hint(
                        &v.span,
                        format!("unsupported workspace version `{}`", v.span.snippet()),
                        Some("this Ferry reads `version: 1`".into()),
                    );
                }
                Some("include") => {
                    let items: Vec<Node> = match &v.kind {
                        Kind::Seq(items) => items.clone(),
                        Kind::Scalar(..) if !v.is_null() => vec![v.clone()],
                        _ => {
                            self.err(
                                &v.span,
                                format!(
                                    "`include` must be a file path or a list of them, found {}",
                                    v.type_name()
                                ),
                            );
                            continue;
                        }
                    };
                    for item in items {
                        if let Some(p) = self.string(&item, "an included file") {
                            self.file(&base.join(&p.value), Some(&p.span));
                        }
                    }
                }
                Some("connections") => self.section(v, "connections", |l, name, node| {
                    l.connection(name, node, base)
                }),
                Some("syncs") => self.section(v, "syncs", |l, name, node| l.sync(name, node)),
                Some("triggers") => {
                    self.section(v, "triggers", |l, name, node| l.trigger(name, node))
                }
                Some("rollups") => self.section(v, "rollups", |l, name, node| l.rollup(name, node)),
                Some("serve") => {
                    if self.serve.is_some() {
                        self.err(&k.span, "`serve` is given twice (in more than one file)");
                    } else {
                        self.serve = Some(self.serve_config(v, base));
                    }
                }
                _ => {}
            }
        }
    }

    fn section(
        &mut self,
        node: &Node,
        what: &str,
        mut each: impl FnMut(&mut Loader, Spanned<String>, &Node),
    ) {
        if node.is_null() {
            return;
        }
        let Some(entries) = self.map(node, &format!("`{what}`")) else {
            return;
        };
        for (k, v) in entries {
            let Some(name) = self.name(k, what) else {
                continue;
            };
            let kind: &'static str = match what {
                "connections" => "connection",
                "syncs" => "sync",
                "rollups" => "rollup",
                _ => "trigger",
            };
            self.declared.insert((kind, name.value.clone()));
            each(self, name, v);
        }
    }

    fn name(&mut self, k: &Node, what: &str) -> Option<Spanned<String>> {
        let s = self.string(k, "a name")?;
        let ok = !s.value.is_empty()
            && s.value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok {
            self.err_hint(
                &s.span,
                format!("`{}` is not a valid name in `{what}`", s.value),
                Some("names use letters, digits, `_` and `-`".into()),
            );
            return None;
        }
        Some(s)
    }

    pub(super) fn duplicate(&mut self, kind: &str, name: &Spanned<String>, first: &Span) {
        self.diags.push(
            Diagnostic::error(
                &name.span,
                format!("{kind} `{}` is defined twice", name.value),
            )
            .with_hint(format!("first defined at {}", first.location())),
        );
    }
}
