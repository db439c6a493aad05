//! Custom fields. The finance APIs carry them as an array,
//! `custom_fields: [{api_name, label, value, …}]`; Ferry records carry them
//! as top-level keys as well:
//!
//! * read: every entry with an `api_name` also appears as
//!   `"<api_name>": <value>` (`"cf_segment": "smb"`); the array stays.
//! * write: keys starting with `cf_` become `{"api_name": key, "value": v}`
//!   and keys that cannot be standard field names (they hold an upper-case
//!   letter or a space, like the label `"PO Number"`) become
//!   `{"label": key, "value": v}`; entries of a `custom_fields` array in the
//!   record are sent as they are.

use ferry_plugin_sdk::{FieldInfo, FieldKind, Record};
use serde_json::{Map, Value, json};

/// Add the top-level `api_name` keys of a record read from the API.
pub fn flatten(mut record: Record) -> Record {
    let entries: Vec<(String, Value)> = record
        .get("custom_fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|cf| {
            let name = cf.get("api_name")?.as_str()?;
            Some((
                name.to_string(),
                cf.get("value").cloned().unwrap_or(Value::Null),
            ))
        })
        .collect();
    for (name, value) in entries {
        record.entry(name).or_insert(value);
    }
    record
}

/// Whether `key` names a custom field rather than a standard one.
pub fn is_custom_key(key: &str) -> bool {
    key.starts_with("cf_") || key.chars().any(|c| c.is_ascii_uppercase() || c == ' ')
}

/// Move custom-field keys of a record being written into its
/// `custom_fields` array.
pub fn fold(record: &Record) -> Record {
    let mut out = Map::new();
    let mut top: Vec<Value> = Vec::new();
    let mut given: Vec<Value> = Vec::new();
    for (key, value) in record {
        if key == "custom_fields" {
            given.extend(value.as_array().cloned().unwrap_or_default());
        } else if key == "custom_field_hash" || key.ends_with("_unformatted") {
            // Read-only echoes of the array.
        } else if key.starts_with("cf_") {
            top.push(json!({"api_name": key, "value": value}));
        } else if is_custom_key(key) {
            top.push(json!({"label": key, "value": value}));
        } else {
            out.insert(key.clone(), value.clone());
        }
    }
    // A field given both ways: the top-level key wins (it is what a mapping
    // writes); array entries naming the same field are dropped.
    let names = |e: &Value| -> Vec<String> {
        ["api_name", "label"]
            .iter()
            .filter_map(|k| e.get(*k)?.as_str().map(String::from))
            .collect()
    };
    let taken: Vec<String> = top.iter().flat_map(names).collect();
    given.retain(|e| !names(e).iter().any(|n| taken.contains(n)));
    top.extend(given);
    if !top.is_empty() {
        out.insert("custom_fields".into(), Value::Array(top));
    }
    out
}

/// A field's value in a record as read (flattened): by key, or a custom
/// field by label.
pub fn value_of<'a>(record: &'a Record, key: &str) -> Option<&'a Value> {
    record.get(key).or_else(|| {
        record
            .get("custom_fields")?
            .as_array()?
            .iter()
            .find(|cf| cf.get("label").and_then(Value::as_str) == Some(key))?
            .get("value")
    })
}

/// Custom fields seen in records, as the contract describes them.
pub fn discovered(records: &[Record]) -> Vec<FieldInfo> {
    let mut fields: Vec<FieldInfo> = Vec::new();
    for cf in records
        .iter()
        .filter_map(|r| r.get("custom_fields")?.as_array())
        .flatten()
    {
        let Some(name) = cf.get("api_name").and_then(Value::as_str) else {
            continue;
        };
        if fields.iter().any(|f| f.name == name) {
            continue;
        }
        let label = cf.get("label").and_then(Value::as_str).unwrap_or(name);
        let kind = kind_of(cf.get("data_type").and_then(Value::as_str).unwrap_or(""));
        fields.push(FieldInfo::new(name, kind).label(label).custom());
    }
    fields
}

fn kind_of(data_type: &str) -> FieldKind {
    match data_type {
        "string" | "text" | "autonumber" => FieldKind::Text,
        "multiline" | "textarea" => FieldKind::LongText,
        "number" => FieldKind::Integer,
        "decimal" => FieldKind::Decimal,
        "amount" => FieldKind::Currency,
        "percent" => FieldKind::Percent,
        "check_box" | "boolean" => FieldKind::Boolean,
        "date" => FieldKind::Date,
        "date_time" | "datetime" => FieldKind::Datetime,
        "email" => FieldKind::Email,
        "phone" => FieldKind::Phone,
        "url" => FieldKind::Url,
        "dropdown" => FieldKind::Picklist,
        "multiselect" => FieldKind::MultiPicklist,
        "lookup" => FieldKind::Lookup,
        _ => FieldKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: Value) -> Record {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn read_adds_api_name_keys() {
        let r = flatten(rec(json!({
            "contact_name": "A",
            "custom_fields": [{"api_name": "cf_segment", "label": "Segment", "value": "smb"}]
        })));
        assert_eq!(r["cf_segment"], "smb");
        assert_eq!(value_of(&r, "Segment"), Some(&json!("smb")));
    }

    #[test]
    fn write_folds_api_names_and_labels_into_the_array() {
        let out = fold(&rec(json!({
            "contact_name": "A",
            "cf_segment": "enterprise",
            "PO Number": "PO-7",
            "custom_fields": [{"api_name": "cf_segment", "value": "old"}],
            "custom_field_hash": {"cf_segment": "old"}
        })));
        assert_eq!(out["contact_name"], "A");
        assert!(out.get("cf_segment").is_none() && out.get("custom_field_hash").is_none());
        let cfs = out["custom_fields"].as_array().unwrap();
        assert_eq!(cfs.len(), 2, "{cfs:?}");
        assert!(cfs.contains(&json!({"api_name": "cf_segment", "value": "enterprise"})));
        assert!(cfs.contains(&json!({"label": "PO Number", "value": "PO-7"})));
    }
}
