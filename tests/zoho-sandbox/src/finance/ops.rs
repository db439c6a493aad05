//! The finance operations, shared by Books, Invoice and Billing. Every
//! difference between the products comes from [`Spec`].

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::{Map, Value, json};

use super::spec::{self, Action, Kind, Spec};
use super::{Org, Row, Table, org_key};
use crate::clock::{self, Millis};
use crate::error::{ApiError, Product};
use crate::notify::{Change, Event};
use crate::state::State;

/// One finance operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    List(Kind),
    Create(Kind),
    /// `PUT /{resource}` with `X-Unique-Identifier-Key/Value` (+ `X-Upsert`).
    UpdateByKey(Kind),
    Get(Kind),
    Update(Kind),
    Delete(Kind),
    Act(Kind, Action),
    CpCreate,
    CpUpdate,
    CpDelete,
    CpPrimary,
    CpList,
    CpGet,
    CustomerByReference,
    InvoicePayments,
    CreditNoteApply,
    CreditNoteApplied,
    InvoiceApplyCredits,
}

pub type OpResult = Result<(u16, Value), ApiError>;

/// Everything an operation needs besides the state.
pub struct Ctx<'a> {
    pub product: Product,
    pub org: Org,
    pub now: Millis,
    pub events: &'a mut Vec<Event>,
    /// Seeding: the caller guarantees unique names and numbers, so the
    /// O(n) uniqueness scans are skipped.
    pub trusted: bool,
}

impl Ctx<'_> {
    fn today(&self) -> String {
        clock::fmt_date(self.now)
    }
    fn ts(&self) -> String {
        clock::fmt_finance(self.now)
    }
}

fn ok(message: &str) -> Value {
    json!({"code": 0, "message": message})
}

fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn num(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    }
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Turn numeric `*_id` values into strings, recursively (ids are strings).
pub fn normalize_ids(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if (k.ends_with("_id") || k == "id") && val.is_number() {
                    *val = json!(val.to_string());
                } else {
                    normalize_ids(val);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize_ids),
        _ => {}
    }
}

/// Parse a request body: raw JSON, or the legacy `JSONString=<json>` form.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let trimmed: &[u8] = body.trim_ascii();
    if trimmed.is_empty() {
        return Ok(Map::new());
    }
    let mut v: Value = if trimmed.starts_with(b"{") {
        serde_json::from_slice(trimmed)
            .map_err(|_| ApiError::finance(400, 4, "Invalid value passed for JSONString"))?
    } else {
        let s = std::str::from_utf8(trimmed).map_err(|_| ApiError::invalid_value("JSONString"))?;
        let json = s
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == "JSONString")
            .map(|(_, v)| crate::server::url_decode(v))
            .ok_or_else(|| ApiError::invalid_value("JSONString"))?;
        serde_json::from_str(&json).map_err(|_| ApiError::invalid_value("JSONString"))?
    };
    normalize_ids(&mut v);
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::invalid_value("JSONString")),
    }
}

fn table<'a>(st: &'a mut State, product: Product, org: &str, spec: &Spec) -> &'a mut Table {
    st.finance
        .data
        .entry(org_key(product, org))
        .or_default()
        .tables
        .entry(spec.table.to_string())
        .or_default()
}

fn table_ref<'a>(st: &'a State, product: Product, org: &str, spec: &Spec) -> Option<&'a Table> {
    st.finance
        .data
        .get(&org_key(product, org))?
        .tables
        .get(spec.table)
}

fn parse_id(s: &str, spec: &Spec) -> Result<u64, ApiError> {
    s.parse().map_err(|_| ApiError::not_found(spec.entity))
}

fn get_row<'a>(st: &'a State, cx: &Ctx, spec: &Spec, id: u64) -> Result<&'a Row, ApiError> {
    table_ref(st, cx.product, &cx.org.organization_id, spec)
        .and_then(|t| t.rows.get(&id))
        .ok_or_else(|| ApiError::not_found(spec.entity))
}

// ---------------------------------------------------------------------------
// Rendering

/// Invoice status as clients see it: `overdue` is derived from the due date.
fn derived_status(spec: &Spec, data: &Map<String, Value>, today: &str) -> Option<String> {
    let status = text(data, "status");
    match spec.kind {
        Kind::Invoices if matches!(status, "sent" | "partially_paid") => {
            let due = text(data, "due_date");
            (!due.is_empty() && due < today).then(|| "overdue".to_string())
        }
        Kind::Estimates if status == "sent" => {
            let exp = text(data, "expiry_date");
            (!exp.is_empty() && exp < today).then(|| "expired".to_string())
        }
        _ => None,
    }
}

const DETAIL_ONLY: &[&str] = &[
    "line_items",
    "invoice_items",
    "contact_persons",
    "billing_address",
    "shipping_address",
    "invoices",
    "payments",
    "default_templates",
    "notes",
    "terms",
    "taxes",
    "credits",
];

/// A record as `GET` (detail) or a list row shows it.
/// A stored row as list filters see it (with its derived status), without
/// copying it: listing filters every row but renders only one page.
struct Lens<'a> {
    data: &'a Map<String, Value>,
    status: Option<Value>,
}

impl<'a> Lens<'a> {
    fn new(spec: &Spec, row: &'a Row, today: &str) -> Lens<'a> {
        Lens {
            data: &row.data,
            status: derived_status(spec, &row.data, today).map(Value::String),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        match (&self.status, key) {
            (Some(s), "status") => Some(s),
            _ => self.data.get(key),
        }
    }

    fn text(&self, key: &str) -> &str {
        self.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

pub fn render(spec: &Spec, row: &Row, today: &str, detail: bool) -> Value {
    let mut d = row.data.clone();
    if let Some(s) = derived_status(spec, &d, today) {
        d.insert("status".into(), json!(s));
    }
    if spec.kind == Kind::Invoices && spec.product != Product::Billing && !detail {
        let due = text(&d, "due_date").to_string();
        if let (Some(dd), Some(td)) = (clock::parse_date(&due), clock::parse_date(today)) {
            let days = dd - td;
            let label = if days > 0 {
                format!("Due in {days} day(s)")
            } else if days == 0 {
                "Due Today".to_string()
            } else {
                format!("Overdue by {} day(s)", -days)
            };
            d.insert("due_days".into(), json!(label));
        }
    }
    if !detail {
        if spec.kind == Kind::Contacts && spec.product != Product::Billing {
            let primary = d
                .get("contact_persons")
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .find(|p| p["is_primary_contact"] == true)
                        .or_else(|| a.first())
                })
                .cloned();
            for k in ["first_name", "last_name", "email", "phone", "mobile"] {
                d.insert(
                    k.into(),
                    primary
                        .as_ref()
                        .and_then(|p| p.get(k))
                        .cloned()
                        .unwrap_or(json!("")),
                );
            }
        }
        for k in DETAIL_ONLY {
            d.remove(*k);
        }
    }
    Value::Object(d)
}

// ---------------------------------------------------------------------------
// Writes

fn custom_field_input(
    spec: &Spec,
    data: &mut Map<String, Value>,
    input: &Map<String, Value>,
) -> Result<(), ApiError> {
    let mut hash = data
        .get("custom_field_hash")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut touched = false;
    if let Some(list) = input.get("custom_fields") {
        let Some(list) = list.as_array() else {
            return Err(ApiError::invalid_value("custom_fields"));
        };
        for cf in list {
            let def = spec.custom_fields.iter().find(|d| {
                cf.get("customfield_id").and_then(Value::as_str) == Some(d.customfield_id)
                    || cf.get("api_name").and_then(Value::as_str) == Some(d.api_name)
                    || cf.get("label").and_then(Value::as_str) == Some(d.label)
                    || cf.get("index").and_then(Value::as_u64) == Some(d.index as u64)
            });
            let Some(def) = def else {
                return Err(ApiError::invalid_value("custom_fields"));
            };
            hash.insert(
                def.api_name.into(),
                cf.get("value").cloned().unwrap_or(Value::Null),
            );
            touched = true;
        }
    }
    for def in spec.custom_fields {
        if let Some(v) = input.get(def.api_name) {
            hash.insert(def.api_name.into(), v.clone());
            touched = true;
        }
    }
    if touched || !data.contains_key("custom_fields") {
        let arr: Vec<Value> = spec
            .custom_fields
            .iter()
            .filter_map(|def| {
                let v = hash.get(def.api_name).filter(|v| !v.is_null() && *v != "")?;
                Some(json!({
                    "customfield_id": def.customfield_id,
                    "index": def.index,
                    "label": def.label,
                    "api_name": def.api_name,
                    "data_type": def.data_type,
                    "placeholder": def.api_name,
                    "value": v,
                    "value_formatted": v.as_str().map(String::from).unwrap_or_else(|| v.to_string()),
                    "show_on_pdf": false,
                    "is_active": true,
                }))
            })
            .collect();
        data.insert("custom_fields".into(), Value::Array(arr));
        let mut h = Map::new();
        for (k, v) in &hash {
            h.insert(k.clone(), v.clone());
            h.insert(format!("{k}_unformatted"), v.clone());
        }
        data.insert("custom_field_hash".into(), Value::Object(h));
    }
    Ok(())
}

fn cf_value<'a>(data: &'a Map<String, Value>, api_name: &str) -> Option<&'a Value> {
    data.get("custom_field_hash")
        .and_then(|h| h.get(api_name))
        .filter(|v| !v.is_null() && *v != "")
}

