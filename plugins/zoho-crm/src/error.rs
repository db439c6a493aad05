//! Zoho CRM errors → the contract's error variant.
//!
//! CRM reports request-level errors as one top-level object and write
//! errors as one object per record inside `data[]`; both have the shape
//! `{"code", "details", "message", "status"}`, so one mapping serves both.

use ferry_plugin_sdk::http::Response;
use ferry_plugin_sdk::prelude::*;

/// A CRM error object, request-level or record-level.
#[derive(Debug, Clone, PartialEq)]
pub struct ZohoError {
    pub code: String,
    pub message: String,
    pub details: Value,
    /// HTTP status of the response that carried it.
    pub http_status: u16,
    /// `Retry-After`, in milliseconds, when the response had one.
    pub retry_after_ms: Option<u64>,
}

impl ZohoError {
    /// Read a CRM error object (`{"code","details","message"}`).
    pub fn from_object(v: &Value, http_status: u16) -> ZohoError {
        ZohoError {
            code: v["code"].as_str().unwrap_or_default().to_string(),
            message: v["message"].as_str().unwrap_or_default().to_string(),
            details: v.get("details").cloned().unwrap_or(Value::Null),
            http_status,
            retry_after_ms: None,
        }
    }

    /// The field the error names: `details.api_name`, else the parameter.
    fn field(&self) -> String {
        ["api_name", "param_name", "header_name"]
            .iter()
            .find_map(|k| self.details.get(*k).and_then(Value::as_str))
            .unwrap_or_default()
            .to_string()
    }

    /// Whether the error says a record id does not exist. CRM answers an
    /// unknown id in updates and deletes with `INVALID_DATA` naming `id`.
    fn names_unknown_id(&self) -> bool {
        self.code == "INVALID_DATA"
            && self.message.contains("id given seems to be invalid")
            && (self.field() == "id" || self.details.get("id").is_some())
    }

    /// The contract's error for this one.
    pub fn into_connector_error(self) -> ConnectorError {
        let text = if self.code.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        };
        match self.code.as_str() {
            _ if self.names_unknown_id() => {
                let id = self.details.get("id").and_then(Value::as_str);
                ConnectorError::NotFound(match id {
                    Some(id) => format!("no record with id {id} ({text})"),
                    None => text,
                })
            }
            "INVALID_URL_PATTERN" | "INVALID_MODULE" => ConnectorError::NotFound(text),
            "INVALID_TOKEN"
            | "OAUTH_SCOPE_MISMATCH"
            | "AUTHENTICATION_FAILURE"
            | "NO_PERMISSION" => ConnectorError::Unauthorized(text),
            "TOO_MANY_REQUESTS" => ConnectorError::rate_limited(self.retry_after(), text),
            "INVALID_DATA" | "MANDATORY_NOT_FOUND" | "REQUIRED_PARAM_MISSING" => {
                ConnectorError::invalid(self.field(), self.message_with_hint())
            }
            "DUPLICATE_DATA" => {
                let other = self.details["duplicate_record"]["id"]
                    .as_str()
                    .map(|id| format!(" (existing record {id})"))
                    .unwrap_or_default();
                ConnectorError::Conflict(format!("{text} in `{}`{other}", self.field()))
            }
            "INTERNAL_ERROR" => ConnectorError::Transient(text),
            _ => match self.http_status {
                404 => ConnectorError::NotFound(text),
                401 => ConnectorError::Unauthorized(text),
                429 => ConnectorError::rate_limited(self.retry_after(), text),
                500..=599 => ConnectorError::Transient(text),
                status => ConnectorError::vendor(
                    if self.code.is_empty() {
                        status.to_string()
                    } else {
                        self.code
                    },
                    self.message,
                    status,
                ),
            },
        }
    }

    fn retry_after(&self) -> Option<u64> {
        self.retry_after_ms.or_else(|| {
            self.details
                .get("retry_after")
                .and_then(Value::as_u64)
                .map(|s| s * 1000)
        })
    }

    /// The message, with the expected type or length when CRM gave one.
    fn message_with_hint(&self) -> String {
        let mut m = self.message.clone();
        if let Some(t) = self
            .details
            .get("expected_data_type")
            .and_then(Value::as_str)
        {
            m.push_str(&format!(" (expected {t})"));
        }
        if let Some(n) = self.details.get("maximum_length").and_then(Value::as_u64) {
            m.push_str(&format!(" (at most {n} characters)"));
        }
        m
    }
}

