//! JSON helpers for records.

use serde_json::Value;

use crate::{ConnectorError, Record};

/// Parse a JSON object (a record or criteria the host passed).
pub fn object(json: &str) -> Result<Record, ConnectorError> {
    match serde_json::from_str(json) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(ConnectorError::invalid("", "expected a JSON object")),
    }
}

/// The records in `body[key]` (a JSON array of objects).
pub fn records_at(body: &Value, key: &str) -> Result<Vec<Record>, ConnectorError> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_object()
                    .cloned()
                    .ok_or_else(|| ConnectorError::Transient(format!("`{key}` holds a non-object")))
            })
            .collect(),
        Some(_) => Err(ConnectorError::Transient(format!("`{key}` is not a list"))),
    }
}

/// A field as text: strings as they are, numbers and booleans printed.
pub fn str_field(record: &Record, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
