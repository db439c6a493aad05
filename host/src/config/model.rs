//! The typed workspace model. Every name and value a user wrote keeps its
//! [`Span`], so checks after loading still point at file:line:col.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::expr::Expr;
use super::path::FieldPath;
use super::secret::Secret;
use super::yaml::{SourceFile, Span};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Spanned<T> {
        Spanned { value, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A whole workspace: one file plus everything it includes.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The file named on the command line.
    pub path: PathBuf,
    /// Every file read, the root first.
    pub files: Vec<Arc<SourceFile>>,
    pub connections: BTreeMap<String, Connection>,
    pub syncs: BTreeMap<String, SyncConfig>,
    pub triggers: BTreeMap<String, Trigger>,
    /// Figures aggregated from child records onto parents (`rollups:`).
    pub rollups: BTreeMap<String, Rollup>,
    /// How `ferry serve` runs (`serve:`); defaults when absent.
    pub serve: ServeConfig,
    /// Problems found while loading: only warnings for a workspace that
    /// [`Workspace::load`] returned; everything for [`Workspace::load_partial`].
    pub warnings: super::diag::Diagnostics,
}

impl Workspace {
    /// The connector a connection uses.
    pub fn connector_of(&self, connection: &str) -> Option<&str> {
        self.connections
            .get(connection)
            .map(|c| c.connector.value.as_str())
    }
}

/// Where a connection's vendor lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    /// A named data centre from the connector manifest (`com`, `eu`, …).
    DataCenter(Spanned<String>),
    /// The local sandbox (emulator) at this origin.
    Sandbox(Spanned<String>),
    /// Neither given: the manifest's default.
    Default,
}

/// How a connector writes date-times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatetimeStyle {
    /// RFC 3339 with a colon in the offset: `2023-10-15T10:30:00+00:00`
    /// (Zoho CRM).
    Rfc3339,
    /// No colon in the offset: `2013-10-07T18:24:51+0530` (Zoho Books,
    /// Invoice, Billing).
    Compact,
    /// A chrono strftime pattern.
    Custom(String),
}

impl DatetimeStyle {
    /// The style a connector uses unless the connection says otherwise.
    pub fn for_connector(connector: &str) -> DatetimeStyle {
        match connector {
            "zoho-books" | "zoho-invoice" | "zoho-billing" => DatetimeStyle::Compact,
            _ => DatetimeStyle::Rfc3339,
        }
    }
}

/// `connections.<name>`.
#[derive(Debug, Clone)]
pub struct Connection {
    pub name: Spanned<String>,
    pub connector: Spanned<String>,
    pub endpoint: Endpoint,
    /// Connector settings (`organization_id`), as JSON values.
    pub settings: BTreeMap<String, Spanned<serde_json::Value>>,
    /// Credentials; resolved at load unless deferred.
    pub auth: BTreeMap<String, Spanned<Secret>>,
    /// Where a non-empty `auth:` was written. Secrets in it that could not
    /// be read (or were written wrongly) are reported at their values and
    /// left out of `auth`, so `auth` may be empty where this is not.
    pub auth_span: Option<Span>,
    /// Every key written under `auth:`, read or not: a secret that could
    /// not be read is not also a missing one.
    pub auth_keys: std::collections::BTreeSet<String>,
    pub datetime_style: DatetimeStyle,
    /// Per-call plugin limits (`limits:`); `None` keeps the defaults.
    pub limits: Option<crate::connector::Limits>,
    /// The operator's allow-list (`allowed_hosts:`), narrowing the
    /// manifest's; `None` keeps the manifest's.
    pub allowed_hosts: Option<Vec<String>>,
    /// The operator's pacing (`rate_limit:`), replacing the manifest's
    /// where given.
    pub rate_limit: RateLimitOverride,
    /// Daily API-credit budget (`budget:`), for `ferry serve`.
    pub budget: Option<Budget>,
    pub span: Span,
}

