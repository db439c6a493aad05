//! Alternative Payments (AP) emulation, mounted under [`PREFIX`] (`/ap`) on
//! the sandbox's port: a connector's base URL is `http://127.0.0.1:PORT/ap`
//! where the real one is `https://public-api.alternativepayments.io`.
//!
//! Emulated, after AP's public API reference (docs.alternativepayments.io,
//! OpenAPI document "Alternative Payments" 1.1.0):
//!
//! | Path (under `/ap`) | What |
//! |---|---|
//! | `POST /oauth/token` | client-credentials grant, client id/secret as HTTP Basic |
//! | `GET /customers`, `POST /customers`, `GET/DELETE /customers/{id}` | customers; DELETE archives |
//! | `GET /invoices`, `POST /invoices`, `GET /invoices/{id}` | invoices with line items |
//! | `GET /payments` | transactions (payments) |
//! | `GET /payouts`, `GET /payouts/{id}`, `GET /payouts/{id}/transactions` | payouts |
//!
//! Every list is cursor-paginated ([`page`]); every error is AP's
//! `HttpError` (`{code, message, validation_errors}`); every request but the
//! token request needs a bearer token and is held to 5 requests a second per
//! client ([`auth`]). The control endpoints are under `/__sandbox/ap/…`
//! ([`control`]).
//!
//! Every behaviour the reference leaves open is listed, marked
//! UNCONFIRMED with the source checked, in `AP-UNCONFIRMED.md` next to the
//! crate's `Cargo.toml`.

pub mod auth;
pub mod control;
pub mod customers;
pub mod invoices;
pub mod page;
pub mod payments;

use std::collections::BTreeMap;

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::app::AppRef;
use crate::auth::fnv;
use crate::clock::{self, Millis};
use crate::error::ApiError;

pub use auth::{ApClient, ApRuntime};

/// Where AP is mounted on the sandbox's port.
pub const PREFIX: &str = "/ap";

/// The AP routes (without the prefix; [`crate::server`] nests them).
pub fn router() -> Router<AppRef> {
    Router::new()
        .route("/oauth/token", post(auth::token))
        .route("/customers", get(customers::list).post(customers::create))
        .route(
            "/customers/{id}",
            get(customers::get_one).delete(customers::archive),
        )
        .route("/invoices", get(invoices::list).post(invoices::create))
        .route(
            "/invoices/{id}",
            get(invoices::get_one)
                .patch(invoices::update)
                .delete(invoices::archive),
        )
        .route("/payments", get(payments::list_payments))
        .route("/payouts", get(payments::list_payouts))
        .route("/payouts/{id}", get(payments::get_payout))
        .route(
            "/payouts/{id}/transactions",
            get(payments::payout_transactions),
        )
}

// ---------------------------------------------------------------------------
// Errors: AP's `HttpError`.

/// `{code, message, validation_errors}` with `status`.
pub fn error(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError::raw(
        status,
        json!({"code": code, "message": message.into(), "validation_errors": {}}),
    )
}

/// 422 with one message per field.
pub fn invalid(fields: BTreeMap<String, String>) -> ApiError {
    ApiError::raw(
        422,
        json!({"code": "validation_error", "message": "validation failed", "validation_errors": fields}),
    )
}

/// 400 for a bad query parameter.
pub fn bad_param(field: &str, why: &str) -> ApiError {
    ApiError::raw(
        400,
        json!({"code": "bad_request", "message": format!("invalid query parameter {field}"), "validation_errors": {field: why}}),
    )
}

/// 404 for an unknown record (or URL).
pub fn not_found(what: &str) -> ApiError {
    error(404, "not_found", format!("{what} not found"))
}

/// A JSON answer.
pub fn reply(status: u16, body: Value) -> Response {
    ApiError::raw(status, body).into_response()
}

// ---------------------------------------------------------------------------
// Ids, money and time.

/// Record kinds; each has its own id space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Customer,
    Invoice,
    Payment,
    Payout,
}

impl Kind {
    fn salt(self) -> &'static str {
        match self {
            Kind::Customer => "customer",
            Kind::Invoice => "invoice",
            Kind::Payment => "payment",
            Kind::Payout => "payout",
        }
    }
}

/// The 16 bytes of a version-4-shaped UUID that carries `seq` in its last
/// six bytes (so ids and cursors decode without an index).
pub fn uuid_bytes(kind: Kind, seq: u64) -> [u8; 16] {
    let h1 = fnv(&format!("{}:{seq}", kind.salt())).to_be_bytes();
    let h2 = fnv(&format!("{seq}:{}", kind.salt())).to_be_bytes();
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&h1);
    b[8..10].copy_from_slice(&h2[..2]);
    b[10..].copy_from_slice(&seq.to_be_bytes()[2..]);
    b[6] = 0x40 | (b[6] & 0x0f);
    b[8] = 0x80 | (b[8] & 0x3f);
    b
}

