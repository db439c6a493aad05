//! Loading: YAML files → spanned tree → typed [`Workspace`], collecting
//! every problem (unknown keys, wrong types, bad names, bad expressions,
//! dangling references, cycles, missing secrets) in one pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value as Json;

use super::diag::{Diagnostic, Diagnostics, did_you_mean, one_of};
use super::model::*;
use super::path::FieldPath;
use super::secret::{Secret, SecretRef};
use super::yaml::{self, Kind, Node, SourceFile, Span, Style};
use crate::mapping::Expr;

/// What to do with `env:`/`file:` secrets while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecretMode {
    /// Read them now; a missing one is a located error.
    #[default]
    Resolve,
    /// Check their syntax only (`ferry map`, `ferry test`, offline checks).
    Defer,
}

/// Options for [`Workspace::load_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    pub secrets: SecretMode,
}

/// Variables of sync field expressions.
pub const SYNC_VARS: &[&str] = &["record", "target", "now"];
/// Variables inside `each:` list mappings and child mappings.
pub const NESTED_VARS: &[&str] = &["record", "parent", "target", "now"];
/// Variables of view filters.
pub const VIEW_VARS: &[&str] = &["record", "now"];
/// Variables of trigger conditions, guards and fields.
pub const TRIGGER_VARS: &[&str] = &["record", "previous", "target", "now"];

const TOP_KEYS: &[&str] = &[
    "version",
    "include",
    "connections",
    "syncs",
    "triggers",
    "serve",
];
const CONNECTION_KEYS: &[&str] = &[
    "connector",
    "data_center",
    "sandbox",
    "settings",
    "auth",
    "datetime_format",
    "description",
    "limits",
    "allowed_hosts",
    "rate_limit",
    "budget",
];
const SYNC_KEYS: &[&str] = &[
    "from",
    "to",
    "direction",
    "match",
    "on_duplicate",
    "view",
    "fields",
    "update_empty_fields",
    "deletes",
    "conflict",
    "schedule",
    "children",
    "description",
];
const CHILD_KEYS: &[&str] = &["from", "parent", "match", "view", "fields"];
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
];
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

impl Workspace {
    /// Load a workspace, resolving its secrets. All problems are returned
    /// together; a workspace with any error is not returned at all.
    pub fn load(path: impl AsRef<Path>) -> Result<Workspace, Diagnostics> {
        Workspace::load_with(path, LoadOptions::default())
    }

    /// Load with options.
    pub fn load_with(
        path: impl AsRef<Path>,
        options: LoadOptions,
    ) -> Result<Workspace, Diagnostics> {
        let (ws, diags) = Workspace::load_partial(path, options);
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(ws)
        }
    }

    /// Load as much as can be loaded, with every problem found. Entries
    /// with errors are left out of the workspace, so it can still be
    /// validated (see [`check`](crate::config::check)) to report the
    /// remaining problems in the same pass. Never use a workspace that came
    /// with errors for a run.
    pub fn load_partial(path: impl AsRef<Path>, options: LoadOptions) -> (Workspace, Diagnostics) {
        let path = path.as_ref();
        let mut loader = Loader::new(options);
        loader.file(path, None);
        loader.finish(path.to_owned())
    }

    /// Load from text (no includes relative to a real directory other than
    /// the current one). Used by tests and the fuzzer.
    pub fn load_str(
        name: &str,
        text: &str,
        options: LoadOptions,
    ) -> Result<Workspace, Diagnostics> {
        let mut loader = Loader::new(options);
        let file = SourceFile::new(name, text);
        loader.source(file, Path::new("."));
        let (ws, diags) = loader.finish(PathBuf::from(name));
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(ws)
        }
    }
}

struct Loader {
    options: LoadOptions,
    diags: Diagnostics,
    files: Vec<Arc<SourceFile>>,
    /// Canonical paths being loaded (include cycle detection).
    stack: Vec<PathBuf>,
    loaded: BTreeSet<PathBuf>,
    connections: BTreeMap<String, Connection>,
    syncs: BTreeMap<String, SyncConfig>,
    triggers: BTreeMap<String, Trigger>,
    serve: Option<ServeConfig>,
    /// Every name declared, even where its definition had errors (so one
    /// mistake is not reported again at every reference).
    declared: BTreeSet<(&'static str, String)>,
}

impl Loader {
    fn new(options: LoadOptions) -> Loader {
        Loader {
            options,
            diags: Diagnostics::new(),
            files: Vec::new(),
            stack: Vec::new(),
            loaded: BTreeSet::new(),
            connections: BTreeMap::new(),
            syncs: BTreeMap::new(),
            triggers: BTreeMap::new(),
            serve: None,
            declared: BTreeSet::new(),
        }
    }

