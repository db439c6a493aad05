//! COQL: `POST /crm/{v}/coql` with
//! `{"select_query": "select a, b from Module where … order by … limit o, n"}`.
//!
//! Supported: field lists (with one level of lookup dot notation), `where`
//! with `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, `like`, `not like`, `in`,
//! `not in`, `is null`, `is not null`, `between`, `and`, `or` and brackets;
//! `order by` several fields; `limit n`, `limit offset, n`, `limit n offset m`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::metadata::{DataType, ModuleDef};
use super::{CrmRecord, CrmState, def};
use crate::app::{AppRef, reply};
use crate::clock;
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(f64),
    Op(String),
    LParen,
    RParen,
    Comma,
    Star,
}

fn syntax(clause: &str, near: &str) -> ApiError {
    ApiError::crm(
        400,
        "SYNTAX_ERROR",
        "error occured while parsing the query",
        json!({"clause": clause, "near": near}),
    )
}

fn lex(s: &str) -> Result<Vec<Tok>, ApiError> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if ch == '*' {
            out.push(Tok::Star);
            i += 1;
        } else if ch == '\'' {
            let mut v = String::new();
            i += 1;
            loop {
                if i >= c.len() {
                    return Err(syntax("where", "unterminated string"));
                }
                if c[i] == '\\' && i + 1 < c.len() {
                    v.push(c[i + 1]);
                    i += 2;
                } else if c[i] == '\'' && i + 1 < c.len() && c[i + 1] == '\'' {
                    v.push('\'');
                    i += 2;
                } else if c[i] == '\'' {
                    i += 1;
                    break;
                } else {
                    v.push(c[i]);
                    i += 1;
                }
            }
            out.push(Tok::Str(v));
        } else if "=!<>".contains(ch) {
            let mut op = ch.to_string();
            if i + 1 < c.len() && "=>".contains(c[i + 1]) {
                op.push(c[i + 1]);
                i += 1;
            }
            i += 1;
            out.push(Tok::Op(op));
        } else if ch.is_ascii_digit() || (ch == '-' && i + 1 < c.len() && c[i + 1].is_ascii_digit())
        {
            let st = i;
            i += 1;
            while i < c.len() && (c[i].is_ascii_digit() || c[i] == '.') {
                i += 1;
            }
            let t: String = c[st..i].iter().collect();
            out.push(Tok::Num(t.parse().map_err(|_| syntax("where", &t))?));
        } else if ch.is_alphanumeric() || ch == '_' || ch == '$' {
            let st = i;
            while i < c.len()
                && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '.' || c[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Word(c[st..i].iter().collect()));
        } else {
            return Err(syntax("select", &ch.to_string()));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Val {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone)]
enum Cmp {
    Op(String, Val),
    Like(bool, String),
    In(bool, Vec<Val>),
    IsNull(bool),
    Between(Val, Val),
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Cond(String, Cmp),
}

/// A parsed query.
#[derive(Debug, Clone)]
struct Query {
    fields: Vec<String>,
    module: String,
    filter: Option<Expr>,
    order: Vec<(String, bool)>,
    offset: usize,
    limit: usize,
}

