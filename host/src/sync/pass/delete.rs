//! The source's deletions, from its deleted-records feed or, where it has
//! none, from a whole read that no longer lists a linked record, applied
//! to linked partners by the sync's `deletes` policy (propagate or
//! archive).

use std::collections::HashSet;

use serde_json::Map;

use crate::config::Deletes;
use crate::connector::{ConnectorError, Operation};
use crate::engine::decide::instant;
use crate::engine::read::PageGuard;
use crate::engine::write::is_retryable;
use crate::mapping::Side;
use crate::store::{Cursor, LedgerOp, RecordCommit};

use super::Pass;
use crate::sync::SyncError;

impl Pass<'_> {
    /// Apply the delete policy to records the source reports deleted.
    pub(super) async fn deletions(
        &mut self,
        old: Option<&Cursor>,
    ) -> Result<Option<String>, SyncError> {
        let since = old.and_then(|c| c.deleted_since.clone());
        if self.sync.deletes == Deletes::Ignore
            || !self.src.info.supports(Operation::DeletedFeed)
            || self.options.dry_run
        {
            return Ok(since);
        }
        let mut latest = since.clone();
        let mut page_cursor = None;
        let mut guard = PageGuard::new(self.src.vendor.limits().pages);
        loop {
            let page = self
                .src
                .vendor
                .deleted(self.src.module(), since.as_deref(), page_cursor.as_deref())
                .await
                .map_err(|e| self.call_error(self.src, "deleted", e))?;
            let next = guard
                .next(page.records.iter().map(|g| g.id.as_str()), page.next_cursor)
                .map_err(|e| self.src.paging_error(self.src.module(), e))?;
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

    /// Whether a whole read must notice deletions itself: a policy asks
    /// for them and the source has no feed of them.
    pub(super) fn sweeps(&self) -> bool {
        self.sync.deletes != Deletes::Ignore
            && !self.src.info.supports(Operation::DeletedFeed)
            && !self.options.dry_run
    }

    /// After a whole read: linked records the source no longer lists were
    /// deleted there.
    pub(super) async fn sweep(&mut self, listed: &HashSet<String>) -> Result<(), SyncError> {
        let gone: Vec<String> = self
            .store
            .all_links(self.ns())?
            .into_iter()
            .map(|(from, to, _)| match self.side {
                Side::From => from,
                Side::To => to,
            })
            .filter(|id| !listed.contains(id))
            .collect();
        for id in gone {
            self.deleted(&id).await?;
        }
        Ok(())
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
                    .vendor
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
                    .vendor
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
