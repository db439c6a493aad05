//! `/customers`: list (filters `company_name`, `created_at_start/_end`),
//! create (`name`, `email` required, `external_id` optional), get, and
//! archive (`DELETE`, a soft delete).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::page::{self, param, time_param, within};
use super::{ApData, Customer, Kind, error, invalid, not_found, reply, seq_of};
use crate::app::{App, AppRef};
use crate::error::ApiError;

/// A JSON object body, or AP's 400.
pub fn body_object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            400,
            "bad_request",
            "request body must be a JSON object",
        )),
    }
}

/// A string field of a body: `Ok(None)` when absent or null.
pub fn str_field(
    m: &serde_json::Map<String, Value>,
    name: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<String> {
    match m.get(name) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Some(_) => {
            errors.insert(name.into(), "must be a string".into());
            None
        }
    }
}

/// The customer an id names (archived ones too).
pub fn find<'a>(ap: &'a ApData, id: &str) -> Result<&'a Customer, ApiError> {
    seq_of(Kind::Customer, id)
        .and_then(|s| ap.customers.get(&s))
        .ok_or_else(|| not_found("customer"))
}

impl App {
    /// Create a customer as `POST /customers` does; the new customer.
    pub fn ap_create_customer(
        &self,
        body: &serde_json::Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let mut errors = BTreeMap::new();
        let name = str_field(body, "name", &mut errors);
        let email = str_field(body, "email", &mut errors);
        let external_id = str_field(body, "external_id", &mut errors);
        if name.is_none() && !errors.contains_key("name") {
            errors.insert("name".into(), "is required".into());
        }
        match &email {
            None if !errors.contains_key("email") => {
                errors.insert("email".into(), "is required".into());
            }
            Some(e) if !e.contains('@') => {
                errors.insert("email".into(), "must be a valid email address".into());
            }
            _ => {}
        }
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            if let Some(x) = &external_id
                && ap
                    .customers
                    .values()
                    .any(|c| c.archived_ms.is_none() && c.external_id.as_ref() == Some(x))
            {
                return Err(error(
                    409,
                    "conflict",
                    format!("a customer with external_id {x} already exists"),
                ));
            }
            let seq = ap.seq();
            let c = Customer {
                seq,
                name: name.unwrap_or_default(),
                email: email.unwrap_or_default(),
                external_id,
                created_ms: now,
                archived_ms: None,
            };
            let v = ap.customer_json(&c);
            ap.customers.insert(seq, c);
            Ok(v)
        })
    }

    /// Archive a customer (idempotent); the archived customer.
    pub fn ap_archive_customer(&self, id: &str) -> Result<Value, ApiError> {
        let now = self.now();
        self.mutate(|st, _| {
            let seq = find(&st.ap, id)?.seq;
            let c = st.ap.customers.get_mut(&seq).expect("found above");
            c.archived_ms.get_or_insert(now);
            let c = c.clone();
            Ok(st.ap.customer_json(&c))
        })
    }
}

/// `GET /customers`. Archived customers are left out.
pub async fn list(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<page::Query>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let start = time_param(&q, "created_at_start")?;
    let end = time_param(&q, "created_at_end")?;
    let name = param(&q, "company_name").map(str::to_lowercase);
    let items = app.read(|st| {
        st.ap
            .customers
            .values()
            .filter(|c| c.archived_ms.is_none())
            .filter(|c| within(c.created_ms, start, end))
            .filter(|c| {
                name.as_ref()
                    .is_none_or(|n| c.name.to_lowercase().contains(n))
            })
            .map(|c| (c.seq, st.ap.customer_json(c)))
            .collect()
    });
    Ok(reply(200, page::paginate(Kind::Customer, items, &q)?))
}

/// `POST /customers` → 201.
pub async fn create(
    State(app): State<AppRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let m = body_object(&body)?;
    Ok(reply(201, app.ap_create_customer(&m)?))
}

/// `GET /customers/{id}`.
pub async fn get_one(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let v = app.read(|st| find(&st.ap, &id).map(|c| st.ap.customer_json(c)))?;
    Ok(reply(200, v))
}

/// `DELETE /customers/{id}`: archive; answers the archived customer.
pub async fn archive(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    Ok(reply(200, app.ap_archive_customer(&id)?))
}