struct P {
    t: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn kw(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }
    fn eat_kw(&mut self, w: &str) -> bool {
        if self.kw(w) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn word(&mut self, clause: &str) -> Result<String, ApiError> {
        match self.t.get(self.i).cloned() {
            Some(Tok::Word(w)) => {
                self.i += 1;
                Ok(w)
            }
            other => Err(syntax(clause, &format!("{other:?}"))),
        }
    }
    fn num(&mut self, clause: &str) -> Result<usize, ApiError> {
        match self.t.get(self.i).cloned() {
            Some(Tok::Num(n)) if n >= 0.0 => {
                self.i += 1;
                Ok(n as usize)
            }
            other => Err(syntax(clause, &format!("{other:?}"))),
        }
    }
    fn value(&mut self) -> Result<Val, ApiError> {
        let v = match self.t.get(self.i).cloned() {
            Some(Tok::Str(s)) => Val::Str(s),
            Some(Tok::Num(n)) => Val::Num(n),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Val::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Val::Bool(false),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("null") => Val::Null,
            other => return Err(syntax("where", &format!("{other:?}"))),
        };
        self.i += 1;
        Ok(v)
    }
    fn or(&mut self) -> Result<Expr, ApiError> {
        let mut v = vec![self.and()?];
        while self.eat_kw("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::Or(v)
        })
    }
    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut v = vec![self.atom()?];
        while self.eat_kw("and") {
            v.push(self.atom()?);
        }
        Ok(if v.len() == 1 {
            v.pop().unwrap()
        } else {
            Expr::And(v)
        })
    }
    fn atom(&mut self) -> Result<Expr, ApiError> {
        if self.peek() == Some(&Tok::LParen) {
            self.i += 1;
            let e = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(syntax("where", "missing )"));
            }
            self.i += 1;
            return Ok(e);
        }
        let field = self.word("where")?;
        let cmp = if let Some(Tok::Op(op)) = self.peek().cloned() {
            self.i += 1;
            let op = if op == "<>" { "!=".to_string() } else { op };
            if !["=", "!=", "<", "<=", ">", ">="].contains(&op.as_str()) {
                return Err(syntax("where", &op));
            }
            Cmp::Op(op, self.value()?)
        } else if self.eat_kw("is") {
            let not = self.eat_kw("not");
            if !self.eat_kw("null") {
                return Err(syntax("where", "is"));
            }
            Cmp::IsNull(!not)
        } else if self.eat_kw("between") {
            let a = self.value()?;
            if !self.eat_kw("and") {
                return Err(syntax("where", "between"));
            }
            Cmp::Between(a, self.value()?)
        } else {
            let not = self.eat_kw("not");
            if self.eat_kw("like") {
                match self.value()? {
                    Val::Str(s) => Cmp::Like(not, s),
                    _ => return Err(syntax("where", "like")),
                }
            } else if self.eat_kw("in") {
                if self.peek() != Some(&Tok::LParen) {
                    return Err(syntax("where", "in"));
                }
                self.i += 1;
                let mut vals = vec![self.value()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.i += 1;
                    vals.push(self.value()?);
                }
                if self.peek() != Some(&Tok::RParen) {
                    return Err(syntax("where", "in"));
                }
                self.i += 1;
                Cmp::In(not, vals)
            } else {
                return Err(syntax("where", &field));
            }
        };
        Ok(Expr::Cond(field, cmp))
    }
}

fn parse(q: &str) -> Result<Query, ApiError> {
    let mut p = P { t: lex(q)?, i: 0 };
    if !p.eat_kw("select") {
        return Err(syntax("select", "select"));
    }
    let mut fields = Vec::new();
    loop {
        if p.peek() == Some(&Tok::Star) {
            return Err(syntax("select", "*"));
        }
        fields.push(p.word("select")?);
        if p.peek() == Some(&Tok::Comma) {
            p.i += 1;
        } else {
            break;
        }
    }
    if !p.eat_kw("from") {
        return Err(syntax("from", "from"));
    }
    let module = p.word("from")?;
    let filter = if p.eat_kw("where") {
        Some(p.or()?)
    } else {
        None
    };
    let mut order = Vec::new();
    if p.eat_kw("order") {
        if !p.eat_kw("by") {
            return Err(syntax("order by", "order"));
        }
        loop {
            let f = p.word("order by")?;
            let desc = if p.eat_kw("desc") {
                true
            } else {
                p.eat_kw("asc");
                false
            };
            order.push((f, desc));
            if p.peek() == Some(&Tok::Comma) {
                p.i += 1;
            } else {
                break;
            }
        }
    }
    let (mut offset, mut limit) = (0, 200);
    if p.eat_kw("limit") {
        let a = p.num("limit")?;
        if p.peek() == Some(&Tok::Comma) {
            p.i += 1;
            offset = a;
            limit = p.num("limit")?;
        } else {
            limit = a;
            if p.eat_kw("offset") {
                offset = p.num("limit")?;
            }
        }
    }
    if p.i != p.t.len() {
        return Err(syntax("limit", &format!("{:?}", p.t[p.i])));
    }
    Ok(Query {
        fields,
        module,
        filter,
        order,
        offset,
        limit,
    })
}

fn check_field(d: &ModuleDef, f: &str, clause: &str) -> Result<(), ApiError> {
    let base = f.split('.').next().unwrap_or(f);
    if base == "id" || d.field(base).is_some() {
        return Ok(());
    }
    Err(ApiError::crm(
        400,
        "INVALID_QUERY",
        "invalid column given",
        json!({"column_name": f, "clause": clause}),
    ))
}

