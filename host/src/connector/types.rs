//! What crosses the contract: records, pages, and the errors a connector
//! call can end in — the same whether a wasm component, a declarative
//! manifest or a test fake answers.

use serde_json::{Map, Value};

use super::Limit;

/// A record as JSON object.
pub type Record = Map<String, Value>;

/// One page of records.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
}

/// A record the vendor reports deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedRecord {
    pub id: String,
    pub deleted_at: Option<String>,
}

/// One page of the deleted feed.
#[derive(Debug, Clone, PartialEq)]
pub struct DeletedPage {
    pub records: Vec<DeletedRecord>,
    pub next_cursor: Option<String>,
}

/// Outcome of one input of a batch write.
pub type WriteResult = Result<Record, ConnectorError>;

/// An error a plugin reported, in terms the engine acts on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectorError {
    #[error("not found: {0}")]
    NotFound(String),
    #[error("invalid{}: {message}", if field.is_empty() { String::new() } else { format!(" `{field}`") })]
    Invalid { field: String, message: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("rate limited{}: {message}", retry_after_ms.map(|ms| format!(" (retry after {ms} ms)")).unwrap_or_default())]
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("vendor error {code}{}: {message}", if *http_status > 0 { format!(" (HTTP {http_status})") } else { String::new() })]
    Vendor {
        code: String,
        message: String,
        http_status: u16,
    },
}

/// Why a call did not return a result.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The plugin ran and reported an error.
    #[error("plugin `{plugin}` {function}: {error}")]
    Connector {
        plugin: String,
        function: &'static str,
        error: ConnectorError,
    },
    /// The call breached a limit and was stopped.
    #[error("plugin `{plugin}` stopped in `{function}`: {limit}")]
    Limit {
        plugin: String,
        function: &'static str,
        limit: Limit,
    },
    /// The plugin trapped (panic, unreachable, exit).
    #[error("plugin `{plugin}` crashed in `{function}`: {reason}")]
    Trap {
        plugin: String,
        function: &'static str,
        reason: String,
    },
    /// The plugin returned something the contract does not allow.
    #[error("plugin `{plugin}` returned malformed output from `{function}`: {message}")]
    Protocol {
        plugin: String,
        function: &'static str,
        message: String,
    },
}

impl CallError {
    /// The plugin's own error, if that is what this is.
    pub fn connector_error(&self) -> Option<&ConnectorError> {
        match self {
            CallError::Connector { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The breached limit, if that is what this is.
    pub fn limit(&self) -> Option<Limit> {
        match self {
            CallError::Limit { limit, .. } => Some(*limit),
            _ => None,
        }
    }
}

/// A record's id as text (vendors use strings or numbers).
pub fn id_of(record: &Record, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
