//! `Organization`: the CRM organisation itself (`GET /org`), read-only —
//! its base currency (`iso_code`) decides whether amounts can be synced
//! with another organisation as they are.

use ferry_plugin_sdk::prelude::*;

use crate::body_of;

pub const MODULE: &str = "Organization";

pub fn is(module: &str) -> bool {
    module.eq_ignore_ascii_case(MODULE)
}

pub fn info() -> ModuleInfo {
    ModuleInfo::new(MODULE, "id")
        .label("Organisation")
        .fields(vec![
            FieldInfo::text("id").label("Organisation id").read_only(),
            FieldInfo::text("company_name").label("Company").read_only(),
            FieldInfo::text("iso_code")
                .label("Base currency")
                .read_only(),
            FieldInfo::text("currency").label("Currency").read_only(),
            FieldInfo::text("time_zone").label("Time zone").read_only(),
            FieldInfo::text("country_code").label("Country").read_only(),
        ])
        .operations(&[Operation::Read])
}

pub fn list() -> Result<Page, ConnectorError> {
    let resp = Request::get("/org").send()?;
    Ok(match body_of(&resp)? {
        Some(body) => Page::from_records(records_at(&body, "org")?),
        None => Page::default(),
    })
}
