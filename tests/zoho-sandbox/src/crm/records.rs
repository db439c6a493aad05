//! CRM HTTP handlers: records (list, get, create, update, delete, upsert),
//! the deleted-records feed, search, count, and settings metadata.

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::metadata::{self, API_USER_ID, ModuleDef};
use super::search::{self, Criteria};
use super::{CrmRecord, ModuleStore, SortBy, WriteCtx, WriteMode, def, defs, render};
use crate::app::{App, AppRef, reply};
use crate::auth::fnv;
use crate::clock::{self, Millis};
use crate::error::ApiError;
use crate::limits::Permit;

type Q = Query<HashMap<String, String>>;

/// Maximum records reachable with `page` alone.
pub const DISCRETE_LIMIT: usize = 2000;
/// Maximum records reachable with `page_token`.
pub const TOKEN_LIMIT: usize = 100_000;
/// Lifetime of a page token.
pub const PAGE_TOKEN_TTL_MS: i64 = 24 * 3600 * 1000;

/// The API version in the path: `v2`, `v2.1`, `v3` … `v8`. Returns the major.
pub fn version(v: &str) -> Result<u32, ApiError> {
    let n = v
        .strip_prefix('v')
        .and_then(|s| s.split('.').next())
        .and_then(|s| s.parse::<u32>().ok());
    match n {
        Some(n) if (2..=8).contains(&n) => Ok(n),
        _ => Err(not_found_url()),
    }
}

pub fn not_found_url() -> ApiError {
    ApiError::crm(
        404,
        "INVALID_URL_PATTERN",
        "Please check if the URL trying to access is a correct one",
        json!({}),
    )
}

pub fn module(name: &str) -> Result<&'static ModuleDef, ApiError> {
    def(name).ok_or_else(|| {
        ApiError::crm(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"resource_path_index": 0}),
        )
    })
}

fn param_missing(name: &str) -> ApiError {
    ApiError::crm(
        400,
        "REQUIRED_PARAM_MISSING",
        "One of the expected parameter is missing",
        json!({"param_name": name}),
    )
}

fn int_param(
    q: &HashMap<String, String>,
    name: &str,
    default: usize,
    min: usize,
) -> Result<usize, ApiError> {
    match q.get(name) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= min => Ok(n),
            _ => Err(ApiError::crm_param(name)),
        },
    }
}

fn fields_param(q: &HashMap<String, String>, ver: u32) -> Result<Option<Vec<String>>, ApiError> {
    match q.get("fields") {
        Some(s) if !s.trim().is_empty() => Ok(Some(
            s.split(',')
                .map(|f| f.trim().to_string())
                .filter(|f| !f.is_empty())
                .collect(),
        )),
        _ if ver >= 8 => Err(param_missing("fields")),
        _ => Ok(None),
    }
}

fn if_modified_since(headers: &HeaderMap) -> Result<Option<Millis>, ApiError> {
    match headers
        .get("if-modified-since")
        .and_then(|v| v.to_str().ok())
    {
        None => Ok(None),
        Some(s) => clock::parse_datetime(s).map(Some).ok_or_else(|| {
            ApiError::crm(
                400,
                "INVALID_DATA",
                "invalid data",
                json!({"header_name": "If-Modified-Since"}),
            )
        }),
    }
}

/// Modified strictly after `since`, compared at second resolution like the
/// `Modified_Time` values clients see.
fn modified_after(r: &CrmRecord, since: Millis) -> bool {
    r.modified_ms.div_euclid(1000) > since.div_euclid(1000)
}

/// State carried by a page token.
#[derive(Debug, Clone, PartialEq)]
struct PageToken {
    sort: SortBy,
    desc: bool,
    ims: Option<Millis>,
    filter_hash: u64,
    after: (Millis, u64),
    offset: usize,
    expiry: Millis,
}

impl PageToken {
    fn encode(&self) -> String {
        let ims = self
            .ims
            .map(|t| format!("{t:x}"))
            .unwrap_or_else(|| "-".into());
        let body = format!(
            "{}{}.{}.{:x}.{:x}.{:x}.{:x}.{:x}",
            self.sort.code(),
            self.desc as u8,
            ims,
            self.filter_hash,
            self.after.0,
            self.after.1,
            self.offset,
            self.expiry
        );
        format!("{body}.{:x}", fnv(&body) & 0xffff_ffff)
    }

