//! Product descriptions: everything that differs between Books, Invoice and
//! Billing is data in these types, read by one implementation.

use ferry_plugin_sdk::{FieldInfo, FieldKind};

/// A finance product: its connector name, how it selects the organisation
/// and its resources. The API host and base path come from the connector
/// manifest; a product never names a host.
#[derive(Debug)]
pub struct ProductSpec {
    /// Connector name (`zoho-books`).
    pub name: &'static str,
    /// One line for people.
    pub description: &'static str,
    /// Where the `organization_id` setting goes on every request.
    pub organization: OrgPlacement,
    /// The modules.
    pub resources: &'static [Resource],
}

/// Where a request names its organisation.
#[derive(Debug, Clone, Copy)]
pub enum OrgPlacement {
    /// A query parameter (Books, Invoice: `organization_id`).
    Query(&'static str),
    /// A header (Billing: `X-com-zoho-subscriptions-organizationid`).
    Header(&'static str),
}

/// How `list` finds records changed since a watermark. Every strategy also
/// drops rows whose modified field is older than the watermark on the
/// client, so a filter the server ignores costs requests, never correctness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incremental {
    /// The server filters: `last_modified_time=<since>` keeps records
    /// modified at or after that second.
    ModifiedFilter,
    /// No filter, but the list sorts by `sort_column`: read newest first and
    /// stop at the first row older than the watermark.
    NewestFirst { sort_column: &'static str },
    /// Neither: page through everything and keep the changed rows.
    Scan,
}

/// One action: the contract's name and the URL suffix after `/{id}/`.
#[derive(Debug, Clone, Copy)]
pub struct ActionRoute {
    pub name: &'static str,
    pub suffix: &'static str,
    pub description: &'static str,
}

/// One resource (module) of a product.
#[derive(Debug)]
pub struct Resource {
    /// Module name in workspaces and calls (`contacts`, `quotes`).
    pub module: &'static str,
    /// Name for people.
    pub label: &'static str,
    /// URL path under the base URL (`/contacts`).
    pub path: &'static str,
    /// JSON key of one record in responses (`contact`).
    pub singular: &'static str,
    /// JSON key of a list (`contacts`).
    pub plural: &'static str,
    /// Field holding the record id (`contact_id`).
    pub id_field: &'static str,
    /// Field holding the last-modified time (`last_modified_time`,
    /// `updated_time`).
    pub modified_field: &'static str,
    /// How incremental listing works for this resource.
    pub incremental: Incremental,
    /// Column to sort full listings by, ascending, when the resource allows
    /// one that keeps pages stable while records are created
    /// (`created_time`); `None` keeps the server's default order.
    pub list_sort: Option<&'static str>,
    /// Whether create, update and delete are offered.
    pub writable: bool,
    /// Actions (`mark-sent`, `void`, …).
    pub actions: &'static [ActionRoute],
    /// Standard fields; custom fields are discovered from the API.
    pub fields: &'static [Field],
}

/// A standard field, as data.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub read_only: bool,
    pub lookup: Option<&'static str>,
}

impl Field {
    /// An optional, writable field.
    pub const fn new(name: &'static str, label: &'static str, kind: FieldKind) -> Field {
        Field {
            name,
            label,
            kind,
            required: false,
            read_only: false,
            lookup: None,
        }
    }
    /// The vendor refuses a create without it.
    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }
    /// The vendor sets it.
    pub const fn read_only(mut self) -> Field {
        self.read_only = true;
        self
    }
    /// A reference to a record of `module`.
    pub const fn lookup(mut self, module: &'static str) -> Field {
        self.kind = FieldKind::Lookup;
        self.lookup = Some(module);
        self
    }

    /// As the contract describes it.
    pub fn info(&self) -> FieldInfo {
        let mut info = FieldInfo::new(self.name, self.kind).label(self.label);
        info.required = self.required;
        info.read_only = self.read_only;
        info.lookup_module = self.lookup.map(String::from);
        info
    }
}

impl ProductSpec {
    /// The resource called `module`, or `unsupported`.
    pub fn resource(
        &self,
        module: &str,
    ) -> Result<&'static Resource, ferry_plugin_sdk::ConnectorError> {
        self.resources
            .iter()
            .find(|r| r.module == module)
            .ok_or_else(|| {
                ferry_plugin_sdk::ConnectorError::unsupported(format!(
                    "{} has no module `{module}`",
                    self.name
                ))
            })
    }
}

impl Resource {
    /// The action called `name`.
    pub fn action(&self, name: &str) -> Option<&'static ActionRoute> {
        self.actions.iter().find(|a| a.name == name)
    }
}
