//! # Ferry plugin SDK
//!
//! Write a Ferry connector as a WebAssembly component in plain Rust:
//! implement [`Connector`] (every operation but `describe` has a default
//! that answers "unsupported"), call [`export_connector!`], and build with
//! `cargo build --target wasm32-wasip2`.
//!
//! The host does the hard parts: it adds credentials to requests, enforces
//! allowed hosts, paces and retries requests, and limits memory and time.
//! A plugin only turns the vendor's API into records.
//!
//! ```ignore
//! use ferry_plugin_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Connector for Hello {
//!     fn describe(_settings: &Settings) -> Result<ConnectorInfo, ConnectorError> {
//!         Ok(ConnectorInfo::new("hello", env!("CARGO_PKG_VERSION"), "Says hello")
//!             .module(ModuleInfo::new("greetings", "id").field(FieldInfo::text("text")).operations(&[Operation::Read])))
//!     }
//!
//!     fn list(settings: &Settings, _module: &str, _since: Option<&str>, cursor: Option<&str>) -> Result<Page, ConnectorError> {
//!         let page: u32 = cursor.map_or(Ok(1), |c| c.parse()).map_err(|_| ConnectorError::invalid("cursor", "bad cursor"))?;
//!         let body: Value = Request::get("/greetings").query("page", page).send()?.json()?;
//!         Ok(Page::from_records(records_at(&body, "greetings")?).next(body["more"].as_bool() == Some(true), || (page + 1).to_string()))
//!     }
//! }
//!
//! export_connector!(Hello);
//! ```

pub mod bindings {
    //! The generated bindings of `ferry:connector@0.1.0`.
    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "plugin",
        pub_export_macro: true,
        export_macro_name: "export_raw",
        default_bindings_module: "ferry_plugin_sdk::bindings",
    });
}

mod adapter;
pub mod bulk;
pub mod error;
pub mod http;
pub mod json;
pub mod log;
pub mod page;
mod settings;
mod types;

pub use adapter::{Adapter, Connector, settings};
pub use error::ConnectorError;
pub use page::{DeletedPage, DeletedRecord, Page};
pub use settings::Settings;
pub use types::{ActionInfo, ConnectorInfo, FieldInfo, FieldKind, ModuleInfo, Operation};

/// A record: a JSON object.
pub type Record = serde_json::Map<String, serde_json::Value>;

/// Everything a connector usually needs, in one import.
pub mod prelude {
    pub use crate::error::{ConnectorError, ResultExt};
    pub use crate::http::{Method, Request, Response};
    pub use crate::json::{object, records_at, str_field};
    pub use crate::page::{DeletedPage, DeletedRecord, Page};
    pub use crate::{
        ActionInfo, Connector, ConnectorInfo, FieldInfo, FieldKind, ModuleInfo, Operation, Record,
        Settings, export_connector,
    };
    pub use serde_json::{Value, json};
}

/// Export a type implementing [`Connector`] as the component's
/// `ferry:connector/connector` interface. Use once per plugin crate.
#[macro_export]
macro_rules! export_connector {
    ($connector:ty) => {
        type __FerryExportedConnector = $crate::Adapter<$connector>;
        $crate::bindings::export_raw!(__FerryExportedConnector with_types_in $crate::bindings);
    };
}
