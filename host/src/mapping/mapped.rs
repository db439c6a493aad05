//! A mapped record before it is owned: the tree a [`Plan`](super::Plan)
//! builds, with keys borrowed from the plan and unchanged values borrowed
//! from the source record.
//!
//! Most records a sync reads are unchanged since the last run, and all
//! the engine needs of those is a fingerprint. Building a
//! `serde_json::Value` for them would copy every key and string only to
//! drop it again; a `Mapped` is fingerprinted or serialised in place and
//! becomes a `Value` ([`Mapped::into_json`]) only when it is written.

use std::borrow::Cow;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value as Json};

use crate::config::{Segment, select_matches};

/// One node of a mapped record.
#[derive(Debug, Clone, PartialEq)]
pub enum Mapped<'a> {
    /// A value as it is: from the source record, the plan, or computed.
    Json(Cow<'a, Json>),
    /// An object the plan built. Entries are sorted by key and keys are
    /// distinct, the order a `serde_json` object has.
    Object(Vec<(Cow<'a, str>, Mapped<'a>)>),
    /// A list the plan built.
    Array(Vec<Mapped<'a>>),
}

/// `null`, to borrow.
pub(super) static NULL: Json = Json::Null;

impl<'a> Mapped<'a> {
    /// `null`.
    pub const NULL: Mapped<'static> = Mapped::Json(Cow::Borrowed(&NULL));

    /// An empty object (below a key) or list (below an index or selector)
    /// with room for `width` entries.
    pub(super) fn with_room(below: &Segment, width: usize) -> Mapped<'a> {
        match below {
            Segment::Key(_) => Mapped::Object(Vec::with_capacity(width)),
            Segment::Index(_) | Segment::Select { .. } => Mapped::Array(Vec::with_capacity(width)),
        }
    }

    /// The owned JSON value (copies what is still borrowed).
    pub fn into_json(self) -> Json {
        match self {
            Mapped::Json(v) => v.into_owned(),
            Mapped::Object(entries) => Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.into_owned(), v.into_json()))
                    .collect(),
            ),
            Mapped::Array(items) => Json::Array(items.into_iter().map(Mapped::into_json).collect()),
        }
    }

    /// An object's entries as an owned JSON object; `None` for any other
    /// value.
    pub fn into_object(self) -> Option<Map<String, Json>> {
        match self.into_json() {
            Json::Object(m) => Some(m),
            _ => None,
        }
    }

    /// `null` or the empty string: "no value" to a mapping.
    pub fn is_empty_value(&self) -> bool {
        match self {
            Mapped::Json(v) => matches!(&**v, Json::Null) || v.as_str() == Some(""),
            _ => false,
        }
    }

    /// Insert or replace top-level `key` of an object (`null` becomes
    /// one); `false` for any other value.
    pub(super) fn insert(&mut self, key: Cow<'a, str>, value: Mapped<'a>) -> bool {
        match self.entry(key) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// The value at top-level `key` of an object (`null` becomes one),
    /// added as `null` where the key is new; `None` for any other value.
    fn entry(&mut self, key: Cow<'a, str>) -> Option<&mut Mapped<'a>> {
        let entries = self.as_entries()?;
        let i = match entries.binary_search_by(|(k, _)| k.as_ref().cmp(key.as_ref())) {
            Ok(i) => i,
            Err(i) => {
                entries.insert(i, (key, Mapped::NULL));
                i
            }
        };
        Some(&mut entries[i].1)
    }

    /// Set the value at `segments` below this node, creating objects,
    /// lists and selected elements on the way (`custom_fields[label=X]`
    /// adds `{label: X}` when no element has it). `false` where a value of
    /// another shape is in the way.
    pub(super) fn set(&mut self, segments: &'a [Segment], value: Mapped<'a>) -> bool {
        let Some((seg, rest)) = segments.split_first() else {
            *self = value;
            return true;
        };
        match seg {
            Segment::Key(k) => match self.entry(Cow::Borrowed(k.as_str())) {
                Some(child) => child.set(rest, value),
                None => false,
            },
            Segment::Index(n) => {
                let Some(items) = self.as_items() else {
                    return false;
                };
                if items.len() <= *n {
                    items.resize(*n + 1, Mapped::NULL);
                }
                items[*n].set(rest, value)
            }
            Segment::Select { key, value: want } => {
                let Some(items) = self.as_items() else {
                    return false;
                };
                let i = match items.iter().position(|e| e.selects(key, want)) {
                    Some(i) => i,
                    None => {
                        items.push(Mapped::Object(vec![(
                            Cow::Borrowed(key.as_str()),
                            Mapped::Json(Cow::Owned(Json::String(want.clone()))),
                        )]));
                        items.len() - 1
                    }
                };
                items[i].set(rest, value)
            }
        }
    }

    /// Whether this list element is the one `[key=want]` selects.
    fn selects(&self, key: &str, want: &str) -> bool {
        match self {
            Mapped::Json(v) => select_matches(v.get(key), want),
            Mapped::Object(entries) => {
                match entries.binary_search_by(|(k, _)| k.as_ref().cmp(key)) {
                    Ok(i) => match &entries[i].1 {
                        Mapped::Json(v) => select_matches(Some(v), want),
                        // A built value is compared as its JSON text, as on
                        // a `serde_json` value.
                        built => select_matches(Some(&built.clone().into_json()), want),
                    },
                    Err(_) => false,
                }
            }
            Mapped::Array(_) => false,
        }
    }

    /// This node as object entries to change: `null` becomes an empty
    /// object and a JSON object is opened up; `None` for anything else.
    fn as_entries(&mut self) -> Option<&mut Vec<(Cow<'a, str>, Mapped<'a>)>> {
        if let Mapped::Json(v) = self {
            *self = match v {
                Cow::Borrowed(Json::Null) | Cow::Owned(Json::Null) => Mapped::Object(Vec::new()),
                Cow::Borrowed(Json::Object(m)) => Mapped::Object(sorted(
                    m.iter()
                        .map(|(k, v)| (Cow::Borrowed(k.as_str()), Mapped::Json(Cow::Borrowed(v))))
                        .collect(),
                )),
                Cow::Owned(Json::Object(m)) => Mapped::Object(sorted(
                    std::mem::take(m)
                        .into_iter()
                        .map(|(k, v)| (Cow::Owned(k), Mapped::Json(Cow::Owned(v))))
                        .collect(),
                )),
                _ => return None,
            };
        }
        match self {
            Mapped::Object(entries) => Some(entries),
            _ => None,
        }
    }

    /// This node as list items to change, as [`Mapped::as_entries`].
    fn as_items(&mut self) -> Option<&mut Vec<Mapped<'a>>> {
        if let Mapped::Json(v) = self {
            *self = match v {
                Cow::Borrowed(Json::Null) | Cow::Owned(Json::Null) => Mapped::Array(Vec::new()),
                Cow::Borrowed(Json::Array(items)) => Mapped::Array(
                    items
                        .iter()
                        .map(|v| Mapped::Json(Cow::Borrowed(v)))
                        .collect(),
                ),
                Cow::Owned(Json::Array(items)) => Mapped::Array(
                    std::mem::take(items)
                        .into_iter()
                        .map(|v| Mapped::Json(Cow::Owned(v)))
                        .collect(),
                ),
                _ => return None,
            };
        }
        match self {
            Mapped::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Object entries in key order (a JSON object's own order, unless
/// serde_json's `preserve_order` feature is on).
fn sorted<'a>(mut entries: Vec<(Cow<'a, str>, Mapped<'a>)>) -> Vec<(Cow<'a, str>, Mapped<'a>)> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

impl Serialize for Mapped<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Mapped::Json(v) => v.serialize(serializer),
            Mapped::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
            Mapped::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FieldPath;
    use serde_json::json;

    fn path(p: &str) -> FieldPath {
        FieldPath::parse(p).unwrap()
    }

    /// Set each path on `start` in turn; every set must succeed.
    fn set_all(start: &Json, paths: &[(FieldPath, Json)]) -> Json {
        let mut got = Mapped::Json(Cow::Borrowed(start));
        for (p, v) in paths {
            assert!(
                got.set(&p.segments, Mapped::Json(Cow::Owned(v.clone()))),
                "{p}"
            );
        }
        let written = serde_json::to_value(&got).unwrap();
        let owned = got.into_json();
        assert_eq!(written, owned, "serialising and copying out disagree");
        owned
    }

    #[test]
    fn sets_nested() {
        let paths = [
            (path("billing_address.street"), json!("Main")),
            (path("custom_fields[label=Seg].value"), json!("smb")),
            (path("items[1].name"), json!("n")),
        ];
        assert_eq!(
            set_all(&Json::Null, &paths),
            json!({"billing_address": {"street": "Main"}, "custom_fields": [{"label": "Seg", "value": "smb"}], "items": [null, {"name": "n"}]})
        );
    }

    /// Paths set from an empty start and on top of borrowed values:
    /// objects opened up, lists padded, selected elements found or added.
    #[test]
    fn sets_into_borrowed_values() {
        let record = json!({"addr": {"city": "Springfield", "zip": "62701"}, "tags": ["a", "b"],
            "custom_fields": [{"label": "Seg", "value": "x"}]});
        let paths = [
            ("name", json!("Acme")),
            ("addr.street", json!("1 Main St")),
            ("addr.city", json!("Shelbyville")),
            ("tags[3]", json!("d")),
            ("custom_fields[label=Seg].value", json!("y")),
            ("custom_fields[label=CRM ID].value", json!("57")),
            ("deep.a[1].b", json!(true)),
            // A selector matches a built object by its JSON text.
            ("lines[0].k.x", json!(1)),
            (r#"lines[k={"x":1}].y"#, json!(2)),
        ]
        .map(|(p, v)| (path(p), v));
        let same = json!({
            "custom_fields": [{"label": "Seg", "value": "y"}, {"label": "CRM ID", "value": "57"}],
            "deep": {"a": [null, {"b": true}]},
            "lines": [{"k": {"x": 1}, "y": 2}],
            "name": "Acme",
        });
        let with = |extra: Json| {
            let mut want = same.clone();
            want.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            want
        };
        assert_eq!(
            set_all(&json!({}), &paths),
            with(
                json!({"addr": {"city": "Shelbyville", "street": "1 Main St"}, "tags": [null, null, null, "d"]})
            )
        );
        assert_eq!(
            set_all(&record, &paths),
            with(
                json!({"addr": {"city": "Shelbyville", "street": "1 Main St", "zip": "62701"}, "tags": ["a", "b", null, "d"]})
            )
        );
    }

    #[test]
    fn a_value_of_another_shape_is_in_the_way() {
        let (text, key, list) = (json!("plain"), path("a.b"), path("x[0]"));
        let mut m = Mapped::Json(Cow::Borrowed(&text));
        assert!(!m.set(&key.segments, Mapped::NULL));
        let mut object = Mapped::Object(vec![(Cow::Borrowed("x"), Mapped::Object(Vec::new()))]);
        assert!(!object.set(&list.segments, Mapped::NULL));
    }

    #[test]
    fn insert_keeps_keys_sorted_and_distinct() {
        let mut m = Mapped::Object(Vec::new());
        for (k, v) in [("b", 1), ("a", 2), ("c", 3), ("a", 4)] {
            assert!(m.insert(Cow::Borrowed(k), Mapped::Json(Cow::Owned(json!(v)))));
        }
        assert_eq!(m.into_json(), json!({"a": 4, "b": 1, "c": 3}));
        let text = json!("plain");
        assert!(!Mapped::Json(Cow::Borrowed(&text)).insert(Cow::Borrowed("a"), Mapped::NULL));
    }
}
