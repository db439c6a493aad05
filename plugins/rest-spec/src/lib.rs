//! What a declarative connector's manifest says under `rest:`: per module,
//! how to list, get, find, create, update, delete and act through a REST
//! API, how pages follow one another, and what the vendor's errors mean.
//!
//! The host deserialises it when it loads the manifest (so a mistake is
//! reported with its line and column) and runs [`Spec::check`]; the generic
//! REST component receives the same value, as JSON, in its settings under
//! [`SETTINGS_KEY`], and interprets it. Keys are documented in
//! `docs/connectors.md`.

mod template;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use template::{Template, TemplateError, Vars};

/// Where the host puts the spec in the component's settings.
pub const SETTINGS_KEY: &str = "declarative";

/// The `rest:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Query parameters sent with every request (`resfmt: JSON`).
    #[serde(default)]
    pub query: BTreeMap<String, Template>,
    /// How the vendor's error answers map onto Ferry's errors.
    #[serde(default)]
    pub errors: Errors,
    /// How list pages follow one another, unless a module says otherwise.
    #[serde(default)]
    pub pagination: Pagination,
    /// A `get` on this path proves the credentials work (`ferry check`).
    #[serde(default)]
    pub check: Option<Request>,
    pub modules: BTreeMap<String, Module>,
}

/// One module (a kind of record).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Module {
    #[serde(default)]
    pub label: Option<String>,
    /// The field holding the record's id.
    #[serde(default = "default_id")]
    pub id: String,
    /// The field holding the last-modified time, if records have one.
    #[serde(default)]
    pub modified: Option<String>,
    /// Fields by name.
    #[serde(default)]
    pub fields: BTreeMap<String, Field>,
    #[serde(default)]
    pub list: Option<List>,
    /// Read one record by id (`{id}` in the path).
    #[serde(default)]
    pub get: Option<Request>,
    /// Records matching criteria (`{criteria.email}` in query or path).
    #[serde(default)]
    pub find: Option<List>,
    #[serde(default)]
    pub create: Option<Request>,
    /// Several records created by one request, where the vendor has a bulk
    /// call taking some fields only.
    #[serde(default)]
    pub create_many: Option<CreateMany>,
    /// Update one record (`{id}`; the body is the changed fields).
    #[serde(default)]
    pub update: Option<Request>,
    #[serde(default)]
    pub delete: Option<Request>,
    /// Named actions on one record (`{id}`, `{args.*}`).
    #[serde(default)]
    pub actions: BTreeMap<String, Action>,
    /// Fields written under another name than they are read under
    /// (`contact_email: "Contact Email"`): creates and updates rename them.
    #[serde(default)]
    pub write_names: BTreeMap<String, String>,
    /// The id is a natural key the record is written with (an email
    /// address): it is writable, and updates keep it in what they send
    /// (vendors that find the record by a key inside the body).
    #[serde(default)]
    pub write_id: bool,
    /// Fields a write sends as request parameters (`{params.topic_id}`),
    /// not inside the record (`{record:json}`, a JSON body).
    #[serde(default)]
    pub write_params: Vec<String>,
}

impl Module {
    /// `record` as it is written: fields renamed per `write_names`,
    /// without its `write_params`.
    pub fn written(
        &self,
        record: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        record
            .iter()
            .filter(|(k, _)| !self.write_params.contains(k))
            .map(|(k, v)| {
                let name = self.write_names.get(k).unwrap_or(k);
                (name.clone(), v.clone())
            })
            .collect()
    }

    /// The fields of `record` a write sends as request parameters.
    pub fn params(
        &self,
        record: &serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        record
            .iter()
            .filter(|(k, _)| self.write_params.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

fn default_id() -> String {
    "id".into()
}

/// A field of a module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(default)]
    pub kind: FieldKind,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub read_only: bool,
    /// Allowed values of a picklist.
    #[serde(default)]
    pub values: Vec<String>,
    /// The module a lookup field points at.
    #[serde(default)]
    pub lookup: Option<String>,
}

/// The contract's field kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    #[default]
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
}

/// A list (or find) request and where its records are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct List {
    #[serde(flatten)]
    pub request: Request,
    /// Where the records are in the answer (`data`; dotted for nested).
    #[serde(default)]
    pub records: String,
    /// This module's paging, if not the connector's.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// A server-side "changed since" filter: the parameter given the last
    /// run's watermark. Without it every run reads the whole module and the
    /// host finds what changed.
    #[serde(default)]
    pub since: Option<String>,
}

/// A bulk create (Zoho Campaigns' `addlistsubscribersinbulk`: up to ten
/// addresses, nothing else): a batch whose records carry `only` these
/// fields goes in requests of at most `max` records (`{records.<field>}`:
/// the field's values, comma-separated); any other batch goes one record
/// at a time through `create`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateMany {
    pub request: Request,
    pub max: u32,
    pub only: Vec<String>,
}

