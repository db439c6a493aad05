//! Ferry's state: links, snapshots, cursors, intents, run history and the
//! per-record ledger, plus access tokens. [`StateStore`] is the engine's
//! view; [`EmbeddedStore`] keeps it in the workspace's state directory,
//! on redb (the default) or sled, or in a PostgreSQL database shared by
//! many Ferry processes ([`postgres`]), behind the small [`kv::Backend`]
//! trait.
//!
//! Every key starts with a namespace: a sync's or trigger rule's name.
//! Everything written for one record goes in one [`RecordCommit`], applied
//! atomically. Intents are made durable before the call they announce.

pub mod binding;
mod embedded;
pub mod kv;
pub mod postgres;
mod redb_backend;
mod sled_backend;
mod tokens;
mod types;

pub use embedded::{BackendKind, EmbeddedStore};
pub use tokens::{MemoryTokenStore, StoredToken, TokenStore};
pub use types::*;

/// Why the state store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the state store at {path}: {message}")]
    Open { path: String, message: String },
    /// Another process (a running `ferry serve`) holds the store.
    #[error("cannot open the state store at {path}: it is in use by another Ferry process")]
    InUse { path: String },
    #[error("state store: {0}")]
    Io(String),
    /// This process lost the workspace's lease (it stopped renewing it past
    /// its time to live and another process claimed it): it may not write.
    #[error(
        "state store: this process lost its lease on workspace `{workspace}` (epoch {epoch}); another Ferry process holds it now, so nothing more is written"
    )]
    Fenced { workspace: String, epoch: i64 },
    #[error("state store holds an unreadable {what} entry: {message}")]
    Corrupt { what: &'static str, message: String },
}

/// Which records of a run's ledger to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LedgerFilter {
    #[default]
    All,
    Skipped,
    Failed,
    /// Skipped or failed.
    NotDone,
    /// Changed on both sides since the last run.
    Conflicts,
}

impl LedgerFilter {
    /// Every filter, by its name in URLs.
    pub const ALL: [LedgerFilter; 5] = [
        LedgerFilter::All,
        LedgerFilter::Skipped,
        LedgerFilter::Failed,
        LedgerFilter::NotDone,
        LedgerFilter::Conflicts,
    ];

    /// Its name in URLs (`?filter=`).
    pub fn name(self) -> &'static str {
        match self {
            LedgerFilter::All => "all",
            LedgerFilter::Skipped => "skipped",
            LedgerFilter::Failed => "failed",
            LedgerFilter::NotDone => "not-done",
            LedgerFilter::Conflicts => "conflicts",
        }
    }

    /// The filter of this name.
    pub fn parse(name: &str) -> Option<LedgerFilter> {
        LedgerFilter::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn admits(self, op: LedgerOp) -> bool {
        match self {
            LedgerFilter::All => true,
            LedgerFilter::Skipped => op == LedgerOp::Skip,
            LedgerFilter::Failed => op == LedgerOp::Fail,
            LedgerFilter::NotDone => matches!(op, LedgerOp::Skip | LedgerOp::Fail),
            LedgerFilter::Conflicts => op == LedgerOp::Conflict,
        }
    }
}

/// The state the sync engine and triggers keep. Methods are coarse and
/// keyed by namespace so a shared (multi-worker) backend can implement
/// them with one round trip each.
pub trait StateStore: Send + Sync {
    /// Links of `id` on `side`, oldest first (syncs keep one; trigger rules
    /// may keep several: a deal's invoices).
    fn links(&self, ns: &str, side: Side, id: &str) -> Result<Vec<Link>, StoreError>;

    /// The first link of `id`, if any.
    fn link(&self, ns: &str, side: Side, id: &str) -> Result<Option<Link>, StoreError> {
        Ok(self.links(ns, side, id)?.into_iter().next())
    }

    /// Every link of a namespace as `(from id, to id, link)`.
    fn all_links(&self, ns: &str) -> Result<Vec<(String, String, Link)>, StoreError>;

    /// [`StateStore::all_links`], or only those of the `from` record `id`.
    fn links_listed(
        &self,
        ns: &str,
        id: Option<&str>,
    ) -> Result<Vec<(String, String, Link)>, StoreError> {
        match id {
            Some(id) => Ok(self
                .links(ns, Side::From, id)?
                .into_iter()
                .map(|l| (id.to_string(), l.other.clone(), l))
                .collect()),
            None => self.all_links(ns),
        }
    }

    fn snapshot(&self, ns: &str, side: Side, id: &str) -> Result<Option<Snapshot>, StoreError>;

    /// Every snapshot of a namespace on one side, as `(id, snapshot)`, by
    /// id. For small namespaces (a trigger watch's backlog), not for a
    /// sync's records.
    fn snapshots(&self, ns: &str, side: Side) -> Result<Vec<(String, Snapshot)>, StoreError>;

    fn cursor(&self, ns: &str, side: Side) -> Result<Option<Cursor>, StoreError>;

    /// Store the cursor durably, together with the run's end.
    fn set_cursor(&self, ns: &str, side: Side, cursor: &Cursor) -> Result<(), StoreError>;

    /// Forget the cursors (`--full`).
    fn clear_cursors(&self, ns: &str) -> Result<(), StoreError>;

    /// Store intents durably (flushed) before the calls they announce.
    fn put_intents(&self, ns: &str, intents: &[Intent]) -> Result<(), StoreError>;

    /// Intents not yet settled.
    fn pending_intents(&self, ns: &str) -> Result<Vec<Intent>, StoreError>;

    /// Whether the trigger firing `key` was done.
    fn is_fired(&self, ns: &str, key: &str) -> Result<bool, StoreError>;

    /// Apply everything written for one record atomically.
    fn commit(&self, ns: &str, commit: RecordCommit) -> Result<(), StoreError>;

    /// Apply several records' commits, each under its namespace, in one
    /// transaction: a batch's answers cost one commit, not one each.
    fn commit_all(&self, commits: Vec<(String, RecordCommit)>) -> Result<(), StoreError> {
        for (ns, commit) in commits {
            self.commit(&ns, commit)?;
        }
        Ok(())
    }

    /// Make every earlier commit durable.
    fn flush(&self) -> Result<(), StoreError>;

    /// Start a run; returns its record with the next id.
    fn begin_run(&self, ns: &str, trigger: RunTrigger) -> Result<RunRecord, StoreError>;

    /// Store a run's progress or end (durable).
    fn save_run(&self, run: &RunRecord) -> Result<(), StoreError>;

    /// Runs of a namespace, newest first, at most `limit`.
    fn runs(&self, ns: &str, limit: usize) -> Result<Vec<RunRecord>, StoreError>;

    fn run(&self, ns: &str, id: u64) -> Result<Option<RunRecord>, StoreError>;

    /// Ledger rows of a run, in order, after skipping `offset` admitted
    /// rows, at most `limit`.
    fn ledger(
        &self,
        ns: &str,
        run: u64,
        filter: LedgerFilter,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<LedgerRow>, StoreError>;

    fn set_paused(&self, ns: &str, paused: bool) -> Result<(), StoreError>;

    fn is_paused(&self, ns: &str) -> Result<bool, StoreError>;

    /// Records whose latest outcome was a failure, across runs: a commit
    /// whose ledger row fails a record adds it, any later row for the same
    /// record (written, skipped, unchanged…) removes it.
    fn failing(&self, ns: &str) -> Result<Vec<Failing>, StoreError>;
}
