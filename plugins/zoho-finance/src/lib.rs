//! # zoho-finance
//!
//! One implementation of the Zoho finance API family — Books, Invoice and
//! Billing — for Ferry connector plugins. Products differ only in data: a
//! [`ProductSpec`] says how requests name the organisation and which
//! resources exist, with their paths, JSON keys, id and modified fields,
//! incremental strategy, actions and standard fields. A plugin crate is a
//! product table and an export:
//!
//! ```ignore
//! struct Books;
//! impl zoho_finance::Product for Books {
//!     const SPEC: &'static ProductSpec = &ProductSpec { name: "zoho-books", … };
//! }
//! ferry_plugin_sdk::export_connector!(zoho_finance::Finance<Books>);
//! ```
//!
//! What it does for every product:
//!
//! * **envelope** — `{"code": 0, "message": …, "<resource>": …}`; a non-zero
//!   code is an error ([`error`] maps it onto the contract once);
//! * **pagination** — `page`/`per_page` (200) and
//!   `page_context.has_more_page`; the cursor is the next page number;
//! * **incremental listing** — per resource, see [`tables`] and
//!   [`Incremental`];
//! * **custom fields** — read and written as top-level keys, see [`custom`];
//!   `describe` reports the ones found in the organisation's records;
//! * **update by unique custom field** — with the connection setting
//!   `unique_keys` (`{"contacts": "cf_crm_account_id"}`), `create` upserts
//!   through `PUT /<resource>` with `X-Unique-Identifier-Key`/`-Value` and
//!   `X-Upsert: true`, and `update` of a record without its id updates the
//!   record holding that value.
//!
//! Requests use relative URLs only; the host resolves them against the base
//! URL it builds from the connector manifest's data centre.

pub mod custom;
pub mod error;
mod organization;
pub mod product;
pub mod tables;
pub mod time;

use std::marker::PhantomData;

use ferry_plugin_sdk::http;
use ferry_plugin_sdk::json::str_field;
use ferry_plugin_sdk::page::page_number;
use ferry_plugin_sdk::prelude::*;

pub use product::{ActionRoute, Field, Incremental, OrgPlacement, ProductSpec, Resource};

/// Records per page (the finance maximum).
const PER_PAGE: u32 = 200;
/// Records one write call carries. The finance products take one record a
/// request, so one a call: the host overlaps calls up to the connection's
/// concurrency, which a longer call carrying several could not.
const MAX_BATCH: u32 = 1;

/// Binds a plugin to its product table.
pub trait Product: 'static {
    const SPEC: &'static ProductSpec;
}

/// The connector for product `P`; export it with
/// `ferry_plugin_sdk::export_connector!(zoho_finance::Finance<P>)`.
pub struct Finance<P>(PhantomData<P>);

/// A request with the organisation placed where the product wants it.
fn request(
    spec: &ProductSpec,
    settings: &Settings,
    method: Method,
    path: &str,
) -> Result<Request, ConnectorError> {
    let org = settings.require("organization_id")?;
    let r = Request::new(method, path);
    Ok(match spec.organization {
        OrgPlacement::Query(name) => r.query(name, org),
        OrgPlacement::Header(name) => r.header(name, org),
    })
}

fn send(r: Request) -> Result<Value, ConnectorError> {
    error::body(&r.send()?)
}

/// The custom field a module's records are matched on when upserting
/// (setting `unique_keys`: an object, or `contacts=cf_x,invoices=cf_y`).
fn unique_key<'s>(settings: &'s Settings, module: &str) -> Result<Option<&'s str>, ConnectorError> {
    match settings.value("unique_keys") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => match map.get(module) {
            None => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.as_str())),
            Some(_) => Err(ConnectorError::invalid(
                "unique_keys",
                format!("`unique_keys.{module}` must name a custom field"),
            )),
        },
        Some(Value::String(s)) => Ok(s
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .find(|(m, _)| m.trim() == module)
            .map(|(_, key)| key.trim())),
        Some(_) => Err(ConnectorError::invalid(
            "unique_keys",
            "`unique_keys` must map modules to custom fields",
        )),
    }
}

