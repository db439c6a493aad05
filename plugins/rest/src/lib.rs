//! Ferry's generic REST connector: one component that runs any
//! declarative connector manifest. The host hands it the manifest's `rest:`
//! section in its settings (under [`ferry_rest_spec::SETTINGS_KEY`]); every
//! call reads it and does what it says. Credentials, hosts, pacing and
//! retries stay the host's, as for every plugin.

mod answer;
mod paging;
mod request;

use ferry_plugin_sdk::prelude::*;
use ferry_rest_spec::{Body, CreateMany, FieldKind as Kind, Module, Spec, Vars};

use crate::answer::record_at;
use crate::request::{Call, send};

struct Rest;

/// The spec the host passed, or an error saying it is missing.
fn spec(settings: &Settings) -> Result<Spec, ConnectorError> {
    let value = settings
        .value(ferry_rest_spec::SETTINGS_KEY)
        .ok_or_else(|| {
            ConnectorError::invalid(
                ferry_rest_spec::SETTINGS_KEY,
                "this component runs declarative manifests (`kind: declarative`); the host passed none",
            )
        })?;
    serde_json::from_value(value.clone())
        .map_err(|e| ConnectorError::invalid(ferry_rest_spec::SETTINGS_KEY, e.to_string()))
}

fn module<'a>(spec: &'a Spec, name: &str) -> Result<&'a Module, ConnectorError> {
    spec.modules
        .get(name)
        .ok_or_else(|| ConnectorError::NotFound(format!("no module `{name}`")))
}

/// Module `name` and its request for `op`, or "unsupported" when the
/// manifest describes none.
fn operation<'a, T>(
    spec: &'a Spec,
    name: &str,
    op: &str,
    pick: impl Fn(&'a Module) -> Option<&'a T>,
) -> Result<(&'a Module, &'a T), ConnectorError> {
    let m = module(spec, name)?;
    let request = pick(m).ok_or_else(|| unsupported(op, name))?;
    Ok((m, request))
}

fn unsupported(op: &str, module: &str) -> ConnectorError {
    ConnectorError::unsupported(format!(
        "`{op}` on module `{module}` (the manifest describes none)"
    ))
}

fn kind(k: Kind) -> FieldKind {
    match k {
        Kind::Text => FieldKind::Text,
        Kind::LongText => FieldKind::LongText,
        Kind::Integer => FieldKind::Integer,
        Kind::Decimal => FieldKind::Decimal,
        Kind::Currency => FieldKind::Currency,
        Kind::Percent => FieldKind::Percent,
        Kind::Boolean => FieldKind::Boolean,
        Kind::Date => FieldKind::Date,
        Kind::Datetime => FieldKind::Datetime,
        Kind::Email => FieldKind::Email,
        Kind::Phone => FieldKind::Phone,
        Kind::Url => FieldKind::Url,
        Kind::Picklist => FieldKind::Picklist,
        Kind::MultiPicklist => FieldKind::MultiPicklist,
        Kind::Lookup => FieldKind::Lookup,
        Kind::Object => FieldKind::Object,
        Kind::List => FieldKind::List,
    }
}

/// Records created through the module's bulk request, `max` a request;
/// each takes its request's outcome, and is as sent when it succeeds (a
/// bulk answer names no records).
fn create_many(
    spec: &Spec,
    settings: &Settings,
    many: &CreateMany,
    records: &[Record],
) -> Vec<Result<Record, ConnectorError>> {
    let mut out = Vec::with_capacity(records.len());
    for chunk in records.chunks(many.max.max(1) as usize) {
        let vars = Vars {
            settings: Some(settings.as_map()),
            records: Some(chunk),
            ..Vars::default()
        };
        match send(spec, &Call::new(&many.request, "POST", vars)) {
            Ok(_) => out.extend(chunk.iter().cloned().map(Ok)),
            Err(e) => out.extend(chunk.iter().map(|_| Err(e.clone()))),
        }
    }
    out
}

