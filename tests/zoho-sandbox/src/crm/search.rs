//! The CRM search criteria grammar:
//! `((Field:operator:value) and ((Field:operator:value) or (…)))`, with
//! `\(`, `\)` and `\,` escapes, and matching records against it.

use serde_json::{Value, json};

use super::CrmRecord;
use super::metadata::{DataType, ModuleDef};
use crate::clock;
use crate::error::ApiError;

/// A parsed criteria expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Criteria {
    Cond {
        field: String,
        op: Op,
        values: Vec<String>,
    },
    And(Vec<Criteria>),
    Or(Vec<Criteria>),
}

/// Search operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Equals,
    NotEqual,
    StartsWith,
    In,
    NotIn,
    GreaterThan,
    GreaterEqual,
    LessThan,
    LessEqual,
    Between,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "equals" => Op::Equals,
            "not_equal" => Op::NotEqual,
            "starts_with" => Op::StartsWith,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "greater_than" => Op::GreaterThan,
            "greater_equal" => Op::GreaterEqual,
            "less_than" => Op::LessThan,
            "less_equal" => Op::LessEqual,
            "between" => Op::Between,
            _ => return None,
        })
    }
}

fn invalid_query(reason: &str) -> ApiError {
    ApiError::crm(
        400,
        "INVALID_QUERY",
        "Invalid query formed",
        json!({"reason": reason}),
    )
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    conds: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn expr(&mut self) -> Result<Criteria, ApiError> {
        let first = self.group()?;
        let mut ands = vec![first];
        let mut ors: Vec<Criteria> = Vec::new();
        loop {
            self.ws();
            let rest = &self.s[self.i..];
            let word = if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"and") {
                3
            } else if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case(b"or") {
                2
            } else {
                break;
            };
            self.i += word;
            let next = self.group()?;
            if word == 2 {
                let done = std::mem::take(&mut ands);
                ors.push(if done.len() == 1 {
                    done.into_iter().next().unwrap()
                } else {
                    Criteria::And(done)
                });
            }
            ands.push(next);
        }
        let last = if ands.len() == 1 {
            ands.pop().unwrap()
        } else {
            Criteria::And(ands)
        };
        if ors.is_empty() {
            Ok(last)
        } else {
            ors.push(last);
            Ok(Criteria::Or(ors))
        }
    }

    fn group(&mut self) -> Result<Criteria, ApiError> {
        self.ws();
        if self.s.get(self.i) != Some(&b'(') {
            return Err(invalid_query("expected ("));
        }
        self.i += 1;
        self.ws();
        if self.s.get(self.i) == Some(&b'(') {
            let e = self.expr()?;
            self.ws();
            if self.s.get(self.i) != Some(&b')') {
                return Err(invalid_query("expected )"));
            }
            self.i += 1;
            return Ok(e);
        }
        // A condition: raw text up to the first unescaped ')'.
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != b')' {
            if self.s[self.i] == b'\\' {
                self.i += 1;
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err(invalid_query("expected )"));
        }
        let raw = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        self.conds += 1;
        cond(&raw)
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            if let Some(n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut esc = false;
    for c in s.chars() {
        if esc {
            cur.push('\\');
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    parts
}

fn cond(raw: &str) -> Result<Criteria, ApiError> {
    let mut it = raw.splitn(3, ':');
    let field = it.next().unwrap_or("").trim().to_string();
    let op_s = it
        .next()
        .ok_or_else(|| invalid_query("operator missing"))?
        .trim();
    let value = it.next().ok_or_else(|| invalid_query("value missing"))?;
    let op = Op::parse(op_s).ok_or_else(|| {
        ApiError::crm(
            400,
            "INVALID_QUERY",
            "Invalid query formed",
            json!({"reason": "invalid operator found", "api_name": field, "operator": op_s}),
        )
    })?;
    let values: Vec<String> = match op {
        Op::In | Op::NotIn | Op::Between => split_unescaped(value, ',')
            .iter()
            .map(|v| unescape(v.trim()))
            .collect(),
        _ => vec![unescape(value)],
    };
    if op == Op::Between && values.len() != 2 {
        return Err(invalid_query("between needs two values"));
    }
    if values.len() > 100 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "the number of values exceeds the limit",
            json!({"api_name": field, "limit": 100}),
        ));
    }
    Ok(Criteria::Cond { field, op, values })
}

/// Parse a criteria string.
pub fn parse(s: &str) -> Result<Criteria, ApiError> {
    let mut p = Parser {
        s: s.trim().as_bytes(),
        i: 0,
        conds: 0,
    };
    let e = p.expr()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(invalid_query("unexpected text after criteria"));
    }
    if p.conds > 10 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "criteria limit exceeded",
            json!({"limit": 10}),
        ));
    }
    Ok(e)
}

/// Check every field of the criteria exists and supports the operator.
pub fn validate(c: &Criteria, def: &ModuleDef) -> Result<(), ApiError> {
    match c {
        Criteria::And(v) | Criteria::Or(v) => v.iter().try_for_each(|c| validate(c, def)),
        Criteria::Cond { field, op, .. } => {
            let base = field.split('.').next().unwrap_or("");
            if base == "id" {
                return Ok(());
            }
            let Some(fd) = def.field(base) else {
                return Err(ApiError::crm(
                    400,
                    "INVALID_QUERY",
                    "Invalid query formed",
                    json!({"reason": "invalid field found", "api_name": field}),
                ));
            };
            let ordered = matches!(
                op,
                Op::GreaterThan | Op::GreaterEqual | Op::LessThan | Op::LessEqual | Op::Between
            );
            let comparable = fd.data_type.is_numeric()
                || matches!(fd.data_type, DataType::Date | DataType::DateTime);
            if ordered && !comparable {
                return Err(ApiError::crm(
                    400,
                    "INVALID_QUERY",
                    "Invalid query formed",
                    json!({"reason": "invalid operator found", "api_name": field, "operator": format!("{op:?}").to_lowercase()}),
                ));
            }
            Ok(())
        }
    }
}

