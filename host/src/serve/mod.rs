//! `ferry serve`: Ferry as a long-running service. It runs syncs and
//! trigger rules on their schedules, and within a second of a vendor's
//! notification; it serves the admin API, the webhook receiver, metrics
//! and a health check; and it shuts down gracefully, letting running runs
//! commit the page in hand.
//!
//! The scheduler keeps a job per sync (feeding the trigger rules on the
//! modules it reads), one per watched module for the rules and one per
//! rollup (see [`jobs`]). A job's last
//! scheduled start is kept in the state store, so a restart neither loses a
//! schedule nor replays every slot it missed; pauses live there too.

mod access;
pub(crate) mod actions;
mod api;
pub mod cluster;
mod dashboard;
mod hooks;
mod jobs;
pub mod local;
mod status;
pub mod tokens;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{Schedule, ServeConfig};
use crate::engine;
use crate::runner;
use crate::schedule::{self, Clock, ManualClock};
use crate::store::{Counts, EmbeddedStore, RunRecord, RunStatus, RunTrigger, StoreError};
use crate::sync::{Env, RunOptions};
use crate::trigger::{self, TriggerOptions};

pub use api::router;
pub use jobs::{Job, JobKind, jobs};
pub use status::{JobState, Live, Status};
pub use tokens::Role;

use status::LiveProgress;

/// A run asked for outside the schedule.
#[derive(Debug, Clone, Copy)]
struct Request {
    trigger: RunTrigger,
    full: bool,
    /// Not before (notifications are debounced).
    at: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Slot {
    running: bool,
    requested: Option<Request>,
    /// Why the job is held back, when it is.
    held: Option<String>,
    /// The run in progress, as far as it got.
    progress: Option<Live>,
}

/// When a job last started, by the service's clock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LastStart {
    at: DateTime<Utc>,
}

/// Knobs of a service (the rest is the workspace's `serve:`).
pub struct ServeOptions {
    /// Overrides `serve.listen`.
    pub listen: Option<SocketAddr>,
    /// A clock tests move (`--manual-clock`); the system clock otherwise.
    pub manual_clock: Option<Arc<ManualClock>>,
}

/// A running service.
pub struct Service {
    env: Arc<Env>,
    store: Arc<EmbeddedStore>,
    config: ServeConfig,
    clock: Arc<dyn Clock>,
    manual: Option<Arc<ManualClock>>,
    jobs: Vec<Job>,
    state: Mutex<Vec<Slot>>,
    /// Something changed: a request, a notification, a finished run.
    wake: tokio::sync::Notify,
    stop: Arc<AtomicBool>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    hooks: hooks::Channels,
    /// Passes of the scheduler loop (a sign of life, and how tests know it
    /// looked at the clock).
    ticks: std::sync::atomic::AtomicU64,
    /// The token of commands run beside the service ([`local`]).
    local_token: std::sync::OnceLock<String>,
    /// The dashboard's signed-in browsers.
    sessions: dashboard::session::Sessions,
}

/// Why the service could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(
        "the admin API has no tokens and is not open: make one with `ferry tokens add <name> --role admin`, or bind to loopback with `serve.open_on_loopback: true` (reading only, without a token)"
    )]
    NoAccess,
}

fn key(job: &str) -> String {
    format!("laststart/{job}")
}

fn calls_key(name: &str, run: u64) -> String {
    format!("calls/{name}/{run}")
}

impl Service {
    /// Build the service for an opened workspace; the admin API must be
    /// reachable by someone (tokens, or open on loopback).
    pub fn new(
        env: Arc<Env>,
        store: Arc<EmbeddedStore>,
        options: &ServeOptions,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    ) -> Result<Arc<Service>, ServeError> {
        Self::build(env, store, options, metrics, hooks::Channels::default())
    }