/// One HTTP request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Default: GET to read, POST to create and act, PATCH to update,
    /// DELETE to delete.
    #[serde(default)]
    pub method: Option<Method>,
    /// Relative to the connection's base URL; `{…}` placeholders.
    pub path: Template,
    #[serde(default)]
    pub query: BTreeMap<String, Template>,
    #[serde(default)]
    pub body: Body,
    /// Where the written (or read) record is in the answer; empty: the
    /// whole answer.
    #[serde(default)]
    pub record: String,
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

/// A request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Body {
    /// None (reads, deletes), unless the operation writes a record, in
    /// which case the record as JSON.
    #[default]
    Auto,
    None,
    /// The record (or action arguments) as a JSON object, optionally
    /// under one key (`wrap: customer`).
    Json {
        #[serde(default)]
        wrap: Option<String>,
    },
    /// Form fields from templates (`contactinfo: "{record:json}"`).
    Form {
        fields: BTreeMap<String, Template>,
    },
}

/// An action: a request and what it is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    #[serde(default)]
    pub description: String,
    #[serde(flatten)]
    pub request: Request,
}

/// How pages follow one another.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "style", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Pagination {
    /// One page holds everything.
    #[default]
    None,
    /// The answer names the next page's cursor (`end_cursor`), sent back
    /// as `param` (`after`); `has_more` (`has_next_page`) says whether
    /// there is one, else an absent or empty cursor ends the list.
    Cursor {
        param: String,
        next: String,
        #[serde(default)]
        has_more: Option<String>,
        #[serde(default)]
        size: Option<PageSize>,
    },
    /// Page numbers from `start` (1); `has_more` says whether another
    /// follows, else a short page is the last.
    Page {
        param: String,
        #[serde(default = "one")]
        start: u64,
        #[serde(default)]
        has_more: Option<String>,
        size: PageSize,
    },
    /// The first record's index from `start` (0, or 1 for Zoho
    /// Campaigns' `fromindex`); a short page is the last.
    Offset {
        param: String,
        #[serde(default)]
        start: u64,
        size: PageSize,
    },
    /// The answer's `Link` header names the next page (`rel="next"`).
    Link {
        #[serde(default)]
        size: Option<PageSize>,
    },
}

fn one() -> u64 {
    1
}

/// The page size parameter and the size asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageSize {
    pub param: String,
    pub value: u64,
}

/// How the vendor's errors read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Errors {
    /// Where the vendor's own error code is in an error body.
    #[serde(default = "default_code")]
    pub code: String,
    #[serde(default = "default_message")]
    pub message: String,
    /// Where per-field messages are (`validation_errors`: field → message).
    #[serde(default)]
    pub fields: Option<String>,
    /// Status codes that do not mean failure when the body says otherwise:
    /// vendors that answer 200 with an error code (Zoho Campaigns) list
    /// their codes here, with what they mean.
    #[serde(default)]
    pub rules: Vec<ErrorRule>,
    /// A body field that marks a failed answer whatever its HTTP status
    /// (`{ field: status, equals: error }`): such an answer that no rule
    /// matches is the vendor's error with its code.
    #[serde(default)]
    pub failed: Option<Failed>,
}

/// `errors.failed`: the answer failed when the body's `field` is `equals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Failed {
    pub field: String,
    pub equals: String,
}

impl Failed {
    /// Whether `body` says it failed.
    pub fn matches(&self, body: &serde_json::Value) -> bool {
        match at(body, &self.field) {
            Some(serde_json::Value::String(s)) => s.eq_ignore_ascii_case(&self.equals),
            Some(serde_json::Value::Bool(b)) => b.to_string() == self.equals,
            Some(serde_json::Value::Number(n)) => n.to_string() == self.equals,
            _ => false,
        }
    }
}

impl Default for Errors {
    fn default() -> Self {
        Errors {
            code: default_code(),
            message: default_message(),
            fields: None,
            rules: Vec::new(),
            failed: None,
        }
    }
}

fn default_code() -> String {
    "code".into()
}

fn default_message() -> String {
    "message".into()
}

/// An answer that means a particular error: by HTTP status, by the body's
/// code, or both. The first matching rule wins; answers no rule matches
/// map by status (401/403 unauthorized, 404 not found, 409 conflict, 422
/// invalid, 429 rate limited, 5xx transient, other 4xx the vendor's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRule {
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub code: Option<String>,
    pub error: ErrorKind,
}

/// The contract's error variants a rule can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Not an error after all (a body code meaning success).
    Ok,
    NotFound,
    Invalid,
    Unauthorized,
    RateLimited,
    Conflict,
    Transient,
    Vendor,
}

/// Which placeholders a request may use, by where it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    List,
    Get,
    Find,
    Create,
    Update,
    Delete,
    Act,
    Check,
    CreateMany,
}

