//! An in-memory [`Vendor`] for testing the sync engine without plugins.
//!
//! It models what exactly-once syncing has to survive, not a vendor's API:
//! modified times at a module's granularity from a manual [`FakeClock`]
//! (two edits in one second share a stamp, as in Zoho Books); list rows
//! that leave fields out where `get` has them; a search that lags writes;
//! uniqueness refusals; a deleted feed; and scripted faults, among them a
//! write whose answer is lost.
//!
//! Models chosen:
//! * **Search lag** (`search_lag(n)`, default 0): `find` reads a search
//!   index, not the records. A write (by Ferry or by a person) reaches the
//!   index only once `n` further calls to this vendor (any operation) have
//!   been made: the next `n` calls do not see it, the one after does;
//!   `index_now()` brings the index up to date at once. Until then `find`
//!   answers from the old state: a deleted record is still found, a renamed
//!   one under its old name. `list` and `get` never lag. Search compares as
//!   text, case-insensitively, and its rows leave out `list_omits` too.
//!   `search_sees_deletes_at_once()` lets deletions (only) reach the
//!   index at once: a search that lags creates and edits but never finds
//!   a deleted record.
//! * **Uniqueness** (`unique(field)`): a create or update whose value of
//!   the field equals (case-insensitively) another live record's is refused
//!   with [`ConnectorError::Conflict`], as the Zoho plugins report
//!   `DUPLICATE_DATA` and Books' 3062. It is checked per record against
//!   the records as they are, so the second of two equal records in one
//!   batch is refused. A person's `insert`/`edit` bypass it (seeding
//!   duplicates that predate the rule).
//!
//! A call does its work when its future is first polled, not when made.
//! Clones share one vendor. Test helpers (`insert`, `edit`, `remove`,
//! `records`) panic on an unknown module or id: that is a broken test, not
//! a case the engine meets; the [`Vendor`] methods return errors instead.

mod module;
mod state;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::future::BoxFuture;
use serde_json::Value;

use super::{
    CONTRACT_V0_1, CallError, ConnectorError, ConnectorInfo, DeletedPage, Limits, Operation, Page,
    Record, Vendor, WriteResult,
};
pub use module::{FakeModule, TimeStyle};
use module::{Module, invalid, object};
use state::State;

/// A manual clock, shared by the vendors of one test so their modified
/// times are deterministic and comparable. Clones share the time.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<DateTime<Utc>>>);

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::at(Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap())
    }
}

impl FakeClock {
    /// A clock at 2024-05-01T12:00:00Z (a whole second).
    pub fn new() -> FakeClock {
        FakeClock::default()
    }

    pub fn at(start: DateTime<Utc>) -> FakeClock {
        FakeClock(Arc::new(Mutex::new(start)))
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock poisoned")
    }

    /// # Panics
    /// If `by` is beyond chrono's range.
    pub fn advance(&self, by: Duration) {
        let by = TimeDelta::from_std(by).expect("advance within chrono's range");
        *self.0.lock().expect("clock poisoned") += by;
    }
}

/// An operation of the contract, for faults and call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Describe,
    Check,
    List,
    Get,
    Find,
    Deleted,
    Create,
    Update,
    Delete,
    Act,
    /// `start_create_job`.
    StartJob,
    /// `poll_create_job`.
    PollJob,
}

impl Op {
    fn function(self) -> &'static str {
        match self {
            Op::Describe => "describe",
            Op::Check => "check",
            Op::List => "list",
            Op::Get => "get",
            Op::Find => "find",
            Op::Deleted => "deleted",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Act => "act",
            Op::StartJob => "start-create",
            Op::PollJob => "poll",
        }
    }
}

/// A scripted failure of the next call of one operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The call goes through: scripts "the first passes, the second
    /// fails".
    Pass,
    /// Nothing happens; `RateLimited`.
    RateLimited { retry_after_ms: Option<u64> },
    /// Nothing happens; `Transient` (a dropped connection).
    Transient,
    /// The call does its work, then the answer is lost: `Transient`.
    LostAnswer,
    /// Nothing happens; an HTTP 500 the connector did not classify
    /// (`Vendor`, not retryable). Use `Transient` for a classified one.
    Server5xx,
    /// Nothing happens; this error.
    Error(ConnectorError),
}

