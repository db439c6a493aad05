//! What the scheduler runs: a job per sync (feeding the trigger rules on
//! the modules it reads), one per watched module for the rules that no sync
//! feeds, and one per rollup.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{ModuleRef, Schedule, Workspace, parent_syncs};

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
    /// Syncs it may run: its own, and those that `missing: create` lookups
    /// of its rules (or of the rules it feeds) create parents through. Two
    /// jobs that share one never run at once: the second would find the
    /// sync busy and fail.
    pub touches: BTreeSet<String>,
}

impl Job {
    /// Names in history and in pause/resume: the sync, or each rule.
    pub fn names(&self) -> Vec<String> {
        match &self.kind {
            JobKind::Sync(name) | JobKind::Rollup(name) => vec![name.clone()],
            JobKind::Rules(_, rules) => rules.clone(),
        }
    }

    /// Whether the two may not run at once.
    pub fn conflicts(&self, other: &Job) -> bool {
        !self.touches.is_disjoint(&other.touches)
    }
}

/// `start` and every sync their `missing: create` lookups reach, in turn.
fn with_parents(ws: &Workspace, start: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack: Vec<String> = start.into_iter().collect();
    while let Some(name) = stack.pop() {
        if let Some(sync) = ws.syncs.get(&name) {
            stack.extend(
                parent_syncs(&sync.fields)
                    .into_iter()
                    .map(|p| p.value.clone()),
            );
        }
        out.insert(name);
    }
    out
}

/// The syncs the `rules` create parents through.
fn rules_parents<'a>(ws: &Workspace, rules: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    rules
        .into_iter()
        .flat_map(|r| parent_syncs(&ws.triggers[r].fields))
        .map(|p| p.value.clone())
        .collect()
}

/// The jobs of a workspace.
pub fn jobs(ws: &Workspace) -> Vec<Job> {
    let mut out = Vec::new();
    for (name, s) in &ws.syncs {
        let mut modules = vec![s.from.clone()];
        if s.direction == crate::config::Direction::TwoWay {
            modules.push(s.to.clone());
        }
        let mut connections = vec![s.from.connection.clone(), s.to.connection.clone()];
        connections.dedup();
        // The rules on the modules it reads run in its pass.
        let fed = ws
            .triggers
            .iter()
            .filter(|(_, t)| t.on.same_module(&s.from) || t.on.same_module(&s.to))
            .map(|(r, _)| r);
        let mut touches = rules_parents(ws, fed);
        touches.push(name.clone());
        out.push(Job {
            name: name.clone(),
            kind: JobKind::Sync(name.clone()),
            touches: with_parents(ws, touches),
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
            touches: BTreeSet::new(),
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
        let touches = with_parents(ws, rules_parents(ws, &rules));
        out.push(Job {
            name: format!("rules:{label}"),
            touches,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, SecretMode};

    const WS: &str = r#"version: 1
connections:
  crm: { connector: zoho-crm }
  books: { connector: zoho-books }
syncs:
  customers:
    from: crm.Accounts
    to: books.contacts
    fields: { contact_name: Account_Name }
  people:
    from: crm.Contacts
    to: books.contacts
    fields:
      contact_name: Last_Name
      account: { link: customers, from: Account_Name.id, missing: create }
  items:
    from: crm.Products
    to: books.items
    fields: { name: Product_Name }
triggers:
  invoice-on-won:
    on: crm.Deals
    when: { stage: won }
    create: books.invoices
    fields:
      customer_id: { link: people, from: Contact_Name.id, missing: create }
  quote-on-won:
    on: crm.Quotes
    when: created
    create: books.estimates
    fields:
      customer_id: { link: customers, from: Account_Name.id }
"#;

    fn job<'a>(jobs: &'a [Job], name: &str) -> &'a Job {
        jobs.iter().find(|j| j.name == name).unwrap()
    }

    /// A rule that creates its parent through a sync (and that sync's own
    /// parents) waits for those syncs' runs, and they for it; jobs that
    /// share no sync run side by side.
    #[test]
    fn jobs_that_may_run_one_sync_do_not_run_at_once() {
        let ws = Workspace::load_str(
            "ws.yaml",
            WS,
            LoadOptions {
                secrets: SecretMode::Defer,
            },
        )
        .unwrap_or_else(|d| panic!("{}", d.render(false)));
        let jobs = jobs(&ws);
        let rules = job(&jobs, "rules:crm.Deals");
        assert_eq!(
            rules.touches,
            BTreeSet::from(["people".to_string(), "customers".to_string()])
        );
        let cases = [
            ("rules:crm.Deals", "customers", true),
            ("rules:crm.Deals", "people", true),
            ("rules:crm.Deals", "items", false),
            ("rules:crm.Quotes", "customers", false),
            ("people", "customers", true),
            ("items", "customers", false),
        ];
        for (a, b, conflict) in cases {
            assert_eq!(
                job(&jobs, a).conflicts(job(&jobs, b)),
                conflict,
                "{a} / {b}"
            );
            assert_eq!(
                job(&jobs, b).conflicts(job(&jobs, a)),
                conflict,
                "{b} / {a}"
            );
        }
    }
}
