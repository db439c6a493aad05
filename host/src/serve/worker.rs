//! A cluster worker's turn on one workspace: the service without its API,
//! run until nothing more is due. The worker (`ferry serve --workspaces`)
//! claims the workspace's lease, builds this service over the store opened
//! under that lease, calls [`Service::run_due`], records when the
//! workspace is next due and lets the lease go. So a workspace's jobs are
//! scheduled by the same rules on a worker as on a lone `ferry serve`:
//! schedules, pauses, backoff after failures, daily budgets.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::cluster::ChannelBoard;
use super::{ServeError, ServeOptions, Service, hooks};
use crate::engine::Env;
use crate::store::EmbeddedStore;

impl Service {
    /// A service for a worker's turn on `workspace`: no listener, no API,
    /// the system clock; the CRM channels it opens notify the cluster's
    /// consoles and are shared on `board`.
    pub fn for_worker(
        env: Arc<Env>,
        store: Arc<EmbeddedStore>,
        workspace: &str,
        board: ChannelBoard,
    ) -> Result<Arc<Service>, ServeError> {
        let options = ServeOptions {
            listen: None,
            manual_clock: None,
        };
        let hooks = hooks::Channels::for_worker(workspace, board);
        Self::build(env, store, &options, None, hooks)
    }

    /// Run every job due now, then any that came due while they ran, until
    /// none is; then say when the next one is due (`None`: no job is on a
    /// schedule). [`Service::shutdown`] ends it after the runs in hand.
    pub async fn run_due(self: &Arc<Self>) -> Option<DateTime<Utc>> {
        let mut running = tokio::task::JoinSet::new();
        loop {
            let mut next: Option<DateTime<Utc>> = None;
            for i in 0..self.jobs.len() {
                match self.start_if_due(i, &mut running) {
                    Ok(Some(at)) => next = Some(next.map_or(at, |n| n.min(at))),
                    Ok(None) => {}
                    Err(e) => tracing::error!(job = self.jobs[i].name, "scheduling: {e}"),
                }
            }
            if running.is_empty() || self.stop.load(Ordering::Relaxed) {
                while running.join_next().await.is_some() {}
                return next;
            }
            while let Some(done) = running.join_next().await {
                if let Ok(i) = done {
                    let mut state = self.state.lock().unwrap();
                    state[i].running = false;
                    state[i].progress = None;
                }
            }
        }
    }
}
