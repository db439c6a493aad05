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
}

impl Endpoint {
    pub fn module(&self) -> &str {
        &self.info.name
    }

    /// Most records one write call should carry (at least one).
    pub fn batch(&self) -> usize {
        self.info.max_batch.max(1) as usize
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
