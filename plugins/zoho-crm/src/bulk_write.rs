//! Large batches of creates through CRM's Bulk Write API, exported as
//! `ferry:jobs/write-jobs@0.1.0`.
//!
//! The host sends a module's creates here once it has gathered more than
//! `bulk_write_above` of them (default [`DEFAULT_ABOVE`]; `false` never),
//! up to [`MAX_RECORDS`] a job. `start-create` writes the records as a
//! CSV, zips it, uploads it (`POST /crm/v8/upload`, on CRM's content host)
//! and creates an `insert` job; `poll` asks after the job and, once it is
//! `COMPLETED`, reads its result file (the uploaded rows, in order, with
//! `STATUS`, `RECORD_ID` and `ERRORS` columns) through the host's
//! `download` capability. Each call is short; the host keeps the job's
//! handle with the creates' intents and polls between calls.

use std::io::Write;

use ferry_plugin_sdk::bulk;
use ferry_plugin_sdk::prelude::*;

use crate::bulk::BulkApi;
use crate::error::response_error;

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/jobs-v0.1.0",
        world: "jobs",
    });
}

use bindings::exports::ferry::jobs::write_jobs::{Guest, JobError, JobSize, Outcome};

/// Creates a batch must exceed before it goes as a job, unless the
/// connection's `bulk_write_above` says otherwise.
pub const DEFAULT_ABOVE: u32 = 1_000;
/// Records one Bulk Write file takes (Zoho's documented maximum).
pub const MAX_RECORDS: u32 = 25_000;
/// The longest the host waits for a job: Zoho processes a file in the
/// background, typically within minutes.
const PATIENCE_SECS: u32 = 60 * 60;
/// Result rows read per download slice.
const ROWS_PER_SLICE: u32 = 5_000;
/// The multipart boundary of an upload (never inside a ZIP's bytes that
/// matter: the part's length is fixed by the closing delimiter's search,
/// so it is long and unusual).
const BOUNDARY: &str = "ferry-bulk-write-7d1f0b6c2a9e4e58a3f1";

struct Jobs;

impl Guest for Jobs {
    fn sizes() -> Vec<JobSize> {
        let settings = ferry_plugin_sdk::settings();
        let Ok(Some(above)) = threshold(&settings) else {
            return Vec::new();
        };
        crate::modules(&settings)
            .unwrap_or_default()
            .into_iter()
            .map(|module| JobSize {
                module,
                min_records: above.saturating_add(1),
                max_records: MAX_RECORDS,
                patience_secs: PATIENCE_SECS,
            })
            .collect()
    }

    fn start_create(module: String, records: Vec<String>) -> Result<String, JobError> {
        let settings = ferry_plugin_sdk::settings();
        let module = crate::module(&settings, &module).map_err(refused)?;
        let records: Vec<Record> = records
            .iter()
            .map(|r| object(r))
            .collect::<Result<_, _>>()
            .map_err(refused)?;
        if records.len() > MAX_RECORDS as usize {
            return Err(JobError::Refused(format!(
                "{} records in one job; Bulk Write takes at most {MAX_RECORDS}",
                records.len()
            )));
        }
        if records.iter().any(|r| r.contains_key(crate::UPSERT_KEY)) {
            return Err(JobError::Refused(format!(
                "records asking for `{}` are not written through Bulk Write; set the connection's `bulk_write_above: false`",
                crate::UPSERT_KEY
            )));
        }
        let api = BulkApi::of(&settings).map_err(refused)?;
        let (columns, csv) = to_csv(&records).map_err(refused)?;
        let zipped = zip(&csv).map_err(refused)?;
        // Until the job is asked for, nothing can have started.
        let file_id = upload(&api, zipped).map_err(job_error)?;
        create_job(&api, &module, &file_id, &columns).map_err(|e| match e {
            // CRM answered: no job.
            ConnectorError::Unauthorized(m) => JobError::Unauthorized(m),
            ConnectorError::RateLimited(_) => JobError::Transient(message(&e)),
            ConnectorError::Invalid(_) | ConnectorError::NotFound(_) => refused(e),
            ConnectorError::Vendor(ref v) if (400..500).contains(&v.http_status) => refused(e),
            // No answer, or a 5xx: the job may have started.
            other => JobError::Lost(format!(
                "starting the bulk write job got no usable answer ({}); it may run",
                message(&other)
            )),
        })
    }

