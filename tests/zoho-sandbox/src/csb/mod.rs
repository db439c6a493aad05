//! CustomerSuccessBox (CSB) emulation, mounted under [`PREFIX`] (`/csb`) on
//! the sandbox's port: a connector's base URL is `http://127.0.0.1:PORT/csb`
//! where the real one is `https://api.customersuccessbox.com`.
//!
//! | Path (under `/csb`) | What |
//! |---|---|
//! | `POST /api_server/v1_1/account` | upsert an account by `account_id`; `custom_traits` are merged |
//! | `POST /api_server/v1_1/invoice` | upsert an invoice by `invoice_id`, for a known `account_id` |
//!
//! Every request needs HTTP Basic with the secret key [`SECRET_KEY`] as
//! user name (any password), or `Authorization: Bearer <secret key>`; else
//! 401. Errors are `{"error": message}` with the status. The control
//! endpoints are under `/__sandbox/csb` ([`control`]). The paths and
//! payloads are UNCONFIRMED choices, listed once in
//! `connectors/customersuccessbox.yaml`.

pub mod control;

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::ap::page::b64_decode;
use crate::ap::reply;
use crate::app::AppRef;
use crate::error::ApiError;

/// Where CSB is mounted on the sandbox's port.
pub const PREFIX: &str = "/csb";

/// The sandbox's public test secret key (the manifest's `sandbox.client`).
pub const SECRET_KEY: &str = "csb-sandbox-secret-key-0000000000000000";

/// Invoice statuses accepted.
pub const STATUSES: &[&str] = &["draft", "sent", "overdue", "paid", "partially_paid", "void"];

/// What CSB holds: accounts and invoices by their callers' ids.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsbData {
    /// `account_id` → `{account_id, name?, domain?, custom_traits}`.
    pub accounts: BTreeMap<String, Value>,
    /// `invoice_id` → the invoice as last posted.
    pub invoices: BTreeMap<String, Value>,
    /// Write requests accepted (each upsert counts, changed or not).
    pub writes: u64,
}

/// CSB's state, beside the Zoho state.
#[derive(Debug, Default)]
pub struct Csb {
    inner: Mutex<CsbData>,
}

impl Csb {
    pub fn snapshot(&self) -> CsbData {
        self.inner.lock().unwrap().clone()
    }

    pub fn reset(&self) {
        *self.inner.lock().unwrap() = CsbData::default();
    }

    /// Create or update an account as CSB's UI would (no request counted).
    pub fn add_account(&self, account_id: &str, name: &str) {
        let mut d = self.inner.lock().unwrap();
        let acc = d
            .accounts
            .entry(account_id.to_string())
            .or_insert_with(|| json!({"account_id": account_id, "custom_traits": {}}));
        acc["name"] = json!(name);
    }

    /// `POST /account`: validate and upsert.
    pub fn upsert_account(&self, body: &Value) -> Result<Value, ApiError> {
        let obj = object(body)?;
        let id = required_text(obj, "account_id")?;
        let traits = match obj.get("custom_traits") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(error(422, "custom_traits must be an object")),
        };
        for field in obj.keys() {
            if !["account_id", "name", "domain", "custom_traits"].contains(&field.as_str()) {
                return Err(error(422, &format!("unknown account field `{field}`")));
            }
        }
        let mut d = self.inner.lock().unwrap();
        let acc = d
            .accounts
            .entry(id.clone())
            .or_insert_with(|| json!({"account_id": id, "custom_traits": {}}));
        for field in ["name", "domain"] {
            if let Some(v) = obj.get(field) {
                acc[field] = v.clone();
            }
        }
        if let Some(stored) = acc["custom_traits"].as_object_mut() {
            stored.extend(traits);
        }
        let out = acc.clone();
        d.writes += 1;
        Ok(out)
    }

    /// `POST /invoice`: validate and upsert; the account must exist.
    pub fn upsert_invoice(&self, body: &Value) -> Result<Value, ApiError> {
        let obj = object(body)?;
        let id = required_text(obj, "invoice_id")?;
        let account = required_text(obj, "account_id")?;
        match obj.get("total") {
            Some(Value::Number(_)) => {}
            _ => return Err(error(422, "total is required and must be a number")),
        }
        for field in ["amount_paid", "amount_due"] {
            if !matches!(obj.get(field), None | Some(Value::Null | Value::Number(_))) {
                return Err(error(422, &format!("{field} must be a number")));
            }
        }
        if let Some(status) = obj.get("status").filter(|v| !v.is_null())
            && !status.as_str().is_some_and(|s| STATUSES.contains(&s))
        {
            return Err(error(422, &format!("unknown invoice status {status}")));
        }
        if let Some(paid_on) = obj.get("paid_on").filter(|v| !v.is_null())
            && !paid_on.as_str().is_some_and(is_date)
        {
            return Err(error(422, "paid_on must be yyyy-mm-dd"));
        }
        let mut d = self.inner.lock().unwrap();
        if !d.accounts.contains_key(&account) {
            return Err(error(404, &format!("account {account} not found")));
        }
        d.invoices.insert(id, body.clone());
        d.writes += 1;
        Ok(body.clone())
    }
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
}

