//! `ferry test [dir]`: config unit tests.
//!
//! Every `*.test.yaml` under the directory holds cases that give an input
//! record (and its previous state, links, children, target) and the mapped
//! output, error, skip or trigger actions expected. Each file tests the
//! workspace named by its `workspace:` key, or `<name>.yaml` beside
//! `<name>.test.yaml`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::config::FieldPath;
use crate::config::yaml::{self, Kind, Node, SourceFile};
use crate::config::{
    self, Catalog, Diagnostic, Diagnostics, LoadOptions, SecretMode, Workspace, did_you_mean,
    one_of,
};
use crate::connector::ConnectorInfo;
use crate::mapping::{
    Context, LinkTable, Plan, RollupPlan, Stages, TriggerPlan, Way, expr::parse_datetime,
    loosely_equal,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory searched (recursively) for `*.test.yaml`, or one file.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Directory of connector describe fixtures, instead of what the
    /// connectors describe (for tests).
    #[arg(long, env = "FERRY_DESCRIBE_DIR")]
    pub describe_dir: Option<PathBuf>,
    /// More connector manifests (`*.yaml`), beside the ones Ferry carries.
    #[arg(long, env = "FERRY_CONNECTORS")]
    pub connectors: Option<PathBuf>,
    /// More connector components (`*.wasm`), searched before the carried
    /// ones.
    #[arg(long, env = "FERRY_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,
}

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub file: String,
    pub name: String,
    /// `None`: passed. Otherwise why it failed (with a diff where useful).
    pub failure: Option<String>,
}

/// All outcomes.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub cases: Vec<CaseResult>,
    /// Files that could not be run (bad test file, workspace errors).
    pub broken: Vec<(String, String)>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }

    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed() + self.broken.len()
    }
}

/// Prints the report; names and failures (which quote records, messages
/// and what connectors' `describe` says) are made safe for the terminal.
pub fn run(args: Args) -> ExitCode {
    use super::safe::line;
    if let Some(why) = super::bundle::missing(args.connectors.as_deref()) {
        eprintln!("error: {}", line(&why));
        return ExitCode::FAILURE;
    }
    let report = run_tests(
        &args.dir,
        args.describe_dir.as_deref(),
        args.connectors.as_deref(),
        args.plugin_dir.as_deref(),
    );
    let mut current = String::new();
    for c in &report.cases {
        if c.file != current {
            println!("{}", line(&c.file));
            current = c.file.clone();
        }
        match &c.failure {
            None => println!("  ok    {}", line(&c.name)),
            Some(why) => {
                println!("  FAIL  {}", line(&c.name));
                for l in why.lines() {
                    println!("        {}", line(l));
                }
            }
        }
    }
    for (file, why) in &report.broken {
        println!("{}\n  FAIL  (file could not be run)", line(file));
        for l in why.lines() {
            println!("        {}", line(l));
        }
    }
    if report.cases.is_empty() && report.broken.is_empty() {
        println!("no *.test.yaml files under {}", args.dir.display());
    }
    println!("{} passed, {} failed", report.passed(), report.failed());
    if report.failed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn find_tests(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_owned());
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if p.is_dir() && !name.starts_with('.') && name != "target" {
            find_tests(&p, out);
        } else if name.ends_with(".test.yaml") || name.ends_with(".test.yml") {
            out.push(p);
        }
    }
}

/// Run every test file under `dir`. Without `describe_dir`, each
/// workspace is checked against what its connectors describe (its state's
/// schema cache, else the components offline), as a run would be.
pub fn run_tests(
    dir: &Path,
    describe_dir: Option<&Path>,
    connectors: Option<&Path>,
    plugin_dir: Option<&Path>,
) -> Report {
    let mut files = Vec::new();
    find_tests(dir, &mut files);
    let mut report = Report::default();
    let mut components = super::schema::Components::new(connectors, plugin_dir);
    for f in files {
        let sources = Sources {
            describe_dir,
            connectors,
            components: &mut components,
        };
        run_file(&f, sources, &mut report);
    }
    report
}

