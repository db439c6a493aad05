//! CRM notifications: `/crm/{v}/actions/watch` (enable, list, update,
//! disable). Deliveries are made by [`crate::notify`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};

use super::def;
use super::records::version;
use crate::app::{AppRef, reply};
use crate::clock;
use crate::error::ApiError;
use crate::notify::Watch;

const WEEK_MS: i64 = 7 * 86_400_000;
const DEFAULT_EXPIRY_MS: i64 = 3_600_000;

fn invalid(field: &str, i: usize) -> Value {
    json!({"code": "INVALID_DATA", "details": {"api_name": field, "json_path": format!("$.watch[{i}].{field}")}, "message": "invalid data", "status": "error"})
}

fn parse_watch(v: &Value, i: usize, now: i64, existing: Option<&Watch>) -> Result<Watch, Value> {
    let id = match v.get("channel_id") {
        Some(Value::String(s)) if s.chars().all(|c| c.is_ascii_digit()) && !s.is_empty() => {
            s.clone()
        }
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => {
            return Err(
                json!({"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "channel_id", "json_path": format!("$.watch[{i}].channel_id")}, "message": "required field not found", "status": "error"}),
            );
        }
    };
    let notify_url = match v.get("notify_url").and_then(Value::as_str) {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => u.to_string(),
        Some(_) => return Err(invalid("notify_url", i)),
        None => match existing {
            Some(w) => w.notify_url.clone(),
            None => {
                return Err(
                    json!({"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "notify_url", "json_path": format!("$.watch[{i}].notify_url")}, "message": "required field not found", "status": "error"}),
                );
            }
        },
    };
    let events: Vec<String> = match v.get("events").and_then(Value::as_array) {
        Some(a) if !a.is_empty() => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => match existing {
            Some(w) => w.events.clone(),
            None => {
                return Err(
                    json!({"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "events", "json_path": format!("$.watch[{i}].events")}, "message": "required field not found", "status": "error"}),
                );
            }
        },
    };
    for e in &events {
        let (m, op) = e.split_once('.').unwrap_or((e.as_str(), ""));
        if def(m).is_none() || !matches!(op, "create" | "edit" | "delete" | "all") {
            return Err(invalid("events", i));
        }
    }
    let expiry = match v.get("channel_expiry").and_then(Value::as_str) {
        Some(s) => match clock::parse_datetime(s) {
            Some(t) if t > now && t <= now + WEEK_MS => t,
            _ => return Err(invalid("channel_expiry", i)),
        },
        None => existing
            .map(|w| w.channel_expiry_ms)
            .unwrap_or(now + DEFAULT_EXPIRY_MS),
    };
    let token = match v.get("token") {
        Some(Value::String(t)) if t.len() <= 50 => Some(t.clone()),
        Some(Value::String(_)) => return Err(invalid("token", i)),
        _ => existing.and_then(|w| w.token.clone()),
    };
    let rafv = v
        .get("return_affected_field_values")
        .and_then(Value::as_bool)
        .unwrap_or(existing.is_some_and(|w| w.return_affected_field_values));
    Ok(Watch {
        channel_id: id,
        notify_url,
        events,
        channel_expiry_ms: expiry,
        token,
        return_affected_field_values: rafv,
    })
}

fn success(w: &Watch, base: &str, message: &str) -> Value {
    let events: Vec<Value> = w
        .events
        .iter()
        .map(|e| {
            let m = e.split('.').next().unwrap_or("");
            json!({
                "channel_expiry": clock::fmt_crm(w.channel_expiry_ms),
                "resource_uri": format!("{base}/crm/v8/{m}"),
                "resource_id": def(m).map(|d| d.id.to_string()),
                "resource_name": m,
                "channel_id": w.channel_id,
            })
        })
        .collect();
    json!({"code": "SUCCESS", "details": {"events": events}, "message": message, "status": "success"})
}

async fn upsert_watches(
    app: AppRef,
    headers: HeaderMap,
    body: Bytes,
    replace: bool,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::crm(400, "INVALID_DATA", "body", json!({})))?;
    let list = v
        .get("watch")
        .and_then(Value::as_array)
        .cloned()
        .ok_or_else(|| {
            ApiError::crm(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                json!({"param_name": "watch"}),
            )
        })?;
    let now = app.now();
    let base = app.base_url().to_string();
    let (entries, oks) = app.mutate(|st, _| {
        let mut entries = Vec::new();
        let mut oks = 0;
        for (i, item) in list.iter().enumerate() {
            let cid = item.get("channel_id").map(|c| {
                c.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| c.to_string())
            });
            let pos = cid
                .as_ref()
                .and_then(|c| st.watches.iter().position(|w| &w.channel_id == c));
            let existing = if replace {
                None
            } else {
                pos.map(|p| st.watches[p].clone())
            };
            let mut item = item.clone();
            if !replace
                && item.get("_delete_events").and_then(Value::as_bool) == Some(true)
                && let (Some(p), Some(del)) = (pos, item.get("events").and_then(Value::as_array))
            {
                {
                    let keep: Vec<Value> = st.watches[p]
                        .events
                        .iter()
                        .filter(|e| !del.iter().any(|d| d == *e))
                        .map(|e| json!(e))
                        .collect();
                    if keep.is_empty() {
                        let w = st.watches.remove(p);
                        entries.push(success(
                            &w,
                            &base,
                            "Successfully un-subscribed from actions-watch",
                        ));
                        oks += 1;
                        continue;
                    }
                    item["events"] = Value::Array(keep);
                }
            }
            match parse_watch(&item, i, now, existing.as_ref()) {
                Ok(w) => {
                    let msg = if pos.is_some() {
                        "Successfully updated the subscribe details"
                    } else {
                        "Successfully subscribed for actions-watch of the given module"
                    };
                    entries.push(success(&w, &base, msg));
                    match pos {
                        Some(p) => st.watches[p] = w,
                        None => st.watches.push(w),
                    }
                    oks += 1;
                }
                Err(e) => entries.push(e),
            }
        }
        (entries, oks)
    });
    let status = if oks == entries.len() {
        if replace { 200 } else { 201 }
    } else if oks == 0 {
        400
    } else {
        207
    };
    Ok(reply(status, json!({"watch": entries}), &permit))
}

/// `POST /crm/{v}/actions/watch`.
pub async fn enable(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&ver)?;
    upsert_watches(app, headers, body, false).await
}

/// `PUT /crm/{v}/actions/watch` (replace the details of channels).
pub async fn replace(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&ver)?;
    upsert_watches(app, headers, body, true).await
}

/// `PATCH /crm/{v}/actions/watch` (update some details, or remove events with `_delete_events`).
pub async fn patch(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    version(&ver)?;
    let mut r = upsert_watches(app, headers, body, false).await?;
    if r.status() == 201 {
        *r.status_mut() = axum::http::StatusCode::OK;
    }
    Ok(r)
}

/// `GET /crm/{v}/actions/watch`.
pub async fn list(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let now = app.now();
    let base = app.base_url().to_string();
    let rows: Vec<Value> = app.read(|st| {
        st.watches
            .iter()
            .filter(|w| w.channel_expiry_ms > now)
            .filter(|w| q.get("channel_id").is_none_or(|c| *c == w.channel_id))
            .filter(|w| {
                q.get("module").is_none_or(|m| {
                    w.events
                        .iter()
                        .any(|e| e.split('.').next() == Some(m.as_str()))
                })
            })
            .map(|w| w.to_json(&base))
            .collect()
    });
    if rows.is_empty() {
        return Err(ApiError::empty(204));
    }
    let n = rows.len();
    Ok(reply(
        200,
        json!({"watch": rows, "info": {"per_page": 200, "count": n, "page": 1, "more_records": false}}),
        &permit,
    ))
}

/// `DELETE /crm/{v}/actions/watch?channel_ids=a,b`.
pub async fn disable(
    State(app): State<AppRef>,
    Path(ver): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let permit = app.crm_guard(&headers)?;
    version(&ver)?;
    let ids: Vec<String> = q
        .get("channel_ids")
        .map(|s| s.split(',').map(|x| x.trim().to_string()).collect())
        .unwrap_or_default();
    if ids.is_empty() {
        return Err(ApiError::crm(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            json!({"param_name": "channel_ids"}),
        ));
    }
    let base = app.base_url().to_string();
    let entries: Vec<Value> = app.mutate(|st, _| {
        ids.iter()
            .map(|id| match st.watches.iter().position(|w| &w.channel_id == id) {
                Some(p) => success(&st.watches.remove(p), &base, "Successfully removed the subscribe details"),
                None => json!({"code": "INVALID_DATA", "details": {"channel_id": id}, "message": "invalid data", "status": "error"}),
            })
            .collect()
    });
    Ok(reply(200, json!({"watch": entries}), &permit))
}
