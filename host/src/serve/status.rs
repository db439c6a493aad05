//! What each sync and rule is doing, for the admin API and the dashboard:
//! one word for its state, its last and next run, and the run in progress.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{JobKind, Service, schedule_text};
use crate::store::{Counts, RunRecord, RunStatus, StoreError};
use crate::sync::Progress;

/// A run in progress: when it started and its counts so far (after each
/// page), for the dashboard's live view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Live {
    /// Unix seconds.
    pub started: u64,
    pub counts: Counts,
}

/// Where a job's runs report their progress: its slot in the service.
pub(super) struct LiveProgress<'a> {
    pub(super) service: &'a Service,
    pub(super) i: usize,
}

impl Progress for LiveProgress<'_> {
    fn update(&self, counts: &Counts) {
        if let Some(live) = &mut self.service.state.lock().unwrap()[self.i].progress {
            live.counts = *counts;
        }
    }
}

/// What a job is doing, in one word, worst first: an operator sees a
/// problem before reading a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobState {
    Running,
    /// Its connection spent today's API budget.
    Held,
    /// Its last runs failed; the scheduler waits longer before each next.
    BackingOff,
    /// Records failed and wait for a retry.
    Failing,
    Paused,
    Idle,
}

impl JobState {
    pub fn word(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Held => "held by budget",
            JobState::BackingOff => "backing off",
            JobState::Failing => "failing",
            JobState::Paused => "paused",
            JobState::Idle => "idle",
        }
    }
}

/// The status of one sync or trigger rule.
#[derive(Debug, Clone)]
pub struct Status {
    pub name: String,
    pub kind: &'static str,
    pub job: String,
    pub schedule: String,
    pub paused: bool,
    pub running: bool,
    pub queued: bool,
    pub held: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<RunRecord>,
    /// Records still failing.
    pub failing: usize,
    /// Failed runs in a row.
    pub failures: u32,
    pub state: JobState,
    pub progress: Option<Live>,
}

impl Status {
    /// The admin API's JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "kind": self.kind,
            "job": self.job,
            "schedule": self.schedule,
            "paused": self.paused,
            "running": self.running,
            "queued": self.queued,
            "held": self.held,
            "next_run": self.next_run.map(|t| t.to_rfc3339()),
            "last_run": self.last_run.as_ref().map(RunRecord::report),
            "failing": self.failing,
            "state": self.state,
            "progress": self.progress,
        })
    }
}

impl Service {
    /// Status of every sync and rule, for the API and the dashboard.
    pub fn status(&self) -> Result<Vec<Status>, StoreError> {
        let mut out = Vec::new();
        for (i, job) in self.jobs.iter().enumerate() {
            let (running, held, requested, progress) = {
                let s = self.state.lock().unwrap();
                (
                    s[i].running,
                    s[i].held.clone(),
                    s[i].requested.is_some(),
                    s[i].progress,
                )
            };
            let next = self.scheduled(i, self.clock.now())?;
            let failures = self.failures(job)?;
            for name in job.names() {
                let last = self.env.store.runs(&name, 1)?.into_iter().next();
                let paused = self.env.store.is_paused(&name)?;
                let failing = self.env.store.failing(&name)?.len();
                let state = if running {
                    JobState::Running
                } else if held.is_some() {
                    JobState::Held
                } else if paused {
                    JobState::Paused
                } else if failures > 0 {
                    JobState::BackingOff
                } else if failing > 0
                    || last
                        .as_ref()
                        .is_some_and(|r| matches!(r.status, RunStatus::Partial(_)))
                {
                    JobState::Failing
                } else {
                    JobState::Idle
                };
                out.push(Status {
                    name,
                    kind: match job.kind {
                        JobKind::Sync(_) => "sync",
                        JobKind::Rollup(_) => "rollup",
                        JobKind::Rules(..) => "trigger",
                    },
                    job: job.name.clone(),
                    schedule: schedule_text(&job.schedule),
                    paused,
                    running,
                    queued: requested,
                    held: held.clone(),
                    next_run: next,
                    last_run: last,
                    failing,
                    failures,
                    state,
                    progress: running.then_some(progress).flatten(),
                });
            }
        }
        Ok(out)
    }
}