/// Keys a client may not set directly.
fn read_only(spec: &Spec, k: &str) -> bool {
    k == spec.id_field
        || k == spec.updated_field
        || matches!(
            k,
            "created_time"
                | "last_modified_time"
                | "updated_time"
                | "status"
                | "sub_total"
                | "tax_total"
                | "total"
                | "balance"
                | "payment_made"
                | "credits_applied"
                | "write_off_amount"
                | "custom_fields"
                | "custom_field_hash"
                | "customer_name"
                | "currency_symbol"
                | "unused_amount"
                | "outstanding_receivable_amount"
                | "outstanding"
                | "unused_credits"
                | "has_transaction"
                | "primary_contact_id"
                | "is_emailed"
        )
}

fn line_totals(
    spec: &Spec,
    st: &State,
    cx: &Ctx,
    data: &mut Map<String, Value>,
    input_lines: Option<&Value>,
    next_id: &mut dyn FnMut() -> u64,
) -> Result<(), ApiError> {
    let lf = spec.lines_field.unwrap_or("line_items");
    if let Some(lines) = input_lines {
        let Some(arr) = lines.as_array().filter(|a| !a.is_empty()) else {
            return Err(ApiError::invalid_value(lf));
        };
        let items_spec = spec::spec(cx.product, Kind::Items);
        let old: Vec<Value> = data
            .get(lf)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for (i, line) in arr.iter().enumerate() {
            let Some(l) = line.as_object() else {
                return Err(ApiError::invalid_value(lf));
            };
            let mut l = l.clone();
            if let Some(item_id) = l
                .get("item_id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                let item = item_id.parse::<u64>().ok().and_then(|id| {
                    table_ref(st, cx.product, &cx.org.organization_id, &items_spec)
                        .and_then(|t| t.rows.get(&id))
                });
                let Some(item) = item else {
                    return Err(ApiError::not_found("Item"));
                };
                for (k, from) in [
                    ("name", "name"),
                    ("description", "description"),
                    ("unit", "unit"),
                ] {
                    if !l.contains_key(k)
                        && let Some(v) = item.data.get(from)
                    {
                        l.insert(k.into(), v.clone());
                    }
                }
                if !l.contains_key(spec.price_field)
                    && let Some(v) = item.data.get("rate")
                {
                    l.insert(spec.price_field.into(), v.clone());
                }
            }
            if text(&l, "name").is_empty() && text(&l, "description").is_empty() {
                return Err(ApiError::finance(
                    400,
                    4,
                    format!("Invalid value passed for {lf}[{i}].name"),
                ));
            }
            let rate = num(l.get(spec.price_field)).unwrap_or(0.0);
            let qty = num(l.get("quantity")).unwrap_or(1.0);
            let gross = rate * qty;
            let discount = match l.get("discount") {
                Some(Value::String(s)) if s.ends_with('%') => {
                    gross * num(Some(&json!(s))).unwrap_or(0.0) / 100.0
                }
                other => num(other).unwrap_or(0.0),
            };
            let item_total = r2(gross - discount);
            let tax = r2(item_total * num(l.get("tax_percentage")).unwrap_or(0.0) / 100.0);
            let keep_id = l
                .get("line_item_id")
                .and_then(Value::as_str)
                .filter(|id| old.iter().any(|o| o["line_item_id"] == *id))
                .map(String::from);
            l.insert(
                "line_item_id".into(),
                json!(keep_id.unwrap_or_else(|| next_id().to_string())),
            );
            l.insert(spec.price_field.into(), json!(rate));
            l.insert("quantity".into(), json!(qty));
            l.insert("discount_amount".into(), json!(r2(discount)));
            l.insert("item_total".into(), json!(item_total));
            l.insert("tax_amount".into(), json!(tax));
            l.insert("item_order".into(), json!(i + 1));
            l.entry("description").or_insert(json!(""));
            l.entry("item_id").or_insert(json!(""));
            out.push(Value::Object(l));
        }
        data.insert(lf.into(), Value::Array(out));
    }
    let lines = data
        .get(lf)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if lines.is_empty() {
        return Err(ApiError::invalid_value(lf));
    }
    let sub: f64 = lines
        .iter()
        .map(|l| num(l.get("item_total")).unwrap_or(0.0))
        .sum();
    let tax: f64 = lines
        .iter()
        .map(|l| num(l.get("tax_amount")).unwrap_or(0.0))
        .sum();
    let total = r2(sub
        + tax
        + num(data.get("shipping_charge")).unwrap_or(0.0)
        + num(data.get("adjustment")).unwrap_or(0.0));
    data.insert("sub_total".into(), json!(r2(sub)));
    data.insert("tax_total".into(), json!(r2(tax)));
    data.insert("total".into(), json!(total));
    Ok(())
}

/// Recompute balance and status of an invoice after a change of totals,
/// payments or credits.
fn settle_invoice(data: &mut Map<String, Value>) {
    let total = num(data.get("total")).unwrap_or(0.0);
    let paid = num(data.get("payment_made")).unwrap_or(0.0);
    let credits = num(data.get("credits_applied")).unwrap_or(0.0);
    let wo = num(data.get("write_off_amount")).unwrap_or(0.0);
    let status = text(data, "status").to_string();
    if status == "void" {
        data.insert("balance".into(), json!(0.0));
        return;
    }
    let balance = r2(total - paid - credits - wo);
    data.insert("balance".into(), json!(balance));
    if status != "draft" {
        let s = if balance <= 0.0 && total > 0.0 {
            "paid"
        } else if paid + credits > 0.0 {
            "partially_paid"
        } else {
            "sent"
        };
        data.insert("status".into(), json!(s));
    }
}

fn settle_creditnote(data: &mut Map<String, Value>) {
    let total = num(data.get("total")).unwrap_or(0.0);
    let applied: f64 = data
        .get("invoices")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|i| num(i.get("amount_applied")).unwrap_or(0.0))
                .sum()
        })
        .unwrap_or(0.0);
    let balance = r2(total - applied);
    data.insert("balance".into(), json!(balance));
    let status = text(data, "status").to_string();
    if status == "open" && balance <= 0.0 && total > 0.0 {
        data.insert("status".into(), json!("closed"));
    } else if status == "closed" && balance > 0.0 {
        data.insert("status".into(), json!("open"));
    }
}

