//! Finance seed data: `n` contacts, items, invoices, estimates, payments and
//! credit notes in every organisation, created through the same code as API
//! writes (so totals, numbers and statuses are consistent).

use serde_json::{Map, Value, json};

use super::ops::{self, Ctx};
use super::spec::{self, Action, Kind};
use crate::clock::{self, Millis};
use crate::state::State;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Add `n` contacts (customers in Billing) to every organisation of
/// `product`, and nothing else (benchmarks that need one large module).
pub fn seed_contacts(st: &mut State, product: crate::error::Product, n: usize, now: Millis) {
    let orgs: Vec<_> = st
        .finance
        .orgs
        .iter()
        .filter(|o| o.product == product)
        .cloned()
        .collect();
    let billing = product == crate::error::Product::Billing;
    for org in orgs {
        let mut events = Vec::new();
        let start = now - (n as i64) * 1000;
        let mut cx = Ctx {
            product,
            org: org.clone(),
            now: start,
            events: &mut events,
            trusted: true,
        };
        let spec = spec::spec(product, Kind::Contacts);
        for i in 0..n {
            let serial = i + 1;
            cx.now = start + (i as i64) * 1000;
            let contact = if billing {
                json!({"display_name": format!("Customer {serial:06}"), "company_name": format!("Customer {serial:06}"), "email": format!("customer{serial}@example.com")})
            } else {
                json!({"contact_name": format!("Customer {serial:06}"), "company_name": format!("Customer {serial:06}"), "customer_sub_type": "business"})
            };
            let _ = ops::create(st, &mut cx, &spec, &obj(contact));
        }
    }
}

/// Add `n` records of each resource to every finance organisation.
pub fn seed_finance(st: &mut State, n: usize, now: Millis) {
    if n == 0 {
        return;
    }
    let orgs = st.finance.orgs.clone();
    for org in orgs {
        let product = org.product;
        let billing = product == crate::error::Product::Billing;
        let mut events = Vec::new();
        let start = now - (n as i64) * 6 * 1000;
        let mut cx = Ctx {
            product,
            org: org.clone(),
            now: start,
            events: &mut events,
            trusted: true,
        };
        let sp = |k| spec::spec(product, k);
        let existing = st
            .finance
            .data
            .get(&super::org_key(product, &org.organization_id))
            .and_then(|d| d.tables.get(sp(Kind::Contacts).table))
            .map(|t| t.rows.len())
            .unwrap_or(0);
        for i in 0..n {
            let serial = existing + i + 1;
            cx.now = start + (i as i64) * 6000;
            let today_days = cx.now.div_euclid(86_400_000);
            let date = clock::fmt_date((today_days - (n - i) as i64 % 90) * 86_400_000);
            let contact = if billing {
                json!({"display_name": format!("Customer {serial:06}"), "first_name": "Pat", "last_name": format!("Lee {serial}"), "email": format!("customer{serial}@example.com"), "company_name": format!("Customer {serial:06}"), "billing_address": {"street": format!("{serial} High Street"), "city": "Austin", "country": "USA"}})
            } else {
                json!({"contact_name": format!("Customer {serial:06}"), "company_name": format!("Customer {serial:06}"), "customer_sub_type": if i % 3 == 0 { "individual" } else { "business" }, "payment_terms": 30, "contact_persons": [{"first_name": "Pat", "last_name": format!("Lee {serial}"), "email": format!("customer{serial}@example.com")}], "billing_address": {"address": format!("{serial} High Street"), "city": "Austin", "country": "USA"}})
            };
            let Ok(c) = ops::create(st, &mut cx, &sp(Kind::Contacts), &obj(contact)) else {
                continue;
            };
            let cid = c.data[sp(Kind::Contacts).id_field].clone();
            cx.now += 1000;
            let Ok(item) = ops::create(
                st,
                &mut cx,
                &sp(Kind::Items),
                &obj(
                    json!({"name": format!("Item {serial:06}"), "rate": ((serial % 40) * 5 + 10) as f64, "sku": format!("SKU-{serial:06}"), "description": "Seeded item"}),
                ),
            ) else {
                continue;
            };
            let item_id = item.data["item_id"].clone();
            let lf = sp(Kind::Invoices).lines_field.unwrap_or("line_items");
            let date_f = sp(Kind::Invoices).date_field.unwrap_or("date");
            cx.now += 1000;
            let mut inv = Map::new();
            inv.insert("customer_id".into(), cid.clone());
            inv.insert(date_f.into(), json!(date));
            inv.insert("payment_terms".into(), json!(30));
            inv.insert(
                lf.into(),
                json!([{"item_id": item_id, "quantity": (i % 3 + 1) as f64}]),
            );
            let Ok(invoice) = ops::create(st, &mut cx, &sp(Kind::Invoices), &inv) else {
                continue;
            };
            let iid: u64 = invoice.data["invoice_id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let total = invoice.data["total"].as_f64().unwrap_or(0.0);
            if i % 4 != 0 {
                let action = if billing {
                    Action::MarkOpen
                } else {
                    Action::MarkSent
                };
                let _ = ops::act(st, &mut cx, &sp(Kind::Invoices), iid, action);
            }
            if i % 4 == 3 {
                let _ = ops::act(st, &mut cx, &sp(Kind::Invoices), iid, Action::MarkVoid);
            }
            cx.now += 1000;
            let mut est = Map::new();
            est.insert("customer_id".into(), cid.clone());
            est.insert(
                "line_items".into(),
                json!([{"item_id": item_id, "quantity": 1.0}]),
            );
            if let Ok(e) = ops::create(st, &mut cx, &sp(Kind::Estimates), &est) {
                let eid: u64 = e.data["estimate_id"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                if i % 4 >= 1 {
                    let _ = ops::act(st, &mut cx, &sp(Kind::Estimates), eid, Action::MarkSent);
                }
                if i % 4 == 2 {
                    let _ = ops::act(st, &mut cx, &sp(Kind::Estimates), eid, Action::Accept);
                }
                if i % 4 == 3 {
                    let _ = ops::act(st, &mut cx, &sp(Kind::Estimates), eid, Action::Decline);
                }
            }
            cx.now += 1000;
            let payment = if i % 4 == 2 {
                json!({"customer_id": cid, "amount": total, "payment_mode": "banktransfer", "invoices": [{"invoice_id": iid.to_string(), "amount_applied": total}]})
            } else {
                json!({"customer_id": cid, "amount": 10.0, "payment_mode": "cash"})
            };
            let _ = ops::create(st, &mut cx, &sp(Kind::Payments), &obj(payment));
            cx.now += 1000;
            let mut cn = Map::new();
            cn.insert("customer_id".into(), cid.clone());
            cn.insert(
                sp(Kind::CreditNotes)
                    .lines_field
                    .unwrap_or("line_items")
                    .into(),
                json!([{"name": "Goodwill credit", "rate": 5.0, "price": 5.0}]),
            );
            let _ = ops::create(st, &mut cx, &sp(Kind::CreditNotes), &cn);
        }
    }
}