    fn decode(s: &str) -> Option<PageToken> {
        let (body, check) = s.rsplit_once('.')?;
        if format!("{:x}", fnv(body) & 0xffff_ffff) != check {
            return None;
        }
        let p: Vec<&str> = body.split('.').collect();
        if p.len() != 7 || p[0].len() != 2 {
            return None;
        }
        let hex = |s: &str| i64::from_str_radix(s, 16).ok();
        Some(PageToken {
            sort: SortBy::from_code(p[0].as_bytes()[0].wrapping_sub(b'0'))?,
            desc: p[0].as_bytes()[1] == b'1',
            ims: if p[1] == "-" { None } else { Some(hex(p[1])?) },
            filter_hash: u64::from_str_radix(p[2], 16).ok()?,
            after: (hex(p[3])?, u64::from_str_radix(p[4], 16).ok()?),
            offset: usize::from_str_radix(p[5], 16).ok()?,
            expiry: hex(p[6])?,
        })
    }
}

/// Filters of a listing.
struct Filter {
    ims: Option<Millis>,
    criteria: Option<Criteria>,
    ids: Option<HashSet<u64>>,
}

impl Filter {
    fn accepts(&self, def: &ModuleDef, r: &CrmRecord) -> bool {
        self.ims.is_none_or(|t| modified_after(r, t))
            && self.ids.as_ref().is_none_or(|ids| ids.contains(&r.id))
            && self
                .criteria
                .as_ref()
                .is_none_or(|c| search::matches(c, def, r))
    }
}

