//! One record of a pass: read in full if its row leaves fields out,
//! filtered, mapped, decided (unchanged, an echo, or changed; a conflict
//! on two-way syncs), then matched and queued as a create or an update.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::config::OnDuplicate;
use crate::connector::{ConnectorError, Operation, Record, id_of};
use crate::engine::MatchIndex;
use crate::engine::decide::{self, Resolution};
use crate::engine::endpoint::title_of;
use crate::engine::write;
use crate::mapping::{Context, MissingLink, RecordError, Side};
use crate::store::{FieldChange, LedgerOp, RecordCommit, Snapshot};

use super::write::snapshot;
use crate::engine::StoreLinks;
use crate::engine::fingerprint::{fingerprint, fingerprint_mapped};

use super::{Pass, PendingCreate, PendingUpdate, other, text_of};
use crate::sync::SyncError;

impl Pass<'_> {
    /// Sync one record read from the source (also used for `--record`).
    pub(super) async fn record(&mut self, mut record: Record) -> Result<(), SyncError> {
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
        if let Some(listed) = &mut self.listed {
            listed.insert(id.clone());
        }
        if let Some(title) = title_of(&record, self.src.title.as_deref()) {
            self.titles.insert(id.clone(), title);
        }
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
            if decide::row_unchanged(seen.as_ref(), modified.as_deref()) {
                self.run.counts.unchanged += 1;
                return Ok(());
            }
            match self.src.vendor.get(self.src.module(), &id).await {
                Ok(full) => record = full,
                Err(e) => return Err(self.call_error(self.src, "get", e)),
            }
        }
        let json = Value::Object(record);
        let links = StoreLinks(self.store);
        let ctx = Context::new(&links).at(self.now);
        match self.plan.excluded_by_view(&json, &ctx) {
            Ok(None) => {}
            Ok(Some(why)) => return self.ledger_only(&id, None, LedgerOp::Skip, why),
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
        // `missing: exclude`: about something on one side only; skipped.
        if let Err(
            e @ RecordError {
                missing_link: Some(MissingLink { exclude: true, .. }),
                ..
            },
        ) = &applied
        {
            let why = describe(e);
            return self.ledger_only(&id, None, LedgerOp::Skip, why);
        }
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
            match crate::sync::create_parent(env, missing).await {
                Ok(crate::sync::Parent::Linked) => applied = plan.map(&json, &ctx),
                Ok(crate::sync::Parent::Excluded(why)) => {
                    return self.ledger_only(
                        &id,
                        None,
                        LedgerOp::Skip,
                        format!(
                            "its parent `{}` is skipped by `{}`: {why}",
                            missing.id, missing.sync
                        ),
                    );
                }
                Ok(crate::sync::Parent::NotLinked(why)) => {
                    let reason = match &applied {
                        Err(e) => crate::sync::Parent::failure(&why, e, missing),
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
        if let decide::Seen::Unchanged { own_write, restamp } =
            decide::seen(previous.as_ref(), &fp, modified.as_deref())
        {
            if own_write {
                self.watermark.own_write(modified.as_deref());
            }
            // Unchanged, or the echo of Ferry's own write: nothing to send.
            self.run.counts.unchanged += 1;
            if restamp && !self.options.dry_run {
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
        if let Some(title) = title_of(&mapped, self.dst.title.as_deref()) {
            self.target_titles.insert(id.clone(), title);
        }
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
            // `Account_Name.id` names a lookup: connectors match a lookup
            // field by the id it points at.
            let mut criteria = Map::new();
            criteria.insert(
                child.parent.value.head().to_string(),
                Value::String(id.into()),
            );
            let found = self
                .src
                .vendor
                .find(&child.from.module, &criteria)
                .await
                .map_err(|e| self.src.call_error_on(&child.from.module, "find", e))?;
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
                None => {}
                Some(Resolution::Win(why)) => reason = Some(why),
                Some(Resolution::Yield(why)) => {
                    self.shared.yielded.insert((self.side, id.to_string()));
                    // The other pass reads the partner's change, finds the
                    // same conflict, wins it and writes its values back:
                    // the partner must not be marked settled, or nobody
                    // would write and the conflict would come back every
                    // run.
                    return self.ledger_only(id, Some(target_id), LedgerOp::Conflict, why);
                }
                Some(Resolution::Stop(why)) => {
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
        if self.updates.len() >= self.dst.wave() {
            self.flush_updates().await?;
        }
        Ok(())
    }

    /// Two-way: did the partner change too since Ferry last saw it? Then
    /// the conflict policy decides who writes; `None`: no conflict.
    async fn conflict(
        &mut self,
        record: &Record,
        target_id: &str,
    ) -> Result<Option<Resolution>, SyncError> {
        let Some(prev) = self
            .store
            .snapshot(self.ns(), other(self.side), target_id)?
        else {
            return Ok(None);
        };
        let current = match self.dst.vendor.get(self.dst.module(), target_id).await {
            Ok(r) => r,
            Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => {
                return Ok(None);
            }
            Err(e) => return Err(self.call_error(self.dst, "get", e)),
        };
        let their_modified = text_of(&current, self.dst.info.modified_field.as_deref());
        let their_fp = self.back_fingerprint(&current);
        if !decide::partner_changed(&prev, their_fp.as_deref(), their_modified.as_deref()) {
            return Ok(None);
        }
        let ours = text_of(record, self.src.info.modified_field.as_deref());
        let resolution = decide::resolve(
            self.sync.conflict,
            self.side,
            ours.as_deref(),
            their_modified.as_deref(),
        );
        // Counted by the pass that yielded, when one did.
        if matches!(resolution, Resolution::Win(_))
            && !self
                .shared
                .yielded
                .contains(&(other(self.side), target_id.to_string()))
        {
            self.run.counts.conflicts += 1;
        }
        Ok(Some(resolution))
    }

    pub(super) fn back_fingerprint(&self, record: &Record) -> Option<String> {
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
        if self.unknown.contains(&self.intent_key(id)) {
            // A create of this record whose outcome is unknown: settled
            // (and the record synced again) before anything else is
            // written for it, or it could be created twice.
            self.incomplete += 1;
            return Ok(());
        }
        let lookup = self.lookup(record);
        let indexed = self.index.as_ref().and_then(|ix| ix.get(&lookup));
        if !lookup.is_empty()
            && (indexed.is_some() || self.dst.info.supports(Operation::Find))
            && self.sync.on_duplicate != OnDuplicate::Clone
        {
            let matches: Vec<String> = match indexed {
                Some(ids) => ids.to_vec(),
                None => {
                    let found: Vec<String> = self
                        .dst
                        .vendor
                        .find(self.dst.module(), &lookup)
                        .await
                        .map_err(|e| self.call_error(self.dst, "find", e))?
                        .iter()
                        .filter_map(|r| id_of(r, &self.dst.info.id_field))
                        .collect();
                    // A lagging search may still return a record deleted
                    // moments ago: the match is the first that exists.
                    let mut live = Vec::new();
                    for candidate in found {
                        if write::exists(self.dst, &candidate).await?.is_some() {
                            live.push(candidate);
                            break;
                        }
                    }
                    live
                }
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
                        if self.updates.len() >= self.dst.wave() {
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
        let create = PendingCreate {
            source_id: id.to_string(),
            payload,
            snapshot: snap,
            lookup,
        };
        if !self.gathered.insert(id.to_string()) {
            // Read again (a listing that shifted) before its create went
            // out: the newer version replaces it.
            if let Some(queued) = self.creates.iter_mut().find(|c| c.source_id == id) {
                *queued = create;
            }
            return Ok(());
        }
        self.creates.push(create);
        if self.creates.len() >= self.create_wave() {
            self.flush_creates().await?;
        }
        Ok(())
    }

    /// On a first run, index the target by the match keys (one listing)
    /// rather than `find` each source record.
    pub(super) async fn build_index(&self) -> Result<Option<MatchIndex>, SyncError> {
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
        Ok(Some(MatchIndex::build(self.dst, fields).await?))
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
}

fn describe(e: &RecordError) -> String {
    match &e.field {
        Some(f) => format!("`{f}`: {}", e.reason),
        None => e.reason.clone(),
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
