//! Creates sent as one vendor job (Zoho CRM's Bulk Write), for batches a
//! module's [`JobSize`] says are worth it. Exactly once as every create
//! is ([`super::write`]): the intents are committed before the job
//! starts, and the job's handle (with each input's row) is committed as
//! soon as the vendor gives it, so after a crash settling asks the job
//! what it made of each row instead of looking records up while it may
//! still be writing them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::connector::{CallError, ConnectorError, JobSize, Record, WriteResult};
use crate::store::{Intent, JobRef, RecordCommit, StateStore, unix_now};

use super::write::{Create, Created, classify, is_retryable};
use super::{Endpoint, EngineError};

/// The pause after a job's first answer that it runs; it doubles up to
/// [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const MAX_PAUSE: Duration = Duration::from_secs(15);
/// Polls in a row that may fail before the run leaves the job to settling.
const MAX_FAILURES: u32 = 5;

/// Whether `batch` goes to `target` as jobs.
pub fn worth_it(target: &Endpoint, batch: usize) -> Option<JobSize> {
    target
        .info
        .create_job
        .filter(|size| batch >= size.min_records.max(1) as usize)
}

/// Create `batch` on `target` as jobs of at most `size.max_records`, one
/// after another. One answer per create, in order.
pub async fn create(
    store: &dyn StateStore,
    ns: &str,
    target: &Endpoint,
    batch: &[Create],
    size: JobSize,
) -> Result<Vec<Created>, EngineError> {
    let mut out = Vec::with_capacity(batch.len());
    for chunk in batch.chunks(size.max_records.max(1) as usize) {
        out.extend(one(store, ns, target, chunk, size).await?);
    }
    Ok(out)
}

async fn one(
    store: &dyn StateStore,
    ns: &str,
    target: &Endpoint,
    chunk: &[Create],
    size: JobSize,
) -> Result<Vec<Created>, EngineError> {
    // Marked as going out in a job before it starts: should the handle
    // never be stored, settling waits out the job's time before it looks
    // anything up.
    let mut intents: Vec<Intent> = chunk
        .iter()
        .enumerate()
        .map(|(row, c)| Intent {
            job: Some(JobRef {
                handle: String::new(),
                row: row as u32,
            }),
            ..c.intent.clone()
        })
        .collect();
    store.put_intents(ns, &intents)?;
    let payloads: Vec<Record> = chunk.iter().map(|c| c.payload.clone()).collect();
    let handle = match target
        .vendor
        .start_create_job(target.module(), &payloads)
        .await
    {
        Ok(handle) => handle,
        Err(e) => {
            let outcome = not_started(&e);
            if let Created::Deferred(_) = outcome {
                // Certainly not started: the intents go, the records wait.
                store.commit(
                    ns,
                    RecordCommit {
                        intents_done: intents.iter().map(|i| i.key.clone()).collect(),
                        ..Default::default()
                    },
                )?;
            }
            return Ok(chunk.iter().map(|_| outcome.clone()).collect());
        }
    };
    for intent in &mut intents {
        if let Some(job) = &mut intent.job {
            job.handle = handle.clone();
        }
    }
    store.put_intents(ns, &intents)?;
    tracing::info!(
        module = target.module(),
        job = handle,
        records = chunk.len(),
        "create job started"
    );
    match wait(target, &handle, patience(size)).await {
        Ok(results) => Ok(classify(target, chunk.len(), Ok(results))),
        Err(why) => Ok((0..chunk.len())
            .map(|_| Created::Unknown(why.clone()))
            .collect()),
    }
}

/// What a job that did not start (or whose start is unknown) means for
/// each of its creates; see [`crate::connector::Vendor::start_create_job`].
fn not_started(e: &CallError) -> Created {
    match e.connector_error() {
        Some(ConnectorError::NotFound(_)) | None => Created::Unknown(format!(
            "a create job may have started, without its handle ({e}); settled by lookup once the module's jobs are over"
        )),
        Some(c) if is_retryable(c) => {
            Created::Deferred(format!("the create job did not start ({e})"))
        }
        Some(c) => Created::Refused(c.clone()),
    }
}

/// Ask after the job until it is done: its results, or why they are
/// unknown (left to settling).
async fn wait(
    target: &Endpoint,
    handle: &str,
    patience: Duration,
) -> Result<Vec<WriteResult>, String> {
    let deadline = Instant::now() + patience;
    let mut pause = FIRST_PAUSE;
    let mut failures = 0;
    loop {
        match target.vendor.poll_create_job(target.module(), handle).await {
            Ok(Some(results)) => return Ok(results),
            Ok(None) => failures = 0,
            Err(e) if e.connector_error().is_some_and(is_retryable) && failures < MAX_FAILURES => {
                failures += 1;
                tracing::warn!(job = handle, "asking after a create job: {e}; asking again");
            }
            Err(e) => return Err(format!("create job {handle}: {e}; settled later")),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "create job {handle} still running after {} s; settled when it is done",
                patience.as_secs()
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

fn patience(size: JobSize) -> Duration {
    Duration::from_secs(size.patience_secs.into())
}

/// What a job made of one input, as settling needs it.
#[derive(Debug, Clone)]
pub enum JobAnswer {
    /// The job may still create it: nothing may be created for it yet.
    Running,
    /// The job is done: this input's result (`None`: it gave none).
    Done(Option<WriteResult>),
    /// The job ended without results: look the record up.
    Ended,
}

/// Jobs' answers for settling, each job asked once.
#[derive(Default)]
pub struct JobAnswers {
    asked: BTreeMap<String, Result<Option<Vec<WriteResult>>, ConnectorError>>,
}

impl JobAnswers {
    /// What the job `job` of an intent stored at `created` (Unix seconds)
    /// made of its row.
    pub async fn answer(
        &mut self,
        target: &Endpoint,
        job: &JobRef,
        created: u64,
    ) -> Result<JobAnswer, EngineError> {
        if job.handle.is_empty() {
            // The job may have started, but its handle was never stored:
            // wait out a job's time before trusting a lookup.
            let waited = Duration::from_secs(unix_now().saturating_sub(created));
            let patience = target.info.create_job.map_or(Duration::ZERO, patience);
            return Ok(if waited < patience {
                JobAnswer::Running
            } else {
                JobAnswer::Ended
            });
        }
        if !self.asked.contains_key(&job.handle) {
            let answer = match target
                .vendor
                .poll_create_job(target.module(), &job.handle)
                .await
            {
                Ok(done) => Ok(done),
                Err(e) => match e.connector_error() {
                    Some(c) => Err(c.clone()),
                    None => return Err(target.call_error("poll", e)),
                },
            };
            self.asked.insert(job.handle.clone(), answer);
        }
        Ok(match &self.asked[&job.handle] {
            Ok(None) => JobAnswer::Running,
            Ok(Some(results)) => JobAnswer::Done(results.get(job.row as usize).cloned()),
            Err(e) if is_retryable(e) => JobAnswer::Running,
            Err(_) => JobAnswer::Ended,
        })
    }
}
