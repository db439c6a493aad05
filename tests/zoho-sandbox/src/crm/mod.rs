//! Zoho CRM: record storage with ordered indexes, write validation, and the
//! HTTP handlers (records, search, COQL, Bulk Read and Write, metadata,
//! notifications).

pub mod bulk;
pub mod bulk_write;
pub mod coql;
pub mod metadata;
pub mod records;
pub mod search;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::clock::{self, Millis};
use crate::notify::{Change, Event};
use metadata::{DataType, ModuleDef};

/// All module definitions, built once.
pub fn defs() -> &'static [ModuleDef] {
    static DEFS: OnceLock<Vec<ModuleDef>> = OnceLock::new();
    DEFS.get_or_init(metadata::modules)
}

/// Find a module by API name (case-insensitive, as Zoho does).
pub fn def(name: &str) -> Option<&'static ModuleDef> {
    defs()
        .iter()
        .find(|m| m.api_name.eq_ignore_ascii_case(name))
}

/// A stored CRM record. `data` holds every field value, including the
/// system fields (`id`, `Created_Time`, `Modified_Time`, `Owner`, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrmRecord {
    pub id: u64,
    pub created_ms: Millis,
    pub modified_ms: Millis,
    pub data: Map<String, Value>,
}

/// An entry of the `/{module}/deleted` feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedRecord {
    pub id: u64,
    pub display_name: Option<String>,
    pub deleted_ms: Millis,
    pub deleted_by: Option<String>,
    pub created_by: Option<String>,
    /// `recycle` or `permanent`.
    pub kind: String,
}

/// One module's records and indexes.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ModuleStore {
    pub records: BTreeMap<u64, CrmRecord>,
    pub deleted: Vec<DeletedRecord>,
    #[serde(skip)]
    pub by_modified: BTreeSet<(Millis, u64)>,
    #[serde(skip)]
    pub by_created: BTreeSet<(Millis, u64)>,
    /// Lower-cased value → ids, for unique and duplicate-check fields.
    #[serde(skip)]
    pub unique: HashMap<String, HashMap<String, BTreeSet<u64>>>,
}

/// Sort orders of a record listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortBy {
    Id,
    CreatedTime,
    ModifiedTime,
}

impl SortBy {
    pub fn parse(s: &str) -> Option<SortBy> {
        match s {
            "id" => Some(SortBy::Id),
            "Created_Time" => Some(SortBy::CreatedTime),
            "Modified_Time" => Some(SortBy::ModifiedTime),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Id => "id",
            SortBy::CreatedTime => "Created_Time",
            SortBy::ModifiedTime => "Modified_Time",
        }
    }
    pub fn code(self) -> u8 {
        match self {
            SortBy::Id => 0,
            SortBy::CreatedTime => 1,
            SortBy::ModifiedTime => 2,
        }
    }
    pub fn from_code(c: u8) -> Option<SortBy> {
        [SortBy::Id, SortBy::CreatedTime, SortBy::ModifiedTime]
            .get(c as usize)
            .copied()
    }
}

fn index_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.to_lowercase()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

impl ModuleStore {
    fn indexed_fields(def: &ModuleDef) -> impl Iterator<Item = &'static str> + '_ {
        def.fields
            .iter()
            .filter(|f| f.unique)
            .map(|f| f.api_name)
            .chain(def.duplicate_check.iter().copied())
    }

    /// Rebuild the indexes (after loading from a file).
    pub fn rebuild(&mut self, def: &ModuleDef) {
        self.by_modified.clear();
        self.by_created.clear();
        self.unique.clear();
        let recs: Vec<CrmRecord> = self.records.values().cloned().collect();
        for r in &recs {
            self.index(def, r);
        }
    }

    fn index(&mut self, def: &ModuleDef, r: &CrmRecord) {
        self.by_modified.insert((r.modified_ms, r.id));
        self.by_created.insert((r.created_ms, r.id));
        for f in Self::indexed_fields(def) {
            if let Some(k) = r.data.get(f).and_then(index_key) {
                self.unique
                    .entry(f.to_string())
                    .or_default()
                    .entry(k)
                    .or_default()
                    .insert(r.id);
            }
        }
    }