fn check_expr(d: &ModuleDef, e: &Expr) -> Result<(), ApiError> {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().try_for_each(|e| check_expr(d, e)),
        Expr::Cond(f, _) => check_field(d, f, "where"),
    }
}

/// The value of `field` (with `Lookup.Field` notation) and its data type.
fn resolve(crm: &CrmState, d: &ModuleDef, r: &CrmRecord, field: &str) -> (Value, Option<DataType>) {
    if field == "id" {
        return (json!(r.id.to_string()), Some(DataType::BigInt));
    }
    let (base, sub) = match field.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (field, None),
    };
    let fd = d.field(base);
    let v = r.data.get(base).cloned().unwrap_or(Value::Null);
    match (sub, fd) {
        (None, Some(fd)) if fd.data_type == DataType::Lookup => (
            v.get("id")
                .map(|id| json!({"id": id}))
                .unwrap_or(Value::Null),
            Some(DataType::Lookup),
        ),
        (None, fd) => (v, fd.map(|f| f.data_type)),
        (Some("id"), _) => (
            v.get("id").cloned().unwrap_or(Value::Null),
            Some(DataType::BigInt),
        ),
        (Some(sub), Some(fd)) => {
            let target = fd.lookup.and_then(def);
            let id = v
                .get("id")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<u64>().ok());
            match (target, id) {
                (Some(t), Some(id)) => {
                    match crm.modules.get(t.api_name).and_then(|m| m.records.get(&id)) {
                        Some(tr) => resolve(crm, t, tr, sub),
                        None => (Value::Null, None),
                    }
                }
                _ => (v.get(sub).cloned().unwrap_or(Value::Null), None),
            }
        }
        _ => (Value::Null, None),
    }
}

#[derive(PartialEq, PartialOrd, Debug)]
enum K {
    N(f64),
    S(String),
}

fn key(v: &Value, dt: Option<DataType>) -> Option<K> {
    match (v, dt) {
        (Value::Null, _) => None,
        (Value::String(s), Some(DataType::Date)) => clock::parse_date(s).map(|d| K::N(d as f64)),
        (Value::String(s), Some(DataType::DateTime)) => {
            clock::parse_datetime(s).map(|t| K::N((t / 1000) as f64))
        }
        (Value::String(s), Some(DataType::BigInt)) => s.parse().ok().map(K::N),
        (Value::String(s), _) => Some(K::S(s.to_lowercase())),
        (Value::Number(n), _) => n.as_f64().map(K::N),
        (Value::Bool(b), _) => Some(K::S(b.to_string())),
        (Value::Object(o), _) => o
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .map(K::N),
        (Value::Array(a), _) => Some(K::S(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(";")
                .to_lowercase(),
        )),
    }
}

fn vkey(v: &Val, dt: Option<DataType>) -> Option<K> {
    match v {
        Val::Null => None,
        Val::Num(n) => Some(K::N(*n)),
        Val::Bool(b) => Some(K::S(b.to_string())),
        Val::Str(s) => key(&json!(s), dt),
    }
}

fn eval(crm: &CrmState, d: &ModuleDef, r: &CrmRecord, e: &Expr) -> bool {
    match e {
        Expr::And(v) => v.iter().all(|e| eval(crm, d, r, e)),
        Expr::Or(v) => v.iter().any(|e| eval(crm, d, r, e)),
        Expr::Cond(f, c) => {
            let (v, dt) = resolve(crm, d, r, f);
            let k = key(&v, dt);
            match c {
                Cmp::IsNull(want_null) => k.is_none() == *want_null,
                Cmp::Op(op, val) => {
                    let t = vkey(val, dt);
                    match op.as_str() {
                        "=" => k.is_some() && k == t,
                        "!=" => k != t,
                        _ if k.is_none() || t.is_none() => false,
                        "<" => k < t,
                        "<=" => k <= t,
                        ">" => k > t,
                        _ => k >= t,
                    }
                }
                Cmp::Between(a, b) => k.is_some() && k >= vkey(a, dt) && k <= vkey(b, dt),
                Cmp::In(not, vals) => vals.iter().any(|x| k.is_some() && vkey(x, dt) == k) != *not,
                Cmp::Like(not, pat) => {
                    let s = match &k {
                        Some(K::S(s)) => s.clone(),
                        _ => return *not,
                    };
                    let p = pat.to_lowercase();
                    let hit = match (p.starts_with('%'), p.ends_with('%') && p.len() > 1) {
                        (true, true) => s.contains(&p[1..p.len() - 1]),
                        (true, false) => s.ends_with(&p[1..]),
                        (false, true) => s.starts_with(&p[..p.len() - 1]),
                        (false, false) => s == p,
                    };
                    hit != *not
                }
            }
        }
    }
}

