//! Notifications: CRM `actions/watch` channels and finance-product webhooks,
//! delivered to their URLs by a background task when records change.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::clock::{self, Millis};
use crate::error::Product;

/// Kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Create,
    Update,
    Delete,
}

/// A change to one or more records, produced inside a state mutation.
#[derive(Debug, Clone)]
pub struct Event {
    pub product: Product,
    /// Finance organisation id (empty for CRM).
    pub org: String,
    /// CRM module or finance entity (`invoice`, `contact`, …).
    pub module: String,
    pub ids: Vec<String>,
    pub change: Change,
    pub affected_fields: Vec<String>,
    /// Finance: the record as `GET` returns it, for the webhook payload.
    pub record: Option<Value>,
}

/// A CRM notification channel (`POST /crm/v8/actions/watch`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watch {
    pub channel_id: String,
    pub notify_url: String,
    /// `Module.create|edit|delete|all`.
    pub events: Vec<String>,
    pub channel_expiry_ms: Millis,
    pub token: Option<String>,
    pub return_affected_field_values: bool,
}

impl Watch {
    pub fn matches(&self, module: &str, change: Change) -> bool {
        let op = match change {
            Change::Create => "create",
            Change::Update => "edit",
            Change::Delete => "delete",
        };
        self.events.iter().any(|e| {
            let (m, o) = e.split_once('.').unwrap_or((e.as_str(), "all"));
            m.eq_ignore_ascii_case(module) && (o == "all" || o == op)
        })
    }

    pub fn to_json(&self, base_url: &str) -> Value {
        let modules: Vec<&str> = self
            .events
            .iter()
            .map(|e| e.split('.').next().unwrap_or(""))
            .collect();
        json!({
            "channel_id": self.channel_id,
            "notify_url": self.notify_url,
            "events": self.events,
            "channel_expiry": clock::fmt_crm(self.channel_expiry_ms),
            "token": self.token,
            "return_affected_field_values": self.return_affected_field_values,
            "resource_uri": format!("{base_url}/crm/v8/{}", modules.first().copied().unwrap_or("")),
            "resource_name": modules.first().copied().unwrap_or(""),
        })
    }
}

/// A finance webhook: POSTs `{"<entity>": {…}}` to `url` on changes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub webhook_id: String,
    pub product: Product,
    pub organization_id: String,
    /// `invoice`, `contact`, `customer`, `estimate`, `creditnote`, `customerpayment`, `item`.
    pub entity: String,
    pub url: String,
    /// Which changes fire it (empty = all).
    #[serde(default)]
    pub events: Vec<Change>,
    #[serde(default)]
    pub secret: Option<String>,
}

/// One delivery attempt, kept for tests (`/__sandbox/notifications`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub url: String,
    pub body: Value,
    /// HTTP status, or `None` when the request failed.
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A queued delivery.
#[derive(Debug)]
pub struct Outgoing {
    pub url: String,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

/// Sends queued notifications in the background and logs the results.
#[derive(Debug, Clone)]
pub struct Notifier {
    tx: mpsc::UnboundedSender<Outgoing>,
    pub log: Arc<Mutex<Vec<Delivery>>>,
    pending: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Notifier {
    /// Start the delivery task on the current tokio runtime.
    pub fn start() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
        let log: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let (ptx, _) = tokio::sync::watch::channel(0usize);
        let pending = Arc::new(ptx);
        let log2 = log.clone();
        let pending2 = pending.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("http client");
            while let Some(out) = rx.recv().await {
                let mut req = client.post(&out.url).json(&out.body);
                for (k, v) in &out.headers {
                    req = req.header(k, v);
                }
                let d = match req.send().await {
                    Ok(resp) => Delivery {
                        url: out.url,
                        body: out.body,
                        status: Some(resp.status().as_u16()),
                        error: None,
                    },
                    Err(e) => Delivery {
                        url: out.url,
                        body: out.body,
                        status: None,
                        error: Some(e.to_string()),
                    },
                };
                log2.lock().unwrap().push(d);
                pending2.send_modify(|n| *n = n.saturating_sub(1));
            }
        });
        Notifier { tx, log, pending }
    }

    pub fn send(&self, out: Outgoing) {
        self.pending.send_modify(|n| *n += 1);
        if self.tx.send(out).is_err() {
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    /// Wait until every queued notification has been attempted.
    pub async fn flush(&self) {
        let mut rx = self.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}

/// Build the deliveries an event causes.
pub fn deliveries(
    ev: &Event,
    watches: &[Watch],
    webhooks: &[Webhook],
    now: Millis,
    base_url: &str,
) -> Vec<Outgoing> {
    let mut out = Vec::new();
    if ev.product == Product::Crm {
        for w in watches
            .iter()
            .filter(|w| w.channel_expiry_ms > now && w.matches(&ev.module, ev.change))
        {
            let operation = match ev.change {
                Change::Create => "insert",
                Change::Update => "update",
                Change::Delete => "delete",
            };
            let mut body = json!({
                "server_time": now,
                "query_params": {},
                "module": ev.module,
                "resource_uri": format!("{base_url}/crm/v8/{}", ev.module),
                "ids": ev.ids,
                "affected_fields": [],
                "operation": operation,
                "channel_id": w.channel_id,
                "token": w.token,
            });
            if ev.change == Change::Update {
                body["affected_fields"] = json!(
                    ev.ids
                        .iter()
                        .map(|id| json!({id.clone(): ev.affected_fields}))
                        .collect::<Vec<_>>()
                );
            }
            out.push(Outgoing {
                url: w.notify_url.clone(),
                body,
                headers: Vec::new(),
            });
        }
    } else {
        for h in webhooks.iter().filter(|h| {
            h.product == ev.product
                && h.organization_id == ev.org
                && h.entity == ev.module
                && (h.events.is_empty() || h.events.contains(&ev.change))
        }) {
            let mut body = json!({ ev.module.clone(): ev.record.clone().unwrap_or(Value::Null) });
            if ev.product == Product::Billing {
                body = json!({
                    "event_id": format!("{}{}", now, ev.ids.first().cloned().unwrap_or_default()),
                    "event_type": format!("{}_{}", ev.module, match ev.change { Change::Create => "created", Change::Update => "updated", Change::Delete => "deleted" }),
                    "event_time": clock::fmt_finance(now),
                    "data": body,
                });
            }
            let mut headers = vec![(
                "x-zoho-webhook-event".to_string(),
                format!("{:?}", ev.change).to_lowercase(),
            )];
            if let Some(secret) = &h.secret {
                headers.push(("x-zoho-webhook-secret".to_string(), secret.clone()));
            }
            out.push(Outgoing {
                url: h.url.clone(),
                body,
                headers,
            });
        }
    }
    out
}