/// Describe a module from its spec.
fn describe_module(name: &str, m: &Module) -> ModuleInfo {
    let mut info = ModuleInfo::new(name, &m.id).label(m.label.as_deref().unwrap_or(name));
    if let Some(modified) = &m.modified {
        info = info.modified_field(modified);
    }
    for (field, f) in &m.fields {
        let mut fi = FieldInfo::new(field, kind(f.kind)).label(f.label.as_deref().unwrap_or(field));
        if f.required {
            fi = fi.required();
        }
        if f.read_only || (*field == m.id && !m.write_id) {
            fi = fi.read_only();
        }
        if !f.values.is_empty() {
            let values: Vec<&str> = f.values.iter().map(String::as_str).collect();
            fi = fi.picklist(&values);
        }
        if let Some(target) = &f.lookup {
            fi = fi.lookup(target);
        }
        info = info.field(fi);
    }
    let mut ops = Vec::new();
    if let Some(list) = &m.list {
        ops.push(Operation::Read);
        if list.since.is_some() {
            ops.push(Operation::Incremental);
        }
    }
    for (present, op) in [
        (m.find.is_some(), Operation::Find),
        (m.create.is_some(), Operation::Create),
        (m.update.is_some(), Operation::Update),
        (m.delete.is_some(), Operation::Delete),
    ] {
        if present {
            ops.push(op);
        }
    }
    info = info.operations(&ops);
    if let Some(many) = &m.create_many {
        info = info.max_batch(many.max);
    }
    for (action, a) in &m.actions {
        info = info.action(action, &a.description);
    }
    info
}

impl Connector for Rest {
    fn describe(settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        let spec = spec(settings)?;
        let mut info = ConnectorInfo::new(
            "rest",
            env!("CARGO_PKG_VERSION"),
            "A connector described by its manifest alone",
        );
        for (name, m) in &spec.modules {
            info = info.module(describe_module(name, m));
        }
        Ok(info)
    }

    fn configure(settings: &Settings) -> Result<(), ConnectorError> {
        spec(settings)?.check().map_err(|problems| {
            ConnectorError::invalid(ferry_rest_spec::SETTINGS_KEY, problems.join("; "))
        })
    }

    fn check(settings: &Settings) -> Result<(), ConnectorError> {
        let spec = spec(settings)?;
        if let Some(check) = &spec.check {
            let vars = Vars {
                settings: Some(settings.as_map()),
                ..Vars::default()
            };
            send(&spec, &Call::new(check, "GET", vars))?;
            return Ok(());
        }
        // No check request: the first listable module's first page.
        if let Some((name, _)) = spec.modules.iter().find(|(_, m)| m.list.is_some()) {
            Rest::list(settings, name, None, None)?;
        }
        Ok(())
    }

    fn list(
        settings: &Settings,
        module_name: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let spec = spec(settings)?;
        let (_, list) = operation(&spec, module_name, "list", |m| m.list.as_ref())?;
        let vars = Vars {
            settings: Some(settings.as_map()),
            ..Vars::default()
        };
        let since = list.since.as_deref().zip(since);
        paging::page(&spec, list, vars, since, cursor)
    }

    fn get(settings: &Settings, module_name: &str, id: &str) -> Result<Record, ConnectorError> {
        let spec = spec(settings)?;
        let (_, get) = operation(&spec, module_name, "get", |m| m.get.as_ref())?;
        let vars = Vars {
            settings: Some(settings.as_map()),
            id: Some(id),
            ..Vars::default()
        };
        let answer = send(&spec, &Call::new(get, "GET", vars))?;
        record_at(&answer.body, &get.record)?
            .ok_or_else(|| ConnectorError::NotFound(format!("{module_name} {id}")))
    }

    fn find(
        settings: &Settings,
        module_name: &str,
        criteria: &Record,
    ) -> Result<Vec<Record>, ConnectorError> {
        let spec = spec(settings)?;
        let (_, find) = operation(&spec, module_name, "find", |m| m.find.as_ref())?;
        let vars = Vars {
            settings: Some(settings.as_map()),
            criteria: Some(criteria),
            ..Vars::default()
        };
        let found = paging::all(&spec, find, vars)?;
        // Vendors filter loosely (prefix, case): keep exact matches only.
        Ok(found
            .into_iter()
            .filter(|r| {
                criteria
                    .iter()
                    .all(|(k, v)| r.get(k).is_none_or(|got| got == v))
            })
            .collect())
    }