/// `GET /crm/{v}/{module}`.
pub async fn list(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let ver = version(&ver)?;
    let def = module(&module_name)?;
    let fields = fields_param(&q, ver)?;
    let per_page = int_param(&q, "per_page", 200, 1)?.min(200);
    let page = int_param(&q, "page", 1, 1)?;
    let now = app.now();
    let token = match q.get("page_token").filter(|s| !s.is_empty()) {
        None => None,
        Some(t) => {
            if t.len() > 96 {
                return Err(ApiError::crm_param("page_token"));
            }
            let tok = PageToken::decode(t).ok_or_else(|| ApiError::crm_param("page_token"))?;
            if tok.expiry <= now {
                return Err(ApiError::crm(
                    400,
                    "EXPIRED_VALUE",
                    "the given page_token has expired",
                    json!({"param_name": "page_token"}),
                ));
            }
            Some(tok)
        }
    };
    let sort = match q.get("sort_by") {
        None => None,
        Some(s) => Some(SortBy::parse(s).ok_or_else(|| ApiError::crm_param("sort_by"))?),
    };
    let desc = match q.get("sort_order").map(String::as_str) {
        None => None,
        Some("asc") => Some(false),
        Some("desc") => Some(true),
        Some(_) => return Err(ApiError::crm_param("sort_order")),
    };
    let ims = if_modified_since(&headers)?;
    let cvid = q.get("cvid").filter(|s| !s.is_empty()).cloned();
    let criteria = match &cvid {
        None => None,
        Some(id) => match metadata::view_criteria(def, id) {
            None => return Err(ApiError::crm_param("cvid")),
            Some(None) => None,
            Some(Some(text)) => Some(search::parse(&text)?),
        },
    };
    let ids: Option<HashSet<u64>> = match q.get("ids") {
        None => None,
        Some(s) => Some(
            s.split(',')
                .map(|x| {
                    x.trim()
                        .parse::<u64>()
                        .map_err(|_| ApiError::crm_param("ids"))
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    let filter_hash = fnv(&format!(
        "{}|{:?}|{}",
        cvid.as_deref().unwrap_or(""),
        ids.as_ref().map(|s| {
            let mut v: Vec<_> = s.iter().collect();
            v.sort();
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        }),
        module_name.to_lowercase()
    ));
    // Parameters bound into a token must not change.
    let (sort, desc, ims, after, offset) = match &token {
        Some(t) => {
            if sort.is_some_and(|s| s != t.sort)
                || desc.is_some_and(|d| d != t.desc)
                || (ims.is_some() && ims != t.ims)
                || t.filter_hash != filter_hash
            {
                return Err(ApiError::crm(
                    400,
                    "TOKEN_BOUND_DATA_MISMATCH",
                    "the given parameters do not match the page token",
                    json!({"param_name": "page_token"}),
                ));
            }
            (t.sort, t.desc, t.ims, Some(t.after), t.offset)
        }
        None => {
            if page * per_page > DISCRETE_LIMIT && (page - 1) * per_page >= DISCRETE_LIMIT {
                return Err(ApiError::crm(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "cannot fetch more than 2000 records using the page param. Use the page_token param instead.",
                    json!({"param_name": "page", "limit": DISCRETE_LIMIT}),
                ));
            }
            (
                sort.unwrap_or(SortBy::Id),
                desc.unwrap_or(true),
                ims,
                None,
                (page - 1) * per_page,
            )
        }
    };
    if token.is_some() && offset >= TOKEN_LIMIT {
        return Err(ApiError::crm(
            400,
            "PAGINATION_LIMIT_EXCEEDED",
            "cannot fetch more than 100000 records",
            json!({"limit": TOKEN_LIMIT}),
        ));
    }
    let limit = if token.is_some() {
        per_page.min(TOKEN_LIMIT - offset)
    } else {
        per_page.min(DISCRETE_LIMIT - offset)
    };
    let filter = Filter { ims, criteria, ids };
    let skip = if token.is_some() { 0 } else { offset };

    let body = app.read(|st| {
        let store = st.crm.module(def);
        let mut it = store
            .keys(sort, desc, after)
            .filter_map(|(_, id)| store.records.get(&id))
            .filter(|r| filter.accepts(def, r))
            .skip(skip);
        let mut page_recs: Vec<&CrmRecord> = Vec::with_capacity(limit);
        for r in it.by_ref() {
            page_recs.push(r);
            if page_recs.len() == limit {
                break;
            }
        }
        if page_recs.is_empty() {
            return None;
        }
        let more = it.next().is_some();
        let data: Vec<Value> = page_recs
            .iter()
            .map(|r| render(&st.crm, def, r, fields.as_deref()))
            .collect();
        let count = data.len();
        let last = ModuleStore::key_of(page_recs[count - 1], sort);
        let next = more.then(|| {
            PageToken {
                sort,
                desc,
                ims,
                filter_hash,
                after: last,
                offset: offset + count,
                expiry: now + PAGE_TOKEN_TTL_MS,
            }
            .encode()
        });
        let mut info = json!({
            "per_page": per_page,
            "count": count,
            "page": if token.is_some() { offset / per_page + 1 } else { page },
            "more_records": more,
        });
        if ver >= 3 {
            info["call"] = json!(false);
            info["email"] = json!(false);
            info["sort_by"] = json!(sort.name());
            info["sort_order"] = json!(if desc { "desc" } else { "asc" });
            info["next_page_token"] = json!(next);
            info["previous_page_token"] =
                json!(token.as_ref().and_then(|_| q.get("page_token").cloned()));
            info["page_token_expiry"] = match &next {
                Some(_) => json!(clock::fmt_crm(now + PAGE_TOKEN_TTL_MS)),
                None => Value::Null,
            };
        }
        Some(json!({"data": data, "info": info}))
    });
    match body {
        Some(b) => Ok(reply(200, b, &permit)),
        None if filter.ims.is_some() => Err(ApiError::empty(304)),
        None => Err(ApiError::empty(204)),
    }
}

/// `GET /crm/{v}/{module}/{id}`.
pub async fn get_one(
    State(app): State<AppRef>,
    Path((ver, module_name, id)): Path<(String, String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let fields: Option<Vec<String>> = q
        .get("fields")
        .map(|s| s.split(',').map(|f| f.trim().to_string()).collect());
    let id: u64 = id.parse().map_err(|_| {
        ApiError::crm(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        )
    })?;
    let body = app.read(|st| {
        st.crm
            .module(def)
            .records
            .get(&id)
            .map(|r| render(&st.crm, def, r, fields.as_deref()))
    });
    match body {
        Some(r) => Ok(reply(200, json!({"data": [r]}), &permit)),
        None => Err(ApiError::empty(204)),
    }
}

/// The parsed body of a write: `{"data":[…], "duplicate_check_fields":[…]}`.
fn write_body(body: &Bytes) -> Result<(Vec<Value>, Option<Vec<String>>), ApiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::crm(400, "INVALID_DATA", "body", json!({})))?;
    let data = match v.get("data") {
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ApiError::crm(
                400,
                "INVALID_DATA",
                "invalid data",
                json!({"api_name": "data", "expected_data_type": "jsonarray"}),
            ));
        }
        None => return Err(param_missing("data")),
    };
    if data.is_empty() {
        return Err(ApiError::crm(
            400,
            "INVALID_DATA",
            "invalid data",
            json!({"api_name": "data"}),
        ));
    }
    if data.len() > 100 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "Limit exceeded",
            json!({"api_name": "data", "limit": 100}),
        ));
    }
    let dup = v
        .get("duplicate_check_fields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        });
    Ok((data, dup))
}