impl Operation {
    fn allows(self, root: &str) -> bool {
        match root {
            "settings" => true,
            "id" => matches!(
                self,
                Operation::Get | Operation::Update | Operation::Delete | Operation::Act
            ),
            "record" | "params" => matches!(self, Operation::Create | Operation::Update),
            "records" => self == Operation::CreateMany,
            "criteria" => self == Operation::Find,
            "args" => self == Operation::Act,
            _ => false,
        }
    }
}

impl Spec {
    /// Check what types alone cannot: placeholders used where they have a
    /// value, modules named by lookups, reads for modules that are written.
    /// Each problem names where it is (`modules.customers.get.path`).
    pub fn check(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        for (k, t) in &self.query {
            check_template(&mut problems, &format!("query.{k}"), Operation::Check, t);
        }
        if let Some(check) = &self.check {
            check_request(&mut problems, "check", Operation::Check, check);
        }
        for (name, m) in &self.modules {
            let at = |what: &str| format!("modules.{name}.{what}");
            if let Some(l) = &m.list {
                check_request(&mut problems, &at("list"), Operation::List, &l.request);
            }
            if let Some(f) = &m.find {
                check_request(&mut problems, &at("find"), Operation::Find, &f.request);
            }
            let single = [
                ("get", Operation::Get, &m.get),
                ("create", Operation::Create, &m.create),
                ("update", Operation::Update, &m.update),
                ("delete", Operation::Delete, &m.delete),
            ];
            for (what, op, r) in single {
                if let Some(r) = r {
                    check_request(&mut problems, &at(what), op, r);
                }
            }
            if let Some(many) = &m.create_many {
                check_request(
                    &mut problems,
                    &at("create_many.request"),
                    Operation::CreateMany,
                    &many.request,
                );
                if m.create.is_none() {
                    problems.push(at(
                        "create_many: needs `create` too, for records with other fields",
                    ));
                }
                if many.max == 0 {
                    problems.push(at("create_many.max: at least 1"));
                }
                for field in &many.only {
                    if !m.fields.is_empty() && !m.fields.contains_key(field) {
                        problems.push(at(&format!(
                            "create_many.only.{field}: not among its fields"
                        )));
                    }
                }
            }
            for (action, a) in &m.actions {
                check_request(
                    &mut problems,
                    &at(&format!("actions.{action}")),
                    Operation::Act,
                    &a.request,
                );
            }
        }
        for (name, m) in &self.modules {
            if m.list.is_none() && m.get.is_none() {
                problems.push(format!(
                    "modules.{name}: neither `list` nor `get`: Ferry could never read it"
                ));
            }
            if (m.update.is_some() || m.delete.is_some()) && m.get.is_none() && m.list.is_none() {
                problems.push(format!("modules.{name}: written but never read"));
            }
            for (field, f) in &m.fields {
                if let Some(target) = &f.lookup
                    && !self.modules.contains_key(target)
                {
                    problems.push(format!(
                        "modules.{name}.fields.{field}.lookup: no module `{target}`"
                    ));
                }
            }
            let written = m.write_names.keys().map(|f| ("write_names", f));
            for (key, field) in written.chain(m.write_params.iter().map(|f| ("write_params", f))) {
                if !m.fields.is_empty() && !m.fields.contains_key(field) {
                    problems.push(format!(
                        "modules.{name}.{key}.{field}: not among its fields"
                    ));
                }
            }
            if !m.fields.is_empty() && !m.fields.contains_key(&m.id) {
                problems.push(format!(
                    "modules.{name}.id: `{}` is not among its fields",
                    m.id
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn check_request(problems: &mut Vec<String>, at: &str, op: Operation, r: &Request) {
    check_template(problems, &format!("{at}.path"), op, &r.path);
    for (k, t) in &r.query {
        check_template(problems, &format!("{at}.query.{k}"), op, t);
    }
    if let Body::Form { fields } = &r.body {
        for (k, t) in fields {
            check_template(problems, &format!("{at}.body.fields.{k}"), op, t);
        }
    }
}

fn check_template(problems: &mut Vec<String>, at: &str, op: Operation, t: &Template) {
    const ROOTS: [&str; 7] = [
        "settings", "id", "record", "params", "records", "criteria", "args",
    ];
    for root in t.roots() {
        if !op.allows(root) {
            let usable: Vec<String> = ROOTS
                .iter()
                .filter(|r| op.allows(r))
                .map(|r| format!("`{{{r}}}`"))
                .collect();
            problems.push(format!(
                "{at}: `{{{root}}}` has no value here; this request may use {}",
                usable.join(", ")
            ));
        }
    }
}

/// The value at a dotted `path` of `value` (`data`, `page.next`); the
/// empty path is the value itself.
pub fn at<'a>(value: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    if path.is_empty() {
        return Some(value);
    }
    path.split('.').try_fold(value, |v, key| match v {
        serde_json::Value::Object(map) => map.get(key),
        serde_json::Value::Array(items) => items.get(key.parse::<usize>().ok()?),
        _ => None,
    })
}

#[cfg(test)]
mod tests;
