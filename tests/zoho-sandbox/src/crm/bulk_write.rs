//! Zoho CRM's Bulk Write API (`/crm/bulk/{v}/write`): a job names a file
//! uploaded beforehand (`bulk_write/upload.rs`), a module, an operation
//! (`insert`, `update`, `upsert`) and the column each field is read from;
//! it is polled until `COMPLETED`, and its result is a ZIP archive holding
//! one CSV: the uploaded columns, then `STATUS`, `RECORD_ID` and `ERRORS`.
//!
//! The rows are written by the poll that completes the job, once, each
//! through the same code as the REST create/update/upsert (validation,
//! ids, times, notifications), so a row REST would refuse is skipped with
//! that error. What Zoho documents is followed; what it does not is listed
//! in `UNCONFIRMED.md` (48b).

mod apply;
mod request;
pub mod upload;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::WriteMode;
use super::bulk::{bulk_error, creator, polled, zip_reply};
use super::metadata::ModuleDef;
use super::records::version;
use crate::app::{App, AppRef, reply};
use crate::clock::{self, Millis};
use crate::error::ApiError;
use crate::notify::Outgoing;
use upload::{Upload, file_json};

/// Data rows a file may hold (Zoho's documented maximum).
pub const ROWS_MAX: usize = 25_000;
/// First job and file ids (19 digits, like Zoho's; apart from Bulk Read's).
const JOB_ID_BASE: u64 = 5_725_767_000_010_000_000;
const FILE_ID_BASE: u64 = 5_725_767_000_011_000_000;

/// Every uploaded file and bulk write job.
#[derive(Debug, Default)]
pub struct BulkWrites {
    inner: Mutex<Writes>,
}

#[derive(Debug, Default)]
struct Writes {
    next_id: u64,
    files: HashMap<u64, Arc<Upload>>,
    jobs: HashMap<u64, Job>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    Insert,
    Update,
    Upsert,
}

impl Operation {
    fn parse(s: &str) -> Option<Operation> {
        match s {
            "insert" => Some(Operation::Insert),
            "update" => Some(Operation::Update),
            "upsert" => Some(Operation::Upsert),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Operation::Insert => "insert",
            Operation::Update => "update",
            Operation::Upsert => "upsert",
        }
    }

    fn mode(self) -> WriteMode {
        match self {
            Operation::Insert => WriteMode::Create,
            Operation::Update => WriteMode::Update,
            Operation::Upsert => WriteMode::Upsert,
        }
    }
}

/// Where one field's value comes from.
#[derive(Debug)]
struct Mapping {
    /// A field of the module, or `id`.
    api_name: String,
    index: Option<usize>,
    /// Used when the cell is empty or no column is mapped.
    default: Option<Value>,
    /// How a lookup's cell names its record (`id`, or a field of it).
    find_by: Option<String>,
}

#[derive(Debug)]
struct Job {
    operation: Operation,
    module: &'static ModuleDef,
    file_id: u64,
    file: Arc<Upload>,
    mappings: Vec<Mapping>,
    /// The mappings as the status echoes them.
    mappings_json: Vec<Value>,
    /// How `update`/`upsert` find the record a row changes.
    find_by: Option<String>,
    ignore_empty: bool,
    callback: Option<Value>,
    created_ms: Millis,
    polls: u32,
    /// One a row; set once, by the poll that writes the rows.
    results: Option<Vec<RowResult>>,
}

#[derive(Debug)]
struct RowResult {
    status: &'static str,
    record_id: String,
    errors: String,
}

impl BulkWrites {
    /// Forget every file and job (a sandbox reset).
    pub fn reset(&self) {
        let mut writes = self.inner.lock().unwrap();
        writes.files.clear();
        writes.jobs.clear();
    }

    /// Keep an uploaded file; its id.
    fn add_file(&self, upload: Upload) -> u64 {
        let mut writes = self.inner.lock().unwrap();
        writes.next_id += 1;
        let id = FILE_ID_BASE + writes.next_id;
        writes.files.insert(id, Arc::new(upload));
        id
    }
}

/// An unknown job: 400, as the OpenAPI file lists it for Bulk Write.
fn unknown_job(job_id: &str) -> ApiError {
    bulk_error(
        400,
        "RESOURCE_NOT_FOUND",
        "The requested resource doesn't exist.",
        json!({"resource": job_id}),
    )
}

