//! A Bulk Write job's request, checked the way Zoho checks it.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::upload::Upload;
use super::{Job, Mapping, Operation};
use crate::clock::Millis;
use crate::crm::bulk::bulk_error;
use crate::crm::metadata::{DataType, ModuleDef};
use crate::error::ApiError;

/// `MISSING_REQUIRED_KEY` in the words of Zoho's OpenAPI file.
fn missing(key: &str, path: &str) -> ApiError {
    let api_name = path.rsplit('.').next().unwrap_or(path);
    bulk_error(
        400,
        "MISSING_REQUIRED_KEY",
        &format!("required key {key} is not found in request body."),
        json!({"api_name": api_name, "json_path": path}),
    )
}

fn invalid(path: &str) -> ApiError {
    let api_name = path.rsplit('.').next().unwrap_or(path);
    bulk_error(
        400,
        "INVALID_DATA",
        "invalid data",
        json!({"api_name": api_name, "json_path": path}),
    )
}

/// A job from its request, checked the way Zoho checks it.
pub(super) fn job_of(
    request: &Value,
    files: &HashMap<u64, Arc<Upload>>,
    now: Millis,
) -> Result<Job, ApiError> {
    let operation = match request.get("operation") {
        None | Some(Value::Null) => return Err(missing("operation", "$.operation")),
        Some(v) => v
            .as_str()
            .and_then(Operation::parse)
            .ok_or_else(|| invalid("$.operation"))?,
    };
    let callback = match request.get("callback") {
        None | Some(Value::Null) => None,
        Some(callback) => {
            if callback.get("method").and_then(Value::as_str) != Some("post") {
                return Err(bulk_error(
                    400,
                    "INVALID_CALLBACK_METHOD",
                    "the callback method is invalid",
                    json!({"supported_callback_methods": ["post"]}),
                ));
            }
            match callback.get("url") {
                None | Some(Value::Null) => return Err(missing("url", "$.callback.url")),
                Some(Value::String(url))
                    if url.starts_with("http://") || url.starts_with("https://") => {}
                Some(_) => return Err(invalid("$.callback.url")),
            }
            Some(callback.clone())
        }
    };
    let ignore_empty = match request.get("ignore_empty") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("$.ignore_empty")),
    };
    let resource = match request.get("resource") {
        Some(Value::Array(list)) if list.len() == 1 => &list[0],
        Some(Value::Array(list)) if list.len() > 1 => {
            return Err(bulk_error(
                400,
                "NOT_SUPPORTED_FEATURE",
                "only one resource a job is emulated (no subforms)",
                json!({"api_name": "resource", "json_path": "$.resource"}),
            ));
        }
        None | Some(Value::Null | Value::Array(_)) => {
            return Err(missing("resource", "$.resource"));
        }
        Some(_) => return Err(invalid("$.resource")),
    };
    match resource.get("type") {
        None | Some(Value::Null) => {}
        Some(t) if t == "data" => {}
        Some(_) => return Err(invalid("$.resource[0].type")),
    }
    let name = match resource.get("module") {
        Some(Value::String(name)) => name.clone(),
        Some(module) => module
            .get("api_name")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| missing("module", "$.resource[0].module"))?,
        None => return Err(missing("module", "$.resource[0].module")),
    };
    let def = crate::crm::def(&name).ok_or_else(|| {
        bulk_error(
            400,
            "MODULE_NOT_AVAILABLE",
            &format!("Requested module '{name}' is not available."),
            json!({"api_name": name, "json_path": "$.resource[0].module.api_name"}),
        )
    })?;
    let file_id = match resource.get("file_id") {
        None | Some(Value::Null) => return Err(missing("file_id", "$.resource[0].file_id")),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(v) => v.as_u64(),
    };
    let (file_id, file) = file_id
        .and_then(|id| files.get(&id).map(|f| (id, f.clone())))
        .ok_or_else(|| {
            bulk_error(
                400,
                "INVALID_FILE_ID",
                "improper file id",
                json!({"api_name": "file_id", "json_path": "$.resource[0].file_id"}),
            )
        })?;
    let list = match resource.get("field_mappings") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        None | Some(Value::Null | Value::Array(_)) => {
            return Err(missing("field_mappings", "$.resource[0].field_mappings"));
        }
        Some(_) => return Err(invalid("$.resource[0].field_mappings")),
    };
    let mut mappings = Vec::with_capacity(list.len());
    let mut mappings_json = Vec::with_capacity(list.len());
    for (n, given) in list.iter().enumerate() {
        let (mapping, echo) = mapping_of(def, &file, given, n)?;
        mappings.push(mapping);
        mappings_json.push(echo);
    }
    let find_by = match resource.get("find_by") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if operation != Operation::Insert => Some(s.clone()),
        Some(Value::String(_)) => None,
        Some(_) => return Err(invalid("$.resource[0].find_by")),
    };
    if operation == Operation::Update && find_by.is_none() {
        return Err(missing("find_by", "$.resource[0].find_by"));
    }
    if let Some(by) = &find_by {
        let identifies = by == "id"
            || def.field(by).is_some_and(|f| f.unique)
            || def.duplicate_check.contains(&by.as_str());
        if !identifies {
            return Err(invalid("$.resource[0].find_by"));
        }
        if !mappings
            .iter()
            .any(|m| m.api_name == *by && m.index.is_some())
        {
            return Err(missing(
                &format!("index for field {by}"),
                "$.resource[0].field_mappings",
            ));
        }
    }
    if operation != Operation::Update {
        let unmapped: Vec<&str> = def
            .fields
            .iter()
            .filter(|f| f.mandatory && !f.read_only)
            .map(|f| f.api_name)
            .filter(|name| !mappings.iter().any(|m| m.api_name == *name))
            .collect();
        if !unmapped.is_empty() {
            return Err(bulk_error(
                400,
                "MANDATORY_FIELDS_NOT_MAPPED",
                "All mandatory fields are not mapped for the layout",
                json!({"api_names": unmapped}),
            ));
        }
    }
    Ok(Job {
        operation,
        module: def,
        file_id,
        file,
        mappings,
        mappings_json,
        find_by,
        ignore_empty,
        callback,
        created_ms: now,
        polls: 0,
        results: None,
    })
}

