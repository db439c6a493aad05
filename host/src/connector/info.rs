//! What a connector says about itself (`describe`), as plain host types.
//!
//! These mirror the WIT records of the contract but belong to the host: the
//! rest of Ferry (config validation, the sync engine, the CLI) works with
//! these and never with generated bindings, so a second contract version
//! only needs a conversion into them.

use serde::{Deserialize, Serialize};

/// A connector's self-description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectorInfo {
    /// Connector name (`zoho-crm`).
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// One line for people.
    pub description: String,
    /// The contract the component implements (`ferry:connector@0.1.0`).
    pub contract: String,
    /// Its modules.
    pub modules: Vec<ModuleInfo>,
}

impl ConnectorInfo {
    /// The module called `name`, if the connector has one.
    pub fn module(&self, name: &str) -> Option<&ModuleInfo> {
        self.modules.iter().find(|m| m.name == name)
    }
}

/// One module (record type): `Accounts`, `invoices`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModuleInfo {
    pub name: String,
    pub label: String,
    /// Field holding the record id.
    pub id_field: String,
    /// Field holding the last-modified time, if the vendor keeps one.
    pub modified_field: Option<String>,
    pub fields: Vec<FieldInfo>,
    pub operations: Vec<Operation>,
    pub actions: Vec<ActionInfo>,
    /// Most records one batch write should carry.
    pub max_batch: u32,
    /// Creates too many for one call go as vendor jobs (Zoho CRM's Bulk
    /// Write) when the connector offers them for this module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_job: Option<JobSize>,
}

/// How big a create job of a module may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSize {
    /// Fewer creates than this go through ordinary create calls.
    pub min_records: u32,
    /// Most records one job takes.
    pub max_records: u32,
    /// The longest one job takes: past it, a job that has not answered
    /// (or whose handle a crash lost) is taken as over.
    pub patience_secs: u32,
}

impl ModuleInfo {
    /// The field with API name `name`, if the module has one.
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Whether the module supports `op`.
    pub fn supports(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }

    /// The action called `name`, if the module offers it.
    pub fn action(&self, name: &str) -> Option<&ActionInfo> {
        self.actions.iter().find(|a| a.name == name)
    }
}

/// One field of a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldInfo {
    /// API name, as in record JSON.
    pub name: String,
    /// Label people see.
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
    pub read_only: bool,
    /// A customer-defined (custom) field.
    pub custom: bool,
    /// Allowed values of picklists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub picklist: Vec<String>,
    /// For lookups: the module referred to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup_module: Option<String>,
}

/// The shape of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    Text,
    LongText,
    Integer,
    Decimal,
    Currency,
    Percent,
    Boolean,
    Date,
    Datetime,
    Email,
    Phone,
    Url,
    Picklist,
    MultiPicklist,
    Lookup,
    Object,
    List,
    Other,
}

/// An operation a module supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    Read,
    Create,
    Update,
    Delete,
    Find,
    Incremental,
    DeletedFeed,
    Upsert,
}

impl Operation {
    /// The name used in the contract and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Read => "read",
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
            Operation::Find => "find",
            Operation::Incremental => "incremental",
            Operation::DeletedFeed => "deleted-feed",
            Operation::Upsert => "upsert",
        }
    }
}

/// A named action beyond create/update/delete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionInfo {
    pub name: String,
    pub description: String,
}
