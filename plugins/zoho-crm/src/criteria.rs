//! `find` criteria → CRM search criteria, and the exact-match check applied
//! to what search returns.
//!
//! CRM's grammar is `((Field:equals:value)and(Field:equals:value))`. In a
//! value, `(`, `)` and `,` must be escaped with a backslash (Zoho's search
//! rules); a backslash is escaped too, so a value ending in one cannot
//! escape the closing parenthesis.

use ferry_plugin_sdk::prelude::*;

/// CRM accepts at most this many conditions in one criteria.
pub const MAX_CONDITIONS: usize = 10;

/// Escape one value for a criteria condition.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '(' | ')' | ',' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text CRM should compare a criteria value with.
fn value_text(field: &str, v: &Value) -> Result<String, ConnectorError> {
    Ok(match v {
        Value::String(s) if s.is_empty() => "${EMPTY}".into(),
        Value::String(s) => escape(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "${EMPTY}".into(),
        // A lookup (`{"id": …, "name": …}`) is matched by its id.
        Value::Object(o) => match o.get("id") {
            Some(Value::String(id)) => escape(id),
            Some(Value::Number(id)) => id.to_string(),
            _ => {
                return Err(ConnectorError::invalid(
                    field,
                    "a lookup criterion needs an `id`",
                ));
            }
        },
        Value::Array(_) => {
            return Err(ConnectorError::invalid(
                field,
                "lists are not supported in find criteria",
            ));
        }
    })
}

/// Build the search criteria for "every field equals its value".
pub fn build(criteria: &Record) -> Result<String, ConnectorError> {
    if criteria.is_empty() {
        return Err(ConnectorError::invalid(
            "",
            "find needs at least one criterion",
        ));
    }
    if criteria.len() > MAX_CONDITIONS {
        return Err(ConnectorError::invalid(
            "",
            format!("Zoho CRM search takes at most {MAX_CONDITIONS} criteria"),
        ));
    }
    let conds = criteria
        .iter()
        .map(|(field, v)| Ok(format!("({field}:equals:{})", value_text(field, v)?)))
        .collect::<Result<Vec<_>, ConnectorError>>()?;
    Ok(if conds.len() == 1 {
        conds.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", conds.join("and"))
    })
}

/// Whether `record` really has every criteria value. CRM's `equals` can
/// behave like "contains" on text, so search results are checked again.
pub fn matches(record: &Record, criteria: &Record) -> bool {
    criteria
        .iter()
        .all(|(field, want)| same(record.get(field).unwrap_or(&Value::Null), want))
}

fn same(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Null, Value::Null) => true,
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        (Value::Object(h), Value::Object(w)) => match w.get("id") {
            Some(id) => h.get("id").is_some_and(|hid| same(hid, id)),
            None => false,
        },
        // A lookup compared with text: its id or its name.
        (Value::Object(h), w) => {
            h.get("id").is_some_and(|id| same(id, w)) || h.get("name").is_some_and(|n| same(n, w))
        }
        (Value::String(h), Value::String(w)) => h.to_lowercase() == w.to_lowercase(),
        (Value::Number(h), Value::Number(w)) => h.as_f64() == w.as_f64(),
        (Value::Number(h), Value::String(w)) | (Value::String(w), Value::Number(h)) => {
            w.trim().parse::<f64>().ok() == h.as_f64()
        }
        (Value::Bool(h), Value::String(w)) | (Value::String(w), Value::Bool(h)) => {
            w.eq_ignore_ascii_case(&h.to_string())
        }
        (h, w) => h == w,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(v: Value) -> Record {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn values_are_escaped_per_zoho_rules() {
        assert_eq!(
            escape(r"Smith, Jones (UK) \ Co"),
            r"Smith\, Jones \(UK\) \\ Co"
        );
        let c = build(&rec(json!({"Account_Name": "A (B), C", "Employees": 12}))).unwrap();
        assert_eq!(
            c,
            r"((Account_Name:equals:A \(B\)\, C)and(Employees:equals:12))"
        );
        let single = build(&rec(json!({"Email": "x@y.z"}))).unwrap();
        assert_eq!(single, "(Email:equals:x@y.z)");
        let lookup = build(&rec(json!({"Account_Name": {"id": "57", "name": "Acme"}}))).unwrap();
        assert_eq!(lookup, "(Account_Name:equals:57)");
        assert_eq!(
            build(&rec(json!({"Phone": null}))).unwrap(),
            "(Phone:equals:${EMPTY})"
        );
        assert!(build(&Record::new()).is_err());
        assert!(build(&rec(json!({"Tag": ["a"]}))).is_err());
    }

    #[test]
    fn results_are_checked_for_exact_equality() {
        let r = rec(
            json!({"Account_Name": "Acme Corp", "Employees": 12, "Parent_Account": {"id": "5", "name": "Holding"}, "Phone": null}),
        );
        assert!(matches(&r, &rec(json!({"Account_Name": "acme corp"}))));
        assert!(!matches(&r, &rec(json!({"Account_Name": "Acme"}))));
        assert!(matches(&r, &rec(json!({"Employees": "12", "Phone": ""}))));
        assert!(matches(&r, &rec(json!({"Parent_Account": {"id": "5"}}))));
        assert!(matches(&r, &rec(json!({"Parent_Account": "Holding"}))));
        assert!(!matches(&r, &rec(json!({"Parent_Account": {"id": "6"}}))));
    }
}
