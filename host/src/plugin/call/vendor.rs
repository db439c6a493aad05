//! The engine's seam, [`Vendor`], over a plugin's calls.

use futures::future::BoxFuture;

use super::Connector;
use crate::connector::{
    CallError, ConnectorInfo, DeletedPage, Limits, Page, Record, Vendor, WriteResult,
};

/// The engine calls a component through the seam every vendor offers.
impl Vendor for Connector {
    fn name(&self) -> &str {
        self.plugin.name()
    }
    fn limits(&self) -> Limits {
        self.limits
    }
    fn concurrency(&self) -> usize {
        self.capabilities
            .as_ref()
            .map_or(1, |c| c.http.concurrency())
    }
    fn describe(&self) -> BoxFuture<'_, Result<ConnectorInfo, CallError>> {
        Box::pin(Connector::describe(self))
    }
    fn check(&self) -> BoxFuture<'_, Result<(), CallError>> {
        Box::pin(Connector::check(self))
    }
    fn list<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, CallError>> {
        Box::pin(Connector::list(self, module, since, cursor))
    }
    fn get<'a>(&'a self, module: &'a str, id: &'a str) -> BoxFuture<'a, Result<Record, CallError>> {
        Box::pin(Connector::get(self, module, id))
    }
    fn find<'a>(
        &'a self,
        module: &'a str,
        criteria: &'a Record,
    ) -> BoxFuture<'a, Result<Vec<Record>, CallError>> {
        Box::pin(Connector::find(self, module, criteria))
    }
    fn deleted<'a>(
        &'a self,
        module: &'a str,
        since: Option<&'a str>,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DeletedPage, CallError>> {
        Box::pin(Connector::deleted(self, module, since, cursor))
    }
    fn create<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        Box::pin(Connector::create(self, module, records))
    }
    fn update<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        Box::pin(Connector::update(self, module, records))
    }
    fn delete<'a>(
        &'a self,
        module: &'a str,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<WriteResult>, CallError>> {
        Box::pin(Connector::delete(self, module, ids))
    }
    fn act<'a>(
        &'a self,
        module: &'a str,
        id: &'a str,
        action: &'a str,
        args: &'a Record,
    ) -> BoxFuture<'a, Result<Record, CallError>> {
        Box::pin(Connector::act(self, module, id, action, args))
    }
    fn start_create_job<'a>(
        &'a self,
        module: &'a str,
        records: &'a [Record],
    ) -> BoxFuture<'a, Result<String, CallError>> {
        Box::pin(Connector::start_create_job(self, module, records))
    }
    fn poll_create_job<'a>(
        &'a self,
        module: &'a str,
        job: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<WriteResult>>, CallError>> {
        Box::pin(Connector::poll_create_job(self, module, job))
    }
}
