//! The match index of a first sync: the target's match-key values, read
//! once with `list`, so that matching N source records costs ceil(M/page)
//! list calls instead of N `find` calls (which on the finance APIs each
//! page through the whole module).

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::config::FieldPath;
use crate::connector::Record;

use crate::connector::id_of;

use super::read::Listing;
use super::{Endpoint, EngineError};

/// Target match-key values → target ids.
pub struct MatchIndex {
    /// Target fields, in match-key order.
    fields: Vec<FieldPath>,
    ids: HashMap<String, Vec<String>>,
}

impl MatchIndex {
    /// List every record of `dst` and index it by `fields`.
    pub async fn build(dst: &Endpoint, fields: Vec<FieldPath>) -> Result<MatchIndex, EngineError> {
        let mut index = MatchIndex {
            fields,
            ids: HashMap::new(),
        };
        let mut listing = Listing::new(dst, None);
        while let Some(records) = listing.next_page().await? {
            for record in records {
                if let (Some(id), Some(key)) = (
                    id_of(&record, &dst.info.id_field),
                    index.record_key(&record),
                ) {
                    index.ids.entry(key).or_default().push(id);
                }
            }
        }
        Ok(index)
    }

    /// Ids of target records whose match keys equal `lookup` (target field
    /// → value). `None` when `lookup` lacks a key: the index cannot say,
    /// ask the connector's `find`.
    pub fn get(&self, lookup: &Map<String, Value>) -> Option<&[String]> {
        let key = self.lookup_key(lookup)?;
        Some(self.ids.get(&key).map(Vec::as_slice).unwrap_or(&[]))
    }

    /// Remember a record Ferry just created, so a later source record with
    /// the same keys matches it.
    pub fn insert(&mut self, lookup: &Map<String, Value>, id: &str) {
        if let Some(key) = self.lookup_key(lookup) {
            self.ids.entry(key).or_default().push(id.to_string());
        }
    }

    fn lookup_key(&self, lookup: &Map<String, Value>) -> Option<String> {
        let values = self
            .fields
            .iter()
            .map(|f| lookup.get(f.as_str()))
            .collect::<Option<Vec<_>>>()?;
        Some(join(values))
    }

    fn record_key(&self, record: &Record) -> Option<String> {
        let root = Value::Object(record.clone());
        let values = self
            .fields
            .iter()
            .map(|f| field_value(&root, f))
            .collect::<Option<Vec<_>>>()?;
        Some(join(values))
    }
}

/// A field of a target record: its path, or a custom field of that label
/// in a Zoho finance `custom_fields` array.
fn field_value<'a>(root: &'a Value, field: &FieldPath) -> Option<&'a Value> {
    if let Some(v) = field.get(root).filter(|v| !v.is_null()) {
        return Some(v);
    }
    root.get("custom_fields")?
        .as_array()?
        .iter()
        .find(|cf| cf.get("label").and_then(Value::as_str) == Some(field.as_str()))?
        .get("value")
        .filter(|v| !v.is_null())
}

/// Vendors compare match values as text, without regard to case.
fn join(values: Vec<&Value>) -> String {
    let mut key = String::new();
    for v in values {
        match v {
            Value::String(s) => key.push_str(&s.trim().to_lowercase()),
            Value::Number(n) => key.push_str(&n.to_string()),
            other => key.push_str(&other.to_string().to_lowercase()),
        }
        key.push('\u{1f}');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn index(fields: &[&str]) -> MatchIndex {
        MatchIndex {
            fields: fields
                .iter()
                .map(|f| FieldPath::parse(f).unwrap())
                .collect(),
            ids: HashMap::new(),
        }
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn records_match_by_every_key_as_text_without_case() {
        let mut ix = index(&["display_name", "cf_code"]);
        let rec = map(json!({"customer_id": "9", "display_name": "Acme ", "cf_code": 7}));
        let key = ix.record_key(&rec).unwrap();
        ix.ids.entry(key).or_default().push("9".into());
        assert_eq!(
            ix.get(&map(json!({"display_name": "ACME", "cf_code": 7}))),
            Some(&["9".to_string()][..])
        );
        assert_eq!(
            ix.get(&map(json!({"display_name": "acme", "cf_code": 8}))),
            Some(&[][..])
        );
        // A key the source did not fill: the index cannot answer.
        assert_eq!(ix.get(&map(json!({"display_name": "acme"}))), None);
    }

    #[test]
    fn a_custom_field_matches_by_label_and_created_records_are_found() {
        let mut ix = index(&["PO Number"]);
        let rec = map(json!({"custom_fields": [{"label": "PO Number", "value": "PO-1"}]}));
        assert!(ix.record_key(&rec).is_some());
        ix.insert(&map(json!({"PO Number": "po-2"})), "11");
        assert_eq!(
            ix.get(&map(json!({"PO Number": "PO-2"}))),
            Some(&["11".to_string()][..])
        );
    }
}
