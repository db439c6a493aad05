//! The exactly-once create, shared by syncs and trigger rules.
//!
//! 1. An *intent* naming the create and how to find its result (match
//!    keys, or a field holding the source's id) is committed before the
//!    vendor is called.
//! 2. The vendor creates the batch: one call per `max_batch` records, up
//!    to the connection's concurrency at once ([`chunked`]); each answer is
//!    classified as written (with the new id), refused (nothing was
//!    written), or unknown (a lost answer, a timeout, a crash: it may have
//!    been written). Every intent of the batch is committed before any of
//!    its calls starts, so calls overlapping changes nothing here.
//! 3. The caller commits what it made of a written record — link,
//!    snapshots, fired key, ledger row and the intent's removal — in one
//!    store transaction, so a crash leaves either the intent or all of it.
//! 4. An intent still pending (a crash between 1 and 3, or an unknown
//!    answer) is *settled* before the same record is written again: looked
//!    up, and linked if it was created. Search on some vendors lags their
//!    writes (Zoho CRM's does), so "not found by search" is trusted only
//!    once a listing, which does not lag, agrees, and a record search
//!    found is confirmed by `get` (it may have been deleted since).

use std::collections::BTreeMap;
use std::future::Future;

use futures::StreamExt;

use crate::config::FieldPath;
use crate::connector::{CallError, ConnectorError, Operation, Record, id_of};
use crate::mapping::Side;
use crate::store::{Intent, RecordCommit, StateStore};

use super::job::{JobAnswer, JobAnswers};
use super::{Endpoint, EngineError, MatchIndex};

/// One record to create, with the intent that makes it exactly once.
#[derive(Debug, Clone)]
pub struct Create {
    pub intent: Intent,
    pub payload: Record,
}

/// What became of one create.
#[derive(Debug, Clone)]
pub enum Created {
    /// Written: the new record's id, and the vendor's answer.
    Written { target_id: String, answer: Record },
    /// Refused: nothing was written. The caller closes the intent.
    Refused(ConnectorError),
    /// Perhaps written: the intent stays, and settling decides.
    Unknown(String),
    /// Not written, and certainly not started (a job that could not
    /// start for a passing reason): the intent is closed already, and the
    /// record is left for a later run.
    Deferred(String),
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

/// `call` on `items` a batch of `target`'s at a time, up to its
/// connection's concurrency at once; each batch with what its call gave,
/// in order.
pub async fn chunked<'i, T, R, Fut>(
    target: &Endpoint,
    items: &'i [T],
    call: impl Fn(&'i [T]) -> Fut,
) -> Vec<(&'i [T], R)>
where
    Fut: Future<Output = R>,
{
    let chunks: Vec<&'i [T]> = items.chunks(target.batch()).collect();
    // Futures do nothing until polled: `buffered` starts them in turn.
    let calls: Vec<Fut> = chunks.iter().copied().map(&call).collect();
    let results: Vec<R> = futures::stream::iter(calls)
        .buffered(target.vendor.concurrency().max(1))
        .collect()
        .await;
    chunks.into_iter().zip(results).collect()
}

/// Commit the batch's intents under `ns`, then create it on `target`
/// ([`chunked`]). One answer per create, in order.
pub async fn create(
    store: &dyn StateStore,
    ns: &str,
    target: &Endpoint,
    batch: &[Create],
) -> Result<Vec<Created>, EngineError> {
    if let Some(size) = super::job::worth_it(target, batch.len()) {
        return super::job::create(store, ns, target, batch, size).await;
    }
    let intents: Vec<Intent> = batch.iter().map(|c| c.intent.clone()).collect();
    store.put_intents(ns, &intents)?;
    let payloads: Vec<Record> = batch.iter().map(|c| c.payload.clone()).collect();
    let sent = chunked(target, &payloads, |chunk| {
        target.vendor.create(target.module(), chunk)
    })
    .await;
    let mut out = Vec::with_capacity(batch.len());
    for (chunk, answers) in sent {
        out.extend(classify(target, chunk.len(), answers));
    }
    Ok(out)
}

/// What became of each of `n` creates sent in one call (or one job).
pub(super) fn classify(
    target: &Endpoint,
    n: usize,
    answers: Result<Vec<crate::connector::WriteResult>, CallError>,
) -> Vec<Created> {
    let answers = match answers {
        Ok(answers) => answers,
        Err(e) => {
            // Only the connector's own refusal certainly wrote nothing;
            // a trap, a limit or a lost answer leave it unknown.
            let refused = e.connector_error().filter(|c| !is_retryable(c)).cloned();
            return (0..n)
                .map(|_| match &refused {
                    Some(c) => Created::Refused(c.clone()),
                    None => Created::Unknown(unknown(&e)),
                })
                .collect();
        }
    };
    let mut answers = answers.into_iter();
    (0..n)
        .map(|_| match answers.next() {
            Some(Ok(answer)) => match id_of(&answer, &target.info.id_field) {
                Some(target_id) => Created::Written { target_id, answer },
                None => Created::Unknown(format!(
                    "the vendor's answer has no `{}`; which record was created is settled by lookup",
                    target.info.id_field
                )),
            },
            Some(Err(e)) if is_retryable(&e) => Created::Unknown(e.to_string()),
            Some(Err(e)) => Created::Refused(e),
            None => Created::Unknown("the vendor gave fewer answers than records".into()),
        })
        .collect()
}

/// The record `id` of `target` as it is now, or `None` if it is gone. A
/// lagging search can still return a record deleted moments ago; `get`
/// does not lag, so what search found is confirmed before it is trusted.
pub async fn exists(target: &Endpoint, id: &str) -> Result<Option<Record>, EngineError> {
    match target.vendor.get(target.module(), id).await {
        Ok(record) => Ok(Some(record)),
        Err(e) if matches!(e.connector_error(), Some(ConnectorError::NotFound(_))) => Ok(None),
        Err(e) => Err(target.call_error("get", e)),
    }
}

fn unknown(e: &CallError) -> String {
    format!("create outcome unknown ({e}); settled by lookup")
}

/// What an interrupted create turned out to be.
#[derive(Debug)]
pub enum Settlement {
    /// It was created: this record, not linked to anything yet. `record`
    /// is the record as found, when the lookup returned it. The caller
    /// links it and closes the intent in one commit.
    Found {
        target_id: String,
        record: Option<Record>,
    },
    /// It was never created; the intent is closed and the record may be
    /// created now.
    Absent,
    /// Nothing identifies its record (no lookup values, or the module
    /// cannot be searched): Ferry must not create it again. The caller
    /// closes the intent with a failure a person can act on.
    Unidentifiable,
    /// It went out in a vendor job that may still be running: not known
    /// yet, and nothing may be created for it. The intent stays.
    Pending,
}

/// Settles interrupted creates into one target, remembering listings
/// between intents that look records up by the same fields.
pub struct Settler<'a> {
    store: &'a dyn StateStore,
    /// Where the intents live.
    ns: &'a str,
    target: &'a Endpoint,
    /// Where the target's links live, and the target's side there: a
    /// record linked already is some other create's result.
    link_ns: &'a str,
    link_side: Side,
    listed: BTreeMap<Vec<String>, MatchIndex>,
    jobs: JobAnswers,
}

impl<'a> Settler<'a> {
    pub fn new(
        store: &'a dyn StateStore,
        ns: &'a str,
        target: &'a Endpoint,
        link_ns: &'a str,
        link_side: Side,
    ) -> Settler<'a> {
        Settler {
            store,
            ns,
            target,
            link_ns,
            link_side,
            listed: BTreeMap::new(),
            jobs: JobAnswers::default(),
        }
    }

