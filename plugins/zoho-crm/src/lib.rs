//! Ferry connector for Zoho CRM (API v8).
//!
//! Every URL is relative: the host resolves it against the connection's
//! base URL, which it builds from the manifest's data centre
//! (`https://www.zohoapis.eu/crm/v8`, …), so this plugin never names a
//! Zoho host. See `README.md` beside this crate for settings and behaviour.

mod bulk;
mod bulk_write;
mod criteria;
mod error;
mod fields;
mod notifications;
mod organization;
mod stages;
mod time;

use ferry_plugin_sdk::http::encode;
use ferry_plugin_sdk::page::page_number;
use ferry_plugin_sdk::prelude::*;

use error::{ZohoError, response_error};
use fields::STANDARD_MODULES;

/// Most records CRM takes in one write and returns in one page.
const MAX_BATCH: usize = 100;
const PER_PAGE: u32 = 200;
/// Search results CRM returns at most (10 pages of 200).
const SEARCH_LIMIT_PAGES: u32 = 10;
/// The key that turns a `create` input into an upsert.
pub(crate) const UPSERT_KEY: &str = "$upsert";

struct ZohoCrm;

/// Inputs with their positions in the caller's batch.
type Indexed = Vec<(usize, Record)>;

/// The modules of this connection: the standard four plus `modules` from
/// settings (a list or a comma-separated string).
pub(crate) fn modules(settings: &Settings) -> Result<Vec<String>, ConnectorError> {
    let mut out: Vec<String> = STANDARD_MODULES.iter().map(|m| m.to_string()).collect();
    let extra: Vec<String> = match settings.value("modules") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|m| m.trim().to_string()).collect(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(|s| s.trim().to_string()))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                ConnectorError::invalid("modules", "modules must be names of CRM modules")
            })?,
        Some(_) => {
            return Err(ConnectorError::invalid(
                "modules",
                "modules must be a list of module names",
            ));
        }
    };
    for m in extra.into_iter().filter(|m| !m.is_empty()) {
        if !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ConnectorError::invalid(
                "modules",
                format!("`{m}` is not a CRM module API name"),
            ));
        }
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&m)) {
            out.push(m);
        }
    }
    Ok(out)
}

/// The configured module called `name` (CRM module names are case-insensitive).
pub(crate) fn module(settings: &Settings, name: &str) -> Result<String, ConnectorError> {
    modules(settings)?
        .into_iter()
        .find(|m| m.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ConnectorError::unsupported(format!(
                "module `{name}` is not configured; add it to the connection's `modules` setting"
            ))
        })
}

/// The list view (`cvid`) configured for `module`, if any.
fn list_view(settings: &Settings, module: &str) -> Result<Option<String>, ConnectorError> {
    match settings.value("cvid") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(views)) => Ok(views
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(module))
            .and_then(|(_, v)| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })),
        Some(_) => Err(ConnectorError::invalid(
            "cvid",
            "cvid must map module names to list view ids",
        )),
    }
}

/// `If-Modified-Since` for "modified at or after `since`": CRM keeps
/// records modified strictly after the given second, so ask from one
/// second earlier.
fn modified_since(request: Request, since: Option<&str>) -> Result<Request, ConnectorError> {
    let Some(since) = since else {
        return Ok(request);
    };
    let secs = time::parse(since).ok_or_else(|| {
        ConnectorError::invalid("since", format!("`{since}` is not an RFC 3339 instant"))
    })?;
    Ok(request.header("If-Modified-Since", time::format(secs - 1)))
}

/// A listing's answer. Records pass through unchanged, so they are sliced
/// out of the page as text rather than parsed into values and written out
/// again (most of a read's cost in the plugin otherwise).
#[derive(serde::Deserialize)]
struct ListBody<'a> {
    #[serde(borrow, default)]
    data: Option<Vec<&'a serde_json::value::RawValue>>,
    #[serde(default)]
    info: Value,
}

impl ListBody<'_> {
    fn records(&self) -> Result<Vec<String>, ConnectorError> {
        self.data
            .iter()
            .flatten()
            .map(|raw| {
                let text = raw.get();
                if text.starts_with('{') {
                    Ok(text.to_string())
                } else {
                    Err(ConnectorError::vendor(
                        "NOT_A_RECORD",
                        format!("Zoho CRM listed {text}, not a record"),
                        200,
                    ))
                }
            })
            .collect()
    }
}