/// Where a test file's workspace learns its connectors' schema.
struct Sources<'a> {
    describe_dir: Option<&'a Path>,
    connectors: Option<&'a Path>,
    components: &'a mut super::schema::Components,
}

const FILE_KEYS: &[&str] = &["workspace", "now", "stages", "schema", "tests"];
const CASE_KEYS: &[&str] = &[
    "name",
    "sync",
    "trigger",
    "rollup",
    "reverse",
    "input",
    "previous",
    "target",
    "children",
    "links",
    "now",
    "expect",
    "expect_error",
    "expect_skipped",
    "expect_actions",
];

struct Case {
    name: String,
    node: Node,
}

fn unknown_keys(node: &Node, allowed: &[&str], what: &str, d: &mut Diagnostics) {
    for (k, _) in node.as_map().unwrap_or(&[]) {
        let key = k.as_str().unwrap_or("");
        if !allowed.contains(&key) {
            let hint = did_you_mean(key, allowed.iter().copied())
                .unwrap_or_else(|| format!("known keys: {}", one_of(allowed.iter().copied())));
            d.push(
                Diagnostic::error(&k.span, format!("unknown key `{key}` in {what}"))
                    .with_hint(hint),
            );
        }
    }
}

fn run_file(path: &Path, sources: Sources<'_>, report: &mut Report) {
    let shown = path.display().to_string();
    let broken = |report: &mut Report, why: String| report.broken.push((shown.clone(), why));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return broken(report, format!("cannot read: {e}")),
    };
    let file: Arc<SourceFile> = SourceFile::new(shown.clone(), text);
    let root = match yaml::parse(&file) {
        Ok(r) => r,
        Err(e) => {
            return broken(
                report,
                Diagnostics::from(Diagnostic::error(
                    &e.span,
                    format!("YAML syntax: {}", e.message),
                ))
                .render(false),
            );
        }
    };
    let mut d = Diagnostics::new();
    if root.as_map().is_none() {
        return broken(
            report,
            format!("{}: a test file is a mapping with `tests:`", file.name),
        );
    }
    unknown_keys(&root, FILE_KEYS, "the test file", &mut d);
    let base = path.parent().unwrap_or(Path::new("."));
    let ws_path = match root.get("workspace").and_then(Node::as_str) {
        Some(p) => base.join(p),
        None => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let stem = name
                .trim_end_matches(".test.yaml")
                .trim_end_matches(".test.yml");
            base.join(format!("{stem}.yaml"))
        }
    };
    let file_now = root
        .get("now")
        .map(|n| (n.clone(), n.as_str().and_then(parse_datetime)));
    let mut cases = Vec::new();
    match root.get("tests").map(|t| &t.kind) {
        Some(Kind::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                if item.as_map().is_none() {
                    d.push(Diagnostic::error(
                        &item.span,
                        "a test case must be a mapping",
                    ));
                    continue;
                }
                unknown_keys(item, CASE_KEYS, "a test case", &mut d);
                let name = item
                    .get("name")
                    .and_then(Node::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("case {}", i + 1));
                cases.push(Case {
                    name,
                    node: item.clone(),
                });
            }
        }
        _ => d.push(Diagnostic::error(
            &root.span,
            "a test file needs `tests:`, a list of cases",
        )),
    }
    if let Some((n, None)) = &file_now {
        d.push(Diagnostic::error(
            &n.span,
            "`now` must be a date-time such as `2024-05-01T00:00:00+00:00`",
        ));
    }
    if d.has_errors() {
        return broken(report, d.render(false));
    }
    let mut ws = match Workspace::load_with(
        &ws_path,
        LoadOptions {
            secrets: SecretMode::Defer,
        },
    ) {
        Ok(ws) => ws,
        Err(e) => {
            return broken(
                report,
                format!("workspace {}:\n{}", ws_path.display(), e.render(false)),
            );
        }
    };
    let (mut catalog, _) =
        super::validate::catalog_for(&ws, sources.describe_dir, sources.connectors);
    // The organisation's schema the cases assume, as `ferry discover
    // <connection> --json` printed it.
    if let Some(node) = root.get("schema") {
        match schemas(node, base) {
            Ok(found) => catalog.describes.extend(found),
            Err(why) => return broken(report, why),
        }
    }
    if sources.describe_dir.is_none() {
        let state = super::sync::default_state_dir(&ws_path, false);
        super::schema::fill(&mut catalog, &ws, &state, sources.components);
    }
    ws.fill_default_fields(&catalog);
    let problems = config::validate(&ws, &catalog);
    if problems.has_errors() {
        return broken(
            report,
            format!(
                "workspace {} does not validate:\n{}",
                ws_path.display(),
                problems.render(false)
            ),
        );
    }
    let default_now = file_now
        .and_then(|(_, t)| t)
        .unwrap_or_else(|| parse_datetime("2024-01-01T00:00:00+00:00").expect("valid"));
    let stages = match root.get("stages").map(stage_table).transpose() {
        Ok(s) => s,
        Err(why) => return broken(report, why),
    };
    for case in cases {
        let failure = run_case(&ws, &catalog, &case, default_now, stages.as_ref()).err();
        report.cases.push(CaseResult {
            file: shown.clone(),
            name: case.name,
            failure,
        });
    }
}

