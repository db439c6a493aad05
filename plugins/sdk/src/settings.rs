//! The connection's settings, as `configure` received them.

use serde_json::{Map, Value};

use crate::ConnectorError;

/// Settings of the connection a call runs for: the workspace's `settings`
/// plus `base_url` and `data_center` from the host.
#[derive(Debug, Clone, Default)]
pub struct Settings(Map<String, Value>);

impl Settings {
    /// Parse the JSON object the host passes.
    pub fn parse(json: &str) -> Result<Settings, ConnectorError> {
        if json.trim().is_empty() {
            return Ok(Settings::default());
        }
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(Settings(map)),
            _ => Err(ConnectorError::invalid(
                "settings",
                "settings must be a JSON object",
            )),
        }
    }

    /// A setting as text, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    /// A required setting, or an `invalid` error naming it.
    pub fn require(&self, key: &str) -> Result<&str, ConnectorError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ConnectorError::invalid(key, format!("setting `{key}` is required")))
    }

    /// Any setting as JSON.
    pub fn value(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// All settings.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The data centre the connection uses (`com`, `eu`, …; `sandbox` locally).
    pub fn data_center(&self) -> Option<&str> {
        self.get("data_center")
    }
}