/// A JSON value as text for comparisons and query parameters.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One page of a resource's list, and whether more follow.
fn list_page(
    spec: &ProductSpec,
    settings: &Settings,
    res: &Resource,
    page: u32,
    params: &[(String, String)],
) -> Result<(Vec<Record>, bool), ConnectorError> {
    let mut r = request(spec, settings, Method::Get, res.path)?
        .query("page", page)
        .query("per_page", PER_PAGE);
    for (k, v) in params {
        r = r.query(k, v);
    }
    let body = send(r)?;
    let rows = records_at(&body, res.plural)?;
    let more = body["page_context"]["has_more_page"] == json!(true);
    Ok((rows.into_iter().map(custom::flatten).collect(), more))
}

/// The record a write returned, or the record fetched again.
fn written(res: &Resource, body: &Value) -> Result<Record, ConnectorError> {
    match body.get(res.singular) {
        Some(Value::Object(r)) => Ok(custom::flatten(r.clone())),
        // Contact persons and some older endpoints answer with a list.
        Some(Value::Array(list)) if list.first().is_some_and(Value::is_object) => Ok(
            custom::flatten(list[0].as_object().cloned().unwrap_or_default()),
        ),
        _ => Err(ConnectorError::Transient(format!(
            "response has no `{}`",
            res.singular
        ))),
    }
}

/// The body of a write: custom fields folded, the id left to the URL.
fn write_body(res: &Resource, record: &Record) -> Record {
    let mut body = custom::fold(record);
    body.remove(res.id_field);
    body
}

fn writable(spec: &ProductSpec, module: &str) -> Result<&'static Resource, ConnectorError> {
    let res = spec.resource(module)?;
    if !res.writable {
        return Err(ConnectorError::unsupported(format!(
            "`{module}` is read-only in {}",
            spec.name
        )));
    }
    Ok(res)
}

/// `PUT /<resource>` matching on a unique custom field.
fn put_by_unique_key(
    spec: &ProductSpec,
    settings: &Settings,
    res: &Resource,
    key: &str,
    value: &str,
    body: &Record,
    upsert: bool,
) -> Result<Record, ConnectorError> {
    let mut r = request(spec, settings, Method::Put, res.path)?
        .header("X-Unique-Identifier-Key", key)
        .header("X-Unique-Identifier-Value", value);
    if upsert {
        r = r.header("X-Upsert", "true");
    }
    written(res, &send(r.json(body))?)
}

/// The module's unique key and this record's value for it, when both exist.
fn unique_match<'s>(
    settings: &'s Settings,
    res: &Resource,
    record: &Record,
) -> Result<Option<(&'s str, String)>, ConnectorError> {
    Ok(unique_key(settings, res.module)?.and_then(|k| Some((k, unique_value(record, k)?))))
}

fn unique_value(record: &Record, key: &str) -> Option<String> {
    custom::value_of(record, key)
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .map(value_text)
}

