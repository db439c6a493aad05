//! Zoho CRM's Bulk Read API (`/crm/bulk/{v}/read`): a job is created, is
//! polled until `COMPLETED`, and its result is a ZIP archive holding one
//! CSV of up to 200 000 records; `more_records` and `next_page_token` lead
//! to the next job. What Zoho documents is followed (states, the result
//! object, the 200 000 records a job, ten downloads a minute, the `id`
//! column first, lookups by id and other modules' fields with the dot
//! operator); what it does not is listed in `UNCONFIRMED.md`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::metadata::{DataType, ModuleDef};
use super::records::{module, version};
use super::{CrmRecord, CrmState, search};
use crate::app::{AppRef, reply};
use crate::clock::{self, Millis};
use crate::error::ApiError;
use crate::limits::Permit;

/// Records one job exports (Zoho's documented maximum).
pub const PER_PAGE: usize = 200_000;
/// Downloads allowed in a minute (Zoho's documented limit).
const DOWNLOADS_PER_MINUTE: usize = 10;
const MINUTE_MS: Millis = 60_000;
/// First job id (19 digits, like Zoho's).
const JOB_ID_BASE: u64 = 5_725_767_000_009_000_000;

/// How Bulk Read and Bulk Write jobs behave; tests shrink the page to
/// see several jobs, and the row limit to reach it cheaply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BulkConfig {
    /// Records a job exports at most.
    pub per_page: usize,
    /// Status polls a job answers `IN PROGRESS` before it is `COMPLETED`.
    pub polls_to_complete: u32,
    /// The same for Bulk Write jobs (which write their records when they
    /// complete).
    pub write_polls_to_complete: u32,
    /// Data rows an uploaded Bulk Write file may hold.
    pub write_rows_max: usize,
}

impl Default for BulkConfig {
    fn default() -> Self {
        BulkConfig {
            per_page: PER_PAGE,
            polls_to_complete: 1,
            write_polls_to_complete: 1,
            write_rows_max: super::bulk_write::ROWS_MAX,
        }
    }
}

/// Every bulk read job, with the settings.
#[derive(Debug, Default)]
pub struct BulkReads {
    inner: Mutex<Jobs>,
}

#[derive(Debug, Default)]
struct Jobs {
    config: BulkConfig,
    next_id: u64,
    jobs: HashMap<u64, Job>,
    /// When recent downloads were served.
    downloads: Vec<Millis>,
}

#[derive(Debug, Clone)]
struct Job {
    module: &'static ModuleDef,
    fields: Vec<String>,
    cvid: Option<String>,
    /// Records of the listing (in id order) before this job's first.
    offset: usize,
    page: usize,
    created_ms: Millis,
    polls: u32,
    result: Option<JobResult>,
}

#[derive(Debug, Clone)]
struct JobResult {
    ids: Arc<Vec<u64>>,
    more: bool,
}

impl BulkReads {
    /// The settings now.
    pub fn config(&self) -> BulkConfig {
        self.inner.lock().unwrap().config.clone()
    }

    /// Change the settings (jobs already created keep their pages).
    pub fn set_config(&self, config: BulkConfig) {
        self.inner.lock().unwrap().config = config;
    }

    /// Forget every job (a sandbox reset).
    pub fn reset(&self) {
        let mut jobs = self.inner.lock().unwrap();
        jobs.jobs.clear();
        jobs.downloads.clear();
    }
}

