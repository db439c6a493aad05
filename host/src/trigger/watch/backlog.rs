//! One record's changes that some rule on its module has not judged yet.
//!
//! Every state a read finds is a change with a number (1, 2, …). Each
//! rule judges each change once, in order, from the state before it: a
//! rule paused or left out of a run judges the changes it missed when it
//! next runs, and a passing failure holds the rule at its change until it
//! goes through. The backlog keeps the states from the one the rule
//! furthest behind judged last; a rule not in it has judged them all.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A record's states still to be judged, and how far each rule behind got.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Backlog {
    /// States read, oldest first, from the last one the rule furthest
    /// behind judged (change 0 with no state: the record unseen).
    seen: Vec<Seen>,
    /// The change each rule behind has judged up to.
    judged: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    change: u64,
    state: Option<Value>,
    /// Read before any read of the module had completed: rules with
    /// `first_run: baseline` only note it.
    #[serde(default)]
    baseline: bool,
}

/// A change one rule has yet to judge.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Change {
    pub number: u64,
    /// The state the rule judged last (`None`: the record is new to it).
    pub before: Option<Value>,
    pub after: Value,
    pub baseline: bool,
}

impl Backlog {
    /// A new state read. `latest` is the last state stored before it
    /// (`None` for a record never seen), `rules` every rule on the module:
    /// each now has this change to judge. Returns its number.
    pub fn observe<'r>(
        &mut self,
        latest: Option<(u64, Option<&Value>)>,
        state: Value,
        baseline: bool,
        rules: impl IntoIterator<Item = &'r str>,
    ) -> u64 {
        if self.seen.is_empty() {
            let (change, state) = latest.map_or((0, None), |(n, s)| (n, s.cloned()));
            self.seen.push(Seen {
                change,
                state,
                baseline: false,
            });
        }
        let previous = self.latest();
        for rule in rules {
            self.judged.entry(rule.to_string()).or_insert(previous);
        }
        let number = previous + 1;
        self.seen.push(Seen {
            change: number,
            state: Some(state),
            baseline,
        });
        number
    }

    /// The number of the last change read.
    pub fn latest(&self) -> u64 {
        self.seen.last().map_or(0, |s| s.change)
    }

    /// The next change `rule` has to judge, if any.
    pub fn next(&self, rule: &str) -> Option<Change> {
        let judged = *self.judged.get(rule)?;
        let at = self.seen.iter().position(|s| s.change > judged)?;
        let after = self.seen[at].state.clone()?;
        Some(Change {
            number: self.seen[at].change,
            before: at.checked_sub(1).and_then(|i| self.seen[i].state.clone()),
            after,
            baseline: self.seen[at].baseline,
        })
    }

    /// `rule` is finished with change `number`.
    pub fn advance(&mut self, rule: &str, number: u64) {
        if let Some(judged) = self.judged.get_mut(rule) {
            *judged = (*judged).max(number);
        }
    }

    /// Set `rules` back to judge change `number` again (and those after
    /// it): a firing on it made a record they may act on.
    pub fn rewind<'r>(&mut self, rules: impl IntoIterator<Item = &'r str>, number: u64) {
        let to = number.saturating_sub(1);
        if to < self.seen.first().map_or(0, |s| s.change) {
            return;
        }
        for rule in rules {
            let judged = self.judged.entry(rule.to_string()).or_insert(to);
            *judged = (*judged).min(to);
        }
    }

    /// Drop what every rule on the module has judged, and rules no longer
    /// on it. True when nothing is left (the backlog can go).
    pub fn prune(&mut self, on_module: &BTreeSet<String>) -> bool {
        let latest = self.latest();
        self.judged
            .retain(|rule, judged| on_module.contains(rule) && *judged < latest);
        match self.judged.values().min() {
            None => self.seen.clear(),
            Some(&furthest_behind) => {
                let keep = self
                    .seen
                    .iter()
                    .rposition(|s| s.change <= furthest_behind)
                    .unwrap_or(0);
                self.seen.drain(..keep);
            }
        }
        self.seen.is_empty()
    }

    /// Whether any of `rules` has a change to judge.
    pub fn has_work_for<'r>(&self, rules: impl IntoIterator<Item = &'r str>) -> bool {
        rules.into_iter().any(|r| self.next(r).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(s: &str) -> Value {
        json!({ "Stage": s })
    }

    fn on(rules: &[&str]) -> BTreeSet<String> {
        rules.iter().map(|r| r.to_string()).collect()
    }

    fn stages(b: &Backlog, rule: &str) -> Vec<(Option<String>, String)> {
        let mut b = b.clone();
        let mut out = Vec::new();
        while let Some(c) = b.next(rule) {
            let name = |v: &Value| v["Stage"].as_str().unwrap().to_string();
            out.push((c.before.as_ref().map(name), name(&c.after)));
            b.advance(rule, c.number);
        }
        out
    }

    #[test]
    fn a_rule_left_out_judges_every_change_it_missed_in_order() {
        let rules = ["a", "b"];
        let mut b = Backlog::default();
        let won = stage("won");
        assert_eq!(
            b.observe(Some((4, Some(&stage("open")))), won, false, rules),
            5
        );
        b.advance("a", 5);
        b.prune(&on(&rules));
        b.observe(Some((5, None)), stage("lost"), false, rules);
        b.advance("a", 6);
        b.prune(&on(&rules));
        assert_eq!(b.next("a"), None);
        assert_eq!(
            stages(&b, "b"),
            [
                (Some("open".into()), "won".into()),
                (Some("won".into()), "lost".into())
            ]
        );
    }

    #[test]
    fn a_new_record_is_judged_from_nothing() {
        let mut b = Backlog::default();
        assert_eq!(b.observe(None, stage("won"), true, ["a"]), 1);
        let c = b.next("a").unwrap();
        assert_eq!((c.number, c.before, c.baseline), (1, None, true));
    }

    #[test]
    fn pruning_keeps_the_state_the_rule_furthest_behind_judged_last() {
        let rules = ["a", "b"];
        let mut b = Backlog::default();
        b.observe(None, stage("open"), false, rules);
        b.observe(None, stage("won"), false, rules);
        b.observe(None, stage("lost"), false, rules);
        for r in rules {
            b.advance(r, 3);
        }
        b.advance("b", 1);
        assert!(b.prune(&on(&rules)));
        assert_eq!(b, Backlog::default());

        let mut b = Backlog::default();
        b.observe(None, stage("open"), false, rules);
        b.observe(None, stage("won"), false, rules);
        b.observe(None, stage("lost"), false, rules);
        b.advance("a", 3);
        b.advance("b", 2);
        assert!(!b.prune(&on(&rules)));
        assert_eq!(b.seen.len(), 2, "change 2 (b's before) and 3");
        assert_eq!(stages(&b, "b"), [(Some("won".into()), "lost".into())]);
        // A rule gone from the workspace holds nothing back.
        assert!(b.prune(&on(&["a"])));
    }

    #[test]
    fn a_rewound_rule_judges_the_change_again_and_those_after() {
        let rules = ["make", "act"];
        let mut b = Backlog::default();
        b.observe(None, stage("won"), false, rules);
        b.observe(None, stage("lost"), false, rules);
        b.advance("act", 2);
        b.rewind(["act"], 1);
        assert_eq!(
            stages(&b, "act"),
            [(None, "won".into()), (Some("won".into()), "lost".into())]
        );
        // Never forward, and never before what the backlog holds.
        b.advance("act", 2);
        b.advance("make", 2);
        b.rewind(["act"], 3);
        assert_eq!(b.next("act"), None);
        b.prune(&on(&rules));
        b.rewind(["act"], 1);
        assert_eq!(b.next("act"), None);
    }

    #[test]
    fn rules_already_behind_keep_their_place_when_a_change_comes() {
        let mut b = Backlog::default();
        b.observe(None, stage("open"), false, ["a", "b"]);
        b.advance("a", 1);
        b.observe(None, stage("won"), false, ["a", "b", "new"]);
        assert_eq!(
            stages(&b, "b"),
            [(None, "open".into()), (Some("open".into()), "won".into())]
        );
        assert_eq!(stages(&b, "new"), [(Some("open".into()), "won".into())]);
    }
}