    /// [`Service::new`]; with `hooks` of a cluster worker, the service
    /// serves no API (a worker's turn on a workspace), so needs no access.
    fn build(
        env: Arc<Env>,
        store: Arc<EmbeddedStore>,
        options: &ServeOptions,
        metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
        hooks: hooks::Channels,
    ) -> Result<Arc<Service>, ServeError> {
        let with_api = !hooks.on_worker();
        let mut config = env.workspace.serve.clone();
        if let Some(addr) = options.listen {
            config.listen = addr;
        }
        if config.open_on_loopback && !config.listen.ip().is_loopback() {
            config.open_on_loopback = false;
        }
        if with_api && !config.open_on_loopback && tokens::list(&store)?.is_empty() {
            return Err(ServeError::NoAccess);
        }
        let jobs = jobs(&env.workspace);
        // Carry today's API usage (and the last error) over a restart.
        for name in env.workspace.connections.keys() {
            if let (Some(usage), Some(saved)) = (
                env.api_usage(name),
                store.meta_get::<crate::capability::UsageSaved>(&format!("usage/{name}"))?,
            ) {
                usage.restore(saved);
            }
        }
        let clock: Arc<dyn Clock> = match &options.manual_clock {
            Some(m) => m.clone(),
            None => Arc::new(schedule::SystemClock),
        };
        let state = jobs.iter().map(|_| Slot::default()).collect();
        Ok(Arc::new(Service {
            hooks,
            env,
            store,
            config,
            clock,
            manual: options.manual_clock.clone(),
            jobs,
            state: Mutex::new(state),
            wake: tokio::sync::Notify::new(),
            stop: Arc::new(AtomicBool::new(false)),
            metrics,
            ticks: std::sync::atomic::AtomicU64::new(0),
            local_token: std::sync::OnceLock::new(),
            sessions: dashboard::session::Sessions::default(),
        }))
    }

    pub fn listen_addr(&self) -> SocketAddr {
        self.config.listen
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }

    /// The job that runs `name` (a sync or a rule).
    pub fn job_of(&self, name: &str) -> Option<usize> {
        self.jobs
            .iter()
            .position(|j| j.names().iter().any(|n| n == name))
    }

    /// Ask for a run of job `i` now (`run now`, a notification).
    fn request(&self, i: usize, trigger: RunTrigger, full: bool, delay: std::time::Duration) {
        let at = self.clock.now() + chrono::Duration::from_std(delay).unwrap_or_default();
        let mut state = self.state.lock().unwrap();
        let slot = &mut state[i].requested;
        *slot = Some(match slot.take() {
            // A burst of notifications: the run waits for it to settle.
            Some(r) => Request {
                at: at.max(r.at),
                full: full || r.full,
                trigger: r.trigger,
            },
            None => Request { trigger, full, at },
        });
        drop(state);
        self.wake.notify_one();
    }

    /// A vendor notified a change in `connection.module`: run what reads it.
    pub fn notified(&self, connection: &str, module: &str) -> usize {
        self.notified_after(connection, module, self.config.debounce)
    }

    /// [`Service::notified`], the run starting after `delay`.
    pub(crate) fn notified_after(
        &self,
        connection: &str,
        module: &str,
        delay: std::time::Duration,
    ) -> usize {
        let mut n = 0;
        for (i, job) in self.jobs.iter().enumerate() {
            if job
                .modules
                .iter()
                .any(|m| m.connection == connection && m.module.eq_ignore_ascii_case(module))
            {
                self.request(i, RunTrigger::Webhook, false, delay);
                n += 1;
            }
        }
        n
    }

