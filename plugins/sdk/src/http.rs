//! A small request builder over the host's `http` capability.
//!
//! URLs starting with `/` are resolved by the host against the
//! connection's base URL (built from the manifest's data centre), so a
//! plugin never hard-codes a vendor host.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ConnectorError;
use crate::bindings::ferry::connector::http as wit;

pub use wit::Method;

/// A request being built.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    idempotent: bool,
}

impl Request {
    /// Any method; `idempotent` defaults to true for GET, PUT and DELETE.
    pub fn new(method: Method, url: impl Into<String>) -> Request {
        let idempotent = matches!(method, Method::Get | Method::Put | Method::Delete);
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            idempotent,
        }
    }
    pub fn get(url: impl Into<String>) -> Request {
        Request::new(Method::Get, url)
    }
    pub fn post(url: impl Into<String>) -> Request {
        Request::new(Method::Post, url)
    }
    pub fn put(url: impl Into<String>) -> Request {
        Request::new(Method::Put, url)
    }
    pub fn patch(url: impl Into<String>) -> Request {
        Request::new(Method::Patch, url)
    }
    pub fn delete(url: impl Into<String>) -> Request {
        Request::new(Method::Delete, url)
    }

    /// Add a query parameter (percent-encoded).
    pub fn query(mut self, name: &str, value: impl ToString) -> Request {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    /// Add a query parameter when `value` is present.
    pub fn query_opt(self, name: &str, value: Option<impl ToString>) -> Request {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    /// Add a header. `Authorization` and `Cookie` are the host's: setting
    /// them makes the host refuse the request.
    pub fn header(mut self, name: &str, value: impl ToString) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// A JSON body (sets `Content-Type`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Request {
        self.body = Some(serde_json::to_vec(body).unwrap_or_default());
        self.header("Content-Type", "application/json")
    }

    /// A raw body.
    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }

    /// Declare whether repeating the request after an uncertain failure is
    /// safe (the host retries timeouts and 5xx only then).
    pub fn idempotent(mut self, yes: bool) -> Request {
        self.idempotent = yes;
        self
    }

    /// The URL with its query string.
    pub fn url(&self) -> String {
        if self.query.is_empty() {
            return self.url.clone();
        }
        let query: Vec<String> = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}{}", self.url, query.join("&"))
    }

    /// Send through the host.
    pub fn send(self) -> Result<Response, ConnectorError> {
        let request = wit::Request {
            method: self.method,
            url: self.url(),
            headers: self.headers,
            body: self.body,
            idempotent: self.idempotent,
        };
        let r = wit::send(&request)?;
        Ok(Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// Percent-encode a query component (RFC 3986 unreserved kept).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A vendor response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; malformed JSON is a transient error (a truncated
    /// body is the usual cause).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ConnectorError> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// The body as text, lossily.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_encoded() {
        let r = Request::get("/crm/v8/Accounts/search")
            .query("criteria", "(Account_Name:equals:A\\,B & C)")
            .query("page", 2);
        assert_eq!(
            r.url(),
            "/crm/v8/Accounts/search?criteria=%28Account_Name%3Aequals%3AA%5C%2CB%20%26%20C%29&page=2"
        );
        assert!(!Request::post("/x").idempotent);
        assert!(Request::put("/x").idempotent);
    }
}