/// `connections.<name>.budget`: the vendor's daily API quota, and the
/// share of it after which `ferry serve` pauses the connection's syncs
/// until the quota resets (at 00:00 UTC).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub daily: u64,
    /// 0 < pause_at ≤ 1.
    pub pause_at: f64,
}

impl Budget {
    /// Calls after which the connection's syncs wait for the reset.
    pub fn limit(&self) -> u64 {
        (self.daily as f64 * self.pause_at).floor() as u64
    }
}

/// `serve:`, how `ferry serve` listens and who may call it.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address of the admin API and the webhook receiver.
    pub listen: std::net::SocketAddr,
    /// The URL vendors reach Ferry at (CRM notification channels need
    /// it); `None`: no CRM channels are opened.
    pub public_url: Option<String>,
    /// Loopback callers without a token may read (a viewer's rights);
    /// changes still need a token. Allowed only when `listen` is a
    /// loopback address.
    pub open_on_loopback: bool,
    /// Safety-net poll of syncs and rules run by notifications
    /// (`schedule: webhook`): a lost notification delays a change, never
    /// drops it.
    pub poll_every: Duration,
    /// Quiet time that gathers a burst of notifications into one run.
    pub debounce: Duration,
    /// Secret the finance products' webhooks carry, per connection
    /// (`x-zoho-webhook-secret`).
    pub webhook_secrets: BTreeMap<String, Spanned<Secret>>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8700)),
            public_url: None,
            open_on_loopback: false,
            poll_every: Duration::from_secs(3600),
            debounce: Duration::from_secs(1),
            webhook_secrets: BTreeMap::new(),
        }
    }
}

/// `connections.<name>.rate_limit`: pacing that differs from the
/// manifest's (a plan with a higher quota, a local sandbox with limits off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimitOverride {
    /// `Some(None)`: no per-minute pacing (`off`); `None`: the manifest's.
    pub requests_per_minute: Option<Option<u32>>,
    /// Requests in flight at once; `None`: the manifest's.
    pub concurrency: Option<u32>,
}

/// `connection.Module`, as in `from: crm.Accounts`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModuleRef {
    pub connection: String,
    pub module: String,
    /// The whole `crm.Accounts` text.
    pub span: Span,
}

impl ModuleRef {
    /// Whether both name the same module of the same connection (wherever
    /// they were written).
    pub fn same_module(&self, other: &ModuleRef) -> bool {
        self.connection == other.connection && self.module == other.module
    }

    /// Span of the connection part.
    pub fn connection_span(&self) -> Span {
        self.span.sub(
            self.span.snippet().find(&self.connection).unwrap_or(0),
            self.connection.len(),
        )
    }

    /// Span of the module part.
    pub fn module_span(&self) -> Span {
        let snippet = self.span.snippet();
        let start = snippet.rfind(&self.module).unwrap_or(0);
        self.span.sub(start, self.module.len())
    }
}

impl std::fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.connection, self.module)
    }
}

/// Which way records flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `from` → `to` only.
    OneWay,
    /// Both ways.
    TwoWay,
}

/// What to do when a record matches an existing, unlinked target record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDuplicate {
    /// Create another record anyway.
    Clone,
    /// Link to the match and update it.
    Overwrite,
    /// Leave both alone; record the skip.
    Skip,
}

/// Actions that mark a record inactive, in the order `deletes: archive`
/// looks for them.
pub const ARCHIVE_ACTIONS: &[&str] = &["deactivate", "mark-inactive", "archive"];

/// What a delete on the source side does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletes {
    Ignore,
    Propagate,
    /// Mark the target inactive (`markasinactive`) instead of deleting.
    Archive,
}

/// Which records a sync's runs keep a ledger row for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LedgerRows {
    /// Every record judged: written, skipped or failed.
    #[default]
    All,
    /// Records written, failed or in conflict; skipped records are only
    /// counted (a large filtered read then adds no row per record).
    Changes,
}

/// Two-way syncs: who wins when both sides changed since the last run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// The side modified last.
    Newest,
    /// The `from` side.
    From,
    /// The `to` side.
    To,
    /// Neither: record the conflict and change nothing.
    Skip,
}

