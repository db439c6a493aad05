//! One direction of a sync run: read changes from one side, filter, map,
//! match, write to the other side in batches, and commit per record.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::config::{Conflict, Deletes, FieldPath, OnDuplicate, SyncConfig};
use crate::connector::{CallError, ConnectorError, Operation, Record, WriteResult};
use crate::mapping::{Context, Links, Plan, RecordError, Side};
use crate::store::{
    Counts, Cursor, FieldChange, Intent, IntentOp, LedgerOp, LedgerRow, Link, LinkOrigin,
    RecordCommit, RunRecord, Snapshot, StateStore, unix_now,
};

use super::env::{Endpoint, Env};
use super::fingerprint::{fingerprint, fingerprint_mapped};
use super::index::MatchIndex;
use super::watermark::Watermark;
use super::{Observer, Progress, RunOptions, SyncError};
use crate::connector::id_of;
use crate::engine::read::{PageGuard, PagingError};

/// Rounds of settling unknown outcomes at the end of a pass.
const SETTLE_ROUNDS: usize = 5;

/// The link table as mapping lookups see it.
pub struct StoreLinks<'a>(pub &'a dyn StateStore);

impl Links for StoreLinks<'_> {
    fn linked(&self, sync: &str, side: Side, id: &str) -> Option<String> {
        self.0.link(sync, side, id).ok().flatten().map(|l| l.other)
    }
}

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

