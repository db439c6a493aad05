//! `/invoices`: list (filters `created_at_start/_end`, `due_date_start/_end`,
//! `customer_id`, `status`), create (`currency`, `customer_id`, `due_date`,
//! `line_items`), get. Update (`PATCH`) and archive (`DELETE`) are not in
//! the reference: AP's own Zoho Books integration does both, so the
//! sandbox guesses their shape (AP-UNCONFIRMED.md, "Invoice updates").

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::customers::{body_object, str_field};
use super::page::{self, param, time_param, within};
use super::{
    ApData, Invoice, Kind, Line, bad_param, cents, error, invalid, not_found, reply, seq_of,
};
use crate::app::{App, AppRef};
use crate::clock;
use crate::error::ApiError;

/// Invoice statuses the sandbox produces (see AP-UNCONFIRMED.md).
pub const STATUSES: &[&str] = &["open", "partially_paid", "paid"];

/// The invoice an id names.
pub fn find<'a>(ap: &'a ApData, id: &str) -> Result<&'a Invoice, ApiError> {
    seq_of(Kind::Invoice, id)
        .and_then(|s| ap.invoices.get(&s))
        .ok_or_else(|| not_found("invoice"))
}

fn lines(v: Option<&Value>, errors: &mut BTreeMap<String, String>) -> Vec<Line> {
    let Some(Value::Array(items)) = v else {
        errors.insert("line_items".into(), "is required".into());
        return Vec::new();
    };
    if items.is_empty() {
        errors.insert("line_items".into(), "must have at least one item".into());
    }
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let amount = item.get("amount").and_then(cents);
        let quantity = match item.get("quantity") {
            None | Some(Value::Null) => Some(1),
            Some(q) => q.as_i64().filter(|q| *q >= 1),
        };
        let description = item
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match (amount, quantity) {
            (Some(a), Some(q)) if a >= 0 => out.push(Line {
                amount_cents: a,
                description,
                quantity: q,
            }),
            (Some(a), Some(_)) if a < 0 => {
                errors.insert(
                    format!("line_items[{n}].amount"),
                    "must not be negative".into(),
                );
            }
            (None, _) => {
                errors.insert(format!("line_items[{n}].amount"), "must be a number".into());
            }
            _ => {
                errors.insert(
                    format!("line_items[{n}].quantity"),
                    "must be a positive integer".into(),
                );
            }
        }
    }
    out
}

impl App {
    /// Create an invoice as `POST /invoices` does; the new invoice.
    pub fn ap_create_invoice(
        &self,
        body: &serde_json::Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let mut errors = BTreeMap::new();
        let currency = str_field(body, "currency", &mut errors);
        let customer_id = str_field(body, "customer_id", &mut errors);
        let due_date = str_field(body, "due_date", &mut errors);
        let memo = str_field(body, "memo", &mut errors);
        let lines = lines(body.get("line_items"), &mut errors);
        let due = amount_due(body, &mut errors);
        match currency.as_deref() {
            Some("USD") => {}
            Some(_) => {
                errors.insert("currency".into(), "must be one of: USD".into());
            }
            None => {
                errors
                    .entry("currency".into())
                    .or_insert("is required".into());
            }
        }
        match due_date.as_deref() {
            Some(d) if clock::parse_date(d).is_some() => {}
            Some(_) => {
                errors.insert("due_date".into(), "must be a date YYYY-MM-DD".into());
            }
            None => {
                errors
                    .entry("due_date".into())
                    .or_insert("is required".into());
            }
        }
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            let customer = match customer_id.as_deref() {
                None => {
                    errors
                        .entry("customer_id".into())
                        .or_insert("is required".into());
                    None
                }
                Some(id) => match seq_of(Kind::Customer, id).and_then(|s| ap.customers.get(&s)) {
                    None => {
                        errors.insert("customer_id".into(), "customer not found".into());
                        None
                    }
                    Some(c) if c.archived_ms.is_some() => {
                        errors.insert("customer_id".into(), "customer is archived".into());
                        None
                    }
                    Some(c) => Some(c.seq),
                },
            };
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            let seq = ap.seq();
            ap.next_invoice_number += 1;
            let mut inv = Invoice {
                seq,
                number: format!("INV-{:05}", ap.next_invoice_number),
                customer_seq: customer.expect("checked above"),
                currency: "USD".into(),
                due_date: due_date.unwrap_or_default(),
                created_ms: now,
                status: "open".into(),
                memo,
                last_notification_ms: None,
                lines,
                paid_cents: 0,
                settled_elsewhere_cents: 0,
                archived_ms: None,
            };
            if let Some(due) = due {
                inv.set_due(due);
                ApData::settle(&mut inv);
            }
            let v = ap.invoice_json(&inv);
            ap.invoices.insert(seq, inv);
            Ok(v)
        })
    }
}

/// `amount_due` of a body, in cents: `None` when absent.
fn amount_due(
    body: &serde_json::Map<String, Value>,
    errors: &mut BTreeMap<String, String>,
) -> Option<i64> {
    match body.get("amount_due") {
        None | Some(Value::Null) => None,
        Some(v) => match cents(v) {
            Some(c) if c >= 0 => Some(c),
            _ => {
                errors.insert("amount_due".into(), "must be a number, 0 or more".into());
                None
            }
        },
    }
}