/// `POST /crm/{v}/coql`.
pub async fn coql(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    super::records::version(&ver)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::crm(400, "INVALID_DATA", "body", json!({})))?;
    let text = v
        .get("select_query")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ApiError::crm(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                json!({"param_name": "select_query"}),
            )
        })?;
    let q = parse(text)?;
    let d = def(&q.module).ok_or_else(|| {
        ApiError::crm(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"module": q.module}),
        )
    })?;
    for f in &q.fields {
        check_field(d, f, "select")?;
    }
    if q.fields.len() > 50 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "select columns limit exceeded",
            json!({"limit": 50}),
        ));
    }
    for (f, _) in &q.order {
        check_field(d, f, "order by")?;
    }
    if let Some(e) = &q.filter {
        check_expr(d, e)?;
    }
    if q.limit > 2000 || q.limit == 0 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "limit exceeded",
            json!({"clause": "limit", "limit": 2000}),
        ));
    }
    if q.offset + q.limit > 100_000 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "offset exceeded",
            json!({"clause": "limit", "limit": 100_000}),
        ));
    }
    let include_fields_meta = v
        .get("include_meta")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|x| x == "fields"));
    let body = app.read(|st| {
        let crm = &st.crm;
        let store = crm.module(d);
        let mut hits: Vec<&CrmRecord> = store.records.values().filter(|r| q.filter.as_ref().is_none_or(|e| eval(crm, d, r, e))).collect();
        if !q.order.is_empty() {
            hits.sort_by(|a, b| {
                for (f, desc) in &q.order {
                    let (va, dt) = resolve(crm, d, a, f);
                    let (vb, _) = resolve(crm, d, b, f);
                    let o = key(&va, dt).partial_cmp(&key(&vb, dt)).unwrap_or(std::cmp::Ordering::Equal);
                    let o = if *desc { o.reverse() } else { o };
                    if o != std::cmp::Ordering::Equal {
                        return o;
                    }
                }
                a.id.cmp(&b.id)
            });
        }
        let more = hits.len() > q.offset + q.limit;
        let rows: Vec<Value> = hits
            .iter()
            .skip(q.offset)
            .take(q.limit)
            .map(|r| {
                let mut m = Map::new();
                for f in &q.fields {
                    m.insert(f.clone(), resolve(crm, d, r, f).0);
                }
                m.insert("id".into(), json!(r.id.to_string()));
                Value::Object(m)
            })
            .collect();
        if rows.is_empty() {
            return None;
        }
        let mut out = json!({"data": rows, "info": {"count": rows.len(), "more_records": more}});
        if include_fields_meta {
            let mut meta = Map::new();
            for f in &q.fields {
                let base = f.split('.').next().unwrap_or(f);
                if let Some(fd) = d.field(base) {
                    meta.insert(f.clone(), json!({"api_name": fd.api_name, "data_type": fd.data_type.name(), "json_type": fd.data_type.json_type(), "field_label": fd.label}));
                }
            }
            out["fields"] = Value::Object(meta);
        }
        Some(out)
    });
    match body {
        Some(b) => Ok(reply(200, b, &permit)),
        None => Err(ApiError::empty(204)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let q = parse("select Last_Name, Account_Name.Account_Name from Contacts where (Last_Name = 'O''Brien' or Email like '%@x.com') and Created_Time between '2024-01-01T00:00:00+00:00' and '2025-01-01T00:00:00+00:00' order by Last_Name desc, id limit 10, 5").unwrap();
        assert_eq!(q.fields.len(), 2);
        assert_eq!(q.offset, 10);
        assert_eq!(q.limit, 5);
        assert_eq!(
            q.order,
            vec![("Last_Name".to_string(), true), ("id".to_string(), false)]
        );
        assert!(parse("select * from Leads").is_err());
        assert!(parse("select a from").is_err());
        let q = parse("SELECT a FROM Leads WHERE b is not null LIMIT 5 OFFSET 20").unwrap();
        assert_eq!((q.offset, q.limit), (20, 5));
    }
}
