//! AP's part of the control API, under `/__sandbox/ap` (no auth, no rate
//! limit): what AP's web UI and payers do, seeding, and everything stored,
//! for assertions.
//!
//! | Endpoint | What |
//! |---|---|
//! | `GET /__sandbox/ap` | base URL, token URL, clients, every record (archived too), stats |
//! | `POST /__sandbox/ap/reset` | drop AP's records and counters |
//! | `POST /__sandbox/ap/seed` `{customers, invoices_per_customer}` | deterministic records |
//! | `POST /__sandbox/ap/customers` | create a customer (as the UI) |
//! | `POST /__sandbox/ap/customers/{id}/archive` | archive a customer (as the UI) |
//! | `POST /__sandbox/ap/invoices` | create an invoice (as the UI) |
//! | `POST /__sandbox/ap/invoices/{id}/payments` `{amount?, status?, payment_method?}` | a payer pays (partial payments allowed) |
//! | `POST /__sandbox/ap/payouts` `{payment_ids?, status?, arrival_date?}` | pay payments out |
//! | `GET /__sandbox/ap/stats` | requests, 429s and peak requests-per-second, per client |
//! | `POST /__sandbox/ap/limits` `{per_second}` | change the rate limit (`null`: off) |
//! | `POST /__sandbox/ap/auth` `{token_lifetime_secs?, revoke?}` | token lifetime; revoke all tokens |

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::customers::body_object;
use super::payments::{PaymentRequest, PayoutRequest};
use super::{ApData, Customer, Invoice, Line, PREFIX, reply};
use crate::app::{App, AppRef};
use crate::clock::{self, Millis};
use crate::error::ApiError;

fn body_json<T: for<'de> Deserialize<'de> + Default>(b: &Bytes) -> Result<T, ApiError> {
    if b.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(b)
        .map_err(|e| ApiError::raw(400, json!({"error": format!("invalid JSON body: {e}")})))
}

/// Seed request (`POST /__sandbox/ap/seed`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SeedRequest {
    pub customers: usize,
    pub invoices_per_customer: usize,
}

/// Add `customers` customers with `per_customer` invoices each, created one
/// second apart and ending at `now`. Every third invoice is partly paid and
/// every fifth paid in full (each with its transaction).
pub fn seed(ap: &mut ApData, customers: usize, per_customer: usize, now: Millis) {
    let total = customers * (1 + per_customer);
    let mut t = now - total as i64 * 1000;
    let base = ap.customers.len();
    for c in 0..customers {
        t += 1000;
        let n = base + c + 1;
        let cseq = ap.seq();
        ap.customers.insert(
            cseq,
            Customer {
                seq: cseq,
                name: format!("Seed Company {n}"),
                email: format!("billing{n}@seed-company.example"),
                external_id: Some(format!("ext-{n}")),
                created_ms: t,
                archived_ms: None,
            },
        );
        for k in 0..per_customer {
            t += 1000;
            let iseq = ap.seq();
            ap.next_invoice_number += 1;
            let due_day = t.div_euclid(86_400_000) + 30;
            let mut inv = Invoice {
                seq: iseq,
                number: format!("INV-{:05}", ap.next_invoice_number),
                customer_seq: cseq,
                currency: "USD".into(),
                due_date: clock::fmt_date(due_day * 86_400_000),
                created_ms: t,
                status: "open".into(),
                memo: None,
                last_notification_ms: None,
                lines: vec![
                    Line {
                        amount_cents: 10_000 + (k as i64 % 7) * 1_250,
                        description: "Managed services".into(),
                        quantity: 1,
                    },
                    Line {
                        amount_cents: 2_500,
                        description: "Seat".into(),
                        quantity: 1 + (c as i64 % 3),
                    },
                ],
                paid_cents: 0,
                settled_elsewhere_cents: 0,
                archived_ms: None,
            };
            let number = ap.next_invoice_number;
            let paid = if number.is_multiple_of(5) {
                inv.total_cents()
            } else if number.is_multiple_of(3) {
                inv.total_cents() / 2
            } else {
                0
            };
            if paid > 0 {
                let pseq = ap.seq();
                ap.payments.insert(
                    pseq,
                    super::Payment {
                        seq: pseq,
                        customer_seq: cseq,
                        invoice_seq: Some(iseq),
                        amount_cents: paid,
                        status: "succeeded".into(),
                        kind: "payment".into(),
                        payment_method: "card".into(),
                        created_ms: t,
                        payout_seq: None,
                    },
                );
                inv.paid_cents = paid;
                ApData::settle(&mut inv);
            }
            ap.invoices.insert(iseq, inv);
        }
    }
}

