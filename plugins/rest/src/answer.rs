//! Reading an answer: the vendor's errors as the contract's, and records
//! found where the spec says they are.

use ferry_plugin_sdk::http::Response;
use ferry_plugin_sdk::prelude::*;
use ferry_rest_spec::{ErrorKind, Spec, at};

/// A successful answer.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The answer, or the error it means.
pub fn read(spec: &Spec, response: Response) -> Result<Answer, ConnectorError> {
    let status = response.status;
    let body: Value = if response.body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&response.body) {
            Ok(v) => v,
            Err(_) if (200..300).contains(&status) => {
                return Err(ConnectorError::Transient(format!(
                    "HTTP {status}: the answer is not JSON"
                )));
            }
            Err(_) => Value::Null,
        }
    };
    let errors = &spec.errors;
    let code = text(at(&body, &errors.code));
    let message = text(at(&body, &errors.message)).unwrap_or_else(|| format!("HTTP {status}"));
    let rule = errors.rules.iter().find(|r| {
        (r.status.is_some() || r.code.is_some())
            && r.status.is_none_or(|s| s == status)
            && r.code.as_ref().is_none_or(|c| code.as_ref() == Some(c))
    });
    let success = (200..300).contains(&status);
    let kind = match rule {
        Some(rule) => rule.error,
        None if success && errors.failed.as_ref().is_some_and(|f| f.matches(&body)) => {
            ErrorKind::Vendor
        }
        None if success => ErrorKind::Ok,
        None => match status {
            401 | 403 => ErrorKind::Unauthorized,
            404 => ErrorKind::NotFound,
            409 => ErrorKind::Conflict,
            400 | 422
                if errors
                    .fields
                    .as_ref()
                    .is_some_and(|f| field_error(&body, f).is_some()) =>
            {
                ErrorKind::Invalid
            }
            422 => ErrorKind::Invalid,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Transient,
            _ => ErrorKind::Vendor,
        },
    };
    let answer = Answer {
        status,
        headers: response.headers,
        body,
    };
    let vendor_code = code.clone().unwrap_or_else(|| status.to_string());
    Err(match kind {
        ErrorKind::Ok => return Ok(answer),
        ErrorKind::NotFound => ConnectorError::NotFound(message),
        ErrorKind::Unauthorized => ConnectorError::Unauthorized(message),
        ErrorKind::Conflict => ConnectorError::Conflict(message),
        ErrorKind::Transient => ConnectorError::Transient(message),
        ErrorKind::RateLimited => {
            let retry = answer
                .header("retry-after")
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(|secs| secs * 1000);
            ConnectorError::rate_limited(retry, message)
        }
        ErrorKind::Invalid => {
            let (field, detail) = errors
                .fields
                .as_ref()
                .and_then(|f| field_error(&answer.body, f))
                .unwrap_or_else(|| (String::new(), message.clone()));
            ConnectorError::invalid(field, detail)
        }
        ErrorKind::Vendor => ConnectorError::vendor(vendor_code, message, status),
    })
}

/// The first per-field message: a map (`field: message`) or a list of
/// objects with `field` and `message`.
fn field_error(body: &Value, path: &str) -> Option<(String, String)> {
    match at(body, path)? {
        Value::Object(map) => map
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), text(Some(v)).unwrap_or_else(|| v.to_string()))),
        Value::Array(items) => items.iter().find_map(|item| {
            Some((
                text(item.get("field"))?,
                text(item.get("message")).unwrap_or_default(),
            ))
        }),
        _ => None,
    }
}

/// The records at `path`: a list of objects (one object counts as one).
pub fn records_at(body: &Value, path: &str) -> Result<Vec<Record>, ConnectorError> {
    match at(body, path) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map.clone()),
                other => Err(ConnectorError::vendor(
                    "not-a-record",
                    format!("`{path}` holds {other}, not records"),
                    0,
                )),
            })
            .collect(),
        Some(Value::Object(map)) => Ok(vec![map.clone()]),
        Some(other) => Err(ConnectorError::vendor(
            "not-a-record",
            format!("`{path}` holds {other}, not records"),
            0,
        )),
    }
}

/// The one record at `path`, if the answer has one.
pub fn record_at(body: &Value, path: &str) -> Result<Option<Record>, ConnectorError> {
    match at(body, path) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map.clone())),
        Some(Value::Array(items)) if items.len() == 1 => Ok(items[0].as_object().cloned()),
        Some(other) => Err(ConnectorError::vendor(
            "not-a-record",
            format!("`{path}` holds {other}, not a record"),
            0,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(errors: Value) -> Spec {
        serde_json::from_value(json!({"errors": errors, "modules": {}})).unwrap()
    }

    fn answer(status: u16, body: Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    #[test]
    fn a_200_marked_failed_is_an_error_unless_a_rule_says_otherwise() {
        let s = spec(json!({
            "failed": {"field": "status", "equals": "error"},
            "rules": [{"code": "2501", "error": "not-found"}]
        }));
        let e = read(
            &s,
            answer(
                200,
                json!({"status": "error", "code": "910", "message": "No fields"}),
            ),
        )
        .err()
        .expect("an error");
        assert!(
            matches!(&e, ConnectorError::Vendor(v) if v.code == "910"),
            "{e:?}"
        );
        let e = read(
            &s,
            answer(
                200,
                json!({"status": "error", "code": "2501", "message": "x"}),
            ),
        )
        .err()
        .expect("an error");
        assert!(matches!(e, ConnectorError::NotFound(_)), "{e:?}");
        assert!(read(&s, answer(200, json!({"status": "success", "code": "0"}))).is_ok());
        // Without `failed`, a 200 is a success whatever its body says.
        let plain = spec(json!({}));
        assert!(
            read(
                &plain,
                answer(200, json!({"status": "error", "code": "910"}))
            )
            .is_ok()
        );
    }
}
