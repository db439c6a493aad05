//! The data each call's store carries.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

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
    /// When the call's wall time runs out.
    deadline: std::time::Instant,
    timeout: Duration,
}

impl HostState {
    /// Fresh state: WASI with nothing granted (no files, environment,
    /// arguments, sockets, clocks or stdin); stderr captured for
    /// diagnostics. Each is said here rather than left to the builder's
    /// defaults, so a change of defaults cannot grant anything.
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
            // No preopened directory: there is nothing to open a file in.
            // No sockets: creating one, binding, connecting and name
            // lookups are all denied (HTTP goes through the host's `http`).
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            // No clocks: both read zero, always. Times a plugin needs come
            // in call arguments (`since`).
            .wall_clock(Stopped)
            .monotonic_clock(Stopped)
            .build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        HostState {
            deadline: std::time::Instant::now() + limits.timeout,
            timeout: limits.timeout,
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

    /// How long a host call may keep the plugin waiting: the call's time
    /// left, less a quarter of its limit kept for the plugin's own work.
    pub(crate) fn patience(&self) -> Duration {
        self.deadline
            .saturating_duration_since(std::time::Instant::now())
            .saturating_sub(self.timeout / 4)
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

/// A clock that never moves: the wall clock reads the Unix epoch, the
/// monotonic clock zero.
struct Stopped;

impl HostWallClock for Stopped {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for Stopped {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
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
