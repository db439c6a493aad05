//! The engine's shared machinery, written once and used by syncs and
//! trigger rules alike.
//!
//! - [`read`]: paging through a listing with guards, so a connector whose
//!   cursor never ends (by mistake or on purpose) cannot keep a run going
//!   for ever.

pub mod read;
