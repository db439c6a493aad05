//! `/connections`: where each connection points, for which organisation,
//! and how much of today's API budget it has used.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Response;

use super::html::{esc, unix_time};
use super::{Nav, Shared, Viewer, layout};
use crate::config::Endpoint;

pub(super) async fn page(State(s): State<Shared>, viewer: Viewer) -> Response {
    let mut body = String::from("<h1>Connections</h1><ul class=\"cards\">");
    for (name, c) in &s.env.workspace.connections {
        let endpoint = match &c.endpoint {
            Endpoint::DataCenter(dc) => format!("data centre <code>{}</code>", esc(&dc.value)),
            Endpoint::Sandbox(url) => format!("sandbox at <code>{}</code>", esc(&url.value)),
            Endpoint::Default => "the connector's default data centre".into(),
        };
        let org = c
            .settings
            .get("organization_id")
            .map(|v| match v.value.as_str() {
                Some(t) => t.to_string(),
                None => v.value.to_string(),
            });
        let usage = s.env.api_usage(name);
        let calls = usage.as_ref().map_or(0, |u| u.budget_used());
        let limited = usage.as_ref().map_or(0, |u| u.rate_limited_today());
        let budget = match c.budget {
            Some(b) => {
                let share = calls as f64 / b.daily.max(1) as f64;
                let class = if calls >= b.limit() {
                    "bad"
                } else if share >= b.pause_at * 0.8 {
                    "warn"
                } else {
                    "ok"
                };
                format!(
                    "<meter min=\"0\" max=\"{}\" value=\"{calls}\" class=\"{class}\" aria-label=\"API calls today\"></meter> {calls} of {} (pauses at {:.0}%)",
                    b.daily,
                    b.daily,
                    b.pause_at * 100.0
                )
            }
            None => format!("{calls} (no budget set)"),
        };
        let last_error = usage
            .as_ref()
            .and_then(|u| u.last_error())
            .map_or("none".to_string(), |(status, at)| {
                format!("HTTP {status} at {}", unix_time(at))
            });
        let _ = write!(
            body,
            "<li class=\"card\" data-connection=\"{name}\"><div class=\"card-head\"><strong>{name}</strong> <span class=\"kind\">{connector}</span></div><dl class=\"facts\"><dt>Endpoint</dt><dd>{endpoint}</dd><dt>Organisation</dt><dd>{org}</dd><dt>API calls today</dt><dd class=\"calls\">{budget}</dd><dt>Rate-limit hits today</dt><dd class=\"{limited_class}\">{limited}</dd><dt>Last error</dt><dd>{last_error}</dd></dl></li>",
            name = esc(name),
            connector = esc(&c.connector.value),
            org = esc(org.as_deref().unwrap_or("–")),
            limited_class = if limited > 0 { "bad-text" } else { "" },
        );
    }
    body.push_str("</ul><p class=\"hint\">Counts are of this service since 00:00 UTC.</p>");
    layout(&viewer, "Connections", Nav::Connections, Some(false), &body)
}