impl Fault {
    fn error(&self) -> ConnectorError {
        match self {
            Fault::Pass => unreachable!("a passing call has no error"),
            Fault::RateLimited { retry_after_ms } => ConnectorError::RateLimited {
                retry_after_ms: *retry_after_ms,
                message: "too many requests".into(),
            },
            Fault::Transient => ConnectorError::Transient("connection reset".into()),
            Fault::LostAnswer => {
                ConnectorError::Transient("connection lost before the answer".into())
            }
            Fault::Server5xx => ConnectorError::Vendor {
                code: "INTERNAL_ERROR".into(),
                message: "internal server error".into(),
                http_status: 500,
            },
            Fault::Error(e) => e.clone(),
        }
    }
}

/// Who made a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Ferry,
    Person,
}

/// One write that happened (refused ones are not logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub op: Op,
    pub module: String,
    pub id: String,
    pub by: By,
}

/// An in-memory vendor; see the module docs. Clones share state.
#[derive(Clone)]
pub struct FakeVendor {
    name: String,
    clock: FakeClock,
    limits: Limits,
    concurrency: usize,
    /// Write calls started, to vary when each answers.
    writes: Arc<std::sync::atomic::AtomicU64>,
    state: Arc<Mutex<State>>,
}

impl FakeVendor {
    pub fn new(name: &str) -> FakeVendor {
        FakeVendor {
            name: name.into(),
            clock: FakeClock::new(),
            limits: Limits::default(),
            concurrency: 1,
            writes: Arc::default(),
            state: Arc::default(),
        }
    }

