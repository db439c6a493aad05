//! The data each call's store carries.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::CallLimiter;
use crate::capability::{Capabilities, PluginLog};
use crate::connector::Limits;

/// Bytes of a plugin's stderr kept for error messages (panics print there).
const STDERR_CAPTURE: usize = 16 * 1024;
/// WASI resources (streams) a plugin may hold at once.
const MAX_RESOURCES: usize = 256;

/// Store data of one call.
pub(crate) struct HostState {
    pub(crate) limiter: CallLimiter,
    capabilities: Option<Arc<Capabilities>>,
    log: Arc<PluginLog>,
    wasi: WasiCtx,
    table: ResourceTable,
    stderr: MemoryOutputPipe,
}

impl HostState {
    /// Fresh state: WASI with nothing granted (no files, environment,
    /// arguments, sockets or stdin); stderr captured for diagnostics.
    pub(crate) fn new(
        limits: Limits,
        capabilities: Option<Arc<Capabilities>>,
        log: Arc<PluginLog>,
    ) -> HostState {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_blocking_current_thread(false)
            .max_random_size(64 * 1024)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        HostState {
            limiter: CallLimiter::new(limits),
            capabilities,
            log,
            wasi,
            table,
            stderr,
        }
    }

    /// The connection's capabilities, absent when only inspecting.
    pub(crate) fn capabilities(&self) -> Option<&Arc<Capabilities>> {
        self.capabilities.as_ref()
    }

    /// Where the plugin's log lines go.
    pub(crate) fn log(&self) -> &PluginLog {
        &self.log
    }

    /// What the plugin wrote to stderr, trimmed.
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
