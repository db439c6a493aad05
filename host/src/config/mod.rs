//! The workspace YAML model, loading and validation with file:line:col.