    /// Let the host send up to `n` write calls at once.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn module(self, module: FakeModule) -> Self {
        self.lock().modules.push(Module::new(module));
        self
    }

    /// Share a clock with another vendor.
    pub fn with_clock(mut self, clock: FakeClock) -> Self {
        self.clock = clock;
        self
    }

    /// Writes reach search after `n` further calls (see the module docs).
    pub fn search_lag(self, n: u64) -> Self {
        self.lock().search_lag = n;
        self
    }

    /// Deletions reach search at once; other writes still lag (see the
    /// module docs).
    pub fn search_sees_deletes_at_once(self) -> Self {
        self.lock().deletes_at_once = true;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn clock(&self) -> FakeClock {
        self.clock.clone()
    }

    /// Fail the next call of `op` with `fault`; faults queue in order.
    pub fn fail_next(&self, op: Op, fault: Fault) {
        self.lock().faults.entry(op).or_default().push_back(fault);
    }

    /// Drop the faults still queued for `op`.
    pub fn clear_faults(&self, op: Op) {
        self.lock().faults.remove(&op);
    }

    /// Bring the search index up to date.
    pub fn index_now(&self) {
        let mut s = self.lock();
        let pending = std::mem::take(&mut s.pending);
        pending.into_iter().for_each(|p| s.apply(p));
    }

    /// A person creates a record; its id.
    #[track_caller]
    pub fn insert(&self, module: &str, fields: Value) -> String {
        let now = self.clock.now();
        let mut s = self.lock();
        let i = s.expect_module(module);
        s.add(i, object(fields), now, By::Person)
    }

    /// A person edits a record (fields merge; modified time moves).
    #[track_caller]
    pub fn edit(&self, module: &str, id: &str, fields: Value) -> Record {
        let now = self.clock.now();
        let mut s = self.lock();
        let i = s.expect_module(module);
        let patch = object(fields);
        s.merge(i, id, &patch, now, Op::Update, By::Person)
            .unwrap_or_else(|e| panic!("edit {module} {id}: {e}"))
    }

    /// A person deletes a record.
    #[track_caller]
    pub fn remove(&self, module: &str, id: &str) {
        let now = self.clock.now();
        let mut s = self.lock();
        let i = s.expect_module(module);
        if let Err(e) = s.delete_one(i, id, now, By::Person) {
            panic!("remove {module} {id}: {e}");
        }
    }

    /// Full records, in list order.
    #[track_caller]
    pub fn records(&self, module: &str) -> Vec<Record> {
        let s = self.lock();
        let i = s.expect_module(module);
        s.modules[i].ordered().map(|r| r.record.clone()).collect()
    }

    pub fn get_now(&self, module: &str, id: &str) -> Option<Record> {
        let s = self.lock();
        let m = s.modules.iter().find(|m| m.spec.name == module)?;
        m.records.get(id).map(|r| r.record.clone())
    }

    /// Calls of `op` made through [`Vendor`], failed ones included.
    pub fn calls(&self, op: Op) -> u64 {
        self.lock().calls.get(&op).copied().unwrap_or(0)
    }

    pub fn writes(&self) -> Vec<Write> {
        self.lock().writes.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("fake vendor poisoned")
    }

    /// One vendor call: count it, move the index on, play a fault.
    fn call<T>(
        &self,
        op: Op,
        work: impl FnOnce(&mut State, DateTime<Utc>) -> Result<T, ConnectorError>,
    ) -> Result<T, CallError> {
        let now = self.clock.now();
        let mut s = self.lock();
        *s.calls.entry(op).or_default() += 1;
        s.tick += 1;
        let tick = s.tick;
        let (due, later) = std::mem::take(&mut s.pending)
            .into_iter()
            .partition::<Vec<_>, _>(|p| p.due < tick);
        s.pending = later;
        due.into_iter().for_each(|p| s.apply(p));
        let result = match s.faults.get_mut(&op).and_then(VecDeque::pop_front) {
            None | Some(Fault::Pass) => work(&mut s, now),
            Some(Fault::LostAnswer) => {
                let _ = work(&mut s, now);
                Err(Fault::LostAnswer.error())
            }
            Some(fault) => Err(fault.error()),
        };
        result.map_err(|error| CallError::Connector {
            plugin: self.name.clone(),
            function: op.function(),
            error,
        })
    }

    /// A batch write: one result per input, in order.
    fn batch<'a, T>(
        &'a self,
        op: Op,
        module: &'a str,
        items: &'a [T],
        one: impl Fn(&mut State, usize, &T, DateTime<Utc>) -> WriteResult + Send + 'a,
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>>
    where
        T: Sync,
    {
        let operation = match op {
            Op::Create => Operation::Create,
            Op::Update => Operation::Update,
            _ => Operation::Delete,
        };
        Box::pin(async move {
            // Calls the host has in flight at once answer out of order, as
            // a vendor's would.
            if self.concurrency > 1 {
                let turn = self
                    .writes
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for _ in 0..(turn * 7 + 1) % 3 {
                    tokio::task::yield_now().await;
                }
            }
            self.call(op, |s, now| {
                let i = s.supported(module, operation)?;
                let max = s.modules[i].spec.batch as usize;
                if items.len() > max {
                    return Err(invalid(
                        "records",
                        format!("at most {max} records per call"),
                    ));
                }
                Ok(items.iter().map(|item| one(s, i, item, now)).collect())
            })
        })
    }
}

impl Vendor for FakeVendor {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn concurrency(&self) -> usize {
        self.concurrency
    }

    fn describe(&self) -> BoxFuture<'_, Result<ConnectorInfo, CallError>> {
        Box::pin(async move {
            self.call(Op::Describe, |s, _| {
                Ok(ConnectorInfo {
                    name: self.name.clone(),
                    version: "0.0.0-fake".into(),
                    description: "in-memory test vendor".into(),
                    contract: CONTRACT_V0_1.into(),
                    modules: s.modules.iter().map(|m| m.spec.info()).collect(),
                })
            })
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CallError>> {
        Box::pin(async move { self.call(Op::Check, |_, _| Ok(())) })
    }

    fn list<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, CallError>> {
        Box::pin(async move {
            self.call(Op::List, |s, _| {
                let i = s.supported(module, Operation::Read)?;
                s.modules[i].list(since, cursor)
            })
        })
    }

    fn get<'a>(&'a self, module: &'a str, id: &'a str) -> BoxFuture<'a, Result<Record, CallError>> {
        Box::pin(async move {
            self.call(Op::Get, |s, _| {
                let m = &s.modules[s.supported(module, Operation::Read)?];
                m.records
                    .get(id)
                    .map(|r| r.record.clone())
                    .ok_or_else(|| m.missing(id))
            })
        })
    }

