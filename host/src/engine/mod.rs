//! The engine's shared machinery, written once; syncs (`crate::sync`) and
//! trigger rules (`crate::trigger`) are thin clients of it. It reads as the
//! pipeline a record goes through:
//!
//! - [`endpoint`]: where records are read from or written to — a
//!   connection's [`Vendor`](crate::connector::Vendor) and one module.
//! - [`read`]: paging through a listing with guards, so a connector whose
//!   cursor never ends (by mistake or on purpose) cannot keep a run going
//!   for ever, and a record listed twice is seen once.
//! - [`decide`]: pure decisions about one record — unchanged, Ferry's own
//!   echo, or changed; and who wins a two-way conflict.
//! - [`write`]: the exactly-once create — intent, vendor write, and
//!   settling an interrupted write by lookup, never by a lagging search
//!   alone.
//! - [`index`]: a target module's records by match keys, read once.
//! - [`run`]: a run's lifecycle — begun, ended with an honest status,
//!   saved, counted.

pub mod decide;
pub mod endpoint;
pub mod index;
pub mod read;
pub mod run;
pub mod write;

pub use endpoint::Endpoint;
pub use index::MatchIndex;

use crate::connector::CallError;
use crate::store::StoreError;

/// Why the engine could not go on with a read or a write.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{connection}: {} failed: {error}", call_on(call, module))]
    Call {
        connection: String,
        call: &'static str,
        module: String,
        error: Box<CallError>,
    },
    #[error("{connection}: listing `{module}` stopped: {error}")]
    Paging {
        connection: String,
        module: String,
        error: read::PagingError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn call_on(call: &str, module: &str) -> String {
    if module.is_empty() {
        format!("`{call}`")
    } else {
        format!("`{call}` on `{module}`")
    }
}