/// When a sync runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Schedule {
    Every(Duration),
    /// Five-field cron expression.
    Cron(String),
    /// Vendor notifications (webhooks / CRM watch).
    Webhook,
    Manual,
}

/// One sync.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub name: Spanned<String>,
    pub from: ModuleRef,
    pub to: ModuleRef,
    pub direction: Direction,
    /// Match keys: source field ↔ target field, tried in order.
    pub match_keys: Vec<(Spanned<FieldPath>, Spanned<FieldPath>)>,
    pub on_duplicate: OnDuplicate,
    /// Only records for which this holds are synced.
    pub view: Option<Expr>,
    pub fields: Vec<FieldMapping>,
    pub update_empty_fields: bool,
    /// Which records its runs ledger (`ledger: all | changes`).
    pub ledger: LedgerRows,
    pub deletes: Deletes,
    pub conflict: Conflict,
    pub schedule: Option<Spanned<Schedule>>,
    /// How often a run reads the whole source module instead of what
    /// changed since the cursor (`full_read: hourly`): how deletions are
    /// noticed where the source has no deleted-records feed.
    pub full_read: Option<Spanned<Schedule>>,
    pub children: Vec<ChildSync>,
    pub span: Span,
}

/// Child records embedded in the target (CRM Contacts of an Account →
/// `contact_persons` of a finance contact).
#[derive(Debug, Clone)]
pub struct ChildSync {
    /// The list field on the target record (`contact_persons`).
    pub name: Spanned<String>,
    /// The child module on the source connection (`crm.Contacts`).
    pub from: ModuleRef,
    /// Field of a child that holds its parent's id (`Account_Name.id`).
    pub parent: Spanned<FieldPath>,
    pub match_keys: Vec<(Spanned<FieldPath>, Spanned<FieldPath>)>,
    /// Only children for which this holds.
    pub view: Option<Expr>,
    pub fields: Vec<FieldMapping>,
    pub span: Span,
}

/// What happens when a link lookup finds no linked record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The record fails with a reason.
    Error,
    /// The engine creates the parent through the named sync first.
    Create,
    /// The field is left out.
    Skip,
    /// The field is set to null.
    Null,
    /// The record is skipped (not failed), the ledger naming the unlinked
    /// id: for records about something that exists on one side only (a
    /// payment of an invoice made in the other system).
    Exclude,
}

/// A link lookup: the source value is an id on the other side of `sync`.
#[derive(Debug, Clone)]
pub struct LinkSpec {
    pub sync: Spanned<String>,
    pub missing: Missing,
}

/// Value type a mapping coerces its result to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Text,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Any,
}

impl ValueType {
    pub const NAMES: &'static [&'static str] = &[
        "text", "integer", "decimal", "boolean", "date", "datetime", "any",
    ];

    /// Its name in a workspace (`decimal`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Integer => "integer",
            ValueType::Decimal => "decimal",
            ValueType::Boolean => "boolean",
            ValueType::Date => "date",
            ValueType::Datetime => "datetime",
            ValueType::Any => "any",
        }
    }

    pub fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "text" | "string" => ValueType::Text,
            "integer" | "int" => ValueType::Integer,
            "decimal" | "number" | "currency" | "percent" => ValueType::Decimal,
            "boolean" | "bool" => ValueType::Boolean,
            "date" => ValueType::Date,
            "datetime" => ValueType::Datetime,
            "any" => ValueType::Any,
            _ => return None,
        })
    }
}

/// Where a mapped value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// A path in the source record.
    Path(Spanned<FieldPath>),
    /// A constant.
    Const(serde_json::Value),
    /// A CEL expression.
    Expr(Expr),
    /// A list with one object per entry, each its own mapping.
    Items(Vec<Vec<FieldMapping>>),
    /// A list mapped element by element from a source list.
    Each {
        each: Spanned<FieldPath>,
        filter: Option<Expr>,
        fields: Vec<FieldMapping>,
    },
    /// Alternatives for the same field (`first_of:`): the first whose value
    /// is present wins — a deal's Account, else its Contact.
    FirstOf(Vec<FieldMapping>),
}