/// Where a listing continues: the next page number or CRM's page token,
/// and the field list fixed on the first page (v8 requires `fields`, and
/// reading it once saves a metadata call per page).
struct Cursor {
    page: u32,
    token: Option<String>,
    fields: Option<String>,
}

impl Cursor {
    fn parse(text: Option<&str>) -> Result<Cursor, ConnectorError> {
        let Some(text) = text else {
            return Ok(Cursor {
                page: 1,
                token: None,
                fields: None,
            });
        };
        let bad =
            || ConnectorError::invalid("cursor", format!("`{text}` is not a Zoho CRM cursor"));
        let v: Value = serde_json::from_str(text).map_err(|_| bad())?;
        Ok(Cursor {
            page: v["page"].as_u64().map_or(1, |p| p as u32),
            token: v["token"].as_str().map(String::from),
            fields: Some(v["fields"].as_str().ok_or_else(bad)?.to_string()),
        })
    }

    fn text(&self) -> String {
        json!({"page": self.page, "token": self.token, "fields": self.fields}).to_string()
    }
}

/// The body of a 200 answer, `None` for CRM's empty answers (204, and 304
/// when nothing changed since `If-Modified-Since`).
pub(crate) fn body_of(resp: &Response) -> Result<Option<Value>, ConnectorError> {
    match resp.status {
        204 | 304 => Ok(None),
        200 => Ok(Some(resp.json()?)),
        _ => Err(response_error(resp)),
    }
}

pub(crate) fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// One write request's per-record results, in input order. `inputs` are
/// what was sent; a success returns the input completed with what CRM set
/// (`id`, times, users).
fn write_results(
    resp: &Response,
    inputs: &[Record],
) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    results_at(resp, inputs, "data")
}

/// [`write_results`] for an answer whose entries are under `key`
/// (`watch` for notification channels).
pub(crate) fn results_at(
    resp: &Response,
    inputs: &[Record],
    key: &str,
) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    let body: Value = match resp.status {
        200 | 201 | 202 | 207 | 400 => resp.json()?,
        _ => return Err(response_error(resp)),
    };
    let entries = match body.get(key).and_then(Value::as_array) {
        Some(entries) if entries.len() == inputs.len() => entries,
        _ if resp.status == 400 => return Err(response_error(resp)),
        _ => {
            return Err(ConnectorError::Transient(format!(
                "Zoho CRM answered {} results for {} records",
                body[key].as_array().map_or(0, Vec::len),
                inputs.len()
            )));
        }
    };
    Ok(entries
        .iter()
        .zip(inputs)
        .map(|(entry, input)| {
            if entry["status"] == "success" || entry["code"] == "SUCCESS" {
                let mut out = input.clone();
                if let Some(details) = entry["details"].as_object() {
                    for (k, v) in details {
                        out.insert(k.clone(), v.clone());
                    }
                }
                if let Some(action) = entry.get("action") {
                    out.insert("$action".into(), action.clone());
                }
                Ok(out)
            } else {
                Err(ZohoError::from_object(entry, resp.status).into_connector_error())
            }
        })
        .collect())
}

/// Send `batches` one after another, collecting per-input results into
/// `results` (by input index). A request-level failure (after the host's
/// retries) fails the inputs of that batch and of every later one; when
/// nothing was written yet it fails the whole call instead.
fn run_batches(
    batches: Vec<(Vec<usize>, Request, Vec<Record>)>,
    results: &mut [Option<Result<Record, ConnectorError>>],
) -> Result<(), ConnectorError> {
    let mut written = false;
    let mut failure: Option<ConnectorError> = None;
    for (indices, request, inputs) in batches {
        let outcome = match &failure {
            Some(e) => Err(e.clone()),
            None => request
                .send()
                .and_then(|resp| write_results(&resp, &inputs)),
        };
        match outcome {
            Ok(per_input) => {
                written = true;
                for (i, r) in indices.into_iter().zip(per_input) {
                    results[i] = Some(r);
                }
            }
            Err(e) if !written => return Err(e),
            Err(e) => {
                for i in indices {
                    results[i] = Some(Err(e.clone()));
                }
                failure = Some(e);
            }
        }
    }
    Ok(())
}

