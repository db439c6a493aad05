//! The workspace's state as commands that read it (and pause or resume)
//! see it: the store itself, or — while `ferry serve` holds the store,
//! which admits one process — the running service, through its admin API
//! and the token in its service file ([`crate::serve::local`]).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

use crate::serve::local::{self, ServiceFile};
use crate::store::{
    EmbeddedStore, LedgerFilter, LedgerRow, Link, RunRecord, StateStore, StoreError,
};

/// What reading commands need of the state.
pub trait StateView {
    /// Where the state is, for the user.
    fn place(&self) -> String;
    fn runs(&self, name: &str, limit: usize) -> anyhow::Result<Vec<RunRecord>>;
    fn run(&self, name: &str, id: u64) -> anyhow::Result<Option<RunRecord>>;
    fn ledger(
        &self,
        name: &str,
        run: u64,
        filter: LedgerFilter,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<Vec<LedgerRow>>;
    fn is_paused(&self, name: &str) -> anyhow::Result<bool>;
    /// How many records of `name` are failing.
    fn failing(&self, name: &str) -> anyhow::Result<usize>;
    /// Links of `name` as `(from, to, link)`; of one `from` record with `id`.
    fn links(&self, name: &str, id: Option<&str>) -> anyhow::Result<Vec<(String, String, Link)>>;
    fn set_paused(&self, name: &str, paused: bool) -> anyhow::Result<()>;
}

/// The store, or the service that holds it. `Err` when neither can be had.
pub fn open(
    state_dir: &std::path::Path,
    store: impl FnOnce() -> Result<Arc<EmbeddedStore>, StoreError>,
) -> anyhow::Result<Box<dyn StateView>> {
    match store() {
        Ok(store) => {
            let place = format!("{} ({})", store.path().display(), store.kind().name());
            Ok(Box::new(Local(store as Arc<dyn StateStore>, place)))
        }
        Err(StoreError::InUse { path }) => Ok(Box::new(Running::holding(state_dir, &path)?)),
        Err(e) => Err(e.into()),
    }
}

/// Whether `error` says another process (a running `ferry serve`) holds
/// the store.
pub fn in_use(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<StoreError>(),
        Some(StoreError::InUse { .. })
    )
}

/// A store open in this process, and how to name it.
pub struct Local(pub Arc<dyn StateStore>, pub String);

impl Local {
    /// The store of a run's environment.
    pub fn of(env: &crate::engine::Env) -> Local {
        Local(env.store.clone(), "the workspace's state".into())
    }
}

impl StateView for Local {
    fn place(&self) -> String {
        self.1.clone()
    }

    fn runs(&self, name: &str, limit: usize) -> anyhow::Result<Vec<RunRecord>> {
        Ok(self.0.runs(name, limit)?)
    }

    fn run(&self, name: &str, id: u64) -> anyhow::Result<Option<RunRecord>> {
        Ok(self.0.run(name, id)?)
    }

    fn ledger(
        &self,
        name: &str,
        run: u64,
        filter: LedgerFilter,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<Vec<LedgerRow>> {
        Ok(self.0.ledger(name, run, filter, offset, limit)?)
    }

    fn is_paused(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.0.is_paused(name)?)
    }

    fn failing(&self, name: &str) -> anyhow::Result<usize> {
        Ok(self.0.failing(name)?.len())
    }

    fn links(&self, name: &str, id: Option<&str>) -> anyhow::Result<Vec<(String, String, Link)>> {
        Ok(self.0.links_listed(name, id)?)
    }

    fn set_paused(&self, name: &str, paused: bool) -> anyhow::Result<()> {
        Ok(self.0.set_paused(name, paused)?)
    }
}

/// A running `ferry serve`, reached on loopback with its local token.
pub struct Running {
    file: ServiceFile,
    client: reqwest::Client,
    /// `/v1/status`, read once per command: each job's paused flag and
    /// failing count come from it.
    status: std::sync::OnceLock<Value>,
}

/// The service answered, but not with success.
#[derive(Debug, thiserror::Error)]
#[error("`ferry serve` (pid {pid}): {why}")]
pub struct Refused {
    pub pid: u32,
    pub status: u16,
    pub why: String,
}

impl Running {
    /// The service holding the store at `path` (in `state_dir`), or an
    /// error saying none answers.
    pub fn holding(state_dir: &std::path::Path, path: &str) -> anyhow::Result<Running> {
        Running::beside(state_dir).with_context(|| {
            format!(
                "the state store at {path} is in use by another Ferry process, and no `ferry serve` answers for it (a running service names itself in `serve.json` there)"
            )
        })
    }