/// A comparable form of a stored value.
#[derive(Debug, PartialEq, PartialOrd)]
enum Key {
    Num(f64),
    Text(String),
}

fn key_of(dt: Option<DataType>, v: &Value) -> Option<Key> {
    match (dt, v) {
        (_, Value::Null) => None,
        (Some(DataType::Date), Value::String(s)) => {
            clock::parse_date(s).map(|d| Key::Num(d as f64))
        }
        (Some(DataType::DateTime), Value::String(s)) => {
            clock::parse_datetime(s).map(|d| Key::Num((d / 1000) as f64))
        }
        (_, Value::Number(n)) => n.as_f64().map(Key::Num),
        (_, Value::Bool(b)) => Some(Key::Text(b.to_string())),
        (_, Value::String(s)) => Some(Key::Text(s.to_lowercase())),
        (_, Value::Array(a)) => Some(Key::Text(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(";")
                .to_lowercase(),
        )),
        (_, Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .map(|s| Key::Text(s.to_lowercase())),
    }
}

fn key_of_text(dt: Option<DataType>, s: &str) -> Option<Key> {
    match dt {
        Some(DataType::Date) => clock::parse_date(s).map(|d| Key::Num(d as f64)),
        Some(DataType::DateTime) => clock::parse_datetime(s).map(|d| Key::Num((d / 1000) as f64)),
        Some(t) if t.is_numeric() => s.trim().parse().ok().map(Key::Num),
        _ => Some(Key::Text(s.to_lowercase())),
    }
}

/// Does the record match the criteria?
pub fn matches(c: &Criteria, def: &ModuleDef, r: &CrmRecord) -> bool {
    match c {
        Criteria::And(v) => v.iter().all(|c| matches(c, def, r)),
        Criteria::Or(v) => v.iter().any(|c| matches(c, def, r)),
        Criteria::Cond { field, op, values } => {
            let (base, sub) = field
                .split_once('.')
                .map(|(a, b)| (a, Some(b)))
                .unwrap_or((field.as_str(), None));
            let (dt, stored) = if base == "id" {
                (Some(DataType::BigInt), json!(r.id as f64))
            } else {
                let fd = def.field(base);
                let v = r.data.get(base).cloned().unwrap_or(Value::Null);
                match (fd.map(|f| f.data_type), sub, &v) {
                    (
                        Some(DataType::Lookup | DataType::OwnerLookup),
                        Some(sub),
                        Value::Object(o),
                    ) => (None, o.get(sub).cloned().unwrap_or(Value::Null)),
                    (Some(DataType::Lookup | DataType::OwnerLookup), None, Value::Object(o)) => {
                        // A lookup matches on its id or its name.
                        let id = o.get("id").cloned().unwrap_or(Value::Null);
                        let name = o.get("name").cloned().unwrap_or(Value::Null);
                        let hit = |v: &Value| {
                            values
                                .iter()
                                .any(|x| key_of(None, v) == key_of_text(None, x))
                        };
                        let any = hit(&id) || hit(&name);
                        return match op {
                            Op::NotEqual | Op::NotIn => !any,
                            _ => any,
                        };
                    }
                    (t, _, _) => (t, v),
                }
            };
            let empty_wanted = values.len() == 1 && values[0] == "${EMPTY}";
            let k = key_of(dt, &stored);
            if empty_wanted {
                let is_empty = k.is_none() || k == Some(Key::Text(String::new()));
                return match op {
                    Op::NotEqual => !is_empty,
                    _ => is_empty,
                };
            }
            let targets: Vec<Option<Key>> = values.iter().map(|v| key_of_text(dt, v)).collect();
            match op {
                Op::Equals | Op::In => k.is_some() && targets.contains(&k),
                Op::NotEqual | Op::NotIn => !targets.contains(&k),
                Op::StartsWith => match (&k, &targets[0]) {
                    (Some(Key::Text(a)), Some(Key::Text(b))) => a.starts_with(b.as_str()),
                    _ => false,
                },
                Op::GreaterThan => k.is_some() && targets[0].is_some() && k > targets[0],
                Op::GreaterEqual => k.is_some() && targets[0].is_some() && k >= targets[0],
                Op::LessThan => k.is_some() && targets[0].is_some() && k < targets[0],
                Op::LessEqual => k.is_some() && targets[0].is_some() && k <= targets[0],
                Op::Between => {
                    k.is_some()
                        && targets[0].is_some()
                        && targets[1].is_some()
                        && k >= targets[0]
                        && k <= targets[1]
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grammar() {
        let c = parse("((Last_Name:equals:Smith) and (Company:starts_with:Zoho\\, Inc\\)) or (Email:in:a@b.c,d@e.f))").unwrap();
        match c {
            Criteria::Or(v) => {
                assert_eq!(v.len(), 2);
                match &v[0] {
                    Criteria::And(a) => assert_eq!(
                        a[1],
                        Criteria::Cond {
                            field: "Company".into(),
                            op: Op::StartsWith,
                            values: vec!["Zoho, Inc)".into()]
                        }
                    ),
                    other => panic!("{other:?}"),
                }
                match &v[1] {
                    Criteria::Cond { values, .. } => assert_eq!(values.len(), 2),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        assert!(parse("(A:bogus:1)").is_err());
        assert!(parse("A:equals:1").is_err());
        assert!(parse("(Amount:between:1,5)").is_ok());
    }
}