    fn paused(&self, job: &Job) -> Result<bool, StoreError> {
        for name in job.names() {
            if !self.env.store.is_paused(&name)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Whether a job that job `i` conflicts with is running.
    fn waits_for_another(&self, i: usize) -> bool {
        let state = self.state.lock().unwrap();
        (0..self.jobs.len())
            .any(|j| j != i && state[j].running && self.jobs[i].conflicts(&self.jobs[j]))
    }

    /// Failed runs in a row, newest first.
    fn failures(&self, job: &Job) -> Result<u32, StoreError> {
        let name = &job.names()[0];
        Ok(self
            .env
            .store
            .runs(name, 8)?
            .iter()
            .take_while(|r| matches!(r.status, RunStatus::Failed(_)))
            .count() as u32)
    }

    /// When job `i` is next due on its schedule (with backoff after
    /// failures); `None`: not on a schedule.
    fn scheduled(&self, i: usize, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, StoreError> {
        let job = &self.jobs[i];
        // A run a stopped process left unfinished (this one before a
        // restart, or a worker killed mid-run) resumes at once.
        let latest = self.env.store.runs(&job.names()[0], 1)?;
        if latest.first().is_some_and(|r| r.status.is_interrupted()) {
            return Ok(Some(now));
        }
        let last = self
            .store
            .meta_get::<LastStart>(&key(&job.name))?
            .map(|l| l.at);
        let due = schedule::next_due(&job.schedule, last, now, self.config.poll_every);
        let failures = self.failures(job)?;
        Ok(match (due, last) {
            (Some(due), Some(last)) if failures > 0 => Some(due.max(
                last + chrono::Duration::from_std(schedule::backoff(failures)).unwrap_or_default(),
            )),
            (due, _) => due,
        })
    }

    /// Whether a connection the job calls has spent its budget for today.
    fn over_budget(&self, job: &Job) -> Option<String> {
        for c in &job.connections {
            let Some(budget) = self.env.workspace.connections.get(c).and_then(|c| c.budget) else {
                continue;
            };
            let used = self.env.api_usage(c).map_or(0, |u| u.budget_used());
            if used >= budget.limit() {
                crate::telemetry::budget_pause(c);
                return Some(format!(
                    "connection `{c}` has used {used} of its {} API calls today (pauses at {:.0}%); resumes at 00:00 UTC",
                    budget.daily,
                    budget.pause_at * 100.0
                ));
            }
        }
        None
    }

    /// Run the scheduler until [`Service::shutdown`]; running jobs finish
    /// the page in hand and commit before this returns.
    pub async fn run_scheduler(self: &Arc<Self>) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            let mut next_wake: Option<DateTime<Utc>> = None;
            for i in 0..self.jobs.len() {
                match self.start_if_due(i, &mut running) {
                    Ok(Some(at)) => next_wake = Some(next_wake.map_or(at, |n| n.min(at))),
                    Ok(None) => {}
                    Err(e) => tracing::error!(job = self.jobs[i].name, "scheduling: {e}"),
                }
            }
            if let Some(renew) = self.maintain_channels().await {
                next_wake = Some(next_wake.map_or(renew, |n| n.min(renew)));
            }
            self.ticks.fetch_add(1, Ordering::Relaxed);
            let far = self.clock.now() + chrono::Duration::hours(1);
            let until = next_wake.unwrap_or(far).min(far);
            tokio::select! {
                _ = self.clock.wait_until(until) => {}
                _ = self.wake.notified() => {}
                Some(done) = running.join_next(), if !running.is_empty() => {
                    if let Ok(i) = done {
                        let mut state = self.state.lock().unwrap();
                        state[i].running = false;
                        state[i].progress = None;
                    }
                }
            }
        }
        // Graceful: running passes stop after the page in hand. A run that
        // cannot get there in time (a plugin call that is still working)
        // is stopped where it is, as a crash would stop it: what it
        // committed stays, its pending writes are settled next start.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        loop {
            match tokio::time::timeout_at(deadline, running.join_next()).await {
                Ok(Some(done)) => {
                    if let Ok(i) = done {
                        let mut state = self.state.lock().unwrap();
                        state[i].running = false;
                        state[i].progress = None;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    tracing::warn!(
                        runs = running.len(),
                        "runs still busy {}s after the shutdown signal are stopped; the next start settles them",
                        SHUTDOWN_GRACE.as_secs()
                    );
                    running.abort_all();
                    while running.join_next().await.is_some() {}
                    break;
                }
            }
        }
    }

    /// Start job `i` if it is due; otherwise when it will be.
    fn start_if_due(
        self: &Arc<Self>,
        i: usize,
        running: &mut tokio::task::JoinSet<usize>,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let job = &self.jobs[i];
        let now = self.clock.now();
        let (busy, requested) = {
            let state = self.state.lock().unwrap();
            (state[i].running, state[i].requested)
        };
        if busy || self.paused(job)? {
            return Ok(None);
        }
        // Waits for a job that runs a sync it may run too (looked at again
        // when that one ends).
        if self.waits_for_another(i) {
            return Ok(None);
        }
        let scheduled = self.scheduled(i, now)?;
        let due = match (requested, scheduled) {
            (Some(r), Some(s)) => r.at.min(s),
            (Some(r), None) => r.at,
            (None, Some(s)) => s,
            (None, None) => return Ok(None),
        };
        if due > now {
            return Ok(Some(due));
        }
        if let Some(why) = self.over_budget(job) {
            let mut state = self.state.lock().unwrap();
            if state[i].held.is_none() {
                tracing::warn!(job = job.name, "held back: {why}");
            }
            state[i].held = Some(why);
            drop(state);
            // Look again when the day may have turned.
            return Ok(Some(now + chrono::Duration::minutes(5)));
        }
        let (trigger, full) = match requested.filter(|r| r.at <= now) {
            Some(r) => (r.trigger, r.full),
            None => (RunTrigger::Schedule, false),
        };
        {
            let mut state = self.state.lock().unwrap();
            state[i].running = true;
            state[i].held = None;
            state[i].progress = Some(Live {
                started: crate::store::unix_now(),
                counts: Counts::default(),
            });
            if requested.is_some_and(|r| r.at <= now) {
                state[i].requested = None;
            }
        }
        self.store
            .meta_put(&key(&job.name), &LastStart { at: now })?;
        let me = self.clone();
        running.spawn(async move {
            me.execute(i, trigger, full).await;
            me.wake.notify_one();
            i
        });
        Ok(None)
    }

    /// Run job `i` once.
    async fn execute(&self, i: usize, trigger: RunTrigger, full: bool) -> Vec<RunRecord> {
        let job = &self.jobs[i];
        let live = LiveProgress { service: self, i };
        let (result, calls) = crate::capability::counting_calls(async {
            match &job.kind {
                JobKind::Sync(name) => {
                    let options = RunOptions {
                        full,
                        trigger,
                        stop: Some(self.stop.clone()),
                        ..RunOptions::default()
                    };
                    runner::run_sync(&self.env, name, &options, &live).await
                }
                JobKind::Rollup(name) => {
                    let options = crate::rollup::RollupOptions {
                        full,
                        trigger,
                        stop: Some(self.stop.clone()),
                        ..Default::default()
                    };
                    match crate::rollup::run(&self.env, name, &options).await {
                        Ok(run) => Ok(vec![run]),
                        Err(
                            e @ (crate::rollup::RollupError::Busy(_)
                            | crate::rollup::RollupError::Paused(_)),
                        ) => {
                            tracing::info!(job = job.name, "{e}; skipped");
                            Ok(Vec::new())
                        }
                        // History says why, and the failure backs the job off.
                        Err(e) => Ok(engine::run::refused(
                            self.env.store.as_ref(),
                            name,
                            trigger,
                            &e.to_string(),
                        )
                        .into_iter()
                        .collect()),
                    }
                }
                JobKind::Rules(_, rules) => {
                    let active: Vec<String> = rules
                        .iter()
                        .filter(|r| !self.env.store.is_paused(r).unwrap_or(false))
                        .cloned()
                        .collect();
                    trigger::run(
                        &self.env,
                        trigger::Rules::Only(&active),
                        &TriggerOptions { full, trigger },
                        &live,
                    )
                    .await
                }
            }
        })
        .await;
        self.save_usage(job);
        match result {
            Ok(runs) => {
                for r in &runs {
                    log_run(&job.name, r);
                    // Rules on one module share their read: each run
                    // is shown the calls of the whole pass.
                    if let Err(e) = self.store.meta_put(&calls_key(&r.sync, r.id), &calls) {
                        tracing::warn!(job = job.name, "keeping the run's API calls: {e}");
                    }
                }
                runs
            }
            // Its rules are being fed by a sync's run just now: not a
            // failure, the next slot runs them.
            Err(crate::trigger::TriggerError::Sync(crate::sync::SyncError::Busy(name))) => {
                tracing::info!(job = job.name, "`{name}` is running already; skipped");
                Vec::new()
            }
            Err(e) => {
                tracing::error!(job = job.name, "run could not start: {e}");
                // History says why, and the failure backs the job off.
                let mut failed = Vec::new();
                for name in job.names() {
                    let store = self.env.store.as_ref();
                    if let Ok(run) = engine::run::refused(store, &name, trigger, &e.to_string()) {
                        failed.push(run);
                    }
                }
                failed
            }
        }
    }

    /// The API calls run `id` of `name` sent (runs made by this service),
    /// its own only: runs beside it on the same connection count theirs.
    pub fn run_calls(&self, name: &str, id: u64) -> Option<u64> {
        self.store.meta_get(&calls_key(name, id)).ok().flatten()
    }

    fn save_usage(&self, job: &Job) {
        for c in &job.connections {
            if let Some(usage) = self.env.api_usage(c) {
                let _ = self.store.meta_put(&format!("usage/{c}"), &usage.saved());
            }
        }
    }

    /// Stop scheduling; running runs finish the page in hand.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// The scheduler's clock and how many times it has looked at it.
    pub fn clock_status(&self) -> (DateTime<Utc>, u64) {
        (self.clock.now(), self.ticks.load(Ordering::Relaxed))
    }

    /// Let commands beside the service act as admin with `token` (see
    /// [`local`]).
    pub fn accept_local(&self, token: &str) {
        let _ = self.local_token.set(token.to_string());
    }
}

fn schedule_text(s: &Schedule) -> String {
    match s {
        Schedule::Every(d) => format!("every {}", humantime::format_duration(*d)),
        Schedule::Cron(c) => format!("cron {c}"),
        Schedule::Webhook => "webhook".into(),
        Schedule::Manual => "manual".into(),
    }
}

/// How long a shutdown waits for running runs to reach a commit point.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Serve until a shutdown signal (Ctrl-C, SIGTERM): the API on `listener`,
/// the scheduler beside it.
pub async fn serve(
    service: Arc<Service>,
    listener: tokio::net::TcpListener,
) -> std::io::Result<()> {
    // The port actually bound (`listen: …:0` picks one): `Host` must name it.
    let bound = listener.local_addr()?;
    let app = router(service.clone(), bound);
    let scheduler = {
        let s = service.clone();
        tokio::spawn(async move { s.run_scheduler().await })
    };
    let stopping = service.clone();
    let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let losing = lost.clone();
    // The peer's address tells loopback callers (`serve.open_on_loopback`).
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = shutdown_signal() => {}
            // Another process holds the workspace now (this one was paused
            // or cut off past its lease): step down, writing nothing more.
            _ = stopping.store.lease_lost() => {
                losing.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::error!("lost the workspace's lease to another Ferry process: stepping down");
            }
        }
        tracing::info!("shutting down: running runs finish the page in hand");
        stopping.shutdown();
    })
    .await?;
    service.shutdown();
    let _ = scheduler.await;
    if lost.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(std::io::Error::other(
            "lost the workspace's lease to another Ferry process; stepped down",
        ));
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// One line per finished run: what ran, why, what it did, how long it took.
fn log_run(job: &str, r: &RunRecord) {
    let c = &r.counts;
    let seconds = r.ended.unwrap_or(r.started).saturating_sub(r.started);
    let trigger = format!("{:?}", r.trigger).to_lowercase();
    macro_rules! line {
        ($level:ident, $what:expr) => {
            tracing::$level!(
                job,
                name = r.sync,
                run = r.id,
                trigger,
                read = c.read,
                added = c.added,
                updated = c.updated,
                deleted = c.deleted,
                failed = c.failed,
                seconds,
                "{}",
                $what
            )
        };
    }
    match &r.status {
        RunStatus::Failed(why) => line!(warn, format!("run failed: {why}")),
        RunStatus::Partial(why) => line!(warn, format!("run completed with failures: {why}")),
        other => line!(info, format!("run {}", other.word())),
    }
}
