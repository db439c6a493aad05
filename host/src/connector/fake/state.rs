//! The fake's state behind its mutex: modules, the search index on its
//! way, faults, counters and the write log.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::module::{Module, Stored, invalid, text};
use super::{By, Fault, Op, Write};
use crate::connector::{ConnectorError, DeletedRecord, Operation, Record, WriteResult};

#[derive(Default)]
pub(super) struct State {
    pub(super) modules: Vec<Module>,
    pub(super) search_lag: u64,
    /// Deletions skip the search lag.
    pub(super) deletes_at_once: bool,
    /// Vendor calls made so far; the search index lags in these.
    pub(super) tick: u64,
    pub(super) pending: Vec<Pending>,
    pub(super) faults: HashMap<Op, VecDeque<Fault>>,
    pub(super) calls: HashMap<Op, u64>,
    pub(super) writes: Vec<Write>,
    /// Create jobs by handle.
    pub(super) jobs: HashMap<String, Job>,
}

/// A create job: its records until it is done, then their results.
pub(super) struct Job {
    pub(super) module: usize,
    pub(super) records: Vec<Record>,
    pub(super) polls_left: u32,
    pub(super) results: Option<Vec<WriteResult>>,
}

/// A write on its way into the search index (`None`: a deletion).
pub(super) struct Pending {
    pub(super) due: u64,
    pub(super) module: usize,
    pub(super) id: String,
    pub(super) state: Option<Record>,
}

impl State {
    pub(super) fn module(&self, name: &str) -> Result<usize, ConnectorError> {
        self.modules
            .iter()
            .position(|m| m.spec.name == name)
            .ok_or_else(|| ConnectorError::NotFound(format!("no module `{name}`")))
    }

    pub(super) fn supported(&self, name: &str, op: Operation) -> Result<usize, ConnectorError> {
        let i = self.module(name)?;
        if !self.modules[i].spec.operations().contains(&op) {
            return Err(ConnectorError::Unsupported(format!(
                "`{name}` {}",
                op.as_str()
            )));
        }
        Ok(i)
    }

    #[track_caller]
    pub(super) fn expect_module(&self, name: &str) -> usize {
        self.module(name).unwrap_or_else(|e| panic!("{e}"))
    }

    pub(super) fn apply(&mut self, p: Pending) {
        let index = &mut self.modules[p.module].index;
        match p.state {
            Some(record) => index.insert(p.id, record),
            None => index.remove(&p.id),
        };
    }

    /// After a write: log it and send it towards the search index.
    pub(super) fn changed(&mut self, i: usize, id: &str, op: Op, by: By) {
        let m = &self.modules[i];
        self.writes.push(Write {
            op,
            module: m.spec.name.clone(),
            id: id.into(),
            by,
        });
        let p = Pending {
            due: self.tick + self.search_lag,
            module: i,
            id: id.into(),
            state: m.records.get(id).map(|r| r.record.clone()),
        };
        if self.deletes_at_once && p.state.is_none() {
            // Earlier writes of the record still on their way would bring
            // it back.
            self.pending.retain(|q| q.module != i || q.id != id);
            self.apply(p);
        } else if self.search_lag == 0 {
            self.apply(p);
        } else {
            self.pending.push(p);
        }
    }

    /// Another live record with a unique field's value, as the refusal.
    pub(super) fn clash(
        &self,
        i: usize,
        fields: &Record,
        except: Option<&str>,
    ) -> Option<ConnectorError> {
        let m = &self.modules[i];
        m.spec.unique.iter().find_map(|f| {
            let value = fields.get(f)?;
            let want = text(value)?;
            let (id, _) = m.records.iter().find(|(id, r)| {
                Some(id.as_str()) != except
                    && r.record.get(f).and_then(text).as_ref() == Some(&want)
            })?;
            Some(ConnectorError::Conflict(format!(
                "`{f}` {value} already exists (existing record {id})"
            )))
        })
    }

    pub(super) fn add(
        &mut self,
        i: usize,
        mut fields: Record,
        now: DateTime<Utc>,
        by: By,
    ) -> String {
        let m = &mut self.modules[i];
        m.next += 1;
        let id = format!("{}-{}", m.spec.name, m.next);
        fields.insert(m.spec.id_field.clone(), Value::String(id.clone()));
        let stored = Stored {
            seq: m.next,
            at: None,
            record: fields,
        };
        m.records.insert(id.clone(), stored);
        m.touch(&id, now);
        self.changed(i, &id, Op::Create, by);
        id
    }

    pub(super) fn create_one(
        &mut self,
        i: usize,
        input: &Record,
        now: DateTime<Utc>,
    ) -> WriteResult {
        let mut fields = input.clone();
        fields.remove(&self.modules[i].spec.id_field);
        if let Some(refusal) = self.clash(i, &fields, None) {
            return Err(refusal);
        }
        let id = self.add(i, fields, now, By::Ferry);
        Ok(self.modules[i].records[&id].record.clone())
    }

    pub(super) fn update_one(
        &mut self,
        i: usize,
        input: &Record,
        now: DateTime<Utc>,
    ) -> WriteResult {
        let id_field = &self.modules[i].spec.id_field;
        let id = match input.get(id_field) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(invalid(id_field, "an update needs the record id".into())),
        };
        self.merge(i, &id, input, now, Op::Update, By::Ferry)
    }

    /// Merge fields into a record (not its id or modified time).
    pub(super) fn merge(
        &mut self,
        i: usize,
        id: &str,
        patch: &Record,
        now: DateTime<Utc>,
        op: Op,
        by: By,
    ) -> WriteResult {
        if !self.modules[i].records.contains_key(id) {
            return Err(self.modules[i].missing(id));
        }
        if by == By::Ferry
            && let Some(refusal) = self.clash(i, patch, Some(id))
        {
            return Err(refusal);
        }
        let m = &mut self.modules[i];
        let (id_field, modified) = (&m.spec.id_field, m.spec.modified.as_ref());
        if let Some(stored) = m.records.get_mut(id) {
            for (k, v) in patch {
                if k != id_field && Some(k) != modified {
                    stored.record.insert(k.clone(), v.clone());
                }
            }
        }
        m.touch(id, now);
        self.changed(i, id, op, by);
        Ok(self.modules[i].records[id].record.clone())
    }

    pub(super) fn delete_one(
        &mut self,
        i: usize,
        id: &str,
        now: DateTime<Utc>,
        by: By,
    ) -> WriteResult {
        let m = &mut self.modules[i];
        if m.records.remove(id).is_none() {
            return Err(m.missing(id));
        }
        let (at, text) = m.spec.stamp(now);
        let id_field = m.spec.id_field.clone();
        m.gone.push((
            at,
            DeletedRecord {
                id: id.into(),
                deleted_at: Some(text),
            },
        ));
        self.changed(i, id, Op::Delete, by);
        Ok(Record::from_iter([(id_field, Value::String(id.into()))]))
    }

    pub(super) fn act(
        &mut self,
        i: usize,
        id: &str,
        action: &str,
        now: DateTime<Utc>,
    ) -> WriteResult {
        let m = &self.modules[i];
        let Some((_, field, value)) = m.spec.actions.iter().find(|(n, ..)| n == action) else {
            return Err(ConnectorError::Unsupported(format!(
                "`{}` has no action `{action}`",
                m.spec.name
            )));
        };
        let patch = Record::from_iter([(field.clone(), value.clone())]);
        self.merge(i, id, &patch, now, Op::Act, By::Ferry)
    }
}
