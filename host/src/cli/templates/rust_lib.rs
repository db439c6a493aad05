//! The {{name}} connector: reads and creates `records` through the
//! vendor's REST API. Relative URLs resolve against the connection's base
//! URL, which the host builds from the manifest's data centre (or the
//! sandbox).

use ferry_plugin_sdk::page::page_number;
use ferry_plugin_sdk::prelude::*;

struct {{Class}};

impl Connector for {{Class}} {
    fn describe(_settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
        Ok(
            ConnectorInfo::new("{{name}}", env!("CARGO_PKG_VERSION"), "{{name}} connector").module(
                ModuleInfo::new("records", "id")
                    .label("Records")
                    .modified_field("updated_at")
                    .field(FieldInfo::text("id").read_only())
                    .field(FieldInfo::text("name").label("Name").required())
                    .field(FieldInfo::new("updated_at", FieldKind::Datetime).read_only())
                    .operations(&[Operation::Read, Operation::Incremental, Operation::Create])
                    .max_batch(50),
            ),
        )
    }

    fn list(
        _settings: &Settings,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        let page = page_number(cursor)?;
        let resp = Request::get(format!("/{module}"))
            .query("page", page)
            .query_opt("updated_since", since)
            .send()?;
        if !resp.is_success() {
            return Err(ConnectorError::from_status(resp.status, resp.text()));
        }
        let body: Value = resp.json()?;
        Ok(Page::from_records(records_at(&body, module)?)
            .next(body["has_more"] == json!(true), || (page + 1).to_string()))
    }

    fn create(
        _settings: &Settings,
        module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        // A POST that creates is not idempotent: the host will not repeat
        // it after an uncertain failure.
        Ok(records
            .into_iter()
            .map(|r| {
                let resp = Request::post(format!("/{module}")).json(&r).send()?;
                match resp.status {
                    201 => resp.json(),
                    status => Err(ConnectorError::from_status(status, resp.text())),
                }
            })
            .collect())
    }
}

export_connector!({{Class}});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_offers_records() {
        let info = {{Class}}::describe(&Settings::default()).unwrap();
        let records = &info.modules[0];
        assert_eq!(records.name, "records");
        assert!(records.operations.contains(&Operation::Incremental));
    }

    #[test]
    fn cursors_are_page_numbers() {
        assert_eq!(page_number(None).unwrap(), 1);
        assert_eq!(page_number(Some("3")).unwrap(), 3);
        assert!(page_number(Some("x")).is_err());
    }
}
