//! Errors: the HTTP-level error every handler returns ([`ApiError`], rendered
//! in the product's own shape) and the library-level [`SandboxError`].

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The four Zoho products the sandbox serves.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Product {
    Crm,
    Books,
    Invoice,
    Billing,
}

impl Product {
    pub const FINANCE: [Product; 3] = [Product::Books, Product::Invoice, Product::Billing];

    pub fn name(self) -> &'static str {
        match self {
            Product::Crm => "crm",
            Product::Books => "books",
            Product::Invoice => "invoice",
            Product::Billing => "billing",
        }
    }

    pub fn parse(s: &str) -> Option<Product> {
        Some(match s {
            "crm" => Product::Crm,
            "books" => Product::Books,
            "invoice" => Product::Invoice,
            "billing" | "subscriptions" => Product::Billing,
            _ => return None,
        })
    }

    /// Path prefix of the product's REST API.
    pub fn prefix(self) -> &'static str {
        match self {
            Product::Crm => "/crm/v8",
            Product::Books => "/books/v3",
            Product::Invoice => "/invoice/v3",
            Product::Billing => "/billing/v1",
        }
    }
}

/// An error response in the shape the product uses.
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTTP {status}: {body:?}")]
pub struct ApiError {
    pub status: StatusCode,
    /// `None` sends an empty body (204/304).
    pub body: Option<Value>,
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    /// A Books/Invoice/Billing error: `{"code": <int>, "message": "…"}`.
    pub fn finance(status: u16, code: i64, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body: Some(json!({"code": code, "message": message.into()})),
            headers: Vec::new(),
        }
    }

    /// A top-level CRM error: `{"code","details","message","status":"error"}`.
    pub fn crm(status: u16, code: &str, message: impl Into<String>, details: Value) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body: Some(
                json!({"code": code, "details": details, "message": message.into(), "status": "error"}),
            ),
            headers: Vec::new(),
        }
    }

    /// An empty response with this status (204 No Content, 304 Not Modified).
    pub fn empty(status: u16) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT),
            body: None,
            headers: Vec::new(),
        }
    }

    /// A body that is not one of Zoho's envelopes (OAuth, control API).
    pub fn raw(status: u16, body: Value) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            body: Some(body),
            headers: Vec::new(),
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }

    /// `INVALID_DATA` for a bad query parameter (CRM).
    pub fn crm_param(param: &str) -> Self {
        ApiError::crm(
            400,
            "INVALID_DATA",
            "the given parameter is invalid",
            json!({"param_name": param}),
        )
    }

    /// `1002 "<Entity> does not exist."` (finance).
    pub fn not_found(entity: &str) -> Self {
        ApiError::finance(404, 1002, format!("{entity} does not exist."))
    }

    /// Code 4 "Invalid value passed for <field>" (finance).
    pub fn invalid_value(field: &str) -> Self {
        ApiError::finance(400, 4, format!("Invalid value passed for {field}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = match self.body {
            Some(b) => (self.status, axum::Json(b)).into_response(),
            None => self.status.into_response(),
        };
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        resp
    }
}

/// Library-level errors (start-up, persistence, configuration).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path} is not valid: {source}")]
    StateFormat {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}