impl App {
    /// AP's base URL: `http://127.0.0.1:PORT/ap`.
    pub fn ap_base_url(&self) -> String {
        format!("{}{PREFIX}", self.base_url())
    }

    /// Everything AP stores (archived customers too), and its counters.
    pub fn ap_snapshot(&self) -> Value {
        let stats = self.ap.stats();
        let clients = self.ap.clients();
        self.read(|st| {
            let ap = &st.ap;
            json!({
                "base_url": self.ap_base_url(),
                "token_url": format!("{}/oauth/token", self.ap_base_url()),
                "clients": clients,
                "customers": ap.customers.values().map(|c| ap.customer_json(c)).collect::<Vec<_>>(),
                "invoices": ap.invoices.values().map(|i| ap.invoice_json(i)).collect::<Vec<_>>(),
                "payments": ap.payments.values().map(|p| ap.payment_json(p)).collect::<Vec<_>>(),
                "payouts": ap.payouts.values().map(|p| ap.payout_json(p)).collect::<Vec<_>>(),
                "stats": stats,
            })
        })
    }

    /// Drop AP's records and rate counters.
    pub fn ap_reset(&self) {
        self.mutate(|st, _| st.ap = ApData::default());
        self.ap.reset_stats();
    }

    /// See [`seed`].
    pub fn ap_seed(&self, customers: usize, invoices_per_customer: usize) {
        let now = self.now();
        self.mutate(|st, _| seed(&mut st.ap, customers, invoices_per_customer, now));
    }
}

pub fn router() -> Router<AppRef> {
    Router::new()
        .route("/__sandbox/ap", get(snapshot))
        .route("/__sandbox/ap/reset", post(reset))
        .route("/__sandbox/ap/seed", post(seed_route))
        .route("/__sandbox/ap/customers", post(create_customer))
        .route("/__sandbox/ap/customers/{id}/archive", post(archive))
        .route("/__sandbox/ap/invoices", post(create_invoice))
        .route("/__sandbox/ap/invoices/{id}/payments", post(pay))
        .route("/__sandbox/ap/payouts", post(payout))
        .route("/__sandbox/ap/stats", get(stats))
        .route("/__sandbox/ap/limits", post(limits))
        .route("/__sandbox/ap/auth", post(auth))
}

async fn snapshot(State(app): State<AppRef>) -> Response {
    reply(200, app.ap_snapshot())
}

async fn reset(State(app): State<AppRef>) -> Response {
    app.ap_reset();
    reply(200, json!({"ok": true}))
}

async fn seed_route(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: SeedRequest = body_json(&body)?;
    app.ap_seed(req.customers, req.invoices_per_customer);
    let counts = app.counts();
    Ok(reply(
        200,
        json!(
            counts
                .iter()
                .filter(|(k, _)| k.starts_with("ap/"))
                .collect::<std::collections::BTreeMap<_, _>>()
        ),
    ))
}

async fn create_customer(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    Ok(reply(201, app.ap_create_customer(&body_object(&body)?)?))
}

async fn archive(State(app): State<AppRef>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(reply(200, app.ap_archive_customer(&id)?))
}

async fn create_invoice(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    Ok(reply(201, app.ap_create_invoice(&body_object(&body)?)?))
}

async fn pay(
    State(app): State<AppRef>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: PaymentRequest = body_json(&body)?;
    Ok(reply(201, app.ap_record_payment(&id, &req)?))
}

async fn payout(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: PayoutRequest = body_json(&body)?;
    Ok(reply(201, app.ap_create_payout(&req)?))
}

async fn stats(State(app): State<AppRef>) -> Response {
    reply(200, json!(app.ap.stats()))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LimitsRequest {
    per_second: Option<u32>,
}

async fn limits(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: LimitsRequest = body_json(&body)?;
    app.ap.set_rate_limit(req.per_second);
    Ok(reply(200, json!(app.ap.stats())))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AuthRequest {
    token_lifetime_secs: Option<f64>,
    revoke: bool,
}

async fn auth(State(app): State<AppRef>, body: Bytes) -> Result<Response, ApiError> {
    let req: AuthRequest = body_json(&body)?;
    if let Some(s) = req.token_lifetime_secs {
        app.ap.set_token_lifetime((s * 1000.0) as i64);
    }
    if req.revoke {
        app.ap.revoke_all();
    }
    Ok(reply(200, json!({"ok": true})))
}