/// `stages: { Closed Won: 100, Closed Lost: 0, … }`: the stage–probability
/// mapping `when: { stage: won }` cases are judged by.
/// `schema: { <connection>: <file> }`: describe output per connection,
/// files relative to the test file.
fn schemas(node: &Node, base: &Path) -> Result<Vec<(String, ConnectorInfo)>, String> {
    let bad = || {
        located(
            node,
            "`schema` maps connections to files that `ferry discover <connection> --json` wrote",
        )
    };
    let entries = node.as_map().ok_or_else(bad)?;
    let mut out = Vec::new();
    for (k, v) in entries {
        let (Some(connection), Some(file)) = (k.as_str(), v.as_str()) else {
            return Err(bad());
        };
        let path = base.join(file);
        let info = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<ConnectorInfo>(&t).map_err(|e| e.to_string()))
            .map_err(|e| {
                located(
                    v,
                    format!("schema of `{connection}`, {}: {e}", path.display()),
                )
            })?;
        out.push((connection.to_string(), info));
    }
    Ok(out)
}

fn stage_table(node: &Node) -> Result<HashMap<String, f64>, String> {
    let bad = || located(node, "`stages` maps stage names to probabilities (0–100)");
    let Json::Object(map) = node.to_json() else {
        return Err(bad());
    };
    map.into_iter()
        .map(|(stage, p)| match p {
            Json::Number(n) => n.as_f64().map(|p| (stage, p)).ok_or_else(bad),
            _ => Err(bad()),
        })
        .collect()
}

fn located(node: &Node, msg: impl Into<String>) -> String {
    Diagnostic::error(&node.span, msg).short()
}

