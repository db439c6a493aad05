//! Bindings for contract `ferry:connector@0.1.0`: the generated types, the
//! host side of its imports, and conversions into host types. A later
//! contract version gets a sibling file; nothing here changes.

use crate::capability::http::{self as cap_http};
use crate::capability::log::Level;
use crate::connector::{self as info, ConnectorError};
use crate::plugin::host_state::HostState;

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "plugin",
    imports: { default: async | trappable },
    exports: { default: async },
});

use self::ferry::connector::{http, log, types};

/// The export interface name this version is recognised by.
pub const EXPORT: &str = "ferry:connector/connector@0.1.0";

/// Interfaces of this contract a component may import.
pub const IMPORTS: &[&str] = &[
    "ferry:connector/types@0.1.0",
    "ferry:connector/http@0.1.0",
    "ferry:connector/log@0.1.0",
];

impl types::Host for HostState {}

impl http::Host for HostState {
    async fn send(
        &mut self,
        req: http::Request,
    ) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        let Some(caps) = self.capabilities() else {
            return Ok(Err(http::HttpError::Denied(
                "this call has no network (the plugin is being inspected, not run)".into(),
            )));
        };
        let request = cap_http::Request {
            method: match req.method {
                http::Method::Get => cap_http::Method::Get,
                http::Method::Post => cap_http::Method::Post,
                http::Method::Put => cap_http::Method::Put,
                http::Method::Patch => cap_http::Method::Patch,
                http::Method::Delete => cap_http::Method::Delete,
            },
            url: req.url,
            headers: req.headers,
            body: req.body,
            idempotent: req.idempotent,
        };
        let result = caps.http.send(request).await;
        if let Err(e) = &result {
            tracing::debug!(plugin = %caps.plugin, connection = %caps.connection, error = %e, "plugin request not delivered");
        }
        Ok(result
            .map(|r| http::Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            })
            .map_err(|e| match e {
                cap_http::HttpError::Denied(m) => http::HttpError::Denied(m),
                cap_http::HttpError::InvalidRequest(m) => http::HttpError::InvalidRequest(m),
                cap_http::HttpError::Timeout(m) => http::HttpError::Timeout(m),
                cap_http::HttpError::Connection(m) => http::HttpError::Connection(m),
                cap_http::HttpError::TooLarge(n) => http::HttpError::TooLarge(n),
                cap_http::HttpError::Unauthorized(m) => http::HttpError::Unauthorized(m),
            }))
    }
}

impl log::Host for HostState {
    async fn write(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        };
        self.log().write(level, &message);
        Ok(())
    }
}

impl From<types::ConnectorError> for ConnectorError {
    fn from(e: types::ConnectorError) -> Self {
        use types::ConnectorError as E;
        match e {
            E::NotFound(m) => ConnectorError::NotFound(m),
            E::Invalid(f) => ConnectorError::Invalid {
                field: f.field,
                message: f.message,
            },
            E::Unauthorized(m) => ConnectorError::Unauthorized(m),
            E::RateLimited(r) => ConnectorError::RateLimited {
                retry_after_ms: r.retry_after_ms,
                message: r.message,
            },
            E::Conflict(m) => ConnectorError::Conflict(m),
            E::Transient(m) => ConnectorError::Transient(m),
            E::Unsupported(m) => ConnectorError::Unsupported(m),
            E::Vendor(v) => ConnectorError::Vendor {
                code: v.code,
                message: v.message,
                http_status: v.http_status,
            },
        }
    }
}

/// `describe`'s answer in host terms.
pub fn connector_info(i: types::ConnectorInfo) -> info::ConnectorInfo {
    info::ConnectorInfo {
        name: i.name,
        version: i.version,
        description: i.description,
        contract: crate::plugin::CONTRACT_V0_1.to_string(),
        modules: i.modules.into_iter().map(module_info).collect(),
    }
}

fn module_info(m: types::ModuleInfo) -> info::ModuleInfo {
    info::ModuleInfo {
        name: m.name,
        label: m.label,
        id_field: m.id_field,
        modified_field: m.modified_field,
        fields: m.fields.into_iter().map(field_info).collect(),
        operations: m.operations.into_iter().map(operation).collect(),
        actions: m
            .actions
            .into_iter()
            .map(|a| info::ActionInfo {
                name: a.name,
                description: a.description,
            })
            .collect(),
        max_batch: m.max_batch,
        // Asked of the plugin's `ferry:jobs` export, if it has one.
        create_job: None,
    }
}

fn field_info(f: types::FieldInfo) -> info::FieldInfo {
    use info::FieldKind as K;
    use types::FieldKind as W;
    info::FieldInfo {
        name: f.name,
        label: f.label,
        kind: match f.kind {
            W::Text => K::Text,
            W::LongText => K::LongText,
            W::Integer => K::Integer,
            W::Decimal => K::Decimal,
            W::Currency => K::Currency,
            W::Percent => K::Percent,
            W::Boolean => K::Boolean,
            W::Date => K::Date,
            W::Datetime => K::Datetime,
            W::Email => K::Email,
            W::Phone => K::Phone,
            W::Url => K::Url,
            W::Picklist => K::Picklist,
            W::MultiPicklist => K::MultiPicklist,
            W::Lookup => K::Lookup,
            W::Object => K::Object,
            W::List => K::List,
            W::Other => K::Other,
        },
        required: f.required,
        read_only: f.read_only,
        custom: f.custom,
        picklist: f.picklist,
        lookup_module: f.lookup_module,
    }
}

fn operation(o: types::Operation) -> info::Operation {
    use info::Operation as O;
    use types::Operation as W;
    match o {
        W::Read => O::Read,
        W::Create => O::Create,
        W::Update => O::Update,
        W::Delete => O::Delete,
        W::Find => O::Find,
        W::Incremental => O::Incremental,
        W::DeletedFeed => O::DeletedFeed,
        W::Upsert => O::Upsert,
    }
}
