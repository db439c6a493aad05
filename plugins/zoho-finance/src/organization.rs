//! `organization`: the connection's organisation (`GET /organizations`,
//! the one named by `organization_id`), read-only — its base currency
//! (`currency_code`) decides whether amounts can be synced with another
//! organisation as they are.

use ferry_plugin_sdk::prelude::*;

use crate::product::ProductSpec;
use crate::{Method, request, send};

pub const MODULE: &str = "organization";

pub fn is(module: &str) -> bool {
    module == MODULE
}

pub fn info() -> ModuleInfo {
    ModuleInfo::new(MODULE, "organization_id")
        .label("Organisation")
        .fields(vec![
            FieldInfo::text("organization_id")
                .label("Organisation id")
                .read_only(),
            FieldInfo::text("name").label("Name").read_only(),
            FieldInfo::text("currency_code")
                .label("Base currency")
                .read_only(),
            FieldInfo::text("currency_id")
                .label("Base currency id")
                .read_only(),
            FieldInfo::text("time_zone").label("Time zone").read_only(),
        ])
        .operations(&[Operation::Read])
}

/// The configured organisation, as one record.
pub fn list(spec: &ProductSpec, settings: &Settings) -> Result<Page, ConnectorError> {
    let id = settings.require("organization_id")?;
    let body = send(request(spec, settings, Method::Get, "/organizations")?)?;
    let mine: Vec<Record> = records_at(&body, "organizations")?
        .into_iter()
        .filter(|o| o.get("organization_id").and_then(Value::as_str) == Some(id))
        .collect();
    Ok(Page::from_records(mine))
}