    /// Have the service run `names` now (reading everything with `full`)
    /// and wait for each run to end. Paused names are left out.
    pub async fn run_now(&self, names: &[String], full: bool) -> anyhow::Result<Vec<RunRecord>> {
        let status = self.call(reqwest::Method::GET, "/v1/status").await?;
        let paused = |name: &str| {
            status["jobs"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|j| j["name"] == name && j["paused"] == true)
        };
        let latest = |answer: Value| {
            answer["runs"]
                .as_array()
                .and_then(|runs| runs.first())
                .and_then(RunRecord::from_report)
        };
        let mut waiting = Vec::new();
        for name in names.iter().filter(|n| !paused(n)) {
            let runs = format!("{}/runs?limit=1", Self::job(name));
            let before = latest(self.call(reqwest::Method::GET, &runs).await?).map_or(0, |r| r.id);
            self.call(
                reqwest::Method::POST,
                &format!("{}/run?full={full}", Self::job(name)),
            )
            .await?;
            waiting.push((runs, before));
        }
        eprintln!(
            "`ferry serve` (pid {}) holds this state: the runs go through it",
            self.file.pid
        );
        let mut ended = Vec::new();
        while !waiting.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut still = Vec::new();
            for (runs, before) in waiting {
                match latest(self.call(reqwest::Method::GET, &runs).await?) {
                    Some(run) if run.id > before && run.ended.is_some() => ended.push(run),
                    _ => still.push((runs, before)),
                }
            }
            waiting = still;
        }
        Ok(ended)
    }

    /// The service named by the service file in `state_dir`, if it answers.
    pub fn beside(state_dir: &std::path::Path) -> Option<Running> {
        let file = local::read(state_dir)?;
        crate::capability::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            // Calls run on short-lived runtimes: keep no connection.
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .ok()?;
        let running = Running {
            file,
            client,
            status: std::sync::OnceLock::new(),
        };
        let alive = running.blocking(async {
            running
                .client
                .get(format!("{}/healthz", running.file.url))
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        alive.then_some(running)
    }

    /// Run `call` to its end from synchronous code, even code called from
    /// a runtime's task (a thread of its own, with a runtime of its own).
    fn blocking<T: Send>(&self, call: impl std::future::Future<Output = T> + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for one call")
                    .block_on(call)
            })
            .join()
            .expect("the call's thread ends")
        })
    }

    /// `GET` or `POST` `path` on the admin API; its JSON answer.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.file.url);
        let answer = self
            .client
            .request(method, &url)
            .bearer_auth(&self.file.token)
            .send()
            .await
            .with_context(|| format!("`ferry serve` at {} did not answer", self.file.url))?;
        let status = answer.status();
        let bytes = answer.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !status.is_success() {
            let why = body
                .get("error")
                .and_then(Value::as_str)
                .map_or_else(|| status.to_string(), str::to_owned);
            return Err(Refused {
                pid: self.file.pid,
                status: status.as_u16(),
                why,
            }
            .into());
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.blocking(self.call(reqwest::Method::GET, path))
    }

    fn job(name: &str) -> String {
        format!("/v1/jobs/{}", urlencoding(name))
    }

    /// The row of `name` in `/v1/status`.
    fn status_of(&self, name: &str) -> anyhow::Result<Value> {
        let status = match self.status.get() {
            Some(status) => status,
            None => {
                let read = self.get("/v1/status")?;
                self.status.get_or_init(|| read)
            }
        };
        status["jobs"]
            .as_array()
            .and_then(|jobs| jobs.iter().find(|j| j["name"] == name).cloned())
            .with_context(|| format!("`ferry serve` runs no sync or trigger `{name}`"))
    }

    /// The API tokens' names and roles.
    pub fn tokens(&self) -> anyhow::Result<Vec<(String, String)>> {
        let answer = self.get("/v1/tokens")?;
        Ok(answer["tokens"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                let text = |k: &str| t[k].as_str().unwrap_or_default().to_string();
                (text("name"), text("role"))
            })
            .collect())
    }
}

impl StateView for Running {
    fn place(&self) -> String {
        format!(
            "held by `ferry serve` (pid {}, {}), read through it",
            self.file.pid, self.file.url
        )
    }

    fn runs(&self, name: &str, limit: usize) -> anyhow::Result<Vec<RunRecord>> {
        let answer = self.get(&format!("{}/runs?limit={limit}", Self::job(name)))?;
        Ok(answer["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(RunRecord::from_report)
            .collect())
    }

    fn run(&self, name: &str, id: u64) -> anyhow::Result<Option<RunRecord>> {
        match self.get(&format!("{}/runs/{id}?limit=0", Self::job(name))) {
            Ok(answer) => Ok(RunRecord::from_report(&answer["run"])),
            Err(e) if e.downcast_ref::<Refused>().is_some_and(|r| r.status == 404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn ledger(
        &self,
        name: &str,
        run: u64,
        filter: LedgerFilter,
        offset: usize,
        limit: usize,
    ) -> anyhow::Result<Vec<LedgerRow>> {
        let filter = filter.name();
        let answer = self.get(&format!(
            "{}/runs/{run}?filter={filter}&offset={offset}&limit={limit}",
            Self::job(name)
        ))?;
        Ok(serde_json::from_value(answer["rows"].clone())?)
    }

    fn is_paused(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.status_of(name)?["paused"] == true)
    }

    fn failing(&self, name: &str) -> anyhow::Result<usize> {
        Ok(self.status_of(name)?["failing"].as_u64().unwrap_or(0) as usize)
    }

    fn links(&self, name: &str, id: Option<&str>) -> anyhow::Result<Vec<(String, String, Link)>> {
        let query = id
            .map(|id| format!("?id={}", urlencoding(id)))
            .unwrap_or_default();
        let answer = self.get(&format!("{}/links{query}", Self::job(name)))?;
        answer["links"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                Ok((
                    l["from"].as_str().unwrap_or_default().to_string(),
                    l["to"].as_str().unwrap_or_default().to_string(),
                    serde_json::from_value(l["link"].clone())?,
                ))
            })
            .collect()
    }

    fn set_paused(&self, name: &str, paused: bool) -> anyhow::Result<()> {
        let verb = if paused { "pause" } else { "resume" };
        self.blocking(self.call(
            reqwest::Method::POST,
            &format!("{}/{verb}", Self::job(name)),
        ))?;
        Ok(())
    }
}

/// `text` for a URL path segment or query value.
fn urlencoding(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
