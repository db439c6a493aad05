//! Transactions (`GET /payments`) and payouts (`GET /payouts`,
//! `GET /payouts/{id}`, `GET /payouts/{id}/transactions`). Payments and
//! payouts are made through the control API, as a payer and AP would.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::page::{self, param, time_param, within};
use super::{ApData, Kind, Payment, Payout, error, invalid, not_found, reply, seq_of};
use crate::app::{App, AppRef};
use crate::clock;
use crate::error::ApiError;

/// Payout statuses (OpenAPI `PayoutStatus`).
pub const PAYOUT_STATUSES: &[&str] = &[
    "unspecified",
    "creating",
    "processing",
    "analyzing",
    "succeeded",
    "scheduled",
    "approved",
    "canceled",
    "pending",
    "failed",
];

/// A payment made against an invoice (`POST /__sandbox/ap/invoices/{id}/payments`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PaymentRequest {
    /// Amount paid; the whole amount due when absent.
    pub amount: Option<f64>,
    /// `succeeded` (default), `pending` or `failed`; only succeeded
    /// payments reduce the amount due.
    pub status: Option<String>,
    /// `card` (default), `standard_ach`, …
    pub payment_method: Option<String>,
}

/// A payout of payments (`POST /__sandbox/ap/payouts`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PayoutRequest {
    /// Payment ids; every succeeded payment not yet paid out when absent.
    pub payment_ids: Option<Vec<String>>,
    /// A `PayoutStatus`; `succeeded` by default.
    pub status: Option<String>,
    /// `YYYY-MM-DD`; the sandbox's today by default.
    pub arrival_date: Option<String>,
}

fn payout_find<'a>(ap: &'a ApData, id: &str) -> Result<&'a Payout, ApiError> {
    seq_of(Kind::Payout, id)
        .and_then(|s| ap.payouts.get(&s))
        .ok_or_else(|| not_found("payout"))
}

impl App {
    /// Record a payment against an invoice, as the payer would through
    /// AP's hosted page (partial payments allowed); the new transaction.
    pub fn ap_record_payment(
        &self,
        invoice_id: &str,
        req: &PaymentRequest,
    ) -> Result<Value, ApiError> {
        let now = self.now();
        let status = req.status.clone().unwrap_or_else(|| "succeeded".into());
        if !["succeeded", "pending", "failed"].contains(&status.as_str()) {
            return Err(invalid(BTreeMap::from([(
                "status".to_string(),
                "must be one of: succeeded, pending, failed".to_string(),
            )])));
        }
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            let inv = super::invoices::find(ap, invoice_id)?;
            let due = inv.due_cents();
            let amount = match req.amount {
                None => due,
                Some(a) => (a * 100.0).round() as i64,
            };
            if amount <= 0 || (status == "succeeded" && amount > due) {
                return Err(invalid(BTreeMap::from([(
                    "amount".to_string(),
                    format!("must be more than 0 and at most the amount due ({due} cents)"),
                )])));
            }
            let (inv_seq, customer_seq) = (inv.seq, inv.customer_seq);
            let seq = ap.seq();
            let p = Payment {
                seq,
                customer_seq,
                invoice_seq: Some(inv_seq),
                amount_cents: amount,
                status: status.clone(),
                kind: "payment".into(),
                payment_method: req.payment_method.clone().unwrap_or_else(|| "card".into()),
                created_ms: now,
                payout_seq: None,
            };
            if status == "succeeded" {
                let inv = ap.invoices.get_mut(&inv_seq).expect("found above");
                inv.paid_cents += amount;
                ApData::settle(inv);
            }
            let v = ap.payment_json(&p);
            ap.payments.insert(seq, p);
            Ok(v)
        })
    }

    /// Pay payments out; the new payout.
    pub fn ap_create_payout(&self, req: &PayoutRequest) -> Result<Value, ApiError> {
        let now = self.now();
        let status = req.status.clone().unwrap_or_else(|| "succeeded".into());
        if !PAYOUT_STATUSES.contains(&status.as_str()) {
            return Err(invalid(BTreeMap::from([(
                "status".to_string(),
                format!("must be one of: {}", PAYOUT_STATUSES.join(", ")),
            )])));
        }
        let arrival = req
            .arrival_date
            .clone()
            .unwrap_or_else(|| clock::fmt_date(now));
        self.mutate(|st, _| {
            let ap = &mut st.ap;
            let seqs: Vec<u64> = match &req.payment_ids {
                Some(ids) => ids
                    .iter()
                    .map(|id| {
                        seq_of(Kind::Payment, id)
                            .filter(|s| ap.payments.contains_key(s))
                            .ok_or_else(|| not_found("payment"))
                    })
                    .collect::<Result<_, _>>()?,
                None => ap
                    .payments
                    .values()
                    .filter(|p| p.status == "succeeded" && p.payout_seq.is_none())
                    .map(|p| p.seq)
                    .collect(),
            };
            if seqs.is_empty() {
                return Err(error(409, "conflict", "no payments to pay out"));
            }
            if seqs.iter().any(|s| ap.payments[s].payout_seq.is_some()) {
                return Err(error(409, "conflict", "a payment is already paid out"));
            }
            let customers: Vec<u64> = seqs.iter().map(|s| ap.payments[s].customer_seq).collect();
            let one_customer = customers.windows(2).all(|w| w[0] == w[1]);
            let seq = ap.seq();
            let payout = Payout {
                seq,
                customer_seq: one_customer.then(|| customers[0]),
                status,
                created_ms: now,
                arrival_date: arrival,
                total_cents: seqs.iter().map(|s| ap.payments[s].amount_cents).sum(),
            };
            for s in &seqs {
                ap.payments.get_mut(s).expect("checked").payout_seq = Some(seq);
            }
            let v = ap.payout_json(&payout);
            ap.payouts.insert(seq, payout);
            Ok(v)
        })
    }
}

