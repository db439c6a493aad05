//! One direction of a sync run: read changes from one side, filter, map,
//! match, write to the other side in batches, and commit per record.
//!
//! - this file: the pass and its page loop;
//! - [`record`]: one record, from its decision to a queued write;
//! - [`write`]: batches of creates and updates, and their commits;
//! - [`settle`]: creates a crash or a lost answer left unknown;
//! - [`delete`]: the source's deletions, by the sync's policy.

mod delete;
mod record;
mod settle;
mod write;

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::config::{LedgerRows, SyncConfig};
use crate::connector::{CallError, ConnectorError, Record};
use crate::engine::decide::instant;
use crate::engine::read::Listing;
use crate::engine::watermark::Watermark;
use crate::engine::{Endpoint, Env, MatchIndex};
use crate::mapping::{Plan, Side};
use crate::store::{
    Counts, Cursor, FieldChange, LedgerOp, RecordCommit, RunRecord, Snapshot, StateStore, unix_now,
};

use super::{Observer, Progress, RunOptions, SyncError};

/// Rounds of settling unknown outcomes at the end of a pass.
const SETTLE_ROUNDS: usize = 5;

pub(super) fn other(side: Side) -> Side {
    match side {
        Side::From => Side::To,
        Side::To => Side::From,
    }
}

fn text_of(record: &Record, field: Option<&str>) -> Option<String> {
    match record.get(field?)? {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The earlier of two inclusive lower bounds; `None` (from the start) wins.
fn earlier(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => match (instant(&a), instant(&b)) {
            (Some(x), Some(y)) if y < x => Some(b),
            _ => Some(a),
        },
        _ => None,
    }
}

/// What the two passes of a two-way run tell each other.
#[derive(Default)]
pub(super) struct Shared {
    /// Records (by side and id) whose conflict the first pass settled; the
    /// second pass leaves them alone.
    pub settled: HashSet<(Side, String)>,
    /// Records (by side and id) whose pass lost a conflict and left the
    /// writing to the other pass: the conflict is counted once, there.
    pub yielded: HashSet<(Side, String)>,
}

/// A create waiting for its batch.
struct PendingCreate {
    source_id: String,
    payload: Record,
    snapshot: Snapshot,
    lookup: Map<String, Value>,
}

/// An update waiting for its batch.
struct PendingUpdate {
    source_id: String,
    target_id: String,
    payload: Record,
    snapshot: Snapshot,
    op: LedgerOp,
    diff: Vec<FieldChange>,
    reason: Option<String>,
}

/// One direction of one run.
pub(super) struct Pass<'a> {
    pub sync: &'a SyncConfig,
    pub store: &'a dyn StateStore,
    /// Side records are read from.
    pub side: Side,
    pub src: &'a Endpoint,
    pub dst: &'a Endpoint,
    /// Maps a `src` record to a `dst` payload.
    pub plan: &'a Plan,
    /// Maps a `dst` record back (two-way runs): fingerprints what Ferry
    /// wrote so its echo is recognised.
    pub back: Option<&'a Plan>,
    pub options: &'a RunOptions,
    pub run: &'a mut RunRecord,
    pub progress: &'a dyn Progress,
    pub shared: &'a mut Shared,
    pub now: DateTime<FixedOffset>,
    creates: Vec<PendingCreate>,
    /// Source ids of `creates`: a record read again before its create
    /// went out replaces it rather than being created twice.
    gathered: HashSet<String>,
    updates: Vec<PendingUpdate>,
    /// While a batch's answers are taken: their commits, made together
    /// when the batch is done (one store transaction, not one each).
    batch_commits: Option<Vec<(String, RecordCommit)>>,
    /// Ledger rows with nothing else to commit (skips, failures), waiting
    /// to go with the next commit or the end of the page.
    rows: Vec<(String, RecordCommit)>,
    /// Keys of this pass's creates whose outcome is unknown until settled:
    /// nothing more is written for their records until then.
    unknown: HashSet<String>,
    /// Records whose write failed in a way the next run must retry: the
    /// cursor must not pass them.
    pub incomplete: u64,
    /// The records' modified times, for the next cursor.
    watermark: Watermark,
    /// The target's match keys, on a first (or `--full`) run.
    index: Option<MatchIndex>,
    /// The workspace, for creating missing parents through their sync.
    env: Option<&'a Env>,
    /// Source fields the mapping reads: a list row without them is read
    /// in full.
    reads: BTreeSet<String>,
    /// Names of the records read since the last flush, for their ledger
    /// rows.
    titles: HashMap<String, String>,
    /// Names their partners have (or will have) on the other side, by
    /// source id, for the same rows.
    target_titles: HashMap<String, String>,
    /// Ids the source listed, on a whole read that must notice deletions
    /// itself (no deleted-records feed): linked records it no longer
    /// lists were deleted.
    listed: Option<HashSet<String>>,
    /// Under `ledger: changes`: records failing from an earlier run, by
    /// id on this side. Skipping one still writes its row, which clears
    /// it from the failing list.
    failing: HashSet<String>,
}