fn collect(
    results: Vec<Option<Result<Record, ConnectorError>>>,
) -> Vec<Result<Record, ConnectorError>> {
    results
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| Err(ConnectorError::vendor("plugin", "record was not sent", 0)))
        })
        .collect()
}

/// The write body CRM expects.
fn write_request(
    request: Request,
    records: &[Record],
    duplicate_check: Option<&[String]>,
) -> Request {
    let mut body = json!({ "data": records });
    if let Some(fields) = duplicate_check.filter(|f| !f.is_empty()) {
        body["duplicate_check_fields"] = json!(fields);
    }
    request.json(&body)
}

/// How a `create` input asks to be written: `None` = create, `Some(fields)`
/// = upsert on those duplicate-check fields (empty = CRM's defaults).
fn upsert_fields(record: &mut Record) -> Result<Option<Vec<String>>, ConnectorError> {
    match record.remove(UPSERT_KEY) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(None),
        Some(Value::Bool(true)) => Ok(Some(Vec::new())),
        Some(Value::String(f)) => Ok(Some(vec![f])),
        Some(Value::Array(fields)) => fields
            .iter()
            .map(|f| f.as_str().map(String::from))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or_else(|| {
                ConnectorError::invalid(UPSERT_KEY, "give true or a list of field API names")
            }),
        Some(_) => Err(ConnectorError::invalid(
            UPSERT_KEY,
            "give true or a list of field API names",
        )),
    }
}

impl Connector for ZohoCrm {
    fn describe(settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        // With a connection (base URL given) the organisation's own fields
        // are read; without one (inspection) the standard fields are shown.
        let online = settings.get("base_url").is_some_and(|u| !u.is_empty());
        let mut info = ConnectorInfo::new(
            "zoho-crm",
            env!("CARGO_PKG_VERSION"),
            "Zoho CRM records (v8): incremental listing, search, deleted feed, batch writes and upsert",
        );
        for name in modules(settings)? {
            let fields = if online {
                fields::discover(&name)?
            } else {
                fields::standard(&name)
            };
            info = info.module(
                ModuleInfo::new(&name, "id")
                    .label(&name.replace('_', " "))
                    .modified_field("Modified_Time")
                    .fields(fields)
                    .operations(&[
                        Operation::Read,
                        Operation::Incremental,
                        Operation::Find,
                        Operation::DeletedFeed,
                        Operation::Create,
                        Operation::Update,
                        Operation::Delete,
                        Operation::Upsert,
                    ])
                    .max_batch(MAX_BATCH as u32),
            );
        }
        Ok(info
            .module(stages::info())
            .module(notifications::info())
            .module(organization::info()))
    }

    fn configure(settings: &Settings) -> Result<(), ConnectorError> {
        let modules = modules(settings)?;
        bulk_write::check_settings(settings)?;
        if let Some(Value::Object(views)) = settings.value("cvid") {
            for m in views.keys() {
                module(settings, m).map_err(|_| {
                    ConnectorError::invalid(
                        "cvid",
                        format!(
                            "cvid names `{m}`, which is not one of {}",
                            modules.join(", ")
                        ),
                    )
                })?;
            }
        }
        list_view(settings, "").map(|_| ())
    }

    fn check(_settings: &Settings) -> Result<(), ConnectorError> {
        let resp = Request::get("/org").send()?;
        body_of(&resp)?.ok_or_else(|| {
            ConnectorError::vendor("NO_ORG", "Zoho CRM returned no organisation", resp.status)
        })?;
        Ok(())
    }

