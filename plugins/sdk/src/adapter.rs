//! The trait connectors implement, and its bridge to the generated export.

use std::cell::RefCell;
use std::marker::PhantomData;

use serde_json::Value;

use crate::bindings::exports::ferry::connector::connector::{self as wit, Guest};
use crate::json::object;
use crate::page::{DeletedPage, Page};
use crate::{ConnectorError, ConnectorInfo, Record, Settings};

/// A Ferry connector. Implement `describe` and what your vendor supports;
/// the rest answers "unsupported". Each call runs in a fresh instance after
/// `configure`, so keep no state of your own between calls.
#[allow(unused_variables)]
pub trait Connector: 'static {
    /// Modules, fields, operations and actions. `settings` may be empty
    /// (the host is only inspecting): answer without network then.
    fn describe(settings: &Settings) -> Result<ConnectorInfo, ConnectorError>;

    /// Validate settings before any other call. The default accepts all.
    fn configure(settings: &Settings) -> Result<(), ConnectorError> {
        Ok(())
    }

    /// Check credentials and settings against the vendor.
    fn check(settings: &Settings) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn list(
        settings: &Settings,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, ConnectorError> {
        Err(unsupported("list", module))
    }

    fn get(settings: &Settings, module: &str, id: &str) -> Result<Record, ConnectorError> {
        Err(unsupported("get", module))
    }

    fn find(
        settings: &Settings,
        module: &str,
        criteria: &Record,
    ) -> Result<Vec<Record>, ConnectorError> {
        Err(unsupported("find", module))
    }

    fn deleted(
        settings: &Settings,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<DeletedPage, ConnectorError> {
        Err(unsupported("deleted", module))
    }

    /// One result per input, in order.
    fn create(
        settings: &Settings,
        module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        Err(unsupported("create", module))
    }

    /// One result per input, in order.
    fn update(
        settings: &Settings,
        module: &str,
        records: Vec<Record>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        Err(unsupported("update", module))
    }

    /// One result per input, in order.
    fn delete(
        settings: &Settings,
        module: &str,
        ids: Vec<String>,
    ) -> Result<Vec<Result<Record, ConnectorError>>, ConnectorError> {
        Err(unsupported("delete", module))
    }

    fn act(
        settings: &Settings,
        module: &str,
        id: &str,
        action: &str,
        args: &Record,
    ) -> Result<Record, ConnectorError> {
        Err(ConnectorError::unsupported(format!(
            "action `{action}` on `{module}`"
        )))
    }
}

fn unsupported(op: &str, module: &str) -> ConnectorError {
    ConnectorError::unsupported(format!("`{op}` on module `{module}`"))
}

thread_local! {
    static SETTINGS: RefCell<Settings> = RefCell::new(Settings::default());
}

/// The settings `configure` stored for this call: for interfaces a
/// plugin exports beside its connector (`ferry:jobs`, say), whose calls
/// are configured the same way.
pub fn settings() -> Settings {
    SETTINGS.with(|s| s.borrow().clone())
}

fn text(record: Record) -> String {
    Value::Object(record).to_string()
}

fn write_results(
    results: Vec<Result<Record, ConnectorError>>,
) -> Vec<Result<String, ConnectorError>> {
    results.into_iter().map(|r| r.map(text)).collect()
}

fn parse_all(records: Vec<String>) -> Result<Vec<Record>, ConnectorError> {
    records.iter().map(|r| object(r)).collect()
}

/// Bridges a [`Connector`] to the generated `Guest` trait; used by
/// [`crate::export_connector!`].
pub struct Adapter<C>(PhantomData<C>);

impl<C: Connector> Guest for Adapter<C> {
    fn describe(settings: String) -> Result<wit::ConnectorInfo, ConnectorError> {
        C::describe(&Settings::parse(&settings)?)
    }

    fn configure(json: String) -> Result<(), ConnectorError> {
        let parsed = Settings::parse(&json)?;
        C::configure(&parsed)?;
        SETTINGS.with(|s| *s.borrow_mut() = parsed);
        Ok(())
    }

    fn check() -> Result<(), ConnectorError> {
        C::check(&settings())
    }

    fn list(
        module: String,
        since: Option<String>,
        cursor: Option<String>,
    ) -> Result<wit::Page, ConnectorError> {
        let page = C::list(&settings(), &module, since.as_deref(), cursor.as_deref())?;
        let mut records: Vec<String> = page.records.into_iter().map(text).collect();
        records.extend(page.raw);
        Ok(wit::Page {
            records,
            next_cursor: page.next_cursor,
        })
    }

    fn get(module: String, id: String) -> Result<String, ConnectorError> {
        C::get(&settings(), &module, &id).map(text)
    }

    fn find(module: String, criteria: String) -> Result<Vec<String>, ConnectorError> {
        Ok(C::find(&settings(), &module, &object(&criteria)?)?
            .into_iter()
            .map(text)
            .collect())
    }

    fn deleted(
        module: String,
        since: Option<String>,
        cursor: Option<String>,
    ) -> Result<wit::DeletedPage, ConnectorError> {
        let page = C::deleted(&settings(), &module, since.as_deref(), cursor.as_deref())?;
        Ok(wit::DeletedPage {
            records: page
                .records
                .into_iter()
                .map(
                    |d| crate::bindings::ferry::connector::types::DeletedRecord {
                        id: d.id,
                        deleted_at: d.deleted_at,
                    },
                )
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    fn create(
        module: String,
        records: Vec<String>,
    ) -> Result<Vec<Result<String, ConnectorError>>, ConnectorError> {
        Ok(write_results(C::create(
            &settings(),
            &module,
            parse_all(records)?,
        )?))
    }

    fn update(
        module: String,
        records: Vec<String>,
    ) -> Result<Vec<Result<String, ConnectorError>>, ConnectorError> {
        Ok(write_results(C::update(
            &settings(),
            &module,
            parse_all(records)?,
        )?))
    }

    fn delete(
        module: String,
        ids: Vec<String>,
    ) -> Result<Vec<Result<String, ConnectorError>>, ConnectorError> {
        Ok(write_results(C::delete(&settings(), &module, ids)?))
    }

    fn act(
        module: String,
        id: String,
        action: String,
        args: String,
    ) -> Result<String, ConnectorError> {
        C::act(&settings(), &module, &id, &action, &object(&args)?).map(text)
    }
}