/// The request body of a job.
#[derive(Debug, Deserialize)]
struct JobRequest {
    query: Option<Query>,
    #[serde(default)]
    file_type: Option<String>,
    #[serde(default)]
    callback: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Query {
    module: Option<ModuleRef>,
    #[serde(default)]
    fields: Vec<String>,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    page_token: Option<String>,
    #[serde(default)]
    cvid: Option<String>,
    #[serde(default)]
    criteria: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ModuleRef {
    api_name: String,
}

pub(super) fn bulk_error(status: u16, code: &str, message: &str, details: Value) -> ApiError {
    ApiError::crm(status, code, message, details)
}

/// A job request's JSON body: Zoho's codes for an empty or unreadable one.
pub(super) fn job_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(bulk_error(
            400,
            "REQUEST_BODY_IS_EMPTY",
            "the request body is empty",
            json!({}),
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        bulk_error(
            400,
            "REQUEST_BODY_NOT_READABLE",
            "the request body is not valid JSON",
            json!({"reason": e.to_string()}),
        )
    })
}

/// `POST /crm/bulk/{v}/read`.
pub async fn create(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let request: JobRequest = job_body(&body)?;
    if let Some(callback) = &request.callback
        && callback.get("method").and_then(Value::as_str) != Some("post")
    {
        return Err(bulk_error(
            400,
            "INVALID_CALLBACK_METHOD",
            "the callback method must be post",
            json!({}),
        ));
    }
    if request.file_type.as_deref().is_some_and(|t| t != "csv") {
        return Err(bulk_error(
            400,
            "NOT_SUPPORTED_FEATURE",
            "only csv exports are emulated",
            json!({"api_name": "file_type"}),
        ));
    }
    let query = request.query.ok_or_else(|| {
        bulk_error(
            400,
            "REQUIRED_PARAM_MISSING",
            "query is required",
            json!({"api_name": "query"}),
        )
    })?;
    let name = query.module.map(|m| m.api_name).ok_or_else(|| {
        bulk_error(
            400,
            "REQUIRED_PARAM_MISSING",
            "query.module is required",
            json!({"api_name": "module"}),
        )
    })?;
    let def = module(&name).map_err(|_| {
        bulk_error(
            400,
            "MODULE_NOT_AVAILABLE",
            "the module is not available",
            json!({"api_name": name}),
        )
    })?;
    if query.criteria.is_some() {
        return Err(bulk_error(
            400,
            "NOT_SUPPORTED_FEATURE",
            "criteria are not emulated; use cvid",
            json!({"api_name": "criteria"}),
        ));
    }
    if let Some(cvid) = &query.cvid
        && super::metadata::view_criteria(def, cvid).is_none()
    {
        return Err(bulk_error(
            400,
            "CVID_NOT_SUPPORTED",
            "no such custom view",
            json!({"api_name": "cvid"}),
        ));
    }
    let fields = if query.fields.is_empty() {
        def.fields
            .iter()
            .map(|f| f.api_name.to_string())
            .filter(|f| f != "id")
            .collect()
    } else {
        for field in &query.fields {
            check_field(def, field)?;
        }
        query.fields.into_iter().filter(|f| f != "id").collect()
    };
    let mut jobs = app.bulk.inner.lock().unwrap();
    let per_page = jobs.config.per_page.max(1);
    let (offset, page) = match (&query.page_token, query.page) {
        (Some(token), _) => {
            let offset = decode_token(token).ok_or_else(|| {
                bulk_error(
                    400,
                    "INVALID_REQUEST",
                    "invalid page_token",
                    json!({"api_name": "page_token"}),
                )
            })?;
            (offset, offset / per_page + 1)
        }
        (None, Some(0)) => {
            return Err(bulk_error(
                400,
                "INVALID_REQUEST",
                "page starts at 1",
                json!({"api_name": "page"}),
            ));
        }
        (None, Some(page)) => ((page - 1) * per_page, page),
        (None, None) => (0, 1),
    };
    jobs.next_id += 1;
    let id = JOB_ID_BASE + jobs.next_id;
    let now = app.now();
    jobs.jobs.insert(
        id,
        Job {
            module: def,
            fields,
            cvid: query.cvid,
            offset,
            page,
            created_ms: now,
            polls: 0,
            result: None,
        },
    );
    let details = json!({
        "id": id.to_string(),
        "operation": "read",
        "state": "ADDED",
        "created_by": creator(),
        "created_time": clock::fmt_crm(now),
    });
    Ok(reply(
        201,
        json!({"data": [{"status": "success", "code": "ADDED_SUCCESSFULLY", "message": "Added successfully.", "details": details}], "info": {}}),
        &permit,
    ))
}

/// A field of the export: one of the module's, or `lookup.field` of the
/// module a lookup refers to.
fn check_field(def: &ModuleDef, name: &str) -> Result<(), ApiError> {
    let missing = || {
        bulk_error(
            400,
            "FIELD_NOT_AVAILABLE",
            "the field is not available",
            json!({"api_name": name, "module": def.api_name}),
        )
    };
    match name.split_once('.') {
        None => def.field(name).map(drop).ok_or_else(missing),
        Some((lookup, field)) => {
            let target = def
                .field(lookup)
                .filter(|f| f.data_type == DataType::Lookup)
                .and_then(|f| f.lookup)
                .and_then(super::def)
                .ok_or_else(missing)?;
            target.field(field).map(drop).ok_or_else(missing)
        }
    }
}

/// A bulk job's state as one more status request sees it: `ADDED`, then
/// `IN PROGRESS`, until `polls_to_complete` requests have seen it; `None`
/// when this request is the one that completes it (the caller does the
/// work then); `COMPLETED` once done. Bulk Read and Bulk Write alike.
pub(super) fn polled(polls: &mut u32, done: bool, polls_to_complete: u32) -> Option<&'static str> {
    if done {
        Some("COMPLETED")
    } else if *polls < polls_to_complete {
        *polls += 1;
        Some(if *polls == 1 { "ADDED" } else { "IN PROGRESS" })
    } else {
        None
    }
}

