//! The `connections:` section: connector, endpoint, settings, auth
//! secrets, datetime format, sandbox limits, allowed hosts, rate limit and
//! budget of each connection.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value as Json;

use super::Loader;
use crate::config::model::*;
use crate::config::yaml::{Kind, Node};

const CONNECTION_KEYS: &[&str] = &[
    "connector",
    "data_center",
    "sandbox",
    "settings",
    "auth",
    "datetime_format",
    "description",
    "limits",
    "allowed_hosts",
    "rate_limit",
    "budget",
];

impl Loader {
    pub(super) fn connection(&mut self, name: Spanned<String>, node: &Node, base: &Path) {
        if let Some(first) = self
            .connections
            .get(&name.value)
            .map(|c| c.name.span.clone())
        {
            self.duplicate("connection", &name, &first);
            return;
        }
        if self
            .map(node, &format!("connection `{}`", name.value))
            .is_none()
        {
            return;
        }
        let what = format!("connection `{}`", name.value);
        self.keys(node, CONNECTION_KEYS, &what, false);
        let connector = self
            .required(node, "connector", &what)
            .and_then(|n| self.string(n, "`connector`"));
        let dc = node
            .get("data_center")
            .and_then(|n| self.string(n, "`data_center`"));
        let sandbox = node
            .get("sandbox")
            .and_then(|n| self.string(n, "`sandbox`"));
        let endpoint = match (dc, sandbox) {
            (Some(d), Some(s)) => {
                self.err_hint(
                    &s.span,
                    "give either `data_center` or `sandbox`, not both",
                    Some(format!("`data_center` is set at {}", d.span.location())),
                );
                Endpoint::DataCenter(d)
            }
            (Some(d), None) => Endpoint::DataCenter(d),
            (None, Some(s)) => {
                match url::Url::parse(&s.value) {
                    Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                    _ => self.err_hint(
                        &s.span,
                        format!("`{}` is not an http(s) URL", s.value),
                        Some("for example `http://127.0.0.1:8900`".into()),
                    ),
                }
                Endpoint::Sandbox(s)
            }
            (None, None) => Endpoint::Default,
        };
        let mut settings = BTreeMap::new();
        if let Some(s) = node.get("settings").filter(|n| !n.is_null())
            && let Some(entries) = self.map(s, "`settings`")
        {
            {
                for (k, v) in entries {
                    if let Some(key) = self.string(k, "a setting name") {
                        settings.insert(key.value, Spanned::new(v.to_json(), v.span.clone()));
                    }
                }
            }
        }
        let mut auth = BTreeMap::new();
        let mut auth_keys = std::collections::BTreeSet::new();
        let auth_span = node
            .get("auth")
            .filter(|n| !n.is_null() && n.as_map().is_none_or(|m| !m.is_empty()))
            .map(|n| n.span.clone());
        if let Some(a) = node.get("auth").filter(|n| !n.is_null())
            && let Some(entries) = self.map(a, "`auth`")
        {
            {
                for (k, v) in entries {
                    let Some(key) = self.string(k, "an auth key") else {
                        continue;
                    };
                    auth_keys.insert(key.value.clone());
                    let Some(val) = self.string(v, "a secret reference") else {
                        continue;
                    };
                    let example = format!("env:{}", key.value.to_uppercase());
                    let Some(secret) =
                        self.secret(&val, &format!("auth.{}", key.value), &example, base)
                    else {
                        continue;
                    };
                    auth.insert(key.value, Spanned::new(secret, val.span));
                }
            }
        }
        let mut datetime_style = connector
            .as_ref()
            .map(|c| DatetimeStyle::for_connector(&c.value))
            .unwrap_or(DatetimeStyle::Rfc3339);
        if let Some(f) = node
            .get("datetime_format")
            .and_then(|n| self.string(n, "`datetime_format`"))
        {
            datetime_style = match f.value.as_str() {
                "rfc3339" => DatetimeStyle::Rfc3339,
                "compact" => DatetimeStyle::Compact,
                p if p.contains('%') => {
                    let probe = chrono::DateTime::parse_from_rfc3339("2024-01-02T03:04:05+00:00")
                        .expect("valid");
                    if crate::config::expr::format_pattern(&probe, p).is_none() {
                        self.err(&f.span, format!("`{p}` is not a valid strftime pattern"));
                    }
                    DatetimeStyle::Custom(p.to_owned())
                }
                other => {
                    self.err_hint(&f.span, format!("`{other}` is not a datetime format"), Some("use `rfc3339`, `compact` or a strftime pattern such as `%Y-%m-%dT%H:%M:%S%z`".into()));
                    DatetimeStyle::Rfc3339
                }
            };
        }
        let limits = node.get("limits").filter(|n| !n.is_null()).and_then(|n| {
            match serde_json::from_value::<crate::connector::Limits>(n.to_json()) {
                Ok(limits) => Some(limits),
                Err(e) => {
                    self.err_hint(
                        &n.span,
                        format!("`limits`: {e}"),
                        Some("keys: memory (`64 MiB`), timeout (`30s`), hostcall_data, table_elements, pages".into()),
                    );
                    None
                }
            }
        });
        let allowed_hosts = node
            .get("allowed_hosts")
            .filter(|n| !n.is_null())
            .and_then(|n| {
                let Kind::Seq(items) = &n.kind else {
                    self.err(
                        &n.span,
                        "`allowed_hosts` is a list of host names or `*.domain` patterns",
                    );
                    return None;
                };
                Some(
                    items
                        .iter()
                        .filter_map(|item| self.string(item, "a host name").map(|s| s.value))
                        .collect::<Vec<_>>(),
                )
            });
        let rate_limit = node
            .get("rate_limit")
            .filter(|n| !n.is_null())
            .map(|n| self.rate_limit(n))
            .unwrap_or_default();
        let budget = node
            .get("budget")
            .filter(|n| !n.is_null())
            .and_then(|n| self.budget(n));
        let Some(connector) = connector else { return };
        let conn = Connection {
            name: name.clone(),
            connector,
            endpoint,
            settings,
            auth,
            auth_span,
            auth_keys,
            datetime_style,
            limits,
            allowed_hosts,
            rate_limit,
            budget,
            span: node.span.clone(),
        };
        self.connections.insert(name.value, conn);
    }

