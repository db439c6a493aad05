//! What the scheduler runs: a job per sync (feeding the trigger rules on
//! the modules it reads), one per watched module for the rules that no sync
//! feeds, and one per rollup.

use std::collections::BTreeMap;

use crate::config::{ModuleRef, Schedule};
use crate::sync::Env;

/// What a job runs.
#[derive(Debug, Clone)]
pub enum JobKind {
    /// A sync, feeding the trigger rules on the modules it reads.
    Sync(String),
    /// The trigger rules watching one module, on their own read.
    Rules(ModuleRef, Vec<String>),
    /// A rollup.
    Rollup(String),
}

/// Something the scheduler runs.
#[derive(Debug, Clone)]
pub struct Job {
    /// The sync's name, or `rules:<connection>.<Module>`.
    pub name: String,
    pub kind: JobKind,
    pub schedule: Schedule,
    /// Modules it reads: a notification about one starts it.
    pub modules: Vec<ModuleRef>,
    /// Connections it calls: their budgets hold it back.
    pub connections: Vec<String>,
}

impl Job {
    /// Names in history and in pause/resume: the sync, or each rule.
    pub fn names(&self) -> Vec<String> {
        match &self.kind {
            JobKind::Sync(name) | JobKind::Rollup(name) => vec![name.clone()],
            JobKind::Rules(_, rules) => rules.clone(),
        }
    }
}

/// The jobs of a workspace.
pub fn jobs(env: &Env) -> Vec<Job> {
    let ws = &env.workspace;
    let mut out = Vec::new();
    for (name, s) in &ws.syncs {
        let mut modules = vec![s.from.clone()];
        if s.direction == crate::config::Direction::TwoWay {
            modules.push(s.to.clone());
        }
        let mut connections = vec![s.from.connection.clone(), s.to.connection.clone()];
        connections.dedup();
        out.push(Job {
            name: name.clone(),
            kind: JobKind::Sync(name.clone()),
            schedule: s
                .schedule
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or(Schedule::Manual),
            modules,
            connections,
        });
    }
    // Without a schedule a rollup runs when its child module changes, and
    // at least every `serve.poll_every`, so date-dependent figures follow
    // the calendar.
    for (name, r) in &ws.rollups {
        let mut connections = vec![r.from.connection.clone(), r.to.connection.clone()];
        connections.dedup();
        out.push(Job {
            name: name.clone(),
            kind: JobKind::Rollup(name.clone()),
            schedule: r
                .schedule
                .as_ref()
                .map(|s| s.value.clone())
                .unwrap_or(Schedule::Webhook),
            modules: vec![r.from.clone()],
            connections,
        });
    }
    let mut groups: BTreeMap<String, (ModuleRef, Vec<String>)> = BTreeMap::new();
    for (name, t) in &ws.triggers {
        groups
            .entry(t.on.to_string())
            .or_insert_with(|| (t.on.clone(), Vec::new()))
            .1
            .push(name.clone());
    }
    for (label, (module, rules)) in groups {
        let schedules: Vec<Schedule> = rules
            .iter()
            .filter_map(|r| ws.triggers[r].schedule.as_ref().map(|s| s.value.clone()))
            .collect();
        let mut connections = vec![module.connection.clone()];
        for r in &rules {
            if let Some(target) = match &ws.triggers[r].action {
                crate::config::Action::Create { module } => Some(module.connection.clone()),
                crate::config::Action::Update { target }
                | crate::config::Action::Act { target, .. } => match target {
                    crate::config::TargetRef::Module { module, .. } => {
                        Some(module.connection.clone())
                    }
                    crate::config::TargetRef::Linked(l) => {
                        crate::mapping::linked_module(ws, &l.value, &module).map(|m| m.connection)
                    }
                },
            } && !connections.contains(&target)
            {
                connections.push(target);
            }
        }
        out.push(Job {
            name: format!("rules:{label}"),
            kind: JobKind::Rules(module.clone(), rules),
            schedule: group_schedule(&schedules),
            modules: vec![module],
            connections,
        });
    }
    out
}

/// Rules on one module share one read, on the most frequent of their
/// schedules; with none, on notifications and the safety-net poll.
fn group_schedule(schedules: &[Schedule]) -> Schedule {
    let every = schedules
        .iter()
        .filter_map(|s| match s {
            Schedule::Every(d) => Some(*d),
            _ => None,
        })
        .min();
    if let Some(d) = every {
        return Schedule::Every(d);
    }
    if let Some(cron) = schedules.iter().find(|s| matches!(s, Schedule::Cron(_))) {
        return cron.clone();
    }
    if !schedules.is_empty() && schedules.iter().all(|s| *s == Schedule::Manual) {
        return Schedule::Manual;
    }
    Schedule::Webhook
}
