//! Crashes at await points: a [`Vendor`] wrapper that stops the process
//! (as `kill -9` would) at its N-th call from now, before the call reaches
//! the vendor or after the vendor has done it (a write made whose answer
//! dies with the process).
//!
//! A crashed call never completes, and the [`Crash`] switch it belongs to
//! says so; [`Crash::run`] then drops the whole run future, so nothing
//! after that await point runs, while destructors do (as the state store's
//! commits, made before, stay). Every vendor wrapped with one switch shares
//! its count: "the N-th call" is the N-th call the process makes, to any
//! of them. Once crashed, every call hangs until [`Crash::disarm`].

use std::future::Future;
use std::sync::{Arc, Mutex};

use ferry::connector::{
    CallError, ConnectorInfo, DeletedPage, Limits, Page, Record, Vendor, WriteResult,
};
use futures::future::BoxFuture;
use tokio::sync::watch;

/// The switch shared by the wrapped vendors of one test. Clones share it.
#[derive(Clone)]
pub struct Crash(Arc<Switch>);

struct Switch {
    armed: Mutex<Option<Armed>>,
    crashed: watch::Sender<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    /// Calls still to pass before the one that crashes.
    left: u64,
    /// The crashing call reaches the vendor first.
    after: bool,
}

impl Default for Crash {
    fn default() -> Self {
        Crash::new()
    }
}

impl Crash {
    pub fn new() -> Crash {
        Crash(Arc::new(Switch {
            armed: Mutex::new(None),
            crashed: watch::channel(false).0,
        }))
    }

    /// Crash at the `nth` call from now (0: the next one); `after_call`:
    /// once the vendor has done it. Replaces an earlier arming.
    pub fn arm(&self, nth: u64, after_call: bool) {
        *self.0.armed.lock().unwrap() = Some(Armed {
            left: nth,
            after: after_call,
        });
    }

    /// No crash pending, and calls go through again (a new process).
    pub fn disarm(&self) {
        *self.0.armed.lock().unwrap() = None;
        self.0.crashed.send_replace(false);
    }

    pub fn has_crashed(&self) -> bool {
        *self.0.crashed.borrow()
    }

    /// `inner`, crashing when this switch says.
    pub fn wrap(&self, inner: Arc<dyn Vendor>) -> Arc<dyn Vendor> {
        Arc::new(Crashing {
            inner,
            crash: self.clone(),
        })
    }

    /// Run `work` until it completes (`Some`) or a call crashes (`None`):
    /// then `work` is dropped where it stood.
    pub async fn run<F: Future>(&self, work: F) -> Option<F::Output> {
        let mut crashed = self.0.crashed.subscribe();
        tokio::select! {
            biased;
            _ = crashed.wait_for(|c| *c) => None,
            out = work => Some(out),
        }
    }

    /// Called as a call starts: whether it crashes, and when.
    fn take(&self) -> Option<bool> {
        if self.has_crashed() {
            // The process is gone: nothing more reaches a vendor.
            return Some(false);
        }
        let mut armed = self.0.armed.lock().unwrap();
        let a = armed.as_mut()?;
        if a.left > 0 {
            a.left -= 1;
            return None;
        }
        let after = a.after;
        *armed = None;
        Some(after)
    }

    fn fire(&self) {
        self.0.crashed.send_replace(true);
    }
}

/// A wrapped vendor (see the module docs).
struct Crashing {
    inner: Arc<dyn Vendor>,
    crash: Crash,
}

impl Crashing {
    /// One call: made through `call` unless the process dies first; if it
    /// dies after, the answer is never seen.
    fn guarded<'a, T: Send + 'a>(
        &'a self,
        call: impl FnOnce(&'a dyn Vendor) -> BoxFuture<'a, Result<T, CallError>> + Send + 'a,
    ) -> BoxFuture<'a, Result<T, CallError>> {
        Box::pin(async move {
            match self.crash.take() {
                None => call(self.inner.as_ref()).await,
                Some(after) => {
                    if after {
                        let _ = call(self.inner.as_ref()).await;
                    }
                    self.crash.fire();
                    std::future::pending().await
                }
            }
        })
    }
}

impl Vendor for Crashing {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn limits(&self) -> Limits {
        self.inner.limits()
    }

    fn concurrency(&self) -> usize {
        self.inner.concurrency()
    }

    fn describe(&self) -> BoxFuture<'_, Result<ConnectorInfo, CallError>> {
        self.guarded(|v| v.describe())
    }

    fn check(&self) -> BoxFuture<'_, Result<(), CallError>> {
        self.guarded(|v| v.check())
    }

    fn list<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, CallError>> {
        self.guarded(move |v| v.list(module, since, cursor))
    }

    fn get<'a>(&'a self, module: &'a str, id: &'a str) -> BoxFuture<'a, Result<Record, CallError>> {
        self.guarded(move |v| v.get(module, id))
    }

    fn find<'a>(
        &'a self,
        module: &'a str,
        criteria: &'a Record,
    ) -> BoxFuture<'a, Result<Vec<Record>, CallError>> {
        self.guarded(move |v| v.find(module, criteria))
    }

    fn deleted<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DeletedPage, CallError>> {
        self.guarded(move |v| v.deleted(module, since, cursor))
    }

    fn create<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.guarded(move |v| v.create(module, records))
    }

    fn update<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.guarded(move |v| v.update(module, records))
    }

    fn delete<'a>(
        &'a self,
        module: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        self.guarded(move |v| v.delete(module, ids))
    }

    fn act<'a>(
        &'a self,
        module: &'a str,
        id: &'a str,
        action: &'a str,
        args: &'a Record,
    ) -> BoxFuture<'a, Result<Record, CallError>> {
        self.guarded(move |v| v.act(module, id, action, args))
    }

    fn start_create_job<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<String, CallError>> {
        self.guarded(move |v| v.start_create_job(module, records))
    }

    fn poll_create_job<'a>(
        &'a self,
        module: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<WriteResult>>, CallError>> {
        self.guarded(move |v| v.poll_create_job(module, job))
    }
}
