//! Type coercion between vendor formats: numbers as strings, booleans,
//! dates, and date-times in CRM (`+00:00`) or finance (`+0530`) style.

use std::borrow::Cow;

use serde_json::Value as Json;

use crate::config::{DatetimeStyle, ValueType};
use crate::connector::FieldKind;

use super::expr::{format_compact, format_pattern, format_rfc3339, parse_datetime, parse_number};

/// What a value is turned into before it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coerce {
    /// Left as it is.
    None,
    Text,
    Integer,
    Decimal,
    Boolean,
    /// `YYYY-MM-DD`.
    Date,
    /// A date-time in the target connector's style.
    Datetime(DatetimeStyle),
}

impl Coerce {
    /// From an explicit `type:`.
    pub fn from_type(t: ValueType, style: &DatetimeStyle) -> Coerce {
        match t {
            ValueType::Text => Coerce::Text,
            ValueType::Integer => Coerce::Integer,
            ValueType::Decimal => Coerce::Decimal,
            ValueType::Boolean => Coerce::Boolean,
            ValueType::Date => Coerce::Date,
            ValueType::Datetime => Coerce::Datetime(style.clone()),
            ValueType::Any => Coerce::None,
        }
    }

    /// From the target field's kind as described by its connector.
    pub fn from_kind(k: FieldKind, style: &DatetimeStyle) -> Coerce {
        match k {
            FieldKind::Text
            | FieldKind::LongText
            | FieldKind::Email
            | FieldKind::Phone
            | FieldKind::Url
            | FieldKind::Picklist => Coerce::Text,
            FieldKind::Integer => Coerce::Integer,
            FieldKind::Decimal | FieldKind::Currency | FieldKind::Percent => Coerce::Decimal,
            FieldKind::Boolean => Coerce::Boolean,
            FieldKind::Date => Coerce::Date,
            FieldKind::Datetime => Coerce::Datetime(style.clone()),
            FieldKind::MultiPicklist
            | FieldKind::Lookup
            | FieldKind::Object
            | FieldKind::List
            | FieldKind::Other => Coerce::None,
        }
    }

    /// Convert `v`; null stays null. The error says why, for one record.
    pub fn apply(&self, v: Json) -> Result<Json, String> {
        let mut v = Cow::Owned(v);
        self.convert(&mut v)?;
        Ok(v.into_owned())
    }

    /// [`Coerce::apply`] in place, on a value that may be borrowed from
    /// the source record: values that pass unchanged are not copied (nor
    /// moved: this runs per record and field).
    pub fn convert(&self, v: &mut Cow<'_, Json>) -> Result<(), String> {
        if let Some(new) = self.converted(v)? {
            *v = Cow::Owned(new);
        }
        Ok(())
    }

    /// The converted value, or `None` when `v` passes as it is.
    fn converted(&self, v: &Json) -> Result<Option<Json>, String> {
        if v.is_null() {
            return Ok(None);
        }
        let new = |j: Json| Ok(Some(j));
        match self {
            Coerce::None => Ok(None),
            Coerce::Text => match v {
                Json::String(_) | Json::Null => Ok(None),
                Json::Number(n) => new(Json::String(n.to_string())),
                Json::Bool(b) => new(Json::String(b.to_string())),
                Json::Object(m) => match m.get("name").and_then(Json::as_str) {
                    // A CRM lookup ({name, id}) read as text: its name.
                    Some(name) if m.contains_key("id") => new(Json::String(name.to_owned())),
                    _ => Err(format!(
                        "{} cannot become text (map one of its fields, e.g. `.name`)",
                        short(v)
                    )),
                },
                Json::Array(_) => Err(format!("the list {} cannot become text", short(v))),
            },
            Coerce::Integer => {
                let f = number_of(v).ok_or_else(|| format!("{} is not a number", short(v)))?;
                if f.fract() != 0.0 || f.abs() > 9.0e15 {
                    return Err(format!("{} is not a whole number", short(v)));
                }
                new(Json::from(f as i64))
            }
            Coerce::Decimal => {
                if let Json::Number(_) = v {
                    return Ok(None);
                }
                let f = number_of(v).ok_or_else(|| format!("{} is not a number", short(v)))?;
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    return new(Json::from(f as i64));
                }
                serde_json::Number::from_f64(f)
                    .map(|n| Some(Json::Number(n)))
                    .ok_or_else(|| format!("{} is not a finite number", short(v)))
            }
            Coerce::Boolean => match v {
                Json::Bool(_) => Ok(None),
                Json::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "1" | "on" => new(Json::Bool(true)),
                    "false" | "no" | "0" | "off" | "" => new(Json::Bool(false)),
                    _ => Err(format!("{} is not true or false", short(v))),
                },
                Json::Number(n) if n.as_f64() == Some(0.0) => new(Json::Bool(false)),
                Json::Number(n) if n.as_f64() == Some(1.0) => new(Json::Bool(true)),
                _ => Err(format!("{} is not true or false", short(v))),
            },
            Coerce::Date => {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("{} is not a date", short(v)))?;
                if s.is_empty() {
                    return new(Json::Null);
                }
                let t = parse_datetime(s).ok_or_else(|| format!("`{s}` is not a date"))?;
                new(Json::String(t.format("%Y-%m-%d").to_string()))
            }
            Coerce::Datetime(style) => {
                let s = v
                    .as_str()
                    .ok_or_else(|| format!("{} is not a date-time", short(v)))?;
                if s.is_empty() {
                    return new(Json::Null);
                }
                let t = parse_datetime(s).ok_or_else(|| format!("`{s}` is not a date-time"))?;
                new(Json::String(match style {
                    DatetimeStyle::Rfc3339 => format_rfc3339(&t),
                    DatetimeStyle::Compact => format_compact(&t),
                    DatetimeStyle::Custom(p) => format_pattern(&t, p)
                        .ok_or_else(|| format!("bad datetime pattern `{p}`"))?,
                }))
            }
        }
    }
}

fn number_of(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => parse_number(s),
        _ => None,
    }
}

/// A value shortened for messages.
pub fn short(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn vendor_datetimes() {
        let books = Coerce::Datetime(DatetimeStyle::Compact);
        let crm = Coerce::Datetime(DatetimeStyle::Rfc3339);
        assert_eq!(
            books.apply(json!("2023-10-15T10:30:00+00:00")).unwrap(),
            json!("2023-10-15T10:30:00+0000")
        );
        assert_eq!(
            crm.apply(json!("2013-10-07T18:24:51+0530")).unwrap(),
            json!("2013-10-07T18:24:51+05:30")
        );
        assert_eq!(
            Coerce::Date
                .apply(json!("2013-10-07T18:24:51+0530"))
                .unwrap(),
            json!("2013-10-07")
        );
        assert!(crm.apply(json!("yesterday")).is_err());
    }

    #[test]
    fn numbers_and_text() {
        assert_eq!(
            Coerce::Decimal.apply(json!("1,234.50")).unwrap(),
            json!(1234.5)
        );
        assert_eq!(Coerce::Decimal.apply(json!("12")).unwrap(), json!(12));
        assert_eq!(Coerce::Integer.apply(json!("7")).unwrap(), json!(7));
        assert!(Coerce::Integer.apply(json!("7.5")).is_err());
        assert_eq!(
            Coerce::Text.apply(json!(10234695)).unwrap(),
            json!("10234695")
        );
        assert_eq!(
            Coerce::Text
                .apply(json!({"name": "Acme", "id": "1"}))
                .unwrap(),
            json!("Acme")
        );
        assert_eq!(Coerce::Boolean.apply(json!("yes")).unwrap(), json!(true));
    }
}
