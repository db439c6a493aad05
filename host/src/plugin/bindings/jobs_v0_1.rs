//! Bindings for `ferry:jobs@0.1.0`: create jobs a plugin may export beside
//! its connector (Zoho CRM's Bulk Write). Versioned apart from the
//! connector contract; a plugin without the export is unaffected.

use crate::connector::{ConnectorError, JobSize, Record, WriteResult};

wasmtime::component::bindgen!({
    path: "../wit/jobs-v0.1.0",
    world: "jobs",
    exports: { default: async },
});

pub use self::exports::ferry::jobs::write_jobs as wit;

/// The interface a component exports to take create jobs.
pub const EXPORT: &str = "ferry:jobs/write-jobs@0.1.0";

/// `sizes`' answer by module.
pub fn sizes(sizes: Vec<wit::JobSize>) -> Vec<(String, JobSize)> {
    sizes
        .into_iter()
        .map(|s| {
            (
                s.module,
                JobSize {
                    min_records: s.min_records.max(1),
                    max_records: s.max_records.max(1),
                    patience_secs: s.patience_secs,
                },
            )
        })
        .collect()
}

/// A job error as the engine reads it (see [`crate::connector::Vendor`]'s
/// job calls): a lost job is `NotFound`.
pub fn job_error(e: wit::JobError) -> ConnectorError {
    match e {
        wit::JobError::Refused(m) => ConnectorError::Invalid {
            field: String::new(),
            message: m,
        },
        wit::JobError::Unauthorized(m) => ConnectorError::Unauthorized(m),
        wit::JobError::Transient(m) => ConnectorError::Transient(m),
        wit::JobError::Lost(m) => ConnectorError::NotFound(m),
    }
}

/// One outcome of a finished job; `parse` reads a created record's text.
pub fn outcome<E>(
    o: wit::Outcome,
    parse: impl FnOnce(&str) -> Result<Record, E>,
) -> Result<WriteResult, E> {
    Ok(match o {
        wit::Outcome::Created(json) => Ok(parse(&json)?),
        wit::Outcome::Refused((field, message)) => Err(ConnectorError::Invalid { field, message }),
    })
}