/// `POST /crm/bulk/{v}/write`.
pub async fn create(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let request: serde_json::Map<String, Value> = super::bulk::job_body(&body)?;
    let request = Value::Object(request);
    let now = app.now();
    let id = {
        let mut writes = app.bulk_write.inner.lock().unwrap();
        let job = request::job_of(&request, &writes.files, now)?;
        writes.next_id += 1;
        let id = JOB_ID_BASE + writes.next_id;
        writes.jobs.insert(id, job);
        id
    };
    Ok(reply(
        201,
        json!({
            "status": "success",
            "code": "SUCCESS",
            "message": "success",
            "details": {"id": id.to_string(), "created_by": creator()},
        }),
        &permit,
    ))
}

/// The job a status or result route names, in an API version served.
fn job_number(ver: &str, job_id: &str) -> Result<(u32, u64), ApiError> {
    let major = version(ver)?;
    let id = job_id.parse().map_err(|_| unknown_job(job_id))?;
    Ok((major, id))
}

/// `GET /crm/bulk/{v}/write/{job_id}`: the first polls answer `ADDED`
/// then `IN PROGRESS`; the one after `write_polls_to_complete` of them
/// writes the rows and answers `COMPLETED`, as does every later poll.
pub async fn status(
    State(app): State<AppRef>,
    Path((ver, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let (major, id) = job_number(&ver, &job_id)?;
    let polls_to_complete = app.bulk.config().write_polls_to_complete;
    // The lock is held while the rows are written, so two polls at once
    // cannot both write them.
    let mut writes = app.bulk_write.inner.lock().unwrap();
    let job = writes
        .jobs
        .get_mut(&id)
        .ok_or_else(|| unknown_job(&job_id))?;
    let mut completed_now = false;
    let state = match polled(&mut job.polls, job.results.is_some(), polls_to_complete) {
        Some(state) => state,
        None => {
            job.results = Some(apply::run(&app, job));
            completed_now = true;
            "COMPLETED"
        }
    };
    let body = details(&app, major, id, job, state);
    let callback = job
        .callback
        .as_ref()
        .and_then(|c| c["url"].as_str())
        .map(String::from);
    drop(writes);
    if let (true, Some(url)) = (completed_now, callback) {
        app.notifier.send(Outgoing {
            url,
            body: body.clone(),
            headers: Vec::new(),
        });
    }
    Ok(reply(200, body, &permit))
}

/// The job as `GET …/write/{job_id}` shows it.
fn details(app: &App, major: u32, id: u64, job: &Job, state: &str) -> Value {
    let counts = job.results.as_ref().map_or([0; 3], |results| {
        ["ADDED", "UPDATED", "SKIPPED"].map(|s| results.iter().filter(|r| r.status == s).count())
    });
    let resource = json!({
        "status": state,
        "type": "data",
        "module": {"api_name": job.module.api_name, "id": job.module.id.to_string()},
        "file_id": job.file_id.to_string(),
        "find_by": job.find_by,
        "ignore_empty": job.ignore_empty,
        "field_mappings": job.mappings_json,
        "file": file_json(&job.file, state, counts),
    });
    let mut detail = json!({
        "status": state,
        "character_encoding": "UTF-8",
        "resource": [resource],
        "id": id.to_string(),
        "created_by": creator(),
        "operation": job.operation.name(),
        "created_time": clock::fmt_crm(job.created_ms),
    });
    if let Some(callback) = &job.callback {
        detail["callback"] = callback.clone();
    }
    if job.results.is_some() {
        detail["result"] = json!({
            "download_url": format!("{}/crm/bulk/v{major}/write/{id}/result", app.base_url()),
        });
    }
    detail
}

/// `GET /crm/bulk/{v}/write/{job_id}/result`: the ZIP archive.
pub async fn result(
    State(app): State<AppRef>,
    Path((ver, job_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let (_, id) = job_number(&ver, &job_id)?;
    let csv = {
        let writes = app.bulk_write.inner.lock().unwrap();
        let job = writes.jobs.get(&id).ok_or_else(|| unknown_job(&job_id))?;
        let Some(results) = &job.results else {
            return Err(bulk_error(
                400,
                "INVALID_REQUEST",
                "the job has not completed yet",
                json!({"state": "IN PROGRESS"}),
            ));
        };
        apply::result_csv(&job.file, results)
    };
    zip_reply(&id.to_string(), &csv, &permit)
}
