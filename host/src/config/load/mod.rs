//! Loading: YAML files → spanned tree → typed [`Workspace`], collecting
//! every problem (unknown keys, wrong types, bad names, bad expressions,
//! dangling references, cycles, missing secrets) in one pass.
//!
//! This file is the public face ([`Workspace::load_with`], [`LoadOptions`],
//! the variables each kind of expression may use) and the `Loader` that
//! collects what is loaded. Its stages and sections are the submodules:
//! `files` reads files and includes and hands the top-level sections to
//! `connections`, `serve`, `syncs` (with `fields` and `schedules`) and
//! `triggers`; `located` holds the shared helpers that read one located
//! value; `checks` runs the checks across the whole workspace before
//! `Loader::finish` hands it out.

mod checks;
mod connections;
mod fields;
mod files;
mod located;
mod rollups;
mod schedules;
mod serve;
mod syncs;
mod triggers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diagnostic, Diagnostics};
use super::model::*;
use super::yaml::{SourceFile, Span};

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
/// Variables of rollup filters and views.
pub const ROLLUP_VARS: &[&str] = &["record", "now", "today"];
/// Variables of trigger conditions, guards and fields.
pub const TRIGGER_VARS: &[&str] = &["record", "previous", "target", "now"];

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
    rollups: BTreeMap<String, Rollup>,
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
            rollups: BTreeMap::new(),
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
            rollups: self.rollups,
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
}