    fn finish(mut self, path: PathBuf) -> (Workspace, Diagnostics) {
        self.cross_checks();
        let diags = self.diags.clone();
        let ws = Workspace {
            path,
            files: self.files,
            connections: self.connections,
            syncs: self.syncs,
            triggers: self.triggers,
            serve: self.serve.unwrap_or_default(),
            warnings: self.diags,
        };
        (ws, diags)
    }

    fn err(&mut self, span: &Span, msg: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, msg));
    }

    fn err_hint(&mut self, span: &Span, msg: impl Into<String>, hint: Option<String>) {
        self.diags
            .push(Diagnostic::error(span, msg).with_hint_opt(hint));
    }

    // -- files ------------------------------------------------------------

    fn file(&mut self, path: &Path, included_at: Option<&Span>) {
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

    fn source(&mut self, file: Arc<SourceFile>, base: &Path) {
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
        if root.is_null() {
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

    fn duplicate(&mut self, kind: &str, name: &Spanned<String>, first: &Span) {
        self.diags.push(
            Diagnostic::error(
                &name.span,
                format!("{kind} `{}` is defined twice", name.value),
            )
            .with_hint(format!("first defined at {}", first.location())),
        );
    }

    // -- primitives -------------------------------------------------------

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
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
    fn keys(&mut self, node: &Node, allowed: &[&str], what: &str, allow_x: bool) {
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

    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
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

    fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
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

    fn choice<T: Copy>(&mut self, node: &Node, what: &str, options: &[(&str, T)]) -> Option<T> {
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

    fn module_ref(&mut self, node: &Node, what: &str) -> Option<ModuleRef> {
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

    fn path(&mut self, node: &Node, what: &str) -> Option<Spanned<FieldPath>> {
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

    fn expr(&mut self, node: &Node, vars: &[&str]) -> Option<Expr> {
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

    fn required<'n>(&mut self, node: &'n Node, key: &str, what: &str) -> Option<&'n Node> {
        let v = node.get(key);
        if v.is_none() {
            let span = node.span.clone();
            self.err(&span, format!("{what} needs `{key}`"));
        }
        v
    }

    // -- connections ------------------------------------------------------

    fn connection(&mut self, name: Spanned<String>, node: &Node, base: &Path) {
        if let Some(first) = self
            .connections
            .get(&name.value)
            .map(|c| c.name.span.clone())
        {
            self.duplicate("connection", &name, &first);
            return;
        }
        if self
            .map(node, &format!("connection `{}`", name.value))
            .is_none()
        {
            return;
        }
        let what = format!("connection `{}`", name.value);
        self.keys(node, CONNECTION_KEYS, &what, false);
        let connector = self
            .required(node, "connector", &what)
            .and_then(|n| self.string(n, "`connector`"));
        let dc = node
            .get("data_center")
            .and_then(|n| self.string(n, "`data_center`"));
        let sandbox = node
            .get("sandbox")
            .and_then(|n| self.string(n, "`sandbox`"));
        let endpoint = match (dc, sandbox) {
            (Some(d), Some(s)) => {
                self.err_hint(
                    &s.span,
                    "give either `data_center` or `sandbox`, not both",
                    Some(format!("`data_center` is set at {}", d.span.location())),
                );
                Endpoint::DataCenter(d)
            }
            (Some(d), None) => Endpoint::DataCenter(d),
            (None, Some(s)) => {
                match url::Url::parse(&s.value) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                    _ => self.err_hint(
                        &s.span,
                        format!("`{}` is not an http(s) URL", s.value),
                        Some("for example `http://127.0.0.1:8900`".into()),
                    ),
                }
                Endpoint::Sandbox(s)
            }
            (None, None) => Endpoint::Default,
        };
        let mut settings = BTreeMap::new();
        if let Some(s) = node.get("settings").filter(|n| !n.is_null())
            && let Some(entries) = self.map(s, "`settings`")
        {
            {
                for (k, v) in entries {
                    if let Some(key) = self.string(k, "a setting name") {
                        settings.insert(key.value, Spanned::new(v.to_json(), v.span.clone()));
                    }
                }
            }
        }
        let mut auth = BTreeMap::new();
        if let Some(a) = node.get("auth").filter(|n| !n.is_null())
            && let Some(entries) = self.map(a, "`auth`")
        {
            {
                for (k, v) in entries {
                    let (Some(key), Some(val)) = (
                        self.string(k, "an auth key"),
                        self.string(v, "a secret reference"),
                    ) else {
                        continue;
                    };
                    let example = format!("env:{}", key.value.to_uppercase());
                    let Some(secret) =
                        self.secret(&val, &format!("auth.{}", key.value), &example, base)
                    else {
                        continue;
                    };
                    auth.insert(key.value, Spanned::new(secret, val.span));
                }
            }
        }
        let mut datetime_style = connector
            .as_ref()
            .map(|c| DatetimeStyle::for_connector(&c.value))
            .unwrap_or(DatetimeStyle::Rfc3339);
        if let Some(f) = node
            .get("datetime_format")
            .and_then(|n| self.string(n, "`datetime_format`"))
        {
            datetime_style = match f.value.as_str() {
                "rfc3339" => DatetimeStyle::Rfc3339,
                "compact" => DatetimeStyle::Compact,
                p if p.contains('%') => {
                    let probe = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05+00:00")
                        .expect("valid");
                    if crate::mapping::expr::format_pattern(&probe, p).is_none() {
                        self.err(&f.span, format!("`{p}` is not a valid strftime pattern"));
                    }
                    DatetimeStyle::Custom(p.to_owned())
                }
                other => {
                    self.err_hint(&f.span, format!("`{other}` is not a datetime format"), Some("use `rfc3339`, `compact` or a strftime pattern such as `%Y-%m-%dT%H:%M:%S%z`".into()));
                    DatetimeStyle::Rfc3339
                }
            };
        }
        let limits = node.get("limits").filter(|n| !n.is_null()).and_then(|n| {
            match serde_json::from_value::<crate::connector::Limits>(n.to_json()) {
                Ok(limits) => Some(limits),
                Err(e) => {
                    self.err_hint(
                        &n.span,
                        format!("`limits`: {e}"),
                        Some("keys: memory (`64 MiB`), timeout (`30s`), hostcall_data, table_elements, pages".into()),
                    );
                    None
                }
            }
        });
        let allowed_hosts = node
            .get("allowed_hosts")
            .filter(|n| !n.is_null())
            .and_then(|n| {
                let Kind::Seq(items) = &n.kind else {
                    self.err(
                        &n.span,
                        "`allowed_hosts` is a list of host names or `*.domain` patterns",
                    );
                    return None;
                };
                Some(
                    items
                        .iter()
                        .filter_map(|item| self.string(item, "a host name").map(|s| s.value))
                        .collect::<Vec<_>>(),
                )
            });
        let rate_limit = node
            .get("rate_limit")
            .filter(|n| !n.is_null())
            .map(|n| self.rate_limit(n))
            .unwrap_or_default();
        let budget = node
            .get("budget")
            .filter(|n| !n.is_null())
            .and_then(|n| self.budget(n));
        let Some(connector) = connector else { return };
        let conn = Connection {
            name: name.clone(),
            connector,
            endpoint,
            settings,
            auth,
            datetime_style,
            limits,
            allowed_hosts,
            rate_limit,
            budget,
            span: node.span.clone(),
        };
        self.connections.insert(name.value, conn);
    }

    /// `budget: { daily: 50000, pause_at: 90% }`.
    fn budget(&mut self, node: &Node) -> Option<Budget> {
        const HINT: &str = "for example `budget: { daily: 50000, pause_at: 90% }`";
        self.map(node, "`budget`")?;
        self.keys(node, &["daily", "pause_at"], "`budget`", false);
        let daily = match self.required(node, "daily", "`budget`")?.to_json() {
            Json::Number(n) if n.as_u64().is_some_and(|d| d > 0) => n.as_u64()?,
            _ => {
                let at = node.get("daily")?.span.clone();
                self.err_hint(
                    &at,
                    "`budget.daily` must be a positive whole number of API calls",
                    Some(HINT.into()),
                );
                return None;
            }
        };
        let pause_at = match node.get("pause_at") {
            None => 0.9,
            Some(n) => {
                let share = match n.to_json() {
                    Json::Number(x) => x.as_f64(),
                    Json::String(t) => t
                        .trim()
                        .strip_suffix('%')
                        .and_then(|p| p.trim().parse::<f64>().ok())
                        .map(|p| p / 100.0),
                    _ => None,
                };
                match share.filter(|s| *s > 0.0 && *s <= 1.0) {
                    Some(s) => s,
                    None => {
                        self.err_hint(
                            &n.span,
                            "`budget.pause_at` must be a share of the quota: `90%` or `0.9`",
                            Some(HINT.into()),
                        );
                        return None;
                    }
                }
            }
        };
        Some(Budget { daily, pause_at })
    }

    /// `serve:`.
    fn serve_config(&mut self, node: &Node, base: &Path) -> ServeConfig {
        let mut out = ServeConfig::default();
        if node.is_null() || self.map(node, "`serve`").is_none() {
            return out;
        }
        self.keys(
            node,
            &[
                "listen",
                "public_url",
                "open_on_loopback",
                "poll_every",
                "debounce",
                "webhook_secrets",
            ],
            "`serve`",
            false,
        );
        if let Some(l) = node
            .get("listen")
            .and_then(|n| self.string(n, "`serve.listen`"))
        {
            match l.value.parse::<std::net::SocketAddr>() {
                Ok(a) => out.listen = a,
                Err(_) => self.err_hint(
                    &l.span,
                    format!("`{}` is not an address and port", l.value),
                    Some("for example `127.0.0.1:8700` or `0.0.0.0:8700`".into()),
                ),
            }
        }
        if let Some(u) = node
            .get("public_url")
            .and_then(|n| self.string(n, "`serve.public_url`"))
        {
            match url::Url::parse(&u.value) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                    out.public_url = Some(u.value.trim_end_matches('/').to_string())
                }
                _ => self.err_hint(
                    &u.span,
                    format!("`{}` is not an http(s) URL", u.value),
                    Some(
                        "the address vendors reach Ferry at, e.g. `https://ferry.example.com`"
                            .into(),
                    ),
                ),
            }
        }
        if let Some(o) = node.get("open_on_loopback") {
            let open = self.boolean(o, "`serve.open_on_loopback`").unwrap_or(false);
            if open && !out.listen.ip().is_loopback() {
                self.err_hint(
                    &o.span,
                    format!(
                        "the admin API can be open only on a loopback address, not {}",
                        out.listen
                    ),
                    Some(
                        "bind `listen: 127.0.0.1:…`, or give callers tokens (`ferry tokens add`)"
                            .into(),
                    ),
                );
            } else {
                out.open_on_loopback = open;
            }
        }
        for (key, slot) in [
            ("poll_every", &mut out.poll_every),
            ("debounce", &mut out.debounce),
        ] {
            if let Some(n) = node.get(key)
                && let Some(t) = self.string(n, &format!("`serve.{key}`"))
            {
                match humantime::parse_duration(t.value.trim()) {
                    Ok(d) => *slot = d,
                    Err(e) => self.err_hint(
                        &t.span,
                        format!("`{}` is not a duration: {e}", t.value),
                        Some("for example `1h` or `2s`".into()),
                    ),
                }
            }
        }
        if let Some(w) = node.get("webhook_secrets").filter(|n| !n.is_null())
            && let Some(entries) = self.map(w, "`serve.webhook_secrets`")
        {
            for (k, v) in entries {
                let (Some(conn), Some(val)) = (
                    self.string(k, "a connection name"),
                    self.string(v, "a secret reference"),
                ) else {
                    continue;
                };
                let what = format!("webhook_secrets.{}", conn.value);
                let Some(secret) = self.secret(&val, &what, "env:FERRY_WEBHOOK_SECRET", base)
                else {
                    continue;
                };
                out.webhook_secrets
                    .insert(conn.value, Spanned::new(secret, conn.span));
            }
        }
        out
    }

    /// A secret reference (`env:NAME`, `file:path`) at `what`, read now or
    /// later as the load asks; `None` (reported) when it cannot be.
    fn secret(
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

    /// `rate_limit: off` or `{ requests_per_minute: <n|off>, concurrency: <n> }`.
    fn rate_limit(&mut self, node: &Node) -> RateLimitOverride {
        const HINT: &str = "write `rate_limit: off`, or `{ requests_per_minute: 300, concurrency: 4 }` (`requests_per_minute: off` for none)";
        let positive = |n: &Node| match n.to_json() {
            serde_json::Value::Number(x) => x
                .as_u64()
                .filter(|v| *v > 0 && *v <= u32::MAX as u64)
                .map(|v| v as u32),
            _ => None,
        };
        let is_off = |n: &Node| {
            matches!(n.as_str(), Some("off" | "none"))
                || n.to_json() == serde_json::Value::Bool(false)
        };
        if is_off(node) {
            return RateLimitOverride {
                requests_per_minute: Some(None),
                concurrency: None,
            };
        }
        if self.map(node, "`rate_limit`").is_none() {
            return RateLimitOverride::default();
        }
        self.keys(
            node,
            &["requests_per_minute", "concurrency"],
            "`rate_limit`",
            false,
        );
        let mut out = RateLimitOverride::default();
        if let Some(n) = node.get("requests_per_minute") {
            if is_off(n) {
                out.requests_per_minute = Some(None);
            } else if let Some(v) = positive(n) {
                out.requests_per_minute = Some(Some(v));
            } else {
                self.err_hint(
                    &n.span,
                    "`rate_limit.requests_per_minute` must be a positive whole number or `off`",
                    Some(HINT.into()),
                );
            }
        }
        if let Some(n) = node.get("concurrency") {
            match positive(n) {
                Some(v) => out.concurrency = Some(v),
                None => self.err_hint(
                    &n.span,
                    "`rate_limit.concurrency` must be a positive whole number",
                    Some(HINT.into()),
                ),
            }
        }
        out
    }

    // -- syncs ------------------------------------------------------------

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

    fn sync(&mut self, name: Spanned<String>, node: &Node) {
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
        let view = node.get("view").and_then(|n| self.expr(n, VIEW_VARS));
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
            deletes,
            conflict,
            schedule,
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
        let view = node.get("view").and_then(|n| self.expr(n, NESTED_VARS));
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

    fn schedule(&mut self, node: &Node) -> Option<Spanned<Schedule>> {
        let hint = || {
            Some(
                "write `every 2h`, `hourly`, `daily at 00:00 UTC`, `cron 0 */2 * * *`, `webhook` or `manual`"
                    .to_owned(),
            )
        };
        if let Some(c) = node.get("cron") {
            self.keys(node, &["cron", "every"], "`schedule`", false);
            let s = self.string(c, "`cron`")?;
            return self.cron(&s).map(|c| Spanned::new(c, s.span));
        }
        if let Some(e) = node.get("every") {
            let s = self.string(e, "`every`")?;
            return self
                .every(&s.value, &s.span)
                .map(|d| Spanned::new(d, s.span));
        }
        let s = self.string(node, "`schedule`")?;
        let v = s.value.trim();
        let sched = if v == "manual" {
            Schedule::Manual
        } else if v == "webhook" {
            Schedule::Webhook
        } else if v == "hourly" {
            Schedule::Cron("0 * * * *".into())
        } else if v == "daily" {
            Schedule::Cron("0 0 * * *".into())
        } else if let Some(at) = v.strip_prefix("daily at ") {
            let at = at.trim().trim_end_matches("UTC").trim();
            let hm = at
                .split_once(':')
                .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
                .filter(|(h, m)| *h < 24 && *m < 60);
            match hm {
                Some((h, m)) => Schedule::Cron(format!("{m} {h} * * *")),
                None => {
                    self.err_hint(
                        &s.span,
                        format!("`{at}` is not a time of day"),
                        Some("for example `daily at 00:00 UTC` (times are UTC)".into()),
                    );
                    return None;
                }
            }
        } else if let Some(rest) = v.strip_prefix("every ") {
            return self.every(rest, &s.span).map(|d| Spanned::new(d, s.span));
        } else if let Some(rest) = v.strip_prefix("cron ") {
            return self
                .cron(&Spanned::new(rest.to_owned(), s.span.clone()))
                .map(|c| Spanned::new(c, s.span));
        } else {
            let h = did_you_mean(v, ["manual", "webhook", "hourly", "daily"]).or_else(hint);
            self.err_hint(&s.span, format!("`{v}` is not a schedule"), h);
            return None;
        };
        Some(Spanned::new(sched, s.span))
    }

    fn every(&mut self, text: &str, span: &Span) -> Option<Schedule> {
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.as_secs() >= 60 => Some(Schedule::Every(d)),
            Ok(_) => {
                self.err_hint(
                    span,
                    "schedules run at most once a minute",
                    Some("use `every 1m` or more, or `webhook` for near-real-time".into()),
                );
                None
            }
            Err(e) => {
                self.err_hint(
                    span,
                    format!("`{}` is not a duration: {e}", text.trim()),
                    Some("for example `every 15m` or `every 2h`".into()),
                );
                None
            }
        }
    }

    fn cron(&mut self, s: &Spanned<String>) -> Option<Schedule> {
        let fields: Vec<&str> = s.value.split_whitespace().collect();
        let ok_field = |f: &str| {
            f.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '*' | ',' | '/' | '-'))
        };
        if fields.len() != 5
            || !fields.iter().all(|f| ok_field(f))
            || croner::Cron::new(&fields.join(" ")).parse().is_err()
        {
            self.err_hint(
                &s.span,
                format!("`{}` is not a five-field cron expression", s.value),
                Some("minute hour day-of-month month day-of-week, e.g. `0 */2 * * *`".into()),
            );
            return None;
        }
        Some(Schedule::Cron(fields.join(" ")))
    }

    // -- field mappings ---------------------------------------------------

    fn fields(&mut self, node: &Node, vars: &[&str]) -> Vec<FieldMapping> {
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
            let filter = node.get("filter").and_then(|f| self.expr(f, NESTED_VARS));
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

    // -- triggers ---------------------------------------------------------

    /// Syncs and trigger rules share one namespace: a name keys a run's
    /// history, pauses, the scheduler's jobs and state in the store, so a
    /// sync and a rule of the same name would read and settle each other's
    /// intents. Reports `name` (a `kind` being defined) if the other kind
    /// already has it, at this, the second, definition.
    fn name_taken(&mut self, kind: &str, name: &Spanned<String>) -> bool {
        let (other, first) = if kind == "sync" {
            (
                "trigger",
                self.triggers.get(&name.value).map(|t| t.name.span.clone()),
            )
        } else {
            (
                "sync",
                self.syncs.get(&name.value).map(|s| s.name.span.clone()),
            )
        };
        let Some(first) = first else {
            return false;
        };
        self.err_hint(
            &name.span,
            format!("{kind} `{}` has the same name as a {other}", name.value),
            Some(format!(
                "the {other} `{}` is defined at {}; names of syncs and trigger rules must differ, because they share history and state",
                name.value,
                first.location()
            )),
        );
        true
    }

    fn trigger(&mut self, name: Spanned<String>, node: &Node) {
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
                if let Some(e) = self.expr(item, TRIGGER_VARS) {
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
                self.expr(node, TRIGGER_VARS).map(When::Expr)
            }
            Kind::Map(_) => {
                self.keys(node, WHEN_KEYS, "`when`", false);
                if let Some(e) = node.get("expr") {
                    return self.expr(e, TRIGGER_VARS).map(When::Expr);
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
                let only_if = node.get("only_if").and_then(|n| self.expr(n, TRIGGER_VARS));
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

    // -- checks across the whole workspace --------------------------------

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

    fn cross_checks(&mut self) {
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
        self.sync_cycles(&syncs);
        self.create_cycles(&syncs);
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
        fn creates(fields: &[FieldMapping], out: &mut Vec<(String, Span)>) {
            for f in fields {
                if let Some(l) = &f.link
                    && l.missing == Missing::Create
                {
                    out.push((l.sync.value.clone(), l.sync.span.clone()));
                }
                match &f.source {
                    Source::Items(ls) => ls.iter().for_each(|l| creates(l, out)),
                    Source::Each { fields, .. } | Source::FirstOf(fields) => creates(fields, out),
                    _ => {}
                }
            }
        }
        let graph: BTreeMap<String, Vec<(String, Span)>> = syncs
            .iter()
            .map(|s| {
                let mut v = Vec::new();
                creates(&s.fields, &mut v);
                (s.name.value.clone(), v)
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
