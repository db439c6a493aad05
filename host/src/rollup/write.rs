//! The write stage: the figures of every pending parent, computed from
//! the stored contributions and written to its linked record in the
//! target's batches, up to the connection's concurrency at once. Figures equal to those last written to that record
//! are not sent; updates are idempotent, so one whose answer was lost is
//! simply sent again by the next run (the parent stays pending).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::connector::{ConnectorError, Record};
use crate::engine::fingerprint::fingerprint;
use crate::engine::write::{self, is_retryable};
use crate::mapping::Side;
use crate::store::{FieldChange, LedgerOp, RecordCommit};

use super::{ParentState, Pass, RollupError, parents_ns, pending_ns};

/// Figures waiting for their batch.
struct Update {
    parent: String,
    target: String,
    figures: Map<String, Value>,
    fingerprint: String,
    state: ParentState,
}

impl Pass<'_> {
    /// Compute and write the figures of the pending parents; on a new day
    /// (figures that read the date) or `--full`, of every parent.
    pub(super) async fn write(&mut self, every: bool) -> Result<(), RollupError> {
        let mut pending: BTreeSet<String> = if self.options.dry_run {
            self.dry_pending.clone()
        } else {
            self.ids(&pending_ns(&self.name))?
        };
        if every || self.options.full {
            pending.extend(self.ids(&parents_ns(&self.name))?);
            pending.extend(self.overlay.parents.keys().cloned());
        }
        let batch = self.dst.wave();
        let mut queue = Vec::new();
        let mut settled = Vec::new();
        for parent in pending {
            if let Some(update) = self.figure(&parent, &mut settled)? {
                queue.push(update);
            }
            if queue.len() >= batch {
                self.flush(std::mem::take(&mut queue), &mut settled).await?;
            }
            if self.stopping() {
                self.incomplete += 1;
                break;
            }
        }
        self.flush(queue, &mut settled).await
    }

    /// Parent ids marked under `ns` (pending, or every parent).
    fn ids(&self, ns: &str) -> Result<BTreeSet<String>, RollupError> {
        Ok(self
            .store
            .snapshots(ns, Side::From)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The figures of `parent`, when they are to be written; parents that
    /// need nothing written are added to `settled`.
    fn figure(
        &mut self,
        parent: &str,
        settled: &mut Vec<String>,
    ) -> Result<Option<Update>, RollupError> {
        let state = self.parent(parent)?;
        let figures = match self.plan.figures(
            state.children.iter().map(|(k, v)| (k.as_str(), v)),
            self.now,
        ) {
            Ok(f) => f,
            Err(e) => {
                // Fails for good: the child's data must change first.
                settled.push(parent.to_string());
                self.ledger(parent, state.target.clone(), LedgerOp::Fail, e.to_string())?;
                return Ok(None);
            }
        };
        let (sync, side) = &self.link;
        let Some(target) = self.store.link(sync, *side, parent)?.map(|l| l.other) else {
            if state.children.is_empty() && state.written.is_empty() {
                settled.push(parent.to_string());
                return Ok(None);
            }
            // Stays pending: written once its sync links it.
            let why = format!(
                "no `{}` record is linked to it through sync `{sync}` yet; its figures are written once one is",
                self.plan.rollup.to
            );
            self.ledger(parent, None, LedgerOp::Skip, why)?;
            return Ok(None);
        };
        let fp = fingerprint(&json!([target, figures]));
        if fp == state.written {
            self.run.counts.unchanged += 1;
            settled.push(parent.to_string());
            return Ok(None);
        }
        Ok(Some(Update {
            parent: parent.to_string(),
            target,
            figures,
            fingerprint: fp,
            state,
        }))
    }

    async fn flush(
        &mut self,
        queue: Vec<Update>,
        settled: &mut Vec<String>,
    ) -> Result<(), RollupError> {
        if !settled.is_empty() && !self.options.dry_run {
            let pending = pending_ns(&self.name);
            let forget = settled
                .drain(..)
                .map(|id| (pending.clone(), Side::From, id))
                .collect();
            self.store.commit(
                &self.name,
                RecordCommit {
                    forget,
                    ..Default::default()
                },
            )?;
        }
        if queue.is_empty() {
            return Ok(());
        }
        if self.options.dry_run {
            for u in queue {
                let mut row = self.row(
                    &u.parent,
                    Some(u.target.clone()),
                    LedgerOp::Update,
                    Some("would update".into()),
                );
                row.diff = diff(u.state.figures.as_ref(), &u.figures);
                self.commit_row(row, RecordCommit::default())?;
            }
            return Ok(());
        }
        let id_field = self.dst.info.id_field.clone();
        let payloads: Vec<Record> = queue
            .iter()
            .map(|u| {
                let mut p = u.figures.clone();
                p.insert(id_field.clone(), Value::String(u.target.clone()));
                p
            })
            .collect();
        // A batch per request in flight, sent at once (as a sync's writes).
        let dst = self.dst;
        let sent = write::chunked(dst, &payloads, |chunk| {
            dst.vendor.update(dst.module(), chunk)
        })
        .await;
        let mut queue = queue.into_iter();
        for (chunk, results) in sent {
            let batch: Vec<Update> = queue.by_ref().take(chunk.len()).collect();
            self.updated(batch, results)?;
        }
        Ok(())
    }

    /// Commit what became of `queue`, sent in one update call.
    fn updated(
        &mut self,
        queue: Vec<Update>,
        results: Result<Vec<crate::connector::WriteResult>, crate::connector::CallError>,
    ) -> Result<(), RollupError> {
        let results = match results {
            Ok(r) => r,
            Err(e) => {
                // Idempotent: the parents stay pending and go again.
                self.incomplete += queue.len() as u64;
                for u in queue {
                    self.ledger(
                        &u.parent,
                        Some(u.target),
                        LedgerOp::Fail,
                        format!("update failed ({e}); retried next run"),
                    )?;
                }
                return Ok(());
            }
        };
        let pending = pending_ns(&self.name);
        let answered = results.len();
        let mut queue = queue.into_iter();
        for (u, result) in queue.by_ref().zip(results) {
            let done = (pending.clone(), Side::From, u.parent.clone());
            match result {
                Ok(_) => {
                    let mut state = u.state.clone();
                    let mut row =
                        self.row(&u.parent, Some(u.target.clone()), LedgerOp::Update, None);
                    row.diff = diff(state.figures.as_ref(), &u.figures);
                    state.figures = Some(Value::Object(u.figures));
                    state.target = Some(u.target);
                    state.written = u.fingerprint;
                    self.commit_row(
                        row,
                        RecordCommit {
                            snapshots: vec![(Side::To, u.parent, state.snapshot())],
                            forget: vec![done],
                            ..Default::default()
                        },
                    )?;
                }
                Err(ConnectorError::NotFound(m)) => {
                    let row = self.row(
                        &u.parent,
                        Some(u.target),
                        LedgerOp::Fail,
                        Some(format!("the linked record is gone ({m})")),
                    );
                    self.commit_row(
                        row,
                        RecordCommit {
                            forget: vec![done],
                            ..Default::default()
                        },
                    )?;
                }
                Err(e) if is_retryable(&e) => {
                    self.incomplete += 1;
                    self.ledger(&u.parent, Some(u.target), LedgerOp::Fail, e.to_string())?;
                }
                Err(e) => {
                    let row = self.row(
                        &u.parent,
                        Some(u.target),
                        LedgerOp::Fail,
                        Some(e.to_string()),
                    );
                    self.commit_row(
                        row,
                        RecordCommit {
                            forget: vec![done],
                            ..Default::default()
                        },
                    )?;
                }
            }
        }
        // Updates the vendor gave no answer for stay pending.
        let unanswered = queue.count();
        if unanswered > 0 {
            tracing::warn!(
                rollup = self.name,
                answered,
                unanswered,
                "the target answered fewer updates than were sent"
            );
            self.incomplete += unanswered as u64;
        }
        Ok(())
    }

    fn commit_row(
        &mut self,
        row: crate::store::LedgerRow,
        mut commit: RecordCommit,
    ) -> Result<(), RollupError> {
        let op = row.op;
        commit.ledger = Some(row);
        self.store.commit(&self.run.sync, commit)?;
        self.run.counts.count(op);
        Ok(())
    }
}

/// The figures that changed, for the ledger.
fn diff(before: Option<&Value>, after: &Map<String, Value>) -> Vec<FieldChange> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let old = before
                .and_then(|b| b.get(k))
                .cloned()
                .unwrap_or(Value::Null);
            (old != *v).then(|| FieldChange {
                field: k.clone(),
                before: old,
                after: v.clone(),
            })
        })
        .collect()
}