/// `fields.<target>`: how one target field is computed.
#[derive(Debug, Clone)]
pub struct FieldMapping {
    pub target: Spanned<FieldPath>,
    pub source: Source,
    pub link: Option<LinkSpec>,
    /// Value translation table (`Closed Won` → `accepted`).
    pub map: Option<Spanned<Vec<(serde_json::Value, serde_json::Value)>>>,
    /// Used when the value is missing or null, or has no entry in `map`.
    pub default: Option<serde_json::Value>,
    pub required: bool,
    pub ty: Option<Spanned<ValueType>>,
    /// Per-field override of the sync's direction.
    pub direction: Option<Spanned<Direction>>,
    /// For two-way expression mappings: the expression computing the source
    /// field from the target record.
    pub reverse: Option<(Spanned<FieldPath>, Expr)>,
    /// `new_field: true`: the target field is created in the target when
    /// it lacks one by that name (Zoho Campaigns' "New Field").
    pub new_field: bool,
    pub span: Span,
}

/// The syncs that `missing: create` lookups in `fields` create parents
/// through, with where each is named, in order (nested lists and
/// alternatives included).
pub fn parent_syncs(fields: &[FieldMapping]) -> Vec<&Spanned<String>> {
    let mut out = Vec::new();
    for f in fields {
        if let Some(l) = &f.link
            && l.missing == Missing::Create
        {
            out.push(&l.sync);
        }
        match &f.source {
            Source::Items(lists) => lists.iter().for_each(|l| out.extend(parent_syncs(l))),
            Source::Each { fields, .. } | Source::FirstOf(fields) => {
                out.extend(parent_syncs(fields))
            }
            _ => {}
        }
    }
    out
}

impl FieldMapping {
    /// `target` from `source`, with no options.
    pub fn new(target: Spanned<FieldPath>, source: Source, span: Span) -> FieldMapping {
        FieldMapping {
            target,
            source,
            link: None,
            map: None,
            default: None,
            required: false,
            ty: None,
            direction: None,
            reverse: None,
            new_field: false,
            span,
        }
    }
}

/// A trigger's condition.
#[derive(Debug, Clone)]
pub enum When {
    /// `field` differs from before and now equals `value`.
    Becomes {
        field: Spanned<FieldPath>,
        value: serde_json::Value,
    },
    /// `field` changed from `from` (any if `None`) to `to` (any if `None`).
    Changes {
        field: Spanned<FieldPath>,
        from: Option<serde_json::Value>,
        to: Option<serde_json::Value>,
    },
    /// The record is new (no previous state).
    Created,
    /// A CEL expression over `record` and `previous`.
    Expr(Expr),
    /// The record's stage becomes a won (probability 100) or lost (0)
    /// stage, by the connector's stage–probability mapping.
    Stage(Spanned<Outcome>),
}

/// How a deal ended, by its stage's probability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Probability 100.
    Won,
    /// Probability 0.
    Lost,
}

impl Outcome {
    /// The probability (percent) of stages with this outcome.
    pub fn probability(self) -> f64 {
        match self {
            Outcome::Won => 100.0,
            Outcome::Lost => 0.0,
        }
    }
}

/// The Zoho rule for records a trigger acts on: once a person changes the
/// record (its status), rules leave it alone.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualGuard {
    /// Watch `status` when the target module has it.
    Default,
    /// Act whatever a person did.
    Off,
    /// Watch this field.
    Field(Spanned<FieldPath>),
}

/// What a trigger does on its watch's very first read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstRun {
    /// Record every record's state; fire only on later changes.
    Baseline,
    /// Fire for records as they are (previous state: none).
    Fire,
}

/// Which record a trigger action works on.
#[derive(Debug, Clone)]
pub enum TargetRef {
    /// The record linked to the triggering record by a sync or by the
    /// records another trigger created: `linked(invoice-on-won)`.
    Linked(Spanned<String>),
    /// A module; the record id comes from `id`.
    Module { module: ModuleRef, id: Expr },
}