/// The error a non-success response stands for.
pub fn response_error(resp: &Response) -> ConnectorError {
    let retry_after_ms = resp
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| s * 1000);
    match serde_json::from_slice::<Value>(&resp.body) {
        Ok(v) if v.get("code").is_some() => ZohoError {
            retry_after_ms,
            ..ZohoError::from_object(&v, resp.status)
        }
        .into_connector_error(),
        // Write errors that failed every record still come wrapped in data[].
        Ok(v) if v["data"][0].get("code").is_some() => ZohoError {
            retry_after_ms,
            ..ZohoError::from_object(&v["data"][0], resp.status)
        }
        .into_connector_error(),
        _ => {
            let snippet: String = resp.text().chars().take(200).collect();
            match resp.status {
                200..=299 => ConnectorError::Transient(format!(
                    "unreadable answer from Zoho CRM (HTTP {}): {snippet}",
                    resp.status
                )),
                429 => ConnectorError::rate_limited(retry_after_ms, snippet),
                status => ConnectorError::from_status(status, snippet),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bindings' error type has no `PartialEq`; compare renderings.
    macro_rules! assert_same {
        ($a:expr, $b:expr) => {
            assert_eq!(format!("{:?}", $a), format!("{:?}", $b))
        };
    }

    fn resp(status: u16, body: &str) -> Response {
        Response {
            status,
            headers: vec![("Retry-After".into(), "3".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn request_level_codes_map_to_the_contract() {
        let e = |s, b| response_error(&resp(s, b));
        assert!(matches!(
            e(
                404,
                r#"{"code":"INVALID_URL_PATTERN","details":{},"message":"x","status":"error"}"#
            ),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            e(
                401,
                r#"{"code":"INVALID_TOKEN","details":{},"message":"invalid oauth token"}"#
            ),
            ConnectorError::Unauthorized(_)
        ));
        assert!(matches!(
            e(
                401,
                r#"{"code":"OAUTH_SCOPE_MISMATCH","details":{},"message":"m"}"#
            ),
            ConnectorError::Unauthorized(_)
        ));
        assert_same!(
            e(
                429,
                r#"{"code":"TOO_MANY_REQUESTS","details":{},"message":"slow down"}"#
            ),
            ConnectorError::rate_limited(Some(3000), "TOO_MANY_REQUESTS: slow down")
        );
        assert_same!(
            e(
                400,
                r#"{"code":"INVALID_DATA","details":{"param_name":"sort_by"},"message":"invalid data"}"#
            ),
            ConnectorError::invalid("sort_by", "invalid data")
        );
        assert!(matches!(
            e(
                500,
                r#"{"code":"INTERNAL_ERROR","details":{},"message":"boom"}"#
            ),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            e(502, "<html>bad gateway"),
            ConnectorError::Transient(_)
        ));
        assert!(matches!(
            e(200, r#"{"data":[{"id":"1""#),
            ConnectorError::Transient(_)
        ));
        assert_same!(
            e(
                400,
                r#"{"code":"PATTERN_NOT_MATCHED","details":{},"message":"nope"}"#
            ),
            ConnectorError::vendor("PATTERN_NOT_MATCHED", "nope", 400)
        );
    }

    #[test]
    fn record_level_codes_name_the_field() {
        let rec = |v: Value| ZohoError::from_object(&v, 207).into_connector_error();
        assert_same!(
            rec(
                json!({"code":"MANDATORY_NOT_FOUND","details":{"api_name":"Last_Name","json_path":"$.data[1].Last_Name"},"message":"required field not found","status":"error"})
            ),
            ConnectorError::invalid("Last_Name", "required field not found")
        );
        assert_same!(
            rec(
                json!({"code":"INVALID_DATA","details":{"api_name":"Amount","expected_data_type":"double"},"message":"invalid data"})
            ),
            ConnectorError::invalid("Amount", "invalid data (expected double)")
        );
        let dup = rec(
            json!({"code":"DUPLICATE_DATA","details":{"api_name":"Account_Name","duplicate_record":{"id":"42"}},"message":"duplicate data"}),
        );
        assert!(
            matches!(&dup, ConnectorError::Conflict(m) if m.contains("Account_Name") && m.contains("42")),
            "{dup:?}"
        );
        assert!(matches!(
            rec(
                json!({"code":"INVALID_DATA","details":{"id":"9"},"message":"the id given seems to be invalid"})
            ),
            ConnectorError::NotFound(_)
        ));
    }
}
