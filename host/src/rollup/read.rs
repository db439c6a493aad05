//! The read stage: children read since the cursor, each turned into its
//! contribution; a contribution that changed (or a child that left) moves
//! between parents' stored states and marks those parents pending. Each
//! page's changes commit together, so a crash leaves the state whole.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::Utc;
use serde_json::{Value, json};

use crate::connector::{Operation, Record, id_of};
use crate::engine::decide::instant;
use crate::engine::fingerprint::fingerprint;
use crate::engine::read::Listing;
use crate::engine::read::PageGuard;
use crate::engine::watermark::Watermark;
use crate::mapping::{Contribution, Side};
use crate::store::{Cursor, LedgerOp, LedgerRow, RecordCommit, Snapshot, unix_now};

use super::{ParentState, Pass, RollupError, parents_ns, pending_ns};

/// Changes of this run not yet committed.
#[derive(Debug, Default)]
pub(crate) struct Overlay {
    pub parents: HashMap<String, ParentState>,
    /// Child id → its new snapshot; `None`: it counts towards no parent.
    pub children: HashMap<String, Option<Snapshot>>,
    /// Parents whose children changed.
    pub dirty: BTreeSet<String>,
}

impl Pass<'_> {
    /// Read the children changed since the cursor (all of them with
    /// `--full`), then the deleted feed. `Ok(None)`: asked to stop;
    /// otherwise where the next read starts.
    pub(super) async fn read(&mut self) -> Result<Option<Cursor>, RollupError> {
        let stored = self
            .store
            .cursor(&self.name, Side::From)?
            .unwrap_or_default();
        let since = stored.since.filter(|_| !self.options.full);
        // The cursor follows the vendor's clock, not the figures' `now`.
        let mut watermark = Watermark::new(Utc::now().fixed_offset());
        let mut seen: Option<HashSet<String>> = self.options.full.then(HashSet::new);
        let modified_field = self.src.info.modified_field.clone();
        let mut listing = Listing::new(self.src, since.clone());
        while let Some(records) = listing.next_page().await? {
            for record in records {
                let modified = modified_field
                    .as_deref()
                    .and_then(|f| record.get(f))
                    .and_then(Value::as_str);
                watermark.note(modified);
                self.child(record, seen.as_mut())?;
            }
            self.commit_overlay()?;
            if self.stopping() {
                return Ok(None);
            }
        }
        if let Some(seen) = seen {
            // Children the state holds that a full listing no longer has
            // were deleted at the source.
            let gone: Vec<String> = self
                .store
                .snapshots(&self.name, Side::From)?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !seen.contains(id))
                .collect();
            for id in gone {
                self.set_child(&id, None)?;
            }
            self.commit_overlay()?;
        }
        // A full read found the deleted children already; its feed goes on
        // from where it was.
        let deleted_since = if self.options.full {
            stored.deleted_since
        } else {
            self.deletions(stored.deleted_since).await?
        };
        Ok(Some(Cursor {
            since: watermark.next(since),
            deleted_since,
            stored: unix_now(),
            full_read: None,
        }))
    }

    /// Children the source's deleted feed reports (where it has one) leave
    /// their parents. Returns where the feed's next read starts.
    async fn deletions(&mut self, since: Option<String>) -> Result<Option<String>, RollupError> {
        if !self.src.info.supports(Operation::DeletedFeed) {
            return Ok(since);
        }
        let module = self.src.module().to_string();
        let mut latest = since.clone();
        let mut page_cursor = None;
        let mut guard = PageGuard::new(self.src.vendor.limits().pages);
        loop {
            let page = self
                .src
                .vendor
                .deleted(&module, since.as_deref(), page_cursor.as_deref())
                .await
                .map_err(|e| self.src.call_error("deleted", e))?;
            let next = guard
                .next(page.records.iter().map(|g| g.id.as_str()), page.next_cursor)
                .map_err(|e| self.src.paging_error(&module, e))?;
            for gone in page.records {
                if let Some(at) = &gone.deleted_at
                    && latest.as_deref().and_then(instant) < instant(at)
                {
                    latest = Some(at.clone());
                }
                self.set_child(&gone.id, None)?;
            }
            match next {
                Some(next) => page_cursor = Some(next),
                None => break,
            }
        }
        self.commit_overlay()?;
        Ok(latest)
    }

    fn child(
        &mut self,
        record: Record,
        seen: Option<&mut HashSet<String>>,
    ) -> Result<(), RollupError> {
        self.run.counts.read += 1;
        let Some(id) = id_of(&record, &self.src.info.id_field) else {
            return self.ledger(
                "?",
                None,
                LedgerOp::Fail,
                format!("record has no `{}`", self.src.info.id_field),
            );
        };
        if let Some(seen) = seen {
            seen.insert(id.clone());
        }
        match self.plan.contribution(&id, &record, self.now) {
            Ok(Contribution::To { parent, values }) => self.set_child(&id, Some((parent, values))),
            Ok(Contribution::Nothing(_)) => self.set_child(&id, None),
            Err(e) => self.ledger(&id, None, LedgerOp::Fail, e.to_string()),
        }
    }

    /// Child `id` now contributes `new` (or nothing): move it between
    /// parents when that differs from what the state holds.
    pub(super) fn set_child(
        &mut self,
        id: &str,
        new: Option<(String, Value)>,
    ) -> Result<(), RollupError> {
        let fp = new.as_ref().map(|(p, v)| fingerprint(&json!([p, v])));
        let old = match self.overlay.children.get(id) {
            Some(s) => s.clone(),
            None => self.store.snapshot(&self.name, Side::From, id)?,
        };
        if old.as_ref().map(|s| &s.fingerprint) == fp.as_ref() {
            return Ok(());
        }
        let old_parent = old
            .and_then(|s| s.state)
            .and_then(|v| v.get("parent").and_then(Value::as_str).map(str::to_owned));
        if let Some(op) = old_parent {
            let mut p = self.parent(&op)?;
            p.children.remove(id);
            self.overlay.parents.insert(op.clone(), p);
            self.overlay.dirty.insert(op);
        }
        let snapshot = match new {
            Some((pid, values)) => {
                let mut p = self.parent(&pid)?;
                p.children.insert(id.to_string(), values);
                self.overlay.parents.insert(pid.clone(), p);
                self.overlay.dirty.insert(pid.clone());
                Some(Snapshot {
                    fingerprint: fp.unwrap_or_default(),
                    modified: None,
                    state: Some(json!({ "parent": pid })),
                    version: 0,
                    taken: unix_now(),
                })
            }
            None => None,
        };
        self.overlay.children.insert(id.to_string(), snapshot);
        Ok(())
    }

    /// Commit the page's changes in one transaction: children, their
    /// parents' states and the parents' pending marks. A dry run keeps
    /// them in memory.
    fn commit_overlay(&mut self) -> Result<(), RollupError> {
        if self.options.dry_run {
            let dirty = std::mem::take(&mut self.overlay.dirty);
            self.dry_pending.extend(dirty);
            return Ok(());
        }
        let o = std::mem::take(&mut self.overlay);
        if o.children.is_empty() && o.parents.is_empty() {
            return Ok(());
        }
        let mut commit = RecordCommit::default();
        for (id, s) in o.children {
            match s {
                Some(s) => commit.snapshots.push((Side::From, id, s)),
                None => commit.forget.push((self.name.clone(), Side::From, id)),
            }
        }
        let parents = parents_ns(&self.name);
        for (id, p) in o.parents {
            commit
                .foreign_snapshots
                .push((parents.clone(), Side::From, id.clone(), marker()));
            commit.snapshots.push((Side::To, id, p.snapshot()));
        }
        let pending = pending_ns(&self.name);
        for id in o.dirty {
            commit
                .foreign_snapshots
                .push((pending.clone(), Side::From, id, marker()));
        }
        self.store.commit(&self.name, commit)?;
        Ok(())
    }

    /// A ledger row with nothing else to commit, under the run's own name
    /// (a preview's rows stay apart from the history).
    pub(super) fn ledger(
        &mut self,
        source_id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), RollupError> {
        let row = self.row(source_id, target_id, op, Some(reason));
        self.store.commit(
            &self.run.sync,
            RecordCommit {
                ledger: Some(row),
                ..Default::default()
            },
        )?;
        self.run.counts.count(op);
        Ok(())
    }

    pub(super) fn row(
        &self,
        source_id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: Option<String>,
    ) -> LedgerRow {
        LedgerRow {
            run: self.run.id,
            from_side: Side::From,
            source_id: source_id.to_string(),
            target_id,
            op,
            reason,
            diff: Vec::new(),
            rule: None,
            title: None,
            target_title: None,
        }
    }
}

/// A pending mark: its presence is all it says.
fn marker() -> Snapshot {
    Snapshot {
        fingerprint: String::new(),
        modified: None,
        state: None,
        version: 0,
        taken: unix_now(),
    }
}
