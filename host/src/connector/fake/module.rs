//! A module of the fake: its builder, and its records as they are.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use crate::connector::{
    ActionInfo, ConnectorError, DeletedPage, DeletedRecord, FieldInfo, FieldKind, JobSize,
    ModuleInfo, Operation, Page, Record,
};

/// How a module writes times (both read by [`parse_time`], as the
/// engine reads them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeStyle {
    /// Zoho Books/Invoice/Billing: `2013-10-07T18:24:51+0530`.
    Compact,
    /// Zoho CRM: `2023-10-15T10:30:00+00:00`.
    Rfc3339,
}

/// One module of a [`FakeVendor`], as a builder.
#[derive(Debug, Clone)]
pub struct FakeModule {
    pub(super) name: String,
    pub(super) id_field: String,
    pub(super) modified: Option<String>,
    pub(super) fields: Vec<String>,
    pub(super) list_omits: Vec<String>,
    pub(super) repeat_rows: bool,
    pub(super) unique: Vec<String>,
    pub(super) batch: u32,
    pub(super) page_size: usize,
    pub(super) granularity: Duration,
    pub(super) style: TimeStyle,
    pub(super) offset: FixedOffset,
    pub(super) actions: Vec<(String, String, Value)>,
    pub(super) without: Vec<Operation>,
    /// Create jobs: their size, and polls a job answers "running" first.
    pub(super) jobs: Option<(JobSize, u32)>,
}

impl FakeModule {
    /// A module with 1-second compact UTC times, batches of 100 and pages
    /// of 200 (Zoho's maxima).
    pub fn new(name: &str, id_field: &str) -> FakeModule {
        FakeModule {
            name: name.into(),
            id_field: id_field.into(),
            modified: None,
            fields: Vec::new(),
            list_omits: Vec::new(),
            repeat_rows: false,
            unique: Vec::new(),
            batch: 100,
            page_size: 200,
            granularity: Duration::from_secs(1),
            style: TimeStyle::Compact,
            offset: FixedOffset::east_opt(0).expect("zero offset"),
            actions: Vec::new(),
            without: Vec::new(),
            jobs: None,
        }
    }

    /// The last-modified field; without one there is no incremental read.
    pub fn modified(mut self, field: &str) -> Self {
        self.modified = Some(field.into());
        self
    }

    pub fn fields(mut self, fields: &[&str]) -> Self {
        self.fields.extend(fields.iter().map(|f| f.to_string()));
        self
    }

    /// Fields list rows (and search rows) leave out; `get` has them.
    pub fn list_omits(mut self, fields: &[&str]) -> Self {
        self.list_omits.extend(fields.iter().map(|f| f.to_string()));
        self
    }

    /// A field whose value no two records may share (may be repeated).
    pub fn unique(mut self, field: &str) -> Self {
        self.unique.push(field.into());
        self
    }

    /// Most records one write call takes; more is refused as `Invalid`.
    pub fn batch(mut self, max: u32) -> Self {
        self.batch = max.max(1);
        self
    }

    /// Every listed row appears twice in its page (a listing that repeats
    /// records, as offset paging can when records move under it).
    pub fn repeat_rows(mut self) -> Self {
        self.repeat_rows = true;
        self
    }

    pub fn page_size(mut self, size: usize) -> Self {
        self.page_size = size.max(1);
        self
    }

    /// Modified times are truncated to this (1 s finance, 1 ms CRM-like);
    /// below a second they carry milliseconds.
    pub fn granularity(mut self, granularity: Duration) -> Self {
        self.granularity = granularity;
        self
    }

    pub fn time_style(mut self, style: TimeStyle) -> Self {
        self.style = style;
        self
    }

    /// The zone times are written in (Books writes the org's, `+0530`).
    pub fn utc_offset(mut self, offset: FixedOffset) -> Self {
        self.offset = offset;
        self
    }

    /// An action that sets `field` to `value` (and bumps modified time).
    pub fn action(mut self, name: &str, field: &str, value: impl Into<Value>) -> Self {
        self.actions.push((name.into(), field.into(), value.into()));
        self
    }

