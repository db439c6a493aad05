//! Push from vendors: CRM notification channels Ferry opens and renews,
//! and the receiver for them and for the finance products' webhooks. A
//! notification only starts a run early; the schedule's poll stays on, so
//! a lost notification delays a change but never drops it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Service;

/// Open notification channels, by connection.
#[derive(Default)]
pub(super) struct Channels {
    open: Mutex<BTreeMap<String, Channel>>,
    /// When a connection's channel may next be tried again, after a
    /// failure to open or renew it.
    retry: Mutex<BTreeMap<String, DateTime<Utc>>>,
    /// On a cluster worker: the workspace, and where every worker looks a
    /// channel up when a notification reaches it.
    cluster: Option<(String, super::cluster::ChannelBoard)>,
}

impl Channels {
    /// A cluster worker's, for its turn on `workspace`.
    pub(super) fn for_worker(workspace: &str, board: super::cluster::ChannelBoard) -> Channels {
        Channels {
            cluster: Some((workspace.to_string(), board)),
            ..Channels::default()
        }
    }

    pub(super) fn on_worker(&self) -> bool {
        self.cluster.is_some()
    }
}

/// How long to wait after a channel could not be opened or renewed
/// (polling carries on meanwhile).
const RETRY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// One notification channel Ferry opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub channel_id: String,
    pub token: String,
    pub events: Vec<String>,
    pub expiry: DateTime<Utc>,
    /// Seconds a channel is opened or renewed for.
    pub lifetime: u64,
    /// Where the vendor sends its notifications (absent in channels stored
    /// by older releases: renewed once, to say).
    #[serde(default)]
    pub notify_url: Option<String>,
}

impl Channel {
    /// When to renew it: half way through its life.
    fn renew_at(&self) -> DateTime<Utc> {
        self.expiry - chrono::Duration::seconds(self.lifetime as i64 / 2)
    }
}

fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    let first = rng.random_range(1..10u8);
    std::iter::once(char::from(b'0' + first))
        .chain((1..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))))
        .collect()
}

fn random_token() -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(40)
        .map(char::from)
        .collect()
}

/// CRM's date-time form, offset and all (`2026-01-01T10:00:00+00:00`).
fn crm_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

fn meta_key(connection: &str) -> String {
    format!("channel/{connection}")
}