    fn unindex(&mut self, def: &ModuleDef, r: &CrmRecord) {
        self.by_modified.remove(&(r.modified_ms, r.id));
        self.by_created.remove(&(r.created_ms, r.id));
        for f in Self::indexed_fields(def) {
            if let Some(k) = r.data.get(f).and_then(index_key)
                && let Some(m) = self.unique.get_mut(f)
                && let Some(set) = m.get_mut(&k)
            {
                set.remove(&r.id);
                if set.is_empty() {
                    m.remove(&k);
                }
            }
        }
    }

    pub fn insert(&mut self, def: &ModuleDef, r: CrmRecord) {
        self.index(def, &r);
        self.records.insert(r.id, r);
    }

    pub fn remove(&mut self, def: &ModuleDef, id: u64) -> Option<CrmRecord> {
        let r = self.records.remove(&id)?;
        self.unindex(def, &r);
        Some(r)
    }

    /// Ids of records whose `field` equals `value` (case-insensitive).
    pub fn find_by(&self, field: &str, value: &Value) -> Vec<u64> {
        let Some(key) = index_key(value) else {
            return Vec::new();
        };
        if let Some(m) = self.unique.get(field) {
            return m
                .get(&key)
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
        }
        self.records
            .values()
            .filter(|r| r.data.get(field).and_then(index_key).as_deref() == Some(key.as_str()))
            .map(|r| r.id)
            .collect()
    }

    /// Keys in listing order, strictly after `after` (exclusive).
    pub fn keys(
        &self,
        sort: SortBy,
        desc: bool,
        after: Option<(Millis, u64)>,
    ) -> Box<dyn Iterator<Item = (Millis, u64)> + '_> {
        match sort {
            SortBy::Id => {
                let range = match (after, desc) {
                    (None, _) => self.records.range(..),
                    (Some((_, id)), false) => {
                        self.records.range((Bound::Excluded(id), Bound::Unbounded))
                    }
                    (Some((_, id)), true) => self.records.range(..id),
                };
                let it = range.map(|(id, _)| (*id as Millis, *id));
                if desc {
                    Box::new(it.rev())
                } else {
                    Box::new(it)
                }
            }
            SortBy::CreatedTime | SortBy::ModifiedTime => {
                let set = if sort == SortBy::CreatedTime {
                    &self.by_created
                } else {
                    &self.by_modified
                };
                let range = match (after, desc) {
                    (None, _) => set.range(..),
                    (Some(k), false) => set.range((Bound::Excluded(k), Bound::Unbounded)),
                    (Some(k), true) => set.range(..k),
                };
                let it = range.copied();
                if desc {
                    Box::new(it.rev())
                } else {
                    Box::new(it)
                }
            }
        }
    }

    /// The listing key of a record under `sort`.
    pub fn key_of(r: &CrmRecord, sort: SortBy) -> (Millis, u64) {
        match sort {
            SortBy::Id => (r.id as Millis, r.id),
            SortBy::CreatedTime => (r.created_ms, r.id),
            SortBy::ModifiedTime => (r.modified_ms, r.id),
        }
    }
}

/// All CRM data.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CrmState {
    pub modules: BTreeMap<String, ModuleStore>,
}

impl CrmState {
    pub fn new() -> Self {
        let mut s = CrmState::default();
        for d in defs() {
            s.modules
                .insert(d.api_name.to_string(), ModuleStore::default());
        }
        s
    }

    pub fn rebuild(&mut self) {
        for d in defs() {
            self.modules
                .entry(d.api_name.to_string())
                .or_default()
                .rebuild(d);
        }
    }

    pub fn module(&self, def: &ModuleDef) -> &ModuleStore {
        &self.modules[def.api_name]
    }

    pub fn module_mut(&mut self, def: &ModuleDef) -> &mut ModuleStore {
        self.modules.entry(def.api_name.to_string()).or_default()
    }

