//! The finance family's errors, mapped once onto the contract's variant.
//!
//! Every response body is `{"code": <int>, "message": "…"}`; a non-zero
//! code is an error even under HTTP 200.

use ferry_plugin_sdk::ConnectorError;
use ferry_plugin_sdk::http::Response;
use serde_json::Value;

/// "<Entity> does not exist."
const NOT_FOUND: i64 = 1002;
/// Not authorised: expired or invalid token, or a missing scope.
const NOT_AUTHORIZED: i64 = 57;
/// Per-minute, per-day and concurrency limits.
const RATE_LIMITED: [i64; 3] = [44, 45, 1070];
/// 3062: duplicate contact name; 1001: "… already exists." (document
/// number, item name, unique custom-field value).
const DUPLICATE: [i64; 2] = [3062, 1001];
/// Invalid value passed (`4`), and the legacy codes for missing or bad
/// parameters.
const INVALID: [i64; 3] = [2, 4, 15];

/// The JSON body of a successful response, or the error it carries.
pub fn body(resp: &Response) -> Result<Value, ConnectorError> {
    if !resp.is_success() {
        return Err(error_of(resp));
    }
    let body: Value = resp.json()?;
    match body.get("code").and_then(Value::as_i64) {
        None | Some(0) => Ok(body),
        Some(_) => Err(error_of(resp)),
    }
}

/// Map a failed response.
pub fn error_of(resp: &Response) -> ConnectorError {
    let parsed: Option<Value> = serde_json::from_slice(&resp.body).ok();
    let (code, message) = match &parsed {
        Some(v) => (
            v.get("code").cloned().unwrap_or(Value::Null),
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        ),
        None => (Value::Null, resp.text()),
    };
    let retry_after_ms = resp
        .header("retry-after")
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|s| s * 1000);
    classify(
        resp.status,
        &code,
        message,
        parsed.is_some(),
        retry_after_ms,
    )
}

/// The mapping itself, separate from I/O so it can be tested natively.
pub fn classify(
    status: u16,
    code: &Value,
    message: String,
    body_was_json: bool,
    retry_after_ms: Option<u64>,
) -> ConnectorError {
    let numeric = code.as_i64();
    let text_code = code.as_str().unwrap_or_default();
    let is = |codes: &[i64]| numeric.is_some_and(|c| codes.contains(&c));
    if matches!(text_code, "INVALID_TOKEN" | "OAUTH_SCOPE_MISMATCH") || is(&[NOT_AUTHORIZED]) {
        return ConnectorError::Unauthorized(message);
    }
    if is(&RATE_LIMITED) || text_code == "TOO_MANY_REQUESTS" || status == 429 {
        return ConnectorError::rate_limited(retry_after_ms, message);
    }
    if is(&[NOT_FOUND]) {
        return ConnectorError::NotFound(message);
    }
    if is(&DUPLICATE) {
        return ConnectorError::Conflict(message);
    }
    if is(&INVALID) || mentions_invalid_input(&message) {
        let field = invalid_field(&message);
        return ConnectorError::invalid(field, message);
    }
    if status >= 500 || (!body_was_json && status != 401 && status != 404) {
        // A 5xx, or a body cut off on the way: the same call may succeed later.
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            message
        };
        return ConnectorError::Transient(message);
    }
    match status {
        401 | 403 => ConnectorError::Unauthorized(message),
        404 => ConnectorError::NotFound(message),
        _ => ConnectorError::vendor(code_text(code, status), message, status),
    }
}

fn code_text(code: &Value, status: u16) -> String {
    match code {
        Value::Null => status.to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn mentions_invalid_input(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("invalid value passed for")
        || m.contains("is mandatory")
        || m.contains("is required")
}

/// The field a validation message names: "Invalid value passed for
/// customer_id", "customer_id is mandatory".
fn invalid_field(message: &str) -> String {
    let trimmed = message.trim().trim_end_matches('.');
    if let Some(pos) = trimmed
        .to_ascii_lowercase()
        .find("invalid value passed for")
    {
        return trimmed[pos + "invalid value passed for".len()..]
            .trim()
            .to_string();
    }
    for suffix in [" is mandatory", " is required"] {
        if let Some(head) = trimmed.strip_suffix(suffix) {
            return head.rsplit(' ').next().unwrap_or_default().to_string();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(status: u16, code: Value, message: &str) -> ConnectorError {
        classify(status, &code, message.into(), true, None)
    }

    #[test]
    fn codes_map_to_the_contract() {
        assert!(matches!(
            kind(404, json!(1002), "Invoice does not exist."),
            ConnectorError::NotFound(_)
        ));
        assert!(matches!(
            kind(401, json!(57), "You are not authorized"),
            ConnectorError::Unauthorized(_)
        ));
        assert!(matches!(
            kind(401, json!("INVALID_TOKEN"), "invalid oauth token"),
            ConnectorError::Unauthorized(_)
        ));
        assert!(matches!(
            kind(403, json!("OAUTH_SCOPE_MISMATCH"), "scope"),
            ConnectorError::Unauthorized(_)
        ));
        for code in [44, 45, 1070] {
            assert!(matches!(
                kind(429, json!(code), "slow down"),
                ConnectorError::RateLimited(_)
            ));
        }
        assert!(matches!(
            kind(429, json!("TOO_MANY_REQUESTS"), "x"),
            ConnectorError::RateLimited(_)
        ));
        assert!(matches!(
            kind(400, json!(3062), "The contact name \"A\" already exists."),
            ConnectorError::Conflict(_)
        ));
        assert!(matches!(
            kind(400, json!(1001), "Invoice number INV-1 already exists."),
            ConnectorError::Conflict(_)
        ));
        assert!(matches!(
            kind(500, json!(1000), "Internal error"),
            ConnectorError::Transient(_)
        ));
        match kind(400, json!(9999), "Odd") {
            ConnectorError::Vendor(v) => {
                assert_eq!(
                    (v.code.as_str(), v.message.as_str(), v.http_status),
                    ("9999", "Odd", 400)
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_input_names_the_field() {
        match kind(400, json!(4), "Invalid value passed for customer_id") {
            ConnectorError::Invalid(f) => assert_eq!(f.field, "customer_id"),
            other => panic!("{other:?}"),
        }
        match kind(
            400,
            json!(15),
            "Please ensure that the line_items is mandatory.",
        ) {
            ConnectorError::Invalid(f) => assert_eq!(f.field, "line_items"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_bodies_are_transient() {
        let e = classify(200, &Value::Null, "{\"code\":0,\"mess".into(), false, None);
        assert!(matches!(e, ConnectorError::Transient(_)), "{e:?}");
    }
}