impl App {
    /// Change an invoice as `PATCH /invoices/{id}` does; the invoice.
    /// `due_date`, `memo`, `line_items` and `amount_due` may change; its
    /// amount and due date only while nothing is paid or settled.
    pub fn ap_update_invoice(
        &self,
        id: &str,
        body: &serde_json::Map<String, Value>,
    ) -> Result<Value, ApiError> {
        let mut errors = BTreeMap::new();
        let due_date = str_field(body, "due_date", &mut errors);
        let memo = str_field(body, "memo", &mut errors);
        let currency = str_field(body, "currency", &mut errors);
        let customer_id = str_field(body, "customer_id", &mut errors);
        let new_lines = body
            .contains_key("line_items")
            .then(|| lines(body.get("line_items"), &mut errors));
        let due = amount_due(body, &mut errors);
        if let Some(d) = &due_date
            && clock::parse_date(d).is_none()
        {
            errors.insert("due_date".into(), "must be a date YYYY-MM-DD".into());
        }
        if currency.as_deref().is_some_and(|c| c != "USD") {
            errors.insert("currency".into(), "must be one of: USD".into());
        }
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            let seq = find(ap, id)?.seq;
            let inv = ap.invoices.get_mut(&seq).expect("found above");
            if inv.archived_ms.is_some() {
                return Err(error(409, "conflict", "invoice is archived"));
            }
            if customer_id
                .as_deref()
                .is_some_and(|c| seq_of(Kind::Customer, c) != Some(inv.customer_seq))
            {
                errors.insert("customer_id".into(), "cannot be changed".into());
            }
            if !errors.is_empty() {
                return Err(invalid(errors));
            }
            let moves_date = due_date.as_ref().is_some_and(|d| *d != inv.due_date);
            let moves_amount = new_lines.as_ref().is_some_and(|l| {
                l.len() != inv.lines.len()
                    || l.iter().zip(&inv.lines).any(|(a, b)| {
                        (a.amount_cents, a.quantity, &a.description)
                            != (b.amount_cents, b.quantity, &b.description)
                    })
            });
            if (moves_date || moves_amount) && inv.settled_cents() > 0 {
                return Err(error(
                    409,
                    "invoice_not_open",
                    "only an unpaid invoice's amount and due date can change",
                ));
            }
            if let Some(d) = due_date {
                inv.due_date = d;
            }
            if memo.is_some() {
                inv.memo = memo;
            }
            if let Some(l) = new_lines {
                inv.lines = l;
            }
            if let Some(due) = due {
                inv.set_due(due);
            }
            ApData::settle(inv);
            let inv = inv.clone();
            Ok(ap.invoice_json(&inv))
        })
    }

    /// Archive an invoice as `DELETE /invoices/{id}` does; the invoice.
    /// One with payments taken in AP stays (they are AP's to refund).
    pub fn ap_archive_invoice(&self, id: &str) -> Result<Value, ApiError> {
        let now = self.now();
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            let seq = find(ap, id)?.seq;
            let inv = ap.invoices.get_mut(&seq).expect("found above");
            if inv.paid_cents > 0 {
                return Err(error(
                    409,
                    "invoice_has_payments",
                    "an invoice with payments cannot be archived",
                ));
            }
            inv.archived_ms.get_or_insert(now);
            let inv = inv.clone();
            Ok(ap.invoice_json(&inv))
        })
    }
}

/// `GET /invoices`. Archived invoices are left out.
pub async fn list(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<page::Query>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let (cs, ce) = (
        time_param(&q, "created_at_start")?,
        time_param(&q, "created_at_end")?,
    );
    let (ds, de) = (
        time_param(&q, "due_date_start")?,
        time_param(&q, "due_date_end")?,
    );
    let status = param(&q, "status");
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(bad_param(
            "status",
            &format!("must be one of: {}", STATUSES.join(", ")),
        ));
    }
    let customer = param(&q, "customer_id").map(|id| seq_of(Kind::Customer, id).unwrap_or(0));
    let items = app.read(|st| {
        st.ap
            .invoices
            .values()
            .filter(|i| i.archived_ms.is_none())
            .filter(|i| within(i.created_ms, cs, ce))
            .filter(|i| {
                let due = clock::parse_date(&i.due_date).unwrap_or(0) * 86_400_000;
                within(due, ds, de)
            })
            .filter(|i| customer.is_none_or(|c| i.customer_seq == c))
            .filter(|i| status.is_none_or(|s| i.status == s))
            .map(|i| (i.seq, st.ap.invoice_json(i)))
            .collect()
    });
    Ok(reply(200, page::paginate(Kind::Invoice, items, &q)?))
}

/// `POST /invoices` → 201.
pub async fn create(
    State(app): State<AppRef>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let m = body_object(&body)?;
    Ok(reply(201, app.ap_create_invoice(&m)?))
}

/// `GET /invoices/{id}`.
pub async fn get_one(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let v = app.read(|st| find(&st.ap, &id).map(|i| st.ap.invoice_json(i)))?;
    Ok(reply(200, v))
}

/// `PATCH /invoices/{id}`.
pub async fn update(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let m = body_object(&body)?;
    Ok(reply(200, app.ap_update_invoice(&id, &m)?))
}

/// `DELETE /invoices/{id}`: archive; answers the archived invoice.
pub async fn archive(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    Ok(reply(200, app.ap_archive_invoice(&id)?))
}
