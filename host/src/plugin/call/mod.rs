//! Calls into a plugin. Every call gets a fresh store and instance with its
//! own limits; a trap or breached limit fails that call only and says which
//! plugin, which function and which limit.

mod active;
mod vendor;

use std::sync::Arc;

use serde_json::Value;
use wasmtime::Store;

use super::bindings::{jobs_v0_1, v0_1};
use super::host_state::HostState;
use super::runtime::EPOCH_TICK;
use super::{Guest, Plugin};
use crate::capability::{Capabilities, PluginLog};
use crate::connector::{
    CallError, ConnectorInfo, DeletedPage, DeletedRecord, Limit, Limits, Page, Record, WriteResult,
};
use active::{Active, Instance, describe_trap};

/// A plugin bound to one connection: its capabilities, limits and
/// settings. The sync engine talks to vendors through this.
#[derive(Clone)]
pub struct Connector {
    plugin: Arc<Plugin>,
    capabilities: Option<Arc<Capabilities>>,
    /// Every call logs through this, rate limited and cleaned, network or
    /// not (`plugins inspect` too).
    log: Arc<PluginLog>,
    limits: Limits,
    settings: String,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector")
            .field("plugin", &self.plugin.name())
            .finish()
    }
}

impl Connector {
    /// What the connection has sent its vendor today (none without network).
    pub fn api_usage(&self) -> Option<Arc<crate::capability::ApiUsage>> {
        self.capabilities.as_ref().map(|c| c.http.usage().clone())
    }

    /// Obtain an access token for the connection now: whether its
    /// credentials work (`Ok(false)`: it has none).
    pub async fn authenticate(&self) -> Result<bool, crate::capability::HttpError> {
        match &self.capabilities {
            Some(c) => c.http.authenticate().await,
            None => Ok(false),
        }
    }

    pub(crate) fn new(
        plugin: Arc<Plugin>,
        capabilities: Option<Arc<Capabilities>>,
        limits: Limits,
        settings: Value,
    ) -> Connector {
        let log = match &capabilities {
            Some(caps) => Arc::clone(&caps.log),
            None => Arc::new(PluginLog::for_connection(plugin.name(), "")),
        };
        Connector {
            plugin,
            capabilities,
            log,
            limits,
            settings: settings.to_string(),
        }
    }

