//! `Notifications`: CRM's notification channels (`/actions/watch`), as a
//! module. Creating a record opens a channel — CRM then POSTs each change
//! of the channel's modules to its `notify_url`, echoing its `token` —
//! updating one renews or changes it, deleting one closes it. Ferry's
//! `serve` opens channels for instant runs and renews them before
//! `channel_expiry` (at most a week ahead).

use ferry_plugin_sdk::prelude::*;

use crate::{body_of, results_at};

/// The module's name in calls and manifests.
pub const MODULE: &str = "Notifications";

pub fn is(module: &str) -> bool {
    module.eq_ignore_ascii_case(MODULE)
}

/// The module as `describe` reports it.
pub fn info() -> ModuleInfo {
    ModuleInfo::new(MODULE, "channel_id")
        .label("Notification channels")
        .fields(vec![
            FieldInfo::text("channel_id").label("Channel id").required(),
            FieldInfo::new("events", FieldKind::List)
                .label("Events (`Deals.all`, `Accounts.edit`, …)")
                .required(),
            FieldInfo::new("notify_url", FieldKind::Url)
                .label("Notify URL")
                .required(),
            FieldInfo::text("token").label("Token (echoed in every notification)"),
            FieldInfo::new("channel_expiry", FieldKind::Datetime).label("Expiry"),
        ])
        .operations(&[
            Operation::Read,
            Operation::Create,
            Operation::Update,
            Operation::Delete,
        ])
        .max_batch(100)
}

/// Open channels.
pub fn list() -> Result<Page, ConnectorError> {
    let resp = Request::get("/actions/watch").send()?;
    Ok(match body_of(&resp)? {
        Some(body) => Page::from_records(records_at(&body, "watch")?),
        None => Page::default(),
    })
}

/// One channel by id.
pub fn get(id: &str) -> Result<Record, ConnectorError> {
    let resp = Request::get("/actions/watch")
        .query("channel_id", id)
        .send()?;
    body_of(&resp)?
        .map(|body| records_at(&body, "watch"))
        .transpose()?
        .and_then(|mut r| (!r.is_empty()).then(|| r.remove(0)))
        .ok_or_else(|| ConnectorError::NotFound(format!("no notification channel {id}")))
}

/// Open channels; one result per input.
pub fn create(records: Vec<Record>) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    let resp = Request::post("/actions/watch")
        .json(&json!({ "watch": records }))
        .send()?;
    settled(&records, results_at(&resp, &records, "watch")?)
}

/// Renew or change channels (by `channel_id`).
pub fn update(records: Vec<Record>) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    let resp = Request::patch("/actions/watch")
        .json(&json!({ "watch": records }))
        .idempotent(true)
        .send()?;
    settled(&records, results_at(&resp, &records, "watch")?)
}

/// Close channels.
pub fn delete(ids: Vec<String>) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    let inputs: Vec<Record> = ids
        .iter()
        .map(|id| {
            let mut r = Record::new();
            r.insert("channel_id".into(), json!(id));
            r
        })
        .collect();
    let resp = Request::delete("/actions/watch")
        .query("channel_ids", ids.join(","))
        .send()?;
    results_at(&resp, &inputs, "watch")
}

/// Each channel as sent, with the expiry CRM granted (CRM's `details`
/// list the channel's events with it).
fn settled(
    inputs: &[Record],
    results: Vec<Result<Record, ConnectorError>>,
) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
    Ok(results
        .into_iter()
        .zip(inputs)
        .map(|(r, input)| {
            r.map(|answer| {
                let mut channel = input.clone();
                let granted = answer
                    .get("events")
                    .and_then(Value::as_array)
                    .and_then(|e| e.first())
                    .and_then(|e| e.get("channel_expiry"))
                    .cloned();
                if let Some(expiry) = granted {
                    channel.insert("channel_expiry".into(), expiry);
                }
                channel
            })
        })
        .collect())
}