fn emit(cx: &mut Ctx, spec: &Spec, id: u64, change: Change, row: Option<&Row>) {
    let today = cx.today();
    cx.events.push(Event {
        product: cx.product,
        org: cx.org.organization_id.clone(),
        module: spec.webhook_entity.to_string(),
        ids: vec![id.to_string()],
        change,
        affected_fields: Vec::new(),
        record: row.map(|r| render(spec, r, &today, true)),
    });
}

fn store(
    st: &mut State,
    cx: &mut Ctx,
    spec: &Spec,
    id: u64,
    mut data: Map<String, Value>,
    created: bool,
) -> Row {
    let ts = cx.ts();
    data.insert(spec.id_field.into(), json!(id.to_string()));
    data.insert(spec.updated_field.into(), json!(ts));
    if spec.updated_field != "last_modified_time"
        && spec.product != Product::Billing
        && spec.kind != Kind::CreditNotes
    {
        data.insert("last_modified_time".into(), json!(ts));
    }
    let t = table(st, cx.product, &cx.org.organization_id, spec);
    let created_ms = if created {
        cx.now
    } else {
        t.rows.get(&id).map(|r| r.created_ms).unwrap_or(cx.now)
    };
    if created {
        data.insert("created_time".into(), json!(clock::fmt_finance(created_ms)));
    }
    let row = Row {
        created_ms,
        modified_ms: cx.now,
        data,
    };
    t.put(id, row.clone());
    emit(
        cx,
        spec,
        id,
        if created {
            Change::Create
        } else {
            Change::Update
        },
        Some(&row),
    );
    row
}

/// Build the stored form of a create or update. `existing` is the current
/// data on update.
fn compose(
    st: &mut State,
    cx: &Ctx,
    spec: &Spec,
    id: u64,
    existing: Option<&Map<String, Value>>,
    input: &Map<String, Value>,
) -> Result<Map<String, Value>, ApiError> {
    let creating = existing.is_none();
    let mut data = existing.cloned().unwrap_or_default();
    for (k, v) in input {
        if read_only(spec, k)
            || Some(k.as_str()) == spec.lines_field
            || k == "line_items"
            || k == "invoice_items"
            || k == "contact_persons"
            || k.starts_with("cf_")
        {
            continue;
        }
        if spec.kind == Kind::Payments && k == "invoices" {
            continue;
        }
        data.insert(k.clone(), v.clone());
    }
    custom_field_input(spec, &mut data, input)?;
    let org = cx.org.clone();
    let today = cx.today();
    let oid = org.organization_id.clone();
    let mut next_id = {
        let mut n = st.next_finance_id;
        move || {
            n += 1;
            n
        }
    };
    // Unique custom fields.
    for def in spec.custom_fields.iter().filter(|d| d.unique) {
        if let Some(v) = cf_value(&data, def.api_name) {
            let clash = !cx.trusted
                && table_ref(st, cx.product, &oid, spec).is_some_and(|t| {
                    t.rows
                        .iter()
                        .any(|(rid, r)| *rid != id && cf_value(&r.data, def.api_name) == Some(v))
                });
            if clash {
                return Err(ApiError::finance(
                    400,
                    1001,
                    format!(
                        "{} \"{}\" already exists.",
                        def.label,
                        v.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| v.to_string())
                    ),
                ));
            }
        }
    }
    match spec.kind {
        Kind::Contacts => {
            let nf = spec.name_field.unwrap_or("contact_name");
            if text(&data, nf).trim().is_empty() {
                // Billing derives the display name from the person's name.
                let derived = format!("{} {}", text(&data, "first_name"), text(&data, "last_name"))
                    .trim()
                    .to_string();
                if spec.product == Product::Billing && !derived.is_empty() {
                    data.insert(nf.into(), json!(derived));
                } else {
                    return Err(ApiError::invalid_value(nf));
                }
            }
            let clash = !cx.trusted
                && table(st, cx.product, &oid, spec).name_taken(nf, text(&data, nf), id);
            if clash {
                return Err(ApiError::finance(
                    400,
                    3062,
                    format!(
                        "The contact name \"{}\" already exists. Please specify a different name.",
                        text(&data, nf)
                    ),
                ));
            }
            if spec.product != Product::Billing {
                data.entry("contact_type").or_insert(json!("customer"));
                let sub = data
                    .entry("customer_sub_type")
                    .or_insert(json!("business"))
                    .clone();
                if sub != "business" && sub != "individual" {
                    return Err(ApiError::invalid_value("customer_sub_type"));
                }
                data.entry("company_name").or_insert(json!(""));
                data.entry("outstanding_receivable_amount")
                    .or_insert(json!(0.0));
                data.entry("unused_credits_receivable_amount")
                    .or_insert(json!(0.0));
                data.entry("payment_terms").or_insert(json!(0));
                data.entry("payment_terms_label")
                    .or_insert(json!("Due on Receipt"));
                data.entry("is_linked_with_zohocrm").or_insert(json!(false));
            } else {
                data.entry("outstanding").or_insert(json!(0.0));
                data.entry("unused_credits").or_insert(json!(0.0));
                data.entry("email").or_insert(json!(""));
                data.entry("first_name").or_insert(json!(""));
                data.entry("last_name").or_insert(json!(""));
                data.entry("company_name").or_insert(json!(""));
                data.entry("source").or_insert(json!("api"));
                data.entry("is_linked_with_zohocrm").or_insert(json!(false));
            }
            data.entry("status").or_insert(json!("active"));
            data.entry("currency_code")
                .or_insert(json!(org.currency_code));
            data.entry("currency_id").or_insert(json!(org.currency_id));
            data.insert("currency_symbol".into(), json!(org.currency_symbol));
            // Contact persons.
            if spec.product != Product::Billing {
                if let Some(persons) = input.get("contact_persons") {
                    let Some(arr) = persons.as_array() else {
                        return Err(ApiError::invalid_value("contact_persons"));
                    };
                    let mut out = Vec::new();
                    for p in arr {
                        let Some(p) = p.as_object() else {
                            return Err(ApiError::invalid_value("contact_persons"));
                        };
                        let mut p = p.clone();
                        if p.get("contact_person_id")
                            .and_then(Value::as_str)
                            .is_none_or(str::is_empty)
                        {
                            p.insert("contact_person_id".into(), json!(next_id().to_string()));
                        }
                        person_defaults(&mut p);
                        out.push(Value::Object(p));
                    }
                    data.insert("contact_persons".into(), Value::Array(out));
                }
                fix_primary(&mut data);
            }
        }
        Kind::Items => {
            if text(&data, "name").trim().is_empty() {
                return Err(ApiError::invalid_value("name"));
            }
            if creating && num(data.get("rate")).is_none() {
                return Err(ApiError::invalid_value("rate"));
            }
            let rate = num(data.get("rate")).ok_or_else(|| ApiError::invalid_value("rate"))?;
            data.insert("rate".into(), json!(rate));
            let clash = !cx.trusted
                && table(st, cx.product, &oid, spec).name_taken("name", text(&data, "name"), id);
            if clash {
                return Err(ApiError::finance(
                    400,
                    1001,
                    format!("The item \"{}\" already exists.", text(&data, "name")),
                ));
            }
            data.entry("status").or_insert(json!("active"));
            data.entry("description").or_insert(json!(""));
            data.entry("unit").or_insert(json!(""));
            data.entry("sku").or_insert(json!(""));
            data.entry("product_type").or_insert(json!("goods"));
            if spec.product != Product::Billing {
                data.entry("item_type").or_insert(json!("sales"));
            }
        }
        Kind::Invoices | Kind::Estimates | Kind::CreditNotes | Kind::Payments => {
            // Customer.
            let cid = text(&data, "customer_id").to_string();
            if cid.is_empty() {
                return Err(ApiError::invalid_value("customer_id"));
            }
            let cspec = spec::spec(cx.product, Kind::Contacts);
            let customer = cid
                .parse::<u64>()
                .ok()
                .and_then(|c| table_ref(st, cx.product, &oid, &cspec).and_then(|t| t.rows.get(&c)))
                .ok_or_else(|| ApiError::not_found(cspec.entity))?;
            let cname =
                text(&customer.data, cspec.name_field.unwrap_or("contact_name")).to_string();
            let ccur = customer
                .data
                .get("currency_code")
                .cloned()
                .unwrap_or(json!(org.currency_code));
            let cemail = customer.data.get("email").cloned().unwrap_or(json!(""));
            // Documents take the customer's addresses unless given their own.
            let caddress = |k: &str| customer.data.get(k).cloned().unwrap_or(json!({}));
            let (cbilling, cshipping) = (caddress("billing_address"), caddress("shipping_address"));
            data.insert("customer_name".into(), json!(cname));
            if spec.product == Product::Billing {
                data.insert("email".into(), cemail);
            }
            data.insert("currency_code".into(), ccur.clone());
            data.entry("currency_id").or_insert(json!(org.currency_id));
            data.insert("currency_symbol".into(), json!(org.currency_symbol));
            data.entry("exchange_rate").or_insert(json!(1.0));
            let df = spec.date_field.unwrap_or("date");
            let date = data.entry(df).or_insert(json!(today.clone())).clone();
            if date.as_str().and_then(clock::parse_date).is_none() {
                return Err(ApiError::invalid_value(df));
            }
            // Document number.
            if let Some(nf) = spec.number_field {
                let t = table(st, cx.product, &oid, spec);
                if text(&data, nf).is_empty() {
                    t.next_number += 1;
                    let n = t.next_number;
                    let number = if spec.number_prefix.is_empty() {
                        n.to_string()
                    } else {
                        format!("{}{:06}", spec.number_prefix, n)
                    };
                    data.insert(nf.into(), json!(number));
                }
                let number = text(&data, nf).to_string();
                if !cx.trusted
                    && t.rows
                        .iter()
                        .any(|(rid, r)| *rid != id && text(&r.data, nf) == number)
                {
                    return Err(ApiError::finance(
                        400,
                        1001,
                        format!("{} \"{}\" already exists.", spec.entity, number),
                    ));
                }
            }
            if spec.kind == Kind::Payments {
                let amount = num(data.get("amount"))
                    .filter(|a| *a > 0.0)
                    .ok_or_else(|| ApiError::invalid_value("amount"))?;
                data.insert("amount".into(), json!(amount));
                data.entry("payment_mode").or_insert(json!("cash"));
                data.entry("reference_number").or_insert(json!(""));
                data.entry("description").or_insert(json!(""));
                data.entry("bank_charges").or_insert(json!(0.0));
                data.entry("amount_refunded").or_insert(json!(0.0));
                data.entry("status").or_insert(json!("success"));
            } else {
                let input_lines = spec
                    .lines_field
                    .and_then(|lf| input.get(lf))
                    .or_else(|| input.get("line_items"));
                if creating && input_lines.is_none() {
                    return Err(ApiError::invalid_value(
                        spec.lines_field.unwrap_or("line_items"),
                    ));
                }
                line_totals(spec, st, cx, &mut data, input_lines, &mut next_id)?;
                data.entry("reference_number").or_insert(json!(""));
                data.entry("notes").or_insert(json!(""));
                data.entry("terms").or_insert(json!(""));
                data.entry("shipping_charge").or_insert(json!(0.0));
                data.entry("adjustment").or_insert(json!(0.0));
                data.entry("salesperson_name").or_insert(json!(""));
                data.entry("billing_address").or_insert(cbilling);
                data.entry("shipping_address").or_insert(cshipping);
            }
            match spec.kind {
                Kind::Invoices => {
                    let terms = num(data.get("payment_terms")).unwrap_or(0.0) as i64;
                    if text(&data, "due_date").is_empty() {
                        let d = date.as_str().and_then(clock::parse_date).unwrap_or(0) + terms;
                        data.insert("due_date".into(), json!(clock::fmt_date(d * 86_400_000)));
                    } else if clock::parse_date(text(&data, "due_date")).is_none() {
                        return Err(ApiError::invalid_value("due_date"));
                    }
                    data.entry("payment_terms").or_insert(json!(terms));
                    data.entry("payment_terms_label")
                        .or_insert(json!(if terms == 0 {
                            "Due on Receipt".to_string()
                        } else {
                            format!("Net {terms}")
                        }));
                    data.entry("status").or_insert(json!("draft"));
                    data.entry("payment_made").or_insert(json!(0.0));
                    data.entry("credits_applied").or_insert(json!(0.0));
                    data.entry("write_off_amount").or_insert(json!(0.0));
                    data.entry("is_emailed").or_insert(json!(false));
                    data.entry("invoice_url").or_insert(json!(format!(
                        "https://books.sandbox.invalid/portal/invoices/{id}"
                    )));
                    if spec.product == Product::Billing {
                        data.entry("transaction_type").or_insert(json!("manual"));
                        data.entry("payments").or_insert(json!([]));
                        data.entry("credits").or_insert(json!([]));
                    }
                    settle_invoice(&mut data);
                }
                Kind::Estimates => {
                    data.entry("status").or_insert(json!("draft"));
                    data.entry("expiry_date").or_insert(json!(""));
                    data.entry("is_emailed").or_insert(json!(false));
                }
                Kind::CreditNotes => {
                    data.entry("status").or_insert(json!("open"));
                    data.entry("invoices").or_insert(json!([]));
                    settle_creditnote(&mut data);
                }
                _ => {}
            }
        }
    }
    st.next_finance_id = st.next_finance_id.max(next_id() - 1);
    Ok(data)
}