/// Apply a batch write and build the per-record response.
pub fn write_batch(
    app: &App,
    def: &'static ModuleDef,
    mode: WriteMode,
    data: &[Value],
    dup: Option<Vec<String>>,
    path_id: Option<u64>,
    user: &str,
) -> (u16, Value) {
    let now = app.now();
    let (oks, entries) = app.mutate(|st, events| {
        let mut ids = std::mem::take(&mut st.next_crm_id);
        let mut next = || {
            ids += 1;
            ids
        };
        let mut entries = Vec::with_capacity(data.len());
        let mut oks = 0;
        {
            let mut cx = WriteCtx {
                now,
                user,
                mode,
                duplicate_check_fields: dup.clone(),
                path_id,
                events,
                next_id: &mut next,
            };
            for (i, item) in data.iter().enumerate() {
                let out = super::write_one(&mut st.crm, def, i, item, &mut cx);
                oks += out.status_ok as usize;
                entries.push(out.entry);
            }
        }
        st.next_crm_id = ids;
        (oks, entries)
    });
    let status = if oks == entries.len() {
        if mode == WriteMode::Create { 201 } else { 200 }
    } else if oks == 0 {
        400
    } else {
        207
    };
    (status, json!({"data": entries}))
}

/// `POST /crm/{v}/{module}`.
pub async fn create(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let (data, _) = write_body(&body)?;
    let (status, body) = write_batch(&app, def, WriteMode::Create, &data, None, None, API_USER_ID);
    Ok(reply(status, body, &permit))
}

/// `PUT /crm/{v}/{module}`.
pub async fn update_many(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let (data, _) = write_body(&body)?;
    let (status, body) = write_batch(&app, def, WriteMode::Update, &data, None, None, API_USER_ID);
    Ok(reply(status, body, &permit))
}

