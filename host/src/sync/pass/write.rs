//! A pass's writes: queued creates and updates sent in batches, each
//! answer committed with its link, snapshots and ledger row in one store
//! transaction. Creates go through the engine's exactly-once path.

use serde_json::Value;

use crate::connector::{ConnectorError, Record};
use crate::engine::write::{self, Create, Created, is_retryable};
use crate::store::{
    FieldChange, Intent, IntentOp, LedgerOp, LedgerRow, Link, LinkOrigin, RecordCommit, Snapshot,
    unix_now,
};

use crate::config::LedgerRows;
use crate::mapping::Side;

use super::{Pass, PendingCreate, PendingUpdate, other, text_of};
use crate::sync::SyncError;

impl Pass<'_> {
    pub(super) async fn flush(&mut self) -> Result<(), SyncError> {
        self.flush_creates().await?;
        self.flush_updates().await
    }

    /// At a page's end: updates go now, and creates too unless `gather`
    /// allows them to gather towards a vendor job of the target module.
    pub(super) async fn flush_page(&mut self, gather: bool) -> Result<(), SyncError> {
        if !(gather && self.dst.info.create_job.is_some()) {
            self.flush_creates().await?;
        }
        self.flush_updates().await
    }

    /// Creates to gather before writing: a job's worth when the target
    /// module takes create jobs, else a wave of calls.
    pub(super) fn create_wave(&self) -> usize {
        match self.dst.info.create_job {
            Some(size) => (size.max_records.max(1) as usize).max(self.dst.wave()),
            None => self.dst.wave(),
        }
    }

    pub(super) fn intent_key(&self, source_id: &str) -> String {
        let side = match self.side {
            Side::From => "f",
            Side::To => "t",
        };
        format!("{side}:{source_id}")
    }

    pub(super) async fn flush_creates(&mut self) -> Result<(), SyncError> {
        if self.creates.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.creates);
        self.gathered.clear();
        if self.options.dry_run {
            for c in batch {
                self.ledger_only(&c.source_id, None, LedgerOp::Create, "would create".into())?;
            }
            return Ok(());
        }
        let creates: Vec<Create> = batch
            .iter()
            .map(|c| Create {
                intent: Intent {
                    key: self.intent_key(&c.source_id),
                    side: other(self.side),
                    source_id: c.source_id.clone(),
                    op: IntentOp::Create,
                    lookup: c.lookup.clone(),
                    run: self.run.id,
                    created: unix_now(),
                    job: None,
                },
                payload: c.payload.clone(),
            })
            .collect();
        let outcomes = write::create(self.store, self.ns(), self.dst, &creates).await?;
        self.batch_commits = Some(Vec::new());
        let mut taken = Ok(());
        for ((pending, create), outcome) in batch.into_iter().zip(creates).zip(outcomes) {
            taken = self.created(pending, create.intent, outcome).await;
            if taken.is_err() {
                break;
            }
        }
        // What was taken is committed even when a later answer failed.
        let committed = self.commit_batch();
        taken.and(committed)
    }

    /// Commit `commit` under `ns`: now, or with the batch being taken.
    /// Rows waiting in `rows` go with it, first, so the ledger keeps its
    /// order.
    fn commit(&mut self, ns: &str, commit: RecordCommit) -> Result<(), SyncError> {
        match &mut self.batch_commits {
            Some(batch) => batch.push((ns.to_string(), commit)),
            None if self.rows.is_empty() => self.store.commit(ns, commit)?,
            None => {
                let mut commits = std::mem::take(&mut self.rows);
                commits.push((ns.to_string(), commit));
                self.store.commit_all(commits)?
            }
        }
        Ok(())
    }

    /// Commit the batch's answers in one transaction (with the rows
    /// waiting before them).
    fn commit_batch(&mut self) -> Result<(), SyncError> {
        let mut commits = std::mem::take(&mut self.rows);
        commits.extend(self.batch_commits.take().unwrap_or_default());
        Ok(self.store.commit_all(commits)?)
    }

    /// Commit the ledger rows waiting in `rows` (the end of a page, of a
    /// pass, or a pass that failed).
    pub(super) fn commit_rows(&mut self) -> Result<(), SyncError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        Ok(self.store.commit_all(rows)?)
    }

    async fn created(
        &mut self,
        create: PendingCreate,
        intent: Intent,
        outcome: Created,
    ) -> Result<(), SyncError> {
        match outcome {
            Created::Written { target_id, answer } => {
                if let Some(index) = &mut self.index {
                    index.insert(&create.lookup, &target_id);
                }
                let target_snap = self.target_snapshot(&target_id, &answer).await;
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
            Created::Unknown(why) => {
                // Possibly written: the intent stays and is settled by
                // lookup before this record is written again.
                tracing::warn!(sync = self.ns(), record = create.source_id, "create: {why}");
                self.unknown.insert(intent.key);
                Ok(())
            }
            Created::Deferred(why) => {
                // Nothing written: the next run reads it again.
                tracing::warn!(sync = self.ns(), record = create.source_id, "create: {why}");
                self.incomplete += 1;
                Ok(())
            }
            Created::Refused(e) => {
                let ns = self.ns().to_string();
                self.commit(
                    &ns,
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

    pub(super) async fn flush_updates(&mut self) -> Result<(), SyncError> {
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
        let dst = self.dst;
        let sent = write::chunked(dst, &payloads, |chunk| {
            dst.vendor.update(dst.module(), chunk)
        })
        .await;
        let mut batch = batch.into_iter();
        self.batch_commits = Some(Vec::new());
        let mut taken = Ok(());
        for (chunk, results) in sent {
            let updates: Vec<PendingUpdate> = batch.by_ref().take(chunk.len()).collect();
            taken = self.updated(updates, results).await;
            if taken.is_err() {
                break;
            }
        }
        let committed = self.commit_batch();
        taken.and(committed)
    }

    /// Commit what became of `batch`, sent in one update call.
    async fn updated(
        &mut self,
        batch: Vec<PendingUpdate>,
        results: Result<Vec<crate::connector::WriteResult>, crate::connector::CallError>,
    ) -> Result<(), SyncError> {
        let results = match results {
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
                    // The partner is gone: forget the link, and what the
                    // record looked like (a snapshot that vouches for
                    // nothing), so the record is matched or created again
                    // on the next read even if it comes back to that state.
                    let ns = self.ns().to_string();
                    self.commit(
                        &ns,
                        RecordCommit {
                            unlinks: vec![(
                                self.side,
                                update.source_id.clone(),
                                update.target_id.clone(),
                            )],
                            snapshots: vec![(
                                self.side,
                                update.source_id.clone(),
                                Snapshot {
                                    fingerprint: String::new(),
                                    modified: None,
                                    state: None,
                                    version: 0,
                                    taken: unix_now(),
                                },
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
    pub(super) async fn target_snapshot(
        &self,
        target_id: &str,
        written: &Record,
    ) -> Option<Snapshot> {
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
            && let Ok(fresh) = self.dst.vendor.get(self.dst.module(), target_id).await
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
    pub(super) fn commit_write(
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
                    change: None,
                },
            )]
        } else {
            Vec::new()
        };
        let mut row = self.row(source_id, Some(target_id.to_string()), op, reason);
        row.diff = diff;
        let ns = self.ns().to_string();
        self.commit(
            &ns,
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

    pub(super) fn row(
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
            title: self.titles.get(source_id).cloned(),
            target_title: self.target_titles.get(source_id).cloned(),
        }
    }

    /// A ledger row with nothing else to commit.
    pub(super) fn ledger_only(
        &mut self,
        source_id: &str,
        target_id: Option<String>,
        op: LedgerOp,
        reason: String,
    ) -> Result<(), SyncError> {
        self.run.counts.count(op);
        if op == LedgerOp::Skip
            && self.sync.ledger == LedgerRows::Changes
            && !self.failing.remove(source_id)
        {
            // Counted only, as the sync asks (a record failing from an
            // earlier run still gets its row: it clears the failure).
            return Ok(());
        }
        let row = self.row(source_id, target_id, op, Some(reason));
        // Under the run's own name: a preview's rows stay apart from the
        // sync's history (and from its failing records). A row alone
        // changes nothing a later record reads, so it waits for the next
        // commit: a page of filtered records costs one transaction. A
        // crash loses only rows of records the next run reads again.
        let ns = self.run.sync.clone();
        self.rows.push((
            ns,
            RecordCommit {
                ledger: Some(row),
                ..Default::default()
            },
        ));
        Ok(())
    }
}

pub(super) fn snapshot(fp: &str, modified: &Option<String>, state: Value) -> Snapshot {
    Snapshot {
        fingerprint: fp.to_string(),
        modified: modified.clone(),
        state: Some(state),
        version: 0,
        taken: unix_now(),
    }
}