    /// `budget: { daily: 50000, pause_at: 90% }`.
    fn budget(&mut self, node: &Node) -> Option<Budget> {
        const HINT: &str = "for example `budget: { daily: 50000, pause_at: 90% }`";
        self.map(node, "`budget`")?;
        self.keys(node, &["daily", "pause_at"], "`budget`", false);
        let daily = match self.required(node, "daily", "`budget`")?.to_json() {
            Json::Number(n) if n.as_u64().is_some_and(|d| d > 0) => n.as_u64()?,
            _ => {
                let at = node.get("daily")?.span.clone();
                self.err_hint(
                    &at,
                    "`budget.daily` must be a positive whole number of API calls",
                    Some(HINT.into()),
                );
                return None;
            }
        };
        let pause_at = match node.get("pause_at") {
            None => 0.9,
            Some(n) => {
                let share = match n.to_json() {
                    Json::Number(x) => x.as_f64(),
                    Json::String(t) => t
                        .trim()
                        .strip_suffix('%')
                        .and_then(|p| p.trim().parse::<f64>().ok())
                        .map(|p| p / 100.0),
                    _ => None,
                };
                match share.filter(|s| *s > 0.0 && *s <= 1.0) {
                    Some(s) => s,
                    None => {
                        self.err_hint(
                            &n.span,
                            "`budget.pause_at` must be a share of the quota: `90%` or `0.9`",
                            Some(HINT.into()),
                        );
                        return None;
                    }
                }
            }
        };
        Some(Budget { daily, pause_at })
    }

    /// `rate_limit: off` or `{ requests_per_minute: <n|off>, concurrency: <n> }`.
    fn rate_limit(&mut self, node: &Node) -> RateLimitOverride {
        const HINT: &str = "write `rate_limit: off`, or `{ requests_per_minute: 300, concurrency: 4 }` (`requests_per_minute: off` for none)";
        let positive = |n: &Node| match n.to_json() {
            serde_json::Value::Number(x) => x
                .as_u64()
                .filter(|v| *v > 0 && *v <= u32::MAX as u64)
                .map(|v| v as u32),
            _ => None,
        };
        let is_off = |n: &Node| {
            matches!(n.as_str(), Some("off" | "none"))
                || n.to_json() == serde_json::Value::Bool(false)
        };
        if is_off(node) {
            return RateLimitOverride {
                requests_per_minute: Some(None),
                concurrency: None,
            };
        }
        if self.map(node, "`rate_limit`").is_none() {
            return RateLimitOverride::default();
        }
        self.keys(
            node,
            &["requests_per_minute", "concurrency"],
            "`rate_limit`",
            false,
        );
        let mut out = RateLimitOverride::default();
        if let Some(n) = node.get("requests_per_minute") {
            if is_off(n) {
                out.requests_per_minute = Some(None);
            } else if let Some(v) = positive(n) {
                out.requests_per_minute = Some(Some(v));
            } else {
                self.err_hint(
                    &n.span,
                    "`rate_limit.requests_per_minute` must be a positive whole number or `off`",
                    Some(HINT.into()),
                );
            }
        }
        if let Some(n) = node.get("concurrency") {
            match positive(n) {
                Some(v) => out.concurrency = Some(v),
                None => self.err_hint(
                    &n.span,
                    "`rate_limit.concurrency` must be a positive whole number",
                    Some(HINT.into()),
                ),
            }
        }
        out
    }
}