/// The job a status or result route names, in an API version served.
fn job_number(ver: &str, job_id: &str) -> Result<u64, ApiError> {
    version(ver)?;
    job_id.parse().map_err(|_| not_found(job_id))
}

/// `GET /crm/bulk/{v}/read/{job_id}`.
pub async fn status(
    State(app): State<AppRef>,
    Path((ver, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let id = job_number(&ver, &job_id)?;
    let mut jobs = app.bulk.inner.lock().unwrap();
    let config = jobs.config.clone();
    let job = jobs.jobs.get_mut(&id).ok_or_else(|| not_found(&job_id))?;
    let state = match polled(
        &mut job.polls,
        job.result.is_some(),
        config.polls_to_complete,
    ) {
        Some(state) => state,
        None => {
            let (ids, more) = app.read(|st| export_ids(&st.crm, job, config.per_page.max(1)));
            job.result = Some(JobResult {
                ids: Arc::new(ids),
                more,
            });
            "COMPLETED"
        }
    };
    let mut detail = json!({
        "id": id.to_string(),
        "operation": "read",
        "state": state,
        "query": {
            "module": {"api_name": job.module.api_name, "id": job.module.id.to_string()},
            "fields": job.fields,
            "cvid": job.cvid,
            "page": job.page,
        },
        "created_by": creator(),
        "created_time": clock::fmt_crm(job.created_ms),
        "file_type": "csv",
    });
    if let Some(result) = &job.result {
        let count = result.ids.len();
        detail["result"] = json!({
            "page": job.page,
            "count": count,
            "download_url": format!("/crm/bulk/v{}/read/{id}/result", super::records::version(&ver)?),
            "per_page": config.per_page,
            "more_records": result.more,
            "next_page_token": result.more.then(|| encode_token(job.offset + count)),
        });
    }
    Ok(reply(200, json!({"data": [detail]}), &permit))
}

/// The ids a job exports: the listing in id order, after the job's
/// offset, at most `per_page`; and whether more follow.
fn export_ids(crm: &CrmState, job: &Job, per_page: usize) -> (Vec<u64>, bool) {
    let criteria = job
        .cvid
        .as_deref()
        .and_then(|cvid| super::metadata::view_criteria(job.module, cvid).flatten())
        .and_then(|text| search::parse(&text).ok());
    let store = crm.module(job.module);
    let mut listed = store
        .records
        .values()
        .filter(|r| {
            criteria
                .as_ref()
                .is_none_or(|c| search::matches(c, job.module, r))
        })
        .skip(job.offset)
        .map(|r| r.id);
    let ids: Vec<u64> = listed.by_ref().take(per_page).collect();
    let more = listed.next().is_some();
    (ids, more)
}

/// `GET /crm/bulk/{v}/read/{job_id}/result`: the ZIP archive.
pub async fn result(
    State(app): State<AppRef>,
    Path((ver, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let id = job_number(&ver, &job_id)?;
    let now = app.now();
    let job = {
        let mut jobs = app.bulk.inner.lock().unwrap();
        let job = jobs
            .jobs
            .get(&id)
            .cloned()
            .ok_or_else(|| not_found(&job_id))?;
        if job.result.is_none() {
            return Err(bulk_error(
                400,
                "INVALID_REQUEST",
                "the job has not completed yet",
                json!({"state": "IN PROGRESS"}),
            ));
        }
        jobs.downloads.retain(|t| now - t < MINUTE_MS);
        if jobs.downloads.len() >= DOWNLOADS_PER_MINUTE {
            return Err(bulk_error(
                429,
                "TOO_MANY_REQUESTS",
                "only 10 downloads are allowed in a minute",
                json!({}),
            ));
        }
        jobs.downloads.push(now);
        job
    };
    let result = job.result.as_ref().expect("checked above");
    let csv = app.read(|st| write_csv(&st.crm, &job, &result.ids));
    zip_reply(&id.to_string(), &csv, &permit)
}

/// `<name>.zip` holding `<name>.csv`, with the permit's headers.
pub(super) fn zip_reply(name: &str, csv: &[u8], permit: &Permit) -> Result<Response, ApiError> {
    let archive = zip_one(&format!("{name}.csv"), csv)
        .map_err(|e| ApiError::crm(500, "INTERNAL_ERROR", e.to_string(), json!({})))?;
    let mut response = (
        [
            ("content-type", "application/zip".to_string()),
            (
                "content-disposition",
                format!("attachment; filename=\"{name}.zip\""),
            ),
        ],
        archive,
    )
        .into_response();
    for (header, value) in &permit.headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(*header, value);
        }
    }
    Ok(response)
}

/// The CSV of a job: `id`, then its fields, a row per record still there.
fn write_csv(crm: &CrmState, job: &Job, ids: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ids.len() * 64);
    let header: Vec<&str> = std::iter::once("id")
        .chain(job.fields.iter().map(String::as_str))
        .collect();
    row(&mut out, header.iter().map(|h| h.to_string()));
    let store = crm.module(job.module);
    for id in ids {
        let Some(record) = store.records.get(id) else {
            continue;
        };
        let cells = std::iter::once(id.to_string()).chain(
            job.fields
                .iter()
                .map(|f| cell_of(crm, job.module, record, f)),
        );
        row(&mut out, cells);
    }
    out
}

/// One field's value as text: lookups by id, multi-select picklists
/// joined by `;`, date-times as stored (ISO 8601), empty for none.
fn cell_of(crm: &CrmState, def: &ModuleDef, record: &CrmRecord, field: &str) -> String {
    match field.split_once('.') {
        None => text_of(record.data.get(field).unwrap_or(&Value::Null)),
        Some((lookup, target_field)) => {
            let target = def
                .field(lookup)
                .and_then(|f| f.lookup)
                .and_then(super::def);
            let id = record
                .data
                .get(lookup)
                .and_then(|v| v.get("id"))
                .and_then(Value::as_str)
                .and_then(|id| id.parse::<u64>().ok());
            match (target, id) {
                (Some(target), Some(id)) => crm
                    .modules
                    .get(target.api_name)
                    .and_then(|store| store.records.get(&id))
                    .map_or_else(String::new, |r| {
                        text_of(r.data.get(target_field).unwrap_or(&Value::Null))
                    }),
                _ => String::new(),
            }
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Object(o) => match o.get("id") {
            Some(Value::String(id)) => id.clone(),
            _ => value.to_string(),
        },
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(";"),
        Value::Array(_) => value.to_string(),
    }
}

/// Append one CSV row (RFC 4180 quoting).
pub(super) fn row(out: &mut Vec<u8>, cells: impl Iterator<Item = String>) {
    for (n, cell) in cells.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        if cell.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(cell.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(cell.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn zip_one(name: &str, content: &[u8]) -> zip::result::ZipResult<Vec<u8>> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(content.len() as u64 >= u32::MAX as u64);
    zip.start_file(name, options)?;
    zip.write_all(content)?;
    Ok(zip.finish()?.into_inner())
}

/// The user who creates jobs: the API user, as `{id, name}`.
pub(super) fn creator() -> Value {
    let user = super::user_json(super::metadata::API_USER_ID);
    json!({"id": user["id"], "name": user["name"]})
}

fn not_found(job_id: &str) -> ApiError {
    bulk_error(
        404,
        "RESOURCE_NOT_FOUND",
        "the requested resource does not exist",
        json!({"resource": job_id}),
    )
}

fn encode_token(offset: usize) -> String {
    format!("bulk-{offset:x}")
}

fn decode_token(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("bulk-")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_quote_and_join() {
        let mut out = Vec::new();
        row(
            &mut out,
            ["1", "a,b", "say \"hi\"", "x\ny"]
                .iter()
                .map(|s| s.to_string()),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "1,\"a,b\",\"say \"\"hi\"\"\",\"x\ny\"\r\n"
        );
        assert_eq!(text_of(&json!(["A", "B"])), "A;B");
        assert_eq!(text_of(&json!({"name": "Acme", "id": "42"})), "42");
        assert_eq!(text_of(&json!(null)), "");
        assert_eq!(text_of(&json!(12.5)), "12.5");
        assert_eq!(decode_token(&encode_token(200_000)), Some(200_000));
    }
}
