//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod oas;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use zoho_sandbox::{Product, Sandbox};

/// A fixed instant (2025-01-15T12:00:00Z) for tests with a frozen clock.
pub const T0: i64 = 1_736_942_400_000;

pub struct Api {
    pub sb: Sandbox,
    pub http: Client,
    pub token: String,
}

pub async fn token(sb: &Sandbox, http: &Client) -> String {
    let c = sb.client_credentials();
    let url = format!(
        "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        sb.token_url(),
        c.client_id,
        c.client_secret,
        c.refresh_token
    );
    let v: Value = http.post(url).send().await.unwrap().json().await.unwrap();
    v["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

impl Api {
    /// The CSV inside a downloaded export or result archive (a path on
    /// the sandbox or an absolute URL), or the error body.
    pub async fn download_csv(&self, url: &str) -> (StatusCode, String) {
        use std::io::Read;
        let url = if url.starts_with("http") {
            url.to_string()
        } else {
            format!("{}{url}", self.sb.base_url())
        };
        let resp = self
            .http
            .get(url)
            .header("Authorization", format!("Zoho-oauthtoken {}", self.token))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        if !status.is_success() {
            return (status, String::from_utf8_lossy(&bytes).into_owned());
        }
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        assert_eq!(archive.len(), 1, "one CSV per archive");
        let mut file = archive.by_index(0).unwrap();
        assert!(file.name().unwrap().ends_with(".csv"));
        let mut csv = String::new();
        file.read_to_string(&mut csv).unwrap();
        (status, csv)
    }

    pub async fn start(b: zoho_sandbox::SandboxBuilder) -> Api {
        let sb = b.start().await.expect("start sandbox");
        let http = Client::new();
        let token = token(&sb, &http).await;
        Api { sb, http, token }
    }

    pub async fn frozen(seed: usize) -> Api {
        Api::start(
            Sandbox::builder()
                .fixed_clock(T0)
                .seed(seed)
                .token_lifetime(std::time::Duration::from_secs(400 * 86_400)),
        )
        .await
    }

    /// Send a request; returns status, headers and JSON body (Null when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.sb.base_url(), path))
            .header("Authorization", format!("Zoho-oauthtoken {}", self.token));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let h = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let v = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("bad JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
        };
        (status, h, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::GET, path, None, &[]).await;
        (s, v)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::POST, path, Some(body), &[]).await;
        (s, v)
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::PUT, path, Some(body), &[]).await;
        (s, v)
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        let (s, _, v) = self.call(Method::DELETE, path, None, &[]).await;
        (s, v)
    }

    /// Path with the Books organisation query parameter.
    pub fn books(&self, path: &str) -> String {
        let org = self.sb.organization_id(Product::Books);
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("/books/v3{path}{sep}organization_id={org}")
    }

    /// A control-API call (no auth).
    pub async fn control(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/__sandbox{}", self.sb.base_url(), path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap()
    }
}
