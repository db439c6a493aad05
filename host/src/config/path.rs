//! Field paths: `Account_Name`, `Owner.name`, `line_items[0].rate`,
//! `custom_fields[label=Segment].value`.

use std::fmt;

use serde_json::Value;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object key.
    Key(String),
    /// A list index.
    Index(usize),
    /// The list element whose `key` equals `value` (`[label=Segment]`):
    /// Zoho finance custom fields by label.
    Select { key: String, value: String },
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub segments: Vec<Segment>,
    text: String,
}

/// Why a path does not parse, with the byte offset in the path text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    pub offset: usize,
    pub message: String,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, PathError> {
        let err = |offset: usize, message: &str| {
            Err(PathError {
                offset,
                message: message.to_owned(),
            })
        };
        if text.trim().is_empty() {
            return err(0, "empty field path");
        }
        let bytes = text.as_bytes();
        let mut segments = Vec::new();
        let mut i = 0;
        let mut expect_key = true;
        while i < bytes.len() {
            match bytes[i] {
                b'[' => {
                    let Some(close) = text[i..].find(']') else {
                        return err(i, "`[` is not closed by `]`");
                    };
                    let inner = &text[i + 1..i + close];
                    if let Some((k, v)) = inner.split_once('=') {
                        let (k, v) = (k.trim(), v.trim().trim_matches(['"', '\'']));
                        if k.is_empty() || v.is_empty() {
                            return err(i + 1, "a selector needs `[key=value]`");
                        }
                        segments.push(Segment::Select {
                            key: k.to_owned(),
                            value: v.to_owned(),
                        });
                    } else {
                        match inner.trim().parse::<usize>() {
                            Ok(n) => segments.push(Segment::Index(n)),
                            Err(_) => {
                                return err(i + 1, "a list index must be a number or `key=value`");
                            }
                        }
                    }
                    if segments.len() == 1 {
                        return err(i, "a path must start with a field name");
                    }
                    i += close + 1;
                    expect_key = false;
                }
                b'.' => {
                    if expect_key {
                        return err(i, "empty field name in path");
                    }
                    i += 1;
                    expect_key = true;
                    if i == bytes.len() {
                        return err(i - 1, "path ends with `.`");
                    }
                }
                _ => {
                    if !expect_key {
                        return err(i, "expected `.` or `[` after `]`");
                    }
                    let end = text[i..]
                        .find(['.', '[', ']'])
                        .map(|e| i + e)
                        .unwrap_or(text.len());
                    let key = &text[i..end];
                    if key.chars().any(char::is_whitespace) && key.trim() != key {
                        return err(i, "field names cannot start or end with spaces");
                    }
                    if end < bytes.len() && bytes[end] == b']' {
                        return err(end, "`]` without `[`");
                    }
                    segments.push(Segment::Key(key.to_owned()));
                    i = end;
                    expect_key = false;
                }
            }
        }
        Ok(FieldPath {
            segments,
            text: text.to_owned(),
        })
    }

    /// A one-key path.
    pub fn key(name: &str) -> FieldPath {
        FieldPath {
            segments: vec![Segment::Key(name.to_owned())],
            text: name.to_owned(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The top-level field name.
    pub fn head(&self) -> &str {
        match self.segments.first() {
            Some(Segment::Key(k)) => k,
            _ => "",
        }
    }

    /// For `custom_fields[label=X]…`: the label `X`.
    pub fn custom_field_label(&self) -> Option<&str> {
        match self.segments.get(1) {
            Some(Segment::Select { key, value }) if key == "label" => Some(value),
            _ => None,
        }
    }

    /// The value at this path, if present.
    pub fn get<'a>(&self, root: &'a Value) -> Option<&'a Value> {
        get_segments(&self.segments, root)
    }

    /// The value at this path, given the value of its first segment
    /// (found already, e.g. by a caller reading many fields in one pass).
    pub fn get_below_head<'a>(&self, head: &'a Value) -> Option<&'a Value> {
        get_segments(self.segments.get(1..).unwrap_or_default(), head)
    }
}

fn get_segments<'a>(segments: &[Segment], root: &'a Value) -> Option<&'a Value> {
    let mut cur = root;
    for seg in segments {
        cur = match seg {
            Segment::Key(k) => cur.as_object()?.get(k)?,
            Segment::Index(n) => cur.as_array()?.get(*n)?,
            Segment::Select { key, value } => {
                cur.as_array()?.iter().find(|e| selects(e, key, value))?
            }
        };
    }
    Some(cur)
}

fn selects(e: &Value, key: &str, value: &str) -> bool {
    select_matches(e.get(key), value)
}

/// Whether a list element's value at a selector's key (`label` in
/// `[label=Segment]`) is the wanted one.
pub fn select_matches(found: Option<&Value>, value: &str) -> bool {
    match found {
        Some(Value::String(s)) => s == value,
        Some(other) => {
            let text = other.to_string();
            text == value
        }
        None => false,
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_and_reads() {
        let v =
            json!({"a": {"b": [1, {"c": 2}]}, "custom_fields": [{"label": "Seg", "value": "x"}]});
        assert_eq!(
            FieldPath::parse("a.b[1].c").unwrap().get(&v),
            Some(&json!(2))
        );
        assert_eq!(
            FieldPath::parse("custom_fields[label=Seg].value")
                .unwrap()
                .get(&v),
            Some(&json!("x"))
        );
        assert_eq!(FieldPath::parse("a.x").unwrap().get(&v), None);
    }

    #[test]
    fn rejects_bad_paths() {
        for bad in ["", "a..b", "a.", ".a", "a[", "a[x]", "a]", "a[0]b", "[0]"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }
}
