//! `Stages`: the organisation's deal stages with their probability and
//! forecast type — Zoho's stage–probability mapping, read from the `Stage`
//! field of `settings/fields?module=Deals`. Read-only. Ferry's trigger
//! rules use it to tell won (probability 100) from lost (0) stages without
//! naming them, as Zoho's own integrations do.

use ferry_plugin_sdk::prelude::*;

use crate::error::response_error;

/// The module's name in calls and workspace YAML.
pub const MODULE: &str = "Stages";

/// The module as `describe` reports it.
pub fn info() -> ModuleInfo {
    ModuleInfo::new(MODULE, "id")
        .label("Deal stages")
        .fields(vec![
            FieldInfo::text("id").label("Stage").read_only(),
            FieldInfo::text("name").label("Display name").read_only(),
            FieldInfo::new("probability", FieldKind::Integer)
                .label("Probability (%)")
                .read_only(),
            FieldInfo::new("forecast_type", FieldKind::Picklist)
                .label("Forecast type")
                .read_only(),
            FieldInfo::text("forecast_category")
                .label("Forecast category")
                .read_only(),
        ])
        .operations(&[Operation::Read])
}

pub fn is(module: &str) -> bool {
    module.eq_ignore_ascii_case(MODULE)
}

/// Every stage, in the organisation's order.
pub fn list() -> Result<Page, ConnectorError> {
    let resp = Request::get("/settings/fields")
        .query("module", "Deals")
        .send()?;
    if resp.status != 200 {
        return Err(response_error(&resp));
    }
    let body: Value = resp.json()?;
    Ok(Page::from_records(from_fields(&body)))
}

/// One stage by its value.
pub fn get(id: &str) -> Result<Record, ConnectorError> {
    list()?
        .records
        .into_iter()
        .find(|s| s.get("id").and_then(Value::as_str) == Some(id))
        .ok_or_else(|| ConnectorError::NotFound(format!("no deal stage `{id}`")))
}

/// The `Stage` picklist of a `settings/fields` answer as stage records.
fn from_fields(body: &Value) -> Vec<Record> {
    let Some(stage) = body["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["api_name"] == "Stage")
    else {
        return Vec::new();
    };
    stage["pick_list_values"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            let value = p["actual_value"].as_str().or(p["display_value"].as_str())?;
            if value == "-None-" {
                return None;
            }
            let mut r = Record::new();
            r.insert("id".into(), json!(value));
            r.insert(
                "name".into(),
                json!(p["display_value"].as_str().unwrap_or(value)),
            );
            r.insert("probability".into(), p["probability"].clone());
            r.insert("forecast_type".into(), p["forecast_type"].clone());
            r.insert(
                "forecast_category".into(),
                p["forecast_category"]["name"].clone(),
            );
            Some(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_picklist_becomes_stage_records() {
        let body = json!({"fields": [
            {"api_name": "Deal_Name"},
            {"api_name": "Stage", "pick_list_values": [
                {"actual_value": "-None-"},
                {"actual_value": "Closed Won", "display_value": "Closed Won", "probability": 100,
                 "forecast_type": "Closed Won", "forecast_category": {"name": "Closed", "id": "1"}},
                {"actual_value": "Closed Lost", "probability": 0, "forecast_type": "Closed Lost"}
            ]}
        ]});
        let stages = from_fields(&body);
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0]["id"], "Closed Won");
        assert_eq!(stages[0]["probability"], 100);
        assert_eq!(stages[0]["forecast_category"], "Closed");
        assert_eq!(stages[1]["name"], "Closed Lost");
        assert_eq!(stages[1]["probability"], 0);
    }
}