    /// Leave an operation out of `describe` and refuse it as `Unsupported`.
    /// Take batches of `min..=max` creates as jobs, each answering
    /// "running" to its first `polls` polls and writing its records at the
    /// poll that finds it done (once, however often it is asked again). A
    /// job is never polled by itself, so one whose handle is lost never
    /// writes: the fake declares a patience of 0.
    pub fn create_jobs(mut self, min: u32, max: u32, polls: u32) -> Self {
        self.jobs = Some((
            JobSize {
                min_records: min,
                max_records: max,
                patience_secs: 0,
            },
            polls,
        ));
        self
    }

    /// How long a run waits for one of this module's jobs, and how long
    /// after a job's handle was lost it is taken as over (default 0: a
    /// fake job never runs unpolled, so a lost one never writes).
    ///
    /// # Panics
    /// Without [`FakeModule::create_jobs`] first.
    pub fn job_patience(mut self, secs: u32) -> Self {
        let (size, _) = self.jobs.as_mut().expect("create_jobs first");
        size.patience_secs = secs;
        self
    }

    pub fn without(mut self, op: Operation) -> Self {
        self.without.push(op);
        self
    }

    pub(super) fn operations(&self) -> Vec<Operation> {
        use Operation::*;
        [Read, Create, Update, Delete, Find, Incremental, DeletedFeed]
            .into_iter()
            .filter(|op| *op != Incremental || self.modified.is_some())
            .filter(|op| !self.without.contains(op))
            .collect()
    }

    pub(super) fn info(&self) -> ModuleInfo {
        let field = |name: &str, kind, read_only| FieldInfo {
            name: name.into(),
            label: name.into(),
            kind,
            required: false,
            read_only,
            custom: false,
            picklist: Vec::new(),
            lookup_module: None,
        };
        let mut fields = vec![field(&self.id_field, FieldKind::Text, true)];
        fields.extend(
            self.modified
                .iter()
                .map(|m| field(m, FieldKind::Datetime, true)),
        );
        fields.extend(self.fields.iter().map(|f| field(f, FieldKind::Text, false)));
        ModuleInfo {
            name: self.name.clone(),
            label: self.name.clone(),
            id_field: self.id_field.clone(),
            modified_field: self.modified.clone(),
            fields,
            operations: self.operations(),
            actions: self
                .actions
                .iter()
                .map(|(name, field, value)| ActionInfo {
                    name: name.clone(),
                    description: format!("sets `{field}` to {value}"),
                })
                .collect(),
            max_batch: self.batch,
            create_job: self.jobs.map(|(size, _)| size),
        }
    }

    /// `at` truncated to the granularity, and as this module writes it.
    pub(super) fn stamp(&self, at: DateTime<Utc>) -> (DateTime<Utc>, String) {
        let step = (self.granularity.as_millis() as i64).max(1);
        let ms = at.timestamp_millis().div_euclid(step) * step;
        let at = DateTime::from_timestamp_millis(ms).unwrap_or(at);
        let frac = if step < 1000 { "%.3f" } else { "" };
        let zone = match self.style {
            TimeStyle::Compact => "%z",
            TimeStyle::Rfc3339 => "%:z",
        };
        let text = at
            .with_timezone(&self.offset)
            .format(&format!("%Y-%m-%dT%H:%M:%S{frac}{zone}"))
            .to_string();
        (at, text)
    }
}

pub(super) struct Module {
    pub(super) spec: FakeModule,
    pub(super) records: BTreeMap<String, Stored>,
    pub(super) next: u64,
    pub(super) gone: Vec<(DateTime<Utc>, DeletedRecord)>,
    /// What search sees.
    pub(super) index: BTreeMap<String, Record>,
}

pub(super) struct Stored {
    pub(super) seq: u64,
    pub(super) at: Option<DateTime<Utc>>,
    pub(super) record: Record,
}

impl Module {
    pub(super) fn new(spec: FakeModule) -> Module {
        Module {
            spec,
            records: BTreeMap::new(),
            next: 0,
            gone: Vec::new(),
            index: BTreeMap::new(),
        }
    }