impl<P: Product> Finance<P> {
    /// One write per record of a batch to a writable module, with the body
    /// prepared; one result per record.
    fn write_each(
        module: &str,
        records: &[Record],
        write: impl Fn(&'static Resource, &Record, Record) -> Result<Record, ConnectorError>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let res = writable(P::SPEC, module)?;
        Ok(records
            .iter()
            .map(|record| write(res, record, write_body(res, record)))
            .collect())
    }

    fn module_info(
        settings: &Settings,
        res: &Resource,
        custom_fields: Vec<FieldInfo>,
    ) -> Result<ModuleInfo, ConnectorError> {
        let mut ops = vec![Operation::Read, Operation::Incremental, Operation::Find];
        if res.writable {
            ops.extend([Operation::Create, Operation::Update, Operation::Delete]);
            if unique_key(settings, res.module)?.is_some() {
                ops.push(Operation::Upsert);
            }
        }
        let mut module = ModuleInfo::new(res.module, res.id_field)
            .label(res.label)
            .modified_field(res.modified_field)
            .fields(res.fields.iter().map(Field::info))
            // Every finance record carries its custom fields as an array
            // too; `cf_*` keys are written into it.
            .fields([FieldInfo::new("custom_fields", FieldKind::List).label("Custom fields")])
            .fields(custom_fields)
            .operations(&ops)
            .max_batch(if res.writable { MAX_BATCH } else { 1 });
        for a in res.actions {
            module = module.action(a.name, a.description);
        }
        Ok(module)
    }
}

impl<P: Product> Connector for Finance<P> {
    /// With settings naming an organisation, custom fields are discovered
    /// from the first page of each resource (the finance APIs have no field
    /// metadata endpoint); with empty settings no network is used.
    fn describe(settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        let spec = P::SPEC;
        let discover = settings
            .get("organization_id")
            .is_some_and(|s| !s.is_empty());
        let mut info = ConnectorInfo::new(spec.name, env!("CARGO_PKG_VERSION"), spec.description);
        for res in spec.resources {
            let custom = if discover {
                let (rows, _) = list_page(spec, settings, res, 1, &[])?;
                custom::discovered(&rows)
            } else {
                Vec::new()
            };
            info = info.module(Self::module_info(settings, res, custom)?);
        }
        Ok(info.module(organization::info()))
    }

    fn configure(settings: &Settings) -> Result<(), ConnectorError> {
        settings.require("organization_id")?;
        for res in P::SPEC.resources {
            unique_key(settings, res.module)?;
        }
        Ok(())
    }

    fn check(settings: &Settings) -> Result<(), ConnectorError> {
        let res = &P::SPEC.resources[0];
        send(request(P::SPEC, settings, Method::Get, res.path)?.query("per_page", 1)).map(|_| ())
    }

    fn list(
        settings: &Settings,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let spec = P::SPEC;
        if organization::is(module) {
            return organization::list(spec, settings);
        }
        let res = spec.resource(module)?;
        let page = page_number(cursor)?;
        let watermark = since
            .map(|s| {
                time::epoch_seconds(s).ok_or_else(|| {
                    ConnectorError::invalid("since", format!("`{s}` is not an RFC 3339 time"))
                })
            })
            .transpose()?;
        let mut params: Vec<(String, String)> = Vec::new();
        match res.incremental {
            Incremental::NewestFirst { sort_column } => {
                params.push(("sort_column".into(), sort_column.into()));
                params.push(("sort_order".into(), "D".into()));
            }
            Incremental::ModifiedFilter | Incremental::Scan => {
                if let (Incremental::ModifiedFilter, Some(s)) = (res.incremental, since) {
                    params.push((
                        "last_modified_time".into(),
                        time::zoho_time(s).unwrap_or_default(),
                    ));
                }
                if let Some(column) = res.list_sort {
                    params.push(("sort_column".into(), column.into()));
                    params.push(("sort_order".into(), "A".into()));
                }
            }
        }
        let (rows, more) = list_page(spec, settings, res, page, &params)?;
        let mut records = Vec::with_capacity(rows.len());
        let mut reached_watermark = false;
        for row in rows {
            let modified = row
                .get(res.modified_field)
                .and_then(Value::as_str)
                .and_then(time::epoch_seconds);
            if let (Some(w), Some(m)) = (watermark, modified)
                && m < w
            {
                if matches!(res.incremental, Incremental::NewestFirst { .. }) {
                    // Newest first: everything after this is older still.
                    reached_watermark = true;
                    break;
                }
                continue;
            }
            records.push(row);
        }
        Ok(Page::from_records(records).next(more && !reached_watermark, || (page + 1).to_string()))
    }

