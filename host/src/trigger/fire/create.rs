//! A rule's create, exactly once, on the engine's write path: the firing's
//! key is the intent's key; an interrupted attempt is settled by lookup
//! before anything is created again.

use serde_json::Value;

use crate::engine::EngineError;
use crate::engine::write::{self, Create, Created, Settlement, Settler};
use crate::mapping::Side;
use crate::store::{Intent, IntentOp, LedgerOp, RecordCommit, unix_now};

use super::super::TriggerError;
use super::super::rule::Rule;
use super::{Fired, Firing, Mapped, lookup_of, row};

impl Firing<'_> {
    /// Create the rule's record, after settling an interrupted attempt.
    pub(super) async fn create(
        &self,
        rule: &mut Rule,
        id: &str,
        change: u64,
        key: &str,
        record: &Value,
    ) -> Result<Fired, TriggerError> {
        let store = self.env.store.as_ref();
        if store.is_fired(&rule.name, key)? {
            return Ok(Fired::Done);
        }
        let pending = store
            .pending_intents(&rule.name)?
            .into_iter()
            .find(|i| i.key == key);
        // An interrupted attempt: settled by lookup, or never created (then
        // it is created now).
        if let Some(intent) = pending
            && let Some(fired) = self.settle_create(rule, change, &intent).await?
        {
            return Ok(fired);
        }
        let payload = match self.map(rule, record).await? {
            Mapped::Record(r) => r,
            Mapped::Failed(reason) => {
                self.row(rule, id, None, LedgerOp::Fail, reason)?;
                return Ok(Fired::Done);
            }
            Mapped::Retry(reason) => {
                tracing::warn!(trigger = rule.name, record = id, "{reason}");
                return Ok(Fired::Retry);
            }
        };
        let create = Create {
            intent: Intent {
                key: key.to_string(),
                side: Side::To,
                source_id: id.to_string(),
                op: IntentOp::Create,
                lookup: lookup_of(rule, id, &payload),
                run: rule.run.id,
                created: unix_now(),
                job: None,
            },
            payload,
        };
        let outcome = write::create(
            store,
            &rule.name,
            &rule.target,
            std::slice::from_ref(&create),
        )
        .await?
        .pop();
        match outcome {
            Some(Created::Written { target_id, answer }) => {
                self.linked(
                    rule,
                    change,
                    &create.intent,
                    &target_id,
                    &answer,
                    LedgerOp::Create,
                    None,
                )?;
                Ok(Fired::Linked)
            }
            Some(Created::Refused(e)) => {
                store.commit(
                    &rule.name,
                    RecordCommit {
                        intents_done: vec![key.to_string()],
                        ledger: Some(row(rule, id, None, LedgerOp::Fail, e.to_string())),
                        ..Default::default()
                    },
                )?;
                rule.run.counts.count(LedgerOp::Fail);
                Ok(Fired::Done)
            }
            Some(Created::Unknown(why) | Created::Deferred(why)) => {
                // Deferred: its intent is closed already; either way the
                // change is judged again later.
                tracing::warn!(trigger = rule.name, record = id, "{why}");
                Ok(Fired::Retry)
            }
            None => Ok(Fired::Retry),
        }
    }

    /// An interrupted create: look the record up. `Some`: settled;
    /// `None`: it was never created.
    async fn settle_create(
        &self,
        rule: &mut Rule,
        change: u64,
        intent: &Intent,
    ) -> Result<Option<Fired>, TriggerError> {
        let store = self.env.store.as_ref();
        let settled = Settler::new(store, &rule.name, &rule.target, &rule.link_ns, Side::To)
            .settle(intent)
            .await;
        let (target_id, found) = match settled {
            Ok(Settlement::Found { target_id, record }) => (target_id, record),
            Ok(Settlement::Absent) => return Ok(None),
            Ok(Settlement::Pending) => return Ok(Some(Fired::Retry)),
            Ok(Settlement::Unidentifiable) => {
                // Nothing to look it up by: never risk a second record.
                store.commit(
                    &rule.name,
                    RecordCommit {
                        intents_done: vec![intent.key.clone()],
                        fired: vec![intent.key.clone()],
                        ledger: Some(row(
                            rule,
                            &intent.source_id,
                            None,
                            LedgerOp::Fail,
                            format!(
                                "an interrupted create may have succeeded and nothing identifies its record (give the rule `match:` fields); check `{}` — Ferry will not create it again",
                                rule.target.module()
                            ),
                        )),
                        ..Default::default()
                    },
                )?;
                rule.run.counts.count(LedgerOp::Fail);
                return Ok(Some(Fired::Done));
            }
            Err(EngineError::Store(e)) => return Err(e.into()),
            Err(e) => {
                tracing::warn!(trigger = rule.name, "settling an interrupted create: {e}");
                return Ok(Some(Fired::Retry));
            }
        };
        // What the record looks like, for the manual guard.
        let record = match found {
            Some(record) => record,
            None => match rule
                .target
                .vendor
                .get(rule.target.module(), &target_id)
                .await
            {
                Ok(record) => record,
                Err(e) => {
                    tracing::warn!(trigger = rule.name, "settling an interrupted create: {e}");
                    return Ok(Some(Fired::Retry));
                }
            },
        };
        self.linked(
            rule,
            change,
            intent,
            &target_id,
            &record,
            LedgerOp::Link,
            Some("an interrupted create had succeeded; linked, not created again".into()),
        )?;
        Ok(Some(Fired::Linked))
    }
}
