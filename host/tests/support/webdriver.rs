//! A headless Chromium driven over W3C WebDriver (the distribution's
//! `chromedriver`), for the dashboard's browser tests. The protocol is a
//! handful of JSON calls, so it is spoken here with the HTTP client the
//! tests already have rather than through another crate.
//!
//! `chromium` and `chromedriver` are found on `PATH` (or at
//! `FERRY_CHROMIUM` and `FERRY_CHROMEDRIVER`). When they are missing the
//! tests fail, saying so, unless `FERRY_SKIP_BROWSER_TESTS=1` opts out.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in names {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Chromium and its driver, or why not. `None`: the tests were told to
/// skip (`FERRY_SKIP_BROWSER_TESTS=1`).
pub fn browser_or_fail() -> Option<(PathBuf, PathBuf)> {
    let chromium = find(
        "FERRY_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find("FERRY_CHROMEDRIVER", &["chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var("FERRY_SKIP_BROWSER_TESTS").is_ok_and(|v| v == "1") => {
            eprintln!("FERRY_SKIP_BROWSER_TESTS=1: the dashboard's browser tests are skipped");
            None
        }
        (c, d) => panic!(
            "the dashboard's browser tests need Chromium and chromedriver (Debian: `apt-get install chromium chromium-driver`; found chromium: {c:?}, chromedriver: {d:?}); set FERRY_SKIP_BROWSER_TESTS=1 to skip them"
        ),
    }
}

/// The chromedriver process, ended on drop (also when a test fails
/// before its browser is up).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A chromedriver process and one browser session; both end on drop,
/// whether the test passed or not.
pub struct Browser {
    driver: Driver,
    port: u16,
    base: String,
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

impl Browser {
    /// Start chromedriver and a headless Chromium with a fresh profile,
    /// `width`×`height`; screenshots go to `shots`.
    pub async fn start(width: u32, height: u32, shots: PathBuf) -> Option<Browser> {
        let (chromium, chromedriver) = browser_or_fail()?;
        ferry::capability::install_crypto_provider();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Driver(
            Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
        );
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        // The network is closed and nothing but 127.0.0.1 is visited: no
        // background fetches, updates or sync that would wait on it.
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            format!("--user-data-dir={}", profile.path().display()),
            format!("--window-size={width},{height}"),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium, "args": args },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_string();
        std::fs::create_dir_all(&shots).unwrap();
        Some(Browser {
            driver,
            port,
            base,
            session,
            http,
            _profile: profile,
            shots,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method.clone(), &url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let answer: Value = req.send().await.unwrap().json().await.unwrap();
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {method} {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn url(&self) -> String {
        self.get("/url").await.as_str().unwrap().to_string()
    }

    /// Elements matching a CSS selector (none: empty).
    pub async fn all(&self, css: &str) -> Vec<String> {
        self.post(
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )
        .await
        .as_array()
        .unwrap_or_else(|| panic!("finding `{css}`: not a list"))
        .iter()
        .map(|e| {
            e[ELEMENT]
                .as_str()
                .unwrap_or_else(|| panic!("element: {e}"))
                .to_string()
        })
        .collect()
    }

    /// The one element matching `css`, waiting for it a while.
    pub async fn one(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(e) = self.all(css).await.into_iter().next() {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no `{css}` on {}: {}",
                self.url().await,
                self.text("body").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let e = self.one(css).await;
        self.post(&format!("/element/{e}/click"), json!({})).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.one(css).await;
        self.post(&format!("/element/{e}/value"), json!({ "text": text }))
            .await;
    }

    /// The visible text of the first element matching `css` (empty:
    /// none). Read in one step in the page: a live page may swap its
    /// elements between a find and a read.
    pub async fn text(&self, css: &str) -> String {
        self.post(
            "/execute/sync",
            json!({
                "script": "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
                "args": [css],
            }),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Run `script` in the page (its `return` is the answer).
    pub async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// Run an asynchronous `script` that calls `done(value)`.
    pub async fn script_async(&self, script: &str) -> Value {
        let wrapped = format!("const done = arguments[arguments.length - 1];\n{script}");
        self.post("/execute/async", json!({ "script": wrapped, "args": [] }))
            .await
    }

    /// Wait until the text of `css` satisfies `ok` (the page updating
    /// itself), and return it.
    pub async fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = self.text(css).await;
            if ok(&text) {
                return text;
            }
            if Instant::now() > deadline {
                self.screenshot("failed-wait").await;
                panic!(
                    "waited for {what} in `{css}`; it says: {text}; the page at {}: {}",
                    self.url().await,
                    self.text("body").await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Close the browser, then the driver (as dropping it does).
    pub fn quit(self) {
        drop(self);
    }

    pub async fn delete_cookies(&self) {
        self.call(reqwest::Method::DELETE, "/cookie", None).await;
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// A screenshot of the window into the screenshots folder; returns
    /// its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.get("/screenshot").await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes its Chromium; ending only the driver
        // would leave the browser running. Plain blocking HTTP: a drop
        // cannot await, and it runs while a failed test unwinds too.
        use std::io::{Read, Write};
        if let Ok(mut tcp) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(10)));
            let _ = write!(
                tcp,
                "DELETE /session/{} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                self.session, self.port
            );
            let _ = tcp.read_to_end(&mut Vec::new());
        }
    }
}