    fn poll(_module: String, job: String) -> Result<Option<Vec<Outcome>>, JobError> {
        let settings = ferry_plugin_sdk::settings();
        let api = BulkApi::of(&settings).map_err(lost)?;
        let resp = Request::get(format!("{}/write/{job}", api.base))
            .send()
            .map_err(job_error)?;
        if resp.status != 200 {
            let e = response_error(&resp);
            return Err(match e {
                // The vendor does not know the job (any more).
                ConnectorError::NotFound(m) => JobError::Lost(m),
                ConnectorError::Vendor(v) if v.code == "RESOURCE_NOT_FOUND" => {
                    JobError::Lost(v.message)
                }
                other => job_error(other),
            });
        }
        let detail: Value = resp.json().map_err(job_error)?;
        match detail["status"].as_str() {
            Some("COMPLETED") => {}
            Some("FAILED") => {
                return Err(JobError::Lost(format!(
                    "bulk write job {job} failed at Zoho CRM"
                )));
            }
            _ => return Ok(None),
        }
        let url = detail["result"]["download_url"].as_str().ok_or_else(|| {
            JobError::Lost(format!(
                "bulk write job {job} completed without a download_url"
            ))
        })?;
        results(&api.absolute(url))
    }
}

bindings::export!(Jobs with_types_in bindings);

/// The connection's `bulk_write_above`: `None` never uses Bulk Write.
fn threshold(settings: &Settings) -> Result<Option<u32>, ConnectorError> {
    match settings.value("bulk_write_above") {
        None | Some(Value::Null) => Ok(Some(DEFAULT_ABOVE)),
        Some(Value::Bool(false)) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(|n| Some(n.min(u32::MAX as u64) as u32))
            .ok_or_else(|| {
                ConnectorError::invalid(
                    "bulk_write_above",
                    format!(
                        "`{v}` is not a number of records (or `false` to never use Bulk Write)"
                    ),
                )
            }),
    }
}

/// Checked by `configure`, so a bad value is reported before any run.
pub fn check_settings(settings: &Settings) -> Result<(), ConnectorError> {
    threshold(settings).map(drop)
}