    /// The plugin behind this connector.
    pub fn plugin(&self) -> &Arc<Plugin> {
        &self.plugin
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// What the connector reports about itself, with this connection's
    /// settings (so vendor-defined custom fields can be listed).
    pub async fn describe(&self) -> Result<ConnectorInfo, CallError> {
        let mut info = self
            .run("describe", false, async |a: &mut Active| {
                let r = match &a.instance {
                    Instance::V0_1(p) => {
                        p.ferry_connector_connector()
                            .call_describe(&mut a.store, &self.settings)
                            .await
                    }
                };
                a.finish(r.map(|r| r.map(v0_1::connector_info).map_err(Into::into)))
            })
            .await?;
        // Settings decide job sizes, so they are asked of a configured
        // instance; a connection without network (inspection) skips them.
        if self.plugin.takes_create_jobs() && self.capabilities.is_some() {
            for (module, size) in self.job_sizes().await? {
                if let Some(m) = info.modules.iter_mut().find(|m| m.name == module) {
                    m.create_job = Some(size);
                }
            }
        }
        Ok(info)
    }

    /// The modules that take create jobs, and how big.
    async fn job_sizes(&self) -> Result<Vec<(String, crate::connector::JobSize)>, CallError> {
        self.run("sizes", true, async |a: &mut Active| {
            let jobs = a.jobs()?;
            let r = jobs.ferry_jobs_write_jobs().call_sizes(&mut a.store).await;
            a.finish(r.map(|sizes| Ok(jobs_v0_1::sizes(sizes))))
        })
        .await
    }

    /// Start creating `records` in `module` as one job: its handle.
    pub async fn start_create_job(
        &self,
        module: &str,
        records: &[Record],
    ) -> Result<String, CallError> {
        let inputs = to_json(records);
        self.run("start-create", true, async |a: &mut Active| {
            let jobs = a.jobs()?;
            let r = jobs
                .ferry_jobs_write_jobs()
                .call_start_create(&mut a.store, module, &inputs)
                .await;
            a.finish(r.map(|r| r.map_err(jobs_v0_1::job_error)))
        })
        .await
    }

    /// How the create job `job` is doing: `None` while it runs.
    pub async fn poll_create_job(
        &self,
        module: &str,
        job: &str,
    ) -> Result<Option<Vec<WriteResult>>, CallError> {
        self.run("poll", true, async |a: &mut Active| {
            let jobs = a.jobs()?;
            let r = jobs
                .ferry_jobs_write_jobs()
                .call_poll(&mut a.store, module, job)
                .await;
            let Some(outcomes) = a.finish(r.map(|r| r.map_err(jobs_v0_1::job_error)))? else {
                return Ok(None);
            };
            outcomes
                .into_iter()
                .enumerate()
                .map(|(i, o)| jobs_v0_1::outcome(o, |json| a.record(json, i)))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
        .await
    }

    /// Check credentials and settings.
    pub async fn check(&self) -> Result<(), CallError> {
        self.run("check", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => p.ferry_connector_connector().call_check(&mut a.store).await,
            };
            a.finish(r.map(|r| r.map_err(Into::into)))
        })
        .await
    }

    /// One page of `module`, changed since `since` where supported.
    pub async fn list(
        &self,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page, CallError> {
        self.run("list", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_list(&mut a.store, module, since, cursor)
                        .await
                }
            };
            let page = a.finish(r.map(|r| r.map_err(Into::into)))?;
            Ok(Page {
                records: a.records(page.records)?,
                next_cursor: page.next_cursor,
            })
        })
        .await
    }

    /// One record by id.
    pub async fn get(&self, module: &str, id: &str) -> Result<Record, CallError> {
        self.run("get", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_get(&mut a.store, module, id)
                        .await
                }
            };
            let json = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.record(&json, 0)
        })
        .await
    }

    /// Records whose fields equal `criteria`.
    pub async fn find(&self, module: &str, criteria: &Record) -> Result<Vec<Record>, CallError> {
        let criteria = json_text(criteria);
        self.run("find", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_find(&mut a.store, module, &criteria)
                        .await
                }
            };
            let records = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.records(records)
        })
        .await
    }

    /// Records deleted since `since`.
    pub async fn deleted(
        &self,
        module: &str,
        since: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<DeletedPage, CallError> {
        self.run("deleted", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_deleted(&mut a.store, module, since, cursor)
                        .await
                }
            };
            let page = a.finish(r.map(|r| r.map_err(Into::into)))?;
            Ok(DeletedPage {
                records: page
                    .records
                    .into_iter()
                    .map(|d| DeletedRecord {
                        id: d.id,
                        deleted_at: d.deleted_at,
                    })
                    .collect(),
                next_cursor: page.next_cursor,
            })
        })
        .await
    }

    /// Create records; one result per input, in order.
    pub async fn create(
        &self,
        module: &str,
        records: &[Record],
    ) -> Result<Vec<WriteResult>, CallError> {
        let inputs = to_json(records);
        self.run("create", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_create(&mut a.store, module, &inputs)
                        .await
                }
            };
            let results = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.write_results(results, inputs.len())
        })
        .await
    }

    /// Update records (each with its id); one result per input.
    pub async fn update(
        &self,
        module: &str,
        records: &[Record],
    ) -> Result<Vec<WriteResult>, CallError> {
        let inputs = to_json(records);
        self.run("update", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_update(&mut a.store, module, &inputs)
                        .await
                }
            };
            let results = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.write_results(results, inputs.len())
        })
        .await
    }

    /// Delete records by id; one result per input.
    pub async fn delete(
        &self,
        module: &str,
        ids: &[String],
    ) -> Result<Vec<WriteResult>, CallError> {
        self.run("delete", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_delete(&mut a.store, module, ids)
                        .await
                }
            };
            let results = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.write_results(results, ids.len())
        })
        .await
    }

    /// Run a named action on one record; the record as it is afterwards.
    pub async fn act(
        &self,
        module: &str,
        id: &str,
        action: &str,
        args: &Record,
    ) -> Result<Record, CallError> {
        let args = json_text(args);
        self.run("act", true, async |a: &mut Active| {
            let r = match &a.instance {
                Instance::V0_1(p) => {
                    p.ferry_connector_connector()
                        .call_act(&mut a.store, module, id, action, &args)
                        .await
                }
            };
            let json = a.finish(r.map(|r| r.map_err(Into::into)))?;
            a.record(&json, 0)
        })
        .await
    }

    /// For benchmarks: create a store and instance, then drop them.
    #[doc(hidden)]
    pub async fn bench_instantiate(&self) -> Result<(), CallError> {
        self.start("instantiate").await.map(drop)
    }

    /// For benchmarks: one instance, `n` calls of `check` (an empty call).
    #[doc(hidden)]
    pub async fn bench_empty_calls(&self, n: u64) -> Result<(), CallError> {
        let mut a = self.start("check").await?;
        for _ in 0..n {
            let r = match &a.instance {
                Instance::V0_1(p) => p.ferry_connector_connector().call_check(&mut a.store).await,
            };
            a.finish(r.map(|r| r.map_err(Into::into)))?;
        }
        Ok(())
    }

    /// Instantiate, configure (unless `describe`), run `body`, all under
    /// the wall-time limit. Epochs stop a busy guest; the timer also stops
    /// one waiting on a slow host call.
    async fn run<T>(
        &self,
        function: &'static str,
        configure: bool,
        body: impl AsyncFnOnce(&mut Active) -> Result<T, CallError>,
    ) -> Result<T, CallError> {
        let limits = self.limits;
        let plugin = self.plugin.name().to_string();
        let timed_out = || CallError::Limit {
            plugin: plugin.clone(),
            function,
            limit: Limit::Timeout(limits.timeout),
        };
        let work = async {
            let mut active = self.start(function).await?;
            if configure {
                let r = match &active.instance {
                    Instance::V0_1(p) => {
                        p.ferry_connector_connector()
                            .call_configure(&mut active.store, &self.settings)
                            .await
                    }
                };
                active.finish(r.map(|r| r.map_err(Into::into)))?;
            }
            body(&mut active).await
        };
        // A little beyond the epoch deadline, so a busy guest is reported
        // by its trap and a stuck host call by this timer.
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(limits.timeout + EPOCH_TICK * 5, work).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        };
        crate::telemetry::plugin_call(&plugin, function, started.elapsed(), result.as_ref().err());
        result
    }

    async fn start(&self, function: &'static str) -> Result<Active, CallError> {
        let limits = self.limits;
        let mut store = Store::new(
            self.plugin.engine(),
            HostState::new(limits, self.capabilities.clone(), Arc::clone(&self.log)),
        );
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(limits.hostcall_data as usize);
        // Every tick a busy guest yields to the async runtime, so a loop
        // never holds a worker thread that `/healthz`, other jobs and
        // shutdown need; past its wall time it is stopped.
        let deadline = std::time::Instant::now() + limits.timeout;
        store.epoch_deadline_callback(move |_| {
            Ok(if std::time::Instant::now() >= deadline {
                wasmtime::UpdateDeadline::Interrupt
            } else {
                wasmtime::UpdateDeadline::Yield(1)
            })
        });
        store.set_epoch_deadline(1);
        let plugin = self.plugin.name().to_string();
        let instance = match self.plugin.guest() {
            Guest::V0_1 { pre, .. } if !JOB_CALLS.contains(&function) => pre
                .instantiate_async(&mut store)
                .await
                .map(|p| (Instance::V0_1(p), None)),
            Guest::V0_1 {
                pre,
                connector,
                jobs,
            } => {
                async {
                    let raw = pre.instance_pre().instantiate_async(&mut store).await?;
                    let jobs = match jobs {
                        Some(jobs) => Some(jobs.load(&mut store, &raw)?),
                        None => None,
                    };
                    Ok((Instance::V0_1(connector.load(&mut store, &raw)?), jobs))
                }
                .await
            }
        };
        match instance {
            Ok((instance, jobs)) => Ok(Active {
                store,
                instance,
                jobs,
                plugin,
                function,
                limits,
            }),
            Err(e) => Err(describe_trap(&store, plugin, function, limits, e)),
        }
    }
}

/// A record as JSON text, written from the map in place (no copy).
fn json_text(record: &Record) -> String {
    serde_json::to_string(record).expect("a JSON map serialises")
}

fn to_json(records: &[Record]) -> Vec<String> {
    records.iter().map(json_text).collect()
}

/// Calls into the `ferry:jobs` exports: their instance loads those too.
const JOB_CALLS: &[&str] = &["sizes", "start-create", "poll"];
