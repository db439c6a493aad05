//! `ferry serve` as a process: started on a workspace, called over HTTP,
//! stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::bench::Bench;

/// A `ferry serve` process; stopped (gracefully) when dropped.
pub struct Served {
    child: Child,
    pub url: String,
    http: reqwest::Client,
}

impl Served {
    /// `ferry serve <extra>`; without `--listen` the workspace's `serve.listen`.
    pub fn start(bench: &Bench, extra: &[&str]) -> Served {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        Served::spawn(bench.ferry(&args))
    }

    /// Start `command` (a `ferry serve …`) and wait for its address.
    pub fn spawn(command: Command) -> Served {
        Served::spawn_logging(command, Stdio::inherit())
    }

    /// [`Served::spawn`], its log going to `log`.
    pub fn spawn_logging(mut command: Command, log: impl Into<Stdio>) -> Served {
        ferry::capability::install_crypto_provider();
        let mut child = command.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(line)) = lines.next() {
                let _ = tx.send(line);
            }
            for _ in lines {}
        });
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("ferry serve printed its address");
        let url = line
            .strip_prefix("ferry serve listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        Served {
            child,
            url,
            http: reqwest::Client::new(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.url),
        );
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// A request with exactly these headers (and the client's own, `Host`
    /// unless given) and this body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.url),
        );
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> Value {
        let (status, body) = self.call("GET", path, Some(token), None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Runs of `name`, newest first.
    pub async fn runs(&self, name: &str, token: &str) -> Vec<Value> {
        self.get(&format!("/v1/jobs/{name}/runs"), token).await["runs"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// Wait (polling, with a deadline) until `name` has `n` runs, all ended.
    pub async fn wait_runs(&self, name: &str, token: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let runs = self.runs(name, token).await;
            if runs.len() >= n && runs.iter().all(|r| r["ended"].is_string()) {
                return runs;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: waited for {n} runs, have {runs:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn status_of(&self, name: &str, token: &str) -> Value {
        self.get("/v1/status", token).await["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .cloned()
            .unwrap()
    }

    /// Move the service's clock, and wait until its scheduler has looked
    /// at the new time (and started whatever became due).
    pub async fn advance(&self, token: &str, secs: u64) {
        let ticks = self.get("/v1/status", token).await["ticks"]
            .as_u64()
            .unwrap();
        let (status, body) = self
            .call(
                "POST",
                "/v1/clock",
                Some(token),
                Some(json!({ "advance_secs": secs })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.get("/v1/status", token).await["ticks"]
            .as_u64()
            .unwrap()
            <= ticks
        {
            assert!(
                Instant::now() < deadline,
                "the scheduler did not look at the clock"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process's id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait up to `timeout` for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// SIGTERM, and wait for a graceful exit.
    pub fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "ferry serve exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "ferry serve did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A new API token (`ferry tokens add`) with `role`.
pub fn token(bench: &Bench, name: &str, role: &str) -> String {
    let out = super::stdout_of(&mut bench.ferry(&["tokens", "add", name, "--role", role]));
    String::from_utf8(out).unwrap().trim().to_string()
}
