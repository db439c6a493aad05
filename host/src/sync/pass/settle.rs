//! Creates a crash or a lost answer left unknown, settled before the
//! pass writes again: by the engine's lookup (search, then a listing that
//! does not lag), linked if the record was made, else synced again.

use crate::engine::write::{Settlement, Settler};
use crate::store::{Intent, IntentOp, LedgerOp, RecordCommit, Snapshot, unix_now};

use super::{Pass, other};
use crate::sync::SyncError;

impl Pass<'_> {
    /// Settle intents a crash or an unknown outcome left: look the record
    /// up; link it if it exists, else sync the source record again.
    pub(super) async fn settle_intents(&mut self) -> Result<(), SyncError> {
        if self.options.dry_run {
            return Ok(());
        }
        let target = other(self.side);
        let pending: Vec<Intent> = self
            .store
            .pending_intents(self.ns())?
            .into_iter()
            .filter(|i| i.side == target && i.op == IntentOp::Create)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let (store, dst, ns) = (self.store, self.dst, self.sync.name.value.as_str());
        let mut settler = Settler::new(store, ns, dst, ns, target);
        for intent in pending {
            let settled = settler.settle(&intent).await?;
            if let Settlement::Pending = settled {
                // In a job still running: its record waits, unwritten.
                self.unknown.insert(intent.key.clone());
                continue;
            }
            // Settled one way or another: its record may be written again.
            self.unknown.remove(&intent.key);
            match settled {
                Settlement::Found { target_id, .. } => {
                    // It was created: link it. Its fingerprint is unknown,
                    // so the source record is synced once more (an update,
                    // never a second create).
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
                    self.resync(&intent.source_id).await?;
                }
                Settlement::Absent => self.resync(&intent.source_id).await?,
                Settlement::Pending => {}
                Settlement::Unidentifiable => {
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
                }
            }
        }
        self.flush().await
    }

    /// Creates into the other side whose outcome is still unknown.
    pub(super) fn unsettled(&self) -> Result<u64, SyncError> {
        let target = other(self.side);
        Ok(self
            .store
            .pending_intents(self.ns())?
            .iter()
            .filter(|i| i.side == target)
            .count() as u64)
    }
}
