//! The workspace YAML: model, loading with located diagnostics, the CEL
//! expressions it holds ([`expr`]), and validation against what
//! connectors describe.
//!
//! ```no_run
//! use ferry::config::{self, Workspace, StaticCatalog};
//! let ws = Workspace::load("workspace.yaml").map_err(|d| eprintln!("{}", d.render(false))).unwrap();
//! let problems = config::validate(&ws, &config::EmptyCatalog);
//! print!("{}", problems.render(false));
//! ```

mod catalog;
mod diag;
pub mod expr;
mod load;
mod model;
mod pairs;
mod path;
mod secret;
mod validate;
pub mod yaml;

pub use catalog::{Catalog, EmptyCatalog, StaticCatalog};
pub use diag::{Diagnostic, Diagnostics, Severity, closest, did_you_mean, one_of};
pub use load::{LoadOptions, NESTED_VARS, SYNC_VARS, SecretMode, TRIGGER_VARS, VIEW_VARS};
pub use model::*;
pub use path::{FieldPath, PathError, Segment, select_matches};
pub use secret::{Secret, SecretRef};
pub use validate::{check, validate};
pub use yaml::{SourceFile, Span};