fn person_defaults(p: &mut Map<String, Value>) {
    for k in [
        "salutation",
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "designation",
        "department",
        "skype",
    ] {
        p.entry(k).or_insert(json!(""));
    }
    p.entry("is_primary_contact").or_insert(json!(false));
    p.entry("enable_portal").or_insert(json!(false));
    p.entry("communication_preference")
        .or_insert(json!({"is_sms_enabled": false, "is_whatsapp_enabled": false}));
}

/// Exactly one primary contact person when there are any.
fn fix_primary(data: &mut Map<String, Value>) {
    let Some(arr) = data
        .get_mut("contact_persons")
        .and_then(Value::as_array_mut)
    else {
        data.insert("contact_persons".into(), json!([]));
        data.insert("primary_contact_id".into(), json!(""));
        return;
    };
    let first_primary = arr
        .iter()
        .position(|p| p["is_primary_contact"] == true)
        .unwrap_or(0);
    for (i, p) in arr.iter_mut().enumerate() {
        p["is_primary_contact"] = json!(i == first_primary);
    }
    let pid = arr
        .get(first_primary)
        .map(|p| p["contact_person_id"].clone())
        .unwrap_or(json!(""));
    data.insert("primary_contact_id".into(), pid);
}

// ---------------------------------------------------------------------------
// Payments and credits: their effect on invoices.

/// Apply (sign = 1) or revert (sign = -1) amounts to invoices' `field`
/// (`payment_made` or `credits_applied`).
fn adjust_invoices(
    st: &mut State,
    cx: &mut Ctx,
    apps: &[(u64, f64)],
    field: &str,
    sign: f64,
) -> Result<(), ApiError> {
    let ispec = spec::spec(cx.product, Kind::Invoices);
    let mut touched = Vec::new();
    {
        let t = table(st, cx.product, &cx.org.organization_id, &ispec);
        for (iid, amount) in apps {
            let Some(inv) = t.rows.get_mut(iid) else {
                continue;
            };
            let cur = num(inv.data.get(field)).unwrap_or(0.0);
            inv.data
                .insert(field.into(), json!(r2(cur + sign * amount)));
            settle_invoice(&mut inv.data);
            inv.modified_ms = cx.now;
            inv.data.insert(
                ispec.updated_field.into(),
                json!(clock::fmt_finance(cx.now)),
            );
            if field == "payment_made" && sign > 0.0 {
                inv.data
                    .insert("last_payment_date".into(), json!(clock::fmt_date(cx.now)));
            }
            touched.push(*iid);
        }
    }
    for iid in touched {
        let row = table(st, cx.product, &cx.org.organization_id, &ispec)
            .rows
            .get(&iid)
            .cloned();
        emit(cx, &ispec, iid, Change::Update, row.as_ref());
    }
    Ok(())
}