    fn get(settings: &Settings, module: &str, id: &str) -> Result<Record, ConnectorError> {
        if organization::is(module) {
            return organization::list(P::SPEC, settings)?
                .records
                .into_iter()
                .find(|o| o.get("organization_id").and_then(Value::as_str) == Some(id))
                .ok_or_else(|| ConnectorError::NotFound(format!("no organisation {id}")));
        }
        let res = P::SPEC.resource(module)?;
        let body = send(request(
            P::SPEC,
            settings,
            Method::Get,
            &format!("{}/{}", res.path, http::encode(id)),
        )?)?;
        written(res, &body)
    }

    /// Criteria go to the server as list parameters (exact match on a field,
    /// `cf_*` for custom fields); every row is checked again here, case
    /// insensitively, so a parameter the server ignores only costs pages.
    fn find(
        settings: &Settings,
        module: &str,
        criteria: &Record,
    ) -> Result<Vec<Record>, ConnectorError> {
        let spec = P::SPEC;
        let res = spec.resource(module)?;
        let params: Vec<(String, String)> = criteria
            .iter()
            .filter(|(k, _)| k.starts_with("cf_") || !custom::is_custom_key(k))
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect();
        let matches = |r: &Record| {
            criteria.iter().all(|(k, want)| {
                custom::value_of(r, k)
                    .is_some_and(|got| value_text(got).eq_ignore_ascii_case(&value_text(want)))
            })
        };
        let mut found = Vec::new();
        let mut page = 1;
        loop {
            let (rows, more) = list_page(spec, settings, res, page, &params)?;
            found.extend(rows.into_iter().filter(|r| matches(r)));
            if !more {
                return Ok(found);
            }
            page += 1;
        }
    }

    fn create(
        settings: &Settings,
        module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = P::SPEC;
        Self::write_each(module, &records, |res, record, body| {
            match unique_match(settings, res, record)? {
                Some((k, value)) => put_by_unique_key(spec, settings, res, k, &value, &body, true),
                None => written(
                    res,
                    &send(request(spec, settings, Method::Post, res.path)?.json(&body))?,
                ),
            }
        })
    }

    fn update(
        settings: &Settings,
        module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = P::SPEC;
        Self::write_each(module, &records, |res, record, body| {
            if let Some(id) = str_field(record, res.id_field).filter(|s| !s.is_empty()) {
                let path = format!("{}/{}", res.path, http::encode(&id));
                return written(
                    res,
                    &send(request(spec, settings, Method::Put, &path)?.json(&body))?,
                );
            }
            match unique_match(settings, res, record)? {
                Some((k, value)) => put_by_unique_key(spec, settings, res, k, &value, &body, false),
                None => Err(ConnectorError::invalid(
                    res.id_field,
                    format!(
                        "an update needs `{}` or a value for the unique key",
                        res.id_field
                    ),
                )),
            }
        })
    }

    fn delete(
        settings: &Settings,
        module: &str,
        ids: Vec<String>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        let spec = P::SPEC;
        let res = writable(spec, module)?;
        Ok(ids
            .iter()
            .map(|id| {
                let path = format!("{}/{}", res.path, http::encode(id));
                send(request(spec, settings, Method::Delete, &path)?)?;
                let mut done = Record::new();
                done.insert("id".into(), json!(id));
                Ok(done)
            })
            .collect())
    }

    /// Runs the action, then returns the record as it is afterwards (the
    /// status endpoints answer only with a message).
    fn act(
        settings: &Settings,
        module: &str,
        id: &str,
        action: &str,
        _args: &Record,
    ) -> Result<Record, ConnectorError> {
        let spec = P::SPEC;
        let res = spec.resource(module)?;
        let route = res.action(action).ok_or_else(|| {
            ConnectorError::unsupported(format!("action `{action}` on `{module}`"))
        })?;
        let path = format!("{}/{}/{}", res.path, http::encode(id), route.suffix);
        send(request(spec, settings, Method::Post, &path)?)?;
        Self::get(settings, module, id)
    }
}
