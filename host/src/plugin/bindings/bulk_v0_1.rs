//! Bindings for the `ferry:bulk@0.1.0` capability: a vendor's export file
//! read a slice of rows at a time (see `capability::download`). Versioned
//! apart from the connector contract; any contract's plugin may import it.

use crate::capability::download::{self, DownloadError, MAX_WAIT_MS};
use crate::plugin::host_state::HostState;

wasmtime::component::bindgen!({
    path: "../wit/bulk-v0.1.0",
    world: "imports",
    imports: { default: async | trappable },
});

use self::ferry::bulk::download as wit;
pub use self::ferry::bulk::download::add_to_linker;

/// Interfaces of this package a component may import.
pub const IMPORTS: &[&str] = &["ferry:bulk/download@0.1.0"];

impl wit::Host for HostState {
    async fn wait(&mut self, ms: u32) -> wasmtime::Result<()> {
        tokio::time::sleep(std::time::Duration::from_millis(ms.min(MAX_WAIT_MS).into())).await;
        Ok(())
    }

    async fn csv_rows(
        &mut self,
        url: String,
        zipped: bool,
        from: u64,
        max: u32,
    ) -> wasmtime::Result<Result<wit::Rows, wit::DownloadError>> {
        let Some(caps) = self.capabilities() else {
            return Ok(Err(wit::DownloadError::Denied(
                "this call has no network (the plugin is being inspected, not run)".into(),
            )));
        };
        let caps = std::sync::Arc::clone(caps);
        let result = download::rows(&caps, &url, zipped, from, max, self.patience()).await;
        if let Err(e) = &result {
            tracing::debug!(plugin = %caps.plugin, connection = %caps.connection, error = %e, "download not delivered");
        }
        Ok(result
            .map(|r: download::Rows| wit::Rows {
                header: r.header,
                rows: r.rows,
                more: r.more,
            })
            .map_err(|e| match e {
                DownloadError::Denied(m) => wit::DownloadError::Denied(m),
                DownloadError::Status(status, body) => wit::DownloadError::Status((status, body)),
                DownloadError::Failed(m) => wit::DownloadError::Failed(m),
            }))
    }
}
