//! The engine's shared machinery, written once; syncs (`crate::sync`) and
//! trigger rules (`crate::trigger`) are thin clients of it. It reads as the
//! pipeline a record goes through:
//!
//! - [`env`]: a workspace ready to run — its connections' vendors,
//!   described once, and the state store.
//! - [`endpoint`]: where records are read from or written to — a
//!   connection's [`Vendor`](crate::connector::Vendor) and one module.
//! - [`read`]: paging through a listing with guards, so a connector whose
//!   cursor never ends (by mistake or on purpose) cannot keep a run going
//!   for ever, and a record listed twice is seen once.
//! - [`watermark`]: where the next incremental read starts, held back
//!   by records modified close to this read.
//! - [`fingerprint`]: a record's content as one hash, for change
//!   detection.
//! - [`decide`]: pure decisions about one record — unchanged, Ferry's own
//!   echo, or changed; and who wins a two-way conflict.
//! - [`write`]: the exactly-once create — intent, vendor write, and
//!   settling an interrupted write by lookup, never by a lagging search
//!   alone.
//! - [`index`]: a target module's records by match keys, read once.
//! - [`money`]: refusing to copy amounts between organisations whose base
//!   currencies differ.
//! - [`run`]: a run's lifecycle — begun, ended with an honest status,
//!   saved, counted.

pub mod decide;
pub mod endpoint;
pub mod env;
pub mod fingerprint;
pub mod index;
pub mod job;
pub mod money;
pub mod read;
pub mod run;
pub mod watermark;
pub mod write;

pub use endpoint::Endpoint;
pub use env::{Env, EnvOptions, RunGuard};
pub use index::MatchIndex;

use crate::connection::ConnectionError;
use crate::connector::CallError;
use crate::mapping::{Links, Side};
use crate::store::{StateStore, StoreError};

/// The link table as mapping lookups see it.
pub struct StoreLinks<'a>(pub &'a dyn StateStore);

impl Links for StoreLinks<'_> {
    fn linked(&self, sync: &str, side: Side, id: &str) -> Option<String> {
        self.0.link(sync, side, id).ok().flatten().map(|l| l.other)
    }
}

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
    /// Something the workspace names is not there to run (a connection
    /// that could not be described, a module its connector lacks).
    #[error("`{name}`: {message}")]
    Config { name: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connection(#[from] ConnectionError),
}

fn call_on(call: &str, module: &str) -> String {
    if module.is_empty() {
        format!("`{call}`")
    } else {
        format!("`{call}` on `{module}`")
    }
}
