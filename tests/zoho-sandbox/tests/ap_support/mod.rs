//! Helpers of the Alternative Payments tests (`ap_api.rs`, `ap_flows.rs`).
//!
//! AP's OpenAPI document carries no licence that allows copying it, so it
//! is not kept as a fixture: the shape tests check the field names of the
//! reference's documented examples (docs.alternativepayments.io,
//! "Alternative Payments" 1.1.0), listed by hand.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use zoho_sandbox::{ApClient, Sandbox, SandboxBuilder};

/// 2025-01-15T12:00:00Z.
pub const T0: i64 = 1_736_942_400_000;

pub struct Ap {
    pub sb: Sandbox,
    pub http: Client,
    pub token: String,
}

pub async fn token_for(sb: &Sandbox, http: &Client, c: &ApClient) -> (StatusCode, Value) {
    let r = http
        .post(sb.ap_token_url())
        .basic_auth(&c.client_id, Some(&c.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    let s = r.status();
    (s, r.json().await.unwrap())
}

impl Ap {
    /// Frozen clock, no rate limit (tests that walk many pages).
    pub async fn start() -> Ap {
        Ap::with(
            Sandbox::builder()
                .fixed_clock(T0)
                .ap_rate_limit(None)
                .ap_token_lifetime(Duration::from_secs(30 * 86_400)),
        )
        .await
    }

    pub async fn with(b: SandboxBuilder) -> Ap {
        let sb = b.start().await.unwrap();
        let http = Client::new();
        let (s, v) = token_for(&sb, &http, &sb.ap_client_credentials()).await;
        assert_eq!(s, 200, "{v}");
        let token = v["access_token"].as_str().unwrap().to_string();
        Ap { sb, http, token }
    }

    pub async fn call(&self, m: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(m, format!("{}{path}", self.sb.ap_base_url()))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let s = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (s, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn control(&self, m: Method, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .request(m, format!("{}/__sandbox/ap{path}", self.sb.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let s = r.status();
        (s, r.json().await.unwrap())
    }

    pub async fn customer(&self, name: &str) -> String {
        let (s, v) = self
            .post(
                "/customers",
                json!({"name": name, "email": format!("{}@x.example", name.replace(' ', ""))}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    pub async fn invoice(&self, customer: &str, due: &str, amounts: &[(f64, i64)]) -> Value {
        let lines: Vec<Value> = amounts
            .iter()
            .map(|(a, q)| json!({"amount": a, "description": "work", "quantity": q}))
            .collect();
        let (s, v) = self
            .post(
                "/invoices",
                json!({"currency": "USD", "customer_id": customer, "due_date": due, "line_items": lines}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        v
    }

    /// Every record of a list, walking `after` cursors; checks the envelope.
    pub async fn walk(&self, path: &str, limit: Option<usize>) -> (Vec<Value>, usize) {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q: Vec<(String, String)> = Vec::new();
            if let Some(l) = limit {
                q.push(("limit".into(), l.to_string()));
            }
            if let Some(a) = &after {
                q.push(("after".into(), a.clone()));
            }
            let url =
                reqwest::Url::parse_with_params(&format!("{}{path}", self.sb.ap_base_url()), &q)
                    .unwrap();
            let r = self
                .http
                .get(url)
                .bearer_auth(&self.token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            assert_envelope(&v);
            pages += 1;
            let data = v["data"].as_array().unwrap();
            assert!(data.len() <= limit.unwrap_or(100));
            assert_eq!(
                v["has_previous_page"],
                json!(after.is_some() && !data.is_empty())
            );
            out.extend(data.iter().cloned());
            if v["has_next_page"] != json!(true) {
                break;
            }
            after = Some(v["end_cursor"].as_str().unwrap().to_string());
            assert!(pages < 10_000);
        }
        (out, pages)
    }
}

pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

pub fn assert_has(v: &Value, expected: &[&str]) {
    let k = keys(v);
    for e in expected {
        assert!(k.contains(*e), "missing `{e}` in {v}");
    }
}

/// `PaginatedResponse-*`: the envelope at the top level.
pub fn assert_envelope(v: &Value) {
    assert_eq!(
        keys(v),
        [
            "data",
            "end_cursor",
            "has_next_page",
            "has_previous_page",
            "start_cursor"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    assert!(v["data"].is_array() && v["end_cursor"].is_string() && v["start_cursor"].is_string());
    assert!(v["has_next_page"].is_boolean() && v["has_previous_page"].is_boolean());
}

/// `HttpError`: `{code, message, validation_errors}`.
pub fn assert_http_error(v: &Value) {
    assert!(v["code"].is_string(), "{v}");
    assert!(v["message"].is_string(), "{v}");
    assert!(v["validation_errors"].is_object(), "{v}");
}

pub fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