/// Check and collect `invoices[{invoice_id, amount_applied}]` for a payment
/// or credit note of `customer_id`; `old` are the amounts already applied by
/// this document (freed on update).
fn applications(
    st: &State,
    cx: &Ctx,
    list: Option<&Value>,
    customer_id: &str,
    old: &[(u64, f64)],
    max_total: f64,
) -> Result<Vec<(u64, f64)>, ApiError> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let Some(arr) = list.as_array() else {
        return Err(ApiError::invalid_value("invoices"));
    };
    let ispec = spec::spec(cx.product, Kind::Invoices);
    let mut out = Vec::new();
    let mut sum = 0.0;
    for a in arr {
        let iid = a
            .get("invoice_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| ApiError::invalid_value("invoice_id"))?;
        let amount = num(a.get("amount_applied"))
            .filter(|x| *x >= 0.0)
            .ok_or_else(|| ApiError::invalid_value("amount_applied"))?;
        let inv = get_row(st, cx, &ispec, iid)?;
        if text(&inv.data, "customer_id") != customer_id {
            return Err(ApiError::finance(
                400,
                4,
                "The invoice does not belong to this customer.",
            ));
        }
        let status = text(&inv.data, "status");
        if status == "draft" || status == "void" {
            return Err(ApiError::finance(
                400,
                4,
                format!("Payments cannot be applied to {status} invoices."),
            ));
        }
        let freed: f64 = old.iter().filter(|(i, _)| *i == iid).map(|(_, a)| a).sum();
        let balance = num(inv.data.get("balance")).unwrap_or(0.0) + freed;
        if amount > balance + 1e-9 {
            return Err(ApiError::finance(
                400,
                4,
                "The amount applied exceeds the balance of the invoice.",
            ));
        }
        sum += amount;
        out.push((iid, amount));
    }
    if sum > max_total + 1e-9 {
        return Err(ApiError::finance(
            400,
            4,
            "The amount applied to invoices exceeds the amount.",
        ));
    }
    Ok(out)
}