    fn find<'a>(
        &'a self,
        module: &'a str,
        criteria: &'a Record,
    ) -> BoxFuture<'a, Result<Vec<Record>, CallError>> {
        Box::pin(async move {
            self.call(Op::Find, |s, _| {
                s.modules[s.supported(module, Operation::Find)?].find(criteria)
            })
        })
    }

    fn deleted<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DeletedPage, CallError>> {
        Box::pin(async move {
            self.call(Op::Deleted, |s, _| {
                s.modules[s.supported(module, Operation::DeletedFeed)?].deleted(since, cursor)
            })
        })
    }

    fn create<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.batch(Op::Create, module, records, |s, i, r, now| {
            s.create_one(i, r, now)
        })
    }

    fn update<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.batch(Op::Update, module, records, |s, i, r, now| {
            s.update_one(i, r, now)
        })
    }

    fn delete<'a>(
        &'a self,
        module: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.batch(Op::Delete, module, ids, |s, i, id, now| {
            s.delete_one(i, id, now, By::Ferry)
        })
    }

    fn act<'a>(
        &'a self,
        module: &'a str,
        id: &'a str,
        action: &'a str,
        _args: &'a Record,
    ) -> BoxFuture<'a, Result<Record, CallError>> {
        Box::pin(async move {
            self.call(Op::Act, |s, now| {
                let i = s.module(module)?;
                s.act(i, id, action, now)
            })
        })
    }

    fn start_create_job<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<String, CallError>> {
        Box::pin(async move {
            let started = self.call(Op::StartJob, |s, _| {
                let i = s.supported(module, Operation::Create)?;
                let Some((size, polls)) = s.modules[i].spec.jobs else {
                    return Err(ConnectorError::Unsupported(format!(
                        "create jobs of `{module}`"
                    )));
                };
                if records.len() > size.max_records as usize {
                    return Err(invalid(
                        "records",
                        format!("at most {} records per job", size.max_records),
                    ));
                }
                let handle = format!("job-{}", s.jobs.len() + 1);
                s.jobs.insert(
                    handle.clone(),
                    state::Job {
                        module: i,
                        records: records.to_vec(),
                        polls_left: polls,
                        results: None,
                    },
                );
                Ok(handle)
            });
            // A start whose answer was lost may have started the job: the
            // contract says so with `NotFound`, not a passing failure.
            started.map_err(|e| match e {
                CallError::Connector {
                    plugin,
                    function,
                    error,
                } if error == Fault::LostAnswer.error() => CallError::Connector {
                    plugin,
                    function,
                    error: ConnectorError::NotFound(
                        "the job's handle was lost; it may have started".into(),
                    ),
                },
                other => other,
            })
        })
    }

    fn poll_create_job<'a>(
        &'a self,
        _module: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<WriteResult>>, CallError>> {
        Box::pin(async move {
            self.call(Op::PollJob, |s, now| {
                let Some(j) = s.jobs.get_mut(job) else {
                    return Err(ConnectorError::NotFound(format!("no job `{job}`")));
                };
                if j.polls_left > 0 {
                    j.polls_left -= 1;
                    return Ok(None);
                }
                if let Some(done) = &j.results {
                    return Ok(Some(done.clone()));
                }
                let (i, records) = (j.module, std::mem::take(&mut j.records));
                let results: Vec<WriteResult> =
                    records.iter().map(|r| s.create_one(i, r, now)).collect();
                s.jobs.get_mut(job).expect("job").results = Some(results.clone());
                Ok(Some(results))
            })
        })
    }
}
