//! Writing a Bulk Write job's rows, and its result file.

use serde_json::{Map, Value, json};

use super::upload::{Upload, cell};
use super::{Job, Mapping, Operation, RowResult};
use crate::app::App;
use crate::crm::bulk::row;
use crate::crm::metadata::{self, API_USER_ID, DataType, FieldDef};
use crate::crm::{CrmState, WriteCtx, record_error, write_one};

/// Write every row (in one state transaction); a result a row.
pub(super) fn run(app: &App, job: &Job) -> Vec<RowResult> {
    let now = app.now();
    let def = job.module;
    let duplicate_check_fields = match (job.operation, job.find_by.as_deref()) {
        // Only the id finds the record; a row with no such id is added.
        (Operation::Upsert, Some("id")) => Some(Vec::new()),
        (Operation::Upsert, Some(by)) => Some(vec![by.to_string()]),
        _ => None,
    };
    let outcomes = app.mutate(|st, events| {
        let mut ids = std::mem::take(&mut st.next_crm_id);
        let mut next = || {
            ids += 1;
            ids
        };
        let mut outcomes = Vec::with_capacity(job.file.rows.len());
        {
            let mut cx = WriteCtx {
                now,
                user: API_USER_ID,
                mode: job.operation.mode(),
                duplicate_check_fields,
                path_id: None,
                events,
                next_id: &mut next,
            };
            for (i, cells) in job.file.rows.iter().enumerate() {
                let outcome = prepare(&st.crm, job, cells).and_then(|(item, target)| {
                    cx.path_id = target;
                    let out = write_one(&mut st.crm, def, i, &item, &mut cx);
                    if out.status_ok {
                        Ok(out.entry)
                    } else {
                        Err(out.entry)
                    }
                });
                outcomes.push(outcome);
            }
        }
        st.next_crm_id = ids;
        outcomes
    });
    outcomes.iter().map(|o| row_result(job, o)).collect()
}

/// A row as the REST body's record, and (for `update`) the record it
/// changes; `Err` is the record-level error that skips it.
fn prepare(crm: &CrmState, job: &Job, cells: &[String]) -> Result<(Value, Option<u64>), Value> {
    let def = job.module;
    let mut item = Map::new();
    for m in &job.mappings {
        let text = m.index.map_or("", |i| cell(cells, i));
        let field = def.field(&m.api_name);
        let value = match (text.is_empty(), &m.default) {
            (false, _) => Some(convert(crm, field, m, text)?),
            (true, Some(Value::String(s))) if !s.is_empty() => Some(convert(crm, field, m, s)?),
            (true, None | Some(Value::String(_))) => None,
            (true, Some(v)) => Some(v.clone()),
        };
        match value {
            Some(v) => item.insert(m.api_name.clone(), v),
            // Zoho's `ignore_empty`: leave the field as it is.
            None if job.ignore_empty => continue,
            None => item.insert(m.api_name.clone(), Value::Null),
        };
    }
    let target = match job.operation {
        Operation::Update => {
            let by = job.find_by.as_deref().unwrap_or("id");
            let key = job
                .mappings
                .iter()
                .find(|m| m.api_name == by)
                .and_then(|m| m.index)
                .map_or("", |i| cell(cells, i).trim());
            let store = crm.module(def);
            let found = if by == "id" {
                key.parse::<u64>()
                    .ok()
                    .filter(|id| store.records.contains_key(id))
            } else if key.is_empty() {
                None
            } else {
                store.find_by(by, &json!(key)).first().copied()
            };
            let found = found.ok_or_else(|| {
                record_error(
                    "RESOURCE_NOT_FOUND",
                    "the record to update is not found",
                    json!({"api_name": by}),
                )
            })?;
            Some(found)
        }
        Operation::Insert | Operation::Upsert => None,
    };
    Ok((Value::Object(item), target))
}

/// A cell as the JSON value the REST API takes for the field: lookups as
/// `{"id"}` (found by another field when the mapping says `find_by`),
/// multi-select picklists split at `;`, booleans from `true`/`false`, the
/// rest as text (numbers and dates are parsed by the REST validation).
fn convert(
    crm: &CrmState,
    field: Option<&FieldDef>,
    mapping: &Mapping,
    text: &str,
) -> Result<Value, Value> {
    let Some(fd) = field else {
        return Ok(json!(text.trim()));
    };
    let not_found = || {
        record_error(
            "INVALID_DATA",
            "the related id given is invalid",
            json!({"api_name": fd.api_name}),
        )
    };
    Ok(match fd.data_type {
        DataType::MultiSelect => json!(
            text.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        ),
        DataType::Boolean => match text.trim().to_ascii_lowercase().as_str() {
            "true" => json!(true),
            "false" => json!(false),
            _ => json!(text),
        },
        DataType::Lookup => match mapping.find_by.as_deref() {
            None | Some("id") => json!({"id": text.trim()}),
            Some(by) => {
                let id = fd
                    .lookup
                    .and_then(crate::crm::def)
                    .and_then(|target| {
                        crm.module(target)
                            .find_by(by, &json!(text.trim()))
                            .first()
                            .copied()
                    })
                    .ok_or_else(not_found)?;
                json!({"id": id.to_string()})
            }
        },
        DataType::OwnerLookup => match mapping.find_by.as_deref() {
            Some("email") => {
                let user = metadata::users()
                    .into_iter()
                    .find(|u| {
                        u["email"]
                            .as_str()
                            .is_some_and(|e| e.eq_ignore_ascii_case(text.trim()))
                    })
                    .ok_or_else(not_found)?;
                json!({"id": user["id"]})
            }
            _ => json!({"id": text.trim()}),
        },
        _ => json!(text),
    })
}

/// A row's line of the result: `ADDED`/`UPDATED` with the record's id,
/// or `SKIPPED` with `<code>-<column header>` (Zoho's documented form;
/// the field's API name when no column is mapped to it).
fn row_result(job: &Job, outcome: &Result<Value, Value>) -> RowResult {
    match outcome {
        Ok(entry) => RowResult {
            status: if entry["message"] == "record updated" {
                "UPDATED"
            } else {
                "ADDED"
            },
            record_id: entry["details"]["id"].as_str().unwrap_or("").to_string(),
            errors: String::new(),
        },
        Err(entry) => {
            let code = entry["code"].as_str().unwrap_or("INVALID_DATA");
            let errors = match entry["details"]["api_name"].as_str() {
                Some(api_name) => {
                    let column = job
                        .mappings
                        .iter()
                        .find(|m| m.api_name == api_name)
                        .and_then(|m| m.index)
                        .map_or(api_name, |i| job.file.header[i].as_str());
                    format!("{code}-{column}")
                }
                None => code.to_string(),
            };
            RowResult {
                status: "SKIPPED",
                record_id: String::new(),
                errors,
            }
        }
    }
}

/// The uploaded columns, then `STATUS`, `RECORD_ID` and `ERRORS`, a line
/// for each uploaded row, in the file's order.
pub(super) fn result_csv(file: &Upload, results: &[RowResult]) -> Vec<u8> {
    let mut out = Vec::with_capacity(file.rows.len() * 64);
    let extra = ["STATUS", "RECORD_ID", "ERRORS"].map(String::from);
    row(&mut out, file.header.iter().cloned().chain(extra));
    for (cells, result) in file.rows.iter().zip(results) {
        let columns = (0..file.header.len()).map(|i| cell(cells, i).to_string());
        let tail = [
            result.status.to_string(),
            result.record_id.clone(),
            result.errors.clone(),
        ];
        row(&mut out, columns.chain(tail));
    }
    out
}