impl Service {
    /// The connections that can push, with the events to watch: every
    /// module a job reads there.
    fn wanted_channels(
        &self,
    ) -> Vec<(String, crate::connector::NotificationChannels, Vec<String>)> {
        if self.config.public_url.is_none() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, conn) in &self.env.workspace.connections {
            let Some(spec) = self
                .env
                .catalog()
                .manifests
                .get(&conn.connector.value)
                .and_then(|m| m.notifications.clone())
            else {
                continue;
            };
            let mut events: Vec<String> = self
                .jobs
                .iter()
                .flat_map(|j| j.modules.iter())
                .filter(|m| &m.connection == name)
                .map(|m| spec.event_for(&m.module))
                .collect();
            events.sort();
            events.dedup();
            if !events.is_empty() {
                out.push((name.clone(), spec, events));
            }
        }
        out
    }

    /// Open a channel per pushing connection (taking over one stored from
    /// an earlier start), renew each half way through its life, and try a
    /// failed one again later. Returns when next to look (`None`: no
    /// channel is wanted); a cluster worker calls it once a turn.
    pub async fn maintain_channels(&self) -> Option<DateTime<Utc>> {
        let mut next: Option<DateTime<Utc>> = None;
        for (connection, spec, events) in self.wanted_channels() {
            let now = self.clock.now();
            let retry_at = self.hooks.retry.lock().unwrap().get(&connection).copied();
            if let Some(t) = retry_at.filter(|t| *t > now) {
                next = Some(next.map_or(t, |n| n.min(t)));
                continue;
            }
            let current = self.hooks.open.lock().unwrap().get(&connection).cloned();
            let written = match current {
                Some(c) if c.renew_at() > now => {
                    let at = c.renew_at();
                    next = Some(next.map_or(at, |n| n.min(at)));
                    continue;
                }
                Some(c) => self.renew(&connection, &spec.module, c).await,
                None => {
                    let stored: Option<Channel> =
                        self.store.meta_get(&meta_key(&connection)).ok().flatten();
                    let lifetime = spec.lifetime().map(|d| d.as_secs()).unwrap_or(86_400);
                    let url = self.notify_url(&connection);
                    match stored {
                        // Open at the vendor as wanted, and not yet half
                        // way through its life (a cluster worker's earlier
                        // turn, or this service before a restart): kept.
                        Some(c)
                            if c.events == events
                                && c.notify_url.as_deref() == Some(url.as_str())
                                && c.renew_at() > now =>
                        {
                            self.publish(&connection, &c);
                            Some(c)
                        }
                        Some(c) if c.events == events && c.expiry > now => {
                            self.renew(&connection, &spec.module, c).await
                        }
                        _ => {
                            let fresh = Channel {
                                channel_id: random_digits(13),
                                token: random_token(),
                                events,
                                expiry: now + chrono::Duration::seconds(lifetime as i64),
                                lifetime,
                                notify_url: None,
                            };
                            self.write_channel(&connection, &spec.module, fresh, true)
                                .await
                        }
                    }
                }
            };
            let at = match written {
                Some(c) => {
                    let at = c.renew_at();
                    self.hooks.retry.lock().unwrap().remove(&connection);
                    self.hooks.open.lock().unwrap().insert(connection, c);
                    at
                }
                None => {
                    let at = self.clock.now() + RETRY;
                    self.hooks.retry.lock().unwrap().insert(connection, at);
                    at
                }
            };
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        next
    }

    async fn renew(&self, connection: &str, module: &str, mut channel: Channel) -> Option<Channel> {
        channel.expiry = self.clock.now() + chrono::Duration::seconds(channel.lifetime as i64);
        self.write_channel(connection, module, channel, false).await
    }

    /// Create or update a channel at the vendor and remember it.
    async fn write_channel(
        &self,
        connection: &str,
        module: &str,
        channel: Channel,
        create: bool,
    ) -> Option<Channel> {
        let url = self.notify_url(connection);
        let channel = Channel {
            notify_url: Some(url.clone()),
            ..channel
        };
        let mut record = serde_json::Map::new();
        record.insert("channel_id".into(), json!(channel.channel_id));
        record.insert("events".into(), json!(channel.events));
        record.insert("notify_url".into(), json!(url));
        record.insert("token".into(), json!(channel.token));
        record.insert("channel_expiry".into(), json!(crm_time(channel.expiry)));
        let connector = self.env.connector(connection).ok()?;
        let written = if create {
            connector.create(module, &[record]).await
        } else {
            connector.update(module, &[record]).await
        };
        match written.map(|mut r| r.pop()) {
            Ok(Some(Ok(_))) => {
                tracing::info!(connection, channel = channel.channel_id, events = ?channel.events, "notification channel open until {}", channel.expiry);
                let _ = self.store.meta_put(&meta_key(connection), &channel);
                self.publish(connection, &channel);
                Some(channel)
            }
            Ok(Some(Err(e))) if !create => {
                // Gone at the vendor (expired while Ferry was down): open a new one.
                tracing::warn!(
                    connection,
                    "renewing the notification channel: {e}; opening a new one"
                );
                let fresh = Channel {
                    channel_id: random_digits(13),
                    token: random_token(),
                    ..channel
                };
                Box::pin(self.write_channel(connection, module, fresh, true)).await
            }
            Ok(other) => {
                tracing::warn!(
                    connection,
                    "opening a notification channel: {other:?}; polling stays on"
                );
                None
            }
            Err(e) => {
                tracing::warn!(
                    connection,
                    "opening a notification channel: {e}; polling stays on"
                );
                None
            }
        }
    }

    /// Where `connection`'s channel notifies: `<public_url>/hooks/<connection>`,
    /// on a cluster worker `<public_url>/hooks/<workspace>/<connection>`
    /// (any worker's console takes it).
    fn notify_url(&self, connection: &str) -> String {
        let base = self.config.public_url.as_deref().unwrap_or_default();
        match &self.hooks.cluster {
            Some((workspace, _)) => format!("{base}/hooks/{workspace}/{connection}"),
            None => format!("{base}/hooks/{connection}"),
        }
    }

    /// On a cluster worker: tell every worker the channel, so the one a
    /// notification reaches can check it. Polling carries on if it fails.
    fn publish(&self, connection: &str, channel: &Channel) {
        if let Some((workspace, board)) = &self.hooks.cluster
            && let Err(e) = board.publish(workspace, connection, channel)
        {
            tracing::warn!(connection, "sharing the notification channel: {e}");
        }
    }

    /// A run request a cluster worker took from the store: a CRM module a
    /// channel named, or a finance entity a webhook named. Runs what reads
    /// it after `delay`; how many jobs that is.
    pub fn requested(&self, connection: &str, entity: &str, delay: std::time::Duration) -> usize {
        match self.notified_after(connection, entity, delay) {
            0 => self.notified_entity(connection, entity, delay),
            n => n,
        }
    }

    /// The open channel of a connection.
    pub fn channel(&self, connection: &str) -> Option<Channel> {
        self.hooks.open.lock().unwrap().get(connection).cloned()
    }

    /// A notification for `connection`: check it is genuine, then run what
    /// reads the module it names. `Err` is the HTTP status to answer.
    pub fn receive(
        &self,
        connection: &str,
        secret_header: Option<&str>,
        body: &Value,
    ) -> Result<usize, (u16, String)> {
        if !self.env.workspace.connections.contains_key(connection) {
            return Err((404, format!("no connection `{connection}`")));
        }
        // CRM: the channel's id and token come back in the body.
        if let Some(channel_id) = body.get("channel_id") {
            // The token is compared in constant time; the channel id is
            // not a secret.
            let genuine = self.channel(connection).is_some_and(|c| {
                let token = body.get("token").and_then(Value::as_str);
                let id_matches = channel_id
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| channel_id.to_string())
                    == c.channel_id;
                let token_matches = token
                    .is_some_and(|t| super::tokens::same_secret(c.token.as_bytes(), t.as_bytes()));
                id_matches & token_matches
            });
            if !genuine {
                return Err((401, "unknown channel or wrong token".into()));
            }
            let module = body
                .get("module")
                .and_then(Value::as_str)
                .unwrap_or_default();
            return Ok(self.notified(connection, module));
        }
        // The finance products: a shared secret in a header.
        check_secret(&self.config, connection, secret_header)?;
        Ok(self.notified_entity(connection, &entity_of(body), self.config.debounce))
    }

    /// A finance product notified a change of `entity` (`invoice`,
    /// `contact`, …) in `connection`: run what reads its module, after
    /// `delay`.
    pub fn notified_entity(
        &self,
        connection: &str,
        entity: &str,
        delay: std::time::Duration,
    ) -> usize {
        let module = self
            .env
            .catalog()
            .describes
            .get(connection)
            .and_then(|d| {
                d.modules
                    .iter()
                    .find(|m| m.id_field == format!("{entity}_id"))
            })
            .map(|m| m.name.clone());
        module.map_or(0, |m| self.notified_after(connection, &m, delay))
    }
}