    fn list(
        settings: &Settings,
        module_name: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        if stages::is(module_name) {
            return stages::list();
        }
        if notifications::is(module_name) {
            return notifications::list();
        }
        if organization::is(module_name) {
            return organization::list();
        }
        let module = module(settings, module_name)?;
        let view = list_view(settings, &module)?;
        if let Some(at) = cursor.and_then(bulk::Cursor::parse) {
            return bulk::list(settings, &module, view.as_deref(), at);
        }
        let whole_read_begins = cursor.is_none() && since.is_none();
        let mut cursor = Cursor::parse(cursor)?;
        let fields = match cursor.fields.take() {
            Some(f) => f,
            None => fields::discover(&module)?
                .iter()
                .map(|f| f.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        };
        let mut request = Request::get(format!("/{module}"))
            .query("fields", &fields)
            .query("sort_by", "Modified_Time")
            .query("sort_order", "asc")
            .query("per_page", PER_PAGE)
            .query_opt("cvid", view.as_deref());
        request = match &cursor.token {
            Some(token) => request.query("page_token", token),
            None => request.query("page", cursor.page),
        };
        request = modified_since(request, since)?;
        let resp = request.send()?;
        let body = match resp.status {
            204 | 304 => return Ok(Page::default()),
            200 => serde_json::from_slice::<ListBody>(&resp.body)?,
            _ => return Err(response_error(&resp)),
        };
        let info = &body.info;
        let records = body.records()?;
        if info["more_records"] != json!(true) {
            return Ok(Page::from_raw(records));
        }
        // A whole read of more than a page may be big enough for a bulk
        // export (see `bulk`), which brings this page again. Counting only
        // here keeps small modules at one call a read.
        if whole_read_begins && bulk::wanted(settings, &module, view.as_deref())? {
            let start = bulk::Cursor::Start {
                token: None,
                page: 1,
            };
            match bulk::list(settings, &module, view.as_deref(), start) {
                // A connection authorised before Bulk Read was asked for
                // lacks its scope: the listing goes on (to 100 000).
                Err(ConnectorError::Unauthorized(why)) => ferry_plugin_sdk::log::warn(&format!(
                    "Bulk Read of {module} refused ({why}); listing it instead. Connect again to grant ZohoCRM.bulk.read."
                )),
                other => return other,
            }
        }
        // Page numbers reach the first 2000 records only; CRM's page token
        // goes on to 100 000, so follow it whenever CRM gives one.
        let next = match info["next_page_token"].as_str() {
            Some(token) => Cursor {
                page: cursor.page + 1,
                token: Some(token.into()),
                fields: Some(fields),
            },
            None if cursor.token.is_none() && cursor.page * PER_PAGE < 2000 => Cursor {
                page: cursor.page + 1,
                token: None,
                fields: Some(fields),
            },
            None => {
                return Err(ConnectorError::vendor(
                    "NO_PAGE_TOKEN",
                    "Zoho CRM has more records but gave no page token to reach them",
                    resp.status,
                ));
            }
        };
        Ok(Page::from_raw(records).next(true, || next.text()))
    }

    fn get(settings: &Settings, module_name: &str, id: &str) -> Result<Record, ConnectorError> {
        if stages::is(module_name) {
            return stages::get(id);
        }
        if notifications::is(module_name) {
            return notifications::get(id);
        }
        let module = module(settings, module_name)?;
        let resp = Request::get(format!("/{module}/{}", encode(id))).send()?;
        let not_found = || ConnectorError::NotFound(format!("no {module} record with id {id}"));
        match body_of(&resp) {
            Ok(Some(body)) => records_at(&body, "data")?
                .into_iter()
                .next()
                .ok_or_else(not_found),
            Ok(None) => Err(not_found()),
            // An id CRM cannot even parse names no record either.
            Err(ConnectorError::Invalid(f))
                if f.message.contains("id given seems to be invalid") =>
            {
                Err(not_found())
            }
            Err(e) => Err(e),
        }
    }

    fn find(
        settings: &Settings,
        module_name: &str,
        criteria: &Record,
    ) -> Result<Vec<Record>, ConnectorError> {
        let module = module(settings, module_name)?;
        let text = criteria::build(criteria)?;
        let mut out = Vec::new();
        for page in 1..=SEARCH_LIMIT_PAGES {
            let resp = Request::get(format!("/{module}/search"))
                .query("criteria", &text)
                .query("page", page)
                .query("per_page", PER_PAGE)
                .send()?;
            let Some(body) = body_of(&resp)? else { break };
            out.extend(
                records_at(&body, "data")?
                    .into_iter()
                    .filter(|r| criteria::matches(r, criteria)),
            );
            if body["info"]["more_records"] != json!(true) {
                break;
            }
            if page == SEARCH_LIMIT_PAGES {
                ferry_plugin_sdk::log::warn(&format!(
                    "search in {module} matched more than {} records; only those were read",
                    SEARCH_LIMIT_PAGES * PER_PAGE
                ));
            }
        }
        Ok(out)
    }

    fn deleted(
        settings: &Settings,
        module_name: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<DeletedPage, ConnectorError> {
        let module = module(settings, module_name)?;
        let page = page_number(cursor)?;
        let request = Request::get(format!("/{module}/deleted"))
            .query("type", "all")
            .query("page", page)
            .query("per_page", PER_PAGE);
        let Some(body) = body_of(&modified_since(request, since)?.send()?)? else {
            return Ok(DeletedPage::default());
        };
        let records = records_at(&body, "data")?
            .iter()
            .filter_map(|r| {
                Some(DeletedRecord {
                    id: id_text(r.get("id")?)?,
                    deleted_at: r
                        .get("deleted_time")
                        .and_then(Value::as_str)
                        .map(String::from),
                })
            })
            .collect();
        let more = body["info"]["more_records"] == json!(true);
        Ok(DeletedPage {
            records,
            next_cursor: more.then(|| (page + 1).to_string()),
        })
    }

    fn create(
        settings: &Settings,
        module_name: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        if notifications::is(module_name) {
            return notifications::create(records);
        }
        let module = module(settings, module_name)?;
        let mut results: Vec<Option<Result<Record, ConnectorError>>> = vec![None; records.len()];
        // Plain creates, and upserts grouped by their duplicate-check
        // fields (CRM takes one set per request), keeping input indices.
        let mut groups: Vec<(Option<Vec<String>>, Indexed)> = Vec::new();
        for (i, mut record) in records.into_iter().enumerate() {
            match upsert_fields(&mut record) {
                Err(e) => results[i] = Some(Err(e)),
                Ok(key) => match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push((i, record)),
                    None => groups.push((key, vec![(i, record)])),
                },
            }
        }
        let mut batches = Vec::new();
        for (key, members) in groups {
            for chunk in members.chunks(MAX_BATCH) {
                let (indices, inputs): (Vec<usize>, Vec<Record>) = chunk.iter().cloned().unzip();
                let request = match &key {
                    // Upsert is idempotent: repeating it finds the record it wrote.
                    Some(fields) => write_request(
                        Request::post(format!("/{module}/upsert")),
                        &inputs,
                        Some(fields),
                    )
                    .idempotent(true),
                    None => write_request(Request::post(format!("/{module}")), &inputs, None),
                };
                batches.push((indices, request, inputs));
            }
        }
        run_batches(batches, &mut results)?;
        Ok(collect(results))
    }

    fn update(
        settings: &Settings,
        module_name: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        if notifications::is(module_name) {
            return notifications::update(records);
        }
        let module = module(settings, module_name)?;
        let mut results: Vec<Option<Result<Record, ConnectorError>>> = vec![None; records.len()];
        let mut with_id = Vec::new();
        for (i, record) in records.into_iter().enumerate() {
            match record.get("id").and_then(id_text) {
                Some(_) => with_id.push((i, record)),
                None => {
                    results[i] = Some(Err(ConnectorError::invalid(
                        "id",
                        "an update needs the record's `id`",
                    )))
                }
            }
        }
        let batches = with_id
            .chunks(MAX_BATCH)
            .map(|chunk| {
                let (indices, inputs): (Vec<usize>, Vec<Record>) = chunk.iter().cloned().unzip();
                let request = write_request(Request::put(format!("/{module}")), &inputs, None);
                (indices, request, inputs)
            })
            .collect();
        run_batches(batches, &mut results)?;
        Ok(collect(results))
    }

    fn delete(
        settings: &Settings,
        module_name: &str,
        ids: Vec<String>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        if notifications::is(module_name) {
            return notifications::delete(ids);
        }
        let module = module(settings, module_name)?;
        let mut results: Vec<Option<Result<Record, ConnectorError>>> = vec![None; ids.len()];
        let batches = ids
            .iter()
            .enumerate()
            .collect::<Vec<_>>()
            .chunks(MAX_BATCH)
            .map(|chunk| {
                let indices: Vec<usize> = chunk.iter().map(|(i, _)| *i).collect();
                let list: Vec<&str> = chunk.iter().map(|(_, id)| id.as_str()).collect();
                let inputs: Vec<Record> = list
                    .iter()
                    .map(|id| json!({"id": id}).as_object().cloned().unwrap_or_default())
                    .collect();
                (
                    indices,
                    Request::delete(format!("/{module}")).query("ids", list.join(",")),
                    inputs,
                )
            })
            .collect();
        run_batches(batches, &mut results)?;
        Ok(collect(results))
    }
}

export_connector!(ZohoCrm);
