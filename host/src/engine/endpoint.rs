//! One side of a sync or the target of a rule: a connection's vendor and
//! one of its modules, as the vendor described it.

use std::sync::Arc;

use crate::connector::{CallError, ModuleInfo, Vendor};

use super::EngineError;
use super::read::PagingError;

/// A connection's vendor and one of its modules.
#[derive(Clone)]
pub struct Endpoint {
    pub connection: String,
    pub vendor: Arc<dyn Vendor>,
    pub info: ModuleInfo,
    /// The field naming a record for people (the ledger shows it beside
    /// the id), if the module has one.
    pub title: Option<String>,
}

/// The field naming a record of `info` for people: the manifest's choice,
/// else a field named as Zoho names such fields.
pub fn title_field(info: &ModuleInfo, declared: Option<&String>) -> Option<String> {
    if let Some(field) = declared {
        return Some(field.clone());
    }
    let singular = info.name.strip_suffix('s').unwrap_or(&info.name);
    let preferred = [
        "name".to_string(),
        "display_name".to_string(),
        format!("{singular}_Name"),
        format!("{}_name", singular.to_lowercase()),
        format!("{}_number", singular.to_lowercase()),
        "Full_Name".to_string(),
        "Subject".to_string(),
    ];
    preferred
        .into_iter()
        .find(|f| info.field(f).is_some())
        .or_else(|| {
            info.fields
                .iter()
                .find(|f| f.name.ends_with("_number") || f.name.ends_with("_Name"))
                .map(|f| f.name.clone())
        })
}

/// How a record is named for people, from its `title` field.
pub fn title_of(record: &crate::connector::Record, title: Option<&str>) -> Option<String> {
    let value = record.get(title?)?;
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::Object(o) => o.get("name")?.as_str()?.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

impl Endpoint {
    pub fn module(&self) -> &str {
        &self.info.name
    }

    /// Most records one write call should carry (at least one).
    pub fn batch(&self) -> usize {
        self.info.max_batch.max(1) as usize
    }

    /// Records to gather before writing: a batch for each call the
    /// connection may have in flight at once, so writes overlap up to its
    /// concurrency while each call still carries a full batch.
    pub fn wave(&self) -> usize {
        self.batch() * self.vendor.concurrency().max(1)
    }

    /// `call` on this endpoint's module failed.
    pub fn call_error(&self, call: &'static str, error: CallError) -> EngineError {
        self.call_error_on(self.module(), call, error)
    }

    /// `call` on another module of this endpoint's connection failed.
    pub fn call_error_on(&self, module: &str, call: &'static str, error: CallError) -> EngineError {
        EngineError::Call {
            connection: self.connection.clone(),
            call,
            module: module.to_string(),
            error: Box::new(error),
        }
    }

    /// Listing `module` of this endpoint's connection was stopped.
    pub fn paging_error(&self, module: &str, error: PagingError) -> EngineError {
        EngineError::Paging {
            connection: self.connection.clone(),
            module: module.to_string(),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{FieldInfo, FieldKind};

    fn module(name: &str, fields: &[&str]) -> ModuleInfo {
        ModuleInfo {
            name: name.into(),
            label: name.into(),
            id_field: "id".into(),
            modified_field: None,
            fields: fields
                .iter()
                .map(|f| FieldInfo {
                    name: f.to_string(),
                    label: f.to_string(),
                    kind: FieldKind::Text,
                    required: false,
                    read_only: false,
                    custom: false,
                    picklist: Vec::new(),
                    lookup_module: None,
                })
                .collect(),
            operations: Vec::new(),
            actions: Vec::new(),
            max_batch: 1,
            create_job: None,
        }
    }

    #[test]
    fn a_record_is_named_by_the_field_zoho_names_it_by() {
        // (module, its fields, the manifest's choice, the field chosen)
        type Case<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
        let cases: &[Case] = &[
            (
                "Accounts",
                &["id", "Account_Name", "Phone"],
                None,
                Some("Account_Name"),
            ),
            ("Deals", &["Amount", "Deal_Name"], None, Some("Deal_Name")),
            (
                "Contacts",
                &["Email", "Full_Name", "Last_Name"],
                None,
                Some("Full_Name"),
            ),
            (
                "contacts",
                &["contact_id", "contact_name", "email"],
                None,
                Some("contact_name"),
            ),
            (
                "invoices",
                &["customer_name", "invoice_number"],
                None,
                Some("invoice_number"),
            ),
            ("items", &["name", "rate"], None, Some("name")),
            (
                "customers",
                &["display_name", "company_name"],
                None,
                Some("display_name"),
            ),
            ("Quotes", &["Subject", "Grand_Total"], None, Some("Subject")),
            (
                "payments",
                &["amount", "payment_number"],
                None,
                Some("payment_number"),
            ),
            ("notes", &["body"], None, None),
            (
                "invoices",
                &["invoice_number"],
                Some("reference_number"),
                Some("reference_number"),
            ),
        ];
        for (name, fields, declared, want) in cases {
            let declared = declared.map(str::to_string);
            assert_eq!(
                title_field(&module(name, fields), declared.as_ref()).as_deref(),
                *want,
                "{name} {fields:?}"
            );
        }
    }

    #[test]
    fn a_title_is_text_a_number_or_a_lookups_name() {
        let record = serde_json::json!({
            "n": "Acme", "num": 42, "lookup": {"id": "1", "name": "Acme Ltd"}, "empty": "", "list": [1]
        });
        let record = record.as_object().unwrap();
        for (field, want) in [
            ("n", Some("Acme")),
            ("num", Some("42")),
            ("lookup", Some("Acme Ltd")),
            ("empty", None),
            ("list", None),
            ("missing", None),
        ] {
            assert_eq!(title_of(record, Some(field)).as_deref(), want, "{field}");
        }
        assert_eq!(title_of(record, None), None);
    }
}