    /// Look up what `intent` created. An error means the lookup could not
    /// be made: the intent stays, and nothing may be created for it yet.
    pub async fn settle(&mut self, intent: &Intent) -> Result<Settlement, EngineError> {
        if let Some(job) = &intent.job {
            // A job knows what it made of each row; and while it runs, a
            // lookup could miss a record it is about to write.
            match self.jobs.answer(self.target, job, intent.created).await? {
                JobAnswer::Running => return Ok(Settlement::Pending),
                JobAnswer::Done(Some(Ok(record))) => {
                    if let Some(target_id) = id_of(&record, &self.target.info.id_field)
                        && !self.linked(&target_id)?
                    {
                        return Ok(Settlement::Found {
                            target_id,
                            record: Some(record),
                        });
                    }
                }
                JobAnswer::Done(Some(Err(e))) if !is_retryable(&e) => {
                    // Refused by the job: nothing was written.
                    return self.absent(intent);
                }
                // No usable answer for its row, or the job ended without
                // results: what it wrote is looked up.
                JobAnswer::Done(_) | JobAnswer::Ended => {}
            }
        }
        if intent.lookup.is_empty() || !self.target.info.supports(Operation::Find) {
            return Ok(Settlement::Unidentifiable);
        }
        let found = self
            .target
            .vendor
            .find(self.target.module(), &intent.lookup)
            .await
            .map_err(|e| self.target.call_error("find", e))?;
        for record in found {
            if let Some(target_id) = id_of(&record, &self.target.info.id_field)
                && !self.linked(&target_id)?
                && let Some(record) = exists(self.target, &target_id).await?
            {
                return Ok(Settlement::Found {
                    target_id,
                    record: Some(record),
                });
            }
        }
        // Not found by search: trusted only once a listing agrees. Rare
        // (an interrupted create), and worth a listing to never create
        // twice; one listing serves every intent keyed by the same fields.
        let keys: Vec<String> = intent.lookup.keys().cloned().collect();
        if !self.listed.contains_key(&keys) {
            let fields = keys
                .iter()
                .filter_map(|k| FieldPath::parse(k).ok())
                .collect();
            let index = MatchIndex::build(self.target, fields).await?;
            self.listed.insert(keys.clone(), index);
        }
        let candidates = self.listed[&keys]
            .get(&intent.lookup)
            .unwrap_or_default()
            .to_vec();
        for target_id in candidates {
            if !self.linked(&target_id)? {
                return Ok(Settlement::Found {
                    target_id,
                    record: None,
                });
            }
        }
        self.absent(intent)
    }

    /// Close `intent`: nothing was created for it.
    fn absent(&self, intent: &Intent) -> Result<Settlement, EngineError> {
        self.store.commit(
            self.ns,
            RecordCommit {
                intents_done: vec![intent.key.clone()],
                ..Default::default()
            },
        )?;
        Ok(Settlement::Absent)
    }

    fn linked(&self, target_id: &str) -> Result<bool, EngineError> {
        Ok(self
            .store
            .link(self.link_ns, self.link_side, target_id)?
            .is_some())
    }
}