/// `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn uuid_string(b: &[u8; 16]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The id of record `seq` of `kind`.
pub fn make_id(kind: Kind, seq: u64) -> String {
    uuid_string(&uuid_bytes(kind, seq))
}

/// The sequence number an id of `kind` carries, if it is one.
pub fn seq_of(kind: Kind, id: &str) -> Option<u64> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    seq_of_bytes(kind, &b)
}

/// [`seq_of`] for the raw bytes.
pub fn seq_of_bytes(kind: Kind, b: &[u8]) -> Option<u64> {
    if b.len() != 16 {
        return None;
    }
    let mut s = [0u8; 8];
    s[2..].copy_from_slice(&b[10..16]);
    let seq = u64::from_be_bytes(s);
    (uuid_bytes(kind, seq)[..] == *b).then_some(seq)
}

/// Cents from an amount; `None` if it is not a finite number.
pub fn cents(v: &Value) -> Option<i64> {
    let f = v.as_f64()?;
    f.is_finite().then(|| (f * 100.0).round() as i64)
}

/// An amount as AP shows it (a JSON number).
pub fn amount(cents: i64) -> Value {
    if cents % 100 == 0 {
        json!(cents / 100)
    } else {
        json!(cents as f64 / 100.0)
    }
}

/// RFC 3339 in UTC: `2024-01-01T12:00:00Z`.
pub fn fmt_time(ms: Millis) -> String {
    clock::fmt_crm(ms).replace("+00:00", "Z")
}

// ---------------------------------------------------------------------------
// Stored data (part of the saved sandbox state).

/// A customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Customer {
    pub seq: u64,
    pub name: String,
    pub email: String,
    pub external_id: Option<String>,
    pub created_ms: Millis,
    /// Set when archived (`DELETE /customers/{id}` or the control API).
    pub archived_ms: Option<Millis>,
}

/// One invoice line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Line {
    pub amount_cents: i64,
    pub description: String,
    pub quantity: i64,
}

/// An invoice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invoice {
    pub seq: u64,
    pub number: String,
    pub customer_seq: u64,
    pub currency: String,
    pub due_date: String,
    pub created_ms: Millis,
    pub status: String,
    pub memo: Option<String>,
    pub last_notification_ms: Option<Millis>,
    pub lines: Vec<Line>,
    /// Sum of the succeeded payments.
    pub paid_cents: i64,
    /// Settled outside AP, as an integration reports it by writing
    /// `amount_due` (payments recorded in the accounting system, credits
    /// applied there).
    #[serde(default)]
    pub settled_elsewhere_cents: i64,
    /// Set when archived (`DELETE /invoices/{id}`).
    #[serde(default)]
    pub archived_ms: Option<Millis>,
}

impl Invoice {
    pub fn total_cents(&self) -> i64 {
        self.lines.iter().map(|l| l.amount_cents * l.quantity).sum()
    }

    /// Paid in AP or settled elsewhere.
    pub fn settled_cents(&self) -> i64 {
        self.paid_cents + self.settled_elsewhere_cents
    }

    /// What is still owed.
    pub fn due_cents(&self) -> i64 {
        (self.total_cents() - self.settled_cents()).max(0)
    }

    /// Take `due` (cents) as what is still owed: whatever AP's own payments
    /// do not explain was settled elsewhere. AP's payments always count, so
    /// an integration behind on them cannot raise what is due.
    pub fn set_due(&mut self, due: i64) {
        let unpaid = (self.total_cents() - self.paid_cents).max(0);
        self.settled_elsewhere_cents = (unpaid - due).clamp(0, unpaid);
    }
}

/// A transaction (payment).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payment {
    pub seq: u64,
    pub customer_seq: u64,
    pub invoice_seq: Option<u64>,
    pub amount_cents: i64,
    pub status: String,
    pub kind: String,
    pub payment_method: String,
    pub created_ms: Millis,
    pub payout_seq: Option<u64>,
}

/// A payout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Payout {
    pub seq: u64,
    pub customer_seq: Option<u64>,
    pub status: String,
    pub created_ms: Millis,
    pub arrival_date: String,
    pub total_cents: i64,
}

/// Everything AP stores. Every record takes the next number of one shared
/// sequence, which orders the lists and is carried in ids and cursors.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ApData {
    pub customers: BTreeMap<u64, Customer>,
    pub invoices: BTreeMap<u64, Invoice>,
    pub payments: BTreeMap<u64, Payment>,
    pub payouts: BTreeMap<u64, Payout>,
    pub next_seq: u64,
    pub next_invoice_number: u64,
}