fn stored_applications(data: &Map<String, Value>) -> Vec<(u64, f64)> {
    data.get("invoices")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|i| {
                    Some((
                        i.get("invoice_id")?.as_str()?.parse().ok()?,
                        num(i.get("amount_applied")).unwrap_or(0.0),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn application_rows(st: &State, cx: &Ctx, apps: &[(u64, f64)]) -> Value {
    let ispec = spec::spec(cx.product, Kind::Invoices);
    let rows: Vec<Value> = apps
        .iter()
        .filter_map(|(iid, amount)| {
            let inv = get_row(st, cx, &ispec, *iid).ok()?;
            Some(json!({
                "invoice_id": iid.to_string(),
                "invoice_number": inv.data.get(ispec.number_field.unwrap_or("invoice_number")),
                "date": inv.data.get(ispec.date_field.unwrap_or("date")),
                "invoice_amount": inv.data.get("total"),
                "amount_applied": amount,
                "balance_amount": inv.data.get("balance"),
            }))
        })
        .collect();
    Value::Array(rows)
}

// ---------------------------------------------------------------------------
// List

const RESERVED: &[&str] = &[
    "page",
    "per_page",
    "sort_column",
    "sort_order",
    "filter_by",
    "organization_id",
    "search_text",
    "last_modified_time",
    "response_option",
    "date_start",
    "date_end",
    "date_before",
    "date_after",
    "status",
    "print",
    "accept",
];

fn cmp_values(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    match (
        num(a).filter(|_| a.is_some_and(Value::is_number)),
        num(b).filter(|_| b.is_some_and(Value::is_number)),
    ) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal),
        _ => {
            let s = |v: Option<&Value>| {
                v.map(|v| {
                    v.as_str()
                        .map(str::to_lowercase)
                        .unwrap_or_else(|| v.to_string())
                })
                .unwrap_or_default()
            };
            s(a).cmp(&s(b))
        }
    }
}

fn status_filter(spec: &Spec, filter: &str, status: &str) -> bool {
    let f = filter
        .strip_prefix("Status.")
        .unwrap_or(filter)
        .to_lowercase()
        .replace('_', "");
    match f.as_str() {
        "all" | "" => true,
        "unpaid" => matches!(status, "sent" | "overdue" | "partially_paid"),
        "partiallypaid" => status == "partially_paid",
        "overdue" => status == "overdue",
        "active" | "inactive" => status == f,
        "crm" => spec.kind == Kind::Contacts,
        other => status.replace('_', "") == other,
    }
}

fn list(st: &State, cx: &Ctx, spec: &Spec, q: &HashMap<String, String>) -> OpResult {
    let page: usize = q
        .get("page")
        .map(|s| s.parse().map_err(|_| ApiError::invalid_value("page")))
        .transpose()?
        .unwrap_or(1)
        .max(1);
    let per_page: usize = q
        .get("per_page")
        .map(|s| s.parse().map_err(|_| ApiError::invalid_value("per_page")))
        .transpose()?
        .unwrap_or(200)
        .clamp(1, 200);
    let today = cx.today();
    let sort_column = q
        .get("sort_column")
        .cloned()
        .unwrap_or_else(|| "created_time".into());
    if !spec.sort_columns.contains(&sort_column.as_str()) && sort_column != "created_time" {
        return Err(ApiError::invalid_value("sort_column"));
    }
    let desc = match q.get("sort_order").map(String::as_str) {
        None => sort_column == "created_time" || sort_column == spec.updated_field,
        Some("D" | "d" | "descending" | "desc") => true,
        Some("A" | "a" | "ascending" | "asc") => false,
        Some(_) => return Err(ApiError::invalid_value("sort_order")),
    };
    let filter_by = q
        .get("filter_by")
        .cloned()
        .unwrap_or_else(|| "Status.All".into());
    let modified_since = match q.get("last_modified_time") {
        Some(s) if spec.modified_filter => Some(
            clock::parse_datetime(s)
                .ok_or_else(|| ApiError::invalid_value("last_modified_time"))?,
        ),
        _ => None,
    };
    let df = spec.date_field.unwrap_or("date");
    let mut rows: Vec<(Lens, &Row)> = Vec::new();
    if let Some(t) = table_ref(st, cx.product, &cx.org.organization_id, spec) {
        'rows: for r in t.rows.values() {
            if let Some(since) = modified_since
                && r.modified_ms.div_euclid(1000) < since.div_euclid(1000)
            {
                continue;
            }
            // Filter and sort on the stored row; only the page is rendered.
            let view = Lens::new(spec, r, &today);
            let status = view.text("status");
            if !status_filter(spec, &filter_by, status) {
                continue;
            }
            if let Some(s) = q.get("status")
                && !status_filter(spec, s, status)
            {
                continue;
            }
            let date = view.text(df);
            for (k, cmp) in [
                ("date_start", 0),
                ("date_after", 1),
                ("date_end", 2),
                ("date_before", 3),
            ] {
                if let Some(v) = q.get(k) {
                    let keep = match cmp {
                        0 => date >= v.as_str(),
                        1 => date > v.as_str(),
                        2 => date <= v.as_str(),
                        _ => date < v.as_str(),
                    };
                    if !keep {
                        continue 'rows;
                    }
                }
            }
            if let Some(s) = q.get("search_text") {
                let s = s.to_lowercase();
                let hit = [
                    spec.name_field,
                    spec.number_field,
                    Some("customer_name"),
                    Some("reference_number"),
                    Some("email"),
                    Some("company_name"),
                ]
                .into_iter()
                .flatten()
                .any(|f| view.text(f).to_lowercase().contains(&s));
                if !hit {
                    continue;
                }
            }
            for (k, v) in q {
                if RESERVED.contains(&k.as_str()) {
                    continue;
                }
                let lv = v.to_lowercase();
                let field_text = |f: &str| -> Option<String> {
                    let fv = view
                        .get(f)
                        .or_else(|| view.get("custom_field_hash").and_then(|h| h.get(f)))?;
                    Some(
                        fv.as_str()
                            .map(str::to_lowercase)
                            .unwrap_or_else(|| fv.to_string()),
                    )
                };
                let keep = if let Some(f) = k.strip_suffix("_contains") {
                    field_text(f).is_some_and(|t| t.contains(&lv))
                } else if let Some(f) = k.strip_suffix("_startswith") {
                    field_text(f).is_some_and(|t| t.starts_with(&lv))
                } else if view.get(k).is_some() || k.starts_with("cf_") {
                    field_text(k).is_some_and(|t| t == lv)
                } else {
                    true
                };
                if !keep {
                    continue 'rows;
                }
            }
            rows.push((view, r));
        }
    }
    rows.sort_by(|(a, ra), (b, rb)| {
        let o = if sort_column == "created_time" {
            ra.created_ms.cmp(&rb.created_ms)
        } else if sort_column == spec.updated_field || sort_column == "last_modified_time" {
            ra.modified_ms.cmp(&rb.modified_ms)
        } else {
            cmp_values(a.get(&sort_column), b.get(&sort_column))
        };
        let o = o.then_with(|| a.text(spec.id_field).cmp(b.text(spec.id_field)));
        if desc { o.reverse() } else { o }
    });
    let total = rows.len();
    let start = (page - 1) * per_page;
    let out: Vec<Value> = rows
        .iter()
        .skip(start)
        .take(per_page)
        .map(|(_, r)| render(spec, r, &today, false))
        .collect();
    let has_more = start + out.len() < total;
    let mut body = json!({"code": 0, "message": "success"});
    body[spec.plural] = Value::Array(out);
    body["page_context"] = json!({
        "page": page,
        "per_page": per_page,
        "has_more_page": has_more,
        "report_name": spec.report_name,
        "applied_filter": filter_by,
        "sort_column": sort_column,
        "sort_order": if desc { "D" } else { "A" },
        "search_criteria": [],
    });
    Ok((200, body))
}

// ---------------------------------------------------------------------------
// Entry point

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn record_body(spec: &Spec, message: &str, row: &Row, today: &str) -> Value {
    let mut b = ok(message);
    b[spec.singular] = render(spec, row, today, true);
    b
}

/// Create a record from `input`.
pub fn create(
    st: &mut State,
    cx: &mut Ctx,
    spec: &Spec,
    input: &Map<String, Value>,
) -> Result<Row, ApiError> {
    let id = st.finance_id();
    let mut data = compose(st, cx, spec, id, None, input)?;
    if spec.kind == Kind::Payments {
        let amount = num(data.get("amount")).unwrap_or(0.0);
        let apps = applications(
            st,
            cx,
            input.get("invoices"),
            text(&data, "customer_id"),
            &[],
            amount,
        )?;
        data.insert("invoices".into(), application_rows(st, cx, &apps));
        let applied: f64 = apps.iter().map(|a| a.1).sum();
        data.insert("unused_amount".into(), json!(r2(amount - applied)));
        adjust_invoices(st, cx, &apps, "payment_made", 1.0)?;
        data.insert("invoices".into(), application_rows(st, cx, &apps));
    }
    Ok(store(st, cx, spec, id, data, true))
}

/// Update a record with `input`.
pub fn update(
    st: &mut State,
    cx: &mut Ctx,
    spec: &Spec,
    id: u64,
    input: &Map<String, Value>,
) -> Result<Row, ApiError> {
    let existing = get_row(st, cx, spec, id)?.data.clone();
    if spec.kind == Kind::Invoices
        && text(&existing, "status") == "void"
        && input
            .keys()
            .any(|k| k.contains("line_items") || k.contains("invoice_items"))
    {
        return Err(ApiError::finance(
            400,
            4,
            "Void invoices cannot be edited. Mark the invoice as draft first.",
        ));
    }
    let mut data = compose(st, cx, spec, id, Some(&existing), input)?;
    if spec.kind == Kind::Payments && input.contains_key("invoices") {
        let old = stored_applications(&existing);
        let amount = num(data.get("amount")).unwrap_or(0.0);
        let apps = applications(
            st,
            cx,
            input.get("invoices"),
            text(&data, "customer_id"),
            &old,
            amount,
        )?;
        adjust_invoices(st, cx, &old, "payment_made", -1.0)?;
        adjust_invoices(st, cx, &apps, "payment_made", 1.0)?;
        let applied: f64 = apps.iter().map(|a| a.1).sum();
        data.insert("unused_amount".into(), json!(r2(amount - applied)));
        data.insert("invoices".into(), application_rows(st, cx, &apps));
    }
    if spec.kind == Kind::CreditNotes {
        settle_creditnote(&mut data);
    }
    Ok(store(st, cx, spec, id, data, false))
}

/// Delete a record.
pub fn delete(st: &mut State, cx: &mut Ctx, spec: &Spec, id: u64) -> Result<(), ApiError> {
    let row = get_row(st, cx, spec, id)?.clone();
    match spec.kind {
        Kind::Invoices
            if num(row.data.get("payment_made")).unwrap_or(0.0) > 0.0
                || num(row.data.get("credits_applied")).unwrap_or(0.0) > 0.0 =>
        {
            return Err(ApiError::finance(
                400,
                4001,
                "Invoices with payments or credits applied cannot be deleted. Delete the payments or credits first.",
            ));
        }
        Kind::Contacts => {
            let oid = cx.org.organization_id.clone();
            let used = [
                Kind::Invoices,
                Kind::Estimates,
                Kind::Payments,
                Kind::CreditNotes,
            ]
            .iter()
            .any(|k| {
                let s = spec::spec(cx.product, *k);
                table_ref(st, cx.product, &oid, &s).is_some_and(|t| {
                    t.rows
                        .values()
                        .any(|r| text(&r.data, "customer_id") == id.to_string())
                })
            });
            if used {
                return Err(ApiError::finance(
                    400,
                    3006,
                    "The contact cannot be deleted as there are transactions associated with it.",
                ));
            }
        }
        Kind::Payments => {
            let old = stored_applications(&row.data);
            adjust_invoices(st, cx, &old, "payment_made", -1.0)?;
        }
        Kind::CreditNotes => {
            let old = stored_applications(&row.data);
            adjust_invoices(st, cx, &old, "credits_applied", -1.0)?;
        }
        _ => {}
    }
    table(st, cx.product, &cx.org.organization_id, spec).remove(id);
    emit(cx, spec, id, Change::Delete, Some(&row));
    Ok(())
}

/// Apply a status action.
pub fn act(st: &mut State, cx: &mut Ctx, spec: &Spec, id: u64, action: Action) -> OpResult {
    let mut data = get_row(st, cx, spec, id)?.data.clone();
    let status = text(&data, "status").to_string();
    let billing = cx.product == Product::Billing;
    let deny = |m: &str| Err(ApiError::finance(400, 4, m.to_string()));
    let message: &str = match (spec.kind, action) {
        (Kind::Contacts | Kind::Items, Action::MarkActive | Action::MarkInactive) => {
            let active = action == Action::MarkActive;
            data.insert(
                "status".into(),
                json!(if active { "active" } else { "inactive" }),
            );
            match (spec.kind, billing, active) {
                (Kind::Contacts, true, true) => "The customer has been marked as active.",
                (Kind::Contacts, true, false) => "The customer has been marked as inactive.",
                (Kind::Contacts, false, true) => "The contact has been marked as active.",
                (Kind::Contacts, false, false) => "The contact has been marked as inactive.",
                (_, true, true) => "The item has been marked Active.",
                (_, true, false) => "The item has been marked Inactive.",
                (_, false, true) => "The item has been marked as active.",
                (_, false, false) => "The item has been marked as inactive.",
            }
        }
        (Kind::Invoices, Action::MarkSent | Action::MarkOpen | Action::Email) => {
            if status == "void" {
                return deny("Void invoices cannot be sent. Mark the invoice as draft first.");
            }
            if status == "draft" {
                data.insert("status".into(), json!("sent"));
            }
            if action == Action::Email {
                data.insert("is_emailed".into(), json!(true));
            }
            settle_invoice(&mut data);
            match action {
                Action::MarkSent => "Invoice status has been changed to Sent.",
                Action::MarkOpen => "Status of the invoice has been changed to open.",
                _ => "Your invoice has been sent.",
            }
        }
        (Kind::Invoices, Action::MarkVoid) => {
            if status == "void" {
                return deny("The invoice has already been voided.");
            }
            if num(data.get("payment_made")).unwrap_or(0.0) > 0.0
                || num(data.get("credits_applied")).unwrap_or(0.0) > 0.0
            {
                return deny(
                    "Invoices with payments or credits applied cannot be voided. Delete the payments or credits first.",
                );
            }
            data.insert("status".into(), json!("void"));
            settle_invoice(&mut data);
            "Invoice status has been changed to Void."
        }
        (Kind::Invoices, Action::MarkDraft) => {
            if status != "void" {
                return deny("Only void invoices can be marked as draft.");
            }
            data.insert("status".into(), json!("draft"));
            settle_invoice(&mut data);
            "Status of invoice changed from void to draft"
        }
        (Kind::Estimates, Action::MarkSent | Action::Email) => {
            if status == "draft" {
                data.insert("status".into(), json!("sent"));
            }
            if action == Action::Email {
                data.insert("is_emailed".into(), json!(true));
                "Your estimate has been sent."
            } else {
                "Estimate status has been changed to Sent"
            }
        }
        (Kind::Estimates, Action::Accept) => {
            if !matches!(status.as_str(), "sent" | "declined" | "accepted") {
                return deny("Only sent estimates can be marked as accepted.");
            }
            data.insert("status".into(), json!("accepted"));
            "Estimate status has been changed to Accepted."
        }
        (Kind::Estimates, Action::Decline) => {
            if !matches!(status.as_str(), "sent" | "accepted" | "declined") {
                return deny("Only sent estimates can be marked as declined.");
            }
            data.insert("status".into(), json!("declined"));
            "Estimate status has been changed to Declined."
        }
        (Kind::CreditNotes, Action::MarkVoid) => {
            if !stored_applications(&data).is_empty() {
                return deny("Credit notes applied to invoices cannot be voided.");
            }
            data.insert("status".into(), json!("void"));
            "The credit note has been marked as void."
        }
        (Kind::CreditNotes, Action::MarkDraft) => {
            data.insert("status".into(), json!("draft"));
            "The credit note has been marked as Draft."
        }
        (Kind::CreditNotes, Action::MarkOpen) => {
            data.insert("status".into(), json!("open"));
            settle_creditnote(&mut data);
            "Status of the credit note has been changed to open."
        }
        (Kind::CreditNotes, Action::Email) => "Your creditnote has been sent.",
        _ => return Err(ApiError::finance(404, 5, "Invalid URL Passed")),
    };
    store(st, cx, spec, id, data, false);
    Ok((200, ok(message)))
}

/// Apply credit-note amounts to invoices.
fn apply_credits(st: &mut State, cx: &mut Ctx, cn_id: u64, list: Option<&Value>) -> OpResult {
    let cspec = spec::spec(cx.product, Kind::CreditNotes);
    let mut cn = get_row(st, cx, &cspec, cn_id)?.data.clone();
    if text(&cn, "status") != "open" {
        return Err(ApiError::finance(
            400,
            4,
            "Credits can be applied only from open credit notes.",
        ));
    }
    let balance = num(cn.get("balance")).unwrap_or(0.0);
    let apps = applications(st, cx, list, text(&cn, "customer_id"), &[], balance)?;
    adjust_invoices(st, cx, &apps, "credits_applied", 1.0)?;
    let mut all = stored_applications(&cn);
    all.extend(apps.iter().copied());
    cn.insert("invoices".into(), application_rows(st, cx, &all));
    settle_creditnote(&mut cn);
    store(st, cx, &cspec, cn_id, cn, false);
    let mut body = ok("Credits have been applied to the invoice(s).");
    body["apply_to_invoices"] = json!({"invoices": apps.iter().map(|(i, a)| json!({"invoice_id": i.to_string(), "amount_applied": a})).collect::<Vec<_>>()});
    Ok((200, body))
}

/// Run one finance operation. `params` are the path parameters in order.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    st: &mut State,
    cx: &mut Ctx,
    route: Route,
    params: &[String],
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> OpResult {
    let today = cx.today();
    let p = |i: usize| params.get(i).map(String::as_str).unwrap_or("");
    let sp = |k: Kind| spec::spec(cx.product, k);
    match route {
        Route::List(k) => list(st, cx, &sp(k), q),
        Route::Get(k) => {
            let s = sp(k);
            let row = get_row(st, cx, &s, parse_id(p(0), &s)?)?;
            Ok((200, record_body(&s, "success", row, &today)))
        }
        Route::Create(k) => {
            let s = sp(k);
            let input = parse_body(body)?;
            let row = create(st, cx, &s, &input)?;
            Ok((201, record_body(&s, s.msg_created, &row, &today)))
        }
        Route::Update(k) => {
            let s = sp(k);
            let input = parse_body(body)?;
            let row = update(st, cx, &s, parse_id(p(0), &s)?, &input)?;
            Ok((200, record_body(&s, s.msg_updated, &row, &today)))
        }
        Route::UpdateByKey(k) => {
            let s = sp(k);
            let key = header(headers, "x-unique-identifier-key")
                .ok_or_else(|| ApiError::invalid_value("X-Unique-Identifier-Key"))?;
            let value = header(headers, "x-unique-identifier-value")
                .ok_or_else(|| ApiError::invalid_value("X-Unique-Identifier-Value"))?;
            let upsert =
                header(headers, "x-upsert").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let def = s
                .custom_fields
                .iter()
                .find(|d| d.unique && (d.api_name == key || d.label == key))
                .ok_or_else(|| ApiError::invalid_value("X-Unique-Identifier-Key"))?;
            let found = table_ref(st, cx.product, &cx.org.organization_id, &s).and_then(|t| {
                t.rows
                    .iter()
                    .find(|(_, r)| {
                        cf_value(&r.data, def.api_name).and_then(Value::as_str) == Some(value)
                    })
                    .map(|(id, _)| *id)
            });
            let mut input = parse_body(body)?;
            match found {
                Some(id) => {
                    let row = update(st, cx, &s, id, &input)?;
                    Ok((200, record_body(&s, s.msg_updated, &row, &today)))
                }
                None if upsert => {
                    input.insert(def.api_name.into(), json!(value));
                    let row = create(st, cx, &s, &input)?;
                    Ok((201, record_body(&s, s.msg_created, &row, &today)))
                }
                None => Err(ApiError::not_found(s.entity)),
            }
        }
        Route::Delete(k) => {
            let s = sp(k);
            delete(st, cx, &s, parse_id(p(0), &s)?)?;
            Ok((200, ok(s.msg_deleted)))
        }
        Route::Act(k, a) => {
            let s = sp(k);
            act(st, cx, &s, parse_id(p(0), &s)?, a)
        }
        Route::CustomerByReference => {
            let s = sp(Kind::Contacts);
            let field = match q.get("reference_id_type").map(String::as_str) {
                Some("zcrm_contact_id") => "zcrm_contact_id",
                None | Some("zcrm_account_id") => "zcrm_account_id",
                Some(_) => return Err(ApiError::invalid_value("reference_id_type")),
            };
            let row = table_ref(st, cx.product, &cx.org.organization_id, &s)
                .and_then(|t| t.rows.values().find(|r| text(&r.data, field) == p(0)))
                .ok_or_else(|| ApiError::not_found(s.entity))?;
            Ok((200, record_body(&s, "success", row, &today)))
        }
        Route::InvoicePayments => {
            let is = sp(Kind::Invoices);
            let iid = parse_id(p(0), &is)?;
            get_row(st, cx, &is, iid)?;
            let ps = sp(Kind::Payments);
            let mut out = Vec::new();
            if let Some(t) = table_ref(st, cx.product, &cx.org.organization_id, &ps) {
                for (pid, r) in &t.rows {
                    for (i, amount) in stored_applications(&r.data) {
                        if i == iid {
                            out.push(json!({
                                "payment_id": pid.to_string(),
                                "payment_number": r.data.get("payment_number"),
                                "invoice_id": iid.to_string(),
                                "invoice_payment_id": format!("{pid}{iid}"),
                                "payment_mode": r.data.get("payment_mode"),
                                "description": r.data.get("description"),
                                "date": r.data.get("date"),
                                "reference_number": r.data.get("reference_number"),
                                "exchange_rate": 1.0,
                                "amount": amount,
                                "tax_amount_withheld": 0.0,
                                "is_single_invoice_payment": r.data.get("invoices").and_then(Value::as_array).is_some_and(|a| a.len() == 1),
                            }));
                        }
                    }
                }
            }
            Ok((
                200,
                json!({"code": 0, "message": "success", "payments": out}),
            ))
        }
        Route::CreditNoteApply => {
            let input = parse_body(body)?;
            let cs = sp(Kind::CreditNotes);
            apply_credits(st, cx, parse_id(p(0), &cs)?, input.get("invoices"))
        }
        Route::CreditNoteApplied => {
            let cs = sp(Kind::CreditNotes);
            let row = get_row(st, cx, &cs, parse_id(p(0), &cs)?)?;
            let rows: Vec<Value> = row
                .data
                .get("invoices")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|mut r| {
                    r["creditnote_id"] = json!(p(0));
                    r["creditnote_invoice_id"] = json!(format!(
                        "{}{}",
                        p(0),
                        r["invoice_id"].as_str().unwrap_or("")
                    ));
                    r
                })
                .collect();
            Ok((
                200,
                json!({"code": 0, "message": "success", "invoices_credited": rows}),
            ))
        }
        Route::InvoiceApplyCredits => {
            let input = parse_body(body)?;
            let is = sp(Kind::Invoices);
            let iid = parse_id(p(0), &is)?;
            get_row(st, cx, &is, iid)?;
            let list = input
                .get("apply_creditnotes")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if list.is_empty() {
                return Err(ApiError::invalid_value("apply_creditnotes"));
            }
            for c in list {
                let cn = c
                    .get("creditnote_id")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| ApiError::invalid_value("creditnote_id"))?;
                let apps = json!([{"invoice_id": iid.to_string(), "amount_applied": c.get("amount_applied").cloned().unwrap_or(json!(0))}]);
                apply_credits(st, cx, cn, Some(&apps))?;
            }
            Ok((200, ok("Credits have been applied to the invoice(s).")))
        }
        Route::CpList
        | Route::CpGet
        | Route::CpCreate
        | Route::CpUpdate
        | Route::CpDelete
        | Route::CpPrimary => contact_persons(st, cx, route, params, body),
    }
}