/// A finance product's webhook must carry the connection's shared secret
/// (`serve.webhook_secrets`), compared in constant time. `Err` is the HTTP
/// status to answer, and why.
pub(crate) fn check_secret(
    config: &crate::config::ServeConfig,
    connection: &str,
    given: Option<&str>,
) -> Result<(), (u16, String)> {
    let expected = config
        .webhook_secrets
        .get(connection)
        .and_then(|s| s.value.expose().map(str::to_owned));
    match (expected, given) {
        (Some(e), Some(given)) if super::tokens::same_secret(e.as_bytes(), given.as_bytes()) => {
            Ok(())
        }
        (None, _) => Err((
            401,
            format!(
                "connection `{connection}` takes no webhooks: give it `serve.webhook_secrets.{connection}`"
            ),
        )),
        _ => Err((401, "missing or wrong x-zoho-webhook-secret".into())),
    }
}

/// The entity a finance product's webhook is about: `invoice` of
/// `event_type: invoice_created`, else the body's one object's key.
pub(crate) fn entity_of(body: &Value) -> String {
    body.get("event_type")
        .and_then(Value::as_str)
        .and_then(|t| t.rsplit_once('_').map(|(e, _)| e.to_string()))
        .or_else(|| {
            body.as_object()?
                .iter()
                .find(|(_, v)| v.is_object())
                .map(|(k, _)| k.clone())
        })
        .unwrap_or_default()
}