impl ApData {
    pub fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    pub fn customer_json(&self, c: &Customer) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(make_id(Kind::Customer, c.seq)));
        m.insert("name".into(), json!(c.name));
        m.insert("email".into(), json!(c.email));
        m.insert(
            "external_id".into(),
            json!(c.external_id.as_deref().unwrap_or("")),
        );
        m.insert("default_payment_method_id".into(), json!(""));
        m.insert("created_at".into(), json!(fmt_time(c.created_ms)));
        m.insert(
            "status".into(),
            json!(if c.archived_ms.is_some() {
                "archived"
            } else {
                "active"
            }),
        );
        if let Some(a) = c.archived_ms {
            m.insert("archived_at".into(), json!(fmt_time(a)));
        }
        Value::Object(m)
    }

    pub fn invoice_json(&self, i: &Invoice) -> Value {
        let total = i.total_cents();
        let mut m = Map::new();
        m.insert("id".into(), json!(make_id(Kind::Invoice, i.seq)));
        m.insert("invoice_number".into(), json!(i.number));
        m.insert(
            "customer_id".into(),
            json!(make_id(Kind::Customer, i.customer_seq)),
        );
        m.insert("currency".into(), json!(i.currency));
        m.insert("due_date".into(), json!(i.due_date));
        m.insert("created_at".into(), json!(fmt_time(i.created_ms)));
        m.insert("status".into(), json!(i.status));
        m.insert("sub_total".into(), amount(total));
        m.insert("total".into(), amount(total));
        m.insert("amount_paid".into(), amount(i.settled_cents()));
        m.insert("amount_due".into(), amount(i.due_cents()));
        if let Some(memo) = &i.memo {
            m.insert("memo".into(), json!(memo));
        }
        if let Some(t) = i.last_notification_ms {
            m.insert("last_notification_at".into(), json!(fmt_time(t)));
        }
        if let Some(t) = i.archived_ms {
            m.insert("archived_at".into(), json!(fmt_time(t)));
        }
        m.insert(
            "line_items".into(),
            Value::Array(
                i.lines
                    .iter()
                    .map(|l| {
                        json!({"amount": amount(l.amount_cents), "description": l.description, "quantity": l.quantity})
                    })
                    .collect(),
            ),
        );
        Value::Object(m)
    }

    pub fn payment_json(&self, p: &Payment) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(make_id(Kind::Payment, p.seq)));
        m.insert("created_at".into(), json!(fmt_time(p.created_ms)));
        m.insert(
            "customer_id".into(),
            json!(make_id(Kind::Customer, p.customer_seq)),
        );
        let invoice = p.invoice_seq.and_then(|s| self.invoices.get(&s));
        m.insert(
            "invoice_id".into(),
            json!(
                invoice
                    .map(|i| make_id(Kind::Invoice, i.seq))
                    .unwrap_or_default()
            ),
        );
        m.insert(
            "due_date".into(),
            json!(invoice.map(|i| i.due_date.as_str()).unwrap_or("")),
        );
        m.insert("type".into(), json!(p.kind));
        m.insert("status".into(), json!(p.status));
        m.insert("payment_method".into(), json!(p.payment_method));
        m.insert("fees".into(), json!([]));
        m.insert("sub_total".into(), amount(p.amount_cents));
        m.insert("total".into(), amount(p.amount_cents));
        if let Some(po) = p.payout_seq {
            m.insert("payout_id".into(), json!(make_id(Kind::Payout, po)));
        }
        Value::Object(m)
    }

    pub fn payout_json(&self, p: &Payout) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(make_id(Kind::Payout, p.seq)));
        m.insert("arrival_date".into(), json!(p.arrival_date));
        m.insert("created_at".into(), json!(fmt_time(p.created_ms)));
        m.insert(
            "customer_id".into(),
            json!(
                p.customer_seq
                    .map(|c| make_id(Kind::Customer, c))
                    .unwrap_or_default()
            ),
        );
        m.insert("fees".into(), json!([]));
        m.insert("status".into(), json!(p.status));
        m.insert("sub_total".into(), amount(p.total_cents));
        m.insert("total".into(), amount(p.total_cents));
        Value::Object(m)
    }

    /// The status an invoice has after its payments changed.
    pub fn settle(inv: &mut Invoice) {
        let (total, settled) = (inv.total_cents(), inv.settled_cents());
        inv.status = if settled <= 0 {
            "open"
        } else if settled < total {
            "partially_paid"
        } else {
            "paid"
        }
        .into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_kind_specific() {
        for seq in [1u64, 2, 99, 1 << 40] {
            let id = make_id(Kind::Invoice, seq);
            assert_eq!(id.len(), 36);
            assert_eq!(&id[14..15], "4");
            assert_eq!(seq_of(Kind::Invoice, &id), Some(seq));
            assert_eq!(seq_of(Kind::Customer, &id), None);
        }
        assert_eq!(seq_of(Kind::Invoice, "nope"), None);
    }

    #[test]
    fn amounts() {
        assert_eq!(cents(&json!(12.345)), Some(1235));
        assert_eq!(amount(1200), json!(12));
        assert_eq!(amount(1250), json!(12.5));
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
    }
}