    /// The display name of a record (lookup `name`).
    pub fn display_name(&self, module: &str, id: u64) -> Option<Value> {
        let d = def(module)?;
        let r = self.modules.get(d.api_name)?.records.get(&id)?;
        Some(r.data.get(d.display_field).cloned().unwrap_or(Value::Null))
    }
}

/// The user a write is done as.
pub fn user_json(id: &str) -> Value {
    metadata::users()
        .into_iter()
        .find(|u| u["id"] == id)
        .map(|mut u| {
            u.remove("email");
            Value::Object(u)
        })
        .unwrap_or(Value::Null)
}

/// `$`-prefixed metadata every record carries.
pub fn dollar_fields(out: &mut Map<String, Value>) {
    out.insert("$approval_state".into(), json!("approved"));
    out.insert("$state".into(), json!("save"));
    out.insert("$currency_symbol".into(), json!("$"));
    out.insert("$editable".into(), json!(true));
    out.insert("$process_flow".into(), json!(false));
    out.insert(
        "$review_process".into(),
        json!({"approve": false, "reject": false, "resubmit": false}),
    );
    out.insert("$review".into(), Value::Null);
    out.insert("$in_merge".into(), json!(false));
    out.insert("$approved".into(), json!(true));
    out.insert("$is_duplicate".into(), json!(false));
    out.insert("$locked_for_me".into(), json!(false));
}

/// Render a record for output. `fields` limits the fields (id always
/// included); lookups get their current `name`.
pub fn render(crm: &CrmState, def: &ModuleDef, r: &CrmRecord, fields: Option<&[String]>) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(r.id.to_string()));
    let mut put = |name: &str, v: &Value| {
        let fd = def.field(name);
        let val = match (fd.map(|f| f.data_type), v) {
            (Some(DataType::Lookup), Value::Object(o)) => {
                let id = o.get("id").and_then(Value::as_str).unwrap_or("");
                let target = fd.and_then(|f| f.lookup).unwrap_or("");
                let name = id
                    .parse()
                    .ok()
                    .and_then(|n| crm.display_name(target, n))
                    .unwrap_or_else(|| o.get("name").cloned().unwrap_or(Value::Null));
                json!({"name": name, "id": id})
            }
            _ => v.clone(),
        };
        out.insert(name.to_string(), val);
    };
    match fields {
        None => {
            for fd in &def.fields {
                put(fd.api_name, r.data.get(fd.api_name).unwrap_or(&Value::Null));
            }
        }
        Some(list) => {
            for name in list {
                if name == "id" {
                    continue;
                }
                if let Some(fd) = def.field(name) {
                    put(fd.api_name, r.data.get(fd.api_name).unwrap_or(&Value::Null));
                }
            }
        }
    }
    dollar_fields(&mut out);
    Value::Object(out)
}

/// How a record write identifies its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Create,
    Update,
    Upsert,
}

/// A record-level error entry.
pub fn record_error(code: &str, message: &str, details: Value) -> Value {
    json!({"code": code, "details": details, "message": message, "status": "error"})
}

fn invalid(api_name: &str, idx: usize, expected: &str) -> Value {
    record_error(
        "INVALID_DATA",
        "invalid data",
        json!({"api_name": api_name, "json_path": format!("$.data[{idx}].{api_name}"), "expected_data_type": expected}),
    )
}