/// `PUT /crm/{v}/{module}/{id}`.
pub async fn update_one(
    State(app): State<AppRef>,
    Path((ver, module_name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let (data, _) = write_body(&body)?;
    let id: u64 = id.parse().map_err(|_| {
        ApiError::crm(
            400,
            "INVALID_DATA",
            "the id given seems to be invalid",
            json!({"resource_path_index": 1}),
        )
    })?;
    let (status, body) = write_batch(
        &app,
        def,
        WriteMode::Update,
        &data[..1],
        None,
        Some(id),
        API_USER_ID,
    );
    Ok(reply(status, body, &permit))
}

/// `POST /crm/{v}/{module}/upsert`.
pub async fn upsert(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let (data, dup) = write_body(&body)?;
    if let Some(fields) = &dup {
        for f in fields {
            if def.field(f).is_none() {
                return Err(ApiError::crm(
                    400,
                    "INVALID_DATA",
                    "invalid data",
                    json!({"api_name": "duplicate_check_fields", "field": f}),
                ));
            }
        }
    }
    let (status, body) = write_batch(&app, def, WriteMode::Upsert, &data, dup, None, API_USER_ID);
    Ok(reply(status, body, &permit))
}

/// Delete records by id, as `user`.
pub fn delete_ids(app: &App, def: &'static ModuleDef, ids: &[String], user: &str) -> (u16, Value) {
    let now = app.now();
    let outs = app.mutate(|st, events| {
        ids.iter()
            .map(|id| super::delete_one(&mut st.crm, def, id.trim(), now, user, events))
            .collect::<Vec<_>>()
    });
    let oks = outs.iter().filter(|o| o.status_ok).count();
    let status = if oks == outs.len() {
        200
    } else if oks == 0 {
        400
    } else {
        207
    };
    (
        status,
        json!({"data": outs.into_iter().map(|o| o.entry).collect::<Vec<_>>()}),
    )
}

/// `DELETE /crm/{v}/{module}?ids=a,b`.
pub async fn delete_many(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let ids: Vec<String> = q
        .get("ids")
        .map(|s| {
            s.split(',')
                .map(String::from)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(param_missing("ids"));
    }
    if ids.len() > 100 {
        return Err(ApiError::crm(
            400,
            "LIMIT_EXCEEDED",
            "Limit exceeded",
            json!({"param_name": "ids", "limit": 100}),
        ));
    }
    let (status, body) = delete_ids(&app, def, &ids, API_USER_ID);
    Ok(reply(status, body, &permit))
}

/// `DELETE /crm/{v}/{module}/{id}`.
pub async fn delete_path(
    State(app): State<AppRef>,
    Path((ver, module_name, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let (status, body) = delete_ids(&app, def, &[id], API_USER_ID);
    Ok(reply(status, body, &permit))
}

/// `GET /crm/{v}/{module}/deleted`.
pub async fn deleted(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let kind = q.get("type").map(String::as_str).unwrap_or("all");
    if !matches!(kind, "all" | "recycle" | "permanent") {
        return Err(ApiError::crm_param("type"));
    }
    let per_page = int_param(&q, "per_page", 200, 1)?.min(200);
    let page = int_param(&q, "page", 1, 1)?;
    let ims = if_modified_since(&headers)?;
    let body = app.read(|st| {
        let store = st.crm.module(def);
        let users = metadata::users();
        let user = |id: &Option<String>| match id {
            Some(id) => users
                .iter()
                .find(|u| u["id"] == id.as_str())
                .map(|u| json!({"name": u["name"], "id": u["id"]}))
                .unwrap_or(Value::Null),
            None => Value::Null,
        };
        let mut it = store
            .deleted
            .iter()
            .rev()
            .filter(|d| kind == "all" || d.kind == kind)
            .filter(|d| ims.is_none_or(|t| d.deleted_ms.div_euclid(1000) > t.div_euclid(1000)))
            .skip((page - 1) * per_page);
        let rows: Vec<Value> = it
            .by_ref()
            .take(per_page)
            .map(|d| {
                json!({
                    "deleted_by": user(&d.deleted_by),
                    "id": d.id.to_string(),
                    "display_name": d.display_name,
                    "type": d.kind,
                    "created_by": user(&d.created_by),
                    "deleted_time": clock::fmt_crm(d.deleted_ms),
                })
            })
            .collect();
        let more = it.next().is_some();
        discrete_page(rows, per_page, page, more)
    });
    page_or_empty(body, &permit)
}

/// `GET /crm/{v}/{module}/search`.
pub async fn search(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let per_page = int_param(&q, "per_page", 200, 1)?.min(200);
    let page = int_param(&q, "page", 1, 1)?;
    if page * per_page > DISCRETE_LIMIT && (page - 1) * per_page >= DISCRETE_LIMIT {
        return Err(ApiError::crm(
            400,
            "LIMIT_REACHED",
            "search results exceeds 2000 records",
            json!({"limit": DISCRETE_LIMIT}),
        ));
    }
    let fields: Option<Vec<String>> = q
        .get("fields")
        .map(|s| s.split(',').map(|f| f.trim().to_string()).collect());
    let text = |k: &str| q.get(k).filter(|s| !s.trim().is_empty()).cloned();
    // Priority: criteria > email > phone > word.
    enum Kind {
        Criteria(Criteria),
        Email(String),
        Phone(String),
        Word(String),
    }
    let kind = if let Some(c) = text("criteria") {
        let c = search::parse(&c)?;
        search::validate(&c, def)?;
        Kind::Criteria(c)
    } else if let Some(e) = text("email") {
        Kind::Email(e.to_lowercase())
    } else if let Some(p) = text("phone") {
        Kind::Phone(p)
    } else if let Some(w) = text("word") {
        Kind::Word(w.to_lowercase())
    } else {
        return Err(param_missing("criteria"));
    };
    let delay = app.config.lock().unwrap().search_delay_ms;
    let now = app.now();
    let body = app.read(|st| {
        let store = st.crm.module(def);
        let hit = |r: &CrmRecord| -> bool {
            if delay > 0 && r.modified_ms > now - delay {
                return false;
            }
            match &kind {
                Kind::Criteria(c) => search::matches(c, def, r),
                Kind::Email(e) => def
                    .fields
                    .iter()
                    .filter(|f| f.data_type == metadata::DataType::Email)
                    .any(|f| {
                        r.data
                            .get(f.api_name)
                            .and_then(Value::as_str)
                            .is_some_and(|v| v.to_lowercase() == *e)
                    }),
                Kind::Phone(p) => def
                    .fields
                    .iter()
                    .filter(|f| f.data_type == metadata::DataType::Phone)
                    .any(|f| {
                        r.data
                            .get(f.api_name)
                            .and_then(Value::as_str)
                            .is_some_and(|v| v == p)
                    }),
                Kind::Word(w) => r.data.values().any(|v| {
                    v.as_str()
                        .is_some_and(|s| s.to_lowercase().contains(w.as_str()))
                }),
            }
        };
        let mut it = store
            .records
            .values()
            .filter(|r| hit(r))
            .skip((page - 1) * per_page);
        let rows: Vec<Value> = it
            .by_ref()
            .take(per_page)
            .map(|r| render(&st.crm, def, r, fields.as_deref()))
            .collect();
        let more = it.next().is_some() && page * per_page < DISCRETE_LIMIT;
        discrete_page(rows, per_page, page, more)
    });
    page_or_empty(body, &permit)
}

/// The `{data, info}` body of one page-numbered page; `None` when it has
/// no rows (Zoho answers those with an empty 204).
fn discrete_page(rows: Vec<Value>, per_page: usize, page: usize, more: bool) -> Option<Value> {
    if rows.is_empty() {
        return None;
    }
    Some(
        json!({"data": rows, "info": {"per_page": per_page, "count": rows.len(), "page": page, "more_records": more}}),
    )
}

/// 200 with the page, or Zoho's empty 204.
fn page_or_empty(body: Option<Value>, permit: &Permit) -> Result<Response, ApiError> {
    match body {
        Some(b) => Ok(reply(200, b, permit)),
        None => Err(ApiError::empty(204)),
    }
}

/// `GET /crm/{v}/{module}/actions/count`.
pub async fn count(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    let criteria = match q.get("criteria") {
        Some(c) => Some(search::parse(c)?),
        None => None,
    };
    let n = app.read(|st| {
        let store = st.crm.module(def);
        match &criteria {
            None => store.records.len(),
            Some(c) => store
                .records
                .values()
                .filter(|r| search::matches(c, def, r))
                .count(),
        }
    });
    Ok(reply(200, json!({"count": n}), &permit))
}

/// `GET /crm/{v}/settings/modules`.
pub async fn settings_modules(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let mods: Vec<Value> = defs()
        .iter()
        .map(|m| metadata::module_json(m, false))
        .collect();
    Ok(reply(200, json!({"modules": mods}), &permit))
}

/// `GET /crm/{v}/settings/modules/{module}`.
pub async fn settings_module(
    State(app): State<AppRef>,
    Path((ver, module_name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let def = module(&module_name)?;
    Ok(reply(
        200,
        json!({"modules": [metadata::module_json(def, true)]}),
        &permit,
    ))
}

/// `GET /crm/{v}/settings/fields?module=X`.
pub async fn settings_fields(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let name = q.get("module").ok_or_else(|| param_missing("module"))?;
    let def = def(name).ok_or_else(|| {
        ApiError::crm(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"param_name": "module"}),
        )
    })?;
    let fields: Vec<Value> = def
        .fields
        .iter()
        .enumerate()
        .map(|(i, f)| metadata::field_json(def, i, f))
        .collect();
    Ok(reply(200, json!({"fields": fields}), &permit))
}

/// `GET /crm/{v}/settings/custom_views?module=X`.
pub async fn settings_custom_views(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let name = q.get("module").ok_or_else(|| param_missing("module"))?;
    let def = def(name).ok_or_else(|| {
        ApiError::crm(
            400,
            "INVALID_MODULE",
            "the module name given seems to be invalid",
            json!({"param_name": "module"}),
        )
    })?;
    let views = metadata::custom_views(def);
    let count = views.len();
    Ok(reply(
        200,
        json!({"custom_views": views, "info": {"per_page": 200, "default": views[0]["id"], "count": count, "page": 1, "more_records": false, "translation": {"public_views": "Public Views", "other_users_views": "Other Users' Views", "shared_with_me": "Views shared with me", "created_by_me": "Created by me"}}}),
        &permit,
    ))
}

/// The organisation's id, as `GET /crm/{v}/org` reports it.
pub const ORG_ID: &str = "5725767000000021001";
/// Its `zgid`, which the Bulk Write upload's `X-CRM-ORG` header carries.
pub const ZGID: &str = "5725767";

/// `GET /crm/{v}/org`.
pub async fn org(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    Ok(reply(
        200,
        json!({"org": [{
            "id": ORG_ID,
            "company_name": "Sandbox CRM Org",
            "domain_name": "org5725767",
            "primary_email": "api.user@sandbox.invalid",
            "currency": "US Dollar - USD",
            "currency_symbol": "$",
            "iso_code": "USD",
            "time_zone": "GMT",
            "country_code": "US",
            "zgid": ZGID,
            "mc_status": false,
            "gapps_enabled": false,
            "type": "production",
            "license_details": {"paid": true, "paid_type": "enterprise", "users_license_purchased": 10, "trial_type": null, "trial_expiry": null, "paid_expiry": null},
        }]}),
        &permit,
    ))
}

/// `GET /crm/{v}/users`.
pub async fn users(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    Query(q): Q,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let mut users: Vec<Value> = metadata::users()
        .into_iter()
        .map(|mut u| {
            let name = u["name"].as_str().unwrap_or("").to_string();
            let (first, last) = name.rsplit_once(' ').unwrap_or(("", name.as_str()));
            u.insert("first_name".into(), json!(first));
            u.insert("last_name".into(), json!(last));
            u.insert("full_name".into(), json!(name));
            u.insert("status".into(), json!("active"));
            u.insert(
                "role".into(),
                json!({"name": "CEO", "id": "5725767000000026005"}),
            );
            u.insert(
                "profile".into(),
                json!({"name": "Administrator", "id": "5725767000000026011"}),
            );
            Value::Object(u)
        })
        .collect();
    if q.get("type").map(String::as_str) == Some("CurrentUser") {
        users.truncate(1);
    }
    let n = users.len();
    Ok(reply(
        200,
        json!({"users": users, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false}}),
        &permit,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_token_round_trip() {
        let t = PageToken {
            sort: SortBy::ModifiedTime,
            desc: false,
            ims: Some(1_700_000_000_000),
            filter_hash: 0xdead_beef_1234_5678,
            after: (1_700_000_000_123, 5_725_767_000_001_000_001),
            offset: 99_800,
            expiry: 1_800_000_000_000,
        };
        let s = t.encode();
        assert!(s.len() <= 96, "{}", s.len());
        assert_eq!(PageToken::decode(&s), Some(t));
        assert_eq!(PageToken::decode(&s.replace('1', "2")), None);
    }
}