/// A customer or invoice filter: the sequence it names (0 if none, which
/// matches nothing).
fn id_filter(q: &page::Query, name: &str, kind: Kind) -> Option<u64> {
    param(q, name).map(|id| seq_of(kind, id).unwrap_or(0))
}

/// `GET /payments` (the "Transactions" of the reference).
pub async fn list_payments(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<page::Query>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let (start, end) = (
        time_param(&q, "created_at_start")?,
        time_param(&q, "created_at_end")?,
    );
    let customer = id_filter(&q, "customer_id", Kind::Customer);
    let invoice = id_filter(&q, "invoice_id", Kind::Invoice);
    let kind = param(&q, "type");
    let status = param(&q, "status");
    let method = param(&q, "payment_method");
    let items = app.read(|st| {
        st.ap
            .payments
            .values()
            .filter(|p| within(p.created_ms, start, end))
            .filter(|p| customer.is_none_or(|c| p.customer_seq == c))
            .filter(|p| invoice.is_none_or(|i| p.invoice_seq == Some(i)))
            .filter(|p| kind.is_none_or(|k| p.kind == k))
            .filter(|p| status.is_none_or(|s| p.status == s))
            .filter(|p| method.is_none_or(|m| p.payment_method == m))
            .map(|p| (p.seq, st.ap.payment_json(p)))
            .collect()
    });
    Ok(reply(200, page::paginate(Kind::Payment, items, &q)?))
}

/// `GET /payouts` (filters `status`, `customer_id`, `invoice_id`,
/// `start_date`, `end_date` on the creation time).
pub async fn list_payouts(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Query(q): Query<page::Query>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let (start, end) = (time_param(&q, "start_date")?, time_param(&q, "end_date")?);
    let status = param(&q, "status");
    if let Some(s) = status
        && !PAYOUT_STATUSES.contains(&s)
    {
        return Err(super::bad_param(
            "status",
            &format!("must be one of: {}", PAYOUT_STATUSES.join(", ")),
        ));
    }
    let customer = id_filter(&q, "customer_id", Kind::Customer);
    let invoice = id_filter(&q, "invoice_id", Kind::Invoice);
    let items = app.read(|st| {
        let ap = &st.ap;
        ap.payouts
            .values()
            .filter(|p| within(p.created_ms, start, end))
            .filter(|p| status.is_none_or(|s| p.status == s))
            .filter(|p| {
                customer.is_none_or(|c| {
                    ap.payments
                        .values()
                        .any(|x| x.payout_seq == Some(p.seq) && x.customer_seq == c)
                })
            })
            .filter(|p| {
                invoice.is_none_or(|i| {
                    ap.payments
                        .values()
                        .any(|x| x.payout_seq == Some(p.seq) && x.invoice_seq == Some(i))
                })
            })
            .map(|p| (p.seq, ap.payout_json(p)))
            .collect()
    });
    Ok(reply(200, page::paginate(Kind::Payout, items, &q)?))
}

/// `GET /payouts/{id}`.
pub async fn get_payout(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let v = app.read(|st| payout_find(&st.ap, &id).map(|p| st.ap.payout_json(p)))?;
    Ok(reply(200, v))
}

/// `GET /payouts/{id}/transactions`: the payments paid out, paginated.
pub async fn payout_transactions(
    State(app): State<AppRef>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<page::Query>,
) -> Result<Response, ApiError> {
    app.ap_guard(&headers)?;
    let items = app.read(|st| {
        let seq = payout_find(&st.ap, &id)?.seq;
        Ok::<_, ApiError>(
            st.ap
                .payments
                .values()
                .filter(|p| p.payout_seq == Some(seq))
                .map(|p| (p.seq, st.ap.payment_json(p)))
                .collect(),
        )
    })?;
    Ok(reply(200, page::paginate(Kind::Payment, items, &q)?))
}
