//! A vendor's export file, read through the host's `ferry:bulk/download`
//! capability: the host downloads it once, keeps it on disk, and hands out
//! a slice of rows per call, so a plugin's listing cursor only says which
//! file and which row. Importing this needs a host that offers
//! `ferry:bulk/download@0.1.0`.

use crate::ConnectorError;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/bulk-v0.1.0",
        world: "imports",
    });
}

use bindings::ferry::bulk::download as wit;

pub use wit::{DownloadError, Rows};

/// Pause this call (the host caps one wait at 5 s): between polls of a job
/// the vendor is still preparing. The wait counts against the call's time
/// limit, so poll a few times, then hand a cursor back.
pub fn wait(ms: u32) {
    wit::wait(ms)
}

/// Rows `from .. from + max` of the CSV a GET of `url` returns (a ZIP
/// archive holding it when `zipped`). `url` is relative to the
/// connection's base URL when it starts with `/`. While the file is still
/// downloading (in the background) the answer may be no rows with `more`
/// set: hand back a cursor that asks for the same row again.
pub fn csv_rows(url: &str, zipped: bool, from: u64, max: u32) -> Result<Rows, DownloadError> {
    wit::csv_rows(url, zipped, from, max)
}

impl From<DownloadError> for ConnectorError {
    /// A refused URL is not worth retrying; a failed transfer may be. A
    /// vendor's own answer is better read by the plugin, which knows its
    /// error bodies; this is the generic reading by status.
    fn from(e: DownloadError) -> ConnectorError {
        match e {
            DownloadError::Denied(m) => {
                ConnectorError::vendor("denied", format!("download denied by the host: {m}"), 0)
            }
            DownloadError::Status((status, body)) => ConnectorError::from_status(status, body),
            DownloadError::Failed(m) => ConnectorError::Transient(format!("download failed: {m}")),
        }
    }
}
