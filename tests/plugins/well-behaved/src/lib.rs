//! A well-behaved test connector: lists `items` from the connection's base
//! URL (page-numbered), echoes writes (a created record's id is
//! `new-<key>`, or `new-1` without a `key`), and logs.

use ferry_plugin_sdk::page::page_number;
use ferry_plugin_sdk::prelude::*;

struct WellBehaved;

impl Connector for WellBehaved {
    fn describe(_settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        Ok(ConnectorInfo::new(
            "well-behaved",
            env!("CARGO_PKG_VERSION"),
            "Test connector that follows the rules",
        )
        .module(
            ModuleInfo::new("items", "id")
                .label("Items")
                .modified_field("modified")
                .field(FieldInfo::text("id").read_only())
                .field(FieldInfo::text("name").label("Name").required())
                .field(FieldInfo::text("key").label("Caller's key"))
                .field(FieldInfo::new("price", FieldKind::Decimal))
                .field(
                    FieldInfo::new("status", FieldKind::Picklist).picklist(&["active", "inactive"]),
                )
                .operations(&[Operation::Read, Operation::Create, Operation::Incremental])
                .action("archive", "Archive the item")
                .max_batch(100),
        ))
    }

    fn configure(settings: &Settings) -> Result<(), ConnectorError> {
        settings.require("base_url").map(|_| ())
    }

    fn list(
        _settings: &Settings,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        if module != "items" {
            return Err(ConnectorError::NotFound(format!("module `{module}`")));
        }
        let page = page_number(cursor)?;
        let resp = Request::get("/items")
            .query("page", page)
            .query_opt("since", since)
            .send()?;
        if !resp.is_success() {
            return Err(ConnectorError::from_status(resp.status, resp.text()));
        }
        let body: Value = resp.json()?;
        ferry_plugin_sdk::log::info(&format!("listed page {page}"));
        Ok(Page::from_records(records_at(&body, "items")?)
            .next(body["more"] == json!(true), || (page + 1).to_string()))
    }

    fn create(
        _settings: &Settings,
        _module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        Ok(records
            .into_iter()
            .map(|mut r| match r.get("name") {
                Some(Value::String(_)) => {
                    let id = match r.get("key") {
                        Some(Value::String(k)) => format!("new-{k}"),
                        _ => "new-1".to_string(),
                    };
                    r.insert("id".into(), json!(id));
                    Ok(r)
                }
                _ => Err(ConnectorError::invalid("name", "name is required")),
            })
            .collect())
    }

    fn act(
        _settings: &Settings,
        _module: &str,
        id: &str,
        action: &str,
        _args: &Record,
    ) -> Result<Record, ConnectorError> {
        match action {
            "archive" => Ok(object(
                &json!({"id": id, "status": "inactive"}).to_string(),
            )?),
            other => Err(ConnectorError::unsupported(format!("action `{other}`"))),
        }
    }
}

export_connector!(WellBehaved);