/// Contact persons live inside their contact; every change updates it.
fn contact_persons(
    st: &mut State,
    cx: &mut Ctx,
    route: Route,
    params: &[String],
    body: &[u8],
) -> OpResult {
    let cs = spec::spec(cx.product, Kind::Contacts);
    let billing = cx.product == Product::Billing;
    let input = parse_body(body)?;
    let p = |i: usize| params.get(i).cloned().unwrap_or_default();
    // Locate (contact id, person id).
    let find_owner = |st: &State, cpid: &str| -> Option<u64> {
        table_ref(st, cx.product, &cx.org.organization_id, &cs)?
            .rows
            .iter()
            .find(|(_, r)| {
                r.data
                    .get("contact_persons")
                    .and_then(Value::as_array)
                    .is_some_and(|a| a.iter().any(|x| x["contact_person_id"] == cpid))
            })
            .map(|(id, _)| *id)
    };
    let (cid, cpid): (u64, Option<String>) = match (route, billing) {
        (Route::CpList, _) => (parse_id(&p(0), &cs)?, None),
        (Route::CpGet, _) | (Route::CpUpdate | Route::CpDelete, true) => {
            (parse_id(&p(0), &cs)?, Some(p(1)))
        }
        (Route::CpCreate, true) => (parse_id(&p(0), &cs)?, None),
        (Route::CpCreate, false) => (parse_id(text(&input, "contact_id"), &cs)?, None),
        _ => {
            let cpid = p(0);
            (
                find_owner(st, &cpid).ok_or_else(|| ApiError::not_found("Contact person"))?,
                Some(cpid),
            )
        }
    };
    let mut data = get_row(st, cx, &cs, cid)?.data.clone();
    let mut persons: Vec<Value> = data
        .get("contact_persons")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let pos = cpid.as_ref().map(|id| {
        persons
            .iter()
            .position(|x| x["contact_person_id"] == id.as_str())
    });
    if let Some(None) = pos {
        return Err(ApiError::not_found("Contact person"));
    }
    let pos = pos.flatten();
    let (status, message, person): (u16, &str, Option<Value>) = match route {
        Route::CpList => {
            let mut b = json!({"code": 0, "message": "success", "contact_persons": persons});
            b["page_context"] = json!({"page": 1, "per_page": 200, "has_more_page": false, "sort_column": "contact_person_id", "sort_order": "A"});
            return Ok((200, b));
        }
        Route::CpGet => {
            let person = persons[pos.unwrap_or(0)].clone();
            return Ok((
                200,
                json!({"code": 0, "message": "success", "contact_person": person}),
            ));
        }
        Route::CpCreate => {
            let mut np = input.clone();
            np.remove("contact_id");
            np.insert(
                "contact_person_id".into(),
                json!(st.finance_id().to_string()),
            );
            person_defaults(&mut np);
            if persons.is_empty() {
                np.insert("is_primary_contact".into(), json!(true));
            } else if np["is_primary_contact"] == true {
                persons
                    .iter_mut()
                    .for_each(|x| x["is_primary_contact"] = json!(false));
            }
            persons.push(Value::Object(np.clone()));
            (
                201,
                "The contactperson has been Created",
                Some(Value::Object(np)),
            )
        }
        Route::CpUpdate => {
            let i = pos.unwrap_or(0);
            for (k, v) in &input {
                if k != "contact_person_id" && k != "contact_id" {
                    persons[i][k] = v.clone();
                }
            }
            (
                200,
                "The contactperson details has been updated.",
                Some(persons[i].clone()),
            )
        }
        Route::CpDelete => {
            persons.remove(pos.unwrap_or(0));
            (200, "The contact person has been deleted.", None)
        }
        _ => {
            let i = pos.unwrap_or(0);
            for (j, x) in persons.iter_mut().enumerate() {
                x["is_primary_contact"] = json!(j == i);
            }
            (
                200,
                "This contact person has been marked as your primary contact person.",
                None,
            )
        }
    };
    data.insert("contact_persons".into(), Value::Array(persons));
    fix_primary(&mut data);
    store(st, cx, &cs, cid, data, false);
    let mut b = ok(message);
    if let Some(p) = person {
        // Books' files (schema and example) wrap the person in an array.
        b["contact_person"] = if billing { p } else { json!([p]) };
    }
    Ok((status, b))
}