/// How far a pass got.
pub(super) struct PassEnd {
    /// The cursor to store if the run completes; `None`: keep the old one.
    pub cursor: Option<Cursor>,
    /// Records left for the next run to retry.
    pub incomplete: u64,
}

impl<'a> Pass<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        sync: &'a SyncConfig,
        store: &'a dyn StateStore,
        side: Side,
        src: &'a Endpoint,
        dst: &'a Endpoint,
        plan: &'a Plan,
        back: Option<&'a Plan>,
        options: &'a RunOptions,
        run: &'a mut RunRecord,
        progress: &'a dyn Progress,
        shared: &'a mut Shared,
    ) -> Pass<'a> {
        let now = Utc::now().fixed_offset();
        Pass {
            sync,
            store,
            side,
            src,
            dst,
            plan,
            back,
            options,
            run,
            progress,
            shared,
            now,
            creates: Vec::new(),
            gathered: HashSet::new(),
            updates: Vec::new(),
            batch_commits: None,
            rows: Vec::new(),
            unknown: HashSet::new(),
            incomplete: 0,
            watermark: Watermark::new(now),
            index: None,
            env: None,
            reads: plan.reads(),
            titles: HashMap::new(),
            target_titles: HashMap::new(),
            listed: None,
            failing: HashSet::new(),
        }
    }

    /// Let `missing: create` lookups sync the parent record first.
    pub fn with_env(mut self, env: &'a Env) -> Pass<'a> {
        self.env = Some(env);
        self
    }

    fn ns(&self) -> &str {
        &self.sync.name.value
    }

    fn call_error(&self, end: &Endpoint, call: &'static str, error: CallError) -> SyncError {
        end.call_error(call, error).into()
    }

    /// Read every change since the cursor and sync it; `observer` sees
    /// every page too (trigger rules watching the source module).
    pub async fn run(mut self, observer: Option<&mut dyn Observer>) -> Result<PassEnd, SyncError> {
        let end = self.read_all(observer).await;
        // A pass that failed still ledgers what it skipped and why.
        let rows = self.commit_rows();
        let end = end?;
        rows?;
        Ok(end)
    }

    async fn read_all(
        &mut self,
        mut observer: Option<&mut dyn Observer>,
    ) -> Result<PassEnd, SyncError> {
        self.settle_intents().await?;
        if self.sync.ledger == LedgerRows::Changes {
            self.failing = self
                .store
                .failing(self.ns())?
                .into_iter()
                .filter(|f| f.side == self.side)
                .map(|f| f.id)
                .collect();
        }
        let old = if self.options.full {
            None
        } else {
            self.store.cursor(self.ns(), self.side)?
        };
        // The whole module: a first run, `--full`, or `full_read` due.
        let whole = old.as_ref().is_none_or(|c| self.full_read_due(c));
        let mut since = old
            .as_ref()
            .filter(|_| !whole)
            .and_then(|c| c.since.clone());
        if old.is_none() {
            self.index = self.build_index().await?;
        }
        if whole && self.sweeps() {
            self.listed = Some(HashSet::new());
        }
        if let Some(observer) = &observer {
            since = earlier(since, observer.since());
        }
        let mut listing = Listing::new(self.src, since.clone());
        while let Some(records) = listing.next_page().await? {
            let seen = observer.is_some().then(|| records.clone());
            for record in records {
                self.record(record).await?;
                // Records read show while a page's writes are on the way.
                self.progress.update(&self.run.counts);
            }
            // Creates bound for a vendor job gather across pages, unless
            // a rule acts on this page's creates as soon as it is done.
            self.flush_page(observer.is_none()).await?;
            self.commit_rows()?;
            if self.creates.is_empty() {
                // Kept while creates gather: their ledger rows name them.
                self.titles.clear();
                self.target_titles.clear();
            }
            if let (Some(observer), Some(seen)) = (observer.as_mut(), seen) {
                // After the page's writes, so a rule acting on what the
                // sync just created finds it.
                observer.observe(&seen).await;
            }
            self.progress.update(&self.run.counts);
            if self.options.stopping() {
                // Everything read so far is committed; the next run reads
                // on from the old cursor.
                self.flush().await?;
                self.commit_rows()?;
                self.incomplete += 1;
                return Ok(PassEnd {
                    cursor: None,
                    incomplete: self.incomplete,
                });
            }
        }
        // The last gathered creates, before what is unknown is settled.
        self.flush().await?;
        self.commit_rows()?;
        let deleted_since = self.deletions(old.as_ref()).await?;
        if let Some(listed) = self.listed.take() {
            self.sweep(&listed).await?;
        }
        // Writes whose outcome was unknown are settled now, while the
        // records are fresh, rather than at the next run; a settled write
        // may itself end unknown, so a few rounds.
        let mut unsettled = self.unsettled()?;
        for _ in 0..SETTLE_ROUNDS {
            if unsettled == 0 || self.options.dry_run {
                break;
            }
            self.settle_intents().await?;
            unsettled = self.unsettled()?;
        }
        // Still pending: the next run settles them before writing again.
        self.incomplete += unsettled;
        let since = self.watermark.next(since);
        if let Some(observer) = observer.as_mut() {
            observer.finish(since.clone());
        }
        let stored = unix_now();
        let cursor = (self.incomplete == 0 && !self.options.dry_run).then(|| Cursor {
            since,
            deleted_since,
            stored,
            full_read: if whole {
                Some(stored)
            } else {
                old.as_ref().and_then(|c| c.full_read)
            },
        });
        Ok(PassEnd {
            cursor,
            incomplete: self.incomplete,
        })
    }

    /// Whether the sync's `full_read` schedule asks for a whole read now.
    fn full_read_due(&self, old: &Cursor) -> bool {
        let Some(schedule) = &self.sync.full_read else {
            return false;
        };
        let last = old
            .full_read
            .and_then(|s| DateTime::from_timestamp(i64::try_from(s).ok()?, 0));
        crate::schedule::is_due(&schedule.value, last, self.now.with_timezone(&Utc))
    }

    /// Fetch one source record and sync it.
    pub async fn resync(&mut self, source_id: &str) -> Result<(), SyncError> {
        match self.src.vendor.get(self.src.module(), source_id).await {
            Ok(record) => self.record(record).await,
            Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => self
                .ledger_only(
                    source_id,
                    None,
                    LedgerOp::Skip,
                    "the source record no longer exists".into(),
                ),
            Err(e) => Err(self.call_error(self.src, "get", e)),
        }
    }

    /// Give up a single-record pass that failed, keeping the ledger rows
    /// it made (the failure being reported matters more than theirs).
    pub fn abandon(mut self) {
        if let Err(error) = self.commit_rows() {
            tracing::warn!(%error, "ledger rows of a failed pass were not kept");
        }
    }

    /// Finish a single-record pass.
    pub async fn finish(mut self) -> Result<Counts, SyncError> {
        let flushed = self.flush().await;
        let rows = self.commit_rows();
        flushed?;
        rows?;
        self.settle_intents().await?;
        self.commit_rows()?;
        Ok(self.run.counts)
    }
}