/// The records as a CSV: every field any record has, in order of first
/// appearance. A lookup (`{id, name}`) goes as its id, a multi-select
/// picklist joined by `;`, as Bulk Write reads them.
fn to_csv(records: &[Record]) -> Result<(Vec<String>, Vec<u8>), ConnectorError> {
    let mut columns: Vec<String> = Vec::new();
    for record in records {
        for key in record.keys() {
            if key != "id" && !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    let mut out = csv::Writer::from_writer(Vec::new());
    let broken = |e: csv::Error| ConnectorError::Transient(format!("writing the CSV: {e}"));
    out.write_record(&columns).map_err(broken)?;
    for record in records {
        let row = columns
            .iter()
            .map(|c| cell(record.get(c).unwrap_or(&Value::Null)));
        out.write_record(row).map_err(broken)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ConnectorError::Transient(format!("writing the CSV: {e}")))?;
    Ok((columns, bytes))
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(cell).collect::<Vec<_>>().join(";"),
        Value::Object(o) => match o.get("id") {
            Some(id) => cell(id),
            None => value.to_string(),
        },
    }
}

/// A ZIP archive holding `csv` as `records.csv` (stored, not compressed:
/// the upload is local to the host, and a plugin's time is better spent
/// elsewhere).
fn zip(csv: &[u8]) -> Result<Vec<u8>, ConnectorError> {
    let broken = |e: std::io::Error| ConnectorError::Transient(format!("zipping the CSV: {e}"));
    let mut archive = ::zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = ::zip::write::SimpleFileOptions::default()
        .compression_method(::zip::CompressionMethod::Stored);
    archive
        .start_file("records.csv", options)
        .map_err(|e| ConnectorError::Transient(format!("zipping the CSV: {e}")))?;
    archive.write_all(csv).map_err(broken)?;
    let cursor = archive
        .finish()
        .map_err(|e| ConnectorError::Transient(format!("zipping the CSV: {e}")))?;
    Ok(cursor.into_inner())
}

/// Upload the ZIP; its file id.
fn upload(api: &BulkApi, zipped: Vec<u8>) -> Result<String, ConnectorError> {
    let org = org_id()?;
    let mut body = Vec::with_capacity(zipped.len() + 256);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"records.zip\"\r\nContent-Type: application/zip\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&zipped);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    // Uploading twice only leaves an unused file behind.
    let resp = Request::post(api.upload_url())
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header("feature", "bulk-write")
        .header("X-CRM-ORG", org)
        .body(body)
        .idempotent(true)
        .send()?;
    if resp.status != 200 && resp.status != 201 {
        return Err(response_error(&resp));
    }
    let answer: Value = resp.json()?;
    crate::id_text(&answer["details"]["file_id"]).ok_or_else(|| {
        ConnectorError::vendor(
            "NO_FILE_ID",
            "Zoho CRM took the upload but gave no file_id",
            resp.status,
        )
    })
}

/// The organisation's id, which the upload names (`X-CRM-ORG`).
fn org_id() -> Result<String, ConnectorError> {
    let resp = Request::get("/org").send()?;
    let body = crate::body_of(&resp)?.ok_or_else(|| {
        ConnectorError::vendor("NO_ORG", "Zoho CRM describes no organisation", resp.status)
    })?;
    let org = &body["org"][0];
    crate::id_text(&org["zgid"])
        .or_else(|| crate::id_text(&org["id"]))
        .ok_or_else(|| {
            ConnectorError::vendor("NO_ORG", "Zoho CRM's organisation has no id", resp.status)
        })
}

/// Create the insert job of an uploaded file; its id.
fn create_job(
    api: &BulkApi,
    module: &str,
    file_id: &str,
    columns: &[String],
) -> Result<String, ConnectorError> {
    let mappings: Vec<Value> = columns
        .iter()
        .enumerate()
        .map(|(index, api_name)| json!({"api_name": api_name, "index": index}))
        .collect();
    let body = json!({
        "operation": "insert",
        "resource": [{
            "type": "data",
            "module": {"api_name": module},
            "file_id": file_id,
            "field_mappings": mappings,
        }],
    });
    // Never repeated: a second job would insert the records twice.
    let resp = Request::post(format!("{}/write", api.base))
        .json(&body)
        .idempotent(false)
        .send()?;
    if resp.status != 201 && resp.status != 200 {
        return Err(response_error(&resp));
    }
    let answer: Value = resp.json()?;
    let details = if answer["details"].is_object() {
        &answer["details"]
    } else {
        &answer["data"][0]["details"]
    };
    crate::id_text(&details["id"]).ok_or_else(|| {
        ConnectorError::vendor(
            "NO_JOB_ID",
            "Zoho CRM created a bulk write job but gave no id",
            resp.status,
        )
    })
}

/// Each input's outcome from the job's result file, in input order. While
/// the host is still fetching the file: not done yet.
fn results(url: &str) -> Result<Option<Vec<Outcome>>, JobError> {
    let mut outcomes = Vec::new();
    loop {
        let rows = bulk::csv_rows(url, true, outcomes.len() as u64, ROWS_PER_SLICE)
            .map_err(|e| job_error(e.into()))?;
        if rows.rows.is_empty() && rows.more {
            // Still arriving: ask again in a later poll (the host keeps
            // the download going between calls).
            return Ok(None);
        }
        let at = |name: &str| rows.header.iter().position(|h| h == name);
        let (Some(status), Some(record_id)) = (at("STATUS"), at("RECORD_ID")) else {
            return Err(JobError::Lost(format!(
                "the bulk write result has no STATUS and RECORD_ID columns (it has {})",
                rows.header.join(", ")
            )));
        };
        let errors = at("ERRORS");
        for row in &rows.rows {
            let cell = |i: usize| row.get(i).map(String::as_str).unwrap_or("");
            outcomes.push(match cell(status) {
                "ADDED" | "UPDATED" if !cell(record_id).is_empty() => {
                    Outcome::Created(json!({"id": cell(record_id)}).to_string())
                }
                other => {
                    let why = errors.map(cell).unwrap_or("");
                    Outcome::Refused(refusal(other, why))
                }
            });
        }
        if !rows.more {
            return Ok(Some(outcomes));
        }
    }
}

/// A skipped row's field and reason from its `ERRORS` cell: Zoho writes
/// `<code>-<column header>` (`MANDATORY_NOT_FOUND-Last_Name`).
fn refusal(status: &str, errors: &str) -> (String, String) {
    let coded = errors.split_once('-').filter(|(code, _)| {
        !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_')
    });
    match coded {
        Some((code, column)) => {
            let column = column.trim();
            // A header that is an API name names the field; a label does not.
            let field = if column.contains(' ') { "" } else { column };
            (field.to_string(), format!("{code}: {column}"))
        }
        None if errors.is_empty() => (String::new(), format!("Bulk Write {status} the row")),
        None => (String::new(), errors.to_string()),
    }
}

fn refused(e: ConnectorError) -> JobError {
    JobError::Refused(message(&e))
}

fn lost(e: ConnectorError) -> JobError {
    JobError::Lost(message(&e))
}

/// A call's error as the job contract reads it, for calls that cannot
/// start a job (the upload) or only ask after one.
fn job_error(e: ConnectorError) -> JobError {
    match e {
        ConnectorError::Unauthorized(m) => JobError::Unauthorized(m),
        ConnectorError::Transient(_) | ConnectorError::RateLimited(_) => {
            JobError::Transient(message(&e))
        }
        other => JobError::Refused(message(&other)),
    }
}

/// The error as one line.
fn message(e: &ConnectorError) -> String {
    match e {
        ConnectorError::NotFound(m)
        | ConnectorError::Unauthorized(m)
        | ConnectorError::Conflict(m)
        | ConnectorError::Transient(m)
        | ConnectorError::Unsupported(m) => m.clone(),
        ConnectorError::Invalid(f) if f.field.is_empty() => f.message.clone(),
        ConnectorError::Invalid(f) => format!("{}: {}", f.field, f.message),
        ConnectorError::RateLimited(r) => r.message.clone(),
        ConnectorError::Vendor(v) => format!("{}: {}", v.code, v.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(v: Value) -> Vec<Record> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_object().unwrap().clone())
            .collect()
    }

    #[test]
    fn records_become_one_csv_with_every_field() {
        let (columns, csv) = to_csv(&records(json!([
            {"Last_Name": "Ng", "Account_Name": {"id": "42", "name": "Acme"}},
            {"Last_Name": "O\"Brien, Pat", "Tags": ["a", "b"], "Email_Opt_Out": true, "id": "ignored"},
        ])))
        .unwrap();
        // Each record's fields in its own (name) order, new ones appended.
        assert_eq!(
            columns,
            ["Account_Name", "Last_Name", "Email_Opt_Out", "Tags"]
        );
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "Account_Name,Last_Name,Email_Opt_Out,Tags\n42,Ng,,\n,\"O\"\"Brien, Pat\",true,a;b\n"
        );
    }

    #[test]
    fn skipped_rows_name_their_field() {
        assert_eq!(
            refusal("SKIPPED", "MANDATORY_NOT_FOUND-Last_Name"),
            ("Last_Name".into(), "MANDATORY_NOT_FOUND: Last_Name".into())
        );
        assert_eq!(
            refusal("SKIPPED", "MANDATORY_NOT_FOUND-Account Name"),
            (String::new(), "MANDATORY_NOT_FOUND: Account Name".into())
        );
        assert_eq!(
            refusal("SKIPPED", "the value is too long"),
            (String::new(), "the value is too long".into())
        );
        assert_eq!(refusal("SKIPPED", "").0, "");
    }

    #[test]
    fn the_threshold_can_be_turned_off() {
        let s = |v: Value| Settings::parse(&v.to_string()).unwrap();
        assert_eq!(threshold(&s(json!({}))).unwrap(), Some(DEFAULT_ABOVE));
        assert_eq!(
            threshold(&s(json!({"bulk_write_above": false}))).unwrap(),
            None
        );
        assert_eq!(
            threshold(&s(json!({"bulk_write_above": 5}))).unwrap(),
            Some(5)
        );
        assert!(threshold(&s(json!({"bulk_write_above": "many"}))).is_err());
    }
}