    fn create(
        settings: &Settings,
        module_name: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = spec(settings)?;
        let (m, create) = operation(&spec, module_name, "create", |m| m.create.as_ref())?;
        if let Some(many) = &m.create_many
            && records.len() > 1
            && records
                .iter()
                .all(|r| r.keys().all(|k| many.only.contains(k)))
        {
            return Ok(create_many(&spec, settings, many, &records));
        }
        Ok(records
            .iter()
            .map(|record| {
                let (sent, params) = (m.written(record), m.params(record));
                let vars = Vars {
                    settings: Some(settings.as_map()),
                    record: Some(&sent),
                    params: Some(&params),
                    ..Vars::default()
                };
                let answer = send(&spec, &Call::new(create, "POST", vars).with_body(&sent))?;
                // Vendors that answer a create with a status only: the
                // record is what was sent, when that holds its id.
                match record_at(&answer.body, &create.record)? {
                    Some(r) if r.contains_key(&m.id) => Ok(r),
                    _ if record.contains_key(&m.id) => Ok(record.clone()),
                    Some(r) => Ok(r),
                    None => Err(ConnectorError::vendor(
                        "no-record",
                        "the answer held no record",
                        answer.status,
                    )),
                }
            })
            .collect())
    }

    fn update(
        settings: &Settings,
        module_name: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = spec(settings)?;
        let (m, update) = operation(&spec, module_name, "update", |m| m.update.as_ref())?;
        Ok(records
            .into_iter()
            .map(|mut record| {
                let id = match record.remove(&m.id) {
                    Some(Value::String(s)) => s,
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(ConnectorError::invalid(
                            &m.id,
                            "an update needs the record's id",
                        ));
                    }
                };
                let mut sent = record.clone();
                if m.write_id {
                    sent.insert(m.id.clone(), Value::String(id.clone()));
                }
                let (sent, params) = (m.written(&sent), m.params(&sent));
                let vars = Vars {
                    settings: Some(settings.as_map()),
                    id: Some(&id),
                    record: Some(&sent),
                    params: Some(&params),
                    ..Vars::default()
                };
                let answer = send(&spec, &Call::new(update, "PATCH", vars).with_body(&sent))?;
                // Vendors that answer an update with no body: the record
                // is what was sent.
                let mut written =
                    record_at(&answer.body, &update.record)?.unwrap_or(record.clone());
                written.insert(m.id.clone(), Value::String(id.clone()));
                Ok(written)
            })
            .collect())
    }

    fn delete(
        settings: &Settings,
        module_name: &str,
        ids: Vec<String>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = spec(settings)?;
        let (m, delete) = operation(&spec, module_name, "delete", |m| m.delete.as_ref())?;
        Ok(ids
            .iter()
            .map(|id| {
                let vars = Vars {
                    settings: Some(settings.as_map()),
                    id: Some(id),
                    ..Vars::default()
                };
                send(&spec, &Call::new(delete, "DELETE", vars))?;
                let mut gone = Record::new();
                gone.insert(m.id.clone(), Value::String(id.clone()));
                Ok(gone)
            })
            .collect())
    }

    fn act(
        settings: &Settings,
        module_name: &str,
        id: &str,
        action: &str,
        args: &Record,
    ) -> Result<Record, ConnectorError> {
        let spec = spec(settings)?;
        let m = module(&spec, module_name)?;
        let a = m.actions.get(action).ok_or_else(|| {
            ConnectorError::unsupported(format!("action `{action}` on `{module_name}`"))
        })?;
        let vars = Vars {
            settings: Some(settings.as_map()),
            id: Some(id),
            args: Some(args),
            ..Vars::default()
        };
        let mut call = Call::new(&a.request, "POST", vars);
        if !args.is_empty() || !matches!(a.request.body, Body::Auto) {
            call = call.with_body(args);
        }
        let answer = send(&spec, &call)?;
        Ok(record_at(&answer.body, &a.request.record)?.unwrap_or_default())
    }
}

export_connector!(Rest);
