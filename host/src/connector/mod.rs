//! What a connector *is*, apart from how it runs: its manifest, what it
//! says about itself, its limits, the records and errors that cross the
//! contract, and the [`Vendor`] trait the engine calls.
//!
//! The wasm runtime (`plugin`) implements [`Vendor`] for a component bound
//! to a connection; a test fake implements it in memory
//! (`connector::fake`, behind the `test-support` feature), so the engine's
//! decisions can be tested without building plugins or starting a sandbox.
//! Nothing here knows about wasmtime.

mod info;
mod limits;
mod manifest;
mod types;

#[cfg(any(test, feature = "test-support"))]
pub mod fake;

use futures::future::BoxFuture;

pub use info::{ActionInfo, ConnectorInfo, FieldInfo, FieldKind, JobSize, ModuleInfo, Operation};
pub use limits::{Limit, Limits, human_bytes, parse_bytes};
pub use manifest::{
    AuthScheme, DataCenter, Endpoints, FieldPairs, Manifest, ManifestError, NewFields,
    NotificationChannels, OrganizationRecord, RateLimit, RefreshOn, SandboxClient, SandboxEntry,
    SettingSpec, StageTable, Target,
};
pub use types::{
    CallError, ConnectorError, DeletedPage, DeletedRecord, Page, Record, WriteResult, id_of,
};

/// The contract version this host implements.
pub const CONTRACT_V0_1: &str = "ferry:connector@0.1.0";

/// Contract versions this host can load.
pub const SUPPORTED_CONTRACTS: &[&str] = &[CONTRACT_V0_1];

/// A vendor as the engine sees it: one connection's connector, whatever
/// runs it. Every operation of the contract; batch writes give one result
/// per input, in order.
pub trait Vendor: Send + Sync {
    /// Name for messages (the plugin's file stem, or a fake's name).
    fn name(&self) -> &str;

    /// The limits its calls run under (`limits.pages` bounds a listing).
    fn limits(&self) -> Limits;

    /// Write calls the host may have in flight at once (the connection's
    /// request concurrency): batches larger than a module's `max_batch`
    /// are sent this many calls at a time.
    fn concurrency(&self) -> usize {
        1
    }

    /// What the connector reports about itself.
    fn describe(&self) -> BoxFuture<'_, Result<ConnectorInfo, CallError>>;

    /// Check credentials and settings.
    fn check(&self) -> BoxFuture<'_, Result<(), CallError>>;

    /// One page of `module`, changed since `since` where supported.
    fn list<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, CallError>>;

    /// One record by id.
    fn get<'a>(&'a self, module: &'a str, id: &'a str) -> BoxFuture<'a, Result<Record, CallError>>;

    /// Records whose fields equal `criteria`.
    fn find<'a>(
        &'a self,
        module: &'a str,
        criteria: &'a Record,
    ) -> BoxFuture<'a, Result<Vec<Record>, CallError>>;

    /// Records deleted since `since`.
    fn deleted<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DeletedPage, CallError>>;

    /// Create records.
    fn create<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>>;

    /// Update records (each with its id).
    fn update<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>>;

    /// Delete records by id.
    fn delete<'a>(
        &'a self,
        module: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>>;

    /// Run a named action on one record; the record as it is afterwards.
    fn act<'a>(
        &'a self,
        module: &'a str,
        id: &'a str,
        action: &'a str,
        args: &'a Record,
    ) -> BoxFuture<'a, Result<Record, CallError>>;

    /// Start creating `records` in `module` as one vendor job (a module
    /// whose [`ModuleInfo::create_job`] is set): the job's handle. A
    /// connector's `Transient`, `RateLimited` or `Unauthorized` error
    /// promises no job was started; `NotFound`, that one may have been
    /// (its handle was lost); any other of its errors, that the records
    /// were refused. Any other failure (a trap, a limit) leaves it unknown.
    fn start_create_job<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<String, CallError>> {
        let _ = records;
        Box::pin(async move { Err(no_jobs(self.name(), module)) })
    }

    /// How the create job `job` is doing: `None` while it runs, then one
    /// result per input, in order. A `NotFound` error: the job ended
    /// without results (what it wrote is looked up); a retryable one: ask
    /// again later.
    fn poll_create_job<'a>(
        &'a self,
        module: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<WriteResult>>, CallError>> {
        let _ = job;
        Box::pin(async move { Err(no_jobs(self.name(), module)) })
    }
}

fn no_jobs(plugin: &str, module: &str) -> CallError {
    CallError::Connector {
        plugin: plugin.to_string(),
        function: "start-create",
        error: ConnectorError::Unsupported(format!("create jobs of `{module}`")),
    }
}