fn run_case(
    ws: &Workspace,
    catalog: &dyn Catalog,
    case: &Case,
    default_now: chrono::DateTime<chrono::FixedOffset>,
    stages: Option<&HashMap<String, f64>>,
) -> Result<(), String> {
    let n = &case.node;
    let input = n
        .get("input")
        .map(Node::to_json)
        .ok_or_else(|| located(n, "the case has no `input` record"))?;
    let previous = n.get("previous").map(Node::to_json);
    let target = n.get("target").map(Node::to_json);
    let now = match n.get("now") {
        Some(t) => t
            .as_str()
            .and_then(parse_datetime)
            .ok_or_else(|| located(t, "`now` is not a date-time"))?,
        None => default_now,
    };
    let mut links = LinkTable::default();
    if let Some(l) = n.get("links") {
        let items = l
            .as_seq()
            .ok_or_else(|| located(l, "`links` is a list of `{ sync, from, to }`"))?;
        for item in items {
            let get = |k: &str| {
                item.get(k).map(Node::to_json).map(|v| match v {
                    Json::String(s) => s,
                    other => other.to_string(),
                })
            };
            match (get("sync"), get("from"), get("to")) {
                (Some(s), Some(a), Some(b)) => {
                    if !ws.syncs.contains_key(&s) {
                        return Err(located(item, format!("unknown sync `{s}` in `links`")));
                    }
                    links.insert(&s, &a, &b);
                }
                _ => return Err(located(item, "a link needs `sync`, `from` and `to`")),
            }
        }
    }
    let children: Option<BTreeMap<String, Vec<Json>>> = match n.get("children") {
        Some(c) => Some(serde_json::from_value(c.to_json()).map_err(|e| {
            located(
                c,
                format!("`children` maps child names to lists of records: {e}"),
            )
        })?),
        None => None,
    };
    let ctx = Context::new(&links)
        .at(now)
        .with_target(target.as_ref())
        .with_children(children.as_ref());
    let expect_error = n.get("expect_error").and_then(Node::as_str);
    let expect_skipped = n.get("expect_skipped").and_then(Node::as_str) == Some("true");

    if let Some(sync) = n.get("sync") {
        let name = sync.as_str().unwrap_or("");
        if !ws.syncs.contains_key(name) {
            let hint = did_you_mean(name, ws.syncs.keys().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(located(sync, format!("unknown sync `{name}`{hint}")));
        }
        let way = if n.get("reverse").and_then(Node::as_str) == Some("true") {
            Way::Reverse
        } else {
            Way::Forward
        };
        let plan = Plan::compile_way(ws, name, way, catalog).map_err(|d| d.render(false))?;
        let accepted = plan.accepts(&input, &ctx);
        let result = match accepted {
            Ok(false) => {
                return if expect_skipped {
                    Ok(())
                } else {
                    Err("the record was skipped by the view filter".into())
                };
            }
            Ok(true) => plan.apply(&input, &ctx),
            Err(e) => Err(e),
        };
        // `missing: exclude` skips the record as a view would.
        let excluded = match &result {
            Err(e) if e.missing_link.as_ref().is_some_and(|m| m.exclude) => Some(e.to_string()),
            _ => None,
        };
        return match (excluded, expect_skipped) {
            (Some(_), true) => Ok(()),
            (None, true) => Err(
                "expected the record to be skipped (by the view filter or `missing: exclude`), but it was not".into(),
            ),
            (Some(why), false) => Err(format!("the record was skipped: {why}")),
            (None, false) => check_result(n, result.map_err(|e| e.to_string()), expect_error),
        };
    }
    if let Some(trig) = n.get("trigger") {
        let name = trig.as_str().unwrap_or("");
        if !ws.triggers.contains_key(name) {
            let hint = did_you_mean(name, ws.triggers.keys().map(String::as_str))
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            return Err(located(trig, format!("unknown trigger `{name}`{hint}")));
        }
        let plan = TriggerPlan::compile(ws, name, catalog).map_err(|d| d.render(false))?;
        let on = &ws.triggers[name].on;
        let field = ws
            .connector_of(&on.connection)
            .and_then(|c| catalog.manifest(c))
            .and_then(|m| m.stages.get(&on.module))
            .map_or("Stage", |t| t.field.as_str());
        let stages = stages.map(|probability| Stages {
            field: FieldPath::parse(field)
                .unwrap_or_else(|_| FieldPath::parse("Stage").expect("a plain name")),
            probability: probability.clone(),
        });
        let ctx = ctx.with_stages(stages.as_ref());
        let result = plan
            .evaluate(&input, previous.as_ref(), &ctx)
            .map_err(|e| e.to_string());
        let actions = result.map(|a| Json::Array(a.into_iter().map(|a| a.to_json()).collect()));
        if expect_skipped {
            return match actions {
                Ok(Json::Array(a)) if a.is_empty() => Ok(()),
                Ok(other) => Err(format!(
                    "expected the trigger not to fire, but it planned {other}"
                )),
                Err(e) => Err(format!(
                    "expected the trigger not to fire, but it failed: {e}"
                )),
            };
        }
        if let Some(e) = expect_error {
            return match actions {
                Err(msg) if msg.contains(e) => Ok(()),
                Err(msg) => Err(format!("expected an error containing `{e}`, got: {msg}")),
                Ok(v) => Err(format!(
                    "expected an error containing `{e}`, but it planned {v}"
                )),
            };
        }
        let expected = n.get("expect_actions").ok_or_else(|| located(n, "a trigger case needs `expect_actions` (a list; `[]` when it must not fire), `expect_skipped` or `expect_error`"))?;
        let actual = actions?;
        return compare(&expected.to_json(), &actual);
    }
    if let Some(r) = n.get("rollup") {
        return rollup_case(ws, n, r, &input, now, expect_error);
    }
    Err(located(
        n,
        "the case names no `sync`, `trigger` or `rollup`",
    ))
}

/// A rollup case: `input` is the child records, `expect` the figures by
/// parent id.
fn rollup_case(
    ws: &Workspace,
    n: &Node,
    r: &Node,
    input: &Json,
    now: chrono::DateTime<chrono::FixedOffset>,
    expect_error: Option<&str>,
) -> Result<(), String> {
    let name = r.as_str().unwrap_or("");
    if !ws.rollups.contains_key(name) {
        let hint = did_you_mean(name, ws.rollups.keys().map(String::as_str))
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        return Err(located(r, format!("unknown rollup `{name}`{hint}")));
    }
    let plan = RollupPlan::compile(ws, name).map_err(|e| e.to_string())?;
    let children: Vec<Json> = match input {
        Json::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    let result = plan
        .by_parent(&children, now)
        .map(|by| Json::Object(by.into_iter().map(|(p, f)| (p, Json::Object(f))).collect()))
        .map_err(|e| e.to_string());
    match (result, expect_error) {
        (Err(msg), Some(e)) if msg.contains(e) => Ok(()),
        (Err(msg), Some(e)) => Err(format!("expected an error containing `{e}`, got: {msg}")),
        (Ok(v), Some(e)) => Err(format!(
            "expected an error containing `{e}`, but the figures were {v}"
        )),
        (Err(msg), None) => Err(format!("the figures failed: {msg}")),
        (Ok(actual), None) => {
            let expected = n.get("expect").ok_or_else(|| {
                located(
                    n,
                    "a rollup case needs `expect` (figures by parent id) or `expect_error`",
                )
            })?;
            compare(&expected.to_json(), &actual)
        }
    }
}

fn check_result(
    n: &Node,
    result: Result<Json, String>,
    expect_error: Option<&str>,
) -> Result<(), String> {
    match (result, expect_error) {
        (Err(msg), Some(e)) if msg.contains(e) => Ok(()),
        (Err(msg), Some(e)) => Err(format!("expected an error containing `{e}`, got: {msg}")),
        (Ok(v), Some(e)) => Err(format!(
            "expected an error containing `{e}`, but the record mapped to {v}"
        )),
        (Err(msg), None) => Err(format!("mapping failed: {msg}")),
        (Ok(actual), None) => {
            let expected = n.get("expect").ok_or_else(|| {
                located(
                    n,
                    "a sync case needs `expect`, `expect_error` or `expect_skipped`",
                )
            })?;
            compare(&expected.to_json(), &actual)
        }
    }
}

/// Equal JSON, numbers compared by value (`12` = `12.0`).
fn same(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(_), Json::Number(_)) => loosely_equal(a, b),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn compare(expected: &Json, actual: &Json) -> Result<(), String> {
    if same(expected, actual) {
        return Ok(());
    }
    let e = serde_json::to_string_pretty(expected).unwrap_or_default();
    let a = serde_json::to_string_pretty(actual).unwrap_or_default();
    let diff = similar::TextDiff::from_lines(&e, &a);
    let mut out = String::from("output differs (- expected, + actual):\n");
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        out.push_str(&format!("{sign} {}", change));
        if !change.to_string().ends_with('\n') {
            out.push('\n');
        }
    }
    Err(out)
}