fn instant(text: &str) -> Option<DateTime<FixedOffset>> {
    crate::mapping::expr::parse_datetime(text)
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
    updates: Vec<PendingUpdate>,
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
    reads: std::collections::BTreeSet<String>,
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
            updates: Vec::new(),
            incomplete: 0,
            watermark: Watermark::new(now),
            index: None,
            env: None,
            reads: plan.reads(),
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
        SyncError::Call {
            connection: end.connection.clone(),
            call,
            module: end.module().to_string(),
            error: Box::new(error),
        }
    }

    fn paging_error(&self, end: &Endpoint, error: PagingError) -> SyncError {
        SyncError::Paging {
            connection: end.connection.clone(),
            module: end.module().to_string(),
            error,
        }
    }

    /// Read every change since the cursor and sync it; `observer` sees
    /// every page too (trigger rules watching the source module).
    pub async fn run(
        mut self,
        mut observer: Option<&mut dyn Observer>,
    ) -> Result<PassEnd, SyncError> {
        self.settle_intents().await?;
        let old = if self.options.full {
            None
        } else {
            self.store.cursor(self.ns(), self.side)?
        };
        let mut since = old.as_ref().and_then(|c| c.since.clone());
        if old.is_none() {
            self.index = self.build_index().await?;
        }
        if let Some(observer) = &observer {
            since = earlier(since, observer.since());
        }
        let incremental = self.src.info.supports(Operation::Incremental);
        let mut page_cursor: Option<String> = None;
        let mut guard = PageGuard::new(self.src.connector.limits().pages);
        loop {
            let page = self
                .src
                .connector
                .list(
                    self.src.module(),
                    since.as_deref().filter(|_| incremental),
                    page_cursor.as_deref(),
                )
                .await
                .map_err(|e| self.call_error(self.src, "list", e))?;
            let (records, next) =
                guard.page(page.records, &self.src.info.id_field, page.next_cursor);
            let next = next.map_err(|e| self.paging_error(self.src, e));
            let seen = observer.is_some().then(|| records.clone());
            for record in records {
                self.record(record).await?;
            }
            self.flush().await?;
            if let (Some(observer), Some(seen)) = (observer.as_mut(), seen) {
                // After the page's writes, so a rule acting on what the
                // sync just created finds it.
                observer.observe(&seen).await;
            }
            self.progress.update(&self.run.counts);
            if self.options.stopping() {
                // Everything read so far is committed; the next run reads
                // on from the old cursor.
                self.incomplete += 1;
                return Ok(PassEnd {
                    cursor: None,
                    incomplete: self.incomplete,
                });
            }
            match next? {
                Some(next) => page_cursor = Some(next),
                None => break,
            }
        }
        let deleted_since = self.deletions(old.as_ref()).await?;
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
        let cursor = (self.incomplete == 0 && !self.options.dry_run).then(|| Cursor {
            since,
            deleted_since,
            stored: unix_now(),
        });
        Ok(PassEnd {
            cursor,
            incomplete: self.incomplete,
        })
    }

    /// Sync one record read from the source (also used for `--record`).
    pub async fn record(&mut self, mut record: Record) -> Result<(), SyncError> {
        self.run.counts.read += 1;
        let Some(id) = id_of(&record, &self.src.info.id_field) else {
            self.ledger_only(
                "?",
                None,
                LedgerOp::Fail,
                format!("record has no `{}`", self.src.info.id_field),
            )?;
            return Ok(());
        };
        let modified = text_of(&record, self.src.info.modified_field.as_deref());
        self.watermark.note(modified.as_deref());
        if self.shared.settled.contains(&(self.side, id.clone())) {
            return Ok(());
        }
        if self.reads.iter().any(|f| !record.contains_key(f)) {
            // A list row without fields the mapping reads (finance lists
            // leave out addresses): unchanged since last seen, or read
            // in full.
            let seen = self.store.snapshot(self.ns(), self.side, &id)?;
            if let (Some(m), Some(seen)) = (&modified, &seen)
                && equal_time_proves_unchanged(seen, m)
            {
                self.run.counts.unchanged += 1;
                return Ok(());
            }
            match self.src.connector.get(self.src.module(), &id).await {
                Ok(full) => record = full,
                Err(e) => return Err(self.call_error(self.src, "get", e)),
            }
        }
        let json = Value::Object(record);
        let links = StoreLinks(self.store);
        let ctx = Context::new(&links).at(self.now);
        match self.plan.accepts(&json, &ctx) {
            Ok(true) => {}
            Ok(false) => {
                return self.ledger_only(
                    &id,
                    None,
                    LedgerOp::Skip,
                    "the sync's view filter excludes it".into(),
                );
            }
            Err(e) => return self.ledger_only(&id, None, LedgerOp::Fail, describe(&e)),
        }
        let Value::Object(record) = json else {
            unreachable!()
        };
        let children = self.children(&id).await?;
        let json = Value::Object(record);
        let ctx = ctx.with_children(children.as_ref());
        // The plan outlives this call; borrowing it apart from `self`
        // lets the mapped record borrow from it while `self` is in use.
        let plan = self.plan;
        let mut applied = plan.map(&json, &ctx);
        if let Err(RecordError {
            missing_link: Some(missing),
            ..
        }) = &applied
            && missing.create
            && let Some(env) = self.env
        {
            if self.options.dry_run {
                // A dry run writes nothing, a parent neither.
                return self.ledger_only(
                    &id,
                    None,
                    LedgerOp::Skip,
                    format!(
                        "would first create its parent `{}` through `{}` (a dry run creates nothing)",
                        missing.id, missing.sync
                    ),
                );
            }
            // `missing: create`: sync the parent first, then map again.
            match super::create_parent(env, missing).await {
                Ok(super::Parent::Linked) => applied = plan.map(&json, &ctx),
                Ok(super::Parent::NotLinked(why)) => {
                    let reason = match &applied {
                        Err(e) => super::Parent::failure(&why, e, missing),
                        Ok(_) => why,
                    };
                    return self.ledger_only(&id, None, LedgerOp::Fail, reason);
                }
                Err(e) => {
                    self.incomplete += 1;
                    return self.ledger_only(
                        &id,
                        None,
                        LedgerOp::Fail,
                        format!(
                            "creating its parent through `{}` failed: {e}; retried next run",
                            missing.sync
                        ),
                    );
                }
            }
        }
        let mapped = match applied {
            Ok(mapped) => mapped,
            Err(e) => return self.ledger_only(&id, None, LedgerOp::Fail, describe(&e)),
        };
        // Most records are unchanged since the last run: fingerprint the
        // mapped record in place, and own it only when it is written.
        let fp = fingerprint_mapped(&mapped);
        let previous = self.store.snapshot(self.ns(), self.side, &id)?;
        if let Some(prev) = &previous
            && (prev.fingerprint == fp
                || (prev.fingerprint.is_empty() && modified.is_some() && prev.modified == modified))
        {
            if prev.modified.is_some() && prev.modified == modified && prev.state.is_none() {
                // Exactly the record Ferry wrote (its snapshot of a write
                // keeps the written time and no state).
                self.watermark.own_write(modified.as_deref());
            }
            // Unchanged, or the echo of Ferry's own write: nothing to send.
            // The snapshot is stored again when its time could not yet
            // prove the next run's row unchanged.
            self.run.counts.unchanged += 1;
            let settles = modified
                .as_deref()
                .is_none_or(|m| equal_time_proves_unchanged(prev, m));
            if (prev.fingerprint != fp || !settles) && !self.options.dry_run {
                let state = mapped.into_json();
                self.store.commit(
                    self.ns(),
                    RecordCommit {
                        snapshots: vec![(self.side, id.clone(), snapshot(&fp, &modified, state))],
                        ..Default::default()
                    },
                )?;
            }
            return Ok(());
        }
        let Some(mapped) = mapped.into_object() else {
            return self.ledger_only(&id, None, LedgerOp::Fail, "mapping gave no object".into());
        };
        let Value::Object(record) = json else {
            unreachable!()
        };
        let snap = snapshot(&fp, &modified, Value::Object(mapped.clone()));
        let link = self.store.link(self.ns(), self.side, &id)?;
        match link {
            Some(link) => {
                self.linked_change(&id, &record, link.other, mapped, snap, previous)
                    .await
            }
            None => self.unlinked(&id, &record, mapped, snap).await,
        }
    }

    /// Child records of `id` (CRM Contacts of an Account), by child name.
    async fn children(&self, id: &str) -> Result<Option<BTreeMap<String, Vec<Value>>>, SyncError> {
        if self.side != Side::From || self.sync.children.is_empty() {
            return Ok(None);
        }
        let mut out = BTreeMap::new();
        for child in &self.sync.children {
            let connector = &self.src.connector;
            // `Account_Name.id` names a lookup: connectors match a lookup
            // field by the id it points at.
            let mut criteria = Map::new();
            criteria.insert(
                child.parent.value.head().to_string(),
                Value::String(id.into()),
            );
            let found = connector
                .find(&child.from.module, &criteria)
                .await
                .map_err(|e| SyncError::Call {
                    connection: child.from.connection.clone(),
                    call: "find",
                    module: child.from.module.clone(),
                    error: Box::new(e),
                })?;
            out.insert(
                child.name.value.clone(),
                found.into_iter().map(Value::Object).collect(),
            );
        }
        Ok(Some(out))
    }

    /// A changed record already linked: update its partner, settling a
    /// two-way conflict first.
    async fn linked_change(
        &mut self,
        id: &str,
        record: &Record,
        target_id: String,
        mut payload: Record,
        snap: Snapshot,
        previous: Option<Snapshot>,
    ) -> Result<(), SyncError> {
        let mut reason = None;
        if self.back.is_some() {
            match self.conflict(record, &target_id).await? {
                Resolution::Proceed(why) => reason = why,
                Resolution::Yield(why) => {
                    self.shared.yielded.insert((self.side, id.to_string()));
                    // The other pass reads the partner's change, finds the
                    // same conflict, wins it and writes its values back:
                    // the partner must not be marked settled, or nobody
                    // would write and the conflict would come back every
                    // run.
                    return self.ledger_only(id, Some(target_id), LedgerOp::Conflict, why);
                }
                Resolution::Stop(why) => {
                    self.shared
                        .settled
                        .insert((other(self.side), target_id.clone()));
                    return self.ledger_only(id, Some(target_id), LedgerOp::Conflict, why);
                }
            }
        }
        if !self.dst.info.supports(Operation::Update) {
            return self.ledger_only(
                id,
                Some(target_id),
                LedgerOp::Skip,
                format!("`{}` does not support update", self.dst.module()),
            );
        }
        let diff = diff(previous.as_ref().and_then(|p| p.state.as_ref()), &payload);
        payload.insert(
            self.dst.info.id_field.clone(),
            Value::String(target_id.clone()),
        );
        self.updates.push(PendingUpdate {
            source_id: id.to_string(),
            target_id,
            payload,
            snapshot: snap,
            op: LedgerOp::Update,
            diff,
            reason,
        });
        if self.updates.len() >= self.dst.batch() {
            self.flush_updates().await?;
        }
        Ok(())
    }

    /// Two-way: did the partner change too since Ferry last saw it?
    async fn conflict(
        &mut self,
        record: &Record,
        target_id: &str,
    ) -> Result<Resolution, SyncError> {
        let Some(prev) = self
            .store
            .snapshot(self.ns(), other(self.side), target_id)?
        else {
            return Ok(Resolution::Proceed(None));
        };
        let current = match self.dst.connector.get(self.dst.module(), target_id).await {
            Ok(r) => r,
            Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => {
                return Ok(Resolution::Proceed(None));
            }
            Err(e) => return Err(self.call_error(self.dst, "get", e)),
        };
        let their_modified = text_of(&current, self.dst.info.modified_field.as_deref());
        let their_fp = self.back_fingerprint(&current);
        let changed = !(their_fp.as_deref() == Some(prev.fingerprint.as_str())
            || their_modified
                .as_deref()
                .is_some_and(|m| equal_time_proves_unchanged(&prev, m)));
        if !changed {
            return Ok(Resolution::Proceed(None));
        }
        let ours = text_of(record, self.src.info.modified_field.as_deref());
        let we_win = match self.sync.conflict {
            Conflict::Skip => {
                return Ok(Resolution::Stop(
                    "changed on both sides since the last run; `conflict: skip` leaves both".into(),
                ));
            }
            Conflict::From => self.side == Side::From,
            Conflict::To => self.side == Side::To,
            Conflict::Newest => {
                match (
                    ours.as_deref().and_then(instant),
                    their_modified.as_deref().and_then(instant),
                ) {
                    // A tie goes to `from`, whichever pass asks.
                    (Some(a), Some(b)) if self.side == Side::From => a >= b,
                    (Some(a), Some(b)) => a > b,
                    _ => self.side == Side::From,
                }
            }
        };
        let policy = match self.sync.conflict {
            Conflict::Newest => "the newest change wins",
            Conflict::From => "the `from` side wins",
            Conflict::To => "the `to` side wins",
            Conflict::Skip => unreachable!(),
        };
        if we_win {
            // Counted by the pass that yielded, when one did.
            if !self
                .shared
                .yielded
                .contains(&(other(self.side), target_id.to_string()))
            {
                self.run.counts.conflicts += 1;
            }
            Ok(Resolution::Proceed(Some(format!(
                "changed on both sides; {policy}: this side's values were written"
            ))))
        } else {
            Ok(Resolution::Yield(format!(
                "changed on both sides; {policy}: the other side's values are written back"
            )))
        }
    }

    fn back_fingerprint(&self, record: &Record) -> Option<String> {
        let back = self.back?;
        let links = StoreLinks(self.store);
        let ctx = Context::new(&links).at(self.now);
        back.apply(&Value::Object(record.clone()), &ctx)
            .ok()
            .map(|v| fingerprint(&v))
    }

    /// A changed record with no link: match it, then create, link or skip.
    async fn unlinked(
        &mut self,
        id: &str,
        record: &Record,
        payload: Record,
        snap: Snapshot,
    ) -> Result<(), SyncError> {
        let lookup = self.lookup(record);
        let indexed = self.index.as_ref().and_then(|ix| ix.get(&lookup));
        if !lookup.is_empty()
            && (indexed.is_some() || self.dst.info.supports(Operation::Find))
            && self.sync.on_duplicate != OnDuplicate::Clone
        {
            let matches: Vec<String> = match indexed {
                Some(ids) => ids.to_vec(),
                None => self
                    .dst
                    .connector
                    .find(self.dst.module(), &lookup)
                    .await
                    .map_err(|e| self.call_error(self.dst, "find", e))?
                    .iter()
                    .filter_map(|r| id_of(r, &self.dst.info.id_field))
                    .collect(),
            };
            if let Some(existing) = matches.first() {
                let taken = self.store.link(self.ns(), other(self.side), existing)?;
                if let Some(taken) = taken {
                    return self.ledger_only(
                        id,
                        Some(existing.clone()),
                        LedgerOp::Skip,
                        format!(
                            "its match {existing} is already linked to {}; not linking twice",
                            taken.other
                        ),
                    );
                }
                return match self.sync.on_duplicate {
                    OnDuplicate::Skip => self.ledger_only(
                        id,
                        Some(existing.clone()),
                        LedgerOp::Skip,
                        format!(
                            "a matching record {existing} exists; `on_duplicate: skip` keeps it"
                        ),
                    ),
                    _ => {
                        let mut payload = payload;
                        payload.insert(
                            self.dst.info.id_field.clone(),
                            Value::String(existing.clone()),
                        );
                        self.updates.push(PendingUpdate {
                            source_id: id.to_string(),
                            target_id: existing.clone(),
                            payload,
                            snapshot: snap,
                            op: LedgerOp::Link,
                            diff: Vec::new(),
                            reason: Some(format!(
                                "matched {existing} by {}; `on_duplicate: overwrite` linked and updated it",
                                lookup.keys().cloned().collect::<Vec<_>>().join(", ")
                            )),
                        });
                        if self.updates.len() >= self.dst.batch() {
                            self.flush_updates().await?;
                        }
                        Ok(())
                    }
                };
            }
        }
        if !self.dst.info.supports(Operation::Create) {
            return self.ledger_only(
                id,
                None,
                LedgerOp::Skip,
                format!("`{}` does not support create", self.dst.module()),
            );
        }
        self.creates.push(PendingCreate {
            source_id: id.to_string(),
            payload,
            snapshot: snap,
            lookup,
        });
        if self.creates.len() >= self.dst.batch() {
            self.flush_creates().await?;
        }
        Ok(())
    }

    /// On a first run, index the target by the match keys (one listing)
    /// rather than `find` each source record.
    async fn build_index(&self) -> Result<Option<MatchIndex>, SyncError> {
        if self.sync.match_keys.is_empty()
            || self.sync.on_duplicate == OnDuplicate::Clone
            || !self.dst.info.supports(Operation::Read)
        {
            return Ok(None);
        }
        let fields = self
            .sync
            .match_keys
            .iter()
            .map(|(from, to)| match self.side {
                Side::From => to.value.clone(),
                Side::To => from.value.clone(),
            })
            .collect();
        MatchIndex::build(self.dst, fields).await.map(Some)
    }

    /// Target field → value for the match keys, from the source record.
    fn lookup(&self, record: &Record) -> Map<String, Value> {
        let record = Value::Object(record.clone());
        let mut out = Map::new();
        for (from, to) in &self.sync.match_keys {
            let (mine, theirs) = match self.side {
                Side::From => (from, to),
                Side::To => (to, from),
            };
            if let Some(v) = mine.value.get(&record).filter(|v| !v.is_null()) {
                out.insert(theirs.value.as_str().to_string(), v.clone());
            }
        }
        out
    }

    async fn flush(&mut self) -> Result<(), SyncError> {
        self.flush_creates().await?;
        self.flush_updates().await
    }

    fn intent_key(&self, source_id: &str) -> String {
        let side = match self.side {
            Side::From => "f",
            Side::To => "t",
        };
        format!("{side}:{source_id}")
    }

    async fn flush_creates(&mut self) -> Result<(), SyncError> {
        if self.creates.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.creates);
        if self.options.dry_run {
            for c in batch {
                self.ledger_only(&c.source_id, None, LedgerOp::Create, "would create".into())?;
            }
            return Ok(());
        }
        let intents: Vec<Intent> = batch
            .iter()
            .map(|c| Intent {
                key: self.intent_key(&c.source_id),
                side: other(self.side),
                source_id: c.source_id.clone(),
                op: IntentOp::Create,
                lookup: c.lookup.clone(),
                run: self.run.id,
                created: unix_now(),
            })
            .collect();
        self.store.put_intents(self.ns(), &intents)?;
        let payloads: Vec<Record> = batch.iter().map(|c| c.payload.clone()).collect();
        let results = match self
            .dst
            .connector
            .create(self.dst.module(), &payloads)
            .await
        {
            Ok(results) => results,
            Err(e) => {
                // The call may or may not have created them: the intents
                // stay, and are settled by looking the records up.
                let reason = format!("create outcome unknown ({e}); settled by lookup");
                tracing::warn!(sync = self.ns(), "{reason}");
                return Ok(());
            }
        };
        for ((create, intent), result) in batch.into_iter().zip(intents).zip(results) {
            self.created(create, intent, result).await?;
        }
        Ok(())
    }

    async fn created(
        &mut self,
        create: PendingCreate,
        intent: Intent,
        result: WriteResult,
    ) -> Result<(), SyncError> {
        match result {
            Ok(written) => {
                let Some(target_id) = id_of(&written, &self.dst.info.id_field) else {
                    // Created, but we cannot tell which record: keep the
                    // intent so the lookup settles it.
                    return Ok(());
                };
                if let Some(index) = &mut self.index {
                    index.insert(&create.lookup, &target_id);
                }
                let target_snap = self.target_snapshot(&target_id, &written).await;
                self.commit_write(
                    &create.source_id,
                    &target_id,
                    create.snapshot,
                    target_snap,
                    LedgerOp::Create,
                    Vec::new(),
                    None,
                    vec![intent.key],
                    true,
                )
            }
            Err(e) if is_retryable(&e) => {
                // Possibly written: settled by lookup later.
                tracing::warn!(sync = self.ns(), record = create.source_id, "create: {e}");
                Ok(())
            }
            Err(e) => {
                self.store.commit(
                    self.ns(),
                    RecordCommit {
                        intents_done: vec![intent.key],
                        ledger: Some(self.row(
                            &create.source_id,
                            None,
                            LedgerOp::Fail,
                            Some(e.to_string()),
                        )),
                        ..Default::default()
                    },
                )?;
                self.run.counts.failed += 1;
                Ok(())
            }
        }
    }

    async fn flush_updates(&mut self) -> Result<(), SyncError> {
        if self.updates.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.updates);
        if self.options.dry_run {
            for u in batch {
                let what = if u.op == LedgerOp::Link {
                    "would link and update"
                } else {
                    "would update"
                };
                self.ledger_only(
                    &u.source_id,
                    Some(u.target_id),
                    u.op,
                    u.reason.unwrap_or_else(|| what.into()),
                )?;
            }
            return Ok(());
        }
        let payloads: Vec<Record> = batch.iter().map(|u| u.payload.clone()).collect();
        let results = match self
            .dst
            .connector
            .update(self.dst.module(), &payloads)
            .await
        {
            Ok(results) => results,
            Err(e) => {
                // Updates are idempotent: the next run sends them again.
                self.incomplete += batch.len() as u64;
                for u in &batch {
                    self.ledger_only(
                        &u.source_id,
                        Some(u.target_id.clone()),
                        LedgerOp::Fail,
                        format!("update failed ({e}); retried next run"),
                    )?;
                }
                return Ok(());
            }
        };
        for (update, result) in batch.into_iter().zip(results) {
            match result {
                Ok(written) => {
                    let target_snap = self.target_snapshot(&update.target_id, &written).await;
                    self.commit_write(
                        &update.source_id,
                        &update.target_id,
                        update.snapshot,
                        target_snap,
                        update.op,
                        update.diff,
                        update.reason,
                        Vec::new(),
                        update.op == LedgerOp::Link,
                    )?;
                }
                Err(ConnectorError::NotFound(m)) => {
                    // The partner is gone: forget the link so the next
                    // change creates it again (or the delete policy applies).
                    self.store.commit(
                        self.ns(),
                        RecordCommit {
                            unlinks: vec![(
                                self.side,
                                update.source_id.clone(),
                                update.target_id.clone(),
                            )],
                            ledger: Some(self.row(
                                &update.source_id,
                                Some(update.target_id.clone()),
                                LedgerOp::Fail,
                                Some(format!("linked record is gone ({m}); link removed")),
                            )),
                            ..Default::default()
                        },
                    )?;
                    self.run.counts.failed += 1;
                }
                Err(e) => {
                    if is_retryable(&e) {
                        self.incomplete += 1;
                    }
                    self.ledger_only(
                        &update.source_id,
                        Some(update.target_id),
                        LedgerOp::Fail,
                        e.to_string(),
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The snapshot of a record Ferry just wrote, so that reading it back
    /// in the other direction is recognised as an echo.
    async fn target_snapshot(&self, target_id: &str, written: &Record) -> Option<Snapshot> {
        let back = self.back?;
        let modified_field = self.dst.info.modified_field.as_deref();
        let mut record = written.clone();
        // A write's answer may carry only the id and times (Zoho CRM):
        // read the record back when it lacks what the reverse mapping
        // reads, so its fingerprint is that of the record as it now is.
        let partial = |r: &Record| {
            modified_field.is_some_and(|f| !r.contains_key(f))
                || back.reads().iter().any(|f| !r.contains_key(f))
        };
        if partial(&record)
            && let Ok(fresh) = self.dst.connector.get(self.dst.module(), target_id).await
        {
            record = fresh;
        }
        let modified = text_of(&record, modified_field);
        // Still partial (the read failed): the modified time alone
        // identifies the echo.
        let fingerprint = if partial(&record) {
            String::new()
        } else {
            self.back_fingerprint(&record).unwrap_or_default()
        };
        Some(Snapshot {
            fingerprint,
            modified,
            state: None,
            version: 0,
            taken: unix_now(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_write(
        &mut self,
        source_id: &str,
        target_id: &str,
        source_snap: Snapshot,
        target_snap: Option<Snapshot>,
        op: LedgerOp,
        diff: Vec<FieldChange>,
        reason: Option<String>,
        intents_done: Vec<String>,
        new_link: bool,
    ) -> Result<(), SyncError> {
        let mut snapshots = vec![(self.side, source_id.to_string(), source_snap)];
        if let Some(t) = target_snap {
            snapshots.push((other(self.side), target_id.to_string(), t));
        }
        let links = if new_link {
            vec![(
                self.side,
                source_id.to_string(),
                Link {
                    other: target_id.to_string(),
                    origin: LinkOrigin::Sync,
                    created: unix_now(),
                },
            )]
        } else {
            Vec::new()
        };
        let mut row = self.row(source_id, Some(target_id.to_string()), op, reason);
        row.diff = diff;
        self.store.commit(
            self.ns(),
            RecordCommit {
                links,
                snapshots,
                intents_done,
                ledger: Some(row),
                ..Default::default()
            },
        )?;
        self.run.counts.count(op);
        Ok(())
    }

    fn row(
        &self,
        source_id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: Option<String>,
    ) -> LedgerRow {
        LedgerRow {
            run: self.run.id,
            from_side: self.side,
            source_id: source_id.to_string(),
            target_id,
            op,
            reason,
            diff: Vec::new(),
            rule: None,
        }
    }

    /// A ledger row with nothing else to commit.
    fn ledger_only(
        &mut self,
        source_id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), SyncError> {
        let row = self.row(source_id, target_id, op, Some(reason));
        self.store.commit(
            self.ns(),
            RecordCommit {
                ledger: Some(row),
                ..Default::default()
            },
        )?;
        self.run.counts.count(op);
        Ok(())
    }

    /// Settle intents a crash or an unknown outcome left: look the record
    /// up; link it if it exists, else sync the source record again.
    async fn settle_intents(&mut self) -> Result<(), SyncError> {
        let target = other(self.side);
        let pending: Vec<Intent> = self
            .store
            .pending_intents(self.ns())?
            .into_iter()
            .filter(|i| i.side == target && i.op == IntentOp::Create)
            .collect();
        // Listings of the target by lookup fields, made only when a search
        // finds nothing (see below), once per set of fields.
        let mut listed: BTreeMap<Vec<String>, MatchIndex> = BTreeMap::new();
        for intent in pending {
            if self.options.dry_run {
                continue;
            }
            if intent.lookup.is_empty() || !self.dst.info.supports(Operation::Find) {
                // Nothing to look it up by: never risk a duplicate.
                self.store.commit(
                    self.ns(),
                    RecordCommit {
                        intents_done: vec![intent.key.clone()],
                        ledger: Some(self.row(
                            &intent.source_id,
                            None,
                            LedgerOp::Fail,
                            Some("a create was interrupted and the sync has no match keys to find its result; check the target, then `ferry sync retry`".into()),
                        )),
                        ..Default::default()
                    },
                )?;
                self.run.counts.failed += 1;
                continue;
            }
            let found = self
                .dst
                .connector
                .find(self.dst.module(), &intent.lookup)
                .await
                .map_err(|e| self.call_error(self.dst, "find", e))?;
            let unlinked = |tid: &String| {
                self.store
                    .link(self.ns(), target, tid)
                    .ok()
                    .flatten()
                    .is_none()
            };
            let mut existing = found
                .iter()
                .filter_map(|r| id_of(r, &self.dst.info.id_field))
                .find(unlinked);
            if existing.is_none() {
                // A vendor's search may lag its writes (Zoho CRM's does):
                // "not found" is trusted only once a listing, which does
                // not lag, agrees. Rare (an interrupted create), and worth
                // a listing to never create twice.
                let keys: Vec<String> = intent.lookup.keys().cloned().collect();
                if !listed.contains_key(&keys) {
                    let fields = keys
                        .iter()
                        .filter_map(|k| FieldPath::parse(k).ok())
                        .collect();
                    listed.insert(keys.clone(), MatchIndex::build(self.dst, fields).await?);
                }
                existing = listed[&keys]
                    .get(&intent.lookup)
                    .unwrap_or_default()
                    .iter()
                    .find(|tid| unlinked(tid))
                    .cloned();
            }
            match existing {
                Some(target_id) => {
                    // It was created: link it. Its fingerprint is unknown,
                    // so the source record is synced once more on its next
                    // change (an update, never a second create).
                    self.commit_write(
                        &intent.source_id,
                        &target_id,
                        Snapshot {
                            fingerprint: String::new(),
                            modified: None,
                            state: None,
                            version: 0,
                            taken: unix_now(),
                        },
                        None,
                        LedgerOp::Link,
                        Vec::new(),
                        Some("an interrupted create had succeeded; linked".into()),
                        vec![intent.key.clone()],
                        true,
                    )?;
                    // Bring it up to date now.
                    self.resync(&intent.source_id).await?;
                }
                None => {
                    self.store.commit(
                        self.ns(),
                        RecordCommit {
                            intents_done: vec![intent.key.clone()],
                            ..Default::default()
                        },
                    )?;
                    self.resync(&intent.source_id).await?;
                }
            }
        }
        self.flush().await
    }

    /// Creates into the other side whose outcome is still unknown.
    fn unsettled(&self) -> Result<u64, SyncError> {
        let target = other(self.side);
        Ok(self
            .store
            .pending_intents(self.ns())?
            .iter()
            .filter(|i| i.side == target)
            .count() as u64)
    }

    /// Fetch one source record and sync it.
    pub async fn resync(&mut self, source_id: &str) -> Result<(), SyncError> {
        match self.src.connector.get(self.src.module(), source_id).await {
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

    /// Finish a single-record pass.
    pub async fn finish(mut self) -> Result<Counts, SyncError> {
        self.flush().await?;
        self.settle_intents().await?;
        Ok(self.run.counts)
    }

    /// Apply the delete policy to records the source reports deleted.
    async fn deletions(&mut self, old: Option<&Cursor>) -> Result<Option<String>, SyncError> {
        let since = old.and_then(|c| c.deleted_since.clone());
        if self.sync.deletes == Deletes::Ignore
            || !self.src.info.supports(Operation::DeletedFeed)
            || self.options.dry_run
        {
            return Ok(since);
        }
        let mut latest = since.clone();
        let mut page_cursor = None;
        let mut guard = PageGuard::new(self.src.connector.limits().pages);
        loop {
            let page = self
                .src
                .connector
                .deleted(self.src.module(), since.as_deref(), page_cursor.as_deref())
                .await
                .map_err(|e| self.call_error(self.src, "deleted", e))?;
            let next = guard
                .next(page.records.iter().map(|g| g.id.as_str()), page.next_cursor)
                .map_err(|e| self.paging_error(self.src, e))?;
            for gone in page.records {
                if let Some(at) = &gone.deleted_at
                    && latest.as_deref().and_then(instant) < instant(at)
                {
                    latest = Some(at.clone());
                }
                self.deleted(&gone.id).await?;
            }
            match next {
                Some(next) => page_cursor = Some(next),
                None => break,
            }
        }
        Ok(latest)
    }

    async fn deleted(&mut self, id: &str) -> Result<(), SyncError> {
        let Some(link) = self.store.link(self.ns(), self.side, id)? else {
            return Ok(());
        };
        let target_id = link.other;
        let result = match self.sync.deletes {
            Deletes::Ignore => return Ok(()),
            Deletes::Propagate => {
                match self
                    .dst
                    .connector
                    .delete(self.dst.module(), std::slice::from_ref(&target_id))
                    .await
                {
                    Ok(mut r) if !r.is_empty() => r.remove(0).map(|_| ()),
                    Ok(_) => Ok(()),
                    Err(e) => return Err(self.call_error(self.dst, "delete", e)),
                }
            }
            Deletes::Archive => {
                let action = crate::config::ARCHIVE_ACTIONS
                    .iter()
                    .copied()
                    .find(|a| self.dst.info.action(a).is_some());
                let Some(action) = action else {
                    return self.ledger_only(
                        id,
                        Some(target_id),
                        LedgerOp::Skip,
                        format!(
                            "`{}` has no deactivate action to archive with",
                            self.dst.module()
                        ),
                    );
                };
                self.dst
                    .connector
                    .act(self.dst.module(), &target_id, action, &Map::new())
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        e.connector_error()
                            .cloned()
                            .unwrap_or(ConnectorError::Transient(e.to_string()))
                    })
            }
        };
        match result {
            Ok(()) | Err(ConnectorError::NotFound(_)) => {
                let mut row = self.row(id, Some(target_id.clone()), LedgerOp::Delete, None);
                row.reason = Some(match self.sync.deletes {
                    Deletes::Archive => "deleted at the source; archived".into(),
                    _ => "deleted at the source; deleted".into(),
                });
                self.store.commit(
                    self.ns(),
                    RecordCommit {
                        unlinks: vec![(self.side, id.to_string(), target_id)],
                        ledger: Some(row),
                        ..Default::default()
                    },
                )?;
                self.run.counts.deleted += 1;
                Ok(())
            }
            Err(e) => {
                if is_retryable(&e) {
                    self.incomplete += 1;
                }
                self.ledger_only(id, Some(target_id), LedgerOp::Fail, format!("delete: {e}"))
            }
        }
    }
}

enum Resolution {
    /// Write this side's values (with a ledger note, if a conflict was won).
    Proceed(Option<String>),
    /// The other side wins; the other pass writes.
    Yield(String),
    /// Nobody writes.
    Stop(String),
}

/// Whether the same call may succeed later.
pub fn is_retryable(e: &ConnectorError) -> bool {
    matches!(
        e,
        ConnectorError::Transient(_)
            | ConnectorError::RateLimited { .. }
            | ConnectorError::Unauthorized(_)
    )
}

fn describe(e: &RecordError) -> String {
    match &e.field {
        Some(f) => format!("`{f}`: {}", e.reason),
        None => e.reason.clone(),
    }
}

/// Whether a record whose modified time is `modified` is unchanged since
/// `snap` by its time alone: the times must be equal and the snapshot taken
/// at least two seconds later (a one-second clock gives a later edit in the
/// same second the same time; the margin absorbs clock skew). Otherwise
/// the record is read in full and compared by content.
///
/// Snapshots stored before they carried their time (`taken` 0) keep the
/// old rule, so an upgrade does not read every record of a module again.
fn equal_time_proves_unchanged(snap: &Snapshot, modified: &str) -> bool {
    snap.modified.as_deref() == Some(modified)
        && (snap.taken == 0
            || instant(modified).is_some_and(|m| snap.taken as i64 >= m.timestamp() + 2))
}

fn snapshot(fp: &str, modified: &Option<String>, state: Value) -> Snapshot {
    Snapshot {
        fingerprint: fp.to_string(),
        modified: modified.clone(),
        state: Some(state),
        version: 0,
        taken: unix_now(),
    }
}

/// Top-level fields that differ between the last mapped state and now.
fn diff(before: Option<&Value>, after: &Record) -> Vec<FieldChange> {
    let empty = Map::new();
    let before = before.and_then(Value::as_object).unwrap_or(&empty);
    let mut out = Vec::new();
    for (k, v) in after {
        let old = before.get(k).cloned().unwrap_or(Value::Null);
        if &old != v {
            out.push(FieldChange {
                field: k.clone(),
                before: old,
                after: v.clone(),
            });
        }
    }
    for (k, v) in before {
        if !after.contains_key(k) {
            out.push(FieldChange {
                field: k.clone(),
                before: v.clone(),
                after: Value::Null,
            });
        }
    }
    out
}