    /// Records in list order: by modified time, then creation.
    pub(super) fn ordered(&self) -> impl Iterator<Item = &Stored> {
        let mut all: Vec<&Stored> = self.records.values().collect();
        all.sort_by_key(|r| (r.at, r.seq));
        all.into_iter()
    }

    pub(super) fn touch(&mut self, id: &str, now: DateTime<Utc>) {
        let (at, text) = self.spec.stamp(now);
        if let (Some(field), Some(stored)) = (&self.spec.modified, self.records.get_mut(id)) {
            stored.at = Some(at);
            stored.record.insert(field.clone(), Value::String(text));
        }
    }

    pub(super) fn row(&self, record: &Record) -> Record {
        let mut row = record.clone();
        self.spec.list_omits.iter().for_each(|f| {
            row.remove(f);
        });
        row
    }

    pub(super) fn missing(&self, id: &str) -> ConnectorError {
        ConnectorError::NotFound(format!("no {} record with id {id}", self.spec.name))
    }

    pub(super) fn list(
        &self,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let since = since_instant(since)?;
        let rows: Vec<&Stored> = self
            .ordered()
            .filter(|r| since.is_none() || r.at.is_none() || r.at >= since)
            .collect();
        let (page, next_cursor) = paged(&rows, cursor, self.spec.page_size)?;
        let times = if self.spec.repeat_rows { 2 } else { 1 };
        let records = page
            .iter()
            .flat_map(|r| std::iter::repeat_n(self.row(&r.record), times))
            .collect();
        Ok(Page {
            records,
            next_cursor,
        })
    }

    pub(super) fn deleted(
        &self,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<DeletedPage, ConnectorError> {
        let since = since_instant(since)?;
        let gone: Vec<_> = self
            .gone
            .iter()
            .filter(|(at, _)| since.is_none_or(|s| *at >= s))
            .collect();
        let (page, next_cursor) = paged(&gone, cursor, self.spec.page_size)?;
        Ok(DeletedPage {
            records: page.iter().map(|(_, d)| d.clone()).collect(),
            next_cursor,
        })
    }

    pub(super) fn find(&self, criteria: &Record) -> Result<Vec<Record>, ConnectorError> {
        if criteria.is_empty() {
            return Err(invalid("criteria", "a search needs a criterion".into()));
        }
        let matches = |r: &Record| {
            criteria
                .iter()
                .all(|(k, v)| r.get(k).and_then(text) == text(v))
        };
        Ok(self
            .index
            .values()
            .filter(|r| matches(r))
            .map(|r| self.row(r))
            .collect())
    }
}

fn since_instant(since: Option<&str>) -> Result<Option<DateTime<Utc>>, ConnectorError> {
    since
        .map(|s| {
            parse_time(s)
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| invalid("since", format!("not a time: {s}")))
        })
        .transpose()
}

/// A page of `all` from the offset in `cursor`, and the next cursor.
fn paged<'t, T>(
    all: &'t [T],
    cursor: Option<&str>,
    size: usize,
) -> Result<(&'t [T], Option<String>), ConnectorError> {
    let start = match cursor {
        None => 0,
        Some(c) => c
            .parse::<usize>()
            .map_err(|_| invalid("cursor", format!("not a cursor: {c}")))?,
    };
    let start = start.min(all.len());
    let end = (start + size).min(all.len());
    Ok((&all[start..end], (end < all.len()).then(|| end.to_string())))
}

/// A value as search compares it: text, case-insensitively; null is absent.
pub(super) fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.to_lowercase()),
        other => Some(other.to_string().to_lowercase()),
    }
}

pub(super) fn invalid(field: &str, message: String) -> ConnectorError {
    ConnectorError::Invalid {
        field: field.into(),
        message,
    }
}

#[track_caller]
pub(super) fn object(v: Value) -> Record {
    match v {
        Value::Object(map) => map,
        other => panic!("expected a JSON object, got {other}"),
    }
}

/// A time as the fake's modules write it (`since` comes back in the same
/// forms): RFC 3339, or Zoho's compact offset (`+0530`), with optional
/// fractions. Kept here so the connector layer depends on nothing above
/// it.
pub(super) fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
}