fn object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| error(400, "the body must be a JSON object"))
}

fn required_text(obj: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(error(422, &format!("{field} is required"))),
    }
}

/// CSB's error answer (UNCONFIRMED shape): `{"error": message}`.
pub fn error(status: u16, message: &str) -> ApiError {
    ApiError::raw(status, json!({"error": message}))
}

/// Whether `Authorization` carries the secret key: Basic with it as user
/// name (any password), or Bearer.
pub fn authorized(headers: &HeaderMap) -> bool {
    let Some((scheme, rest)) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.trim().split_once(' '))
    else {
        return false;
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        return rest.trim() == SECRET_KEY;
    }
    scheme.eq_ignore_ascii_case("basic")
        && b64_decode(rest.trim())
            .and_then(|b| String::from_utf8(b).ok())
            .is_some_and(|s| s.split_once(':').map_or(s.as_str(), |(u, _)| u) == SECRET_KEY)
}

/// The CSB routes (without the prefix; [`crate::server`] nests them).
pub fn router() -> Router<AppRef> {
    Router::new()
        .route("/api_server/v1_1/account", post(account))
        .route("/api_server/v1_1/invoice", post(invoice))
}

fn write(
    app: &AppRef,
    headers: &HeaderMap,
    body: &Bytes,
    upsert: impl Fn(&Csb, &Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    if !authorized(headers) {
        return Err(error(401, "invalid secret key"));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| error(400, &format!("invalid JSON body: {e}")))?;
    let stored = upsert(&app.csb, &value)?;
    Ok(reply(200, json!({"status": "success", "data": stored})))
}

async fn account(
    State(app): State<AppRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(&app, &headers, &body, Csb::upsert_account)
}

async fn invoice(
    State(app): State<AppRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    write(&app, &headers, &body, Csb::upsert_invoice)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("authorization", value.parse().unwrap());
        h
    }

    #[test]
    fn the_secret_key_is_the_basic_user_name() {
        use crate::ap::page::b64_encode;
        let basic = |s: &str| format!("Basic {}", b64_encode(s.as_bytes()));
        assert!(authorized(&headers(&basic(&format!("{SECRET_KEY}:")))));
        assert!(authorized(&headers(&basic(&format!("{SECRET_KEY}:x")))));
        assert!(authorized(&headers(&format!("Bearer {SECRET_KEY}"))));
        assert!(!authorized(&headers(&basic("wrong:"))));
        assert!(!authorized(&headers(&basic(&format!(":{SECRET_KEY}")))));
        assert!(!authorized(&HeaderMap::new()));
    }

    #[test]
    fn accounts_merge_custom_traits() {
        let csb = Csb::default();
        csb.upsert_account(&json!({"account_id": "A", "name": "Acme", "custom_traits": {"x": 1}}))
            .unwrap();
        let acc = csb
            .upsert_account(&json!({"account_id": "A", "custom_traits": {"y": 2}}))
            .unwrap();
        assert_eq!(
            acc,
            json!({"account_id": "A", "name": "Acme", "custom_traits": {"x": 1, "y": 2}})
        );
        let bad = csb.upsert_account(&json!({"name": "no id"})).unwrap_err();
        assert_eq!(bad.status.as_u16(), 422);
        let bad = csb
            .upsert_account(&json!({"account_id": "A", "owner": "x"}))
            .unwrap_err();
        assert_eq!(bad.status.as_u16(), 422);
        assert_eq!(csb.snapshot().writes, 2);
    }

    #[test]
    fn invoices_need_a_known_account_and_valid_figures() {
        let csb = Csb::default();
        let inv = json!({"invoice_id": "1", "account_id": "A", "total": 10, "status": "paid", "paid_on": "2026-01-02"});
        assert_eq!(csb.upsert_invoice(&inv).unwrap_err().status.as_u16(), 404);
        csb.add_account("A", "Acme");
        csb.upsert_invoice(&inv).unwrap();
        for bad in [
            json!({"invoice_id": "2", "account_id": "A"}),
            json!({"invoice_id": "2", "account_id": "A", "total": "10"}),
            json!({"invoice_id": "2", "account_id": "A", "total": 1, "status": "lost"}),
            json!({"invoice_id": "2", "account_id": "A", "total": 1, "paid_on": "2 Jan"}),
            json!({"invoice_id": "2", "account_id": "A", "total": 1, "amount_due": "5"}),
        ] {
            assert_eq!(
                csb.upsert_invoice(&bad).unwrap_err().status.as_u16(),
                422,
                "{bad}"
            );
        }
        assert_eq!(csb.snapshot().invoices["1"]["total"], json!(10));
    }
}