/// What a trigger does.
#[derive(Debug, Clone)]
pub enum Action {
    Create {
        module: ModuleRef,
    },
    Update {
        target: TargetRef,
    },
    Act {
        target: TargetRef,
        /// Done in order on the same record (`[mark-sent, accept]`).
        actions: Vec<Spanned<String>>,
        only_if: Option<Expr>,
        args: serde_json::Value,
    },
}

/// `triggers.<name>`.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub name: Spanned<String>,
    pub on: ModuleRef,
    pub when: When,
    pub when_span: Span,
    /// More conditions; all must hold.
    pub guards: Vec<Expr>,
    pub action: Action,
    pub fields: Vec<FieldMapping>,
    /// Target fields that identify a record this trigger created, to find
    /// it after a crash (`match:`); empty: the mapped fields whose value is
    /// the source record's id (a reference field such as `cf_deal_id`).
    pub match_fields: Vec<Spanned<FieldPath>>,
    pub manual_guard: ManualGuard,
    pub first_run: FirstRun,
    /// When `ferry serve` runs the rule on its own.
    pub schedule: Option<Spanned<Schedule>>,
    pub span: Span,
}

/// How a rollup figure combines the child records of one parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The total of a numeric field.
    Sum,
    /// How many children there are (with the field present, when one is
    /// named).
    Count,
    /// The smallest value (numbers by value, dates and text in order).
    Min,
    /// The largest value.
    Max,
    /// The value of the child whose `by` field is the largest.
    Latest,
}

impl Aggregate {
    pub const NAMES: &'static [&'static str] = &["sum", "count", "min", "max", "latest"];

    pub fn parse(s: &str) -> Option<Aggregate> {
        Some(match s {
            "sum" => Aggregate::Sum,
            "count" => Aggregate::Count,
            "min" => Aggregate::Min,
            "max" => Aggregate::Max,
            "latest" => Aggregate::Latest,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Aggregate::Sum => "sum",
            Aggregate::Count => "count",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Latest => "latest",
        }
    }
}

/// `rollups.<name>.fields.<target>`: one figure of the parent record.
#[derive(Debug, Clone)]
pub struct RollupField {
    pub target: Spanned<FieldPath>,
    pub aggregate: Spanned<Aggregate>,
    /// The child field aggregated; `None` for a plain `count: true`.
    pub of: Option<Spanned<FieldPath>>,
    /// `latest`: the child field that orders the children.
    pub by: Option<Spanned<FieldPath>>,
    /// Only children for which this holds count towards the figure.
    pub filter: Option<Expr>,
    /// The figure when no child counts (`sum` and `count` give 0, the
    /// others null, unless given).
    pub default: Option<serde_json::Value>,
    pub span: Span,
}

/// `rollups.<name>`: figures aggregated from the child records of a module
/// (invoices) per parent (their customer), written to the parent's linked
/// record (a CRM Account).
#[derive(Debug, Clone)]
pub struct Rollup {
    pub name: Spanned<String>,
    /// The child module read (`invoice.invoices`).
    pub from: ModuleRef,
    /// The child's field holding its parent's id (`customer_id`).
    pub parent: Spanned<FieldPath>,
    /// The module whose records receive the figures (`crm.Accounts`).
    pub to: ModuleRef,
    /// The sync whose links pair a parent id with its `to` record.
    pub link: Spanned<String>,
    /// Only children for which this holds are aggregated at all.
    pub view: Option<Expr>,
    pub fields: Vec<RollupField>,
    pub schedule: Option<Spanned<Schedule>>,
    pub span: Span,
}

impl Rollup {
    /// Whether some figure may change with the date alone, so figures are
    /// recomputed once a day even when no child changed.
    pub fn uses_time(&self) -> bool {
        self.view.as_ref().is_some_and(Expr::uses_time)
            || self
                .fields
                .iter()
                .any(|f| f.filter.as_ref().is_some_and(Expr::uses_time))
    }
}