/// One entry of `field_mappings`, and its echo.
fn mapping_of(
    def: &ModuleDef,
    file: &Upload,
    given: &Value,
    n: usize,
) -> Result<(Mapping, Value), ApiError> {
    let path = format!("$.resource[0].field_mappings[{n}]");
    let api_name = given
        .get("api_name")
        .and_then(Value::as_str)
        .ok_or_else(|| missing("api_name", &format!("{path}.api_name")))?;
    let field = match api_name {
        "id" => None,
        _ => Some(def.field(api_name).ok_or_else(|| {
            bulk_error(
                400,
                "INVALID_FIELD_NAME",
                &format!("invalid mapping. invalid api_name {api_name}."),
                json!({"api_name": api_name, "json_path": format!("{path}.api_name")}),
            )
        })?),
    };
    let index = match given.get("index") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64().map(|i| i as usize) {
            Some(i) if i < file.header.len() => Some(i),
            _ => {
                return Err(bulk_error(
                    400,
                    "COLUMN_INDEX_NOT_FOUND",
                    &format!("invalid mapping. column index {v} is not found in the file."),
                    json!({"api_name": api_name, "index": v, "json_path": format!("{path}.index")}),
                ));
            }
        },
    };
    let default = match given.get("default_value") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => o.get("value").filter(|v| !v.is_null()).cloned(),
        Some(v) => Some(v.clone()),
    };
    if index.is_none() && default.is_none() {
        return Err(missing(
            &format!("index for field {api_name}"),
            &format!("{path}.index"),
        ));
    }
    let find_by = match given.get("find_by") {
        None | Some(Value::Null) => None,
        Some(Value::String(by)) => {
            let known = match field.map(|f| (f.data_type, f.lookup)) {
                Some((DataType::Lookup, Some(target))) => {
                    by == "id" || crate::crm::def(target).is_some_and(|t| t.field(by).is_some())
                }
                Some((DataType::OwnerLookup, _)) => by == "id" || by == "email",
                _ => false,
            };
            if !known {
                return Err(invalid(&format!("{path}.find_by")));
            }
            Some(by.clone())
        }
        Some(_) => return Err(invalid(&format!("{path}.find_by"))),
    };
    let echo = json!({
        "api_name": api_name,
        "index": index,
        "format": given.get("format").cloned().unwrap_or(Value::Null),
        "find_by": find_by,
        "default_value": given.get("default_value").cloned().unwrap_or(Value::Null),
    });
    let mapping = Mapping {
        api_name: api_name.to_string(),
        index,
        default,
        find_by,
    };
    Ok((mapping, echo))
}