/// Validate and normalise one field value. `Err` is the record-level error.
fn normalise(
    crm: &CrmState,
    fd: &metadata::FieldDef,
    v: &Value,
    idx: usize,
) -> Result<Value, Value> {
    use DataType::*;
    if v.is_null() {
        return Ok(Value::Null);
    }
    let bad = || invalid(fd.api_name, idx, fd.data_type.name());
    Ok(match fd.data_type {
        Text | TextArea | Phone | Website | Picklist | AutoNumber => match v {
            Value::String(s) => {
                let max = if fd.data_type == TextArea { 32000 } else { 255 };
                if s.chars().count() > max {
                    return Err(record_error(
                        "INVALID_DATA",
                        "invalid data",
                        json!({"api_name": fd.api_name, "json_path": format!("$.data[{idx}].{}", fd.api_name), "maximum_length": max}),
                    ));
                }
                v.clone()
            }
            Value::Number(n) if fd.data_type != Picklist => json!(n.to_string()),
            _ => return Err(bad()),
        },
        Email => match v.as_str() {
            Some("") => json!(""),
            Some(s) if s.contains('@') && !s.contains(' ') && s.len() <= 100 => v.clone(),
            _ => return Err(bad()),
        },
        MultiSelect => match v {
            Value::Array(a) if a.iter().all(Value::is_string) => v.clone(),
            _ => return Err(bad()),
        },
        Integer | BigInt => match v {
            Value::Number(n) if n.is_i64() => v.clone(),
            Value::String(s) => json!(s.parse::<i64>().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        Double | Currency | Percent => match v {
            Value::Number(_) => v.clone(),
            Value::String(s) => json!(s.parse::<f64>().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        Boolean => match v {
            Value::Bool(_) => v.clone(),
            Value::String(s) if s == "true" || s == "false" => json!(s == "true"),
            _ => return Err(bad()),
        },
        Date => match v.as_str() {
            Some(s) if clock::parse_date(s).is_some() => v.clone(),
            _ => return Err(bad()),
        },
        DateTime => match v.as_str().and_then(clock::parse_datetime) {
            Some(ms) => json!(clock::fmt_crm(ms)),
            None => return Err(bad()),
        },
        Lookup | OwnerLookup => {
            let id = match v {
                Value::Object(o) => o.get("id").and_then(|x| {
                    x.as_str()
                        .map(String::from)
                        .or_else(|| x.as_u64().map(|n| n.to_string()))
                }),
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let Some(id) = id else { return Err(bad()) };
            if fd.data_type == OwnerLookup {
                let users = metadata::users();
                let Some(u) = users.into_iter().find(|u| u["id"] == id.as_str()) else {
                    return Err(record_error(
                        "INVALID_DATA",
                        "the id given seems to be invalid",
                        json!({"api_name": fd.api_name, "json_path": format!("$.data[{idx}].{}", fd.api_name)}),
                    ));
                };
                Value::Object(u)
            } else {
                let target = fd.lookup.unwrap_or("");
                let name = id
                    .parse::<u64>()
                    .ok()
                    .and_then(|n| crm.display_name(target, n));
                match name {
                    Some(name) => json!({"name": name, "id": id}),
                    None => {
                        return Err(record_error(
                            "INVALID_DATA",
                            "the related id given is invalid",
                            json!({"api_name": fd.api_name, "json_path": format!("$.data[{idx}].{}", fd.api_name)}),
                        ));
                    }
                }
            }
        }
    })
}

/// Outcome of one record write.
pub struct WriteOutcome {
    pub status_ok: bool,
    pub entry: Value,
}

/// Options of a batch write.
pub struct WriteCtx<'a> {
    pub now: Millis,
    pub user: &'a str,
    pub mode: WriteMode,
    pub duplicate_check_fields: Option<Vec<String>>,
    /// Id from the URL (`PUT /{module}/{id}`).
    pub path_id: Option<u64>,
    /// Events for notifications.
    pub events: &'a mut Vec<Event>,
    /// Source of new ids.
    pub next_id: &'a mut dyn FnMut() -> u64,
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// Apply one record write (create, update or upsert).
pub fn write_one(
    crm: &mut CrmState,
    def: &ModuleDef,
    idx: usize,
    input: &Value,
    cx: &mut WriteCtx<'_>,
) -> WriteOutcome {
    let fail = |entry: Value| WriteOutcome {
        status_ok: false,
        entry,
    };
    let Some(obj) = input.as_object() else {
        return fail(record_error(
            "INVALID_DATA",
            "invalid data",
            json!({"json_path": format!("$.data[{idx}]")}),
        ));
    };
    // Normalise the given fields.
    let mut changes: Map<String, Value> = Map::new();
    for (k, v) in obj {
        if k == "id" || k.starts_with('$') {
            continue;
        }
        let Some(fd) = def.field(k) else {
            // Unknown API names are ignored, as Zoho does.
            continue;
        };
        if fd.read_only {
            continue;
        }
        match normalise(crm, fd, v, idx) {
            Ok(n) => {
                changes.insert(fd.api_name.to_string(), n);
            }
            Err(e) => return fail(e),
        }
    }
    let given_id = match (cx.path_id, obj.get("id")) {
        (Some(id), _) => Some(Ok(id)),
        (None, Some(v)) => Some(
            v.as_str()
                .and_then(|s| s.parse().ok())
                .or_else(|| v.as_u64())
                .ok_or(()),
        ),
        (None, None) => None,
    };
    let store = crm.module(def);
    // Work out the target record.
    let mut duplicate_field: Option<String> = None;
    let target: Option<u64> = match cx.mode {
        WriteMode::Create => None,
        WriteMode::Update => match given_id {
            Some(Ok(id)) if store.records.contains_key(&id) => Some(id),
            Some(_) => {
                return fail(record_error(
                    "INVALID_DATA",
                    "the id given seems to be invalid",
                    json!({"api_name": "id", "json_path": format!("$.data[{idx}].id")}),
                ));
            }
            None => {
                return fail(record_error(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    json!({"api_name": "id", "json_path": format!("$.data[{idx}].id")}),
                ));
            }
        },
        WriteMode::Upsert => {
            let mut found = None;
            if let Some(Ok(id)) = given_id
                && store.records.contains_key(&id)
            {
                found = Some(id);
            }
            if found.is_none() {
                let fields: Vec<String> = cx.duplicate_check_fields.clone().unwrap_or_else(|| {
                    def.fields
                        .iter()
                        .filter(|f| f.unique)
                        .map(|f| f.api_name.to_string())
                        .chain(def.duplicate_check.iter().map(|s| s.to_string()))
                        .collect()
                });
                for f in fields {
                    if let Some(v) = changes.get(&f)
                        && !v.is_null()
                        && let Some(id) = store.find_by(&f, v).first()
                    {
                        found = Some(*id);
                        duplicate_field = Some(f);
                        break;
                    }
                }
            }
            found
        }
    };
    // Compose the new record.
    let (mut data, created_ms, existed) = match target {
        Some(id) => {
            let r = &store.records[&id];
            (r.data.clone(), r.created_ms, true)
        }
        None => (Map::new(), cx.now, false),
    };
    let id = target.unwrap_or_else(|| (cx.next_id)());
    let mut affected: Vec<String> = Vec::new();
    for (k, v) in &changes {
        if data.get(k) != Some(v) {
            affected.push(k.clone());
        }
        data.insert(k.clone(), v.clone());
    }
    // Derived fields.
    if def.api_name == "Deals" {
        if changes.contains_key("Stage")
            && !changes.contains_key("Probability")
            && let Some(p) = data
                .get("Stage")
                .and_then(Value::as_str)
                .and_then(metadata::stage_probability)
        {
            data.insert("Probability".into(), json!(p));
        }
        let amount = data.get("Amount").and_then(Value::as_f64);
        let prob = data.get("Probability").and_then(Value::as_f64);
        let er = match (amount, prob) {
            (Some(a), Some(p)) => json!((a * p / 100.0 * 100.0).round() / 100.0),
            _ => Value::Null,
        };
        data.insert("Expected_Revenue".into(), er);
    }
    if def.field("Full_Name").is_some() {
        let first = data.get("First_Name").and_then(Value::as_str).unwrap_or("");
        let last = data.get("Last_Name").and_then(Value::as_str).unwrap_or("");
        data.insert(
            "Full_Name".into(),
            json!(format!("{first} {last}").trim().to_string()),
        );
    }
    // Mandatory fields.
    for fd in def.fields.iter().filter(|f| f.mandatory) {
        if is_empty(data.get(fd.api_name)) {
            return fail(record_error(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                json!({"api_name": fd.api_name, "json_path": format!("$.data[{idx}].{}", fd.api_name)}),
            ));
        }
    }
    // Unique fields.
    for fd in def.fields.iter().filter(|f| f.unique) {
        if let Some(v) = data.get(fd.api_name).filter(|v| !is_empty(Some(v)))
            && let Some(other) = store.find_by(fd.api_name, v).into_iter().find(|o| *o != id)
        {
            return fail(record_error(
                "DUPLICATE_DATA",
                "duplicate data",
                json!({
                    "api_name": fd.api_name,
                    "json_path": format!("$.data[{idx}].{}", fd.api_name),
                    "duplicate_record": {"module": {"api_name": def.api_name, "id": def.id.to_string()}, "id": other.to_string(), "Owner": user_json(cx.user)},
                    "more_records": false
                }),
            ));
        }
    }
    let user = user_json(cx.user);
    let now_s = clock::fmt_crm(cx.now);
    data.insert("id".into(), json!(id.to_string()));
    data.insert("Modified_Time".into(), json!(now_s));
    data.insert("Modified_By".into(), user.clone());
    if !existed {
        data.insert("Created_Time".into(), json!(clock::fmt_crm(created_ms)));
        data.insert("Created_By".into(), user.clone());
        if is_empty(data.get("Owner")) {
            let owner = metadata::users()
                .into_iter()
                .find(|u| u["id"] == cx.user)
                .map(Value::Object)
                .unwrap_or(Value::Null);
            data.insert("Owner".into(), owner);
        }
    }
    let rec = CrmRecord {
        id,
        created_ms,
        modified_ms: cx.now,
        data,
    };
    let details = json!({
        "Modified_Time": rec.data["Modified_Time"],
        "Modified_By": rec.data["Modified_By"],
        "Created_Time": rec.data["Created_Time"],
        "id": id.to_string(),
        "Created_By": rec.data["Created_By"],
        "$approval_state": "approved",
    });
    let store = crm.module_mut(def);
    if existed {
        store.remove(def, id);
    }
    store.insert(def, rec);
    cx.events.push(Event {
        product: crate::error::Product::Crm,
        org: String::new(),
        module: def.api_name.to_string(),
        ids: vec![id.to_string()],
        change: if existed {
            Change::Update
        } else {
            Change::Create
        },
        affected_fields: affected,
        record: None,
    });
    let mut entry = json!({
        "code": "SUCCESS",
        "details": details,
        "message": if existed { "record updated" } else { "record added" },
        "status": "success",
    });
    if cx.mode == WriteMode::Upsert {
        entry["action"] = json!(if existed { "update" } else { "insert" });
        entry["duplicate_field"] = match duplicate_field {
            Some(f) => json!(f),
            None => Value::Null,
        };
    }
    WriteOutcome {
        status_ok: true,
        entry,
    }
}

/// Delete one record; returns the response entry.
pub fn delete_one(
    crm: &mut CrmState,
    def: &ModuleDef,
    id_text: &str,
    now: Millis,
    user: &str,
    events: &mut Vec<Event>,
) -> WriteOutcome {
    let id: Option<u64> = id_text.parse().ok();
    let store = crm.module_mut(def);
    let Some(r) = id.and_then(|id| store.remove(def, id)) else {
        return WriteOutcome {
            status_ok: false,
            entry: record_error(
                "INVALID_DATA",
                "the id given seems to be invalid",
                json!({"id": id_text}),
            ),
        };
    };
    let display = r
        .data
        .get(def.display_field)
        .and_then(Value::as_str)
        .map(String::from);
    let created_by = r
        .data
        .get("Created_By")
        .and_then(|v| v.get("id"))
        .and_then(Value::as_str)
        .map(String::from);
    store.deleted.push(DeletedRecord {
        id: r.id,
        display_name: display,
        deleted_ms: now,
        deleted_by: Some(user.to_string()),
        created_by,
        kind: "recycle".into(),
    });
    events.push(Event {
        product: crate::error::Product::Crm,
        org: String::new(),
        module: def.api_name.to_string(),
        ids: vec![r.id.to_string()],
        change: Change::Delete,
        affected_fields: Vec::new(),
        record: None,
    });
    WriteOutcome {
        status_ok: true,
        entry: json!({"code": "SUCCESS", "details": {"id": r.id.to_string()}, "message": "record deleted", "status": "success"}),
    }
}
